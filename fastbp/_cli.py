"""The ``fastbp`` command line: demo, train, predict, info, bench.

Run ``fastbp --help`` (or ``python -m fastbp --help``). Exit status: 0 on
success, 2 for a usage error, 1 when the work itself fails; failures are
reported as one line, ``fastbp: error: ...``, on stderr (set FASTBP_DEBUG=1
to see the traceback instead).
"""
import argparse
import contextlib
import csv
import os
import re
import sys
import time
import warnings

from fastbp._csv import CSVError, _shorten, _Table, positions, read_csv

PROG = "fastbp"
_MAX_CLASSES_INFERRED = 20

_DESCRIPTION = """\
Train and use fast multilayer perceptrons (scikit-learn's MLPClassifier and
MLPRegressor on a compiled engine) without writing a script."""

_EPILOG = """\
examples:
  fastbp demo                                  fastbp beside scikit-learn on digits
  fastbp train data.csv --target label --out model.fbp --plot curve.png
  fastbp predict model.fbp new.csv -o predictions.csv
  fastbp info model.fbp
  fastbp info                                  this build: OpenMP, threads, BLAS

Run 'fastbp COMMAND --help' for the options of each command."""


class CLIError(Exception):
    """A failure reported as one line on stderr, with exit status 1."""

    status = 1


class UsageError(CLIError):
    """A wrong combination of arguments: exit status 2."""

    status = 2


def _one_line(text):
    return " ".join(str(text).split())


def _error(message):
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)


def _note(args, message):
    if not getattr(args, "quiet", False):
        print(message)


# -- argument types ------------------------------------------------------------
def _hidden_sizes(text):
    text = text.strip()
    if text in ("", "none", "()"):
        return ()
    parts = re.split(r"[,x]", text)
    if text.endswith(","):
        parts = parts[:-1]      # a trailing comma, as in a Python tuple
    try:
        sizes = tuple(int(p) for p in parts)   # an empty width is an error
    except ValueError:
        sizes = ()
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"expected layer widths such as 256,128 (positive integers), got {text!r}")
    return sizes


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _batch_size(text):
    return "auto" if text == "auto" else _positive_int(text)


def _float_option(accept, expected):
    """An argparse type: a float for which accept(value) holds."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_positive_float = _float_option(lambda v: 0 < v < float("inf"), "a positive number")
_nonneg_float = _float_option(lambda v: 0 <= v < float("inf"), "a number >= 0")
_fraction = _float_option(lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def _threads(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0:
        raise argparse.ArgumentTypeError(
            f"expected a thread count (1, 2, ...; -1 all cores), got {text!r}")
    return value


def _random_state(text):
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer seed or 'none', got {text!r}") from None


# -- the parser ------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, as for every other error; the usage is one --help away.
        self.exit(2, f"{self.prog}: error: {_one_line(message)} "
                     f"(see '{self.prog} --help')\n")


def _activations():
    from fastbp._network import ACTIVATIONS

    return sorted(ACTIVATIONS)


_SOLVERS = ["adam", "sgd", "lbfgs", "rmsprop", "adamw"]


def _add_model_options(p, *, hidden="100", epochs=200, activations=None,
                       solvers=None):
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=_hidden_sizes, default=_hidden_sizes(hidden),
                   metavar="SIZES",
                   help=f"hidden layer widths, comma-separated (default: {hidden})")
    g.add_argument("--activation", default="relu",
                   choices=activations or _activations(),
                   help="hidden activation (default: relu)")
    g.add_argument("--solver", default="adam", choices=solvers or _SOLVERS,
                   help="optimizer (default: adam)")
    g.add_argument("--epochs", type=_positive_int, default=epochs, metavar="N",
                   help=f"maximum number of epochs, max_iter (default: {epochs})")
    g.add_argument("--batch-size", type=_batch_size, default="auto", metavar="B",
                   help="mini-batch size (default: auto = min(200, n_samples))")
    g.add_argument("--learning-rate", type=_positive_float, default=0.001,
                   metavar="F", help="initial learning rate (default: 0.001)")
    g.add_argument("--alpha", type=_nonneg_float, default=1e-4, metavar="F",
                   help="L2 penalty (default: 0.0001)")
    g.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="threads to train with (default: every core)")
    g.add_argument("--random-state", type=_random_state, default=0, metavar="SEED",
                   help="seed of the initialization, shuffling and split "
                        "(default: 0; 'none' for a fresh one)")
    return g


def _build_parser():
    parser = _Parser(prog=PROG, description=_DESCRIPTION, epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from fastbp import __version__

    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)

    # demo
    p = sub.add_parser(
        "demo", help="train on the digits data beside scikit-learn and compare",
        description="Train fastbp.MLPClassifier and scikit-learn's "
        "MLPClassifier on scikit-learn's bundled digits data (8x8 images of "
        "handwritten digits, pixels scaled to [0, 1]) with the same split and "
        "settings, and print test accuracy and fit time side by side. The "
        "libraries' fits are interleaved (--rounds of each, after a short "
        "untimed fit of each) and their medians compared; the demo says when "
        "the machine was busy, which makes the ratio unreliable.")
    _add_model_options(p, epochs=200,
                       activations=["identity", "logistic", "tanh", "relu"],
                       solvers=["adam", "sgd", "lbfgs"])
    p.add_argument("--no-sklearn", action="store_true",
                   help="train fastbp only (skip the comparison)")
    p.add_argument("--rounds", type=_positive_int, default=3, metavar="N",
                   help="fits of each library, interleaved (default: 3); the "
                        "medians are compared")
    p.add_argument("--plot", metavar="PNG", help="write fastbp's loss curve here")
    p.set_defaults(func=_cmd_demo)

    # train
    p = sub.add_parser(
        "train", help="train a model on a CSV, .npz or .npy file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train an MLP on tabular data, report a held-out score,\n"
        "and optionally save the model and a plot of the loss curve.",
        epilog="""\
data formats:
  .csv  a header row naming the columns; --target names the target column
        (default: the last one); every other column must be numeric
  .npz  arrays X (n_samples, n_features) and y; --target names y's key
  .npy  a 2-D numeric array; --target is the target's column index
        (default: -1, the last column)

Features (and, for squared-error regression, the target) are standardized
for training and the scaling is folded into the first (last) layer's
weights, so the saved model takes the raw columns (--no-scale: train on the
raw values).""")
    p.add_argument("data", help="training data: .csv, .npz or .npy")
    p.add_argument("--target", metavar="COLUMN",
                   help="target column name (CSV), key (.npz) or index (.npy)")
    p.add_argument("--task", choices=["auto", "classification", "regression"],
                   default="auto",
                   help="auto (default): classification when the target is not "
                        "numeric or holds few distinct integers")
    g = _add_model_options(p)
    g.add_argument("--early-stopping", action="store_true",
                   help="stop when the score on a validation split (10%% of the "
                        "training rows) stops improving")
    g.add_argument("--loss", choices=["squared_error", "poisson"],
                   default="squared_error", help="regression loss "
                   "(default: squared_error)")
    g.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="precision of training and of the model (default: float64)")
    g.add_argument("--no-scale", action="store_true",
                   help="do not standardize features and target")
    p.add_argument("--test-size", type=_fraction, default=0.2, metavar="F",
                   help="fraction of the rows held out to score the model "
                        "(default: 0.2; 0 scores on the training rows)")
    p.add_argument("--out", "-o", metavar="MODEL", help="save the model here "
                   "(a safe .npz file; any name, e.g. model.fbp; - writes it "
                   "to standard output, the messages to stderr)")
    p.add_argument("--plot", metavar="PNG", help="write the loss curve here")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--quiet", "-q", action="store_true",
                     help="print only the task and the held-out score; no "
                          "progress bar")
    out.add_argument("--progress", action="store_true",
                     help="always show a progress bar over epochs (needs tqdm; "
                          "default: only in a terminal, for fits over 2 s)")
    p.set_defaults(func=_cmd_train)

    # predict
    p = sub.add_parser(
        "predict", help="predict with a saved model",
        description="Predict for each row of DATA with a model saved by "
        "'fastbp train --out' (or fastbp.save) and write a CSV with a header "
        "row. For a CSV, the model's feature columns are taken by name "
        "(other columns, such as the target, are ignored) when the model "
        "knows them, else all columns but the target, in order.")
    p.add_argument("model", help="model file")
    p.add_argument("data", help="data: .csv, .npz (array X) or .npy")
    p.add_argument("--proba", action="store_true",
                   help="also write the probability of each class (classifiers)")
    p.add_argument("-o", "--output", metavar="CSV",
                   help="write here instead of to stdout")
    p.set_defaults(func=_cmd_predict)

    # info
    p = sub.add_parser("info", help="describe a saved model, or this build of "
                       "fastbp (no file)",
                       description="Print what a model file holds: type, layer "
                       "sizes, activation, solver, classes, training summary, "
                       "dtype and file format version. Without a file: this "
                       "build of fastbp (version, OpenMP, the threads a fit uses "
                       "and why, the BLAS libraries), as fastbp.show_config().")
    p.add_argument("model", nargs="?", help="model file (none: describe fastbp)")
    p.set_defaults(func=_cmd_info)

    # bench (arguments go to fastbp._bench untouched; see main())
    p = sub.add_parser("bench", add_help=False,
                       help="run the benchmarks (fastbp bench --help for options)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda args: _cmd_bench(args.args))
    return parser


# -- data --------------------------------------------------------------------
def _kind(path):
    ext = os.path.splitext(path)[1].lower()
    if ext in (".csv", ".tsv", ".txt"):
        return "csv"
    if ext in (".npz", ".npy"):
        return ext[1:]
    raise CLIError(f"{path}: unknown data format {ext or '(no extension)'!r}; "
                   "use .csv, .npz or .npy")


def _check_exists(path, what="data file"):
    if not os.path.exists(path):
        raise CLIError(f"{what} not found: {path}")
    if os.path.isdir(path):
        raise CLIError(f"{what} is a directory: {path}")


def _numeric_array(a, what, path):
    import numpy as np

    if a.dtype.kind not in "biuf":
        raise CLIError(f"{path}: {what} is not numeric (dtype {a.dtype})")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise CLIError(f"{path}: {what} has missing or non-finite values")
    return a


def _load_npy(path):
    import numpy as np

    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:  # a pickle, a damaged header, ...
        raise CLIError(f"{path}: not a readable .npy array ({_one_line(exc)})") from None
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise CLIError(f"{path}: expected a 2-D array, got shape {np.shape(a)}")
    return a


def _npz_array(arrays, key, path):
    if key not in arrays:
        raise CLIError(f"{path}: no array {key!r} in the archive (arrays: "
                       f"{_shorten(sorted(arrays))})")
    return arrays[key]


def _npz_X(arrays, path):
    """The 2-D numeric feature array 'X' of an .npz archive."""
    X = _npz_array(arrays, "X", path)
    if X.ndim != 2:
        raise CLIError(f"{path}: X must be 2-D, got shape {X.shape}")
    return _numeric_array(X, "X", path)


def _load_npz(path):
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # not numpy's advice to unpickle it
            raise CLIError(f"{path}: an array in the archive holds Python objects "
                           "(a scipy.sparse matrix given to np.savez?); save plain "
                           "arrays X and y with np.savez") from None
        raise CLIError(f"{path}: not a readable .npz archive ({_one_line(exc)})") from None
    except Exception as exc:  # BadZipFile, damaged members
        raise CLIError(f"{path}: not a readable .npz archive ({_one_line(exc)})") from None


def _load_training_data(path, target):
    """X (float64), y (numbers or strings), info dict for the model file."""
    import numpy as np

    _check_exists(path)
    kind = _kind(path)
    info = {"source": os.path.basename(path), "input": kind}
    if kind == "csv":
        def numeric(names):  # every column but the target
            if target is not None and target not in names:
                _Table(path, names, None, None).index(target)  # its error
            if len(names) < 2:
                return []
            t = names.index(target) if target is not None else len(names) - 1
            return [i for i in range(len(names)) if i != t]

        table = read_csv(path, numeric)
        if len(table.names) < 2:
            raise CLIError(f"{path}: need at least one feature column and a "
                           "target column")
        t = table.index(target) if target is not None else len(table.names) - 1
        feats = [i for i in range(len(table.names)) if i != t]
        X = table.numeric_matrix(feats)
        raw = table.columns[t]
        try:
            y = np.array(raw, dtype=np.float64)
            if not np.isfinite(y).all():
                raise ValueError
        except ValueError:
            if any(v.strip() == "" for v in raw):
                raise CLIError(f"{path}: target column {table.names[t]!r} has "
                               "missing values") from None
            y = np.array([v.strip() for v in raw])
        info.update(target=table.names[t], features=[table.names[i] for i in feats])
        return X, y, info
    if kind == "npz":
        arrays = _load_npz(path)
        ykey = target if target is not None else "y"
        X = _npz_X(arrays, path)
        y = _npz_array(arrays, ykey, path)
        if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
            raise CLIError(f"{path}: {ykey} has shape {y.shape}, X has "
                           f"{X.shape[0]} rows")
        if y.dtype.kind not in "biufU":
            raise CLIError(f"{path}: {ykey} must hold numbers or strings")
        if y.dtype.kind != "U":
            y = _numeric_array(y, ykey, path)
        info.update(target=ykey, features=None)
        return X, y, info
    a = _load_npy(path)
    try:
        t = -1 if target is None else int(target)
    except ValueError:
        raise CLIError(f"{path}: for a .npy file --target is a column index, "
                       f"got {target!r}") from None
    if not -a.shape[1] <= t < a.shape[1] or a.shape[1] < 2:
        raise CLIError(f"{path}: target column {t} is out of range for an array "
                       f"of {a.shape[1]} columns")
    t %= a.shape[1]
    a = _numeric_array(a, "the array", path)
    X = np.delete(a, t, axis=1)
    info.update(target=None, target_index=t, n_columns=a.shape[1], features=None)
    return X, a[:, t], info


def _load_features(path, est, user):
    """X for predict, taking the model's feature columns."""
    import numpy as np

    _check_exists(path)
    kind = _kind(path)
    n_features = est.n_features_in_
    target = user.get("target")
    if kind == "csv":
        def numeric(names):  # the model's feature columns, when all there
            wanted = user.get("features") or [n for n in names if n != target]
            where = positions(names)
            return [where[f] for f in wanted if f in where]

        table = read_csv(path, numeric)
        features = user.get("features")
        if features:
            missing = [f for f in features if table.position(f) is None]
            if missing:
                raise CLIError(f"{path}: missing the model's feature columns: "
                               f"{_shorten(missing)} (the file has: "
                               f"{_shorten(table.names)})")
            cols = [table.position(f) for f in features]
        else:
            cols = [i for i, n in enumerate(table.names) if n != target]
        X = table.numeric_matrix(cols)
    elif kind == "npz":
        X = _npz_X(_load_npz(path), path)
    else:
        X = _numeric_array(_load_npy(path), "the array", path)
        t = user.get("target_index")
        if X.shape[1] == n_features + 1 and t is not None and t < X.shape[1]:
            X = np.delete(X, t, axis=1)  # the target column is still there
    if X.shape[1] != n_features:
        raise CLIError(f"{path}: {X.shape[1]} feature columns, the model takes "
                       f"{n_features}")
    return X


# -- training helpers ----------------------------------------------------------
def _infer_task(y, task, target_label):
    import numpy as np

    if task != "auto":
        if task == "regression" and y.dtype.kind == "U":
            raise CLIError(f"target {target_label} is not numeric: it cannot be "
                           "used for regression")
        return task, f"chosen with --task {task}"
    if y.dtype.kind == "U":
        n = len(np.unique(y))
        return "classification", (f"inferred: target {target_label} is not numeric, "
                                   f"{n} classes")
    integral = bool(np.all(y == np.round(y)))
    n = len(np.unique(y))
    if y.ndim == 2:
        if integral and np.isin(y, (0, 1)).all():
            return "classification", (f"inferred: target {target_label} has "
                                      f"{y.shape[1]} columns of 0/1: multilabel; "
                                      "--task regression to override")
        return "regression", (f"inferred: target {target_label} has {y.shape[1]} "
                              "columns of numbers; --task classification to override")
    if integral and n <= _MAX_CLASSES_INFERRED:
        return "classification", (f"inferred: target {target_label} holds {n} "
                                  "distinct integers; --task regression to override")
    why = "non-integer values" if not integral else f"{n} distinct values"
    return "regression", (f"inferred: target {target_label} has {why}; "
                          "--task classification to override")


def _fold_scaling(est, x_mean, x_scale, y_mean=None, y_scale=None):
    """Make a model trained on standardized data take the raw data.

    (x - m) / s @ W + b == x @ (W / s[:, None]) + (b - (m / s) @ W), and an
    identity output o maps back as y = y_mean + y_scale * o.
    """
    import numpy as np

    dtype = est.coefs_[0].dtype
    coefs = [np.asarray(W, dtype=np.float64) for W in est.coefs_]
    intercepts = [np.asarray(b, dtype=np.float64) for b in est.intercepts_]
    W0 = coefs[0]
    intercepts[0] = intercepts[0] - (x_mean / x_scale) @ W0
    coefs[0] = W0 / x_scale[:, None]
    if y_mean is not None:
        coefs[-1] = coefs[-1] * y_scale
        intercepts[-1] = intercepts[-1] * y_scale + y_mean
    est.coefs_ = [np.ascontiguousarray(W, dtype=dtype) for W in coefs]
    est.intercepts_ = [np.ascontiguousarray(b, dtype=dtype) for b in intercepts]


def _scale_of(a):
    import numpy as np

    mean = a.mean(axis=0)
    scale = a.std(axis=0)
    # Constant columns keep scale 1 (they only shift the biases).
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(mean)), scale, 1.0)
    return mean, scale


def _fit_quietly(est, X, y, args):
    """Fit, turning warnings into short notes (ConvergenceWarning: a hint)."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - start
    notes = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            notes.append(f"note: reached --epochs {args.epochs} before the loss "
                         "converged; more epochs may help")
        elif str(w.message).startswith("Training interrupted by user"):
            notes.append("note: training interrupted; keeping the model as it is")
        else:
            notes.append(f"warning: {_one_line(w.message)}")
    return seconds, list(dict.fromkeys(notes))


def _write_plot(est, path):
    from fastbp._plot import save_loss_curve

    if getattr(est, "loss_curve_", None) is None:
        raise CLIError("--plot needs a stochastic solver (adam, sgd, rmsprop, "
                       "adamw): lbfgs records no loss per epoch")
    try:
        save_loss_curve(est, path)
    except ImportError as exc:
        raise CLIError(str(exc)) from None


def _describe(est):
    params = est.get_params()
    keys = ["hidden_layer_sizes", "activation", "solver", "max_iter",
            "batch_size", "learning_rate_init", "alpha", "early_stopping"]
    if "loss" in params and params["loss"] != "squared_error":
        keys.insert(0, "loss")
    body = ", ".join(f"{k}={params[k]!r}" for k in keys)
    return f"{type(est).__name__}({body})"


# -- commands ------------------------------------------------------------------
def _validation_line(est, train_rows=None, *, row=False):
    """Early stopping's best score, named by its scorer and its split (the
    validation_fraction of the training rows), so that it is not mistaken
    for the held-out score of `fastbp train`."""
    from sklearn.base import is_classifier

    scoring = getattr(est, "scoring", None)
    if scoring is None:
        name = "accuracy" if is_classifier(est) else "R^2"
    else:
        name = scoring if isinstance(scoring, str) else getattr(scoring, "__name__", "score")
    of = f"the {train_rows} training rows" if train_rows else "the training rows"
    split = (f"on early stopping's validation split ({est.validation_fraction:.0%} "
             f"of {of}, taken out of the fit)")
    key = f"best validation {name}"
    value = f"{est.best_validation_score_:.4f} {split}"
    return (key, value) if row else f"{key}: {value}"


def _check_writable(path, flag):
    """Fail before a long fit, not after it, when an output cannot be written."""
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"{flag} {path}: no such directory {parent}")
    if os.path.isdir(path):
        raise CLIError(f"{flag} {path}: is a directory")


def _check_not_an_input(path, flag, inputs):
    """Refuse an output that is one of the inputs (predict -o MODEL would
    replace the model with CSV; train --out DATA.csv the training data)."""
    if path is None or not os.path.exists(path):
        return
    for what, other in inputs:
        try:
            same = os.path.samefile(path, other)
        except OSError:
            same = False
        if same:
            raise UsageError(f"{flag} {path} is the {what}: choose another output file")


def _check_plotting(path):
    import importlib.util

    if path is not None and importlib.util.find_spec("matplotlib") is None:
        raise CLIError("--plot needs matplotlib: pip install fastbp[plot]")


def _train_to_stdout(args):
    """--out -: the model file's bytes are standard output (for a pipe or a
    redirection), every message goes to stderr."""
    import shutil
    import tempfile

    if sys.stdout.isatty():
        raise UsageError("--out -: standard output is a terminal; redirect it "
                         "(--out - > model.fbp) or pipe it, or name a file")
    with tempfile.TemporaryDirectory(prefix="fastbp-") as d:
        args.out = os.path.join(d, "model.fbp")
        args.out_name = "standard output"
        with contextlib.redirect_stdout(sys.stderr):
            code = _cmd_train(args)
        if code == 0:
            sys.stdout.flush()
            with open(args.out, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
    return code


def _cmd_train(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

    import fastbp

    if args.out == "-":
        return _train_to_stdout(args)
    _check_writable(args.out, "--out")
    _check_writable(args.plot, "--plot")
    _check_not_an_input(args.out, "--out", [("training data", args.data)])
    _check_not_an_input(args.plot, "--plot", [("training data", args.data)])
    if args.out is not None and args.plot is not None and (
            os.path.abspath(args.out) == os.path.abspath(args.plot)):
        raise UsageError(f"--out and --plot are the same file: {args.out}")
    _check_plotting(args.plot)
    if args.plot and args.solver == "lbfgs":
        raise UsageError("--plot needs a stochastic solver (adam, sgd, rmsprop, "
                         "adamw): lbfgs records no loss per epoch")
    X, y, info = _load_training_data(args.data, args.target)
    target_label = (repr(info["target"]) if info.get("target") is not None
                    else f"column {info.get('target_index')}")
    _note(args, f"data: {args.data}: {X.shape[0]} rows, {X.shape[1]} feature "
                f"columns, target {target_label}")
    if X.shape[0] < 2:
        raise CLIError(f"{args.data}: need at least 2 rows to train")
    task, why = _infer_task(y, args.task, target_label)
    print(f"task: {task} ({why})")
    if task == "classification" and len(np.unique(y)) < 2:
        raise CLIError(f"target {target_label} has a single class: nothing to learn")
    if task == "regression" and args.loss == "poisson" and (y < 0).any():
        raise CLIError("--loss poisson needs a non-negative target")
    if task == "classification" and y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # integer-valued labels print as 3, not 3.0
    dtype = np.dtype(args.dtype)
    X = X.astype(dtype)

    if args.test_size > 0:
        n_test = int(np.ceil(args.test_size * X.shape[0]))
        if n_test < 1 or n_test >= X.shape[0]:
            raise CLIError(f"--test-size {args.test_size} leaves no rows to "
                           f"{'score' if n_test < 1 else 'train'} on")
        stratify = None
        if task == "classification" and y.ndim == 1:
            _, counts = np.unique(y, return_counts=True)
            if counts.min() >= 2 and n_test >= len(counts):
                stratify = y
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=args.test_size, random_state=args.random_state,
            stratify=stratify)
    else:
        X_train, X_test, y_train, y_test = X, X, y, y

    common = dict(hidden_layer_sizes=args.hidden, activation=args.activation,
                  solver=args.solver, max_iter=args.epochs,
                  batch_size=args.batch_size, learning_rate_init=args.learning_rate,
                  alpha=args.alpha, early_stopping=args.early_stopping,
                  random_state=args.random_state, n_threads=args.threads,
                  progress=False if args.quiet else (True if args.progress else "auto"))
    if task == "classification":
        est = fastbp.MLPClassifier(**common)
    else:
        est = fastbp.MLPRegressor(loss=args.loss, **common)
    _note(args, f"model: {_describe(est)}")

    scale = not args.no_scale
    Xs, ys = X_train, y_train
    x_mean = y_mean = y_scale = None
    if scale:
        x_mean, x_scale = _scale_of(X_train.astype(np.float64))
        Xs = ((X_train - x_mean) / x_scale).astype(dtype)
        if task == "regression" and args.loss == "squared_error":
            y_mean, y_scale = _scale_of(np.asarray(y_train, dtype=np.float64))
            ys = (y_train - y_mean) / y_scale
    held = "training" if args.test_size == 0 else f"{len(y_test)} held-out"
    _note(args, f"training on {len(y_train)} rows ({held} rows to score)"
                + (", standardized" if scale else "") + " ...")
    seconds, notes = _fit_quietly(est, Xs, ys, args)
    if scale:
        _fold_scaling(est, x_mean, x_scale, y_mean, y_scale)
    loss = getattr(est, "loss_", None)
    stopped = ""
    if getattr(est, "early_stopping", False) and est.n_iter_ < args.epochs:
        stopped = " (early stopping)"
    _note(args, f"fitted in {seconds:.2f} s: {est.n_iter_} epochs{stopped}"
                + (f", final training loss {loss:.5g}" if loss is not None else "")
                + (" (on the standardized target)" if y_mean is not None else ""))
    for n in notes:
        _note(args, n)

    if getattr(est, "best_validation_score_", None) is not None:
        _note(args, _validation_line(est, len(y_train)))
    score = est.score(X_test, y_test)
    metric = "accuracy" if task == "classification" else "R^2"
    where = "training" if args.test_size == 0 else "held-out"
    split = ("on the rows trained on" if args.test_size == 0 else
             f"on the test split (--test-size {args.test_size:g}), not trained on")
    print(f"{where} {metric}: {score:.4f} ({len(y_test)} rows) {split}")

    if info.get("features"):
        # The CSV's column names, as a fit on a DataFrame would keep them (set
        # after scoring on the array): the saved model then takes a DataFrame
        # with these columns without warning that it was fitted without names.
        est.feature_names_in_ = np.asarray(info["features"], dtype=object)
    if args.out:
        from fastbp._io import save

        user = {k: v for k, v in info.items() if v is not None}
        user.update(task=task, scaled=scale, train_rows=len(y_train),
                    test_score={"metric": metric, "score": float(score),
                                "rows": len(y_test), "test_size": args.test_size})
        save(est, args.out, metadata=user)
        _note(args, f"saved model to {getattr(args, 'out_name', args.out)}")
    if args.plot:
        _write_plot(est, args.plot)
        _note(args, f"wrote loss curve to {args.plot}")
    return 0


def _cmd_demo(args):
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    import fastbp

    _check_writable(args.plot, "--plot")
    _check_plotting(args.plot)
    if args.plot and args.solver == "lbfgs":
        raise UsageError("--plot needs a stochastic solver: lbfgs records no "
                         "loss per epoch")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0)
    settings = dict(hidden_layer_sizes=args.hidden, activation=args.activation,
                    solver=args.solver, max_iter=args.epochs,
                    batch_size=args.batch_size,
                    learning_rate_init=args.learning_rate, alpha=args.alpha,
                    random_state=args.random_state)
    print(f"digits: {X.shape[0]} images of 8x8 pixels, 10 classes; "
          f"{len(y_train)} to train, {len(y_test)} to test")
    print("MLPClassifier(" + ", ".join(f"{k}={v!r}" for k, v in settings.items())
          + ")")
    print()
    runs = [("fastbp", fastbp.MLPClassifier(n_threads=args.threads, progress=False,
                                            **settings))]
    if not args.no_sklearn:
        from sklearn.neural_network import MLPClassifier

        runs.append(("scikit-learn", MLPClassifier(**settings)))
    from fastbp._threads import available_cores

    load_before = _other_work()
    seconds, fitted = _interleaved_fits(runs, X_train, y_train, args.rounds)
    medians = {name: float(np.median(s)) for name, s in seconds.items()}
    print(f"{'':14}{'test accuracy':>15}{'fit time':>12}{'epochs':>9}   "
          f"fits (fastest - slowest)")
    for name, _ in runs:
        est = fitted[name]
        acc = float(np.mean(est.predict(X_test) == y_test))
        s = seconds[name]
        print(f"{name:14}{acc:>15.4f}{medians[name]:>10.3f} s{est.n_iter_:>9}   "
              f"{len(s)} ({min(s):.3f} - {max(s):.3f} s)")
    print()
    if len(runs) == 2:
        print(f"speedup: {medians['scikit-learn'] / medians['fastbp']:.1f}x "
              "(scikit-learn's median fit time / fastbp's; the fits interleaved)")
    spreads = {name: max(s) / min(s) for name, s in seconds.items() if min(s) > 0}
    cores = available_cores()
    busy = _busy_verdict(load_before, cores, spreads)
    if busy:
        print(f"machine: busy ({busy}): these times are slower than on an idle "
              "machine and their ratio is not reliable; run the demo again "
              "when the machine is idle.")
    else:
        print(f"machine: idle ({_describe_other(load_before, cores)}; "
              "each library's fit times within "
              f"{_UNSTEADY_SPREAD:g}x of each other)")
    if args.plot:
        _write_plot(fitted["fastbp"], args.plot)
        print(f"wrote fastbp's loss curve to {args.plot}")
    return 0


# -- demo timing ---------------------------------------------------------------
# A ratio of two fit times is only as good as the times: on a machine running
# other work, a fit slows by whatever shares its cores at that moment (a run
# printed 38x under load against 4x idle). So the libraries' fits are
# interleaved, round by round in alternating order, their medians compared,
# and the demo says when the machine was busy.
_BUSY_LOAD_PER_CORE = 0.5     # other work (cores busy, or load average), per core
_UNSTEADY_SPREAD = 1.5        # slowest / fastest fit of one library


def _read_proc_stat():
    """(busy, total) CPU time of all CPUs in clock ticks, and the CPU
    count, from /proc/stat (Linux)."""
    with open("/proc/stat") as f:
        lines = f.read().splitlines()
    ticks = [int(v) for v in lines[0].split()[1:9]]
    idle = ticks[3] + ticks[4]                    # idle, iowait
    ncpu = sum(1 for ln in lines if ln.startswith("cpu") and ln[3].isdigit())
    return sum(ticks) - idle, sum(ticks), ncpu


def _other_work(interval=0.3, read=_read_proc_stat):
    """How much other work the machine has right before the fits, as
    (amount, how): the cores' worth of CPU time other processes used over
    `interval` seconds while this one slept (from /proc/stat), or where
    there is none the 1-minute load average; None where neither exists.
    The load average alone counts the minute before: right after `make
    demo` built the package it read 1.2-1.6 on an idle 2-core machine, and
    the demo called it busy."""
    try:
        busy0, total0, ncpu = read()
        time.sleep(interval)
        busy1, total1, _ = read()
        if total1 > total0 and ncpu > 0:
            return ncpu * (busy1 - busy0) / (total1 - total0), "busy"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.getloadavg()[0], "load"
    except (AttributeError, OSError):
        return None


def _busy_verdict(other, cores, spreads):
    """None for a quiet machine, else why its timings are unreliable.

    other: (amount, how) from _other_work, the other processes' work
    before the first fit (the demo's own fits come after), or None; cores:
    the cores fastbp may use; spreads: {library: its slowest fit / its
    fastest}.
    """
    reasons = []
    if other is not None and other[0] > _BUSY_LOAD_PER_CORE * cores:
        reasons.append(_describe_other(other, cores))
    for name, spread in spreads.items():
        if spread > _UNSTEADY_SPREAD:
            reasons.append(f"{name}'s slowest fit took {spread:.1f}x its fastest")
    return "; ".join(reasons) or None


def _describe_other(other, cores):
    """What _other_work found, for the demo's verdict on the machine."""
    plural = "s" if cores != 1 else ""
    if other is None:
        return f"{cores} core{plural}"
    amount, how = other
    if how == "busy":
        return f"other processes used {amount:.1f} of {cores} core{plural} before the fits"
    return f"load average {amount:.1f} on {cores} core{plural} before the fits"


WARM_UP_EPOCHS = 5


def _interleaved_fits(runs, X, y, rounds):
    """Fit a fresh clone of each of `runs` ([(name, estimator)]) `rounds`
    times, one of each per round, the order reversed every other round, so
    that other work on the machine falls on every library alike. Returns
    ({name: [seconds of each fit]}, {name: its last fitted estimator}).

    A short fit of each (at most WARM_UP_EPOCHS), untimed, comes first: a
    process's first fit pays once for what later fits reuse (imports, the
    threads' start, the thread tuner's first measurements); timed, it takes
    fastbp's first of three fits to 1.6x the others, and the demo calls an
    idle machine busy (`make demo` in a fresh clone). Each fit starts after
    the bench's pause (fastbp._bench._common.settle): OpenBLAS's threads
    spin for about 0.1 s after scikit-learn's fit, and a fastbp fit started
    at once shares the second core with them for most of its 0.08 s, loses
    its thread tuner's probes of the threads and runs on one thread, 1.5x
    slower (3.5x scikit-learn's speed instead of 5x; tests/test_demo_timing.py
    checks the order of pauses and fits)."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    from fastbp._bench._common import settle

    seconds = {name: [] for name, _ in runs}
    fitted = {}
    for _, proto in runs:
        est = clone(proto)
        if "max_iter" in est.get_params():
            est.set_params(max_iter=min(WARM_UP_EPOCHS, est.get_params()["max_iter"]))
        settle()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
    for r in range(rounds):
        for name, proto in (runs if r % 2 == 0 else runs[::-1]):
            est = clone(proto)
            settle()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                est.fit(X, y)
                seconds[name].append(time.perf_counter() - start)
            fitted[name] = est
    return seconds, fitted


def _load_model(path):
    from fastbp._io import load, read_metadata

    _check_exists(path, "model file")
    meta = read_metadata(path)
    return load(path), meta


def _cmd_predict(args):
    from sklearn.base import is_classifier

    _check_writable(args.output, "-o")
    _check_not_an_input(args.output, "-o", [("model file", args.model),
                                            ("data file", args.data)])
    est, meta = _load_model(args.model)
    user = meta.get("user") or {}
    if args.proba and not is_classifier(est):
        raise UsageError("--proba needs a classifier; the model is an "
                         f"{type(est).__name__}")
    X = _load_features(args.data, est, user).astype(est.coefs_[0].dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # feature names
        pred = est.predict(X)
        proba = est.predict_proba(X) if args.proba else None
    name = user.get("target") or "prediction"
    if pred.ndim == 1:
        header, cols = [name], [pred]
    else:
        header = [f"{name}_{i}" for i in range(pred.shape[1])]
        cols = list(pred.T)
    if proba is not None:
        labels = (est.classes_ if proba.shape[1] == len(est.classes_)
                  else range(proba.shape[1]))
        header += [f"proba_{c}" for c in labels]
        cols += list(proba.T)
    def write(out):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in zip(*cols):
            writer.writerow([str(v) for v in row])

    if args.output:
        from fastbp._io import atomic_write

        with atomic_write(args.output, "w", newline="") as out:
            write(out)
        print(f"wrote {len(pred)} predictions to {args.output}", file=sys.stderr)
    else:
        write(sys.stdout)
    return 0


def _cmd_info(args):
    import numpy as np
    from sklearn.base import is_classifier

    if args.model is None:
        from fastbp._config import show_config

        show_config()
        return 0
    est, meta = _load_model(args.model)
    user = meta.get("user") or {}
    sizes = [est.coefs_[0].shape[0]] + [W.shape[1] for W in est.coefs_]
    n_params = sum(W.size + b.size for W, b in zip(est.coefs_, est.intercepts_))
    rows = [
        ("file", f"{args.model} ({os.path.getsize(args.model):,} bytes)"),
        ("format", f"{meta['format']} version {meta['format_version']} (written by "
                   f"fastbp {meta.get('fastbp_version', '?')})"),
        ("type", type(est).__name__),
        ("layer sizes", " -> ".join(str(s) for s in sizes)
         + f"  ({n_params:,} parameters)"),
        ("activation", f"{est.activation} (output: {est.out_activation_})"),
        ("solver", est.solver),
    ]
    if is_classifier(est):
        classes = [str(c) for c in np.asarray(est.classes_).tolist()]
        kind = est._label_binarizer.y_type_
        rows.append(("classes", f"{len(classes)} ({kind}): {_shorten(classes, 20)}"))
    else:
        rows.append(("loss", est.loss))
        rows.append(("outputs", str(est.n_outputs_)))
    if hasattr(est, "n_iter_"):
        rows.append(("n_iter_", str(est.n_iter_)))
    if getattr(est, "loss_", None) is not None:
        rows.append(("final loss", f"{est.loss_:.6g}"))
    if getattr(est, "best_validation_score_", None) is not None:
        rows.append(_validation_line(est, user.get("train_rows"), row=True))
    test = user.get("test_score")
    if isinstance(test, dict) and test.get("score") is not None:
        # The score `fastbp train` printed, on rows kept out of the fit.
        where = "training" if not test.get("test_size") else "held-out"
        split = ("on the rows trained on" if not test.get("test_size") else
                 f"on fastbp train's test split (--test-size {test['test_size']:g}), "
                 "not trained on")
        rows.append((f"{where} {test.get('metric', 'score')}",
                     f"{test['score']:.4f} ({test.get('rows', '?')} rows) {split}"))
    rows.append(("dtype", est.coefs_[0].dtype.name))
    if user.get("features"):
        rows.append(("features", _shorten(user["features"])))
    elif hasattr(est, "feature_names_in_"):
        rows.append(("features", _shorten(list(est.feature_names_in_))))
    else:
        rows.append(("features", str(est.n_features_in_)))
    if user.get("target") is not None:
        rows.append(("target", str(user["target"])))
    if user.get("source"):
        rows.append(("trained on", str(user["source"])))
    width = max(len(k) for k, _ in rows) + 1
    for key, value in rows:
        print(f"{key + ':':<{width}} {value}")
    return 0


def _cmd_bench(argv):
    try:
        from fastbp import _bench
    except ModuleNotFoundError as exc:
        if exc.name in ("fastbp._bench",):
            raise CLIError("the benchmark module (fastbp._bench) is not part of "
                           "this installation") from None
        raise CLIError(f"the benchmarks need {exc.name}: {exc}") from None
    rc = _bench.main(list(argv))
    return 0 if rc is None else int(rc)


# -- entry point -----------------------------------------------------------------
def _run(func, *args):
    try:
        return func(*args)
    except (CLIError, CSVError) as exc:
        _error(exc)
        return exc.status
    except FileNotFoundError as exc:
        _error(f"file not found: {exc.filename or exc}")
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (| head): stop quietly.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except SystemExit:
        raise
    except BaseException as exc:
        if os.environ.get("FASTBP_DEBUG"):
            raise
        if isinstance(exc, (ValueError, OSError, ImportError, TypeError)):
            _error(exc)
        else:
            _error(f"{type(exc).__name__}: {exc}")
        return 1


@contextlib.contextmanager
def _printable_file_names():
    """File names with bytes that are not UTF-8 reach Python as lone
    surrogates; print them escaped instead of failing the whole run."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
                changed.append(stream)
            except (ValueError, OSError):
                pass
    try:
        yield
    finally:
        for stream in changed:
            try:
                stream.reconfigure(errors="strict")
            except (ValueError, OSError):
                pass


def main(argv=None):
    """Run the command line with `argv` (default: sys.argv[1:]); returns
    the exit status."""
    with _printable_file_names():
        return _main(argv)


def _main(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _run(_cmd_bench, argv[1:])
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return _run(args.func, args)
