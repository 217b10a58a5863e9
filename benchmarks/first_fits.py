"""The first fits of a fresh process: fastbp's default (the thread tuner
deciding) against a fixed team of all threads, on an idle machine.

A fresh process knows no size of mini-batch yet: the tuner starts each new
size on one thread and measures the team after a first short window
(fastbp/_core/_tuner.pyx). This script starts `--processes` fresh
interpreters for each setting, alternating, and in each times the first
`--fits` one-epoch fits (a pause before each); it prints, per fit index,
the median over processes of default / fixed team.

    python benchmarks/first_fits.py                        # 784-256-128-10, batch 128
    python benchmarks/first_fits.py --hidden 1024,1024 --batch 256
    python benchmarks/first_fits.py --digits --hidden 100 --batch 32
"""
import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, warnings
from fastbp import MLPClassifier
from fastbp._bench._common import digits_data, fix_new_teams, synthetic_data
hidden, batch, rows, fits, fixed, digits = json.loads(sys.argv[1])
X, y = digits_data() if digits else synthetic_data(rows, seed=0)
if fixed:
    fix_new_teams()
warnings.simplefilter("ignore")    # one epoch: ConvergenceWarning
out = []
for i in range(fits):
    clf = MLPClassifier(tuple(hidden), batch_size=batch, max_iter=1, tol=0,
                        random_state=i)
    time.sleep(0.3)
    t0 = time.perf_counter()
    clf.fit(X, y)
    out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--fits", type=int, default=3)
    ap.add_argument("--processes", type=int, default=6)
    ap.add_argument("--digits", action="store_true",
                    help="scikit-learn's 1797 digits instead of synthetic rows")
    args = ap.parse_args()
    hidden = [int(v) for v in args.hidden.split(",")]
    times = {"default": [], "fixed team": []}
    for p in range(args.processes):
        for name in (("default", "fixed team") if p % 2 == 0
                     else ("fixed team", "default")):
            spec = json.dumps([hidden, args.batch, args.rows, args.fits,
                               name == "fixed team", args.digits])
            res = subprocess.run([sys.executable, "-c", CHILD, spec],
                                 capture_output=True, text=True, check=True)
            times[name].append(json.loads(res.stdout))
    for i in range(args.fits):
        d = statistics.median(t[i] for t in times["default"])
        f = statistics.median(t[i] for t in times["fixed team"])
        print(f"fit {i + 1}: default {1e3 * d:.0f} ms, fixed team {1e3 * f:.0f} ms, "
              f"default / fixed team {d / f:.3f}")


if __name__ == "__main__":
    main()
