"""Thread counts and BLAS thread limits.

fastbp parallelizes with OpenMP threads that each call single-threaded
BLAS: on a block of a mini-batch's rows, or on a part of each layer's GEMMs
(see fastbp._solver.split_layers). A BLAS library that also spun up its
own threads would oversubscribe the cores (a forward pass runs 1.6 to 2.3x
slower on two cores when both pools spin), so while more than one OpenMP thread calls BLAS, BLAS is limited to
one thread with threadpoolctl.
"""
import contextlib
import math
import numbers
import os
import threading
import warnings

from fastbp._core._backprop import OPENMP_ENABLED, max_threads, threads_ran

# GNU OpenMP (libgomp) is not fork-safe: a thread that ran a parallel region
# keeps a pool of worker threads, and a child made by fork() from that
# thread (multiprocessing's default start method on Linux, gunicorn
# --preload, celery) hangs forever in its first parallel region, waiting for
# workers that do not exist there. Any library's region counts (libgomp is
# one per process, shared by every -fopenmp extension), and no call tells
# whether a pool exists. So, just before a fork, the forking thread's pool is
# freed with omp_pause_resource (OpenMP 5.0, libgomp from GCC 10): the child
# then starts threads of its own, and the parent makes a new pool on its next
# region (tens of microseconds). Where that cannot be done (an older libgomp,
# no /proc), a child of a parent that may hold a pool runs single-threaded
# and says so once. The pool of a child already in that state is never
# touched: freeing it would wait for its missing workers.
_forked_after_openmp = False
_fork_warned = False
_fork_safe = False      # set in the parent by _before_fork, inherited by the child
_gomp_handles = {}      # path -> ctypes handle of each libgomp loaded


def _gomp_libraries():
    """ctypes handles of the libgomp copies loaded in this process (None
    when that cannot be known: no /proc/self/maps)."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return None
    libs = []
    for path in {line.split(None, 5)[-1] for line in maps.splitlines()
                 if "libgomp" in line}:
        if not os.path.basename(path).startswith("libgomp") or ".so" not in path:
            continue
        if path not in _gomp_handles:
            try:  # RTLD_NOLOAD: a handle to the copy loaded, never a new one
                _gomp_handles[path] = ctypes.CDLL(
                    path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
            except OSError:
                _gomp_handles[path] = None
        libs.append(_gomp_handles[path])
    return libs


def _pause_openmp():
    """Free the calling thread's OpenMP thread pool in every libgomp loaded;
    True when that was done (or no libgomp is loaded)."""
    libs = _gomp_libraries()
    if libs is None:
        return False
    ok = True
    for lib in libs:
        pause = getattr(lib, "omp_pause_resource", None) if lib is not None else None
        if pause is None:
            ok = False
            continue
        # omp_pause_hard (2) on the host: device -1 (omp_initial_device,
        # GCC 12+) or the host's number in older ones.
        if pause(2, -1) != 0 and pause(2, lib.omp_get_initial_device()) != 0:
            ok = False
    return ok


def _before_fork():
    global _fork_safe
    _fork_safe = False
    if OPENMP_ENABLED and not _forked_after_openmp:
        try:
            _fork_safe = _pause_openmp()
        except Exception:  # never let a fork fail here
            _fork_safe = False


def _after_fork_in_child():
    global _forked_after_openmp, _fork_warned
    if _fork_safe:
        return
    if _forked_after_openmp or threads_ran() or (
            OPENMP_ENABLED and _gomp_libraries() != []):
        _forked_after_openmp = True
        _fork_warned = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _single_thread_after_fork():
    global _fork_warned
    if not _fork_warned:
        _fork_warned = True
        warnings.warn(
            "fastbp runs on one thread in this process: it was forked after "
            "OpenMP threads ran in its parent, and OpenMP cannot start "
            "threads in such a forked child (it would hang). To use every "
            "core in worker processes, start them with the 'spawn' or "
            "'forkserver' method (joblib's default backend does).",
            RuntimeWarning, stacklevel=4)
    return 1


_blas_libs = None
_blas_setters = None


def _blas_lib_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded (found once:
    numpy's and scipy's, which fastbp imports before any fit)."""
    global _blas_libs
    if _blas_libs is None:
        from threadpoolctl import ThreadpoolController

        _blas_libs = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_libs


def _process_wide_setter(lib):
    """A function that sets lib's thread count for the whole process, from
    any thread.

    threadpoolctl (3.8 and later) lets only one Python thread, the first to
    set a limit and for as long as it lives, change the thread count of an
    OpenBLAS built on pthreads; the calls of every other thread are ignored,
    silently. A fit in the main thread makes the main thread that one for
    good, and fits in worker threads after it would then run BLAS on every
    core beside fastbp's team (and the last fit to leave, in a worker
    thread, could not give the count back). fastbp's own count of users
    (blas_limited) decides who sets and who gives back, so it calls
    OpenBLAS's process-wide setter itself. Other libraries (and OpenBLAS on
    OpenMP, whose count is per thread) go through threadpoolctl.
    """
    if (getattr(lib, "internal_api", None) == "openblas"
            and getattr(lib, "threading_layer", None) != "openmp"):
        dynlib = getattr(lib, "dynlib", None)
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_", "_64"):
                func = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}",
                               None)
                if func is not None:
                    return lambda n, func=func: func(int(n))
    return lib.set_num_threads


def _blas_lib_setters(libs):
    """For each of libs (_blas_lib_controllers()), its process-wide setter."""
    global _blas_setters
    if _blas_setters is None or _blas_setters[0] is not libs:
        _blas_setters = (libs, [_process_wide_setter(lib) for lib in libs])
    return _blas_setters[1]


_cores = None


def _cgroup_cpus():
    """CPUs allowed by a cgroup CPU quota (containers, CI runners), or None."""
    try:  # cgroup v2
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    except (OSError, ValueError):
        pass
    return None


def available_cores():
    """Cores this process may use: OpenMP's default thread count
    (OMP_NUM_THREADS), capped by the CPU affinity mask and by a cgroup CPU
    quota. Read once per process."""
    global _cores
    if _cores is None:
        n = max_threads()
        if hasattr(os, "sched_getaffinity"):
            n = min(n, len(os.sched_getaffinity(0)))
        quota = _cgroup_cpus()
        if quota is not None:
            n = min(n, quota)
        _cores = max(1, n)
    return _cores


_warned_over = set()
_threads_checked = 1
_threads_lock = threading.Lock()


def _threads_can_start(n_threads):
    """How many of n_threads threads this process can run (n_threads
    unless the OS refuses new threads: libgomp would then end the whole
    process). Checked once for each new largest count, with Python threads."""
    global _threads_checked
    if n_threads <= _threads_checked:
        return n_threads
    with _threads_lock:
        if n_threads <= _threads_checked:
            return n_threads
        release = threading.Event()
        started = []
        try:
            for _ in range(n_threads - 1):
                t = threading.Thread(target=release.wait, daemon=True)
                t.start()
                started.append(t)
        except RuntimeError as exc:
            got = len(started) + 1
            warnings.warn(
                f"fastbp could start only {got} of {n_threads} threads "
                f"({exc}); running on {got}.", RuntimeWarning, stacklevel=4)
            return got
        finally:
            release.set()
            for t in started:
                t.join()
        _threads_checked = n_threads
    return n_threads


def resolve_n_threads(n_threads):
    """The number of threads to use for `n_threads` (None: all cores).

    Negative values count back from the number of cores as in joblib:
    -1 is all cores, -2 all but one. The cores are those this process may
    use (see available_cores); a larger request is capped there, with a
    RuntimeWarning once per value. In a process forked after OpenMP threads
    ran, always 1 (with a RuntimeWarning, once).
    """
    if not OPENMP_ENABLED:
        return 1
    n_cores = available_cores()
    if n_threads is None:
        n_threads = n_cores
    elif not isinstance(n_threads, numbers.Integral) or isinstance(n_threads, bool):
        raise TypeError(f"n_threads must be an int or None, got {n_threads!r}")
    else:
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError("n_threads must not be 0")
        if n_threads < 0:
            n_threads = n_cores + 1 + n_threads
        elif n_threads > n_cores:
            if n_threads not in _warned_over:
                _warned_over.add(n_threads)
                warnings.warn(
                    f"n_threads={n_threads} is more than the {n_cores} cores "
                    f"this process may use; using {n_cores}.",
                    RuntimeWarning, stacklevel=3)
            n_threads = n_cores
    n_threads = max(1, n_threads)
    if n_threads > 1 and _forked_after_openmp:
        return _single_thread_after_fork()
    if n_threads > 1:
        n_threads = _threads_can_start(n_threads)
    return n_threads


# Concurrent fits in one process (threads of a web server, joblib's
# threading backend) share the BLAS libraries' thread setting: the first
# to enter limits it and the last to leave restores it, so that no fit
# ends another's limit while it still runs.
_blas_users = 0
_blas_before = None
_blas_lock = threading.Lock()


@contextlib.contextmanager
def blas_limited(n_threads, *, always=False):
    """Limit BLAS to one thread while n_threads > 1 OpenMP threads call it
    (or, with always=True, whatever n_threads is: a fit's thread count is
    then the number of threads it uses, and no idle BLAS pool spins)."""
    global _blas_users, _blas_before
    if n_threads <= 1 and not always:
        yield
        return
    # Set and restore each library directly: threadpoolctl's limit() context
    # re-reads every library's state (~10 us; predictions are ~100 us).
    libs = _blas_lib_controllers()
    setters = _blas_lib_setters(libs)
    with _blas_lock:
        if _blas_users == 0:
            _blas_before = [lib.num_threads for lib in libs]
            for set_threads, n in zip(setters, _blas_before):
                if n != 1:
                    set_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for set_threads, n in zip(setters, _blas_before):
                    if n != 1:
                        set_threads(n)
