# The only file that touches scipy's cython_blas.
#
# cython_blas is Fortran BLAS: column-major, every scalar by pointer. A
# C-order (row-major) matrix read as column-major is its transpose, so the
# row-major product C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T:
# swap the operands and m/n, keep the row strides as leading dimensions.
# The pxd is not const-correct, hence the casts on read-only operands.

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb, floating beta,
                      floating* c, int ldc) noexcept nogil:
    """Row-major C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C.

    lda, ldb and ldc are the row strides (in elements) of A, B and C as they
    are stored, before any transpose.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb,
              <float*>a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb,
              <double*>a, &lda, &beta, c, &ldc)
