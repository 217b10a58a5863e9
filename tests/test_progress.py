"""The progress bar over epochs (fastbp._progress, the `progress` parameter):
on when asked, off when not, off in 'auto' mode without a terminal, and
never mixed with verbose output."""
import io
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastbp
from fastbp._progress import EpochProgress

pytest.importorskip("tqdm")


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def _data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 3))
    return X, (X[:, 0] > 0).astype(int)


# -- EpochProgress ------------------------------------------------------------------
def test_on_writes_a_bar_to_the_given_file():
    buf = io.StringIO()
    bar = EpochProgress(True, total=4, desc="demo", file=buf)
    assert bar.active
    for i in range(4):
        bar.update(1.0 / (i + 1), val_loss=0.5, val_score=0.75)
    bar.close()
    out = buf.getvalue()
    assert "demo" in out and "4/4" in out and "epoch" in out
    assert "loss=0.25" in out and "val_loss=0.5" in out and "val_score=0.75" in out
    assert not bar.active
    bar.close()  # closing twice is harmless


def test_off_writes_nothing():
    buf = io.StringIO()
    bar = EpochProgress(False, total=4, file=buf, min_seconds=0)
    for _ in range(4):
        bar.update(1.0)
    bar.close()
    assert buf.getvalue() == "" and not bar.active


def test_auto_is_off_when_stderr_is_not_a_terminal(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buf)
    bar = EpochProgress("auto", total=1000, min_seconds=0)
    bar.update(1.0)
    bar.close()
    assert buf.getvalue() == "" and not bar.active


def test_auto_in_a_terminal_shows_only_long_fits(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    quick = EpochProgress("auto", total=3, min_seconds=3600)
    quick.update(1.0)
    quick.close()
    assert term.getvalue() == ""
    slow = EpochProgress("auto", total=3, min_seconds=0)
    for _ in range(3):
        slow.update(1.0)
    slow.close()
    assert "3/3" in term.getvalue()


def test_without_tqdm_progress_true_warns_and_draws_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    buf = io.StringIO()
    with pytest.warns(UserWarning, match=r"progress=True .*tqdm.*not installed"):
        bar = EpochProgress(True, total=2, file=buf)
    bar.update(1.0)
    bar.close()
    assert not bar.active and buf.getvalue() == ""


def test_without_tqdm_auto_stays_quiet(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bar = EpochProgress("auto", total=3, min_seconds=0)
        bar.update(1.0)
        bar.close()
    assert not bar.active and term.getvalue() == ""


def test_estimator_with_progress_true_without_tqdm_warns(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, y = _data()
    with pytest.warns(UserWarning, match="fastbp\\[progress\\]"):
        fastbp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                             progress=True).fit(X, y)


# -- through the estimators -----------------------------------------------------------
@pytest.mark.parametrize("Est", [fastbp.MLPClassifier, fastbp.MLPRegressor])
def test_progress_true_draws_on_stderr(Est, capsys):
    X, y = _data()
    Est(hidden_layer_sizes=(4,), max_iter=7, random_state=0, progress=True).fit(X, y)
    out, err = capsys.readouterr()
    assert out == ""
    assert Est.__name__ in err and "7/7" in err and "loss=" in err


def test_progress_shows_validation_with_early_stopping(capsys):
    X, y = _data()
    fastbp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                         early_stopping=True, progress=True).fit(X, y)
    err = capsys.readouterr().err
    assert "val_loss=" in err and "val_score=" in err


@pytest.mark.parametrize("progress", [False, "auto"])
def test_progress_off_and_auto_are_silent_here(progress, capsys):
    X, y = _data()
    fastbp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                         progress=progress).fit(X, y)
    assert capsys.readouterr() == ("", "")


def test_partial_fit_bar_counts_one_epoch(capsys):
    X, y = _data()
    est = fastbp.MLPClassifier(hidden_layer_sizes=(4,), random_state=0, progress=True)
    est.partial_fit(X, y, classes=[0, 1])
    assert "1/1" in capsys.readouterr().err


def test_verbose_output_is_kept_and_replaces_the_bar(capsys):
    X, y = _data()
    fastbp.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                         verbose=True, progress=True).fit(X, y)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split(",")[0] for line in lines[:3]] == [
        "Iteration 1", "Iteration 2", "Iteration 3"]
    assert all("loss = " in line for line in lines[:3])
    assert "epoch" not in err and "%|" not in err


def test_progress_is_a_validated_parameter():
    X, y = _data()
    with pytest.raises(ValueError, match="progress"):
        fastbp.MLPClassifier(progress="sometimes").fit(X, y)
    assert fastbp.MLPRegressor().get_params()["progress"] == "auto"
