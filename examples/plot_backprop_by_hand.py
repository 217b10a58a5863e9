"""
Backpropagation worked by hand
==============================

fastbp grew from a tutorial on gradient descent and backpropagation. Its
example is binary classification with one hidden layer, the sigmoid
activation and the cross-entropy loss

.. math::

    J = -\\frac{1}{n} \\sum_{i=1}^{n} \\left[ y_i \\log \\hat y_i
        + (1 - y_i) \\log (1 - \\hat y_i) \\right].

This example builds that network with :class:`fastbp.Network`, runs the
forward pass, computes :math:`J`, and backpropagates by hand in numpy with
the chain rule, layer by layer: the output error, the output layer's
gradient, the hidden layer's error and gradient, and the gradient with
respect to the input features. It checks every step against fastbp's
compiled pass (:meth:`fastbp.Network.backprop`) and against central finite
differences; then it trains with the plain rule
:math:`\\theta \\leftarrow \\theta - \\eta \\nabla J` in a Python loop, and
finally does the same with :class:`fastbp.MLPClassifier`.
"""

# %%
# The data and the network
# ------------------------
# Two interleaved half-moons: two input features, a label 0 or 1. The
# network has 2 inputs, 4 hidden units with the sigmoid (``'logistic'``)
# activation and one output; the binary log loss goes with a sigmoid
# output. Its weights are drawn as scikit-learn draws them.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, Network

X, y = make_moons(n_samples=200, noise=0.2, random_state=0)
n = X.shape[0]
Y = y.reshape(-1, 1).astype(float)  # a row per sample, a column per output

net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
              random_state=0)
W1, W2 = net.coefs  # (2, 4) and (4, 1): views into net.params
b1, b2 = net.intercepts  # (4,) and (1,)
print(net)
print(f"{net.n_params} parameters: {W1.size + W2.size} weights, "
      f"{b1.size + b2.size} biases")

# %%
# Forward pass
# ------------
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
# The loss
# --------
# The mean cross-entropy over the samples.
J = np.mean(-Y * np.log(y_hat) - (1 - Y) * np.log(1 - y_hat))
res = net.backprop(X, Y)  # fastbp's pass, kept layer by layer
print(f"J by hand {J:.10f}, fastbp {res.loss:.10f}")

# %%
# Backward pass, by the chain rule
# --------------------------------
# **Output error.** The derivative of :math:`J` with respect to the output
# layer's pre-activation :math:`Z_2` is
# :math:`\partial J / \partial \hat y \cdot \sigma'(Z_2)`. With
# :math:`\partial J_i / \partial \hat y_i = (\hat y_i - y_i) / (\hat y_i (1 - \hat y_i))`
# and :math:`\sigma' = \sigma (1 - \sigma) = \hat y (1 - \hat y)`, the
# factor :math:`\hat y (1 - \hat y)` cancels: :math:`\delta_2 = (\hat y - y) / n`
# (the mean over n samples brings the 1/n). This is why
# the sigmoid output goes with the cross-entropy loss.
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
# ----------------------------
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
# ----------------------------------
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
# Gradient descent by hand
# ------------------------
# Training repeats two steps: compute :math:`\nabla J`, and move every
# parameter against it, :math:`\theta \leftarrow \theta - \eta \nabla J`.
# ``net.params`` holds every weight and bias in one flat array, and
# ``loss_gradient``'s gradients are views into one flat array of the same
# layout, so one line updates them all. Here with the whole data set as the
# batch, 1000 steps of size :math:`\eta = 5` (a large step suits this
# small, smooth problem; the loss first stalls on a plateau, then drops).
net = Network((2, 4, 1), activation="logistic", loss="binary_log_loss",
              random_state=0)
eta, steps = 5.0, 1000
losses = []
for step in range(steps):
    loss, coef_grads, intercept_grads = net.loss_gradient(X, Y)
    grad = np.concatenate([g.ravel() for g in coef_grads + intercept_grads])
    net.params -= eta * grad
    losses.append(loss)
accuracy = np.mean((net.forward(X)[:, 0] > 0.5) == y)
print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
      f"training accuracy {accuracy:.3f}")

# %%
# The same with MLPClassifier
# ---------------------------
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
