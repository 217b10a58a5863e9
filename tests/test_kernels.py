"""Elementwise kernels: hidden activations, their derivatives and the output
losses, against numpy / scipy formulas and scikit-learn's loss functions."""
import numpy as np
import pytest
from scipy.special import erf, expit
from sklearn.neural_network._base import ACTIVATIONS as SK_ACTIVATIONS
from sklearn.neural_network._base import LOSS_FUNCTIONS

from fastbp import LOSS_OUTPUTS
from fastbp._core import _kernels

from conftest import ALL_ACTIVATIONS, ALL_LOSSES, make_targets

DTYPES = [np.float32, np.float64]


def tol(dtype):
    # float64 kernels agree with numpy to rounding; float32 to a few ulp.
    return dict(rtol=1e-12, atol=1e-15) if dtype == np.float64 else dict(rtol=2e-6, atol=1e-7)


def grid(dtype):
    x = np.concatenate([np.linspace(-100, 100, 401), np.linspace(-5, 5, 201),
                        [0.0, 1e-8, -1e-8, 1e-30, -1e-30, 30.0, -30.0, 88.0, -88.0]])
    return x.astype(dtype)


def ref_activation(name, x):
    """Exact value in float64 (for the float32 test, of the float32 input)."""
    x = x.astype(np.float64)
    return {
        "identity": lambda: x,
        "logistic": lambda: expit(x),
        "tanh": lambda: np.tanh(x),
        "relu": lambda: np.maximum(x, 0),
        "leaky_relu": lambda: np.where(x > 0, x, 0.01 * x),
        "elu": lambda: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
        "softplus": lambda: np.logaddexp(0, x),
        "gelu": lambda: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    }[name]()


def ref_derivative(name, x):
    x = x.astype(np.float64)
    return {
        "identity": lambda: np.ones_like(x),
        "logistic": lambda: expit(x) * (1 - expit(x)),
        "tanh": lambda: 1 - np.tanh(x) ** 2,
        "relu": lambda: (x > 0).astype(float),
        "leaky_relu": lambda: np.where(x > 0, 1.0, 0.01),
        "elu": lambda: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
        "softplus": lambda: expit(x),
        "gelu": lambda: (0.5 * (1 + erf(x / np.sqrt(2)))
                         + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)),
    }[name]()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_values_match_numpy(name, dtype):
    x = grid(dtype)
    a = x.copy()
    _kernels.activation(_kernels.ACTIVATIONS[name], a)
    assert a.dtype == dtype
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, ref_activation(name, x), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_derivatives_match_numpy(name, dtype):
    x = grid(dtype)
    # avoid relu / leaky_relu's kink at exactly 0 (no derivative there)
    if name in ("relu", "leaky_relu"):
        x = x[x != 0]
    a = x.copy()
    _kernels.activation(_kernels.ACTIVATIONS[name], a)
    delta = np.full_like(x, 1.0)
    _kernels.derivative(_kernels.ACTIVATIONS[name], delta, a, x)
    assert np.isfinite(delta).all()
    ref = ref_derivative(name, x)
    # derivatives computed from the output a = f(x) lose a little in float32
    t = tol(dtype) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    if name in ("logistic", "tanh", "softplus") and dtype == np.float64:
        t = dict(rtol=1e-9, atol=1e-15)   # e.g. 1 - a**2 for a near 1
    np.testing.assert_allclose(delta, ref, **t)
    # it multiplies delta in place
    delta2 = np.full_like(x, -3.0)
    _kernels.derivative(_kernels.ACTIVATIONS[name], delta2, a, x)
    np.testing.assert_allclose(delta2, -3.0 * delta, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_is_stable_for_large_inputs(dtype):
    x = np.array([-100, -50, -20, 20, 50, 100, 1000, -1000], dtype=dtype)
    a = x.copy()
    with np.errstate(all="raise"):
        _kernels.activation(_kernels.ACTIVATIONS["softplus"], a)
    assert np.isfinite(a).all() and (a >= 0).all()
    np.testing.assert_allclose(a[3:7], x[3:7], rtol=1e-7)       # softplus(x) = x
    np.testing.assert_allclose(a[:3], np.exp(x[:3].astype(float)),
                               rtol=1e-5 if dtype == np.float64 else 1e-2,
                               atol=0 if dtype == np.float64 else 1e-44)
    d = np.ones_like(x)
    _kernels.derivative(_kernels.ACTIVATIONS["softplus"], d, a, x)
    assert np.isfinite(d).all()
    np.testing.assert_allclose(d[3:7], 1.0)
    neg = d[[0, 1, 2, 7]]
    assert (neg < 1e-8).all() and (neg >= 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["logistic", "tanh", "elu", "gelu"])
def test_activations_do_not_overflow(name, dtype):
    x = np.array([-1e4, -700, -100, 100, 700, 1e4], dtype=dtype)
    a = x.copy()
    _kernels.activation(_kernels.ACTIVATIONS[name], a)
    assert np.isfinite(a).all()
    d = np.ones_like(x)
    _kernels.derivative(_kernels.ACTIVATIONS[name], d, a, x)
    assert np.isfinite(d).all()


def test_activation_constants():
    x = np.array([-2.0, 3.0])
    a = x.copy()
    _kernels.activation(_kernels.ACTIVATIONS["leaky_relu"], a)
    np.testing.assert_array_equal(a, [-0.02, 3.0])
    a = x.copy()
    _kernels.activation(_kernels.ACTIVATIONS["elu"], a)
    np.testing.assert_allclose(a, [np.exp(-2.0) - 1, 3.0], rtol=1e-15)
    a = np.array([1.0])
    _kernels.activation(_kernels.ACTIVATIONS["gelu"], a)
    np.testing.assert_allclose(a, [0.8413447460685429], rtol=1e-15)


def test_derivative_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        _kernels.derivative(0, np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="same length"):
        _kernels.derivative(0, np.ones(3), np.ones(3), np.ones(4))


# -- output losses ---------------------------------------------------------------
def logits(loss, n_out, dtype, rng):
    """Moderate logits, plus rows of +-50 to hit the log-loss clipping."""
    z = rng.normal(scale=1.5, size=(12, n_out))
    ext = np.where(rng.rand(8, n_out) > 0.5, 50.0, -50.0)
    if loss == "poisson":
        ext = ext / 5   # exp(+-10) keeps float32 well in range
    return np.ascontiguousarray(np.vstack([z, ext, np.zeros((1, n_out))]), dtype=dtype)


def sk_output(out_name, z):
    p = z.copy()
    SK_ACTIVATIONS[out_name](p)
    return p


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, n_out", [
    (loss, k) for loss in ALL_LOSSES for k in (1, 3)
    if not (loss == "log_loss" and k == 1)   # softmax needs 2 outputs
] + [("log_loss", 2)])
def test_output_loss_matches_sklearn(loss, n_out, dtype):
    rng = np.random.RandomState(0)
    z = logits(loss, n_out, dtype, rng)
    n = z.shape[0]
    y = make_targets(loss, n, n_out, rng).astype(dtype)
    # extreme rows: targets both agreeing and disagreeing with the logits
    w = rng.uniform(0.1, 3.0, size=n).astype(dtype)
    out_name = LOSS_OUTPUTS[loss]
    p_ref = sk_output(out_name, z)

    zz = z.copy()
    delta = np.empty_like(z)
    per_sample = _kernels.output_loss(_kernels.OUTPUTS[out_name], zz, y, w, delta)
    assert per_sample.shape == (n,)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    # z becomes the output activation
    np.testing.assert_allclose(zz, p_ref, rtol=rtol, atol=1e-30)
    # delta = w * (f(z) - y), unclipped
    np.testing.assert_allclose(delta, w[:, None] * (p_ref - y), rtol=rtol,
                               atol=1e-6 if dtype == np.float32 else 1e-15)
    # per-sample losses and their weighted mean are scikit-learn's
    loss_fn = LOSS_FUNCTIONS[loss]
    ref_rows = np.array([loss_fn(y[i:i + 1], p_ref[i:i + 1]) for i in range(n)])
    np.testing.assert_allclose(per_sample, ref_rows, rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(np.average(per_sample, weights=w),
                               loss_fn(y, p_ref, w), rtol=rtol)
    np.testing.assert_allclose(per_sample.mean(), loss_fn(y, p_ref), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss"])
def test_log_losses_clip_at_machine_epsilon(loss, dtype):
    eps = np.finfo(dtype).eps
    out = _kernels.OUTPUTS[LOSS_OUTPUTS[loss]]
    if loss == "log_loss":
        z = np.array([[50.0, -50.0], [-50.0, 50.0]], dtype=dtype)
        y = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=dtype)
    else:
        z = np.array([[50.0], [-50.0]], dtype=dtype)
        y = np.array([[0.0], [0.0]], dtype=dtype)
    w = np.ones(2, dtype=dtype)
    vals = _kernels.output_loss(out, z, y, w, np.empty_like(z))
    # a confidently wrong sample costs -log(eps), a right one -log(1 - eps)
    np.testing.assert_allclose(vals[0], -np.log(eps), rtol=1e-6)
    np.testing.assert_allclose(vals[1], -np.log1p(-eps), rtol=1e-6)
    assert np.isfinite(vals).all()


def test_squared_error_is_half_mean_over_outputs():
    z = np.array([[1.0, 2.0, 4.0]])
    y = np.array([[0.0, 0.0, 0.0]])
    val = _kernels.output_loss(_kernels.OUTPUTS["identity"], z, y, np.ones(1),
                               np.empty_like(z))
    np.testing.assert_allclose(val, [0.5 * (1 + 4 + 16) / 3], rtol=1e-15)


def test_poisson_is_half_deviance_summed_over_outputs():
    z = np.log(np.array([[2.0, 0.5]]))
    y = np.array([[3.0, 0.0]])
    val = _kernels.output_loss(_kernels.OUTPUTS["exp"], z, y, np.ones(1),
                               np.empty_like(z))
    ref = (3 * np.log(3 / 2) - 3 + 2) + (0 - 0 + 0.5)
    np.testing.assert_allclose(val, [ref], rtol=1e-14)


def test_output_loss_rejects_z_and_delta_in_the_same_memory():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match="must not overlap"):
        _kernels.output_loss(1, z, np.ones((3, 4)), np.ones(3), z)


def test_output_loss_rejects_mismatched_shapes():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match="agree in shape"):
        _kernels.output_loss(0, z, np.zeros((3, 3)), np.ones(3), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="agree in shape"):
        _kernels.output_loss(0, z, np.zeros((3, 2)), np.ones(2), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="agree in shape"):
        _kernels.output_loss(0, z, np.zeros((3, 2)), np.ones(3), np.zeros((2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_rows_is_numpys_argmax(dtype):
    rng = np.random.default_rng(0)
    Z = rng.integers(0, 4, (50, 7)).astype(dtype)     # many ties
    np.testing.assert_array_equal(_kernels.argmax_rows(Z), Z.argmax(axis=1))
    assert _kernels.argmax_rows(Z[:1]).dtype == np.intp
    with pytest.raises(ValueError, match="C-contiguous"):
        _kernels.argmax_rows(np.asfortranarray(Z))
    with pytest.raises(ValueError, match="no columns"):
        _kernels.argmax_rows(np.empty((3, 0), dtype=dtype))


# The softmax's exp (fastbp/_core/_exp_kernels.h): vectorized, its own code
# rather than the C library's, so it is checked here against an exact
# reference, and its three ways of being called against each other.

EXP_RANGE = {np.float32: (-103.9, 88.72), np.float64: (-745.0, 709.78)}


def _exp_reference(x):
    """exp of x in long double, where it has more digits than double."""
    return np.exp(x.astype(np.longdouble))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_exp_is_within_two_ulp(dtype):
    lo, hi = EXP_RANGE[dtype]
    rng = np.random.default_rng(0)
    top = np.log(np.finfo(dtype).max)           # the overflow limit
    # below: exp rounds to 0 (half the smallest subnormal)
    bottom = np.log(np.finfo(dtype).smallest_subnormal) - np.log(2)
    x = np.concatenate([np.linspace(lo, hi, 400_001), rng.uniform(-1, 1, 100_000),
                        rng.uniform(-20, 0, 100_000),
                        # the ends: the last subnormal results (ulp = the
                        # smallest subnormal) and the largest finite ones
                        np.linspace(bottom, lo, 2001),
                        np.linspace(hi, top, 2001)]).astype(dtype)
    x = x[(x.astype(np.float64) >= bottom) & (x.astype(np.float64) < top)]
    y = _kernels.softmax_exp(x)
    ref = _exp_reference(x)
    ulp = np.spacing(ref.astype(dtype)).astype(np.longdouble)
    err = np.abs(y.astype(np.longdouble) - ref) / ulp
    bound = 2.0 if np.finfo(np.longdouble).nmant > np.finfo(dtype).nmant + 8 else 3.0
    assert float(err.max()) <= bound, (float(err.max()), x[np.argmax(err)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_exp_edge_values(dtype):
    big = 89.0 if dtype == np.float32 else 710.0
    tiny = -104.0 if dtype == np.float32 else -746.0
    x = np.array([np.nan, np.inf, -np.inf, big, 1e30, tiny, -1e30, 0.0, -0.0],
                 dtype=dtype)
    y = _kernels.softmax_exp(x)
    assert np.isnan(y[0])
    assert y[1] == np.inf and y[3] == np.inf and y[4] == np.inf
    assert y[2] == 0 and y[5] == 0 and y[6] == 0
    assert y[7] == 1 and y[8] == 1
    # the largest and the subnormal results, as numpy has them
    last = np.nextafter(dtype(np.log(np.finfo(dtype).max)), dtype(0))
    sub = dtype(np.log(np.finfo(dtype).tiny)) - dtype(5)
    np.testing.assert_allclose(_kernels.softmax_exp(np.array([last, sub], dtype=dtype)),
                               np.exp(np.array([last, sub], dtype=dtype)), rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_exp_gives_the_same_bits_every_way(dtype):
    """Vectorized (any length: full vectors and the rest), in place and one
    value at a time: training, prediction and the loss without gradient
    call it these three ways and must agree."""
    rng = np.random.default_rng(1)
    for n in (1, 3, 7, 8, 9, 17, 1000):
        x = (rng.standard_normal(n) * 30).astype(dtype)
        x[rng.integers(0, n)] = np.nan
        a = _kernels.softmax_exp(x)
        b = _kernels.softmax_exp(x, in_place=True)
        c = _kernels.softmax_exp(x, one_at_a_time=True)
        assert a.tobytes() == b.tobytes() == c.tobytes()


def _rows(dtype, m, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, n)).astype(dtype)
    a[0, :3] = [0.0, -0.0, np.nan] if n >= 3 else a[0, :3]
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 16), (4, 33), (17, 100), (2, 1030)])
def test_bias_and_relu_give_numpys_bits(dtype, shape):
    # The passes after a forward product (compiled for the CPU's widest
    # vectors: _elementwise.h) round as numpy's elementwise add does, and
    # ReLU keeps a NaN (x <= 0 ? 0 : x).
    a = _rows(dtype, *shape, seed=shape[1])
    b = np.random.default_rng(1).standard_normal(shape[1]).astype(dtype)
    x = a + b
    relu, ident = a.copy(), a.copy()
    _kernels.bias_activate_rows(_kernels.ACTIVATIONS["relu"], relu, b)
    _kernels.bias_activate_rows(_kernels.ACTIVATIONS["identity"], ident, b)
    np.testing.assert_array_equal(relu.view(f"u{a.itemsize}"),
                                  np.where(x <= 0, dtype(0), x).view(f"u{a.itemsize}"))
    np.testing.assert_array_equal(ident.view(f"u{a.itemsize}"), x.view(f"u{a.itemsize}"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,j0,j1", [((1, 5), 0, 5), ((7, 33), 3, 30),
                                         ((256, 1024), 512, 1024), ((9, 17), 0, 17),
                                         ((3, 40), 16, 16), ((0, 12), 2, 9)])
def test_column_sums_add_row_after_row(dtype, shape, j0, j1):
    # A layer's bias gradient: each column summed from row 0 down, in the
    # layer's dtype (numpy's row-by-row adds give the same bits); columns
    # outside [j0, j1) untouched; zero=False adds to what is there.
    D = np.random.default_rng(shape[0]).standard_normal(shape).astype(dtype)
    ref = np.zeros(shape[1], dtype)
    for row in D:
        ref = ref + row
    gb = np.full(shape[1], 7, dtype)
    _kernels.column_sums_rows(D, gb, j0, j1)
    np.testing.assert_array_equal(gb[j0:j1], ref[j0:j1])
    assert (gb[:j0] == 7).all() and (gb[j1:] == 7).all()
    acc = np.full(shape[1], 0.5, dtype)
    _kernels.column_sums_rows(D, acc, j0, j1, zero=False)
    ref = np.full(shape[1], 0.5, dtype)
    for row in D:
        ref = ref + row
    np.testing.assert_array_equal(acc[j0:j1], ref[j0:j1])
    with pytest.raises(ValueError, match="one value per column"):
        _kernels.column_sums_rows(D, gb[:-1], 0, 1)
