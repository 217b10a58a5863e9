"""Packaging and build variants.

The slow tests build the package again from a copy of the source tree: the
serial (no OpenMP) variant must give the numbers of the normal build, and an
sdist must carry the sources that a wheel built from it compiles, while
neither ships generated files. The fast ones check the package under test:
that it is the installed build when `make test` runs (not the source folder),
that importing it leaves denormals alone (no -ffast-math), and that no
generated file is committed.
"""
import configparser
import inspect
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastbp

ROOT = Path(__file__).resolve().parents[1]
HAVE_SOURCE = (ROOT / "setup.py").is_file() and (ROOT / "fastbp" / "_core").is_dir()
needs_source = pytest.mark.skipif(
    not HAVE_SOURCE,
    reason=f"no source tree with setup.py at {ROOT} (tests run from an installed copy)")

GENERATED = (".c", ".html", ".so", ".pyd", ".o", ".pyc")
# Left out of every copy of the source tree: build outputs, caches, venvs.
_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__",
    ".pytest_cache", ".benchmarks", *("*" + ext for ext in GENERATED))


def _source_files(suffix):
    return sorted((ROOT / "fastbp" / "_core").glob("*" + suffix))


def _clean_env(**extra):
    """The environment for a build or a child Python: no build switches, no
    PYTHONPATH, unless given here."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FASTBP_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def _run(args, cwd, env=None, timeout=900):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env or _clean_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({proc.returncode}) "
                    f"in {cwd}:\n{proc.stdout[-6000:]}")
    return proc.stdout


def _copy_source(dst):
    shutil.copytree(ROOT, dst, ignore=_IGNORE)
    return dst


def _needs_build_tools(wheel=False):
    """Skip unless this environment can build fastbp (and, with `wheel`, a
    wheel) without build isolation (make test installs what is needed)."""
    setuptools = pytest.importorskip("setuptools", reason="building needs setuptools")
    pytest.importorskip("Cython", minversion="3.0", reason="building needs Cython>=3")
    version = tuple(int(p) for p in re.findall(r"\d+", setuptools.__version__)[:2])
    if wheel and version < (70, 1):
        pytest.importorskip("wheel", reason="setuptools<70.1 builds wheels only "
                                            "with the wheel package")


def _workload(n_threads=None):
    """Fixed numbers from a Network: a loss and gradient, 15 steps of gradient
    descent on them, and a forward pass, for both dtypes. Runs here and, as
    source, in child processes that import another build."""
    import numpy as np

    import fastbp

    rng = np.random.RandomState(0)
    # 600 rows: more than one 256-row chunk, so threads do split the work.
    X = rng.standard_normal((600, 7))
    Y = rng.standard_normal((600, 3))
    out = {}
    for dtype in (np.float64, np.float32):
        for activation in ("relu", "tanh"):
            key = f"{np.dtype(dtype).name}_{activation}"
            net = fastbp.Network((7, 16, 9, 3), activation=activation,
                                 loss="squared_error", dtype=dtype, random_state=0)
            loss, cg, ig = net.loss_gradient(X, Y, alpha=1e-3, n_threads=n_threads)
            out[key + "_loss"] = np.array(loss)
            out[key + "_grad"] = np.concatenate([g.ravel() for g in cg + ig])
            for _ in range(15):
                _, cg, ig = net.loss_gradient(X, Y, alpha=1e-3, n_threads=n_threads)
                net.params -= 0.05 * np.concatenate([g.ravel() for g in cg + ig])
            out[key + "_trained"] = net.params.copy()
            out[key + "_forward"] = net.forward(X[:50], n_threads=n_threads)
    return out


def _workload_script(out_path, n_threads=None):
    """Python source that runs _workload and saves its arrays plus where
    fastbp came from and its OpenMP facts."""
    return (
        inspect.getsource(_workload)
        + "\nimport json, numpy as np, fastbp\n"
        + "from fastbp._core import _backprop\n"
        + f"np.savez({str(out_path)!r}, **_workload({n_threads!r}))\n"
        + "print(json.dumps({'file': fastbp.__file__, "
        + "'openmp': bool(_backprop.OPENMP_ENABLED), "
        + "'max_threads': int(_backprop.max_threads())}))\n"
    )


def _assert_same_numbers(got, expected, rtol64, rtol32):
    assert sorted(got) == sorted(expected)
    for key in expected:
        rtol = rtol32 if key.startswith("float32") else rtol64
        scale = max(1.0, float(np.max(np.abs(expected[key]))))
        np.testing.assert_allclose(got[key], expected[key], rtol=rtol,
                                   atol=rtol * scale, err_msg=key)


def _last_json(output):
    import json

    return json.loads(output.strip().splitlines()[-1])


# -- the package under test ---------------------------------------------------
@pytest.mark.skipif(not os.environ.get("FASTBP_TEST_INSTALLED"),
                    reason="set FASTBP_TEST_INSTALLED=1 (make test does) to check "
                           "that the tests import the installed package")
def test_tests_import_the_installed_compiled_package():
    from fastbp._core import _backprop, _kernels, _optim

    pkg = Path(fastbp.__file__).resolve().parent
    assert ROOT / "fastbp" != pkg, (
        f"the tests imported the source folder {pkg}, not the installed package")
    assert {"site-packages", "dist-packages"} & set(pkg.parts), pkg
    for mod in (_backprop, _kernels, _optim):
        assert Path(mod.__file__).parent.resolve() == pkg / "_core"
        assert Path(mod.__file__).suffix in (".so", ".pyd"), mod.__file__


def test_importing_fastbp_keeps_denormals():
    """-ffast-math linked into an extension sets flush-to-zero for the whole
    process on load: tiny / 2 would then be 0 everywhere, in every library."""
    pkg_parent = Path(fastbp.__file__).resolve().parents[1]
    code = (
        "import numpy as np\n"
        "def check(when):\n"
        "    for t in (np.float32, np.float64):\n"
        "        tiny = np.array([np.finfo(t).tiny], dtype=t)\n"
        "        half = tiny / t(2)\n"
        "        assert half[0] != 0 and half[0] * t(2) == tiny[0], (when, t, half)\n"
        "check('before import')\n"
        "import fastbp\n"
        "from fastbp._core import _backprop, _kernels, _optim\n"
        "net = fastbp.Network((3, 4, 2), random_state=0)\n"
        "net.loss_gradient(np.ones((5, 3)), np.zeros((5, 2)))\n"
        "check('after import and a pass')\n"
        "print('ok', fastbp.__file__)\n"
    )
    # Run from the folder that holds the fastbp under test, whichever it is.
    out = _run([sys.executable, "-c", code], cwd=pkg_parent)
    assert "ok" in out
    # And in this process, which has loaded fastbp too.
    tiny = np.array([np.finfo(np.float32).tiny], dtype=np.float32)
    assert (tiny / np.float32(2))[0] != 0


@needs_source
def test_no_generated_files_are_committed():
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    files = _run(["git", "-C", ROOT, "ls-files"], cwd=ROOT).splitlines()
    assert files, "git ls-files listed nothing"
    committed = [f for f in files if f.endswith(GENERATED)]
    assert committed == [], f"generated files are committed: {committed}"


# -- builds from source (slow) ------------------------------------------------
@pytest.mark.slow
@needs_source
def test_serial_build_gives_the_numbers_of_the_openmp_build(tmp_path):
    _needs_build_tools()
    src = _copy_source(tmp_path / "src")
    out = _run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=src,
               env=_clean_env(FASTBP_NO_OPENMP="1"))
    # The build says what it does, a line per module (make shows these lines).
    assert re.search(r"fastbp build: \d+ compiled modules, without OpenMP "
                     r"\(FASTBP_NO_OPENMP", out), out[-3000:]
    for pyx in _source_files(".pyx"):
        assert re.search(rf"fastbp build: \[\d+/\d+\] compiling fastbp\._core\.{pyx.stem} ",
                         out), (pyx.stem, out[-3000:])
    assert list((src / "fastbp" / "_core").glob("_backprop*.so")) or \
        list((src / "fastbp" / "_core").glob("_backprop*.pyd"))

    out_path = tmp_path / "serial.npz"
    # cwd=src: the child imports the serial build just made there.
    info = _last_json(_run([sys.executable, "-c", _workload_script(out_path)], cwd=src))
    assert Path(info["file"]).resolve().parent == (src / "fastbp").resolve(), info
    assert info["openmp"] is False
    assert info["max_threads"] == 1
    with np.load(out_path) as f:
        serial = dict(f)

    # The build under test, on one thread: the same operations in the same
    # order, so the same numbers up to rounding noise.
    _assert_same_numbers(serial, _workload(n_threads=1), rtol64=1e-12, rtol32=1e-6)
    # On two threads the chunk sums are added in another (fixed) order.
    _assert_same_numbers(serial, _workload(n_threads=2), rtol64=1e-10, rtol32=1e-4)


def _members_with(names, suffixes):
    return sorted(n for n in names if n.endswith(suffixes))


@pytest.mark.slow
@needs_source
def test_sdist_has_sources_and_builds_a_wheel_with_compiled_modules_only(tmp_path):
    _needs_build_tools(wheel=True)
    src = _copy_source(tmp_path / "src")
    # Decoys as a developer's tree has them after an in-place build: none may
    # reach the sdist (cythonize also writes the .c files during the build).
    core = src / "fastbp" / "_core"
    (core / "_backprop.html").write_text("<html></html>")
    (core / "_decoy.c").write_text("int x;\n")
    (core / "_decoy.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\0")

    dist = tmp_path / "dist"
    try:
        import build  # noqa: F401
        _run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
              "--outdir", dist], cwd=src)
    except ImportError:
        _run([sys.executable, "setup.py", "sdist", "--dist-dir", dist], cwd=src)
    (sdist,) = dist.glob("fastbp-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    top = names[0].split("/")[0]
    rel = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}

    assert _members_with(rel, GENERATED) == [], "generated files in the sdist"
    for needed in ["setup.py", "pyproject.toml", "PKG-INFO"] + (
            ["README.md"] if (ROOT / "README.md").exists() else []):
        assert needed in rel, f"{needed} missing from the sdist"
    for suffix in (".py", ".pyx", ".pxd", ".pyi"):
        for path in sorted((ROOT / "fastbp").rglob("*" + suffix)):
            name = path.relative_to(ROOT).as_posix()
            if "__pycache__" not in name:
                assert name in rel, f"{name} missing from the sdist"

    # A wheel built from the sdist alone (no build isolation: this
    # environment has the build requirements).
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", wheels, sdist], cwd=tmp_path)
    (wheel,) = wheels.glob("fastbp-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        wnames = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in wnames if ".dist-info/" in n)
        entry_points = (zf.read(f"{dist_info}/entry_points.txt").decode()
                        if f"{dist_info}/entry_points.txt" in wnames else "")

    assert _members_with(wnames, (".c", ".html", ".pyx", ".o", ".pyc")) == [], \
        "sources or generated files in the wheel"
    for pyx in _source_files(".pyx"):
        pattern = re.compile(rf"fastbp/_core/{re.escape(pyx.stem)}\.[^/]*(so|pyd)$")
        assert any(pattern.match(n) for n in wnames), \
            f"no compiled module for {pyx.name} in the wheel"
    for pxd in _source_files(".pxd"):
        assert f"fastbp/_core/{pxd.name}" in wnames, f"{pxd.name} missing from the wheel"
    for pyx in _source_files(".pyx"):
        # (editors and type checkers read the compiled modules' stubs)
        assert f"fastbp/_core/{pyx.stem}.pyi" in wnames, f"{pyx.stem}.pyi missing from the wheel"
    for path in sorted((ROOT / "fastbp").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        assert name in wnames, f"{name} missing from the wheel"

    # Installed from the wheel, it imports and computes the same forward pass.
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
          "--target", site, wheel], cwd=tmp_path)
    out_path = tmp_path / "wheel.npz"
    info = _last_json(_run([sys.executable, "-c", _workload_script(out_path)],
                           cwd=tmp_path, env=_clean_env(PYTHONPATH=str(site))))
    assert Path(info["file"]).resolve().parent == (site / "fastbp").resolve(), info
    with np.load(out_path) as f:
        from_wheel = dict(f)
    _assert_same_numbers(from_wheel, _workload(), rtol64=1e-10, rtol32=1e-4)

    # Every console script points at a module the wheel has.
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    if parser.has_section("console_scripts"):
        for script, target in parser.items("console_scripts"):
            module = target.split(":")[0].strip().replace(".", "/")
            assert {module + ".py", module + "/__init__.py"} & wnames, (
                f"console script {script!r} -> {target!r}: module not in the wheel")
