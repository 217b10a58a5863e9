"""Fixtures and helpers of the pytest-benchmark suites (quick sizes, for CI).

Run with ``pytest benchmarks/`` (times each case) or ``pytest benchmarks/
--benchmark-disable`` (runs each once, as a smoke test). The suites only
check that training and prediction work; the speed targets are checked by
``python -m fastbp._bench`` (``fastbp bench``), not here.

Environment: FASTBP_BENCH_THREADS (default: all cores), FASTBP_BENCH_ROWS
(rows of the synthetic data, default 2000).

The fixtures live here, imported by the test modules, rather than in a
conftest.py: tests/ has a conftest.py that its modules import by name, and a
second module named conftest would shadow it when both folders run at once.
"""
import os

import numpy as np
import pytest

from fastbp._bench._common import default_threads, digits_data, synthetic_data
from fastbp._bench._train import CASES


SYNTHETIC_ROWS = int(os.environ.get("FASTBP_BENCH_ROWS", "2000"))


@pytest.fixture(scope="session")
def threads():
    return int(os.environ.get("FASTBP_BENCH_THREADS", "0")) or default_threads()


@pytest.fixture(scope="session")
def digits():
    return digits_data()


@pytest.fixture(scope="session")
def synthetic():
    return synthetic_data(SYNTHETIC_ROWS)


@pytest.fixture
def case_data(digits, synthetic):
    """(X, y) for a case name from fastbp._bench._train.CASES."""
    def get(name):
        return digits if CASES[name]["data"] == "digits" else synthetic
    return get


def pedantic(benchmark, fn, *, rounds, iterations=1, warmup_rounds=0):
    """benchmark.pedantic that also works under --benchmark-disable."""
    return benchmark.pedantic(fn, rounds=rounds, iterations=iterations,
                              warmup_rounds=warmup_rounds)


def assert_learns(curve):
    curve = np.asarray(curve, dtype=float)
    assert np.isfinite(curve).all(), curve
    assert curve[-1] < curve[0], f"loss did not decrease: {curve}"
