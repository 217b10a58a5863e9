"""Thread counts and BLAS thread limits.

fastbp parallelizes by splitting each mini-batch over OpenMP threads, each
calling single-threaded BLAS on its block of rows. A BLAS library that also
spun up its own threads would oversubscribe the cores (measured here: 1.6 to
2.3x slower), so while more than one OpenMP thread calls BLAS, BLAS is
limited to one thread with threadpoolctl.
"""
import contextlib
import numbers

from fastbp._core._backprop import OPENMP_ENABLED, max_threads

_controller = None


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def resolve_n_threads(n_threads):
    """The number of threads to use for `n_threads` (None: all cores).

    Negative values count back from the number of cores as in joblib:
    -1 is all cores, -2 all but one.
    """
    if not OPENMP_ENABLED:
        return 1
    n_cores = max_threads()
    if n_threads is None:
        return max(1, n_cores)
    if not isinstance(n_threads, numbers.Integral) or isinstance(n_threads, bool):
        raise TypeError(f"n_threads must be an int or None, got {n_threads!r}")
    n_threads = int(n_threads)
    if n_threads == 0:
        raise ValueError("n_threads must not be 0")
    if n_threads < 0:
        return max(1, n_cores + 1 + n_threads)
    return n_threads


@contextlib.contextmanager
def blas_limited(n_threads, *, always=False):
    """Limit BLAS to one thread while n_threads > 1 OpenMP threads call it
    (or, with always=True, whatever n_threads is: a fit's thread count is
    then the number of threads it uses, and no idle BLAS pool spins)."""
    if n_threads <= 1 and not always:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield
