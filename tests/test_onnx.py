"""ONNX export (fastbp._onnx): onnxruntime reproduces predict and
predict_proba for every activation, output and dtype; skl2onnx converts
pipelines that end in a fastbp estimator."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastbp
from fastbp._onnx import to_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ACTIVATIONS = sorted(fastbp.ACTIVATIONS)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _run(model, X):
    sess = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: X})))


def _data(n=120, d=5, seed=0):
    rng = np.random.RandomState(seed)
    return 2 * rng.normal(size=(n, d)), rng


def _tol(dtype, activation=None):
    if dtype == np.float32:
        return dict(rtol=1e-4, atol=1e-5)
    if activation == "gelu":  # onnxruntime's Erf is float32 only
        return dict(rtol=1e-6, atol=1e-7)
    return dict(rtol=1e-9, atol=1e-11)


def _classifier(kind, activation="relu", model_dtype=np.float64):
    X, rng = _data()
    n = len(X)
    y = {"binary": lambda: rng.randint(0, 2, n),
         "multiclass": lambda: np.array(["ant", "bee", "cow", "dog"])[rng.randint(0, 4, n)],
         "multilabel": lambda: rng.randint(0, 2, (n, 3)),
         "binary_str": lambda: np.array(["no", "yes"])[rng.randint(0, 2, n)],
         "float_labels": lambda: np.array([-1.0, 0.0, 3.0])[rng.randint(0, 3, n)],
         }[kind]()
    est = fastbp.MLPClassifier((8, 6), activation=activation, max_iter=15,
                               random_state=0).fit(X.astype(model_dtype), y)
    return est, X


def _check_classifier(est, X, dtype, **kw):
    out = _run(to_onnx(est, dtype=dtype, **kw), X.astype(dtype))
    tol = _tol(dtype, est.activation)
    assert set(out) == {"label", "probabilities"}
    proba = est.predict_proba(X)
    assert out["probabilities"].dtype == dtype
    assert out["probabilities"].shape == proba.shape
    np.testing.assert_allclose(out["probabilities"], proba, **tol)
    pred = est.predict(X)
    # Labels agree except where two probabilities tie within rounding.
    agree = out["label"] == pred
    if pred.ndim == 1:
        top2 = np.sort(proba, axis=1)[:, -2:]
        close = np.abs(top2[:, 1] - top2[:, 0]) < 1e-5
    else:
        close = np.abs(proba - 0.5) < 1e-5
    assert np.all(agree | close)
    return out


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_parity_every_activation(activation, dtype):
    est, X = _classifier("multiclass", activation)
    out = _check_classifier(est, X, dtype)
    assert out["label"].dtype.kind in "OU"  # string labels


@pytest.mark.parametrize("kind", ["binary", "binary_str", "multilabel", "float_labels"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_parity_every_target_type(kind, dtype):
    est, X = _classifier(kind, "tanh")
    out = _check_classifier(est, X, dtype)
    if kind == "multilabel":
        assert out["label"].shape == (len(X), 3)
        assert out["label"].dtype == np.int64


def test_float32_model_exports_float32():
    est, X = _classifier("binary", "gelu", model_dtype=np.float32)
    _check_classifier(est, X, np.float32)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regressor_parity_every_activation(activation, loss, dtype):
    X, rng = _data()
    X = X / 2
    y = rng.poisson(2.0, size=(len(X), 2)) if loss == "poisson" else rng.normal(size=(len(X), 2))
    est = fastbp.MLPRegressor(loss=loss, hidden_layer_sizes=(7,), activation=activation,
                              max_iter=10, random_state=0).fit(X, y)
    out = _run(to_onnx(est, dtype=dtype), X.astype(dtype))
    assert list(out) == ["variable"]
    assert out["variable"].dtype == dtype
    np.testing.assert_allclose(out["variable"], est.predict(X), **_tol(dtype, activation))


@pytest.mark.parametrize("opset", [13, 18, 20])
def test_gelu_on_every_opset(opset):
    est, X = _classifier("multiclass", "gelu")
    model = to_onnx(est, target_opset=opset)
    ops = {n.op_type for n in model.graph.node}
    assert ("Gelu" in ops) == (opset >= 20)
    assert "Erf" in ops or opset >= 20
    _check_classifier(est, X, np.float32, target_opset=opset)


def test_graph_is_plain_onnx():
    est, X = _classifier("multiclass", "leaky_relu")
    model = to_onnx(est)
    onnx.checker.check_model(model, full_check=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMul") == 3 and ops.count("LeakyRelu") == 2
    assert {"Softmax", "ArgMax", "Gather"} <= set(ops)
    assert [i.name for i in model.graph.input] == ["X"]
    assert all(o.domain in ("", "ai.onnx") for o in model.opset_import)
    # Saving and reading back gives the same model.
    again = onnx.load_from_string(model.SerializeToString())
    assert again == model


def test_errors():
    with pytest.raises(TypeError, match="fastbp"):
        to_onnx(object())
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        to_onnx(fastbp.MLPClassifier())
    est, _ = _classifier("binary")
    with pytest.raises(ValueError, match="dtype"):
        to_onnx(est, dtype=np.float16)
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(est, target_opset=5)


def test_missing_onnx_gives_clear_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    est, _ = _classifier("binary")
    with pytest.raises(ImportError, match=r"pip install fastbp\[onnx\]"):
        to_onnx(est)


# -- skl2onnx -------------------------------------------------------------------
@pytest.fixture(scope="module")
def skl2onnx():
    mod = pytest.importorskip("skl2onnx")
    from fastbp._onnx import register_skl2onnx

    assert register_skl2onnx()
    assert register_skl2onnx()  # idempotent
    return mod


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skl2onnx_pipeline(skl2onnx, kind, dtype):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, rng = _data()
    n = len(X)
    y = {"multiclass": np.array(["a", "b", "c"])[rng.randint(0, 3, n)],
         "binary": rng.randint(0, 2, n),
         "multilabel": rng.randint(0, 2, (n, 3))}[kind]
    pipe = make_pipeline(StandardScaler(), fastbp.MLPClassifier(
        (8,), activation="elu", max_iter=15, random_state=0)).fit(X, y)
    clf = pipe.steps[-1][1]
    model = skl2onnx.to_onnx(pipe, X[:1].astype(dtype),
                             options={id(clf): {"zipmap": False}})
    out = _run(model, X.astype(dtype))
    label, proba = out["label"], out["probabilities"]
    np.testing.assert_allclose(proba, pipe.predict_proba(X), **_tol(dtype))
    assert np.mean(label == pipe.predict(X)) > 0.97


def test_skl2onnx_pipeline_with_zipmap_and_regressor(skl2onnx):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, rng = _data()
    y = rng.randint(0, 3, len(X))
    pipe = make_pipeline(StandardScaler(), fastbp.MLPClassifier(
        (8,), max_iter=15, random_state=0)).fit(X, y)
    out = _run(skl2onnx.to_onnx(pipe, X[:1].astype(np.float32)), X.astype(np.float32))
    label, proba = out["output_label"], out["output_probability"]
    assert np.array_equal(label, pipe.predict(X))
    as_array = np.array([[row[c] for c in pipe.classes_] for row in proba])
    np.testing.assert_allclose(as_array, pipe.predict_proba(X), rtol=1e-4, atol=1e-5)

    reg = make_pipeline(StandardScaler(), fastbp.MLPRegressor(
        hidden_layer_sizes=(8,), activation="softplus", max_iter=15,
        random_state=0)).fit(X, X[:, 0] - X[:, 1] ** 2)
    out = _run(skl2onnx.to_onnx(reg, X[:1].astype(np.float32)), X.astype(np.float32))
    (variable,) = out.values()
    np.testing.assert_allclose(variable.ravel(), reg.predict(X), rtol=1e-4, atol=1e-4)
