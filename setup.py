"""Build the compiled core of fastbp.

Environment switches (read at build time):

FASTBP_NO_OPENMP=1  build without OpenMP (serial kernels, same results).
FASTBP_CHECKED=1    build with Cython's boundscheck, wraparound and
                    initializedcheck on, for the memory-safety test run.
"""
import glob
import os
import sys
import time

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _say(message):
    """One progress line of the build. pip shows a build's output only with
    -v: the Makefile runs pip so and keeps the lines that start with this
    prefix, so that a compile of minutes is not silent."""
    print(f"fastbp build: {message}", flush=True)


class _BuildExtSaying(build_ext):
    """build_ext that says which module it compiles and how long it took."""

    def run(self):
        from_env = " ".join(os.environ.get(v, "") for v in ("CPPFLAGS", "CFLAGS"))
        if omp_compile:
            how = f"with OpenMP ({' '.join(omp_compile)})"
        elif _flag("FASTBP_NO_OPENMP"):
            how = "without OpenMP (FASTBP_NO_OPENMP is set): one thread"
        elif "openmp" in from_env:
            how = "with OpenMP from CPPFLAGS/CFLAGS"
        else:
            how = ("without OpenMP (Apple clang has no -fopenmp; see the "
                   "install docs for libomp): one thread")
        _say(f"{len(self.extensions)} compiled modules, {how}"
             + (", with Cython's checks on" if checked else ""))
        super().run()

    def build_extension(self, ext):
        i = self.extensions.index(ext) + 1
        from setuptools.modified import newer_group

        if not (self.force or newer_group(list(ext.sources) + list(ext.depends),
                                          self.get_ext_fullpath(ext.name), "newer")):
            _say(f"[{i}/{len(self.extensions)}] {ext.name} is up to date")
            return super().build_extension(ext)
        _say(f"[{i}/{len(self.extensions)}] compiling {ext.name} ...")
        start = time.perf_counter()
        super().build_extension(ext)
        _say(f"[{i}/{len(self.extensions)}] {ext.name} done "
             f"({time.perf_counter() - start:.0f} s)")


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _openmp_flags():
    if _flag("FASTBP_NO_OPENMP"):
        return [], []
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp; a serial build is the safe default.
        # With Homebrew's libomp, CPPFLAGS and LDFLAGS turn OpenMP on
        # (docs/getting_started.rst).
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
    # -ffp-contract=off: no a * b + c is fused behind the code's back, so the
    # AVX-512 versions of a function (FMA-capable) round as the others do
    # (_core/_clones.h); the products' fused multiply-adds are written out.
    base = ["-O3", "-fno-math-errno", "-ffp-contract=off", "-Wno-unused-function",
            "-Wno-unreachable-code"]

macros = [("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
modules = ["_layout", "_input", "_backprop", "_tuner", "_predict", "_optim",
           "_kernels", "_inspect"]
extensions = [
    Extension(
        f"fastbp._core.{name}",
        [f"fastbp/_core/{name}.pyx"],
        include_dirs=[np.get_include(), "fastbp/_core"],
        # a header (its flags, its clones) or this file's flags change what
        # every module compiles to; Cython sees only the headers a .pxd names
        depends=sorted(glob.glob("fastbp/_core/*.h")) + ["setup.py"],
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

force = _mode_changed(f"openmp={bool(omp_compile)} checked={checked}") \
    or _flag("FASTBP_FORCE_CYTHON")
setup(
    cmdclass={"build_ext": _BuildExtSaying},
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        # The build mode is part of the generated code: rebuild when it changes.
        force=force,
    ),
)
