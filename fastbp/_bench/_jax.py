"""The whole-epoch compiled peer: JAX/XLA, as a JAX user writes it.

The whole epoch is one ``jax.jit`` program: a ``lax.scan`` over the
shuffled full mini-batches (and one more step for a last, shorter batch),
optax's Adam (lr 1e-3, betas 0.9 / 0.999, eps 1e-8), ReLU hidden layers and
softmax cross-entropy, from scikit-learn's Glorot-uniform initialization.
XLA fuses the elementwise work into its neighbours and picks its own
layouts. The program is compiled ahead of each shape's first timed fit, and
that compile time (and a first run on zeros) is reported apart
(``COMPILE_SECONDS``), never counted in a fit. XLA runs on its own thread pool, all cores unless ``XLA_FLAGS`` set
before JAX is imported say otherwise; ``threads`` does not change it.

Needs ``pip install fastbp[jax]`` (jax and optax); ``fastbp bench`` leaves
JAX out with a note where they are missing.
"""
import time

import numpy as np

#: {(layer sizes, batch, rows, dtype): seconds} of each program's compile.
COMPILE_SECONDS = {}
_PROGRAMS = {}


def have_jax():
    """Whether jax and optax import."""
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except Exception:
        return False
    return True


def glorot_params(sizes, dtype, seed):
    """scikit-learn's initialization for ReLU networks: weights and biases
    uniform in +-sqrt(6 / (fan_in + fan_out))."""
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / (a + b))
        params.append((rng.uniform(-bound, bound, (a, b)).astype(dtype),
                       rng.uniform(-bound, bound, b).astype(dtype)))
    return params


def _program(sizes, batch, n, dtype):
    """(compiled epoch, optimizer) for these shapes, compiled once."""
    key = (tuple(sizes), batch, n, np.dtype(dtype).name)
    if key in _PROGRAMS:
        return _PROGRAMS[key]
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.adam(1e-3, b1=0.9, b2=0.999, eps=1e-8)
    n_full, tail = divmod(n, batch)

    def loss_fn(params, x, y):
        for W, b in params[:-1]:
            x = jax.nn.relu(x @ W + b)
        W, b = params[-1]
        return optax.softmax_cross_entropy_with_integer_labels(x @ W + b, y).mean()

    def step(params, state, X, Y, idx):
        loss, grads = jax.value_and_grad(loss_fn)(params, X[idx], Y[idx])
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    def epoch(params, state, X, Y, rng):
        perm = jax.random.permutation(rng, n)

        def body(carry, idx):
            params, state = carry
            params, state, loss = step(params, state, X, Y, idx)
            return (params, state), loss

        (params, state), losses = jax.lax.scan(
            body, (params, state), perm[:n_full * batch].reshape(n_full, batch))
        total = losses.sum() * batch
        if tail:
            params, state, loss = step(params, state, X, Y, perm[n_full * batch:])
            total = total + loss * tail
        return params, state, total / n

    params = [(jnp.zeros((a, b), dtype), jnp.zeros(b, dtype))
              for a, b in zip(sizes[:-1], sizes[1:])]
    args = (params, opt.init(params), jnp.zeros((n, sizes[0]), dtype),
            jnp.zeros(n, jnp.int32), jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    compiled = jax.jit(epoch).lower(*args).compile()
    COMPILE_SECONDS[key] = time.perf_counter() - t0
    # The first run of a program also sets up XLA's runtime for it (tens of
    # epochs' time on digits); it is part of compiling, not of training.
    jax.block_until_ready(compiled(*args))
    _PROGRAMS[key] = compiled, opt
    return _PROGRAMS[key]


def fit_jax(X, y, hidden, batch, epochs, threads, seed=0):
    """Train the JAX program for `epochs` epochs from a fresh model.

    Returns (seconds, loss_curve, params): the seconds of initialization,
    moving X and y to JAX and the epochs, without the compile.
    """
    import jax
    import jax.numpy as jnp

    n = X.shape[0]
    sizes = [X.shape[1], *hidden, int(np.max(y)) + 1]
    bs = min(batch, n)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float32
    compiled, opt = _program(sizes, bs, n, dtype)
    t0 = time.perf_counter()
    params = [(jnp.asarray(W), jnp.asarray(b))
              for W, b in glorot_params(sizes, dtype, seed)]
    Xj = jnp.asarray(X, dtype=dtype)
    Yj = jnp.asarray(y, dtype=jnp.int32)
    state = opt.init(params)
    rng = jax.random.PRNGKey(seed)
    curve = []
    for _ in range(epochs):
        rng, sub = jax.random.split(rng)
        params, state, loss = compiled(params, state, Xj, Yj, sub)
        curve.append(loss)
    jax.block_until_ready(params)
    dt = time.perf_counter() - t0
    return dt, [float(c) for c in curve], params
