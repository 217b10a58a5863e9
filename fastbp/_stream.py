"""Training on data larger than memory: block readers and shuffled windows.

``fit`` and ``partial_fit`` take X as an ``np.memmap``, an h5py dataset, a
zarr array or a dask array (or any of them wrapped in :func:`stream` to set
the knobs). X is never loaded whole: it is cut into blocks of consecutive
rows, and each epoch

1. shuffles the order of the blocks and groups them into windows of
   ``blocks_per_window`` blocks, stratified by position: each window takes
   one block from each of ``blocks_per_window`` consecutive stretches of the
   file (see window_plan),
3. reads each window into memory (a reader thread fills the next window
   while the compiled epoch trains on the current one; it runs with the GIL
   released), and
4. trains on the window's rows in a shuffled order.

y and sample_weight are held in memory (one value per row and output).

Why these steps: a file sorted by label, read in order, teaches the network
one class at a time and it forgets the others. Measured on 2M x 100 rows
sorted by label, 2 epochs (docs/architecture.rst): full in-memory shuffle 0.9765
accuracy; blocks in order 0.54; one 100k-row block per window 0.70; 4
blocks of 100k per window 0.85; 20 blocks of 20k 0.974. What mixes is the
number of places in the file a window draws from, so the default windows
are many small blocks (64 per window, one from each 64th of the file) in a
window of at most 64 MiB. Measured with these defaults on the same kind of
data (benchmarks/stream_bench.py, 2M x 100 float32 sorted by label, 2
epochs): 0.9428 accuracy against 0.9421 in memory; 256 MiB windows 0.9430;
64 MiB windows of 16 blocks 0.9403.

Memory: two windows (the one training and the one being read), plus y,
the sample weights, the validation split (early_stopping), and the model
with its workspace. Nothing here grows with the size of the file but y.

A file that changes while it is read: the size of an np.memmap's file is
checked before each block is read, and a file cut shorter than its mapping
is a ValueError naming it. What remains racy: a file truncated between that
check and the copy of the block (microseconds) still kills the process with
SIGBUS, as does one truncated under a memmap that is not streamed (a memmap
of at most one window, which trains as the array it is, or any memmap
under solver='lbfgs'); contents rewritten in place are read as they are.
"""
import concurrent.futures
import os
import threading
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import train_test_split

from fastbp._core._input import Input

#: Default size of one window in bytes (two are in memory at once).
WINDOW_BYTES = 64 * 2 ** 20
#: Default number of blocks in a window: places in the file it draws from.
BLOCKS_PER_WINDOW = 64


def stream(X, *, window_bytes=None, blocks_per_window=None, block_rows=None):
    """Mark X for out-of-core training and set how it is read.

    Parameters
    ----------
    X : np.memmap, h5py.Dataset, zarr.Array, dask.array.Array or ndarray
        The data, of shape (n_samples, n_features); read block by block.
    window_bytes : int, default=64 MiB
        Size of a window of rows held in memory; two are (one training, one
        being read). Larger windows mix the data better.
    blocks_per_window : int, default=64
        Number of blocks a window gathers from random places of X. More
        blocks mix better; fewer read longer stretches.
    block_rows : int, default=None
        Rows per block; None: window rows / blocks_per_window, rounded up to
        whole chunks of a chunked X (zarr, h5py, dask), whose chunks are read
        whole.

    Returns
    -------
    source : object
        Pass it to ``fit`` or ``partial_fit`` (or ``predict`` and the other
        prediction methods) in place of X.

    Notes
    -----
    The size of an np.memmap's file is checked before each block is read:
    a file cut shorter while it is streamed is a ValueError naming it. A
    file cut between that check and the copy of the block (microseconds)
    still ends the process with SIGBUS; contents rewritten in place are
    read as they are. A zarr array with chunks missing from its store is
    warned about (zarr reads them as the fill value).

    Examples
    --------
    >>> X = np.load("X.npy", mmap_mode="r")                # doctest: +SKIP
    >>> clf.fit(fastbp.stream(X, window_bytes=2**28), y)   # doctest: +SKIP
    """
    return _make_source(X, window_bytes=window_bytes,
                        blocks_per_window=blocks_per_window,
                        block_rows=block_rows)


def _kind(X):
    """'memmap', 'h5py', 'zarr', 'dask' or None, without importing any of
    those packages."""
    if isinstance(X, np.memmap):
        return "memmap"
    mod = type(X).__module__ or ""
    top = mod.split(".", 1)[0]
    if top == "h5py" and hasattr(X, "read_direct"):
        return "h5py"
    if top == "zarr" and hasattr(X, "shape") and hasattr(X, "chunks"):
        return "zarr"
    if top == "dask" and hasattr(X, "compute") and hasattr(X, "chunks"):
        return "dask"
    return None


def as_source(X):
    """The Source for an out-of-core X, else None (X is then in memory).

    An np.memmap no larger than one window trains as the array it is (the
    same results as in memory: one window would hold it all anyway);
    fastbp.stream(X) always streams."""
    if isinstance(X, Source):
        return X
    kind = _kind(X)
    if kind is None or (kind == "memmap" and X.nbytes <= WINDOW_BYTES):
        return None
    return _make_source(X)


def _make_source(X, **knobs):
    kind = _kind(X) or "array"
    if kind == "array":
        X = np.asarray(X)
    return Source(X, kind, **knobs)


class Source:
    """Blocks of consecutive rows of X and the reads that fill a window."""

    def __init__(self, X, kind, *, window_bytes=None, blocks_per_window=None,
                 block_rows=None):
        shape = tuple(int(s) for s in X.shape)
        if len(shape) != 2:
            raise ValueError(f"Expected a 2-D X of shape (n_samples, n_features), "
                             f"got shape {shape}")
        if shape[0] < 1 or shape[1] < 1:
            raise ValueError(f"X has shape {shape}: it needs at least one row "
                             "and one column")
        dtype = np.dtype(X.dtype)
        if dtype.kind not in "fiub":
            raise ValueError(f"X must hold numbers, got dtype {dtype}")
        self.X, self.kind, self.shape = X, kind, shape
        self.dtype = (dtype if dtype.type in (np.float32, np.float64)
                      else np.dtype(np.float64))
        self.window_bytes = int(window_bytes or WINDOW_BYTES)
        self.blocks_per_window = int(blocks_per_window or BLOCKS_PER_WINDOW)
        if self.window_bytes < 1 or self.blocks_per_window < 1:
            raise ValueError("window_bytes and blocks_per_window must be >= 1")
        self._block_rows = None if block_rows is None else int(block_rows)
        if self._block_rows is not None and self._block_rows < 1:
            raise ValueError("block_rows must be >= 1")
        self._mapped = _mapped_file(X) if kind == "memmap" else None
        if kind == "zarr":
            _warn_missing_chunks(X)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return (f"fastbp.stream({self.kind}, shape={self.shape}, "
                f"window_bytes={self.window_bytes}, "
                f"blocks_per_window={self.blocks_per_window})")

    def _chunk_rows(self):
        if self.kind == "h5py" or self.kind == "zarr":
            chunks = getattr(self.X, "chunks", None)
            return int(chunks[0]) if chunks else None
        if self.kind == "dask":
            return int(max(self.X.chunks[0]))
        return None

    def layout(self, itemsize):
        """(block starts ending with n, blocks per window) for rows of
        `itemsize` bytes per value."""
        n, f = self.shape
        row_bytes = f * itemsize
        window_rows = max(1, self.window_bytes // row_bytes)
        if self._block_rows is not None:
            rows = self._block_rows
        else:
            rows = max(1, window_rows // self.blocks_per_window)
            chunk = self._chunk_rows()
            if chunk:
                rows = chunk * max(1, -(-rows // chunk))
        if self.kind == "dask" and self._block_rows is None:
            # dask blocks: its own chunks, merged up to `rows`
            starts, acc = [0], 0
            for c in self.X.chunks[0]:
                if acc and acc + c > rows:
                    starts.append(starts[-1] + acc)
                    acc = 0
                acc += c
            starts.append(n)
            bounds = np.asarray(starts, dtype=np.intp)
        else:
            bounds = np.append(np.arange(0, n, rows, dtype=np.intp), n)
        per_window = max(1, min(self.blocks_per_window, window_rows // rows))
        return bounds, per_window

    def read(self, start, stop, out):
        """Rows start:stop of X into out (stop - start rows)."""
        X = self.X
        if self.kind == "memmap":
            _check_mapped(self._mapped, start, stop)
            out[...] = X[start:stop]
            _drop_pages(X, start, stop)
            return
        if self.kind == "h5py" and X.dtype == out.dtype and out.flags.c_contiguous:
            X.read_direct(out, np.s_[start:stop], np.s_[0:stop - start])
            return
        if self.kind == "dask":
            block = X[start:stop].compute()
        else:
            block = X[start:stop]
        out[...] = block

    def read_rows(self, idx, dtype, out=None):
        """X[idx] for sorted row indices idx, reading block by block (into
        out when given)."""
        if out is None:
            out = np.empty((len(idx), self.shape[1]), dtype=dtype)
        if len(idx) == 0:
            return out
        if self.kind in ("memmap", "array"):
            if self.kind == "memmap":
                _check_mapped(self._mapped, int(idx[0]), int(idx[-1]) + 1)
            if self.X.dtype == out.dtype:
                np.take(self.X, idx, axis=0, out=out)
            else:
                out[...] = self.X[idx]
            if self.kind == "memmap":
                _drop_pages(self.X, int(idx[0]), int(idx[-1]) + 1)
            return out
        bounds, _ = self.layout(np.dtype(dtype).itemsize)
        tmp = None
        for s, e in zip(bounds[:-1], bounds[1:]):
            lo, hi = np.searchsorted(idx, [s, e])
            if hi > lo:
                if tmp is None or tmp.shape[0] < e - s:
                    tmp = np.empty((e - s, self.shape[1]), dtype=dtype)
                self.read(s, e, tmp[:e - s])
                out[lo:hi] = tmp[idx[lo:hi] - s]
        return out


def _warn_missing_chunks(X):
    """Warn when chunks of a zarr array are not in its store: zarr reads
    them as the fill value, so deleted chunk files would train as rows of
    that value. (zarr leaves out a chunk written all fill value, so a
    missing chunk is not always an error: a warning, not a refusal.)"""
    try:
        total, present = int(X.nchunks), int(X.nchunks_initialized)
    except Exception:  # pragma: no cover - a store that cannot list its keys
        return
    if present < total:
        warnings.warn(
            f"{total - present} of the {total} chunks of the zarr array X are "
            f"not in its store: zarr reads them as the fill value "
            f"({X.fill_value!r}), and they train as such rows. Chunk files "
            "lost or deleted? (zarr also leaves out chunks written as all "
            "fill value.)", UserWarning, stacklevel=4)


def _mapped_file(X):
    """(path, device, inode, bytes the mapping needs) of the file behind a
    memmap, or None when it cannot be told."""
    import mmap

    mm, path = getattr(X, "_mmap", None), getattr(X, "filename", None)
    if mm is None or not path:
        return None
    try:
        st = os.stat(path)
        offset = int(getattr(X, "offset", 0) or 0)
        needed = offset - offset % mmap.ALLOCATIONGRANULARITY + len(mm)
    except (OSError, TypeError, ValueError):
        return None
    return path, st.st_dev, st.st_ino, needed


def _check_mapped(mapped, start, stop):
    """Refuse to read through a mapping whose file has been cut shorter than
    the mapping: touching its missing pages is a SIGBUS, which kills the
    process. A file renamed over the path leaves the mapped one whole."""
    if mapped is None:
        return
    path, dev, ino, needed = mapped
    try:
        st = os.stat(path)
    except OSError:
        return            # removed: the mapping keeps the file's pages
    if (st.st_dev, st.st_ino) == (dev, ino) and st.st_size < needed:
        raise ValueError(
            f"The file {path} of the np.memmap X is {st.st_size} bytes, shorter "
            f"than the {needed} bytes it maps: it was truncated while being "
            f"read (before rows {start}:{stop}); reading on would crash the "
            "process with SIGBUS.")


def _drop_pages(X, start, stop):
    """Unmap the pages of rows start:stop of a read-only memmap once copied:
    they stay in the page cache, but no longer count in this process's
    resident memory (which would otherwise grow to the file's size)."""
    mm = getattr(X, "_mmap", None)
    if (mm is None or getattr(X, "mode", None) != "r" or not hasattr(mm, "madvise")
            or not X.flags.c_contiguous):
        return
    import mmap

    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        lo = X[start:stop].ctypes.data - base
        hi = lo + (stop - start) * X.strides[0]
        page = mmap.PAGESIZE
        lo = -(-lo // page) * page         # whole pages inside the rows only
        hi = hi // page * page
        if hi > lo:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
    except (ValueError, OSError, TypeError):   # pragma: no cover - best effort
        pass


def _check_finite(X, start, stop):
    # a sum is one pass without a temporary; only a non-finite sum (or an
    # overflow of huge values) needs the exact test
    if not np.isfinite(np.sum(X, dtype=np.float64)) and not np.isfinite(X).all():
        raise ValueError(f"Input X contains NaN or infinity (in rows {start}:"
                         f"{stop} of the out-of-core data).")


def window_plan(n_blocks, per_window, random_state):
    """The windows of one epoch: lists of block numbers.

    The blocks are cut into `per_window` strata of consecutive blocks, and
    window w takes the w-th block of each stratum after each stratum's order
    is shuffled: every window draws one block from each part of the file (on
    a file sorted by label, every window holds every label in about its
    share), and every block is read once per epoch. random_state None: the
    blocks in file order, one window after the other.
    """
    if random_state is None:
        return [np.arange(i, min(i + per_window, n_blocks))
                for i in range(0, n_blocks, per_window)]
    k = min(per_window, n_blocks)
    strata = np.array_split(np.arange(n_blocks), k)
    n_windows = len(strata[0])
    slots = np.full((n_windows, k), -1, dtype=np.intp)
    for j, s in enumerate(strata):
        # a stratum one block short leaves a random window without it (a
        # fixed one would always miss the same end of the file)
        where = random_state.permutation(n_windows)[:len(s)]
        slots[where, j] = random_state.permutation(s)
    return [w[w >= 0] for w in slots]


class StreamData:
    """The epochs of an out-of-core X: shuffled blocks in shuffled windows."""

    def __init__(self, source, y, sample_weight, dtype):
        self.source, self.y, self.sw = source, y, sample_weight
        self.dtype = np.dtype(dtype)
        self.bounds, self.per_window = source.layout(self.dtype.itemsize)
        self.keep = None      # rows left out of training (validation), or None
        self.sparse = False
        self.n_train = source.shape[0]
        self._pool = None

    def split_validation(self, est):
        """Hold out validation rows (stratified for a single-output
        classifier, as the estimator does) and read them into memory."""
        n = self.source.shape[0]
        stratify = self.y if (is_classifier(est) and est.n_outputs_ == 1) else None
        train_idx, val_idx = train_test_split(
            np.arange(n), random_state=est._random_state,
            test_size=est.validation_fraction, stratify=stratify)
        val_idx = np.sort(val_idx)
        self.keep = np.ones(n, dtype=bool)
        self.keep[val_idx] = False
        self.n_train = len(train_idx)
        X_val = self.source.read_rows(val_idx, self.dtype)
        _check_finite(X_val, 0, n)
        sw_val = None if self.sw is None else self.sw[val_idx]
        return X_val, self.y[val_idx], sw_val

    def begin(self):
        bounds = self.bounds
        longest = int(np.max(np.diff(bounds)))
        rows = longest * self.per_window
        f = self.source.shape[1]
        self.Y = np.ascontiguousarray(self.y, dtype=self.dtype)
        self.swc = (None if self.sw is None
                    else np.ascontiguousarray(self.sw, dtype=self.dtype))
        n_out = self.Y.shape[1]
        # two of everything: one window trains while the other is read
        self.bufs = [(np.empty((rows, f), dtype=self.dtype),
                      np.empty((rows, n_out), dtype=self.dtype),
                      None if self.swc is None else np.empty(rows, dtype=self.dtype))
                     for _ in range(2)]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="fastbp-reader")
        self._stop = threading.Event()

    def end(self):
        if self._pool is not None:
            # a window being read stops at its next block: an interrupted fit
            # waits for one block, not a whole window
            self._stop.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.bufs = None

    def _check_stop(self):
        if self._stop.is_set():
            raise _Stopped()

    def _fill(self, blocks, buf):
        """Read the blocks (in this order) into buf; returns the row count."""
        Xb, Yb, swb = buf
        pos = 0
        for b in blocks:
            self._check_stop()
            s, e = int(self.bounds[b]), int(self.bounds[b + 1])
            self.source.read(s, e, Xb[pos:pos + e - s])
            _check_finite(Xb[pos:pos + e - s], s, e)
            if self.keep is None:
                Yb[pos:pos + e - s] = self.Y[s:e]
                if swb is not None:
                    swb[pos:pos + e - s] = self.swc[s:e]
                pos += e - s
            else:
                mask = self.keep[s:e]
                k = int(mask.sum())
                Xb[pos:pos + k] = Xb[pos:pos + e - s][mask]
                Yb[pos:pos + k] = self.Y[s:e][mask]
                if swb is not None:
                    swb[pos:pos + k] = self.swc[s:e][mask]
                pos += k
        return pos

    def _window_rows(self, blocks):
        """File rows of a window, in the order _fill reads them."""
        parts = []
        for b in blocks:
            s, e = int(self.bounds[b]), int(self.bounds[b + 1])
            r = np.arange(s, e, dtype=np.intp)
            parts.append(r if self.keep is None else r[self.keep[s:e]])
        return np.concatenate(parts)

    def _fill_rows(self, rows, buf):
        """Only the rows `rows` (sorted file rows) into buf: a rank of a
        data-parallel fit reads the rows of its cuts only."""
        Xb, Yb, swb = buf
        k = len(rows)
        self._check_stop()
        self.source.read_rows(rows, self.dtype, out=Xb[:k])
        _check_finite(Xb[:k], int(rows[0]) if k else 0, int(rows[-1]) + 1 if k else 0)
        Yb[:k] = self.Y[rows]
        if swb is not None:
            swb[:k] = self.swc[rows]
        return k

    def epoch(self, est, runner):
        windows = window_plan(len(self.bounds) - 1, self.per_window,
                              est._random_state if est.shuffle else None)
        cuts_only = getattr(runner, "size", 1) > 1

        def schedule(w):
            # the window's row order is drawn before it is read, so that a
            # rank knows which rows its cuts need
            rows = self._window_rows(windows[w])
            perm = np.arange(len(rows), dtype=np.intp)
            if est.shuffle:
                est._random_state.shuffle(perm)
            buf = self.bufs[w % 2]
            if not cuts_only:
                return rows, perm, None, self._pool.submit(self._fill, windows[w], buf)
            need = runner.rows_needed(perm)       # window positions, sorted
            return rows, perm, need, self._pool.submit(self._fill_rows, rows[need], buf)

        total = 0.0
        pending = schedule(0)
        for w in range(len(windows)):
            rows, perm, need, fut = pending
            k = fut.result()
            if w + 1 < len(windows):
                pending = schedule(w + 1)
            if len(rows) == 0:
                continue
            Xb, Yb, swb = self.bufs[w % 2]
            Xw = Xb[:k]
            prepared = Input.dense(Xw)
            sw_local = None if swb is None else swb[:k]
            if need is None:
                total += runner.train(Xw, prepared, Yb[:k], sw_local, perm)
            else:
                local = np.full(len(rows), -1, dtype=np.intp)
                local[need] = np.arange(len(need), dtype=np.intp)
                total += runner.train(
                    Xw, prepared, Yb[:k], sw_local, perm, local=local,
                    sw_window=None if self.swc is None else self.swc[rows])
        return total


class _Stopped(Exception):
    """A window read abandoned: the fit is over (interrupted or failed)."""


def memory_bound(source, n_outputs, dtype=np.float32):
    """Bytes the windows of an out-of-core fit hold at most (two windows of
    X, targets and weights); the model and its workspace come on top."""
    d = np.dtype(dtype)
    bounds, per_window = source.layout(d.itemsize)
    rows = int(np.max(np.diff(bounds))) * per_window
    return 2 * rows * (source.shape[1] + n_outputs + 1) * d.itemsize


__all__ = ["stream", "memory_bound", "WINDOW_BYTES", "BLOCKS_PER_WINDOW"]
