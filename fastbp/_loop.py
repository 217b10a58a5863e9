"""The one epoch loop: in memory, out of core and over MPI ranks.

The estimator (fastbp/_estimators.py) validates X, y, the sample weights
and the model, then hands the fit to :func:`fit`. Two pluggable parts make
every kind of fit the same loop:

- the data: :class:`ArrayData` (rows in memory, the estimator's shuffle)
  or ``fastbp._stream.StreamData`` (X out of core, read window by window).
  ``data.epoch(est, runner)`` trains one epoch over it, one block of rows
  at a time;
- the runner: :class:`LocalRunner` (one process: each block is one
  compiled ``Trainer.epoch`` call) or ``fastbp._parallel.MPIRunner`` (a
  Python loop over mini-batches whose gradient sums are combined over the
  ranks before each ``Trainer.step``).

Around the epoch, :func:`fit_stochastic` does what scikit-learn's epoch
loop does (loss curve, early stopping, learning-rate schedules, verbose
output), plus progress bars, scikit-learn's callbacks and divergence
checks; every decision is taken from numbers all ranks share. The
bookkeeping itself lives in fastbp/_solver.py.
"""
import math
import warnings

import numpy as np
import scipy.sparse
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.optimize import _check_optimize_result

from fastbp import _parallel, _solver, _stream
from fastbp._callbacks import EpochTasks
from fastbp._network import prepare_input
from fastbp._progress import EpochProgress


def stand_in(X, est, first_pass):
    """(X, None) for in-memory X; for out-of-core X, (a read-only array of
    X's shape that holds no memory, the stream source). A warm or partial
    fit gives the stand-in its model's dtype (casting it would allocate)."""
    source = _stream.as_source(X)
    if source is None:
        return X, None
    if est.solver == "lbfgs" and source.X is X and source.kind == "memmap":
        return X, None    # lbfgs needs every row each step: read through the mapping
    dtype = (est._train_dtype(source.dtype) if first_pass
             else est._synced_network().dtype)
    fake = np.broadcast_to(np.zeros(1, dtype=dtype), source.shape)
    return fake, source


def fit(est, source, X, y, sample_weight, incremental, n_threads):
    """Train est (initialized by the estimator) on X, or on source when X
    is its stand-in. y is the binarized / 2-D target, in memory."""
    comm = _parallel.current()
    if comm is None:
        runner = LocalRunner(est, n_threads)
    else:
        runner = _parallel.MPIRunner(est, n_threads, comm)
    runner.agree(X.shape, y, sample_weight, X=X, source=source)
    if source is not None:
        data = _stream.StreamData(source, y, sample_weight, est._net.dtype)
    else:
        data = ArrayData(X, y, sample_weight, est._net.dtype)
    if est.solver == "lbfgs":
        if source is not None:
            raise ValueError(
                "solver='lbfgs' needs the whole data in memory; out-of-core "
                "X trains with a stochastic solver ('adam', 'sgd', ...)")
        return runner.fit_lbfgs(data)
    return fit_stochastic(est, data, runner, incremental)


class ArrayData:
    """In-memory rows: the estimator's own shuffle, one block per epoch."""

    def __init__(self, X, y, sample_weight, dtype):
        self.X, self.y, self.sw, self.dtype = X, y, sample_weight, dtype
        self.sparse = scipy.sparse.issparse(X)

    def split_validation(self, est):
        """Hold out the validation rows as scikit-learn does; keep the rest."""
        X, y, sw = self.X, self.y, self.sw
        stratify = y if (is_classifier(est) and est.n_outputs_ == 1) else None
        arrays = [X, y] if sw is None else [X, y, sw]
        split = train_test_split(*arrays, random_state=est._random_state,
                                 test_size=est.validation_fraction,
                                 stratify=stratify)
        self.X, X_val, self.y, y_val = split[:4]
        sw_val = None
        if sw is not None:
            self.sw, sw_val = split[4:]
        return X_val, y_val, sw_val

    @property
    def n_train(self):
        return self.X.shape[0]

    def begin(self):
        self.Y = np.ascontiguousarray(self.y, dtype=self.dtype)
        self.swc = (None if self.sw is None
                    else np.ascontiguousarray(self.sw, dtype=self.dtype))
        self.prepared = prepare_input(self.X, self.dtype)
        self.perm = np.arange(self.n_train, dtype=np.intp)

    def epoch(self, est, runner):
        n = self.n_train
        if est.shuffle:
            # The draws of scikit-learn's sklearn.utils.shuffle(perm,
            # random_state=...) (a shuffled arange indexing the previous
            # order), without its ~100 us of overhead: the same RandomState
            # gives the same mini-batches as scikit-learn's.
            order = np.arange(n, dtype=np.intp)
            est._random_state.shuffle(order)
            self.perm = self.perm[order]
        return runner.train(self.X, self.prepared, self.Y, self.swc, self.perm)

    def check_rows(self):
        """The training rows for the after-fit sanity check."""
        sw = np.empty(0, dtype=self.dtype) if self.swc is None else self.swc
        return self.X, self.Y, sw

    def end(self):
        pass


class LocalRunner:
    """One process: each block of rows is one compiled epoch call."""

    rank, size, root = 0, 1, True

    def __init__(self, est, n_threads):
        self.est = est
        self.n_threads = n_threads
        self.rows_done = 0

    def agree(self, shape, y, sample_weight, *, X=None, source=None):
        pass

    def combine_decision(self, value):
        return value

    def setup(self, opt, batch_size, sparse):
        # the estimator's own compiled Trainer (kept across partial_fit calls)
        self.opt = opt
        self.trainer = _solver.make_trainer(self.est, opt, batch_size,
                                            self.n_threads, sparse=sparse)

    def train(self, X, prepared, Y, sw, perm):
        """Mini-batches over rows perm of (X, Y, sw), in place, by one
        compiled call; returns the sum over batches of batch loss * rows."""
        net, opt, trainer = self.est._net, self.opt, self.trainer
        if sw is None:
            sw = np.empty(0, dtype=net.dtype)
        trainer.lr = opt.learning_rate
        try:
            return trainer.epoch(prepared, Y, sw, perm,
                                 float(self.est.alpha))
        finally:
            # also after Ctrl-C within the call: the mini-batches done
            opt.t = trainer.t
            self.rows_done += trainer.rows_done

    def fit_lbfgs(self, data):
        """scipy's L-BFGS-B over the loss and gradient of all the rows."""
        est, net, n_threads = self.est, self.est._net, self.n_threads
        X = data.X
        Y = np.ascontiguousarray(data.y, dtype=net.dtype)
        sw = (np.empty(0, dtype=net.dtype) if data.sw is None
              else np.ascontiguousarray(data.sw, dtype=net.dtype))
        rows = min(256, X.shape[0])
        buffers = net._workspace(rows, min(n_threads, -(-X.shape[0] // rows)),
                                sparse=scipy.sparse.issparse(X))
        grad = np.empty(net.n_params, dtype=net.dtype)
        w32 = np.empty(net.n_params, dtype=net.dtype)
        best = {"loss": np.inf, "w": None, "evals": 0}

        def loss_grad(w):
            np.copyto(w32, w, casting="unsafe")
            loss = net._full_pass(X, Y, sw, est.alpha, grad=grad, params=w32,
                                  n_threads=n_threads, rows=rows, buffers=buffers)
            best["evals"] += 1
            if loss < best["loss"]:  # the best iterate, kept for Ctrl-C
                best["loss"], best["w"] = loss, w32.copy()
            return loss, grad.astype(np.float64)

        iprint = 1 if (est.verbose is True or est.verbose >= 1) else -1
        try:
            res = _solver.minimize_lbfgs(est, loss_grad, net.params, iprint)
        except KeyboardInterrupt:
            if best["w"] is not None:
                net.params[...] = best["w"]
                est.loss_ = float(best["loss"])
            est.n_iter_ = 0
            warnings.warn(
                "Training interrupted by user: L-BFGS stopped after "
                f"{best['evals']} loss evaluations; the model holds the best "
                "iterate found so far.")
            return
        est.n_iter_ = _check_optimize_result("lbfgs", res, est.max_iter)
        est.loss_ = float(res.fun)
        net.params[...] = res.x


def fit_stochastic(est, data, runner, incremental):
    """The epoch loop of the stochastic solvers over a pluggable epoch;
    every stopping decision is taken from numbers that all ranks share."""
    net = est._net
    opt = _solver.start_stochastic(est, incremental)
    early_stopping = est.early_stopping
    X_val = y_val = sw_val = sw_val_c = Y_val = scorer = None
    if early_stopping:
        X_val, y_val, sw_val = data.split_validation(est)
        Y_val, y_val, scorer = _solver.validation_targets(est, X_val, y_val)
        sw_val_c = (None if sw_val is None
                    else np.ascontiguousarray(sw_val, dtype=net.dtype))

    # the rows whose scale a divergence message judges (out-of-core X is
    # not read again for it)
    cause_X = data.X if isinstance(data, ArrayData) else np.zeros((0, 0))
    n_samples = data.n_train
    runner.setup(opt, _solver.batch_size(est, n_samples), data.sparse)
    verbose = est.verbose and runner.root
    progress = EpochProgress(
        est.progress if (runner.root and not est.verbose) else False,
        total=1 if incremental else est.max_iter, desc=type(est).__name__)
    # scikit-learn's callbacks, if any, in one process (a callback that
    # stops one rank would leave the others waiting)
    callbacks = EpochTasks(est) if runner.size == 1 else None
    data.begin()
    try:
        est.n_iter_ = 0
        for it in range(est.max_iter):
            if callbacks is not None:
                callbacks.begin()
            done = runner.rows_done
            try:
                loss_sum = data.epoch(est, runner)
            finally:
                est.t_ += runner.rows_done - done
            est.n_iter_ += 1
            est.loss_ = loss_sum / n_samples
            est.loss_curve_.append(est.loss_)
            diverged = not math.isfinite(est.loss_)
            if diverged and not early_stopping:
                # the weights are lost: stop now; the estimator puts back
                # the model from before this call
                raise ValueError(
                    f"{_solver.NON_FINITE} Training diverged: the loss became "
                    f"{est.loss_} at epoch {est.n_iter_}; "
                    f"{_solver.divergence_cause(est, cause_X)}. The model is "
                    f"left as it was before this call. {_solver.SEE_GUIDE}")
            if verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            val_loss = None
            if early_stopping:
                # the same weights on every rank give the same numbers; the
                # root's are broadcast all the same, so that no rank can
                # take another decision
                val_loss = net._full_pass(X_val, Y_val, sw_val_c, 0.0,
                                          n_threads=runner.n_threads)
                val_score = _solver.validation_score(est, X_val, y_val, sw_val,
                                                     scorer)
                val_loss, val_score = runner.combine_decision((val_loss, val_score))
                est.validation_loss_curve_.append(val_loss)
                _solver.record_validation(est, val_score, verbose)
            else:
                _solver.record_loss(est)
            progress.update(est.loss_, val_loss,
                            est.validation_scores_[-1] if early_stopping else None)
            _solver.schedule_iteration_ends(est, opt)
            if callbacks is not None and callbacks.end():
                break

            if est._no_improvement_count > est.n_iter_no_change:
                msg = _solver.no_improvement_message(est)
                saved, est.verbose = est.verbose, verbose
                try:
                    stop = _solver.trigger_stopping(est, opt, msg)
                finally:
                    est.verbose = saved
                if stop:
                    break
                est._no_improvement_count = 0

            if diverged:  # early stopping: back to its best model below
                warnings.warn(
                    f"Training diverged: the loss became {est.loss_} at "
                    f"epoch {est.n_iter_}; {_solver.divergence_cause(est, cause_X)}. "
                    "Training stopped; the model is the best one before "
                    f"that (by validation score). {_solver.SEE_GUIDE}",
                    RuntimeWarning)
                break
            if incremental:
                break
            if est.n_iter_ == est.max_iter and runner.root:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet. "
                    "%s" % (est.max_iter, _solver.SEE_GUIDE),
                    ConvergenceWarning)
    except KeyboardInterrupt:
        if runner.size > 1:
            raise   # the other ranks cannot be told: abort (python -m mpi4py)
        warnings.warn(
            "Training interrupted by user: the model holds the weights "
            f"of the mini-batches done ({est.n_iter_} whole epochs, "
            f"t_={est.t_} samples seen).")
    finally:
        progress.close()
        data.end()
    if early_stopping:
        net.params[...] = est._best_params
    check = getattr(data, "check_rows", None)
    if (check is not None and runner.size == 1 and not incremental
            and est.n_iter_ > 0 and math.isfinite(getattr(est, "loss_", math.nan))):
        _solver.warn_if_exploded(est, *check(), runner.n_threads)
