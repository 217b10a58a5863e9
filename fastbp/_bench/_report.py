"""The report of a ``fastbp bench`` run, as text or markdown tables: the
run's header here, each part's tables beside the part that measures it."""
from fastbp._bench._busy import busy_checks, format_busy
from fastbp._bench._common import table
from fastbp._bench._dtype import format_dtype
from fastbp._bench._memory import format_memory
from fastbp._bench._predict import format_predict
from fastbp._bench._sparse import format_sparse, sparse_checks
from fastbp._bench._train import aim_label, format_training


def format_report(report, markdown=False):
    """The whole report (the dict ``fastbp bench --json`` writes) as text."""
    out = []
    meta = report["meta"]
    out.append(
        f"fastbp bench: {meta['threads']} thread(s), float32, Adam, "
        f"{meta['cpu']}; {'quick' if meta['quick'] else 'full'} run, "
        f"load average {meta['loadavg_start']} -> {meta['loadavg_end']}")
    if meta.get("started_utc"):
        out.append(f"started {meta['started_utc']}, fastbp commit "
                   f"{meta.get('commit') or 'unknown (not a git checkout)'}")
    out.append("ms per epoch = median over timed fits of fit(max_iter=k) time / k "
               "(fresh model each fit, warmed up, libraries interleaved); "
               "ratios = other / fastbp.")
    if report.get("sgemm_gflops"):
        s = report["sgemm_gflops"]
        out.append(f"sgemm 2048^3 float32, {meta['threads']} thread(s): numpy "
                   f"{s['numpy']:.0f} GFLOP/s, scipy's BLAS {s['scipy']:.0f} GFLOP/s")
    tab = lambda h, r: table(h, r, markdown)  # noqa: E731
    if report["cases"]:
        out += format_training(report["cases"], tab)
    if report.get("predict"):
        out += ["", format_predict(report["predict"], tab)]
    mem = report.get("memory")
    if mem and mem["libs"]:
        out += ["", format_memory(mem, tab)]
    if report.get("busy"):
        out += ["", format_busy(report["busy"], tab)]
    if report.get("sparse"):
        out += ["", format_sparse(report["sparse"], tab)]
    if report.get("dtype"):
        out += ["", format_dtype(report["dtype"], tab)]
    aims = aim_results(report)
    if aims:
        out += ["", format_aims(aims)]
    return "\n".join(out)


def _x(v):
    return f"{v:.2f}x"


def aim_results(report):
    """Every aim the run measured: [(what, value, reached)], in the order of
    the report's tables."""
    out = []
    for res in report.get("cases", []):
        for what, (v, t, ok) in res.get("checks", {}).items():
            out.append((f"{res['case']}: {aim_label(what, t)}",
                        f"{v:.2f}" if what == "spread" else _x(v), ok))
    checks = (report.get("predict") or {}).get("checks", {})
    if "one_row_us" in checks:
        v, t, ok = checks["one_row_us"]
        out.append((f"predict 1 row: <={t:g} us", f"{v:.1f} us", ok))
    if "all_rows_xsklearn" in checks:
        v, t, ok = checks["all_rows_xsklearn"]
        out.append((f"predict all rows: >={t:g}x sklearn", _x(v), ok))
    checks = (report.get("memory") or {}).get("checks", {})
    if "no_x_copy" in checks:
        v, t, ok = checks["no_x_copy"]
        out.append(("memory: no float64 copy of X", f"{v:.2f} X", ok))
    if "excess_workspaces" in checks:
        v, t, ok = checks["excess_workspaces"]
        out.append((f"memory: at most {t:g} batch workspaces beyond the model",
                    f"{v:.1f}", ok))
    for r in (report.get("busy") or {}).get("cases", []):
        c = r.get("checks") or busy_checks(r)
        v, t, ok = c["default_vs_one"]
        out.append((f"busy {r['case']}: default / one thread <={t:g}", f"{v:.2f}", ok))
        if "lead_kept" in c:
            v, t, ok = c["lead_kept"]
            out.append((f"busy {r['case']}: lead over sklearn kept >={t:g} of idle",
                        f"{v:.2f}", ok))
    for r in (report.get("sparse") or {}).get("cases", []):
        c = r.get("checks") or sparse_checks(r)
        v, t, ok = c["fit_xsklearn"]
        out.append((f"sparse {r['dtype']}: fit >={t:g}x sklearn", _x(v), ok))
        v, t, ok = c["predict_xsklearn"]
        out.append((f"sparse {r['dtype']}: predict_proba >={t:g}x sklearn", _x(v), ok))
        v, t, ok = c["predict_extra_mib"]
        out.append((f"sparse {r['dtype']}: predict extra memory <={t:g} MiB",
                    f"{v:.1f} MiB", ok))
    return out


def format_aims(aims):
    """One line per verdict: how many aims were reached, and each missed."""
    missed = [(what, v) for what, v, ok in aims if not ok]
    line = f"Aims: {len(aims) - len(missed)} of {len(aims)} reached"
    if not missed:
        return line + "."
    return line + "; missed: " + "; ".join(f"{what} (got {v})" for what, v in missed) + "."
