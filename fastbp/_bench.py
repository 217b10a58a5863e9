"""Side-by-side training and prediction benchmark: fastbp, scikit-learn, PyTorch.

Run it as ``fastbp bench``, ``python -m fastbp bench`` or
``python -m fastbp._bench`` (``--help`` lists the options).

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
(fastbp can go under it there). On a 2-vCPU VM the largest case's products
alone reached 61-94% of sgemm.

Prediction: ``predict`` on 1 row and on all 1797 digits rows (median time of
one call over blocks of many, the libraries' blocks alternating), fastbp vs
scikit-learn vs PyTorch (``inference_mode``, ``argmax``).

Memory: in a subprocess, the peak of numpy allocations (tracemalloc) and the
growth of the resident set size (the kernel's high-water mark, reset just
before the fit where Linux allows it, else getrusage) during a float32 fit of
784-256-128-10, beside the size of X and of the model: a float64 copy of X
would show as twice X's size.
"""
import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

# name -> description. Targets are ratios (other library's time / fastbp's
# time) that fastbp should reach or beat; "issue" holds the reference
# numbers (ms/epoch on the reporter's machine) for scikit-learn and PyTorch.
CASES = {
    "digits-b200": dict(data="digits", hidden=(100,), batch=200, epochs=20,
                        target=dict(sklearn=5.0, torch=5.0),
                        issue=dict(sklearn=3.5, torch=4.9)),
    "digits-b32": dict(data="digits", hidden=(100,), batch=32, epochs=20,
                       target=dict(sklearn=10.0, torch=20.0),
                       issue=dict(sklearn=12.6, torch=31.7)),
    "784-256-128-b128": dict(data="synthetic", hidden=(256, 128), batch=128, epochs=1,
                             target=dict(sklearn=2.5, torch=2.0),
                             issue=dict(sklearn=1093, torch=775)),
    "784-256-128-b32": dict(data="synthetic", hidden=(256, 128), batch=32, epochs=1,
                            target=dict(sklearn=4.0, torch=3.0),
                            issue=dict(sklearn=4070, torch=3414)),
    "784-1024-1024-b256": dict(data="synthetic", hidden=(1024, 1024), batch=256, epochs=1,
                               target=dict(sgemm_fraction=0.80, torch=1.3),
                               issue=dict(sklearn=10400, torch=5086)),
}
EXTRA_CASES = ("predict", "memory", "busy", "sparse")
LIBS = ("fastbp", "sklearn", "torch")
SYNTHETIC_FEATURES = 784
N_CLASSES = 10
FULL_ROWS = 60000
QUICK_ROWS = 6000
PREDICT_TARGET_ONE_ROW_US = 10.0
PREDICT_TARGET_VS_SKLEARN = 3.0


# -- data ------------------------------------------------------------------
def digits_data():
    """The 1797 x 64 digits, scaled to [0, 1], float32; labels int."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return np.ascontiguousarray(X / 16.0, dtype=np.float32), y.astype(np.int64)


def synthetic_data(n_rows, n_features=SYNTHETIC_FEATURES, n_classes=N_CLASSES,
                   seed=0):
    """Random normal float32 features, labels from a random linear map.

    Drawn directly in float32 (no float64 temporary the size of X).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    W = rng.standard_normal((n_features, n_classes), dtype=np.float32)
    logits = X @ W
    logits += rng.standard_normal(logits.shape, dtype=np.float32) * 4.0
    return X, np.argmax(logits, axis=1).astype(np.int64)


def case_data(name, n_rows=None, seed=0):
    """(X, y) for the case `name`; n_rows applies to synthetic data only."""
    case = CASES[name]
    if case["data"] == "digits":
        return digits_data()
    return synthetic_data(FULL_ROWS if n_rows is None else n_rows, seed=seed)


def n_weights(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def train_flops_per_sample(sizes):
    """~ flops of one training step per sample (see the module docstring)."""
    return 6 * n_weights(sizes) - 2 * sizes[0] * sizes[1]


# -- the three trainers ----------------------------------------------------
def fit_fastbp(X, y, hidden, batch, epochs, threads, seed=0):
    """Fit fastbp's MLPClassifier for `epochs` epochs.

    Returns (seconds, loss_curve, fitted estimator).
    """
    from fastbp import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=hidden, solver="adam",
                        batch_size=batch, max_iter=epochs, tol=0.0,
                        n_iter_no_change=10**9, shuffle=True,
                        random_state=seed, n_threads=threads, progress=False)
    return _timed_fit(clf, X, y, threads)


def fit_fastbp_split(split):
    """fit_fastbp with every mini-batch split by layers (split=True) or by
    rows (False), whatever fastbp's rule (_estimators._split_layers) picks:
    to measure the two ways of using the threads beside each other."""
    def fit(X, y, hidden, batch, epochs, threads, seed=0):
        import fastbp._estimators as est

        rule = est._split_layers
        est._split_layers = lambda *a: split
        try:
            return fit_fastbp(X, y, hidden, batch, epochs, threads, seed=seed)
        finally:
            est._split_layers = rule
    return fit


def _timed_fit(clf, X, y, threads):
    """Fit with BLAS at `threads` threads; (seconds, loss_curve, clf)."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is short
        with threadpool_limits(limits=threads, user_api="blas"):
            t0 = time.perf_counter()
            clf.fit(X, y)
            dt = time.perf_counter() - t0
    return dt, list(clf.loss_curve_), clf


def fit_sklearn(X, y, hidden, batch, epochs, threads, seed=0):
    """Fit scikit-learn's MLPClassifier (float32 X) for `epochs` epochs.

    Returns (seconds, loss_curve, fitted estimator).
    """
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=hidden, solver="adam",
                        batch_size=batch, max_iter=epochs, tol=0.0,
                        n_iter_no_change=10**9, shuffle=True,
                        random_state=seed)
    return _timed_fit(clf, X, y, threads)


def have_torch():
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def torch_model(sizes, device="cpu", seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).to(device)


def fit_torch(X, y, hidden, batch, epochs, threads, seed=0, device="cpu",
              data=None):
    """Train a PyTorch MLP the standard eager way for `epochs` epochs.

    `data` may hold (X, y) tensors already on `device` (X, y are then only
    used for their shapes). Returns (seconds, loss_curve, model).
    """
    import torch
    from torch import nn

    if threads is not None and device == "cpu":
        torch.set_num_threads(threads)
    if data is None:
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
        yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    else:
        Xt, yt = data
    n = Xt.shape[0]
    sizes = [Xt.shape[1], *hidden, int(yt.max().item()) + 1]
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    model = torch_model(sizes, device, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999),
                           eps=1e-8)
    crit = nn.CrossEntropyLoss()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    curve = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(device)
        running = torch.zeros((), device=device)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb = Xt[idx]
            yb = yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = crit(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.detach() * idx.shape[0]
        curve.append(running)
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dt, [float(c) / n for c in curve], model


TRAINERS = {"fastbp": fit_fastbp, "sklearn": fit_sklearn, "torch": fit_torch}


# -- timing helpers --------------------------------------------------------
def sgemm_gflops(threads, n=2048, repeats=5, scipy_blas=False):
    """GFLOP/s of a float32 n x n matmul (numpy's, or scipy's BLAS sgemm)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    if scipy_blas:
        from scipy.linalg.blas import sgemm

        # Transposed C-order arrays are Fortran-order: no copies.
        def mm():
            return sgemm(1.0, B.T, A.T)
    else:
        C = np.empty((n, n), dtype=np.float32)

        def mm():
            return np.matmul(A, B, out=C)
    return 2.0 * n ** 3 / _median_seconds(mm, threads, repeats) / 1e9


def _median_seconds(fn, threads, repeats):
    """Median wall time of fn() with BLAS at `threads` threads, after two
    untimed calls."""
    from threadpoolctl import threadpool_limits

    times = []
    with threadpool_limits(limits=threads, user_api="blas"):
        fn()
        fn()
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_products(sizes, batch, seed=0):
    """The matrix products of one training step, in order, as (a, b, out)
    float32 operands of np.matmul: per layer the forward product (batch x
    k @ k x n), then backwards each layer's weight gradient (k x batch @
    batch x n) and, but for the first layer, its input gradient (batch x n
    @ n x k) -- the flops counted for every library."""
    rng = np.random.default_rng(seed)
    A = [rng.standard_normal((batch, n), dtype=np.float32) for n in sizes]
    D = [rng.standard_normal((batch, n), dtype=np.float32) for n in sizes]
    W = [rng.standard_normal((k, n), dtype=np.float32)
         for k, n in zip(sizes[:-1], sizes[1:])]
    G = [np.empty_like(w) for w in W]
    L = len(W)
    prods = [(A[l], W[l], A[l + 1]) for l in range(L)]
    for l in range(L - 1, -1, -1):
        prods.append((A[l].T, D[l + 1], G[l]))
        if l > 0:
            prods.append((D[l + 1], W[l].T, D[l]))
    return prods


def step_gemm_gflops(sizes, batch, threads, repeats=7):
    """GFLOP/s of the matrix products of one training step alone
    (step_products; numpy's float32 matmul, `threads` BLAS threads): on
    large layers a floor for any library that calls BLAS layer by layer,
    with no activation, loss, optimizer or Python; on small ones numpy's
    cost per call is much of it."""
    prods = step_products(sizes, batch)

    def step():
        for a, b, out in prods:
            np.matmul(a, b, out=out)
    flop = sum(2.0 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in prods)
    return flop / _median_seconds(step, threads, repeats) / 1e9


#: Seconds to wait before each timed fit or block of calls. OpenBLAS's
#: idle worker threads spin for 2**28 cycles (0.11 s here) after each
#: threaded call before they sleep, so a run started at once shares a core
#: with them: beside two busy processes on this 2-core VM, a fastbp fit
#: right after a scikit-learn fit took 1.36x as long as one right after
#: another fastbp fit (the same with n_threads=1), and an idle team's
#: predict lost 4-5 ms time slices.
SETTLE_S = 0.15


def settle():
    """Collect garbage, then wait SETTLE_S for the last run's threads to
    go idle: every library starts its timed run from the same state."""
    gc.collect()
    time.sleep(SETTLE_S)


def orders(names, rounds):
    """(round, names in that round's order) for `rounds` rounds, cycling
    through every permutation of the names: each runs right after each
    other one equally often within a cycle, so none is always timed after
    the same other one (and charged its leftovers)."""
    perms = [list(p) for p in itertools.permutations(names)]
    for r in range(rounds):
        yield r, perms[r % len(perms)]


def time_calls(fns, min_block=0.02, blocks=7):
    """{name: median seconds of one call of fns[name]()}: each function's
    calls are timed in blocks of at least min_block seconds, and the blocks
    of the functions alternate (load from elsewhere hits them alike), in
    the order orders() gives, each after settle()."""
    reps = {}
    for name, fn in fns.items():
        fn()
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            dt = time.perf_counter() - t0
            if dt >= min_block or n >= 1 << 20:
                break
            n *= 2 if dt <= 0 else max(2, min(10, int(min_block / dt) + 1))
        reps[name] = n
    samples = {name: [] for name in fns}
    for _, order in orders(fns, blocks):
        for name in order:
            fn, n = fns[name], reps[name]
            settle()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: statistics.median(v) for name, v in samples.items()}


def default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _git_commit():
    """The commit of the fastbp source tree being run ("+changes" when it
    has uncommitted ones), or None outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _versions():
    import scipy
    import sklearn

    import fastbp

    v = {"python": platform.python_version(), "numpy": np.__version__,
         "scipy": scipy.__version__, "sklearn": sklearn.__version__,
         "fastbp": getattr(fastbp, "__version__", "?")}
    if have_torch():
        import torch

        v["torch"] = torch.__version__
    try:
        from threadpoolctl import threadpool_info

        v["blas"] = sorted({f"{i.get('internal_api')} {i.get('version')} "
                            f"({i.get('architecture')})"
                            for i in threadpool_info() if i["user_api"] == "blas"})
    except Exception:  # pragma: no cover
        pass
    return v


# -- training cases --------------------------------------------------------
def run_case(name, X, y, *, threads, libs, repeats, quick, log, peers=None,
             min_fastbp_fits=1):
    """Time one training case for each library; returns a result dict.

    Every library fits the same number of epochs (the case's `epochs`,
    at most 5 in quick mode): later epochs can be slower than early ones
    (Adam's moments decay into subnormal floats), so all are timed over the
    same stretch of training. Each library gets `repeats` timed fits, fewer
    where its fits are long (about 15 s per library and case, 4 s quick):
    short cases (digits) get many fits, whose medians hold still on a noisy
    machine, long ones a few (fastbp at least `min_fastbp_fits`).

    peers: {name: callable returning GFLOP/s}, measured right before and
    right after each of fastbp's timed fits (so that load from elsewhere
    hits them as it hits fastbp); res["peers"][name] holds the samples and
    their median.
    """
    case = CASES[name]
    hidden, batch = case["hidden"], case["batch"]
    epochs = min(case["epochs"], 5) if quick else case["epochs"]
    n = X.shape[0]
    sizes = [X.shape[1], *hidden, N_CLASSES]
    budget_s = 4.0 if quick else 15.0
    n_warm = min(n, 1000 if quick else 6000)

    plan = {}
    for lib in libs:
        fit = TRAINERS[lib]
        # Warm-up on a subset (imports, first-touch, thread pools), and a
        # second run for an estimate of the time of one epoch on all rows.
        fit(X[:n_warm], y[:n_warm], hidden, batch, 1, threads)
        dt, _, _ = fit(X[:n_warm], y[:n_warm], hidden, batch, 1, threads)
        est = dt * n / n_warm
        plan[lib] = int(max(min_fastbp_fits if lib == "fastbp" else 1,
                            min(repeats, budget_s // max(est * epochs, 1e-9))))
    peers = dict(peers or {})
    samples = {lib: [] for lib in libs}
    peer_samples = {p: [] for p in peers}
    curves = {lib: None for lib in libs}

    def measure_peers():
        for p, gflops in peers.items():
            peer_samples[p].append(gflops())

    # interleaved (load from elsewhere hits all alike), in changing order
    for r, order in orders(libs, max(plan.values())):
        for lib in order:
            if r >= plan[lib]:
                continue
            if lib == "fastbp":
                measure_peers()
            settle()
            dt, curve, _ = TRAINERS[lib](X, y, hidden, batch, epochs, threads,
                                         seed=r)
            samples[lib].append(dt / epochs)
            curves[lib] = curve
            if lib == "fastbp":
                measure_peers()
    if "fastbp" not in libs:
        measure_peers()
    res = {"case": name, "rows": n, "sizes": sizes, "batch": batch,
           "epochs_per_fit": epochs, "threads": threads,
           "issue_ms": case["issue"], "libs": {}}
    for lib in libs:
        res["libs"][lib] = {
            "ms_per_epoch": 1e3 * statistics.median(samples[lib]),
            "samples_ms": [1e3 * s for s in samples[lib]],
            "fits": len(samples[lib]),
            "first_loss": curves[lib][0], "last_loss": curves[lib][-1],
        }
    fb = res["libs"].get("fastbp")
    for lib in ("sklearn", "torch"):
        if fb and lib in res["libs"]:
            res["libs"][lib]["fastbp_speedup"] = (
                res["libs"][lib]["ms_per_epoch"] / fb["ms_per_epoch"])
    gflop = train_flops_per_sample(sizes) * n / 1e9
    res["gflop_per_epoch"] = gflop
    for r in res["libs"].values():
        r["gflops"] = gflop / (r["ms_per_epoch"] / 1e3)
    if peers:
        res["peers"] = {p: {"gflops": statistics.median(v), "samples_gflops": v}
                        for p, v in peer_samples.items()}
    log(f"  {name}: " + ", ".join(
        f"{lib} {r['ms_per_epoch']:.2f} ms/epoch ({r['fits']} fits)"
        for lib, r in res["libs"].items()) + f"; {epochs} epoch(s) per fit")
    return res


def check_targets(res, sgemm=None):
    """Fill res['checks']: {what: (value, target, met)}."""
    case = CASES[res["case"]]
    checks = {}
    libs = res["libs"]
    for lib in ("sklearn", "torch"):
        t = case["target"].get(lib)
        if t is not None and lib in libs and "fastbp" in libs:
            v = libs[lib]["fastbp_speedup"]
            checks[f"x{lib}"] = (v, t, v >= t)
    t = case["target"].get("sgemm_fraction")
    if t is not None and sgemm and "fastbp" in libs:
        frac = libs["fastbp"]["gflops"] / sgemm
        res["sgemm_gflops"] = sgemm
        res["fastbp_sgemm_fraction"] = frac
        if res.get("step_gemm_gflops"):
            res["step_gemm_sgemm_fraction"] = res["step_gemm_gflops"] / sgemm
        checks["of_sgemm"] = (frac, t, frac >= t)
    res["checks"] = checks
    return checks


# -- prediction ------------------------------------------------------------
def run_predict(*, threads, libs, quick, log):
    X, y = digits_data()
    hidden = (100,)
    res = {"rows_all": X.shape[0], "sizes": [64, 100, 10], "libs": {}}
    epochs = 5 if quick else 20
    from threadpoolctl import threadpool_limits

    predicts = {}
    for lib in libs:
        _, _, model = TRAINERS[lib](X, y, hidden, 200, epochs, threads)
        if lib == "torch":
            import torch

            torch.set_num_threads(threads)
            model.eval()

            def predict(A, model=model):
                with torch.inference_mode():
                    return model(torch.from_numpy(A)).argmax(1).numpy()
        else:
            predict = model.predict
        predicts[lib] = predict
    one = np.ascontiguousarray(X[:1])
    blocks = 5 if quick else 9
    with threadpool_limits(limits=threads, user_api="blas"):
        acc = {lib: float(np.mean(p(X) == y)) for lib, p in predicts.items()}
        # the libraries' blocks of calls alternate, like their fits
        t1 = time_calls({lib: (lambda p=p: p(one)) for lib, p in predicts.items()},
                        blocks=blocks)
        ta = time_calls({lib: (lambda p=p: p(X)) for lib, p in predicts.items()},
                        blocks=blocks)
    for lib in libs:
        res["libs"][lib] = {"one_row_us": 1e6 * t1[lib], "all_rows_us": 1e6 * ta[lib],
                            "train_accuracy": acc[lib]}
        log(f"  predict {lib}: 1 row {1e6 * t1[lib]:.1f} us, {X.shape[0]} rows "
            f"{1e6 * ta[lib]:.1f} us (train accuracy {acc[lib]:.3f})")
    fb = res["libs"].get("fastbp")
    checks = {}
    if fb:
        checks["one_row_us"] = (fb["one_row_us"], PREDICT_TARGET_ONE_ROW_US,
                                fb["one_row_us"] <= PREDICT_TARGET_ONE_ROW_US)
        for lib in ("sklearn", "torch"):
            if lib in res["libs"]:
                for k in ("one_row_us", "all_rows_us"):
                    res["libs"][lib][k.replace("_us", "_speedup")] = (
                        res["libs"][lib][k] / fb[k])
        if "sklearn" in res["libs"]:
            v = res["libs"]["sklearn"]["all_rows_speedup"]
            checks["all_rows_xsklearn"] = (v, PREDICT_TARGET_VS_SKLEARN,
                                           v >= PREDICT_TARGET_VS_SKLEARN)
    res["checks"] = checks
    return res


# -- memory ----------------------------------------------------------------
_MEMORY_CHILD = r"""
import gc, json, resource, sys, tracemalloc, warnings
import numpy as np
from fastbp._bench import synthetic_data
lib, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hidden, batch = (256, 128), 128
if lib == "fastbp":
    from fastbp import MLPClassifier
    kw = dict(n_threads=threads, progress=False)
else:
    from sklearn.neural_network import MLPClassifier
    kw = {}
from threadpoolctl import threadpool_limits

def status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None

X, y = synthetic_data(n)
# Warm up on a few rows (first imports and allocations of the libraries).
warnings.simplefilter("ignore")
with threadpool_limits(limits=threads, user_api="blas"):
    MLPClassifier(hidden, batch_size=batch, max_iter=1, **kw).fit(X[:500], y[:500])
gc.collect()
rss0 = status("VmRSS")
try:  # reset the high-water mark VmHWM to the current RSS (Linux)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    method = "VmHWM after reset"
except OSError:
    method = None
if method is None or rss0 is None:
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    method = "ru_maxrss"
tracemalloc.start()
clf = MLPClassifier(hidden, batch_size=batch, max_iter=1, tol=0.0,
                    random_state=0, **kw)
with threadpool_limits(limits=threads, user_api="blas"):
    clf.fit(X, y)
cur, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
if method == "ru_maxrss":
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
else:
    rss1 = status("VmHWM")
n_params = sum(c.size for c in clf.coefs_) + sum(b.size for b in clf.intercepts_)
print(json.dumps(dict(lib=lib, rows=n, x_bytes=X.nbytes, peak_traced=peak,
                      retained_traced=cur, maxrss_growth=max(0, rss1 - rss0),
                      rss_method=method,
                      coef_dtype=str(clf.coefs_[0].dtype), n_params=n_params)))
"""


def run_memory(*, threads, libs, quick, log, n_rows=None):
    import fastbp
    from fastbp._estimators import _split_layers

    n = n_rows or (QUICK_ROWS if quick else FULL_ROWS)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"]
                                if env.get("PYTHONPATH") else "")
    sizes = [SYNTHETIC_FEATURES, 256, 128, N_CLASSES]
    batch = 128
    # One thread's workspace for a batch: the gathered input rows, every
    # layer's output and two delta buffers of the widest layer.
    ws_bytes = 4 * batch * (sizes[0] + sum(sizes[1:]) + 2 * max(sizes[1:]))
    grad_buffers = 1 if _split_layers(sizes, batch, threads) else threads
    res = {"case": "784-256-128-b128, 1 epoch", "rows": n, "threads": threads,
           "batch_workspace_bytes": ws_bytes,
           "gradient_buffers": grad_buffers, "libs": {}}
    for lib in libs:
        if lib == "torch":
            continue
        out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, lib, str(n),
                              str(threads)], capture_output=True, text=True,
                             env=env, timeout=600)
        if out.returncode != 0:
            log(f"  memory {lib}: child failed: {out.stderr.strip()[-500:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        p_bytes = 4 * r["n_params"]
        # Model state fastbp keeps by design: params, Adam's two moments, a
        # best-params copy and the gradient buffers: one per thread when
        # mini-batches are split by rows, one when split by layers.
        model_bytes = p_bytes * (4 + grad_buffers)
        # Per-sample arrays besides X: one-hot targets (float32 and bool) and
        # the row permutation.
        label_bytes = n * (N_CLASSES * 4 + N_CLASSES + 8)
        r["params_bytes"] = p_bytes
        r["model_state_bytes"] = model_bytes
        r["label_bytes"] = label_bytes
        r["excess_bytes"] = r["peak_traced"] - model_bytes - label_bytes
        # in units of the batch workspaces the fit allocates (one per
        # gradient buffer)
        r["excess_in_workspaces"] = r["excess_bytes"] / (ws_bytes * grad_buffers)
        res["libs"][lib] = r
        log(f"  memory {lib}: X {r['x_bytes'] / 2**20:.1f} MiB, peak numpy "
            f"allocations during fit {r['peak_traced'] / 2**20:.1f} MiB, peak RSS "
            f"growth {r['maxrss_growth'] / 2**20:.1f} MiB, params "
            f"{p_bytes / 2**20:.2f} MiB ({r['coef_dtype']})")
    fb = res["libs"].get("fastbp")
    checks = {}
    if fb:
        # A float64 copy of X would add 2 * x_bytes.
        checks["no_x_copy"] = (fb["peak_traced"] / fb["x_bytes"], 0.5,
                               fb["peak_traced"] < 0.5 * fb["x_bytes"])
        checks["excess_workspaces"] = (fb["excess_in_workspaces"], 4.0,
                                       fb["excess_in_workspaces"] <= 4.0)
    res["checks"] = checks
    return res


# -- report ----------------------------------------------------------------
_LABELS = {"digits-b200": "digits 64-100-10, batch 200",
           "digits-b32": "digits 64-100-10, batch 32",
           "784-256-128-b128": "784-256-128-10, batch 128",
           "784-256-128-b32": "784-256-128-10, batch 32",
           "784-1024-1024-b256": "784-1024-1024-10, batch 256"}


def _fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _fmt_x(v):
    return "-" if v is None else f"{v:.1f}x"


def _table(headers, rows, markdown):
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])]
                     + [fmt(r) for r in rows])


def format_report(report, markdown=False):
    out = []
    meta = report["meta"]
    out.append(
        f"fastbp bench: {meta['threads']} thread(s), float32, Adam, "
        f"{meta['cpu']}; {'quick' if meta['quick'] else 'full'} run, "
        f"load average {meta['loadavg_start']} -> {meta['loadavg_end']}")
    if meta.get("started_utc"):
        out.append(f"started {meta['started_utc']}, fastbp commit "
                   f"{meta.get('commit') or 'unknown (not a git checkout)'}")
    out.append("ms per epoch = median over timed fits of fit(max_iter=k) time / k "
               "(fresh model each fit, warmed up, libraries interleaved); "
               "ratios = other / fastbp.")
    if report.get("sgemm_gflops"):
        s = report["sgemm_gflops"]
        out.append(f"sgemm 2048^3 float32, {meta['threads']} thread(s): numpy "
                   f"{s['numpy']:.0f} GFLOP/s, scipy's BLAS {s['scipy']:.0f} GFLOP/s")
    cases = report["cases"]
    if cases:
        headers = ["case", "rows", "fastbp", "sklearn", "torch", "vs sklearn",
                   "vs torch", "fastbp aims at", "reached"]
        rows = []
        for res in cases:
            L = res["libs"]
            get = lambda lib, k: L.get(lib, {}).get(k)  # noqa: E731
            tgt, met = [], []
            for what, (v, t, ok) in res.get("checks", {}).items():
                if what == "of_sgemm":
                    tgt.append(f">={t:.0%} sgemm ({v:.0%})")
                else:
                    tgt.append(f">={t:g}x {what[1:]}")
                met.append("yes" if ok else "no")
            rows.append([_LABELS.get(res["case"], res["case"]), str(res["rows"]),
                         _fmt_ms(get("fastbp", "ms_per_epoch")),
                         _fmt_ms(get("sklearn", "ms_per_epoch")),
                         _fmt_ms(get("torch", "ms_per_epoch")),
                         _fmt_x(get("sklearn", "fastbp_speedup")),
                         _fmt_x(get("torch", "fastbp_speedup")),
                         ", ".join(tgt) or "-", "/".join(met) or "-"])
        out.append("")
        out.append("Training, ms per epoch (lower is better):")
        out.append(_table(headers, rows, markdown))
        ceil = [r for r in cases if r.get("step_gemm_ms_per_epoch")]
        if ceil:
            out.append("")
            out.append("The step's matrix products alone, ms per epoch (numpy, "
                       "same threads, the case's shapes; no activation, loss, "
                       "optimizer or Python): on large layers a floor for "
                       "calling BLAS layer by layer; on small ones numpy's "
                       "cost per call is much of it.")
            for r in ceil:
                fb = r["libs"].get("fastbp")
                share = (f"; fastbp takes {fb['ms_per_epoch'] / r['step_gemm_ms_per_epoch']:.2f}x that"
                         if fb else "")
                out.append(f"  {_LABELS.get(r['case'], r['case'])}: "
                           f"{_fmt_ms(r['step_gemm_ms_per_epoch'])}{share}")
        big = [r for r in cases if "fastbp_sgemm_fraction" in r]
        for r in big:
            L = r["libs"]
            parts = [f"{lib} {L[lib]['gflops']:.0f}" for lib in L]
            alone = ""
            if r.get("step_gemm_sgemm_fraction"):
                alone = (f"; its matrix products alone reach "
                         f"{r['step_gemm_gflops']:.0f} GFLOP/s = "
                         f"{r['step_gemm_sgemm_fraction']:.0%} of sgemm")
            out.append(
                f"\n{_LABELS.get(r['case'], r['case'])}: {r['gflop_per_epoch']:.0f} "
                f"GFLOP per epoch; GFLOP/s " + ", ".join(parts)
                + f"; fastbp = {r['fastbp_sgemm_fraction']:.0%} of numpy sgemm "
                f"({r['sgemm_gflops']:.0f} GFLOP/s, "
                + ("measured beside each fit)" if "peers" in r
                   else "measured before and after the case)") + alone)
    pred = report.get("predict")
    if pred:
        headers = ["predict (digits 64-100-10)", "fastbp", "sklearn", "torch",
                   "vs sklearn", "vs torch", "fastbp aims at", "reached"]
        L = pred["libs"]
        rows = []
        for key, label in (("one_row", "1 row, us per call"),
                           ("all_rows", f"{pred['rows_all']} rows, us per call")):
            if key == "one_row":
                c = pred["checks"].get("one_row_us")
                tgt = f"<={PREDICT_TARGET_ONE_ROW_US:g} us" if c else "-"
            else:
                c = pred["checks"].get("all_rows_xsklearn")
                tgt = f">={PREDICT_TARGET_VS_SKLEARN:g}x sklearn" if c else "-"
            rows.append([label,
                         *(_fmt_ms(L.get(lib, {}).get(f"{key}_us")) for lib in LIBS),
                         _fmt_x(L.get("sklearn", {}).get(f"{key}_speedup")),
                         _fmt_x(L.get("torch", {}).get(f"{key}_speedup")),
                         tgt, ("yes" if c[2] else "no") if c else "-"])
        out.append("")
        out.append(_table(headers, rows, markdown))
    mem = report.get("memory")
    if mem and mem["libs"]:
        headers = ["memory, " + mem["case"], "X", "peak numpy allocs in fit",
                   "peak RSS growth", "params"]
        rows = []
        for lib, r in mem["libs"].items():
            rows.append([f"{lib} ({mem['rows']} rows, {r['coef_dtype']})",
                         f"{r['x_bytes'] / 2**20:.1f} MiB",
                         f"{r['peak_traced'] / 2**20:.1f} MiB",
                         f"{r['maxrss_growth'] / 2**20:.1f} MiB",
                         f"{r['params_bytes'] / 2**20:.2f} MiB"])
        out.append("")
        out.append(_table(headers, rows, markdown))
        fb = mem["libs"].get("fastbp")
        if fb:
            c = mem["checks"]
            out.append(
                f"fastbp: X copied to float64: {'no' if c['no_x_copy'][2] else 'YES'}; "
                f"peak beyond model state (params, Adam moments, "
                f"{mem['gradient_buffers']} gradient buffer(s), best copy) and "
                f"per-row targets = "
                f"{fb['excess_bytes'] / 2**20:.2f} MiB = {fb['excess_in_workspaces']:.1f} "
                f"batch workspaces ({mem['gradient_buffers']} allocated, "
                f"{mem['batch_workspace_bytes'] / 2**20:.2f} MiB each) "
                f"[aim: at most 4; reached: {'yes' if c['excess_workspaces'][2] else 'no'}]")
    if report.get("busy") or report.get("sparse"):
        from fastbp._bench_load import format_busy, format_sparse

        table = lambda h, r: _table(h, r, markdown)  # noqa: E731
        if report.get("busy"):
            out += ["", format_busy(report["busy"], table)]
        if report.get("sparse"):
            out += ["", format_sparse(report["sparse"], table)]
    return "\n".join(out)


# -- command line ------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="fastbp bench",
        description="Compare fastbp's MLPClassifier with scikit-learn's and "
                    "PyTorch's on training (ms per epoch) and prediction.")
    p.add_argument("--quick", action="store_true",
                   help=f"fewer epochs and repeats, {QUICK_ROWS} synthetic rows "
                        f"instead of {FULL_ROWS} (for CI)")
    p.add_argument("--cases", default=None,
                   help="comma-separated cases to run (default: all): "
                        + ", ".join([*CASES, *EXTRA_CASES]))
    p.add_argument("--libs", default=",".join(LIBS),
                   help="comma-separated libraries (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (default: all cores)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed fits per library and case (default 15, fewer "
                        "where the fits would take more than ~15 s, quick ~4 s; "
                        "the busy case: 11, quick 9)")
    p.add_argument("--rows", type=int, default=None,
                   help="rows of the synthetic data (overrides the default)")
    p.add_argument("--busy", type=int, default=2, metavar="N",
                   help="busy-looping processes beside the 'busy' case "
                        "(default: %(default)s)")
    p.add_argument("--markdown", action="store_true",
                   help="print README-ready markdown tables")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write every measurement to PATH as JSON")
    return p.parse_args(argv)


def main(argv=None):
    """Run the benchmark; returns 0 (the exit status)."""
    args = parse_args(argv)
    threads = args.threads or default_threads()
    names = list(CASES) + list(EXTRA_CASES)
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown}; choose from {names}")
        names = [c for c in names if c in wanted]
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    bad = [lib for lib in libs if lib not in LIBS]
    if bad:
        raise SystemExit(f"unknown librar(y/ies) {bad}; choose from {list(LIBS)}")
    if "torch" in libs and not have_torch():
        libs.remove("torch")
    # (as many fits as fit in each case's time budget, up to 15: the medians
    # of 3 short fits moved 30% from run to run on a shared VM)
    repeats = args.repeats or 15
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    t_start = time.perf_counter()
    report = {"meta": {"threads": threads, "quick": args.quick, "cpu": _cpu_name(),
                       "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "commit": _git_commit(),
                       "loadavg_start": _loadavg(), "versions": _versions(),
                       "libs": libs, "method": "fit(max_iter=k)/k, medians"},
              "cases": []}
    log(f"fastbp bench: threads={threads}, libs={libs}, "
        f"{'quick' if args.quick else 'full'} run")
    sg = {"numpy": sgemm_gflops(threads), "scipy": sgemm_gflops(threads, scipy_blas=True)}
    report["sgemm_gflops"] = sg
    log(f"  sgemm: numpy {sg['numpy']:.0f} GFLOP/s, scipy {sg['scipy']:.0f} GFLOP/s")
    data = {}
    for name in names:
        if name not in CASES:
            continue
        kind = CASES[name]["data"]
        if kind not in data:
            data[kind] = case_data(name, n_rows=rows)
        X, y = data[kind]
        sizes = [X.shape[1], *CASES[name]["hidden"], N_CLASSES]
        batch = CASES[name]["batch"]
        # The products alone and sgemm are measured beside each of
        # fastbp's fits (see run_case), like the libraries against each
        # other: a single measurement before or after a case of minutes
        # read 30% apart on a shared VM.
        peers = {"products": lambda: step_gemm_gflops(sizes, batch, threads)}
        big = "sgemm_fraction" in CASES[name]["target"]
        if big:
            peers["sgemm"] = lambda: sgemm_gflops(threads)
        res = run_case(name, X, y, threads=threads, libs=libs, repeats=repeats,
                       quick=args.quick, log=log, peers=peers,
                       min_fastbp_fits=3 if big else 1)
        res["step_gemm_gflops"] = res["peers"]["products"]["gflops"]
        res["step_gemm_ms_per_epoch"] = (1e3 * res["gflop_per_epoch"]
                                         / res["step_gemm_gflops"])
        check_targets(res, res["peers"]["sgemm"]["gflops"] if big else None)
        report["cases"].append(res)
    data.clear()
    if "predict" in names:
        report["predict"] = run_predict(threads=threads, libs=libs,
                                        quick=args.quick, log=log)
    if "memory" in names:
        report["memory"] = run_memory(threads=threads, libs=libs, quick=args.quick,
                                      log=log, n_rows=args.rows)
    if "busy" in names:
        from fastbp._bench_load import run_busy

        report["busy"] = run_busy(threads=threads, quick=args.quick, log=log,
                                  n_busy=args.busy, repeats=args.repeats)
    if "sparse" in names:
        from fastbp._bench_load import run_sparse

        report["sparse"] = run_sparse(threads=threads, quick=args.quick, log=log)
    report["meta"]["loadavg_end"] = _loadavg()
    report["meta"]["seconds"] = time.perf_counter() - t_start
    print(format_report(report, markdown=args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=float)
    log(f"done in {report['meta']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
