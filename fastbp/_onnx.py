"""Export a fitted fastbp estimator to ONNX, to serve it without Python.

:func:`to_onnx` writes the network as plain ONNX operators (MatMul, Add,
the activation, the output function) with the ``onnx`` package alone.
:func:`register_skl2onnx` (call it once; calling again does nothing)
teaches skl2onnx the same graph, so that ``skl2onnx.to_onnx`` also converts
scikit-learn pipelines that contain a fastbp estimator.

Graph inputs and outputs, as skl2onnx names them for scikit-learn's MLP:

- input ``X``: float tensor of shape (N, n_features_in_);
- classifier: ``label`` (N,) int64 or string labels (N, n_labels int64 0/1
  for multilabel) and ``probabilities`` (N, n_classes), what ``predict``
  and ``predict_proba`` return;
- regressor: ``variable`` (N, n_outputs), what ``predict`` returns.

Every hidden activation of fastbp is exported: identity, logistic, tanh,
relu, leaky_relu (LeakyRelu alpha 0.01), elu (Elu alpha 1), softplus and
gelu (the exact erf form: the Gelu operator from opset 20, else built from
Erf). In a float64 graph, activations onnxruntime has no exact double kernel
for (LeakyRelu, Elu, Softplus) are built from elementary operators, and gelu's Erf runs in
float32.
"""
import numpy as np

#: Opset used when none is asked for: old enough for onnxruntime >= 1.14.
DEFAULT_OPSET = 18
_MIN_OPSET = 13

_INSTALL_HINT = ("ONNX export needs the onnx package (and onnxruntime to run "
                 "the model): pip install fastbp[onnx]")


def _import_onnx():
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:  # optional extra
        raise ImportError(_INSTALL_HINT) from exc
    return onnx, helper, numpy_helper, TensorProto


def _proto_dtype(dtype):
    _, _, _, TensorProto = _import_onnx()
    return {np.dtype(np.float32): TensorProto.FLOAT,
            np.dtype(np.float64): TensorProto.DOUBLE}[np.dtype(dtype)]


class _Graph:
    """Collects nodes and initializers for onnx.helper.make_graph."""

    def __init__(self, opset):
        _, self.helper, self.numpy_helper, self.TensorProto = _import_onnx()
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._used = set()

    def name(self, hint):
        i, name = 0, hint
        while name in self._used:
            i += 1
            name = f"{hint}_{i}"
        self._used.add(name)
        return name

    def const(self, hint, array):
        name = self.name(hint)
        array = np.asarray(array)
        if array.dtype.kind == "U":
            tensor = self.helper.make_tensor(
                name, self.TensorProto.STRING, array.shape,
                [s.encode("utf-8") for s in array.ravel()])
        else:
            tensor = self.numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        return name

    def node(self, op_type, inputs, output=None, **attrs):
        output = output or self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(
            op_type, list(inputs), [output], name=self.name("n_" + op_type), **attrs))
        return output


class _Skl2OnnxGraph:
    """The same interface writing into a skl2onnx scope and container."""

    def __init__(self, scope, container):
        _, self.helper, _, self.TensorProto = _import_onnx()
        self.scope = scope
        self.container = container
        self.opset = container.target_opset

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint, array):
        name = self.name(hint)
        array = np.asarray(array)
        if array.dtype.kind == "U":
            self.container.add_initializer(
                name, self.TensorProto.STRING, list(array.shape),
                [s.encode("utf-8") for s in array.ravel()])
        else:
            from onnx import helper

            proto = helper.np_dtype_to_tensor_dtype(array.dtype)
            self.container.add_initializer(name, proto, list(array.shape),
                                           np.ascontiguousarray(array).ravel())
        return name

    def node(self, op_type, inputs, output=None, **attrs):
        output = output or self.name(op_type.lower())
        self.container.add_node(op_type, list(inputs), [output],
                                name=self.scope.get_unique_operator_name(op_type),
                                **attrs)
        return output


def _activation(g, name, x, dtype):
    """Emit hidden activation `name` applied to `x`; returns the output name."""
    double = np.dtype(dtype) == np.float64
    c = lambda hint, v: g.const(hint, np.asarray(v, dtype=dtype))  # noqa: E731
    if name == "identity":
        return g.node("Identity", [x])
    if name == "logistic":
        return g.node("Sigmoid", [x])
    if name == "tanh":
        return g.node("Tanh", [x])
    if name == "relu":
        return g.node("Relu", [x])
    if name == "leaky_relu":
        if not double:
            return g.node("LeakyRelu", [x], alpha=0.01)
        # onnxruntime's double LeakyRelu takes a float32 alpha (or is missing).
        neg = g.node("Mul", [g.node("Min", [x, c("zero", 0.0)]), c("slope", 0.01)])
        return g.node("Add", [g.node("Relu", [x]), neg])
    if name == "elu":
        if not double:
            return g.node("Elu", [x], alpha=1.0)
        # max(x, 0) + (exp(min(x, 0)) - 1): exact x for x > 0.
        neg = g.node("Min", [x, c("zero", 0.0)])
        em1 = g.node("Sub", [g.node("Exp", [neg]), c("one", 1.0)])
        return g.node("Add", [g.node("Relu", [x]), em1])
    if name == "softplus":
        if not double:
            return g.node("Softplus", [x])
        # max(x, 0) + log(1 + exp(-|x|)): never overflows.
        t = g.node("Exp", [g.node("Neg", [g.node("Abs", [x])])])
        log1p = g.node("Log", [g.node("Add", [t, c("one", 1.0)])])
        return g.node("Add", [g.node("Relu", [x]), log1p])
    if name == "gelu":
        if not double and g.opset >= 20:
            return g.node("Gelu", [x])
        # 0.5 * x * (1 + erf(x / sqrt(2))); onnxruntime's Erf is float only.
        s = g.node("Mul", [x, c("inv_sqrt2", 0.7071067811865476)])
        if double:
            s = g.node("Cast", [s], to=g.TensorProto.FLOAT)
        e = g.node("Erf", [s])
        if double:
            e = g.node("Cast", [e], to=g.TensorProto.DOUBLE)
        half = g.node("Mul", [x, c("half", 0.5)])
        return g.node("Mul", [half, g.node("Add", [e, c("one", 1.0)])])
    raise ValueError(f"activation {name!r} has no ONNX export")


def _emit(g, est, x, outputs, dtype, label_type=None):
    """The whole model, from input `x` to the names in `outputs`.

    outputs: [label, probabilities] for a classifier, [variable] for a
    regressor. label_type: how to store numeric labels ('int64' for
    skl2onnx, else the classes' own dtype).
    """
    from sklearn.base import is_classifier

    coefs, intercepts = est.coefs_, est.intercepts_
    h = x
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        w = g.const(f"coef_{i}", np.asarray(W, dtype=dtype))
        bias = g.const(f"intercept_{i}", np.asarray(b, dtype=dtype).reshape(1, -1))
        h = g.node("Add", [g.node("MatMul", [h, w]), bias])
        if i < len(coefs) - 1:
            h = _activation(g, est.activation, h, dtype)
    out = est.out_activation_
    if not is_classifier(est):
        op = {"identity": "Identity", "exp": "Exp"}[out]
        g.node(op, [h], outputs[0])
        return
    label, proba = outputs
    y_type = est._label_binarizer.y_type_
    if out == "softmax":
        p = g.node("Softmax", [h], proba, axis=1)
    elif y_type == "multilabel-indicator":
        p = g.node("Sigmoid", [h], proba)
        above = g.node("Greater", [p, g.const("threshold",
                                               np.asarray(0.5, dtype=dtype))])
        g.node("Cast", [above], label, to=g.TensorProto.INT64)
        return
    else:  # binary: columns [1 - p, p], as predict_proba
        pos = g.node("Sigmoid", [h])
        neg = g.node("Sub", [g.const("one", np.asarray(1.0, dtype=dtype)), pos])
        p = g.node("Concat", [neg, pos], proba, axis=1)
    # p > 0.5 picks the second column on ties of 1 - p and p exactly as
    # ArgMax (first maximum) does, for binary and multiclass.
    idx = g.node("ArgMax", [p], axis=1, keepdims=0)
    classes = np.asarray(est.classes_)
    if classes.dtype.kind == "O":
        classes = classes.astype(str)
    if label_type == "int64" and classes.dtype.kind in "biuf":
        if classes.dtype.kind == "f" and not np.all(classes == np.round(classes)):
            raise ValueError("skl2onnx labels are int64: classes_ must be "
                             f"integer-valued, got {classes}")
        classes = classes.astype(np.int64)
    elif classes.dtype.kind in "iu":
        classes = classes.astype(np.int64)
    g.node("Gather", [g.const("classes", classes), idx], label, axis=0)


def _label_proto(classes, TensorProto):
    kind = np.asarray(classes).dtype.kind
    if kind in "OU":
        return TensorProto.STRING
    return {"b": TensorProto.BOOL, "i": TensorProto.INT64, "u": TensorProto.INT64,
            "f": TensorProto.DOUBLE if np.asarray(classes).dtype == np.float64
            else TensorProto.FLOAT}[kind]


def to_onnx(estimator, *, target_opset=None, dtype=None):
    """Convert a fitted fastbp estimator to an ONNX model.

    Parameters
    ----------
    estimator : fastbp.MLPClassifier or fastbp.MLPRegressor
        A fitted estimator.
    target_opset : int, optional
        ONNX opset of the graph (>= 13); default ``DEFAULT_OPSET`` (18), or
        the newest the installed onnx knows if that is older.
    dtype : {np.float32, np.float64}, optional
        Float type of the input, weights and outputs; default float32, the
        type every ONNX runtime supports.

    Returns
    -------
    model : onnx.ModelProto
        Inputs ``X``; outputs ``label`` and ``probabilities`` (classifier)
        or ``variable`` (regressor). Save it with ``onnx.save(model, path)``;
        run it with ``onnxruntime.InferenceSession(model.SerializeToString())``.
        Feed it arrays of its ``dtype`` (float32 by default): a runtime
        refuses float64 input to a float32 graph.

    Raises
    ------
    TypeError
        If ``estimator`` is not a fastbp MLPClassifier or MLPRegressor.
    ImportError
        If the onnx package is missing.

    See Also
    --------
    register_skl2onnx : To convert pipelines with ``skl2onnx.to_onnx``.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> import fastbp
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = fastbp.MLPClassifier(solver="lbfgs", max_iter=300, random_state=0).fit(X, y)
    >>> sess = ort.InferenceSession(fastbp.to_onnx(clf).SerializeToString(),
    ...                             providers=["CPUExecutionProvider"])
    >>> label, proba = sess.run(None, {"X": X[:3].astype(np.float32)})
    >>> label.tolist()
    [0, 0, 0]
    >>> bool(np.allclose(proba, clf.predict_proba(X[:3]), atol=1e-5))
    True
    """
    onnx, helper, _, TensorProto = _import_onnx()
    from sklearn.base import is_classifier
    from sklearn.utils.validation import check_is_fitted

    from fastbp._estimators import BaseMultilayerPerceptron

    if not isinstance(estimator, BaseMultilayerPerceptron):
        raise TypeError("to_onnx takes a fitted fastbp MLPClassifier or "
                        f"MLPRegressor, got {type(estimator).__name__}")
    check_is_fitted(estimator, "coefs_")
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    newest = onnx.defs.onnx_opset_version()
    opset = min(DEFAULT_OPSET, newest) if target_opset is None else int(target_opset)
    if not _MIN_OPSET <= opset <= newest:
        raise ValueError(f"target_opset must be in [{_MIN_OPSET}, {newest}], "
                         f"got {target_opset}")

    g = _Graph(opset)
    x = g.name("X")
    elem = _proto_dtype(dtype)
    n_in = estimator.coefs_[0].shape[0]
    n_out = estimator.coefs_[-1].shape[1]
    inputs = [helper.make_tensor_value_info(x, elem, [None, n_in])]
    if is_classifier(estimator):
        names = [g.name("label"), g.name("probabilities")]
        multilabel = estimator._label_binarizer.y_type_ == "multilabel-indicator"
        n_classes = len(estimator.classes_)
        outputs = [
            helper.make_tensor_value_info(
                names[0],
                TensorProto.INT64 if multilabel
                else _label_proto(estimator.classes_, TensorProto),
                [None, n_classes] if multilabel else [None]),
            helper.make_tensor_value_info(names[1], elem, [None, n_classes]),
        ]
    else:
        names = [g.name("variable")]
        outputs = [helper.make_tensor_value_info(names[0], elem, [None, n_out])]
    _emit(g, estimator, x, names, dtype)
    graph = helper.make_graph(g.nodes, f"fastbp_{type(estimator).__name__}",
                              inputs, outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name="fastbp")
    from fastbp._version import __version__

    model.producer_version = __version__
    try:
        model.ir_version = helper.find_min_ir_version_for(opsets)
    except Exception:  # pragma: no cover - very old onnx: keep make_model's
        pass
    model.ir_version = max(model.ir_version, 7)
    onnx.checker.check_model(model)
    return model


# -- skl2onnx ------------------------------------------------------------------
def _skl2onnx_shape_classifier(operator):
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
    )

    calculate_linear_classifier_output_shapes(operator)
    est = operator.raw_operator
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        from skl2onnx.common.data_types import Int64TensorType

        N = operator.inputs[0].get_first_dimension()
        operator.outputs[0].type = Int64TensorType([N, len(est.classes_)])


def _skl2onnx_shape_regressor(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    N = operator.inputs[0].get_first_dimension()
    n_out = operator.raw_operator.coefs_[-1].shape[1]
    cls = (DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType)
           else FloatTensorType)
    operator.outputs[0].type = cls([N, n_out])


def _skl2onnx_convert(scope, operator, container):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    est = operator.raw_operator
    in_type = operator.inputs[0].type
    dtype = np.float64 if isinstance(in_type, DoubleTensorType) else np.float32
    g = _Skl2OnnxGraph(scope, container)
    x = operator.inputs[0].full_name
    if not isinstance(in_type, (DoubleTensorType, FloatTensorType)):
        x = g.node("Cast", [x], to=g.TensorProto.FLOAT)
    outputs = [o.full_name for o in operator.outputs]
    _emit(g, est, x, outputs, dtype, label_type="int64")


_REGISTERED = False


def register_skl2onnx(quiet=False):
    """Register fastbp's estimators with skl2onnx.

    Afterwards ``skl2onnx.to_onnx(pipeline, X[:1].astype(np.float32))``
    converts pipelines that contain a fastbp MLPClassifier or MLPRegressor.
    Calling it again does nothing.

    skl2onnx takes the graph's input type from the sample it is given: give
    it float32 data. With a float64 sample it builds a double graph, in
    which its ZipMap step (the classifier's probabilities as a list of
    dictionaries, on by default) makes an invalid model; pass
    ``options={"zipmap": False}`` to leave ZipMap out.

    Parameters
    ----------
    quiet : bool, default=False
        Return False instead of raising when skl2onnx is missing.

    Returns
    -------
    registered : bool
        True once registered; False when skl2onnx is missing and ``quiet``.

    Raises
    ------
    ImportError
        If skl2onnx is missing (unless ``quiet``).

    See Also
    --------
    to_onnx : Convert one fitted estimator without skl2onnx.

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import fastbp
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(StandardScaler(), fastbp.MLPClassifier(
    ...     solver="lbfgs", max_iter=300, random_state=0)).fit(X, y)
    >>> fastbp.register_skl2onnx()
    True
    >>> onx = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32),
    ...                        options={"zipmap": False})
    >>> [o.name for o in onx.graph.output]
    ['label', 'probabilities']
    """
    global _REGISTERED
    if _REGISTERED:
        return True
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        if quiet:
            return False
        raise ImportError("registering with skl2onnx needs skl2onnx: "
                          "pip install fastbp[onnx]") from exc
    from fastbp._estimators import MLPClassifier, MLPRegressor

    update_registered_converter(
        MLPClassifier, "FastbpMLPClassifier", _skl2onnx_shape_classifier,
        _skl2onnx_convert,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False],
                 "output_class_labels": [False, True]})
    update_registered_converter(
        MLPRegressor, "FastbpMLPRegressor", _skl2onnx_shape_regressor,
        _skl2onnx_convert)
    _REGISTERED = True
    return True
