"""`fastbp demo` times fastbp and scikit-learn interleaved, compares medians,
and says when the machine was busy (which makes the ratio unreliable)."""
import numpy as np
import pytest
from sklearn.base import BaseEstimator

from fastbp import _cli
from fastbp._cli import _busy_verdict, _interleaved_fits, main


# -- the verdict ------------------------------------------------------------------
def test_an_idle_machine_gets_no_verdict():
    assert _busy_verdict((0.3, "busy"), 2, {"fastbp": 1.1, "scikit-learn": 1.2}) is None
    assert _busy_verdict(None, 2, {"fastbp": 1.4}) is None   # nothing to measure it by


def test_load_from_other_work_makes_the_machine_busy():
    verdict = _busy_verdict((1.5, "busy"), 2, {"fastbp": 1.1})
    assert verdict == "other processes used 1.5 of 2 cores before the fits"
    assert _busy_verdict((1.5, "busy"), 4, {"fastbp": 1.1}) is None   # under half of 4
    assert (_busy_verdict((0.8, "load"), 1, {})
            == "load average 0.8 on 1 core before the fits")


def test_unsteady_fit_times_make_the_machine_busy():
    verdict = _busy_verdict((0.1, "busy"), 2, {"fastbp": 1.2, "scikit-learn": 2.04})
    assert verdict == "scikit-learn's slowest fit took 2.0x its fastest"
    both = _busy_verdict((3.0, "load"), 2, {"fastbp": 1.7})
    assert both.startswith("load average 3.0") and "fastbp's slowest fit took 1.7x" in both


def test_other_work_is_what_other_processes_used_while_the_demo_slept(monkeypatch):
    # Two snapshots of /proc/stat's CPU ticks, 0.3 s apart: 50 of 100 ticks
    # busy on 2 CPUs is one core's worth of other work, whatever the load
    # average (which still counts the minute of compiling before the demo).
    snaps = iter([(100, 1000, 2), (150, 1100, 2)])
    monkeypatch.setattr(_cli.time, "sleep", lambda s: None)
    assert _cli._other_work(read=lambda: next(snaps)) == (1.0, "busy")
    # no /proc/stat: the load average

    def missing():
        raise OSError("no /proc/stat")

    monkeypatch.setattr(_cli.os, "getloadavg", lambda: (0.7, 0.5, 0.4))
    assert _cli._other_work(read=missing) == (0.7, "load")


# -- interleaving -----------------------------------------------------------------
class _Recorder(BaseEstimator):
    calls = []

    def __init__(self, name="a"):
        self.name = name

    def fit(self, X, y):
        _Recorder.calls.append((self.name, self))   # (kept alive: ids are reused)
        self.fitted_ = True
        return self


def test_fits_interleave_in_alternating_order_on_fresh_clones():
    # (after one untimed warm-up fit of each)
    _Recorder.calls = []
    runs = [("a", _Recorder("a")), ("b", _Recorder("b"))]
    seconds, fitted = _interleaved_fits(runs, np.zeros((2, 1)), [0, 1], rounds=3)
    assert [name for name, _ in _Recorder.calls] == ["a", "b",
                                                     "a", "b", "b", "a", "a", "b"]
    assert len({id(obj) for _, obj in _Recorder.calls}) == 8      # a new clone each fit
    assert all(not hasattr(est, "fitted_") for _, est in runs)    # the prototypes untouched
    assert {k: len(v) for k, v in seconds.items()} == {"a": 3, "b": 3}
    assert fitted["a"].fitted_ and fitted["b"].name == "b"


class _MaxIterRecorder(BaseEstimator):
    seen = []

    def __init__(self, max_iter=200):
        self.max_iter = max_iter

    def fit(self, X, y):
        _MaxIterRecorder.seen.append(self.max_iter)
        return self


def test_a_first_fit_warms_up_untimed_and_short(monkeypatch):
    # The one-off cost of a process's first fit stays out of the timed fits
    # (timed, it made fastbp's spread read 1.6x and the demo call an idle
    # machine busy): one fit of at most WARM_UP_EPOCHS epochs comes first,
    # and only the `rounds` fits after it are timed. Every fit starts after
    # the bench's pause, so none shares a core with the threads another
    # library's fit left spinning.
    from fastbp._bench import _common

    _MaxIterRecorder.seen = []
    monkeypatch.setattr(_common, "settle",
                        lambda: _MaxIterRecorder.seen.append("pause"))
    seconds, _ = _interleaved_fits([("a", _MaxIterRecorder())], np.zeros((2, 1)),
                                   [0, 1], rounds=3)
    assert _MaxIterRecorder.seen == ["pause", _cli.WARM_UP_EPOCHS,
                                     "pause", 200, "pause", 200, "pause", 200]
    assert len(seconds["a"]) == 3


# -- the demo's output ------------------------------------------------------------
def _demo(capsys, *args):
    assert main(["demo", "--epochs", "2", *args]) == 0
    return capsys.readouterr().out


def test_demo_prints_medians_of_interleaved_fits(capsys, monkeypatch):
    monkeypatch.setattr(_cli, "_other_work", lambda: (0.0, "busy"))
    steady = {"fastbp": [0.10, 0.11, 0.12], "scikit-learn": [1.0, 1.1, 1.2]}
    real = _cli._interleaved_fits

    def fits(runs, X, y, rounds):
        assert rounds == 3 and [name for name, _ in runs] == ["fastbp", "scikit-learn"]
        _, fitted = real(runs, X, y, 1)
        return steady, fitted

    monkeypatch.setattr(_cli, "_interleaved_fits", fits)
    out = _demo(capsys)
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()
            if ln.startswith(("fastbp ", "scikit-learn "))}
    assert rows["fastbp"][2] == "0.110" and rows["scikit-learn"][2] == "1.100"
    assert "3 (0.100 - 0.120 s)" in out
    assert "speedup: 10.0x (scikit-learn's median fit time / fastbp's" in out
    (machine,) = [ln for ln in out.splitlines() if ln.startswith("machine: ")]
    assert machine.startswith("machine: idle (")


def test_demo_says_when_the_machine_was_busy(capsys, monkeypatch):
    monkeypatch.setattr(_cli, "_other_work", lambda: (64.0, "load"))
    out = _demo(capsys, "--rounds", "2")
    (machine,) = [ln for ln in out.splitlines() if ln.startswith("machine: ")]
    assert machine.startswith("machine: busy (load average 64.0 on ")
    assert "ratio is not reliable" in machine
    rows = [ln for ln in out.splitlines() if ln.startswith(("fastbp ", "scikit-learn "))]
    assert all(ln.split()[5] == "2" for ln in rows)               # two fits each


def test_demo_rounds_must_be_positive(capsys):
    assert main(["demo", "--rounds", "0"]) == 2
    assert "--rounds" in capsys.readouterr().err
