"""Sparse, high-dimensional input is never densified: the first layer reads
CSR rows in place forward and scatters into its weight gradient backward,
so memory grows with the nonzeros and the layer widths, not n_features."""
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastbp import MLPClassifier, Network
from fastbp._core import _backprop


def _text_like(n, n_features, nnz_per_row, seed=0, dtype=np.float32):
    rng = np.random.RandomState(seed)
    ind = rng.randint(0, n_features, size=n * nnz_per_row)
    ptr = np.arange(0, n * nnz_per_row + 1, nnz_per_row)
    X = sp.csr_matrix((rng.rand(n * nnz_per_row).astype(dtype), ind, ptr),
                      shape=(n, n_features))
    X.sum_duplicates()
    y = rng.randint(0, 5, size=n)
    return X, y


def test_sparse_workspace_does_not_grow_with_n_features():
    small = _backprop.workspace_size(np.array([100, 32, 5], dtype=np.intp), 200, 3, True)
    huge = _backprop.workspace_size(np.array([10**6, 32, 5], dtype=np.intp), 200, 3, True)
    assert small == huge
    dense = _backprop.workspace_size(np.array([10**6, 32, 5], dtype=np.intp), 200, 3, False)
    assert dense >= 200 * 10**6


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_every_sparse_layout_gives_the_csr_model(index_dtype, fmt, n_threads):
    X, y = _text_like(300, 2000, 20, dtype=np.float64)
    kw = dict(hidden_layer_sizes=(16,), batch_size=50, max_iter=3,
              random_state=0, n_threads=n_threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MLPClassifier(**kw).fit(X, y)
        Xs = X.tocsc() if fmt == "csc" else X.copy()
        Xs.indices = Xs.indices.astype(index_dtype)
        Xs.indptr = Xs.indptr.astype(index_dtype)
        est = MLPClassifier(**kw).fit(Xs, y)
    for a, b in zip(ref.coefs_ + ref.intercepts_, est.coefs_ + est.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.predict_proba(Xs), ref.predict_proba(X),
                               rtol=1e-12, atol=1e-14)
    # and the dense equivalent
    dense = MLPClassifier(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense.fit(X.toarray(), y)
    for a, b in zip(ref.coefs_, dense.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_fit_and_predict_memory_is_bounded_by_the_model(dtype):
    # 100000 features: one densified mini-batch of 200 rows would take
    # 80-160 MB, one densified prediction block of 2048 rows 0.8-1.6 GB.
    n_features = 100_000
    X, y = _text_like(400, n_features, 50, dtype=dtype)
    clf = MLPClassifier(hidden_layer_sizes=(16,), batch_size=200, max_iter=1,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peak_fit = _peak_bytes(lambda: clf.fit(X, y))
    params_bytes = clf.network_.params.nbytes
    # parameters, their best-so-far copy, the gradient, two Adam moments and
    # the initialization's temporaries: 6 x the model (a densified batch
    # would add 80 MB in float32, 160 MB in float64)
    assert peak_fit < 6 * params_bytes + 8 * 2**20
    Xp, _ = _text_like(4000, n_features, 100, seed=1, dtype=dtype)
    peak_predict = _peak_bytes(lambda: clf.predict_proba(Xp))
    assert peak_predict < 64 * 2**20


def test_sparse_forward_activations_match_dense():
    X, _ = _text_like(50, 3000, 10, dtype=np.float64)
    net = Network((3000, 12, 4), activation="relu", loss="log_loss", random_state=0)
    acts_s = net.forward(X, return_activations=True)
    acts_d = net.forward(X.toarray(), return_activations=True)
    for a, b in zip(acts_s[1:], acts_d[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
