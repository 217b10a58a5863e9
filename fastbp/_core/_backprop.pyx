# cython: language_level=3
"""Mini-batch training and full-data passes, spread over OpenMP threads.

Design
------
``rows_pass`` (``_rows.pxd``) runs one block of rows through the network on
one thread: the forward pass (GEMM into the layer's buffer, then bias and
activation fused while the block is in cache), the loss and, when asked,
the backward pass, writing the gradient *sums* (A^T delta and column sums
of delta, no L2 term, no scaling). This module spreads that work over
threads, deterministically.

A mini-batch of m rows is cut into K parts, K fixed by m, the work per row,
the requested thread count and ``min_work`` (``n_chunks_for``), never by how
many threads are free. Each step of the mini-batch runs as K parts: row
blocks, each with a workspace and a gradient slot of its own (the slots are
summed in slot order inside the optimizer's fused update), or, where the
layers are wide against the block (``split_layers``), the mini-batch as one
block whose GEMMs are cut into K disjoint parts of one gradient buffer
("Layer-split mini-batches" below; for dense input each part owns rows of
every weight matrix, "Owned rows"); then the update, over K ranges of the
parameters. The parts run on a team of 1 to K threads (``run_phase``:
handed out dynamically, or part c on thread c where a part owns data) and
partial sums (losses, ||W||^2) are added in
part order, so the weights depend on K alone: the same seed and thread
count give bitwise the same weights whichever threads ran the parts
(tests/test_parallel_parts.py). That lets the tuner (``_tuner.pyx``) run
the parts on one thread while the machine is busy. BLAS runs on one thread
meanwhile (the Python layer limits it with threadpoolctl).

The ``Trainer`` holds one network's layout, workspaces, gradient slots and
optimizer state and runs a whole epoch (shuffle, then per mini-batch:
gather, forward, backward, update) in one call with the GIL released; its
``gradient`` and ``step`` serve callers that combine gradients themselves
(data-parallel training). ``loss_grad`` is the full-data pass (loss,
gradient and/or output) in fixed chunks of ``rows`` rows, chunk c on thread
slot c mod T, the slots summed in order.

Layouts: parameters and workspaces in ``_layout.pxd``, input rows (dense or
CSR) in ``_input.pxd``.
"""

import numpy as np

cimport cython
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from cpython.exc cimport PyErr_CheckSignals

from fastbp._core._blas cimport gemm, fastbp_gemm_warm
from fastbp._core._activations cimport (
    bias_activate, column_sums, mul_derivative, ACT_IDENTITY,
)
from fastbp._core._optim cimport (
    OptParams, opt_init, opt_set_step, sum_squares, update, OPT_ADAM,
    OPT_ADAMW,
)
from fastbp._core._openmp cimport fastbp_max_threads, FASTBP_OPENMP
from fastbp._core._fpmode cimport fastbp_fpmode, fastbp_ftz_on, fastbp_fpmode_restore
from fastbp._core._pin cimport (
    fb_pins, fb_pins_mine, fb_pin_note, fb_pin_owner, fb_pin_team, fb_pin_follow,
    fb_unpin_team, fb_pinned)
from fastbp._core._tuner cimport (
    Tuner, TunerMem, tuner_bind, tuner_init, tuner_record, tuner_team,
    trace_batch,
)
from fastbp._core._layout cimport Layout, Net, net_init, net_layout, net_free
from fastbp._core._input cimport Input, InputRows
from fastbp._core._rows cimport (
    gather_rows, loss_rows, rows_pass, sparse_forward, sparse_scatter,
    sparse_unscatter,
)

cnp.import_array()

OPENMP_ENABLED = bool(FASTBP_OPENMP)

def threads_ran():
    """True once this process ran a parallel region (inherited by fork)."""
    return _threads_ran_c


def max_threads():
    """Number of threads OpenMP would use by default (1 in a serial build)."""
    return fastbp_max_threads()


def workspace_size(const Py_ssize_t[::1] sizes, Py_ssize_t rows, int hidden,
                   bint sparse=False):
    """Number of elements one thread's workspace needs for `rows` rows (of
    CSR input when `sparse`: no room for densified input rows then)."""
    cdef Net net
    net_init(&net, sizes, hidden, 0, rows, sparse)
    try:
        return net.ws_size
    finally:
        net_free(&net)


def layer_offsets(const Py_ssize_t[::1] sizes, Py_ssize_t rows, int hidden,
                  bint sparse=False):
    """Where each layer's output starts in that workspace (a list)."""
    cdef Net net
    cdef int l
    net_init(&net, sizes, hidden, 0, rows, sparse)
    try:
        return [net.a_off[l] for l in range(net.L)]
    finally:
        net_free(&net)


# Layer-split mini-batches
# ------------------------
# Splitting a mini-batch by rows gives each thread a gradient copy to write
# and the optimizer a sum over copies; with many threads and wide layers the
# blocks get thin (16 rows at batch 256 on 16 threads) and the copies cost
# more than they save. A layer split (``split_layers``) runs the mini-batch
# as one block and splits each layer's GEMMs over the threads into disjoint
# parts of one gradient buffer. For dense input the parts own rows of the
# weights ("Owned rows" below). For CSR input, whose first layer is read in
# place row by row, each GEMM is split by rows or by columns of the
# product (forward_part, backward_part): each thread's operand blocks are
# packed by its own single-threaded GEMM, so the split is chosen per GEMM
# to copy less: a row split repacks all of W per thread, a column split all
# of the left operand.

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
                       floating* ws, const floating* xin, const InputRows* X,
                       const Py_ssize_t* idx, Py_ssize_t start, Py_ssize_t m,
                       int c, int T) noexcept nogil:
    """Part c of T of layer l's forward pass over the m-row block:
    A_l = f(A_{l-1} @ W_l + b_l), split by rows when the layer is narrower
    than the block (always for a sparse first layer), else by columns."""
    cdef Py_ssize_t k = net.sizes[l], n = net.sizes[l + 1], i0, i1
    cdef const floating* prev = xin if l == 0 else ws + net.a_off[l - 1]
    cdef const floating* W = params + net.w_off[l]
    cdef const floating* b = params + net.b_off[l]
    cdef floating* A = ws + net.a_off[l]
    cdef floating* z = NULL
    cdef int act = net.hidden if l < net.L - 1 else ACT_IDENTITY
    if net.store_z and l < net.L - 1:
        z = ws + net.z_off[l]
    if l == 0 and X.ptr != NULL:
        i0 = cut(m, c, T, 1)
        i1 = cut(m, c + 1, T, 1)
        if i1 > i0:
            sparse_forward(net, A, W, X, idx, start, i0, i1)
            bias_activate(act, A + i0 * n, b, i1 - i0, n,
                          z + i0 * n if z != NULL else NULL, n)
    elif n < m:
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
                        const InputRows* X, const Py_ssize_t* idx,
                        Py_ssize_t start, const floating* D, floating* Dn,
                        Py_ssize_t m, int c, int T) noexcept nogil:
    """Thread c's part of layer l's backward pass over the m-row block with
    output delta D (m, n): gradient sums dW_l = A_{l-1}^T D (split over the
    longer of its two sides) and db_l = column sums of D (split by columns)
    into grad, overwritten; for l > 0 also Dn (m, k) = (D @ W_l^T) *
    f'(A_{l-1}), split like the forward pass."""
    cdef Py_ssize_t k = net.sizes[l], n = net.sizes[l + 1], i0, i1, i
    cdef const floating* prev = xin if l == 0 else ws + net.a_off[l - 1]
    cdef const floating* W = params + net.w_off[l]
    cdef floating* gW = grad + net.w_off[l]
    cdef floating* gb = grad + net.b_off[l]
    cdef const floating* a
    cdef const floating* z = NULL
    if l == 0 and X.ptr != NULL:
        sparse_scatter(net, gW, 0, D, X, idx, start, m,
                       cut(n, c, T, 16), cut(n, c + 1, T, 16))
    elif n <= k:
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
    column_sums(gb, D, m, n, cut(n, c, T, 16), cut(n, c + 1, T, 16), True)
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


# Owned rows
# ----------
# A layer split moves data between the threads at every step: each GEMM
# part reads what other threads wrote in the step before (weights, their
# gradient, optimizer state, activations). Where the host keeps the two
# vCPUs far apart (no shared cache), each such line costs a trip between
# them: on the 2-vCPU AMD EPYC VM, for minutes at a time, a 512 KiB
# hand-off between two threads takes twice as long (_handoff.h times it
# beside the bench's fits). With the parts reading each other's weights, a
# fixed team's 784-256-128 batch-32 epoch took 470-500 ms in those
# stretches instead of 240-260, more than one thread's 400-440; with owned
# rows, 327-340 (benchmarks/steadiness.py --case 784-256-128-b32 prints
# the default's fits and the hand-off, round by round). So for dense input
# the layer split gives part c the rows I_c = cut(k_l, c, K, 16) of every
# W_l, in every phase:
#
#   forward   P_c = A_{l-1}[:, I_c] @ W_l[I_c, :], the part's share of the
#             sum over k; the next phase adds the K shares of the columns
#             it owns there (in part order), with bias and activation
#   backward  dW_l[I_c, :] = A_{l-1}[:, I_c]^T @ D_l and
#             D_{l-1}[:, I_c] = (D_l @ W_l[I_c, :]^T) * f'(A_{l-1}[:, I_c])
#   update    W_l[I_c, :], and b_l over the columns the part owns in layer
#             l + 1's rows (cut(n_l, c, K, 16)), whose bias gradient it sums
#
# Each part then reads and writes its own weights, gradient, optimizer
# state and activation columns only; what crosses between threads is the
# K shares of each layer's output and each delta D_l (batch x width per
# layer, against weight-sized blocks). With the parts on fixed threads
# (run_phase's static schedule) those lines stay in one core's caches from
# one mini-batch to the next. The forward sums are cut at the I_c, so the
# results depend on K (as every split's do), never on the team.
#
# Each part writes a share as wide as the layer and the owners of the
# next layer's units read K of them, so that traffic grows with K while
# each part's products shrink; owned rows are used up to OWNED_MAX_PARTS
# parts (measured on 2 threads; the K = 3 and 4 splits are tested), the
# per-product splits beyond.

cdef enum:
    OWNED_MAX_PARTS = 4

cdef inline void add_shares(floating* dst, Py_ssize_t ldd, const floating* P,
                            Py_ssize_t part_size, Py_ssize_t ldp,
                            Py_ssize_t k, int K, Py_ssize_t i0, Py_ssize_t i1,
                            Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """dst[i, j] = the sum, in part order, of the shares P_c[i, j] (part c
    at P + c * part_size, row stride ldp) of the parts whose cut of k rows
    is not empty, for rows i0:i1 and columns j0:j1."""
    cdef Py_ssize_t i, j
    cdef int c
    cdef bint first = True
    cdef const floating* q
    cdef floating* d
    for c in range(K):
        if cut(k, c, K, 16) >= cut(k, c + 1, K, 16):
            continue
        for i in range(i0, i1):
            q = P + c * part_size + i * ldp
            d = dst + i * ldd
            if first:
                for j in range(j0, j1):
                    d[j] = q[j]
            else:
                for j in range(j0, j1):
                    d[j] = d[j] + q[j]
        first = False
    if first:   # (k == 0: no part has rows)
        for i in range(i0, i1):
            memset(dst + i * ldd + j0, 0, (j1 - j0) * sizeof(floating))


cdef void owned_forward(const Net* net, int l, const floating* params,
                        floating* ws, floating* shares, Py_ssize_t share_size,
                        const floating* X, const Py_ssize_t* idx,
                        Py_ssize_t start, Py_ssize_t m, int c,
                        int K) noexcept nogil:
    """Part c of layer l's forward pass over the m-row block (owned rows):
    the part's columns of A_{l-1} (for l = 0 the input's, gathered), then
    its share of A_l's sum (shares of layer l: set l % 2)."""
    cdef Py_ssize_t k = net.sizes[l], n = net.sizes[l + 1], i
    cdef Py_ssize_t i0 = cut(k, c, K, 16), i1 = cut(k, c + 1, K, 16)
    cdef const floating* prev
    cdef floating* A
    cdef floating* z = NULL
    cdef floating* xbuf
    if l == 0:
        if idx != NULL:
            xbuf = ws + net.x_off
            for i in range(m):
                memcpy(xbuf + i * k + i0, X + idx[start + i] * k + i0,
                       (i1 - i0) * sizeof(floating))
            prev = xbuf
        else:
            prev = X + start * k
    else:
        # A_{l-1}'s columns I_c: its K shares added, bias, activation
        A = ws + net.a_off[l - 1]
        if net.store_z:
            z = ws + net.z_off[l - 1]
        add_shares(A, k, shares + ((l - 1) % 2) * K * share_size, share_size,
                   k, net.sizes[l - 1], K, 0, m, i0, i1)
        if i1 > i0:
            bias_activate(net.hidden, A + i0, params + net.b_off[l - 1] + i0,
                          m, i1 - i0, z + i0 if z != NULL else NULL, k)
        prev = A
    if i1 > i0:
        gemm(False, False, <int>m, <int>n, <int>(i1 - i0), <floating>1,
             prev + i0, <int>k, params + net.w_off[l] + i0 * n, <int>n,
             <floating>0, shares + ((l % 2) * K + c) * share_size, <int>n)


cdef void owned_backward(const Net* net, int l, const floating* params,
                         floating* grad, floating* ws, const floating* xin,
                         const floating* D, floating* Dn, Py_ssize_t m,
                         int c, int K) noexcept nogil:
    """Part c of layer l's backward pass (owned rows): dW_l[I_c, :], the
    bias gradient of the columns the part owns (for the last layer, its cut
    of them; else those it computed D_l for), and D_{l-1}[:, I_c]."""
    cdef Py_ssize_t k = net.sizes[l], n = net.sizes[l + 1], i
    cdef Py_ssize_t i0 = cut(k, c, K, 16), i1 = cut(k, c + 1, K, 16)
    cdef const floating* prev = xin if l == 0 else ws + net.a_off[l - 1]
    cdef const floating* W = params + net.w_off[l]
    cdef const floating* a
    cdef const floating* z = NULL
    if i1 > i0:
        gemm(True, False, <int>(i1 - i0), <int>n, <int>m, <floating>1,
             prev + i0, <int>k, D, <int>n, <floating>0,
             grad + net.w_off[l] + i0 * n, <int>n)
    column_sums(grad + net.b_off[l], D, m, n, cut(n, c, K, 16),
                cut(n, c + 1, K, 16), True)
    if l == 0 or i1 <= i0:
        return
    a = ws + net.a_off[l - 1]
    if net.store_z:
        z = ws + net.z_off[l - 1]
    gemm(False, True, <int>m, <int>(i1 - i0), <int>n, <floating>1, D, <int>n,
         W + i0 * n, <int>n, <floating>0, Dn + i0, <int>k)
    for i in range(m):
        mul_derivative(net.hidden, Dn + i * k + i0, a + i * k + i0,
                       z + i * k + i0 if z != NULL else NULL, i1 - i0)


cdef double owned_update(Ctx* x, int c, int K, floating* tag) noexcept nogil:
    """Part c of the optimizer's update (owned rows): W_l[I_c, :] and
    b_l[cut(n_l, c, K, 16)] of every layer; returns ||W||^2 of the part's
    updated weights (when x.want_sumsq), layer by layer."""
    cdef const Net* net = x.net
    cdef Py_ssize_t k, n
    cdef int l
    cdef double sq = 0
    for l in range(net.L):
        k = net.sizes[l]
        n = net.sizes[l + 1]
        sq += update(x.opt, <floating*>x.params, <floating*>x.grad, 1, x.ldg,
                     net.w_off[l] + cut(k, c, K, 16) * n,
                     net.w_off[l] + cut(k, c + 1, K, 16) * n, net.n_coef,
                     <floating>x.alpha, <floating>x.scale, <floating*>x.s1,
                     <floating*>x.s2, x.want_sumsq)
        update(x.opt, <floating*>x.params, <floating*>x.grad, 1, x.ldg,
               net.b_off[l] + cut(n, c, K, 16),
               net.b_off[l] + cut(n, c + 1, K, 16), net.n_coef,
               <floating>x.alpha, <floating>x.scale, <floating*>x.s1,
               <floating*>x.s2, False)
    return sq


# Running a mini-batch
# --------------------
# Every parallel step of a mini-batch is cut into K parts fixed by the
# problem and the requested thread count (never by how many threads are
# free): row blocks with their own gradient slot, layer parts, loss rows,
# update ranges. Each part writes only its own outputs and partial sums are
# added in part order, so the result depends on K alone. How many threads
# run the K parts (the "team", 1 to K, parts handed out dynamically) can
# then change from one mini-batch to the next without changing a bit.
#
# On a busy machine that freedom is what keeps fastbp fast: the tuner
# (_tuner.pyx) picks the team, K threads or one, by timing windows of
# mini-batches.

cdef enum:
    PH_GATHER = 0
    PH_FORWARD = 1
    PH_LOSS = 2
    PH_BACKWARD = 3
    PH_ROWS = 4
    PH_UPDATE = 5
    PH_UNSCATTER = 6


cdef struct Ctx:
    # One mini-batch's arguments, shared by its parts (pointers to float or
    # double, cast back in do_part).
    const Net* net
    void* params
    void* grad              # gradient slots, row stride ldg
    void* ws                # workspaces, row stride ldw
    const InputRows* X
    const Py_ssize_t* idx
    const void* Y
    const void* sw
    Py_ssize_t start, m, ldg, ldw
    const void* xin         # layer split: the input block
    void* D                 # layer split: delta of layer l, and the next
    void* Dn
    int l
    int n_grads             # gradient slots the batch filled
    const OptParams* opt
    void* s1
    void* s2
    double alpha, scale
    bint want_sumsq
    bint owned              # dense layer split: parts own rows of every W_l
    void* shares            # owned: two sets of K shares of a layer's output
    Py_ssize_t share_size   # ... each rows x widest
    double* part            # one partial sum per part
    fb_pins* pins           # the master's note of its team's threads


# Whether this process ran a parallel region of several threads (fastbp._threads
# needs it in a forked child: OpenMP cannot start threads there once its
# parent has).
cdef bint _threads_ran_c = False


cdef void do_part(Ctx* x, int phase, int c, int K, floating* tag) noexcept nogil:
    """Part c of K of one step of a mini-batch (tag only selects the type)."""
    cdef const Net* net = x.net
    cdef floating* params = <floating*>x.params
    cdef floating* grad = <floating*>x.grad
    cdef floating* ws = <floating*>x.ws
    cdef Py_ssize_t cs = cut(x.m, c, K, 1), ce = cut(x.m, c + 1, K, 1), n
    if phase == PH_GATHER:
        gather_rows(net, ws + net.x_off, <const floating*>x.X.X, x.idx,
                    x.start, cs, ce)
    elif phase == PH_FORWARD and x.owned:
        owned_forward(net, x.l, params, ws, <floating*>x.shares, x.share_size,
                      <const floating*>x.X.X, x.idx, x.start, x.m, c, K)
    elif phase == PH_FORWARD:
        forward_part(net, x.l, params, ws, <const floating*>x.xin, x.X, x.idx,
                     x.start, x.m, c, K)
    elif phase == PH_LOSS:
        if x.owned:
            # (the output's K shares of these rows added, and its bias)
            n = net.sizes[net.L]
            add_shares(ws + net.a_off[net.L - 1], n,
                       <floating*>x.shares + ((net.L - 1) % 2) * K * x.share_size,
                       x.share_size, n, net.sizes[net.L - 1], K, cs, ce, 0, n)
            bias_activate(ACT_IDENTITY, ws + net.a_off[net.L - 1] + cs * n,
                          params + net.b_off[net.L - 1], ce - cs, n, NULL, n)
        x.part[c] = loss_rows(net, ws + net.a_off[net.L - 1], <floating*>x.D,
                              <const floating*>x.Y, <const floating*>x.sw,
                              x.idx, x.start, cs, ce)
    elif phase == PH_BACKWARD and x.owned:
        owned_backward(net, x.l, params, grad, ws, <const floating*>x.xin,
                       <const floating*>x.D, <floating*>x.Dn, x.m, c, K)
    elif phase == PH_BACKWARD:
        backward_part(net, x.l, params, grad, ws, <const floating*>x.xin, x.X,
                      x.idx, x.start, <const floating*>x.D, <floating*>x.Dn,
                      x.m, c, K)
    elif phase == PH_ROWS:
        x.part[c] = rows_pass(net, params, grad + c * x.ldg, 0,
                              ws + c * x.ldw, x.X, x.idx, x.start + cs, ce - cs,
                              <const floating*>x.Y, <const floating*>x.sw,
                              NULL)
    elif phase == PH_UNSCATTER:
        for cs in range(x.n_grads):
            sparse_unscatter(net, grad + cs * x.ldg + net.w_off[0], x.X,
                             x.idx, x.start, x.m,
                             cut(net.sizes[1], c, K, 16),
                             cut(net.sizes[1], c + 1, K, 16))
    elif x.owned:
        x.part[c] = owned_update(x, c, K, tag)
    else:
        x.part[c] = update(x.opt, params, grad, x.n_grads, x.ldg,
                           cut(net.n_params, c, K, 1),
                           cut(net.n_params, c + 1, K, 1), net.n_coef,
                           <floating>x.alpha, <floating>x.scale,
                           <floating*>x.s1, <floating*>x.s2, x.want_sumsq)


cdef void run_phase(Ctx* x, int phase, int K, int team,
                    floating* tag) noexcept nogil:
    """Parts 0..K-1 of a step, on `team` threads (serially when 1)."""
    global _threads_ran_c
    cdef int c
    if team > K:
        team = K
    if team <= 1:
        for c in range(K):
            do_part(x, phase, c, K, tag)
        return
    _threads_ran_c = True
    if x.owned:
        # (part c on thread c, batch after batch: see "Owned rows")
        for c in prange(K, num_threads=team, schedule='static', chunksize=1):
            team_part(x, phase, c, K, tag)
    else:
        for c in prange(K, num_threads=team, schedule='dynamic', chunksize=1):
            team_part(x, phase, c, K, tag)


cdef inline void team_part(Ctx* x, int phase, int c, int K,
                           floating* tag) noexcept nogil:
    """Part c run by a thread of the team: noted for pinning (_pin.h),
    with denormals flushed as on the master."""
    cdef fastbp_fpmode fpw
    fb_pin_note(x.pins, threadid())
    fpw = fastbp_ftz_on()
    do_part(x, phase, c, K, tag)
    fastbp_fpmode_restore(fpw)


cdef double batch_gradient(Ctx* x, bint split, int K, int team,
                           floating* tag) noexcept nogil:
    """Gradient sums of the mini-batch x.idx[x.start:x.start + x.m] (rows
    x.start.. when idx is NULL) and its weighted loss sum, which is returned.

    K == 1: one block, one gradient slot. Otherwise K parts, either row
    blocks each with a gradient slot and a workspace of its own (x.n_grads
    = K, summed by the update), or (split) the batch as one block whose
    layers' GEMMs are cut into K parts of one gradient buffer (see "Layer-
    split mini-batches")."""
    cdef const Net* net = x.net
    cdef floating* ws = <floating*>x.ws
    cdef int l, c
    cdef double loss = 0
    cdef void* tmp
    if K <= 1:
        x.n_grads = 1
        return rows_pass(net, <floating*>x.params, <floating*>x.grad, 0, ws,
                         x.X, x.idx, x.start, x.m,
                         <const floating*>x.Y, <const floating*>x.sw, NULL)
    if not split:
        x.n_grads = K
        run_phase(x, PH_ROWS, K, team, tag)
    else:
        x.n_grads = 1
        x.D = ws + net.d0_off
        x.Dn = ws + net.d1_off
        if x.X.ptr != NULL:
            x.xin = NULL
        elif x.idx != NULL:
            x.xin = ws + net.x_off
            if not x.owned:     # (owned: each part gathers its columns)
                run_phase(x, PH_GATHER, K, team, tag)
        else:
            x.xin = <const floating*>x.X.X + x.start * net.sizes[0]
        for l in range(net.L):
            x.l = l
            run_phase(x, PH_FORWARD, K, team, tag)
        run_phase(x, PH_LOSS, K, team, tag)
        for l in range(net.L - 1, -1, -1):
            x.l = l
            run_phase(x, PH_BACKWARD, K, team, tag)
            tmp = x.D
            x.D = x.Dn
            x.Dn = tmp
    for c in range(K):
        loss += x.part[c]
    return loss


cdef int _team_warmed = 1     # threads of the largest team warmed so far
cdef bint _pin_enabled = True   # keep a training team's workers apart (_pin.h)


def _pinning(enabled=None):
    """Whether training teams keep their workers off the master's CPU
    (see _pin.h); with `enabled`, set it (for benchmarks and tests).
    Returns the previous setting."""
    global _pin_enabled
    old = _pin_enabled
    if enabled is not None:
        _pin_enabled = bool(enabled)
    return old


cdef void warm_team(int team) noexcept nogil:
    """Start `team` OpenMP threads and have each call BLAS once, in single
    and double precision, and take its buffers for fastbp's own product, so
    that a first probe of the team does not time the one-off set-up of
    threads and of per-thread buffers (10-20 ms on a 2-core machine: enough
    for the first probe of a process to lose)."""
    global _threads_ran_c, _team_warmed
    cdef int c
    cdef float fa = 0, fc = 0
    cdef double da = 0, dc = 0
    cdef fb_pins* pins
    if team <= _team_warmed:
        return
    _threads_ran_c = True
    pins = fb_pins_mine()
    for c in prange(team, num_threads=team, schedule='static', chunksize=1):
        fb_pin_note(pins, threadid())
        gemm(False, False, 1, 1, 1, <float>1, &fa, 1, &fa, 1, <float>0, &fc, 1)
        gemm(False, False, 1, 1, 1, <double>1, &da, 1, &da, 1, <double>0, &dc, 1)
        fastbp_gemm_warm()
    _team_warmed = team


cdef inline double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef int check_signals() except -1 with gil:
    """Run Python's signal handlers (Ctrl-C raises KeyboardInterrupt here)."""
    PyErr_CheckSignals()
    return 0


# How often a compiled epoch looks for Ctrl-C (between mini-batches).
cdef double SIGNAL_CHECK_S = 0.02


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


cdef int check_data(const Net* net, Input X, const floating[:, ::1] Y,
                    bint check_y, const floating[::1] sw) except -1:
    """Type and shapes of one call's data against the network."""
    cdef Py_ssize_t n = X.n_samples
    X.check_for(floating is float, net.sizes[0])
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


def loss_grad(Input X not None, const floating[:, ::1] Y,
              const floating[::1] sw, const floating[::1] params,
              Layout layout not None, double alpha, buffers, Py_ssize_t rows,
              floating[::1] grad_out, floating[:, ::1] out_rows,
              int n_threads):
    """Full-data loss and gradient, and/or forward pass.

    The n samples are cut into chunks of `rows` rows (fixed boundaries);
    thread slot c handles chunks c, c + T, ... accumulating into G[c], and
    the slots are summed in order: deterministic for a given T.

    IN:  X, the n samples; Y (n, n_out) or (0, 0) for no loss; sw (n,) or
         empty; params; layout; alpha, the L2 coefficient (loss += alpha /
         2 * ||W||^2 / sum(sw)).
    OUT: grad_out (n_params,) = gradient of the loss, unless empty;
         out_rows (n, n_out) = network output, unless (0, 0).
    Work: buffers = (G, ws), G (T, n_params), or (T, 0) without a gradient,
    and ws (T, workspace_size(sizes, rows)).
    Returns the loss (0.0 when Y is empty).
    """
    global _threads_ran_c
    cdef Net net
    cdef floating[:, ::1] G = buffers[0]
    cdef floating[:, ::1] ws = buffers[1]
    cdef bint sparse = X.sparse
    cdef Py_ssize_t n = X.n_samples
    cdef Py_ssize_t n_chunks, ci, j, start, m, P
    cdef int T = n_threads, c, used
    cdef bint want_grad = grad_out.shape[0] > 0
    cdef bint want_loss = Y.shape[0] > 0
    cdef bint want_out = out_rows.shape[0] > 0
    cdef double sw_sum, loss = 0, wsq
    cdef double* part
    cdef const InputRows* xr = &X.rows
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
    net_layout(&net, layout, rows, sparse)
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
        check_data(&net, X, Y, want_loss, sw)
        Gp = &G[0, 0] if want_grad else NULL
        wsp = &ws[0, 0]
        pp = &params[0]
        n_chunks = (n + rows - 1) // rows
        if T > n_chunks:
            T = <int>n_chunks
        if T > 1:
            _threads_ran_c = True
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
                                         0 if ci == 0 else 1, wsp, xr,
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
                                             xr, NULL, start, m,
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


def touch_new(shape, dtype):
    """A new array of zeros whose pages are all mapped now (np.zeros maps
    them at their first write, in the middle of training), starting on a
    64-byte line (numpy's own start is 16-byte aligned: the optimizer's
    vectors then straddle two lines each, and threads writing neighbouring
    parts of a workspace share the line between them)."""
    dt = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64))
    raw = np.empty(size * dt.itemsize + 64, dtype=np.uint8)
    skip = -raw.ctypes.data % 64
    a = raw[skip:skip + size * dt.itemsize].view(dt).reshape(shape)
    a.fill(0)
    return a


cdef class Trainer:
    """Mini-batch training of one network: layout, workspace, optimizer
    state and settings held in one place, for the epoch loop and for a
    caller that combines gradients itself (data-parallel training).

    Parameters
    ----------
    params : ndarray of float32 or float64, shape (n_params,)
        The network's flat parameter buffer, trained in place (held by
        reference).
    layout : Layout
        Layer widths and activation codes.
    batch_size : int
        The largest mini-batch (sizes the workspace).
    n_threads : int
        Requested threads: the mini-batch's parts are fixed by it (and by
        ``min_work``), so results depend on it and on nothing else.
    sparse : bool
        Inputs will be CSR (no densified input buffer).
    split_layers : bool
        Split a mini-batch's layers over the threads rather than its rows.
    min_work : int
        Fewest flops a part must have for the batch to be cut (0: always).
    min_update_params : int
        Fewest parameters for the update to be cut into n_threads ranges.
    adaptive : bool
        Let the tuner run the parts on fewer threads when that is faster
        (a busy machine); results are the same either way.
    buffers : (G, ws), optional
        Gradient slots and workspaces to use (C-contiguous, the parameters'
        dtype, at least ``slots`` rows each) instead of new ones.

    Attributes
    ----------
    t : int
        Optimizer updates done (Adam's bias correction counts them).
    rows_done, loss_done : int, float
        Rows and summed batch loss (times rows) of the mini-batches done by
        the last (possibly interrupted) ``epoch`` call.
    """
    cdef Net net
    cdef OptParams opt
    cdef Tuner tuner
    cdef readonly object params, G, ws, s1, s2, dtype, shares
    cdef readonly bint single, split, sparse
    cdef readonly int n_threads, slots
    cdef readonly Py_ssize_t batch_size, min_work, min_update_params
    cdef public long long t
    cdef readonly Py_ssize_t rows_done
    cdef readonly double loss_done
    cdef double wsq
    cdef double last_check
    cdef bint opt_set

    # (__init__, not __cinit__: its signature is then visible to inspect and
    # checked against the stub; the layout starts NULL, the object zeroed)
    def __init__(self, params, Layout layout not None, *,
                 Py_ssize_t batch_size, int n_threads=1, bint sparse=False,
                 bint split_layers=False, Py_ssize_t min_work=0,
                 Py_ssize_t min_update_params=32768, bint adaptive=True,
                 buffers=None):
        cdef int K
        net_free(&self.net)     # (a second __init__)
        self.opt_set = False
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        params = layout.params_array(params, True)
        net_layout(&self.net, layout, batch_size, sparse)
        self.params = params
        self.dtype = params.dtype
        self.single = params.dtype == np.float32
        self.sparse = sparse
        self.n_threads = n_threads if n_threads > 1 else 1
        self.batch_size = batch_size
        self.min_work = min_work
        self.min_update_params = min_update_params
        K = n_chunks_for(batch_size, 6 * self.net.n_coef, self.n_threads, min_work)
        self.split = split_layers and K > 1
        self.slots = 1 if (self.split or K == 1) else K
        # Fresh buffers are written once here (touch_new): a first write
        # maps each page (page faults, up to 2x a mini-batch of
        # 784-1024-1024), which the first mini-batch would pay otherwise,
        # and the tuner would read that as "the team slowed down".
        G, ws = (None, None) if buffers is None else buffers
        if G is None:
            G = touch_new((self.slots, self.net.n_params), self.dtype)
        if ws is None:
            ws = touch_new((self.slots, self.net.ws_size), self.dtype)
        if (G.dtype != self.dtype or ws.dtype != self.dtype or G.ndim != 2
                or ws.ndim != 2 or not G.flags.c_contiguous
                or not ws.flags.c_contiguous):
            raise ValueError("buffers must be C-contiguous 2-D arrays of the "
                             "parameters' dtype")
        if G.shape[1] != self.net.n_params or G.shape[0] < self.slots:
            raise ValueError("parameter or gradient buffer of the wrong size")
        if ws.shape[1] < self.net.ws_size or ws.shape[0] < self.slots or ws.shape[1] == 0:
            raise ValueError("workspace too small")
        if sparse:
            # dW_0 starts clean; each epoch's mini-batch zeroes what it
            # scattered (see sparse_unscatter)
            G[:, :self.net.sizes[0] * self.net.sizes[1]] = 0
        self.G = G
        self.ws = ws
        # (owned rows: two sets of the K shares of a layer's output, for
        # any K up to OWNED_MAX_PARTS: more threads than that can still
        # split a short last batch into that few parts)
        self.shares = touch_new(
            2 * min(self.n_threads, OWNED_MAX_PARTS) * batch_size
            * max(layout.sizes[1:]) if self.split and not sparse else 0,
            self.dtype)
        tuner_init(&self.tuner, not adaptive)
        self.set_optimizer(0, 0.001)
        self.opt_set = False

    def __dealloc__(self):
        free(self.net.sizes)

    def set_optimizer(self, int kind, double lr, *, double momentum=0.9,
                      bint nesterov=True, double beta1=0.9, double beta2=0.999,
                      double eps=1e-8, double weight_decay=0.0, s1=None,
                      s2=None, long long t=0):
        """The optimizer's code (fastbp._core._optim.OPTIMIZERS), its
        hyperparameters, state buffers (held by reference, updated in place;
        zeros when None) and the number of updates done so far."""
        cdef Py_ssize_t P = self.net.n_params
        if self.net.sizes == NULL:
            raise ValueError("the Trainer was not initialized")
        two = kind == OPT_ADAM or kind == OPT_ADAMW
        s1 = touch_new(P, self.dtype) if s1 is None else s1
        s2 = touch_new(P if two else 0, self.dtype) if s2 is None else s2
        if two and s2.shape[0] == 0:
            raise ValueError("adam needs two state buffers")
        for s, need in ((s1, P), (s2, P if two else None)):
            if (s.dtype != self.dtype or s.ndim != 1 or not s.flags.c_contiguous
                    or (need is not None and s.shape[0] != need)):
                raise ValueError("optimizer state of the wrong size or dtype")
        opt_init(&self.opt, kind, lr, momentum, nesterov, beta1, beta2, eps,
                 weight_decay)
        self.s1 = s1
        self.s2 = s2
        self.t = t
        self.opt_set = True

    @property
    def lr(self):
        """The current learning rate (schedules set it between epochs)."""
        return self.opt.lr

    @lr.setter
    def lr(self, double value):
        self.opt.lr = value

    @property
    def team(self):
        """Threads the tuner runs a cut mini-batch on now (1 or n_threads)."""
        return self.n_threads if self.tuner.s.mode == 1 else 1

    def fix_team(self, bint parallel):
        """Stop tuning: run the parts of every cut mini-batch on n_threads
        threads (parallel) or on one. The results are the same either way."""
        self.tuner.fixed = True
        self.tuner.s.mode = 1 if parallel else 0

    @property
    def tuner_state(self):
        """What the thread tuner holds: a dict of mode (1: the team, 0: one
        thread), rate_one and rate_team (seconds per flop measured in their
        last windows, 0 where not yet), probing, backoff and countdown
        (windows until the next probe), since and quiet (seconds trained
        since the last probe, and the least before the next)."""
        cdef TunerMem* e = &self.tuner.s
        return dict(mode=e.mode, rate_one=e.rate[0], rate_team=e.rate[1],
                    probing=bool(e.probing), backoff=e.backoff,
                    countdown=e.countdown, since=e.since, quiet=e.quiet)

    def epoch(self, Input X not None, Y, sw, perm, double alpha, *,
              bint shuffle=False, unsigned long long seed=0):
        """One epoch of mini-batch training, in place, with the GIL released.

        For each mini-batch of rows perm[b * batch_size:(b + 1) *
        batch_size] (perm first shuffled in place when `shuffle`): forward,
        backward and one optimizer update of `params`. No Python runs and
        nothing is allocated per mini-batch, except that every 20 ms the
        loop looks for Ctrl-C: a KeyboardInterrupt then leaves after the
        mini-batch that was running, with ``rows_done``, ``loss_done`` and
        ``t`` counting the mini-batches done.

        IN:  X, the n samples (dense or CSR, as the Trainer was made for);
             Y (n, n_out); sw (n,) or empty; alpha, the L2 coefficient.
        IN/OUT: perm (n,) row order, kept across epochs.
        Returns the sum over mini-batches of batch_loss * batch_rows where
        batch_loss is scikit-learn's: the weighted mean loss plus alpha / 2
        * ||W||^2 / sum(sw) (without it for adamw).
        """
        if not self.opt_set:
            raise ValueError("set_optimizer first")
        if self.single:
            _epoch[float](self, X, Y, sw, perm, alpha, shuffle, seed)
        else:
            _epoch[double](self, X, Y, sw, perm, alpha, shuffle, seed)
        return self.loss_done

    def gradient(self, Input X not None, Y, sw, rows, grad):
        """Gradient sums of the rows `rows` (intp) of X into `grad`.

        grad (n_params,) receives sum over rows of sw * dloss/dparams,
        without the L2 term and unscaled, computed on one thread as one
        block (as one row part of a cut mini-batch is). Returns (weighted
        loss sum, sum of sample weights of the rows).
        """
        if self.net.sizes == NULL:
            raise ValueError("the Trainer was not initialized")
        if self.single:
            return _gradient[float](self, X, Y, sw, rows, grad)
        return _gradient[double](self, X, Y, sw, rows, grad)

    def begin(self, double alpha):
        """Start a run of ``step`` calls: note ||W||^2 of the parameters as
        they are now (the loss of the next step's mini-batch needs it)."""
        if self.single:
            _begin[float](self, alpha)
        else:
            _begin[double](self, alpha)

    def step(self, G, double loss_sum, double sw_sum, double alpha):
        """One optimizer update from gradient-sum slots G (k, n_params),
        summed in slot order ((g0 + g1) + g2 ...), plus the L2 term, scaled
        by 1 / sw_sum. Returns the mini-batch's loss, scikit-learn's
        (loss_sum + alpha / 2 * ||W||^2) / sw_sum with the weights as they
        were before the update (call ``begin`` before the first step)."""
        if not self.opt_set:
            raise ValueError("set_optimizer first")
        if self.single:
            return _step[float](self, G, loss_sum, sw_sum, alpha)
        return _step[double](self, G, loss_sum, sw_sum, alpha)


@cython.nonecheck(False)  # tr is never None; nogil code reads it
cdef void ctx_init(Ctx* x, Trainer tr, floating[::1] params,
                   floating[::1] s1, floating[::1] s2, double alpha,
                   double* part) noexcept:
    """The update's share of a Ctx (the caller sets the gradient slots, and
    the data for a gradient)."""
    memset(x, 0, sizeof(Ctx))
    x.net = &tr.net
    x.params = &params[0]
    x.opt = &tr.opt
    x.s1 = &s1[0]
    x.s2 = &s2[0] if s2.shape[0] > 0 else NULL
    x.alpha = alpha
    x.want_sumsq = (0 if tr.opt.kind == OPT_ADAMW else alpha) != 0
    x.part = part
    x.pins = fb_pins_mine()
    x.n_grads = 1


@cython.nonecheck(False)  # tr is never None; nogil code reads it
cdef int _epoch(Trainer tr, Input X, const floating[:, ::1] Y,
                const floating[::1] sw, Py_ssize_t[::1] perm, double alpha,
                bint shuffle, unsigned long long seed) except -1:
    cdef Net* net = &tr.net
    cdef Ctx x
    cdef bint sparse = X.sparse
    cdef Py_ssize_t n = X.n_samples
    cdef Py_ssize_t P = net.n_params, nb, b, start, m, j, bs = tr.batch_size
    cdef Py_ssize_t work_per_row = 6 * net.n_coef
    cdef int T = tr.n_threads, K, team, nup, c
    cdef double alpha_loss = 0 if tr.opt.kind == OPT_ADAMW else alpha
    cdef double wsq, loss, sw_sum, total = 0, t0, t1
    cdef floating[::1] pv = tr.params
    cdef floating[:, ::1] Gv = tr.G
    cdef floating[:, ::1] wv = tr.ws
    cdef floating[::1] s1v = tr.s1
    cdef floating[::1] s2v = tr.s2
    cdef const floating* swp = &sw[0] if sw.shape[0] > 0 else NULL
    cdef Py_ssize_t* permp
    cdef double* part
    cdef fastbp_fpmode fpm
    cdef bint pin_tried = False
    cdef floating[::1] shv

    if n == 0:
        raise ValueError("no samples")
    if perm.shape[0] != n or Y.shape[0] != n:
        raise ValueError("perm and Y must have one row per sample")
    if sparse != tr.sparse:
        raise ValueError("this Trainer was made for %s input"
                         % ("sparse" if tr.sparse else "dense"))
    if (tr.opt.kind == OPT_ADAM or tr.opt.kind == OPT_ADAMW) and s2v.shape[0] == 0:
        raise ValueError("adam needs two state buffers")
    check_data(net, X, Y, True, sw)
    permp = &perm[0]
    part = <double*>malloc((T + 1) * sizeof(double))
    if part == NULL:
        raise MemoryError()
    ctx_init(&x, tr, pv, s1v, s2v, alpha, part)
    if tr.shares.shape[0] > 0:
        shv = tr.shares
        x.shares = &shv[0]
        x.share_size = shv.shape[0] // (2 * min(T, OWNED_MAX_PARTS))
    fb_pin_owner(x.pins)    # (ids a forked child inherited are dropped)
    x.grad = &Gv[0, 0]
    x.ldg = Gv.shape[1]
    x.ws = &wv[0, 0]
    x.ldw = wv.shape[1]
    x.X = &X.rows
    x.idx = permp
    x.Y = &Y[0, 0]
    x.sw = swp
    nb = (n + bs - 1) // bs
    tr.rows_done = 0
    tr.loss_done = 0
    net.g0_clean = sparse
    tuner_bind(&tr.tuner, <double>bs * work_per_row, tr.single)
    fpm = fastbp_ftz_on()
    try:
        with nogil:
            if shuffle:
                shuffle_inplace(permp, n, seed)
            wsq = sum_squares(<const floating*>&pv[0], 0, net.n_coef) if alpha_loss != 0 else 0
            for b in range(nb):
                start = b * bs
                m = bs if start + bs <= n else n - start
                K = n_chunks_for(m, work_per_row, T, tr.min_work)
                if K > tr.slots and not tr.split:
                    K = tr.slots
                if K > 1 and (b == 0 or tr.tuner.s.mode == 1):
                    # (once per process and team size, in its first epoch
                    # that can use the team, as a fixed team would: a
                    # tuner that first tries the team later charges that
                    # fit the 5 ms of starting it, 3.5x a 2 ms fit of
                    # digits; benchmarks/first_fits.py --digits)
                    warm_team(K)
                team = tuner_team(&tr.tuner, K)
                if team > 1 and not pin_tried and _pin_enabled:
                    # (a team's workers off the master's CPU while it
                    # trains: see _pin.h; tried again after a batch where
                    # this thread's team had not run yet)
                    pin_tried = fb_pin_team(x.pins, team) >= 0
                elif team <= 1 < K and fb_pinned(x.pins):
                    fb_unpin_team(x.pins)
                    pin_tried = False
                elif team > 1:
                    fb_pin_follow(x.pins)
                t0 = now()
                x.start = start
                x.m = m
                x.owned = x.shares != NULL and 1 < K <= OWNED_MAX_PARTS
                loss = batch_gradient(&x, tr.split, K, team, <floating*>NULL)
                if swp != NULL:
                    sw_sum = 0
                    for j in range(start, start + m):
                        sw_sum += swp[permp[j]]
                else:
                    sw_sum = m
                nup = T if P >= tr.min_update_params else 1
                if sw_sum > 0:
                    # (when every row of the batch has weight 0 there is no
                    # loss and no gradient to follow; scikit-learn divides
                    # by zero there)
                    total += (loss + 0.5 * alpha_loss * wsq) / sw_sum * m
                    tr.t += 1
                    opt_set_step(&tr.opt, tr.t)
                    x.scale = 1.0 / sw_sum
                    x.owned = x.owned and nup == K
                    run_phase(&x, PH_UPDATE, nup, team if K > 1 else tuner_team(&tr.tuner, nup),
                              <floating*>NULL)
                    wsq = 0
                    for c in range(nup):
                        wsq += part[c]
                if net.g0_clean:
                    # (the update summed slot 1.. into slot 0: clean them all)
                    run_phase(&x, PH_UNSCATTER, nup, team if K > 1 else tuner_team(&tr.tuner, nup),
                              <floating*>NULL)
                tr.rows_done += m
                tr.loss_done = total
                t1 = now()
                trace_batch(team, t1 - t0)
                tuner_record(&tr.tuner, t1 - t0, <double>m * work_per_row,
                             K if K > 1 else nup, True, t1)
                if t1 - tr.last_check >= SIGNAL_CHECK_S:
                    tr.last_check = t1
                    check_signals()
    finally:
        fb_unpin_team(x.pins)
        net.g0_clean = False
        fastbp_fpmode_restore(fpm)
        free(part)
    return 0


@cython.nonecheck(False)  # tr is never None; nogil code reads it
cdef object _gradient(Trainer tr, Input X, const floating[:, ::1] Y,
                      const floating[::1] sw, const Py_ssize_t[::1] rows,
                      floating[::1] grad):
    cdef Net* net = &tr.net
    cdef bint sparse = X.sparse
    cdef Py_ssize_t n = X.n_samples
    cdef Py_ssize_t m = rows.shape[0], j
    cdef floating[::1] pv = tr.params
    cdef floating[:, ::1] wv = tr.ws
    cdef const floating* swp = &sw[0] if sw.shape[0] > 0 else NULL
    cdef double loss, sw_sum = 0
    cdef fastbp_fpmode fpm
    if sparse != tr.sparse:
        raise ValueError("this Trainer was made for %s input"
                         % ("sparse" if tr.sparse else "dense"))
    check_data(net, X, Y, True, sw)
    if grad.shape[0] != net.n_params:
        raise ValueError("gradient output of the wrong size")
    if m > tr.batch_size:
        raise ValueError(f"at most batch_size={tr.batch_size} rows, got {m}")
    for j in range(m):
        if rows[j] < 0 or rows[j] >= n:
            raise ValueError("row index out of range")
    if m == 0:
        grad[:] = 0
        return 0.0, 0.0
    with nogil:
        fpm = fastbp_ftz_on()
        loss = rows_pass(net, &pv[0], &grad[0], 0, &wv[0, 0], &X.rows,
                         &rows[0], 0, m, &Y[0, 0], swp, NULL)
        fastbp_fpmode_restore(fpm)
    if swp != NULL:
        for j in range(m):
            sw_sum += swp[rows[j]]
    else:
        sw_sum = m
    return loss, sw_sum


@cython.nonecheck(False)  # tr is never None; nogil code reads it
cdef int _begin(Trainer tr, double alpha, floating* tag=NULL) except -1:
    cdef floating[::1] pv = tr.params
    cdef double alpha_loss = 0 if tr.opt.kind == OPT_ADAMW else alpha
    tr.wsq = sum_squares(<const floating*>&pv[0], 0, tr.net.n_coef) if alpha_loss != 0 else 0
    return 0


@cython.nonecheck(False)  # tr is never None; nogil code reads it
cdef double _step(Trainer tr, floating[:, ::1] G, double loss_sum,
                  double sw_sum, double alpha) except? -1:
    cdef Net* net = &tr.net
    cdef Ctx x
    cdef floating[::1] pv = tr.params
    cdef floating[::1] s1v = tr.s1
    cdef floating[::1] s2v = tr.s2
    cdef double alpha_loss = 0 if tr.opt.kind == OPT_ADAMW else alpha
    cdef double batch_loss, wsq = 0
    cdef int T = tr.n_threads, nup, c
    cdef double* part
    cdef fastbp_fpmode fpm
    if G.shape[1] != net.n_params or G.shape[0] < 1:
        raise ValueError("gradient slots of the wrong shape")
    if not (sw_sum > 0):
        raise ValueError("sw_sum must be > 0")
    if (tr.opt.kind == OPT_ADAM or tr.opt.kind == OPT_ADAMW) and s2v.shape[0] == 0:
        raise ValueError("adam needs two state buffers")
    batch_loss = (loss_sum + 0.5 * alpha_loss * tr.wsq) / sw_sum
    nup = T if net.n_params >= tr.min_update_params else 1
    part = <double*>malloc(nup * sizeof(double))
    if part == NULL:
        raise MemoryError()
    ctx_init(&x, tr, pv, s1v, s2v, alpha, part)
    x.grad = &G[0, 0]
    x.ldg = G.shape[1]
    x.n_grads = <int>G.shape[0]
    x.scale = 1.0 / sw_sum
    with nogil:
        fpm = fastbp_ftz_on()
        tr.t += 1
        opt_set_step(&tr.opt, tr.t)
        run_phase(&x, PH_UPDATE, nup, nup, <floating*>NULL)
        for c in range(nup):
            wsq += part[c]
        fastbp_fpmode_restore(fpm)
    free(part)
    tr.wsq = wsq
    return batch_loss
