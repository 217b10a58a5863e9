"""Prediction on data larger than memory, one window of rows at a time.

``predict``, ``predict_proba``, ``predict_log_proba`` and ``score`` of the
estimators and ``Network.forward`` take X as an ``np.memmap``, an h5py
dataset, a zarr array, a dask array or a ``fastbp.stream(X, ...)`` source
and read it in windows of consecutive rows (fastbp/_stream.py's readers):
the memory they hold is the output plus one window (64 MiB by default, a
stream's ``window_bytes`` for a stream), never X whole.

The results are bitwise those of the same call on X in memory: a forward
pass cuts its rows into blocks whose height depends on the number of rows
and of threads (BLAS rounds a row differently in blocks of other heights),
so the windows here are whole numbers of the blocks the in-memory call
would use, and each window runs with that block height. X no larger than a
window is read whole and goes through the in-memory call itself.
"""
import numpy as np

from fastbp import _network, _stream
from fastbp._threads import resolve_n_threads

#: Bytes of X read at a time by an out-of-core prediction (a stream's own
#: window_bytes for a fastbp.stream(X) source).
WINDOW_BYTES = _stream.WINDOW_BYTES


def source(X):
    """The stream Source of an out-of-core X, else None (X is in memory)."""
    if isinstance(X, _stream.Source):
        return X
    if _stream._kind(X) is None:
        return None
    return _stream._make_source(X, window_bytes=WINDOW_BYTES)


def _check_width(src, n_features, who):
    f = src.shape[1]
    if f != n_features:
        raise ValueError(f"X has {f} features, but {who} is expecting "
                         f"{n_features} features as input.")


def _read_all(src, dtype):
    n = src.shape[0]
    X = np.empty(src.shape, dtype=dtype)
    src.read(0, n, X)
    _stream._check_finite(X, 0, n)
    return X


def _fits_in_a_window(src, dtype):
    return src.shape[0] * src.shape[1] * np.dtype(dtype).itemsize <= src.window_bytes


def windowed_pass(net, src, *, n_threads, logits=False):
    """The output of net for every row of src, read window by window: an
    array (n_samples, n_outputs) of net's dtype, bitwise the in-memory
    ``net._full_pass(X, rows=None, n_threads=n_threads)``."""
    n, f = src.shape
    dtype = net.dtype
    T = resolve_n_threads(n_threads)
    block = min(2048, -(-n // T))      # the in-memory pass's block height
    per_window = max(1, src.window_bytes // (f * dtype.itemsize) // block)
    window = block * per_window
    out = np.empty((n, net.layer_sizes[-1]), dtype=dtype)
    buf = np.empty((min(window, n), f), dtype=dtype)
    for start in range(0, n, window):
        stop = min(n, start + window)
        Xw = buf[:stop - start]
        src.read(start, stop, Xw)
        _stream._check_finite(Xw, start, stop)
        net._full_pass(Xw, out=out[start:stop], n_threads=T, rows=block,
                       logits=logits)
    return out


def estimator_forward(est, X, *, logits=False):
    """est._forward_pass_fast for an out-of-core X (None: X is in memory)."""
    src = source(X)
    if src is None:
        return None
    net = est._synced_network()
    _check_width(src, est.n_features_in_, type(est).__name__)
    n = src.shape[0]
    if _fits_in_a_window(src, net.dtype) or n <= net._SMALL_ROWS:
        return est._forward_pass_fast(_read_all(src, net.dtype), logits=logits)
    # the in-memory call's thread count (one for a few hundred rows)
    n_threads = 1 if n <= 256 else est.n_threads
    return windowed_pass(net, src, n_threads=n_threads, logits=logits)


def network_forward(net, X, n_threads):
    """Network.forward for an out-of-core X (None: X is in memory)."""
    src = source(X)
    if src is None:
        return None
    _check_width(src, net.layer_sizes[0], "the network")
    if _fits_in_a_window(src, net.dtype) or src.shape[0] <= net._SMALL_ROWS:
        return net.forward(_read_all(src, net.dtype), n_threads=n_threads)
    return windowed_pass(net, src, n_threads=n_threads)


# The network layer sits below the out-of-core readers: it calls this module
# through a hook rather than importing it.
_network.out_of_core_forward = network_forward
