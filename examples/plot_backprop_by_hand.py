"""
Backpropagation worked by hand
==============================

fastbp grew from a tutorial on gradient descent and backpropagation. Its
example is binary classification with one hidden layer, the sigmoid
activation and the cross-entropy loss

.. math::

    J = -\\frac{1}{n} \\sum_{i=1}^{n} \\left[ y_i \\log \\hat y_i
        + (1 - y_i) \\log (1 - \\hat y_i) \\right],

trained in five steps, repeated until the loss stops falling:

1. **Initialize** the weights, small and random;
2. **Forward pass**: compute every layer's output, up to the prediction
   :math:`\\hat y`;
3. **Loss**: compute :math:`J`;
4. **Backward pass**: compute the gradient :math:`\\nabla J` layer by layer,
   from the output back, by the chain rule (backpropagation);
5. **Update**: move every weight against its gradient,
   :math:`\\theta \\leftarrow \\theta - \\eta \\nabla J`.

This example builds that network with :class:`fastbp.Network` and does
each step by hand in numpy, checking it against fastbp's compiled pass
(:meth:`fastbp.Network.backprop`) and the gradient against central finite
differences. Then it writes the backward pass for any number of layers,
trains sample by sample as the textbook does and gets bit for bit what
:class:`fastbp.MLPClassifier` gets with ``batch_size=1, shuffle=False``,
shows why the weights cannot start at zero, and sets the mean squared error
beside the cross-entropy. :doc:`/user_guide/training` states the general
formulas.
"""

# %%
# The data
# --------
# Two interleaved half-moons: two input features, a label 0 or 1. The
# network has 2 inputs, 4 hidden units with the sigmoid (``'logistic'``)
# activation and one output; the binary log loss goes with a sigmoid
# output.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, Network

X, y = make_moons(n_samples=200, noise=0.2, random_state=0)
n = X.shape[0]
Y = y.reshape(-1, 1).astype(float)  # a row per sample, a column per output
print(f"{n} samples, {y.mean():.0%} of class 1")

# %%
# Step 1: initialize the weights
# ------------------------------
# :class:`~fastbp.Network` draws every weight and bias as scikit-learn
# does (Glorot's uniform initialization): uniformly in :math:`[-r, r]` with
# :math:`r = \sqrt{2 / (\text{fan-in} + \text{fan-out})}` for the sigmoid
# (6 instead of 2 for the other activations). Small, so that no unit
# starts saturated; random, so that no two units start alike (see "Why not
# start from zeros" below).
net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
              random_state=0)
W1, W2 = net.coefs  # (2, 4) and (4, 1): views into net.params
b1, b2 = net.intercepts  # (4,) and (1,)
print(net)
print(f"{net.n_params} parameters: {W1.size + W2.size} weights, "
      f"{b1.size + b2.size} biases")
r1 = np.sqrt(2 / (2 + 4))
print(f"layer 1 bound r = {r1:.3f}; largest |weight| drawn {np.abs(W1).max():.3f}")

# %%
# Step 2: forward pass
# --------------------
# Each layer multiplies its input by its weights, adds its bias and applies
# the activation: :math:`Z_1 = X W_1 + b_1`, :math:`A_1 = \sigma(Z_1)`,
# :math:`Z_2 = A_1 W_2 + b_2`, :math:`\hat y = \sigma(Z_2)`.


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


Z1 = X @ W1 + b1
A1 = sigmoid(Z1)
Z2 = A1 @ W2 + b2
y_hat = sigmoid(Z2)

acts = net.forward(X, return_activations=True)  # [X, A1, y_hat]
print("hidden layer matches:", np.allclose(A1, acts[1]))
print("output matches:      ", np.allclose(y_hat, acts[2]))

# %%
# Step 3: the loss
# ----------------
# The mean cross-entropy over the samples.
J = np.mean(-Y * np.log(y_hat) - (1 - Y) * np.log(1 - y_hat))
res = net.backprop(X, Y)  # fastbp's pass, kept layer by layer
print(f"J by hand {J:.10f}, fastbp {res.loss:.10f}")

# %%
# Step 4: backward pass, by the chain rule
# ----------------------------------------
# **Output error.** The derivative of :math:`J` with respect to the output
# layer's pre-activation :math:`Z_2` is
# :math:`\partial J / \partial \hat y \cdot \sigma'(Z_2)`. With
# :math:`\partial J_i / \partial \hat y_i = (\hat y_i - y_i) / (\hat y_i (1 - \hat y_i))`
# and :math:`\sigma' = \sigma (1 - \sigma) = \hat y (1 - \hat y)`, the
# factor :math:`\hat y (1 - \hat y)` cancels: :math:`\delta_2 = (\hat y - y) / n`
# (the mean over n samples brings the 1/n). This is why
# the sigmoid output goes with the cross-entropy loss (more on this at the
# end).
delta2 = (y_hat - Y) / n

# %%
# **Output layer's gradient.** :math:`Z_2 = A_1 W_2 + b_2`, so
# :math:`\partial J / \partial W_2 = A_1^T \delta_2` and
# :math:`\partial J / \partial b_2 = \sum_i \delta_{2,i}`.
dW2 = A1.T @ delta2
db2 = delta2.sum(axis=0)

# %%
# **Hidden layer's error.** The error flows back through :math:`W_2` and
# is scaled by the derivative of the hidden activation:
# :math:`\delta_1 = (\delta_2 W_2^T) \odot A_1 (1 - A_1)`.
delta1 = (delta2 @ W2.T) * A1 * (1 - A1)
dW1 = X.T @ delta1
db1 = delta1.sum(axis=0)

# %%
# **Gradient with respect to the input features.** One more step back,
# through :math:`W_1` and without an activation:
# :math:`\partial J / \partial X = \delta_1 W_1^T`. It says how the loss
# changes when each feature of each sample moves (see
# :ref:`sphx_glr_auto_examples_plot_saliency.py`).
dX = delta1 @ W1.T

# %%
# The same numbers from fastbp
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# :meth:`~fastbp.Network.backprop` returns the deltas, the parameter
# gradients and the input gradient of the same pass;
# :meth:`~fastbp.Network.loss_gradient` (what training uses) returns the
# loss and the parameter gradients.
loss, coef_grads, intercept_grads = net.loss_gradient(X, Y)
checks = {
    "delta2 (output error)": (delta2, res.deltas[1]),
    "delta1 (hidden error)": (delta1, res.deltas[0]),
    "dJ/dW2": (dW2, coef_grads[1]),
    "dJ/db2": (db2, intercept_grads[1]),
    "dJ/dW1": (dW1, coef_grads[0]),
    "dJ/db1": (db1, intercept_grads[0]),
    "dJ/dX": (dX, res.input_grad),
}
for name, (by_hand, compiled) in checks.items():
    diff = np.abs(by_hand - compiled).max()
    print(f"{name:22s} largest difference {diff:.1e}")

# %%
# Checked against finite differences
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A derivative is a limit of differences: nudge one number by
# :math:`\pm\varepsilon`, recompute :math:`J`, and divide the change by
# :math:`2\varepsilon`. Done for every parameter and every input feature,
# it must match the backpropagated gradient up to the error of the
# difference (of order :math:`\varepsilon^2`) and the rounding of :math:`J`
# divided by :math:`\varepsilon` (about :math:`10^{-10}` here).


def loss_at(params=None, inputs=X):
    """J with the given parameters (default: the network's) and inputs."""
    old = net.params.copy()
    if params is not None:
        net.params[...] = params
    try:
        return net.loss_gradient(inputs, Y)[0]
    finally:
        net.params[...] = old


def central_differences(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


# by hand, in the layout of net.params: weights, then biases
grad_params = np.concatenate([dW1.ravel(), dW2.ravel(), db1, db2])
fd_params = central_differences(lambda p: loss_at(params=p), net.params.copy())
fd_inputs = central_differences(lambda x: loss_at(inputs=x), X.copy())
err_params = np.abs(fd_params - grad_params).max()
err_inputs = np.abs(fd_inputs - dX).max()
print(f"parameters: largest difference {err_params:.1e}")
print(f"inputs:     largest difference {err_inputs:.1e}")

# %%
# Step 5: update the weights
# --------------------------
# Training repeats steps 2 to 5: compute :math:`\nabla J`, and move every
# parameter against it, :math:`\theta \leftarrow \theta - \eta \nabla J`.
# ``net.params`` holds every weight and bias in one flat array, and
# ``loss_gradient``'s gradients are views into one flat array of the same
# layout, so one line updates them all. Here with the whole data set as the
# batch (batch gradient descent), 1000 steps of size :math:`\eta = 5` (a
# large step suits this small, smooth problem; the loss first stalls on a
# plateau, then drops).
net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
              random_state=0)
eta, steps = 5.0, 1000
losses = []
for step in range(steps):
    loss, coef_grads, intercept_grads = net.loss_gradient(X, Y)  # steps 2-4
    grad = np.concatenate([g.ravel() for g in coef_grads + intercept_grads])
    net.params -= eta * grad  # step 5
    losses.append(loss)
accuracy = np.mean((net.forward(X)[:, 0] > 0.5) == y)
print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
      f"training accuracy {accuracy:.3f}")

# %%
# The same with MLPClassifier
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
# :class:`~fastbp.MLPClassifier` runs this loop compiled. Asked for the same
# thing (plain gradient descent: ``solver='sgd'`` without momentum, the
# whole data set as one batch, no shuffling, no L2 term, no early stop), it
# draws the same initial weights from the same ``random_state`` and
# follows the same path. Its loss per epoch is ``loss_curve_``; the loss is
# recorded as each epoch's step is taken, so it is the hand loop's loss
# before each step.
clf = MLPClassifier(hidden_layer_sizes=(4,), activation="logistic",
                    solver="sgd", learning_rate_init=eta, momentum=0.0,
                    batch_size=n, shuffle=False, alpha=0.0, max_iter=steps,
                    n_iter_no_change=np.inf, random_state=0)
with warnings.catch_warnings():
    # it runs all max_iter epochs, as asked, and would warn that it did
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X, y)
print("same weights as the hand loop:",
      all(np.allclose(a, b) for a, b in zip(clf.coefs_, net.coefs)))
print(f"training accuracy {clf.score(X, y):.3f}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
epochs = np.arange(1, steps + 1)
ax0.plot(epochs, losses, lw=3, alpha=0.5, label="numpy loop")
ax0.plot(epochs, clf.loss_curve_, "--", color="k", lw=1,
         label="MLPClassifier.loss_curve_")
ax0.set_xlabel("step (epoch)")
ax0.set_ylabel("cross-entropy J")
ax0.set_title("Gradient descent: the loss falls")
ax0.legend()

g1, g2 = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1, 1.5, 200))
grid = np.column_stack([g1.ravel(), g2.ravel()])
proba = clf.predict_proba(grid)[:, 1].reshape(g1.shape)
ax1.contourf(g1, g2, proba, levels=20, cmap="RdBu_r", alpha=0.6)
ax1.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolor="k", s=18)
ax1.set_title("The trained network's probability of class 1")
ax1.set_xlabel("feature 1")
ax1.set_ylabel("feature 2")
plt.show()

# %%
# Any number of layers
# --------------------
# Nothing in step 4 is special to one hidden layer. With :math:`L` layers
# of weights, :math:`A_0 = X`, :math:`Z_l = A_{l-1} W_l + b_l`,
# :math:`A_l = f(Z_l)` and :math:`\hat Y = A_L = g(Z_L)`, the output error
# and the recursion from each layer to the one before are
#
# .. math::
#
#     \delta_L = \frac{1}{n} (\hat Y - Y), \qquad
#     \delta_l = \left( \delta_{l+1} W_{l+1}^T \right) \odot f'(Z_l)
#     \quad (l = L - 1, \dots, 1),
#
# and every layer's gradients come from its delta and its input:
#
# .. math::
#
#     \frac{\partial J}{\partial W_l} = A_{l-1}^T \delta_l, \qquad
#     \frac{\partial J}{\partial b_l} = \sum_i \delta_{l,i} .
#
# (:math:`\delta_L = (\hat Y - Y) / n` holds for each loss with its own
# output function, as for the sigmoid and the cross-entropy above; with
# sample weights and an L2 term see :ref:`training_backprop`.) A loop over
# the layers, for a network with three hidden layers of the tanh
# activation, :math:`f' = 1 - \tanh^2`:


def backprop_by_hand(net, X, Y):
    """Every layer's delta and gradients, output layer first back to the
    first (a sigmoid output with the cross-entropy, tanh hidden layers)."""
    A, Z = [X], []
    L = len(net.coefs)
    for l, (W, b) in enumerate(zip(net.coefs, net.intercepts), start=1):
        Z.append(A[-1] @ W + b)
        A.append(np.tanh(Z[-1]) if l < L else sigmoid(Z[-1]))
    deltas = [None] * L
    deltas[L - 1] = (A[L] - Y) / X.shape[0]
    for l in range(L - 2, -1, -1):  # 0-based: layer l + 1 of the formula
        deltas[l] = (deltas[l + 1] @ net.coefs[l + 1].T) * (1 - A[l + 1] ** 2)
    coef_grads = [A[l].T @ deltas[l] for l in range(L)]
    intercept_grads = [d.sum(axis=0) for d in deltas]
    return deltas, coef_grads, intercept_grads


deep = Network((2, 8, 6, 4, 1), activation="tanh", loss="binary_log_loss",
               random_state=0)
deltas, coef_grads, intercept_grads = backprop_by_hand(deep, X, Y)
res = deep.backprop(X, Y)
for l in range(len(deep.coefs)):
    diff = max(np.abs(deltas[l] - res.deltas[l]).max(),
               np.abs(coef_grads[l] - res.coef_grads[l]).max(),
               np.abs(intercept_grads[l] - res.intercept_grads[l]).max())
    print(f"layer {l + 1}: delta and gradients, largest difference {diff:.1e}")

# %%
# Per-sample updates: stochastic gradient descent
# -----------------------------------------------
# The textbook updates the weights after every sample, not after the whole
# data set: steps 2 to 5 on one sample at a time, the samples in their
# order, one pass over them an epoch. With
# :meth:`~fastbp.Network.loss_gradient` on one row that is a short loop.
# :class:`~fastbp.MLPClassifier` does the same with ``batch_size=1`` (one
# sample per step) and ``shuffle=False`` (the samples in their order), and
# gets bit for bit the same weights and the same loss per epoch: its
# ``loss_curve_`` entry is the mean of the per-sample losses, each taken
# before that sample's step.
net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
              random_state=0)
eta, n_epochs = 1.0, 60
per_sample_curve = []
for epoch in range(n_epochs):
    total = 0.0
    for i in range(n):
        loss, coef_grads, intercept_grads = net.loss_gradient(X[i:i + 1], Y[i:i + 1])
        net.params -= eta * np.concatenate(
            [g.ravel() for g in coef_grads + intercept_grads])
        total += loss
    per_sample_curve.append(total / n)

sgd = MLPClassifier(hidden_layer_sizes=(4,), activation="logistic",
                    solver="sgd", learning_rate_init=eta, momentum=0.0,
                    batch_size=1, shuffle=False, alpha=0.0, max_iter=n_epochs,
                    n_iter_no_change=np.inf, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    sgd.fit(X, y)
same_weights = all(np.array_equal(a, b) for a, b in
                   zip(sgd.coefs_ + sgd.intercepts_, net.coefs + net.intercepts))
print("bit for bit the same weights:", same_weights)
print("bit for bit the same loss per epoch:",
      np.array_equal(sgd.loss_curve_, per_sample_curve))
print(f"{n_epochs} epochs of {n} steps: loss {per_sample_curve[-1]:.4f}, "
      f"training accuracy {sgd.score(X, y):.3f}")

# %%
# ``batch_size`` between 1 and the number of samples gives mini-batch
# gradient descent, the usual choice (the default is 200 samples): fewer
# and cheaper steps than one per sample, less noisy ones, and matrix
# products large enough to run fast. :ref:`training_gradient_descent` says
# how each mini-batch's loss and step are formed.
#
# Why not start from zeros
# ------------------------
# Step 1 draws random weights. From all-zero weights every hidden unit
# computes the same value, receives the same delta (each gets
# :math:`\delta_2 W_2^T` with all of :math:`W_2` equal) and the same update:
# the units stay identical for ever, and four hidden units are worth one.
# On this data set it is worse still: with as many samples of each class,
# the network outputs 0.5 for every sample, every gradient is exactly 0, and
# the loss stays at :math:`\ln 2` however long it trains. The same 1000
# steps of size 5 as in step 5:
eta = 5.0
zero = Network((2, 4, 1), activation="logistic", loss="binary_log_loss")
zero.params[...] = 0
zero_curve = []
for step in range(steps):
    loss, coef_grads, intercept_grads = zero.loss_gradient(X, Y)
    grad = np.concatenate([g.ravel() for g in coef_grads + intercept_grads])
    zero.params -= eta * grad
    zero_curve.append(loss)
print(f"from zeros, balanced classes: loss {zero_curve[0]:.10f} -> "
      f"{zero_curve[-1]:.10f} (ln 2 = {np.log(2):.10f}), "
      f"largest gradient {np.abs(grad).max():.1e}")

# %%
# With unequal classes (here a third of the samples in class 1) the
# gradient is not 0: the output bias moves first, then the weights, and the
# loss falls. But the four hidden units move together: every column of
# :math:`W_1` stays equal to every other, and the network learns what one
# hidden unit can.
keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:50]]
zero.params[...] = 0
for step in range(steps):
    loss, coef_grads, intercept_grads = zero.loss_gradient(X[keep], Y[keep])
    zero.params -= eta * np.concatenate(
        [g.ravel() for g in coef_grads + intercept_grads])
print(f"from zeros, unequal classes: loss {loss:.4f} after {steps} steps")
print("hidden weights W1 (one column per unit):")
print(zero.coefs[0].round(4))
print("the hidden units are identical:",
      bool((zero.coefs[0] == zero.coefs[0][:, :1]).all()))

# %%
# Mean squared error beside cross-entropy
# ---------------------------------------
# The other classic cost is the (half) mean squared error,
#
# .. math::
#
#     J_{\text{MSE}} = \frac{1}{2n} \sum_{i=1}^{n} (\hat y_i - y_i)^2,
#
# the loss of :class:`~fastbp.MLPRegressor` (``loss='squared_error'``). With
# the identity output it goes with, its output error is again
# :math:`\delta = (\hat y - y) / n`:
reg_net = Network((2, 4, 1), activation="logistic", loss="squared_error",
                  random_state=0)
out = reg_net.forward(X)
J_mse = np.sum((out - Y) ** 2) / (2 * n)
res = reg_net.backprop(X, Y)
print(f"J_MSE by hand {J_mse:.10f}, fastbp {res.loss:.10f}; output error "
      f"matches: {np.allclose(res.deltas[-1], (out - Y) / n)}")

# %%
# Put after a sigmoid output instead, as in early neural networks, the
# chain rule keeps the factor :math:`\sigma'(Z_2) = \hat y (1 - \hat y)`
# that the cross-entropy cancels:
#
# .. math::
#
#     \delta_2^{\text{MSE}} = \frac{1}{n} (\hat y - y) \, \hat y (1 - \hat y),
#     \qquad
#     \delta_2^{\text{CE}} = \frac{1}{n} (\hat y - y).
#
# A confidently wrong prediction (:math:`\hat y` near 0 for :math:`y = 1`)
# then gets almost no gradient, and learning crawls out of it. fastbp pairs
# every loss with its own output function, so the left-hand case is not one
# of its models; the loop below trains it by hand with the same steps as
# the cross-entropy network of step 5.
net_ce = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
                 random_state=0)
W1, W2 = [c.copy() for c in net_ce.coefs]
b1, b2 = [b.copy() for b in net_ce.intercepts]
mse_curve = []
for step in range(steps):
    A1 = sigmoid(X @ W1 + b1)
    y_hat = sigmoid(A1 @ W2 + b2)
    mse_curve.append(np.mean((y_hat > 0.5) == (Y > 0.5)))  # training accuracy
    delta2 = (y_hat - Y) * y_hat * (1 - y_hat) / n  # the sigmoid's factor stays
    delta1 = (delta2 @ W2.T) * A1 * (1 - A1)
    W2 -= eta * A1.T @ delta2
    b2 -= eta * delta2.sum(axis=0)
    W1 -= eta * X.T @ delta1
    b1 -= eta * delta1.sum(axis=0)
ce_curve = []
for step in range(steps):
    out = net_ce.forward(X)
    ce_curve.append(np.mean((out > 0.5) == (Y > 0.5)))
    _, coef_grads, intercept_grads = net_ce.loss_gradient(X, Y)
    net_ce.params -= eta * np.concatenate(
        [g.ravel() for g in coef_grads + intercept_grads])
print(f"after {steps} steps of size {eta}: training accuracy "
      f"{ce_curve[-1]:.3f} with cross-entropy, {mse_curve[-1]:.3f} with MSE "
      "on the sigmoid")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
p = np.linspace(0.001, 0.999, 300)
ax0.plot(p, np.abs(p - 1), label="cross-entropy: $|\\hat y - y|$")
ax0.plot(p, np.abs(p - 1) * p * (1 - p),
         label="MSE on a sigmoid: $|\\hat y - y|\\,\\hat y(1-\\hat y)$")
ax0.set_xlabel("prediction $\\hat y$ for a sample of class $y = 1$")
ax0.set_ylabel("output error $n\\,|\\delta_2|$")
ax0.set_title("The sigmoid's factor hides confident mistakes")
ax0.legend()
ax1.plot(np.arange(1, steps + 1), ce_curve, label="cross-entropy")
ax1.plot(np.arange(1, steps + 1), mse_curve, label="MSE on a sigmoid")
ax1.set_xlabel("step")
ax1.set_ylabel("training accuracy")
ax1.set_title("Same network, same steps, two costs")
ax1.legend()
plt.show()
