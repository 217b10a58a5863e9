"""The benchmark's own arithmetic and report (fastbp/_bench/): the figures
it prints are the ones it measured. (Its timings are not tested here: this
machine is shared and noisy; see benchmarks/.)"""
import collections
import itertools
import math

import numpy as np
import pytest

from fastbp._bench import _common, _train
from fastbp._bench._report import format_report


def _big_case(ms_fastbp, step_gflops):
    sizes = [784, 1024, 1024, 10]
    gflop = 57.0
    return {"case": "784-1024-1024-b256", "rows": 6000, "sizes": sizes,
            "batch": 256, "gflop_per_epoch": gflop,
            "step_gemm_gflops": step_gflops,
            "step_gemm_ms_per_epoch": 1e3 * gflop / step_gflops,
            "libs": {"fastbp": {"ms_per_epoch": ms_fastbp,
                                "gflops": gflop / (ms_fastbp / 1e3)}}}


def _report(*cases):
    return {"meta": {"threads": 2, "cpu": "test CPU", "quick": True,
                     "loadavg_start": [0, 0, 0], "loadavg_end": [0, 0, 0]},
            "cases": list(cases)}


def test_the_step_products_are_the_flops_the_libraries_are_given():
    sizes = [32, 48, 16, 10]
    prods = _common.step_products(sizes, 64)
    shapes = [(a.shape, b.shape, out.shape) for a, b, out in prods]
    assert shapes == [
        ((64, 32), (32, 48), (64, 48)), ((64, 48), (48, 16), (64, 16)),
        ((64, 16), (16, 10), (64, 10)),                  # forward
        ((16, 64), (64, 10), (16, 10)), ((64, 10), (10, 16), (64, 16)),
        ((48, 64), (64, 16), (48, 16)), ((64, 16), (16, 48), (64, 48)),
        ((32, 64), (64, 48), (32, 48)),    # weight and input gradients
    ]
    flop = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in prods)
    assert flop == 64 * _common.train_flops_per_sample(sizes)
    g = _common.step_gemm_gflops(sizes, 64, threads=1, repeats=2)
    assert math.isfinite(g) and g > 0


def test_the_products_alone_and_at_isolated_speed_are_reported():
    res = _big_case(ms_fastbp=600.0, step_gflops=114.0)   # 95 GFLOP/s
    res["step_isolated_ms_per_epoch"] = 400.0
    checks = _train.check_targets(res, sgemm=150.0)
    assert "of_sgemm" not in checks          # the sgemm share is no aim
    assert res["fastbp_sgemm_fraction"] == pytest.approx(95.0 / 150.0)
    assert res["step_gemm_sgemm_fraction"] == 114.0 / 150.0
    text = format_report(_report(res))
    assert "fastbp = 63% of numpy sgemm (150 GFLOP/s" in text
    assert "its matrix products alone reach 114 GFLOP/s = 76% of sgemm" in text
    assert "The step's matrix products alone, ms per epoch" in text
    # 57 GFLOP at 114 GFLOP/s: 500 ms; fastbp's 600 ms is 1.20x that, and
    # 1.50x the 400 ms of the products at their isolated speed
    assert ("784-1024-1024-10, batch 256: numpy 500 (fastbp takes 1.20x), "
            "isolated 400 (fastbp takes 1.50x)") in text


def test_the_isolated_products_are_the_steps_flops_at_one_threads_speed(monkeypatch):
    sizes = [32, 48, 16, 10]
    one = _common.step_isolated_ms(sizes, 64, threads=1, repeats=2)
    assert one > 0 and math.isfinite(one)
    # the one-thread timings are divided over the threads: with a clock
    # that moves 1 ms per reading, the same sum, halved
    clock = itertools.count()
    monkeypatch.setattr(_common.time, "perf_counter", lambda: 1e-3 * next(clock))
    one = _common.step_isolated_ms(sizes, 64, threads=1, repeats=2)
    two = _common.step_isolated_ms(sizes, 64, threads=2, repeats=2)
    assert two == pytest.approx(one / 2)


def test_a_saved_report_without_the_products_still_prints():
    # (reports saved by earlier versions have no step_gemm keys)
    res = _big_case(ms_fastbp=600.0, step_gflops=114.0)
    for key in ("step_gemm_gflops", "step_gemm_ms_per_epoch"):
        del res[key]
    _train.check_targets(res, sgemm=150.0)
    text = format_report(_report(res))
    assert "fastbp = 63% of numpy sgemm" in text
    assert "measured before and after the case" in text
    assert "matrix products alone" not in text


def test_the_peers_are_measured_beside_each_of_fastbps_fits(monkeypatch):
    # sgemm and the products alone are timed right before and right after
    # every timed fastbp fit, interleaved with the libraries' fits, and the
    # case reports their medians.
    import numpy as np

    events = []

    def fake_fit(lib):
        def fit(X, y, hidden, batch, epochs, threads, seed=0):
            events.append(lib)
            return 0.5, [1.0, 0.5], None
        return fit

    monkeypatch.setattr(_train, "TRAINERS",
                        {"fastbp": fake_fit("fastbp"), "sklearn": fake_fit("sklearn")})
    monkeypatch.setattr(_train, "settle", lambda: events.append("|"))
    speeds = iter([100.0, 120.0, 90.0, 130.0, 110.0, 140.0])

    def sgemm():
        events.append("sgemm")
        return next(speeds)

    X = np.zeros((8, 784), np.float32)
    y = np.zeros(8, int)
    res = _train.run_case("784-1024-1024-b256", X, y, threads=1,
                          libs=["fastbp", "sklearn"], repeats=1, quick=True,
                          log=lambda m: None, peers={"sgemm": sgemm},
                          min_fastbp_fits=3)
    timed = events[4:]          # after two warm-up fits per library
    # (each timed fit after settle()'s pause, "|")
    assert timed == ["sgemm", "|", "fastbp", "sgemm", "|", "sklearn",
                     "sgemm", "|", "fastbp", "sgemm",
                     "sgemm", "|", "fastbp", "sgemm"]
    assert res["libs"]["fastbp"]["fits"] == 3
    assert res["libs"]["sklearn"]["fits"] == 1
    assert res["peers"]["sgemm"]["samples"] == [100.0, 120.0, 90.0,
                                                      130.0, 110.0, 140.0]
    assert res["peers"]["sgemm"]["median"] == 115.0
    # ... and the report says so
    res["libs"]["fastbp"]["gflops"] = 92.0
    _train.check_targets(res, res["peers"]["sgemm"]["median"])
    assert ("fastbp = 80% of numpy sgemm (115 GFLOP/s, measured beside each fit)"
            in format_report(_report(res)))


def test_timed_calls_alternate_between_the_functions(monkeypatch):
    # A fake clock: a call of "b" takes 3 ms, one of "a" 1 ms, but 9 ms in
    # a's second timed block. Each timed block starts after settle()'s
    # pause (marked "|"), and the order of the functions changes.
    clock = [0.0]
    calls = []

    class FakeTime:
        @staticmethod
        def perf_counter():
            return clock[0]

        @staticmethod
        def sleep(s):
            calls.append("|")
            clock[0] += s

    monkeypatch.setattr(_common, "time", FakeTime)

    def a():
        calls.append("a")
        clock[0] += 9e-3 if "".join(calls).count("|a") == 2 else 1e-3

    def b():
        calls.append("b")
        clock[0] += 3e-3

    t = _common.time_calls({"a": a, "b": b}, min_block=0.02, blocks=3)
    timed = "".join(calls).split("|")[1:]
    # one block per pause, each function's blocks of one size, long enough
    # for min_block, in the order a b, b a, a b
    assert [blk[0] for blk in timed] == ["a", "b", "b", "a", "a", "b"]
    assert all(set(blk) == {blk[0]} for blk in timed)
    na, nb = len(timed[0]), len(timed[1])
    assert all(len(blk) == (na if blk[0] == "a" else nb) for blk in timed)
    assert na * 1e-3 >= 0.02 and nb * 3e-3 >= 0.02
    # per call, the median of the blocks: a's 9 ms block is left out
    assert math.isclose(t["a"], 1e-3) and math.isclose(t["b"], 3e-3)


def test_a_report_says_when_and_from_which_commit_it_ran(tmp_path, monkeypatch):
    rep = _report()
    assert "fastbp commit" not in format_report(rep)   # older reports
    rep["meta"].update(started_utc="2026-12-02T01:42:13Z", commit="013eb43")
    assert ("started 2026-12-02T01:42:13Z, fastbp commit 013eb43"
            in format_report(rep))
    # outside a git checkout (an installed package) there is no commit
    monkeypatch.setattr(_common, "__file__", str(tmp_path / "_common.py"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert _common.git_commit() is None


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_orders_balance_positions_and_neighbours_in_each_cycle(n):
    names = [f"lib{i}" for i in range(n)]
    cycle = n if n % 2 == 0 else 2 * n
    got = [order for _, order in _common.orders(names, 2 * cycle + 1)]
    assert all(sorted(o) == names for o in got)
    assert got[cycle:2 * cycle] == got[:cycle] and got[-1] == got[0]
    rows = got[:cycle]
    # each name at each position equally often
    places = collections.Counter((o[i], i) for o in rows for i in range(n))
    assert len(places) == n * n and len(set(places.values())) == 1
    # each name right after each other one equally often
    if n > 1:
        follows = collections.Counter(
            (o[i], o[i + 1]) for o in rows for i in range(n - 1))
        assert len(follows) == n * (n - 1) and len(set(follows.values())) == 1
    # the bench's four libraries: fastbp first in 4 of 15 rounds at most
    if n == 4:
        firsts = collections.Counter(
            o[0] for _, o in _common.orders(names, 15))
        assert max(firsts.values()) <= 4
    assert list(_common.orders({"x": 1, "y": 2}, 3)) == [
        (0, ["x", "y"]), (1, ["y", "x"]), (2, ["x", "y"])]


def _gemm_shapes():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "benchmarks" / "gemm_shapes.py"
    spec = importlib.util.spec_from_file_location("gemm_shapes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_per_thread_parts_add_up_to_the_step(capsys):
    # benchmarks/gemm_shapes.py cuts a step's products as fastbp's layer
    # split does; where every cut is even, the parts of all threads hold
    # the step's flops, as the bench counts them.
    gs = _gemm_shapes()
    sizes, batch, T = [784, 1024, 1024, 10], 256, 2
    parts = gs.part_shapes(sizes, batch, T)
    assert [p[0] for p in parts] == [
        "forward 0", "forward 1", "forward 2", "weight gradient 2",
        "input gradient 2", "weight gradient 1", "input gradient 1",
        "weight gradient 0"]
    assert parts[0][1:] == (False, 256, 512, 784)      # by columns: n >= m
    assert parts[2][1:] == (False, 128, 10, 1024)      # by rows: n < m
    assert parts[7][1:] == (True, 784, 512, 256)       # gradient by columns
    flop = sum(2 * M * N * K for _, _, M, N, K in parts) * T
    assert flop == batch * _common.train_flops_per_sample(sizes)
    assert gs.main(["--sizes", "16,24,8", "--batch", "8", "--rounds", "1",
                    "--square", "64"]) == 0
    out = capsys.readouterr().out
    assert "the whole step" in out and "64^3" in out


def test_the_jax_peer_trains_the_same_network_and_compiles_apart():
    pytest.importorskip("jax")
    from fastbp._bench import _jax

    X, y = _common.digits_data()
    X, y = X[:300], y[:300]
    dt, curve, params = _jax.fit_jax(X, y, (16,), 32, 3, 1, seed=0)
    assert dt > 0 and len(curve) == 3 and curve[-1] < curve[0]
    # the network of the other libraries: 64-16-10, scikit-learn's init
    assert [tuple(W.shape) for W, _ in params] == [(64, 16), (16, 10)]
    W0, _ = _jax.glorot_params([64, 16, 10], np.float32, 0)[0]
    assert np.abs(W0).max() <= np.sqrt(6.0 / 80) and W0.dtype == np.float32
    # compiled once per shape, before the timed part; the same seed gives
    # the same fit
    key = ((64, 16, 10), 32, 300, "float32")
    assert _jax.COMPILE_SECONDS[key] > 0
    assert _jax.fit_jax(X, y, (16,), 32, 3, 1, seed=0)[1] == curve


def test_a_jax_column_and_its_aim_are_reported_and_its_compile_time_apart():
    res = _big_case(ms_fastbp=600.0, step_gflops=114.0)
    res["libs"]["jax"] = {"ms_per_epoch": 660.0, "gflops": 57.0 / 0.66,
                          "compile_s": 2.5}
    res["libs"]["jax"]["fastbp_speedup"] = 660.0 / 600.0
    checks = _train.check_targets(res, sgemm=150.0)
    assert checks["xjax"] == (1.1, 1.15, False)
    text = format_report(_report(res))
    header = next(line for line in text.splitlines() if line.startswith("case"))
    assert "jax" in header and "vs jax" in header and "torch" not in header
    assert ">=1.15x jax" in text
    assert "JAX's compile time, seconds, not counted in its fits: " \
           "784-1024-1024-10, batch 256 2.5" in text


def test_bench_leaves_jax_out_with_a_note_where_it_is_missing(monkeypatch, capsys):
    from fastbp._bench import _main

    monkeypatch.setattr(_main, "have_jax", lambda: False)
    seen = {}

    def fake_case(name, X, y, *, libs, **kw):
        seen["libs"] = list(libs)
        raise SystemExit(0)
    monkeypatch.setattr(_main, "run_case", fake_case)
    with pytest.raises(SystemExit):
        _main.main(["--cases", "digits-b200", "--libs", "fastbp,jax", "--threads", "1"])
    assert seen["libs"] == ["fastbp"]
    assert "JAX is not installed" in capsys.readouterr().err


def test_the_dtype_part_fits_a_float64_dataframe_both_ways(monkeypatch):
    pytest.importorskip("pandas")
    from fastbp._bench import _dtype

    monkeypatch.setattr(_dtype, "settle", lambda: None)
    fitted = []
    import fastbp

    real = fastbp.MLPClassifier.fit

    def spy(self, X, y):
        fitted.append((self.dtype, str(X.dtypes.iloc[0])))
        return real(self, X, y)
    monkeypatch.setattr(fastbp.MLPClassifier, "fit", spy)
    res = _dtype.run_dtype(threads=1, quick=True, log=lambda m: None, repeats=2)
    assert set(fitted) == {(None, "float64"), (np.float32, "float64")}
    assert res["speedup"] == res["ms_per_epoch"]["float64"] / res["ms_per_epoch"]["float32"]
    text = format_report({**_report(), "dtype": res})
    assert "dtype=np.float32" in text and "dtype=None (float64)" in text


def test_each_librarys_spread_is_reported_and_fastbps_is_an_aim(monkeypatch):
    # fastbp's three timed fits take 0.5, 0.6 and 0.5 s: the slowest is
    # 1.2x the fastest, over the 1.10 aim; scikit-learn's two, 1.0 and 1.05
    # (after two warm-up fits each)
    import numpy as np

    times = {"fastbp": iter([0.01, 0.01, 0.5, 0.6, 0.5]),
             "sklearn": iter([0.01, 0.01, 1.0, 1.05])}

    def fake_fit(lib):
        def fit(X, y, hidden, batch, epochs, threads, seed=0):
            return next(times[lib]), [1.0, 0.5], None
        return fit

    monkeypatch.setattr(_train, "TRAINERS",
                        {lib: fake_fit(lib) for lib in times})
    monkeypatch.setattr(_train, "settle", lambda: None)
    X = np.zeros((8, 784), np.float32)
    y = np.zeros(8, int)
    res = _train.run_case("784-1024-1024-b256", X, y, threads=1,
                          libs=["fastbp", "sklearn"], repeats=2, quick=True,
                          log=lambda m: None, min_fastbp_fits=3)
    assert res["libs"]["fastbp"]["spread"] == pytest.approx(1.2)
    assert res["libs"]["sklearn"]["spread"] == pytest.approx(1.05)
    checks = _train.check_targets(res)
    assert checks["spread"] == (pytest.approx(1.2), 1.10, False)
    res["gflop_per_epoch"] = 57.0
    text = format_report(_report(res))
    assert "784-1024-1024-10, batch 256: fastbp 1.20 (3 fits), sklearn 1.05 (2 fits)" in text
    assert "784-1024-1024-b256: spread<=1.1 (got 1.20)" in text
    assert "mini-batches on its threads" not in text
    # where the thread tuner ran some fits on one thread, the line says so
    res["libs"]["fastbp"]["team_share"] = [1.0, 0.0, 0.5]
    assert ("fastbp 1.20 (3 fits), sklearn 1.05 (2 fits); fastbp's "
            "mini-batches on its threads, per fit: 100% 0% 50%"
            in format_report(_report(res)))
    # and where the bench measured what a second thread gives beside each
    # fit, so does that
    res["peers"] = {"core_pair": {"samples": [1.9, 1.02, 1.95, 1.4]}}
    assert ("per fit: 100% 0% 50%; two threads' throughput over one's "
            "beside fastbp's fits 1.02-1.95, under 1.5 in 2 of 4"
            in format_report(_report(res)))
    # and how long the threads took to hand data over (nan: not measured)
    res["peers"]["handoff"] = {"samples": [9.2, 18.4, float("nan"), 9.6]}
    assert ("under 1.5 in 2 of 4; a 512 KiB hand-off between two threads "
            "beside fastbp's fits 9.2-18.4 us" in format_report(_report(res)))
    # fewer than three fits of fastbp: no aim
    del res["checks"]
    res["libs"]["fastbp"]["fits"] = 2
    assert "spread" not in _train.check_targets(res)


def test_handoff_probe_times_two_threads_and_gives_back_the_cpus():
    # The probe moves the calling thread to one CPU while it runs; the
    # caller's own mask is put back after.
    import os

    from fastbp._core import _kernels

    with pytest.raises(ValueError, match="nbytes"):
        _kernels.handoff_us(nbytes=8)
    before = os.sched_getaffinity(0)
    us = _kernels.handoff_us(nbytes=65536, rounds=10)
    assert os.sched_getaffinity(0) == before
    if len(before) < 2:
        assert us is None
    else:
        assert 0 < us < 1e6


def test_core_pair_reads_two_when_the_threads_overlap_and_one_when_not(
        monkeypatch):
    # core_pair times the same products on one thread and on two at once.
    # A product that waits 2 ms (the two threads wait side by side) gives
    # about 2; one that holds a lock for 2 ms (the threads take turns, as
    # two hyperthreads of one core nearly do) about 1.
    import threading
    import time

    from fastbp._bench._common import core_pair
    from fastbp._core import _kernels

    lock = threading.Lock()

    def side_by_side(A, B, C, ta, tb):
        time.sleep(0.002)

    def by_turns(A, B, C, ta, tb):
        with lock:
            time.sleep(0.002)

    monkeypatch.setattr(_kernels, "matmul", side_by_side)
    assert core_pair(n=8, calls=10, repeats=2) == pytest.approx(2, rel=0.2)
    monkeypatch.setattr(_kernels, "matmul", by_turns)
    assert core_pair(n=8, calls=10, repeats=2) == pytest.approx(1, rel=0.2)
