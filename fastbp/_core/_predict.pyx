# cython: language_level=3
"""Forward passes over a few dense rows: the Predictor.

A prediction on one row (or up to ``rows``) is one call with the GIL held
and no allocation beyond the output: the workspace is made once, the
arrays are read through their data pointers (memoryviews of four arrays
cost a few us, the whole of a one-row prediction), and the forward pass is
``rows_pass`` (``_rows.pxd``) with ``few_rows``: products of at most
SMALL_M rows skip BLAS's set-up (``gemm_few_rows`` in ``_blas.pxd``).
"""

import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.stdlib cimport free
from libc.string cimport memset

from fastbp._core._fpmode cimport fastbp_fpmode, fastbp_ftz_on, fastbp_fpmode_restore
from fastbp._core._input cimport InputRows
from fastbp._core._layout cimport Layout, Net, net_free, net_layout
from fastbp._core._rows cimport rows_pass

cnp.import_array()


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
    cdef void* p_params     # their data (the arrays are held, never resized)
    cdef void* p_ws
    cdef bint single
    cdef int typenum
    cdef readonly Py_ssize_t rows
    cdef readonly object dtype

    # (__init__: see Trainer.__init__)
    def __init__(self, params, Layout layout not None, Py_ssize_t rows):
        net_free(&self.net)     # (a second __init__)
        if rows < 1:
            raise ValueError("rows must be >= 1")
        params = layout.params_array(params, False)
        net_layout(&self.net, layout, rows)
        self.net.few_rows = True
        self.params = params
        self.dtype = params.dtype
        self.single = params.dtype == np.float32
        self.typenum = cnp.NPY_FLOAT32 if self.single else cnp.NPY_FLOAT64
        self.ws = np.empty(max(self.net.ws_size, 1), dtype=params.dtype)
        self.p_params = cnp.PyArray_DATA(<cnp.ndarray>self.params)
        self.p_ws = cnp.PyArray_DATA(<cnp.ndarray>self.ws)
        self.rows = rows

    def __dealloc__(self):
        free(self.net.sizes)

    def __call__(self, X, out, int out_kind=-1, bint check_finite=False):
        """out[:] = network output for X; X and out C-contiguous, n <= rows.

        out_kind, when given, replaces the output activation for this call
        (OUT_IDENTITY gives the logits). check_finite: raise ValueError when
        X holds NaN or infinity."""
        # (raw array access: memoryviews of four arrays cost a few us, the
        # whole of a one-row prediction)
        if self.net.sizes == NULL:
            raise ValueError("the Predictor was not initialized")
        if not (cnp.PyArray_Check(X) and cnp.PyArray_Check(out)):
            raise TypeError("X and out must be numpy arrays")
        cdef cnp.ndarray Xa = <cnp.ndarray>X
        cdef cnp.ndarray Oa = <cnp.ndarray>out
        if (cnp.PyArray_TYPE(Xa) != self.typenum or cnp.PyArray_TYPE(Oa) != self.typenum
                or not cnp.PyArray_IS_C_CONTIGUOUS(Xa)
                or not cnp.PyArray_IS_C_CONTIGUOUS(Oa)
                or not cnp.PyArray_ISWRITEABLE(Oa)):
            raise ValueError(f"X and out must be C-contiguous {self.dtype} arrays "
                             "(out writeable)")
        if cnp.PyArray_NDIM(Xa) != 2 or cnp.PyArray_NDIM(Oa) != 2:
            raise ValueError("X and out must be 2-D")
        cdef Py_ssize_t n = cnp.PyArray_DIM(Xa, 0)
        if n > self.rows or n < 1:
            raise ValueError(f"between 1 and {self.rows} rows, got {n}")
        if (cnp.PyArray_DIM(Xa, 1) != self.net.sizes[0] or cnp.PyArray_DIM(Oa, 0) != n
                or cnp.PyArray_DIM(Oa, 1) != self.net.sizes[self.net.L]):
            raise ValueError("X or out has the wrong shape")
        cdef int saved_out = self.net.out
        cdef bint ok = True
        if out_kind >= 0:
            self.net.out = out_kind
        if self.single:
            ok = self._run(<const float*>cnp.PyArray_DATA(Xa),
                           <float*>cnp.PyArray_DATA(Oa), n, check_finite)
        else:
            ok = self._run(<const double*>cnp.PyArray_DATA(Xa),
                           <double*>cnp.PyArray_DATA(Oa), n, check_finite)
        self.net.out = saved_out
        if not ok:
            raise ValueError("Input X contains NaN or infinity.")
        return out

    cdef bint _run(self, const floating* X, floating* out, Py_ssize_t n,
                   bint check_finite) noexcept:
        cdef fastbp_fpmode fpm
        cdef InputRows rows
        if check_finite and not all_finite(X, n * self.net.sizes[0]):
            return False
        memset(&rows, 0, sizeof(InputRows))
        rows.X = X
        fpm = fastbp_ftz_on()
        rows_pass(&self.net, <const floating*>self.p_params, <floating*>NULL, 0,
                  <floating*>self.p_ws, &rows, NULL, 0, n,
                  <const floating*>NULL, <const floating*>NULL, out)
        fastbp_fpmode_restore(fpm)
        return True
