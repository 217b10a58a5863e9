"""Thread counts: n_threads values, and processes forked after OpenMP ran."""
import multiprocessing
import os
import warnings

import numpy as np
import pytest

from fastbp import MLPClassifier
from fastbp._core._backprop import OPENMP_ENABLED, max_threads
from fastbp._threads import resolve_n_threads


def test_n_threads_values():
    n = max_threads() if OPENMP_ENABLED else 1
    assert resolve_n_threads(None) == max(1, n)
    assert resolve_n_threads(-1) == max(1, n)
    assert resolve_n_threads(-n - 5) == 1
    assert resolve_n_threads(1) == 1
    with pytest.raises(ValueError, match="must not be 0"):
        resolve_n_threads(0)
    with pytest.raises(TypeError, match="int or None"):
        resolve_n_threads(2.0)


def _fit_and_predict_in_child(args):
    clf, X, y = args
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = clf.predict(X)
        again = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0,
                              n_threads=2).fit(X, y)
    return (pred, again.coefs_[0], resolve_n_threads(2),
            [str(w.message) for w in caught if w.category is RuntimeWarning])


@pytest.mark.skipif(not OPENMP_ENABLED, reason="serial build: no OpenMP threads")
@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no fork() here")
def test_forked_child_runs_on_one_thread_instead_of_hanging():
    # OpenMP cannot start threads in a child forked after the parent used
    # them: without fastbp's guard the child's first parallel region hangs.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(600, 20)).astype(np.float32)
    y = rng.randint(0, 3, size=600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0,
                            n_threads=2).fit(X, y)
        one = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0,
                            n_threads=1).fit(X, y)
    expected = clf.predict(X)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        pred, coef, n_threads, messages = pool.apply_async(
            _fit_and_predict_in_child, ((clf, X, y),)).get(timeout=120)
    np.testing.assert_array_equal(pred, expected)
    assert n_threads == 1
    # the child's fit asked for 2 threads and ran the 1-thread computation
    np.testing.assert_array_equal(coef, one.coefs_[0])
    assert len(messages) == 1 and "forked" in messages[0] and "spawn" in messages[0]
    assert resolve_n_threads(2) == 2   # the parent keeps its threads
