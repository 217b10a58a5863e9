"""Training where users run it: beside busy processes, and on sparse input.

The busy group fits the busy shapes of ``fastbp bench --cases busy`` (quick
sizes) with two busy-looping processes started for the group: fastbp's
default threads, fastbp on one thread, scikit-learn. The sparse group fits
and predicts a text-like CSR matrix (100000 features) with fastbp and
scikit-learn. No timing assertions (this machine is shared): only that
training learns and predictions are probabilities; ``fastbp bench --cases
busy,sparse`` prints the comparison.
"""
import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SkMLP

from bench_helpers import pedantic, threads  # noqa: F401 (fixture)
from fastbp import MLPClassifier
from fastbp._bench._busy import BUSY_SHAPES, BusyCores, _busy_data
from fastbp._bench._sparse import text_like

ROUNDS = 2


@pytest.fixture(scope="module")
def busy():
    with BusyCores(2):
        yield


def _fit(cls, X, y, hidden, batch, epochs, **kw):
    clf = cls(hidden_layer_sizes=hidden, batch_size=batch, max_iter=epochs,
              tol=0.0, n_iter_no_change=10**9, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y)


VARIANTS = {
    "fastbp-default": (MLPClassifier, {}),
    "fastbp-1-thread": (MLPClassifier, {"n_threads": 1}),
    "sklearn": (SkMLP, {}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("case", ["digits-b200", "20000x100-b64"])
def test_train_busy(benchmark, busy, case, variant):
    spec = BUSY_SHAPES[case]
    X, y = _busy_data(spec["data"], spec["dtype"], quick=True)
    X, y = X[:1000], y[:1000]
    cls, kw = VARIANTS[variant]
    epochs = 2
    benchmark.group = f"busy {case} ({X.shape[0]} rows, {epochs} epochs, 2 busy processes)"

    def run():
        return _fit(cls, X, y, spec["hidden"], spec["batch"], epochs, **kw)

    clf = pedantic(benchmark, run, rounds=ROUNDS)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


@pytest.fixture(scope="module", params=[np.float32, np.float64],
                ids=["float32", "float64"])
def text(request):
    return text_like(600, dtype=request.param)


@pytest.mark.parametrize("lib", ["fastbp", "sklearn"])
def test_train_sparse(benchmark, text, lib):
    X, y = text
    cls = MLPClassifier if lib == "fastbp" else SkMLP
    benchmark.group = f"sparse fit {X.shape} {X.dtype} (2 epochs)"

    def run():
        return _fit(cls, X, y, (100,), 200, 2)

    clf = pedantic(benchmark, run, rounds=ROUNDS)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


@pytest.mark.parametrize("lib", ["fastbp", "sklearn"])
def test_predict_sparse(benchmark, text, lib):
    X, y = text
    cls = MLPClassifier if lib == "fastbp" else SkMLP
    clf = _fit(cls, X, y, (100,), 200, 1)
    benchmark.group = f"sparse predict_proba {X.shape[0]} rows {X.dtype}"
    P = pedantic(benchmark, lambda: clf.predict_proba(X), rounds=5)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
