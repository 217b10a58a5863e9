"""Training speed, fastbp beside scikit-learn, PyTorch and a JAX/XLA program
(quick sizes).

One group per case (layer sizes and batch size of the issue's table, the
synthetic data cut to FASTBP_BENCH_ROWS rows); each benchmark is one fit of
EPOCHS epochs with Adam on float32 data. No timing assertions: only that the
loss goes down. ``fastbp bench`` prints the full comparison and targets.
"""
import pytest

from bench_helpers import (  # noqa: F401 (fixtures)
    assert_learns, case_data, digits, pedantic, synthetic, threads,
)
from fastbp._bench._train import CASES, fit_fastbp, fit_fastbp_split, fit_sklearn

EPOCHS = 2
ROUNDS = 2


def _fit_torch(*args, **kwargs):
    pytest.importorskip("torch")
    from fastbp._bench._train import fit_torch

    return fit_torch(*args, **kwargs)


def _fit_jax(*args, **kwargs):
    pytest.importorskip("jax")
    from fastbp._bench._jax import fit_jax

    return fit_jax(*args, **kwargs)


FITTERS = {"fastbp": fit_fastbp, "sklearn": fit_sklearn, "torch": _fit_torch,
           "jax": _fit_jax}


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


@pytest.mark.parametrize("split", ["rows", "layers"])
@pytest.mark.parametrize("case", ["784-256-128-b32", "784-1024-1024-b256"])
def test_train_split(benchmark, case_data, threads, case, split):
    """fastbp with each mini-batch's work split over the threads by rows
    (a gradient copy per thread) or by layers (each GEMM cut over the
    threads): the measurements behind fastbp._solver.split_layers."""
    X, y = case_data(case)
    spec = CASES[case]
    fit = fit_fastbp_split(split == "layers")
    benchmark.group = f"split {case} ({X.shape[0]} rows, {EPOCHS} epochs, {threads} threads)"
    benchmark.extra_info.update(rows=X.shape[0], epochs=EPOCHS, threads=threads,
                                split=split)

    def run():
        return fit(X, y, spec["hidden"], spec["batch"], EPOCHS, threads)

    seconds, curve, _ = pedantic(benchmark, run, rounds=ROUNDS)
    assert len(curve) == EPOCHS
    assert_learns(curve)
