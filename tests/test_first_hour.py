"""A new user's first hour: `make test` after `make demo` reuses the build,
the build says what it compiles, the progress extra brings what progress
bars need, and `fastbp train` / `fastbp info` name the split behind each
score they print."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp._cli import main
from fastbp._io import read_metadata

ROOT = Path(__file__).resolve().parents[1]
needs_makefile = pytest.mark.skipif(
    not (ROOT / "Makefile").is_file() or shutil.which("make") is None,
    reason="needs the source tree's Makefile and make")


# -- make: one build, shared by demo, test and docs ---------------------------------
def _dry_run(venv, target):
    """The commands `make -n` would run for target with VENV=venv."""
    proc = subprocess.run(["make", "-n", "-C", str(ROOT), f"VENV={venv}", f"{venv}/{target}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _fake_venv(tmp_path, *stamps, age=0.0):
    """A venv folder holding only make's stamps, all newer than every source
    (or `age` seconds older than the newest source)."""
    venv = tmp_path / "venv"
    venv.mkdir()
    newest = max(p.stat().st_mtime for p in ROOT.glob("fastbp/**/*") if p.is_file())
    newest = max(newest, *(p.stat().st_mtime for p in
                           (ROOT / n for n in ("pyproject.toml", "setup.py", "Makefile",
                                               "MANIFEST.in")) if p.exists()))
    when = newest - age if age else time.time() + 60
    for stamp in (".venv-created",) + stamps:
        (venv / stamp).touch()
        os.utime(venv / stamp, (when, when))
    if age:  # the venv itself stays older than the build
        os.utime(venv / ".venv-created", (when - 10, when - 10))
    return venv


@needs_makefile
def test_make_test_after_make_demo_adds_extras_without_rebuilding(tmp_path):
    venv = _fake_venv(tmp_path, ".built", ".installed-demo")
    commands = _dry_run(venv, ".installed-test")
    assert 'pip install "fastbp[test]"' in commands
    assert "pip install -v" not in commands and "install ." not in commands, commands


@needs_makefile
def test_make_docs_after_make_test_adds_extras_without_rebuilding(tmp_path):
    venv = _fake_venv(tmp_path, ".built", ".installed-test")
    commands = _dry_run(venv, ".installed-docs")
    assert 'pip install "fastbp[test,docs]"' in commands
    assert "pip install -v" not in commands, commands


@needs_makefile
def test_a_changed_source_rebuilds_once_and_shows_the_build_lines(tmp_path):
    venv = _fake_venv(tmp_path, ".built", ".installed-demo", age=3600)
    commands = _dry_run(venv, ".installed-test")
    assert commands.count("pip install -v") == 1 and " . " in commands, commands
    # pip -v's output is filtered down to the build's own progress lines
    assert 'grep --line-buffered -E "fastbp build:|Cythonizing' in commands
    assert "build.log" in commands
    assert 'pip install "fastbp[test]"' in commands


@needs_makefile
def test_a_venv_with_the_build_tools_rebuilds_without_isolation(tmp_path):
    # pip's isolated environment is new each time: its .pxd files would
    # make Cython and the compiler redo every module after any change
    venv = _fake_venv(tmp_path, ".built", age=3600)
    assert "--no-build-isolation" not in _dry_run(venv, ".built")   # no Cython yet
    (venv / "bin").mkdir()
    (venv / "bin" / "cython").touch()
    commands = _dry_run(venv, ".built")
    assert "pip install -v --no-build-isolation ." in commands
    # stale Python copies go, the compiled modules in build/lib* stay
    assert "find build -path 'build/lib*' -name '*.py' -delete" in commands
    assert "rm -rf build/lib" not in commands


@needs_makefile
def test_setup_py_says_each_module_it_compiles():
    setup = (ROOT / "setup.py").read_text()
    assert '"build_ext": _BuildExtSaying' in setup
    assert re.search(r'_say\(f"\[\{i\}/\{len\(self\.extensions\)\}\] compiling \{ext\.name\}',
                     setup)


def test_progress_extra_brings_tqdm_and_rich():
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no pyproject.toml beside tests/")
    text = pyproject.read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("progress = [")]
    assert '"tqdm' in line and '"rich' in line


# -- fastbp train / info name their splits -----------------------------------------
@pytest.fixture(scope="module")
def early_stopped(tmp_path_factory):
    work = tmp_path_factory.mktemp("first_hour")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    np.savez(work / "data.npz", X=X, y=y)
    return work


def test_train_names_the_validation_split_and_the_test_split(early_stopped, capsys):
    work = early_stopped
    status = main(["train", str(work / "data.npz"), "--early-stopping", "--epochs", "30",
                   "--hidden", "8", "--random-state", "0", "--out", str(work / "m.fbp")])
    out, err = capsys.readouterr()
    assert status == 0, err
    (held,) = [ln for ln in out.splitlines() if ln.startswith("held-out accuracy: ")]
    assert held.endswith("(40 rows) on the test split (--test-size 0.2), not trained on")
    (val,) = [ln for ln in out.splitlines() if ln.startswith("best validation accuracy: ")]
    assert "on early stopping's validation split (10% of the 160 training rows" in val
    meta = read_metadata(work / "m.fbp")["user"]
    assert meta["train_rows"] == 160
    assert meta["test_score"]["metric"] == "accuracy" and meta["test_score"]["rows"] == 40
    assert f"{meta['test_score']['score']:.4f}" == held.split()[2]


def test_info_shows_both_scores_each_with_its_split(early_stopped, capsys):
    path = early_stopped / "m.fbp"
    if not path.exists():
        pytest.skip("the train test did not run")
    assert main(["info", str(path)]) == 0
    fields = dict(ln.split(":", 1) for ln in capsys.readouterr().out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert "best validation score" not in fields
    val = fields["best validation accuracy"]
    assert val.endswith("on early stopping's validation split (10% of the 160 training "
                        "rows, taken out of the fit)")
    held = fields["held-out accuracy"]
    assert held.endswith("(40 rows) on fastbp train's test split (--test-size 0.2), "
                         "not trained on")
    est = fastbp.load(path)
    assert val.split()[0] == f"{est.best_validation_score_:.4f}"


def test_info_names_a_custom_scorer_of_a_model_saved_from_python(tmp_path, capsys):
    rng = np.random.RandomState(1)
    X = rng.normal(size=(120, 3))
    y = X @ [1.0, -2.0, 0.5]
    reg = fastbp.MLPRegressor(hidden_layer_sizes=(6,), max_iter=20, early_stopping=True,
                              validation_fraction=0.2, scoring="neg_mean_squared_error",
                              random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y)
    fastbp.save(reg, tmp_path / "r.fbp")
    assert main(["info", str(tmp_path / "r.fbp")]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("best validation")]
    assert line.startswith("best validation neg_mean_squared_error:")
    assert "validation split (20% of the training rows" in line
    assert "held-out" not in out      # no test split: not a fastbp train model
