"""
Speed against scikit-learn and PyTorch, on your machine
=======================================================

The same network, optimizer, batch size and number of epochs in fastbp,
scikit-learn and (when it is installed) PyTorch on the CPU, timed here, on
the machine that runs this script. Small on purpose (digits, a few epochs):
``fastbp bench`` runs the full comparison, with larger networks and more
repeats.
"""

# %%
# The timed fits
# --------------
# float32 data for all three, Adam, batch size 32, 64-100-10 network, the
# best of three fits of five epochs each. Thread counts are left at each
# library's default.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLP

from fastbp import MLPClassifier

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
EPOCHS, BATCH = 5, 32
params = dict(hidden_layer_sizes=(100,), batch_size=BATCH, max_iter=EPOCHS,
              random_state=0, tol=0.0, n_iter_no_change=EPOCHS + 1)


def best_of(fit, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit()
        times.append(time.perf_counter() - t0)
    return min(times) / EPOCHS * 1000  # ms per epoch


results = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    results["fastbp"] = best_of(lambda: MLPClassifier(**params).fit(X, y))
    results["scikit-learn"] = best_of(lambda: SkMLP(**params).fit(X, y))

try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: compared with scikit-learn only")

if torch is not None:
    def torch_fit():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 100), torch.nn.ReLU(),
                                    torch.nn.Linear(100, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        for _ in range(EPOCHS):
            perm = torch.randperm(len(Xt))
            for i in range(0, len(Xt), BATCH):
                idx = perm[i:i + BATCH]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
                opt.step()

    results["PyTorch (CPU)"] = best_of(torch_fit)

for name, ms in results.items():
    print(f"{name:14s} {ms:8.2f} ms per epoch  ({ms / results['fastbp']:.1f}x fastbp's time)")

# %%
# The same numbers as a chart.
fig, ax = plt.subplots(figsize=(7, 2.5), layout="constrained")
names = list(results)
ax.barh(names, [results[n] for n in names], color=["C0", "C1", "C2"][:len(names)])
ax.invert_yaxis()
ax.set_xlabel("ms per epoch (lower is faster)")
ax.set_title(f"digits 64-100-10, Adam, batch {BATCH}, float32")
plt.show()
