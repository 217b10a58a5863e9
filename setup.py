"""Build the compiled core of fastbp.

Environment switches (read at build time):

FASTBP_NO_OPENMP=1  build without OpenMP (serial kernels, same results).
FASTBP_CHECKED=1    build with Cython's boundscheck, wraparound and
                    initializedcheck on, for the memory-safety test run.
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _openmp_flags():
    if _flag("FASTBP_NO_OPENMP"):
        return [], []
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp; a serial build is the safe default.
        return [], []
    if sys.platform == "win32":
        return ["/openmp"], []
    return ["-fopenmp"], ["-fopenmp"]


def _mode_changed(mode):
    """Whether the last build in this tree was of another mode (or unknown).

    The generated .c files and compiled modules do not record the switches
    (FASTBP_NO_OPENMP is a C flag only, so its .c is the same), and
    setuptools rebuilds only what is older than its sources: without this,
    a serial or checked build after a normal one in the same tree silently
    reuses the normal build. The mode is kept in build/ (removed by a clean).
    """
    stamp = os.path.join("build", "fastbp-build-mode")
    try:
        with open(stamp) as f:
            if f.read() == mode:
                return False
    except OSError:
        pass
    os.makedirs("build", exist_ok=True)
    with open(stamp, "w") as f:
        f.write(mode)
    return True


checked = _flag("FASTBP_CHECKED")
omp_compile, omp_link = _openmp_flags()
if sys.platform == "win32":
    base = ["/O2"]
else:
    # -fno-math-errno lets gcc vectorize exp/log calls without changing any
    # result; -ffast-math is never used (it would set flush-to-zero process-wide).
    base = ["-O3", "-fno-math-errno", "-Wno-unused-function", "-Wno-unreachable-code"]

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
modules = ["_layout", "_input", "_backprop", "_tuner", "_predict", "_optim",
           "_kernels", "_inspect"]
extensions = [
    Extension(
        f"fastbp._core.{name}",
        [f"fastbp/_core/{name}.pyx"],
        include_dirs=[np.get_include(), "fastbp/_core"],
        define_macros=macros,
        extra_compile_args=base + omp_compile,
        extra_link_args=omp_link,
    )
    for name in modules
]

directives = {
    "language_level": "3",
    "boundscheck": checked,
    "wraparound": checked,
    "initializedcheck": checked,
    "cdivision": not checked,
    "nonecheck": checked,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        # The build mode is part of the generated code: rebuild when it changes.
        force=_mode_changed(f"openmp={bool(omp_compile)} checked={checked}")
        or _flag("FASTBP_FORCE_CYTHON"),
    ),
)
