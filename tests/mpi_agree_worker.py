"""Run on every rank by tests/test_mpi_agreement.py:

    mpiexec -n P python [-m mpi4py] tests/mpi_agree_worker.py OUT_DIR MODE ARG

MODE "disagree": the last rank fits with what ARG names changed (a
parameter, or X's contents); every rank writes what its fit raised to
OUT_DIR/rank<r>.txt (the check must raise the same ValueError on each).
MODE "fail": the last rank fails in the middle of the fit in the way ARG
names; the launch must end, every rank with a nonzero status.
"""
import sys
import warnings

import numpy as np


def data(dtype=np.float64):
    rng = np.random.RandomState(0)
    X = rng.randn(600, 12).astype(dtype)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


def base(**kw):
    return {**dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0,
                   n_threads=1, batch_size=50, solver="adam"), **kw}


#: ARG of MODE "disagree" -> (parameters of the last rank, how its X changes)
DISAGREE = {
    "max_iter": ({"max_iter": 5}, None),
    "batch_size": ({"batch_size": 60}, None),
    "hidden_layer_sizes": ({"hidden_layer_sizes": (17,)}, None),
    "learning_rate_init": ({"learning_rate_init": 0.0011}, None),
    "solver": ({"solver": "sgd"}, None),
    "early_stopping": ({"early_stopping": True}, None),
    "random_state": ({"random_state": 1}, None),
    "X": ({}, "shift"),
    "X_one_row": ({}, "one_row"),
    "dtype": ({}, "float32"),
    "sparse": ({}, "sparse"),
    "stream": ({}, "stream"),
    "same": ({}, None),
    # a rank's own thread count may differ (n_threads=None: its node's cores)
    "n_threads": ({"n_threads": None}, None),
    # the last rank cannot read X: every rank raises
    "unreadable": ({}, "unreadable"),
}


def _changed_X(X, how):
    import scipy.sparse as sp

    import fastbp

    if how == "shift":           # another shard of the same shape
        return X[::-1].copy()
    if how == "one_row":         # one row differs, in the last bits
        X = X.copy()
        X[300] = np.nextafter(X[300], np.inf)
        return X
    if how == "float32":
        return X.astype(np.float32)
    if how == "sparse":
        return sp.csr_matrix(X)
    if how == "stream":
        return fastbp.stream(X, window_bytes=X.nbytes // 4, blocks_per_window=4)
    return X


def disagree(comm, out_dir, what):
    import fastbp

    X, y = data()
    params, how = DISAGREE[what]
    kw = base()
    if how == "unreadable":
        X = _changed_X(X, "stream")
        if comm.rank == comm.size - 1:
            def unreadable(start, stop, out):
                raise OSError("X cannot be read on the last rank")
            X.read = unreadable
    elif comm.rank == comm.size - 1:
        kw.update(params)
        X = _changed_X(X, how)
    try:
        with fastbp.data_parallel(comm):
            fastbp.MLPClassifier(**kw).fit(X, y)
        got = "fitted"
    except Exception as exc:   # noqa: BLE001 - written for the test to read
        got = f"{type(exc).__name__}: {exc}"
    with open(f"{out_dir}/rank{comm.rank}.txt", "w") as f:
        f.write(got)


def fail(comm, what):
    """The last rank fails mid-fit (after the check, after some batches)."""
    import fastbp
    from fastbp import _parallel, _stream

    X, y = data(np.float32)
    last = comm.rank == comm.size - 1
    if last and what == "batch":
        combine = _parallel.MPIRunner._combine

        def bad_batch(self, K):
            if self.steps == 7:
                raise ValueError("a bad batch on the last rank")
            return combine(self, K)
        _parallel.MPIRunner._combine = bad_batch
    if last and what in ("reader", "memory"):
        read_rows = _stream.Source.read_rows
        calls = []

        def failing_read(self, idx, dtype, out=None):
            calls.append(1)
            if len(calls) == 3:   # in the reader thread, a window of epoch 1
                if what == "memory":
                    raise MemoryError("the reader of the last rank ran out")
                raise OSError("the reader of the last rank failed")
            return read_rows(self, idx, dtype, out)
        _stream.Source.read_rows = failing_read
    src = fastbp.stream(X, window_bytes=X.nbytes // 4, blocks_per_window=4)
    with fastbp.data_parallel(comm):
        fastbp.MLPClassifier(**base(max_iter=20)).fit(src, y)


def main(out_dir, mode, arg):
    from mpi4py import MPI

    warnings.simplefilter("ignore")
    comm = MPI.COMM_WORLD
    if mode == "disagree":
        disagree(comm, out_dir, arg)
    else:
        fail(comm, arg)


if __name__ == "__main__":
    main(*sys.argv[1:4])
