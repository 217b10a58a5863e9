"""`fastbp bench` marks every aim reached or missed: the sparse and busy
tables have a "reached" column, and the report ends with one line counting
the aims reached and naming each one missed."""
import pytest

from fastbp._bench import _busy, _sparse
from fastbp._bench._report import aim_results, format_aims, format_report
from fastbp._bench._common import table


def _tab(headers, rows):
    return table(headers, rows, False)


def _sparse_row(dtype, fit_x, pred_x, extra_mib):
    return {"dtype": dtype, "fit_ms_per_epoch": {"fastbp": 10.0, "sklearn": 10.0 * fit_x},
            "predict_ms": {"fastbp": 1.0, "sklearn": pred_x},
            "predict_rows": 2000,
            "predict_peak_extra_bytes": {"fastbp": extra_mib * 2**20, "sklearn": 2**20},
            "first_epoch_loss": {"fastbp": 1.6, "sklearn": 1.6},
            "fit_speedup": fit_x, "predict_speedup": pred_x}


def _sparse_result():
    return {"rows": 2000, "n_features": 100_000, "nnz_per_row": 100,
            "cases": [_sparse_row("float32", 6.0, 3.0, 10.0),      # every aim reached
                      _sparse_row("float64", 4.0, 1.5, 100.0)]}    # every aim missed


def _busy_result():
    def row(case, d_vs_one, sk_vs_d, idle_sk_vs_d):
        return {"case": case, "rows": 5000, "dtype": "float32",
                "ms_per_epoch": {"default": 10.0, "one": 10.0 / d_vs_one,
                                 "sklearn": 10.0 * sk_vs_d},
                "idle_ms_per_epoch": {"default": 5.0, "sklearn": 5.0 * idle_sk_vs_d},
                "default_vs_one": d_vs_one, "sklearn_vs_default": sk_vs_d,
                "idle_sklearn_vs_default": idle_sk_vs_d,
                "lead_kept": sk_vs_d / idle_sk_vs_d}
    # digits: 4.0x busy of 4.2x idle (0.95 kept); wide: 2.0x of 4.0x (0.5)
    return {"n_busy": 2, "threads": 2,
            "cases": [row("digits", 1.1, 4.0, 4.2), row("wide", 1.6, 2.0, 4.0)]}


def _lines(text, start):
    return [ln for ln in text.splitlines() if ln.lstrip().startswith(start)]


def test_sparse_checks_compare_with_each_aim():
    ok = _sparse_row("float32", _sparse.SPARSE_AIM_FIT, _sparse.SPARSE_AIM_PREDICT,
                     _sparse.SPARSE_AIM_PREDICT_EXTRA_MIB)
    assert all(reached for _, _, reached in _sparse.sparse_checks(ok).values())
    bad = _sparse_row("float32", 4.99, 1.99, 64.5)
    assert not any(reached for _, _, reached in _sparse.sparse_checks(bad).values())


def test_the_sparse_table_marks_each_aim():
    text = _sparse.format_sparse(_sparse_result(), _tab)
    header = text.splitlines()[1]
    assert "fastbp aims at" in header and "reached" in header
    fit32, fit64 = _lines(text, "fit, ms per epoch")
    assert fit32.rstrip().endswith("yes") and ">=5x sklearn" in fit32
    assert fit64.rstrip().endswith("no")
    pred32, pred64 = _lines(text, "predict_proba")
    assert pred32.rstrip().endswith("yes") and pred64.rstrip().endswith("no")
    mem32, mem64 = _lines(text, "its peak extra memory")
    assert "<=64 MiB" in mem32 and mem32.rstrip().endswith("yes")
    assert mem64.rstrip().endswith("no")


def test_the_busy_table_marks_each_aim():
    busy = _busy_result()
    for r in busy["cases"]:
        r["checks"] = _busy.busy_checks(r)
    text = _busy.format_busy(busy, _tab)
    assert "reached (each aim)" in text.splitlines()[1]
    (digits,) = _lines(text, "digits")
    (wide,) = _lines(text, "wide")
    assert digits.rstrip().endswith("yes/yes")
    assert wide.rstrip().endswith("no/no")
    assert "4.2x" in digits and "0.95" in digits      # idle lead, lead kept


def test_a_busy_report_saved_without_idle_fits_keeps_its_first_aim():
    busy = _busy_result()
    row = busy["cases"][0]
    for key in ("idle_ms_per_epoch", "idle_sklearn_vs_default", "lead_kept"):
        del row[key]
    checks = _busy.busy_checks(row)
    assert list(checks) == ["default_vs_one"]
    (digits,) = _lines(_busy.format_busy(busy, _tab), "digits")
    assert digits.rstrip().endswith("yes")


def test_the_report_ends_with_the_aims_reached_and_missed():
    report = {"meta": {"threads": 2, "cpu": "test CPU", "quick": True,
                       "loadavg_start": [0, 0, 0], "loadavg_end": [0, 0, 0]},
              "cases": [{"case": "digits-b200", "rows": 1797, "sizes": [64, 100, 10],
                         "batch": 200, "gflop_per_epoch": 0.1,
                         "libs": {"fastbp": {"ms_per_epoch": 1.0}},
                         "checks": {"xsklearn": (5.0, 3.0, True)}}],
              "predict": {"libs": {}, "rows_all": 1797,
                          "checks": {"one_row_us": (12.0, 10.0, False)}},
              "busy": _busy_result(), "sparse": _sparse_result()}
    aims = aim_results(report)
    # 1 training + 1 prediction + 2 x 2 busy + 2 x 3 sparse
    assert len(aims) == 12
    assert sum(ok for _, _, ok in aims) == 1 + 0 + 2 + 3
    last = format_report(report).splitlines()[-1]
    assert last.startswith("Aims: 6 of 12 reached; missed: ")
    for missed in ("predict 1 row: <=10 us (got 12.0 us)",
                   "busy wide: default / one thread <=1.25 (got 1.60)",
                   "busy wide: lead over sklearn kept >=0.9 of idle (got 0.50)",
                   "sparse float64: fit >=5x sklearn (got 4.00x)",
                   "sparse float64: predict extra memory <=64 MiB (got 100.0 MiB)"):
        assert missed in last, missed
    assert "digits-b200" not in last and "float32" not in last


def test_every_aim_reached_says_so():
    assert format_aims([("a", "1x", True), ("b", "2x", True)]) == "Aims: 2 of 2 reached."


# -- --quick: fewer fits and repeats, the aims still marked -------------------------
def test_quick_runs_fewer_fits_and_ends_with_the_aims(monkeypatch, capsys):
    from fastbp._bench import _main

    seen = {}
    monkeypatch.setattr(_main, "sgemm_gflops", lambda threads, **kw: 100.0)

    def run_case(name, X, y, *, repeats, quick, **kw):
        seen["case"] = (name, repeats, quick, X.shape[0])
        return {"case": name, "rows": X.shape[0], "sizes": [64, 100, 10], "batch": 200,
                "gflop_per_epoch": 0.1, "peers": {"products": {"median": 10.0},
                          "isolated": {"median": 0.5}},
                "libs": {"fastbp": {"ms_per_epoch": 1.0, "gflops": 100.0},
                         "sklearn": {"ms_per_epoch": 9.0, "gflops": 11.0,
                                     "fastbp_speedup": 9.0}}}

    def run_sparse(*, threads, quick, log, repeats):
        seen["sparse"] = (quick, repeats)
        return _sparse_result()

    monkeypatch.setattr(_main, "run_case", run_case)
    monkeypatch.setattr("fastbp._bench._sparse.run_sparse", run_sparse)
    assert _main.main(["--quick", "--cases", "digits-b200,sparse", "--libs",
                       "fastbp,sklearn"]) == 0
    assert seen["case"] == ("digits-b200", 5, True, 1797)
    assert seen["sparse"] == (True, 2)
    out = capsys.readouterr().out
    last = out.rstrip().splitlines()[-1]
    # digits-b200 aims at 5x sklearn (9x: reached); float32 sparse reached,
    # float64 missed on all three
    assert last.startswith("Aims: 4 of 7 reached; missed: sparse float64: fit")


def test_quick_help_says_what_it_is_for(capsys):
    from fastbp._bench import _main

    with pytest.raises(SystemExit):
        _main.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a minute or so on an idle machine" in text
    assert "every aim is still marked reached or missed" in text
