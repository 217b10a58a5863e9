"""The benchmark's own arithmetic and report (fastbp/_bench.py): the figures
it prints are the ones it measured. (Its timings are not tested here: this
machine is shared and noisy; see benchmarks/.)"""
import math

from fastbp import _bench


def _big_case(gflops_fastbp, step_gflops):
    sizes = [784, 1024, 1024, 10]
    return {"case": "784-1024-1024-b256", "rows": 6000, "sizes": sizes,
            "batch": 256, "gflop_per_epoch": 57.0,
            "step_gemm_gflops": step_gflops,
            "step_gemm_ms_per_epoch": 1e3 * 57.0 / step_gflops,
            "libs": {"fastbp": {"ms_per_epoch": 600.0, "gflops": gflops_fastbp}}}


def test_step_gemm_gflops_counts_the_flops_the_libraries_are_given():
    sizes = [32, 48, 16, 10]
    g = _bench.step_gemm_gflops(sizes, 64, threads=1, repeats=2)
    assert math.isfinite(g) and g > 0
    # forward and weight gradient of every layer, input gradient of all but
    # the first: the count the libraries' GFLOP/s use
    per_sample = sum(2 * k * n * (3 if l else 2)
                     for l, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])))
    assert _bench.train_flops_per_sample(sizes) == per_sample


def test_the_sgemm_share_and_its_ceiling_are_reported():
    res = _big_case(gflops_fastbp=50.0, step_gflops=60.0)
    checks = _bench.check_targets(res, sgemm=100.0)
    assert checks["of_sgemm"] == (0.5, 0.8, False)
    assert res["step_gemm_sgemm_fraction"] == 0.6
    report = {"meta": {"threads": 2, "cpu": "test CPU", "quick": True,
                       "loadavg_start": [0, 0, 0], "loadavg_end": [0, 0, 0]},
              "cases": [res]}
    text = _bench.format_report(report)
    assert "fastbp = 50% of numpy sgemm (100 GFLOP/s" in text
    assert "the matrix products alone reach 60 GFLOP/s = 60% of sgemm" in text
    # 57 GFLOP at 60 GFLOP/s: 950 ms; fastbp's 600 ms is 0.63x that
    assert "Ceiling: the ms per epoch of the step's matrix products alone" in text
    assert "784-1024-1024-10, batch 256: 950; fastbp takes 0.63x that" in text
