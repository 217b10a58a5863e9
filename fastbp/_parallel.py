"""Data-parallel training over MPI (mpi4py): synchronous SGD.

Usage: run the same script on every rank (``mpiexec -n 4 python -m mpi4py
train.py``) with the fit inside :func:`data_parallel`::

    from mpi4py import MPI
    import fastbp

    with fastbp.data_parallel(MPI.COMM_WORLD):
        clf.fit(X, y)

Every rank holds (or can read) the same X and y. All ranks draw the same
global mini-batches (the same ``random_state``: with ``random_state=None``
rank 0's seed and initial weights are broadcast). For each mini-batch, rank
r computes the gradient sums of its cut of the batch's rows (the row split
of one process: rows ``floor(m * r / K) .. floor(m * (r + 1) / K)`` of an
m-row batch cut into K = P parts, fewer for a batch with little work, as
one process would) with ``Trainer.gradient``, and one Allgather brings every
rank the slots (each rank's gradient sums with its weighted loss and weight
sums in the same message). Each rank then adds the slots in rank order,
((g0 + g1) + g2) + ..., inside ``Trainer.step``'s fused update: the
weights stay bitwise equal on every rank and from run to run (MPI's
Allreduce promises no summation order, so it is not used for the
gradients). lbfgs combines the full-data loss and gradient the same way.
Out-of-core X (fastbp/_stream.py) works too: every rank draws the same
windows and row orders, and reads only the rows of its cuts. Early stopping, schedules and the loss curve use the combined
numbers; the validation score is broadcast from rank 0, so no rank can
leave the loop alone. verbose and the progress bar print on rank 0 only.

A rank that raises leaves the others waiting inside a collective: run the
script under ``python -m mpi4py``, which aborts every rank when one raises.
"""
import contextlib
import contextvars
import os
import time

import numpy as np

from fastbp import _agreement, _solver
from fastbp._threads import blas_limited

_COMM = contextvars.ContextVar("fastbp_data_parallel", default=None)

#: The runner of this process's latest data-parallel fit (its ``steps`` and
#: ``comm_seconds``, the time spent in the gradient Allgather).
last_run = None


@contextlib.contextmanager
def data_parallel(comm=None):
    """Train every fastbp fit inside this block data-parallel over `comm`.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, default=None
        The ranks that train together (each runs the same fit on the same
        data). None: ``MPI.COMM_WORLD``.

    Yields
    ------
    comm : mpi4py.MPI.Comm

    Notes
    -----
    The estimator's parameters do not change (clone, pickle and get_params
    work as usual): the communicator lives in this context only.

    Agreement: before the first mini-batch, one allgather checks that every
    rank fits the same estimator (every parameter but verbose, progress and
    n_threads) on the same data (``classes_``, y, sample_weight, and X's shape,
    dtype, kind and a CRC of its rows); a difference raises the same
    ValueError on every rank, naming it (fastbp/_agreement.py). A rank
    that fails during training cannot tell the others: run under
    ``python -m mpi4py``, which then aborts every rank.

    Threads: with ``n_threads=None`` each rank uses the cores of its node
    shared out among the ranks on that node (one thread per rank when the
    ranks outnumber the cores); an explicit ``n_threads`` is used as is.

    Equivalence: all ranks, and repeated runs with the same rank count and
    random_state, end with bitwise the same weights. P ranks compute and
    combine exactly what one process with ``n_threads=P`` computes when it
    cuts each mini-batch over its threads by rows (the row split): the
    weights are bitwise that process's (tested for every stochastic solver,
    sample and class weights, early stopping, schedules, warm_start and
    partial_fit). Like that process, a mini-batch with less work than
    about 4 Mflop per part is cut into fewer parts, and the ranks past
    them wait for that batch. Where one process would pick the layer split
    instead (wide layers, and always for sparse X), the ranks still split
    rows: the weights then agree to rounding (1e-12 relative in float64).
    lbfgs combines each rank's full-data loss and gradient over its row cut
    and agrees with one process to rounding.

    Examples
    --------
    The same script runs on every rank, e.g. ``mpiexec -n 4 python -m
    mpi4py train.py``; here one rank (``COMM_SELF``), which trains as one
    process on one thread does:

    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> from sklearn.datasets import load_digits
    >>> import fastbp
    >>> X, y = load_digits(return_X_y=True)
    >>> with fastbp.data_parallel(MPI.COMM_SELF) as comm:
    ...     clf = fastbp.MLPClassifier(max_iter=5, random_state=0).fit(X / 16, y)
    >>> comm.Get_size()
    1
    >>> one = fastbp.MLPClassifier(max_iter=5, random_state=0, n_threads=1).fit(X / 16, y)
    >>> all(np.array_equal(a, b) for a, b in zip(clf.coefs_, one.coefs_))
    True
    """
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    token = _COMM.set(comm)
    try:
        yield comm
    finally:
        _COMM.reset(token)


def current():
    """The communicator of the enclosing data_parallel block, or None."""
    return _COMM.get()


def cut(m, r, P):
    """Start of part r of m rows cut in P parts (the row split)."""
    return (m * r) // P


def _node_ranks(comm):
    try:
        from mpi4py import MPI

        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_size()
        finally:
            node.Free()
    except Exception:   # pragma: no cover - not an MPI-3 communicator
        return 1


def _threads_per_rank(comm, node_ranks=None):
    """n_threads=None under data_parallel: the cores this rank may use; when
    nothing narrowed them (an affinity mask set by the launcher, a quota,
    OMP_NUM_THREADS), the node's cores shared out among its ranks
    (node_ranks, or counted over comm)."""
    from fastbp._threads import available_cores

    cores = available_cores()
    if cores >= (os.cpu_count() or cores):
        if node_ranks is None:
            node_ranks = _node_ranks(comm)
        cores = max(1, cores // node_ranks)
    return cores


def n_parts(m, work_per_row, P, min_work):
    """Parts a mini-batch of m rows is cut into: what one process with
    n_threads=P does (n_chunks_for in fastbp/_core/_backprop.pyx), so that
    P ranks reproduce its sums; ranks past the parts idle on this batch."""
    c = min(P, m)
    if min_work > 0 and work_per_row > 0:
        c = min(c, (m * work_per_row) // min_work)
    return max(1, c)


# -- the runner --------------------------------------------------------------

class MPIRunner:
    """Mini-batches whose gradient is combined over the ranks of comm."""

    def __init__(self, est, n_threads, comm):
        self.est, self.comm = est, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.root = self.rank == 0
        # (a collective: made by every rank, whatever its own n_threads)
        node_ranks = _node_ranks(comm)
        if est.n_threads is None:
            n_threads = _threads_per_rank(comm, node_ranks)
        self.n_threads = n_threads
        self.comm_seconds = 0.0    # time spent in the gradient Allgather
        self.steps = 0
        self.rows_done = 0         # rows of the mini-batches stepped, all ranks'
        global last_run
        last_run = self            # for benchmarks: steps and comm time

    def agree(self, shape, y, sample_weight, *, X=None, source=None):
        """Every rank must fit the same estimator on the same data (one
        allgather, fastbp/_agreement.py: a difference is the same ValueError
        on every rank); with random_state=None they take rank 0's seed and
        initial weights."""
        est, comm = self.est, self.comm
        _agreement.check(comm, est, X, source, y, sample_weight, shape=shape)
        if est.random_state is None:
            seed = comm.bcast(
                int(est._random_state.randint(np.iinfo(np.int32).max))
                if self.root else None, root=0)
            est._random_state = np.random.RandomState(seed)
            comm.Bcast(est._net.params, root=0)

    def combine_decision(self, value):
        return self.comm.bcast(value, root=0)

    def setup(self, opt, batch_size, sparse):
        net = self.est._net
        self.opt = opt
        self.batch_size = batch_size
        self.min_work = _solver.MIN_WORK_PER_THREAD
        # One thread computes this rank's part (as one thread of a process
        # computes one row part); the update may use the rank's threads.
        self.trainer = _solver.make_trainer(self.est, opt, batch_size,
                                            self.n_threads, sparse=sparse,
                                            one_part=True)
        itemsize = net.dtype.itemsize
        self.extra = -(-16 // itemsize)     # loss and weight sums, 2 doubles
        n = net.n_params
        P = self.size
        self.send = np.zeros(n + self.extra, dtype=net.dtype)
        self.recv = np.zeros((P, n + self.extra), dtype=net.dtype)
        self.G = np.zeros((P, n), dtype=net.dtype)

    def _combine(self, K):
        """Allgather of every rank's slot with its loss and weight sums;
        returns the first K slots (contiguous) and their loss sum, added
        in rank order."""
        n = self.est._net.n_params
        t0 = time.perf_counter()
        self.comm.Allgather(self.send, self.recv)
        self.comm_seconds += time.perf_counter() - t0
        self.steps += 1
        G = self.G[:K]
        np.copyto(G, self.recv[:K, :n])
        sums = self.recv[:K, n:].copy().view(np.float64)
        loss = 0.0
        for c in range(K):   # rank order, as the threads' parts are added
            loss += float(sums[c, 0])
        return G, loss

    def rows_needed(self, perm):
        """The positions of perm's rows that this rank's cuts of the
        mini-batches over perm use (sorted)."""
        n = perm.shape[0]
        bs = min(self.batch_size, n)
        P, r = self.size, self.rank
        work = 6 * self.est._net.n_coef
        parts = []
        for start in range(0, n, bs):
            m = min(bs, n - start)
            K = n_parts(m, work, P, self.min_work)
            if r < K:
                parts.append(perm[start + cut(m, r, K):start + cut(m, r + 1, K)])
        if not parts:
            return np.empty(0, dtype=np.intp)
        return np.sort(np.concatenate(parts))

    def train(self, X, prepared, Y, sw, perm, local=None, sw_window=None):
        """Mini-batches over perm, each cut over the ranks. With `local`,
        X, Y and sw hold only this rank's rows: row perm[i] of the batch
        is row local[perm[i]] of X; sw_window then gives every row's
        weight (for the batches' weight sums)."""
        est, net, opt, tr = self.est, self.est._net, self.opt, self.trainer
        n = perm.shape[0]
        bs = min(self.batch_size, n)
        P, r = self.size, self.rank
        work = 6 * net.n_coef
        alpha = float(est.alpha)
        swa = np.empty(0, dtype=net.dtype) if sw is None else sw
        gout = self.send[:net.n_params]
        tail = self.send[net.n_params:].view(np.float64)
        empty = np.empty(0, dtype=np.intp)
        total = 0.0
        done = 0
        tr.lr = opt.learning_rate
        tr.begin(alpha)
        try:
            with blas_limited(self.n_threads, always=True):
                for start in range(0, n, bs):
                    m = min(bs, n - start)
                    K = n_parts(m, work, P, self.min_work)
                    if r < K:
                        rows = perm[start + cut(m, r, K):start + cut(m, r + 1, K)]
                        if local is not None:
                            rows = local[rows]
                    else:
                        rows = empty
                    tail[0], tail[1] = tr.gradient(prepared, Y, swa, rows,
                                                   gout)
                    G, loss = self._combine(K)
                    # the batch's weight sum in one process's order (every
                    # rank holds the weights): bitwise its 1 / sum(sw)
                    swb = sw if local is None else sw_window
                    if swb is None:
                        sw_sum = float(m)
                    else:
                        sw_sum = float(np.cumsum(swb[perm[start:start + m]],
                                                 dtype=np.float64)[-1])
                    if not sw_sum > 0:
                        done += m
                        continue   # every row weighs 0: no step (as in one process)
                    total += tr.step(G, loss, sw_sum, alpha) * m
                    done += m
        finally:
            opt.t = tr.t
            self.rows_done += done
        return total

    def fit_lbfgs(self, data):
        """scipy's L-BFGS-B on every rank, from the loss and gradient
        combined over the ranks' row cuts of the whole data."""
        from sklearn.utils.optimize import _check_optimize_result

        est, net = self.est, self.est._net
        X, y, sw = data.X, data.y, data.sw
        Y = np.ascontiguousarray(y, dtype=net.dtype)
        swa = None if sw is None else np.ascontiguousarray(sw, dtype=net.dtype)
        n = X.shape[0]
        P, r = self.size, self.rank
        rows = np.arange(cut(n, r, P), cut(n, r + 1, P), dtype=np.intp)
        Xc = X[rows]
        Yc = Y[rows]
        swc = None if swa is None else swa[rows]
        nP = net.n_params
        nc = net.n_coef
        send = np.zeros(nP + 2, dtype=np.float64)
        recv = np.zeros((P, nP + 2), dtype=np.float64)
        grad = np.empty(nP, dtype=net.dtype)
        alpha = float(est.alpha)

        def loss_grad(w):
            np.copyto(net.params, w, casting="unsafe")
            if len(rows):
                loss = net._full_pass(Xc, Yc, swc, 0.0, grad=grad,
                                      n_threads=self.n_threads)
                s = float(len(rows)) if swc is None else float(
                    np.sum(swc, dtype=np.float64))
                send[:nP] = grad
                send[:nP] *= s
                send[nP], send[nP + 1] = loss * s, s
            else:
                send[...] = 0
            self.comm.Allgather(send, recv)
            total = recv[0].copy()
            for c in range(1, P):
                total += recv[c]
            sw_sum = total[nP + 1]
            wv = net.params[:nc].astype(np.float64)
            loss = (total[nP] + 0.5 * alpha * float(np.dot(wv, wv))) / sw_sum
            g = total[:nP]
            g[:nc] += alpha * wv
            g /= sw_sum
            return loss, g

        iprint = 1 if ((est.verbose is True or est.verbose >= 1)
                       and self.root) else -1
        with blas_limited(self.n_threads, always=True):
            res = _solver.minimize_lbfgs(est, loss_grad, net.params, iprint)
        if self.root:
            est.n_iter_ = _check_optimize_result("lbfgs", res, est.max_iter)
        else:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.n_iter_ = _check_optimize_result("lbfgs", res, est.max_iter)
        est.loss_ = float(res.fun)
        net.params[...] = res.x


__all__ = ["data_parallel", "current", "cut"]
