"""The dtype parameter: the precision a fit trains and predicts in, whatever
the input's dtype (None keeps scikit-learn's rule: the input's float dtype)."""
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastbp
from fastbp import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _same(a, b):
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.dtype("float32")])
def test_float32_from_float64_input_is_the_fit_on_float32_input(digits, dtype):
    X, y = digits
    kw = dict(hidden_layer_sizes=(20,), max_iter=5, random_state=0)
    clf = _fit(MLPClassifier(dtype=dtype, **kw), X, y)         # float64 X
    ref = _fit(MLPClassifier(**kw), X.astype(np.float32), y)   # scikit-learn's rule
    assert clf.coefs_[0].dtype == np.float32
    _same(clf, ref)
    assert clf.predict_proba(X).dtype == np.float32
    np.testing.assert_array_equal(clf.predict_proba(X),
                                  ref.predict_proba(X.astype(np.float32)))


def test_float32_from_a_float64_dataframe(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    assert (df.dtypes == np.float64).all()
    kw = dict(hidden_layer_sizes=(20,), max_iter=5, random_state=0)
    clf = _fit(MLPClassifier(dtype=np.float32, **kw), df, y)
    ref = _fit(MLPClassifier(**kw), X.astype(np.float32), y)
    _same(clf, ref)
    assert list(clf.feature_names_in_) == list(df.columns)
    np.testing.assert_array_equal(clf.predict(df), ref.predict(X.astype(np.float32)))


def test_float64_from_float32_input_and_the_regressor(digits):
    X, y = digits
    X32 = X.astype(np.float32)
    kw = dict(hidden_layer_sizes=(16,), max_iter=4, random_state=1)
    reg = _fit(MLPRegressor(dtype=np.float64, **kw), X32, y.astype(float))
    ref = _fit(MLPRegressor(**kw), X32.astype(np.float64), y.astype(float))
    assert reg.coefs_[0].dtype == np.float64
    _same(reg, ref)


def test_none_keeps_the_input_dtype(digits):
    X, y = digits
    for dt in (np.float32, np.float64):
        clf = _fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2,
                                 random_state=0), X.astype(dt), y)
        assert clf.coefs_[0].dtype == dt


@pytest.mark.parametrize("bad", [np.int32, "float16", np.float16, "int"])
def test_other_dtypes_are_refused_by_name(digits, bad):
    X, y = digits
    with pytest.raises(ValueError, match="dtype"):
        MLPClassifier(dtype=bad, max_iter=1).fit(X, y)


def test_partial_fit_keeps_the_network_dtype(digits):
    X, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(8,), dtype=np.float32, random_state=0)
    clf.partial_fit(X[:100], y[:100], classes=np.unique(y))
    clf.set_params(dtype=np.float64)
    clf.partial_fit(X[100:200], y[100:200])
    assert clf.coefs_[0].dtype == np.float32


def test_dtype_survives_clone_and_model_files(digits, tmp_path):
    X, y = digits
    clf = _fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0,
                             dtype=np.float32), X, y)
    assert clone(clf).get_params()["dtype"] is np.float32
    path = tmp_path / "m.fbp"
    clf.save(path)
    back = fastbp.load(path)
    assert np.dtype(back.dtype) == np.float32
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_a_streamed_float64_memmap_trains_in_float32(digits, tmp_path):
    X, y = digits
    path = tmp_path / "X.npy"
    np.save(path, X)
    Xm = np.load(path, mmap_mode="r")
    clf = _fit(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0,
                             dtype=np.float32), fastbp.stream(Xm), y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict(X).shape == y.shape
