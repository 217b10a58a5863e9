"""scikit-learn's experimental callback API (sklearn.callback, 1.9+):
callbacks see the fit and every epoch, and can stop training."""
import numpy as np
import pytest

pytest.importorskip("sklearn.callback")

from sklearn.base import clone  # noqa: E402
from sklearn.callback import ScoringMonitor  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

from fastbp import MLPClassifier, MLPRegressor  # noqa: E402


class Recorder:
    """Records every hook call; asks to stop after `stop_after` epochs."""

    def __init__(self, stop_after=None, fail_at=None):
        self.calls = []
        self.stop_after = stop_after
        self.fail_at = fail_at
        self.snapshots = []

    def setup(self, estimator, context):
        self.calls.append(("setup", None))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", None))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None):
        self.calls.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None,
                        metadata=None, fitted_estimator=None):
        self.calls.append(("end", context.task_name))
        if context.task_name != "epoch":
            return False
        n_epochs = sum(1 for c in self.calls if c == ("end", "epoch"))
        self.snapshots.append((X, y, metadata, fitted_estimator))
        if self.fail_at == n_epochs:
            raise RuntimeError("callback failed")
        return self.stop_after is not None and n_epochs >= self.stop_after


def data():
    return make_classification(n_samples=120, n_features=6, random_state=0)


def test_callbacks_see_the_fit_and_every_epoch():
    X, y = data()
    rec = Recorder()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    clf.set_callbacks(rec)
    with pytest.warns(Warning):  # max_iter reached
        clf.fit(X, y)
    assert rec.calls == ([("setup", None), ("begin", "fit")]
                         + [("begin", "epoch"), ("end", "epoch")] * 5
                         + [("end", "fit"), ("teardown", None)])
    X_seen, y_seen, metadata, _ = rec.snapshots[0]
    assert X_seen is X and y_seen is y and metadata is None


def test_a_callback_stops_training_after_an_epoch():
    X, y = data()
    rec = Recorder(stop_after=3)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0)
    clf.set_callbacks(rec).fit(X, y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    # The same first three epochs as a fit of three epochs.
    ref = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.warns(Warning):
        ref.fit(X, y)
    for a, b in zip(clf.coefs_, ref.coefs_):
        np.testing.assert_array_equal(a, b)


def test_fitted_estimator_is_a_copy_of_the_model_at_that_epoch():
    X, y = data()
    rec = Recorder()
    sw = np.linspace(0.5, 1.5, len(y))
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=4, random_state=0)
    with pytest.warns(Warning):
        clf.set_callbacks(rec).fit(X, y, sample_weight=sw)
    first, last = rec.snapshots[0][3], rec.snapshots[-1][3]
    assert rec.snapshots[0][2]["sample_weight"] is sw
    assert not np.array_equal(first.predict_proba(X), last.predict_proba(X))
    np.testing.assert_array_equal(last.predict_proba(X), clf.predict_proba(X))
    assert first.coefs_[0] is not clf.coefs_[0]


def test_scoring_monitor_logs_a_score_per_epoch():
    X, y = data()
    monitor = ScoringMonitor(scoring="accuracy")
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=6, random_state=0,
                        solver="sgd", learning_rate_init=0.05, batch_size=10)
    with pytest.warns(Warning):
        clf.set_callbacks(monitor).fit(X, y)
    rows = monitor.get_logs().data
    epochs = [r for r in rows if r["task_name"] == "epoch"]
    assert [r["task_id"] for r in epochs] == list(range(6))
    assert epochs[-1]["accuracy"] == clf.score(X, y)
    assert len({r["accuracy"] for r in epochs}) > 1   # it learns meanwhile
    assert clf.n_iter_ == 6


def test_callbacks_with_lbfgs_partial_fit_and_regressor():
    X, y = data()
    rec = Recorder()
    MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20,
                 random_state=0).set_callbacks(rec).fit(X, y.astype(float))
    assert rec.calls == [("setup", None), ("begin", "fit"), ("end", "fit"),
                         ("teardown", None)]
    rec = Recorder()
    MLPClassifier(hidden_layer_sizes=(4,), random_state=0).set_callbacks(
        rec).partial_fit(X, y, classes=[0, 1])
    assert [c for c in rec.calls if c[1] == "epoch"] == [("begin", "epoch"),
                                                          ("end", "epoch")]


def test_a_failing_callback_tears_down_and_leaves_the_model_as_it_was():
    X, y = data()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y)
    before = [c.copy() for c in clf.coefs_]
    rec = Recorder(fail_at=2)
    clf.set_params(warm_start=True).set_callbacks(rec)
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.fit(X, y)
    assert rec.calls[-1] == ("teardown", None)
    for a, b in zip(clf.coefs_, before):
        np.testing.assert_array_equal(a, b)
    assert not hasattr(clf, "_callback_fit_ctx")


def test_callbacks_change_no_result():
    X, y = data()
    a = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    b = clone(a).set_callbacks(Recorder())
    with pytest.warns(Warning):
        a.fit(X, y)
    with pytest.warns(Warning):
        b.fit(X, y)
    for u, v in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(u, v)
    # scikit-learn's clone carries callbacks over, as for its own estimators
    assert clone(b)._skl_callbacks == b._skl_callbacks
    with pytest.raises(TypeError):
        a.set_callbacks(Recorder)   # a class, not an instance


def test_copying_or_pickling_leaves_the_estimator_whole():
    # copy.copy (which scikit-learn's fitted_estimator uses) and pickle call
    # __getstate__; it must not drop the network from the live estimator.
    import copy
    import pickle

    X, y = data()
    with pytest.warns(Warning):
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    coef = clf.coefs_[0]
    copy.copy(clf)
    pickle.dumps(clf)
    assert "_net" in vars(clf) and clf.network_.coefs[0] is coef
