"""What this fastbp build is and what it will run on: ``fastbp.show_config()``
and ``fastbp info`` without a model file.

A slow fit often has a plain cause that this report shows at once: a build
without OpenMP (macOS with Apple clang), a container whose CPU quota or
affinity mask leaves one core, an ``OMP_NUM_THREADS=1`` set elsewhere, or a
BLAS library running its own threads.
"""
import os
import platform
import sys


def _versions():
    from importlib import metadata

    out = {}
    for dist in ("numpy", "scipy", "scikit-learn", "threadpoolctl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _thread_limits():
    """The limits that decide fastbp's default thread count, each as
    (name, count or None, how it is set)."""
    from fastbp import _threads

    env = os.environ.get("OMP_NUM_THREADS")
    if env:
        how = f"OMP_NUM_THREADS={env}"
    else:
        how = "OMP_NUM_THREADS is not set: OpenMP counts the CPUs"
    limits = [("OpenMP's default", _threads.max_threads(), how)]
    if hasattr(os, "sched_getaffinity"):
        limits.append(("CPU affinity mask", len(os.sched_getaffinity(0)),
                       f"{os.cpu_count()} CPUs in the machine"))
    quota = _threads._cgroup_cpus()
    limits.append(("cgroup CPU quota", quota,
                   "none set" if quota is None else "a container's or CI runner's limit"))
    return limits


def config_info():
    """The report of :func:`show_config` as a dict (for tests and tools)."""
    from fastbp import _threads
    from fastbp._core import _kernels
    from fastbp._version import __version__

    openmp = bool(_threads.OPENMP_ENABLED)
    limits = _thread_limits()
    n_threads = _threads.resolve_n_threads(None)
    if not openmp:
        why = ("this build has no OpenMP: every fit runs on one thread "
               "(rebuild with OpenMP; see the install docs)")
    elif _threads._forked_after_openmp:
        why = ("this process was forked after OpenMP threads ran in its "
               "parent: it runs on one thread (start workers with 'spawn')")
    else:
        counted = [(name, n) for name, n, _ in limits if n is not None]
        smallest = min(n for _, n in counted)
        deciding = [name for name, n in counted if n == smallest]
        why = "the smallest of the limits below: " + " and ".join(deciding)
    try:
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
    except ImportError:  # a dependency, but the report must not fail
        pools = []
    blas = [p for p in pools if p.get("user_api") == "blas"]
    for p in blas:
        # fastbp calls BLAS through scipy.linalg.cython_blas: scipy's library.
        p["fastbp_calls_it"] = "scipy" in os.path.basename(
            os.path.dirname(p.get("filepath") or ""))
    return {
        "version": __version__,
        "location": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "python": f"{platform.python_version()} ({platform.python_implementation()}) "
                  f"on {platform.system()} {platform.machine()}",
        "dependencies": _versions(),
        "openmp": openmp,
        "openmp_runtimes": [p for p in pools if p.get("user_api") == "openmp"],
        "n_threads": n_threads,
        "n_threads_why": why,
        "thread_limits": limits,
        "blas": blas,
        "own_gemm": _kernels.own_gemm(),
    }


def show_config(*, file=None):
    """Print what this fastbp build is and what it will run on.

    The version, whether OpenMP is compiled in, how many threads a fit uses
    by default (``n_threads=None``) and which limit decides it (the
    ``OMP_NUM_THREADS`` variable, the CPU affinity mask, a cgroup CPU
    quota), the BLAS libraries loaded with their thread counts, and which
    kernel runs the matrix products (fastbp's own AVX-512 ones where the
    CPU has AVX-512F, else BLAS). The
    command ``fastbp info`` without a model file prints the same.

    Parameters
    ----------
    file : file-like, default=None
        Where to write (``sys.stdout`` when None).

    Examples
    --------
    >>> import fastbp
    >>> fastbp.show_config()  # doctest: +ELLIPSIS
    fastbp ...
    OpenMP: ...
    threads: ...
    """
    file = sys.stdout if file is None else file
    info = config_info()

    def say(line=""):
        print(line, file=file)

    say(f"fastbp {info['version']} at {info['location']}")
    say(f"Python {info['python']}; "
        + ", ".join(f"{k} {v or 'not installed'}" for k, v in info["dependencies"].items()))
    if info["openmp"]:
        runtimes = sorted({p.get("filepath") or p.get("prefix")
                           for p in info["openmp_runtimes"]})
        say("OpenMP: compiled in"
            + (f" (runtimes loaded in this process: {', '.join(runtimes)})"
               if runtimes else ""))
    else:
        say("OpenMP: not compiled in: fits run on one thread")
    say(f"threads: {info['n_threads']} by default (n_threads=None), "
        f"because {info['n_threads_why']}")
    for name, n, how in info["thread_limits"]:
        say(f"  {name}: {'-' if n is None else n} ({how})")
    if not info["blas"]:
        say("BLAS: none found by threadpoolctl")
    for p in info["blas"]:
        n = p.get("num_threads")
        owner = os.path.basename(os.path.dirname(p.get("filepath") or ""))
        owner = owner.split(".")[0] or "?"
        say(f"BLAS: {p.get('internal_api')} {p.get('version') or ''}".rstrip()
            + f" ({owner}'s), {n} thread{'' if n == 1 else 's'} "
            f"({p.get('threading_layer', '?')} threading, "
            f"{p.get('architecture', '?')} kernels)"
            + (": the one fastbp calls" if p["fastbp_calls_it"] else ""))
        say(f"  {p.get('filepath')}")
    if info["blas"]:
        say("  during a fit fastbp sets BLAS to one thread (its own threads each "
            "call BLAS); the counts above hold outside fastbp's calls")
    if info["own_gemm"]:
        say("matrix products: fastbp's own AVX-512 kernels, float32 and float64, "
            "not BLAS's (FASTBP_GEMM=blas hands them to BLAS)")
    else:
        say("matrix products: BLAS (fastbp's own kernels need AVX-512F on "
            "x86-64, and FASTBP_GEMM unset)")
