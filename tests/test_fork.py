"""A child forked after ANY library ran an OpenMP region of the process's
libgomp must not hang in its first fastbp fit. Each case runs in
its own interpreter with a timeout: a hang fails the test, not the suite."""
import os
import subprocess
import sys

import pytest

from fastbp._core._backprop import OPENMP_ENABLED

pytestmark = [
    pytest.mark.skipif(not OPENMP_ENABLED, reason="serial build: no OpenMP threads"),
    pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="no fork() here"),
]

# Another -fopenmp extension, reduced to its essence: one GOMP_parallel call
# (through ctypes, running libc's getpid on two threads) on the main thread,
# which leaves a libgomp thread pool behind; then fork, and fit in the child.
_SCRIPT = r"""
import ctypes, ctypes.util, os, sys, warnings
import numpy as np
import fastbp._threads as threads
from fastbp import MLPClassifier
from fastbp._core._backprop import threads_ran

if sys.argv[1] == "no-pause":   # as on a libgomp without omp_pause_resource
    threads._pause_openmp = lambda: False
gomp = ctypes.CDLL("libgomp.so.1")
libc = ctypes.CDLL(ctypes.util.find_library("c"))
fn = ctypes.cast(libc.getpid, ctypes.c_void_p)
gomp.GOMP_parallel.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint,
                               ctypes.c_uint]
gomp.GOMP_parallel(fn, None, 2, 0)
assert not threads_ran()   # fastbp itself never ran a region

rng = np.random.RandomState(0)
X, y = rng.normal(size=(256, 200)), np.arange(256) % 2
pid = os.fork()
if pid == 0:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n = threads.resolve_n_threads(2)
        # big enough that the fit runs parallel regions on 2 threads
        MLPClassifier(hidden_layer_sizes=(300,), max_iter=1, batch_size=64,
                      n_threads=2).fit(X, y)
    forked = [w for w in caught if "forked" in str(w.message)]
    print(n, len(forked), flush=True)
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert status == 0, status
warnings.simplefilter("ignore")
# the parent still trains on its threads after the fork
MLPClassifier(hidden_layer_sizes=(300,), max_iter=1, batch_size=64,
              n_threads=2).fit(X, y)
print("parent ok")
"""


def _run(mode):
    import fastbp

    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    try:
        out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True,
                             text=True, timeout=90, env=env,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
    except subprocess.TimeoutExpired:
        pytest.fail("the forked child hung in its first fit")
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


def test_child_forked_after_a_foreign_openmp_region_keeps_its_threads():
    # the pool is freed before the fork: the child starts threads of its own
    assert _run("pause") == ["2", "0", "parent", "ok"]


def test_without_pause_child_runs_on_one_thread_instead_of_hanging():
    assert _run("no-pause") == ["1", "1", "parent", "ok"]
