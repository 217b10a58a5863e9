"""The estimators' API: what a script written for scikit-learn's
MLPClassifier / MLPRegressor relies on, and fastbp's additions."""
import copy
import inspect
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.base import clone
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastbp
from fastbp import MLPClassifier, MLPRegressor

STOCHASTIC_SOLVERS = ["sgd", "adam", "rmsprop", "adamw"]
EXTRA_ACTIVATIONS = ["leaky_relu", "elu", "softplus", "gelu"]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


@pytest.fixture(scope="module")
def digits_test():
    X, y = load_digits(return_X_y=True)
    return X[1000:1400] / 16.0, y[1000:1400]


@pytest.fixture(scope="module")
def small():
    """Small multiclass problem for fast fits."""
    X, y = load_digits(return_X_y=True)
    return X[:150] / 16.0, y[:150]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=200, n_features=10, n_targets=1,
                           noise=1.0, random_state=0)
    return X, y / y.std()


def _quiet_fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def _state(est):
    return ([c.copy() for c in est.coefs_], [b.copy() for b in est.intercepts_])


def _assert_same_weights(a, b, exact=True):
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        if exact:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


# -- same parameters, defaults and attributes as scikit-learn -----------------
@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, sk.MLPClassifier),
                                          (MLPRegressor, sk.MLPRegressor)])
def test_same_parameters_and_defaults_as_sklearn(ours, theirs):
    mine = inspect.signature(ours).parameters
    ref = inspect.signature(theirs).parameters
    # every scikit-learn parameter, same default, same kind, same order
    assert [p for p in mine if p in ref] == list(ref)
    for name, p in ref.items():
        assert mine[name].default == p.default, name
        assert mine[name].kind == p.kind, name
    assert ours().get_params().items() >= theirs().get_params().items()


def test_classifier_has_sklearn_attributes(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=5,
                                   random_state=0), X, y)
    ref = _quiet_fit(sk.MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=5,
                                      random_state=0), X, y)
    for name in ["coefs_", "intercepts_", "loss_", "loss_curve_", "best_loss_",
                 "validation_scores_", "best_validation_score_", "n_iter_",
                 "t_", "n_layers_", "n_outputs_", "out_activation_",
                 "classes_", "n_features_in_"]:
        assert hasattr(clf, name), name
        assert hasattr(ref, name), name
        if isinstance(getattr(ref, name), (list, str, np.ndarray)):
            assert type(getattr(clf, name)) is type(getattr(ref, name)), name
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10
    assert clf.out_activation_ == "softmax"
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5
    assert clf.t_ == 5 * X.shape[0]
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert [c.shape for c in clf.coefs_] == [(64, 20), (20, 10), (10, 10)]
    assert [b.shape for b in clf.intercepts_] == [(20,), (10,), (10,)]
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_features_in_ == 64
    assert not hasattr(clf, "feature_names_in_")


def test_feature_names_in_from_dataframe(small):
    pd = pytest.importorskip("pandas")
    X, y = small
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    clf = _quiet_fit(MLPClassifier(max_iter=3, random_state=0), df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        pred = clf.predict(X)
    np.testing.assert_array_equal(pred, clf.predict(df))
    renamed = df.set_axis([f"c{i}" for i in range(X.shape[1])], axis=1)
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(renamed)


def test_regressor_attributes(regression):
    X, y = regression
    reg = _quiet_fit(MLPRegressor(max_iter=5, random_state=0), X, y)
    assert reg.out_activation_ == "identity" and reg.n_outputs_ == 1
    assert reg.predict(X).shape == (X.shape[0],)
    Y = np.c_[y, -y, 2 * y]
    reg = _quiet_fit(MLPRegressor(max_iter=5, random_state=0), X, Y)
    assert reg.n_outputs_ == 3 and reg.predict(X).shape == (X.shape[0], 3)
    pois = _quiet_fit(MLPRegressor(loss="poisson", max_iter=5, random_state=0),
                      X, np.abs(y))
    assert pois.out_activation_ == "exp"
    assert (pois.predict(X) > 0).all()


def test_predict_proba_log_proba_and_score(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(max_iter=50, random_state=0, n_threads=1),
                     X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    np.testing.assert_array_equal(clf.predict(X),
                                  clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) == np.mean(clf.predict(X) == y)


def test_binary_predict_proba_has_two_columns(small):
    X, y = small
    yb = np.where(y % 2, "odd", "even")
    clf = _quiet_fit(MLPClassifier(max_iter=30, random_state=0), X, yb)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X),
                                  clf.classes_[(proba[:, 1] > 0.5).astype(int)])


def test_get_params_set_params_round_trip():
    clf = MLPClassifier(hidden_layer_sizes=(7,), solver="sgd", n_threads=1,
                        class_weight="balanced")
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (7,)
    assert params["class_weight"] == "balanced"
    clf.set_params(alpha=0.5, learning_rate="cosine", keep_optimizer_state=True)
    assert clf.alpha == 0.5 and clf.learning_rate == "cosine"
    assert clf.keep_optimizer_state
    assert MLPClassifier(**clf.get_params()).get_params() == clf.get_params()
    assert "MLPClassifier(" in repr(clf)


# -- labels ----------------------------------------------------------------
def test_multilabel_fit_and_partial_fit():
    X, Y = make_multilabel_classification(n_samples=200, n_features=20,
                                          n_classes=5, random_state=0)
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(30,), max_iter=200,
                                   random_state=0, n_threads=1), X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 5
    pred = clf.predict(X)
    assert pred.shape == Y.shape
    assert set(np.unique(pred)) <= {0, 1}
    assert np.mean(pred == Y) > 0.8  # per-label accuracy
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))

    inc = MLPClassifier(hidden_layer_sizes=(30,), random_state=0)
    for i in range(30):
        inc.partial_fit(X, Y, classes=np.arange(5))
    assert inc.predict(X).shape == Y.shape
    assert inc.loss_curve_[-1] < inc.loss_curve_[0]
    np.testing.assert_array_equal(inc.classes_, np.arange(5))


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"]),
    np.array([-3, 7, 100]),
    np.array([2.0, 5.0, -1.0]),
    np.array(["yes", "no"]),
    np.array([True, False]),
])
def test_any_label_type(small, labels):
    X, y = small
    y_labels = labels[y % len(labels)]
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(30,), max_iter=100,
                                   random_state=0, n_threads=1), X, y_labels)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == y_labels.dtype
    assert set(pred) <= set(labels)
    assert np.mean(pred == y_labels) > 0.7
    ref = _quiet_fit(sk.MLPClassifier(hidden_layer_sizes=(30,), max_iter=20,
                                      random_state=0, shuffle=False,
                                      batch_size=X.shape[0]), X, y_labels)
    ours = _quiet_fit(MLPClassifier(hidden_layer_sizes=(30,), max_iter=20,
                                    random_state=0, shuffle=False,
                                    batch_size=X.shape[0]), X, y_labels)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))


def test_string_labels_partial_fit(small):
    X, y = small
    names = np.array(list("abcdefghij"))
    clf = MLPClassifier(random_state=0)
    clf.partial_fit(X, names[y], classes=names)
    clf.partial_fit(X[:20], names[y[:20]])
    assert set(clf.predict(X)) <= set(names)


def test_partial_fit_requires_classes_on_first_call(small):
    X, y = small
    clf = MLPClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "coefs_")
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)  # not needed afterwards
    assert len(clf.loss_curve_) == 2


def test_partial_fit_classes_covering_unseen_labels(small):
    X, y = small
    classes = np.arange(12)  # 10 and 11 never appear in y
    clf = MLPClassifier(hidden_layer_sizes=(20,), random_state=0,
                        learning_rate_init=0.01)
    clf.partial_fit(X[y < 5], y[y < 5], classes=classes)
    np.testing.assert_array_equal(clf.classes_, classes)
    assert clf.predict_proba(X).shape == (X.shape[0], 12)
    assert clf.n_outputs_ == 12
    clf.partial_fit(X[y >= 5], y[y >= 5])  # labels 5..9 seen only now
    for _ in range(40):
        clf.partial_fit(X, y)
    assert clf.score(X, y) > 0.8
    assert not np.isin(clf.predict(X), [10, 11]).any()


def test_partial_fit_is_one_epoch_and_counts_steps(small):
    X, y = small
    clf = MLPClassifier(random_state=0, batch_size=50)
    clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 1 and clf.t_ == X.shape[0]
    clf.partial_fit(X, y)
    assert clf.t_ == 2 * X.shape[0] and len(clf.loss_curve_) == 2


def test_partial_fit_not_available_for_lbfgs():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPRegressor(solver="lbfgs").partial_fit


def test_regressor_partial_fit(regression):
    X, y = regression
    reg = MLPRegressor(random_state=0, learning_rate_init=0.01)
    for _ in range(30):
        reg.partial_fit(X, y)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    assert reg.score(X, y) > 0.5


# -- warm start and optimizer state ------------------------------------------
def test_warm_start_continues_from_previous_weights(small):
    X, y = small
    kw = dict(hidden_layer_sizes=(20,), max_iter=5, random_state=0,
              shuffle=False, batch_size=X.shape[0], solver="sgd",
              learning_rate_init=0.1, warm_start=True)
    clf = _quiet_fit(MLPClassifier(**kw), X, y)
    first = clf.loss_curve_[-1]
    before = _state(clf)
    _quiet_fit(clf, X, y)
    assert len(clf.loss_curve_) == 10  # the curve goes on
    assert clf.loss_curve_[5] < first  # and starts where it stopped
    assert not np.array_equal(before[0][0], clf.coefs_[0])
    # the same trajectory as scikit-learn's warm start
    ref = sk.MLPClassifier(**kw)
    _quiet_fit(ref, X, y)
    _quiet_fit(ref, X, y)
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-10)
    for a, b in zip(clf.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_without_warm_start_fit_starts_afresh(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(max_iter=3, random_state=0), X, y)
    first = _state(clf)
    _quiet_fit(clf, X, y)
    np.testing.assert_array_equal(first[0][0], clf.coefs_[0])
    assert len(clf.loss_curve_) == 3


def test_warm_start_uses_assigned_weights(small):
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=2, random_state=0,
              shuffle=False, batch_size=X.shape[0], warm_start=True)
    a = _quiet_fit(MLPClassifier(**kw), X, y)
    b = _quiet_fit(MLPClassifier(**dict(kw, random_state=1)), X, y)
    b.coefs_ = [c.copy() for c in a.coefs_]
    b.intercepts_ = [c.copy() for c in a.intercepts_]
    _quiet_fit(a, X, y)
    _quiet_fit(b, X, y)
    _assert_same_weights(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop", "adamw"])
def test_keep_optimizer_state_equals_one_longer_fit(small, solver):
    X, y = small
    kw = dict(hidden_layer_sizes=(20,), random_state=0, shuffle=False,
              batch_size=X.shape[0], solver=solver, n_threads=1,
              learning_rate_init=0.01)
    long = _quiet_fit(MLPClassifier(max_iter=5, **kw), X, y)

    kept = _quiet_fit(MLPClassifier(max_iter=3, warm_start=True,
                                    keep_optimizer_state=True, **kw), X, y)
    kept.set_params(max_iter=2)
    _quiet_fit(kept, X, y)
    np.testing.assert_allclose(kept.loss_curve_, long.loss_curve_, rtol=1e-12)
    _assert_same_weights(kept, long, exact=False)

    fresh = _quiet_fit(MLPClassifier(max_iter=3, warm_start=True, **kw), X, y)
    fresh.set_params(max_iter=2)
    _quiet_fit(fresh, X, y)
    # a fresh optimizer (scikit-learn's behaviour) takes another path
    assert not np.allclose(fresh.coefs_[0], kept.coefs_[0], rtol=1e-8, atol=0)


def test_partial_fit_keeps_adam_state(small):
    X, y = small
    kw = dict(hidden_layer_sizes=(20,), random_state=0, shuffle=False,
              batch_size=X.shape[0], n_threads=1)
    long = _quiet_fit(MLPClassifier(max_iter=3, **kw), X, y)
    inc = MLPClassifier(**kw)
    for _ in range(3):
        inc.partial_fit(X, y, classes=np.unique(y))
    _assert_same_weights(inc, long, exact=False)


# -- coefs_ and intercepts_ are the model -------------------------------------
def test_assigning_coefs_changes_predictions(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=30,
                                   random_state=0), X, y)
    proba = clf.predict_proba(X)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    # all weights zero: the output is softmax(last intercept) for every row
    expected = np.exp(clf.intercepts_[-1]) / np.exp(clf.intercepts_[-1]).sum()
    np.testing.assert_allclose(clf.predict_proba(X),
                               np.tile(expected, (X.shape[0], 1)), rtol=1e-12)
    assert not np.allclose(clf.predict_proba(X), proba)
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(X), 0.1)


def test_in_place_writes_to_coefs_change_predictions(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=30,
                                   random_state=0), X, y)
    before = clf.predict_proba(X)
    clf.coefs_[0][:] = 0
    after = clf.predict_proba(X)
    assert not np.allclose(before, after)
    # the hidden layer now only sees its bias: every row is the same
    np.testing.assert_allclose(after, np.tile(after[0], (X.shape[0], 1)),
                               rtol=1e-12)
    clf.intercepts_[-1][:] += 100.0 * (np.arange(10) == 3)
    assert (clf.predict(X) == 3).all()


def test_assigned_coefs_match_sklearn_forward(small):
    X, y = small
    ref = _quiet_fit(sk.MLPClassifier(hidden_layer_sizes=(10, 5),
                                      activation="tanh", max_iter=5,
                                      random_state=3), X, y)
    ours = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10, 5),
                                    activation="tanh", max_iter=1,
                                    random_state=0), X, y)
    ours.coefs_ = [c.copy() for c in ref.coefs_]
    ours.intercepts_ = [b.copy() for b in ref.intercepts_]
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X),
                               rtol=1e-12, atol=1e-15)


def test_assigned_coefs_are_used_by_warm_fit(regression):
    X, y = regression
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
              shuffle=False, batch_size=X.shape[0], solver="sgd",
              learning_rate_init=0.01, warm_start=True)
    ref = _quiet_fit(sk.MLPRegressor(**kw), X, y)
    ours = _quiet_fit(MLPRegressor(**dict(kw, random_state=5)), X, y)
    ref.coefs_ = [c * 0.5 for c in ref.coefs_]
    ours.coefs_ = [c.copy() for c in ref.coefs_]
    ours.intercepts_ = [b.copy() for b in ref.intercepts_]
    _quiet_fit(ref, X, y)
    _quiet_fit(ours, X, y)
    _assert_same_weights(ours, ref, exact=False)


# -- copies ---------------------------------------------------------------
@pytest.mark.parametrize("how", ["pickle", "deepcopy", "joblib"])
def test_copies_predict_identically(small, tmp_path, how):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(15,), max_iter=20,
                                   random_state=0), X, y)
    if how == "pickle":
        other = pickle.loads(pickle.dumps(clf))
    elif how == "deepcopy":
        other = copy.deepcopy(clf)
    else:
        path = tmp_path / "model.joblib"
        joblib.dump(clf, path)
        other = joblib.load(path)
    np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(other.predict(X), clf.predict(X))
    assert other.loss_curve_ == clf.loss_curve_
    # independent: training the copy leaves the original alone
    proba = clf.predict_proba(X)
    other.partial_fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    # and the copy's coefs_ are still its model
    other.coefs_[0][:] = 0
    assert not np.allclose(other.predict_proba(X), proba)


def test_pickled_warm_start_continues_like_original(small):
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=3, random_state=0,
              shuffle=False, batch_size=X.shape[0], warm_start=True)
    clf = _quiet_fit(MLPClassifier(**kw), X, y)
    other = pickle.loads(pickle.dumps(clf))
    _quiet_fit(clf, X, y)
    _quiet_fit(other, X, y)
    _assert_same_weights(clf, other)


def test_clone_gives_same_unfitted_model(small):
    X, y = small
    clf = MLPClassifier(hidden_layer_sizes=(15,), max_iter=10, random_state=0,
                        n_threads=1)
    a = _quiet_fit(clone(clf), X, y)
    fitted = _quiet_fit(clf, X, y)
    b = clone(fitted)
    with pytest.raises(NotFittedError):
        b.predict(X)
    _quiet_fit(b, X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


# -- dtypes, threads, sparse ---------------------------------------------------
def test_float32_trains_in_float32(digits, digits_test):
    X, y = digits
    Xt, yt = digits_test
    kw = dict(hidden_layer_sizes=(50,), max_iter=40, random_state=0,
              learning_rate_init=0.005, n_threads=1)
    c32 = _quiet_fit(MLPClassifier(**kw), X.astype(np.float32), y)
    c64 = _quiet_fit(MLPClassifier(**kw), X, y)
    assert all(c.dtype == np.float32 for c in c32.coefs_ + c32.intercepts_)
    assert all(c.dtype == np.float64 for c in c64.coefs_ + c64.intercepts_)
    assert c32.predict_proba(Xt.astype(np.float32)).dtype == np.float32
    assert c64.predict_proba(Xt).dtype == np.float64
    acc32 = c32.score(Xt.astype(np.float32), yt)
    acc64 = c64.score(Xt, yt)
    assert acc64 > 0.85
    assert abs(acc32 - acc64) < 0.02
    # float64 input to a float32 model still predicts
    assert c32.score(Xt, yt) == pytest.approx(acc32, abs=0.01)


def test_float32_regressor(regression):
    X, y = regression
    reg = _quiet_fit(MLPRegressor(max_iter=50, random_state=0, n_threads=1),
                     X.astype(np.float32), y)
    assert reg.coefs_[0].dtype == np.float32
    assert reg.predict(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("n_threads", [1, 2])
def test_bitwise_reproducible_for_fixed_threads(digits, n_threads):
    X, y = digits
    kw = dict(hidden_layer_sizes=(64,), max_iter=5, random_state=0,
              batch_size=300, n_threads=n_threads, learning_rate_init=0.01)
    a = _quiet_fit(MLPClassifier(**kw), X, y)
    b = _quiet_fit(MLPClassifier(**kw), X, y)
    _assert_same_weights(a, b)
    assert a.loss_curve_ == b.loss_curve_
    assert a.score(X, y) > 0.8


def test_one_and_two_threads_agree_closely(digits):
    X, y = digits
    kw = dict(hidden_layer_sizes=(64,), max_iter=5, random_state=0,
              batch_size=300)
    a = _quiet_fit(MLPClassifier(n_threads=1, **kw), X, y)
    b = _quiet_fit(MLPClassifier(n_threads=2, **kw), X, y)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-8)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_layer_split_rule_follows_weights_against_activations():
    from fastbp._solver import split_layers as _split_layers
    # the benchmark shapes: wide layers split by layer, digits by rows
    assert _split_layers((784, 256, 128, 10), 32, 2)
    assert _split_layers((784, 1024, 1024, 10), 256, 16)
    assert not _split_layers((64, 100, 10), 200, 2)
    assert not _split_layers((64, 512, 10), 200, 16)
    assert not _split_layers((784, 1024, 1024, 10), 256, 1)


def test_layer_split_fit_agrees_with_one_thread_and_repeats():
    from fastbp._solver import split_layers as _split_layers
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 300))
    y = rng.randint(0, 3, size=120)
    kw = dict(hidden_layer_sizes=(200, 150), max_iter=3, random_state=0,
              batch_size=16)
    assert _split_layers((300, 200, 150, 3), 16, 2)
    a = _quiet_fit(MLPClassifier(n_threads=1, **kw), X, y)
    b = _quiet_fit(MLPClassifier(n_threads=2, **kw), X, y)
    c = _quiet_fit(MLPClassifier(n_threads=2, **kw), X, y)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    for p, q in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_):
        np.testing.assert_allclose(p, q, rtol=1e-8, atol=1e-11)
    _assert_same_weights(b, c)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sparse_gives_same_model_as_dense(small, fmt, solver):
    X, y = small
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    kw = dict(hidden_layer_sizes=(20,), max_iter=10, random_state=0,
              solver=solver, n_threads=1)
    dense = _quiet_fit(MLPClassifier(**kw), X, y)
    sparse = _quiet_fit(MLPClassifier(**kw), Xs, y)
    _assert_same_weights(sparse, dense, exact=False)
    np.testing.assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X),
                               rtol=1e-10, atol=1e-14)


def test_sparse_regressor_and_partial_fit(regression):
    X, y = regression
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0))
    reg = MLPRegressor(random_state=0, n_threads=1)
    reg.partial_fit(Xs, y)
    dense = MLPRegressor(random_state=0, n_threads=1)
    dense.partial_fit(Xs.toarray(), y)
    _assert_same_weights(reg, dense, exact=False)


# -- solvers, activations, schedules ----------------------------------------
@pytest.mark.parametrize("solver", ["rmsprop", "adamw"])
def test_extra_solvers_learn_digits(digits, digits_test, solver):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(50,), solver=solver,
                                   max_iter=60, random_state=0, n_threads=1),
                     X, y)
    assert clf.score(*digits_test) > 0.85
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 3


@pytest.mark.parametrize("activation", EXTRA_ACTIVATIONS)
def test_extra_activations_learn_digits(digits, digits_test, activation):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(50,),
                                   activation=activation, max_iter=60,
                                   random_state=0, n_threads=1), X, y)
    assert clf.score(*digits_test) > 0.85


def test_adamw_differs_from_adam_with_decay(small):
    X, y = small
    kw = dict(hidden_layer_sizes=(20,), max_iter=10, random_state=0,
              alpha=0.1, n_threads=1)
    adam = _quiet_fit(MLPClassifier(solver="adam", **kw), X, y)
    adamw = _quiet_fit(MLPClassifier(solver="adamw", **kw), X, y)
    assert not np.allclose(adam.coefs_[0], adamw.coefs_[0])


@pytest.mark.parametrize("solver", STOCHASTIC_SOLVERS)
def test_cosine_schedule_works_for_every_stochastic_solver(small, solver):
    X, y = small
    kw = dict(hidden_layer_sizes=(20,), max_iter=30, random_state=0,
              solver=solver, n_threads=1, tol=0,
              learning_rate_init={"sgd": 0.1, "rmsprop": 0.002}.get(solver, 0.01))
    cos = _quiet_fit(MLPClassifier(learning_rate="cosine", **kw), X, y)
    const = _quiet_fit(MLPClassifier(learning_rate="constant", **kw), X, y)
    assert cos.n_iter_ == 30
    assert np.isfinite(cos.loss_curve_).all()
    assert cos.loss_curve_[-1] < cos.loss_curve_[0]
    assert not np.allclose(cos.coefs_[0], const.coefs_[0])
    assert cos.score(X, y) > 0.7


def test_cosine_schedule_decays_between_epochs(small):
    """Cosine starts at learning_rate_init and decays between epochs: the
    first update is the constant schedule's, the second already differs."""
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), random_state=0, shuffle=False,
              batch_size=X.shape[0], solver="sgd", momentum=0.0, n_threads=1,
              learning_rate="cosine", learning_rate_init=0.1)
    a = _quiet_fit(MLPClassifier(max_iter=4, **kw), X, y)
    b = _quiet_fit(MLPClassifier(max_iter=4, **dict(kw,
                                                    learning_rate="constant")),
                   X, y)
    # the first epoch runs at the full rate: same first loss
    assert a.loss_curve_[:2] == pytest.approx(b.loss_curve_[:2], rel=1e-12)
    assert a.loss_curve_[2] != pytest.approx(b.loss_curve_[2], rel=1e-12)


@pytest.mark.parametrize("solver", ["rmsprop", "adamw", "adam", "sgd"])
def test_extra_solvers_partial_fit_and_regression(regression, solver):
    X, y = regression
    reg = MLPRegressor(solver=solver, random_state=0,
                       learning_rate_init=0.01 if solver != "sgd" else 0.001)
    for _ in range(20):
        reg.partial_fit(X, y)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


# -- class weights --------------------------------------------------------------
def test_class_weight_changes_the_fit(small):
    X, y = small
    yb = (y == 0).astype(int)  # imbalanced: about 10% positives
    kw = dict(hidden_layer_sizes=(10,), max_iter=20, random_state=0,
              n_threads=1)
    plain = _quiet_fit(MLPClassifier(**kw), X, yb)
    balanced = _quiet_fit(MLPClassifier(class_weight="balanced", **kw), X, yb)
    heavy = _quiet_fit(MLPClassifier(class_weight={0: 1.0, 1: 20.0}, **kw),
                       X, yb)
    assert not np.allclose(plain.coefs_[0], balanced.coefs_[0])
    assert not np.allclose(plain.coefs_[0], heavy.coefs_[0])
    # up-weighting the rare class raises its predicted probability
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()
    # a dict of ones is no class weight at all
    ones = _quiet_fit(MLPClassifier(class_weight={0: 1.0, 1: 1.0}, **kw), X, yb)
    _assert_same_weights(ones, plain, exact=False)


def test_class_weight_equals_sample_weight(small):
    X, y = small
    yb = (y == 0).astype(int)
    kw = dict(hidden_layer_sizes=(10,), max_iter=10, random_state=0,
              n_threads=1)
    cw = _quiet_fit(MLPClassifier(class_weight={0: 1.0, 1: 5.0}, **kw), X, yb)
    sw = _quiet_fit(MLPClassifier(**kw), X, yb,
                    sample_weight=np.where(yb == 1, 5.0, 1.0))
    _assert_same_weights(cw, sw, exact=False)
    # and they multiply
    both = _quiet_fit(MLPClassifier(class_weight={0: 1.0, 1: 5.0}, **kw), X, yb,
                      sample_weight=np.full(len(yb), 2.0))
    sw2 = _quiet_fit(MLPClassifier(**kw), X, yb,
                     sample_weight=np.where(yb == 1, 10.0, 2.0))
    _assert_same_weights(both, sw2, exact=False)


def test_multilabel_class_weight_list_equals_the_product_of_weights(small):
    X, y = small
    Y = np.column_stack([y == 0, y == 1, y == 2]).astype(int)
    Y[::4, 1] = 1   # overlapping labels: multilabel, not one-hot
    kw = dict(hidden_layer_sizes=(10,), max_iter=10, random_state=0, n_threads=1)
    cws = [{0: 1.0, 1: 4.0}, {0: 2.0, 1: 1.0}, {0: 1.0, 1: 0.5}]
    cw = _quiet_fit(MLPClassifier(class_weight=cws, **kw), X, Y)
    w = np.ones(len(Y))
    for j, d in enumerate(cws):
        w *= np.where(Y[:, j] == 1, d[1], d[0])
    sw = _quiet_fit(MLPClassifier(**kw), X, Y, sample_weight=w)
    _assert_same_weights(cw, sw, exact=False)


@pytest.mark.parametrize("class_weight, y_kind, match", [
    ({0: 1.0, 1: 2.0}, "multilabel", "list of one dict"),
    ([{0: 1.0, 1: 2.0}], "multilabel", "list of 3 dicts"),
    ([{0: 1.0, 2: 2.0}] * 3, "multilabel", "labels 0 and 1"),
    ([{0: 1.0, 1: 2.0}], "multiclass", "for multilabel y"),
])
def test_class_weight_shape_mismatch_is_named_and_keeps_the_model(
        small, class_weight, y_kind, match):
    X, y = small
    Y = np.column_stack([y == 0, y == 1, y == 2]).astype(int) if y_kind == "multilabel" else y
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=3,
                                   random_state=0), X, Y)
    before = _state(clf)
    clf.set_params(class_weight=class_weight, warm_start=True)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, Y)
    for a, b in zip(before[0] + before[1], clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_class_weight_dict_in_partial_fit_and_balanced_raises(small):
    X, y = small
    clf = MLPClassifier(class_weight={0: 3.0}, random_state=0)
    clf.partial_fit(X, y, classes=np.unique(y))
    assert len(clf.loss_curve_) == 1
    bal = MLPClassifier(class_weight="balanced", random_state=0)
    with pytest.raises(ValueError, match="balanced"):
        bal.partial_fit(X, y, classes=np.unique(y))


# -- early stopping ---------------------------------------------------------
def test_validation_loss_curve_recorded_each_epoch(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=15,
                                   early_stopping=True, random_state=0,
                                   n_iter_no_change=100), X, y)
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == 15
    assert len(clf.validation_scores_) == 15
    assert all(np.isfinite(clf.validation_loss_curve_))
    assert clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None
    no_es = _quiet_fit(MLPClassifier(max_iter=2, random_state=0), X, y)
    assert no_es.validation_loss_curve_ is None


def test_validation_loss_curve_is_the_validation_log_loss(digits):
    """Best weights restored at the end, so the reported validation loss of
    the best epoch equals the log loss of the final model on the split."""
    from sklearn.model_selection import train_test_split
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=12,
                                   early_stopping=True, random_state=0,
                                   n_iter_no_change=100, validation_fraction=0.2,
                                   shuffle=False), X, y)
    # the split scikit-learn's and fastbp's fit make: init draws come first
    rng = np.random.RandomState(0)
    for fan_in, fan_out in [(64, 20), (20, 10)]:
        rng.uniform(size=(fan_in, fan_out))
        rng.uniform(size=fan_out)
    # (scikit-learn stratifies only where n_outputs_ == 1, i.e. binary)
    _, X_val, _, y_val = train_test_split(X, y, random_state=rng,
                                          test_size=0.2)
    best = int(np.argmax(clf.validation_scores_))
    np.testing.assert_allclose(clf.score(X_val, y_val),
                               clf.validation_scores_[best])
    np.testing.assert_allclose(log_loss(y_val, clf.predict_proba(X_val)),
                               clf.validation_loss_curve_[best], rtol=1e-8)


def test_early_stopping_with_neg_log_loss_scoring(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=15,
                                   early_stopping=True, random_state=0,
                                   scoring="neg_log_loss",
                                   n_iter_no_change=100), X, y)
    scores = np.asarray(clf.validation_scores_)
    assert (scores < 0).all()  # negative log losses, not accuracies
    np.testing.assert_allclose(-scores, clf.validation_loss_curve_, rtol=1e-8)
    assert clf.best_validation_score_ == scores.max()


def test_early_stopping_with_callable_scoring(digits):
    X, y = digits
    calls = []

    def scorer(est, X_val, y_val):
        calls.append(len(y_val))
        return -float(np.mean(est.predict(X_val) != y_val)) - 10.0

    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=8,
                                   early_stopping=True, random_state=0,
                                   scoring=scorer, n_iter_no_change=100),
                     X, y)
    assert len(calls) == 8 == len(clf.validation_scores_)
    assert all(-11.0 <= s <= -10.0 for s in clf.validation_scores_)
    assert calls[0] == int(np.ceil(0.1 * X.shape[0]))


def test_early_stopping_regressor_scoring(regression):
    X, y = regression
    reg = _quiet_fit(MLPRegressor(max_iter=10, early_stopping=True,
                                  random_state=0,
                                  scoring="neg_mean_squared_error",
                                  n_iter_no_change=100), X, y)
    assert all(s <= 0 for s in reg.validation_scores_)
    # validation_loss_curve_ is half the MSE (scikit-learn's squared loss)
    np.testing.assert_allclose(-np.asarray(reg.validation_scores_) / 2,
                               reg.validation_loss_curve_, rtol=1e-8)


def test_early_stopping_stops_and_restores_best(digits):
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=500,
                                   early_stopping=True, random_state=0,
                                   n_iter_no_change=3, tol=1e-3), X, y)
    assert clf.n_iter_ < 500
    assert len(clf.validation_scores_) == clf.n_iter_


# -- the low-level network ----------------------------------------------------
def test_network_attribute_forward_equals_predict_proba(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(15, 7), max_iter=10,
                                   random_state=0), X, y)
    net = clf.network_
    assert isinstance(net, fastbp.Network)
    assert net.layer_sizes == (64, 15, 7, 10)
    np.testing.assert_allclose(net.forward(X), clf.predict_proba(X),
                               rtol=1e-12, atol=1e-15)
    acts = net.forward(X, return_activations=True)
    assert [a.shape[1] for a in acts] == [64, 15, 7, 10]
    Y = np.eye(10)[y]
    loss, cg, ig = net.loss_gradient(X, Y, alpha=clf.alpha)
    assert np.isfinite(loss) and loss > 0
    assert [g.shape for g in cg] == [c.shape for c in clf.coefs_]
    assert [g.shape for g in ig] == [b.shape for b in clf.intercepts_]
    # the gradient matches scikit-learn's backprop on the same weights
    ref = sk.MLPClassifier(hidden_layer_sizes=(15, 7), max_iter=1,
                           random_state=0)
    _quiet_fit(ref, X, y)
    ref.coefs_ = [c.copy() for c in clf.coefs_]
    ref.intercepts_ = [b.copy() for b in clf.intercepts_]
    units = [64, 15, 7, 10]
    r_loss, r_cg, r_ig = ref._backprop(
        X, Y, None, [X] + [None] * 3, [None] * 3,
        [np.empty((a, b)) for a, b in zip(units[:-1], units[1:])],
        [np.empty(b) for b in units[1:]])
    np.testing.assert_allclose(loss, r_loss, rtol=1e-10)
    for a, b in zip(cg + ig, r_cg + r_ig):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-14)


def test_network_is_the_model(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(15,), max_iter=10,
                                   random_state=0), X, y)
    clf.network_.coefs[0][:] = 0  # views: writes reach the estimator
    np.testing.assert_array_equal(clf.coefs_[0], 0)
    # and assigned arrays reach the network
    clf.coefs_ = [np.ones_like(c) for c in clf.coefs_]
    np.testing.assert_array_equal(clf.network_.coefs[1], 1)
    np.testing.assert_allclose(clf.network_.forward(X), clf.predict_proba(X))


def test_network_requires_fit():
    with pytest.raises(NotFittedError):
        MLPClassifier().network_


# -- messages and warnings ----------------------------------------------------
def test_verbose_prints_like_sklearn(small, capsys):
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=3, random_state=0,
              shuffle=False, batch_size=X.shape[0], verbose=True)
    _quiet_fit(MLPClassifier(**kw), X, y)
    ours = capsys.readouterr().out
    _quiet_fit(sk.MLPClassifier(**kw), X, y)
    theirs = capsys.readouterr().out
    lines = ours.strip().splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert [l.split(" = ")[0] for l in lines] == [
        "Iteration 1, loss", "Iteration 2, loss", "Iteration 3, loss"]
    assert ours == theirs


def test_verbose_early_stopping_prints_validation_scores(small, capsys):
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=30, random_state=0,
              shuffle=False, batch_size=120, verbose=True, early_stopping=True,
              validation_fraction=0.2, n_iter_no_change=2, tol=0.1,
              solver="sgd")
    _quiet_fit(MLPClassifier(**kw), X, y)
    ours = capsys.readouterr().out
    _quiet_fit(sk.MLPClassifier(**kw), X, y)
    theirs = capsys.readouterr().out
    assert "Validation score: " in ours
    assert "Validation score did not improve" in ours
    assert ours == theirs


def test_verbose_adaptive_learning_rate_messages(small, capsys):
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=20, random_state=0,
              shuffle=False, batch_size=X.shape[0], verbose=True, tol=1e3,
              n_iter_no_change=1, solver="sgd", learning_rate="adaptive")
    _quiet_fit(MLPClassifier(**kw), X, y)
    ours = capsys.readouterr().out
    _quiet_fit(sk.MLPClassifier(**kw), X, y)
    assert "Setting learning rate to" in ours
    assert "Learning rate too small. Stopping." in ours
    assert ours == capsys.readouterr().out


def test_convergence_warning_at_max_iter(small):
    X, y = small
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\)"):
        MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        MLPRegressor(max_iter=3, random_state=0).fit(X, y.astype(float))
    with pytest.warns(ConvergenceWarning, match="lbfgs"):
        MLPClassifier(solver="lbfgs", max_iter=3, random_state=0).fit(X, y)


def test_no_convergence_warning_when_converged(small):
    X, y = small
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(max_iter=500, random_state=0, tol=0.5,
                            n_iter_no_change=2).fit(X, y)
    assert clf.n_iter_ < 500


def test_no_progress_bar_output_when_not_a_terminal(small, capsys):
    X, y = small
    _quiet_fit(MLPClassifier(max_iter=3, random_state=0), X, y)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# -- composition --------------------------------------------------------------
def test_pipeline(digits, digits_test):
    X, y = digits
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(hidden_layer_sizes=(30,), max_iter=50,
                                       random_state=0, n_threads=1))
    _quiet_fit(pipe, X, y)
    assert pipe.score(*digits_test) > 0.85
    assert pipe.predict_proba(digits_test[0]).shape == (len(digits_test[1]), 10)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(small, n_jobs):
    X, y = small
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(max_iter=20, random_state=0, n_threads=1,
                                       learning_rate_init=0.01))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(5,), (20,)],
                               "mlpclassifier__alpha": [1e-4, 1e-1]},
                        cv=3, n_jobs=n_jobs, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_score_ > 0.5
    assert grid.predict(X).shape == y.shape


def test_grid_search_regressor_parallel_matches_serial(regression):
    X, y = regression
    results = []
    for n_jobs in (1, 2):
        grid = GridSearchCV(MLPRegressor(max_iter=15, random_state=0,
                                         n_threads=1),
                            {"alpha": [1e-4, 1.0]}, cv=2, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            grid.fit(X, y)
        results.append(grid.cv_results_["mean_test_score"])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_sample_weight_zero_equals_dropping_samples(small):
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=5, random_state=0,
              shuffle=False, batch_size=10_000, solver="lbfgs")
    sw = np.ones(len(y))
    sw[::3] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = MLPClassifier(**kw).fit(X, y, sample_weight=sw)
        b = MLPClassifier(**kw).fit(X[sw > 0], y[sw > 0])
    _assert_same_weights(a, b, exact=False)


def test_replacing_one_array_in_coefs_list_changes_predictions(small):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=30,
                                   random_state=0), X, y)
    proba = clf.predict_proba(X)
    clf.coefs_[1] = np.zeros_like(clf.coefs_[1])
    clf.intercepts_[1] = np.zeros_like(clf.intercepts_[1])
    np.testing.assert_allclose(clf.predict_proba(X), 0.1)
    assert not np.allclose(proba, 0.1)


def test_keyboard_interrupt_keeps_the_model_so_far(small):
    """As in scikit-learn: an interrupt during training ends it with a
    warning and keeps what was learned."""
    X, y = small
    calls = []

    def scorer(est, X_val, y_val):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return float(len(calls))

    clf = MLPClassifier(hidden_layer_sizes=(10,), max_iter=20,
                        early_stopping=True, scoring=scorer, random_state=0,
                        n_iter_no_change=100)
    with pytest.warns(UserWarning, match="interrupted by user"):
        clf.fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    assert clf.predict(X).shape == y.shape


def test_progress_bar_when_asked(small, capsys):
    pytest.importorskip("tqdm")
    X, y = small
    _quiet_fit(MLPClassifier(max_iter=3, random_state=0, progress=True), X, y)
    err = capsys.readouterr().err
    assert "3/3" in err and "epoch" in err
    # verbose wins over the bar
    _quiet_fit(MLPClassifier(max_iter=3, random_state=0, progress=True,
                             verbose=True), X, y)
    captured = capsys.readouterr()
    assert "3/3" not in captured.err
    assert "Iteration 3, loss" in captured.out


@pytest.mark.parametrize("n_threads", [None, -1, 1, 7])
def test_any_thread_count_trains(small, n_threads):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=20,
                                   random_state=0, n_threads=n_threads,
                                   learning_rate_init=0.01), X, y)
    assert clf.score(X, y) > 0.7


def test_concurrent_predictions_from_python_threads(digits):
    from concurrent.futures import ThreadPoolExecutor
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(30,), max_iter=5,
                                   random_state=0), X, y)
    chunks = [X[i::4] for i in range(4)] * 4
    serial = [clf.predict_proba(c) for c in chunks]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(clf.predict_proba, chunks))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("layout", ["fortran", "strided", "readonly"])
def test_memory_layouts_predict_the_same(small, layout):
    X, y = small
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=5,
                                   random_state=0), X, y)
    if layout == "fortran":
        Xl = np.asfortranarray(X)
    elif layout == "strided":
        Xl = np.repeat(X, 2, axis=1)[:, ::2]
    else:
        Xl = X.copy()
        Xl.setflags(write=False)
    np.testing.assert_array_equal(clf.predict_proba(Xl), clf.predict_proba(X))
    other = _quiet_fit(MLPClassifier(hidden_layer_sizes=(10,), max_iter=5,
                                     random_state=0), Xl, y)
    _assert_same_weights(other, clf, exact=False)


def test_set_params_activation_after_fit_acts_like_sklearn(small):
    """scikit-learn's predict reads self.activation: changing it after fit
    changes predictions. The same weights under both give the same output."""
    X, y = small
    kw = dict(hidden_layer_sizes=(10,), max_iter=3, random_state=0)
    ref = _quiet_fit(sk.MLPClassifier(**kw), X, y)
    ours = _quiet_fit(MLPClassifier(**kw), X, y)
    ours.coefs_ = [c.copy() for c in ref.coefs_]
    ours.intercepts_ = [b.copy() for b in ref.intercepts_]
    for activation in ("tanh", "logistic", "identity"):
        ref.set_params(activation=activation)
        ours.set_params(activation=activation)
        np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X),
                                   rtol=1e-12, atol=1e-15)


def test_warm_refit_that_never_improves_keeps_the_best_weights(digits):
    # Documented difference: scikit-learn would end on the refit's last
    # weights (its best weights alias coefs_ and are trained in place).
    X, y = digits
    clf = _quiet_fit(MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                                   warm_start=True, learning_rate_init=0.01,
                                   max_iter=60, random_state=0), X, y)
    assert clf.best_validation_score_ > 0.8
    best = clf.best_validation_score_
    before = _state(clf)
    clf.set_params(learning_rate_init=5.0, max_iter=3)   # every epoch worse
    _quiet_fit(clf, X, y)
    assert clf.best_validation_score_ == best
    assert max(clf.validation_scores_[-3:]) <= best   # equal is no improvement
    for a, b in zip(before[0] + before[1], clf.coefs_ + clf.intercepts_):
        np.testing.assert_array_equal(a, b)
