"""Bad input gets a clear error naming the problem, and a failed call loses
nothing: a fitted model stays exactly as it was, an unfitted one unfitted."""
import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from fastbp import MLPClassifier, MLPRegressor

RNG = np.random.RandomState(0)
X = RNG.rand(40, 5)
Y_CLF = np.arange(40) % 3
Y_REG = X @ RNG.rand(5) + 0.1 * RNG.rand(40)


def _fitted(cls=MLPClassifier, **kw):
    params = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=0,
                  n_threads=1)
    params.update(kw)
    est = cls(**params)
    y = Y_CLF if cls is MLPClassifier else Y_REG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _y(est):
    return Y_CLF if isinstance(est, MLPClassifier) else Y_REG


def _with_nan(A):
    A = A.copy()
    A[3, 2] = np.nan
    return A


def _with_inf(A):
    A = A.copy()
    A[1, 0] = np.inf
    return A


# -- non-finite and malformed X -----------------------------------------------
BAD_X = {
    "nan": (_with_nan(X), "NaN"),
    "inf": (_with_inf(X), "infinity"),
    "-inf": (-_with_inf(X), "infinity"),
    "sparse nan": (sp.csr_matrix(_with_nan(X)), "NaN"),
    "sparse inf": (sp.csc_matrix(_with_inf(X)), "infinity"),
    "1-D": (X[:, 0], "Expected 2D array"),
    "3-D": (X[None], "dim 3"),
    "empty": (X[:0], "0 sample"),
    "strings": (np.full((40, 5), "a"), "could not convert|numeric"),
}


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("case", list(BAD_X))
def test_fit_rejects_bad_X(cls, case):
    bad, match = BAD_X[case]
    est = cls(max_iter=2)
    y = Y_CLF if cls is MLPClassifier else Y_REG
    with pytest.raises(ValueError, match=match):
        est.fit(bad, y if case not in ("empty",) else y[:0])
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.parametrize("method", ["predict", "predict_proba",
                                    "predict_log_proba", "score",
                                    "partial_fit"])
@pytest.mark.parametrize("case", list(BAD_X))
def test_predict_and_partial_fit_reject_bad_X(method, case):
    bad, match = BAD_X[case]
    est = _fitted()
    if method in ("score", "partial_fit"):
        y = Y_CLF[:0] if case == "empty" else Y_CLF
        call = lambda: getattr(est, method)(bad, y)  # noqa: E731
    else:
        call = lambda: getattr(est, method)(bad)  # noqa: E731
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score",
                                    "partial_fit"])
@pytest.mark.parametrize("n_features", [4, 6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_feature_count_differing_from_fit(method, n_features, dtype):
    est = _fitted()
    bad = RNG.rand(40, n_features).astype(dtype)
    args = (bad, Y_CLF) if method in ("score", "partial_fit") else (bad,)
    with pytest.raises(ValueError, match=f"X has {n_features} features, but "
                       "MLPClassifier is expecting 5 features"):
        getattr(est, method)(*args)


def test_feature_count_differing_from_fit_sparse():
    est = _fitted(MLPRegressor)
    with pytest.raises(ValueError, match="X has 3 features"):
        est.predict(sp.csr_matrix(RNG.rand(4, 3)))
    with pytest.raises(ValueError, match="X has 3 features"):
        est.partial_fit(sp.csr_matrix(RNG.rand(4, 3)), Y_REG[:4])


def test_warm_start_with_other_feature_count():
    est = _fitted(warm_start=True)
    with pytest.raises(ValueError, match="features"):
        est.fit(RNG.rand(40, 6), Y_CLF)


# -- bad targets ---------------------------------------------------------------
def test_partial_fit_rejects_unseen_labels():
    est = MLPClassifier(random_state=0)
    est.partial_fit(X, Y_CLF, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes not in `self.classes_`"):
        est.partial_fit(X, Y_CLF + 2)


def test_partial_fit_rejects_labels_outside_given_classes():
    est = MLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, Y_CLF, classes=[0, 1])
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_partial_fit_rejects_changed_classes():
    est = MLPClassifier(random_state=0)
    est.partial_fit(X, Y_CLF, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, Y_CLF, classes=[0, 1, 2, 3])


def test_warm_start_rejects_other_classes():
    est = _fitted(warm_start=True)
    with pytest.raises(ValueError, match="same classes"):
        est.fit(X, Y_CLF + 1)


def test_single_class_is_a_clear_error():
    """One class is nothing to classify: fit and a first partial_fit say so
    (an error naming 'class', which scikit-learn's check_classifiers_one_label
    accepts), and a failed fit leaves the estimator unfitted."""
    y = np.full(40, "only")
    est = MLPClassifier(max_iter=5, random_state=0)
    with pytest.raises(ValueError, match="at least 2 classes in y, got 1 class: 'only'"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_") and not hasattr(est, "classes_")
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier(max_iter=5).partial_fit(X, y, classes=["only"])
    # two classes in `classes`, one in this batch: fine, as in scikit-learn
    MLPClassifier(max_iter=5).partial_fit(X, y, classes=["only", "other"])


@pytest.mark.parametrize("y, match", [
    (Y_CLF + 0.5, "Unknown label type"),
    (np.c_[Y_CLF, Y_CLF] + 0.5, "Multioutput target|Unknown label type"),
    (Y_CLF[:10], "inconsistent numbers of samples"),
    (np.r_[np.nan, Y_CLF[1:]], "NaN|Unknown label type"),
])
def test_classifier_rejects_bad_y(y, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=2).fit(X, y)


@pytest.mark.parametrize("y, match", [
    (np.r_[np.nan, Y_REG[1:]], "NaN"),
    (np.r_[np.inf, Y_REG[1:]], "infinity"),
    (Y_REG[:10], "inconsistent numbers of samples"),
    (np.full(40, "a"), "could not convert|numeric"),
])
def test_regressor_rejects_bad_y(y, match):
    with pytest.raises(ValueError, match=match):
        MLPRegressor(max_iter=2).fit(X, y)


def test_poisson_rejects_negative_y():
    with pytest.raises(ValueError, match="poisson.*non-negative"):
        MLPRegressor(loss="poisson", max_iter=2).fit(X, Y_REG - 10)
    est = _fitted(MLPRegressor, loss="poisson")
    with pytest.raises(ValueError, match="non-negative"):
        est.partial_fit(X, -Y_REG)


@pytest.mark.parametrize("sw, match", [
    (np.ones(3), "sample_weight.shape"),
    (np.zeros(40), "non-zero"),
    (np.r_[np.nan, np.ones(39)], "NaN"),
    (np.ones((40, 2)), "1D|shape"),
])
def test_bad_sample_weight(sw, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=2).fit(X, Y_CLF, sample_weight=sw)


def test_class_weight_with_unknown_label():
    with pytest.raises(ValueError, match="class_weight"):
        MLPClassifier(max_iter=2, class_weight={7: 2.0}).fit(X, Y_CLF)


def test_unknown_scoring_name():
    with pytest.raises(ValueError, match="bogus"):
        MLPClassifier(max_iter=2, early_stopping=True,
                      scoring="bogus").fit(X, Y_CLF)


def test_validation_set_too_small():
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPClassifier(max_iter=2, early_stopping=True,
                      validation_fraction=0.01).fit(X, Y_CLF)


def test_partial_fit_with_early_stopping():
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, Y_REG)


# -- every invalid hyperparameter ----------------------------------------------
BAD_PARAMS = {
    "hidden_layer_sizes": [0, (-1,), (3, 0), "abc", (2.5,)],
    "activation": ["bogus", None],
    "solver": ["bogus"],
    "alpha": [-1, "big"],
    "batch_size": [0, -5, "bogus"],
    "learning_rate": ["bogus"],
    "learning_rate_init": [0, -1.0],
    "power_t": [-1],
    "max_iter": [0, -1, 2.5],
    "shuffle": ["yes"],
    "random_state": ["bogus"],
    "tol": [-1],
    "verbose": [-1, "loud"],
    "warm_start": ["yes"],
    "momentum": [2, -0.1],
    "nesterovs_momentum": ["yes"],
    "early_stopping": ["yes"],
    "validation_fraction": [1, 1.5, -0.1],
    "beta_1": [1, -0.1],
    "beta_2": [1, 2],
    "epsilon": [0, -1e-8],
    "n_iter_no_change": [0, -1],
    "max_fun": [0],
    "n_threads": [0, 1.5, "all"],
    "scoring": [3],
    "keep_optimizer_state": ["yes"],
    "progress": ["yes"],
    "dtype": ["float16", "int", 3, np.int32],
    "class_weight": ["bogus", 3],
    "loss": ["bogus", "log_loss"],
}


def test_bad_param_table_covers_every_constraint():
    keys = (set(MLPClassifier._parameter_constraints)
            | set(MLPRegressor._parameter_constraints))
    assert keys == set(BAD_PARAMS)
    assert keys >= set(MLPClassifier().get_params()) | set(
        MLPRegressor().get_params())


def _param_cases():
    for name, values in BAD_PARAMS.items():
        for value in values:
            for cls in (MLPClassifier, MLPRegressor):
                if name in cls._parameter_constraints:
                    yield pytest.param(cls, name, value,
                                       id=f"{cls.__name__}-{name}={value!r}")


@pytest.mark.parametrize("cls, name, value", list(_param_cases()))
def test_invalid_hyperparameter_is_named(cls, name, value):
    y = Y_CLF if cls is MLPClassifier else Y_REG
    params = {"max_iter": 2, name: value}
    est = cls(**params)
    with pytest.raises(ValueError, match=name):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    if name != "solver":
        est = cls(**params)
        with pytest.raises(ValueError, match=name):
            est.partial_fit(X, y, **({"classes": [0, 1, 2]}
                                     if cls is MLPClassifier else {}))


def test_invalid_parameter_error_is_a_value_error():
    assert issubclass(InvalidParameterError, ValueError)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
        MLPClassifier(alpha=-1).fit(X, Y_CLF)


# -- never a crash or a hang ----------------------------------------------------
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_huge_batch_size_is_clipped_with_warning(cls):
    y = Y_CLF if cls is MLPClassifier else Y_REG
    with pytest.warns(UserWarning, match="batch_size.*clipped"):
        est = cls(batch_size=10**12, max_iter=3, random_state=0,
                  tol=0).fit(X, y)
    assert est.n_iter_ == 3
    full = cls(batch_size=40, max_iter=3, random_state=0, tol=0,
               shuffle=False)
    clipped = cls(batch_size=10**12, max_iter=3, random_state=0, tol=0,
                  shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full.fit(X, y)
        clipped.fit(X, y)
    for a, b in zip(full.coefs_, clipped.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs", "rmsprop"])
def test_single_sample(solver):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(solver=solver, max_iter=5, random_state=0).fit(
            X[:1], Y_REG[:1])
        assert reg.predict(X[:1]).shape == (1,)
        assert np.isfinite(reg.predict(X)).all()
        with pytest.raises(ValueError, match="got 1 class"):
            MLPClassifier(solver=solver, max_iter=5).fit(X[:1], ["a"])
    if solver != "lbfgs":
        inc = MLPClassifier(solver=solver, random_state=0)
        inc.partial_fit(X[:1], [1], classes=[0, 1])
        inc.partial_fit(X[1:2], [0])
        assert inc.predict_proba(X).shape == (40, 2)


def test_predict_on_unfitted_model():
    for est in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError):
            est.predict(X)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba(X)


def test_integer_and_list_input_are_converted():
    est = _fitted()
    np.testing.assert_array_equal(est.predict(X.tolist()), est.predict(X))
    ints = (X * 10).astype(int)
    np.testing.assert_array_equal(est.predict(ints),
                                  est.predict(ints.astype(float)))


# -- a failed call loses nothing ------------------------------------------------
def _snapshot(est):
    """Every fitted attribute (the trailing-underscore ones) as values."""
    snap = {}
    for name in dir(est):
        if (not name.endswith("_") or name.startswith("_")
                or name == "network_"):
            continue
        try:
            value = getattr(est, name)
        except AttributeError:
            continue
        if isinstance(value, list) and value and isinstance(value[0],
                                                             np.ndarray):
            value = [v.copy() for v in value]
        elif isinstance(value, np.ndarray):
            value = value.copy()
        elif isinstance(value, list):
            value = list(value)
        snap[name] = value
    return snap


def _assert_same_snapshot(a, b):
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if isinstance(x, list) and x and isinstance(x[0], np.ndarray):
            assert len(x) == len(y), name
            for u, v in zip(x, y):
                assert u.dtype == v.dtype, name
                np.testing.assert_array_equal(u, v, err_msg=name)
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert x == y or (x != x and y != y), name


def _assert_unchanged(est, before, twin, probe=X, train=True):
    """est matches its snapshot, predicts as before, and trains on exactly
    as an untouched twin does (optimizer state and RNG survived too)."""
    _assert_same_snapshot(_snapshot(est), before)
    np.testing.assert_array_equal(est.predict(probe), twin.predict(probe))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(est.predict_proba(probe),
                                      twin.predict_proba(probe))
    if train and hasattr(est, "partial_fit") and not est.early_stopping:
        est.partial_fit(X, _y(est))
        twin.partial_fit(X, _y(twin))
        for u, v in zip(est.coefs_ + est.intercepts_,
                        twin.coefs_ + twin.intercepts_):
            np.testing.assert_array_equal(u, v)
        assert est.loss_curve_ == twin.loss_curve_
    # coefs_ are still the model
    est.coefs_[-1][:] = 0
    est.intercepts_[-1][:] = 0
    out = est.predict_proba(probe) if hasattr(est, "predict_proba") else \
        est.predict(probe)
    assert np.ptp(out) == 0


def _failing_calls():
    """(name, estimator factory, failing call) for a fitted estimator."""
    bad_X = _with_nan(X)
    return [
        ("fit nan X", lambda: _fitted(), lambda e: e.fit(bad_X, Y_CLF)),
        ("fit 1-D X", lambda: _fitted(), lambda e: e.fit(X[:, 0], Y_CLF)),
        ("fit bad y", lambda: _fitted(), lambda e: e.fit(X, Y_CLF + 0.5)),
        ("fit short y", lambda: _fitted(), lambda e: e.fit(X, Y_CLF[:5])),
        ("fit bad sample_weight", lambda: _fitted(),
         lambda e: e.fit(X, Y_CLF, sample_weight=np.ones(3))),
        ("fit bad hyperparameter", lambda: _fitted(),
         lambda e: e.set_params(alpha=-1).fit(X, Y_CLF)),
        ("fit bad hidden_layer_sizes", lambda: _fitted(),
         lambda e: e.set_params(hidden_layer_sizes=(3, 0)).fit(X, Y_CLF)),
        ("warm fit other classes", lambda: _fitted(warm_start=True),
         lambda e: e.fit(X, Y_CLF + 1)),
        ("warm fit other features", lambda: _fitted(warm_start=True),
         lambda e: e.fit(RNG.rand(40, 6), Y_CLF)),
        ("warm fit other architecture", lambda: _fitted(warm_start=True),
         lambda e: e.set_params(hidden_layer_sizes=(9,)).fit(X, Y_CLF)),
        ("partial_fit unseen label", lambda: _fitted(),
         lambda e: e.partial_fit(X, Y_CLF + 1)),
        ("partial_fit feature mismatch", lambda: _fitted(),
         lambda e: e.partial_fit(RNG.rand(40, 4), Y_CLF)),
        ("partial_fit nan X", lambda: _fitted(),
         lambda e: e.partial_fit(bad_X, Y_CLF)),
        ("partial_fit balanced", lambda: _fitted(),
         lambda e: e.set_params(class_weight="balanced").partial_fit(X, Y_CLF)),
        # (like scikit-learn, partial_fit on a fitted model does not run
        # the parameter validation again; these fail in fastbp's own checks)
        ("partial_fit bad hidden_layer_sizes", lambda: _fitted(),
         lambda e: e.set_params(hidden_layer_sizes=(3, 0)).partial_fit(
             X, Y_CLF)),
        ("partial_fit other architecture", lambda: _fitted(),
         lambda e: e.set_params(hidden_layer_sizes=(9,)).partial_fit(
             X, Y_CLF)),
        ("regressor fit nan y", lambda: _fitted(MLPRegressor),
         lambda e: e.fit(X, np.r_[np.nan, Y_REG[1:]])),
        ("regressor partial_fit feature mismatch", lambda: _fitted(MLPRegressor),
         lambda e: e.partial_fit(RNG.rand(40, 4), Y_REG)),
        ("poisson negative y", lambda: _fitted(MLPRegressor, loss="poisson"),
         lambda e: e.partial_fit(X, -Y_REG)),
        ("lbfgs fit bad y", lambda: _fitted(solver="lbfgs"),
         lambda e: e.fit(X, Y_CLF[:3])),
    ]


_CALLS = _failing_calls()


@pytest.mark.parametrize("make, fail", [(m, f) for _, m, f in _CALLS],
                         ids=[n for n, _, _ in _CALLS])
def test_failed_call_leaves_fitted_model_unchanged(make, fail):
    est = make()
    twin = copy.deepcopy(est)
    params = est.get_params()
    before = _snapshot(est)
    with pytest.raises(ValueError):
        fail(est)
    est.set_params(**params)  # undo set_params; the fitted state is the test
    _assert_unchanged(est, before, twin)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("how", ["fit", "warm fit", "partial_fit"])
def test_non_finite_weights_error_leaves_model_unchanged(cls, how):
    """Updates so large the weights overflow: the error says so, and the
    model is the one from before the call."""
    y = Y_CLF if cls is MLPClassifier else Y_REG * 1e6
    est = _fitted(cls, solver="sgd", warm_start=(how == "warm fit"))
    huge = X * (1e200 if cls is MLPClassifier else 1e100)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if how == "partial_fit":
            # partial_fit keeps the optimizer (and its learning rate) of the
            # fit: one epoch on huge X makes the weights huge, but finite
            est.partial_fit(huge, y)
            assert all(np.isfinite(c).all() for c in est.coefs_)
        else:
            est.set_params(learning_rate_init=1e200, momentum=0.0)
        twin = copy.deepcopy(est)
        before = _snapshot(est)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            if how == "partial_fit":
                est.partial_fit(huge, y)  # the next one overflows
            else:
                est.fit(huge, y)
    est.set_params(**twin.get_params())
    with np.errstate(all="ignore"):
        # (training on from huge weights would overflow in both)
        _assert_unchanged(est, before, twin, train=(how != "partial_fit"))


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_non_finite_weights_on_unfitted_model_stays_unfitted(cls):
    y = Y_CLF if cls is MLPClassifier else Y_REG * 1e6
    est = cls(solver="sgd", learning_rate_init=1e200, momentum=0.0,
              max_iter=3)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite"):
            est.fit(X * 1e100, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "coefs_")
    assert not hasattr(est, "classes_")


def test_failure_after_some_epochs_rolls_back_the_whole_call():
    """A scorer that fails at the third epoch: weights had changed already;
    they are put back, with the loss curve and iteration counts."""
    X_big = np.tile(X, (3, 1))
    y_big = np.tile(Y_CLF, 3)
    calls = []

    def scorer(est, X_val, y_val):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("scorer broke")
        return 0.0

    est = MLPClassifier(hidden_layer_sizes=(7,), random_state=0, max_iter=5,
                        warm_start=True, early_stopping=True, scoring=scorer,
                        n_iter_no_change=100, n_threads=1)
    with pytest.raises(ValueError, match="scorer broke"):
        est.fit(X_big, y_big)
    with pytest.raises(NotFittedError):
        est.predict(X)  # unfitted before, unfitted after

    calls.append(1)  # later calls do not fail
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_big, y_big)
    twin = copy.deepcopy(est)
    before = _snapshot(est)
    calls.clear()
    with pytest.raises(ValueError, match="scorer broke"):
        est.fit(X_big, y_big)  # warm: would continue from the weights
    _assert_unchanged(est, before, twin)


@pytest.mark.parametrize("case", ["nan X", "single bad label", "bad param"])
def test_failed_first_partial_fit_leaves_model_unfitted(case):
    est = MLPClassifier(random_state=0)
    with pytest.raises(ValueError):
        if case == "nan X":
            est.partial_fit(_with_nan(X), Y_CLF, classes=[0, 1, 2])
        elif case == "single bad label":
            est.partial_fit(X, Y_CLF, classes=[0, 1])
        else:
            est.set_params(beta_1=1).partial_fit(X, Y_CLF, classes=[0, 1, 2])
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert not hasattr(est, "classes_")
    est.set_params(beta_1=0.9)
    est.partial_fit(X, Y_CLF, classes=[0, 1, 2])  # and it still works
    fresh = MLPClassifier(random_state=0).partial_fit(X, Y_CLF,
                                                      classes=[0, 1, 2])
    np.testing.assert_array_equal(est.coefs_[0], fresh.coefs_[0])


@pytest.mark.parametrize("failure", ["bad X", "non-finite weights"])
def test_failed_call_keeps_held_coef_arrays_as_the_model(failure):
    """coefs_ are the model: arrays a user took from coefs_/intercepts_
    before a failed warm fit still hold the weights and still are the
    model afterwards (writing into them changes predictions)."""
    est = _fitted(solver="sgd", warm_start=True)
    W, b = est.coefs_[0], est.intercepts_[-1]
    W_before, b_before = W.copy(), b.copy()
    proba = est.predict_proba(X)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError):
            if failure == "bad X":
                est.fit(_with_nan(X), Y_CLF)
            else:
                est.set_params(learning_rate_init=1e200, momentum=0.0)
                est.fit(X * 1e200, Y_CLF)
    np.testing.assert_array_equal(W, W_before)
    np.testing.assert_array_equal(b, b_before)
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    W[:] = 0
    b[:] = [0.0, 50.0, 0.0]
    assert (est.predict(X) == 1).all()


@pytest.mark.parametrize("sizes, match", [
    ((32.5,), r"must be positive integers, got \[32.5\]"),
    ((10, 0), r"must be > 0, got \[10, 0\]"),
])
def test_hidden_layer_sizes_errors_name_the_problem(sizes, match):
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=match):
        MLPRegressor(hidden_layer_sizes=sizes).fit(X, X[:, 0])


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_schedule_on_adam_warns_that_sklearn_ignores_it(schedule):
    X = np.random.RandomState(0).normal(size=(20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match=f"learning_rate='{schedule}' changes Adam"):
            MLPRegressor(hidden_layer_sizes=(4,), learning_rate=schedule,
                         max_iter=2).fit(X, X[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPRegressor(hidden_layer_sizes=(4,), learning_rate=schedule, solver="sgd",
                     max_iter=2).fit(X, X[:, 0])


@pytest.mark.parametrize("n_rows", [3, 100])   # compiled few-row path, and not
@pytest.mark.parametrize("bad, match", [(np.nan, "Input X contains NaN"),
                                        (np.inf, "Input X contains infinity")])
def test_predict_names_nan_and_infinity_as_sklearn_does(bad, match, n_rows):
    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(
            rng.normal(size=(30, 3)), np.arange(30) % 3)
    X = rng.normal(size=(n_rows, 3))
    X[1, 2] = bad
    with pytest.raises(ValueError, match=match):
        clf.predict(X)
