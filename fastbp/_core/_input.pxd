# The input samples of one compiled call as one typed value: dense rows or a
# CSR matrix (Input, for Python callers), and the pointers the nogil passes
# read (InputRows).


cdef struct InputRows:
    const void* X           # dense: (n, n_features) row-major; NULL for CSR
    const void* data        # CSR values; NULL for dense
    const Py_ssize_t* ind   # CSR column indices
    const Py_ssize_t* ptr   # CSR row pointers (n + 1); NULL for dense


cdef class Input:
    cdef readonly object X, data, indices, indptr, dtype
    cdef readonly Py_ssize_t n_samples, n_features
    cdef readonly bint sparse
    cdef InputRows rows     # into the arrays above (held, never resized)
    cdef int check_for(self, bint single, Py_ssize_t n_features) except -1
