"""Where the spread of fit times comes from: fastbp on one thread against
fastbp on the team of threads (the default, its tuner on), interleaved,
a pause before each fit, in one process.

    python benchmarks/steadiness.py                    # digits 64-100-10, batch 200
    python benchmarks/steadiness.py --case 784-256-128-b128 --fits 9

For each setting it prints the median ms per epoch, the spread (slowest
fit over fastest) and every fit; for the default, each fit's mean
mini-batch time and the threads that ran its mini-batches (from the
tuner's trace). Where one thread is steady while the team's mini-batches
take different times from fit to fit, the spread is the second core's (a
virtual machine's second vCPU shared or stalled on its host), not
fastbp's loop. Each round ends by timing what a second thread gives on
in-cache products at that moment (fastbp._bench._common.core_pair: about
2 on two free cores, about 1 where the host runs both vCPUs on one
core's hyperthreads) and how long a 512 KiB hand-off between two threads
takes (fastbp._bench._common.handoff_us: 7-8 us where the two vCPUs
share a cache, about twice that where the host keeps them apart), printed beside
that round's default fit.
"""
import argparse
import statistics
import time
import warnings

from fastbp import MLPClassifier
from fastbp._bench._common import core_pair, handoff_us
from fastbp._bench._train import CASES, case_data
from fastbp._core import _tuner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="digits-b200", choices=sorted(CASES))
    ap.add_argument("--fits", type=int, default=15)
    args = ap.parse_args()
    case = CASES[args.case]
    X, y = case_data(args.case, n_rows=None if case["data"] == "digits" else 20000)
    epochs = case["epochs"]
    warnings.simplefilter("ignore")     # ConvergenceWarning: max_iter is short

    def fit(n_threads, seed):
        clf = MLPClassifier(case["hidden"], batch_size=case["batch"],
                            max_iter=epochs, tol=0, n_iter_no_change=10**9,
                            random_state=seed, n_threads=n_threads,
                            progress=False)
        _tuner._batch_trace()
        t0 = time.perf_counter()
        clf.fit(X, y)
        ms = 1e3 * (time.perf_counter() - t0) / epochs
        trace = _tuner._batch_trace()
        return ms, trace

    settings = {"one thread": 1, "default": None}
    for n in settings.values():
        fit(n, 0)                       # warm-up
    times = {name: [] for name in settings}
    batches = []
    for r in range(args.fits):
        names = list(settings) if r % 2 == 0 else list(settings)[::-1]
        for name in names:
            time.sleep(0.3)
            ms, trace = fit(settings[name], r)
            times[name].append(ms)
            if name == "default":
                team = sum(1 for t, _ in trace if t > 1)
                mean_us = 1e6 * sum(d for _, d in trace) / max(1, len(trace))
                batches.append(f"{mean_us:.0f} us ({team}/{len(trace)} on the team)")
        batches[-1] += (f" [two threads / one: {core_pair():.2f}, hand-off "
                        f"{handoff_us():.1f} us]")
    for name, v in times.items():
        print(f"{name:10s}: median {statistics.median(v):.3f} ms/epoch, spread "
              f"{max(v) / min(v):.2f}; " + " ".join(f"{x:.3g}" for x in v))
    print("default, each fit's mean mini-batch: " + ", ".join(batches))


if __name__ == "__main__":
    main()
