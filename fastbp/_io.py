"""Safe model files: save a fitted estimator as arrays and JSON, load it back.

A fastbp model file is one ``.npz`` archive (a zip of ``.npy`` arrays, as
written by :func:`numpy.savez`) and holds no pickled object: :func:`load`
opens it with ``allow_pickle=False``, reads numbers, strings and JSON, checks
them, and builds the estimator itself. Loading a file therefore never runs
code from the file, unlike :mod:`pickle` or :mod:`joblib`.

Format (``format: "fastbp-model"``, ``format_version: 1``)
----------------------------------------------------------
``__fastbp__``
    uint8 array: the UTF-8 bytes of a JSON object with

    - ``format``: ``"fastbp-model"``; ``format_version``: ``1``
    - ``fastbp_version``: the version that wrote the file
    - ``estimator``: ``"MLPClassifier"`` or ``"MLPRegressor"``
    - ``params``: ``get_params()``; tuples as lists, non-finite floats as
      ``{"float": "inf"}``, ``class_weight`` dicts as
      ``{"items": [[label, weight], ...]}``. A RandomState instance as
      ``random_state`` and a callable ``scoring`` cannot be stored and are
      written as ``null`` (with a warning for ``scoring``).
    - ``attributes``: fitted scalars (``n_iter_``, ``t_``, ``loss_``,
      ``best_loss_``, ``best_validation_score_``, ``n_layers_``,
      ``n_outputs_``, ``out_activation_``, ``n_features_in_``), and
      ``feature_names_in_`` as a list of strings when present.
    - ``n_layers``: the number of weight matrices in the file.
    - ``dtype``: ``"float32"`` or ``"float64"``, the dtype of the weights.
    - ``label_binarizer`` (classifier): ``y_type_`` (``"binary"``,
      ``"multiclass"`` or ``"multilabel-indicator"``), ``neg_label``,
      ``pos_label``, ``classes_dtype`` (``"object"`` when the labels were
      Python strings in an object array).
    - ``curves``: for each of ``loss_curve_``, ``validation_scores_``,
      ``validation_loss_curve_``: ``"array"`` (stored as an array of that
      name), ``null`` (the attribute is None) or absent (no attribute).
    - ``user``: free JSON metadata given to :func:`save` (the command line
      keeps the target and feature column names there).
``coef_0`` ... ``coef_{L-1}``, ``intercept_0`` ... ``intercept_{L-1}``
    The weights and biases, float32 or float64.
``classes_`` (classifier)
    Numeric, boolean or unicode array (never object dtype).
``loss_curve_``, ``validation_scores_``, ``validation_loss_curve_``
    float64 arrays, when the estimator has them.

A file with another ``format``, a newer ``format_version``, missing,
duplicated or inconsistent arrays, or damaged bytes (zip CRC) is refused
with a ValueError naming the problem. ``load`` reads only what the header
declares: each array's size is checked against the layer sizes before it is
decompressed, and a file that is not a zip archive is refused after its
first four bytes.
"""
import contextlib
import errno
import io
import json
import math
import os
import shutil
import stat
import tempfile
import zipfile
import warnings
from numbers import Integral, Real

import numpy as np

FORMAT_NAME = "fastbp-model"
FORMAT_VERSION = 1
_META_KEY = "__fastbp__"
_CURVES = ("loss_curve_", "validation_scores_", "validation_loss_curve_")
_INT_ATTRS = ("n_iter_", "t_", "n_layers_", "n_outputs_", "n_features_in_")
_FLOAT_ATTRS = ("loss_", "best_loss_", "best_validation_score_")
_STR_ATTRS = ("out_activation_",)
_OUT_ACTIVATIONS = ("identity", "softmax", "logistic", "exp")
_Y_TYPES = ("binary", "multiclass", "multilabel-indicator")


#: The estimator classes model files hold, by name; each estimator class
#: registers itself (fastbp/_estimators.py), so that this module, below the
#: estimators, never imports them.
_REGISTRY = {}


def register(cls):
    """Let model files hold estimators of class cls (a class decorator)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def _estimator_classes():
    return dict(_REGISTRY)


# -- JSON encoding of parameters -------------------------------------------
def _json_value(value, name):
    """A JSON-safe form of one parameter value (see the module docstring)."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return value.item() if isinstance(value, np.bool_) else value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_json_value(v, name) for v in np.asarray(value, dtype=object).tolist()]
    if isinstance(value, dict):
        return {"items": [[_json_value(k, name), _json_value(v, name)]
                          for k, v in value.items()]}
    raise TypeError(f"parameter {name}={value!r} cannot be stored")


def _from_json(value):
    if isinstance(value, dict):
        if set(value) == {"float"}:
            return float(value["float"])
        if set(value) == {"items"}:
            return {_from_json(k): _from_json(v) for k, v in value["items"]}
        raise ValueError(f"unexpected value {value!r}")
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


def _encode_params(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name == "random_state" and not (value is None or isinstance(value, Integral)):
            value = None  # a RandomState instance: its state is not kept
        elif name == "scoring" and callable(value):
            warnings.warn("scoring is a callable and is not saved; the loaded "
                          "model has scoring=None", UserWarning, stacklevel=3)
            value = None
        elif name == "dtype" and value is not None:
            value = np.dtype(value).name   # np.float32 -> 'float32', the same meaning
        params[name] = _json_value(value, name)
    return params


def _decode_params(params):
    out = {name: _from_json(value) for name, value in params.items()}
    hls = out.get("hidden_layer_sizes")
    if isinstance(hls, list):
        out["hidden_layer_sizes"] = tuple(hls)
    return out


# -- saving ------------------------------------------------------------------
def _scalar(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value


def _classes_array(classes):
    classes = np.asarray(classes)
    if classes.dtype.kind in "biuf" or classes.dtype.kind == "U":
        return classes, classes.dtype.name
    if classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes):
        return classes.astype(str), "object"
    raise ValueError(
        f"classes_ of dtype {classes.dtype} cannot be stored safely: only "
        "numbers, booleans and strings are supported")


def save(estimator, path, *, metadata=None):
    """Save a fitted fastbp estimator to a safe ``.npz`` model file.

    Parameters
    ----------
    estimator : fastbp.MLPClassifier or fastbp.MLPRegressor
        A fitted estimator.
    path : str, os.PathLike or writable binary file object
        Where to write. A path is written as given (no ``.npz`` suffix is
        added) and atomically: a temporary file in the same directory is
        renamed over it once complete, with the permissions ``open()`` would
        give. A FIFO or a device (``/dev/null``, ``/dev/stdout``, a
        terminal) is written into, in order: the archive is built in a
        temporary file first (in memory up to 64 MiB), as it is for a file
        object that is not a plain file.
    metadata : dict, optional
        Extra JSON-serializable information kept in the file, under the
        header's ``user`` key; ``fastbp info PATH`` prints it.

    Raises
    ------
    TypeError
        If ``estimator`` is not a fastbp MLPClassifier or MLPRegressor.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    ValueError
        If ``metadata`` is not JSON-serializable.

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    The file is a NumPy ``.npz`` archive of numeric and string arrays (the
    weights, the classes, the curves) and a JSON header (format name and
    version, the estimator's class and parameters, fitted scalars). Loading
    it runs no code from the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> import fastbp
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = fastbp.MLPClassifier(solver="lbfgs", max_iter=300, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.fbp")
    >>> fastbp.save(clf, path, metadata={"data": "iris"})
    >>> clf2 = fastbp.load(path)
    >>> bool((clf2.predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    from sklearn.utils.validation import check_is_fitted

    classes = _estimator_classes()
    name = type(estimator).__name__
    if name not in classes or not isinstance(estimator, classes[name]):
        raise TypeError("save() takes a fastbp MLPClassifier or MLPRegressor, "
                        f"got {type(estimator).__module__}.{name}")
    check_is_fitted(estimator, "coefs_")
    coefs = [np.asarray(c) for c in estimator.coefs_]
    intercepts = [np.asarray(b) for b in estimator.intercepts_]
    dtype = coefs[0].dtype
    if dtype not in (np.float32, np.float64) or any(
            a.dtype != dtype for a in coefs + intercepts):
        raise ValueError("coefs_ and intercepts_ must all be float32 or all float64")

    from fastbp._version import __version__

    arrays = {}
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        arrays[f"coef_{i}"] = np.ascontiguousarray(W)
        arrays[f"intercept_{i}"] = np.ascontiguousarray(b)
    attributes = {}
    for attr in _INT_ATTRS + _FLOAT_ATTRS + _STR_ATTRS:
        if hasattr(estimator, attr):
            attributes[attr] = _scalar(getattr(estimator, attr))
    if hasattr(estimator, "feature_names_in_"):
        attributes["feature_names_in_"] = [str(f) for f in estimator.feature_names_in_]
    curves = {}
    for attr in _CURVES:
        if hasattr(estimator, attr):
            value = getattr(estimator, attr)
            if value is None:
                curves[attr] = None
            else:
                arrays[attr] = np.asarray(value, dtype=np.float64).reshape(-1)
                curves[attr] = "array"
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastbp_version": __version__,
        "estimator": name,
        "n_layers": len(coefs),
        "dtype": dtype.name,
        "params": _encode_params(estimator),
        "attributes": attributes,
        "curves": curves,
    }
    if name == "MLPClassifier":
        lb = estimator._label_binarizer
        arrays["classes_"], classes_dtype = _classes_array(estimator.classes_)
        meta["label_binarizer"] = {
            "y_type_": str(lb.y_type_),
            "neg_label": int(lb.neg_label),
            "pos_label": int(lb.pos_label),
            "classes_dtype": classes_dtype,
        }
    if metadata is not None:
        meta["user"] = metadata
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata is not JSON-serializable: {exc}") from None
    arrays[_META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    if hasattr(path, "write"):
        _savez_into(path, arrays)
        return
    with atomic_write(path, "wb") as f:
        _savez_into(f, arrays)


def _savez_into(f, arrays):
    """np.savez into f. zipfile seeks back to finish each member's header;
    a device (its position stays 0: ``/dev/null``, a terminal) or a file
    object that is not a plain file gets the archive built in a temporary
    file (in memory up to 64 MiB) and then copied, in order, into it."""
    try:
        regular = stat.S_ISREG(os.fstat(f.fileno()).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        regular = isinstance(f, io.BytesIO)
    if regular:
        np.savez(f, **arrays)
        return
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as tmp:
        np.savez(tmp, **arrays)
        tmp.seek(0)
        shutil.copyfileobj(tmp, f, 1 << 20)
    f.flush()


def _umask():
    """The process umask, read without changing it where Linux tells it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o22)  # elsewhere: set and put back at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="w", **open_kw):
    """Open a temporary file beside `path` for writing; on success it
    replaces `path` in one step, on any error it is removed: a failed write
    never leaves a partial file, nor touches an existing one.

    As ``open(path, "w")`` would: a symbolic link is followed (the file it
    points to is replaced, the link stays), the new file gets the old one's
    permissions or, for a new file, 0666 less the umask; a path that is not
    a regular file (``/dev/null``, a FIFO, a terminal, a link to
    ``/dev/stdout``) is written into directly, never replaced."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        with open(path, mode, **open_kw) as f:
            yield f
        return
    if st is not None:
        path = os.path.realpath(path)  # replace the link's target, keep the link
        perms = stat.S_IMODE(st.st_mode)
    else:
        perms = 0o666 & ~_umask()
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "no such directory", directory)
    fd, tmp = tempfile.mkstemp(prefix=".fastbp-", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, perms)  # mkstemp makes 0600 whatever the umask
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# What a model file may make load() allocate is bounded by what its header
# declares (the layer sizes give every weight array's size), and every size
# is checked before anything is decompressed: a small file of deflated zeros
# (about 1000:1) cannot claim gigabytes.
_HEADER_LIMIT = 64 << 20      # the JSON header (feature names included)
_CURVE_LIMIT = 64 << 20       # each curve: 8 million epochs
_LABEL_LIMIT = 4096           # bytes per class label
_NPY_HEADER = 65536           # a .npy member's own header, at most


def _declared_sizes(meta):
    """Layer widths [n_features, hidden..., n_outputs] as the header declares
    them (None for a width it does not give), or None without hidden sizes."""
    attrs = meta.get("attributes")
    params = meta.get("params")
    attrs = attrs if isinstance(attrs, dict) else {}
    hidden = params.get("hidden_layer_sizes") if isinstance(params, dict) else None
    hidden = [hidden] if isinstance(hidden, int) else hidden
    if not isinstance(hidden, list):
        return None

    def width(n):
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None

    return ([width(attrs.get("n_features_in_"))] + [width(h) for h in hidden]
            + [width(attrs.get("n_outputs_"))])


# A weight array whose width the header leaves out (an edited header: fastbp
# always writes them) is bounded by its compression ratio instead: trained
# weights barely deflate, zeros deflate about 1000:1.
_MAX_RATIO = 50


class _Archive:
    """The arrays of a model file, read without pickle, with clear errors."""

    def __init__(self, path):
        self.where = getattr(path, "name", None) if hasattr(path, "read") else path
        self.where = os.fspath(self.where) if self.where is not None else "<file>"
        if isinstance(self.where, bytes):
            self.where = os.fsdecode(self.where)
        self._file = None
        self._limits = None
        if hasattr(path, "read"):
            f = path
            if not (getattr(f, "seekable", lambda: False)()):
                head = f.read(4)
                self._check_magic(head)
                f = io.BytesIO(head + f.read())
        else:
            # stat first: a FIFO or a device is refused without being
            # opened (opening a FIFO waits for a writer)
            st = os.stat(path)  # FileNotFoundError as is
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a directory", self.where)
            if not stat.S_ISREG(st.st_mode):
                raise ValueError(f"{self.where} is not a fastbp model file (not "
                                 "a regular file)")
            f = self._file = open(path, "rb")
        try:
            pos = f.tell()
            self._check_magic(f.read(4))  # nothing more is read of a non-zip
            f.seek(pos)
            try:
                self._zip = zipfile.ZipFile(f)
                infos = self._zip.infolist()
            except Exception as exc:  # BadZipFile, OSError, EOFError, ...
                raise ValueError(f"{self.where} is not a readable fastbp model "
                                 f"file (truncated or damaged archive: {exc})") from None
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                dup = sorted({n for n in names if names.count(n) > 1})
                raise ValueError(f"{self.where}: the archive holds member "
                                 f"{dup[0]!r} more than once (a tampered file)")
            self._infos = {i.filename[:-4]: i for i in infos
                           if i.filename.endswith(".npy")}
            self.keys = set(self._infos)
        except BaseException:
            self.close()
            raise

    def _check_magic(self, head):
        if not head.startswith(b"PK"):
            raise ValueError(f"{self.where} is not a fastbp model file "
                             "(not an .npz archive)")

    def _limit(self, key, info):
        if key == _META_KEY:
            return _HEADER_LIMIT
        if key in _CURVES:
            return _CURVE_LIMIT + _NPY_HEADER
        meta = self._limits
        sizes = None if meta is None else _declared_sizes(meta)
        if sizes is None:
            raise ValueError(f"{self.where}: the model header does not declare "
                             "hidden_layer_sizes")
        ratio_limit = _MAX_RATIO * info.compress_size + _NPY_HEADER
        itemsize = 4 if meta.get("dtype") == "float32" else 8
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if key == f"coef_{i}":
                return ratio_limit if None in (a, b) else a * b * itemsize + _NPY_HEADER
            if key == f"intercept_{i}":
                return ratio_limit if b is None else b * itemsize + _NPY_HEADER
        if key == "classes_":
            if sizes[-1] is None:
                return ratio_limit
            return max(2, sizes[-1]) * _LABEL_LIMIT + _NPY_HEADER
        return _NPY_HEADER

    def get(self, key):
        if key not in self.keys:
            raise ValueError(f"{self.where}: model file is incomplete: array "
                             f"{key!r} is missing")
        info = self._infos[key]
        limit = self._limit(key, info)
        if info.file_size > limit:
            raise ValueError(f"{self.where}: array {key!r} claims {info.file_size} "
                             f"bytes, more than the model header allows ({limit})")
        try:
            with self._zip.open(info) as m:
                version = np.lib.format.read_magic(m)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(m, max_header_size=_NPY_HEADER)
                if dtype.hasobject:
                    raise ValueError(f"{self.where}: array {key!r} holds Python "
                                     "objects, which a model file may not")
                if dtype.itemsize == 0 or dtype.kind not in "biufU":
                    raise ValueError(f"{self.where}: array {key!r} has an "
                                     f"unsupported dtype {dtype.str}")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > info.file_size:
                    raise ValueError(f"{self.where}: array {key!r} is damaged (its "
                                     f"shape {shape} needs more bytes than it has)")
                arr = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
                view = memoryview(arr.reshape(-1, order="A").view(np.uint8))
                got = m.readinto(view) if nbytes else 0
                if got != nbytes or m.read(1):  # reading to the end checks the CRC
                    raise ValueError(f"{self.where}: array {key!r} is damaged "
                                     "(its size does not match its shape)")
                return arr
        except ValueError as exc:
            if str(exc).startswith(self.where):
                raise
            raise ValueError(f"{self.where}: array {key!r} is damaged ({exc})") from None
        except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, ...
            raise ValueError(f"{self.where}: array {key!r} is damaged ({exc})") from None

    def metadata(self):
        if _META_KEY not in self.keys:
            raise ValueError(f"{self.where} is not a fastbp model file (an .npz "
                             f"archive without the {_META_KEY!r} header)")
        raw = self.get(_META_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"{self.where}: the model header is not a byte array")
        try:
            meta = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{self.where}: the model header is damaged "
                             f"({type(exc).__name__}: {exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ValueError(f"{self.where} is not a fastbp model file (format "
                             f"{meta.get('format') if isinstance(meta, dict) else None!r})")
        version = meta.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"{self.where}: invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise ValueError(
                f"{self.where} has model format version {version}, newer than "
                f"this fastbp reads (up to {FORMAT_VERSION}): upgrade fastbp")
        self._limits = meta
        return meta

    def close(self):
        if getattr(self, "_zip", None) is not None:
            self._zip.close()
        if self._file is not None:
            self._file.close()


def read_metadata(path):
    """The JSON header of a model file (format, estimator, params, ...).

    Checks the format and its version but does not build the estimator.
    """
    archive = _Archive(path)
    try:
        return archive.metadata()
    finally:
        archive.close()


def _float_attr(value, name, where):
    value = _from_json(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: attribute {name} must be a number, got {value!r}")
    return float(value)


def _int_attr(value, name, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: attribute {name} must be an integer >= 0, "
                         f"got {value!r}")
    return value


def load(path):
    """Load an estimator saved by :func:`save`, ready to predict.

    Parameters
    ----------
    path : str, os.PathLike or readable binary file object

    Returns
    -------
    estimator : fastbp.MLPClassifier or fastbp.MLPRegressor
        Fitted, with the saved parameters and attributes; it predicts
        bitwise what the saved estimator predicted.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not a fastbp model file, a newer format version, or a truncated,
        damaged or inconsistent file.

    See Also
    --------
    save : Write a model file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastbp
    >>> X = np.random.RandomState(0).normal(size=(50, 3))
    >>> reg = fastbp.MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                           random_state=0).fit(X, X.sum(axis=1))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.fbp")
    >>> reg.save(path)
    >>> fastbp.load(path)
    MLPRegressor(hidden_layer_sizes=(8,), random_state=0, solver='lbfgs')
    """
    archive = _Archive(path)
    try:
        meta = archive.metadata()
        try:
            return _build(archive, meta)
        except (AttributeError, TypeError, KeyError, IndexError, OverflowError,
                RecursionError, MemoryError) as exc:
            # a header of the right format whose fields have the wrong types
            raise ValueError(f"{archive.where}: the model header is damaged "
                             f"({type(exc).__name__}: {exc})") from None
    finally:
        archive.close()


def _build(archive, meta):
    where = archive.where
    classes = _estimator_classes()
    name = meta.get("estimator")
    if name not in classes:
        raise ValueError(f"{where}: unknown estimator {name!r}")
    try:
        params = _decode_params(meta.get("params", {}))
        est = classes[name]()
        est.set_params(**params)
        est._validate_params()  # scikit-learn's parameter constraints
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: invalid parameters ({exc})") from None

    n_layers = meta.get("n_layers")
    if not isinstance(n_layers, int) or n_layers < 1:
        raise ValueError(f"{where}: invalid n_layers {n_layers!r}")
    dtype = meta.get("dtype")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"{where}: invalid dtype {dtype!r}")
    coefs = [archive.get(f"coef_{i}") for i in range(n_layers)]
    intercepts = [archive.get(f"intercept_{i}") for i in range(n_layers)]
    fan_in = None
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        if W.dtype != dtype or b.dtype != dtype:
            raise ValueError(f"{where}: layer {i} weights are not {dtype}")
        if W.ndim != 2 or b.shape != (W.shape[1],) or (
                fan_in is not None and W.shape[0] != fan_in) or 0 in W.shape:
            raise ValueError(f"{where}: layer {i} has inconsistent shapes "
                             f"{W.shape} and {b.shape}")
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError(f"{where}: layer {i} holds non-finite weights")
        fan_in = W.shape[1]

    attrs = meta.get("attributes", {})
    out_act = attrs.get("out_activation_")
    if out_act not in _OUT_ACTIVATIONS:
        raise ValueError(f"{where}: invalid out_activation_ {out_act!r}")
    for attr in _INT_ATTRS:
        if attr in attrs:
            setattr(est, attr, _int_attr(attrs[attr], attr, where))
    for attr in _FLOAT_ATTRS:
        if attr in attrs:
            setattr(est, attr, _float_attr(attrs[attr], attr, where))
    est.out_activation_ = out_act
    sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
    # what predict needs; derived from the weights when the header lacks it
    if not hasattr(est, "n_features_in_"):
        est.n_features_in_ = sizes[0]
    if not hasattr(est, "n_outputs_"):
        est.n_outputs_ = sizes[-1]
    if not hasattr(est, "n_layers_"):
        est.n_layers_ = len(sizes)
    if (getattr(est, "n_features_in_", sizes[0]) != sizes[0]
            or getattr(est, "n_outputs_", sizes[-1]) != sizes[-1]
            or getattr(est, "n_layers_", len(sizes)) != len(sizes)):
        raise ValueError(f"{where}: n_features_in_/n_outputs_/n_layers_ do not "
                         f"match the layer sizes {sizes}")
    if "feature_names_in_" in attrs:
        names = attrs["feature_names_in_"]
        if not (isinstance(names, list) and len(names) == sizes[0]
                and all(isinstance(n, str) for n in names)):
            raise ValueError(f"{where}: invalid feature_names_in_")
        est.feature_names_in_ = np.asarray(names, dtype=object)
    for attr, kind in meta.get("curves", {}).items():
        if attr not in _CURVES:
            continue
        if kind is None:
            setattr(est, attr, None)
        else:
            curve = archive.get(attr)
            if curve.ndim != 1 or curve.dtype.kind != "f":
                raise ValueError(f"{where}: invalid {attr}")
            setattr(est, attr, curve.tolist())

    if name == "MLPClassifier":
        _set_labels(est, archive, meta, sizes[-1], out_act)
    elif out_act not in ("identity", "exp"):
        raise ValueError(f"{where}: a regressor cannot have output {out_act!r}")

    est.coefs_ = coefs
    est.intercepts_ = intercepts
    try:
        net = est._synced_network()  # builds the Network from coefs_/intercepts_
    except ValueError as exc:
        raise ValueError(f"{where}: inconsistent model ({exc})") from None
    # Training state a warm-started fit expects (as after a fit).
    est._optimizer = None
    est._no_improvement_count = 0
    est._best_params = net.params.copy()
    return est


def _set_labels(est, archive, meta, n_out, out_act):
    from sklearn.preprocessing import LabelBinarizer

    where = archive.where
    lb_meta = meta.get("label_binarizer")
    if not isinstance(lb_meta, dict) or lb_meta.get("y_type_") not in _Y_TYPES:
        raise ValueError(f"{where}: missing or invalid label binarizer state")
    classes = archive.get("classes_")
    if classes.ndim != 1 or classes.dtype.kind not in "biufU":
        raise ValueError(f"{where}: invalid classes_ array")
    if lb_meta.get("classes_dtype") == "object":
        classes = classes.astype(object)
    y_type = lb_meta["y_type_"]
    expected = {"binary": (1, "logistic"), "multiclass": (len(classes), "softmax"),
                "multilabel-indicator": (len(classes), "logistic")}[y_type]
    n_classes_ok = len(classes) in (1, 2) if y_type == "binary" else len(classes) >= 2
    if (n_out, out_act) != expected or not n_classes_ok:
        raise ValueError(f"{where}: {len(classes)} classes ({y_type}) do not match "
                         f"{n_out} outputs with {out_act!r}")
    # fastbp always writes 0 and 1; any other pair changes every prediction
    labels = (lb_meta.get("neg_label", 0), lb_meta.get("pos_label", 1))
    if any(type(v) is not int for v in labels) or labels != (0, 1):
        raise ValueError(f"{where}: invalid label binarizer labels "
                         f"neg_label={labels[0]!r}, pos_label={labels[1]!r} "
                         "(a fastbp model has 0 and 1)")
    if len(set(classes.tolist())) != len(classes):
        raise ValueError(f"{where}: classes_ holds a label more than once")
    lb = LabelBinarizer(neg_label=0, pos_label=1, sparse_output=False)
    lb.classes_ = classes
    lb.y_type_ = y_type
    lb.sparse_input_ = False
    est._label_binarizer = lb
    est.classes_ = classes
