"""Training cases: fastbp, scikit-learn and PyTorch fit the same data for
the same epochs, interleaved (see the package docstring)."""
import statistics
import time
import warnings

import numpy as np

from fastbp._core import _tuner
from fastbp._bench._jax import COMPILE_SECONDS, fit_jax
from fastbp._bench._common import (
    FULL_ROWS, N_CLASSES, digits_data, fmt_ms, fmt_x, orders, settle,
    synthetic_data, train_flops_per_sample)

# name -> description. Targets are ratios (other library's time / fastbp's
# time) that fastbp should reach or beat; "issue" holds the reference
# numbers (ms/epoch on the reporter's machine) for scikit-learn and PyTorch.
# Against JAX/XLA (a whole-epoch compiled program) the aims are 1.5x on the
# small and medium networks and 1.15x on 784-1024-1024, whose epoch is
# nearly all matrix products: the report shows each epoch against the
# products at their isolated speed (step_isolated_ms), the floor.
CASES = {
    "digits-b200": dict(data="digits", hidden=(100,), batch=200, epochs=20,
                        target=dict(sklearn=5.0, torch=5.0, jax=1.5),
                        issue=dict(sklearn=3.5, torch=4.9)),
    "digits-b32": dict(data="digits", hidden=(100,), batch=32, epochs=20,
                       target=dict(sklearn=10.0, torch=20.0, jax=1.5),
                       issue=dict(sklearn=12.6, torch=31.7)),
    "784-256-128-b128": dict(data="synthetic", hidden=(256, 128), batch=128, epochs=1,
                             target=dict(sklearn=2.5, torch=2.0, jax=1.5),
                             issue=dict(sklearn=1093, torch=775)),
    "784-256-128-b32": dict(data="synthetic", hidden=(256, 128), batch=32, epochs=1,
                            target=dict(sklearn=4.0, torch=3.0, jax=1.5),
                            issue=dict(sklearn=4070, torch=3414)),
    "784-1024-1024-b256": dict(data="synthetic", hidden=(1024, 1024), batch=256, epochs=1,
                               target=dict(torch=1.3, jax=1.15),
                               issue=dict(sklearn=10400, torch=5086)),
}

#: Steady times: the slowest of fastbp's timed fits of a case at most this
#: many times the fastest (each fit after the warm-up ones, in one process).
STEADY = 1.10

#: The libraries, fastbp first; each peer has a "vs" column.
LIBS = ("fastbp", "sklearn", "torch", "jax")
PEERS = LIBS[1:]

LABELS = {"digits-b200": "digits 64-100-10, batch 200",
           "digits-b32": "digits 64-100-10, batch 32",
           "784-256-128-b128": "784-256-128-10, batch 128",
           "784-256-128-b32": "784-256-128-10, batch 32",
           "784-1024-1024-b256": "784-1024-1024-10, batch 256"}


def case_data(name, n_rows=None, seed=0):
    """(X, y) for the case `name`; n_rows applies to synthetic data only."""
    case = CASES[name]
    if case["data"] == "digits":
        return digits_data()
    return synthetic_data(FULL_ROWS if n_rows is None else n_rows, seed=seed)


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
    rows (False), whatever fastbp's rule (fastbp._solver.split_layers) picks:
    to measure the two ways of using the threads beside each other."""
    def fit(X, y, hidden, batch, epochs, threads, seed=0):
        from fastbp import _solver

        rule = _solver.split_layers
        _solver.split_layers = lambda *a: split
        try:
            return fit_fastbp(X, y, hidden, batch, epochs, threads, seed=seed)
        finally:
            _solver.split_layers = rule
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

TRAINERS = {"fastbp": fit_fastbp, "sklearn": fit_sklearn, "torch": fit_torch,
            "jax": fit_jax}


def run_case(name, X, y, *, threads, libs, repeats, quick, log, peers=None,
             min_fastbp_fits=1):
    """Time one training case for each library; returns a result dict.

    Every library fits the same number of epochs (the case's `epochs`,
    at most 5 in quick mode): later epochs can be slower than early ones
    (Adam's moments decay into subnormal floats), so all are timed over the
    same stretch of training. Each library gets `repeats` timed fits, fewer
    where its fits are long (about 15 s per library and case, 1.5 s quick):
    short cases (digits) get many fits, whose medians hold still on a noisy
    machine, long ones a few (fastbp at least `min_fastbp_fits`).

    peers: {name: callable returning a number (GFLOP/s, ms)}, measured right before and
    right after each of fastbp's timed fits (so that load from elsewhere
    hits them as it hits fastbp); res["peers"][name] holds the samples and
    their median.
    """
    case = CASES[name]
    hidden, batch = case["hidden"], case["batch"]
    epochs = min(case["epochs"], 5) if quick else case["epochs"]
    n = X.shape[0]
    sizes = [X.shape[1], *hidden, N_CLASSES]
    budget_s = 1.5 if quick else 15.0
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
    team_share = []     # per fastbp fit: its mini-batches run on the threads
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
            if lib == "fastbp":
                _tuner._batch_trace()           # (cleared, untimed)
            dt, curve, _ = TRAINERS[lib](X, y, hidden, batch, epochs, threads,
                                         seed=r)
            samples[lib].append(dt / epochs)
            curves[lib] = curve
            if lib == "fastbp":
                trace = _tuner._batch_trace()
                if trace:
                    team_share.append(sum(t > 1 for t, _ in trace) / len(trace))
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
        if len(samples[lib]) >= 2:
            res["libs"][lib]["spread"] = max(samples[lib]) / min(samples[lib])
    if team_share and "fastbp" in res["libs"]:
        res["libs"]["fastbp"]["team_share"] = team_share
    fb = res["libs"].get("fastbp")
    for lib in PEERS:
        if fb and lib in res["libs"]:
            res["libs"][lib]["fastbp_speedup"] = (
                res["libs"][lib]["ms_per_epoch"] / fb["ms_per_epoch"])
    if "jax" in res["libs"]:    # compiled before its first timed fit, not timed
        res["libs"]["jax"]["compile_s"] = COMPILE_SECONDS.get(
            (tuple(sizes), min(batch, n), n, X.dtype.name))
    gflop = train_flops_per_sample(sizes) * n / 1e9
    res["gflop_per_epoch"] = gflop
    for r in res["libs"].values():
        r["gflops"] = gflop / (r["ms_per_epoch"] / 1e3)
    if peers:
        res["peers"] = {p: {"median": statistics.median(v), "samples": v}
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
    for lib in PEERS:
        t = case["target"].get(lib)
        if t is not None and lib in libs and "fastbp" in libs:
            v = libs[lib]["fastbp_speedup"]
            checks[f"x{lib}"] = (v, t, v >= t)
    spread = libs.get("fastbp", {}).get("spread")
    if spread is not None and libs["fastbp"].get("fits", 0) >= 3:
        checks["spread"] = (spread, STEADY, spread <= STEADY)
    if sgemm and "fastbp" in libs:    # for the record, not an aim
        res["sgemm_gflops"] = sgemm
        res["fastbp_sgemm_fraction"] = libs["fastbp"]["gflops"] / sgemm
        if res.get("step_gemm_gflops"):
            res["step_gemm_sgemm_fraction"] = res["step_gemm_gflops"] / sgemm
    res["checks"] = checks
    return checks


def aim_label(what, target):
    """How the aim `what` of res['checks'] reads: '>=1.5x jax', 'spread<=1.1'."""
    if what == "spread":
        return f"spread<={target:g}"
    return f">={target:g}x {what[1:]}"


def format_training(cases, table):
    """The training table, the products-alone lines and the largest case's
    GFLOP/s, as a list of lines; `table(headers, rows)` lays out a table.
    A library none of the cases ran has no column."""
    out = []
    ran = [lib for lib in LIBS if any(lib in r["libs"] for r in cases)]
    peers = [lib for lib in ran if lib != "fastbp"]
    headers = (["case", "rows"] + ran + [f"vs {lib}" for lib in peers]
               + ["fastbp aims at", "reached"])
    rows = []
    for res in cases:
        L = res["libs"]
        get = lambda lib, k: L.get(lib, {}).get(k)  # noqa: E731
        tgt, met = [], []
        for what, (v, t, ok) in res.get("checks", {}).items():
            tgt.append(aim_label(what, t))
            met.append("yes" if ok else "no")
        rows.append([LABELS.get(res["case"], res["case"]), str(res["rows"]),
                     *(fmt_ms(get(lib, "ms_per_epoch")) for lib in ran),
                     *(fmt_x(get(lib, "fastbp_speedup")) for lib in peers),
                     ", ".join(tgt) or "-", "/".join(met) or "-"])
    out.append("")
    out.append("Training, ms per epoch (lower is better):")
    out.append(table(headers, rows))
    steady = [r for r in cases
              if any("spread" in v for v in r["libs"].values())]
    if steady:
        out.append("")
        out.append("Steadiness: the slowest of each library's timed fits over "
                   "the fastest (they are interleaved, so a machine that "
                   "slows down slows them all):")
        for r in steady:
            line = f"  {LABELS.get(r['case'], r['case'])}: " + ", ".join(
                f"{lib} {v['spread']:.2f} ({v['fits']} fits)"
                for lib, v in r["libs"].items() if "spread" in v)
            share = r["libs"].get("fastbp", {}).get("team_share")
            if share and max(share) > 0:
                # the thread tuner's choice: one thread, where it took a
                # stalled or loaded core for load, is slower on idle cores
                line += ("; fastbp's mini-batches on its threads, per fit: "
                         + " ".join(f"{v:.0%}" for v in share))
            pair = r.get("peers", {}).get("core_pair", {}).get("samples")
            if pair:
                # (two vCPUs that share one core's arithmetic give a
                # second thread little: see _common.core_pair)
                line += (f"; two threads' throughput over one's beside "
                         f"fastbp's fits {min(pair):.2f}-{max(pair):.2f}, "
                         f"under 1.5 in {sum(p < 1.5 for p in pair)} of "
                         f"{len(pair)}")
            hand = [v for v in r.get("peers", {}).get("handoff", {}).get(
                "samples", []) if v == v]
            if hand:
                # (two vCPUs that share no cache make every hand-off
                # between a team's threads slow: see _common.handoff_us)
                line += (f"; a 512 KiB hand-off between two threads beside "
                         f"fastbp's fits {min(hand):.1f}-{max(hand):.1f} us")
            out.append(line)
    ceil = [r for r in cases if r.get("step_gemm_ms_per_epoch")]
    if ceil:
        out.append("")
        out.append("The step's matrix products alone, ms per epoch, the "
                   "case's shapes, no activation, loss, optimizer or Python: "
                   "through numpy (same threads; on small layers numpy's "
                   "cost per call is much of it), and at their isolated "
                   "speed (each alone, warm, on one thread, through the "
                   "product fastbp's layers run, divided over the threads: "
                   "the floor for a step that calls them layer by layer).")
        for r in ceil:
            fb = r["libs"].get("fastbp")
            iso = r.get("step_isolated_ms_per_epoch")
            line = (f"  {LABELS.get(r['case'], r['case'])}: numpy "
                    f"{fmt_ms(r['step_gemm_ms_per_epoch'])}")
            if fb:
                line += f" (fastbp takes {fb['ms_per_epoch'] / r['step_gemm_ms_per_epoch']:.2f}x)"
            if iso:
                line += f", isolated {fmt_ms(iso)}"
                if fb:
                    line += f" (fastbp takes {fb['ms_per_epoch'] / iso:.2f}x)"
            out.append(line)
    for r in (r for r in cases if "fastbp_sgemm_fraction" in r):
        L = r["libs"]
        parts = [f"{lib} {L[lib]['gflops']:.0f}" for lib in L]
        alone = ""
        if r.get("step_gemm_sgemm_fraction"):
            alone = (f"; its matrix products alone reach "
                     f"{r['step_gemm_gflops']:.0f} GFLOP/s = "
                     f"{r['step_gemm_sgemm_fraction']:.0%} of sgemm")
        out.append(
            f"\n{LABELS.get(r['case'], r['case'])}: {r['gflop_per_epoch']:.0f} "
            f"GFLOP per epoch; GFLOP/s " + ", ".join(parts)
            + f"; fastbp = {r['fastbp_sgemm_fraction']:.0%} of numpy sgemm "
            f"({r['sgemm_gflops']:.0f} GFLOP/s, "
            + ("measured beside each fit)" if "peers" in r
               else "measured before and after the case)") + alone)
    compiled = [(r, r["libs"]["jax"]["compile_s"]) for r in cases
                if r["libs"].get("jax", {}).get("compile_s") is not None]
    if compiled:
        out.append("\nJAX's compile time, seconds, not counted in its fits: "
                   + ", ".join(f"{LABELS.get(r['case'], r['case'])} {s:.1f}"
                               for r, s in compiled))
    return out
