"""Network: gradients, parity with scikit-learn's MLP, initialization,
parameter layout, precision, determinism and input validation."""
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import check_random_state

import fastbp
from fastbp import ACTIVATIONS, LOSS_OUTPUTS, Network

from conftest import (
    ALL_ACTIVATIONS, ALL_LOSSES, SKLEARN_ACTIVATIONS, make_net, make_problem,
    np_activation, np_forward, np_output, np_preactivations,
)

FD_EPS = 1e-6


def fd_gradient(net, X, Y, sw, alpha):
    """Central finite differences of the loss Network.loss_gradient reports."""
    p = net.params
    fd = np.empty_like(p)
    for j in range(p.shape[0]):
        old = p[j]
        p[j] = old + FD_EPS
        lp = net.loss_gradient(X, Y, sw, alpha, n_threads=1)[0]
        p[j] = old - FD_EPS
        lm = net.loss_gradient(X, Y, sw, alpha, n_threads=1)[0]
        p[j] = old
        fd[j] = (lp - lm) / (2 * FD_EPS)
    return fd


def flat_gradient(net, X, Y, sw, alpha, n_threads=1):
    loss, cg, ig = net.loss_gradient(X, Y, sw, alpha, n_threads=n_threads)
    return loss, np.concatenate([g.ravel() for g in cg + ig])


def assert_grad_close(grad, ref):
    scale = np.abs(ref).max()
    assert scale > 0
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-6 * scale)


def no_kinks(net, X, margin=1e-4):
    if net.activation not in ("relu", "leaky_relu"):
        return True
    return min(np.abs(z).min() for z in np_preactivations(net, X)) > margin


def kink_free_net(sizes, activation, loss, X, seed):
    """A net whose hidden pre-activations on X stay away from relu's kink,
    so that finite differences are valid (tries a few seeds)."""
    for rs in range(seed, seed + 50):
        net = make_net(sizes, activation, loss, random_state=rs)
        if no_kinks(net, X):
            return net
    raise AssertionError("no kink-free initialization found")


# -- gradient checks -----------------------------------------------------------
@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_loss_gradient_matches_finite_differences(activation, loss):
    sizes = (4, 5, 3, 3)
    X, Y, sw = make_problem(loss, n=20, sizes=sizes, seed=1)
    net = kink_free_net(sizes, activation, loss, X, seed=2)
    alpha = 0.3
    _, grad = flat_gradient(net, X, Y, sw, alpha)
    fd = fd_gradient(net, X, Y, sw, alpha)
    if loss == "squared_error":
        # Documented exception (scikit-learn's too): the data part of the
        # gradient is n_outputs times the gradient of the reported mean over
        # outputs; the L2 part is not scaled.
        k = sizes[-1]
        W = net.params[:net.n_coef]
        l2_grad = np.zeros_like(grad)
        l2_grad[:net.n_coef] = alpha * W / sw.sum()
        fd = k * (fd - l2_grad) + l2_grad
    assert_grad_close(grad, fd)


@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("activation", ["tanh", "gelu", "relu"])
def test_loss_gradient_matches_finite_differences_without_weights(activation, loss):
    sizes = (3, 4, 2) if loss == "log_loss" else (3, 4, 1)
    X, Y, _ = make_problem(loss, n=15, sizes=sizes, seed=3)
    net = kink_free_net(sizes, activation, loss, X, seed=4)
    _, grad = flat_gradient(net, X, Y, None, 0.0)
    # One output: the gradient is exactly the gradient of the reported loss.
    assert_grad_close(grad, fd_gradient(net, X, Y, None, 0.0))


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_squared_error_gradient_is_n_outputs_times_loss_gradient(alpha):
    sizes = (4, 5, 3, 4)
    X, Y, sw = make_problem("squared_error", n=12, sizes=sizes, seed=5)
    net = make_net(sizes, "tanh", "squared_error", random_state=6)
    _, grad = flat_gradient(net, X, Y, sw, alpha)
    fd = fd_gradient(net, X, Y, sw, alpha)
    if alpha == 0.0:
        assert_grad_close(grad, 4 * fd)
        # and it is *not* the plain gradient of the reported loss
        assert not np.allclose(grad, fd, rtol=1e-2)
    else:
        l2 = np.zeros_like(grad)
        l2[:net.n_coef] = alpha * net.params[:net.n_coef] / sw.sum()
        assert_grad_close(grad, 4 * (fd - l2) + l2)
    # with one output the two agree
    net1 = make_net((4, 5, 1), "tanh", "squared_error", random_state=6)
    _, g1 = flat_gradient(net1, X, Y[:, :1], sw, alpha)
    assert_grad_close(g1, fd_gradient(net1, X, Y[:, :1], sw, alpha))


def test_loss_value_matches_sklearn_definition():
    from sklearn.neural_network._base import LOSS_FUNCTIONS
    sizes = (4, 6, 3)
    for loss in ALL_LOSSES:
        X, Y, sw = make_problem(loss, n=17, sizes=sizes, seed=7)
        net = make_net(sizes, "tanh", loss, random_state=8)
        alpha = 0.2
        val = net.loss_gradient(X, Y, sw, alpha, n_threads=1)[0]
        P = np_forward(net, X)
        W = net.params[:net.n_coef]
        ref = LOSS_FUNCTIONS[loss](Y, P, sw) + 0.5 * alpha * W @ W / sw.sum()
        np.testing.assert_allclose(val, ref, rtol=1e-12, err_msg=loss)


# -- parity with scikit-learn's MLP -------------------------------------------
def sklearn_mlp(net, alpha):
    if net.loss in ("squared_error", "poisson"):
        clf = MLPRegressor(activation=net.activation, alpha=alpha, loss=net.loss)
    else:
        clf = MLPClassifier(activation=net.activation, alpha=alpha)
        clf.loss = "log_loss"
    clf.coefs_ = [c.copy() for c in net.coefs]
    clf.intercepts_ = [b.copy() for b in net.intercepts]
    clf.n_layers_ = net.n_layers
    clf.out_activation_ = net.out_activation
    return clf


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("activation", SKLEARN_ACTIVATIONS)
def test_forward_and_gradient_match_sklearn(activation, loss, sparse):
    sizes = (6, 7, 5, 3)
    X, Y, sw = make_problem(loss, n=40, sizes=sizes, seed=9)
    if sparse:
        X[np.abs(X) < 0.8] = 0
        X = sp.csr_matrix(X)
    net = make_net(sizes, activation, loss, random_state=10)
    alpha = 0.1
    clf = sklearn_mlp(net, alpha)
    L = net.n_layers
    acts = clf._forward_pass([X] + [None] * (L - 1))
    np.testing.assert_allclose(net.forward(X), acts[-1], rtol=1e-12, atol=1e-14)
    mine = net.forward(X, return_activations=True)
    assert len(mine) == L
    for a, b in zip(mine[1:], acts[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)

    for weights in (None, sw):
        acts = [X] + [None] * (L - 1)
        deltas = [None] * (L - 1)
        cg = [None] * (L - 1)
        ig = [None] * (L - 1)
        ref_loss, ref_cg, ref_ig = clf._backprop(X, Y, weights, acts, deltas, cg, ig)
        loss_val, my_cg, my_ig = net.loss_gradient(X, Y, weights, alpha)
        np.testing.assert_allclose(loss_val, ref_loss, rtol=1e-12)
        for a, b in zip(my_cg + my_ig, ref_cg + ref_ig):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


def test_loss_gradient_over_many_chunks_and_threads_matches_sklearn():
    # More rows than one chunk (256): chunked, and split over 2 threads.
    sizes = (5, 16, 3)
    X, Y, sw = make_problem("log_loss", n=900, sizes=sizes, seed=11)
    net = make_net(sizes, "relu", "log_loss", random_state=12)
    clf = sklearn_mlp(net, 0.01)
    L = net.n_layers
    ref_loss, ref_cg, ref_ig = clf._backprop(
        X, Y, sw, [X] + [None] * (L - 1), [None] * (L - 1), [None] * (L - 1),
        [None] * (L - 1))
    ref = np.concatenate([g.ravel() for g in ref_cg + ref_ig])
    results = {}
    for T in (1, 2):
        loss, g = flat_gradient(net, X, Y, sw, 0.01, n_threads=T)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
        np.testing.assert_allclose(g, ref, rtol=1e-11, atol=1e-14)
        # bitwise reproducible for a fixed thread count
        loss2, g2 = flat_gradient(net, X, Y, sw, 0.01, n_threads=T)
        assert loss2 == loss
        np.testing.assert_array_equal(g2, g)
        results[T] = g
    np.testing.assert_allclose(results[1], results[2], rtol=1e-12, atol=1e-15)
    out1 = net.forward(X, n_threads=1)
    out2 = net.forward(X, n_threads=2)
    np.testing.assert_allclose(out1, out2, rtol=1e-13)
    np.testing.assert_allclose(out1, np_forward(net, X), rtol=1e-12)


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "softplus", "gelu"])
def test_forward_matches_numpy_for_activations_sklearn_lacks(activation):
    sizes = (4, 6, 5, 2)
    X, _, _ = make_problem("squared_error", n=30, sizes=sizes, seed=13)
    for loss in ALL_LOSSES:
        net = make_net(sizes, activation, loss, random_state=14)
        np.testing.assert_allclose(net.forward(X), np_forward(net, X),
                                   rtol=1e-12, atol=1e-14)


# -- initialization and layout --------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_init_draws_exactly_as_sklearn(activation, dtype):
    sizes = (7, 5, 4, 3)
    net = Network(sizes, activation=activation, dtype=dtype, random_state=42)
    rng = np.random.RandomState(42)
    factor = 2.0 if activation == "logistic" else 6.0
    for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = np.sqrt(factor / (a + b))
        W = rng.uniform(-bound, bound, (a, b)).astype(dtype)
        c = rng.uniform(-bound, bound, b).astype(dtype)
        assert net.coefs[l].dtype == dtype
        np.testing.assert_array_equal(net.coefs[l], W)
        np.testing.assert_array_equal(net.intercepts[l], c)
    # and against scikit-learn's own _initialize
    clf = MLPRegressor(hidden_layer_sizes=sizes[1:-1], activation=activation)
    clf._random_state = check_random_state(42)
    clf._initialize(np.zeros((2, sizes[-1])), list(sizes), dtype)
    for mine, ref in zip(net.coefs + net.intercepts, clf.coefs_ + clf.intercepts_):
        assert ref.dtype == mine.dtype
        np.testing.assert_array_equal(mine, ref)


def test_init_params_redraws_in_place_and_accepts_random_state_instance():
    net = Network((3, 4, 2), activation="tanh", random_state=0)
    buf = net.params
    first = net.params.copy()
    net.init_params(np.random.RandomState(0))
    assert net.params is buf
    np.testing.assert_array_equal(net.params, first)
    net.init_params(1)
    assert not np.array_equal(net.params, first)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_params_is_one_buffer_and_coefs_intercepts_are_views(dtype):
    sizes = (4, 5, 3, 2)
    net = Network(sizes, activation="tanh", dtype=dtype, random_state=0)
    p = net.params
    assert p.ndim == 1 and p.flags.c_contiguous and p.dtype == dtype
    n_coef = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    assert net.n_coef == n_coef
    assert p.shape == (n_coef + sum(sizes[1:]),) == (net.n_params,)
    # layout: every weight (row-major), then every bias
    flat = np.concatenate([c.ravel() for c in net.coefs] + list(net.intercepts))
    np.testing.assert_array_equal(p, flat)
    for arr in net.coefs + net.intercepts:
        assert np.shares_memory(arr, p)
        assert arr.base is not None
    assert [c.shape for c in net.coefs] == [(4, 5), (5, 3), (3, 2)]
    assert [b.shape for b in net.intercepts] == [(5,), (3,), (2,)]
    # writing through a view changes params and the forward pass
    X = np.random.RandomState(1).normal(size=(6, 4))
    before = net.forward(X).copy()
    net.coefs[1][2, 1] += 0.5
    assert p[4 * 5 + 2 * 3 + 1] == net.coefs[1][2, 1]
    net.intercepts[2][:] = 3.0
    np.testing.assert_array_equal(p[-2:], [3.0, 3.0])
    after = net.forward(X)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, np_forward(net, X),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)
    # and writing into params changes the views
    p[0] = 7.0
    assert net.coefs[0][0, 0] == 7.0


def test_set_params_copies_into_buffer_and_checks_shapes():
    net = Network((3, 4, 2), random_state=0)
    buf = net.params
    W = [np.ones((3, 4)), np.full((4, 2), 2.0)]
    b = [np.zeros(4), np.full(2, -1.0)]
    net.set_params(W, b)
    assert net.params is buf
    np.testing.assert_array_equal(net.params[:12], 1.0)
    np.testing.assert_array_equal(net.params[12:20], 2.0)
    np.testing.assert_array_equal(net.params[-2:], -1.0)
    with pytest.raises(ValueError, match="does not fit"):
        net.set_params([np.ones((4, 3)), W[1]], b)
    with pytest.raises(ValueError, match="expected 2 weight matrices"):
        net.set_params(W[:1], b)


def test_copy_and_pickle_keep_views_into_their_own_buffer():
    import pickle
    net = Network((3, 4, 2), activation="gelu", random_state=0)
    for other in (net.copy(), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other.params, net.params)
        assert not np.shares_memory(other.params, net.params)
        other.coefs[0][0, 0] = 99.0
        assert other.params[0] == 99.0
        assert net.params[0] != 99.0


# -- precision and determinism ---------------------------------------------------
@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_float32_agrees_with_float64(activation, loss):
    sizes = (5, 8, 6, 3)
    X, Y, sw = make_problem(loss, n=50, sizes=sizes, seed=15)
    n64 = make_net(sizes, activation, loss, np.float64, random_state=16)
    n32 = make_net(sizes, activation, loss, np.float32, random_state=16)
    np.testing.assert_array_equal(n32.params, n64.params.astype(np.float32))
    n64.params[:] = n32.params  # same (float32-representable) weights
    out32 = n32.forward(X.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, n64.forward(X), rtol=1e-4, atol=1e-5)
    l32, cg32, ig32 = n32.loss_gradient(X.astype(np.float32), Y, sw, 0.1)
    l64, cg64, ig64 = n64.loss_gradient(X, Y, sw, 0.1)
    assert all(g.dtype == np.float32 for g in cg32 + ig32)
    np.testing.assert_allclose(l32, l64, rtol=1e-4)
    g32 = np.concatenate([g.ravel() for g in cg32 + ig32])
    g64 = np.concatenate([g.ravel() for g in cg64 + ig64])
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * np.abs(g64).max())


def test_fixed_random_state_is_deterministic():
    sizes = (4, 9, 3)
    X, Y, sw = make_problem("log_loss", n=30, sizes=sizes, seed=17)
    a = make_net(sizes, "gelu", "log_loss", random_state=3)
    b = make_net(sizes, "gelu", "log_loss", random_state=3)
    c = make_net(sizes, "gelu", "log_loss", random_state=4)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    np.testing.assert_array_equal(a.forward(X), b.forward(X))
    la, ga = flat_gradient(a, X, Y, sw, 0.1)
    lb, gb = flat_gradient(b, X, Y, sw, 0.1)
    assert la == lb
    np.testing.assert_array_equal(ga, gb)


def test_loss_gradient_returns_views_of_one_flat_array():
    net = make_net((3, 4, 2), "tanh", "squared_error")
    X, Y, _ = make_problem("squared_error", n=5, sizes=(3, 4, 2))
    _, cg, ig = net.loss_gradient(X, Y)
    base = cg[0].base
    assert base is not None and base.ndim == 1 and base.shape == net.params.shape
    for g in cg + ig:
        assert np.shares_memory(g, base)
    assert not np.shares_memory(base, net.params)


def test_public_names():
    assert set(ACTIVATIONS) == {"identity", "logistic", "tanh", "relu",
                                "leaky_relu", "elu", "softplus", "gelu"}
    assert LOSS_OUTPUTS == {"squared_error": "identity", "log_loss": "softmax",
                            "binary_log_loss": "logistic", "poisson": "exp"}
    assert fastbp.Network is Network
    net = Network((2, 3, 1), loss="poisson")
    assert net.out_activation == "exp" and net.n_layers == 3


# -- validation ------------------------------------------------------------------
@pytest.fixture
def net3():
    return Network((3, 4, 2), activation="relu", loss="squared_error", random_state=0)


def test_wrong_X_width_is_rejected(net3):
    with pytest.raises(ValueError, match="X has 4 features, the network takes 3"):
        net3.forward(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="X has 2 features"):
        net3.loss_gradient(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="X has 5 features"):
        net3.forward(sp.csr_matrix(np.ones((2, 5))))


def test_bad_X_shape_dtype_and_size_are_rejected(net3):
    with pytest.raises(ValueError, match="X must be 2-D"):
        net3.forward(np.zeros(3))
    with pytest.raises(ValueError, match="X must be numeric"):
        net3.forward(np.array([["a", "b", "c"]]))
    with pytest.raises(ValueError, match="X has no samples"):
        net3.forward(np.zeros((0, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_X_is_rejected(net3, bad):
    X = np.ones((4, 3))
    X[2, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net3.forward(X)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net3.loss_gradient(X, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net3.forward(sp.csr_matrix(X))


def test_wrong_Y_is_rejected(net3):
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 2\), got \(4, 3\)"):
        net3.loss_gradient(X, np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 2\)"):
        net3.loss_gradient(X, np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 2\)"):
        net3.loss_gradient(X, np.zeros(4))
    with pytest.raises(ValueError, match="Y contains NaN or infinity"):
        net3.loss_gradient(X, np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="Y must be numeric"):
        net3.loss_gradient(X, np.full((4, 2), "a"))


def test_one_output_accepts_1d_Y():
    net = Network((3, 4, 1), activation="tanh", random_state=0)
    X, Y, _ = make_problem("squared_error", n=6, sizes=(3, 4, 1))
    l1, g1, _ = net.loss_gradient(X, Y.ravel())
    l2, g2, _ = net.loss_gradient(X, Y)
    assert l1 == l2
    np.testing.assert_array_equal(g1[0], g2[0])


def test_bad_sample_weight_is_rejected(net3):
    X, Y = np.ones((4, 3)), np.zeros((4, 2))
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        net3.loss_gradient(X, Y, np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        net3.loss_gradient(X, Y, np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        net3.loss_gradient(X, Y, np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must not sum to zero"):
        net3.loss_gradient(X, Y, np.zeros(4))


def test_scalar_sample_weight_is_uniform(net3):
    X, Y, _ = make_problem("squared_error", n=5, sizes=(3, 4, 2))
    # The L2 term is divided by sum(sample_weight), as in scikit-learn: a
    # uniform weight of 2 halves its effect.
    l0, g0, _ = net3.loss_gradient(X, Y, None, 0.1)
    l1, g1, _ = net3.loss_gradient(X, Y, 2.0, 0.2)
    np.testing.assert_allclose(l1, l0, rtol=1e-14)
    np.testing.assert_allclose(g1[0], g0[0], rtol=1e-14)


@pytest.mark.parametrize("alpha", [-0.1, np.nan, np.inf, "a"])
def test_bad_alpha_is_rejected(net3, alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        net3.loss_gradient(np.ones((2, 3)), np.zeros((2, 2)), None, alpha)


def test_bad_network_definitions_are_rejected():
    with pytest.raises(ValueError, match="activation must be one of"):
        Network((2, 3, 1), activation="swish")
    with pytest.raises(ValueError, match="loss must be one of"):
        Network((2, 3, 1), loss="hinge")
    with pytest.raises(ValueError, match="loss 'log_loss' goes with out_activation "
                                         "'softmax', got 'logistic'"):
        Network((2, 3, 2), loss="log_loss", out_activation="logistic")
    with pytest.raises(ValueError, match="goes with out_activation 'identity'"):
        Network((2, 3, 1), loss="squared_error", out_activation="exp")
    with pytest.raises(ValueError, match="log_loss .softmax. needs at least 2 outputs"):
        Network((2, 3, 1), loss="log_loss")
    with pytest.raises(ValueError, match="needs an input and an output width"):
        Network((3,))
    with pytest.raises(ValueError, match="layer sizes must be positive integers"):
        Network((3, 0, 1))
    with pytest.raises(ValueError, match="layer sizes must be positive integers"):
        Network((3, 2.5, 1))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        Network((3, 1), dtype=np.int32)
    # the matching out_activation is accepted
    Network((2, 3, 2), loss="log_loss", out_activation="softmax")


@pytest.mark.parametrize("loss", ALL_LOSSES)
@pytest.mark.parametrize("sizes", [(4, 3), (3, 6, 4, 5, 2)])
def test_gradient_of_linear_and_deep_networks_matches_finite_differences(sizes, loss):
    X, Y, sw = make_problem(loss, n=11, sizes=sizes, seed=21)
    sw[3] = 0.0   # a zero weight removes a sample
    net = make_net(sizes, "gelu", loss, random_state=22)
    _, grad = flat_gradient(net, X, Y, sw, 0.2)
    fd = fd_gradient(net, X, Y, sw, 0.2)
    if loss == "squared_error":
        l2 = np.zeros_like(grad)
        l2[:net.n_coef] = 0.2 * net.params[:net.n_coef] / sw.sum()
        fd = sizes[-1] * (fd - l2) + l2
    assert_grad_close(grad, fd)
    # the zero-weight sample has no influence at all
    keep = np.arange(11) != 3
    loss_all, g_all = flat_gradient(net, X, Y, sw, 0.2)
    loss_keep, g_keep = flat_gradient(net, X[keep], Y[keep], sw[keep], 0.2)
    np.testing.assert_allclose(loss_all, loss_keep, rtol=1e-13)
    np.testing.assert_allclose(g_all, g_keep, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation", ALL_ACTIVATIONS)
def test_forward_return_activations_lists_every_layer(activation, sparse):
    sizes = (5, 7, 4, 6, 3)
    X, _, _ = make_problem("log_loss", n=9, sizes=sizes, seed=23)
    net = make_net(sizes, activation, "log_loss", random_state=24)
    Xin = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0)) if sparse else X
    Xd = Xin.toarray() if sparse else X
    acts = net.forward(Xin, return_activations=True)
    assert len(acts) == net.n_layers
    assert acts[0] is Xin
    a = Xd
    for l, (W, b) in enumerate(zip(net.coefs, net.intercepts)):
        z = a @ W + b
        last = l == len(net.coefs) - 1
        a = np_output("softmax", z) if last else np_activation(activation, z)
        assert acts[l + 1].shape == (9, sizes[l + 1])
        np.testing.assert_allclose(acts[l + 1], a, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(acts[-1], net.forward(Xin))


def csr_with_duplicates(seed=0, n=8, n_features=4):
    """A valid CSR matrix that stores some (row, column) entries twice; scipy
    (and scikit-learn) read such an entry as the sum of its stored values."""
    rng = np.random.RandomState(seed)
    data, indices, indptr = [], [], [0]
    for i in range(n):
        cols = [i % n_features, i % n_features, (i + 1) % n_features]
        data += list(rng.normal(size=3))
        indices += cols
        indptr.append(len(indices))
    X = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)),
                      shape=(n, n_features))
    assert not X.has_canonical_format
    return X


def test_csr_with_duplicate_entries_reads_as_scipy_does():
    X = csr_with_duplicates()
    Xd = X.toarray()   # duplicates summed
    net = make_net((4, 5, 2), "tanh", "squared_error", random_state=0)
    Y = np.random.RandomState(1).normal(size=(8, 2))
    np.testing.assert_allclose(net.forward(X), net.forward(Xd), rtol=1e-12)
    ls, gs, _ = net.loss_gradient(X, Y)
    ld, gd, _ = net.loss_gradient(Xd, Y)
    np.testing.assert_allclose(ls, ld, rtol=1e-12)
    np.testing.assert_allclose(gs[0], gd[0], rtol=1e-12)


def test_loss_gradient_names_the_shape_it_got_for_integer_labels():
    import fastbp
    net = fastbp.Network((4, 3, 3), loss="log_loss", random_state=0)
    X = np.random.RandomState(0).normal(size=(5, 4))
    with pytest.raises(ValueError, match=r"got \(5,\) .*one-hot"):
        net.loss_gradient(X, np.array([0, 1, 2, 0, 1]))
