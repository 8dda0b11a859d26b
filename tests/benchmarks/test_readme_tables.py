"""The README's GEMM and training figures are what the committed results give now: the tables and
counts benchmarks/report.py makes of them, the headline rows' rates. A result file committed without
the README made again from it fails here, and says which command makes the table."""

import json
import re

import pytest

from benchmarks import report
from benchmarks.run_info import RESULTS

README = (RESULTS.parent.parent / "README.md").read_text()


@pytest.mark.parametrize("file", ["gemm.json", "gemm_sweep.json"])
def test_the_ladder_tables_are_the_reports_of_the_committed_results(file):
    table = report.ladder(report.load([RESULTS / file]), "square4096")
    assert table in README, f"make it again: python -m benchmarks.report benchmarks/results/{file} --ladder square4096"


def test_the_dense_goals_count_is_the_reports_of_the_committed_results():
    goal = report.dense_goal(report.load([RESULTS / "gemm.json"]))
    met, total = map(int, re.search(r"^graph: no slower in (\d+) of (\d+)$", goal, re.MULTILINE).groups())
    source = "python -m benchmarks.report benchmarks/results/gemm.json --dense-goal"
    assert f"the seed model's {total} Dense products, autotuned | kernel time no slower in {met} |" in README, source
    assert f"no slower in {met} of the seed model's {total} Dense products" in README, source


def square4096_tflops(name):
    """TFLOP/s of ``name`` on the 4096^3 A.B product in the committed gemm.json."""
    document = json.loads((RESULTS / "gemm.json").read_text())
    (result,) = [r for r in document["results"] if r["params"].get("case") == "square4096" and r["name"] == name]
    return result["tflops"]


def test_the_headline_rows_are_the_committed_results():
    ours = {name: square4096_tflops(name) for name in
            ("gemm_3xtf32_wgmma", "gemm_warptiled_double_buffered", "gemm_tf32_wgmma_b_in_registers")}
    fp32, tf32 = square4096_tflops("cublas_fp32"), square4096_tflops("cublas_tf32")
    rows = [("GEMM 4096³, FP32-accurate (3xTF32 on `wgmma`)", ours["gemm_3xtf32_wgmma"], "cuBLAS FP32", fp32),
            ("GEMM 4096³ on the FP32 cores (rung 7)", ours["gemm_warptiled_double_buffered"], "cuBLAS FP32", fp32),
            ("GEMM 4096³ in TF32 (rung 9e)", ours["gemm_tf32_wgmma_b_in_registers"], "cuBLAS TF32", tf32)]
    for what, rate, reference, theirs in rows:
        row = f"| {what} | {rate:.1f} TFLOP/s | {reference} {theirs:.1f} | {rate / theirs:.2f} |"
        assert row in README, f"the README's headline row should begin: {row}"
    for what, file in (("a training step of the seed model, batch 32", "gpu_train.json"),
                       ("the same with BatchNormalization", "gpu_train_batchnorm.json")):
        measured = json.loads((RESULTS / file).read_text())["measured"]
        step, torch_step = measured["cnn_gpu_cuda"]["ms_per_step"], measured["pytorch_cuda"]["ms_per_step"]
        row = f"| {what} | {step:.2f} ms | PyTorch {torch_step:.2f} ms | {torch_step / step:.2f} |"
        assert row in README, f"the README's headline row should begin: {row}"
