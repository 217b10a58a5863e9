# cython: language_level=3
"""The network's layout as one typed value: layer widths, hidden activation
and output codes (see ``_layout.pxd`` for the parameter and workspace
offsets the compiled passes derive from it)."""

import numpy as np


cdef class Layout:
    """Layer widths and activation codes of a network, checked once.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first (at least two, each >= 1).
    hidden : int
        Hidden activation code (fastbp._core._kernels.ACTIVATIONS).
    out : int
        Output activation / loss code (fastbp._core._kernels.OUTPUTS).

    Attributes
    ----------
    sizes : ndarray of intp
        The widths (a read-only copy).
    hidden, out : int
        The codes.
    n_coef, n_params : int
        Number of weights, and of weights and biases.
    """

    def __init__(self, sizes, int hidden, int out):
        a = np.array(sizes, dtype=np.intp)
        if a.ndim != 1 or a.shape[0] < 2:
            raise ValueError("a network needs at least an input and an output layer")
        if (a < 1).any():
            raise ValueError(f"layer widths must be >= 1, got {a.tolist()}")
        a.flags.writeable = False
        self.sizes = a
        self.hidden = hidden
        self.out = out
        sizes = a.tolist()
        self.n_coef = sum(k * n for k, n in zip(sizes, sizes[1:]))
        self.n_params = self.n_coef + sum(sizes[1:])

    def params_array(self, params, bint writeable=False):
        """`params` as the network's flat parameter vector: a contiguous
        1-D float32 or float64 array of n_params entries (writeable when
        asked), or ValueError."""
        params = np.asarray(params)
        if params.dtype != np.float32 and params.dtype != np.float64:
            raise ValueError("params must be float32 or float64")
        if (params.ndim != 1 or not params.flags.c_contiguous
                or (writeable and not params.flags.writeable)):
            raise ValueError("params must be a %scontiguous 1-D array"
                             % ("writeable " if writeable else ""))
        if params.shape[0] != self.n_params:
            raise ValueError("params has the wrong length for these layer sizes")
        return params

    def __repr__(self):
        return (f"Layout(sizes={self.sizes.tolist()}, hidden={self.hidden}, "
                f"out={self.out})")
