"""Shared helpers for the fastbp tests: data for each loss and a plain numpy
reference network (written independently of the compiled code)."""
import doctest
import importlib
import warnings

import numpy as np
import pytest
from scipy.special import erf, expit

import fastbp
from fastbp import ACTIVATIONS, LOSS_OUTPUTS

ALL_ACTIVATIONS = sorted(ACTIVATIONS)
ALL_LOSSES = sorted(LOSS_OUTPUTS)
# The hidden activations scikit-learn's MLP has.
SKLEARN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def make_targets(loss, n, n_out, rng):
    """Targets valid for `loss`: real values, one-hot, {0, 1} or counts."""
    if loss == "squared_error":
        return rng.normal(size=(n, n_out))
    if loss == "log_loss":
        return np.eye(n_out)[rng.randint(0, n_out, size=n)]
    if loss == "binary_log_loss":
        return rng.randint(0, 2, size=(n, n_out)).astype(float)
    if loss == "poisson":
        return rng.poisson(1.5, size=(n, n_out)).astype(float)
    raise ValueError(loss)


def make_problem(loss, n=20, sizes=(4, 5, 3, 3), seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, sizes[0]))
    Y = make_targets(loss, n, sizes[-1], rng)
    sw = rng.uniform(0.2, 2.0, size=n)
    return X, Y, sw


# -- numpy reference ---------------------------------------------------------
def np_activation(name, z):
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return expit(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "softplus":
        return np.logaddexp(0, z)
    if name == "gelu":
        return 0.5 * z * (1 + erf(z / np.sqrt(2)))
    raise ValueError(name)


def np_derivative(name, z):
    """f'(z) computed from z."""
    if name == "identity":
        return np.ones_like(z)
    if name == "logistic":
        s = expit(z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01).astype(z.dtype)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))).astype(z.dtype)
    if name == "softplus":
        return expit(z)
    if name == "gelu":
        return (0.5 * (1 + erf(z / np.sqrt(2)))
                + z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi))
    raise ValueError(name)


def np_output(name, z):
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return expit(z)
    if name == "exp":
        return np.exp(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def np_preactivations(net, X):
    """Hidden pre-activations of every hidden layer, in float64."""
    a = np.asarray(X, dtype=np.float64)
    zs = []
    L = len(net.coefs)
    for l, (W, b) in enumerate(zip(net.coefs, net.intercepts)):
        z = a @ W.astype(np.float64) + b.astype(np.float64)
        if l < L - 1:
            zs.append(z)
            a = np_activation(net.activation, z)
    return zs


def np_forward(net, X):
    """Output of `net` for X, computed in float64 with numpy."""
    a = np.asarray(X, dtype=np.float64)
    L = len(net.coefs)
    for l, (W, b) in enumerate(zip(net.coefs, net.intercepts)):
        z = a @ W.astype(np.float64) + b.astype(np.float64)
        a = np_activation(net.activation, z) if l < L - 1 else z
    return np_output(net.out_activation, a)


def make_net(sizes, activation, loss, dtype=np.float64, random_state=0):
    return fastbp.Network(sizes, activation=activation, loss=loss, dtype=dtype,
                          random_state=random_state)


def run_doctests(module):
    """Run the docstring examples of `module`; (failures, examples run)."""
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(mod) if t.examples]
    assert tests, f"{module} has no docstring examples"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            for t in tests:
                runner.run(t)
    return runner.failures, sum(len(t.examples) for t in tests)


def run_in_fresh_interpreter(module, function, cwd, timeout=600):
    """Call tests/<module>.py's `function` in a new Python process (in cwd,
    so that the installed fastbp is imported, not a source folder), and
    fail with its output if it fails.

    For tests that deliver Ctrl-C to the main thread. A test run started in
    the background by a non-interactive shell (`make test &`, some CI
    runners) has SIGINT ignored, a Python started so keeps it ignored, and
    the Ctrl-C never arrives; the child sets Python's own handler first,
    whatever it inherited.
    """
    import os
    import subprocess
    import sys

    tests = os.path.dirname(os.path.abspath(__file__))
    code = ("import signal, sys; "
            "signal.signal(signal.SIGINT, signal.default_int_handler); "
            "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT]); "
            f"sys.path.insert(0, {tests!r}); import {module} as m; m.{function}()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
