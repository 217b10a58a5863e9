"""
Input-feature gradients (saliency) on digits
============================================

Which pixels does a trained network look at? The gradient of the loss with
respect to each input feature says how much, and in which direction, the
loss would change if that pixel were a little brighter. For an image
classifier, that map is called a saliency map.
:meth:`fastbp.Network.backprop` returns it for a whole batch, from the same
compiled pass as the parameter gradients.
"""

# %%
# Train a classifier on the 8 x 8 digits
# --------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0
clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 60 epochs are enough here
    clf.fit(X, y)
print(f"training accuracy {clf.score(X, y):.3f}")

# %%
# The gradient with respect to the input
# --------------------------------------
# ``clf.network_`` is the trained :class:`fastbp.Network`. Its targets are
# one-hot rows. ``input_grad`` is the derivative of the mean loss, so each
# row is its sample's own gradient divided by the number of samples:
# multiply back to get per-sample maps.
net = clf.network_
Y = (y[:, None] == clf.classes_).astype(float)
res = net.backprop(X, Y)
saliency = res.input_grad * len(X)  # dJ_i / dx_i, one row per image
print("input gradient:", saliency.shape)

# %%
# Minus the gradient points to the pixels that would make the true class
# more likely. Averaged over the images of each digit, it shows the strokes
# the network relies on (red: brighter would help; blue: darker would help).
fig, axes = plt.subplots(2, 10, figsize=(12, 3), layout="constrained")
for d in range(10):
    axes[0, d].imshow(X[y == d].mean(0).reshape(8, 8), cmap="gray_r")
    m = -saliency[y == d].mean(0).reshape(8, 8)
    lim = np.abs(m).max()
    axes[1, d].imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[0, d].set_title(str(d))
for a in axes.ravel():
    a.set_xticks([])
    a.set_yticks([])
axes[0, 0].set_ylabel("mean image")
axes[1, 0].set_ylabel("- mean gradient")
plt.show()

# %%
# A gradient step on the input
# ----------------------------
# Moving one image against its gradient lowers its loss: the same rule as
# training, applied to the input instead of the weights. Take the image the
# network is least sure of:
i = int(np.argmin(clf.predict_proba(X)[np.arange(len(y)), y]))
print(f"image {i}, a {y[i]}, predicted {clf.predict(X[i:i + 1])[0]}")
x = X[i:i + 1].copy()
for step in range(5):
    r = net.backprop(x, Y[i:i + 1])
    print(f"step {step}: loss {r.loss:.4f}, p(true class) "
          f"{clf.predict_proba(x)[0, y[i]]:.4f}")
    x -= 0.02 * r.input_grad
