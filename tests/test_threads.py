"""Thread counts: n_threads values, and processes forked after OpenMP ran."""
import multiprocessing
import os
import warnings

import numpy as np
import pytest

from fastbp import MLPClassifier
from fastbp._core._backprop import OPENMP_ENABLED, max_threads
from fastbp._threads import available_cores, resolve_n_threads


def test_n_threads_values():
    n = available_cores() if OPENMP_ENABLED else 1
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


_FORK_SCRIPT = r"""
import multiprocessing, warnings, numpy as np
from fastbp import MLPClassifier
from fastbp._core._backprop import threads_ran
from fastbp._threads import available_cores, resolve_n_threads

def child(_):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n = resolve_n_threads(2)
    return n, len(caught)

def fork_and_ask():
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply_async(child, (0,)).get(timeout=60)

rng = np.random.RandomState(0)
warnings.simplefilter("ignore")
# too little work to split: no parallel region runs, children keep threads
MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, n_threads=2).fit(
    rng.normal(size=(30, 3)), np.arange(30) % 2)
print(threads_ran(), *fork_and_ask())
MLPClassifier(hidden_layer_sizes=(300,), max_iter=1, batch_size=64, n_threads=2).fit(
    rng.normal(size=(256, 200)), np.arange(256) % 2)
print(threads_ran(), *fork_and_ask())
"""


@pytest.mark.skipif(not OPENMP_ENABLED, reason="serial build: no OpenMP threads")
@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no fork() here")
def test_fork_guard_acts_only_once_threads_really_ran(tmp_path):
    import subprocess
    import sys

    import fastbp

    # the child imports this very fastbp (installed or built in place), not
    # whatever a relative path or the working directory would give
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    out = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True,
                         text=True, timeout=240, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split("\n")[:2]
    assert first == "False 2 0"     # no region ran: the child keeps 2 threads
    assert second == "True 1 1"     # threads ran: 1 thread and one warning
