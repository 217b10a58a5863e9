"""Prediction speed on digits (64-100-10): 1 row and all 1797 rows,
fastbp beside scikit-learn and PyTorch. No timing assertions: only that the
predictions are labels of the right shape and mostly right."""
import numpy as np
import pytest

from bench_helpers import digits, pedantic, threads  # noqa: F401 (fixtures)
from fastbp._bench._train import fit_fastbp, fit_sklearn

EPOCHS = 10


def _torch_predictor(X, y, threads):
    torch = pytest.importorskip("torch")
    from fastbp._bench._train import fit_torch

    _, _, model = fit_torch(X, y, (100,), 200, EPOCHS, threads)
    model.eval()
    torch.set_num_threads(threads)

    def predict(A):
        with torch.inference_mode():
            return model(torch.from_numpy(A)).argmax(1).numpy()
    return predict


@pytest.fixture(scope="module", params=["fastbp", "sklearn", "torch"])
def predictor(request, digits, threads):
    X, y = digits
    lib = request.param
    if lib == "torch":
        return lib, _torch_predictor(X, y, threads)
    fit = fit_fastbp if lib == "fastbp" else fit_sklearn
    _, _, clf = fit(X, y, (100,), 200, EPOCHS, threads)
    return lib, clf.predict


def test_predict_one_row(benchmark, predictor, digits):
    lib, predict = predictor
    X, y = digits
    one = np.ascontiguousarray(X[:1])
    benchmark.group = "predict digits, 1 row"
    out = pedantic(benchmark, lambda: predict(one), rounds=50, iterations=20,
                   warmup_rounds=1)
    assert out.shape == (1,)
    assert out[0] in set(np.unique(y))


def test_predict_all_rows(benchmark, predictor, digits):
    lib, predict = predictor
    X, y = digits
    benchmark.group = f"predict digits, {X.shape[0]} rows"
    out = pedantic(benchmark, lambda: predict(X), rounds=10, iterations=1,
                   warmup_rounds=1)
    assert out.shape == y.shape
    assert np.mean(out == y) > 0.8
