"""What every part of ``fastbp bench`` shares: the data, the timing
discipline (a pause before each timed run, libraries interleaved in every
order), the machine's description and the tables."""
import gc
import os
import platform
import statistics
import subprocess
import time

import numpy as np

SYNTHETIC_FEATURES = 784

N_CLASSES = 10

FULL_ROWS = 60000

QUICK_ROWS = 3000

#: Seconds to wait before each timed fit or block of calls. OpenBLAS's
#: idle worker threads spin for 2**28 cycles (about 0.1 s at 2-3 GHz)
#: after each threaded call before they sleep, so a run started at once
#: shares a core with them and pays for them: beside two busy processes on
#: two cores, a fastbp fit right after a scikit-learn fit takes about 1.36x
#: as long as one right after another fastbp fit (the bench entry of
#: CHANGELOG.md).
SETTLE_S = 0.15


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


def n_weights(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def train_flops_per_sample(sizes):
    """~ flops of one training step per sample (see the module docstring)."""
    return 6 * n_weights(sizes) - 2 * sizes[0] * sizes[1]


def have_torch():
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


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
    return 2.0 * n ** 3 / median_seconds(mm, threads, repeats) / 1e9


def median_seconds(fn, threads, repeats):
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
    return flop / median_seconds(step, threads, repeats) / 1e9


def step_isolated_ms(sizes, batch, threads, repeats=5):
    """Milliseconds of one training step's matrix products (step_products)
    at their isolated speed: each run alone by the product fastbp's layers
    run (fastbp._core._kernels.matmul: fastbp's own kernel in single
    precision where it runs, else BLAS), on one thread, warm, best of
    `repeats`, and the sum divided over `threads` threads. No step can run
    its products faster than this without a faster kernel: the floor the
    bench compares fastbp's epoch with."""
    from threadpoolctl import threadpool_limits

    from fastbp._core._kernels import matmul

    def operand(x):
        return (x, False) if x.flags.c_contiguous else (x.T, True)

    total = 0.0
    with threadpool_limits(limits=1, user_api="blas"):
        for a, b, out in step_products(sizes, batch):
            (A, ta), (B, tb) = operand(a), operand(b)
            matmul(A, B, out, ta, tb)
            reps = max(1, int(2e7 / (2.0 * a.shape[0] * a.shape[1] * b.shape[1])))
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(reps):
                    matmul(A, B, out, ta, tb)
                best = min(best, (time.perf_counter() - t0) / reps)
            total += best
    return 1e3 * total / threads


def core_pair(n=256, calls=24, repeats=2):
    """Throughput of two threads over one on a product that stays in each
    core's caches (fastbp's one-thread kernel, float32 n x n, `calls`
    products per thread; best of `repeats`): near 2 where the two CPUs are
    two cores, near 1 where they share one core's arithmetic units (the
    hyperthreads of one core, as a virtual machine's host can place its two
    vCPUs for seconds at a time). Beside each timed fit it tells which of
    fastbp's slow fits were the host's doing: a fit that needs the second
    core runs at most this share faster than one thread."""
    import threading

    from threadpoolctl import threadpool_limits

    from fastbp._core._kernels import matmul

    A = np.full((n, n), 0.5, dtype=np.float32)
    outs = [np.empty((n, n), dtype=np.float32) for _ in range(2)]

    def run(out):
        for _ in range(calls):
            matmul(A, A, out, False, False)

    def timed(out, start, spans):
        matmul(A, A, out, False, False)     # this thread's buffers, warm
        start.wait()
        t0 = time.perf_counter()
        run(out)
        spans.append((t0, time.perf_counter()))

    one = two = float("inf")
    with threadpool_limits(limits=1, user_api="blas"):
        run(outs[0])
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(outs[0])
            one = min(one, time.perf_counter() - t0)
            start, spans = threading.Barrier(2), []
            pair = [threading.Thread(target=timed, args=(o, start, spans))
                    for o in outs]
            for t in pair:
                t.start()
            for t in pair:
                t.join()
            # (from the first start to the last end: a thread that starts
            # late, after the other is done, shows as no overlap)
            two = min(two, max(e for _, e in spans) - min(b for b, _ in spans))
    return 2 * one / two


def handoff_us():
    """Microseconds for one thread to take over 512 KiB another has just
    written (fastbp._core._kernels.handoff_us; nan where the process may
    use one CPU only): 7-8 on the 2-vCPU AMD EPYC VM where its two vCPUs
    share a cache, about twice that where the host keeps them apart, as it
    does for minutes at a time while each vCPU alone runs as fast
    (fastbp/_core/_handoff.h). Beside each timed
    fit it tells which of a team's slow fits were the host's doing: a
    layer-split mini-batch hands its layers' outputs and deltas between
    the threads at every step (see "Owned rows" in _backprop.pyx)."""
    from fastbp._core._kernels import handoff_us as probe

    us = probe()
    return float("nan") if us is None else us


def settle():
    """Collect garbage, then wait SETTLE_S for the last run's threads to
    go idle: every library starts its timed run from the same state."""
    gc.collect()
    time.sleep(SETTLE_S)


def orders(names, rounds):
    """(round, names in that round's order) for `rounds` rounds, cycling
    through a balanced Latin square of the names (Williams's design): over
    each cycle of n rounds (2n for an odd number n of names) every name
    runs at every position as often, and right after every other name as
    often, so that none is always timed first, or after the same other
    one (and charged its leftovers), however few the rounds. (Cycling
    through all n! orders balances only over n! rounds: with 4 libraries
    and 15 rounds, the first took the first place in 6 of them.)"""
    names = list(names)
    n = len(names)
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    square = [[(v + i) % n for v in first] for i in range(n)]
    if n % 2:
        square += [row[::-1] for row in square]
    for r in range(rounds):
        yield r, [names[i] for i in square[r % len(square)]]


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


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def git_commit():
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


def versions():
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
        import jax

        v["jax"] = jax.__version__
    except Exception:
        pass
    try:
        from threadpoolctl import threadpool_info

        v["blas"] = sorted({f"{i.get('internal_api')} {i.get('version')} "
                            f"({i.get('architecture')})"
                            for i in threadpool_info() if i["user_api"] == "blas"})
    except Exception:  # pragma: no cover
        pass
    return v


def fmt_ms(v):
    if v is None:
        return "-"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def fmt_x(v):
    return "-" if v is None else f"{v:.1f}x"


def table(headers, rows, markdown):
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


def fix_new_teams():
    """Have every Trainer made from now on run its parts on all its
    threads, the thread tuner off (the fixed team that benchmarks set the
    default against); returns a call that undoes it."""
    from fastbp import _solver

    make = _solver.make_trainer

    def fixed_team(*args, **kwargs):
        trainer = make(*args, **kwargs)
        trainer.fix_team(True)
        return trainer

    _solver.make_trainer = fixed_team

    def undo():
        _solver.make_trainer = make

    return undo
