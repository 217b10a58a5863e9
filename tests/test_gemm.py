"""The matrix product every layer runs (fastbp/_core/_blas.pxd's gemm):
fastbp's own AVX-512 kernels where the CPU has AVX-512F
(fastbp/_core/_gemm.h), else BLAS.

Pinned against numpy's float64 product on every transpose, edge tiles of
every size, strided operands, beta 0 (C never read) and 1, and the
property the layer split relies on: a row or column part of a product,
computed alone, has the same bits as in the whole product."""
import os
import subprocess
import sys

import numpy as np
import pytest

from fastbp._core import _kernels

# Tiles are 8 rows by 32 columns, blocks 256 deep, 256 rows and 2048
# columns: shapes on both sides of each edge.
SHAPES = [(1, 32, 8), (7, 33, 9), (8, 32, 256), (9, 63, 257), (17, 95, 300),
          (256, 512, 784), (257, 2049, 40), (300, 40, 513), (3, 1000, 17)]
# Narrower than a tile (one or two masked vectors a row, no packing), on
# both sides of a vector's width and of a KC block, and k under 8 (BLAS).
NARROW = [(32, 10, 100), (100, 10, 32), (9, 17, 300), (13, 1, 8), (5, 31, 600),
          (16, 16, 257), (7, 8, 9), (20, 7, 7), (1, 5, 64)]


def reference(A, B, ta, tb, beta, C0):
    a = (A.T if ta else A).astype(np.float64)
    b = (B.T if tb else B).astype(np.float64)
    return a @ b + (beta * C0.astype(np.float64) if beta else 0)


def operands(rng, m, n, k, ta, tb, dtype, pad=0):
    """A, B with rows `pad` elements longer than they are used (views)."""
    a_shape = (k, m) if ta else (m, k)
    b_shape = (n, k) if tb else (k, n)
    A = rng.standard_normal((a_shape[0], a_shape[1] + pad)).astype(dtype)
    B = rng.standard_normal((b_shape[0], b_shape[1] + pad)).astype(dtype)
    return A[:, :a_shape[1]], B[:, :b_shape[1]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False),
                                   (False, True), (True, True)])
@pytest.mark.parametrize("m,n,k", SHAPES + NARROW)
def test_product_matches_float64_numpy(m, n, k, ta, tb, dtype):
    rng = np.random.default_rng(m * 1000 + n + k)
    A, B = operands(rng, m, n, k, ta, tb, dtype, pad=3)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    eps = np.finfo(dtype).eps
    for beta in (0.0, 1.0):
        C = C0.copy()
        if beta == 0:
            C[:] = np.nan      # beta 0 must not read C
        _kernels.matmul(A, B, C, ta, tb, beta)
        want = reference(A, B, ta, tb, beta, C0)
        # each element sums k products of standard normals
        scale = np.sqrt(k) + (np.abs(C0) if beta else 0)
        assert np.all(np.abs(C - want) <= 8 * eps * k * scale), (beta, ta, tb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True)])
def test_a_part_of_a_product_has_the_bits_it_has_in_the_whole(ta, tb, dtype):
    """Rows i0:i1 or columns j0:j1 of C computed by a call of their own equal
    the same elements of the whole product bit for bit (the layer split
    cuts each product so), narrow parts too (under a tile: 32 floats, 16
    doubles) where op(B) is B; with op(B) = B^T those go to BLAS, which
    rounds differently (_gemm.h)."""
    rng = np.random.default_rng(5)
    m, n, k = 120, 200, 600
    A, B = operands(rng, m, n, k, ta, tb, dtype)
    whole = np.empty((m, n), dtype)
    _kernels.matmul(A, B, whole, ta, tb)
    for i0, i1 in [(0, 1), (3, 50), (50, 120)]:
        part = np.empty((i1 - i0, n), dtype)
        _kernels.matmul(A[:, i0:i1] if ta else A[i0:i1], B, part, ta, tb)
        np.testing.assert_array_equal(part, whole[i0:i1])
    narrow = [] if tb else [(0, 10), (33, 50), (190, 200), (64, 65)]
    for j0, j1 in [(0, 32), (40, 72), (16, 200)] + narrow:
        part = np.empty((m, j1 - j0), dtype)
        _kernels.matmul(A, B[j0:j1] if tb else B[:, j0:j1], part, ta, tb)
        np.testing.assert_array_equal(part, whole[:, j0:j1])
    # and into a column view of a wider C, as the column parts write
    wide = np.full((m, n + 7), dtype(7))
    _kernels.matmul(A, B, wide[:, 3:3 + n], ta, tb)
    np.testing.assert_array_equal(wide[:, 3:3 + n], whole)
    assert np.all(wide[:, :3] == 7) and np.all(wide[:, 3 + n:] == 7)


def test_the_kernel_runs_exactly_where_the_cpu_has_avx512f():
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        pytest.skip("no /proc/cpuinfo to read the CPU's features from")
    import platform
    has = platform.machine() in ("x86_64", "AMD64") and " avx512f" in flags
    assert _kernels.own_gemm() == has


@pytest.mark.parametrize("dtype,rel", [("float32", 1e-4), ("float64", 1e-10)])
def test_fastbp_gemm_blas_turns_the_kernel_off_and_the_fit_agrees(dtype, rel):
    code = ("import numpy as np; from fastbp import MLPClassifier;"
            "from fastbp._core import _kernels;"
            "rng = np.random.default_rng(0);"
            f"X = rng.standard_normal((300, 40)).astype(np.{dtype});"
            "y = (X[:, 0] > 0).astype(int);"
            "c = MLPClassifier((64,), max_iter=5, random_state=0,"
            " n_threads=1).fit(X, y);"
            "print(_kernels.own_gemm(), repr(c.loss_))")
    out = {}
    for mode in ("blas", "auto"):
        env = dict(os.environ, FASTBP_GEMM=mode)
        res = subprocess.run([sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        own, loss = res.stdout.split()
        out[mode] = (own == "True", float(loss))
    assert out["blas"][0] is False
    # the two kernels round differently, never by more than the dtype's noise
    assert out["blas"][1] == pytest.approx(out["auto"][1], rel=rel)
