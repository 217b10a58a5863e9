"""The report of a ``fastbp bench`` run, as text or markdown tables: the
run's header here, each part's tables beside the part that measures it."""
from fastbp._bench._busy import format_busy
from fastbp._bench._common import table
from fastbp._bench._dtype import format_dtype
from fastbp._bench._memory import format_memory
from fastbp._bench._predict import format_predict
from fastbp._bench._sparse import format_sparse
from fastbp._bench._train import format_training


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
    return "\n".join(out)
