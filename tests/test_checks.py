"""fastbp/_checks.py: the fast paths give what scikit-learn's and numpy's
checks give, and hand everything else to them."""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import validate_data

from fastbp import MLPClassifier, MLPRegressor
from fastbp._checks import (
    check_random_state, params_key, plain_Xy, validate_params_once,
)


@pytest.mark.parametrize("seed", [0, 1, 42, 123456, 2**32 - 1, np.int64(7),
                                  np.uint32(5), np.int8(3)])
def test_random_state_is_numpys(seed):
    ours, ref = check_random_state(seed), np.random.RandomState(seed)
    a, b = ours.get_state(), ref.get_state()
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    assert np.array_equal(ours.uniform(size=50), ref.uniform(size=50))
    assert ours.normal() == ref.normal() and ours.normal() == ref.normal()
    order, ref_order = np.arange(100), np.arange(100)
    ours.shuffle(order)
    ref.shuffle(ref_order)
    assert np.array_equal(order, ref_order)


def test_random_state_other_seeds():
    rs = np.random.RandomState(3)
    assert check_random_state(rs) is rs
    assert check_random_state(None) is np.random.mtrand._rand
    assert check_random_state(1) is not check_random_state(1)
    for bad in (-1, 2**32, 2**70):
        with pytest.raises(ValueError, match="Seed must be between"):
            check_random_state(bad)
    with pytest.raises(ValueError):
        check_random_state("seed")


def test_params_key_tells_types_apart():
    a = MLPClassifier(max_iter=5)
    b = MLPClassifier(max_iter=5.0)
    c = MLPClassifier(hidden_layer_sizes=[100])
    d = MLPClassifier(hidden_layer_sizes=(100,))
    assert params_key(a) != params_key(b)
    assert params_key(c) != params_key(d)
    assert params_key(a) == params_key(MLPClassifier(max_iter=5))
    assert params_key(MLPRegressor()) != params_key(MLPClassifier())
    # only plain values are keyed: the rest is validated every time (and
    # never held by the cache)
    assert params_key(MLPClassifier(class_weight={0: 1.0})) is None
    assert params_key(MLPClassifier(hidden_layer_sizes=np.array([5]))) is None
    assert params_key(MLPClassifier(random_state=np.random.RandomState(0))) is None
    assert params_key(MLPClassifier(scoring=lambda est, X, y: 0.0)) is None
    assert params_key(MLPClassifier(alpha=np.float32(0.5))) is not None


def test_validation_is_skipped_only_for_values_that_passed():
    calls = []
    est = MLPClassifier(max_iter=7, alpha=0.123456)
    validate_params_once(est, lambda: calls.append(1))
    validate_params_once(est, lambda: calls.append(1))
    assert len(calls) == 1
    est.set_params(alpha=0.654321)
    validate_params_once(est, lambda: calls.append(1))
    assert len(calls) == 2

    def fails():
        raise InvalidParameterError("no")
    est.set_params(alpha=0.5551)
    for _ in range(2):   # a failure is not remembered
        with pytest.raises(InvalidParameterError):
            validate_params_once(est, fails)


def test_invalid_parameters_still_raise_after_valid_fits():
    X = np.random.RandomState(0).rand(20, 3).astype(np.float32)
    y = np.arange(20) % 2
    MLPClassifier(max_iter=2, n_threads=1).fit(X, y)
    for bad in (dict(max_iter=2.0), dict(max_iter=0), dict(alpha=-1.0),
                dict(hidden_layer_sizes=(0,)), dict(batch_size=2.5),
                dict(class_weight={0: "x"})):
        with pytest.raises((InvalidParameterError, ValueError)):
            MLPClassifier(n_threads=1, **{"max_iter": 2, **bad}).fit(X, y)


def _reference(est, X, y, reset, labels):
    kw = {} if labels else {"y_numeric": True}
    return validate_data(est, X, y, accept_sparse=["csr", "csc"],
                         multi_output=True, dtype=(np.float64, np.float32),
                         reset=reset, **kw)


@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_Xy_returns_what_validate_data_returns(labels, dtype):
    rng = np.random.RandomState(0)
    X = rng.rand(30, 4).astype(dtype)
    Xf = np.asfortranarray(X)
    y = (np.arange(30) % 3).astype(np.int32) if labels else rng.rand(30)
    cls = MLPClassifier if labels else MLPRegressor
    for Xin in (X, Xf):
        ours, ref = cls(), cls()
        got = plain_Xy(ours, Xin, y, reset=True, labels=labels)
        want = _reference(ref, Xin, y, True, labels)
        assert got is not None
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            assert g.flags.c_contiguous == w.flags.c_contiguous
            np.testing.assert_array_equal(g, w)
        assert ours.n_features_in_ == ref.n_features_in_ == 4
        # later calls check the width against the fitted one
        assert plain_Xy(ours, Xin, y, reset=False, labels=labels) is not None
        assert plain_Xy(ours, Xin[:, :3], y, reset=False, labels=labels) is None


def test_plain_Xy_leaves_the_rest_to_validate_data():
    X = np.random.RandomState(0).rand(10, 3)
    y = np.arange(10) % 2
    est = MLPClassifier()
    for Xb, yb, labels in [
            (np.where(X > 0.9, np.nan, X), y, True),   # NaN
            (np.where(X > 0.9, np.inf, X), y, True),
            (X.astype(np.float16), y, True),           # converted
            (X.astype(int), y, True),
            (X.tolist(), y, True),                     # not an array
            (X, y.astype(float), True),                # float labels
            (X, y[:9], True),                          # lengths differ
            (X, y[:, None], True),                     # column y
            (X, np.where(y > 0, np.nan, 1.0), False),  # NaN target
            (X, y, False),                             # integer targets
            (X[:0], y[:0], True)]:                     # no rows
        assert plain_Xy(est, Xb, yb, reset=True, labels=labels) is None
    # fitted with feature names: validate_data compares them
    est.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
    assert plain_Xy(est, X, y, reset=True, labels=True) is None


def test_fit_messages_come_from_scikit_learn():
    X = np.random.RandomState(0).rand(10, 3)
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier(n_threads=1).fit(np.where(X > 0.9, np.nan, X), y)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        MLPRegressor(n_threads=1).fit(X, np.where(y > 0, np.nan, 1.0))
    est = MLPClassifier(max_iter=2, n_threads=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but"):
        est.partial_fit(X[:, :2], y)


def test_plain_Xy_reads_a_broadcast_stand_in_once():
    # the stand-in of an out-of-core X repeats one element: that element is
    # what is checked (non-finite: handed to validate_data)
    y = np.arange(1000) % 2
    zeros = np.broadcast_to(np.zeros(1, np.float32), (1000, 50))
    got = plain_Xy(MLPClassifier(), zeros, y, reset=True, labels=True)
    assert got is not None and got[0] is zeros
    for bad in (np.nan, np.inf):
        stand_in = np.broadcast_to(np.full(1, bad, np.float32), (1000, 50))
        assert plain_Xy(MLPClassifier(), stand_in, y, reset=True,
                        labels=True) is None
    # a row repeated: every element of the row is looked at
    row = np.zeros(50, np.float32)
    row[37] = np.nan
    assert plain_Xy(MLPClassifier(), np.broadcast_to(row, (1000, 50)), y,
                    reset=True, labels=True) is None


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("order", [">f4", ">f8"])
def test_fit_on_non_native_byte_order_as_on_native(cls, order):
    rng = np.random.RandomState(0)
    X = rng.rand(60, 4)
    y = (X[:, 0] > 0.5).astype(int) if cls is MLPClassifier else X.sum(1)
    kw = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0, n_threads=1)
    assert plain_Xy(cls(), X.astype(order), y, reset=True,
                    labels=cls is MLPClassifier) is None
    swapped = cls(**kw).fit(X.astype(order), y)
    # validate_data makes a native float64 copy, whatever the width
    native = cls(**kw).fit(X.astype(order).astype(np.float64), y)
    np.testing.assert_array_equal(swapped.coefs_[0], native.coefs_[0])


def test_huge_finite_values_fit_without_an_overflow_warning():
    import warnings
    rng = np.random.RandomState(0)
    X = rng.rand(60, 4)
    X[:2] = 1e308      # finite, but the sum overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert plain_Xy(MLPRegressor(), X, X[:, 1], reset=True,
                        labels=False) is None
        MLPRegressor(hidden_layer_sizes=(2,), max_iter=1, solver="lbfgs",
                     n_threads=1).fit(X, X[:, 1])
