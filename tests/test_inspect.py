"""Network.backprop: every layer's activations and deltas, the parameter
gradients and the input gradient of one batch, from one compiled pass.

Everything it returns is a derivative of the one loss value, so each is
checked against central finite differences of that value in float64.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from fastbp import ACTIVATIONS, LOSS_OUTPUTS, Network

SIZES = (4, 5, 3)


def make_problem(activation, loss, dtype=np.float64, n=6, seed=0, n_out=3):
    rng = np.random.RandomState(seed)
    net = Network(SIZES + (n_out,), activation=activation, loss=loss,
                  dtype=dtype, random_state=seed)
    # Larger weights than the default init, so every activation is exercised
    # away from its linear region.
    net.params[...] = rng.uniform(-1.0, 1.0, net.n_params)
    X = rng.normal(size=(n, SIZES[0]))
    if loss == "log_loss":
        Y = np.eye(n_out)[rng.randint(n_out, size=n)]
    elif loss == "binary_log_loss":
        Y = (rng.uniform(size=(n, n_out)) > 0.5).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(1.5, size=(n, n_out)).astype(float)
    else:
        Y = rng.normal(size=(n, n_out))
    sw = rng.uniform(0.5, 2.0, n)
    return net, X.astype(dtype), Y.astype(dtype), sw


def central_diff(f, x, eps=1e-6):
    """Central differences of the scalar f() over every entry of x, which
    f reads (x is changed in place and restored)."""
    g = np.empty(x.shape)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.shape[0]):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return g


def sub_network(net, l):
    """A network whose input is layer l's pre-activation Z_l and whose loss
    is the same function of it: a first layer with identity weights and
    zero bias applies layer l's activation (or, for the output layer, the
    output activation and the loss), then the layers above follow."""
    k = net.layer_sizes[l + 1]
    sub = Network((k,) + net.layer_sizes[l + 1:], activation=net.activation,
                  loss=net.loss)
    sub.set_params([np.eye(k)] + net.coefs[l + 1:],
                   [np.zeros(k)] + net.intercepts[l + 1:])
    return sub


@pytest.mark.parametrize("loss", sorted(LOSS_OUTPUTS))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_backprop_matches_finite_differences(activation, loss):
    net, X, Y, sw = make_problem(activation, loss)
    alpha = 0.3
    res = net.backprop(X, Y, sample_weight=sw, alpha=alpha)

    def J():
        return net.loss_gradient(X, Y, sample_weight=sw, alpha=alpha)[0]

    assert res.loss == pytest.approx(J(), rel=1e-12)
    # With several squared-error outputs the gradient is that of the
    # per-output losses summed (scikit-learn's convention), n_out times the
    # reported mean's data term.
    scale = Y.shape[1] if loss == "squared_error" else 1

    def J_grad():
        data = net.loss_gradient(X, Y, sample_weight=sw, alpha=0.0)[0]
        return scale * data + (J() - data)

    tol = dict(rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.input_grad, central_diff(J_grad, X), **tol)
    flat_grad = np.concatenate([g.ravel() for g in res.coef_grads]
                               + [g.ravel() for g in res.intercept_grads])
    np.testing.assert_allclose(flat_grad, central_diff(J_grad, net.params), **tol)

    # Each delta is dJ/dZ_l: differences of the same loss as a function of
    # Z_l, evaluated through a network that starts at layer l.
    for l, delta in enumerate(res.deltas):
        Z = res.activations[l] @ net.coefs[l] + net.intercepts[l]
        sub = sub_network(net, l)

        def J_sub():
            data = sub.loss_gradient(Z, Y, sample_weight=sw)[0]
            return scale * data

        np.testing.assert_allclose(delta, central_diff(J_sub, Z), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "gelu", "tanh"])
def test_backprop_agrees_with_loss_gradient_and_forward(activation, dtype):
    net, X, Y, sw = make_problem(activation, "log_loss", dtype=dtype, n=40)
    res = net.backprop(X, Y, sample_weight=sw, alpha=0.01)
    loss, cg, ig = net.loss_gradient(X, Y, sample_weight=sw, alpha=0.01)
    rtol = 1e-4 if dtype == np.float32 else 1e-11
    assert res.loss == pytest.approx(loss, rel=rtol)
    for a, b in zip(res.coef_grads + res.intercept_grads, cg + ig):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    acts = net.forward(X, return_activations=True)
    assert len(res.activations) == len(acts) == net.n_layers
    assert res.activations[0] is X
    for a, b in zip(res.activations[1:], acts[1:]):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    # The layer relations the docstring states.
    for l, delta in enumerate(res.deltas):
        np.testing.assert_allclose(res.intercept_grads[l], delta.sum(axis=0),
                                   rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(res.input_grad, res.deltas[0] @ net.coefs[0].T,
                               rtol=rtol, atol=rtol * 1e-2)
    out_delta = sw[:, None] * (res.activations[-1] - Y) / sw.sum()
    np.testing.assert_allclose(res.deltas[-1], out_delta, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backprop_sparse_input_equals_dense(dtype):
    net, X, Y, sw = make_problem("tanh", "binary_log_loss", dtype=dtype, n=30)
    X[np.random.RandomState(1).uniform(size=X.shape) < 0.6] = 0
    dense = net.backprop(X, Y, sample_weight=sw, alpha=0.1)
    for fmt in ("csr", "csc", "coo"):
        res = net.backprop(sp.csr_matrix(X).asformat(fmt), Y, sample_weight=sw,
                           alpha=0.1)
        assert sp.issparse(res.activations[0])
        assert isinstance(res.input_grad, np.ndarray)
        assert res.input_grad.dtype == dtype
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        assert res.loss == pytest.approx(dense.loss, rel=rtol)
        for a, b in zip(res.coef_grads + res.intercept_grads + res.deltas
                        + [res.input_grad],
                        dense.coef_grads + dense.intercept_grads + dense.deltas
                        + [dense.input_grad]):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


def test_backprop_sparse_with_empty_rows_and_duplicates():
    net, X, Y, _ = make_problem("relu", "squared_error", n=4)
    rows, cols = np.array([0, 0, 2, 2]), np.array([1, 1, 3, 0])
    vals = np.array([0.5, 0.25, -1.0, 2.0])
    Xs = sp.csr_matrix((vals, (rows, cols)), shape=(4, 4))
    Xs.has_canonical_format = False
    res = net.backprop(Xs, Y)
    ref = net.backprop(Xs.toarray(), Y)
    np.testing.assert_allclose(res.input_grad, ref.input_grad, rtol=1e-12)
    np.testing.assert_allclose(res.coef_grads[0], ref.coef_grads[0], rtol=1e-12)


def test_backprop_one_output_takes_1d_targets_and_changes_nothing():
    net = Network((3, 4, 1), activation="logistic", loss="binary_log_loss",
                  random_state=0)
    before = net.params.copy()
    X = np.random.RandomState(0).normal(size=(5, 3))
    y = np.array([1, 0, 1, 1, 0])
    res = net.backprop(X, y)
    np.testing.assert_array_equal(net.params, before)
    assert res.deltas[-1].shape == (5, 1)
    loss, input_grad = res.loss, res.input_grad   # fields by name
    assert isinstance(loss, float) and input_grad.shape == (5, 3)
    # and by position, as a tuple
    assert len(tuple(res)) == 6


@pytest.mark.parametrize("bad, match", [
    (dict(Y=np.zeros((5, 2))), "Y must have shape"),
    (dict(alpha=-1.0), "alpha"),
    (dict(sample_weight=np.zeros(5)), "sample_weight"),
    (dict(X=np.zeros((5, 4))), "features"),
    (dict(X=np.full((5, 3), np.nan)), "NaN"),
])
def test_backprop_rejects_bad_input(bad, match):
    net = Network((3, 4, 1), random_state=0)
    args = dict(X=np.zeros((5, 3)), Y=np.zeros(5), sample_weight=None, alpha=0.0)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        net.backprop(args["X"], args["Y"], sample_weight=args["sample_weight"],
                     alpha=args["alpha"])
