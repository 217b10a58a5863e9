# The only file that touches scipy's cython_blas, and the one that picks
# fastbp's own AVX-512 products (_gemm.h) where they run.
#
# cython_blas is Fortran BLAS: column-major, every scalar by pointer. A
# C-order (row-major) matrix read as column-major is its transpose, so the
# row-major product C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T:
# swap the operands and m/n, keep the row strides as leading dimensions.
# The pxd is not const-correct, hence the casts on read-only operands.

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef extern from "_gemm.h" nogil:
    int fastbp_sgemm(int ta, int tb, int m, int n, int k, const float* a,
                     int lda, const float* b, int ldb, float beta, float* c,
                     int ldc)
    int fastbp_dgemm(int ta, int tb, int m, int n, int k, const double* a,
                     int lda, const double* b, int ldb, double beta,
                     double* c, int ldc)
    int fastbp_gemm_enabled()
    void fastbp_gemm_warm()


# Up to this many rows of A (a prediction on a row or a few), C = A B is a
# few vectorized row updates: BLAS's call and buffer set-up cost
# microseconds, more than the product. (Used where a row's result may
# differ in the last bits from the same row in a BLAS product of more rows.)
cdef enum:
    SMALL_M = 4


cdef inline void gemm_few_rows(int m, int n, int k, floating alpha,
                               const floating* a, int lda, const floating* b,
                               int ldb, floating beta, floating* c,
                               int ldc) noexcept nogil:
    """Row-major C (m, n) = alpha * A (m, k) @ B (k, n) + beta * C, B read
    once (row p of B updates every row of C). beta == 0 does not read C."""
    cdef int i, j, p
    cdef floating s
    cdef floating* ci
    cdef const floating* bp
    for i in range(m):
        ci = c + <Py_ssize_t>i * ldc
        if beta == 0:
            for j in range(n):
                ci[j] = 0
        elif beta != 1:
            for j in range(n):
                ci[j] = beta * ci[j]
    for p in range(k):
        bp = b + <Py_ssize_t>p * ldb
        for i in range(m):
            s = alpha * a[<Py_ssize_t>i * lda + p]
            ci = c + <Py_ssize_t>i * ldc
            for j in range(n):
                ci[j] += s * bp[j]


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb, floating beta,
                      floating* c, int ldc) noexcept nogil:
    """Row-major C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C.

    lda, ldb and ldc are the row strides (in elements) of A, B and C as they
    are stored, before any transpose. With alpha 1 the product goes to
    fastbp's own kernel where it runs (_gemm.h says where), else to BLAS.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    if floating is float:
        if alpha == 1 and fastbp_sgemm(trans_a, trans_b, m, n, k, a, lda, b,
                                       ldb, beta, c, ldc):
            return
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb,
              <float*>a, &lda, &beta, c, &ldc)
    else:
        if alpha == 1 and fastbp_dgemm(trans_a, trans_b, m, n, k, a, lda, b,
                                       ldb, beta, c, ldc):
            return
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb,
              <double*>a, &lda, &beta, c, &ldc)
