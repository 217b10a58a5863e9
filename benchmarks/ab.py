"""Time the same fastbp fits in two installations, interleaved: is a change
faster, slower, or within noise?

Each installation runs in a worker process of its own (its Python, so its
fastbp), kept alive for the whole comparison. Round by round the two take
turns on each case, the order alternating and a pause before every timed
fit, so that load from elsewhere hits both alike; the table gives medians
and the ratio B / A with the spread of the per-round ratios::

    python benchmarks/ab.py A_PYTHON B_PYTHON [--rounds 7] [--threads 2]

e.g. ``python benchmarks/ab.py ../base/.venv/bin/python .venv/bin/python``.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

CASES = {
    "digits-b32": ((100,), 32, 20),
    "digits-b200": ((100,), 200, 20),
    "784-256-128-b128": ((256, 128), 128, 1),
    "784-256-128-b32": ((256, 128), 32, 1),
    "784-1024-1024-b256": ((1024, 1024), 256, 1),
}
ROWS = 6000

WORKER = r"""
import json, sys, time, warnings
import numpy as np
from sklearn.datasets import load_digits
from fastbp import MLPClassifier
warnings.simplefilter("ignore")
X, y = load_digits(return_X_y=True)
digits = (np.ascontiguousarray(X / 16.0, dtype=np.float32), y)
rng = np.random.default_rng(0)
Xs = rng.standard_normal((ROWS, 784), dtype=np.float32)
ys = np.argmax(Xs @ rng.standard_normal((784, 10), dtype=np.float32), axis=1)
for line in sys.stdin:
    hidden, batch, epochs, threads, data = json.loads(line)
    Xd, yd = digits if data == "digits" else (Xs, ys)
    clf = MLPClassifier(hidden_layer_sizes=tuple(hidden), batch_size=batch,
                        max_iter=epochs, tol=0.0, n_iter_no_change=10**9,
                        random_state=0, n_threads=threads)
    t0 = time.perf_counter()
    clf.fit(Xd, yd)
    print(json.dumps((time.perf_counter() - t0) / epochs), flush=True)
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a_python")
    p.add_argument("b_python")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--pause", type=float, default=0.3)
    args = p.parse_args(argv)
    code = WORKER.replace("ROWS", str(ROWS))
    workers = {k: subprocess.Popen([exe, "-c", code], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
               for k, exe in (("A", args.a_python), ("B", args.b_python))}

    def fit(k, case):
        hidden, batch, epochs = CASES[case]
        data = "digits" if case.startswith("digits") else "synthetic"
        w = workers[k]
        w.stdin.write(json.dumps([hidden, batch, epochs, args.threads, data]) + "\n")
        w.stdin.flush()
        return json.loads(w.stdout.readline())

    print(f"{'case':22s} {'A ms':>8s} {'B ms':>8s} {'B / A':>6s}  per-round B / A")
    try:
        for case in args.cases.split(","):
            for k in "AB":          # warm-up: imports, first touch, the tuner
                fit(k, case)
            t = {"A": [], "B": []}
            for r in range(args.rounds):
                for k in ("AB" if r % 2 == 0 else "BA"):
                    time.sleep(args.pause)
                    t[k].append(fit(k, case))
            a, b = statistics.median(t["A"]), statistics.median(t["B"])
            per = sorted(y / x for x, y in zip(t["A"], t["B"]))
            print(f"{case:22s} {1e3 * a:8.2f} {1e3 * b:8.2f} {b / a:6.3f}  "
                  f"{per[0]:.3f}-{per[-1]:.3f}", flush=True)
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
