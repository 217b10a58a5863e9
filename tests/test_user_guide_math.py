"""The formulas of the user guide's "How training works" page
(docs/user_guide/training.rst), written again here in numpy exactly as the
page states them, and compared with what fastbp computes: Network's
forward pass, loss, deltas and gradients, its initial weights, and the
estimators' optimizer steps, mini-batches, schedules and stopping rules.
Each test names the page's section it pins (its label in brackets): a change
to a formula there must change the code, or this test, and the page.
"""
import math
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor, Network

# -- the page's formulas ---------------------------------------------------


def f(name, z):
    """The hidden activations used here ("The model")."""
    return {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0),
            "logistic": lambda z: 1 / (1 + np.exp(-z))}[name](z)


def f_prime(name, z):
    a = f(name, z)
    return {"tanh": 1 - a ** 2, "relu": (z > 0).astype(z.dtype),
            "logistic": a * (1 - a)}[name]


def g(loss, z):
    """The output activation that goes with each loss ("The model")."""
    if loss == "squared_error":
        return z
    if loss == "log_loss":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if loss == "binary_log_loss":
        return 1 / (1 + np.exp(-z))
    return np.exp(z)


def ell(loss, y_hat, y, eps):
    """Per-sample losses ("The cost function"), one value per row."""
    k = y.shape[1]
    if loss == "squared_error":
        return ((y_hat - y) ** 2).sum(axis=1) / (2 * k)
    p = np.clip(y_hat, eps, 1 - eps)
    if loss == "log_loss":
        return -(y * np.log(p)).sum(axis=1)
    if loss == "binary_log_loss":
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / y_hat), 0)
    return (ylogy - y + y_hat).sum(axis=1)


def forward(net, X):
    """A_0 = X, Z_l = A_{l-1} W_l + b_l, A_l = f(Z_l), A_L = g(Z_L)."""
    A, Z = [X], []
    L = len(net.coefs)
    for l, (W, b) in enumerate(zip(net.coefs, net.intercepts), start=1):
        Z.append(A[-1] @ W + b)
        A.append(f(net.activation, Z[-1]) if l < L else g(net.loss, Z[-1]))
    return A, Z


def J(net, X, Y, w, alpha, *, penalty=True):
    """J = 1/S sum_i w_i l_i + alpha / (2 S) sum_l ||W_l||^2."""
    S = w.sum()
    A, _ = forward(net, X)
    eps = np.finfo(net.dtype).eps
    data = (w * ell(net.loss, A[-1], Y, eps)).sum() / S
    l2 = alpha / (2 * S) * sum((W ** 2).sum() for W in net.coefs)
    return data + (l2 if penalty else 0.0)


def backprop(net, X, Y, w, alpha):
    """delta_L = diag(w)(Y_hat - Y) / S, delta_l = (delta_{l+1} W_{l+1}^T)
    * f'(Z_l); dJ/dW_l = A_{l-1}^T delta_l + alpha / S W_l, dJ/db_l =
    delta_l^T 1, dJ/dX = delta_1 W_1^T ("Backpropagation")."""
    S = w.sum()
    A, Z = forward(net, X)
    L = len(net.coefs)
    deltas = [None] * L
    deltas[L - 1] = w[:, None] * (A[-1] - Y) / S
    for l in range(L - 1, 0, -1):       # the page's l = L - 1, ..., 1
        deltas[l - 1] = (deltas[l] @ net.coefs[l].T) * f_prime(net.activation, Z[l - 1])
    dW = [A[l].T @ deltas[l] + alpha / S * net.coefs[l] for l in range(L)]
    db = [d.sum(axis=0) for d in deltas]
    return A, deltas, dW, db, deltas[0] @ net.coefs[0].T


def glorot(sizes, activation, random_state):
    """U(-r, r), r = sqrt(c / (d_{l-1} + d_l)), c = 2 (logistic) or 6,
    weights then biases, layer by layer ("Initial weights")."""
    rng = np.random.RandomState(random_state)
    c = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        r = math.sqrt(c / (d_in + d_out))
        coefs.append(rng.uniform(-r, r, (d_in, d_out)))
        intercepts.append(rng.uniform(-r, r, d_out))
    return coefs, intercepts


class Solver:
    """One update of the page's rules ("The update rules"), in numpy, over
    the flat parameters (weights first, n_coef of them)."""

    def __init__(self, solver, n_params, n_coef, *, lr, momentum=0.9,
                 nesterov=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8, alpha=0.0):
        self.solver, self.n_coef, self.lr = solver, n_coef, lr
        self.mu, self.nesterov = momentum, nesterov
        self.b1, self.b2, self.eps, self.alpha = beta_1, beta_2, epsilon, alpha
        self.v = np.zeros(n_params)     # velocity, RMSProp's s, Adam's v
        self.m = np.zeros(n_params)
        self.t = 0

    def step(self, theta, grad):
        eta = self.lr
        if self.solver == "sgd":
            self.v = self.mu * self.v - eta * grad
            if self.nesterov:
                return theta + self.mu * self.v - eta * grad
            return theta + self.v
        if self.solver == "rmsprop":
            self.v = self.b2 * self.v + (1 - self.b2) * grad ** 2
            return theta - eta * grad / (np.sqrt(self.v) + self.eps)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad ** 2
        eta_t = eta * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        new = theta.copy()
        if self.solver == "adamw":      # W <- W - eta alpha W, weights only
            new[:self.n_coef] -= eta * self.alpha * theta[:self.n_coef]
        return new - eta_t * self.m / (np.sqrt(self.v) + self.eps)


def flat(arrays):
    return np.concatenate([a.ravel() for a in arrays])


def problem(loss, k, n=12, d=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    if loss == "squared_error":
        Y = rng.normal(size=(n, k))
    elif loss == "log_loss":
        Y = np.eye(k)[rng.randint(0, k, size=n)]
    elif loss == "binary_log_loss":
        Y = rng.randint(0, 2, size=(n, k)).astype(float)
    else:
        Y = rng.poisson(1.5, size=(n, k)).astype(float)
    w = rng.uniform(0.5, 2.0, size=n)
    return X, Y, w


LOSS_K = [(loss, k) for loss in ("squared_error", "log_loss", "binary_log_loss", "poisson")
          for k in ((2, 3) if loss == "log_loss" else (1, 3))]


# -- the tests ---------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "logistic"])
def test_model_forward_pass_is_the_pages(activation):
    # [training_model]
    X, Y, w = problem("log_loss", 3)
    net = Network((4, 6, 5, 3), activation=activation, loss="log_loss", random_state=1)
    A, _ = forward(net, X)
    got = net.forward(X, return_activations=True)
    for a, b in zip(A, got):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    sizes = net.layer_sizes
    assert net.n_params == sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


@pytest.mark.parametrize("loss,k", LOSS_K)
def test_cost_function_is_the_pages(loss, k):
    # [training_cost]: J with sample weights and the L2 term alpha / (2 S)
    X, Y, w = problem(loss, k)
    net = Network((4, 5, k), activation="tanh", loss=loss, random_state=0)
    for alpha in (0.0, 0.3):
        expected = J(net, X, Y, w, alpha)
        assert net.loss_gradient(X, Y, w, alpha=alpha)[0] == pytest.approx(expected, rel=1e-12)
        assert net.backprop(X, Y, w, alpha=alpha).loss == pytest.approx(expected, rel=1e-12)
    # without sample weights, S = n
    ones = np.ones(X.shape[0])
    assert net.loss_gradient(X, Y, alpha=0.3)[0] == pytest.approx(
        J(net, X, Y, ones, 0.3), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss"])
def test_log_losses_clip_the_probability_at_machine_epsilon(loss, dtype):
    # [training_cost]: a confidently wrong prediction costs -log(eps)
    net = Network((1, 2), activation="tanh", loss=loss, dtype=dtype, random_state=0)
    net.params[...] = 0
    net.intercepts[0][...] = [200.0, -200.0]    # p = 1 for output 0
    X = np.zeros((1, 1))
    Y = np.array([[0.0, 1.0]])
    eps = float(np.finfo(dtype).eps)
    per_output = -math.log(eps)
    expected = per_output if loss == "log_loss" else 2 * per_output
    loss = net.loss_gradient(X, Y)[0]
    assert loss == pytest.approx(expected, rel=1e-5)
    assert loss == pytest.approx(J(net, X, Y, np.ones(1), 0.0), rel=1e-5)


@pytest.mark.parametrize("loss,k", LOSS_K)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_backprop_deltas_and_gradients_are_the_pages(loss, k, activation):
    # [training_backprop]: the L-layer delta recursion (three layers here)
    X, Y, w = problem(loss, k)
    net = Network((4, 6, 5, k), activation=activation, loss=loss, random_state=2)
    alpha = 0.2
    A, deltas, dW, db, dX = backprop(net, X, Y, w, alpha)
    res = net.backprop(X, Y, w, alpha=alpha)
    for a, b in zip(A[1:], res.activations[1:]):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)
    for a, b in zip(deltas, res.deltas):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14)
    for a, b in zip(dW + db, res.coef_grads + res.intercept_grads):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.input_grad, dX, rtol=1e-10, atol=1e-14)
    _, coef_grads, intercept_grads = net.loss_gradient(X, Y, w, alpha=alpha)
    np.testing.assert_allclose(flat(coef_grads + intercept_grads), flat(dW + db),
                               rtol=1e-10, atol=1e-14)


def central_differences(fun, x, h=1e-6):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (fun(up) - fun(down)) / (2 * h)
    return out


@pytest.mark.parametrize("loss,k", LOSS_K)
def test_gradients_are_derivatives_of_the_loss_but_k_times_for_squared_error(loss, k):
    # [training_squared_error_outputs], also stated in the README and in
    # docs/user_guide/network.rst: returned gradient = c * d(data term)/d theta
    # + alpha / S W, with c = k for squared error and 1 otherwise.
    X, Y, w = problem(loss, k)
    net = Network((4, 5, k), activation="tanh", loss=loss, random_state=0)
    alpha = 0.5
    S = w.sum()
    theta = net.params.copy()

    def data_term(params=None, inputs=X):
        saved = net.params.copy()
        if params is not None:
            net.params[...] = params
        try:
            return net.loss_gradient(inputs, Y, w, alpha=0.0)[0]
        finally:
            net.params[...] = saved

    c = k if loss == "squared_error" else 1
    fd = central_differences(lambda p: data_term(params=p), theta)
    l2 = np.zeros_like(theta)
    l2[:net.n_coef] = alpha / S * theta[:net.n_coef]
    _, cg, ig = net.loss_gradient(X, Y, w, alpha=alpha)
    grad = flat(cg + ig)
    np.testing.assert_allclose(grad, c * fd + l2, rtol=1e-6, atol=1e-9)
    res = net.backprop(X, Y, w, alpha=alpha)
    np.testing.assert_allclose(flat(res.coef_grads + res.intercept_grads),
                               c * fd + l2, rtol=1e-6, atol=1e-9)
    fd_x = central_differences(lambda x: data_term(inputs=x), X.copy())
    np.testing.assert_allclose(res.input_grad, c * fd_x, rtol=1e-6, atol=1e-9)
    if c == 1:
        # the promise: everything is a derivative of the one loss value
        fd_full = central_differences(
            lambda p: (net.params.__setitem__(Ellipsis, p),
                       net.loss_gradient(X, Y, w, alpha=alpha)[0])[1], theta)
        net.params[...] = theta
        np.testing.assert_allclose(grad, fd_full, rtol=1e-6, atol=1e-9)
    else:
        # and the exception is real: not the derivative of the loss
        assert not np.allclose(grad, fd + l2, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu"])
def test_initial_weights_are_glorot_uniform_as_the_page_states(activation):
    # [training_init]
    sizes = (5, 7, 4, 3)
    net = Network(sizes, activation=activation, loss="squared_error", random_state=3)
    coefs, intercepts = glorot(sizes, activation, 3)
    np.testing.assert_array_equal(net.params, flat(coefs + intercepts))


def test_from_zero_weights_the_units_stay_identical_and_the_loss_stays_ln2():
    # [training_init]: balanced classes, logistic network from zeros
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2))
    y = np.repeat([0, 1], 20)
    Y = y[:, None].astype(float)
    net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss")
    net.params[...] = 0
    loss, cg, ig = net.loss_gradient(X, Y)
    assert loss == pytest.approx(math.log(2), rel=1e-14, abs=0)
    assert not flat(cg + ig).any()      # every gradient exactly 0: stuck
    # the same from zeros with MLPClassifier: every step leaves it there
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation="logistic", solver="sgd",
                        momentum=0.0, learning_rate_init=1.0, batch_size=40,
                        shuffle=False, alpha=0.0, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    for W in clf.coefs_:
        W[...] = 0
    for b in clf.intercepts_:
        b[...] = 0
    clf.set_params(warm_start=True, max_iter=20, n_iter_no_change=np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # (it warns that every sample gets the same output: so it does)
        warnings.simplefilter("ignore", RuntimeWarning)
        clf.fit(X, y)
    assert clf.loss_curve_[-20:] == [pytest.approx(math.log(2), rel=1e-14, abs=0)] * 20
    W1 = clf.coefs_[0]
    assert (W1 == W1[:, :1]).all()      # the hidden units are identical


SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0),
    "momentum": dict(solver="sgd", momentum=0.8, nesterovs_momentum=False),
    "nesterov": dict(solver="sgd", momentum=0.8, nesterovs_momentum=True),
    "rmsprop": dict(solver="rmsprop", beta_2=0.9, epsilon=1e-7),
    "adam": dict(solver="adam", beta_1=0.8, beta_2=0.95, epsilon=1e-7),
    "adamw": dict(solver="adamw", beta_1=0.8, beta_2=0.95, epsilon=1e-7),
}


@pytest.mark.parametrize("name", SOLVERS)
def test_optimizer_steps_are_the_pages_update_rules(name):
    # [training_optimizers] and [training_gradient_descent]: three
    # full-batch steps of MLPRegressor (two outputs, sample weights, L2)
    # against the page's rules applied to Network's gradient
    params = SOLVERS[name]
    X, Y, w = problem("squared_error", 2, n=16)
    alpha, lr, steps = 0.05, 0.03, 3
    reg = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", alpha=alpha,
                       learning_rate_init=lr, batch_size=16, shuffle=False,
                       max_iter=steps, n_iter_no_change=np.inf, random_state=0,
                       **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y, sample_weight=w)

    net = Network((4, 5, 2), activation="tanh", loss="squared_error", random_state=0)
    kw = {k: v for k, v in params.items() if k != "solver"}
    if "nesterovs_momentum" in kw:
        kw["nesterov"] = kw.pop("nesterovs_momentum")
    solver = Solver(params["solver"], net.n_params, net.n_coef, lr=lr, alpha=alpha, **kw)
    adamw = params["solver"] == "adamw"
    curve = []
    for _ in range(steps):
        curve.append(J(net, X, Y, w, alpha, penalty=not adamw))
        _, cg, ig = net.loss_gradient(X, Y, w, alpha=0.0 if adamw else alpha)
        net.params[...] = solver.step(net.params.copy(), flat(cg + ig))
    np.testing.assert_allclose(flat(reg.coefs_ + reg.intercepts_), net.params,
                               rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(reg.loss_curve_, curve, rtol=1e-10)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_mini_batches_and_loss_curve_are_the_pages(batch_size):
    # [training_gradient_descent]: consecutive mini-batches of m rows (the
    # last one the rest), each descending J_B with S_B and alpha / (2 S_B);
    # loss_curve_ = 1/n sum_B |B| J_B before each step
    X, Y, w = problem("squared_error", 1, n=13)
    alpha, lr, epochs = 0.1, 0.05, 2
    reg = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="sgd",
                       momentum=0.0, alpha=alpha, learning_rate_init=lr,
                       batch_size=batch_size, shuffle=False, max_iter=epochs,
                       n_iter_no_change=np.inf, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y[:, 0], sample_weight=w)
    net = Network((4, 3, 1), activation="tanh", loss="squared_error", random_state=0)
    n, curve = X.shape[0], []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch_size):
            B = slice(start, start + batch_size)
            rows = X[B].shape[0]
            total += rows * J(net, X[B], Y[B], w[B], alpha)
            _, cg, ig = net.loss_gradient(X[B], Y[B], w[B], alpha=alpha)
            net.params -= lr * flat(cg + ig)
        curve.append(total / n)
    np.testing.assert_allclose(flat(reg.coefs_ + reg.intercepts_), net.params,
                               rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(reg.loss_curve_, curve, rtol=1e-10)


@pytest.mark.parametrize("schedule", ["invscaling", "cosine"])
def test_learning_rate_schedules_are_the_pages(schedule):
    # [training_optimizers], "Schedules": eta set between epochs
    X, Y, _ = problem("squared_error", 1, n=10)
    lr0, power_t, epochs = 0.05, 0.5, 4
    reg = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", solver="sgd",
                       momentum=0.0, alpha=0.0, learning_rate=schedule,
                       learning_rate_init=lr0, power_t=power_t, batch_size=10,
                       shuffle=False, max_iter=epochs, n_iter_no_change=np.inf,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y[:, 0])
    net = Network((4, 3, 1), activation="tanh", loss="squared_error", random_state=0)
    eta, t = lr0, 0
    for e in range(1, epochs + 1):
        _, cg, ig = net.loss_gradient(X, Y)
        net.params -= eta * flat(cg + ig)
        t += X.shape[0]
        if schedule == "invscaling":
            eta = lr0 / (t + 1) ** power_t
        else:
            eta = lr0 / 2 * (1 + math.cos(math.pi * e / epochs))
    np.testing.assert_allclose(flat(reg.coefs_ + reg.intercepts_), net.params,
                               rtol=1e-10, atol=1e-13)


def stop_epoch(values, tol, n_iter_no_change, *, higher_is_better):
    """The page's rule: an epoch improves by at least tol on the best so
    far; more than n_iter_no_change epochs in a row without stop."""
    best = -np.inf if higher_is_better else np.inf
    count = 0
    for e, v in enumerate(values, start=1):
        improved = v >= best + tol if higher_is_better else v <= best - tol
        count = 0 if improved else count + 1
        best = max(best, v) if higher_is_better else min(best, v)
        if count > n_iter_no_change:
            return e
    return None


def test_stopping_rules_are_the_pages():
    # [training_stopping]
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:400] / 16
    y = y[:400]
    clf = MLPClassifier(hidden_layer_sizes=(16,), tol=1e-2, n_iter_no_change=3,
                        max_iter=200, random_state=0).fit(X, y)
    assert clf.n_iter_ < 200
    assert stop_epoch(clf.loss_curve_, 1e-2, 3, higher_is_better=False) == clf.n_iter_

    clf = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                        validation_fraction=0.2, tol=1e-3, n_iter_no_change=4,
                        learning_rate_init=0.01, max_iter=200, random_state=0).fit(X, y)
    assert clf.n_iter_ < 200
    scores = clf.validation_scores_
    assert stop_epoch(scores, 1e-3, 4, higher_is_better=True) == clf.n_iter_
    assert clf.best_validation_score_ == max(scores)

    # max_iter: a ConvergenceWarning that names the troubleshooting page
    with pytest.warns(ConvergenceWarning, match="Practical use and troubleshooting"):
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)


def test_batch_size_1_is_bit_for_bit_the_per_sample_hand_loop():
    # [training_gradient_descent] and examples/plot_backprop_by_hand.py:
    # steps 2-5 on one sample at a time, in order, is MLPClassifier with
    # batch_size=1, shuffle=False, to the last bit (weights and loss_curve_)
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=60, noise=0.2, random_state=0)
    Y = y[:, None].astype(float)
    eta, epochs = 1.0, 3
    net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
                  random_state=0)
    curve = []
    for _ in range(epochs):
        total = 0.0
        for i in range(X.shape[0]):
            loss, cg, ig = net.loss_gradient(X[i:i + 1], Y[i:i + 1])
            net.params -= eta * flat(cg + ig)
            total += loss
        curve.append(total / X.shape[0])
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation="logistic", solver="sgd",
                        learning_rate_init=eta, momentum=0.0, batch_size=1,
                        shuffle=False, alpha=0.0, max_iter=epochs,
                        n_iter_no_change=np.inf, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    np.testing.assert_array_equal(flat(clf.coefs_ + clf.intercepts_), net.params)
    assert clf.loss_curve_ == curve
