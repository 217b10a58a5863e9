"""Solver bookkeeping: what every training loop of fastbp does between
epochs, written once.

The optimizer's state (flat moment buffers, step count, learning rate), the
learning-rate schedules, the stopping rules (no improvement in the training
loss or the validation score, ``n_iter_no_change``, ``tol``), divergence
checks, the size of a mini-batch, and how a compiled ``Trainer`` is made
and given its optimizer. Each function takes the estimator (its parameters
and fitted attributes) as its first argument and changes only the fitted
attributes it names; the epoch loop (fastbp/_loop.py) and data-parallel
training (fastbp/_parallel.py) call them, the estimators never repeat them.
"""
import math
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import check_scoring

from fastbp._core import _backprop, _kernels, _optim

STOCHASTIC_SOLVERS = ("sgd", "adam", "rmsprop", "adamw")

# Fewest flops per thread worth splitting a mini-batch over threads: below
# this the fork/join and the extra gradient buffer cost more than they save
# (benchmarks/test_bench_train.py: digits 64-100-10 at batch 32, ~1.4 Mflop
# a batch, is faster on one thread; at batch 200, ~9 Mflop, two threads win).
MIN_WORK_PER_THREAD = 4_000_000


def split_layers(layer_units, batch_size, n_threads):
    """Whether to split each mini-batch's layers over the threads rather
    than its rows (see "Layer-split mini-batches" in fastbp/_core/_backprop.pyx).

    Splitting rows costs every thread a copy of the weights (packed by its
    GEMMs) and a gradient copy to sum; splitting layers costs every thread a
    copy of the activations and a fork/join per layer. The first grows with
    the weights, the second with batch rows times layer widths; both grow
    alike with the thread count. On 2 threads (benchmarks/test_bench_train.py,
    test_train_split), layers win once the
    weights outnumber the activations by ~1.2x: 784-256-128-10 at batch 32
    (ratio 6.2) 19% faster, 784-1024-1024-10 at batch 256 (2.6) 11%, at
    batch 128 (1.6) 2%; rows win below: 200-512-256-10 at batch 256 (0.94)
    by 9%, 64-512-10 at batch 200 (0.32) by 42%.
    """
    if n_threads <= 1:
        return False
    n_weights = sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
    return n_weights >= 1.2 * batch_size * sum(layer_units)


def lbfgs_options(iprint):
    try:  # scikit-learn's shim over scipy's changing iprint/disp options
        from sklearn.utils.fixes import _get_additional_lbfgs_options_dict

        return _get_additional_lbfgs_options_dict("iprint", iprint)
    except ImportError:  # pragma: no cover - older/newer scikit-learn
        return {}


def minimize_lbfgs(est, loss_grad, params, iprint):
    """scipy's L-BFGS-B from params with est's limits; loss_grad(w) gives
    the loss and its gradient (float64) at w."""
    import scipy.optimize

    return scipy.optimize.minimize(
        loss_grad, params.astype(np.float64), method="L-BFGS-B", jac=True,
        options={"maxfun": est.max_fun, "maxiter": est.max_iter,
                 "gtol": est.tol, **lbfgs_options(iprint)})


#: Where the convergence and divergence messages send the reader: a section
#: of docs/user_guide/troubleshooting.rst (the page's title).
SEE_GUIDE = "See 'Practical use and troubleshooting' in fastbp's user guide."

NON_FINITE = ("Solver produced non-finite parameter weights. The input data may"
               " contain large values and need to be preprocessed.")


def divergence_cause(est, X):
    """The likely cause of a diverging fit, in words: the learning rate, and
    the features' scale when they are far from standardized."""
    data = X.data if hasattr(X, "tocsr") else X
    big = float(np.max(np.abs(data))) if data.size else 0.0
    text = ""
    if est.solver != "lbfgs":
        text = (f"the learning rate (learning_rate_init={est.learning_rate_init!r}) "
                "may be too large")
    if big > 1e3:
        text += (" or " if text else "") + (
            f"the features are not scaled (largest absolute value {big:.3g}): "
            "standardize them, e.g. with sklearn.preprocessing.StandardScaler")
    return text or "the input data may need to be preprocessed"


class Optimizer:
    """Optimizer state kept between epochs: flat moment buffers, step count
    and the current learning rate (schedules act on it between epochs)."""

    def __init__(self, solver, n_params, dtype, learning_rate_init):
        self.solver = solver
        self.kind = _optim.OPTIMIZERS[solver]
        # (pages mapped now, not at the first mini-batch: see touch_new)
        self.s1 = _backprop.touch_new(n_params, dtype)
        two = solver in ("adam", "adamw")
        self.s2 = _backprop.touch_new(n_params if two else 0, dtype)
        self.t = 0
        self.learning_rate = float(learning_rate_init)

    def compatible(self, solver, n_params, dtype):
        return (self.solver == solver and self.s1.shape[0] == n_params
                and self.s1.dtype == dtype)


def batch_size(est, n_samples):
    """The mini-batch size of a fit on n_samples rows (scikit-learn's rule)."""
    if est.batch_size == "auto":
        return min(200, n_samples)
    if est.batch_size > n_samples:
        warnings.warn(
            "Got `batch_size` less than 1 or larger than "
            "sample size. It is going to be clipped")
    return min(max(int(est.batch_size), 1), n_samples)


def start_stochastic(est, incremental):
    """The optimizer of this fit (new, or kept by partial_fit and
    keep_optimizer_state) and the bookkeeping a warm start carries over
    or resets."""
    net = est._net
    # absent when coefs_ and the fitted attributes were set by hand
    opt = est.__dict__.get("_optimizer")
    tiny = np.finfo(net.dtype).tiny
    if est.solver in ("adam", "adamw", "rmsprop") and est.epsilon < tiny:
        raise ValueError(
            f"epsilon={est.epsilon!r} is below the smallest normal "
            f"{net.dtype.name} ({tiny:.4g}): the compiled loops flush such "
            f"numbers to zero. Use epsilon >= {tiny:.4g}"
            + (" or float64 data" if net.dtype == np.float32 else ""))
    keep = incremental or (est.keep_optimizer_state and opt is not None)
    if not keep or opt is None or not opt.compatible(
            est.solver, net.n_params, net.dtype):
        opt = est._optimizer = Optimizer(
            est.solver, net.n_params, net.dtype, est.learning_rate_init)

    early_stopping = est.early_stopping
    if not hasattr(est, "loss_curve_"):
        # warm start after an lbfgs fit
        est.loss_curve_ = []
        est._no_improvement_count = 0
        est.validation_scores_ = est.best_loss_ = None
    if early_stopping and est.validation_scores_ is None:
        # warm start after a fit without early stopping
        est.validation_scores_, est.validation_loss_curve_ = [], []
        est.best_validation_score_, est.best_loss_ = -np.inf, None
    elif not early_stopping and est.best_loss_ is None:
        # warm start after a fit with early stopping
        est.best_loss_ = np.inf
        est.validation_scores_ = est.validation_loss_curve_ = None
        est.best_validation_score_ = None
    return opt


def validation_targets(est, X_val, y_val):
    """The validation split's targets for the loss (Y_val, in the
    network's dtype) and for the score (labels for a classifier), and
    the scorer."""
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset.")
    Y_val = np.ascontiguousarray(y_val, dtype=est._net.dtype)
    if is_classifier(est):
        y_val = est._label_binarizer.inverse_transform(y_val)
    scorer = None if est.scoring is None else check_scoring(est, est.scoring)
    return Y_val, y_val, scorer


def make_trainer(est, opt, batch_size, n_threads, *, sparse, one_part=False):
    """The compiled Trainer of est's network, with opt as its optimizer.

    By default the estimator's own, kept between partial_fit calls (its
    thread tuner learns across them) while nothing it holds changed.
    one_part=True gives a new one that computes each gradient as one part
    on one thread (one rank's cut of a data-parallel mini-batch), with no
    tuner; its update may still use n_threads.
    """
    net = est._net
    if one_part:
        trainer = _backprop.Trainer(
            net.params, net._layout, batch_size=batch_size,
            n_threads=n_threads, sparse=sparse,
            split_layers=False, min_work=0, adaptive=False)
    else:
        split = sparse or split_layers(net.layer_sizes, batch_size, n_threads)
        key = (id(net.params), net.layer_sizes, net.activation, net.loss,
               net.dtype, batch_size, n_threads, sparse, split)
        cached = est.__dict__.get("_trainer")
        if cached is not None and cached[0] == key and cached[1].params is net.params:
            trainer = cached[1]
        else:
            trainer = _backprop.Trainer(
                net.params, net._layout, batch_size=batch_size,
                n_threads=n_threads, sparse=sparse,
                split_layers=split, min_work=MIN_WORK_PER_THREAD)
            est._trainer = (key, trainer)
    trainer.set_optimizer(
        opt.kind, opt.learning_rate, momentum=float(est.momentum),
        nesterov=bool(est.nesterovs_momentum), beta1=float(est.beta_1),
        beta2=float(est.beta_2), eps=float(est.epsilon),
        weight_decay=float(est.alpha), s1=opt.s1, s2=opt.s2, t=opt.t)
    return trainer


def no_improvement_message(est):
    """scikit-learn's words when n_iter_no_change epochs brought nothing."""
    if est.early_stopping:
        return ("Validation score did not improve more than tol=%f for %d "
                "consecutive epochs." % (est.tol, est.n_iter_no_change))
    return ("Training loss did not improve more than tol=%f for %d "
            "consecutive epochs." % (est.tol, est.n_iter_no_change))


def schedule_iteration_ends(est, opt):
    """Learning-rate schedules act between epochs (as scikit-learn's)."""
    if est.learning_rate == "invscaling":
        opt.learning_rate = (float(est.learning_rate_init)
                             / (est.t_ + 1) ** est.power_t)
    elif est.learning_rate == "cosine":
        frac = min(est.n_iter_, est.max_iter) / est.max_iter
        opt.learning_rate = (float(est.learning_rate_init) * 0.5
                             * (1 + math.cos(math.pi * frac)))


def trigger_stopping(est, opt, msg):
    """After n_iter_no_change epochs without improvement: True to stop, or
    (learning_rate='adaptive') divide the learning rate by 5 and go on."""
    if est.learning_rate != "adaptive":
        if est.verbose:
            print(msg + " Stopping.")
        return True
    if opt.learning_rate <= 1e-6:
        if est.verbose:
            print(msg + " Learning rate too small. Stopping.")
        return True
    opt.learning_rate /= 5.0
    if est.verbose:
        print(msg + " Setting learning rate to %f" % opt.learning_rate)
    return False


def record_loss(est):
    """The training-loss stopping rule after an epoch without early
    stopping: count an epoch that did not improve the best loss by tol."""
    if est.loss_curve_[-1] > est.best_loss_ - est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if est.loss_curve_[-1] < est.best_loss_:
        est.best_loss_ = est.loss_curve_[-1]


def warn_if_exploded(est, X, Y, sw, n_threads):
    """Warn when the fitted network gives one output for every row of
    (a sample of) its training data, or is far worse there than an
    untrained one predicting the output activation of 0: the updates
    exploded although every number stayed finite, and the model would
    otherwise predict one class without a word. One forward pass over at
    most ~128 rows."""
    net = est._net
    step = max(1, X.shape[0] // 64)
    Xs, Ys = X[::step], np.ascontiguousarray(Y[::step])
    n = Ys.shape[0]
    ones = np.ones(n, dtype=net.dtype)
    sws = None if sw.shape[0] == 0 else np.ascontiguousarray(sw[::step])
    total = n if sws is None else float(sws.sum())
    if total <= 0:
        return
    out = np.empty(Ys.shape, dtype=net.dtype)
    loss = net._full_pass(Xs, Ys, sws, 0.0, out=out,
                          n_threads=1)   # about a hundred rows
    # the same output for every row, though the targets differ: every
    # hidden unit is dead or saturated (what a blown-up ReLU net does)
    constant = (n > 1 and np.ptp(Ys, axis=0).max() > 0
                and np.ptp(out, axis=0).max() <= 1e-7 * (1 + np.abs(out).max()))
    z = np.zeros(Ys.shape, dtype=net.dtype)
    per_sample = np.asarray(_kernels.output_loss(
        net._out_code, z, Ys, ones, np.empty_like(z)), dtype=np.float64)
    if sws is not None:
        per_sample *= sws
    untrained = float(per_sample.sum()) / total
    if constant:
        warnings.warn(
            "The fitted network gives the same output for every sample: "
            "every hidden unit is inactive (dead ReLU) or saturated. "
            f"Likely causes: {divergence_cause(est, X)}; with very few "
            f"hidden units, also the initial weights. {SEE_GUIDE}",
            RuntimeWarning, stacklevel=6)
        return
    # (an undertrained network may be a few times worse than all-zero
    # outputs: its random initial outputs are not 0)
    if loss > 100 * untrained + 1e-6 or not math.isfinite(loss):
        warnings.warn(
            f"Training diverged: the training loss {loss:.4g} (without the "
            f"L2 term) is far worse than an untrained network's "
            f"{untrained:.4g} (all outputs at 0); "
            f"{divergence_cause(est, X)}. {SEE_GUIDE}", RuntimeWarning,
            stacklevel=6)


def validation_score(est, X, y, sw, scorer):
    """The early-stopping score of the validation split: the estimator's
    own score, or the ``scoring`` the user chose."""
    if scorer is None:
        return est._score(X, y, sample_weight=sw)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        kwargs = {} if sw is None else {"sample_weight": sw}
        return scorer(est, X, y, **kwargs)


def record_validation(est, score, verbose):
    """The early-stopping rule after an epoch: record the validation score,
    count an epoch that did not beat the best by tol, keep the best
    weights. `score` is one all ranks share in data-parallel training."""
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
