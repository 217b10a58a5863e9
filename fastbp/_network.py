"""The low-level model: layer sizes, activations, one flat parameter buffer.

A :class:`Network` is what the estimators train, and what a learner can use
directly to look at a forward pass, a loss and its gradients layer by layer.
"""
import numbers
import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from fastbp._checks import check_random_state
from fastbp._core import _backprop, _kernels, _predict, _tuner
from fastbp._core._input import Input
from fastbp._core._layout import Layout
from fastbp._threads import blas_limited, resolve_n_threads

#: Hidden-layer activations, name -> compiled kernel code.
ACTIVATIONS = dict(_kernels.ACTIVATIONS)

#: Each loss with its canonical output activation (delta = f(z) - y).
LOSS_OUTPUTS = {
    "squared_error": "identity",
    "log_loss": "softmax",
    "binary_log_loss": "logistic",
    "poisson": "exp",
}

_DTYPES = (np.float32, np.float64)

#: Network.forward for X that is not in memory (memmap, h5py, zarr, dask):
#: set by fastbp._windows, which sits above this layer with the out-of-core
#: readers; it returns None for X in memory.
out_of_core_forward = None


def _as_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.type not in _DTYPES or not dtype.isnative:
        raise ValueError(f"dtype must be float32 or float64 (native byte order), "
                         f"got {dtype}")
    return dtype


def _check_compressed(X, name, n_major, n_minor, minor="column"):
    indptr, indices = X.indptr, X.indices
    for arr, what in ((indptr, "indptr"), (indices, "indices")):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError(f"{name} X is malformed: its {what} is not a 1-D "
                             "integer array")
    if indptr.shape[0] != n_major + 1:
        raise ValueError(f"{name} X is malformed: indptr has {indptr.shape[0]} "
                         f"entries, its shape needs {n_major + 1}")
    nnz = int(indptr[-1])
    if (indptr[0] != 0 or (np.diff(indptr) < 0).any() or nnz > indices.shape[0]
            or nnz > X.data.shape[0]):
        raise ValueError(f"{name} X is malformed: indptr must start at 0, never "
                         "decrease and end at most at the number of stored "
                         "entries")
    used = indices[:nnz]
    if used.size and (used.min() < 0 or used.max() >= n_minor):
        raise ValueError(f"{name} X is malformed: {minor} indices outside "
                         f"[0, {n_minor})")


def check_sparse(X):
    """Refuse a malformed or complex sparse X before scipy touches it.

    scipy checks neither its index arrays nor their consistency when a
    matrix is built from arrays, and its own methods (sum_duplicates, tocsr,
    astype) then write out of bounds: an interpreter abort. This reads the
    raw arrays only. Dense X is returned as is.
    """
    if not sp.issparse(X):
        return X
    name = f"sparse ({X.format})"
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: X is a {name} matrix of "
                         f"dtype {X.dtype}")
    shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {shape}")
    data = getattr(X, "data", None)
    if X.format in ("csr", "csc", "bsr", "coo") and (
            not isinstance(data, np.ndarray)):
        raise ValueError(f"{name} X is malformed: its data is not an array")
    if X.format == "csr":
        _check_compressed(X, name, shape[0], shape[1])
    elif X.format == "csc":
        _check_compressed(X, name, shape[1], shape[0], "row")
    elif X.format == "bsr":
        R, C = X.blocksize
        if (data.ndim != 3 or data.shape[1:] != (R, C) or R < 1 or C < 1
                or shape[0] % R or shape[1] % C):
            raise ValueError(f"{name} X is malformed: blocks of shape "
                             f"{data.shape[1:]} do not tile {shape}")
        _check_compressed(X, name, shape[0] // R, shape[1] // C, "block column")
    elif X.format == "coo":
        coords = getattr(X, "coords", None) or (X.row, X.col)
        for axis, c in enumerate(coords[:2]):
            if (not isinstance(c, np.ndarray) or c.ndim != 1 or c.dtype.kind not in "iu"
                    or c.shape[0] != data.shape[0]):
                raise ValueError(f"{name} X is malformed: its coordinates and data "
                                 "differ in length")
            if c.size and (c.min() < 0 or c.max() >= shape[axis]):
                raise ValueError(f"{name} X is malformed: "
                                 f"{'row' if axis == 0 else 'column'} indices "
                                 f"outside [0, {shape[axis]})")
    return X


def prepare_input(X, dtype, n_features=None):
    """X as the compiled functions take it: an ``Input`` (fastbp._core._input)
    of C-contiguous dense rows, or of canonical CSR arrays (indices as intp).
    Assumes X was validated (finite, 2-D); converts layout and dtype only.
    """
    if sp.issparse(X):
        X = check_sparse(X).tocsr()
        if not X.has_canonical_format:
            # Duplicate entries mean their sum, as in scipy; sorted indices too.
            X = X.copy()
            X.sum_duplicates()
        data = np.ascontiguousarray(X.data, dtype=dtype)
        indices = np.ascontiguousarray(X.indices, dtype=np.intp)
        indptr = np.ascontiguousarray(X.indptr, dtype=np.intp)
        # scipy does not check these when a matrix is built from arrays; the
        # compiled code writes at them.
        if indices.size and (indices.min() < 0 or indices.max() >= X.shape[1]):
            raise ValueError("sparse X has column indices outside [0, n_features)")
        if (indptr.shape[0] != X.shape[0] + 1 or indptr[0] != 0
                or indptr[-1] != indices.shape[0] or (np.diff(indptr) < 0).any()):
            raise ValueError("sparse X has an inconsistent indptr")
        return Input.csr(data, indices, indptr, X.shape[1])
    return Input.dense(np.ascontiguousarray(X, dtype=dtype))


def n_rows(X):
    return X.shape[0]


class Network:
    """A fully connected network with one flat, contiguous parameter buffer.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths of every layer, input first and output last, e.g.
        ``(64, 100, 10)``.
    activation : str, default='relu'
        Hidden activation: 'identity', 'logistic', 'tanh', 'relu',
        'leaky_relu' (slope 0.01), 'elu' (alpha 1), 'softplus' or 'gelu'
        (exact, erf form).
    loss : str, default='squared_error'
        'squared_error' (identity output), 'log_loss' (softmax output,
        multiclass), 'binary_log_loss' (logistic output, binary and
        multilabel) or 'poisson' (exp output).
    out_activation : str, optional
        The output activation; must be the one that goes with ``loss``
        (given only to state it explicitly).
    dtype : {np.float32, np.float64}, default=np.float64
        Precision of the parameters and of every computation.
    random_state : int, RandomState instance or None
        Seeds the initialization, drawn as scikit-learn's MLP draws it:
        Glorot uniform with bound sqrt(factor / (fan_in + fan_out)), factor
        2 for logistic and 6 otherwise, weights then bias, layer by layer.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Every weight, then every bias (scikit-learn's packing order).
    coefs : list of ndarray of shape (fan_in, fan_out)
        Views into ``params``: writing into them changes the network.
    intercepts : list of ndarray of shape (fan_out,)
        Views into ``params``.

    Raises
    ------
    ValueError
        If a layer size, the activation, the loss or the dtype is invalid.

    See Also
    --------
    MLPClassifier, MLPRegressor : The estimators that train a Network.

    Examples
    --------
    >>> import numpy as np
    >>> from fastbp import Network
    >>> net = Network((4, 8, 3), activation="tanh", loss="log_loss", random_state=0)
    >>> net.n_params                     # 4 * 8 + 8 * 3 weights, 8 + 3 biases
    67
    >>> net.coefs[0].shape
    (4, 8)
    >>> X = np.random.RandomState(0).normal(size=(5, 4))
    >>> net.forward(X).sum(axis=1).round(6)   # softmax rows sum to 1
    array([1., 1., 1., 1., 1.])
    >>> Y = np.eye(3)[[0, 1, 2, 0, 1]]
    >>> loss, coef_grads, intercept_grads = net.loss_gradient(X, Y)
    >>> [g.shape for g in coef_grads]
    [(4, 8), (8, 3)]
    """

    def __init__(self, layer_sizes, *, activation="relu", loss="squared_error",
                 out_activation=None, dtype=np.float64, random_state=None):
        sizes = list(layer_sizes)
        if len(sizes) < 2:
            raise ValueError(
                f"layer_sizes needs an input and an output width, got {sizes}")
        for s in sizes:
            if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 1:
                raise ValueError(f"layer sizes must be positive integers, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        if loss not in LOSS_OUTPUTS:
            raise ValueError(f"loss must be one of {sorted(LOSS_OUTPUTS)}, got {loss!r}")
        if out_activation is not None and out_activation != LOSS_OUTPUTS[loss]:
            raise ValueError(
                f"loss {loss!r} goes with out_activation "
                f"{LOSS_OUTPUTS[loss]!r}, got {out_activation!r}")
        if loss == "log_loss" and sizes[-1] < 2:
            raise ValueError("log_loss (softmax) needs at least 2 outputs")
        self.layer_sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.loss = loss
        self.dtype = _as_dtype(dtype)
        self._sizes = np.asarray(self.layer_sizes, dtype=np.intp)
        self._make_buffer()
        self.init_params(random_state)

    # -- layout -----------------------------------------------------------
    def _make_buffer(self):
        sizes = self.layer_sizes
        n_coef = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        # (on a 64-byte line, as the gradient and optimizer state are: the
        # update's vectors then each read one line of every buffer)
        self.params = _backprop.touch_new(n_coef + sum(sizes[1:]), self.dtype)

    @property
    def params(self):
        """Every weight, then every bias, in one contiguous 1-D array."""
        return self._params

    @params.setter
    def params(self, value):
        # A new buffer: check it, and remake the views and the cached
        # Predictor, which all point into the buffer.
        value = np.asarray(value)
        if (value.ndim != 1 or value.dtype != self.dtype
                or not value.flags.c_contiguous or not value.flags.writeable):
            raise ValueError(f"params must be a writeable, contiguous 1-D "
                             f"{self.dtype} array")
        expected = sum(a * b + b for a, b in zip(self.layer_sizes[:-1],
                                                 self.layer_sizes[1:]))
        if value.shape[0] != expected:
            raise ValueError(f"params must have {expected} entries, got {value.shape[0]}")
        self._params = value
        self.coefs, self.intercepts = self._views(value)
        self.__dict__.pop("_predictor", None)

    def _views(self, flat):
        """Per-layer (fan_in, fan_out) weight and bias views into `flat`."""
        coefs, intercepts = [], []
        sizes = self.layer_sizes
        off = 0
        for a, b in zip(sizes[:-1], sizes[1:]):
            coefs.append(flat[off:off + a * b].reshape(a, b))
            off += a * b
        for b in sizes[1:]:
            intercepts.append(flat[off:off + b])
            off += b
        return coefs, intercepts

    @property
    def out_activation(self):
        """The output activation paired with ``loss``."""
        return LOSS_OUTPUTS[self.loss]

    @property
    def n_layers(self):
        """Number of layers, input and output included (scikit-learn's ``n_layers_``)."""
        return len(self.layer_sizes)

    @property
    def n_params(self):
        """Number of parameters: every weight and every bias."""
        return self.params.shape[0]

    @property
    def n_coef(self):
        """Number of weights; they come first in ``params``, biases after."""
        return self.n_params - sum(self.layer_sizes[1:])

    @property
    def _hidden_code(self):
        return ACTIVATIONS[self.activation]

    @property
    def _out_code(self):
        return _kernels.OUTPUTS[self.out_activation]

    @property
    def _layout(self):
        """Widths and activation codes, as the compiled core takes them."""
        return Layout(self._sizes, self._hidden_code, self._out_code)

    def init_params(self, random_state=None):
        """Draw new parameters in place, exactly as scikit-learn's MLP does.

        Parameters
        ----------
        random_state : int, RandomState instance or None, default=None
            Seeds the draw: Glorot uniform, weights then bias, layer by layer.

        Returns
        -------
        self : Network

        Examples
        --------
        >>> from fastbp import Network
        >>> net = Network((2, 3, 1), random_state=0)
        >>> before = net.params.copy()
        >>> bool((net.init_params(random_state=0).params == before).all())  # same seed
        True
        >>> bound = (6 / (2 + 3)) ** 0.5   # Glorot uniform: |w| <= sqrt(6 / (fan_in + fan_out))
        >>> bool(abs(net.coefs[0]).max() <= bound)
        True
        """
        rng = check_random_state(random_state)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for coef, intercept in zip(self.coefs, self.intercepts):
            fan_in, fan_out = coef.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef[...] = rng.uniform(-bound, bound, (fan_in, fan_out))
            intercept[...] = rng.uniform(-bound, bound, fan_out)
        return self

    def set_params(self, coefs, intercepts):
        """Copy per-layer arrays into the flat parameter buffer.

        Parameters
        ----------
        coefs : sequence of array-like of shape (fan_in, fan_out)
            One weight matrix per layer.
        intercepts : sequence of array-like of shape (fan_out,)
            One bias vector per layer.

        Returns
        -------
        self : Network

        Raises
        ------
        ValueError
            If the number of arrays or a shape does not fit the network (the
            network is then unchanged).

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import Network
        >>> net = Network((2, 1), loss="squared_error")
        >>> net = net.set_params([[[1.0], [2.0]]], [[0.5]])
        >>> net.forward(np.array([[1.0, 1.0]]))          # 1 + 2 + 0.5
        array([[3.5]])
        """
        if len(coefs) != len(self.coefs) or len(intercepts) != len(self.intercepts):
            raise ValueError(f"expected {len(self.coefs)} weight matrices and "
                             f"{len(self.intercepts)} bias vectors")
        for i, (dst, src) in enumerate(zip(self.coefs + self.intercepts,
                                           list(coefs) + list(intercepts))):
            src = np.asarray(src)
            if src.shape != dst.shape:
                kind = "coefs" if i < len(self.coefs) else "intercepts"
                raise ValueError(f"{kind} array of shape {src.shape} does not fit "
                                 f"the layer's shape {dst.shape}")
        for dst, src in zip(self.coefs + self.intercepts,
                            list(coefs) + list(intercepts)):
            dst[...] = src
        return self

    def copy(self):
        """A network of the same shape with a copy of the parameters.

        Returns
        -------
        net : Network

        Examples
        --------
        >>> from fastbp import Network
        >>> net = Network((2, 3, 1), random_state=0)
        >>> twin = net.copy()
        >>> twin.params[:] = 0                          # the original keeps its values
        >>> bool(net.params.any()), bool(twin.params.any())
        (True, False)
        """
        new = object.__new__(Network)
        new.__dict__.update(self.__dict__)
        new.params = self.params.copy()
        return new

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["coefs"], state["intercepts"]
        state.pop("_predictor", None)
        return state

    def __setstate__(self, state):
        params = state.pop("_params")
        self.__dict__.update(state)
        self.params = params

    def __repr__(self):
        return (f"Network(layer_sizes={self.layer_sizes}, activation="
                f"{self.activation!r}, loss={self.loss!r}, dtype={self.dtype.name})")

    # -- computation -------------------------------------------------------
    def _check_X(self, X):
        check_sparse(X)
        if not sp.issparse(X):
            X = np.asarray(X)
            if X.dtype.kind not in "biuf":
                raise ValueError(f"X must be numeric, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if X.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"X has {X.shape[1]} features, the network takes "
                             f"{self.layer_sizes[0]}")
        if X.shape[0] == 0:
            raise ValueError("X has no samples")
        data = X.data if sp.issparse(X) else X
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            raise ValueError("X contains NaN or infinity")
        return X

    def _check_Y(self, Y, n):
        Y = np.asarray(Y)
        n_out = self.layer_sizes[-1]
        given = Y.shape
        if Y.ndim == 1 and n_out == 1:
            Y = Y.reshape(-1, 1)
        if Y.ndim != 2 or Y.shape != (n, n_out):
            hint = ""
            if Y.ndim == 1:
                hint = " (targets are one row per sample, one column per output"
                if self.loss == "log_loss":
                    hint += ": one-hot rows for log_loss, e.g. np.eye(n_classes)[labels]"
                hint += ")"
            raise ValueError(f"Y must have shape ({n}, {n_out}), got {given}{hint}")
        if Y.dtype.kind not in "biuf":
            raise ValueError(f"Y must be numeric, got dtype {Y.dtype}")
        if not np.isfinite(Y).all():
            raise ValueError("Y contains NaN or infinity")
        return np.ascontiguousarray(Y, dtype=self.dtype)

    def _check_sw(self, sample_weight, n):
        if sample_weight is None:
            return np.empty(0, dtype=self.dtype)
        sw = np.asarray(sample_weight, dtype=self.dtype)
        if sw.ndim == 0:
            sw = np.full(n, sw, dtype=self.dtype)
        if sw.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {sw.shape}")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
        if sw.sum() <= 0:
            raise ValueError("sample_weight must not sum to zero")
        return np.ascontiguousarray(sw)

    def _workspace(self, rows, n_threads, *, gradient=True, sparse=False):
        """Buffers for `n_threads` threads working on blocks of `rows` rows
        (without gradient buffers when `gradient` is False; for CSR input,
        which is never densified, when `sparse`)."""
        size = _backprop.workspace_size(self._sizes, rows, self._hidden_code,
                                        sparse)
        G = np.empty((n_threads, self.n_params if gradient else 0), dtype=self.dtype)
        ws = np.empty((n_threads, size), dtype=self.dtype)
        return G, ws

    def _full_pass(self, X, Y=None, sw=None, alpha=0.0, grad=None, out=None,
                   params=None, n_threads=None, rows=256, buffers=None,
                   logits=False):
        """Compiled pass over all of X (validated) in chunks of `rows`
        (rows=None: one block per thread). logits=True leaves the output
        activation out of `out` (forward only)."""
        T = resolve_n_threads(n_threads)
        n = X.shape[0]
        if rows is None:
            # Forward only: one block per thread (at most 2048 rows each).
            rows = min(2048, -(-n // T))
        rows = max(1, min(rows, n))
        forward = Y is None and grad is None
        if forward:
            # A forward pass's blocks are fixed above, by n_threads: each
            # output row depends on its block alone (BLAS rounds a row
            # differently in blocks of other heights), so the threads that
            # run them can change: the forward tuner picks the team or one
            # thread (a loaded machine), as it measures.
            T_asked = min(T, -(-n // rows))
            work = self._forward_work(X)
            T = _tuner.forward_team(T_asked, work, self.dtype == np.float32)
        if buffers is None:
            buffers = self._workspace(rows, min(T, -(-n // rows)),
                                     gradient=grad is not None,
                                     sparse=sp.issparse(X))
        G, ws = buffers
        T = min(T, G.shape[0])
        Xin = prepare_input(X, self.dtype)
        empty2 = np.empty((0, 0), dtype=self.dtype)
        # (forward passes always limit BLAS to one thread: its own threads
        # would split a block's rows and round them otherwise)
        t0 = time.perf_counter()
        with blas_limited(T, always=forward):
            res = _backprop.loss_grad(
                Xin,
                empty2 if Y is None else Y,
                np.empty(0, dtype=self.dtype) if sw is None else sw,
                self.params if params is None else params,
                Layout(self._sizes, self._hidden_code,
                       _kernels.OUTPUTS["identity"] if logits else self._out_code),
                float(alpha),
                (G, ws), rows,
                np.empty(0, dtype=self.dtype) if grad is None else grad,
                empty2 if out is None else out, T)
        if forward:
            _tuner.forward_record(T_asked, work,
                                     self.dtype == np.float32,
                                     time.perf_counter() - t0)
        return res

    def _forward_work(self, X):
        """Flops of a forward pass over X (a sparse first layer costs its
        nonzeros)."""
        sizes = self.layer_sizes
        rest = sum(a * b for a, b in zip(sizes[1:-1], sizes[2:]))
        first = X.nnz if sp.issparse(X) else X.shape[0] * sizes[0]
        return 2.0 * (first * sizes[1] + X.shape[0] * rest)

    #: Inputs up to this many rows go through the cached single-thread Predictor.
    _SMALL_ROWS = 64

    def _predict_small(self, X, logits=False, check_finite=False):
        """Output (or logits) for a validated, C-contiguous X of the network's
        dtype with at most _SMALL_ROWS rows: no allocation but the output."""
        pred = self.__dict__.get("_predictor")
        if pred is None or pred.dtype != self.dtype:
            pred = self._predictor = _predict.Predictor(
                self.params, self._layout, self._SMALL_ROWS)
        out = np.empty((X.shape[0], self.layer_sizes[-1]), dtype=self.dtype)
        return pred(X, out, _kernels.OUTPUTS["identity"] if logits else -1,
                    check_finite)

    def forward(self, X, *, return_activations=False, n_threads=None):
        """Output of the network for X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, layer_sizes[0])
            The input. An ``np.memmap``, h5py dataset, zarr array, dask
            array or ``fastbp.stream(X)`` is read in windows of rows: the
            memory held is the output plus one window (not with
            ``return_activations``, which reads X whole).
        return_activations : bool, default=False
            Return every layer's activations instead of the output alone.
        n_threads : int, default=None
            Threads to use (None: every core).

        Returns
        -------
        output : ndarray of shape (n_samples, layer_sizes[-1])
            The output activation's values (probabilities for the log
            losses). With ``return_activations=True``, the list of every
            layer's activations instead, input first (as scikit-learn's
            ``_forward_pass`` fills it): ``[X, f(X W0 + b0), ...,
            out_activation(...)]``.

        Raises
        ------
        ValueError
            If X does not have ``layer_sizes[0]`` columns, or holds NaN or
            infinity.

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import Network
        >>> net = Network((3, 4, 2), activation="relu", loss="log_loss", random_state=0)
        >>> X = np.random.RandomState(0).normal(size=(5, 3))
        >>> net.forward(X).shape
        (5, 2)
        >>> [a.shape for a in net.forward(X, return_activations=True)]
        [(5, 3), (5, 4), (5, 2)]
        """
        if (out_of_core_forward is not None and not return_activations
                and type(X) is not np.ndarray and not sp.issparse(X)):
            out = out_of_core_forward(self, X, n_threads)
            if out is not None:
                return out
        X = self._check_X(X)
        n = X.shape[0]
        if (not return_activations and n <= self._SMALL_ROWS and type(X) is np.ndarray
                and X.dtype == self.dtype and X.flags.c_contiguous):
            return self._predict_small(X)
        if not return_activations:
            out = np.empty((n, self.layer_sizes[-1]), dtype=self.dtype)
            self._full_pass(X, out=out, n_threads=n_threads, rows=None)
            return out
        # One chunk holding every row: the workspace then holds each layer.
        sparse = sp.issparse(X)
        G, ws = self._workspace(n, 1, sparse=sparse)
        out = np.empty((n, self.layer_sizes[-1]), dtype=self.dtype)
        self._full_pass(X, out=out, n_threads=1, rows=n, buffers=(G, ws))
        acts = [X]
        offsets = _backprop.layer_offsets(self._sizes, n, self._hidden_code,
                                          sparse)
        for off, width in zip(offsets, self.layer_sizes[1:-1]):
            acts.append(ws[0, off:off + n * width].reshape(n, width).copy())
        acts.append(out)
        return acts

    def loss_gradient(self, X, Y, sample_weight=None, alpha=0.0, *, n_threads=None):
        """Loss and its gradient with respect to every parameter.

        The loss is scikit-learn's: the sample-weighted mean of the per-sample
        loss plus ``alpha / 2 * sum(W ** 2) / sum(sample_weight)``; the
        gradient is scikit-learn's backpropagated gradient. For
        'squared_error' with several outputs that gradient is the one of the
        per-output losses summed (scikit-learn averages the reported value
        over outputs but not the gradient): its data term is n_outputs times
        the gradient of the reported data term (the L2 term is not
        multiplied); with one output they agree.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, layer_sizes[0])
            The input.
        Y : array-like of shape (n_samples, layer_sizes[-1])
            Targets, one row per sample and one column per output (one-hot
            rows for 'log_loss'); 1-D when the network has one output.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; None weighs every sample 1.
        alpha : float, default=0.0
            L2 coefficient.
        n_threads : int, default=None
            Threads to use (None: every core).

        Returns
        -------
        loss : float
            The loss.
        coef_grads : list of ndarray of shape (fan_in, fan_out)
            Gradient with respect to each weight matrix.
        intercept_grads : list of ndarray of shape (fan_out,)
            Gradient with respect to each bias vector. Both lists are views
            into one flat gradient array laid out as ``params``.

        Raises
        ------
        ValueError
            If X or Y do not fit the network or hold NaN or infinity, or
            sample_weight or alpha are invalid.

        See Also
        --------
        backprop : Also every layer's activations and deltas, and the
            gradient with respect to X.

        Examples
        --------
        The gradient matches a finite difference of the loss (one output):

        >>> import numpy as np
        >>> from fastbp import Network
        >>> net = Network((3, 4, 1), activation="tanh", loss="squared_error",
        ...               random_state=0)
        >>> rng = np.random.RandomState(0)
        >>> X, y = rng.normal(size=(6, 3)), rng.normal(size=6)
        >>> loss, coef_grads, intercept_grads = net.loss_gradient(X, y, alpha=0.1)
        >>> [g.shape for g in coef_grads], [g.shape for g in intercept_grads]
        ([(3, 4), (4, 1)], [(4,), (1,)])
        >>> h = 1e-6
        >>> net.coefs[0][0, 0] += h
        >>> slope = (net.loss_gradient(X, y, alpha=0.1)[0] - loss) / h
        >>> bool(abs(slope - coef_grads[0][0, 0]) < 1e-4)
        True
        """
        X = self._check_X(X)
        n = X.shape[0]
        Y = self._check_Y(Y, n)
        sw = self._check_sw(sample_weight, n)
        if not (isinstance(alpha, numbers.Real) and np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        grad = np.empty_like(self.params)
        loss = self._full_pass(X, Y, sw, alpha, grad=grad, n_threads=n_threads)
        coef_grads, intercept_grads = self._views(grad)
        return loss, coef_grads, intercept_grads

    def backprop(self, X, Y, sample_weight=None, alpha=0.0):
        """One forward and backward pass over a batch, keeping every layer.

        Computes, in one compiled pass, what backpropagation goes through:
        each layer's activations, each layer's error term (delta), the
        gradient with respect to every parameter, and the gradient with
        respect to the input features. All are derivatives of the one number
        ``loss`` (the value :meth:`loss_gradient` returns), so each can be
        checked against finite differences of it, except for
        'squared_error' with several outputs (see Notes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, layer_sizes[0])
            The batch. Sparse input is multiplied as CSR directly, never
            densified.
        Y : array-like of shape (n_samples, layer_sizes[-1])
            Targets, one row per sample and one column per output (one-hot
            rows for 'log_loss'); 1-D when the network has one output.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; None weighs every sample 1.
        alpha : float, default=0.0
            L2 coefficient: the loss gains ``alpha / 2 * sum(W ** 2) /
            sum(sample_weight)``.

        Returns
        -------
        result : tuple
            A named tuple (``BackpropResult``) with the fields:

            - ``loss`` (float): the loss J, as :meth:`loss_gradient`.
            - ``activations`` (list of length ``n_layers``): ``[X, A_1,
              ..., output]``, as ``forward(X, return_activations=True)``;
              ``X`` is the input as given.
            - ``deltas`` (list of length ``n_layers - 1``): ``deltas[l]``
              of shape (n_samples, layer_sizes[l + 1]) is dJ/dZ_l, the
              derivative of the loss with respect to layer l's
              pre-activation ``Z_l = A_l @ coefs[l] + intercepts[l]``. The
              last is ``sample_weight * (output - Y) / sum(sample_weight)``.
            - ``coef_grads``, ``intercept_grads``: as :meth:`loss_gradient`,
              ``A_l.T @ deltas[l]`` (plus the L2 term) and the column sums
              of ``deltas[l]``.
            - ``input_grad`` (ndarray of shape (n_samples, layer_sizes[0]),
              dense even for sparse ``X``): dJ/dX = ``deltas[0] @
              coefs[0].T``.

            Row i of ``deltas`` and ``input_grad`` is sample i's own
            derivative times ``sample_weight[i] / sum(sample_weight)``
            (``1 / n_samples`` without weights): multiply by ``n_samples``
            for per-sample values, e.g. a saliency map.

        Raises
        ------
        ValueError
            If X or Y do not fit the network, contain NaN or infinity, or
            sample_weight or alpha are invalid.

        See Also
        --------
        loss_gradient : The loss and parameter gradients only, threaded.

        Notes
        -----
        For 'squared_error' with several outputs, as in scikit-learn and
        :meth:`loss_gradient`, the gradients are those of the per-output
        losses summed while ``loss`` reports their mean: the data term of
        every derivative is ``n_outputs`` times that of the reported value.
        The pass runs on one thread (BLAS may use several inside each
        product) and holds the whole batch in memory.

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import Network
        >>> net = Network((3, 4, 1), activation="logistic",
        ...               loss="binary_log_loss", random_state=0)
        >>> X = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
        >>> y = np.array([1.0, 0.0])
        >>> res = net.backprop(X, y)
        >>> [d.shape for d in res.deltas]
        [(2, 4), (2, 1)]
        >>> res.input_grad.shape
        (2, 3)
        >>> bool(np.allclose(res.deltas[-1], (res.activations[-1] - y[:, None]) / 2))
        True
        """
        from fastbp._core import _inspect

        X = self._check_X(X)
        n = X.shape[0]
        Y = self._check_Y(Y, n)
        sw = self._check_sw(sample_weight, n)
        if not (isinstance(alpha, numbers.Real) and np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        Xin = prepare_input(X, self.dtype)
        total = n * sum(self.layer_sizes[1:])
        A = np.empty(total, dtype=self.dtype)
        D = np.empty(total, dtype=self.dtype)
        Z = np.empty(total if self.activation == "gelu" else 0, dtype=self.dtype)
        grad = np.empty_like(self.params)
        dX = np.empty((n, self.layer_sizes[0]), dtype=self.dtype)
        loss = _inspect.backprop_pass(Xin, Y, sw, self.params, self._layout,
                                      float(alpha), A, Z, D, grad, dX)
        acts, deltas = [X], []
        off = 0
        for width in self.layer_sizes[1:]:
            acts.append(A[off:off + n * width].reshape(n, width))
            deltas.append(D[off:off + n * width].reshape(n, width))
            off += n * width
        coef_grads, intercept_grads = self._views(grad)
        return BackpropResult(float(loss), acts, deltas, coef_grads,
                              intercept_grads, dX)


class BackpropResult(NamedTuple):
    """What ``Network.backprop`` returns (see there)."""

    loss: float
    activations: list
    deltas: list
    coef_grads: list
    intercept_grads: list
    input_grad: np.ndarray
