"""What the ranks of a data-parallel fit must agree on, checked in one
collective before the first mini-batch (fastbp/_parallel.py,
MPIRunner.agree).

Ranks that disagree on anything that shapes the computation do not fail by
themselves: a different max_iter or batch_size leaves one rank waiting in a
collective forever, a different hidden_layer_sizes aborts MPI on a
truncated message, a different learning rate or X trains silently to other
weights. So every rank describes its fit as a small dict of strings, one
allgather brings every rank all the dicts, and every rank compares them in
the same way: a difference is the same ValueError on every rank, naming
what differs. A rank that fails while it describes its fit (a read of X
that raises) sends the error in its dict, so that every rank raises too.

Compared:

- every parameter of get_params() but verbose and progress (they print
  only) and n_threads (a rank's own thread count orders some sums inside
  its own part, lbfgs's loss and gradient, but every rank adds the same
  parts in rank order: the ranks still agree);
- classes_ and the shape and bytes of y (binarized) and sample_weight;
- X: shape, dtype as trained, dense or sparse (CSR / CSC), in memory or
  streamed (and how: the stream's windows and blocks shape the batches),
  and its contents: a CRC-32 of 16 runs of up to 16 rows spread over X,
  and of every byte of an in-memory dense X (about 7 GB/s). A CRC of the
  bytes catches any difference in what it covers, where a sum could round
  or cancel it away;
- the model a warm start or partial_fit continues from: a CRC of its
  weights and of the optimizer's state, its step counts and the early
  stopping bookkeeping (with random_state=None every rank takes rank 0's
  weights instead, so the weights are not compared then);
- the fastbp version.
"""
import numbers
import re
import zlib

import numpy as np
import scipy.sparse

from fastbp._version import __version__

#: Parameters that cannot change what the ranks compute together.
IGNORED = ("verbose", "progress", "n_threads")
#: Runs of rows sampled from X where not every byte is read.
SAMPLE_RUNS, SAMPLE_ROWS = 16, 16
#: Bytes of a non-C-contiguous X copied at a time to take its CRC.
_CRC_BLOCK = 64 * 2 ** 20


def _crc(a):
    """CRC-32 of an array's values in row-major order."""
    a = np.asarray(a)
    if a.flags.c_contiguous:
        return zlib.crc32(a.reshape(-1).view(np.uint8))
    if a.ndim < 2:
        return zlib.crc32(np.ascontiguousarray(a).view(np.uint8))
    crc = 0
    step = max(1, _CRC_BLOCK // max(1, a[0].nbytes))
    for i in range(0, a.shape[0], step):
        crc = zlib.crc32(np.ascontiguousarray(a[i:i + step]).reshape(-1).view(np.uint8), crc)
    return crc


def _strip_addresses(text):
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def describe(value):
    """A string for a parameter's value, equal on two ranks exactly when the
    values are (the same numbers whatever their Python or numpy type)."""
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return repr(value if not isinstance(value, np.bool_) else bool(value))
    if isinstance(value, numbers.Real):
        # 0 and 0.0, 3 and np.int64(3) are one value
        as_float = float(value)
        return repr(as_float) if as_float == value else repr(int(value))
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted((describe(k), describe(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, np.random.RandomState):
        kind, keys, pos, has_gauss, gauss = value.get_state()
        return (f"RandomState(state crc {_crc(keys):#010x}, pos {pos}, "
                f"{has_gauss}, {gauss!r})")
    if isinstance(value, np.random.Generator):
        return f"Generator({_strip_addresses(repr(value.bit_generator.state))})"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}: {_strip_addresses(repr(value))}"


def _hidden_layer_sizes(value):
    # as the fit reads it: an int is one layer
    return value if hasattr(value, "__iter__") else [value]


def _sampled_rows(n):
    """Starts and stops of the runs of rows sampled from n rows."""
    r = min(SAMPLE_ROWS, n)
    starts = np.unique(np.linspace(0, n - r, min(SAMPLE_RUNS, n)).astype(np.int64))
    return [(int(s), int(s) + r) for s in starts]


def _x_entries(X, source, dtype, shape):
    """What a rank knows of its X: kind, dtype, layout and a fingerprint
    (its shape only where X is None)."""
    out = {"X's shape": describe(list(shape)),
           "X's dtype as trained": np.dtype(dtype).name}
    if X is None and source is None:
        return out
    if source is not None:
        out["X as dense, sparse or streamed"] = f"streamed ({source.kind})"
        bounds, per_window = source.layout(np.dtype(dtype).itemsize)
        out["how X is streamed"] = (
            f"window_bytes={source.window_bytes}, blocks_per_window="
            f"{source.blocks_per_window}, {len(bounds) - 1} blocks (crc "
            f"{_crc(np.asarray(bounds, dtype=np.int64)):#010x}), "
            f"{per_window} per window")
        crc = 0
        f = source.shape[1]
        for s, e in _sampled_rows(source.shape[0]):
            rows = np.empty((e - s, f), dtype=dtype)
            source.read(s, e, rows)
            crc = zlib.crc32(rows.view(np.uint8), crc)
        out["X's contents"] = f"rows sampled: crc {crc:#010x}"
        return out
    if scipy.sparse.issparse(X):
        out["X as dense, sparse or streamed"] = f"sparse ({X.format})"
        crc = 0
        for s, e in _sampled_rows(X.shape[0]):
            part = scipy.sparse.csr_matrix(X[s:e], dtype=dtype)
            part.sum_duplicates()          # canonical: sorted, no repeats
            for a in (part.indptr.astype(np.int64), part.indices.astype(np.int64),
                      part.data):
                crc = zlib.crc32(np.ascontiguousarray(a).view(np.uint8), crc)
        out["X's contents"] = f"rows sampled: crc {crc:#010x}"
        return out
    out["X as dense, sparse or streamed"] = "dense, in memory"
    crc = 0
    for s, e in _sampled_rows(X.shape[0]):
        crc = zlib.crc32(np.ascontiguousarray(X[s:e]).view(np.uint8), crc)
    out["X's contents"] = f"rows sampled: crc {crc:#010x}; every byte: crc {_crc(X):#010x}"
    return out


def _model_entries(est):
    """The model a warm start or partial_fit continues from."""
    out = {}
    net = est.__dict__.get("_net")
    if net is not None and est.random_state is not None:
        out["the starting weights"] = f"crc {_crc(net.params):#010x}"
    opt = est.__dict__.get("_optimizer")
    if opt is not None:
        out["the optimizer's state"] = (
            f"{opt.solver}, t={opt.t}, learning rate {opt.learning_rate!r}, "
            f"crc {_crc(opt.s1):#010x} {_crc(opt.s2):#010x}")
    counts = [f"{k}={describe(est.__dict__[k])}" for k in
              ("t_", "_no_improvement_count", "best_loss_", "best_validation_score_")
              if k in est.__dict__]
    if counts:
        out["the training counters"] = ", ".join(counts)
    return out


def fit_description(est, X, source, y, sample_weight, shape=None):
    """Everything of this rank's fit that all ranks must share, as a dict
    of strings (small: it travels in one allgather). X is the data in
    memory as trained, or source the out-of-core data (X then stands in
    for it); shape is X's when X is None."""
    out = {"fastbp version": __version__}
    for name, value in sorted(est.get_params(deep=False).items()):
        if name in IGNORED:
            continue
        if name == "hidden_layer_sizes":
            value = _hidden_layer_sizes(value)
        out[f"parameter {name}"] = describe(value)
    if "classes_" in est.__dict__:
        out["classes_"] = describe(np.asarray(est.classes_).tolist())
    y = np.asarray(y)
    out["y"] = f"shape {list(y.shape)}, {y.dtype.name}, crc {_crc(y):#010x}"
    out["sample_weight"] = ("None" if sample_weight is None else
                            f"crc {_crc(np.asarray(sample_weight)):#010x}")
    if shape is None:
        shape = X.shape if X is not None else source.shape
    out.update(_x_entries(X, source, est._net.dtype, shape))
    out.update(_model_entries(est))
    return out


def _short(text, width=60):
    return text if len(text) <= width else text[:width - 3] + "..."


def compare(descriptions):
    """The ValueError for ranks whose descriptions differ, else None (the
    same on every rank: every rank compares the same list)."""
    failed = [(r, d["error"]) for r, d in enumerate(descriptions) if "error" in d]
    if failed:
        return ValueError(
            "data_parallel: " + "; ".join(f"rank {r} failed before training: {e}"
                                          for r, e in failed))
    keys = []
    for d in descriptions:
        keys.extend(k for k in d if k not in keys)
    differ = [k for k in keys
              if any(d.get(k) != descriptions[0].get(k) for d in descriptions)]
    if not differ:
        return None
    parts = []
    for k in differ:
        values = {}
        for r, d in enumerate(descriptions):
            values.setdefault(d.get(k, "(none)"), []).append(r)
        parts.append(k + " (" + "; ".join(
            f"rank{'s' if len(rs) > 1 else ''} {', '.join(map(str, rs[:8]))}"
            f"{', ...' if len(rs) > 8 else ''}: {_short(v)}"
            for v, rs in values.items()) + ")")
    return ValueError(
        "data_parallel: the ranks disagree on " + ", ".join(parts)
        + ". Every rank must fit the same estimator (the same parameters; "
        "verbose, progress and n_threads may differ) on the same X, y and "
        "sample_weight.")


def check(comm, est, X, source, y, sample_weight, *, shape=None):
    """Raise the same ValueError on every rank of comm unless all ranks
    describe the same fit (one allgather; see fit_description)."""
    try:
        mine = fit_description(est, X, source, y, sample_weight, shape)
        error = None
    except Exception as exc:
        error = exc
        mine = {"error": f"{type(exc).__name__}: {_short(str(exc), 200)}"}
    problem = compare(comm.allgather(mine))
    if error is not None:
        raise error
    if problem is not None:
        raise problem
