"""What waking a team of threads after a pause costs, with the team's
workers kept off the master's CPU (fastbp's default, see
fastbp/_core/_pin.h) and without.

On a virtual machine a vCPU that idled for a while reads as busy to the
guest's scheduler, so a sleeping OpenMP worker can be woken onto the
master's CPU, where the two share one CPU until a scheduler tick moves
one of them. This script fits scikit-learn's digits (one epoch, batch
200, a fixed team of all threads) after a pause, the two settings
interleaved in one process, and prints per setting the median fit time
and the first two mini-batches of each fit (from the tuner's trace).

    python benchmarks/team_wake.py [--fits 12] [--pause 0.3]
"""
import argparse
import statistics
import time
import warnings

from fastbp import MLPClassifier
from fastbp._bench._common import digits_data, fix_new_teams
from fastbp._core import _backprop, _tuner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fits", type=int, default=12)
    ap.add_argument("--pause", type=float, default=0.3)
    args = ap.parse_args()
    X, y = digits_data()
    fix_new_teams()
    warnings.simplefilter("ignore")     # one epoch: ConvergenceWarning
    times = {True: [], False: []}
    firsts = {True: [], False: []}
    for i in range(2 * args.fits + 2):
        pin = i % 2 == 0
        _backprop._pinning(pin)
        clf = MLPClassifier((100,), batch_size=200, max_iter=1, tol=0,
                            random_state=i)
        time.sleep(args.pause)
        _tuner._batch_trace()
        t0 = time.perf_counter()
        clf.fit(X, y)
        dt = time.perf_counter() - t0
        trace = _tuner._batch_trace()
        if i >= 2:                      # (the first of each: warm-up)
            times[pin].append(dt)
            firsts[pin].append(sum(d for _, d in trace[:2]))
    _backprop._pinning(True)
    for pin in (True, False):
        name = "workers apart" if pin else "not pinned   "
        print(f"{name}: fit median {1e3 * statistics.median(times[pin]):.2f} ms "
              f"(max {1e3 * max(times[pin]):.2f}); first two mini-batches: "
              + " ".join(f"{1e3 * v:.2f}" for v in firsts[pin]) + " ms")


if __name__ == "__main__":
    main()
