"""A float64 DataFrame fitted both ways (``--cases dtype``).

Most data reaches scikit-learn's estimators as float64 (a pandas
DataFrame's default), and scikit-learn's rule then trains in float64. The
same fastbp fit of 784-256-128-10 (batch 128, Adam, one epoch) on a float64
DataFrame, with ``dtype=None`` (float64) and with ``dtype=np.float32``,
interleaved, medians: what asking for float32 buys.
"""
import statistics
import time
import warnings

import numpy as np

from fastbp._bench._common import orders, settle, synthetic_data


def run_dtype(*, threads, quick, log, repeats=None):
    """Time the two fits; returns a result dict."""
    import pandas as pd

    from fastbp import MLPClassifier

    n = 1500 if quick else 20000
    X, y = synthetic_data(n)
    df = pd.DataFrame(X.astype(np.float64))
    kw = dict(hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1,
              tol=0.0, random_state=0, n_threads=threads)
    runs = {"float64": None, "float32": np.float32}
    samples = {k: [] for k in runs}

    def fit(dtype):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            MLPClassifier(dtype=dtype, **kw).fit(df, y)
            return time.perf_counter() - t0

    for dtype in runs.values():   # warm-up
        fit(dtype)
    for _, order in orders(runs, repeats or (3 if quick else 9)):
        for k in order:
            settle()
            samples[k].append(fit(runs[k]))
    ms = {k: 1e3 * statistics.median(v) for k, v in samples.items()}
    log(f"  dtype: float64 DataFrame, dtype=None {ms['float64']:.0f} ms, "
        f"dtype=np.float32 {ms['float32']:.0f} ms per epoch")
    return {"rows": n, "ms_per_epoch": ms,
            "samples_ms": {k: [1e3 * s for s in v] for k, v in samples.items()},
            "speedup": ms["float64"] / ms["float32"]}


def format_dtype(res, table):
    """The table of the two fits; `table(headers, rows)` lays it out."""
    ms = res["ms_per_epoch"]
    return "\n".join([
        f"A float64 DataFrame ({res['rows']} x 784), 784-256-128-10, batch "
        f"128, one epoch: dtype=np.float32 trains {res['speedup']:.2f}x as "
        "fast as scikit-learn's rule (the input's float64).",
        table(["fit on a float64 DataFrame", "ms per epoch"],
              [["dtype=None (float64)", f"{ms['float64']:.0f}"],
               ["dtype=np.float32", f"{ms['float32']:.0f}"]])])
