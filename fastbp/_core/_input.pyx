# cython: language_level=3
"""The input samples of one compiled call as one typed value.

The passes read dense rows in place (or gathered, when shuffled) and CSR
rows in place, never densified: an ``Input`` holds either, with the
pointers the nogil code reads (``InputRows`` in ``_input.pxd``). It checks
types and shapes only; ``fastbp._network.prepare_input`` builds it from
validated data (canonical CSR, indices in range).
"""

import numpy as np

cimport numpy as cnp

cnp.import_array()


cdef object _array(a, name, dtypes, int ndim):
    a = np.asarray(a)
    if a.dtype not in dtypes or a.ndim != ndim or not a.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {ndim}-D array of "
                         f"{' or '.join(np.dtype(d).name for d in dtypes)}")
    return a


cdef const void* _data(a):
    return <const void*>cnp.PyArray_DATA(<cnp.ndarray>a) if a.size else NULL


cdef class Input:
    """Input samples, dense or CSR (build one with ``dense`` or ``csr``).

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features) or (0, n_features)
        The dense rows, or an empty placeholder for CSR input.
    data, indices, indptr : ndarray
        The CSR arrays (indices as intp), or empty for dense input.
    dtype : numpy.dtype
        float32 or float64.
    n_samples, n_features : int
    sparse : bool
    """

    def __cinit__(self):
        self.rows.X = NULL
        self.rows.data = NULL
        self.rows.ind = NULL
        self.rows.ptr = NULL

    @staticmethod
    def dense(X):
        """Dense rows: X, a C-contiguous 2-D float32 or float64 array."""
        cdef Input self = Input.__new__(Input)
        X = _array(X, "X", (np.float32, np.float64), 2)
        self.X = X
        self.dtype = X.dtype
        self.data = np.empty(0, dtype=X.dtype)
        self.indices = self.indptr = np.empty(0, dtype=np.intp)
        self.n_samples = X.shape[0]
        self.n_features = X.shape[1]
        self.sparse = False
        self.rows.X = _data(X)
        return self

    @staticmethod
    def csr(data, indices, indptr, Py_ssize_t n_features):
        """CSR rows: values `data` (float32 or float64), column `indices`
        and row pointers `indptr` (intp, C-contiguous, 1-D)."""
        cdef Input self = Input.__new__(Input)
        data = _array(data, "data", (np.float32, np.float64), 1)
        indices = _array(indices, "indices", (np.intp,), 1)
        indptr = _array(indptr, "indptr", (np.intp,), 1)
        if data.shape[0] != indices.shape[0]:
            raise ValueError("CSR data and indices differ in length")
        if indptr.shape[0] < 1:
            raise ValueError("indptr needs n_samples + 1 entries")
        self.X = np.empty((0, n_features), dtype=data.dtype)
        self.dtype = data.dtype
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.n_samples = indptr.shape[0] - 1
        self.n_features = n_features
        self.sparse = True
        self.rows.data = _data(data)
        self.rows.ind = <const Py_ssize_t*>_data(indices)
        self.rows.ptr = <const Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>indptr)
        return self

    cdef int check_for(self, bint single, Py_ssize_t n_features) except -1:
        """That these samples fit a network of float32 (single) or float64
        parameters taking n_features inputs; a ValueError naming the
        difference if not."""
        dtype = np.dtype(np.float32 if single else np.float64)
        if self.dtype != dtype:
            raise ValueError(f"X is {self.dtype.name}, the parameters {dtype.name}")
        if self.n_features != n_features:
            raise ValueError(f"X has {self.n_features} columns, the network "
                             f"takes {n_features}")
        return 0

    def __repr__(self):
        return (f"Input({'csr' if self.sparse else 'dense'}, "
                f"n_samples={self.n_samples}, n_features={self.n_features}, "
                f"dtype={self.dtype.name})")
