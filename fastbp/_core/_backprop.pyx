# cython: language_level=3
"""Forward and backward passes over mini-batches, and the epoch loop.

Design
------
The network is described by its layer widths; its parameters are one flat
vector laid out as scikit-learn's ``_pack`` does: every weight matrix
W_l (fan_in, fan_out), row-major, then every bias b_l. The gradient and the
optimizer state have the same layout, so an optimizer step is one loop.

Work is done on blocks of rows ("chunks"). ``rows_pass`` runs the forward
pass of one chunk (GEMM into the layer's buffer, then bias and activation
fused while the block is in cache) and, when asked, the backward pass,
writing the gradient *sums* (A^T delta and column sums of delta, no L2 term,
no scaling) into a gradient buffer of its own. A mini-batch is split into at
most ``n_threads`` contiguous chunks, one per OpenMP thread, each with its
own workspace and gradient buffer; BLAS must run single-threaded meanwhile
(the Python layer limits it with threadpoolctl). The chunk buffers are then
summed in a fixed order inside the optimizer's fused loop, so the result
depends on the thread count but never on scheduling: the same seed and
thread count give bitwise the same weights. For wide layers ``split_batch``
instead keeps the mini-batch whole and splits each GEMM over the threads
(see "Layer-split mini-batches" below), with one workspace and one gradient
buffer.

Workspace of one thread, for ``rows`` rows (offsets from ``Net``):
    x   rows * n_in           gathered input rows (shuffled or sparse input)
    a_l rows * sizes[l + 1]   output of layer l (pre-activation for the last)
    z_l rows * sizes[l + 1]   pre-activations, GELU only (its derivative)
    d0, d1 rows * max width   deltas, ping-pong
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from fastbp._core._blas cimport gemm
from fastbp._core._activations cimport (
    bias_activate, mul_derivative, ACT_IDENTITY, ACT_GELU,
)
from fastbp._core._losses cimport loss_delta_row, output_activate
from fastbp._core._optim cimport (
    OptParams, opt_init, opt_set_step, sum_squares, update, OPT_ADAM,
    OPT_ADAMW,
)
from fastbp._core._openmp cimport fastbp_max_threads, FASTBP_OPENMP
from fastbp._core._fpmode cimport fastbp_fpmode, fastbp_ftz_on, fastbp_fpmode_restore


OPENMP_ENABLED = bool(FASTBP_OPENMP)

# Whether a call of this process ran an OpenMP region of several threads
# (fastbp._threads needs it in a forked child: OpenMP cannot start threads
# there once its parent has).
_threads_ran = False


def threads_ran():
    """True once this process ran a parallel region (inherited by fork)."""
    return _threads_ran


def max_threads():
    """Number of threads OpenMP would use by default (1 in a serial build)."""
    return fastbp_max_threads()


cdef struct Net:
    int L                   # number of weight layers
    int hidden              # hidden activation code
    int out                 # output activation / loss code
    bint store_z            # keep pre-activations (GELU)
    Py_ssize_t n_coef       # number of weights (they come first)
    Py_ssize_t n_params
    Py_ssize_t rows         # rows the workspace is laid out for
    Py_ssize_t x_off, d0_off, d1_off, ws_size
    Py_ssize_t* sizes       # L + 1 widths
    Py_ssize_t* w_off       # L offsets of W_l in the parameter vector
    Py_ssize_t* b_off       # L offsets of b_l
    Py_ssize_t* a_off       # L offsets of layer outputs in the workspace
    Py_ssize_t* z_off       # L offsets of pre-activations (store_z only)


cdef int net_init(Net* net, const Py_ssize_t[::1] sizes, int hidden, int out,
                  Py_ssize_t rows) except -1:
    cdef int L = sizes.shape[0] - 1
    cdef int l
    cdef Py_ssize_t off, widest = 0
    if L < 1:
        raise ValueError("a network needs at least an input and an output layer")
    net.L = L
    net.hidden = hidden
    net.out = out
    net.store_z = hidden == ACT_GELU
    net.rows = rows
    net.sizes = <Py_ssize_t*>malloc((5 * L + 1) * sizeof(Py_ssize_t))
    if net.sizes == NULL:
        raise MemoryError()
    net.w_off = net.sizes + L + 1
    net.b_off = net.w_off + L
    net.a_off = net.b_off + L
    net.z_off = net.a_off + L
    for l in range(L + 1):
        net.sizes[l] = sizes[l]
    off = 0
    for l in range(L):
        net.w_off[l] = off
        off += sizes[l] * sizes[l + 1]
    net.n_coef = off
    for l in range(L):
        net.b_off[l] = off
        off += sizes[l + 1]
    net.n_params = off
    off = 0
    net.x_off = off
    off += rows * sizes[0]
    for l in range(L):
        net.a_off[l] = off
        off += rows * sizes[l + 1]
        if sizes[l + 1] > widest:
            widest = sizes[l + 1]
    for l in range(L):
        net.z_off[l] = off
        if net.store_z and l < L - 1:
            off += rows * sizes[l + 1]
    net.d0_off = off
    off += rows * widest
    net.d1_off = off
    off += rows * widest
    net.ws_size = off
    return 0


cdef inline void net_free(Net* net) noexcept:
    free(net.sizes)
    net.sizes = NULL


def workspace_size(const Py_ssize_t[::1] sizes, Py_ssize_t rows, int hidden):
    """Number of elements one thread's workspace needs for `rows` rows."""
    cdef Net net
    net_init(&net, sizes, hidden, 0, rows)
    try:
        return net.ws_size
    finally:
        net_free(&net)


cdef void gather_rows(const Net* net, floating* xbuf, const floating* X,
                      const floating* Xdata, const Py_ssize_t* Xind,
                      const Py_ssize_t* Xptr, const Py_ssize_t* idx,
                      Py_ssize_t start, Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """Rows i0:i1 of the input block into xbuf (row stride sizes[0]).

    Block row i is sample idx[start + i] (start + i when idx is NULL) of X,
    or of the CSR matrix (Xdata, Xind, Xptr) when Xptr is not NULL."""
    cdef Py_ssize_t n_in = net.sizes[0], i, r, p
    if Xptr != NULL:
        memset(xbuf + i0 * n_in, 0, (i1 - i0) * n_in * sizeof(floating))
        for i in range(i0, i1):
            r = idx[start + i] if idx != NULL else start + i
            for p in range(Xptr[r], Xptr[r + 1]):
                xbuf[i * n_in + Xind[p]] = Xdata[p]
    else:
        for i in range(i0, i1):
            memcpy(xbuf + i * n_in, X + idx[start + i] * n_in,
                   n_in * sizeof(floating))


cdef double loss_rows(const Net* net, floating* A, floating* D,
                      const floating* Y, const floating* sw,
                      const Py_ssize_t* idx, Py_ssize_t start,
                      Py_ssize_t i0, Py_ssize_t i1) noexcept nogil:
    """Output activation, weighted loss and (when D is not NULL) output
    delta for rows i0:i1 of the block; A holds the last layer's
    pre-activations (in place: becomes the output). Returns the sum of
    sw * loss over these rows."""
    cdef Py_ssize_t i, r, n_out = net.sizes[net.L]
    cdef floating w
    cdef double loss = 0
    for i in range(i0, i1):
        r = idx[start + i] if idx != NULL else start + i
        w = sw[r] if sw != NULL else 1
        loss += w * loss_delta_row(net.out, A + i * n_out, Y + r * n_out,
                                   w, n_out,
                                   D + i * n_out if D != NULL else NULL)
    return loss


cdef double rows_pass(const Net* net, const floating* params, floating* grad,
                      floating beta, floating* ws,
                      const floating* X, const floating* Xdata,
                      const Py_ssize_t* Xind, const Py_ssize_t* Xptr,
                      const Py_ssize_t* idx, Py_ssize_t start, Py_ssize_t m,
                      const floating* Y, const floating* sw,
                      floating* out) noexcept nogil:
    """Forward, loss and (optionally) backward pass over one chunk of rows.

    IN:  the rows are idx[start:start + m], or start:start + m when idx is
         NULL, of X (dense, row stride sizes[0]) or, when Xptr is not NULL,
         of the CSR matrix (Xdata, Xind, Xptr).
         Y (n, n_out) targets and sw (n,) weights, either may be NULL.
    OUT: grad (n_params,) receives the gradient sums when not NULL
         (beta = 0 overwrites, beta = 1 accumulates); out receives the
         network's output rows start:start + m when not NULL.
    Returns sum over rows of sw * loss (0 when Y is NULL).
    """
    cdef int L = net.L, l
    cdef Py_ssize_t i, j, k, n
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

    # Input block: gather shuffled rows, densify sparse rows, or read in place.
    if Xptr != NULL or idx != NULL:
        xin = ws + net.x_off
        gather_rows(net, ws + net.x_off, X, Xdata, Xind, Xptr, idx, start, 0, m)
    else:
        xin = X + start * n_in

    # Forward: A_l = f(A_{l-1} @ W_l + b_l).
    prev = xin
    for l in range(L):
        k = net.sizes[l]
        n = net.sizes[l + 1]
        A = ws + net.a_off[l]
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
        for i in range(m):
            output_activate(net.out, A + i * n_out, n_out)
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
        gemm(True, False, <int>k, <int>n, <int>m, <floating>1, prev, <int>k,
             D, <int>n, beta, grad + net.w_off[l], <int>n)
        gb = grad + net.b_off[l]
        if beta == 0:
            memset(gb, 0, n * sizeof(floating))
        for i in range(m):
            for j in range(n):
                gb[j] = gb[j] + D[i * n + j]
        if l > 0:
            gemm(False, True, <int>m, <int>k, <int>n, <floating>1, D, <int>n,
                 params + net.w_off[l], <int>n, <floating>0, Dn, <int>k)
            z = ws + net.z_off[l - 1] if net.store_z else NULL
            mul_derivative(net.hidden, Dn, ws + net.a_off[l - 1], z, m * k)
            tmp = D
            D = Dn
            Dn = tmp
    return loss



# Layer-split mini-batches
# ------------------------
# Splitting a mini-batch by rows gives each thread a gradient copy to write
# and the optimizer a sum over copies; with many threads and wide layers the
# blocks get thin (16 rows at batch 256 on 16 threads) and the copies cost
# more than they save. ``split_batch`` instead runs the mini-batch as one
# block and splits each layer's GEMMs over the threads, by rows or by
# columns of the product, into disjoint parts of one gradient buffer. Each
# thread's operand blocks are packed by its own single-threaded GEMM, so the
# split is chosen per GEMM to copy less: a row split repacks all of W per
# thread, a column split all of the left operand.

cdef inline Py_ssize_t cut(Py_ssize_t n, int c, int T, Py_ssize_t align) noexcept nogil:
    """Boundary c (0..T) of n items cut in T near-equal parts, rounded to a
    multiple of align when every part gets at least two multiples (so that
    column parts of a row start on a new 64-byte line where the rows are
    aligned, and fewer lines are shared; rounding thinner parts would leave
    threads idle)."""
    cdef Py_ssize_t b
    if c >= T:
        return n
    if n < 2 * align * T:
        align = 1
    b = (n * c) // T
    b = (b + align // 2) // align * align
    return b if b < n else n


cdef void forward_part(const Net* net, int l, const floating* params,
                       floating* ws, const floating* xin, Py_ssize_t m,
                       int c, int T) noexcept nogil:
    """Thread c's part of layer l's forward pass over the m-row block:
    A_l = f(A_{l-1} @ W_l + b_l), split by rows when the layer is narrower
    than the block, else by columns."""
    cdef Py_ssize_t k = net.sizes[l], n = net.sizes[l + 1], i0, i1
    cdef const floating* prev = xin if l == 0 else ws + net.a_off[l - 1]
    cdef const floating* W = params + net.w_off[l]
    cdef const floating* b = params + net.b_off[l]
    cdef floating* A = ws + net.a_off[l]
    cdef floating* z = NULL
    cdef int act = net.hidden if l < net.L - 1 else ACT_IDENTITY
    if net.store_z and l < net.L - 1:
        z = ws + net.z_off[l]
    if n < m:
        i0 = cut(m, c, T, 1)
        i1 = cut(m, c + 1, T, 1)
        if i1 > i0:
            gemm(False, False, <int>(i1 - i0), <int>n, <int>k, <floating>1,
                 prev + i0 * k, <int>k, W, <int>n, <floating>0, A + i0 * n, <int>n)
            bias_activate(act, A + i0 * n, b, i1 - i0, n,
                          z + i0 * n if z != NULL else NULL, n)
    else:
        i0 = cut(n, c, T, 16)
        i1 = cut(n, c + 1, T, 16)
        if i1 > i0:
            gemm(False, False, <int>m, <int>(i1 - i0), <int>k, <floating>1,
                 prev, <int>k, W + i0, <int>n, <floating>0, A + i0, <int>n)
            bias_activate(act, A + i0, b + i0, m, i1 - i0,
                          z + i0 if z != NULL else NULL, n)


cdef void backward_part(const Net* net, int l, const floating* params,
                        floating* grad, floating* ws, const floating* xin,
                        const floating* D, floating* Dn, Py_ssize_t m,
                        int c, int T) noexcept nogil:
    """Thread c's part of layer l's backward pass over the m-row block with
    output delta D (m, n): gradient sums dW_l = A_{l-1}^T D (split over the
    longer of its two sides) and db_l = column sums of D (split by columns)
    into grad, overwritten; for l > 0 also Dn (m, k) = (D @ W_l^T) *
    f'(A_{l-1}), split like the forward pass."""
    cdef Py_ssize_t k = net.sizes[l], n = net.sizes[l + 1], i0, i1, i, j
    cdef const floating* prev = xin if l == 0 else ws + net.a_off[l - 1]
    cdef const floating* W = params + net.w_off[l]
    cdef floating* gW = grad + net.w_off[l]
    cdef floating* gb = grad + net.b_off[l]
    cdef const floating* a
    cdef const floating* z = NULL
    if n <= k:
        i0 = cut(k, c, T, 1)
        i1 = cut(k, c + 1, T, 1)
        if i1 > i0:
            gemm(True, False, <int>(i1 - i0), <int>n, <int>m, <floating>1,
                 prev + i0, <int>k, D, <int>n, <floating>0, gW + i0 * n, <int>n)
    else:
        i0 = cut(n, c, T, 16)
        i1 = cut(n, c + 1, T, 16)
        if i1 > i0:
            gemm(True, False, <int>k, <int>(i1 - i0), <int>m, <floating>1,
                 prev, <int>k, D + i0, <int>n, <floating>0, gW + i0, <int>n)
    i0 = cut(n, c, T, 16)
    i1 = cut(n, c + 1, T, 16)
    for j in range(i0, i1):
        gb[j] = 0
    for i in range(m):
        for j in range(i0, i1):
            gb[j] = gb[j] + D[i * n + j]
    if l == 0:
        return
    a = ws + net.a_off[l - 1]
    if net.store_z:
        z = ws + net.z_off[l - 1]
    if k < m:
        i0 = cut(m, c, T, 1)
        i1 = cut(m, c + 1, T, 1)
        if i1 > i0:
            gemm(False, True, <int>(i1 - i0), <int>k, <int>n, <floating>1,
                 D + i0 * n, <int>n, W, <int>n, <floating>0, Dn + i0 * k, <int>k)
            mul_derivative(net.hidden, Dn + i0 * k, a + i0 * k,
                           z + i0 * k if z != NULL else NULL, (i1 - i0) * k)
    else:
        i0 = cut(k, c, T, 16)
        i1 = cut(k, c + 1, T, 16)
        if i1 > i0:
            gemm(False, True, <int>m, <int>(i1 - i0), <int>n, <floating>1,
                 D, <int>n, W + i0 * n, <int>n, <floating>0, Dn + i0, <int>k)
            for i in range(m):
                mul_derivative(net.hidden, Dn + i * k + i0, a + i * k + i0,
                               z + i * k + i0 if z != NULL else NULL, i1 - i0)


cdef double split_batch(const Net* net, const floating* params, floating* grad,
                        floating* ws, const floating* X,
                        const floating* Xdata, const Py_ssize_t* Xind,
                        const Py_ssize_t* Xptr, const Py_ssize_t* idx,
                        Py_ssize_t start, Py_ssize_t m, const floating* Y,
                        const floating* sw, int T, double* part) noexcept nogil:
    """rows_pass with a gradient, over one mini-batch as one block whose
    layers are split over T threads (see above); grad is overwritten with
    the gradient sums and the weighted loss sum is returned. part: T doubles
    of scratch. The result depends on T but not on scheduling."""
    cdef int L = net.L, l, c
    cdef const floating* xin
    cdef floating* D = ws + net.d0_off
    cdef floating* Dn = ws + net.d1_off
    cdef floating* tmp
    cdef double loss = 0
    cdef fastbp_fpmode fpw
    if Xptr != NULL or idx != NULL:
        xin = ws + net.x_off
        for c in prange(T, num_threads=T, schedule='static', chunksize=1):
            gather_rows(net, ws + net.x_off, X, Xdata, Xind, Xptr, idx, start,
                        cut(m, c, T, 1), cut(m, c + 1, T, 1))
    else:
        xin = X + start * net.sizes[0]
    for l in range(L):
        for c in prange(T, num_threads=T, schedule='static', chunksize=1):
            fpw = fastbp_ftz_on()
            forward_part(net, l, params, ws, xin, m, c, T)
            fastbp_fpmode_restore(fpw)
    for c in prange(T, num_threads=T, schedule='static', chunksize=1):
        fpw = fastbp_ftz_on()
        part[c] = loss_rows(net, ws + net.a_off[L - 1], D, Y, sw, idx, start,
                            cut(m, c, T, 1), cut(m, c + 1, T, 1))
        fastbp_fpmode_restore(fpw)
    for c in range(T):
        loss += part[c]
    for l in range(L - 1, -1, -1):
        for c in prange(T, num_threads=T, schedule='static', chunksize=1):
            fpw = fastbp_ftz_on()
            backward_part(net, l, params, grad, ws, xin, D, Dn, m, c, T)
            fastbp_fpmode_restore(fpw)
        tmp = D
        D = Dn
        Dn = tmp
    return loss



cdef inline uint64_t splitmix64(uint64_t* state) noexcept nogil:
    cdef uint64_t z
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef void shuffle_inplace(Py_ssize_t* perm, Py_ssize_t n, uint64_t seed) noexcept nogil:
    """Fisher-Yates shuffle driven by splitmix64(seed)."""
    cdef Py_ssize_t i, j, t
    cdef uint64_t state = seed
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t>(splitmix64(&state) % <uint64_t>(i + 1))
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t


cdef int check_data(const Net* net, const floating[:, ::1] X,
                    const floating[::1] Xdata, const Py_ssize_t[::1] Xind,
                    bint sparse, const floating[:, ::1] Y, bint check_y,
                    const floating[::1] sw, Py_ssize_t n) except -1:
    """Shapes of one call's data against the network."""
    if sparse and Xdata.shape[0] != Xind.shape[0]:
        raise ValueError("CSR data and indices differ in length")
    # (for CSR input X is a (0, n_features) placeholder carrying the width)
    if X.shape[1] != net.sizes[0]:
        raise ValueError(f"X has {X.shape[1]} columns, the network takes {net.sizes[0]}")
    if check_y and (Y.shape[0] != n or Y.shape[1] != net.sizes[net.L]):
        raise ValueError(f"Y must have shape ({n}, {net.sizes[net.L]})")
    if sw.shape[0] != 0 and sw.shape[0] != n:
        raise ValueError("sample_weight must have one entry per sample")
    return 0


cdef inline int n_chunks_for(Py_ssize_t m, Py_ssize_t work_per_row,
                             int n_threads, Py_ssize_t min_work) noexcept nogil:
    """How many threads a block of m rows is split over: at most n_threads,
    at most m, and no more than keeps `min_work` flops per thread."""
    cdef Py_ssize_t c = n_threads
    if c > m:
        c = m
    if min_work > 0 and work_per_row > 0:
        if c > (m * work_per_row) // min_work:
            c = (m * work_per_row) // min_work
    if c < 1:
        c = 1
    return <int>c


def loss_grad(const floating[:, ::1] X,
              const floating[::1] Xdata, const Py_ssize_t[::1] Xind,
              const Py_ssize_t[::1] Xptr,
              const floating[:, ::1] Y, const floating[::1] sw,
              const floating[::1] params, const Py_ssize_t[::1] sizes,
              int hidden, int out, double alpha,
              floating[:, ::1] G, floating[:, ::1] ws, Py_ssize_t rows,
              floating[::1] grad_out, floating[:, ::1] out_rows,
              int n_threads):
    """Full-data loss and gradient, and/or forward pass.

    The n samples are cut into chunks of `rows` rows (fixed boundaries);
    thread slot c handles chunks c, c + T, ... accumulating into G[c], and
    the slots are summed in order: deterministic for a given T.

    IN:  X (n, n_in) dense, or CSR (Xdata, Xind, Xptr) when Xptr is not
         empty (X is then (0, n_in)); Y (n, n_out) or (0, 0) for no loss;
         sw (n,) or empty; params; sizes; hidden and out codes; alpha, the
         L2 coefficient (loss += alpha / 2 * ||W||^2 / sum(sw)).
    OUT: grad_out (n_params,) = gradient of the loss, unless empty;
         out_rows (n, n_out) = network output, unless (0, 0).
    Work: G (T, n_params), or (T, 0) without a gradient, and
    ws (T, workspace_size(sizes, rows)).
    Returns the loss (0.0 when Y is empty).
    """
    global _threads_ran
    cdef Net net
    cdef bint sparse = Xptr.shape[0] > 0
    cdef Py_ssize_t n = Xptr.shape[0] - 1 if sparse else X.shape[0]
    cdef Py_ssize_t n_chunks, ci, j, start, m, P
    cdef int T = n_threads, c, used
    cdef bint want_grad = grad_out.shape[0] > 0
    cdef bint want_loss = Y.shape[0] > 0
    cdef bint want_out = out_rows.shape[0] > 0
    cdef double sw_sum, loss = 0, wsq
    cdef double* part
    cdef const floating* Xp = &X[0, 0] if X.shape[0] > 0 else NULL
    cdef const floating* Xd = &Xdata[0] if Xdata.shape[0] > 0 else NULL
    cdef const Py_ssize_t* Xi = &Xind[0] if Xind.shape[0] > 0 else NULL
    cdef const Py_ssize_t* Xq = &Xptr[0] if sparse else NULL
    cdef const floating* Yp = &Y[0, 0] if want_loss else NULL
    cdef const floating* swp = &sw[0] if sw.shape[0] > 0 else NULL
    cdef floating* Gp
    cdef floating* wsp
    cdef floating* outp = &out_rows[0, 0] if want_out else NULL
    cdef const floating* pp
    cdef floating* gslot
    cdef floating scale
    cdef fastbp_fpmode fpm, fpw

    if n == 0:
        raise ValueError("no samples")
    if T < 1:
        T = 1
    net_init(&net, sizes, hidden, out, rows)
    try:
        P = net.n_params
        if params.shape[0] != P:
            raise ValueError("parameter buffer of the wrong size")
        if want_grad and (G.shape[1] != P or G.shape[0] < T):
            raise ValueError("gradient buffer of the wrong size")
        if ws.shape[1] < net.ws_size or ws.shape[0] < T or ws.shape[1] == 0:
            raise ValueError("workspace too small")
        if P == 0 or (want_grad and grad_out.shape[0] != P):
            raise ValueError("gradient output of the wrong size")
        if want_out and (out_rows.shape[0] != n or out_rows.shape[1] != net.sizes[net.L]):
            raise ValueError("output buffer of the wrong shape")
        check_data(&net, X, Xdata, Xind, sparse, Y, want_loss, sw, n)
        Gp = &G[0, 0] if want_grad else NULL
        wsp = &ws[0, 0]
        pp = &params[0]
        n_chunks = (n + rows - 1) // rows
        if T > n_chunks:
            T = <int>n_chunks
        if T > 1:
            _threads_ran = True
        part = <double*>malloc(T * sizeof(double))
        if part == NULL:
            raise MemoryError()
        with nogil:
            fpm = fastbp_ftz_on()
            if T == 1:
                part[0] = 0
                for ci in range(n_chunks):
                    start = ci * rows
                    m = rows if start + rows <= n else n - start
                    part[0] += rows_pass(&net, pp, Gp if want_grad else NULL,
                                         0 if ci == 0 else 1, wsp, Xp, Xd, Xi, Xq,
                                         NULL, start, m, Yp, swp, outp)
            else:
                for c in prange(T, num_threads=T, schedule='static', chunksize=1):
                    fpw = fastbp_ftz_on()
                    part[c] = 0
                    gslot = Gp + c * G.shape[1]
                    ci = c
                    while ci < n_chunks:
                        start = ci * rows
                        m = rows if start + rows <= n else n - start
                        part[c] += rows_pass(&net, pp,
                                             gslot if want_grad else NULL,
                                             0 if ci == c else 1,
                                             wsp + c * ws.shape[1],
                                             Xp, Xd, Xi, Xq, NULL, start, m,
                                             Yp, swp, outp)
                        ci = ci + T
                    fastbp_fpmode_restore(fpw)
            for c in range(T):
                loss += part[c]
            if swp != NULL:
                sw_sum = 0
                for j in range(n):
                    sw_sum += swp[j]
            else:
                sw_sum = n
            wsq = sum_squares(pp, 0, net.n_coef) if alpha != 0 else 0
            loss = (loss + 0.5 * alpha * wsq) / sw_sum
            if want_grad:
                scale = <floating>(1.0 / sw_sum)
                for j in range(P):
                    grad_out[j] = Gp[j]
                for c in range(1, T):
                    gslot = Gp + c * G.shape[1]
                    for j in range(P):
                        grad_out[j] = grad_out[j] + gslot[j]
                for j in range(net.n_coef):
                    grad_out[j] = (grad_out[j] + <floating>alpha * pp[j]) * scale
                for j in range(net.n_coef, P):
                    grad_out[j] = grad_out[j] * scale
            fastbp_fpmode_restore(fpm)
        free(part)
    finally:
        net_free(&net)
    return loss if want_loss else 0.0


def train_epoch(const floating[:, ::1] X,
                const floating[::1] Xdata, const Py_ssize_t[::1] Xind,
                const Py_ssize_t[::1] Xptr,
                const floating[:, ::1] Y, const floating[::1] sw,
                floating[::1] params, const Py_ssize_t[::1] sizes,
                int hidden, int out, double alpha,
                floating[:, ::1] G, floating[:, ::1] ws,
                Py_ssize_t[::1] perm, Py_ssize_t batch_size,
                bint shuffle, unsigned long long seed,
                int opt_kind, double lr, double momentum, bint nesterov,
                double beta1, double beta2, double eps, double weight_decay,
                floating[::1] s1, floating[::1] s2, long long t,
                int n_threads, Py_ssize_t min_work=0,
                Py_ssize_t min_update_params=32768, bint split_layers=False):
    """One epoch of mini-batch training, in place, with the GIL released.

    For each mini-batch of rows perm[b * batch_size:(b + 1) * batch_size]
    (perm is first shuffled in place when `shuffle`): forward, backward and
    one optimizer update of `params`. No Python runs and nothing is allocated
    per mini-batch.

    IN:  as for loss_grad; perm (n,) row order, kept across epochs;
         the optimizer's code and hyperparameters; t, the number of updates
         done so far (Adam's bias correction); n_threads; min_work, the
         fewest flops per thread worth a split (0: always split);
         split_layers: split each mini-batch's layers over the threads
         (split_batch) instead of its rows (rows_pass per thread).
    IN/OUT: params, s1, s2 (optimizer state), perm.
    Work: G (n_threads, n_params), ws (n_threads, workspace_size(sizes,
         batch_size)); one row of each is enough with split_layers.
    Returns (sum over batches of batch_loss * batch_rows, t after the epoch)
    where batch_loss is scikit-learn's: the weighted mean loss plus
    alpha / 2 * ||W||^2 / sum(sw) (without it for adamw).
    """
    global _threads_ran
    cdef Net net
    cdef OptParams o
    cdef bint sparse = Xptr.shape[0] > 0
    cdef Py_ssize_t n = Xptr.shape[0] - 1 if sparse else X.shape[0]
    cdef Py_ssize_t P, nb, b, start, m, j, cs, ce, lo, hi, work_per_row
    cdef int T = n_threads, c, nch, nup, slots
    cdef double total = 0, wsq, loss, sw_sum
    cdef double alpha_loss = 0 if opt_kind == OPT_ADAMW else alpha
    cdef double* part
    cdef const floating* Xp = &X[0, 0] if X.shape[0] > 0 else NULL
    cdef const floating* Xd = &Xdata[0] if Xdata.shape[0] > 0 else NULL
    cdef const Py_ssize_t* Xi = &Xind[0] if Xind.shape[0] > 0 else NULL
    cdef const Py_ssize_t* Xq = &Xptr[0] if sparse else NULL
    cdef const floating* Yp
    cdef const floating* swp = &sw[0] if sw.shape[0] > 0 else NULL
    cdef floating* Gp
    cdef floating* wsp
    cdef floating* pp
    cdef floating* s1p
    cdef floating* s2p = &s2[0] if s2.shape[0] > 0 else NULL
    cdef Py_ssize_t* permp
    cdef Py_ssize_t ldg = G.shape[1], ldw = ws.shape[1]
    cdef fastbp_fpmode fpm, fpw

    if n == 0:
        raise ValueError("no samples")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if batch_size > n:
        batch_size = n
    if T < 1:
        T = 1
    if perm.shape[0] != n or Y.shape[0] != n:
        raise ValueError("perm and Y must have one row per sample")
    net_init(&net, sizes, hidden, out, batch_size)
    try:
        P = net.n_params
        slots = 1 if split_layers else T
        if params.shape[0] != P or G.shape[1] != P or G.shape[0] < slots:
            raise ValueError("parameter or gradient buffer of the wrong size")
        if s1.shape[0] != P or (s2p != NULL and s2.shape[0] != P):
            raise ValueError("optimizer state of the wrong size")
        if (opt_kind == OPT_ADAM or opt_kind == OPT_ADAMW) and s2p == NULL:
            raise ValueError("adam needs two state buffers")
        if ws.shape[1] < net.ws_size or ws.shape[0] < slots or ws.shape[1] == 0:
            raise ValueError("workspace too small")
        check_data(&net, X, Xdata, Xind, sparse, Y, True, sw, n)
        Yp = &Y[0, 0]
        Gp = &G[0, 0]
        wsp = &ws[0, 0]
        pp = &params[0]
        s1p = &s1[0]
        permp = &perm[0]
        opt_init(&o, opt_kind, lr, momentum, nesterov, beta1, beta2, eps,
                 weight_decay)
        work_per_row = 6 * net.n_coef
        nb = (n + batch_size - 1) // batch_size
        # the first batch is the largest: it splits whenever any batch does
        if (n_chunks_for(batch_size, work_per_row, T, min_work) > 1
                or (T > 1 and P >= min_update_params)):
            _threads_ran = True
        part = <double*>malloc(T * sizeof(double))
        if part == NULL:
            raise MemoryError()
        with nogil:
            fpm = fastbp_ftz_on()
            if shuffle:
                shuffle_inplace(permp, n, seed)
            wsq = sum_squares(<const floating*>pp, 0, net.n_coef) if alpha_loss != 0 else 0
            for b in range(nb):
                start = b * batch_size
                m = batch_size if start + batch_size <= n else n - start
                nch = n_chunks_for(m, work_per_row, T, min_work)
                if nch == 1:
                    loss = rows_pass(&net, pp, Gp, 0, wsp, Xp, Xd, Xi, Xq,
                                     permp, start, m, Yp, swp, NULL)
                elif split_layers:
                    loss = split_batch(&net, pp, Gp, wsp, Xp, Xd, Xi, Xq,
                                       permp, start, m, Yp, swp, nch, part)
                    nch = 1     # one gradient buffer holds the batch's sums
                else:
                    for c in prange(nch, num_threads=nch, schedule='static',
                                    chunksize=1):
                        fpw = fastbp_ftz_on()
                        cs = start + cut(m, c, nch, 1)
                        ce = start + cut(m, c + 1, nch, 1)
                        part[c] = rows_pass(&net, pp, Gp + c * ldg, 0,
                                            wsp + c * ldw, Xp, Xd, Xi, Xq,
                                            permp, cs, ce - cs, Yp, swp, NULL)
                        fastbp_fpmode_restore(fpw)
                    loss = 0
                    for c in range(nch):
                        loss += part[c]
                if swp != NULL:
                    sw_sum = 0
                    for j in range(start, start + m):
                        sw_sum += swp[permp[j]]
                else:
                    sw_sum = m
                if sw_sum <= 0:
                    # Every row of this batch has weight 0: no loss and no
                    # gradient to follow (scikit-learn divides by zero here).
                    continue
                total += (loss + 0.5 * alpha_loss * wsq) / sw_sum * m
                t += 1
                opt_set_step(&o, t)
                nup = T if P >= min_update_params else 1
                if nup == 1:
                    wsq = update(&o, pp, Gp, nch, ldg, 0, P, net.n_coef,
                                 <floating>alpha, <floating>(1.0 / sw_sum),
                                 s1p, s2p, alpha_loss != 0)
                else:
                    for c in prange(nup, num_threads=nup, schedule='static',
                                    chunksize=1):
                        fpw = fastbp_ftz_on()
                        lo = cut(P, c, nup, 1)
                        hi = cut(P, c + 1, nup, 1)
                        part[c] = update(&o, pp, Gp, nch, ldg, lo, hi,
                                         net.n_coef, <floating>alpha,
                                         <floating>(1.0 / sw_sum), s1p, s2p,
                                         alpha_loss != 0)
                        fastbp_fpmode_restore(fpw)
                    wsq = 0
                    for c in range(nup):
                        wsq += part[c]
            fastbp_fpmode_restore(fpm)
        free(part)
    finally:
        net_free(&net)
    return total, t


cdef inline bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating acc = 0
    for i in range(n):
        acc = acc + x[i] * 0   # NaN or inf anywhere makes acc NaN
    return acc == 0


cdef class Predictor:
    """Forward pass over up to `rows` dense rows with a workspace of its own.

    Made once per network and reused: a prediction on a few rows then costs
    one call and no allocation beyond the output. Holds a reference to the
    network's parameter buffer, whose values it reads at each call.
    """
    cdef Net net
    cdef object params
    cdef object ws
    cdef bint single
    cdef readonly Py_ssize_t rows
    cdef readonly object dtype

    def __cinit__(self, params, const Py_ssize_t[::1] sizes, int hidden,
                  int out, Py_ssize_t rows):
        self.net.sizes = NULL
        if rows < 1:
            raise ValueError("rows must be >= 1")
        params = np.asarray(params)
        if params.dtype != np.float32 and params.dtype != np.float64:
            raise ValueError("params must be float32 or float64")
        if not params.flags.c_contiguous or params.ndim != 1:
            raise ValueError("params must be a contiguous 1-D array")
        net_init(&self.net, sizes, hidden, out, rows)
        if params.shape[0] != self.net.n_params:
            raise ValueError("params has the wrong length for these layer sizes")
        self.params = params
        self.dtype = params.dtype
        self.single = params.dtype == np.float32
        self.ws = np.empty(self.net.ws_size, dtype=params.dtype)
        self.rows = rows

    def __dealloc__(self):
        free(self.net.sizes)

    def __call__(self, X, out, int out_kind=-1, bint check_finite=False):
        """out[:] = network output for X; X and out C-contiguous, n <= rows.

        out_kind, when given, replaces the output activation for this call
        (OUT_IDENTITY gives the logits). check_finite: raise ValueError when
        X holds NaN or infinity."""
        cdef Py_ssize_t n = X.shape[0]
        if n > self.rows or n < 1:
            raise ValueError(f"between 1 and {self.rows} rows, got {n}")
        if X.shape[1] != self.net.sizes[0] or out.shape[0] != n or out.shape[1] != self.net.sizes[self.net.L]:
            raise ValueError("X or out has the wrong shape")
        cdef int saved_out = self.net.out
        if out_kind >= 0:
            self.net.out = out_kind
        try:
            self._run(X, out, n, check_finite)
        finally:
            self.net.out = saved_out
        return out

    cdef _run(self, X, out, Py_ssize_t n, bint check_finite):
        cdef const float[:, ::1] Xf
        cdef float[:, ::1] Of
        cdef const double[:, ::1] Xd
        cdef double[:, ::1] Od
        cdef float[::1] pf, wf
        cdef double[::1] pd, wd
        cdef fastbp_fpmode fpm
        if self.single:
            Xf = X
            if check_finite and not all_finite(&Xf[0, 0], n * Xf.shape[1]):
                raise ValueError("Input X contains NaN or infinity.")
            Of = out
            pf = self.params
            wf = self.ws
            fpm = fastbp_ftz_on()
            rows_pass(&self.net, &pf[0], <float*>NULL, 0, &wf[0], &Xf[0, 0],
                      <const float*>NULL, NULL, NULL, NULL, 0, n,
                      <const float*>NULL, <const float*>NULL, &Of[0, 0])
            fastbp_fpmode_restore(fpm)
        else:
            Xd = X
            if check_finite and not all_finite(&Xd[0, 0], n * Xd.shape[1]):
                raise ValueError("Input X contains NaN or infinity.")
            Od = out
            pd = self.params
            wd = self.ws
            fpm = fastbp_ftz_on()
            rows_pass(&self.net, &pd[0], <double*>NULL, 0, &wd[0], &Xd[0, 0],
                      <const double*>NULL, NULL, NULL, NULL, 0, n,
                      <const double*>NULL, <const double*>NULL, &Od[0, 0])
            fastbp_fpmode_restore(fpm)
