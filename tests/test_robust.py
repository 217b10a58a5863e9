"""Hostile input, divergence, pickling, optimizer state.

Cases that crashed the interpreter before the fix run in a subprocess, so
that a regression fails one test instead of taking pytest down.
"""
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor, Network


def run_isolated(code, timeout=120):
    """Run `code` in a fresh interpreter; (returncode, stdout, stderr).
    It runs in tests/, so `import fastbp` finds the fastbp under test (the
    installed one, or the one on PYTHONPATH), never the source folder."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    return proc.returncode, proc.stdout, proc.stderr


RNG = np.random.RandomState(0)
X = RNG.rand(40, 4)
Y_CLF = np.arange(40) % 3


def _fitted(cls=MLPClassifier, **kw):
    params = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=0, n_threads=1)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**params).fit(X, Y_CLF if cls is MLPClassifier else X[:, 0])


# -- malformed and complex sparse X --------------------------------------------
# Each builds a matrix scipy accepts without a check and later corrupts
# memory with (sum_duplicates, tocsr, astype).
MALFORMED = {
    "decreasing indptr": "sp.csr_matrix((np.ones(4), np.arange(4), "
                         "np.array([0, 3, 1, 4])), shape=(3, 4))",
    "unsorted, decreasing indptr": "sp.csr_matrix((np.ones(4), np.array([3, 1, 2, 0]), "
                                   "np.array([0, 3, 1, 4])), shape=(3, 4))",
    # scipy checks these two at construction, not after a change
    "indptr past the data": "poke(sp.csr_matrix(np.eye(3, 4)), 'indptr', -1, 9)",
    "column index out of range": "sp.csr_matrix((np.ones(3), np.array([0, 7, 1]), "
                                 "np.array([0, 1, 2, 3])), shape=(3, 4))",
    "csc decreasing indptr": "sp.csc_matrix((np.ones(4), np.arange(3).tolist() + [0], "
                             "np.array([0, 3, 1, 4, 4])), shape=(3, 4))",
    "coo row out of range": "poke(sp.coo_matrix(np.eye(3, 4)), 'row', 1, 5)",
}
CALLS = {
    "Network.forward": "Network((4, 3, 2), random_state=0).forward(X)",
    "Network.loss_gradient": "Network((4, 3, 2), random_state=0).loss_gradient("
                             "X, np.zeros((3, 2)))",
    "fit": "MLPClassifier(max_iter=2).fit(X, [0, 1, 0])",
    "partial_fit": "MLPClassifier().partial_fit(X, [0, 1, 0], classes=[0, 1])",
    "predict_proba": "clf.predict_proba(X)",
    "predict": "reg.predict(X)",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_sparse_input_is_a_value_error_not_a_crash(case):
    """Every entry point, in one subprocess per matrix (an abort kills it)."""
    calls = "".join(f"""
        try:
            X = {MALFORMED[case]}
            {call}
            print("no error:", {name!r})
        except ValueError as exc:
            assert "malformed" in str(exc), exc
            assert (clf.coefs_[0] == before).all()
            print("OK", {name!r}, exc)
        """ for name, call in CALLS.items())
    code = f"""
        import warnings
        import numpy as np, scipy.sparse as sp
        from fastbp import MLPClassifier, MLPRegressor, Network
        warnings.simplefilter("ignore")
        def poke(X, attr, i, value):
            getattr(X, attr)[i] = value
            return X
        rng = np.random.RandomState(0)
        clf = MLPClassifier(max_iter=2).fit(rng.rand(6, 4), [0, 1] * 3)
        reg = MLPRegressor(max_iter=2).fit(rng.rand(6, 4), rng.rand(6))
        before = clf.coefs_[0].copy()
        {textwrap.indent(textwrap.dedent(calls), " " * 8).strip()}
    """
    rc, out, err = run_isolated(code)
    assert rc == 0 and out.count("OK") == len(CALLS), (rc, out, err[-2000:])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("method", ["fit", "predict", "forward"])
def test_complex_sparse_input_is_refused_like_dense(fmt, method):
    Xc = sp.random(10, 4, density=0.5, format=fmt, random_state=0) * (1 + 1j)
    with pytest.raises(ValueError, match="[Cc]omplex"):
        if method == "fit":
            MLPClassifier(max_iter=2).fit(Xc, np.arange(10) % 2)
        elif method == "predict":
            _fitted().predict(Xc)
        else:
            Network((4, 2), random_state=0).forward(Xc)


def test_valid_sparse_with_duplicates_and_unsorted_indices_still_works():
    # entries stored twice mean their sum, as in scipy
    Xs = sp.csr_matrix((np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 0, 2, 1]),
                        np.array([0, 3, 4, 4])), shape=(3, 4))
    net = Network((4, 2), loss="squared_error", random_state=0)
    np.testing.assert_allclose(net.forward(Xs), net.forward(Xs.toarray()))


# -- pickling never touches the live estimator ---------------------------------
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_pickling_leaves_the_estimator_untouched(cls):
    est = _fitted(cls)
    net = est.network_
    before = dict(est.__dict__)
    state = est.__getstate__()
    assert state is not est.__dict__ and "_net" not in state
    pickle.dumps(est)
    assert est.__dict__ == before and est.__dict__["_net"] is net
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.predict(X), est.predict(X))


def test_pickling_while_another_thread_trains():
    est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=1, warm_start=True,
                        random_state=0, n_threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y_CLF)
    errors, stop = [], threading.Event()

    def train():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                while not stop.is_set():
                    est.partial_fit(X, Y_CLF)
        except Exception as exc:  # pragma: no cover - the bug
            errors.append(exc)

    t = threading.Thread(target=train)
    t.start()
    try:
        for _ in range(300):
            pickle.loads(pickle.dumps(est))
    finally:
        stop.set()
        t.join()
    assert not errors, errors


# -- optimizer state after weights set by hand ---------------------------------
@pytest.mark.parametrize("how", ["partial_fit", "warm fit"])
def test_training_on_from_hand_set_weights(how):
    """scikit-learn's test_fit sets the weights and fitted attributes by
    hand, then trains on: the optimizer is created when missing."""
    src = _fitted()
    est = MLPClassifier(solver="sgd", hidden_layer_sizes=(7,), max_iter=1,
                        warm_start=True, random_state=0, n_threads=1)
    for name in ("coefs_", "intercepts_", "n_outputs_", "n_layers_",
                 "out_activation_", "n_features_in_", "classes_",
                 "_label_binarizer"):
        setattr(est, name, getattr(src, name))
    est.coefs_ = [c.copy() for c in est.coefs_]
    est.intercepts_ = [b.copy() for b in est.intercepts_]
    est.n_iter_, est.t_, est.loss_curve_ = 0, 0, []
    est.best_loss_, est._no_improvement_count = np.inf, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if how == "partial_fit":
            est.partial_fit(X, Y_CLF, classes=[0, 1, 2])
        else:
            est.fit(X, Y_CLF)
    assert est._optimizer.t > 0
    assert not np.array_equal(est.coefs_[0], src.coefs_[0])


# -- epsilon below the smallest normal number ------------------------------------
@pytest.mark.parametrize("solver", ["adam", "adamw", "rmsprop"])
def test_subnormal_epsilon_in_float32_is_named(solver):
    est = MLPClassifier(solver=solver, epsilon=1e-40, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="epsilon=1e-40 is below the smallest "
                       "normal float32"):
        est.fit(X.astype(np.float32), Y_CLF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y_CLF)  # float64: 1e-40 is a normal number there


# -- NaN is never turned into a plausible number ------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "softplus",
                                        "tanh", "logistic", "gelu", "identity"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [3, 300])  # the small-rows path and the full pass
def test_nan_weight_gives_nan_output(activation, dtype, n_rows):
    net = Network((4, 6, 3), activation=activation, loss="log_loss", dtype=dtype,
                  random_state=0)
    net.coefs[0][:, 2] = np.nan  # one hidden unit
    out = net.forward(np.random.RandomState(0).rand(n_rows, 4).astype(dtype))
    assert np.isnan(out).all()


def test_relu_kernel_keeps_nan_and_zeroes_negatives():
    from fastbp._core import _kernels

    for dtype in (np.float32, np.float64):
        x = np.array([np.nan, -1.0, -0.0, 0.0, 2.5], dtype=dtype)
        _kernels.activation(_kernels.ACTIVATIONS["relu"], x)
        np.testing.assert_array_equal(x, [np.nan, 0, 0, 0, 2.5])
        assert not np.signbit(x[2])


def test_classifier_with_nan_weight_gives_nan_probabilities():
    est = _fitted()
    est.coefs_[0][0, 0] = np.nan
    assert np.isnan(est.predict_proba(X)).all()


# -- divergence is never silent --------------------------------------------------
def _digits():
    from sklearn.datasets import load_digits

    Xd, yd = load_digits(return_X_y=True)
    return Xd / 16, yd


@pytest.mark.parametrize("case", ["adam lr=10", "sgd lr=10", "sgd lr=1e3",
                                  "sgd unscaled"])
def test_exploded_fit_predicting_one_class_warns(case):
    """These fits end on a network that predicts one class for every input
    (every hidden unit dead), with finite weights: they used to be silent."""
    Xd, yd = _digits()
    solver, what = case.split()
    kw = {"lr=10": dict(learning_rate_init=10), "lr=1e3": dict(learning_rate_init=1e3),
          "unscaled": {}}[what]
    if what == "unscaled":
        Xd = Xd * 1e6
    est = MLPClassifier(solver=solver, max_iter=30, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(RuntimeWarning, match="The fitted network gives the "
                          "same output for every sample") as caught:
            est.fit(Xd, yd)
    message = next(str(w.message) for w in caught
                   if "same output" in str(w.message))
    if what == "unscaled":
        assert "features are not scaled" in message and "StandardScaler" in message
    else:
        assert f"learning_rate_init={kw['learning_rate_init']!r}" in message
    assert len(np.unique(est.predict(Xd))) == 1


def test_healthy_fits_do_not_warn_of_divergence():
    Xd, yd = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("error", message="Training diverged")
        warnings.filterwarnings("error", message="The fitted network gives")
        MLPClassifier(max_iter=20, random_state=0).fit(Xd, yd)
        MLPClassifier(max_iter=1, random_state=0, solver="sgd").fit(Xd, yd)
        # undertrained, several times worse than all-zero outputs: still fine
        MLPRegressor(max_iter=3, random_state=0, solver="sgd").fit(X, X[:, 0])
        MLPRegressor(max_iter=50, random_state=0).fit(Xd, yd * 1e3)


@pytest.mark.parametrize("scale, lr, cause", [(1, 10, "learning_rate_init=10"),
                                              (1e6, 1e-3, "features are not scaled")])
def test_non_finite_loss_stops_at_once_and_keeps_the_model(scale, lr, cause):
    from sklearn.datasets import make_regression

    Xr, yr = make_regression(200, 10, random_state=0)
    reg = MLPRegressor(solver="sgd", max_iter=2, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(Xr, yr)
    before = [c.copy() for c in reg.coefs_]
    curve = list(reg.loss_curve_)
    reg.set_params(learning_rate_init=lr, max_iter=30)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="non-finite parameter weights.*"
                           f"Training diverged: the loss became .* at epoch .*{cause}"):
            reg.fit(Xr * scale, yr)
    # the last finite model: the one before the call
    for a, b in zip(reg.coefs_, before):
        np.testing.assert_array_equal(a, b)
    assert reg.loss_curve_ == curve


def test_divergence_with_early_stopping_keeps_the_best_model():
    # scikit-learn's test_mlp_diverging_loss: it trains on to max_iter
    from sklearn.datasets import load_iris

    Xi, yi = load_iris(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                       learning_rate_init=1, max_iter=20, early_stopping=True,
                       n_iter_no_change=10, random_state=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(RuntimeWarning, match="Training diverged: the loss "
                          "became .*learning_rate_init=1\\).*the model is the best one"):
            reg.fit(Xi, yi)
    assert reg.n_iter_ < 20   # stopped at the first non-finite epoch
    assert np.isnan(reg.validation_scores_[-1])
    assert all(np.isfinite(c).all() for c in reg.coefs_)
    assert np.isfinite(reg.predict(Xi)).all()
