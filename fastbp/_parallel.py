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
of one process: rows ``floor(m * r / P) .. floor(m * (r + 1) / P)`` of an
m-row batch), and one Allgather brings every rank the P slots (the gradient
sums with the weighted loss and weight sums in the same message). Each rank
then adds the slots in rank order, ((g0 + g1) + g2) + ..., and applies the
same optimizer update: the weights stay bitwise equal on every rank and
from run to run (MPI's Allreduce promises no summation order, so it is not
used for the gradients). lbfgs combines the full-data loss and gradient the
same way. Early stopping, schedules and the loss curve use the combined
numbers; the validation score is broadcast from rank 0, so no rank can
leave the loop alone. verbose and the progress bar print on rank 0 only.

A rank that raises leaves the others waiting inside a collective: run the
script under ``python -m mpi4py``, which aborts every rank when one raises.
"""
import contextlib
import contextvars
import os
import zlib

import numpy as np

from fastbp._core import _backprop, _optim
from fastbp._network import prepare_input
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

    Threads: with ``n_threads=None`` each rank uses the cores of its node
    shared out among the ranks on that node (one thread per rank when the
    ranks outnumber the cores); an explicit ``n_threads`` is used as is.

    Equivalence: P ranks compute and combine what one process with
    ``n_threads=P`` computes when it splits each mini-batch over P threads
    by rows. The gradient sums currently come through a rescaling of the
    compiled full-pass gradient, so the weights match that process to about
    1e-12 relative in float64 (tested), not bitwise; all ranks, and repeated
    runs with the same rank count and random_state, are bitwise equal.
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


# -- the adapter over the compiled core --------------------------------------
# Only these two functions touch the compiled interface.

def _grad_sums(net, X, Y, sw, rows, work, out):
    """Gradient sums over rows `rows` of (X, Y, sw): out[:] = sum over the
    rows of sw * dloss/dparams (no L2 term, no scaling). Returns (weighted
    loss sum, weight sum)."""
    m = len(rows)
    if m == 0:
        out[...] = 0
        return 0.0, 0.0
    Xc = X[rows]
    Xd, data, ind, ptr = prepare_input(Xc, net.dtype)
    Yc = Y[rows]
    swc = np.empty(0, dtype=net.dtype) if sw is None else sw[rows]
    G, ws, cap = work     # workspace for up to cap rows in one chunk
    empty2 = np.empty((0, 0), dtype=net.dtype)
    loss = _backprop.loss_grad(
        Xd, data, ind, ptr, Yc, swc, net.params, net._sizes,
        net._hidden_code, net._out_code, 0.0, G, ws, cap, out, empty2, 1)
    sw_sum = float(m) if sw is None else float(np.cumsum(swc, dtype=np.float64)[-1])
    # loss_grad returns the mean: back to sums (exact once the compiled
    # core returns the sums themselves)
    out *= net.dtype.type(sw_sum)
    return loss * sw_sum, sw_sum


def _apply_step(est, opt, slots, sw_sum):
    """One optimizer update from the gradient-sum slots (k, n_params),
    summed in slot order, then the L2 term and 1 / sw_sum, as the compiled
    epoch's fused update does."""
    net = est._net
    p = net.params
    g = slots[0].copy()
    for c in range(1, slots.shape[0]):
        g += slots[c]
    t = net.dtype.type
    nc = net.n_coef
    l2 = 0.0 if est.solver == "adamw" else float(est.alpha)
    scale = t(1.0 / sw_sum)
    if l2 != 0:
        g[:nc] += t(l2) * p[:nc]
    g *= scale
    opt.t = _optim.step(
        opt.kind, p, g, opt.s1, opt.s2, nc, opt.t, opt.learning_rate,
        float(est.momentum), bool(est.nesterovs_momentum), float(est.beta_1),
        float(est.beta_2), float(est.epsilon), float(est.alpha))


# -- the runner --------------------------------------------------------------

class MPIRunner:
    """Mini-batches whose gradient is combined over the ranks of comm."""

    def __init__(self, est, n_threads, comm):
        self.est, self.comm = est, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.root = self.rank == 0
        if est.n_threads is None:
            n_threads = max(1, (os.cpu_count() or 1) // _node_ranks(comm))
        self.n_threads = n_threads
        self.comm_seconds = 0.0    # time spent in the gradient Allgather
        self.steps = 0
        global last_run
        last_run = self            # for benchmarks: steps and comm time

    def agree(self, shape, y, sample_weight):
        """Every rank must hold the same data; with random_state=None they
        take rank 0's seed and initial weights."""
        est, comm = self.est, self.comm
        sig = (tuple(shape), zlib.crc32(np.ascontiguousarray(y).view(np.uint8)),
               None if sample_weight is None else
               zlib.crc32(np.ascontiguousarray(sample_weight).view(np.uint8)))
        sigs = comm.allgather(sig)
        if any(s != sigs[0] for s in sigs):
            raise ValueError(
                "data_parallel: the ranks were given different data (shape, "
                f"y or sample_weight differ: {sigs}); every rank must fit "
                "the same X, y and sample_weight")
        if est.random_state is None:
            seed = comm.bcast(
                int(est._random_state.randint(np.iinfo(np.int32).max))
                if self.root else None, root=0)
            est._random_state = np.random.RandomState(seed)
            comm.Bcast(est._net.params, root=0)

    def combine_decision(self, value):
        return self.comm.bcast(value, root=0)

    def setup(self, opt, batch_size):
        net = self.est._net
        self.opt = opt
        self.batch_size = batch_size
        P = self.size
        rows = max(1, -(-batch_size // P))
        G, ws = net.workspace(rows, 1)
        self.work = (G, ws, rows)
        itemsize = net.dtype.itemsize
        self.extra = -(-16 // itemsize)     # loss and weight sums, 2 doubles
        n = net.n_params
        self.send = np.zeros(n + self.extra, dtype=net.dtype)
        self.recv = np.zeros((P, n + self.extra), dtype=net.dtype)

    def _combine(self):
        """Allgather of the slots; returns (slots, loss sum, weight sum)."""
        import time

        n = self.est._net.n_params
        t0 = time.perf_counter()
        self.comm.Allgather(self.send, self.recv)
        self.comm_seconds += time.perf_counter() - t0
        self.steps += 1
        sums = self.recv[:, n:].copy().view(np.float64)[:, :2]
        loss = 0.0
        sw = 0.0
        for c in range(self.size):   # rank order
            loss += float(sums[c, 0])
            sw += float(sums[c, 1])
        return self.recv[:, :n], loss, sw

    def train(self, X, prepared, Y, sw, perm):
        est, net, opt = self.est, self.est._net, self.opt
        n = perm.shape[0]
        bs = min(self.batch_size, n)
        P, r = self.size, self.rank
        nc = net.n_coef
        alpha_loss = 0.0 if est.solver == "adamw" else float(est.alpha)
        total = 0.0
        gout = self.send[:net.n_params]
        tail = self.send[net.n_params:].view(np.float64)
        with blas_limited(self.n_threads, always=True):
            for start in range(0, n, bs):
                m = min(bs, n - start)
                rows = perm[start + cut(m, r, P):start + cut(m, r + 1, P)]
                loss_r, sw_r = _grad_sums(net, X, Y, sw, rows, self.work, gout)
                tail[0], tail[1] = loss_r, sw_r
                slots, loss, sw_sum = self._combine()
                if sw_sum <= 0:
                    continue   # every row weighs 0: no step (as in one process)
                wsq = 0.0
                if alpha_loss != 0:
                    w = net.params[:nc].astype(np.float64)
                    wsq = float(np.dot(w, w))
                total += (loss + 0.5 * alpha_loss * wsq) / sw_sum * m
                _apply_step(est, opt, slots, sw_sum)
        return total

    def fit_lbfgs(self, data):
        """scipy's L-BFGS-B on every rank, from the loss and gradient
        combined over the ranks' row cuts of the whole data."""
        import scipy.optimize
        from sklearn.utils.optimize import _check_optimize_result

        from fastbp._estimators import _lbfgs_options

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
            res = scipy.optimize.minimize(
                loss_grad, net.params.astype(np.float64), method="L-BFGS-B",
                jac=True,
                options={"maxfun": est.max_fun, "maxiter": est.max_iter,
                         "gtol": est.tol, **_lbfgs_options(iprint)})
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
