"""fastbp's BLAS limit (fastbp._threads.blas_limited) holds for fits from any
Python thread, in any order after fits in other threads.

Each check runs in a fresh process: which thread has set OpenBLAS's thread
count before is process-wide state (threadpoolctl lets only that thread set
it again), and the pytest process has set it many times."""
import json
import os
import subprocess
import sys

import pytest

import fastbp

threadpoolctl = pytest.importorskip("threadpoolctl")


def _run(script, cwd):
    env = dict(os.environ)
    # the child imports this very fastbp (installed or built in place)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env.pop("OMP_NUM_THREADS", None)
    # two BLAS threads to begin with (whatever the cores), so that a limit
    # to one shows; set without threadpoolctl, which no thread has called
    env["OPENBLAS_NUM_THREADS"] = "2"
    # (in another folder: python -c puts the working directory, which may
    # hold the source folder fastbp/, first on sys.path)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, timeout=300, env=env, cwd=cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_PRELUDE = r"""
import json, threading, warnings
import numpy as np, scipy.linalg
import fastbp, fastbp._threads as ft
from threadpoolctl import threadpool_info

warnings.simplefilter("ignore")

def openblas_counts():
    return {i["filepath"]: i["num_threads"] for i in threadpool_info()
            if i["internal_api"] == "openblas"}

before = openblas_counts()
X = np.random.RandomState(0).randn(3000, 40)
y = (X[:, 0] > 0).astype(int)

def fit(max_iter=4):
    fastbp.MLPClassifier((128, 128), max_iter=max_iter, n_threads=1,
                         random_state=0).fit(X, y)
"""

_WORKER_FITS_AFTER_MAIN_FIT = _PRELUDE + r"""
fit(max_iter=1)                  # a fit in the main thread first
samples = []
stop = threading.Event()

def sample():
    # keep the samples taken while the four fits held fastbp's limit
    # throughout (each thread fits once: none left in between)
    while not stop.is_set():
        if ft._blas_users == 4:
            counts = openblas_counts()
            if ft._blas_users == 4:
                samples.append(counts)

sampler = threading.Thread(target=sample)
sampler.start()
# (long enough that the four overlap while threadpoolctl, a few ms a
# reading, samples them: on fastbp's AVX-512 products 4 epochs were not)
fits = [threading.Thread(target=fit, kwargs={"max_iter": 16}) for _ in range(4)]
for t in fits:
    t.start()
for t in fits:
    t.join()
stop.set()
sampler.join()
print(json.dumps({"before": before, "samples": samples,
                  "after": openblas_counts()}))
"""


def test_worker_thread_fits_after_a_main_thread_fit_keep_openblas_on_one_thread(
        tmp_path):
    got = _run(_WORKER_FITS_AFTER_MAIN_FIT, tmp_path)
    before, samples = got["before"], got["samples"]
    # numpy's and scipy's OpenBLAS, each at 2 threads before the fits
    assert len(before) >= 1 and set(before.values()) == {2}, before
    assert len(samples) >= 3, len(samples)
    for counts in samples:
        assert set(counts) == set(before)
        assert set(counts.values()) == {1}, counts
    assert got["after"] == before


_LAST_TO_LEAVE_IN_ANOTHER_THREAD = _PRELUDE + r"""
# The main thread takes the limit, a worker joins, the main thread leaves
# first: the worker, last to leave, gives the count back.
seen = {}
inside, main_left, done = threading.Event(), threading.Event(), threading.Event()

def worker():
    with ft.blas_limited(1, always=True):
        inside.set()
        main_left.wait(60)
        seen["worker alone"] = openblas_counts()
    done.set()

t = threading.Thread(target=worker)
with ft.blas_limited(1, always=True):
    seen["main"] = openblas_counts()
    t.start()
    inside.wait(60)
main_left.set()
done.wait(60)
t.join()
seen["after"] = openblas_counts()

# Then the other order: a worker thread first, the main thread next.
def worker_fit():
    with ft.blas_limited(1, always=True):
        seen["worker first"] = openblas_counts()
t = threading.Thread(target=worker_fit)
t.start()
t.join()
with ft.blas_limited(1, always=True):
    seen["main next"] = openblas_counts()
seen["after both"] = openblas_counts()
print(json.dumps({"before": before, **seen}))
"""


def test_the_last_fit_to_leave_gives_blas_its_threads_back_from_any_thread(
        tmp_path):
    got = _run(_LAST_TO_LEAVE_IN_ANOTHER_THREAD, tmp_path)
    before = got.pop("before")
    assert len(before) >= 1 and set(before.values()) == {2}, before
    for when in ("main", "worker alone", "worker first", "main next"):
        assert set(got[when].values()) == {1}, (when, got[when])
    assert got["after"] == before
    assert got["after both"] == before
