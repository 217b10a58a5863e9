"""Issue 10: hostile input, divergence, pickling, optimizer state.

Cases that crashed the interpreter before the fix run in a subprocess, so
that a regression fails one test instead of taking pytest down.
"""
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor, Network


def run_isolated(code, timeout=120):
    """Run `code` in a fresh interpreter; (returncode, stdout, stderr).
    It runs in tests/, so `import fastbp` finds the fastbp under test (the
    installed one, or the one on PYTHONPATH), never the source folder."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    return proc.returncode, proc.stdout, proc.stderr


RNG = np.random.RandomState(0)
X = RNG.rand(40, 4)
Y_CLF = np.arange(40) % 3


def _fitted(cls=MLPClassifier, **kw):
    params = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=0, n_threads=1)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**params).fit(X, Y_CLF if cls is MLPClassifier else X[:, 0])


# -- malformed and complex sparse X --------------------------------------------
# Each builds a matrix scipy accepts without a check and later corrupts
# memory with (sum_duplicates, tocsr, astype).
MALFORMED = {
    "decreasing indptr": "sp.csr_matrix((np.ones(4), np.arange(4), "
                         "np.array([0, 3, 1, 4])), shape=(3, 4))",
    "unsorted, decreasing indptr": "sp.csr_matrix((np.ones(4), np.array([3, 1, 2, 0]), "
                                   "np.array([0, 3, 1, 4])), shape=(3, 4))",
    # scipy checks these two at construction, not after a change
    "indptr past the data": "poke(sp.csr_matrix(np.eye(3, 4)), 'indptr', -1, 9)",
    "column index out of range": "sp.csr_matrix((np.ones(3), np.array([0, 7, 1]), "
                                 "np.array([0, 1, 2, 3])), shape=(3, 4))",
    "csc decreasing indptr": "sp.csc_matrix((np.ones(4), np.arange(3).tolist() + [0], "
                             "np.array([0, 3, 1, 4, 4])), shape=(3, 4))",
    "coo row out of range": "poke(sp.coo_matrix(np.eye(3, 4)), 'row', 1, 5)",
}
CALLS = {
    "Network.forward": "Network((4, 3, 2), random_state=0).forward(X)",
    "Network.loss_gradient": "Network((4, 3, 2), random_state=0).loss_gradient("
                             "X, np.zeros((3, 2)))",
    "fit": "MLPClassifier(max_iter=2).fit(X, [0, 1, 0])",
    "partial_fit": "MLPClassifier().partial_fit(X, [0, 1, 0], classes=[0, 1])",
    "predict_proba": "clf.predict_proba(X)",
    "predict": "reg.predict(X)",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_sparse_input_is_a_value_error_not_a_crash(case):
    """Every entry point, in one subprocess per matrix (an abort kills it)."""
    calls = "".join(f"""
        try:
            X = {MALFORMED[case]}
            {call}
            print("no error:", {name!r})
        except ValueError as exc:
            assert "malformed" in str(exc), exc
            assert (clf.coefs_[0] == before).all()
            print("OK", {name!r}, exc)
        """ for name, call in CALLS.items())
    code = f"""
        import warnings
        import numpy as np, scipy.sparse as sp
        from fastbp import MLPClassifier, MLPRegressor, Network
        warnings.simplefilter("ignore")
        def poke(X, attr, i, value):
            getattr(X, attr)[i] = value
            return X
        rng = np.random.RandomState(0)
        clf = MLPClassifier(max_iter=2).fit(rng.rand(6, 4), [0, 1] * 3)
        reg = MLPRegressor(max_iter=2).fit(rng.rand(6, 4), rng.rand(6))
        before = clf.coefs_[0].copy()
        {textwrap.indent(textwrap.dedent(calls), " " * 8).strip()}
    """
    rc, out, err = run_isolated(code)
    assert rc == 0 and out.count("OK") == len(CALLS), (rc, out, err[-2000:])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("method", ["fit", "predict", "forward"])
def test_complex_sparse_input_is_refused_like_dense(fmt, method):
    Xc = sp.random(10, 4, density=0.5, format=fmt, random_state=0) * (1 + 1j)
    with pytest.raises(ValueError, match="[Cc]omplex"):
        if method == "fit":
            MLPClassifier(max_iter=2).fit(Xc, np.arange(10) % 2)
        elif method == "predict":
            _fitted().predict(Xc)
        else:
            Network((4, 2), random_state=0).forward(Xc)


def test_valid_sparse_with_duplicates_and_unsorted_indices_still_works():
    # entries stored twice mean their sum, as in scipy
    Xs = sp.csr_matrix((np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 0, 2, 1]),
                        np.array([0, 3, 4, 4])), shape=(3, 4))
    net = Network((4, 2), loss="squared_error", random_state=0)
    np.testing.assert_allclose(net.forward(Xs), net.forward(Xs.toarray()))
