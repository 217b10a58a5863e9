"""How fast OpenBLAS runs the matrix products of one thread's part of a
layer-split mini-batch, against its speed on a square product.

fastbp splits each layer's products of a mini-batch over the threads (see
forward_part and backward_part in fastbp/_core/_backprop.pyx): the forward
product A (m x k) @ W (k x n) by columns of W when n >= m, else by rows of
A; the weight gradient A^T D by rows of the gradient when n <= k, else by
columns; the input gradient D @ W^T by its columns when k >= m, else by
rows. Each thread calls a one-thread product on its part: BLAS's sgemm,
or fastbp's own kernel where the CPU has AVX-512F (benchmarks/
gemm_kernel.py times that one). This script times those parts and a
float32 2048^3 product through scipy's sgemm, alternating (one thread,
preallocated output), and prints each part's GFLOP/s and its share of the
square product's: the most a layer-split step on BLAS can reach before any
activation, loss or optimizer work.

    python benchmarks/gemm_shapes.py                       # 784-1024-1024-10, batch 256, 2 threads
    python benchmarks/gemm_shapes.py --sizes 784,256,128,10 --batch 128
"""
import argparse
import statistics

import numpy as np
from scipy.linalg.blas import sgemm

from fastbp._bench._common import median_seconds, sgemm_gflops


def part_shapes(sizes, m, threads):
    """(name, trans_a, M, N, K) of one thread's products in a step (row-
    major C (M x N) = op(A) op(B), K summed), as fastbp cuts them."""
    T = threads
    out = []
    for l, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        out.append((f"forward {l}", False,
                    *((m, n // T, k) if n >= m else (m // T, n, k))))
    for l in range(len(sizes) - 2, -1, -1):
        k, n = sizes[l], sizes[l + 1]
        out.append((f"weight gradient {l}", True,
                    *((k // T, n, m) if n <= k else (k, n // T, m))))
        if l > 0:
            out.append((f"input gradient {l}", False,
                        *((m, k // T, n) if k >= m else (m // T, k, n))))
    return out


def timer(trans_a, M, N, K, rng):
    A = rng.standard_normal((K, M) if trans_a else (M, K), dtype=np.float32)
    B = rng.standard_normal((K, N), dtype=np.float32)
    C = np.zeros((M, N), np.float32)

    # column-major C^T = B^T op(A)^T: the transposed arrays are Fortran-order
    def run():
        sgemm(1.0, B.T, A.T, beta=0.0, c=C.T, trans_b=int(trans_a), overwrite_c=1)
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="784,1024,1024,10")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=2,
                   help="threads the step is split over (each part is timed on one)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--square", type=int, default=2048,
                   help="side of the square product set against (default 2048)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    parts = part_shapes(sizes, args.batch, args.threads)
    runs = {name: (timer(t, M, N, K, rng), 2.0 * M * N * K, (M, N, K))
            for name, t, M, N, K in parts}
    q = args.square
    rates = {name: [] for name in runs}
    sq = []
    for _ in range(args.rounds):
        sq.append(sgemm_gflops(1, n=q, repeats=3, scipy_blas=True))
        for name, (fn, flop, _) in runs.items():
            rates[name].append(flop / median_seconds(fn, 1, 9) / 1e9)
    s = statistics.median(sq)
    print(f"sizes {sizes}, batch {args.batch}, parts of {args.threads} threads, "
          f"one thread each; {q}^3: {s:.1f} GFLOP/s")
    total_flop = total_s = 0.0
    for name, (_, flop, (M, N, K)) in runs.items():
        r = statistics.median(rates[name])
        total_flop += flop
        total_s += flop / r
        print(f"  {name:20s} {M:5d} x {N:5d} x {K:5d}  {r:6.1f} GFLOP/s  {r / s:4.0%}")
    r = total_flop / total_s
    print(f"  {'the whole step':20s} {'':21s} {r:6.1f} GFLOP/s  {r / s:4.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
