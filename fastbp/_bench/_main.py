"""The command line of ``fastbp bench``: parse, run the chosen parts,
print the report."""
import argparse
import json
import sys
import time

from fastbp._bench._common import (
    FULL_ROWS, N_CLASSES, QUICK_ROWS, default_threads, cpu_name, git_commit,
    core_pair, handoff_us, have_torch, loadavg, sgemm_gflops, step_gemm_gflops, step_isolated_ms,
    versions)
from fastbp._bench._report import format_report
from fastbp._bench._jax import have_jax
from fastbp._bench._memory import run_memory
from fastbp._bench._predict import run_predict
from fastbp._bench._train import CASES, LIBS, case_data, check_targets, run_case

EXTRA_CASES = ("predict", "memory", "busy", "sparse", "dtype")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="fastbp bench",
        description="Compare fastbp's MLPClassifier with scikit-learn's, "
                    "PyTorch's and a JAX/XLA program on training (ms per "
                    "epoch) and prediction.")
    p.add_argument("--quick", action="store_true",
                   help=f"a run of a minute or so on an idle machine (for CI "
                        f"and a first look): at most 5 epochs and 5 timed fits "
                        f"per library and case, {QUICK_ROWS} synthetic rows "
                        f"instead of {FULL_ROWS}, fewer repeats of every part; "
                        f"every aim is still marked reached or missed")
    p.add_argument("--cases", default=None,
                   help="comma-separated cases to run (default: all): "
                        + ", ".join([*CASES, *EXTRA_CASES]))
    p.add_argument("--libs", default=",".join(LIBS),
                   help="comma-separated libraries (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (default: all cores)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed fits per library and case (default 15, quick 5; "
                        "fewer where the fits would take more than ~15 s, quick "
                        "~1.5 s; the busy case: 11, quick 3)")
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the synthetic data (overrides the default)")
    p.add_argument("--busy", type=int, default=2, metavar="N",
                   help="busy-looping processes beside the 'busy' case "
                        "(default: %(default)s)")
    p.add_argument("--markdown", action="store_true",
                   help="print README-ready markdown tables")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write every measurement to PATH as JSON")
    return p.parse_args(argv)


def main(argv=None):
    """Run the benchmark; returns 0 (the exit status)."""
    args = parse_args(argv)
    threads = args.threads or default_threads()
    names = list(CASES) + list(EXTRA_CASES)
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown}; choose from {names}")
        names = [c for c in names if c in wanted]
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    bad = [lib for lib in libs if lib not in LIBS]
    if bad:
        raise SystemExit(f"unknown librar(y/ies) {bad}; choose from {list(LIBS)}")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if "torch" in libs and not have_torch():
        libs.remove("torch")
    if "jax" in libs and not have_jax():
        libs.remove("jax")
        log("  JAX is not installed (pip install 'fastbp[jax]'): its column "
            "is left out")
    # As many fits as fit in each case's time budget, up to 15: medians of
    # a few short fits move by tens of percent on a machine with other load.
    repeats = args.repeats or (5 if args.quick else 15)
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)

    t_start = time.perf_counter()
    report = {"meta": {"threads": threads, "quick": args.quick, "cpu": cpu_name(),
                       "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "commit": git_commit(),
                       "loadavg_start": loadavg(), "versions": versions(),
                       "libs": libs, "method": "fit(max_iter=k)/k, medians"},
              "cases": []}
    log(f"fastbp bench: threads={threads}, libs={libs}, "
        f"{'quick' if args.quick else 'full'} run")
    sg = {"numpy": sgemm_gflops(threads), "scipy": sgemm_gflops(threads, scipy_blas=True)}
    report["sgemm_gflops"] = sg
    log(f"  sgemm: numpy {sg['numpy']:.0f} GFLOP/s, scipy {sg['scipy']:.0f} GFLOP/s")
    data = {}
    for name in names:
        if name not in CASES:
            continue
        kind = CASES[name]["data"]
        if kind not in data:
            data[kind] = case_data(name, n_rows=rows)
        X, y = data[kind]
        sizes = [X.shape[1], *CASES[name]["hidden"], N_CLASSES]
        batch = CASES[name]["batch"]
        # The products alone and sgemm are measured beside each of
        # fastbp's fits (see run_case), like the libraries against each
        # other: a single measurement before or after a case of minutes
        # takes whatever load the machine had at that moment.
        # (quick: fewer calls per measurement; they run beside every fit)
        peer_repeats = 3 if args.quick else None
        reps = {"repeats": peer_repeats} if peer_repeats else {}
        peers = {"products": lambda: step_gemm_gflops(sizes, batch, threads, **reps),
                 "isolated": lambda: step_isolated_ms(sizes, batch, threads, **reps)}
        if threads >= 2:
            peers["core_pair"] = core_pair
            peers["handoff"] = handoff_us
        big = name == "784-1024-1024-b256"   # also its GFLOP/s against sgemm's
        if big:
            peers["sgemm"] = lambda: sgemm_gflops(
                threads, **({"repeats": 2} if args.quick else {}))
        res = run_case(name, X, y, threads=threads, libs=libs, repeats=repeats,
                       quick=args.quick, log=log, peers=peers,
                       min_fastbp_fits=3 if big else 1)
        res["step_gemm_gflops"] = res["peers"]["products"]["median"]
        res["step_gemm_ms_per_epoch"] = (1e3 * res["gflop_per_epoch"]
                                         / res["step_gemm_gflops"])
        res["step_isolated_ms_per_epoch"] = (res["peers"]["isolated"]["median"]
                                             * -(-len(X) // batch))
        check_targets(res, res["peers"]["sgemm"]["median"] if big else None)
        report["cases"].append(res)
    data.clear()
    if "predict" in names:
        report["predict"] = run_predict(threads=threads, libs=libs,
                                        quick=args.quick, log=log)
    if "memory" in names:
        report["memory"] = run_memory(threads=threads, libs=libs, quick=args.quick,
                                      log=log, n_rows=args.rows)
    if "busy" in names:
        from fastbp._bench._busy import run_busy

        report["busy"] = run_busy(threads=threads, quick=args.quick, log=log,
                                  n_busy=args.busy, repeats=args.repeats)
    if "sparse" in names:
        from fastbp._bench._sparse import run_sparse

        report["sparse"] = run_sparse(threads=threads, quick=args.quick, log=log,
                                      repeats=2 if args.quick else 3)
    if "dtype" in names:
        from fastbp._bench._dtype import run_dtype

        report["dtype"] = run_dtype(threads=threads, quick=args.quick, log=log)
    report["meta"]["loadavg_end"] = loadavg()
    report["meta"]["seconds"] = time.perf_counter() - t_start
    print(format_report(report, markdown=args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=float)
    log(f"done in {report['meta']['seconds']:.0f} s")
    return 0
