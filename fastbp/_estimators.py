"""scikit-learn estimators on the compiled engine: MLPClassifier, MLPRegressor.

Same parameters, attributes and results as scikit-learn's classes of the
same name (sklearn/neural_network/_multilayer_perceptron.py, whose epoch
logic this module follows step by step), with each epoch of mini-batches run
by one compiled call, and a few additions scikit-learn was asked for.

The module is long because of its documentation: the numpydoc of
scikit-learn's 25 parameters and 15 fitted attributes, which both classes
share, is about 250 of its lines. The work lives below it: the epoch loop
in fastbp/_loop.py, the solver bookkeeping in fastbp/_solver.py, the
labels in fastbp/_labels.py.
"""
import operator
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    validate_data,
)

from fastbp import _io, _loop, _windows
from fastbp._callbacks import CallbackSupportMixin, fit_task
from fastbp._checks import check_random_state, plain_Xy, validate_params_once
from fastbp._core import _kernels
from fastbp._labels import _binarize, _fit_label_binarizer, _unique_labels
from fastbp._network import ACTIVATIONS, Network, check_sparse
from fastbp._refit import OldModel, read_model
from fastbp._solver import NON_FINITE, SEE_GUIDE, STOCHASTIC_SOLVERS, divergence_cause
from fastbp._threads import blas_limited, resolve_n_threads

_OUTPUT_LOSS = {
    "identity": "squared_error",
    "softmax": "log_loss",
    "logistic": "binary_log_loss",
    "exp": "poisson",
}






def _check_fitted(est):
    """check_is_fitted, without scanning every attribute (a predict on one
    row must cost microseconds)."""
    if "coefs_" not in est.__dict__:
        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet. Call 'fit' "
            "with appropriate arguments before using this estimator.")


def _checked_predict(est, X):
    _check_fitted(est)
    return est._predict(X)


class BaseMultilayerPerceptron(CallbackSupportMixin, BaseEstimator):
    """Shared machinery of MLPClassifier and MLPRegressor. Not for direct use."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions({"lbfgs", *STOCHASTIC_SOLVERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "adaptive", "cosine"})
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Interval(Integral, None, -1, closed="right"),
                      Interval(Integral, 1, None, closed="left"), None],
        "scoring": [str, callable, None],
        "keep_optimizer_state": ["boolean"],
        "progress": ["boolean", StrOptions({"auto"})],
        "dtype": [None, StrOptions({"float32", "float64"}), type, np.dtype],
    }

    def _store_params(self, arguments):
        """Keep each constructor argument as the attribute of its name,
        unchanged (scikit-learn's convention: validation happens in fit)."""
        for name, value in arguments.items():
            if name != "self":
                setattr(self, name, value)

    # -- the model ---------------------------------------------------------
    def _synced_network(self):
        """The Network holding coefs_ and intercepts_, rebuilt when the user
        assigned new arrays (or after unpickling / set_params(activation))."""
        net = self.__dict__.get("_net")
        coefs, intercepts = self.coefs_, self.intercepts_
        if (net is not None and net.activation == self.activation
                and net.out_activation == self.out_activation_
                and len(coefs) == len(net.coefs)
                and len(intercepts) == len(net.intercepts)
                and all(map(operator.is_, coefs, net.coefs))
                and all(map(operator.is_, intercepts, net.intercepts))):
            return net
        if len(coefs) == 0 or len(coefs) != len(intercepts):
            raise ValueError("coefs_ and intercepts_ must be non-empty lists of "
                             "the same length")
        dtype = np.asarray(coefs[0]).dtype
        if dtype not in (np.float32, np.float64):
            dtype = np.float64
        if any(np.ndim(c) != 2 for c in coefs):
            raise ValueError("every array in coefs_ must be 2-D (fan_in, fan_out)")
        sizes = [np.shape(coefs[0])[0]] + [np.shape(c)[1] for c in coefs]
        expected = (getattr(self, "n_features_in_", sizes[0]),
                    getattr(self, "n_outputs_", sizes[-1]))
        if (sizes[0], sizes[-1]) != expected:
            raise ValueError(
                f"coefs_ take {sizes[0]} inputs to {sizes[-1]} outputs; this "
                f"model has {expected[0]} features and {expected[1]} outputs")
        net = Network(sizes, activation=self.activation,
                      loss=_OUTPUT_LOSS[self.out_activation_], dtype=dtype,
                      random_state=0)
        net.set_params(coefs, intercepts)
        self._set_network(net)
        return net

    def _train_dtype(self, input_dtype):
        """The dtype a fresh fit trains in: the dtype parameter, or the
        input's float dtype (scikit-learn's rule)."""
        if self.dtype is None:
            return input_dtype
        dtype = np.dtype(self.dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be None, np.float32 or np.float64, got "
                             f"{self.dtype!r}")
        return dtype

    def _validate_params(self):
        # (scikit-learn's checks, skipped for values of this class that
        # passed them before: they cost more than an epoch on small data)
        validate_params_once(self, super()._validate_params)

    def _set_network(self, net):
        self._net = net
        self.coefs_ = list(net.coefs)
        self.intercepts_ = list(net.intercepts)

    @property
    def network_(self):
        """The fitted :class:`fastbp.Network`.

        Its ``coefs`` and ``intercepts`` are this estimator's ``coefs_``
        and ``intercepts_`` (the same arrays): inspect activations with
        ``network_.forward(X, return_activations=True)``, gradients with
        ``network_.loss_gradient(X, Y)`` and every layer's delta with
        ``network_.backprop(X, Y)``.
        """
        _check_fitted(self)
        return self._synced_network()

    def save(self, path, *, metadata=None):
        """Save the fitted model to a safe file (arrays and JSON, no pickle).

        The same as :func:`fastbp.save`; read it back with
        :func:`fastbp.load`.

        Parameters
        ----------
        path : str, os.PathLike or writable binary file object
            Where to write (atomically, for a path).
        metadata : dict, optional
            Extra JSON-serializable information kept in the file.

        Raises
        ------
        ValueError
            If ``metadata`` is not JSON-serializable.
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.

        Examples
        --------
        >>> import numpy as np, fastbp
        >>> X, y = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]]), [0, 1, 1, 0]
        >>> clf = fastbp.MLPClassifier(max_iter=5, random_state=0).fit(X, y)
        >>> clf.save("xor.fbp", metadata={"data": "xor"})
        >>> np.array_equal(fastbp.load("xor.fbp").predict_proba(X), clf.predict_proba(X))
        True
        """
        _io.save(self, path, metadata=metadata)

    def __getstate__(self):
        # A new dict (BaseEstimator returns the instance's own __dict__):
        # pickling must never change the live estimator.
        state = dict(super().__getstate__())
        state.pop("_net", None)  # rebuilt from coefs_ / intercepts_ on use
        state.pop("_trainer", None)  # compiled workspace, remade on use
        state.pop("_fit_view", None)  # a fit running in another thread
        return state

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        net = Network(layer_units, activation=self.activation,
                      loss=_OUTPUT_LOSS[self.out_activation_], dtype=dtype,
                      random_state=self._random_state)
        self._set_network(net)
        self._optimizer = None
        self._best_params = net.params.copy()
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    # -- fitting ---------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        # Snapshot what a call can change: the attributes (shallow), what is
        # mutated in place (the parameter buffer, the optimizer state, the
        # curves). Restoring writes the weights back into the same buffer,
        # so coefs_/intercepts_ arrays the user holds stay the model.
        state = dict(self.__dict__)
        net = state.get("_net")
        params = None if net is None else net.params.copy()
        opt = state.get("_optimizer")
        opt_state = None if opt is None else (
            opt.s1.copy(), opt.s2.copy(), opt.t, opt.learning_rate)
        lists = {k: list(v) for k, v in state.items() if isinstance(v, list)}
        # Other threads' predictions see the old model until this call ends
        # (fastbp/_refit.py): the view first, then the generation, both in
        # `state` too so that undoing a failed call keeps them.
        outer_view = state.get("_fit_view")
        view = state["_fit_view"] = self.__dict__["_fit_view"] = OldModel(
            dict(state), params)
        state["_fit_generation"] = self.__dict__["_fit_generation"] = (
            state.get("_fit_generation", 0) + 1)
        try:
            return self._fit_unsafe(X, y, sample_weight, incremental, classes)
        except KeyboardInterrupt:
            raise
        except BaseException:
            # A failed call leaves the estimator exactly as it was. (Not
            # clear() then update(): a predict in another thread between
            # the two would find no model at all.)
            for k in [k for k in self.__dict__ if k not in state]:
                del self.__dict__[k]
            self.__dict__.update(state)
            self.__dict__.update(lists)
            if net is not None:
                net.params[...] = params
                self.coefs_ = state["coefs_"]
                self.intercepts_ = state["intercepts_"]
            if opt is not None:
                opt.s1[...], opt.s2[...] = opt_state[0], opt_state[1]
                opt.t, opt.learning_rate = opt_state[2], opt_state[3]
            raise
        finally:
            # (a fit that a callback of this one made in this thread hands
            # back its caller's view; a fit in another thread keeps its own)
            if self.__dict__.get("_fit_view") is view:
                if outer_view is not None and outer_view.thread == view.thread:
                    self.__dict__["_fit_view"] = outer_view
                else:
                    del self.__dict__["_fit_view"]

    def _fit_unsafe(self, X, y, sample_weight, incremental, classes):
        given = (X, y, sample_weight)  # what scikit-learn's callbacks see
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        sizes = np.ravel(np.asarray(hidden_layer_sizes, dtype=object))
        if any(not isinstance(h, Integral) or isinstance(h, bool) for h in sizes):
            raise ValueError("hidden_layer_sizes must be positive integers, got "
                             f"{hidden_layer_sizes}.")
        if any(h <= 0 for h in sizes):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes)
        if self.solver == "adam" and self.learning_rate in ("invscaling", "adaptive"):
            # values scikit-learn takes and ignores for adam: not silently
            warnings.warn(
                f"learning_rate={self.learning_rate!r} changes Adam's step size "
                "in fastbp; scikit-learn's MLP ignores learning_rate unless "
                "solver='sgd'. Pass learning_rate='constant' for scikit-learn's "
                "behaviour.", UserWarning, stacklevel=4)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")

        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental)
        if incremental and is_classifier(self):
            self._partial_fit_labels(y, classes)
        # out-of-core X (memmap, h5py, zarr, dask): validated through a
        # stand-in of its shape, read in windows by fastbp/_stream.py
        X, source = _loop.stand_in(X, self, first_pass)
        X, y, y_orig = self._validate_input(check_sparse(X), y, incremental,
                                            reset=first_pass)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        sample_weight = self._apply_class_weight(y_orig, sample_weight, incremental)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        layer_units = [n_features] + hidden_layer_sizes + [y.shape[1]]
        if not first_pass:
            net = self._synced_network()
            if list(net.layer_sizes) != layer_units:
                raise ValueError(
                    f"The network fitted before has layer sizes "
                    f"{list(net.layer_sizes)}; this data and hidden_layer_sizes "
                    f"need {layer_units}. Fit a new model (warm_start=False).")
        self.n_outputs_ = y.shape[1]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, self._train_dtype(X.dtype))
        net = self._net
        if X.dtype != net.dtype:
            X = X.astype(net.dtype)
        n_threads = resolve_n_threads(self.n_threads)
        epochs = ((1 if incremental else self.max_iter)
                  if self.solver in STOCHASTIC_SOLVERS else 0)
        with fit_task(self, *given, epochs), \
                blas_limited(n_threads, always=True):
            _loop.fit(self, source, X, y, sample_weight, incremental, n_threads)
        if not np.isfinite(self._net.params).all():
            raise ValueError(
                f"{NON_FINITE} Training diverged: {divergence_cause(self, X)}. "
                f"The model is left as it was before this call. {SEE_GUIDE}")
        return self

    def _apply_class_weight(self, y, sample_weight, incremental):
        return sample_weight

    def _partial_fit_labels(self, y, classes):
        pass

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 data trains in float32.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers
            in regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The trained model.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from fastbp import MLPClassifier
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30,
        ...                     random_state=0).fit(X / 16, y)
        >>> clf.n_iter_, clf.coefs_[0].shape
        (30, (64, 32))
        >>> clf.score(X / 16, y) > 0.9       # accuracy on the training data
        True
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver)
        return True

    # -- prediction ------------------------------------------------------
    def _check_predict_X(self, X, net):
        if (type(X) is np.ndarray and X.ndim == 2
                and X.dtype == net.dtype and X.shape[1] == self.n_features_in_
                and X.shape[0] > 0 and "feature_names_in_" not in self.__dict__):
            # Fast path for the common case, same checks as validate_data
            # (which gives its own messages for non-finite values).
            if np.isfinite(X).all():
                return X
        return validate_data(self, check_sparse(X), accept_sparse=["csr", "csc"],
                             reset=False,
                             dtype=(net.dtype.type, np.float64, np.float32))

    def _forward_pass_fast(self, X, check_input=True, logits=False):
        net = self._synced_network()
        if (check_input and type(X) is np.ndarray and X.ndim == 2
                and X.dtype is net.dtype and 0 < X.shape[0] <= net._SMALL_ROWS
                and X.shape[1] == self.n_features_in_ and X.flags.c_contiguous
                and "feature_names_in_" not in self.__dict__):
            # A few rows, already in shape: the compiled call checks them.
            try:
                return net._predict_small(X, logits, check_finite=True)
            except ValueError:
                # NaN or infinity: scikit-learn's message, which tells them
                # apart and suggests an imputer
                self._check_predict_X(X, net)
                raise
        if type(X) is not np.ndarray:
            # memmap, h5py, zarr, dask, fastbp.stream: read in windows
            out = _windows.estimator_forward(self, X, logits=logits)
            if out is not None:
                return out
        if check_input:
            X = self._check_predict_X(X, net)
        n = X.shape[0]
        if n == 0:
            return np.empty((0, net.layer_sizes[-1]), dtype=net.dtype)
        if X.dtype != net.dtype:
            X = X.astype(net.dtype)
        if (n <= net._SMALL_ROWS and type(X) is np.ndarray
                and X.flags.c_contiguous):
            return net._predict_small(X, logits)
        out = np.empty((n, net.layer_sizes[-1]), dtype=net.dtype)
        T = 1 if n <= 256 else resolve_n_threads(self.n_threads)
        net._full_pass(X, out=out, n_threads=T, rows=None, logits=logits)
        return out

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_SKLEARN_PARAMS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The width of each hidden layer: the ith element is the number of
        units of the ith hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', \
'elu', 'softplus', 'gelu'}, default='relu'
        Activation of the hidden layers: 'identity' f(x) = x, 'logistic'
        1 / (1 + exp(-x)), 'tanh', 'relu' max(x, 0); and, beyond
        scikit-learn, 'leaky_relu' (slope 0.01 below 0), 'elu' (alpha 1),
        'softplus' log(1 + exp(x)) and 'gelu' (exact, erf form).

    solver : {'lbfgs', 'sgd', 'adam', 'rmsprop', 'adamw'}, default='adam'
        The weight optimizer: 'lbfgs', the quasi-Newton method of
        ``scipy.optimize`` (full batch; small data sets); 'sgd', stochastic
        gradient descent (with ``momentum``); 'adam', Kingma and Ba's Adam;
        and, beyond scikit-learn, 'rmsprop' (``beta_2`` is its decay rate)
        and 'adamw' (Adam with decoupled weight decay ``alpha``).

    alpha : float, default=0.0001
        Strength of the L2 penalty: the loss gains
        ``alpha / 2 * sum(W ** 2) / sum(sample_weight)`` over the weights
        (not the biases). With 'adamw', the decoupled weight decay instead.

    batch_size : int or 'auto', default='auto'
        Samples per mini-batch of the stochastic solvers; 'auto' is
        ``min(200, n_samples)``. Ignored by 'lbfgs'.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, \
default='constant'
        Step-size schedule: 'constant' keeps ``learning_rate_init``;
        'invscaling' divides it by ``(t + 1) ** power_t`` (t, the samples
        seen); 'adaptive' divides it by 5 each time ``n_iter_no_change``
        epochs bring no improvement of ``tol``; 'cosine' (beyond
        scikit-learn) lowers it along half a cosine to 0 at ``max_iter``.
        Every stochastic solver follows it (scikit-learn: 'sgd' only).

    learning_rate_init : float, default=0.001
        The initial step size of the stochastic solvers.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Most epochs (passes over the data) for the stochastic solvers, most
        iterations for 'lbfgs'.

    shuffle : bool, default=True
        Shuffle the samples before each epoch (stochastic solvers).

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split;
        an int makes fits reproducible (bitwise, for a given ``n_threads``).

    tol : float, default=1e-4
        Improvement of the loss (or of the validation score, with
        ``early_stopping``) below which an epoch counts as no improvement;
        ``n_iter_no_change`` such epochs in a row end training (or, with
        'adaptive', lower the step size). For 'lbfgs', its gradient
        tolerance.

    verbose : bool, default=False
        Print the loss after each epoch.

    warm_start : bool, default=False
        Start ``fit`` from the weights of the previous fit instead of new
        random ones.

    momentum : float, default=0.9
        Momentum of 'sgd', between 0 and 1.

    nesterovs_momentum : bool, default=True
        Nesterov's momentum for 'sgd' with ``momentum > 0``.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified
        for the classifier) and stop when the validation score has not
        improved by ``tol`` for ``n_iter_no_change`` epochs; the model ends
        on the weights of its best epoch. Stochastic solvers only.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's (and AdamW's) first-moment estimates.

    beta_2 : float, default=0.999
        Decay rate of Adam's second-moment estimates, and RMSProp's decay.

    epsilon : float, default=1e-8
        Added to the denominator of Adam's and RMSProp's steps.

    n_iter_no_change : int, default=10
        Epochs in a row without an improvement of ``tol`` that end training
        (see ``tol``); ``np.inf`` never stops early.

    max_fun : int, default=15000
        Most loss evaluations of 'lbfgs'.
"""

_SKLEARN_ATTRS_DOC = """
    loss_ : float
        The loss at the end of training (of the last epoch, for the
        stochastic solvers).

    best_loss_ : float or None
        The lowest training loss reached (None with early stopping).

    loss_curve_ : list of float
        The training loss of each epoch (stochastic solvers).

    validation_scores_ : list of float or None
        The validation score after each epoch (early stopping only).

    best_validation_score_ : float or None
        The best validation score (early stopping only).

    validation_loss_curve_ : list of float or None
        The validation loss after each epoch, without the L2 term (early
        stopping only; not in scikit-learn).

    t_ : int
        Samples seen by the solver during fitting.

    coefs_ : list of ndarray of shape (n_units_in, n_units_out)
        The weight matrix of each layer. With ``intercepts_``, the model
        itself: assigning new arrays changes what ``predict`` and a
        warm-started fit use.

    intercepts_ : list of ndarray of shape (n_units_out,)
        The bias vector of each layer.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen during ``fit``, when X had string column
        names (a pandas DataFrame).

    n_iter_ : int
        Epochs (or 'lbfgs' iterations) run.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        The output activation.

    network_ : Network
        The trained :class:`fastbp.Network`; it shares its parameters with
        ``coefs_`` and ``intercepts_``.
"""

_EXTRA_PARAMS_DOC = """
    n_threads : int, default=None
        Threads that share each mini-batch (OpenMP, BLAS limited to one
        thread meanwhile). None uses every core; -1 too, -2 all but one.
        Results are bitwise reproducible for a given random_state and
        n_threads.

    scoring : str, callable or None, default=None
        Score used on the validation split for early stopping (any
        scikit-learn scorer name or callable); None is accuracy for the
        classifier and R^2 for the regressor, as in scikit-learn.

    keep_optimizer_state : bool, default=False
        With warm_start, keep the optimizer's state (moments, step count,
        current learning rate) from one fit to the next instead of starting
        it afresh as scikit-learn does. partial_fit always keeps it.

    progress : bool or 'auto', default='auto'
        Progress bar over epochs (needs tqdm): 'auto' shows it only when
        stderr is a terminal and the fit should take more than 2 seconds.
        Off while verbose is on.

    dtype : {None, 'float32', 'float64', np.float32, np.float64}, default=None
        The precision the network trains and predicts in. None follows
        scikit-learn's rule: float32 input trains in float32, anything else
        in float64. np.float32 trains in single precision whatever the
        input (a float64 array or DataFrame is cast to float32 once per
        fit): about twice the speed where matrix products dominate, at
        float32's rounding. It takes effect on a fresh fit; a warm start or
        partial_fit keeps the dtype of the network it continues.
"""

_DIFFERENCES_DOC = """
    Differences from scikit-learn: activation also takes 'leaky_relu',
    'elu', 'softplus' and 'gelu'; solver also 'rmsprop' (beta_2 is its decay
    rate) and 'adamw' (Adam with decoupled weight decay alpha, applied to
    the weights and not the biases, instead of the L2 term); learning_rate
    also 'cosine', and the schedules apply to every stochastic solver (in
    scikit-learn only to 'sgd': with the default 'constant' both agree; a
    schedule on 'adam' warns). With warm_start and early_stopping, a refit
    that never beats the best validation score so far ends on that best
    model's weights (scikit-learn ends on the refit's last weights, as its
    best weights and ``coefs_`` are the same arrays).
    The classifier refuses y with a single class (scikit-learn fits it and
    always predicts that class). Subnormal numbers are flushed to zero
    inside the compiled loops (and only there).
"""


@_io.register
class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = """Multi-layer perceptron classifier, trained by compiled code.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`:
    same parameters, attributes and results (float64 training follows
    scikit-learn's trajectory to rounding error, shuffled or not), several
    times faster.

    Parameters
    ----------""" + _SKLEARN_PARAMS_DOC + """
    class_weight : dict, list of dict, 'balanced' or None, default=None
        Weights of the classes (not in scikit-learn), multiplied into
        sample_weight: a dict
        {label: weight}, or 'balanced' for n_samples / (n_classes *
        bincount(y)). For multilabel y, a list of one dict {0: w0, 1: w1}
        per output (their weights multiply, as in scikit-learn's
        compute_sample_weight), or 'balanced' per output. 'balanced' is not
        available in partial_fit.
""" + _EXTRA_PARAMS_DOC + """
    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        The class labels (for multilabel ``y``, the output indices).
""" + _SKLEARN_ATTRS_DOC + """
    See Also
    --------
    MLPRegressor : The regressor.
    Network : The low-level network.

    Notes
    -----""" + _DIFFERENCES_DOC + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastbp import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=100,
    ...                     random_state=0).fit(X / 16, y)
    >>> clf.predict(X[:5] / 16)
    array([0, 1, 2, 3, 4])
    >>> clf.predict_proba(X[:1] / 16).shape
    (1, 10)
    >>> bool(clf.score(X / 16, y) > 0.95)
    True
"""

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    # The classifier's loss is fixed, as in scikit-learn (not a parameter).
    loss = "log_loss"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        n_threads=None,
        scoring=None,
        keep_optimizer_state=False,
        progress="auto",
        dtype=None,
    ):
        self._store_params(locals())

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _partial_fit_labels(self, y, classes):
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
            self._check_two_classes()

    def _check_two_classes(self):
        """A classifier needs two classes to tell apart (scikit-learn's MLP
        would fit one and always predict it; fastbp says so instead)."""
        lb = self._label_binarizer
        if lb.y_type_ != "multilabel-indicator" and len(lb.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, got 1 "
                f"class: {lb.classes_.tolist()[0]!r}")

    def _validate_input(self, X, y, incremental, reset):
        Xy = plain_Xy(self, X, y, reset=reset, labels=True)
        X, y = Xy if Xy is not None else validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = _fit_label_binarizer(y)
            self.classes_ = self._label_binarizer.classes_
            self._check_two_classes()
        else:
            classes = _unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        return X, _binarize(self._label_binarizer, y), y

    def _apply_class_weight(self, y, sample_weight, incremental):
        if self.class_weight is None:
            return sample_weight
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: "
                "pass a dict of class weights instead.")
        multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        if isinstance(self.class_weight, dict):
            if multilabel:
                raise ValueError(
                    "for multilabel y, class_weight must be a list of one dict "
                    f"{{0: weight, 1: weight}} per output ({y.shape[1]}), or "
                    "'balanced'")
            unknown = set(self.class_weight) - set(np.asarray(self.classes_).tolist())
            if unknown:
                raise ValueError(f"class_weight has labels {sorted(unknown, key=str)} "
                                 f"that are not in the classes {self.classes_}")
        if isinstance(self.class_weight, list):
            if not multilabel:
                raise ValueError("a list of class_weight dicts is for multilabel y; "
                                 "for this y pass one dict {label: weight}")
            if (len(self.class_weight) != y.shape[1]
                    or not all(isinstance(d, dict) for d in self.class_weight)):
                raise ValueError(
                    f"class_weight must be a list of {y.shape[1]} dicts (one per "
                    f"output), got {self.class_weight!r}")
            for d in self.class_weight:
                if not set(d) <= {0, 1}:
                    raise ValueError("each multilabel class_weight dict takes the "
                                     f"labels 0 and 1, got {sorted(d, key=str)}")
        cw = compute_sample_weight(self.class_weight, y)
        if sample_weight is None:
            return cw.astype(np.float64)
        return sample_weight * cw

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.

        Examples
        --------
        >>> from fastbp import MLPClassifier
        >>> X, y = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]], ["no", "yes", "yes", "yes"]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> clf.predict([[0., 0.], [1., 1.]])
        array(['no', 'yes'], dtype='<U3')
        """
        return read_model(self, _checked_predict, X)

    def _predict(self, X, check_input=True):
        lb = self._label_binarizer
        if lb.y_type_ == "multiclass":
            # The class of largest probability is the one of largest logit:
            # the softmax is skipped (strictly increasing).
            z = self._forward_pass_fast(X, check_input=check_input, logits=True)
            return self.classes_[_kernels.argmax_rows(z)]
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return lb.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(
            X, y, sample_weight=sample_weight, score_function=accuracy_score)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The target values (multilabel indicator matrices too).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first
            call.

        Returns
        -------
        self : object
            Trained MLP model.

        Examples
        --------
        Train on data that comes in parts (one epoch over each part per call):

        >>> import numpy as np
        >>> from fastbp import MLPClassifier
        >>> rng = np.random.RandomState(0)
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
        >>> for _ in range(3):
        ...     X = rng.normal(size=(100, 2))
        ...     clf = clf.partial_fit(X, X[:, 0] > 0, classes=[False, True])
        >>> clf.t_, clf.classes_.tolist()     # samples seen, classes
        (300, [False, True])
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         classes=classes)

    def predict_log_proba(self, X):
        """Log of the probability estimates, ``log(predict_proba(X))``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The log-probability of each class, in the order of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import MLPClassifier
        >>> X, y = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]], [0, 1, 1, 1]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> np.allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X))
        True
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import MLPClassifier
        >>> X, y = [[0., 0.], [0., 1.], [1., 0.], [1., 1.]], ["no", "yes", "yes", "yes"]
        >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
        ...                     random_state=0).fit(X, y)
        >>> proba = clf.predict_proba([[0., 0.], [1., 1.]])
        >>> proba.shape, clf.classes_.tolist()
        ((2, 2), ['no', 'yes'])
        >>> proba.round(2)
        array([[...]])
        >>> bool(np.allclose(proba.sum(axis=1), 1))
        True
        """
        return read_model(self, MLPClassifier._predict_proba, X)

    def _predict_proba(self, X):
        _check_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@_io.register
class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = """Multi-layer perceptron regressor, trained by compiled code.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`:
    same parameters, attributes and results (float64 training follows
    scikit-learn's trajectory to rounding error, shuffled or not), several
    times faster.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        Half squared error (identity output) or half Poisson deviance (exp
        output, for counts and other non-negative targets), as in
        scikit-learn.
""" + _SKLEARN_PARAMS_DOC + _EXTRA_PARAMS_DOC + """
    Attributes
    ----------""" + _SKLEARN_ATTRS_DOC + """
    See Also
    --------
    MLPClassifier : The classifier.
    Network : The low-level network.

    Notes
    -----""" + _DIFFERENCES_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastbp import MLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-1, 1, size=(500, 2))
    >>> y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs",
    ...                    max_iter=500, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    >>> bool(reg.score(X, y) > 0.95)
    True
"""

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        n_threads=None,
        scoring=None,
        keep_optimizer_state=False,
        progress="auto",
        dtype=None,
    ):
        self._store_params(locals())

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import MLPRegressor
        >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
        >>> reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=500,
        ...                    random_state=0).fit(X, X.ravel() ** 2)
        >>> reg.predict([[0.5]]).round(1)     # 0.5 ** 2 = 0.25
        array([0.3])
        """
        return read_model(self, _checked_predict, X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(
            X, y, sample_weight=sample_weight, score_function=r2_score)

    def _validate_input(self, X, y, incremental, reset):
        Xy = plain_Xy(self, X, y, reset=reset, labels=False)
        X, y = Xy if Xy is not None else validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError("loss='poisson' requires non-negative y")
        return X, y, y

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.

        Examples
        --------
        >>> import numpy as np
        >>> from fastbp import MLPRegressor
        >>> rng = np.random.RandomState(0)
        >>> reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
        >>> for _ in range(3):              # one epoch over each new part
        ...     X = rng.normal(size=(100, 2))
        ...     reg = reg.partial_fit(X, X[:, 0] - X[:, 1])
        >>> reg.t_, reg.predict(X[:2]).shape   # samples seen, one value per row
        (300, (2,))
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
