"""fastbp.show_config() and `fastbp info` without a file: the version,
whether OpenMP is compiled in, the threads a fit uses by default and the
limit that decides it, and the BLAS libraries with their threads."""
import io
import os
import subprocess
import sys

import pytest

import fastbp
from fastbp import _config, _threads
from fastbp._cli import main


def _report(**kwargs):
    buf = io.StringIO()
    fastbp.show_config(file=buf, **kwargs)
    return buf.getvalue()


def _child_report(env=None, before=""):
    """show_config() in a fresh process (thread counts are read once per
    process), with `before` run ahead of importing fastbp."""
    code = f"{before}\nimport fastbp\nfastbp.show_config()"
    environ = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "OMP_NUM_THREADS")}
    # the fastbp under test, installed or not
    environ["PYTHONPATH"] = os.path.dirname(os.path.dirname(fastbp.__file__))
    environ.update(env or {})
    proc = subprocess.run([sys.executable, "-c", code], env=environ,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _threads_line(text):
    (line,) = [ln for ln in text.splitlines() if ln.startswith("threads:")]
    return line


def test_show_config_is_public():
    assert "show_config" in fastbp.__all__ and fastbp.show_config is _config.show_config


def test_report_names_version_openmp_threads_and_blas():
    text = _report()
    assert text.startswith(f"fastbp {fastbp.__version__} at ")
    openmp = "OpenMP: compiled in" if _threads.OPENMP_ENABLED else "OpenMP: not compiled in"
    assert openmp in text
    n = _threads.resolve_n_threads(None)
    assert _threads_line(text).startswith(f"threads: {n} by default (n_threads=None), because ")
    for name in ("OpenMP's default", "cgroup CPU quota"):
        assert f"  {name}: " in text
    blas = [ln for ln in text.splitlines() if ln.startswith("BLAS: ")]
    assert blas, text
    assert any(ln.endswith(": the one fastbp calls") and "scipy's" in ln for ln in blas), blas
    assert all(" thread" in ln for ln in blas)
    from fastbp._core import _kernels
    kernel = ("matrix products: fastbp's own AVX-512 kernels"
              if _kernels.own_gemm() else "matrix products: BLAS")
    assert kernel in text


@pytest.mark.skipif(not _threads.OPENMP_ENABLED, reason="a serial build uses one thread")
def test_omp_num_threads_is_named_as_the_limit():
    text = _child_report({"OMP_NUM_THREADS": "1"})
    line = _threads_line(text)
    assert line.startswith("threads: 1 by default") and "OpenMP's default" in line
    assert "OpenMP's default: 1 (OMP_NUM_THREADS=1)" in text
    # and the BLAS libraries read the same variable
    assert any(ln.startswith("BLAS: ") and "1 thread " in ln for ln in text.splitlines())


@pytest.mark.skipif(not _threads.OPENMP_ENABLED or not hasattr(os, "sched_setaffinity")
                    or len(os.sched_getaffinity(0)) < 2,
                    reason="needs OpenMP and an affinity mask of two CPUs or more")
def test_affinity_mask_is_named_as_the_limit():
    cpu = min(os.sched_getaffinity(0))
    text = _child_report(before=f"import os; os.sched_setaffinity(0, {{{cpu}}})")
    line = _threads_line(text)
    assert line.startswith("threads: 1 by default") and "CPU affinity mask" in line
    assert "  CPU affinity mask: 1 (" in text


@pytest.mark.skipif(not _threads.OPENMP_ENABLED, reason="a serial build uses one thread")
def test_cgroup_quota_is_named_as_the_limit(monkeypatch):
    if _threads.available_cores() < 2:
        pytest.skip("one core: every limit says 1")
    monkeypatch.setattr(_threads, "_cgroup_cpus", lambda: 1)
    monkeypatch.setattr(_threads, "_cores", None)   # read again with the quota
    text = _report()
    line = _threads_line(text)
    assert line.startswith("threads: 1 by default")
    assert line.endswith("because the smallest of the limits below: cgroup CPU quota")
    assert "  cgroup CPU quota: 1 (" in text


def test_a_serial_build_says_so(monkeypatch):
    monkeypatch.setattr(_threads, "OPENMP_ENABLED", False)
    text = _report()
    assert "OpenMP: not compiled in: fits run on one thread" in text
    line = _threads_line(text)
    assert line.startswith("threads: 1 by default") and "no OpenMP" in line


def test_fastbp_info_without_a_file_prints_the_report(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"fastbp {fastbp.__version__} at ")
    assert "OpenMP: " in out and "threads: " in out and "BLAS: " in out


def test_fastbp_info_help_mentions_the_build_report(capsys):
    assert main(["info", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Without a file: this build of fastbp" in out and "show_config" in out


def test_install_docs_say_how_to_get_openmp_on_macos_and_windows():
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "getting_started.rst"
    if not page.is_file():
        pytest.skip("no docs/ beside tests/")
    text = page.read_text()
    for needed in ("fastbp info", "show_config()", "brew install libomp",
                   "-Xpreprocessor -fopenmp", "-lomp", "/openmp", "C++ Build Tools",
                   "vcomp140.dll"):
        assert needed in text, needed
