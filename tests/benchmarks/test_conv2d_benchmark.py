"""benchmarks/conv2d.py's shapes and its report table (its dry run is in test_scripts.py)."""

import json

import pytest

from benchmarks import conv2d, report


def test_the_benchmarked_rows_of_the_shape_table_mean_the_same_windows_as_keras_padding():
    problems = {name: (x, w, strides, padding) for name, x, w, strides, padding in conv2d.problems()}
    assert set(problems) == set(conv2d.SHAPES)
    assert problems["seed_conv1_b32"] == ((32, 28, 28, 1), (3, 3, 1, 32), (1, 1), "valid")
    assert problems["cifar_conv2"] == ((128, 32, 32, 64), (3, 3, 64, 64), (1, 1), "same")


def test_a_row_whose_padding_is_neither_valid_nor_same_is_refused():
    with pytest.raises(ValueError, match="cifar_down.*neither"):
        conv2d.problems(["cifar_down"])  # stride 2 with padding 1: TensorFlow's 'same' pads (0, 1)


def test_the_convolution_table_compares_our_fastest_correct_kernel_with_cudnn(tmp_path):
    def result(kernel, step, ms, passed=True, vs=None):
        r = {"name": f"{kernel}_{step}", "params": {"pass": step, "shape": "seed_conv1"}, "median_ms": ms,
             "check": {"rel_error": 1e-7, "tolerance": 1e-5, "passed": passed}}
        return {**r, "vs_cudnn": vs} if vs is not None else r
    results = [result("cudnn", "forward", 0.010), result("direct", "forward", 0.040, vs=0.25),
               result("implicit_gemm", "forward", 0.005, passed=False, vs=2.0),
               result("cudnn_tf32", "forward", 0.004), result("implicit_gemm_tf32_pipelined", "forward", 0.008, vs=0.5),
               result("cudnn", "backward_filter", 0.020), result("direct", "backward_filter", 0.400, vs=0.05),
               result("implicit_gemm", "backward_filter", 0.016, vs=1.25)]
    (tmp_path / "conv2d.json").write_text(json.dumps({"results": results}))
    lines = report.convolution(report.load([tmp_path / "conv2d.json"])).splitlines()
    assert lines[0] == ("| shape | pass | cudnn us | direct us | implicit_gemm us | cudnn_tf32 us | "
                        "implicit_gemm_tf32_pipelined us | best vs cuDNN (FP32) | TF32 vs cuDNN TF32 |")
    # A wrong kernel's speed is no result: the forward's best is the direct kernel. The plain TF32
    # rung is compared only with cuDNN in TF32, in a column of its own.
    assert lines[2] == "| seed_conv1 | forward | 10.0 | 40.0 | 5.0 WRONG | 4.0 | 8.0 | 0.25 (direct) | " \
                       "0.50 (implicit_gemm_tf32_pipelined) |"
    assert lines[3] == "| seed_conv1 | backward_filter | 20.0 | 400.0 | 16.0 |  |  | 1.25 (implicit_gemm) |  |"


def test_the_rungs_whose_gpu_tests_failed_are_not_timed(tmp_path, monkeypatch):
    # gpu_check.sh lists them, GEMM's and convolution's, in $CNN_GPU_AUTOTUNE_EXCLUDE (benchmarks/unproven.py).
    monkeypatch.setenv("CNN_GPU_AUTOTUNE_EXCLUDE", "implicit_gemm_tf32_wgmma,gemm_tf32_wgmma")
    assert conv2d.main(["--dry-run", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "conv2d.json").read_text())
    assert document["notes"] == ["not timed, their GPU tests having failed: implicit_gemm_tf32_wgmma"]
    names = {r["name"] for r in document["results"]}
    assert "implicit_gemm_3xtf32_wgmma_forward" in names
    assert not any(name.startswith("implicit_gemm_tf32_wgmma") for name in names)
