"""A newcomer's first hour: where fastbp is after `make`, importing from the
clone's root, the command line's messages, the loss-curve plot, and the
words of `fastbp bench`.

(README code blocks, docstrings and doctests: test_docs.py; the input
gradient: test_inspect.py; callbacks: test_callbacks.py.)
"""
import importlib
import inspect
import pkgutil
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp._cli import main

ROOT = Path(__file__).resolve().parents[1]
HAVE_SOURCE = (ROOT / "setup.py").is_file() and (ROOT / "fastbp" / "_core").is_dir()
needs_source = pytest.mark.skipif(not HAVE_SOURCE, reason="no source tree beside tests/")


def _clean_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith("FASTBP_") and k != "PYTHONPATH"}


# 1. After make, where is fastbp? -------------------------------------------
@needs_source
def test_make_demo_says_where_fastbp_is_installed():
    makefile = (ROOT / "Makefile").read_text()
    demo = makefile[makefile.index("\ndemo:"):].split("\n\n")[0]
    assert "source $(VENV)/bin/activate" in demo and "$(VENV)/bin/fastbp" in demo


# 2. python in the clone's root imports the source folder -------------------
@needs_source
def test_source_folder_without_compiled_modules_says_what_to_do(tmp_path):
    shutil.copytree(ROOT / "fastbp", tmp_path / "fastbp",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    for args in (["-c", "import fastbp"], ["-m", "fastbp", "--help"]):
        proc = subprocess.run([sys.executable, *args], cwd=tmp_path, env=_clean_env(),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0
        last = proc.stderr.strip().splitlines()[-1]
        assert "compiled modules are missing" in last and "make demo" in last
        assert ".venv/bin/python" in last


@needs_source
def test_clone_root_imports_after_make():
    core = ROOT / "fastbp" / "_core"
    if not list(core.glob("_backprop*.so")) + list(core.glob("_backprop*.pyd")):
        pytest.skip("no in-place build here (make copies one after it builds .venv)")
    code = "import fastbp, sys; print(fastbp.__file__); fastbp.Network((2, 1))"
    for args in (["-c", code], ["-m", "fastbp", "--help"]):
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=_clean_env(),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_clean_env(),
                         capture_output=True, text=True, timeout=120).stdout
    assert Path(out.splitlines()[0]).resolve().parent == (ROOT / "fastbp").resolve()


# 6. the command line --------------------------------------------------------
def _wide_csv(path, n_cols=31, n_rows=60):
    rng = np.random.RandomState(0)
    names = [f"feature_{i:02d}" for i in range(n_cols - 1)] + ["species"]
    X = rng.normal(size=(n_rows, n_cols - 1))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.5f}" for v in row) + f",{label}\n")
    return names, X, y


def test_unknown_target_lists_every_column_and_the_default(tmp_path, capsys):
    names, _, _ = _wide_csv(tmp_path / "wide.csv")
    status = main(["train", str(tmp_path / "wide.csv"), "--target", "label"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1
    assert all(name in err for name in names)
    assert "'species'" in err and "without --target" in err


def test_model_trained_from_csv_takes_a_dataframe_without_warning(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    names, X, y = _wide_csv(tmp_path / "wide.csv")
    model = tmp_path / "model.fbp"
    assert main(["train", str(tmp_path / "wide.csv"), "--epochs", "20", "--quiet",
                 "--out", str(model)]) == 0
    est = fastbp.load(model)
    assert list(est.feature_names_in_) == names[:-1]
    frame = pd.DataFrame(X, columns=names[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pred = est.predict(frame)
    assert pred.shape == (len(y),)
    # and the command line's predict, which passes arrays, stays quiet too
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["predict", str(model), str(tmp_path / "wide.csv")]) == 0


# 7. the loss-curve plot -----------------------------------------------------
def _fit(**kw):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fastbp.MLPClassifier(random_state=0, **kw).fit(X, y)


def test_loss_curve_has_whole_epoch_ticks_and_a_log_axis_for_a_wide_range():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    clf = _fit(max_iter=20)                      # raw digits: loss falls from ~10
    assert clf.loss_curve_[0] / min(clf.loss_curve_) > 20
    ax = fastbp.plot_loss_curve(clf)
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= len(clf.loss_curve_)]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert ax.get_yscale() == "log"
    assert fastbp.plot_loss_curve(clf, log_scale=False).get_yscale() == "linear"


def test_loss_curve_stays_linear_for_a_narrow_range():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = fastbp.MLPClassifier(hidden_layer_sizes=(16,), max_iter=5,
                                   random_state=0).fit(X / 16, y)
    assert fastbp.plot_loss_curve(clf).get_yscale() == "linear"


# 8. fastbp bench speaks to users --------------------------------------------
def test_bench_output_has_no_project_internal_wording():
    import fastbp._bench as pkg

    source = "\n".join(inspect.getsource(importlib.import_module(f"fastbp._bench.{m.name}"))
                        for m in pkgutil.iter_modules(pkg.__path__)
                        if not m.name.startswith("__"))
    printed = [line for line in source.splitlines() if not line.strip().startswith("#")]
    text = "\n".join(printed)
    assert '"NO"' not in text and "'NO'" not in text
    assert '"target", "met"' not in text
    assert "issue 5" not in text
