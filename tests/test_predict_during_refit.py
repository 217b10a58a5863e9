"""A prediction while another thread refits the same estimator sees the old
model or the new one, never a mix (fastbp/_refit.py)."""
import hashlib
import sys
import threading
import warnings

import numpy as np
import pytest

from fastbp import MLPClassifier, MLPRegressor


@pytest.fixture
def switch_often():
    # Python threads switch every few microseconds instead of 5 ms: the
    # reader then lands in every step of a fit
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _digest(a):
    a = np.ascontiguousarray(a)
    return (a.shape, a.dtype.str, hashlib.sha256(a.view(np.uint8)).hexdigest())


def _run_reader_while(fit_many, read):
    """read() in a loop on another thread while fit_many() runs here; the
    results, and what the reader raised."""
    results, errors = [], []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                results.append(read())
            except Exception as exc:   # noqa: BLE001 - reported below
                errors.append(repr(exc))
                return

    t = threading.Thread(target=reader)
    t.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_many()
    finally:
        done.set()
        t.join(60)
    return results, errors


def test_predict_during_a_refit_to_other_classes_sees_the_old_or_the_new_model(
        switch_often):
    rng = np.random.RandomState(0)
    X = rng.randn(300, 6)
    y2 = (X[:, 0] > 0).astype(int)                    # 2 classes: 1 output
    y3 = np.digitize(X[:, 1], [-0.5, 0.5]) + 10       # 3 classes: softmax
    params = dict(hidden_layer_sizes=(16,), max_iter=3, n_threads=1,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = {}
        for y in (y2, y3):
            ref = MLPClassifier(**params).fit(X, y)
            want[len(ref.classes_)] = (_digest(ref.predict_proba(X)),
                                       _digest(ref.predict(X)))
        clf = MLPClassifier(**params).fit(X, y2)

    def fit_many():
        for i in range(60):
            clf.fit(X, y3 if i % 2 == 0 else y2)

    def read():
        # (a fit may end between the two calls: each is checked alone)
        return _digest(clf.predict_proba(X)), _digest(clf.predict(X))

    results, errors = _run_reader_while(fit_many, read)
    assert not errors, errors[:3]
    assert len(results) > 0
    for i, what in enumerate(("predict_proba", "predict")):
        allowed = {w[i] for w in want.values()}
        mixed = [r[i] for r in results if r[i] not in allowed]
        assert not mixed, (what, len(mixed), len(results), mixed[:3])
    # once the fits are over, every thread sees the last model
    after = []
    t = threading.Thread(target=lambda: after.append(read()))
    t.start()
    t.join(60)
    assert after == [want[2]]


def test_predict_during_partial_fit_sees_the_weights_before_or_after_a_call(
        switch_often):
    # partial_fit trains the model's weights in place: a prediction must not
    # see the weights between two mini-batches of one call, nor some layers
    # updated and others not
    rng = np.random.RandomState(1)
    X = rng.randn(2000, 20)
    y = X[:, :3] @ rng.randn(3, 2)
    reg = MLPRegressor(hidden_layer_sizes=(64, 64), batch_size=50, n_threads=1,
                       random_state=0)
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.partial_fit(X, y)
    models.append(reg.network_.params.copy())

    def fit_many():
        for _ in range(15):
            reg.partial_fit(X, y)
            models.append(reg.network_.params.copy())

    results, errors = _run_reader_while(fit_many, lambda: _digest(reg.predict(X)))
    assert not errors, errors[:3]
    assert len(results) > 0
    allowed = set()
    for params in models:
        reg.network_.params[...] = params
        allowed.add(_digest(reg.predict(X)))
    mixed = [r for r in results if r not in allowed]
    assert not mixed, (len(mixed), len(results))


def test_a_fit_failing_in_another_thread_leaves_predictions_on_the_old_model(
        switch_often):
    # a warm fit that diverges trains the weights in place for a while,
    # raises and puts them back: predictions meanwhile see the old model
    rng = np.random.RandomState(2)
    X = rng.randn(400, 5)
    y = X[:, 0]
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=3, n_threads=1,
                       random_state=0, warm_start=True, solver="sgd",
                       batch_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y)
    want = _digest(reg.predict(X))
    reg.set_params(learning_rate_init=1e3)

    def fit_many():
        for _ in range(40):
            with pytest.raises(ValueError, match="diverged"):
                reg.fit(X, y * 1e10)

    results, errors = _run_reader_while(fit_many, lambda: _digest(reg.predict(X)))
    assert not errors, errors[:3]
    assert results and set(results) == {want}


def test_predict_before_the_first_fit_ends_is_not_fitted_yet(switch_often):
    from sklearn.exceptions import NotFittedError

    X = np.random.RandomState(3).randn(3000, 10)
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=5, n_threads=1,
                        random_state=0)

    def read():
        try:
            return _digest(clf.predict_proba(X))
        except NotFittedError:
            return "not fitted"

    results, errors = _run_reader_while(lambda: clf.fit(X, y), read)
    assert not errors, errors[:3]
    # the model only once the fit is over (and never one half trained)
    assert set(results) <= {"not fitted", _digest(clf.predict_proba(X))}
    assert "not fitted" in results
