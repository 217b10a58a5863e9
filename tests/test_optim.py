"""In-place optimizer updates (fastbp._core._optim.step) against
scikit-learn's optimizers and plain numpy formulas."""
import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from fastbp._core import _optim

OPT = _optim.OPTIMIZERS
DTYPES = [np.float32, np.float64]
N_STEPS = 6
N_COEF = 7
P = 11


def rtol(dtype):
    return 1e-12 if dtype == np.float64 else 1e-5


def problem(dtype, seed=0):
    rng = np.random.RandomState(seed)
    p0 = rng.normal(size=P).astype(dtype)
    grads = [rng.normal(scale=s, size=P).astype(dtype)
             for s in np.linspace(0.5, 2.0, N_STEPS)]
    return p0, grads


def run_fastbp(kind, dtype, p0, grads, **hp):
    p = p0.copy()
    s1 = np.zeros(P, dtype=dtype)
    s2 = np.zeros(P, dtype=dtype) if kind in ("adam", "adamw") else np.empty(0, dtype)
    t = 0
    history = []
    for g in grads:
        t_new = _optim.step(OPT[kind], p, g, s1, s2, N_COEF, t, **hp)
        assert t_new == t + 1
        t = t_new
        assert p.dtype == dtype
        history.append(p.copy())
    return history, s1, s2


def test_optimizer_names():
    assert set(OPT) == {"sgd", "adam", "rmsprop", "adamw"}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.0, True),
                                                (0.9, False), (0.9, True)])
def test_sgd_matches_sklearn_and_numpy(momentum, nesterov, dtype):
    p0, grads = problem(dtype)
    lr = 0.05
    mine, vel, _ = run_fastbp("sgd", dtype, p0, grads, lr=lr, momentum=momentum,
                              nesterov=nesterov)
    # scikit-learn's optimizer, on the same flat parameter
    sk_p = p0.copy()
    opt = SGDOptimizer([sk_p], learning_rate_init=lr, momentum=momentum,
                       nesterov=nesterov)
    # plain numpy
    np_p = p0.astype(np.float64)
    v = np.zeros(P)
    for k, g in enumerate(grads):
        opt.update_params([sk_p], [g])
        g64 = g.astype(np.float64)
        v = momentum * v - lr * g64
        np_p = np_p + (momentum * v - lr * g64 if nesterov else v)
        np.testing.assert_allclose(mine[k], sk_p, rtol=rtol(dtype), atol=1e-7 if dtype == np.float32 else 0)
        np.testing.assert_allclose(mine[k], np_p, rtol=rtol(dtype), atol=1e-6 if dtype == np.float32 else 0)
    np.testing.assert_allclose(vel, v, rtol=rtol(dtype) * 10, atol=1e-6 if dtype == np.float32 else 0)
    if momentum == 0:
        np.testing.assert_allclose(mine[-1], p0 - lr * np.sum(grads, axis=0),
                                   rtol=rtol(dtype), atol=1e-6 if dtype == np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_matches_sklearn_and_numpy(dtype):
    p0, grads = problem(dtype, seed=1)
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-7
    mine, m_state, v_state = run_fastbp("adam", dtype, p0, grads, lr=lr, beta1=b1,
                                        beta2=b2, eps=eps)
    sk_p = p0.copy()
    opt = AdamOptimizer([sk_p], learning_rate_init=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    np_p = p0.astype(np.float64)
    m = np.zeros(P)
    v = np.zeros(P)
    for k, g in enumerate(grads):
        opt.update_params([sk_p], [g])
        t = k + 1
        g64 = g.astype(np.float64)
        m = b1 * m + (1 - b1) * g64
        v = b2 * v + (1 - b2) * g64 ** 2
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        np_p = np_p - lr_t * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(mine[k], sk_p, rtol=rtol(dtype), atol=1e-6 if dtype == np.float32 else 0)
        np.testing.assert_allclose(mine[k], np_p, rtol=rtol(dtype), atol=1e-6 if dtype == np.float32 else 0)
    np.testing.assert_allclose(m_state, m, rtol=rtol(dtype) * 10, atol=1e-6 if dtype == np.float32 else 0)
    np.testing.assert_allclose(v_state, v, rtol=rtol(dtype) * 10, atol=1e-6 if dtype == np.float32 else 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_bias_correction_uses_the_step_count(dtype):
    # Resuming at t = 10 with the state of 10 earlier steps: lr_t uses t = 11.
    p0, grads = problem(dtype, seed=2)
    g = grads[0]
    m0 = np.full(P, 0.1, dtype=dtype)
    v0 = np.full(P, 0.2, dtype=dtype)
    p = p0.copy()
    s1, s2 = m0.copy(), v0.copy()
    assert _optim.step(OPT["adam"], p, g, s1, s2, N_COEF, 10, lr=0.01) == 11
    g64 = g.astype(np.float64)
    m = 0.9 * m0.astype(float) + 0.1 * g64
    v = 0.999 * v0.astype(float) + 0.001 * g64 ** 2
    lr_t = 0.01 * np.sqrt(1 - 0.999 ** 11) / (1 - 0.9 ** 11)
    np.testing.assert_allclose(p, p0 - lr_t * m / (np.sqrt(v) + 1e-8), rtol=rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_matches_numpy(dtype):
    p0, grads = problem(dtype, seed=3)
    lr, rho, eps = 0.01, 0.9, 1e-6
    mine, s_state, _ = run_fastbp("rmsprop", dtype, p0, grads, lr=lr, beta2=rho, eps=eps)
    np_p = p0.astype(np.float64)
    s = np.zeros(P)
    for k, g in enumerate(grads):
        g64 = g.astype(np.float64)
        s = rho * s + (1 - rho) * g64 ** 2
        np_p = np_p - lr * g64 / (np.sqrt(s) + eps)
        np.testing.assert_allclose(mine[k], np_p, rtol=rtol(dtype), atol=1e-6 if dtype == np.float32 else 0)
    np.testing.assert_allclose(s_state, s, rtol=rtol(dtype) * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_is_adam_plus_decoupled_decay_on_weights_only(dtype):
    p0, grads = problem(dtype, seed=4)
    lr, wd, b1, b2, eps = 0.01, 0.3, 0.9, 0.99, 1e-8
    mine, _, _ = run_fastbp("adamw", dtype, p0, grads, lr=lr, beta1=b1, beta2=b2,
                            eps=eps, weight_decay=wd)
    plain, _, _ = run_fastbp("adam", dtype, p0, grads, lr=lr, beta1=b1, beta2=b2,
                             eps=eps, weight_decay=wd)
    np_p = p0.astype(np.float64)
    m = np.zeros(P)
    v = np.zeros(P)
    decay = np.zeros(P)
    decay[:N_COEF] = wd
    for k, g in enumerate(grads):
        t = k + 1
        g64 = g.astype(np.float64)
        m = b1 * m + (1 - b1) * g64
        v = b2 * v + (1 - b2) * g64 ** 2
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        np_p = np_p - lr * decay * np_p - lr_t * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(mine[k], np_p, rtol=rtol(dtype), atol=1e-6 if dtype == np.float32 else 0)
    # biases follow plain adam exactly; weights differ (adam ignores weight_decay)
    np.testing.assert_array_equal(mine[-1][N_COEF:], plain[-1][N_COEF:])
    assert np.all(mine[-1][:N_COEF] != plain[-1][:N_COEF])


def test_adamw_without_decay_is_adam():
    p0, grads = problem(np.float64, seed=5)
    a, _, _ = run_fastbp("adamw", np.float64, p0, grads, lr=0.01, weight_decay=0.0)
    b, _, _ = run_fastbp("adam", np.float64, p0, grads, lr=0.01)
    np.testing.assert_array_equal(a[-1], b[-1])


@pytest.mark.parametrize("kind", sorted(OPT))
def test_float32_state_stays_float32_and_tracks_float64(kind):
    p0, grads = problem(np.float64, seed=6)
    p0 = p0.astype(np.float32).astype(np.float64)
    grads = [g.astype(np.float32).astype(np.float64) for g in grads]
    hp = dict(lr=0.01, weight_decay=0.1)
    h64, _, _ = run_fastbp(kind, np.float64, p0, grads, **hp)
    h32, _, _ = run_fastbp(kind, np.float32, p0.astype(np.float32),
                           [g.astype(np.float32) for g in grads], **hp)
    np.testing.assert_allclose(h32[-1], h64[-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(OPT))
def test_bad_sizes_raise(kind):
    k = OPT[kind]
    p = np.zeros(5)
    s = np.zeros(5)
    with pytest.raises(ValueError, match="same length"):
        _optim.step(k, p, np.zeros(4), s, s.copy(), 3, 0, lr=0.1)
    with pytest.raises(ValueError, match="same length"):
        _optim.step(k, p, np.zeros(5), np.zeros(6), s.copy(), 3, 0, lr=0.1)
    with pytest.raises(ValueError, match="n_coef out of range"):
        _optim.step(k, p, np.zeros(5), s, s.copy(), 6, 0, lr=0.1)
    with pytest.raises(ValueError, match="n_coef out of range"):
        _optim.step(k, p, np.zeros(5), s, s.copy(), -1, 0, lr=0.1)
    if kind in ("adam", "adamw"):
        with pytest.raises(ValueError, match="adam needs two state buffers"):
            _optim.step(k, p, np.zeros(5), s, np.empty(0), 3, 0, lr=0.1)
        with pytest.raises(ValueError, match="adam needs two state buffers"):
            _optim.step(k, p, np.zeros(5), s, np.zeros(4), 3, 0, lr=0.1)
    # nothing was touched by the failed calls
    np.testing.assert_array_equal(p, 0)
    np.testing.assert_array_equal(s, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["adam", "sgd", "rmsprop"])
def test_updates_round_as_plain_numpy_bit_for_bit(kind, dtype):
    # The kernels are compiled twice (baseline x86-64 and AVX2, picked at
    # load time) and must round every operation alike: no fused a * b + c,
    # sums in source order. numpy's elementwise ops round each operation
    # once, so the same expression in the same order gives the same bits.
    # 1003 entries: the vector loop body and its scalar tail.
    n = 1003
    rng = np.random.RandomState(5)
    f = dtype
    p0 = (rng.standard_normal(n) * np.exp(rng.uniform(-8, 3, n))).astype(f)
    g = (rng.standard_normal(n) * np.exp(rng.uniform(-8, 3, n))).astype(f)
    s10 = (rng.standard_normal(n) * 0.1).astype(f)
    s20 = np.abs(rng.standard_normal(n) * 0.1).astype(f)
    p, s1, s2 = p0.copy(), s10.copy(), s20.copy()
    lr, t = 0.01, 4
    zero, one = f(0), f(1)
    gj = (g + zero * p0) * one
    if kind == "adam":
        _optim.step(OPT["adam"], p, g, s1, s2, n, t - 1, lr=lr)
        b1, b2, eps = f(0.9), f(0.999), f(1e-8)
        lr_t = f(lr * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t))
        m = b1 * s10 + (one - b1) * gj
        v = b2 * s20 + (one - b2) * gj * gj
        want = (p0 - zero * p0) - lr_t * m / (np.sqrt(v) + eps)
        np.testing.assert_array_equal(s1, m)
        np.testing.assert_array_equal(s2, v)
    elif kind == "sgd":
        _optim.step(OPT["sgd"], p, g, s1, s2[:0], n, t - 1, lr=lr,
                    momentum=0.9, nesterov=True)
        mu, lr_f = f(0.9), f(lr)
        u = mu * s10 - lr_f * gj
        want = p0 + (mu * u - lr_f * gj)
        np.testing.assert_array_equal(s1, u)
    else:
        s1 = s20.copy()     # (a mean square: never negative)
        _optim.step(OPT["rmsprop"], p, g, s1, s2[:0], n, t - 1, lr=lr,
                    beta2=0.9, eps=1e-8)
        rho, lr_f, eps = f(0.9), f(lr), f(1e-8)
        s = rho * s20 + (one - rho) * gj * gj
        want = p0 - lr_f * gj / (np.sqrt(s) + eps)
        np.testing.assert_array_equal(s1, s)
    np.testing.assert_array_equal(p, want)


def _sumsq_in_kernel_order(w):
    """fastbp_sumsq's order: 8 running sums over blocks of 8 entries, then
    the tail, then the 8 sums, all in float64, each in sequence."""
    w = w.astype(np.float64)
    nb = len(w) // 8
    acc = np.add.reduce((w[:8 * nb] * w[:8 * nb]).reshape(nb, 8), axis=0)  # row by row
    s = 0.0
    for x in w[8 * nb:]:
        s += x * x
    for a in acc:
        s += a
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
def test_the_sum_of_squares_for_the_l2_term_is_the_updated_weights(kind, dtype):
    # Adam sums the squares in its update's pass; the others after it. Both
    # give the sum of the updated weights (not the biases) in one order.
    rng = np.random.RandomState(3)
    n, n_coef = 1003, 997
    p = rng.standard_normal(n).astype(dtype)
    g = (rng.standard_normal(n) * 0.1).astype(dtype)
    s1 = np.zeros(n, dtype)
    s2 = np.zeros(n, dtype) if kind.startswith("adam") else s1[:0]
    t, sq = _optim.step(OPT[kind], p, g, s1, s2, n_coef, 0, lr=0.01,
                        weight_decay=0.01 if kind == "adamw" else 0.0,
                        want_sumsq=True)
    assert t == 1
    assert sq == _sumsq_in_kernel_order(p[:n_coef])
