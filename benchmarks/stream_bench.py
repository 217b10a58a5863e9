"""Out-of-core training against in-memory training on the same data.

Writes a label-sorted classification set (default 2M x 100 float32, 800 MB)
to a .npy file, then fits the same model in fresh processes:

- ``memory``: the whole array loaded (np.load) and fitted in memory;
- ``memmap``: ``np.load(mmap_mode="r")``, streamed with the default knobs
  (64 MiB windows of 64 blocks);
- further ``memmap:<window MiB>:<blocks per window>`` variants.

Each prints accuracy on a held-out set drawn from the same distribution,
rows per second of training (fit time, epochs x rows / s) and the process's
peak resident memory (ru_maxrss). The file is read once before timing, so
the page cache holds it (the issue's setting).

    python benchmarks/stream_bench.py                      # 2M x 100, 2 epochs
    python benchmarks/stream_bench.py --rows 200000 --quick
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def make_data(path, rows, features, classes, seed=0):
    from sklearn.datasets import make_classification

    n_test = max(1000, rows // 10)
    X, y = make_classification(rows + n_test, features, n_informative=features // 2,
                               n_redundant=0, n_classes=classes,
                               n_clusters_per_class=2, class_sep=1.0,
                               random_state=seed)
    X = X.astype(np.float32)
    Xte, yte = X[rows:], y[rows:]
    X, y = X[:rows], y[:rows]
    order = np.argsort(y, kind="stable")      # sorted by label: the hard case
    np.save(path + ".X.npy", X[order])
    np.save(path + ".y.npy", y[order])
    np.save(path + ".Xte.npy", Xte)
    np.save(path + ".yte.npy", yte)


def _peak_rss_mib():
    # VmHWM: this process's high-water mark (ru_maxrss survives exec and
    # would report the parent's)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _AnonPeak:
    """Samples RssAnon (memory that is not file pages) every 20 ms."""

    def __init__(self):
        import threading

        self.peak = _status("RssAnon")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, _status("RssAnon"))

    def close(self):
        self.stop.set()
        self.thread.join()
        return max(self.peak, _status("RssAnon"))


def run_one(path, mode, epochs, hidden, n_threads):
    import fastbp

    y = np.load(path + ".y.npy")
    Xte, yte = np.load(path + ".Xte.npy"), np.load(path + ".yte.npy")
    if mode == "memory":
        X = np.load(path + ".X.npy")
        data = X
    else:
        X = np.load(path + ".X.npy", mmap_mode="r")
        parts = mode.split(":")
        if len(parts) == 3:
            data = fastbp.stream(X, window_bytes=int(float(parts[1]) * 2 ** 20),
                                 blocks_per_window=int(parts[2]))
        else:
            data = X
    clf = fastbp.MLPClassifier(hidden, max_iter=epochs, random_state=0,
                               n_threads=n_threads, shuffle=True, tol=0,
                               n_iter_no_change=10 ** 6)
    before = _peak_rss_mib()
    anon = _AnonPeak()
    t0 = time.perf_counter()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(data, y)
    dt = time.perf_counter() - t0
    peak = _peak_rss_mib()
    anon_peak = anon.close()
    return {"mode": mode, "accuracy": float(clf.score(Xte, yte)),
            "rows_per_s": X.shape[0] * clf.n_iter_ / dt, "fit_s": dt,
            "peak_rss_mib": peak, "peak_anon_mib": anon_peak,
            "rss_before_fit_mib": before, "rows": X.shape[0], "features": X.shape[1],
            "epochs": clf.n_iter_, "file_mib": X.nbytes / 2 ** 20}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--hidden", default="100")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default="memory,memmap,memmap:256:64,memmap:64:16")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    if args.run:
        print(json.dumps(run_one(args.path, args.run, args.epochs, hidden,
                                 args.threads)))
        return
    tmp = tempfile.TemporaryDirectory(dir=args.dir)
    path = os.path.join(tmp.name, "data")
    make_data(path, args.rows, args.features, args.classes)
    with open(path + ".X.npy", "rb") as f:      # into the page cache
        while f.read(1 << 24):
            pass
    results = []
    for mode in args.modes.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--run", mode, "--path", path,
             "--epochs", str(args.epochs), "--hidden", args.hidden,
             "--threads", str(args.threads)],
            check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['mode']:>16}: accuracy {r['accuracy']:.4f}  "
              f"{r['rows_per_s']:>9.0f} rows/s  peak RSS {r['peak_rss_mib']:.0f} MiB "
              f"(before fit {r['rss_before_fit_mib']:.0f}; anonymous peak "
              f"{r['peak_anon_mib']:.0f})",
              flush=True)
    print(f"({args.rows} x {args.features} float32 = {results[0]['file_mib']:.0f} MiB "
          f"sorted by label, {args.epochs} epochs, hidden {hidden}, "
          f"{args.threads} thread(s))")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
