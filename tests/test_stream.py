"""Out-of-core fits: np.memmap, h5py, zarr and dask arrays read in windows
of shuffled blocks (fastbp/_stream.py)."""
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

import fastbp
from fastbp import MLPClassifier, MLPRegressor
from conftest import run_in_fresh_interpreter
from fastbp._stream import as_source, memory_bound, window_plan

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def sorted_data():
    X, y = make_classification(24000, 30, n_informative=15, n_redundant=0,
                               n_classes=6, random_state=0)
    X = X.astype(np.float32)
    Xte, yte = X[20000:], y[20000:]
    X, y = X[:20000], y[:20000]
    order = np.argsort(y, kind="stable")      # sorted by label: the hard case
    return X[order], y[order], Xte, yte


@pytest.fixture()
def memmap(tmp_path, sorted_data):
    X = sorted_data[0]
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


def small(X, **kw):
    # windows of 1/8 of the data, so that every epoch reads several
    return fastbp.stream(X, window_bytes=X.nbytes // 8, **kw)


def test_window_plan_reads_every_block_once_and_each_window_spans_the_file():
    rs = np.random.RandomState(0)
    for n_blocks, k in [(100, 8), (37, 5), (5, 8), (64, 64), (65, 64)]:
        windows = window_plan(n_blocks, k, rs)
        allb = np.concatenate(windows)
        assert sorted(allb) == list(range(n_blocks))
        strata = np.array_split(np.arange(n_blocks), min(k, n_blocks))
        which = np.empty(n_blocks, int)
        for j, s in enumerate(strata):
            which[s] = j
        for w in windows:   # at most one block of each stretch of the file
            assert len(set(which[w])) == len(w)
    inorder = window_plan(10, 3, None)
    assert [list(w) for w in inorder] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_sources_are_detected_without_importing_their_packages(memmap, monkeypatch):
    assert as_source(np.zeros((3, 2))) is None
    assert as_source([[1.0]]) is None
    # a memmap that fits in one window trains as the array it is
    assert as_source(memmap) is None
    monkeypatch.setattr(fastbp._stream, "WINDOW_BYTES", memmap.nbytes // 2)
    assert as_source(memmap).kind == "memmap"
    src = fastbp.stream(memmap, blocks_per_window=4)
    assert as_source(src) is src
    assert "memmap" in repr(src)


def test_memmap_fit_on_label_sorted_data_matches_in_memory_accuracy(memmap, sorted_data):
    X, y, Xte, yte = sorted_data
    kw = dict(hidden_layer_sizes=(64,), max_iter=3, random_state=0, n_threads=1)
    ref = MLPClassifier(**kw).fit(X, y).score(Xte, yte)
    streamed = MLPClassifier(**kw).fit(small(memmap), y).score(Xte, yte)
    inorder = MLPClassifier(shuffle=False, **kw).fit(small(memmap), y)
    assert streamed >= ref - 0.02, (streamed, ref)
    # blocks read in file order teach one class at a time: the reason for
    # shuffled, stratified windows
    assert inorder.score(Xte, yte) < streamed - 0.05


def test_a_memmap_smaller_than_a_window_fits_as_the_array(memmap, sorted_data):
    X, y, Xte, yte = sorted_data
    kw = dict(hidden_layer_sizes=(32,), max_iter=2, random_state=0, n_threads=1)
    clf = MLPClassifier(**kw).fit(memmap, y)
    ref = MLPClassifier(**kw).fit(X, y)
    for a, b in zip(clf.coefs_, ref.coefs_):
        np.testing.assert_array_equal(a, b)
    lb = MLPClassifier((8,), solver="lbfgs", max_iter=5, random_state=0).fit(memmap, y)
    assert lb.n_iter_ >= 1


def test_default_knobs_stream_a_memmap_larger_than_a_window(memmap, sorted_data, monkeypatch):
    X, y, Xte, yte = sorted_data
    monkeypatch.setattr(fastbp._stream, "WINDOW_BYTES", memmap.nbytes // 4)
    kw = dict(hidden_layer_sizes=(32,), max_iter=2, random_state=0, n_threads=1)
    clf = MLPClassifier(**kw).fit(memmap, y)
    assert clf.n_features_in_ == X.shape[1]
    assert clf.score(Xte, yte) >= MLPClassifier(**kw).fit(X, y).score(Xte, yte) - 0.02


def test_streamed_fit_is_deterministic_and_leaves_the_file_alone(memmap, sorted_data):
    y = sorted_data[1]
    before = np.array(memmap[:5])
    a = MLPClassifier((16,), max_iter=2, random_state=3, n_threads=1).fit(small(memmap), y)
    b = MLPClassifier((16,), max_iter=2, random_state=3, n_threads=1).fit(small(memmap), y)
    for ca, cb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(ca, cb)
    np.testing.assert_array_equal(memmap[:5], before)
    assert a.coefs_[0].dtype == np.float32
    assert len(a.loss_curve_) == 2 and a.t_ == 2 * len(y)


def test_peak_memory_is_the_windows_not_the_file(tmp_path):
    rng = np.random.RandomState(0)
    n, f = 100_000, 50                       # 20 MB of float32
    path = tmp_path / "big.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, f))
    for s in range(0, n, 10000):
        mm[s:s + 10000] = rng.standard_normal((10000, f))
    mm.flush()
    X = np.load(path, mmap_mode="r")
    y = (np.arange(n) >= n // 2).astype(np.int64)
    src = fastbp.stream(X, window_bytes=2 ** 20, blocks_per_window=16)
    bound = memory_bound(src, 1)
    assert bound <= 2 * (2 ** 20) * 1.1
    tracemalloc.start()
    try:
        MLPClassifier((8,), max_iter=1, random_state=0, n_threads=1).fit(src, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # windows + y (as labels, binarized and weights) + model; the file is 20 MB
    y_bytes = n * (8 + 8 + 4 + 8)
    assert peak < bound + y_bytes + 2 * 2 ** 20, (peak, bound)


def test_partial_fit_early_stopping_and_weights_on_a_memmap(memmap, sorted_data):
    X, y, Xte, yte = sorted_data
    clf = MLPClassifier((32,), random_state=0, n_threads=1)
    src = small(memmap)
    clf.partial_fit(src, y, classes=np.unique(y))
    clf.partial_fit(src, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 2
    assert clf.score(Xte, yte) > 0.5

    es = MLPClassifier((32,), max_iter=30, random_state=0, n_threads=1,
                       early_stopping=True, n_iter_no_change=2, tol=0.5).fit(src, y)
    assert len(es.validation_scores_) == es.n_iter_ == 4   # 1 + 3 without progress
    assert es.best_validation_score_ == max(es.validation_scores_)

    sw = np.where(y == 0, 0.0, 1.0)
    w = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1).fit(
        src, y, sample_weight=sw)
    assert (w.predict(Xte) == 0).mean() < 0.02    # class 0 weighs nothing
    cw = MLPClassifier((32,), max_iter=2, random_state=0, n_threads=1,
                       class_weight="balanced").fit(src, y)
    assert cw.score(Xte, yte) > 0.5


def test_regressor_and_float64_memmap(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((5000, 8))
    y = X @ rng.standard_normal(8)
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=20, random_state=0, n_threads=1,
                       learning_rate_init=0.01).fit(small(Xm), y)
    assert reg.coefs_[0].dtype == np.float64
    assert reg.score(X, y) > 0.9


def test_bad_out_of_core_input_raises_and_leaves_the_model(tmp_path, memmap, sorted_data):
    y = sorted_data[1]
    clf = MLPClassifier((8,), max_iter=1, random_state=0, n_threads=1).fit(small(memmap), y)
    before = [c.copy() for c in clf.coefs_]
    Xbad = np.array(memmap)
    Xbad[12345, 3] = np.nan
    np.save(tmp_path / "bad.npy", Xbad)
    bad = np.load(tmp_path / "bad.npy", mmap_mode="r")
    with pytest.raises(ValueError, match="NaN or infinity"):
        clf.fit(small(bad), y)
    for a, b in zip(before, clf.coefs_):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(memmap, y[:-1])
    with pytest.raises(ValueError, match="lbfgs"):
        MLPClassifier((8,), solver="lbfgs").fit(small(memmap), y)
    with pytest.raises(ValueError, match="2-D"):
        fastbp.stream(np.zeros(3))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(small(np.load(tmp_path / "bad.npy", mmap_mode="r")[:, :5]), y)


def test_estimator_params_and_pickling_are_unchanged(memmap, sorted_data):
    y = sorted_data[1]
    clf = MLPClassifier((8,), max_iter=1, random_state=0, n_threads=1)
    params = clf.get_params()
    clf.fit(small(memmap), y)
    assert clf.get_params() == params
    assert clone(clf).get_params() == params
    net = clf.network_
    back = pickle.loads(pickle.dumps(clf))
    assert clf.__dict__["_net"] is net          # pickling changes nothing
    np.testing.assert_array_equal(back.predict(memmap[:50]), clf.predict(memmap[:50]))


def test_h5py_dataset(tmp_path, sorted_data):
    h5py = pytest.importorskip("h5py")
    X, y, Xte, yte = sorted_data
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("X", data=X, chunks=(500, X.shape[1]))
    with h5py.File(tmp_path / "d.h5", "r") as f:
        ds = f["X"]
        assert as_source(ds).kind == "h5py"
        clf = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1)
        clf.fit(small(ds), y)
        ref = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1).fit(X, y)
        assert clf.score(Xte, yte) >= ref.score(Xte, yte) - 0.03
        clf.partial_fit(ds, y)
        es = MLPClassifier((8,), max_iter=2, random_state=0, n_threads=1,
                           early_stopping=True).fit(small(ds), y)
        assert len(es.validation_scores_) == 2


def test_zarr_array(tmp_path, sorted_data):
    zarr = pytest.importorskip("zarr")
    X, y, Xte, yte = sorted_data
    z = zarr.open_array(str(tmp_path / "d.zarr"), mode="w", shape=X.shape,
                        chunks=(250, X.shape[1]), dtype="f4")
    z[...] = X
    assert as_source(z).kind == "zarr"
    src = fastbp.stream(z, window_bytes=X.nbytes // 4)
    bounds, per_window = src.layout(4)
    assert all(b % 250 == 0 for b in bounds[:-1])     # whole chunks
    assert per_window == 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1).fit(src, y)
    ref = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1).fit(X, y)
    assert clf.score(Xte, yte) >= ref.score(Xte, yte) - 0.03


def test_dask_array(sorted_data):
    da = pytest.importorskip("dask.array")
    X, y, Xte, yte = sorted_data
    dX = da.from_array(X, chunks=(250, X.shape[1]))
    assert as_source(dX).kind == "dask"
    bounds, _ = as_source(dX).layout(4)
    assert set(bounds[:-1] % 250) == {0}
    clf = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1).fit(
        fastbp.stream(dX, window_bytes=X.nbytes // 4), y)
    ref = MLPClassifier((32,), max_iter=3, random_state=0, n_threads=1).fit(X, y)
    assert clf.score(Xte, yte) >= ref.score(Xte, yte) - 0.03


def _child(code, tmp_path, timeout=300):
    """Run `code` in a fresh interpreter that imports this very fastbp."""
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("how", ["np.memmap", "np.load mmap_mode"])
def test_file_truncated_while_streamed_is_a_clear_error_not_sigbus(tmp_path, how):
    """The file under a streamed memmap is cut to nothing after the third
    block is read: the next read is a ValueError naming the file (reading
    through the mapping is a SIGBUS that kills the process)."""
    code = f"""
import os, warnings
import numpy as np
import fastbp
from fastbp import _stream

rng = np.random.RandomState(0)
n, f = 1 << 16, 16
X0 = rng.normal(size=(n, f)).astype(np.float32)
y = (X0[:, 0] > 0).astype(int)
if {how!r} == "np.memmap":
    path = "X.bin"
    X0.tofile(path)
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, f))
else:
    path = "X.npy"
    np.save(path, X0)
    X = np.load(path, mmap_mode="r")
reads = []
real = _stream.Source.read

def read(self, start, stop, out):
    real(self, start, stop, out)
    reads.append(start)
    if len(reads) == 3:
        os.truncate(path, 0)

_stream.Source.read = read
clf = fastbp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
try:
    clf.fit(fastbp.stream(X, window_bytes=1 << 19, blocks_per_window=4), y)
except ValueError as exc:
    print("ValueError:", exc)
    print("reads", len(reads))
    assert not hasattr(clf, "coefs_")
"""
    proc = _child(code, tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "was truncated while being read" in proc.stdout, proc.stdout
    assert "X.bin" in proc.stdout or "X.npy" in proc.stdout
    assert "reads 3" in proc.stdout


def test_zarr_with_missing_chunks_is_warned_about_before_training(tmp_path):
    """10 of 20 chunk files deleted: zarr would read them as zeros and the
    fit would train on them silently; a complete array gives no warning."""
    import glob
    import os

    zarr = pytest.importorskip("zarr")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4)).astype(np.float32) + 5
    y = (X[:, 0] > 5).astype(int)
    path = str(tmp_path / "d.zarr")
    z = zarr.open_array(path, mode="w", shape=X.shape, chunks=(10, 4), dtype="f4")
    z[...] = X
    clf = MLPClassifier((4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(fastbp.stream(z, window_bytes=1024), y)      # complete: silent
    chunk_files = sorted(f for f in glob.glob(os.path.join(path, "**"), recursive=True)
                         if os.path.isfile(f) and "zarr.json" not in f
                         and ".zarray" not in f and ".zattrs" not in f)
    assert len(chunk_files) == 20
    for f in chunk_files[::2]:
        os.remove(f)
    z = zarr.open_array(path, mode="r")
    for wrap in (lambda a: a, lambda a: fastbp.stream(a, window_bytes=1024)):
        with pytest.warns(UserWarning, match=r"10 of the 20 chunks of the zarr array X "
                                             r"are not in its store"):
            MLPClassifier((4,), max_iter=2, random_state=0).fit(wrap(z), y)


class _CountingArray:
    """An array-like whose row reads dask makes one chunk at a time; the
    `on_read(k)` hook runs inside the k-th read."""

    def __init__(self, X, on_read):
        self.X, self.on_read, self.reads = X, on_read, 0
        self.shape, self.dtype, self.ndim = X.shape, X.dtype, X.ndim

    def __getitem__(self, idx):
        out = self.X[idx]
        if out.size:
            self.reads += 1
            self.on_read(self.reads)
        return out


def _main_thread_in(names):
    """Whether the main thread is running a function named in `names`."""
    import sys
    import threading

    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        if frame.f_code.co_name in names:
            return True
        frame = frame.f_back
    return False


def _poll(cond, tries=60000):
    """Wait for cond() (a guard against a hang, not a time limit)."""
    import time

    for _ in range(tries):
        if cond():
            return True
        time.sleep(0.001)
    return False


def test_ctrl_c_during_a_streamed_dask_fit_stops_within_one_block(tmp_path):
    # in an interpreter of its own, with Python's Ctrl-C handler whatever
    # this process inherited (see run_in_fresh_interpreter)
    pytest.importorskip("dask.array")
    run_in_fresh_interpreter("test_stream", "_ctrl_c_during_a_streamed_dask_fit",
                             tmp_path)


def _ctrl_c_during_a_streamed_dask_fit():
    """Ctrl-C while the reader fills the second window (in its second block,
    with the main thread waiting for it): the fit ends after that block (no
    further block is read; the rest of the window was read before), and
    t_ counts the rows of the first window, which trained (it stayed 0)."""
    import signal
    import threading

    da = pytest.importorskip("dask.array")
    rng = np.random.RandomState(0)
    n, f, chunk = 8192, 8, 256                  # 32 blocks, 8 per window
    X = rng.normal(size=(n, f)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    main = threading.main_thread().ident

    def on_read(k):
        if k == 10:
            # the main thread waits for this window (it trained the first)
            _poll(lambda: _main_thread_in({"result"}))
            signal.pthread_kill(main, signal.SIGINT)
            # until the fit is ending: it is then past its stop decision
            _poll(lambda: _main_thread_in({"shutdown", "end"}))

    arr = _CountingArray(X, on_read)
    dX = da.from_array(arr, chunks=(chunk, f), asarray=True)
    src = fastbp.stream(dX, window_bytes=2048 * f * 4, blocks_per_window=8)
    assert len(src.layout(4)[0]) - 1 == 32 and src.layout(4)[1] == 8
    clf = MLPClassifier((8,), batch_size=64, max_iter=5, random_state=0, n_threads=1)
    with pytest.warns(UserWarning, match="interrupted by user"):
        clf.fit(src, y)
    assert arr.reads == 10                      # not 16: the whole window
    assert clf.n_iter_ == 0
    assert clf.t_ == 2048                       # the first window's rows
    assert clf._optimizer.t == 2048 // 64       # its mini-batches
