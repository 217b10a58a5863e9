"""Training past one process and past memory: the dispatch and epoch driver.

The estimator (fastbp/_estimators.py) validates y, the sample weights and
the model as usual and hands two cases to this module:

- X that does not live in memory (np.memmap, h5py dataset, zarr array,
  dask array, or ``fastbp.stream(X, ...)``): validated through a zero-cost
  stand-in of the right shape, then read window by window
  (fastbp/_stream.py);
- a fit inside ``fastbp.data_parallel(comm)`` (fastbp/_parallel.py): every
  mini-batch's gradient is summed over the ranks.

Both run the epoch loop below, which does per epoch what the estimator's
own loop does (loss curve, early stopping, schedules, verbose, progress)
around a pluggable epoch: ``data.epoch(runner)`` streams windows or
shuffles the in-memory rows, and ``runner.train(...)`` trains a block of
rows in memory, by one compiled call (one process: ``Trainer.epoch``) or by
a Python loop over mini-batches whose gradient sums (``Trainer.gradient``)
are combined over MPI before each ``Trainer.step``.
"""
import warnings

import numpy as np
import scipy.sparse
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastbp._network import prepare_input
from fastbp._progress import EpochProgress


def stand_in(X, est, first_pass):
    """(X, None) for in-memory X; for out-of-core X, (a read-only array of
    X's shape that holds no memory, the stream source). A warm or partial
    fit gives the stand-in its model's dtype (casting it would allocate)."""
    from fastbp import _stream

    source = _stream.as_source(X)
    if source is None:
        return X, None
    if est.solver == "lbfgs" and source.X is X and source.kind == "memmap":
        return X, None    # lbfgs needs every row each step: read through the mapping
    dtype = source.dtype if first_pass else est._synced_network().dtype
    fake = np.broadcast_to(np.zeros(1, dtype=dtype), source.shape)
    return fake, source


def takes_over(source):
    """Whether this module trains the fit (out-of-core X or an MPI context)."""
    from fastbp import _parallel

    return source is not None or _parallel.current() is not None


def _runner(est, n_threads):
    from fastbp import _parallel

    comm = _parallel.current()
    if comm is None:
        return LocalRunner(est, n_threads)
    return _parallel.MPIRunner(est, n_threads, comm)


def fit(est, source, X, y, sample_weight, incremental, n_threads):
    """Train est (initialized by the estimator) on X, or on source when X
    is its stand-in. y is the binarized / 2-D target, in memory."""
    from fastbp import _stream

    runner = _runner(est, n_threads)
    runner.agree(X.shape, y, sample_weight)
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
        """Hold out the validation rows as the estimator does; keep the rest."""
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
            # the estimator's draws: the same random_state, the same batches
            order = np.arange(n, dtype=np.intp)
            est._random_state.shuffle(order)
            self.perm = self.perm[order]
        return runner.train(self.X, self.prepared, self.Y, self.swc, self.perm)

    def end(self):
        pass


class LocalRunner:
    """One process: each block of rows is one compiled epoch call."""

    rank, size, root = 0, 1, True

    def __init__(self, est, n_threads):
        self.est = est
        self.n_threads = n_threads

    def agree(self, shape, y, sample_weight):
        pass

    def combine_decision(self, value):
        return value

    def setup(self, opt, batch_size, sparse):
        # the estimator's own compiled Trainer (kept across partial_fit calls)
        self.opt = opt
        self.trainer = self.est._trainer_for(self.est._net, opt, batch_size,
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
            opt.t = trainer.t


def fit_stochastic(est, data, runner, incremental):
    """The estimator's epoch loop (BaseMultilayerPerceptron._fit_stochastic)
    over a pluggable epoch; every stopping decision is taken from numbers
    that all ranks share."""
    net = est._net
    opt = est._start_stochastic(incremental)
    early_stopping = est.early_stopping
    X_val = y_val = sw_val = Y_val = scorer = None
    if early_stopping:
        X_val, y_val, sw_val = data.split_validation(est)
        Y_val, y_val, scorer = est._validation_targets(X_val, y_val)
        sw_val = None if sw_val is None else np.ascontiguousarray(sw_val, dtype=net.dtype)

    n_samples = data.n_train
    runner.setup(opt, est._batch_size(n_samples), data.sparse)
    verbose = est.verbose and runner.root
    progress = EpochProgress(
        est.progress if (runner.root and not est.verbose) else False,
        total=1 if incremental else est.max_iter, desc=type(est).__name__)
    data.begin()
    try:
        est.n_iter_ = 0
        for it in range(est.max_iter):
            loss_sum = data.epoch(est, runner)
            est.n_iter_ += 1
            est.loss_ = loss_sum / n_samples
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            val_loss = None
            if early_stopping:
                # the same weights on every rank give the same numbers; the
                # root's are broadcast all the same, so that no rank can
                # take another decision
                val_loss = net._full_pass(X_val, Y_val, sw_val, 0.0,
                                          n_threads=runner.n_threads)
                val_score = _validation_score(est, X_val, y_val, sw_val, scorer)
                val_loss, val_score = runner.combine_decision((val_loss, val_score))
                est.validation_loss_curve_.append(val_loss)
                _record_validation(est, val_score, verbose)
            else:
                est._update_no_improvement_count(False, None, None, None)
            progress.update(est.loss_, val_loss,
                            est.validation_scores_[-1] if early_stopping else None)
            est._schedule_iteration_ends(opt)

            if est._no_improvement_count > est.n_iter_no_change:
                msg = est._no_improvement_message()
                saved, est.verbose = est.verbose, verbose
                try:
                    stop = est._trigger_stopping(opt, msg)
                finally:
                    est.verbose = saved
                if stop:
                    break
                est._no_improvement_count = 0

            if incremental:
                break
            if est.n_iter_ == est.max_iter and runner.root:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet."
                    % est.max_iter,
                    ConvergenceWarning)
    except KeyboardInterrupt:
        if runner.size > 1:
            raise   # the other ranks cannot be told: abort (python -m mpi4py)
        warnings.warn("Training interrupted by user.")
    finally:
        progress.close()
        data.end()
    if early_stopping:
        net.params[...] = est._best_params


def _validation_score(est, X, y, sw, scorer):
    if scorer is None:
        return est._score(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        kwargs = {} if sw is None else {"sample_weight": sw}
        return scorer(est, X, y, **kwargs)


def _record_validation(est, score, verbose):
    """The early-stopping half of _update_no_improvement_count, from a
    score all ranks share."""
    est.validation_scores_.append(score)
    if verbose:
        print("Validation score: %f" % score)
    if score < (est.best_validation_score_ + est.tol):
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if score > est.best_validation_score_:
        est.best_validation_score_ = score
        est._best_params = est._net.params.copy()
