# One block of rows through the network: the single-threaded passes that
# the Trainer's row parts, the full-data passes (_backprop.pyx) and the
# Predictor (_predict.pyx) share, inline. IN / OUT are marked on each.

from cython cimport floating
from libc.string cimport memcpy, memset

from fastbp._core._blas cimport gemm, gemm_few_rows, SMALL_M
from fastbp._core._activations cimport (
    bias_activate, column_sums, mul_derivative, ACT_IDENTITY, OUT_SOFTMAX,
)
from fastbp._core._losses cimport (
    loss_delta_row, output_activate_rows, output_delta, shift_by_max,
    softmax_finish, vexp,
)
from fastbp._core._layout cimport Net
from fastbp._core._input cimport InputRows


cdef inline void gather_rows(const Net* net, floating* xbuf,
                             const floating* X, const Py_ssize_t* idx,
                             Py_ssize_t start, Py_ssize_t i0,
                             Py_ssize_t i1) noexcept nogil:
    """Rows i0:i1 of the dense input block into xbuf (row stride sizes[0]):
    block row i is sample idx[start + i] of X."""
    cdef Py_ssize_t n_in = net.sizes[0], i
    for i in range(i0, i1):
        memcpy(xbuf + i * n_in, X + idx[start + i] * n_in,
               n_in * sizeof(floating))


# Sparse input
# ------------
# A CSR batch is never densified: the first layer's forward pass is a
# sparse-times-dense product (each stored x_ij adds x_ij * W[j, :] to row i
# of A_0) and its weight gradient a scatter (each x_ij adds x_ij * D[i, :]
# to row j of dW_0). Both cost O(nnz * width) instead of O(rows * n_features
# * width), and no buffer is n_features wide but W_0 and its gradient.

cdef extern from "_sparse_kernels.h" nogil:
    void fastbp_spmm_f(float* A, const float* W, Py_ssize_t n,
                       const float* data, const Py_ssize_t* ind,
                       const Py_ssize_t* ptr, const Py_ssize_t* idx,
                       Py_ssize_t start, Py_ssize_t i0, Py_ssize_t i1)
    void fastbp_spmm_d(double* A, const double* W, Py_ssize_t n,
                       const double* data, const Py_ssize_t* ind,
                       const Py_ssize_t* ptr, const Py_ssize_t* idx,
                       Py_ssize_t start, Py_ssize_t i0, Py_ssize_t i1)
    void fastbp_scatter_f(float* G, const float* D, Py_ssize_t n,
                          const float* data, const Py_ssize_t* ind,
                          const Py_ssize_t* ptr, const Py_ssize_t* idx,
                          Py_ssize_t start, Py_ssize_t m, Py_ssize_t j0,
                          Py_ssize_t j1)
    void fastbp_scatter_d(double* G, const double* D, Py_ssize_t n,
                          const double* data, const Py_ssize_t* ind,
                          const Py_ssize_t* ptr, const Py_ssize_t* idx,
                          Py_ssize_t start, Py_ssize_t m, Py_ssize_t j0,
                          Py_ssize_t j1)


cdef inline void sparse_forward(const Net* net, floating* A, const floating* W,
                                const InputRows* X, const Py_ssize_t* idx,
                                Py_ssize_t start, Py_ssize_t i0,
                                Py_ssize_t i1) noexcept nogil:
    """A[i, :] = X[r, :] @ W for block rows i0:i1 (A has row stride
    sizes[1]); block row i is sample r = idx[start + i] (start + i when idx
    is NULL) of the CSR matrix X."""
    if floating is float:
        fastbp_spmm_f(A, W, net.sizes[1], <const float*>X.data, X.ind, X.ptr,
                      idx, start, i0, i1)
    else:
        fastbp_spmm_d(A, W, net.sizes[1], <const double*>X.data, X.ind, X.ptr,
                      idx, start, i0, i1)


cdef inline void sparse_scatter(const Net* net, floating* gW, floating beta,
                                const floating* D, const InputRows* X,
                                const Py_ssize_t* idx, Py_ssize_t start,
                                Py_ssize_t m, Py_ssize_t j0,
                                Py_ssize_t j1) noexcept nogil:
    """Columns j0:j1 of dW_0 = X_block^T D (beta = 0 overwrites, 1 adds)
    for the m-row block with delta D (row stride sizes[1])."""
    cdef Py_ssize_t n = net.sizes[1], n_in = net.sizes[0], i
    if j1 <= j0:
        return
    if beta == 0 and not net.g0_clean:
        if j0 == 0 and j1 == n:
            memset(gW, 0, n_in * n * sizeof(floating))
        else:
            for i in range(n_in):
                memset(gW + i * n + j0, 0, (j1 - j0) * sizeof(floating))
    if floating is float:
        fastbp_scatter_f(gW, D, n, <const float*>X.data, X.ind, X.ptr, idx,
                         start, m, j0, j1)
    else:
        fastbp_scatter_d(gW, D, n, <const double*>X.data, X.ind, X.ptr, idx,
                         start, m, j0, j1)


cdef inline void sparse_unscatter(const Net* net, floating* gW,
                                  const InputRows* X,
                                  const Py_ssize_t* idx, Py_ssize_t start,
                                  Py_ssize_t m, Py_ssize_t j0,
                                  Py_ssize_t j1) noexcept nogil:
    """Zero columns j0:j1 of the rows of dW_0 that the m-row block scattered
    into: far fewer than n_features rows, so a clean buffer costs O(nnz *
    width) per mini-batch instead of a pass over all of dW_0."""
    cdef Py_ssize_t n = net.sizes[1], i, p, r
    if j1 <= j0:
        return
    for i in range(m):
        r = idx[start + i] if idx != NULL else start + i
        for p in range(X.ptr[r], X.ptr[r + 1]):
            memset(gW + X.ind[p] * n + j0, 0, (j1 - j0) * sizeof(floating))


cdef inline double loss_rows(const Net* net, floating* A, floating* D,
                             const floating* Y, const floating* sw,
                             const Py_ssize_t* idx, Py_ssize_t start,
                             Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """Output activation, weighted loss and (when D is not NULL) output
    delta for rows i0:i1 of the block; A holds the last layer's
    pre-activations (in place: becomes the output). Returns the sum of
    sw * loss over these rows."""
    cdef Py_ssize_t i, r, n_out = net.sizes[net.L]
    cdef floating w
    cdef floating* z
    cdef double loss = 0
    if net.out == OUT_SOFTMAX and D != NULL and i1 > i0:
        # loss_delta_row's softmax, with the exps of all rows in one
        # vectorized loop (a sixth of a digits mini-batch otherwise)
        for i in range(i0, i1):
            shift_by_max(A + i * n_out, n_out)
        vexp(D + i0 * n_out, A + i0 * n_out, (i1 - i0) * n_out)
        for i in range(i0, i1):
            r = idx[start + i] if idx != NULL else start + i
            w = sw[r] if sw != NULL else 1
            z = A + i * n_out
            loss += w * softmax_finish(z, Y + r * n_out, D + i * n_out, n_out)
            output_delta(z, Y + r * n_out, w, n_out, D + i * n_out)
        return loss
    for i in range(i0, i1):
        r = idx[start + i] if idx != NULL else start + i
        w = sw[r] if sw != NULL else 1
        loss += w * loss_delta_row(net.out, A + i * n_out, Y + r * n_out,
                                   w, n_out,
                                   D + i * n_out if D != NULL else NULL)
    return loss


cdef inline double rows_pass(const Net* net, const floating* params, floating* grad,
                             floating beta, floating* ws, const InputRows* X,
                             const Py_ssize_t* idx, Py_ssize_t start, Py_ssize_t m,
                             const floating* Y, const floating* sw,
                             floating* out) noexcept nogil:
    """Forward, loss and (optionally) backward pass over one chunk of rows.

    IN:  the rows are idx[start:start + m], or start:start + m when idx is
         NULL, of X: dense (row stride sizes[0]) or, when X.ptr is not NULL,
         CSR, read in place (net.sparse).
         Y (n, n_out) targets and sw (n,) weights, either may be NULL.
    OUT: grad (n_params,) receives the gradient sums when not NULL
         (beta = 0 overwrites, beta = 1 accumulates); out receives the
         network's output rows start:start + m when not NULL.
    Returns sum over rows of sw * loss (0 when Y is NULL).
    """
    cdef int L = net.L, l
    cdef Py_ssize_t k, n
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[L]
    cdef const floating* xin
    cdef const floating* prev
    cdef floating* A
    cdef floating* D
    cdef floating* Dn
    cdef floating* tmp
    cdef floating* gb
    cdef floating* z
    cdef double loss = 0

    if m <= 0:
        if grad != NULL and beta == 0:
            memset(grad, 0, net.n_params * sizeof(floating))
        return 0

    # Input block: read CSR rows in place (first layer below), gather
    # shuffled dense rows, or read contiguous dense rows in place.
    if X.ptr != NULL:
        xin = NULL
    elif idx != NULL:
        xin = ws + net.x_off
        gather_rows(net, ws + net.x_off, <const floating*>X.X, idx, start, 0, m)
    else:
        xin = <const floating*>X.X + start * n_in

    # Forward: A_l = f(A_{l-1} @ W_l + b_l).
    prev = xin
    for l in range(L):
        k = net.sizes[l]
        n = net.sizes[l + 1]
        A = ws + net.a_off[l]
        if l == 0 and X.ptr != NULL:
            sparse_forward(net, A, params + net.w_off[0], X, idx, start, 0, m)
        elif net.few_rows and m <= SMALL_M:
            gemm_few_rows(<int>m, <int>n, <int>k, <floating>1, prev, <int>k,
                          params + net.w_off[l], <int>n, <floating>0, A, <int>n)
        else:
            gemm(False, False, <int>m, <int>n, <int>k, <floating>1, prev, <int>k,
                 params + net.w_off[l], <int>n, <floating>0, A, <int>n)
        if l < L - 1:
            bias_activate(net.hidden, A, params + net.b_off[l], m, n,
                          ws + net.z_off[l] if net.store_z else NULL, n)
        else:
            bias_activate(ACT_IDENTITY, A, params + net.b_off[l], m, n, NULL, n)
        prev = A

    # Output activation, loss and output delta.
    A = ws + net.a_off[L - 1]
    D = ws + net.d0_off if (grad != NULL and Y != NULL) else NULL
    if Y == NULL:
        output_activate_rows(net.out, A, m, n_out)
    else:
        loss = loss_rows(net, A, D, Y, sw, idx, start, 0, m)
    if out != NULL:
        memcpy(out + start * n_out, A, m * n_out * sizeof(floating))
    if D == NULL:
        return loss

    # Backward: dW_l = A_{l-1}^T D_l, db_l = sum_rows D_l,
    #           D_{l-1} = (D_l @ W_l^T) * f'(A_{l-1}).
    Dn = ws + net.d1_off
    for l in range(L - 1, -1, -1):
        k = net.sizes[l]
        n = net.sizes[l + 1]
        prev = xin if l == 0 else ws + net.a_off[l - 1]
        if l == 0 and X.ptr != NULL:
            sparse_scatter(net, grad + net.w_off[0], beta, D, X, idx, start,
                           m, 0, n)
        else:
            gemm(True, False, <int>k, <int>n, <int>m, <floating>1, prev, <int>k,
                 D, <int>n, beta, grad + net.w_off[l], <int>n)
        gb = grad + net.b_off[l]
        column_sums(gb, D, m, n, 0, n, beta == 0)
        if l > 0:
            gemm(False, True, <int>m, <int>k, <int>n, <floating>1, D, <int>n,
                 params + net.w_off[l], <int>n, <floating>0, Dn, <int>k)
            z = ws + net.z_off[l - 1] if net.store_z else NULL
            mul_derivative(net.hidden, Dn, ws + net.a_off[l - 1], z, m * k)
            tmp = D
            D = Dn
            Dn = tmp
    return loss
