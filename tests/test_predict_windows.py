"""Prediction on out-of-core X (fastbp/_windows.py): memmap, h5py, zarr and
dask inputs are read in windows, so that predict, predict_proba, score and
Network.forward hold the output plus one window, never X whole, with
results bitwise those of the same call on X in memory."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastbp
from fastbp import _windows

N_ROWS, N_FEATURES = 3 << 18, 64          # 192 MiB of float32
BLOCK = 1 << 16


def _block(i):
    rng = np.random.RandomState(i)
    return rng.normal(size=(BLOCK, N_FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """The same 192 MiB X as .npy, HDF5 and zarr, and a model fitted on
    its first rows."""
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    pytest.importorskip("dask.array")
    d = tmp_path_factory.mktemp("windows")
    X = np.lib.format.open_memmap(d / "X.npy", mode="w+", dtype=np.float32,
                                  shape=(N_ROWS, N_FEATURES))
    with h5py.File(d / "X.h5", "w") as f:
        h = f.create_dataset("X", shape=X.shape, dtype="f4", chunks=(8192, N_FEATURES))
        z = zarr.open_array(str(d / "X.zarr"), mode="w", shape=X.shape,
                            chunks=(8192, N_FEATURES), dtype="f4")
        for i, s in enumerate(range(0, N_ROWS, BLOCK)):
            b = _block(i)
            X[s:s + BLOCK] = b
            h[s:s + BLOCK] = b
            z[s:s + BLOCK] = b
    X.flush()
    del X
    X0 = _block(0)
    y0 = (X0[:, 0] > 0).astype(int) + (X0[:, 1] > 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = fastbp.MLPClassifier((8,), max_iter=2, random_state=0).fit(X0[:5000], y0[:5000])
    clf.save(str(d / "clf.fbp"))
    return d


_CHILD = r"""
import os, resource, sys, warnings
import numpy as np
import fastbp
from fastbp import _windows

kind, d = sys.argv[1], sys.argv[2]
clf = fastbp.load(os.path.join(d, "clf.fbp"))
if kind == "memmap":
    X = np.load(os.path.join(d, "X.npy"), mmap_mode="r")
elif kind == "h5py":
    import h5py
    X = h5py.File(os.path.join(d, "X.h5"), "r")["X"]
else:
    import zarr
    X = zarr.open_array(os.path.join(d, "X.zarr"), mode="r")
    if kind == "dask":
        import dask.array as da
        X = da.from_zarr(X)
y = np.zeros(X.shape[0], dtype=int)
# threads started before the limit: OpenMP's team, BLAS, dask's pool, zarr's
# event loop (each thread's stack is address space)
part = X[:200_000]
part = part.compute() if kind == "dask" else np.asarray(part)
clf.predict_proba(part)
del part
_windows.WINDOW_BYTES = 8 << 20
vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1])
limit = vm * 1024 + (128 << 20)           # two thirds of X
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
if kind != "memmap":                      # a memmap's mapping is address space
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
def status(key):
    with open("/proc/self/status") as f:
        return int([l for l in f if l.startswith(key)][0].split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                          # the peak resident size is now
rss0 = status("VmRSS")
out = {"proba": clf.predict_proba(X), "pred": clf.predict(X),
       "forward": clf.network_.forward(X), "score": np.array(clf.score(X, y))}
grown = status("VmHWM") - rss0
resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
np.savez(os.path.join(d, kind + ".npz"), **out)
print("grown", grown)
"""


@pytest.mark.parametrize("kind", ["memmap", "h5py", "zarr", "dask"])
def test_predict_on_out_of_core_x_holds_a_window_not_x(big, kind):
    """In a child process: with the address space limited to 128 MiB past
    what it holds (X is 192 MiB), predict_proba, predict, score and
    Network.forward read X in windows and give bitwise the in-memory results
    (loading X whole raised MemoryError). A memmap's mapping is address
    space already: there the resident memory is what is bounded (its pages
    touched stay resident otherwise, the file's whole size)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env["MALLOC_ARENA_MAX"] = "2"    # not 64 MiB of address space per thread
    proc = subprocess.run([sys.executable, "-c", _CHILD, kind, str(big)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    grown = int(proc.stdout.split()[-1])
    assert grown < 128 << 20, grown       # X: 192 MiB; the outputs: 33 MiB
    got = np.load(big / f"{kind}.npz")
    clf = fastbp.load(str(big / "clf.fbp"))
    X = np.load(big / "X.npy")
    assert np.array_equal(got["proba"], clf.predict_proba(X))
    assert np.array_equal(got["pred"], clf.predict(X))
    assert np.array_equal(got["forward"], clf.network_.forward(X))
    assert got["score"] == clf.score(X, np.zeros(N_ROWS, dtype=int))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_windowed_predictions_equal_the_in_memory_calls(tmp_path, monkeypatch, dtype):
    """Every prediction method of both estimators and Network.forward, on
    each out-of-core kind and on a fastbp.stream source, read in several
    windows: bitwise the results on X in memory."""
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    da = pytest.importorskip("dask.array")
    from fastbp import _stream

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30000, 20)).astype(np.float32)
    y = rng.randint(0, 3, 30000)
    np.save(tmp_path / "X.npy", X)
    with h5py.File(tmp_path / "X.h5", "w") as f:
        f.create_dataset("X", data=X, chunks=(1000, 20))
    h5 = h5py.File(tmp_path / "X.h5", "r")
    z = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=X.shape,
                        chunks=(1000, 20), dtype="f4")
    z[...] = X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = fastbp.MLPClassifier((16,), max_iter=2, random_state=0).fit(
            X[:2000].astype(dtype), y[:2000])
        reg = fastbp.MLPRegressor(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(
            X[:2000].astype(dtype), X[:2000, :2])
    expected = [clf.predict_proba(X), clf.predict(X), clf.predict_log_proba(X),
                clf.score(X, y), reg.predict(X), reg.score(X, X[:, :2]),
                clf.network_.forward(X)]
    monkeypatch.setattr(_windows, "WINDOW_BYTES", 100_000)
    reads = []
    real = _stream.Source.read

    def counting(self, start, stop, out):
        reads.append(stop - start)
        return real(self, start, stop, out)

    monkeypatch.setattr(_stream.Source, "read", counting)
    for name, make in [("memmap", lambda: np.load(tmp_path / "X.npy", mmap_mode="r")),
                       ("h5py", lambda: h5["X"]), ("zarr", lambda: z),
                       ("dask", lambda: da.from_zarr(z)),
                       ("stream", lambda: fastbp.stream(z, window_bytes=50_000))]:
        reads.clear()
        A = make()
        got = [clf.predict_proba(A), clf.predict(A), clf.predict_log_proba(A),
               clf.score(A, y), reg.predict(A), reg.score(A, X[:, :2]),
               clf.network_.forward(A)]
        for g, e in zip(got, expected):
            assert np.array_equal(g, e), name
        # read in windows (seven calls, each in several windows), never whole
        assert len(reads) >= 7 * 2 and max(reads) < X.shape[0], (name, reads[:5])
