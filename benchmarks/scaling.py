"""Thread scaling of fastbp beside PyTorch (CPU, and CUDA when there is a GPU).

For a many-core machine (made for 16 cores; thread counts above the machine's
are dropped). Prints markdown tables and writes every measurement to --out
(JSON, rewritten after each measurement, so a cut-off run keeps what it did).

* 784-1024-1024-10 batch 256 and 784-256-128-10 batch 128, on synthetic
  float32 data (--rows, default 20000): ms per epoch at 1, 2, 4, 8, 16
  threads for
    - fastbp, ``n_threads=k`` (its own choice of split, BLAS at one thread
      per OpenMP thread);
    - fastbp with every mini-batch split by rows (a gradient copy per
      thread), and by layers (each GEMM split over the threads), to check
      the rule that chooses between them;
    - PyTorch CPU eager, ``torch.set_num_threads(k)``;
  and numpy's sgemm GFLOP/s at k threads (2048^3, float32), with fastbp's
  GFLOP/s as a fraction of it.
* PyTorch on the CUDA GPU (when ``torch.cuda.is_available()``): digits
  64-100-10 batch 32 and 784-256-128-10 batch 128, data resident on the GPU,
  ``torch.cuda.synchronize()`` around the timed epochs, beside fastbp's best
  CPU time.

Every timed fit follows a warm-up epoch on a subset of the rows; each
measurement is the median of up to --repeats timed fits of --epochs epochs,
as many as the remaining time budget (--budget-seconds) allows, the series
of one thread count interleaved fit by fit (a slow spell of a shared
machine then hits them alike); measurements that the budget cannot cover
are reported as skipped.

Usage: ``python benchmarks/scaling.py --out scaling.json`` (with fastbp
importable: installed, or PYTHONPATH at a built checkout).
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

from fastbp._bench._common import (
    cpu_name, default_threads, digits_data, have_torch, sgemm_gflops,
    synthetic_data, train_flops_per_sample, versions,
)
from fastbp._bench._train import fit_fastbp, fit_fastbp_split, fit_torch

CPU_CASES = [("784-1024-1024-b256", (1024, 1024), 256),
             ("784-256-128-b128", (256, 128), 128)]
GPU_CASES = [("digits-b32", "digits", (100,), 32),
             ("784-256-128-b128", "synthetic", (256, 128), 128)]


SERIES = {
    "fastbp": fit_fastbp,
    "fastbp_rows": fit_fastbp_split(False),
    "fastbp_layers": fit_fastbp_split(True),
    "torch_cpu": fit_torch,
}
# At one thread every mini-batch is one block: the forced splits are fastbp.
ONE_THREAD_SKIP = ("fastbp_rows", "fastbp_layers")


class Budget:
    def __init__(self, seconds):
        self.end = time.perf_counter() + seconds

    def left(self):
        return self.end - time.perf_counter()


def measure(fit, X, y, hidden, batch, threads, *, epochs, repeats, budget,
            n_warm, guess_s=None, **kw):
    """Median seconds per epoch, or None (skipped) when out of budget."""
    if guess_s is not None and budget.left() < guess_s * (epochs + 0.3):
        return None, "skipped: budget"
    if budget.left() < 1.0:
        return None, "skipped: budget"
    fit(X[:n_warm], y[:n_warm], hidden, batch, 1, threads, **kw)
    samples = []
    for r in range(repeats):
        if samples and budget.left() < 1.2 * samples[-1] * epochs:
            break
        dt, curve, _ = fit(X, y, hidden, batch, epochs, threads, seed=r, **kw)
        if not np.isfinite(curve).all():
            return None, "non-finite loss"
        samples.append(dt / epochs)
    return statistics.median(samples), f"{len(samples)}x{epochs} epochs"


def fmt(v):
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="scaling.json", help="JSON output path")
    p.add_argument("--threads", default="1,2,4,8,16",
                   help="comma-separated thread counts (default %(default)s)")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per fit")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--budget-seconds", type=float, default=480.0)
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)

    budget = Budget(args.budget_seconds)
    t_start = time.perf_counter()
    n_cores = default_threads()
    counts = [int(c) for c in args.threads.split(",") if c.strip()]
    counts = [c for c in counts if c <= n_cores] or [n_cores]
    use_torch = have_torch() and not args.no_torch
    cuda = False
    if use_torch:
        import torch

        cuda = torch.cuda.is_available()
    series = [s for s in SERIES if use_torch or not s.startswith("torch")]
    out = {"meta": {"cpu": cpu_name(), "cores": n_cores, "versions": versions(),
                    "rows": args.rows, "epochs": args.epochs,
                    "budget_seconds": args.budget_seconds,
                    "cuda": (torch.cuda.get_device_name(0) if cuda else None)},
           "cpu": [], "gpu": []}

    def save():
        out["meta"]["seconds"] = time.perf_counter() - t_start
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    X, y = synthetic_data(args.rows)
    n_warm = min(args.rows, 2000)
    # Cheapest first: high thread counts, then fewer (where a budget cut then
    # falls on the slow single-thread runs, whose time the others predict).
    for name, hidden, batch in CPU_CASES:
        sizes = [X.shape[1], *hidden, 10]
        gflop = train_flops_per_sample(sizes) * X.shape[0] / 1e9
        last = {}
        for k in sorted(counts, reverse=True):
            row = {"case": name, "rows": X.shape[0], "threads": k,
                   "gflop_per_epoch": gflop}
            try:
                row["sgemm_gflops"] = sgemm_gflops(k, repeats=3)
            except Exception as e:  # pragma: no cover
                row["sgemm_gflops"] = None
                log(f"sgemm failed: {e}")
            # Interleaved: one timed fit of each series per round, so that a
            # slow spell of this shared machine hits them alike.
            names = [s for s in series if not (k == 1 and s in ONE_THREAD_SKIP)]
            times, notes = {s: [] for s in names}, {}
            for s in names:
                try:
                    SERIES[s](X[:n_warm], y[:n_warm], hidden, batch, 1, k)
                except Exception as e:  # keep going: report what failed
                    notes[s] = f"error: {type(e).__name__}: {e}"
            # Halving the threads at most ~doubles the time.
            guess = 2.2 * sum(last.values()) if len(last) == len(names) else None
            for r in range(args.repeats):
                if guess is not None and budget.left() < guess * args.epochs:
                    break
                t_round = time.perf_counter()
                for s in names:
                    if s in notes:
                        continue
                    try:
                        dt, curve, _ = SERIES[s](X, y, hidden, batch, args.epochs,
                                                 k, seed=r)
                        if not np.isfinite(curve).all():
                            notes[s] = "non-finite loss"
                        else:
                            times[s].append(dt / args.epochs)
                    except Exception as e:
                        notes[s] = f"error: {type(e).__name__}: {e}"
                guess = (time.perf_counter() - t_round) / args.epochs
            for s in names:
                sec = statistics.median(times[s]) if times[s] else None
                note = notes.get(s) or (f"{len(times[s])}x{args.epochs} epochs, "
                                        "interleaved" if times[s] else "skipped: budget")
                if sec is not None:
                    last[s] = sec
                    row[f"{s}_ms"] = 1e3 * sec
                    row[f"{s}_gflops"] = gflop / sec
                row[f"{s}_note"] = note
                log(f"{name} threads={k} {s}: "
                    f"{'-' if sec is None else f'{1e3 * sec:.1f} ms/epoch'} ({note})")
            out["cpu"].append(row)
            save()

    if cuda:
        import torch

        dev = "cuda"
        data = {"digits": digits_data(), "synthetic": (X, y)}
        for name, kind, hidden, batch in GPU_CASES:
            Xc, yc = data[kind]
            tensors = (torch.from_numpy(Xc).to(dev), torch.from_numpy(yc).to(dev))
            row = {"case": name, "rows": Xc.shape[0], "device": out["meta"]["cuda"]}
            try:
                fit_torch(Xc, yc, hidden, batch, 1, None, device=dev, data=tensors)
                samples = []
                for r in range(args.repeats):
                    if budget.left() < 2.0:
                        break
                    dt, _, _ = fit_torch(Xc, yc, hidden, batch, args.epochs, None,
                                         seed=r, device=dev, data=tensors)
                    samples.append(dt / args.epochs)
                row["torch_cuda_ms"] = 1e3 * statistics.median(samples) if samples else None
            except Exception as e:
                row["torch_cuda_ms"] = None
                row["note"] = f"error: {type(e).__name__}: {e}"
            # fastbp's best CPU time for the same case and rows.
            best = None
            if budget.left() > 5.0:
                try:
                    k = max(counts)
                    sec, _ = measure(fit_fastbp, Xc, yc, hidden, batch, k,
                                     epochs=args.epochs, repeats=args.repeats,
                                     budget=budget, n_warm=min(Xc.shape[0], 2000))
                    if sec is not None:
                        best = (1e3 * sec, k)
                    if k > 1 and budget.left() > 5.0:
                        sec1, _ = measure(fit_fastbp, Xc, yc, hidden, batch, 1,
                                          epochs=args.epochs, repeats=args.repeats,
                                          budget=budget,
                                          n_warm=min(Xc.shape[0], 2000))
                        if sec1 is not None and (best is None or 1e3 * sec1 < best[0]):
                            best = (1e3 * sec1, 1)
                except Exception as e:
                    row["fastbp_note"] = f"error: {type(e).__name__}: {e}"
            if best:
                row["fastbp_cpu_ms"], row["fastbp_threads"] = best
            log(f"GPU {name}: torch cuda {fmt(row.get('torch_cuda_ms'))} ms/epoch, "
                f"fastbp CPU {fmt(row.get('fastbp_cpu_ms'))} ms/epoch")
            out["gpu"].append(row)
            save()

    # Report.
    print(f"# fastbp thread scaling: {out['meta']['cpu']}, {n_cores} cores, "
          f"{args.rows} synthetic rows, ms per epoch (median)\n")
    headers = ["case", "threads", "fastbp", "rows split", "layer split",
               "torch CPU", "fastbp vs torch", "fastbp speed-up vs 1 thread",
               "sgemm GFLOP/s", "fastbp GFLOP/s", "fastbp % sgemm"]
    one = {r["case"]: r.get("fastbp_ms") for r in out["cpu"] if r["threads"] == 1}
    rows = []
    for r in sorted(out["cpu"], key=lambda r: (r["case"], r["threads"])):
        fb, tc = r.get("fastbp_ms"), r.get("torch_cpu_ms")
        sg, fg = r.get("sgemm_gflops"), r.get("fastbp_gflops")
        base = one.get(r["case"])
        rows.append([r["case"], str(r["threads"]), fmt(fb),
                     fmt(r.get("fastbp_rows_ms")), fmt(r.get("fastbp_layers_ms")),
                     fmt(tc), f"{tc / fb:.2f}x" if fb and tc else "-",
                     f"{base / fb:.1f}x" if fb and base else "-",
                     fmt(sg), fmt(fg),
                     f"{fg / sg:.0%}" if fg and sg else "-"])
    print(table(headers, rows))
    if out["gpu"]:
        print(f"\n## PyTorch on {out['meta']['cuda']} vs fastbp on the CPU\n")
        rows = []
        for r in out["gpu"]:
            g, c = r.get("torch_cuda_ms"), r.get("fastbp_cpu_ms")
            rows.append([r["case"], str(r["rows"]), fmt(g),
                         f"{fmt(c)} ({r.get('fastbp_threads', '-')} thr)",
                         f"{g / c:.2f}x" if g and c else "-"])
        print(table(["case", "rows", "torch CUDA", "fastbp CPU (best)",
                     "fastbp vs torch CUDA"], rows))
    elif use_torch:
        print("\n(no CUDA device: GPU comparison skipped)")
    save()
    log(f"done in {time.perf_counter() - t_start:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
