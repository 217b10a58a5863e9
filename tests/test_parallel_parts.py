"""Mini-batches cut into fixed parts run on a varying number of threads
(the busy-machine tuner), Ctrl-C inside the compiled epoch, thread caps and
shared BLAS limits."""
import _thread
import multiprocessing as mp
import os
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastbp._threads as fthreads
from fastbp import MLPClassifier, MLPRegressor, Network
from conftest import run_in_fresh_interpreter
from fastbp._core import _optim, _tuner
from fastbp._core._backprop import OPENMP_ENABLED, Trainer
from fastbp._core._tuner import _tuner_trace
from fastbp._network import prepare_input
from fastbp._threads import available_cores, blas_limited, resolve_n_threads


def _spin(stop):
    while not stop.is_set():
        pass


@pytest.fixture
def busy_cores():
    """Two busy-looping processes beside the test, as on a loaded machine."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    yield
    stop.set()
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()


def _train(X, y, *, team, split, sparse=False, epochs=3, opt="adam", n_threads=2):
    """`epochs` epochs through a Trainer whose parts run on `team`
    ('one', 'all' or 'tuned'); returns the final parameters."""
    net = Network((X.shape[1], 24, 16, 3), activation="tanh", loss="log_loss",
                  random_state=0)
    Xin = prepare_input(sp.csr_matrix(X) if sparse else X, net.dtype)
    Y = np.eye(3)[y]
    tr = Trainer(net.params, net._layout, batch_size=32, n_threads=n_threads,
                 sparse=sparse, split_layers=split, min_work=0,
                 min_update_params=64)
    if team != "tuned":
        tr.fix_team(team == "all")
    tr.set_optimizer(_optim.OPTIMIZERS[opt], 0.01)
    perm = np.arange(X.shape[0], dtype=np.intp)
    rng = np.random.RandomState(0)
    for _ in range(epochs):
        rng.shuffle(perm)
        tr.epoch(Xin, Y, np.empty(0), perm, 1e-4)
    return net.params.copy(), tr


@pytest.mark.parametrize("split", [False, True], ids=["row-split", "layer-split"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_parts_give_bitwise_the_same_weights_on_any_number_of_threads(split, sparse):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(301, 10))
    X[X < 0.3] = 0
    y = rng.randint(0, 3, size=301)
    one, _ = _train(X, y, team="one", split=split, sparse=sparse)
    every, _ = _train(X, y, team="all", split=split, sparse=sparse)
    tuned, _ = _train(X, y, team="tuned", split=split, sparse=sparse)
    np.testing.assert_array_equal(one, every)
    np.testing.assert_array_equal(one, tuned)


@pytest.mark.skipif(not OPENMP_ENABLED, reason="serial build: no threads")
def test_tuned_fit_on_a_busy_machine_equals_the_fixed_team_fit(busy_cores):
    # Whatever the tuner decides under load, and whenever, the weights are
    # those of the parts run on every thread.
    rng = np.random.RandomState(1)
    X = rng.normal(size=(600, 12))
    y = rng.randint(0, 3, size=600)
    every, _ = _train(X, y, team="all", split=False, epochs=6)
    tuned, tr = _train(X, y, team="tuned", split=False, epochs=6)
    np.testing.assert_array_equal(every, tuned)
    every, _ = _train(X, y, team="all", split=True, epochs=6)
    tuned, _ = _train(X, y, team="tuned", split=True, epochs=6)
    np.testing.assert_array_equal(every, tuned)


def test_estimator_fits_are_reproducible_for_a_thread_count():
    rng = np.random.RandomState(2)
    X = rng.normal(size=(500, 30))
    y = rng.randint(0, 4, size=500)
    fits = [MLPClassifier(hidden_layer_sizes=(64,), batch_size=100, max_iter=5,
                          random_state=0, n_threads=2).fit(X, y) for _ in range(2)]
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_array_equal(a, b)


def test_tuner_falls_back_to_one_thread_when_the_team_waits():
    # A team 10x slower per row (threads descheduled at every barrier):
    # after the first windows nearly every batch runs on one thread, and
    # the probes of the team stay rare.
    modes = _tuner_trace(1e-6, 1e-5, 200, 5000, switch_s=400e-6)
    # a fresh process starts on one thread (a first window of 3 batches)
    # and measures the team right after: one batch, lost (2.4 ms against
    # 0.2: more than waking the team's threads explains); a first loss is
    # tried again after one more short window, and loses again
    assert not modes[:3].any()
    assert modes[3] == 1 and modes[7] == 1
    assert modes[3:100].sum() == 2
    assert modes[100:].mean() < 0.01


def test_a_probe_of_the_team_is_not_judged_by_waking_its_threads():
    # digits on this VM: 240 us a batch on one thread, 150 on the team, and
    # 400 us more for the first team batch after one-thread batches (its
    # threads slept). That first batch alone is "2x slower": timed, every
    # probe of the team ended on it and the fit stayed on one thread.
    # (timed from that batch, the team ran 0.04% of the batches)
    modes = _tuner_trace(240e-6 / 200, 150e-6 / 200, 200, 5000, switch_s=400e-6)
    assert modes[100:].mean() > 0.9
    # a team that is slower still loses, wake-up or not
    modes = _tuner_trace(240e-6 / 200, 300e-6 / 200, 200, 5000, switch_s=400e-6)
    assert modes[100:].mean() < 0.05


def test_a_skipped_wake_up_still_counts_in_the_wait_after_a_lost_probe(
        tuner_memory):
    # One thread incumbent, due to probe the team; the team is slower (300
    # against 240 us a batch) and its first batch also pays a 400 us
    # wake-up. That batch is not timed, but the probe's cost behind the
    # next probe's wait (30x the excess) includes its excess: the wake-up
    # lengthens the wait by 30 x 400 us.
    # (a class that has lost a probe before: the wait starts with the
    # second loss since a win)
    key, _ = _tuner._tuner_start(200 * 100, True)
    quiet = {}
    for wake in (0.0, 400e-6):
        mem = [BLANK] * len(tuner_memory)
        mem[key] = (0, 4, 1, 0.0, 0.0, 240e-6 / 200, 300e-6 / 200)
        _tuner._tuner_memory(mem)
        modes = _tuner_trace(240e-6 / 200, 300e-6 / 200, 200, 200, key=key,
                             switch_s=wake)
        assert modes.any() and modes[-1] == 0      # probed, lost
        quiet[wake] = _tuner._tuner_memory()[key][4]
    assert quiet[0.0] > 0
    assert quiet[400e-6] == pytest.approx(quiet[0.0] + 30 * 400e-6)


def test_tuner_keeps_the_team_when_it_is_faster():
    # (6-10 s of batches here: the other mode is measured again every
    # second of training, a window of 20 ms each time)
    modes = _tuner_trace(1e-5, 0.6e-5, 200, 5000)
    assert modes[100:].mean() > 0.97


def test_tuner_switches_only_for_a_clear_gain():
    # The team 2% faster is within noise: the incumbent (one thread, where
    # a fresh process starts) stays; 10% faster takes over.
    assert _tuner_trace(1e-5, 0.98e-5, 200, 5000)[100:].mean() < 0.03
    assert _tuner_trace(1e-5, 0.90e-5, 200, 5000)[100:].mean() > 0.97


def test_tuner_checks_every_decision_at_least_once_a_second():
    # However long the backoff has grown, the other mode is measured again
    # after about a second of training (12 s of batches here).
    modes = _tuner_trace(1e-5, 0.6e-5, 200, 10000)
    probes = np.flatnonzero(np.diff(modes.astype(int)) == -1)
    gaps = np.diff(probes) * 200 * 0.6e-5        # seconds between probes
    assert len(probes) >= 10
    assert gaps.max() < 1.2


def test_a_long_probe_that_is_losing_ends_after_one_batch():
    # A large network on an idle machine: 25 ms a team batch, 1.7x that on
    # one thread. Every second the decision is measured again, and the
    # one-thread probe ends after its first batch (it has run a whole
    # window's time, 1.4x slower), not after a window of three batches.
    rows = 256
    team, one = 0.025 / rows, 1.7 * 0.025 / rows
    modes = _tuner_trace(one, team, rows, 800)       # 20 s of batches
    later = modes[100:]
    probes = np.flatnonzero(np.diff(later.astype(int)) == -1) + 1
    assert len(probes) >= 10                        # about once a second
    for p in probes:
        assert later[p] == 0 and later[p + 1] == 1  # one batch each
    # a probe just under 1.4x runs three batches (one may be noise), then
    # ends at 1.2x
    modes = _tuner_trace(1.3 * 0.025 / rows, team, rows, 800)[100:]
    assert probe_lengths(modes) == {3}
    # just under 1.2x, it runs its whole window (it may yet win): 20 ms
    modes = _tuner_trace(1.15e-3 / rows, 1e-3 / rows, rows, 8000)[100:]
    assert min(probe_lengths(modes)) == int(np.ceil(0.02 / 1.15e-3))


def probe_lengths(modes):
    """The lengths of the runs of one-thread mini-batches (probes, where
    the team is the incumbent) that both start and end inside `modes`."""
    edges = np.flatnonzero(np.diff(modes.astype(int)))
    starts = [e + 1 for e in edges if modes[e] == 1]
    ends = [e + 1 for e in edges if modes[e] == 0]
    return {min(e for e in ends if e > s) - s for s in starts if any(e > s for e in ends)}


def test_a_small_network_explores_little_in_its_first_timed_fit(tuner_memory):
    # scikit-learn's digits at batch 200: 55 us a batch on one thread, 40
    # on the team (1.37x, under LOSING_LONG). The bench warms up with two
    # one-epoch fits (9 batches each), then times fits of 20 epochs. The
    # first window on one thread is 1.5 ms, and a probe of one thread ends
    # after three batches: the first timed fit runs what is left of that
    # window on one thread, and the later fits run on the team. With a
    # first window of 5 ms and a whole window per probe, the first timed
    # fit ran a quarter of its batches on one thread and took 1.4-1.5x the
    # later fits (the bench's runs f and g).
    rows = 200
    key, _ = _tuner._tuner_start(rows * 6 * 7510, True)
    _tuner._tuner_memory([BLANK] * len(tuner_memory))
    one, team = 55e-6 / rows, 40e-6 / rows
    modes = np.concatenate([_tuner_trace(one, team, rows, n, key=key)
                            for n in (9, 9, 180)])
    first = int(np.argmax(modes == 1))
    assert first * 55e-6 < 0.0015 + 55e-6
    assert (modes[first:] == 0).sum() <= 3
    fits = [_tuner_trace(one, team, rows, 180, key=key) for _ in range(40)]
    assert all(f.mean() > 0.98 for f in fits)      # 3 batches per probe
    assert np.mean(fits) > 0.995


def test_a_short_fit_pays_little_for_exploring_on_an_idle_machine():
    # 784-256-128 at batch 128 on this VM: 0.47 ms a team batch, 0.9 on one
    # thread; a one-epoch fit is 157 batches. The first window (1.5 ms) runs
    # on one thread; the team then wins by more than 1.4x, so one thread
    # is not measured again at once, and each later probe of one thread
    # ends on its first batch (a full 20 ms window of it cost such a fit
    # 8-10%).
    rows = 128
    modes = _tuner_trace(0.9e-3 / rows, 0.47e-3 / rows, rows, 157)
    first = int(np.argmax(modes == 1))
    assert first * 0.9e-3 < 0.0015 + 0.9e-3         # the first window
    later = modes[first:]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[1, later, 1]) != 0))[::2]
    assert (runs <= 1).all()                        # one-batch probes
    assert (later == 0).sum() <= 2
    # 784-1024-1024 at batch 256: 12.4 ms a batch on one thread, 6.4 on the
    # team; one batch is the first window
    modes = _tuner_trace(12.4e-3 / 256, 6.4e-3 / 256, 256, 79)
    assert modes[0] == 0 and modes[1:10].all()
    assert (modes == 0).sum() <= 3


@pytest.fixture
def tuner_memory():
    """The process-wide memories of the training and forward tuners,
    restored after the test."""
    saved = _tuner._tuner_memory(), _tuner._tuner_memory(forward=True)
    yield saved[0]
    _tuner._tuner_memory(saved[0])
    _tuner._tuner_memory(saved[1], forward=True)


BLANK = (0, 0, 0, 0.0, 0.0, 0.0, 0.0)


def test_a_first_lost_probe_is_tried_again_after_a_short_window(tuner_memory):
    # 784-256-128 at batch 128: 0.9 ms a batch on one thread, 0.47 on the
    # team. A fresh class's first probe of the team meets a one-off 60 ms
    # stall and loses; the next probe comes after one more short window
    # (two batches here), not after 4 windows of 20 ms nor 30x the stall's
    # 60 ms of training, and keeps the team.
    rows = 128
    key, _ = _tuner._tuner_start(rows * 1e4, True)
    _tuner._tuner_memory([BLANK] * len(tuner_memory))
    one, team = 0.9e-3 / rows, 0.47e-3 / rows
    modes = _tuner_trace(one, team, rows, 3, key=key, switch_s=60e-3)
    assert list(modes) == [0, 0, 1]                # probed, lost
    mode, backoff, _, _, quiet, _, _ = _tuner._tuner_memory()[key]
    assert (mode, backoff, quiet) == (0, 1, 0.0)
    modes = _tuner_trace(one, team, rows, 200, key=key)
    assert not modes[:2].any() and modes[2:].mean() > 0.98
    # a loss in a class whose backoff has grown (it lost before) waits 30x
    # its cost
    mem = _tuner._tuner_memory()
    mem[key] = (0, 4, 1, 0.0, 0.0, one, team)
    _tuner._tuner_memory(mem)
    _tuner_trace(one, team, rows, 30, key=key, switch_s=60e-3)
    assert _tuner._tuner_memory()[key][4] > 30 * 0.05


def test_a_stale_decision_is_measured_again_after_a_pause(tuner_memory):
    # digits at batch 200 on the 2-core VM: 55 us a batch on one thread, 40
    # on the team, but 80 on the team while the host runs both vCPUs on one
    # core. A fresh class explores in such a stretch: the team loses twice
    # and one thread stays, for 4 windows of 20 ms of training, 8 fits of 10
    # ms. A fit half a second later keeps that decision; a fit 3 s later
    # (the stretch is over) measures one thread in a short window, leaving
    # out its first batch, then the team, and keeps the team.
    rows = 200
    key, _ = _tuner._tuner_start(rows * 6 * 7510, True)
    _tuner._tuner_memory([BLANK] * len(tuner_memory))
    one, team, shared = 55e-6 / rows, 40e-6 / rows, 80e-6 / rows
    modes = _tuner_trace(one, shared, rows, 30, key=key, wall=100.0)
    assert modes.sum() > 0 and modes[-1] == 0
    assert _tuner._tuner_memory()[key][1] == 4       # backoff: 4 windows
    assert not _tuner_trace(one, team, rows, 180, key=key, wall=100.5).any()
    modes = _tuner_trace(one, team, rows, 800, key=key, wall=103.5)
    assert not modes[:4].any() and modes[4:].all()
    assert _tuner._tuner_memory()[key][0] == 1       # the team won
    # without a clock (the tests above), only seconds of training count
    _tuner._tuner_memory([BLANK] * len(tuner_memory))
    _tuner_trace(one, shared, rows, 30, key=key)
    assert not _tuner_trace(one, team, rows, 180, key=key).any()


def test_a_stale_team_is_not_judged_by_waking_its_threads(tuner_memory):
    # The team won (40 us a batch against 55), and the next fit comes 3 s
    # later: its first batch pays 1 ms for waking the threads that slept
    # through the pause. That batch is left out of the team's fresh
    # window, so the probe of one thread that follows loses (timed from it,
    # the team would look 25x slower and one thread would take over).
    rows = 200
    key, _ = _tuner._tuner_start(rows * 6 * 7510, True)
    _tuner._tuner_memory([BLANK] * len(tuner_memory))
    one, team = 55e-6 / rows, 40e-6 / rows
    _tuner_trace(one, team, rows, 800, key=key, wall=100.0)
    assert _tuner._tuner_memory()[key][0] == 1
    modes = _tuner_trace(one, team, rows, 400, key=key, wall=103.0,
                         first_s=1e-3)
    assert 1 <= (modes == 0).sum() <= 3                 # probed, lost
    assert modes[-300:].all() and _tuner._tuner_memory()[key][0] == 1


def test_tuner_remembers_each_size_of_mini_batch_apart(tuner_memory):
    # One thread won a tiny network (digits) and the team a large one: each
    # size class keeps its own decision, and a size not seen yet starts on
    # one thread (a first window on the team could cost whole time slices
    # on a loaded machine; on an idle one, one thread costs a few ms once).
    tiny, large = 200 * 6 * 7_510, 256 * 6 * 1_861_632
    k_tiny, _ = _tuner._tuner_start(tiny)
    k_large, _ = _tuner._tuner_start(large)
    assert k_tiny != k_large
    # float64 and float32 batches of the same work are apart too
    assert _tuner._tuner_start(tiny, False)[0] != k_tiny
    mem = [BLANK] * len(tuner_memory)
    mem[k_tiny] = (0, 256, 256, 0.0, 0.0, 1e-9, 2e-9)
    mem[k_large] = (1, 16, 3, 0.0, 0.0, 2e-9, 1e-9)
    _tuner._tuner_memory(mem)
    assert _tuner._tuner_start(tiny) == (k_tiny, 0)
    assert _tuner._tuner_start(large) == (k_large, 1)
    assert _tuner._tuner_start(4 * large)[1] == 0


def test_tuner_probes_cost_a_bounded_share_of_the_time():
    # On a loaded machine a team batch can take a whole time slice (here
    # 100x a one-thread batch): each lost probe ends after one batch, and
    # from the second on the next waits until 30x its cost has been
    # trained, so the probes cost a few percent, not a multiple, of the
    # one-thread time (a 0.2 s run pays two probes of 20 ms).
    # The clock running (a stale decision is measured again, no sooner
    # than 2 s and than the wait after a lost probe) keeps the bound, on
    # batches of 0.2 ms as on batches of 0.2 s (one lost probe of the team
    # costs 2 s there, and is not repeated every 2 s).
    for one, team, rows, cases in (
            (1e-6, 1e-4, 200, ((1000, 0.25), (20000, 0.05))),
            (1e-3, 1e-2, 200, ((300, 0.12),))):
        for n, share in cases:
            for wall in (0, 1.0):
                modes = _tuner_trace(one, team, rows, n, wall=wall)
                spent = rows * np.where(modes == 1, team, one).sum()
                assert modes.sum() >= 1                 # the team was measured
                assert spent < (1 + share) * rows * one * n


def test_partial_fits_of_varying_size_keep_the_tuner_measuring(tuner_memory,
                                                              monkeypatch):
    # Chunks of two sizes: every partial_fit gets a new compiled Trainer
    # (its batch size changes) that runs one mini-batch. Those batches still
    # feed the tuner of their size class (a Trainer's first batch must not
    # be left out: here it is the only one), so windows close and the
    # classes decide, as in one long fit.
    monkeypatch.setattr(fthreads, "_cores", max(2, available_cores()))
    _tuner._tuner_memory([BLANK] * len(tuner_memory))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 100)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    clf = MLPClassifier(hidden_layer_sizes=(512,), n_threads=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(60):
            n = 200 if i % 2 == 0 else 150
            clf.partial_fit(X[:n], y[:n], classes=[0, 1, 2])
    decided = [e for e in _tuner._tuner_memory() if e[1] > 0]
    assert decided, "no size class closed a window"


def test_tuner_measures_again_when_the_team_slows_down(tuner_memory):
    # A team that won on an idle machine (its class remembers it, probing
    # seldom) and then meets a loaded one: it is measured against one
    # thread within a window or two, not after its 256-window backoff.
    key, _ = _tuner._tuner_start(200 * 100, True)
    mem = [BLANK] * len(tuner_memory)
    mem[key] = (1, 256, 256, 0.0, 0.0, 2e-9, 1e-9)  # team won, idle
    _tuner._tuner_memory(mem)
    modes = _tuner_trace(1e-9 * 100, 20e-9 * 100, 200, 400, key=key)
    assert modes[0] == 1                    # starts on the remembered team
    assert (modes[:60] == 0).any()          # soon measures one thread
    assert modes[100:].mean() < 0.05        # and keeps it


def test_forward_passes_tune_their_team_on_their_own(tuner_memory):
    # A size of forward pass not seen yet runs on the team; passes where one
    # thread is 5x faster (a loaded machine) move to one thread, and the
    # training tuner's memory is left alone.
    work, single = 2e7, True
    _tuner._tuner_memory([BLANK] * len(tuner_memory), forward=True)
    assert _tuner.forward_team(2, work, single) == 2
    for _ in range(40):
        team = _tuner.forward_team(2, work, single)
        _tuner.forward_record(2, work, single, 1e-3 if team == 1 else 5e-3)
    assert _tuner.forward_team(2, work, single) == 1
    assert _tuner._tuner_memory() == tuner_memory
    assert _tuner.forward_team(1, work, single) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predictions_do_not_depend_on_what_the_tuner_found(tuner_memory, dtype):
    # The forward tuner may run a pass on one thread or on the team: its
    # row blocks stay those of n_threads, so the predictions are bitwise the
    # same (BLAS rounds a row differently in blocks of other heights).
    rng = np.random.default_rng(3)
    X = rng.random((301, 64)).astype(dtype)
    y = rng.integers(0, 10, 301)
    clf = MLPClassifier(hidden_layer_sizes=(100, 50), max_iter=3, n_threads=2,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    got = {}
    for mode in (0, 1):
        _tuner._tuner_memory([(mode, 256, 256, 0.0, 1e9, 1e-9, 1e-9)]
                                * len(tuner_memory), forward=True)
        got[mode] = clf.predict_proba(X)
    np.testing.assert_array_equal(got[0], got[1])


class _CtrlC:
    """Press Ctrl-C once `ready()` holds (polled from a thread): the
    interrupt lands while training runs, however slow the machine is."""

    def __init__(self, ready):
        self.ready = ready
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        while not self.stop.wait(0.002):
            try:
                if self.ready():
                    _thread.interrupt_main()
                    return
            except Exception:
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def _interrupted_fit(clf, X, y, min_steps=20):
    """Fit, pressing Ctrl-C once the compiled epoch has made min_steps updates."""
    def ready():
        trainer = clf.__dict__.get("_trainer")
        return trainer is not None and trainer[1].t >= min_steps
    with _CtrlC(ready), pytest.warns(UserWarning, match="interrupted"):
        clf.fit(X, y)
    return clf


def test_ctrl_c_stops_within_the_epoch_with_a_consistent_model(tmp_path):
    # in an interpreter of its own, with Python's Ctrl-C handler whatever
    # this process inherited (see run_in_fresh_interpreter)
    run_in_fresh_interpreter("test_parallel_parts", "_ctrl_c_stops_within_the_epoch",
                             tmp_path)


def _ctrl_c_stops_within_the_epoch():
    rng = np.random.RandomState(0)
    n, batch = 40000, 10
    X = rng.normal(size=(n, 40))
    y = rng.randint(0, 3, size=n)
    kw = dict(hidden_layer_sizes=(256, 256), batch_size=batch, max_iter=50,
              random_state=0, n_threads=1)
    clf = _interrupted_fit(MLPClassifier(**kw), X, y)
    # stopped inside the first epoch, not at its end
    assert clf.n_iter_ == 0 and clf.loss_curve_ == []
    steps = clf._optimizer.t
    assert 20 <= steps < n // batch
    # samples seen, optimizer steps and weights agree
    assert clf.t_ == steps * batch
    assert np.isfinite(clf.coefs_[0]).all()
    assert clf.predict(X[:5]).shape == (5,)
    # the weights are those of `steps` updates: with shuffle off (a known
    # order) a fit of the first steps * batch rows gives the same weights
    clf2 = _interrupted_fit(MLPClassifier(shuffle=False, **kw), X, y)
    k = clf2._optimizer.t
    ref = MLPClassifier(**dict(kw, max_iter=1, shuffle=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X[:k * batch], y[:k * batch])
    for a, b in zip(ref.coefs_, clf2.coefs_):
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_in_lbfgs_keeps_the_best_iterate(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 50))
    y = X @ rng.normal(size=50) + 0.1 * rng.normal(size=3000)
    init = MLPRegressor(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=1,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init.fit(X, y)
    first_loss = init.loss_
    # Ctrl-C during the 30th loss evaluation
    calls = []
    full_pass = Network._full_pass

    def counting(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 30:
            raise KeyboardInterrupt
        return full_pass(self, *args, **kwargs)

    monkeypatch.setattr(Network, "_full_pass", counting)
    reg = MLPRegressor(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=100000,
                       max_fun=100000, tol=0, random_state=0)
    with pytest.warns(UserWarning, match="best iterate"):
        reg.fit(X, y)
    monkeypatch.undo()
    assert reg.loss_ < first_loss
    # the weights held are those of the loss reported
    net = reg.network_
    loss, _, _ = net.loss_gradient(X, y.reshape(-1, 1), alpha=reg.alpha)
    assert loss == pytest.approx(reg.loss_, rel=1e-12)


def test_n_threads_above_the_cores_is_capped_with_a_warning():
    cores = available_cores()
    with pytest.warns(RuntimeWarning, match="more than the"):
        assert resolve_n_threads(cores + 1000) == (cores if OPENMP_ENABLED else 1) \
            or not OPENMP_ENABLED
    # a model saved with many threads predicts within the cores
    X = np.random.RandomState(0).normal(size=(300, 5))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, n_threads=64,
                            random_state=0).fit(X, y)
    assert clf.predict(X).shape == (300,)


def test_a_refused_thread_becomes_fewer_threads_not_a_crash(monkeypatch):
    monkeypatch.setattr(fthreads, "_threads_checked", 1)
    real_start = threading.Thread.start
    started = []

    def start(self):
        if len(started) >= 2:
            raise RuntimeError("can't start new thread")
        started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.warns(RuntimeWarning, match="only 3 of 8 threads"):
        assert fthreads._threads_can_start(8) == 3


class _FakeBlas:
    """A BLAS library's thread setting, as threadpoolctl's controller shows it."""

    def __init__(self, n):
        self.num_threads = n

    def set_num_threads(self, n):
        self.num_threads = n


def test_concurrent_fits_keep_the_blas_limit_until_the_last_ends(monkeypatch):
    libs = [_FakeBlas(2), _FakeBlas(4)]
    monkeypatch.setattr(fthreads, "_blas_libs", libs)
    entered, release_a, a_done = threading.Event(), threading.Event(), threading.Event()

    def first():
        with blas_limited(2):
            entered.set()
            release_a.wait(10)
        a_done.set()

    t = threading.Thread(target=first)
    t.start()
    assert entered.wait(10)
    with blas_limited(1, always=True):
        assert [lib.num_threads for lib in libs] == [1, 1]
        release_a.set()
        assert a_done.wait(10)
        # the first fit ended while this one runs: BLAS stays on one thread
        assert [lib.num_threads for lib in libs] == [1, 1]
    t.join(10)
    assert [lib.num_threads for lib in libs] == [2, 4]


def test_batch_trace_lists_each_mini_batch_and_its_team():
    X = np.random.default_rng(5).random((130, 6))
    y = np.arange(130) % 3
    _tuner._batch_trace()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MLPClassifier(hidden_layer_sizes=(8,), batch_size=20, max_iter=2,
                      n_threads=2, random_state=0).fit(X, y)
    trace = _tuner._batch_trace()
    assert len(trace) == 2 * 7                      # 7 mini-batches an epoch
    assert all(team in (1, 2) and seconds >= 0 for team, seconds in trace)
    assert _tuner._batch_trace() == []           # read and cleared


def _thread_masks():
    """{thread id: the CPUs it may run on} for this process's threads."""
    masks = {}
    for task in os.listdir("/proc/self/task"):
        try:
            masks[int(task)] = os.sched_getaffinity(int(task))
        except OSError:             # (a thread that just ended)
            pass
    return masks


@pytest.mark.skipif(not OPENMP_ENABLED or not sys.platform.startswith("linux")
                    or len(os.sched_getaffinity(0)) < 2,
                    reason="needs threads, Linux and two CPUs to use")
@pytest.mark.parametrize("pin", [True, False], ids=["apart", "off"])
def test_a_training_team_keeps_its_workers_off_the_masters_cpu(pin):
    # While a team trains, its workers may not run on the CPU the master
    # is on (a vCPU's wake-up would put them there: see _pin.h); every
    # thread has the master's CPUs again once the epoch returns, and the
    # weights are those of the same fit on one thread.
    from fastbp._core import _backprop
    rng = np.random.RandomState(3)
    X = rng.normal(size=(3000, 40))
    y = rng.randint(0, 3, size=3000)
    full = os.sched_getaffinity(0)
    seen = []
    done = threading.Event()
    old = _backprop._pinning(pin)
    try:
        def train():
            try:
                seen.append(_train(X, y, team="all", split=False, epochs=40)[0])
            finally:
                done.set()

        t = threading.Thread(target=train)
        t.start()
        apart = set()
        while not done.is_set():
            for tid, mask in _thread_masks().items():
                if mask != full:
                    apart.add((tid, frozenset(mask)))
            time.sleep(0.0005)
        t.join()
    finally:
        _backprop._pinning(old)
    if pin:
        assert apart, "no worker was kept apart"
        assert all(len(full - mask) == 1 and mask < full for _, mask in apart)
    else:
        assert not apart
    assert all(mask == full for mask in _thread_masks().values())
    one = _train(X, y, team="one", split=False, epochs=40)[0]
    np.testing.assert_array_equal(seen[0], one)
