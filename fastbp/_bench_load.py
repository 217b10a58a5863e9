"""The two parts of ``fastbp bench`` that leave the idle, dense case.

Busy machine (``--cases busy``)
-------------------------------
``n_busy`` processes (default 2, one per core of a 2-core machine) spin in
a Python loop beside the benchmark, as a second job, a notebook or a
parallel search would. On each shape fastbp's default settings (all cores,
the thread tuner deciding), fastbp with ``n_threads=1`` and scikit-learn fit
the same data for the same epochs, interleaved fit by fit; the table gives
medians and the ratios default / one thread (at most 1.25 is the aim: the
default must not lose to one thread on a loaded machine) and scikit-learn /
default (at least 3).

Sparse input (``--cases sparse``)
---------------------------------
A text-like CSR matrix (10000 x 100000, 100 nonzeros per row, 5 classes;
2000 rows in --quick), hidden layer (100,), Adam, batch 200, in float32 and
float64. Training: milliseconds per epoch of ``partial_fit`` on a model
fitted for one epoch before (both libraries the same way, interleaved,
medians), and the first epoch's loss of each (they follow the same
trajectory). Prediction: ``predict_proba`` of 4000 rows (medians), and the
peak of numpy allocations during that call (tracemalloc): the extra memory
a prediction needs beyond the model.
"""
import multiprocessing
import statistics
import time
import tracemalloc
import warnings

import numpy as np

from fastbp._bench import orders, settle

BUSY_SHAPES = {
    "digits-b200": dict(data="digits", hidden=(100,), batch=200, epochs=20,
                        dtype="float64"),
    "20000x100-b64": dict(data="wide", hidden=(256, 128), batch=64, epochs=1,
                          dtype="float64"),
    "784-256-128-b128": dict(data="synthetic", hidden=(256, 128), batch=128,
                             epochs=1, dtype="float32"),
    "784-1024-1024-b256": dict(data="synthetic", hidden=(1024, 1024), batch=256,
                               epochs=1, dtype="float32"),
}
BUSY_AIM_VS_ONE_THREAD = 1.25
BUSY_AIM_VS_SKLEARN = 3.0
SPARSE_AIM_FIT = 5.0
SPARSE_AIM_PREDICT = 2.0
SPARSE_AIM_PREDICT_EXTRA_MIB = 64


def _spin(stop):
    while not stop.is_set():
        pass


class BusyCores:
    """Context manager: `n` processes busy-looping until it exits."""

    def __init__(self, n):
        self.n = n
        self.procs = []

    def __enter__(self):
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.procs = [ctx.Process(target=_spin, args=(self.stop,), daemon=True)
                      for _ in range(self.n)]
        for p in self.procs:
            p.start()
        time.sleep(0.3)  # let them start spinning
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


def _busy_data(kind, dtype, quick):
    from fastbp._bench import digits_data, synthetic_data

    if kind == "digits":
        X, y = digits_data()
    elif kind == "wide":
        rng = np.random.default_rng(0)
        n = 5000 if quick else 20000
        X = rng.standard_normal((n, 100), dtype=np.float32)
        y = np.argmax(X[:, :10] + rng.standard_normal((n, 10), dtype=np.float32),
                      axis=1)
    else:
        X, y = synthetic_data(1500 if quick else 6000)
    return np.ascontiguousarray(X, dtype=dtype), y


def _fit_seconds(cls, X, y, *, hidden, batch, epochs, **kw):
    clf = cls(hidden_layer_sizes=hidden, solver="adam", batch_size=batch,
              max_iter=epochs, tol=0.0, n_iter_no_change=10**9,
              random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        clf.fit(X, y)
        return time.perf_counter() - t0


def run_busy(*, threads, quick, log, n_busy=2, repeats=None):
    """Fit each BUSY_SHAPES case with n_busy spinning processes beside."""
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from fastbp import MLPClassifier

    # (a fit beside busy processes varies 2x from one to the next, with
    # the scheduler: medians need more fits than on an idle machine)
    repeats = repeats or (9 if quick else 11)
    rows = []
    with BusyCores(n_busy):
        for name, case in BUSY_SHAPES.items():
            X, y = _busy_data(case["data"], case["dtype"], quick)
            epochs = min(case["epochs"], 5) if quick else case["epochs"]
            kw = dict(hidden=case["hidden"], batch=case["batch"], epochs=epochs)
            runs = {
                "default": lambda: _fit_seconds(MLPClassifier, X, y, **kw),
                "one": lambda: _fit_seconds(MLPClassifier, X, y, n_threads=1, **kw),
                "sklearn": lambda: _fit_seconds(SkMLP, X, y, **kw),
            }
            samples = {k: [] for k in runs}
            with threadpool_limits(limits=threads, user_api="blas"):
                # warm-up, as for the idle cases (fastbp's thread tuner
                # explores a new size of mini-batch in the first fit)
                runs["default"]()
                runs["one"]()
                for _, order in orders(runs, repeats):  # interleaved
                    for k in order:
                        settle()
                        samples[k].append(runs[k]() / epochs)
            med = {k: 1e3 * statistics.median(v) for k, v in samples.items()}
            row = {"case": name, "rows": X.shape[0], "dtype": case["dtype"],
                   "ms_per_epoch": med,
                   "samples_ms": {k: [1e3 * s for s in v] for k, v in samples.items()},
                   "default_vs_one": med["default"] / med["one"],
                   "sklearn_vs_default": med["sklearn"] / med["default"]}
            rows.append(row)
            log(f"  busy {name}: default {med['default']:.1f}, one thread "
                f"{med['one']:.1f}, sklearn {med['sklearn']:.1f} ms/epoch")
    return {"n_busy": n_busy, "threads": threads, "cases": rows}


def text_like(n, n_features=100_000, nnz_per_row=100, n_classes=5, seed=0,
              dtype=np.float32):
    """A CSR matrix like bag-of-words features, with random labels."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    ind = rng.integers(0, n_features, n * nnz_per_row)
    ptr = np.arange(0, n * nnz_per_row + 1, nnz_per_row)
    X = sp.csr_matrix((rng.random(n * nnz_per_row, dtype=np.float64).astype(dtype),
                       ind, ptr), shape=(n, n_features))
    X.sum_duplicates()
    return X, rng.integers(0, n_classes, n)


def _peak_extra_bytes(fn):
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def run_sparse(*, threads, quick, log, repeats=3):
    """Fit and predict on text-like CSR input, fastbp beside scikit-learn."""
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from fastbp import MLPClassifier

    n = 2000 if quick else 10000
    out = {"rows": n, "n_features": 100_000, "nnz_per_row": 100, "cases": []}
    for dtype in (np.float32, np.float64):
        X, y = text_like(n, dtype=dtype)
        Xp = X[:4000]
        kw = dict(hidden_layer_sizes=(100,), solver="adam", batch_size=200,
                  max_iter=1, random_state=0)
        models = {"fastbp": MLPClassifier(n_threads=threads, **kw),
                  "sklearn": SkMLP(**kw)}
        fit_s = {k: [] for k in models}
        pred_s = {k: [] for k in models}
        with warnings.catch_warnings(), threadpool_limits(limits=threads,
                                                          user_api="blas"):
            warnings.simplefilter("ignore")
            for m in models.values():
                m.fit(X, y)
            first_loss = {k: float(m.loss_curve_[0]) for k, m in models.items()}
            for _, order in orders(models, repeats):
                for k in order:
                    m = models[k]
                    settle()
                    t0 = time.perf_counter()
                    m.partial_fit(X, y)
                    fit_s[k].append(time.perf_counter() - t0)
                    settle()
                    t0 = time.perf_counter()
                    m.predict_proba(Xp)
                    pred_s[k].append(time.perf_counter() - t0)
            peak = {k: _peak_extra_bytes(lambda m=m: m.predict_proba(Xp))
                    for k, m in models.items()}
        fit_ms = {k: 1e3 * statistics.median(v) for k, v in fit_s.items()}
        pred_ms = {k: 1e3 * statistics.median(v) for k, v in pred_s.items()}
        row = {"dtype": np.dtype(dtype).name, "fit_ms_per_epoch": fit_ms,
               "predict_ms": pred_ms, "predict_rows": Xp.shape[0],
               "predict_peak_extra_bytes": peak, "first_epoch_loss": first_loss,
               "fit_speedup": fit_ms["sklearn"] / fit_ms["fastbp"],
               "predict_speedup": pred_ms["sklearn"] / pred_ms["fastbp"]}
        out["cases"].append(row)
        log(f"  sparse {row['dtype']}: fit {fit_ms['fastbp']:.0f} vs "
            f"{fit_ms['sklearn']:.0f} ms/epoch, predict_proba {pred_ms['fastbp']:.1f}"
            f" vs {pred_ms['sklearn']:.1f} ms")
    return out


def format_busy(busy, table):
    headers = ["busy machine: shape", "rows", "default", "n_threads=1", "sklearn",
               "default / one thread", "sklearn / default"]
    rows = []
    for r in busy["cases"]:
        ms = r["ms_per_epoch"]
        rows.append([r["case"] + f" ({r['dtype']})", str(r["rows"]),
                     f"{ms['default']:.3g}", f"{ms['one']:.3g}",
                     f"{ms['sklearn']:.3g}", f"{r['default_vs_one']:.2f}",
                     f"{r['sklearn_vs_default']:.1f}x"])
    return "\n".join([
        f"Training beside {busy['n_busy']} busy-looping processes, ms per epoch "
        f"(medians, interleaved; default = fastbp with {busy['threads']} threads "
        f"and its thread tuner). Aims: default / one thread <= "
        f"{BUSY_AIM_VS_ONE_THREAD}, sklearn / default >= {BUSY_AIM_VS_SKLEARN}x.",
        table(headers, rows)])


def format_sparse(sparse, table):
    headers = ["sparse CSR input", "fastbp", "sklearn", "sklearn / fastbp",
               "first-epoch loss fastbp / sklearn"]
    rows = []
    for r in sparse["cases"]:
        f, p, pk = r["fit_ms_per_epoch"], r["predict_ms"], r["predict_peak_extra_bytes"]
        loss = r["first_epoch_loss"]
        rows.append([f"fit, ms per epoch ({r['dtype']})", f"{f['fastbp']:.0f}",
                     f"{f['sklearn']:.0f}", f"{r['fit_speedup']:.1f}x",
                     f"{loss['fastbp']:.6f} / {loss['sklearn']:.6f}"])
        rows.append([f"predict_proba {r['predict_rows']} rows, ms ({r['dtype']})",
                     f"{p['fastbp']:.1f}", f"{p['sklearn']:.1f}",
                     f"{r['predict_speedup']:.1f}x", ""])
        rows.append([f"  its peak extra memory, MiB ({r['dtype']})",
                     f"{pk['fastbp'] / 2**20:.1f}", f"{pk['sklearn'] / 2**20:.1f}",
                     "", ""])
    return "\n".join([
        f"Sparse input: CSR {sparse['rows']} x {sparse['n_features']}, "
        f"{sparse['nnz_per_row']} nonzeros per row, hidden (100,), Adam, batch 200. "
        f"Aims: fit >= {SPARSE_AIM_FIT:g}x and predict_proba >= "
        f"{SPARSE_AIM_PREDICT:g}x sklearn, predict extra memory <= "
        f"{SPARSE_AIM_PREDICT_EXTRA_MIB} MiB.",
        table(headers, rows)])
