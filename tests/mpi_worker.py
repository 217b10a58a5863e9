"""Run on every rank by tests/test_mpi.py:

    mpiexec -n P python -m mpi4py tests/mpi_worker.py OUT_DIR [bad]

Fits every case of CASES inside fastbp.data_parallel and saves each rank's
weights and curves to OUT_DIR/rank<r>.npz. With `bad`, the last rank gets
X with a NaN: it raises, and python -m mpi4py aborts every rank.
"""
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import make_classification

# Rows and widths such that one process with n_threads=P splits every full
# mini-batch over P threads by rows (the split that P ranks reproduce).
HIDDEN = (500,)
# Cases where one process does not cut mini-batches by rows (sparse X takes
# the layer split) or is not mini-batched (lbfgs): equal to rounding only.
ROUNDING_ONLY = ("sparse", "lbfgs")


def data(dtype=np.float64):
    X, y = make_classification(1200, 20, n_informative=10, n_classes=3,
                               random_state=0)
    return X.astype(dtype), y


def base(**kw):
    return {**dict(hidden_layer_sizes=HIDDEN, max_iter=3, random_state=0,
                   n_threads=1, batch_size=200), **kw}


def cases():
    """name -> (estimator params, how to fit: a function(est, X, y))."""
    X, y = data()
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    out = {}
    for solver in ("sgd", "adam", "rmsprop", "adamw", "lbfgs"):
        out[solver] = (base(solver=solver, alpha=1e-3), lambda e, X, y: e.fit(X, y))
    out["sample_weight"] = (base(), lambda e, X, y: e.fit(X, y, sample_weight=sw))
    out["class_weight"] = (base(class_weight="balanced"), lambda e, X, y: e.fit(X, y))
    out["sparse"] = (base(), lambda e, X, y: e.fit(
        sp.csr_matrix(np.where(np.abs(X) > 1, X, 0)), y))
    out["early_stopping"] = (
        base(early_stopping=True, max_iter=20, n_iter_no_change=2, tol=1e-2),
        lambda e, X, y: e.fit(X, y))
    out["adaptive"] = (
        base(solver="sgd", learning_rate="adaptive", max_iter=8, tol=0.5,
             n_iter_no_change=1), lambda e, X, y: e.fit(X, y))
    out["invscaling"] = (base(solver="sgd", learning_rate="invscaling",
                              learning_rate_init=0.1),
                         lambda e, X, y: e.fit(X, y))

    def warm(e, X, y):
        e.fit(X, y)
        e.set_params(max_iter=2)
        return e.fit(X, y)
    out["warm_start"] = (base(warm_start=True), warm)

    def partial(e, X, y):
        e.partial_fit(X, y, classes=np.unique(y))
        return e.partial_fit(X, y)
    out["partial_fit"] = (base(), partial)
    return out


def stream_cases():
    """Fits of out-of-core X (float32, windows of a quarter of the data)."""
    import fastbp

    sw = np.random.RandomState(1).uniform(0.5, 2.0, 1200).astype(np.float32)

    def src(X):
        return fastbp.stream(X, window_bytes=X.nbytes // 4, blocks_per_window=8)
    return {
        "stream": (base(), lambda e, X, y: e.fit(src(X), y)),
        "stream_weighted_es": (
            base(early_stopping=True, max_iter=4),
            lambda e, X, y: e.fit(src(X), y, sample_weight=sw)),
    }


def main(out_dir, bad=False):
    from mpi4py import MPI

    import fastbp

    comm = MPI.COMM_WORLD
    warnings.simplefilter("ignore")
    X, y = data()
    if bad and comm.rank == comm.size - 1:
        X = X.copy()
        X[5, 5] = np.nan
    saved = {}
    with fastbp.data_parallel(comm):
        for name, (params, how) in cases().items():
            est = how(fastbp.MLPClassifier(**params), X, y)
            saved[name + "/params"] = est.network_.params
            saved[name + "/loss"] = np.atleast_1d(
                getattr(est, "loss_curve_", None) or est.loss_)
            saved[name + "/n_iter"] = np.array([est.n_iter_])
        # float32, and random_state=None (rank 0's seed and weights)
        X32 = X.astype(np.float32)
        est = fastbp.MLPClassifier(**{**base(), "random_state": None}).fit(X32, y)
        saved["float32_none/params"] = est.network_.params
        # verbose prints on rank 0 only
        fastbp.MLPClassifier(**base(verbose=True, max_iter=1)).fit(X, y)
        # out-of-core X under MPI: each rank reads the rows of its cuts
        for name, (params, how) in stream_cases().items():
            est = how(fastbp.MLPClassifier(**params), X32, y)
            saved[name + "/params"] = est.network_.params
    np.savez(f"{out_dir}/rank{comm.rank}.npz", **saved)


if __name__ == "__main__":
    main(sys.argv[1], bad=len(sys.argv) > 2 and sys.argv[2] == "bad")
