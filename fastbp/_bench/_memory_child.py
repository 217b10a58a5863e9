"""The child process of the memory part of ``fastbp bench``: one float32
fit of 784-256-128-10, batch 128, one epoch, with its peak numpy
allocations (tracemalloc) and resident-set growth printed as one JSON line.

Run as ``python -m fastbp._bench._memory_child LIB ROWS THREADS`` (LIB is
``fastbp`` or ``sklearn``): a process of its own, so that nothing the
benchmark allocated before counts.
"""
import gc
import json
import resource
import sys
import warnings


def status(key):
    """A field of /proc/self/status in bytes, or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None


def measure(lib, n, threads):
    """The fit's memory figures as a dict."""
    import tracemalloc

    from threadpoolctl import threadpool_limits

    from fastbp._bench._common import synthetic_data

    hidden, batch = (256, 128), 128
    if lib == "fastbp":
        from fastbp import MLPClassifier
        kw = dict(n_threads=threads, progress=False)
    else:
        from sklearn.neural_network import MLPClassifier
        kw = {}
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
    return dict(lib=lib, rows=n, x_bytes=X.nbytes, peak_traced=peak,
                retained_traced=cur, maxrss_growth=max(0, rss1 - rss0),
                rss_method=method, coef_dtype=str(clf.coefs_[0].dtype),
                n_params=n_params)


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
