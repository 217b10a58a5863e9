"""Data-parallel training over MPI: communication per step, efficiency at
1, 2 and 4 ranks, and a model of the scaling to many nodes.

    python benchmarks/mpi_bench.py               # launches mpiexec -n 1, 2, 4
    python benchmarks/mpi_bench.py --ranks 1,2 --json out.json

Each launch runs ``python -m mpi4py benchmarks/mpi_bench.py --worker`` on
every rank, one thread per rank. Per network it reports the fit time, the
time per step spent in the gradient Allgather, the speedup and efficiency
against one rank, and micro-benchmarks of Allgather (what fastbp uses: a
fixed summation order) and Allreduce (what it does not: no fixed order) of
the same message. On a machine with fewer cores than ranks, ranks share
cores: their efficiency is that of oversubscription, reported as measured.

The model: a step of P ranks on a global batch B costs compute(B) / P +
comm(P), with compute(B) measured at one rank; efficiency is then
compute / (compute + P * comm). For nodes on a network, an Allgather of
P slots of S bytes costs about latency * log2(P) + (P - 1) * S / bandwidth
per rank (ring or recursive doubling), against 2 * (P - 1) / P * S /
bandwidth for a ring Allreduce.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

NETS = {
    # name: (features, hidden, classes, batch, rows, epochs)
    "small 100-256-10 b256": (100, (256,), 10, 256, 40_000, 2),
    "wide 784-512-512-10 b512": (784, (512, 512), 10, 512, 12_000, 1),
}


def worker(out):
    import warnings

    from mpi4py import MPI

    import fastbp
    from fastbp import _parallel

    comm = MPI.COMM_WORLD
    P, rank = comm.Get_size(), comm.Get_rank()
    warnings.simplefilter("ignore")
    results = {}
    for name, (f, hidden, k, batch, rows, epochs) in NETS.items():
        rs = np.random.RandomState(0)
        X = rs.standard_normal((rows, f)).astype(np.float32)
        y = (X[:, :k] + 0.5 * rs.standard_normal((rows, k))).argmax(1)
        kw = dict(hidden_layer_sizes=hidden, batch_size=batch, max_iter=epochs,
                  random_state=0, n_threads=1, shuffle=True, tol=0,
                  n_iter_no_change=10 ** 6)
        with fastbp.data_parallel(comm):
            fastbp.MLPClassifier(**{**kw, "max_iter": 1}).fit(X[:4 * batch], y[:4 * batch])
            comm.Barrier()
            t0 = time.perf_counter()
            clf = fastbp.MLPClassifier(**kw).fit(X, y)
            comm.Barrier()
            fit_s = time.perf_counter() - t0
        run = _parallel.last_run
        n_params = clf.network_.n_params
        msg = np.zeros(n_params + 4, dtype=np.float32)
        gathered = np.zeros((P, n_params + 4), dtype=np.float32)
        reduced = np.zeros_like(msg)
        ag, ar = [], []
        for _ in range(30):
            comm.Barrier()
            t = time.perf_counter()
            comm.Allgather(msg, gathered)
            ag.append(time.perf_counter() - t)
            comm.Barrier()
            t = time.perf_counter()
            comm.Allreduce(msg, reduced)
            ar.append(time.perf_counter() - t)
        local = None
        if P == 1:   # the same fit without MPI: the compiled epoch
            t = time.perf_counter()
            fastbp.MLPClassifier(**kw).fit(X, y)
            local = time.perf_counter() - t
        results[name] = {
            "ranks": P, "fit_s": fit_s, "steps": run.steps,
            "comm_ms_per_step": 1e3 * run.comm_seconds / run.steps,
            "step_ms": 1e3 * fit_s / run.steps,
            "rows_per_s": rows * epochs / fit_s, "n_params": n_params,
            "msg_bytes": msg.nbytes,
            "allgather_ms": 1e3 * float(np.median(ag)),
            "allreduce_ms": 1e3 * float(np.median(ar)),
            "one_process_fit_s": local,
        }
    if rank == 0:
        with open(out, "w") as fh:
            json.dump(results, fh)


def model(res1, nodes=(8, 64, 512), bandwidth=10e9, latency=5e-6):
    """Projected efficiency on `nodes` nodes of one rank each, from the
    one-rank compute time per step and a network of `bandwidth` bytes/s.

    Allgather of P slots of S bytes (what fastbp does, for a fixed summation
    order): log2(P) * latency + (P - 1) * S / bandwidth. Allreduce
    (Rabenseifner, for comparison; no fixed order): 2 * log2(P) * latency +
    2 * (P - 1) / P * S / bandwidth. Strong scaling: the global batch is cut
    over P ranks, a step costs compute / P + comm. Weak scaling: each rank
    keeps the batch (the global batch grows P times), a step costs compute
    + comm."""
    lines = []
    for name, r1 in res1.items():
        compute = r1["step_ms"] / 1e3 - r1["comm_ms_per_step"] / 1e3
        S = r1["msg_bytes"]
        strong, weak = [], []
        for P in nodes:
            lg = np.log2(P)
            ag = lg * latency + (P - 1) * S / bandwidth
            ar = 2 * lg * latency + 2 * (P - 1) / P * S / bandwidth
            strong.append(f"P={P} {compute / (compute + P * ag):.0%} "
                          f"(Allreduce {compute / (compute + P * ar):.0%})")
            weak.append(f"P={P} {compute / (compute + ag):.0%} "
                        f"(Allreduce {compute / (compute + ar):.0%})")
        lines.append(f"  {name}: compute {compute * 1e3:.2f} ms/step at 1 rank, "
                     f"{S / 1e6:.2f} MB per slot")
        lines.append("    same global batch: " + "; ".join(strong))
        lines.append("    same batch per rank: " + "; ".join(weak))
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--json", default=None)
    ap.add_argument("--from-json", default=None,
                    help="print the table and model of a saved --json run")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.from_json:
        with open(args.from_json) as fh:
            return report({int(k): v for k, v in json.load(fh).items()})
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        mpiexec = "mpiexec"
    all_res = {}
    for P in [int(p) for p in args.ranks.split(",")]:
        out = f"/tmp/fastbp_mpi_bench_{os.getpid()}_{P}.json"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        subprocess.run([mpiexec, "-n", str(P), sys.executable, "-m", "mpi4py",
                        __file__, "--worker", out], check=True, env=env,
                       timeout=1800)
        with open(out) as fh:
            all_res[P] = json.load(fh)
        os.remove(out)
    report(all_res)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(all_res, fh, indent=1)


def report(all_res):
    base = all_res[min(all_res)]
    print(f"{os.cpu_count()} cores; one thread per rank; float32; times are "
          "one fit after a warm-up")
    for name in NETS:
        r1 = base[name]
        print(f"\n{name} ({r1['n_params']} parameters, {r1['msg_bytes'] / 1e6:.2f} MB "
              f"per slot, {r1['steps']} steps)")
        if r1.get("one_process_fit_s"):
            print(f"  no MPI (compiled epoch): {r1['one_process_fit_s']:.2f} s")
        print("  ranks   fit s   step ms   in Allgather ms/step   speedup   "
              "efficiency   Allgather alone ms   Allreduce alone ms")
        for P, res in sorted(all_res.items()):
            r = res[name]
            sp = r1["fit_s"] / r["fit_s"]
            print(f"  {P:5d} {r['fit_s']:7.2f} {r['step_ms']:9.3f} "
                  f"{r['comm_ms_per_step']:22.3f} {sp:9.2f} {sp / P:12.0%} "
                  f"{r['allgather_ms']:20.3f} {r['allreduce_ms']:20.3f}")
    print("\n('in Allgather' includes waiting for the slowest rank; 'alone' "
          "is the collective timed by itself, median of 30)")
    print("\nModel, one rank per node, 10 GB/s network, 5 us latency, from "
          "the one-rank compute time per step:")
    for line in model(base):
        print(line)


if __name__ == "__main__":
    main()
