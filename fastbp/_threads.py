"""Thread counts and BLAS thread limits.

fastbp parallelizes with OpenMP threads that each call single-threaded
BLAS: on a block of a mini-batch's rows, or on a part of each layer's GEMMs
(see fastbp._estimators._split_layers). A BLAS library that also spun up its
own threads would oversubscribe the cores (measured here: 1.6 to 2.3x
slower), so while more than one OpenMP thread calls BLAS, BLAS is limited to
one thread with threadpoolctl.
"""
import contextlib
import numbers
import os
import warnings

from fastbp._core._backprop import OPENMP_ENABLED, max_threads, threads_ran

# OpenMP runtimes are not fork-safe: once a process has run a parallel
# region, a child made by fork() (multiprocessing's default start method on
# Linux, gunicorn --preload, celery) hangs forever in its first parallel
# region, because the parent's thread pool does not exist there. fastbp
# therefore runs single-threaded in such a child, and says so once.
_forked_after_openmp = False
_fork_warned = False


def _after_fork_in_child():
    global _forked_after_openmp, _fork_warned
    if threads_ran():
        _forked_after_openmp = True
        _fork_warned = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _single_thread_after_fork():
    global _fork_warned
    if not _fork_warned:
        _fork_warned = True
        warnings.warn(
            "fastbp runs on one thread in this process: it was forked after "
            "fastbp had used OpenMP threads in its parent, and OpenMP cannot "
            "start threads in a forked child (it would hang). To use every "
            "core in worker processes, start them with the 'spawn' or "
            "'forkserver' method (joblib's default backend does).",
            RuntimeWarning, stacklevel=4)
    return 1


_blas_libs = None


def _blas_lib_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded (found once:
    numpy's and scipy's, which fastbp imports before any fit)."""
    global _blas_libs
    if _blas_libs is None:
        from threadpoolctl import ThreadpoolController

        _blas_libs = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_libs


def resolve_n_threads(n_threads):
    """The number of threads to use for `n_threads` (None: all cores).

    Negative values count back from the number of cores as in joblib:
    -1 is all cores, -2 all but one. In a process forked after fastbp ran
    OpenMP threads, always 1 (with a RuntimeWarning, once).
    """
    if not OPENMP_ENABLED:
        return 1
    n_cores = max_threads()
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
    n_threads = max(1, n_threads)
    if n_threads > 1 and _forked_after_openmp:
        return _single_thread_after_fork()
    return n_threads


@contextlib.contextmanager
def blas_limited(n_threads, *, always=False):
    """Limit BLAS to one thread while n_threads > 1 OpenMP threads call it
    (or, with always=True, whatever n_threads is: a fit's thread count is
    then the number of threads it uses, and no idle BLAS pool spins)."""
    if n_threads <= 1 and not always:
        yield
        return
    # Set and restore each library directly: threadpoolctl's limit() context
    # re-reads every library's state (~10 us; predictions are ~100 us).
    libs = _blas_lib_controllers()
    before = [lib.num_threads for lib in libs]
    try:
        for lib, n in zip(libs, before):
            if n != 1:
                lib.set_num_threads(1)
        yield
    finally:
        for lib, n in zip(libs, before):
            if n != 1:
                lib.set_num_threads(n)
