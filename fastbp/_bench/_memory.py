"""Memory of a fit, measured in a child process
(fastbp/_bench/_memory_child.py): numpy's peak allocations and the growth of
the resident set, against X and the model's own state."""
import json
import os
import subprocess
import sys

from fastbp._bench._common import (
    FULL_ROWS, N_CLASSES, QUICK_ROWS, SYNTHETIC_FEATURES)


def run_memory(*, threads, libs, quick, log, n_rows=None):
    import fastbp
    from fastbp._solver import split_layers

    # (quick: twice the quick rows of the training cases, so that a float64
    # copy of X still stands out against the model's own state)
    n = n_rows or (2 * QUICK_ROWS if quick else FULL_ROWS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"]
                                if env.get("PYTHONPATH") else "")
    sizes = [SYNTHETIC_FEATURES, 256, 128, N_CLASSES]
    batch = 128
    # One thread's workspace for a batch: the gathered input rows, every
    # layer's output and two delta buffers of the widest layer.
    ws_bytes = 4 * batch * (sizes[0] + sum(sizes[1:]) + 2 * max(sizes[1:]))
    grad_buffers = 1 if split_layers(sizes, batch, threads) else threads
    res = {"case": "784-256-128-b128, 1 epoch", "rows": n, "threads": threads,
           "batch_workspace_bytes": ws_bytes,
           "gradient_buffers": grad_buffers, "libs": {}}
    for lib in libs:
        if lib not in ("fastbp", "sklearn"):
            continue
        out = subprocess.run([sys.executable, "-m", "fastbp._bench._memory_child", lib, str(n),
                              str(threads)], capture_output=True, text=True,
                             env=env, timeout=600)
        if out.returncode != 0:
            log(f"  memory {lib}: child failed: {out.stderr.strip()[-500:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        p_bytes = 4 * r["n_params"]
        # Model state fastbp keeps by design: params, Adam's two moments, a
        # best-params copy and the gradient buffers: one per thread when
        # mini-batches are split by rows, one when split by layers.
        model_bytes = p_bytes * (4 + grad_buffers)
        # Per-sample arrays besides X: one-hot targets (float32 and bool) and
        # the row permutation.
        label_bytes = n * (N_CLASSES * 4 + N_CLASSES + 8)
        r["params_bytes"] = p_bytes
        r["model_state_bytes"] = model_bytes
        r["label_bytes"] = label_bytes
        r["excess_bytes"] = r["peak_traced"] - model_bytes - label_bytes
        # in units of the batch workspaces the fit allocates (one per
        # gradient buffer)
        r["excess_in_workspaces"] = r["excess_bytes"] / (ws_bytes * grad_buffers)
        res["libs"][lib] = r
        log(f"  memory {lib}: X {r['x_bytes'] / 2**20:.1f} MiB, peak numpy "
            f"allocations during fit {r['peak_traced'] / 2**20:.1f} MiB, peak RSS "
            f"growth {r['maxrss_growth'] / 2**20:.1f} MiB, params "
            f"{p_bytes / 2**20:.2f} MiB ({r['coef_dtype']})")
    fb = res["libs"].get("fastbp")
    checks = {}
    if fb:
        # A float64 copy of X would add 2 * x_bytes.
        checks["no_x_copy"] = (fb["peak_traced"] / fb["x_bytes"], 0.5,
                               fb["peak_traced"] < 0.5 * fb["x_bytes"])
        checks["excess_workspaces"] = (fb["excess_in_workspaces"], 4.0,
                                       fb["excess_in_workspaces"] <= 4.0)
    res["checks"] = checks
    return res


def format_memory(mem, table):
    """The memory table and fastbp's verdict; `table(headers, rows)` lays
    out the table."""
    headers = ["memory, " + mem["case"], "X", "peak numpy allocs in fit",
               "peak RSS growth", "params"]
    rows = []
    for lib, r in mem["libs"].items():
        rows.append([f"{lib} ({mem['rows']} rows, {r['coef_dtype']})",
                     f"{r['x_bytes'] / 2**20:.1f} MiB",
                     f"{r['peak_traced'] / 2**20:.1f} MiB",
                     f"{r['maxrss_growth'] / 2**20:.1f} MiB",
                     f"{r['params_bytes'] / 2**20:.2f} MiB"])
    out = [table(headers, rows)]
    fb = mem["libs"].get("fastbp")
    if fb:
        c = mem["checks"]
        out.append(
            f"fastbp: X copied to float64: {'no' if c['no_x_copy'][2] else 'YES'}; "
            f"peak beyond model state (params, Adam moments, "
            f"{mem['gradient_buffers']} gradient buffer(s), best copy) and "
            f"per-row targets = "
            f"{fb['excess_bytes'] / 2**20:.2f} MiB = {fb['excess_in_workspaces']:.1f} "
            f"batch workspaces ({mem['gradient_buffers']} allocated, "
            f"{mem['batch_workspace_bytes'] / 2**20:.2f} MiB each) "
            f"[aim: at most 4; reached: {'yes' if c['excess_workspaces'][2] else 'no'}]")
    return "\n".join(out)
