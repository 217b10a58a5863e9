# cython: language_level=3
"""One forward and backward pass over a batch, keeping every intermediate.

Design
------
The training loop (``_backprop.pyx``) keeps only what the next step needs:
two ping-pong delta buffers, gradient *sums*, no input gradient. A learner
looking at backpropagation wants every layer's activations and error terms
and the gradient with respect to the input itself, all of one batch, from
the same pass. ``backprop_pass`` computes them with the same kernels
(``gemm``, ``bias_activate``, ``mul_derivative``, ``loss_delta_row``), as
one block, single-threaded (BLAS may thread inside each GEMM), into buffers
the caller allocates:

    A  (sum over l of n * sizes[l + 1])  layer outputs, output layer last
    Z  same size, or empty               pre-activations (GELU only)
    D  same size as A                    deltas dJ/dZ_l
    grad (n_params,)                     dJ/dparams, laid out as params
    dX (n, sizes[0])                     dJ/dX

J is the loss ``loss_grad`` returns: sum_i sw_i * loss_i plus
alpha / 2 * ||W||^2, over sum_i sw_i. Every output is a derivative of that
one number, so each can be checked against finite differences of it.

Sparse CSR input is multiplied directly (X @ W_0 and X^T D_0 by rows of the
CSR matrix), never densified.
"""


from cython cimport floating
from libc.string cimport memset

from fastbp._core._blas cimport gemm
from fastbp._core._activations cimport (
    bias_activate, mul_derivative, ACT_IDENTITY,
)
from fastbp._core._losses cimport loss_delta_row
from fastbp._core._fpmode cimport fastbp_fpmode, fastbp_ftz_on, fastbp_fpmode_restore
from fastbp._core._input cimport Input
from fastbp._core._layout cimport Layout, Net, net_layout, net_free


def backprop_pass(Input X not None, const floating[:, ::1] Y,
                  const floating[::1] sw, const floating[::1] params,
                  Layout layout not None, double alpha,
                  floating[::1] A, floating[::1] Z, floating[::1] D,
                  floating[::1] grad, floating[:, ::1] dX):
    """Forward pass, loss, and backward pass down to the input.

    IN:  X, the n samples, dense or CSR; Y (n, n_out) targets; sw (n,)
         sample weights or empty; params, laid out as ``_layout.pxd``
         says; layout, the widths and activation codes; alpha, the L2
         coefficient.
    OUT: A, Z (GELU only, else may be empty), D, grad, dX as described in
         the module docstring.
    Returns J, the loss.
    """
    cdef Net net
    # (the parameter offsets; this pass lays out its own buffers)
    net_layout(&net, layout, 0, X.sparse)
    try:
        return _pass(&net, X, Y, sw, params, alpha, A, Z, D, grad, dX)
    finally:
        net_free(&net)


cdef double _pass(const Net* net, Input X,
                  const floating[:, ::1] Y, const floating[::1] sw,
                  const floating[::1] params, double alpha,
                  floating[::1] A, floating[::1] Z, floating[::1] D,
                  floating[::1] grad, floating[:, ::1] dX) except? -1:
    cdef int L = net.L, l
    cdef bint sparse = X.sparse
    cdef bint store_z = net.store_z
    cdef const Py_ssize_t* sizes = net.sizes
    cdef Py_ssize_t n = X.n_samples
    cdef const floating* Xp = <const floating*>X.rows.X
    cdef const floating* Xdata = <const floating*>X.rows.data
    cdef const Py_ssize_t* Xind = X.rows.ind
    cdef const Py_ssize_t* Xptr = X.rows.ptr
    cdef Py_ssize_t n_in = sizes[0], n_out = sizes[L]
    cdef Py_ssize_t P = net.n_params, n_coef = net.n_coef
    cdef Py_ssize_t i, j, k, m, p, r, off, w_off, b_off, total = 0
    cdef double loss = 0, sw_sum, wsq = 0
    cdef floating w, scale, reg
    cdef floating* Al
    cdef floating* Dl
    cdef floating* prev
    cdef floating* row
    cdef const floating* W
    cdef fastbp_fpmode fpm
    if n <= 0:
        raise ValueError("no samples")
    for l in range(L):
        total += n * sizes[l + 1]
    if params.shape[0] != P or grad.shape[0] != P:
        raise ValueError("parameter or gradient buffer of the wrong size")
    X.check_for(floating is float, n_in)
    if sparse and X.indptr[n] != X.indices.shape[0]:
        raise ValueError("inconsistent CSR arrays")
    if Y.shape[0] != n or Y.shape[1] != n_out:
        raise ValueError(f"Y must have shape ({n}, {n_out})")
    if sw.shape[0] != 0 and sw.shape[0] != n:
        raise ValueError("sample_weight must have one entry per sample")
    if A.shape[0] != total or D.shape[0] != total or (store_z and Z.shape[0] != total):
        raise ValueError("activation, pre-activation or delta buffer of the wrong size")
    if dX.shape[0] != n or dX.shape[1] != n_in:
        raise ValueError("input-gradient buffer of the wrong shape")

    with nogil:
        fpm = fastbp_ftz_on()
        if sw.shape[0] > 0:
            sw_sum = 0
            for i in range(n):
                sw_sum += sw[i]
        else:
            sw_sum = n
        scale = <floating>(1.0 / sw_sum)

        # Forward: A_l = f(A_{l-1} @ W_l + b_l); the first product by CSR rows
        # when X is sparse.
        off = 0
        for l in range(L):
            k = sizes[l]
            m = sizes[l + 1]
            w_off = net.w_off[l]
            b_off = net.b_off[l]
            Al = &A[off]
            W = &params[w_off]
            if l == 0 and sparse:
                memset(Al, 0, n * m * sizeof(floating))
                for i in range(n):
                    row = Al + i * m
                    for p in range(Xptr[i], Xptr[i + 1]):
                        w = Xdata[p]
                        r = Xind[p] * m
                        for j in range(m):
                            row[j] = row[j] + w * W[r + j]
            else:
                prev = <floating*>Xp if l == 0 else &A[off - n * k]
                gemm(False, False, <int>n, <int>m, <int>k, <floating>1, prev,
                     <int>k, W, <int>m, <floating>0, Al, <int>m)
            bias_activate(net.hidden if l < L - 1 else ACT_IDENTITY, Al,
                          &params[b_off], n, m,
                          &Z[off] if (store_z and l < L - 1) else NULL, m)
            off += n * m

        # Output activation, loss and output delta dJ/dZ_L = sw (f(Z) - Y) / sum(sw).
        off -= n * n_out
        Al = &A[off]
        Dl = &D[off]
        for i in range(n):
            w = sw[i] if sw.shape[0] > 0 else 1
            loss += w * loss_delta_row(net.out, Al + i * n_out, &Y[i, 0], w, n_out,
                                       Dl + i * n_out)
        for i in range(n * n_out):
            Dl[i] = Dl[i] * scale
        if alpha != 0:
            for j in range(n_coef):
                wsq += params[j] * params[j]
        loss = (loss + 0.5 * alpha * wsq) / sw_sum

        # Backward: dW_l = A_{l-1}^T D_l + alpha W_l / sum(sw),
        # db_l = column sums of D_l, D_{l-1} = (D_l @ W_l^T) * f'(Z_{l-1}),
        # and at the bottom dJ/dX = D_0 @ W_0^T.
        reg = <floating>(alpha / sw_sum)
        for l in range(L - 1, -1, -1):
            k = sizes[l]
            m = sizes[l + 1]
            w_off = net.w_off[l]
            b_off = net.b_off[l]
            Dl = &D[off]
            W = &params[w_off]
            for j in range(k * m):
                grad[w_off + j] = reg * W[j]
            if l == 0 and sparse:
                for i in range(n):
                    row = Dl + i * m
                    for p in range(Xptr[i], Xptr[i + 1]):
                        w = Xdata[p]
                        r = w_off + Xind[p] * m
                        for j in range(m):
                            grad[r + j] = grad[r + j] + w * row[j]
            else:
                prev = <floating*>Xp if l == 0 else &A[off - n * k]
                gemm(True, False, <int>k, <int>m, <int>n, <floating>1, prev,
                     <int>k, Dl, <int>m, <floating>1, &grad[w_off], <int>m)
            for j in range(m):
                grad[b_off + j] = 0
            for i in range(n):
                for j in range(m):
                    grad[b_off + j] = grad[b_off + j] + Dl[i * m + j]
            if l > 0:
                gemm(False, True, <int>n, <int>k, <int>m, <floating>1, Dl,
                     <int>m, W, <int>m, <floating>0, &D[off - n * k], <int>k)
                mul_derivative(net.hidden, &D[off - n * k], &A[off - n * k],
                               &Z[off - n * k] if store_z else NULL, n * k)
                off -= n * k
            else:
                gemm(False, True, <int>n, <int>k, <int>m, <floating>1, Dl,
                     <int>m, W, <int>m, <floating>0, &dX[0, 0], <int>k)
        fastbp_fpmode_restore(fpm)
    return loss
