"""One-thread speed of the product fastbp's layers run (fastbp._core._kernels
.matmul: fastbp's own AVX-512 kernels where the CPU has AVX-512F,
fastbp/_core/_gemm.h) against the BLAS that numpy loads, on the shapes of
one thread's part of a layer-split step and on 2048^3, in float32 (or
--dtype float64). Interleaved, best of 5 rounds, GFLOP/s.

    python benchmarks/gemm_kernel.py
    python benchmarks/gemm_kernel.py --dtype float64
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_kernel.py

The second line lets OpenBLAS pick its kernels by itself (see which in the
first line it prints); on the machines of this project OPENBLAS_CORETYPE
may be set to an older processor on purpose.
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from fastbp._core import _kernels

# (trans_a, trans_b, m, n, k): 784-1024-1024-10 at batch 256 and
# 784-256-128-10 at batch 128 cut over 2 threads, then a square product.
SHAPES = [(0, 0, 256, 512, 784), (0, 0, 256, 512, 1024), (1, 0, 512, 1024, 256),
          (1, 0, 784, 512, 256), (0, 1, 256, 512, 1024), (0, 0, 128, 128, 256),
          (0, 0, 128, 256, 784), (1, 0, 392, 256, 128), (0, 1, 128, 392, 256),
          (0, 0, 2048, 2048, 2048)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    dtype = np.dtype(ap.parse_args().dtype)
    kernels = sorted({p.get("architecture") for p in threadpool_info()
                      if p.get("internal_api") == "openblas"} - {None})
    print(f"OpenBLAS kernels: {', '.join(kernels) or 'none'}; fastbp's own "
          f"kernels: {'on' if _kernels.own_gemm() else 'off'}")
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"):
        for ta, tb, m, n, k in SHAPES:
            A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
            B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
            C = np.empty((m, n), dtype)
            oa, ob = (A.T if ta else A), (B.T if tb else B)
            runs = {"fastbp": lambda: _kernels.matmul(A, B, C, ta, tb),
                    "numpy": lambda: np.matmul(oa, ob, out=C)}
            reps = max(3, int(1e9 / (2 * m * n * k)))
            best = {name: float("inf") for name in runs}
            for _ in range(5):
                for name, f in runs.items():
                    f()
                    t = time.perf_counter()
                    for _ in range(reps):
                        f()
                    best[name] = min(best[name], (time.perf_counter() - t) / reps)
            flops = 2.0 * m * n * k
            print(f"{'NT'[ta]}{'NT'[tb]} {m:>4}x{n:<4}x{k:<4} "
                  + "  ".join(f"{name} {flops / s / 1e9:5.0f}"
                              for name, s in best.items()) + "  GFLOP/s")


if __name__ == "__main__":
    main()
