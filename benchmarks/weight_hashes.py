"""Hash the weights and losses of a fixed set of fits, to prove a refactor
bitwise.

Every stochastic solver and L-BFGS, classifier and regressor, dense and
sparse (CSR) input, float32 and float64, one and two threads, early
stopping and partial_fit, and a streamed fit: each fit's ``coefs_`` and
``intercepts_`` (and its ``loss_curve_`` and ``validation_scores_``) are
hashed with SHA-256. Run it on two checkouts and diff
the outputs::

    python benchmarks/weight_hashes.py > before.json
    # change the code, rebuild
    python benchmarks/weight_hashes.py > after.json
    diff before.json after.json
"""
import hashlib
import json
import warnings

import numpy as np
import scipy.sparse


def _data(seed, n=240, d=20, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[rng.random(X.shape) < 0.6] = 0.0
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 0.8)
    yr = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y, yr.astype(dtype)


def _digest(est):
    h = hashlib.sha256()
    for a in list(est.coefs_) + list(est.intercepts_):
        h.update(np.ascontiguousarray(a).tobytes())
    # the losses too (the L2 term's sum of squares is taken apart from
    # the weights' update), and the validation scores where kept
    for name in ("loss_curve_", "validation_scores_"):
        values = getattr(est, name, None)
        if values is not None:
            h.update(np.asarray(values, dtype=np.float64).tobytes())
    return h.hexdigest()[:24]


def cases():
    from fastbp import MLPClassifier, MLPRegressor

    for dtype in (np.float64, np.float32):
        X, y, yr = _data(0, dtype=dtype)
        Xs = scipy.sparse.csr_matrix(X)
        for solver in ("sgd", "adam", "rmsprop", "adamw", "lbfgs"):
            for sparse in (False, True):
                for n_threads in (1, 2):
                    Xin = Xs if sparse else X
                    tag = f"{np.dtype(dtype).name}-{solver}-{'csr' if sparse else 'dense'}-t{n_threads}"
                    kw = dict(hidden_layer_sizes=(17, 9), solver=solver,
                              max_iter=6, random_state=1, n_threads=n_threads,
                              batch_size=32)
                    yield "clf-" + tag, MLPClassifier(**kw), Xin, y
                    yield "reg-" + tag, MLPRegressor(activation="tanh", **kw), Xin, yr
        for n_threads in (1, 2):
            yield (f"clf-{np.dtype(dtype).name}-earlystop-t{n_threads}",
                   MLPClassifier(hidden_layer_sizes=(30,), early_stopping=True,
                                 momentum=0.8, solver="sgd", nesterovs_momentum=True,
                                 learning_rate="adaptive", max_iter=15,
                                 random_state=3, n_threads=n_threads), X, y)
            # wide enough for fastbp's own float32 product and every
            # optimizer's vector loops (layers of 32 units and more)
            for solver in ("adam", "sgd", "adamw"):
                yield (f"clf-{np.dtype(dtype).name}-wide-{solver}-t{n_threads}",
                       MLPClassifier(hidden_layer_sizes=(96, 64), solver=solver,
                                     alpha=1e-3, max_iter=4, batch_size=64,
                                     random_state=5, n_threads=n_threads), X, y)
            yield (f"reg-{np.dtype(dtype).name}-logistic-batch200-t{n_threads}",
                   MLPRegressor(hidden_layer_sizes=(64, 32), activation="logistic",
                                alpha=1e-3, max_iter=5, random_state=4,
                                n_threads=n_threads), X, yr)


def main():
    from fastbp import MLPClassifier, stream

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, est, X, y in cases():
            out[name] = _digest(est.fit(X, y))
        X, y, _ = _data(5, n=600)
        for n_threads in (1, 2):
            clf = MLPClassifier(hidden_layer_sizes=(20,), random_state=0,
                                n_threads=n_threads, max_iter=3)
            for i in range(3):
                clf.partial_fit(X[i * 200:(i + 1) * 200], y[i * 200:(i + 1) * 200],
                                classes=[0, 1, 2])
            out[f"partial_fit-t{n_threads}"] = _digest(clf)
            clf = MLPClassifier(hidden_layer_sizes=(20,), random_state=0,
                                n_threads=n_threads, max_iter=3)
            clf.fit(stream(X, window_bytes=8 * 20 * 100, blocks_per_window=4), y)
            out[f"stream-t{n_threads}"] = _digest(clf)
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
