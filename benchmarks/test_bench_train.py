"""Training speed, fastbp beside scikit-learn and PyTorch (quick sizes).

One group per case (layer sizes and batch size of the issue's table, the
synthetic data cut to FASTBP_BENCH_ROWS rows); each benchmark is one fit of
EPOCHS epochs with Adam on float32 data. No timing assertions: only that the
loss goes down. ``fastbp bench`` prints the full comparison and targets.
"""
import pytest

from bench_helpers import (  # noqa: F401 (fixtures)
    assert_learns, case_data, digits, pedantic, synthetic, threads,
)
from fastbp._bench import CASES, fit_fastbp, fit_sklearn

EPOCHS = 2
ROUNDS = 2


def _fit_torch(*args, **kwargs):
    pytest.importorskip("torch")
    from fastbp._bench import fit_torch

    return fit_torch(*args, **kwargs)


FITTERS = {"fastbp": fit_fastbp, "sklearn": fit_sklearn, "torch": _fit_torch}


@pytest.mark.parametrize("lib", list(FITTERS))
@pytest.mark.parametrize("case", list(CASES))
def test_train(benchmark, case_data, threads, case, lib):
    X, y = case_data(case)
    spec = CASES[case]
    fit = FITTERS[lib]
    if lib == "torch":
        pytest.importorskip("torch")
    benchmark.group = f"train {case} ({X.shape[0]} rows, {EPOCHS} epochs)"
    benchmark.extra_info.update(rows=X.shape[0], epochs=EPOCHS, threads=threads,
                                hidden=list(spec["hidden"]), batch=spec["batch"])

    def run():
        return fit(X, y, spec["hidden"], spec["batch"], EPOCHS, threads)

    seconds, curve, _ = pedantic(benchmark, run, rounds=ROUNDS)
    assert seconds > 0
    assert len(curve) == EPOCHS
    assert_learns(curve)
