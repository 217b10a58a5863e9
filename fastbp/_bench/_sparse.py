"""Sparse input (``--cases sparse``).

A text-like CSR matrix (10000 x 100000, 100 nonzeros per row, 5 classes;
2000 rows in --quick), hidden layer (100,), Adam, batch 200, in float32 and
float64. Training: milliseconds per epoch of ``partial_fit`` on a model
fitted for one epoch before (both libraries the same way, interleaved,
medians), and the first epoch's loss of each (they follow the same
trajectory). Prediction: ``predict_proba`` of 4000 rows (medians), and the
peak of numpy allocations during that call (tracemalloc): the extra memory
a prediction needs beyond the model.
"""
import statistics
import time
import tracemalloc
import warnings

import numpy as np

from fastbp._bench._common import orders, settle

SPARSE_AIM_FIT = 5.0

SPARSE_AIM_PREDICT = 2.0

SPARSE_AIM_PREDICT_EXTRA_MIB = 64


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
        row["checks"] = sparse_checks(row)
        out["cases"].append(row)
        log(f"  sparse {row['dtype']}: fit {fit_ms['fastbp']:.0f} vs "
            f"{fit_ms['sklearn']:.0f} ms/epoch, predict_proba {pred_ms['fastbp']:.1f}"
            f" vs {pred_ms['sklearn']:.1f} ms")
    return out


def sparse_checks(row):
    """{what: (value, aim, reached)} for one dtype's row of the sparse case."""
    extra_mib = row["predict_peak_extra_bytes"]["fastbp"] / 2**20
    return {
        "fit_xsklearn": (row["fit_speedup"], SPARSE_AIM_FIT,
                         row["fit_speedup"] >= SPARSE_AIM_FIT),
        "predict_xsklearn": (row["predict_speedup"], SPARSE_AIM_PREDICT,
                             row["predict_speedup"] >= SPARSE_AIM_PREDICT),
        "predict_extra_mib": (extra_mib, SPARSE_AIM_PREDICT_EXTRA_MIB,
                              extra_mib <= SPARSE_AIM_PREDICT_EXTRA_MIB),
    }


def _reached(check):
    return "yes" if check[2] else "no"


def format_sparse(sparse, table):
    headers = ["sparse CSR input", "fastbp", "sklearn", "sklearn / fastbp",
               "first-epoch loss fastbp / sklearn", "fastbp aims at", "reached"]
    rows = []
    for r in sparse["cases"]:
        f, p, pk = r["fit_ms_per_epoch"], r["predict_ms"], r["predict_peak_extra_bytes"]
        loss = r["first_epoch_loss"]
        c = r.get("checks") or sparse_checks(r)
        rows.append([f"fit, ms per epoch ({r['dtype']})", f"{f['fastbp']:.0f}",
                     f"{f['sklearn']:.0f}", f"{r['fit_speedup']:.1f}x",
                     f"{loss['fastbp']:.6f} / {loss['sklearn']:.6f}",
                     f">={SPARSE_AIM_FIT:g}x sklearn", _reached(c["fit_xsklearn"])])
        rows.append([f"predict_proba {r['predict_rows']} rows, ms ({r['dtype']})",
                     f"{p['fastbp']:.1f}", f"{p['sklearn']:.1f}",
                     f"{r['predict_speedup']:.1f}x", "",
                     f">={SPARSE_AIM_PREDICT:g}x sklearn", _reached(c["predict_xsklearn"])])
        rows.append([f"  its peak extra memory, MiB ({r['dtype']})",
                     f"{pk['fastbp'] / 2**20:.1f}", f"{pk['sklearn'] / 2**20:.1f}",
                     "", "", f"<={SPARSE_AIM_PREDICT_EXTRA_MIB:g} MiB",
                     _reached(c["predict_extra_mib"])])
    return "\n".join([
        f"Sparse input: CSR {sparse['rows']} x {sparse['n_features']}, "
        f"{sparse['nnz_per_row']} nonzeros per row, hidden (100,), Adam, batch 200. "
        f"Aims: fit >= {SPARSE_AIM_FIT:g}x and predict_proba >= "
        f"{SPARSE_AIM_PREDICT:g}x sklearn, predict extra memory <= "
        f"{SPARSE_AIM_PREDICT_EXTRA_MIB} MiB.",
        table(headers, rows)])
