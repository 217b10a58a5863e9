"""fastbp follows scikit-learn's own training trajectory.

With the same random_state (hence the same initial weights, drawn as
scikit-learn draws them), full-batch unshuffled float64 training, every
solver, activation and loss of scikit-learn gives the same loss_curve_ and
the same final weights as scikit-learn itself, to rounding error (~1e-10
relative). Early stopping too: the validation split uses the same
RandomState draws, so validation_scores_ and the restored best weights agree.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastbp

SKLEARN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
RTOL = 1e-10  # relative to the largest entry of each compared array
LBFGS_RTOL = 1e-8  # L-BFGS-B's line search amplifies last-bit differences


# -- data ---------------------------------------------------------------------
def _digits(n=150):
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n]


def _make_task(task, seed=0):
    rng = np.random.RandomState(seed)
    if task in ("binary", "multiclass", "multilabel"):
        X, y = _digits()
        if task == "binary":
            y = y % 2
        elif task == "multilabel":
            y = np.c_[y % 2, y >= 5, y % 3 == 0].astype(int)
        return X, y
    if task in ("regression", "multioutput"):
        X, y = make_regression(n_samples=120, n_features=8,
                               n_targets=1 if task == "regression" else 3,
                               noise=1.0, random_state=seed)
        return X, y / y.std(axis=0)
    if task == "poisson":
        X = rng.normal(size=(120, 6))
        lam = np.exp(0.3 * X[:, 0] - 0.2 * X[:, 1] + 0.5)
        return X, rng.poisson(lam).astype(float)
    raise ValueError(task)


CLASSIFIER_TASKS = ["binary", "multiclass", "multilabel"]
REGRESSOR_TASKS = ["regression", "multioutput", "poisson"]
ALL_TASKS = CLASSIFIER_TASKS + REGRESSOR_TASKS

# Every solver configuration scikit-learn has.
SOLVERS = {
    "sgd-nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    "sgd-momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    "sgd-plain": dict(solver="sgd", momentum=0.0),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling",
                           power_t=0.25),
    # tol that large: no epoch counts as an improvement, so the learning rate
    # is divided by 5 every other epoch until it falls under 1e-6 and stops.
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", tol=1e3,
                         n_iter_no_change=1, max_iter=20),
    "adam": dict(solver="adam"),
    "lbfgs": dict(solver="lbfgs", max_iter=15),
}


def _params(task, solver_key, activation="relu", **extra):
    # one thread: robust timing on a busy machine; the threaded reductions
    # are checked against scikit-learn in test_same_trajectory_with_threads
    params = dict(hidden_layer_sizes=(12, 6), activation=activation,
                  batch_size="full", shuffle=False, random_state=0,
                  max_iter=8, alpha=1e-3, n_threads=1)
    params.update(SOLVERS[solver_key])
    if params["solver"] == "sgd":
        params["learning_rate_init"] = 0.05
    else:
        params["learning_rate_init"] = 0.01
    if task == "poisson":
        params["loss"] = "poisson"
        params["learning_rate_init"] /= 5
    params.update(extra)
    return params


FASTBP_ONLY = ("n_threads", "scoring", "keep_optimizer_state", "progress")


def _pair(task, params):
    if params.get("batch_size") == "full":
        raise AssertionError("resolve batch_size='full' with _full_batch")
    sk_params = {k: v for k, v in params.items() if k not in FASTBP_ONLY}
    if task in CLASSIFIER_TASKS:
        return sk.MLPClassifier(**sk_params), fastbp.MLPClassifier(**params)
    return sk.MLPRegressor(**sk_params), fastbp.MLPRegressor(**params)


def _full_batch(params, X):
    if params.get("batch_size") == "full":
        params = dict(params, batch_size=X.shape[0])
    return params


def _fit_both(task, params, X, y, **fit_kw):
    ref, est = _pair(task, _full_batch(params, X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y, **fit_kw)
        est.fit(X, y, **fit_kw)
    return ref, est


# -- comparison ---------------------------------------------------------------
def assert_close(actual, desired, rtol=RTOL, what=""):
    """Each entry within rtol of its reference, measured against the largest
    reference entry (so entries near zero do not need 1e-10 on their own)."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, what
    scale = max(np.max(np.abs(desired), initial=0.0), 1e-300)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale,
                               err_msg=what)


def assert_same_model(est, ref, rtol=RTOL):
    assert len(est.coefs_) == len(ref.coefs_)
    for i, (a, b) in enumerate(zip(est.coefs_, ref.coefs_)):
        assert a.dtype == b.dtype
        assert_close(a, b, rtol, what=f"coefs_[{i}]")
    for i, (a, b) in enumerate(zip(est.intercepts_, ref.intercepts_)):
        assert_close(a, b, rtol, what=f"intercepts_[{i}]")
    assert est.n_iter_ == ref.n_iter_
    assert est.n_layers_ == ref.n_layers_
    assert est.n_outputs_ == ref.n_outputs_
    assert est.out_activation_ == ref.out_activation_
    assert est.n_features_in_ == ref.n_features_in_
    assert_close(est.loss_, ref.loss_, rtol, what="loss_")
    assert hasattr(est, "loss_curve_") == hasattr(ref, "loss_curve_")
    if hasattr(ref, "loss_curve_"):
        assert len(est.loss_curve_) == len(ref.loss_curve_)
        assert_close(est.loss_curve_, ref.loss_curve_, rtol, what="loss_curve_")
        assert est.t_ == ref.t_
        if ref.best_loss_ is None:
            assert est.best_loss_ is None
        else:
            assert_close(est.best_loss_, ref.best_loss_, rtol, what="best_loss_")
    if hasattr(ref, "classes_"):
        np.testing.assert_array_equal(est.classes_, ref.classes_)


def _assert_same_predictions(est, ref, X, rtol=1e-8):
    if hasattr(ref, "predict_proba"):
        assert_close(est.predict_proba(X), ref.predict_proba(X), rtol)
        np.testing.assert_array_equal(est.predict(X), ref.predict(X))
    else:
        assert_close(est.predict(X), ref.predict(X), rtol)


# -- the grid: every solver x activation x loss --------------------------------
@pytest.mark.parametrize("task", ALL_TASKS)
@pytest.mark.parametrize("activation", SKLEARN_ACTIVATIONS)
@pytest.mark.parametrize("solver_key", list(SOLVERS))
def test_same_trajectory_as_sklearn(solver_key, activation, task):
    X, y = _make_task(task)
    params = _params(task, solver_key, activation)
    ref, est = _fit_both(task, params, X, y)
    rtol = LBFGS_RTOL if solver_key == "lbfgs" else RTOL
    assert_same_model(est, ref, rtol)
    _assert_same_predictions(est, ref, X)
    if solver_key == "sgd-adaptive":
        # the learning rate fell under 1e-6 and both stopped at the same epoch
        assert ref.n_iter_ < params["max_iter"]


@pytest.mark.parametrize("task", ALL_TASKS)
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam", "lbfgs"])
def test_same_trajectory_without_regularization(solver_key, task):
    X, y = _make_task(task)
    ref, est = _fit_both(task, _params(task, solver_key, "tanh", alpha=0.0),
                         X, y)
    assert_same_model(est, ref, LBFGS_RTOL if solver_key == "lbfgs" else RTOL)


@pytest.mark.parametrize("task", ALL_TASKS)
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "sgd-plain", "adam",
                                        "lbfgs"])
def test_same_trajectory_with_sample_weight(solver_key, task):
    X, y = _make_task(task)
    sw = np.random.RandomState(1).uniform(0.1, 3.0, size=X.shape[0])
    ref, est = _fit_both(task, _params(task, solver_key, "relu", alpha=0.01),
                         X, y, sample_weight=sw)
    assert_same_model(est, ref, LBFGS_RTOL if solver_key == "lbfgs" else RTOL)
    # and the weights matter: unit weights give another model
    _, unweighted = _fit_both(task, _params(task, solver_key, "relu",
                                            alpha=0.01), X, y)
    assert not np.allclose(unweighted.coefs_[0], est.coefs_[0])


@pytest.mark.parametrize("task", ALL_TASKS)
def test_integer_sample_weight_matches_sklearn(task):
    X, y = _make_task(task)
    sw = np.random.RandomState(2).randint(0, 4, size=X.shape[0])
    sw[0] = 1
    ref, est = _fit_both(task, _params(task, "adam"), X, y, sample_weight=sw)
    assert_same_model(est, ref)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel",
                                  "regression", "multioutput"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam"])
@pytest.mark.parametrize("weighted", [False, True])
def test_same_early_stopping_as_sklearn(solver_key, task, weighted):
    X, y = _make_task(task)
    n_train = X.shape[0] - int(np.ceil(0.2 * X.shape[0]))
    params = _params(task, solver_key, "relu", early_stopping=True,
                     validation_fraction=0.2, n_iter_no_change=2, tol=0.05,
                     max_iter=30, learning_rate_init=0.05, batch_size=n_train)
    kw = {}
    if weighted:
        kw["sample_weight"] = np.random.RandomState(3).uniform(
            0.2, 2.0, size=X.shape[0])
    ref, est = _fit_both(task, params, X, y, **kw)
    assert est.best_loss_ is None and ref.best_loss_ is None
    assert len(est.validation_scores_) == len(ref.validation_scores_)
    assert_close(est.validation_scores_, ref.validation_scores_, 1e-9,
                 what="validation_scores_")
    assert_close(est.best_validation_score_, ref.best_validation_score_, 1e-9)
    assert est.best_validation_score_ == max(est.validation_scores_)
    # the weights restored are the best epoch's, as in scikit-learn
    assert_same_model(est, ref)
    assert len(est.validation_loss_curve_) == est.n_iter_


def test_early_stopping_restores_best_not_last_weights():
    X, y = _make_task("multiclass")
    params = _params("multiclass", "sgd-nesterov", "relu", early_stopping=True,
                     validation_fraction=0.2, n_iter_no_change=3, tol=0.0,
                     max_iter=60, learning_rate_init=0.5, batch_size=120)
    ref, est = _fit_both("multiclass", params, X, y)
    # scores went down after the best epoch: the best is not the last one
    assert np.argmax(ref.validation_scores_) < len(ref.validation_scores_) - 1
    assert_same_model(est, ref)
    assert_close(est.validation_scores_, ref.validation_scores_, 1e-9)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam", "lbfgs"])
def test_same_trajectory_on_sparse_input(solver_key, task, fmt):
    X, y = _make_task(task)
    X = X.copy()
    X[np.abs(X) < 0.5] = 0.0
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    ref, est = _fit_both(task, _params(task, solver_key), Xs, y)
    assert_same_model(est, ref, LBFGS_RTOL if solver_key == "lbfgs" else RTOL)
    _assert_same_predictions(est, ref, Xs)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel",
                                  "regression", "multioutput"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam"])
def test_same_partial_fit_trajectory(solver_key, task):
    """partial_fit keeps the optimizer between calls, as scikit-learn does."""
    X, y = _make_task(task)
    params = _params(task, solver_key)
    ref, est = _pair(task, _full_batch(params, X))
    kw = {}
    if task in ("binary", "multiclass"):
        kw["classes"] = np.unique(y)
    elif task == "multilabel":
        kw["classes"] = np.arange(y.shape[1])  # required, as in scikit-learn
    for i in range(4):
        ref.partial_fit(X, y, **kw)
        est.partial_fit(X, y, **kw)
        assert_same_model(est, ref)
        assert est.n_iter_ == 1  # n_iter_ counts the epochs of one call
    assert len(est.loss_curve_) == 4


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam", "lbfgs"])
def test_same_warm_start_trajectory(solver_key, task):
    X, y = _make_task(task)
    params = _params(task, solver_key, warm_start=True, max_iter=4)
    ref, est = _pair(task, _full_batch(params, X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            ref.fit(X, y)
            est.fit(X, y)
            assert_same_model(est, ref,
                              LBFGS_RTOL if solver_key == "lbfgs" else RTOL)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam"])
def test_same_trajectory_with_minibatches_unshuffled(solver_key, task):
    """Mini-batches in order (shuffle=False) follow scikit-learn too,
    the last batch shorter included."""
    X, y = _make_task(task)
    params = _params(task, solver_key, batch_size=32, max_iter=4)
    ref, est = _fit_both(task, params, X, y)
    assert_same_model(est, ref, 1e-9)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel",
                                  "regression", "multioutput"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam"])
def test_same_trajectory_shuffled(solver_key, task):
    """shuffle=True (the default): fastbp draws each epoch's order with
    scikit-learn's own shuffle from the same RandomState, so the mini-batches
    and the trajectory are scikit-learn's."""
    X, y = _make_task(task)
    params = _params(task, solver_key, batch_size=32, max_iter=4, shuffle=True)
    ref, est = _fit_both(task, params, X, y)
    assert_same_model(est, ref, 1e-9)
    other = _params(task, solver_key, batch_size=32, max_iter=4, shuffle=True,
                    random_state=1)
    _, est_other = _fit_both(task, other, X, y)
    assert est_other.loss_curve_[-1] != est.loss_curve_[-1]  # the seed matters


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_same_shuffled_early_stopping_partial_fit_and_shared_state(task):
    """The RandomState is drawn in scikit-learn's order across the
    validation split, each epoch's shuffle and successive partial_fit calls
    and fits sharing one RandomState instance."""
    X, y = _make_task(task)
    params = _params(task, "adam", batch_size=20, shuffle=True, max_iter=12,
                     early_stopping=True, n_iter_no_change=3, tol=1e-3)
    ref, est = _fit_both(task, params, X, y)
    assert_close(est.validation_scores_, ref.validation_scores_, 1e-9)
    assert_same_model(est, ref, 1e-9)

    kw = {"classes": np.unique(y)} if task == "binary" else {}
    rs_ref, rs_est = np.random.RandomState(3), np.random.RandomState(3)
    plain = _params(task, "sgd-nesterov", batch_size=20, shuffle=True,
                    random_state=None)
    for _ in range(2):
        ref, est = _pair(task, dict(plain, random_state=rs_ref))
        est.set_params(random_state=rs_est)
        for _ in range(3):
            ref.partial_fit(X, y, **kw)
            est.partial_fit(X, y, **kw)
        assert_same_model(est, ref, 1e-9)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_float32_follows_sklearn_closely(task):
    X, y = _make_task(task)
    X = X.astype(np.float32)
    ref, est = _fit_both(task, _params(task, "adam"), X, y)
    assert est.coefs_[0].dtype == ref.coefs_[0].dtype == np.float32
    assert_close(est.loss_curve_, ref.loss_curve_, 1e-4)
    for a, b in zip(est.coefs_ + est.intercepts_, ref.coefs_ + ref.intercepts_):
        assert_close(a, b, 1e-3)


def test_string_and_float_labels_match_sklearn():
    X, y = _make_task("multiclass")
    names = np.array(["zero", "one", "two", "three", "four", "five", "six",
                      "seven", "eight", "nine"], dtype=object)
    for labels in (names[y], y.astype(float) * 10 - 30, y.astype(str)):
        ref, est = _fit_both("multiclass", _params("multiclass", "adam"),
                             X, labels)
        assert_same_model(est, ref)
        np.testing.assert_array_equal(est.predict(X), ref.predict(X))



@pytest.mark.parametrize("scale", [5.0, 10.0, 20.0])
@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
def test_loss_value_matches_sklearn_on_saturated_outputs(task, scale):
    """Confidently wrong predictions (|z| in the tens): scikit-learn's log
    loss is log(clip(p)) and log(1 - clip(p)) of the rounded probability p,
    and the loss fastbp reports must be that value (L-BFGS-B's line search
    reads it: a difference here is what makes
    test_same_trajectory_as_sklearn[lbfgs-relu-binary] diverge)."""
    X, y = _make_task(task)
    params = _full_batch(_params(task, "sgd-plain", "identity",
                                 learning_rate_init=1e-12, alpha=0.0), X)
    ref, est = _pair(task, params)
    classes = np.arange(y.shape[1]) if task == "multilabel" else np.unique(y)
    ref.partial_fit(X, y, classes=classes)
    est.partial_fit(X, y, classes=classes)
    # same large output weights in both; one more epoch reports the loss there
    ref.coefs_ = ref.coefs_[:-1] + [ref.coefs_[-1] * scale]
    est.coefs_ = [c.copy() for c in ref.coefs_]
    est.intercepts_ = [b.copy() for b in ref.intercepts_]
    ref.partial_fit(X, y)
    est.partial_fit(X, y)
    assert ref.loss_ > 1  # saturated and wrong
    assert_close(est.loss_, ref.loss_, 1e-10, what="loss_")


# -- scikit-learn's schedules and stopping rules, on every solver -------------
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_schedules_act_on_adam_as_documented(task):
    """fastbp applies learning_rate schedules to every stochastic solver (a
    documented difference: scikit-learn's Adam ignores them). invscaling
    changes Adam's model; with the default 'constant' both agree."""
    X, y = _make_task(task)
    base = _params(task, "adam", max_iter=6, tol=0.0, n_iter_no_change=100)
    ref, est = _fit_both(task, base, X, y)
    assert_same_model(est, ref)
    scaled = _params(task, "adam", learning_rate="invscaling", power_t=0.5,
                     max_iter=6, tol=0.0, n_iter_no_change=100)
    with pytest.warns(UserWarning, match="scikit-learn's MLP ignores learning_rate"):
        ref2, est2 = _fit_both(task, scaled, X, y)
    assert_same_model(ref2, ref)  # scikit-learn: no effect on Adam
    # fastbp: a smaller step after the first epoch, so the curves part ways
    assert est2.loss_curve_[0] == est.loss_curve_[0]
    assert est2.loss_curve_[-1] != est.loss_curve_[-1]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "sgd-invscaling",
                                        "adam"])
def test_same_stop_on_training_loss_plateau(solver_key, task):
    """tol / n_iter_no_change on the training loss stop both at the same
    epoch (also n_iter_no_change=inf: never)."""
    X, y = _make_task(task)
    for tol, nic in ((0.05, 2), (1e3, 1), (1e3, np.inf)):
        ref, est = _fit_both(task, _params(task, solver_key, tol=tol,
                                           n_iter_no_change=nic, max_iter=15),
                             X, y)
        assert_same_model(est, ref)
        if nic == np.inf:
            assert est.n_iter_ == 15
        else:
            assert est.n_iter_ < 15


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_same_lbfgs_stopping_rules(task):
    X, y = _make_task(task)
    # (long L-BFGS runs on ReLU networks amplify last-bit differences
    # chaotically: with tol=1e-2 both run 80+ iterations and drift apart)
    for extra in (dict(max_fun=5, max_iter=100), dict(tol=0.04, max_iter=200)):
        ref, est = _fit_both(task, _params(task, "lbfgs", **extra), X, y)
        assert_same_model(est, ref, LBFGS_RTOL)
        assert est.n_iter_ < extra["max_iter"]
        assert not hasattr(est, "loss_curve_") and not hasattr(ref,
                                                                "loss_curve_")


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam"])
def test_same_trajectory_with_minibatches_weights_and_alpha(solver_key, task):
    """Mini-batches (the last one short), sample weights and the L2 term,
    which scikit-learn divides by each batch's weight sum."""
    X, y = _make_task(task)
    sw = np.random.RandomState(4).uniform(0.1, 3.0, size=X.shape[0])
    params = _params(task, solver_key, batch_size=32, max_iter=4, alpha=0.1)
    ref, est = _fit_both(task, params, X, y, sample_weight=sw)
    assert_same_model(est, ref, 1e-9)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_same_early_stopping_with_minibatches(task):
    X, y = _make_task(task)
    params = _params(task, "adam", early_stopping=True, batch_size=25,
                     n_iter_no_change=2, tol=0.01, max_iter=20,
                     learning_rate_init=0.02)
    ref, est = _fit_both(task, params, X, y)
    assert_close(est.validation_scores_, ref.validation_scores_, 1e-9)
    assert_same_model(est, ref, 1e-9)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_warm_start_with_early_stopping(task):
    """Across warm fits validation_scores_ grows and best_validation_score_
    and the no-improvement count carry over, as in scikit-learn.

    One deliberate difference: scikit-learn's early-stopping fit ends with
    ``coefs_ = _best_coefs`` (the same list), so its next warm fit trains
    the saved best weights in place, and a warm fit that never beats the
    old best score "restores" its own last weights. fastbp restores the
    best weights seen, i.e. such a fit leaves the weights as they were."""
    X, y = _make_task(task)
    n_train = X.shape[0] - int(np.ceil(0.1 * X.shape[0]))
    params = _full_batch(_params(task, "adam", early_stopping=True,
                                 warm_start=True, n_iter_no_change=2,
                                 tol=0.0, max_iter=6, batch_size=n_train,
                                 learning_rate_init=0.05), X)
    ref, est = _pair(task, params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)
        est.fit(X, y)
        assert_same_model(est, ref)
        for _ in range(2):
            best = est.best_validation_score_
            before = [c.copy() for c in est.coefs_ + est.intercepts_]
            ref.fit(X, y)
            est.fit(X, y)
            assert_close(est.validation_scores_, ref.validation_scores_, 1e-9)
            assert est.n_iter_ == ref.n_iter_
            assert est.best_validation_score_ == pytest.approx(
                ref.best_validation_score_, rel=1e-12)
            if est.best_validation_score_ == best:  # no better epoch
                for a, b in zip(est.coefs_ + est.intercepts_, before):
                    np.testing.assert_array_equal(a, b)
            else:
                assert_same_model(est, ref, 1e-9)


def test_shared_random_state_instance_draws_like_sklearn():
    """A RandomState instance shared by several unshuffled fits: scikit-learn
    draws from it only the initial weights (and the early-stopping split),
    so the second model's weights depend on exactly those draws."""
    X, y = _make_task("multiclass")
    models = []
    for cls in (sk.MLPClassifier, fastbp.MLPClassifier):
        rs = np.random.RandomState(0)
        fits = []
        for _ in range(2):
            est = cls(hidden_layer_sizes=(12,), random_state=rs, shuffle=False,
                      batch_size=X.shape[0], max_iter=3,
                      learning_rate_init=0.01)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(est.fit(X, y))
        models.append(fits)
    (ref1, ref2), (est1, est2) = models
    assert_same_model(est1, ref1)
    assert_same_model(est2, ref2)


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "multioutput"])
@pytest.mark.parametrize("solver_key", ["sgd-nesterov", "adam", "lbfgs"])
def test_same_trajectory_with_threads(solver_key, task):
    """Mini-batches split over two threads (fixed-order reductions) still
    follow scikit-learn to rounding error."""
    X, y = _make_task(task)
    X = np.tile(X, (4, 1))  # enough rows for the batch to be split
    y = np.concatenate([y] * 4)
    params = _params(task, solver_key, "tanh", n_threads=2,
                     hidden_layer_sizes=(64, 32), max_iter=4)
    ref, est = _fit_both(task, params, X, y)
    assert_same_model(est, ref, 1e-9)
