"""Side-by-side training and prediction benchmark: fastbp, scikit-learn,
PyTorch and a JAX/XLA program.

Run it as ``fastbp bench``, ``python -m fastbp bench`` or
``python -m fastbp._bench`` (``--help`` lists the options).

The parts: ``_common`` (data, the timing discipline, the machine's
description, tables), ``_train`` (the training cases and their aims),
``_jax`` (the whole-epoch compiled peer), ``_predict``, ``_memory`` (with
its child process ``_memory_child``), ``_busy`` (beside busy processes),
``_sparse`` (CSR input), ``_dtype`` (a float64 DataFrame fitted in float64
and in float32), ``_report`` (the printed report) and ``_main`` (the
command line).

What is measured
----------------
Training: milliseconds per epoch, float32 data, Adam (lr 1e-3), shuffled
mini-batches, the same layer sizes, batch size and thread count for all three.

* fastbp and scikit-learn: a fresh ``MLPClassifier(max_iter=k, tol=0,
  n_iter_no_change=huge)`` is fitted on float32 X; the wall time of the whole
  ``fit`` (validation and initialization included, as a user pays them) is
  divided by k, the same k for every library (20 epochs on digits, 1 on the
  60000-row data; at most 5 in --quick): later epochs can be slower than the
  first ones (Adam's first moments decay into subnormal floats), so every
  library is timed over the same stretch of training.
  scikit-learn runs under ``threadpool_limits(threads)`` for its BLAS.
* PyTorch (when importable): eager ``nn.Sequential`` of Linear/ReLU layers,
  ``CrossEntropyLoss``, ``torch.optim.Adam``, per epoch a ``randperm`` of the
  rows and slicing of the tensors (no DataLoader), ``torch.set_num_threads``.
  Each timed call builds a fresh model and trains it for k epochs.

Each library is warmed up first (one epoch on a subset of the rows), then
the libraries' timed fits are interleaved, one of each per round, so that
load from other processes hits all of them alike; each round takes the
next order of the libraries (every permutation in turn), and each timed fit
starts after a pause of SETTLE_S, so that none is charged for the threads
another leaves spinning. The table shows medians. Ratios are "times faster
than" (other library's ms / fastbp's ms).

The largest case is also reported in GFLOP/s: a training step costs about
6 x n_weights flops per sample (forward, weight gradient, input gradient),
less the first layer's input gradient (2 x n_in x n_hidden1), which is never
computed; this is set against numpy's float32 2048x2048 matmul (sgemm) with
the same number of threads, measured right before and right after each of
fastbp's timed fits (at least 3 of them), the median of those.

Every case also gets the time per epoch of one training step's matrix
products alone at the case's shapes (numpy, the same threads; no
activation, loss, optimizer or Python), measured the same way, beside each
of fastbp's fits. On large layers that is a floor for any library that
calls BLAS layer by layer; on small ones numpy's cost per call is much of it
(fastbp can go under it there).

Prediction: ``predict`` on 1 row and on all 1797 digits rows (median time of
one call over blocks of many, the libraries' blocks alternating), fastbp vs
scikit-learn vs PyTorch (``inference_mode``, ``argmax``).

Memory: in a subprocess, the peak of numpy allocations (tracemalloc) and the
growth of the resident set size (the kernel's high-water mark, reset just
before the fit where Linux allows it, else getrusage) during a float32 fit of
784-256-128-10, beside the size of X and of the model: a float64 copy of X
would show as twice X's size.
"""
from fastbp._bench._main import main

__all__ = ["main"]
