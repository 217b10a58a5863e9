"""Training beside busy-looping processes (``--cases busy``).

``n_busy`` processes (default 2, one per core of a 2-core machine) spin in
a Python loop beside the benchmark, as a second job, a notebook or a
parallel search would. On each shape fastbp's default settings (all cores,
the thread tuner deciding), fastbp with ``n_threads=1`` and scikit-learn fit
the same data for the same epochs, interleaved fit by fit; the table gives
medians and the ratios default / one thread (at most 1.25 is the aim: the
default must not lose to one thread on a loaded machine) and scikit-learn /
default (at least 3).
"""
import multiprocessing
import statistics
import time
import warnings

import numpy as np

from fastbp._bench._common import orders, settle

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
    from fastbp._bench._common import digits_data, synthetic_data

    if kind == "digits":
        X, y = digits_data()
    elif kind == "wide":
        rng = np.random.default_rng(0)
        n = 2000 if quick else 20000
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
    repeats = repeats or (3 if quick else 11)
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
            row["checks"] = busy_checks(row)
            rows.append(row)
            log(f"  busy {name}: default {med['default']:.1f}, one thread "
                f"{med['one']:.1f}, sklearn {med['sklearn']:.1f} ms/epoch")
    return {"n_busy": n_busy, "threads": threads, "cases": rows}


def busy_checks(row):
    """{what: (value, aim, reached)} for one busy case."""
    return {
        "default_vs_one": (row["default_vs_one"], BUSY_AIM_VS_ONE_THREAD,
                           row["default_vs_one"] <= BUSY_AIM_VS_ONE_THREAD),
        "sklearn_vs_default": (row["sklearn_vs_default"], BUSY_AIM_VS_SKLEARN,
                               row["sklearn_vs_default"] >= BUSY_AIM_VS_SKLEARN),
    }


def format_busy(busy, table):
    headers = ["busy machine: shape", "rows", "default", "n_threads=1", "sklearn",
               "default / one thread", "sklearn / default", "reached (each aim)"]
    rows = []
    for r in busy["cases"]:
        ms = r["ms_per_epoch"]
        c = r.get("checks") or busy_checks(r)
        rows.append([r["case"] + f" ({r['dtype']})", str(r["rows"]),
                     f"{ms['default']:.3g}", f"{ms['one']:.3g}",
                     f"{ms['sklearn']:.3g}", f"{r['default_vs_one']:.2f}",
                     f"{r['sklearn_vs_default']:.1f}x",
                     "/".join("yes" if c[k][2] else "no"
                              for k in ("default_vs_one", "sklearn_vs_default"))])
    return "\n".join([
        f"Training beside {busy['n_busy']} busy-looping processes, ms per epoch "
        f"(medians, interleaved; default = fastbp with {busy['threads']} threads "
        f"and its thread tuner). Aims: default / one thread <= "
        f"{BUSY_AIM_VS_ONE_THREAD}, sklearn / default >= {BUSY_AIM_VS_SKLEARN}x.",
        table(headers, rows)])
