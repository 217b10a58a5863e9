"""Ranks of a data-parallel fit that disagree, or fail: every rank raises
(mpiexec -n 2 running tests/mpi_agree_worker.py; each launch in its own
process group under a timeout, so that a hang fails the test and leaves no
rank behind)."""
import os
import signal
import subprocess
import sys

import pytest

import mpi_agree_worker
import numpy as np

from fastbp import _agreement

WORKER = os.path.join(os.path.dirname(__file__), "mpi_agree_worker.py")
# Far above a launch's few seconds: reached only by a hang.
TIMEOUT = 180


def _mpiexec():
    import shutil

    pytest.importorskip("mpi4py")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.path.exists(here) else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install mpich, or a system MPI)")
    return found


def launch(out_dir, *args, n=2, omp_threads="1"):
    env = dict(os.environ, OMP_NUM_THREADS=omp_threads)
    if omp_threads is None:
        del env["OMP_NUM_THREADS"]
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", WORKER,
         str(out_dir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the ranks hung ({' '.join(args)})")
    return proc.returncode, out, err


NAMED = {
    "max_iter": "parameter max_iter",
    "batch_size": "parameter batch_size",
    "hidden_layer_sizes": "parameter hidden_layer_sizes",
    "learning_rate_init": "parameter learning_rate_init",
    "solver": "parameter solver",
    "early_stopping": "parameter early_stopping",
    "random_state": "parameter random_state",
    "X": "X's contents",
    "X_one_row": "X's contents",
    "dtype": "X's dtype as trained",
    "sparse": "X as dense, sparse or streamed",
    "stream": "X as dense, sparse or streamed",
}


@pytest.mark.parametrize("what", sorted(NAMED))
def test_ranks_that_disagree_raise_the_same_clear_error_on_every_rank(tmp_path, what):
    rc, out, err = launch(tmp_path, "disagree", what)
    assert rc == 0, err[-3000:]
    got = [(tmp_path / f"rank{r}.txt").read_text() for r in range(2)]
    assert got[0] == got[1], got
    assert got[0].startswith("ValueError: data_parallel: the ranks disagree on "), got[0]
    assert f"disagree on {NAMED[what]} (" in got[0] or f", {NAMED[what]} (" in got[0], got[0]
    if what in mpi_agree_worker.DISAGREE and what.startswith(("max", "batch", "solver")):
        value = str(next(iter(mpi_agree_worker.DISAGREE[what][0].values())))
        assert value in got[0], got[0]


@pytest.mark.parametrize("what", ["same", "n_threads"])
def test_ranks_that_agree_fit(tmp_path, what):
    # n_threads: the rank with n_threads=None counts its node's ranks (a
    # collective, where OMP_NUM_THREADS does not narrow its cores), the
    # other does not need to
    rc, out, err = launch(tmp_path, "disagree", what, omp_threads=None)
    assert rc == 0, err[-3000:]
    assert [(tmp_path / f"rank{r}.txt").read_text() for r in range(2)] == ["fitted"] * 2


def test_a_rank_failing_before_training_makes_every_rank_raise(tmp_path):
    # (the sampled rows of X are read for the check: the last rank fails
    # there, and tells the others in the check's allgather)
    rc, out, err = launch(tmp_path, "disagree", "unreadable")
    assert rc == 0, err[-3000:]
    got = [(tmp_path / f"rank{r}.txt").read_text() for r in range(2)]
    assert got[1] == "OSError: X cannot be read on the last rank"
    assert got[0] == ("ValueError: data_parallel: rank 1 failed before training: "
                      "OSError: X cannot be read on the last rank")


@pytest.mark.parametrize("what", ["batch", "reader", "memory"])
def test_a_rank_failing_mid_fit_ends_every_rank(tmp_path, what):
    # python -m mpi4py aborts every rank when one raises
    rc, out, err = launch(tmp_path, "fail", what)
    assert rc != 0
    assert {"batch": "a bad batch on the last rank",
            "reader": "the reader of the last rank failed",
            "memory": "MemoryError"}[what] in err, err[-3000:]


def test_parameter_values_compare_by_value_not_by_type():
    d = _agreement.describe
    assert d((100,)) == d([100]) == d(np.array([100])) == d([np.int64(100)])
    assert d(1e-3) == d(np.float64(1e-3)) and d(0) == d(0.0)
    assert d(1e-3) != d(np.nextafter(1e-3, 1))
    assert d({1: 2.0, 0: 1}) == d({0: 1.0, 1: 2})
    assert d(np.random.RandomState(0)) == d(np.random.RandomState(0))
    assert d(np.random.RandomState(0)) != d(np.random.RandomState(1))
    assert d(True) != d(1)
    assert d("adam") != d("sgd")


def test_the_comparison_names_each_difference_and_every_ranks_value():
    same = {"parameter max_iter": "3", "X's contents": "crc 1"}
    assert _agreement.compare([same, dict(same), dict(same)]) is None
    other = {"parameter max_iter": "5", "X's contents": "crc 1"}
    err = _agreement.compare([same, same, other])
    assert isinstance(err, ValueError)
    assert str(err).startswith("data_parallel: the ranks disagree on parameter "
                               "max_iter (ranks 0, 1: 3; rank 2: 5). ")
    # a key only some ranks have (an optimizer state kept by one) differs too
    err = _agreement.compare([same, {**same, "the optimizer's state": "adam"}])
    assert "the optimizer's state (rank 0: (none); rank 1: adam)" in str(err)
    err = _agreement.compare([same, {"error": "OSError: gone"}])
    assert str(err) == "data_parallel: rank 1 failed before training: OSError: gone"
