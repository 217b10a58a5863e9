"""
Optimizers and stopping rules
=============================

One problem, six optimizers: plain stochastic gradient descent, with
momentum, with Nesterov's momentum, RMSProp, Adam and AdamW, each with
:class:`fastbp.MLPClassifier`'s default settings otherwise. Then the rules
that end training: ``max_iter``, ``tol`` with ``n_iter_no_change``, and
early stopping on a validation split, with its validation curves.
"""

# %%
# The update rules
# ----------------
# Each step takes the gradient :math:`g` of the mini-batch's loss (with the
# L2 term, except for AdamW) and updates every weight and bias
# :math:`\theta` elementwise, with the step size :math:`\eta`
# (``learning_rate_init``) and state kept from step to step, zero at the
# start:
#
# - SGD (``solver='sgd'``, ``momentum=0``):
#   :math:`\theta \leftarrow \theta - \eta g`
# - momentum (``momentum=`` :math:`\mu`, ``nesterovs_momentum=False``):
#   :math:`v \leftarrow \mu v - \eta g`, :math:`\theta \leftarrow \theta + v`
# - Nesterov's momentum (``nesterovs_momentum=True``):
#   :math:`v \leftarrow \mu v - \eta g`,
#   :math:`\theta \leftarrow \theta + \mu v - \eta g`
# - RMSProp (``solver='rmsprop'``, :math:`\rho` = ``beta_2``):
#   :math:`s \leftarrow \rho s + (1 - \rho) g^2`,
#   :math:`\theta \leftarrow \theta - \eta g / (\sqrt{s} + \varepsilon)`
# - Adam (``solver='adam'``), at step :math:`t`:
#   :math:`m \leftarrow \beta_1 m + (1 - \beta_1) g`,
#   :math:`v \leftarrow \beta_2 v + (1 - \beta_2) g^2`,
#   :math:`\eta_t = \eta \sqrt{1 - \beta_2^t} / (1 - \beta_1^t)`,
#   :math:`\theta \leftarrow \theta - \eta_t m / (\sqrt{v} + \varepsilon)`
# - AdamW (``solver='adamw'``): Adam on the gradient without the L2 term,
#   and the weights (not the biases) decayed first:
#   :math:`W \leftarrow W - \eta \alpha W - \eta_t m / (\sqrt{v} + \varepsilon)`
#
# :ref:`training_optimizers` states them with the mini-batch loss they
# descend; ``tests/test_user_guide_math.py`` checks each against the
# estimators' steps.
#
# Six optimizers on digits
# ------------------------
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastbp import MLPClassifier, plot_loss_curve

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

optimizers = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "sgd + momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False,
                           learning_rate_init=0.05),
    "sgd + Nesterov": dict(solver="sgd", momentum=0.9, nesterovs_momentum=True,
                           learning_rate_init=0.05),
    "rmsprop": dict(solver="rmsprop", learning_rate_init=0.001),
    "adam": dict(solver="adam", learning_rate_init=0.001),
    "adamw": dict(solver="adamw", learning_rate_init=0.001, alpha=0.01),
}

fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
for name, params in optimizers.items():
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, batch_size=64,
                        random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 40 epochs, as asked
        clf.fit(X_train, y_train)
    ax.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_, label=name)
    print(f"{name:15s} {clf.n_iter_:3d} epochs, final loss {clf.loss_:.4f}, "
          f"test accuracy {clf.score(X_test, y_test):.3f}")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training loss")
ax.set_title("Training loss per epoch, digits, 64 hidden units")
ax.legend()

# %%
# Momentum carries the step along directions the gradient keeps pointing
# in; RMSProp and Adam scale each parameter's step by a running estimate of
# its gradient's size, which is why they do well at a small learning rate.
# AdamW applies its weight decay (``alpha``) directly to the weights instead
# of adding an L2 term to the loss.
#
# Stopping rules
# --------------
# Without early stopping, training ends after ``max_iter`` epochs, or
# earlier when the training loss has not improved by at least ``tol`` for
# ``n_iter_no_change`` consecutive epochs:
clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, tol=1e-3,
                    n_iter_no_change=5, random_state=0).fit(X_train, y_train)
print(f"stopped after {clf.n_iter_} epochs (tol=1e-3, n_iter_no_change=5)")

# %%
# With ``early_stopping=True`` a ``validation_fraction`` of the training
# data is held out; training ends when the validation score has not
# improved by ``tol`` for ``n_iter_no_change`` epochs, and the model keeps
# the weights of its best epoch. :func:`fastbp.plot_loss_curve` draws the
# training and validation losses and the validation score.
clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, early_stopping=True,
                    validation_fraction=0.2, n_iter_no_change=10,
                    learning_rate_init=0.01, random_state=0).fit(X_train, y_train)
print(f"early stopping after {clf.n_iter_} epochs; best validation accuracy "
      f"{clf.best_validation_score_:.3f}, test accuracy {clf.score(X_test, y_test):.3f}")
ax = plot_loss_curve(clf)
plt.show()
