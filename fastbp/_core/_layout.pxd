# The network's layout: its widths and activation codes as one typed value
# (Layout, for Python callers), where each layer's weights and biases sit in
# the flat parameter vector (scikit-learn's ``_pack`` order: every W_l
# (fan_in, fan_out) row-major, then every b_l; gradients and optimizer state
# share it), and where each buffer sits in one thread's workspace for `rows`
# rows (Net, for the compiled passes). Shared by the passes (_rows.pxd,
# _backprop.pyx), the Predictor (_predict.pyx) and the inspecting pass
# (_inspect.pyx), which lays out its own buffers.
#
# Workspace of one thread, for ``rows`` rows:
#     x   rows * n_in           gathered input rows (shuffled dense input;
#                               none for CSR input, read in place)
#     a_l rows * sizes[l + 1]   output of layer l (pre-activation for the last)
#     z_l rows * sizes[l + 1]   pre-activations, GELU only (its derivative)
#     d0, d1 rows * max width   deltas, ping-pong

from libc.stdlib cimport malloc, free

from fastbp._core._activations cimport ACT_GELU


cdef class Layout:
    cdef readonly object sizes          # intp array of the L + 1 widths
    cdef readonly int hidden, out       # activation and output codes
    cdef readonly Py_ssize_t n_coef, n_params


cdef struct Net:
    int L                   # number of weight layers
    int hidden              # hidden activation code
    int out                 # output activation / loss code
    bint store_z            # keep pre-activations (GELU)
    bint sparse             # CSR input: the first layer reads it in place
    bint few_rows           # forward passes of at most SMALL_M rows skip
                            # BLAS (the Predictor: a prediction on a row)
    bint g0_clean           # sparse: dW_0 gradient buffers hold zeros where
                            # no row was scattered (the Trainer's epoch
                            # zeroes what it scattered after each update)
    Py_ssize_t n_coef       # number of weights (they come first)
    Py_ssize_t n_params
    Py_ssize_t rows         # rows the workspace is laid out for
    Py_ssize_t x_off, d0_off, d1_off, ws_size
    Py_ssize_t* sizes       # L + 1 widths
    Py_ssize_t* w_off       # L offsets of W_l in the parameter vector
    Py_ssize_t* b_off       # L offsets of b_l
    Py_ssize_t* a_off       # L offsets of layer outputs in the workspace
    Py_ssize_t* z_off       # L offsets of pre-activations (store_z only)


cdef inline int net_init(Net* net, const Py_ssize_t[::1] sizes, int hidden,
                         int out, Py_ssize_t rows, bint sparse=False) except -1:
    """Lay out the network of widths `sizes` for `rows` rows (net_free
    releases it)."""
    cdef int L = sizes.shape[0] - 1
    cdef int l
    cdef Py_ssize_t off, widest = 0
    if L < 1:
        raise ValueError("a network needs at least an input and an output layer")
    net.L = L
    net.hidden = hidden
    net.out = out
    net.store_z = hidden == ACT_GELU
    net.sparse = sparse
    net.g0_clean = False
    net.few_rows = False
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
    if not sparse:  # sparse rows are never densified
        off += rows * sizes[0]
    # (every buffer starts on a multiple of 16 values, a 64-byte line in a
    # 64-byte-aligned workspace (touch_new): where each row is a multiple
    # of 16 values long too, threads that write column blocks cut at
    # multiples of 16 share no line)
    for l in range(L):
        off = pad16(off)
        net.a_off[l] = off
        off += rows * sizes[l + 1]
        if sizes[l + 1] > widest:
            widest = sizes[l + 1]
    for l in range(L):
        off = pad16(off)
        net.z_off[l] = off
        if net.store_z and l < L - 1:
            off += rows * sizes[l + 1]
    net.d0_off = pad16(off)
    net.d1_off = pad16(net.d0_off + rows * widest)
    net.ws_size = pad16(net.d1_off + rows * widest)
    return 0


cdef inline Py_ssize_t pad16(Py_ssize_t off) noexcept nogil:
    return (off + 15) // 16 * 16


cdef inline int net_layout(Net* net, Layout layout, Py_ssize_t rows,
                           bint sparse=False, int out=-1) except -1:
    """net_init for `layout` (output code `out` instead of its own when
    given)."""
    if layout is None:
        raise TypeError("a Layout is needed")
    return net_init(net, layout.sizes, layout.hidden,
                    layout.out if out < 0 else out, rows, sparse)


cdef inline void net_free(Net* net) noexcept:
    free(net.sizes)
    net.sizes = NULL
