# cython: language_level=3
"""Elementwise access to the compiled activation and loss kernels, for the
Python layer and for tests (the training loop inlines them)."""

import numpy as np

cimport numpy as cnp

from cython cimport floating

from fastbp._core._activations cimport (
    activate, bias_activate, column_sums, mul_derivative,
    ACT_IDENTITY, ACT_LOGISTIC, ACT_TANH, ACT_RELU, ACT_LEAKY_RELU, ACT_ELU,
    ACT_SOFTPLUS, ACT_GELU, OUT_IDENTITY, OUT_SOFTMAX, OUT_LOGISTIC, OUT_EXP,
)
from fastbp._core._losses cimport loss_delta_row, sexp, vexp, vexp_inplace
from fastbp._core._blas cimport gemm, fastbp_gemm_enabled

cnp.import_array()

ACTIVATIONS = {
    "identity": ACT_IDENTITY, "logistic": ACT_LOGISTIC, "tanh": ACT_TANH,
    "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "elu": ACT_ELU,
    "softplus": ACT_SOFTPLUS, "gelu": ACT_GELU,
}
OUTPUTS = {"identity": OUT_IDENTITY, "softmax": OUT_SOFTMAX,
           "logistic": OUT_LOGISTIC, "exp": OUT_EXP}


def softmax_exp(floating[::1] x, bint one_at_a_time=False,
                bint in_place=False):
    """exp of every value of x as the softmax computes it (_exp_kernels.h):
    a new array from the vectorized loop (the default), the loop in place,
    or the function one value at a time (all three give the same bits)."""
    cdef Py_ssize_t i, n = x.shape[0]
    out_arr = np.empty(n, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] out = out_arr
    if n == 0:
        return out_arr
    with nogil:
        if one_at_a_time:
            for i in range(n):
                out[i] = sexp(x[i])
        elif in_place:
            out[:] = x
            vexp_inplace(&out[0], n)
        else:
            vexp(&out[0], &x[0], n)
    return out_arr


def activation(int kind, floating[::1] x):
    """Apply the hidden activation `kind` to x in place."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            x[i] = activate(kind, x[i])


def bias_activate_rows(int kind, floating[:, ::1] a, const floating[::1] b):
    """a[i, j] = f(a[i, j] + b[j]) in place: the pass after a layer's
    forward product."""
    if b.shape[0] != a.shape[1]:
        raise ValueError("b must have one value per column of a")
    if a.shape[0] == 0 or a.shape[1] == 0:
        return
    with nogil:
        bias_activate(kind, &a[0, 0], &b[0], a.shape[0], a.shape[1], NULL,
                      a.shape[1])


def column_sums_rows(const floating[:, ::1] D, floating[::1] gb,
                     Py_ssize_t j0, Py_ssize_t j1, bint zero=True):
    """gb[j0:j1] (from 0 when zero, else from its value) plus D's column
    sums, row 0 first: a layer's bias gradient."""
    if gb.shape[0] != D.shape[1] or not 0 <= j0 <= j1 <= D.shape[1]:
        raise ValueError("gb must have one value per column of D, and "
                         "0 <= j0 <= j1 <= its columns")
    if j0 == j1:
        return
    if D.shape[0] == 0:         # (no rows to add: only the zeroing)
        if zero:
            gb[j0:j1] = 0
        return
    with nogil:
        column_sums(&gb[0], &D[0, 0], D.shape[0], D.shape[1], j0, j1, zero)


def derivative(int kind, floating[::1] delta, const floating[::1] a,
               const floating[::1] z):
    """delta *= f'(z) in place, given a = f(z) (and z, for GELU)."""
    if a.shape[0] != delta.shape[0] or z.shape[0] != delta.shape[0]:
        raise ValueError("delta, a and z must have the same length")
    if delta.shape[0] == 0:
        return
    with nogil:
        mul_derivative(kind, &delta[0], &a[0], &z[0], delta.shape[0])


def output_loss(int kind, floating[:, ::1] z, const floating[:, ::1] y,
                const floating[::1] w, floating[:, ::1] delta):
    """Per-sample losses; z becomes the output activation, delta = w (f(z) - y)."""
    cdef Py_ssize_t i, n = z.shape[0], k = z.shape[1]
    cdef double[::1] out = np.empty(n)
    if y.shape[0] != n or y.shape[1] != k or delta.shape[0] != n or delta.shape[1] != k or w.shape[0] != n:
        raise ValueError("z, y, w and delta must agree in shape")
    if k == 0:
        raise ValueError("need at least one output")
    if n > 0 and np.shares_memory(np.asarray(z), np.asarray(delta)):
        # (the softmax writes exps into delta while reading z)
        raise ValueError("z and delta must not overlap")
    with nogil:
        for i in range(n):
            out[i] = loss_delta_row(kind, &z[i, 0], &y[i, 0], w[i], k, &delta[i, 0])
    return np.asarray(out)


cdef void _argmax_rows(const floating* Z, Py_ssize_t n, Py_ssize_t m,
                       Py_ssize_t* out) noexcept nogil:
    cdef Py_ssize_t i, k, best
    cdef floating mx
    for i in range(n):
        best = 0
        mx = Z[i * m]
        for k in range(1, m):
            if Z[i * m + k] > mx:
                mx = Z[i * m + k]
                best = k
        out[i] = best


def argmax_rows(Z):
    """Index of the largest value of each row (the first one among ties),
    as np.argmax(Z, axis=1), of a C-contiguous float32 or float64 2-D array.
    (Raw array access: on the row of a one-row prediction, memoryviews
    would cost more than the loop.)"""
    if not cnp.PyArray_Check(Z):
        raise TypeError("Z must be a numpy array")
    cdef cnp.ndarray Za = <cnp.ndarray>Z
    cdef int t = cnp.PyArray_TYPE(Za)
    if (cnp.PyArray_NDIM(Za) != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(Za)
            or (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64)):
        raise ValueError("Z must be a C-contiguous 2-D float32 or float64 array")
    cdef Py_ssize_t n = cnp.PyArray_DIM(Za, 0), m = cnp.PyArray_DIM(Za, 1)
    if m == 0:
        raise ValueError("Z has no columns")
    cdef cnp.npy_intp dim = n
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, &dim, cnp.NPY_INTP, 0)
    cdef Py_ssize_t* o = <Py_ssize_t*>cnp.PyArray_DATA(out)
    if t == cnp.NPY_FLOAT32:
        with nogil:
            _argmax_rows(<const float*>cnp.PyArray_DATA(Za), n, m, o)
    else:
        with nogil:
            _argmax_rows(<const double*>cnp.PyArray_DATA(Za), n, m, o)
    return out


def matmul(const floating[:, :] A, const floating[:, :] B, floating[:, :] C,
           bint trans_a=False, bint trans_b=False, double beta=0):
    """C = op(A) @ op(B) + beta * C through the product every layer runs
    (_blas.pxd's gemm: fastbp's own kernel where it runs, else BLAS). Each
    array's rows are contiguous; row strides may exceed the row length (a
    view of columns)."""
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    if (A.shape[1] if trans_a else A.shape[0]) != m:
        raise ValueError("op(A) must have as many rows as C")
    if (B.shape[1] if trans_b else B.shape[0]) != k:
        raise ValueError("op(B) must have as many rows as op(A) has columns")
    if (B.shape[0] if trans_b else B.shape[1]) != n:
        raise ValueError("op(B) must have as many columns as C")
    if A.strides[1] != A.itemsize or B.strides[1] != B.itemsize \
            or C.strides[1] != C.itemsize:
        raise ValueError("each array's rows must be contiguous")
    if m == 0 or n == 0:
        return
    cdef int lda = max(1, A.strides[0] // A.itemsize)
    cdef int ldb = max(1, B.strides[0] // B.itemsize)
    cdef int ldc = max(1, C.strides[0] // C.itemsize)
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating>1, &A[0, 0], lda,
             &B[0, 0], ldb, <floating>beta, &C[0, 0], ldc)


def own_gemm():
    """Whether the matrix products run on fastbp's own AVX-512 kernels
    (_gemm.h: both precisions) rather than BLAS's."""
    return bool(fastbp_gemm_enabled())


cdef extern from "_handoff.h" nogil:
    double fastbp_handoff_us(size_t nbytes, int rounds)


def handoff_us(Py_ssize_t nbytes=524288, int rounds=40):
    """Microseconds one thread takes to read a value of each 64-byte line
    of a buffer of `nbytes` that another thread has just written there, and
    to write its own, on the first two CPUs this process may use
    (_handoff.h); None where it may use only one."""
    cdef double us
    if nbytes < 64 or rounds < 2:
        raise ValueError("nbytes must be >= 64 and rounds >= 2")
    with nogil:
        us = fastbp_handoff_us(<size_t>nbytes, rounds)
    return None if us < 0 else us
