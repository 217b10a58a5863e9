"""Time one optimizer update (fastbp._core._optim.step) over a network's
parameters, with and without the sum of squares that the L2 term of the
next loss needs (Adam and adamw take it in the same pass).

    python benchmarks/optim_kernels.py                 # digits 64-100-10, float32
    python benchmarks/optim_kernels.py --params 1861642 --dtype float64

Prints the best of --repeats timings of --calls updates each, in us per
update (the Python call costs about 0.3 us of it).
"""
import argparse
import time

import numpy as np

from fastbp._core import _optim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", type=int, default=7510,
                    help="parameter count (default: digits 64-100-10)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    P = args.params
    rng = np.random.default_rng(0)
    p = (0.1 * rng.standard_normal(P)).astype(args.dtype)
    g = rng.standard_normal(P).astype(args.dtype)
    calls = max(1, args.calls * 7510 // P)
    for name in ("sgd", "adam", "rmsprop"):
        kind = _optim.OPTIMIZERS[name]
        for sumsq in (False, True):
            s1 = np.zeros(P, args.dtype)
            s2 = np.full(P, 1e-3, args.dtype)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for _ in range(calls):
                    _optim.step(kind, p, g, s1, s2, P, 10, 1e-6, want_sumsq=sumsq)
                best = min(best, (time.perf_counter() - t0) / calls)
            print(f"{name:8s} {'with' if sumsq else 'without':7s} sum of squares: "
                  f"{1e6 * best:9.2f} us")


if __name__ == "__main__":
    main()
