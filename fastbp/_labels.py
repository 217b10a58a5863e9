"""Class labels at the speed of a small fit: scikit-learn's label checks
(type_of_target, LabelBinarizer) cost more than a whole epoch on small
data, so the common case, a 1-D array of integers, is done directly, with
the same results (tests/test_labels.py)."""
import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import unique_labels


def _int_labels(y):
    """y is a non-empty 1-D array of integers: the common case, whose
    scikit-learn label checks (type_of_target, LabelBinarizer) cost more
    than a whole epoch on small data."""
    return (isinstance(y, np.ndarray) and y.ndim == 1 and y.shape[0] > 0
            and y.dtype.kind in "iu" and y.dtype.isnative)


def _int_unique(y):
    """np.unique(y) for a non-empty 1-D integer array: by counting when the
    labels span a short range (the usual 0..k-1: ~5 us against ~50 for the
    sort on digits), else by sorting."""
    lo, hi = y.min(), y.max()
    if int(hi) - int(lo) > 4 * y.shape[0] + 1024:
        return np.unique(y)
    present = np.flatnonzero(np.bincount(_offsets(y, lo)))
    return present.astype(y.dtype) + lo     # (wraps around, ends exact)


def _offsets(y, lo):
    """y - lo as intp, exactly, for integer y >= lo (of y's dtype) whose
    differences fit (8-byte integers wrap around but end exact)."""
    d = (y - lo) if y.dtype.itemsize == 8 else y.astype(np.int64) - int(lo)
    return d.astype(np.intp, copy=False)


def _unique_labels(y):
    return _int_unique(y) if _int_labels(y) else unique_labels(y)


def _fit_label_binarizer(y):
    """LabelBinarizer().fit(y), with the integer case done directly (the
    same y_type_, classes_ and sparse_input_)."""
    lb = LabelBinarizer()
    if not _int_labels(y):
        return lb.fit(y)
    lb.classes_ = _int_unique(y)
    lb.y_type_ = "multiclass" if lb.classes_.shape[0] > 2 else "binary"
    lb.sparse_input_ = False
    return lb


def _binarize(lb, y):
    """lb.transform(y) as booleans; integer labels of a single-label
    problem are one-hot encoded directly."""
    classes = lb.classes_
    k = classes.shape[0]
    if lb.y_type_ in ("binary", "multiclass") and k >= 2 and _int_labels(y):
        lo, hi = classes[0], classes[-1]
        if (int(hi) - int(lo) == k - 1 and y.dtype == classes.dtype
                and lo <= y.min() and y.max() <= hi):
            # classes lo, lo + 1, ..., hi, and every label among them
            idx, ok = _offsets(y, lo), True
        else:
            idx = np.searchsorted(classes, y)
            ok = idx.max() < k and np.array_equal(classes[idx], y)
        if ok:
            if lb.y_type_ == "binary":
                return (idx == 1)[:, None]
            out = np.zeros((y.shape[0], k), dtype=bool)
            out[np.arange(y.shape[0]), idx] = True
            return out
    return lb.transform(y).astype(bool)
