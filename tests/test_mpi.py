"""Data-parallel training over MPI: mpiexec -n 2 and -n 3 (oversubscribed on
a 2-core machine) running tests/mpi_worker.py under python -m mpi4py, each
launch under a timeout."""
import os
import pickle
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import fastbp
import mpi_worker

pytest.importorskip("mpi4py")

WORKER = os.path.join(os.path.dirname(__file__), "mpi_worker.py")
TIMEOUT = 240


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.path.exists(here) else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (pip install mpich, or a system MPI)")
    return found


def launch(n, out_dir, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", WORKER,
         str(out_dir), *args],
        capture_output=True, text=True, timeout=TIMEOUT, env=env)


@pytest.fixture(scope="module", params=[2, 3])
def run(request, tmp_path_factory):
    n = request.param
    out = tmp_path_factory.mktemp(f"mpi{n}")
    proc = launch(n, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [dict(np.load(out / f"rank{r}.npz")) for r in range(n)]
    return n, ranks, proc


def test_every_rank_ends_with_bitwise_the_same_model(run):
    n, ranks, _ = run
    for key in ranks[0]:
        for r in range(1, n):
            np.testing.assert_array_equal(ranks[r][key], ranks[0][key], err_msg=key)


@pytest.fixture()
def cores_for(monkeypatch):
    """Let this process run n threads (fastbp caps n_threads at the cores
    it may use; 3 ranks on 2 cores are compared with 3 threads on 2 cores,
    whose parts, and so results, depend on the thread count only)."""
    import fastbp._threads as threads

    def allow(n):
        monkeypatch.setattr(threads, "_cores", max(n, threads.available_cores()))
    return allow


@pytest.mark.parametrize("name", list(mpi_worker.cases()))
def test_ranks_match_one_process_with_as_many_threads(run, name, cores_for):
    n, ranks, _ = run
    cores_for(n)
    params, how = mpi_worker.cases()[name]
    X, y = mpi_worker.data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = how(fastbp.MLPClassifier(**{**params, "n_threads": n}), X, y)
    got = ranks[0][name + "/params"]
    want = ref.network_.params
    if name in mpi_worker.ROUNDING_ONLY:
        # one process splits sparse X by layers; lbfgs sums its loss and
        # gradient in other blocks: the same numbers to rounding
        scale = np.abs(want).max()
        assert np.abs(got - want).max() <= 1e-12 * scale, name
    else:
        # the row split of one process, bitwise
        np.testing.assert_array_equal(got, want, err_msg=name)
    assert ranks[0][name + "/n_iter"][0] == ref.n_iter_
    want_loss = np.atleast_1d(getattr(ref, "loss_curve_", None) or ref.loss_)
    np.testing.assert_allclose(ranks[0][name + "/loss"], want_loss, rtol=1e-10)


@pytest.mark.parametrize("name", ["stream", "stream_weighted_es"])
def test_out_of_core_ranks_match_one_process_streaming(run, name, cores_for):
    # every rank reads only the rows of its cuts of each window
    n, ranks, _ = run
    cores_for(n)
    params, how = mpi_worker.stream_cases()[name]
    X, y = mpi_worker.data(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = how(fastbp.MLPClassifier(**{**params, "n_threads": n}), X, y)
    np.testing.assert_array_equal(ranks[0][name + "/params"], ref.network_.params)


def test_verbose_prints_on_rank_zero_only(run):
    _, _, proc = run
    assert proc.stdout.count("Iteration 1, loss") == 1, proc.stdout


def test_run_to_run_bitwise(tmp_path, run):
    n, ranks, _ = run
    if n != 2:
        pytest.skip("once is enough")
    proc = launch(2, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = dict(np.load(tmp_path / "rank0.npz"))
    for key, value in ranks[0].items():
        if "none" in key:
            continue   # random_state=None: a new seed each run
        np.testing.assert_array_equal(again[key], value, err_msg=key)


def test_a_rank_raising_aborts_every_rank_instead_of_hanging(tmp_path):
    proc = launch(2, tmp_path, "bad")       # the timeout would fail the test
    assert proc.returncode != 0
    assert "NaN" in proc.stderr
    assert not (tmp_path / "rank0.npz").exists()


def test_data_parallel_leaves_the_estimator_picklable_and_clonable():
    class FakeComm:   # the context only stores the communicator
        pass

    clf = fastbp.MLPClassifier((4,), random_state=0)
    params = clf.get_params()
    with fastbp.data_parallel(FakeComm()) as comm:
        assert isinstance(comm, FakeComm)
        assert fastbp._parallel.current() is comm
        assert clone(clf).get_params() == params
        assert pickle.loads(pickle.dumps(clf)).get_params() == params
    assert fastbp._parallel.current() is None


def test_one_rank_is_one_process(tmp_path):
    from mpi4py import MPI

    X, y = mpi_worker.data()
    params = mpi_worker.base(solver="adam")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fastbp.MLPClassifier(**params).fit(X, y)
        with fastbp.data_parallel(MPI.COMM_SELF):
            got = fastbp.MLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(got.network_.params, ref.network_.params)


def test_threads_per_rank_share_the_node():
    from mpi4py import MPI

    from fastbp._parallel import _threads_per_rank
    from fastbp._threads import available_cores

    # one rank on this node: all the cores it may use
    assert _threads_per_rank(MPI.COMM_SELF) == available_cores()
