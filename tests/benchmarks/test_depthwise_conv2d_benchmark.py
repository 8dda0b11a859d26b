"""benchmarks/depthwise_conv2d.py's shapes, what its dry run leaves out and why, its report table, and
(where PyTorch is installed) its cuDNN baseline's layouts, run on the CPU. Its dry run's checks are in
test_scripts.py."""

import math
import types

import numpy as np
import pytest

from benchmarks import depthwise_conv2d as benchmark
from benchmarks import report
from cnn_gpu.ops import depthwise_conv2d as depthwise

H100_L2_BYTES = 50 * 2**20


@pytest.mark.parametrize("problem", benchmark.SHAPES, ids=lambda p: p[0])
def test_each_shape_pads_as_cudnn_does_and_its_input_set_exceeds_the_l2(problem):
    name, x_shape, w_shape, stride, padding = problem
    geometry = depthwise.depthwise_conv2d_geometry(x_shape, w_shape, stride, padding, 1)
    assert benchmark.symmetric_padding(name, geometry) == ((w_shape[0] - 1) // 2, (w_shape[1] - 1) // 2)
    y_shape = depthwise.depthwise_conv2d_output_shape(x_shape, w_shape, stride, padding, 1)
    assert 4 * (math.prod(x_shape) + math.prod(y_shape)) > H100_L2_BYTES
    for step in depthwise.PASSES:  # smem_tile's shared memory fits: both rungs run every pass
        assert depthwise.choose_variant(step, None, w_shape, geometry) == "smem_tile"


def test_same_padding_at_stride_2_on_an_even_size_is_refused():
    geometry = depthwise.depthwise_conv2d_geometry((64, 112, 112, 32), (3, 3, 32, 1), 2, "same", 1)
    with pytest.raises(ValueError, match=r"mobilenet_112: padding \(\(0, 1\), \(0, 1\)\) is not symmetric"):
        benchmark.symmetric_padding("mobilenet_112", geometry)


def test_the_dry_run_notes_each_pass_whose_shared_memory_does_not_fit_and_the_report_tables_it(tmp_path):
    assert benchmark.main(["--dry-run", "--out", str(tmp_path)]) == 0
    documents = report.load([tmp_path / "depthwise_conv2d.json"])
    results = documents[0]["results"]
    left_out = ["smem_tile_backward_data", "smem_tile_backward_filter"]  # in the order they are met
    notes = [note.split(" left out: ")[0] for note in documents[0]["notes"]]
    assert notes == [f"{name} at dry_5x7x3_m8" for name in left_out]
    expected = {f"{variant}_{step}" for variant in depthwise.VARIANTS for step in depthwise.PASSES}
    assert {r["name"] for r in results if r["params"]["shape"] == "dry_5x7x3_m8"} == expected - set(left_out)
    for r in results:  # every pass moves x, w and y (or dy) once
        p = r["params"]
        y_shape = depthwise.depthwise_conv2d_output_shape(p["x"], p["w"], p["strides"], p["padding"], 1)
        assert r["bytes"] == 4 * (math.prod(p["x"]) + math.prod(p["w"]) + math.prod(y_shape))
    lines = report.convolution(documents).splitlines()
    assert lines[0] == "| shape | pass | direct us | smem_tile us | best vs cuDNN (FP32) | TF32 vs cuDNN TF32 |"
    assert len(lines) == 2 + len(benchmark.DRY_SHAPES) * len(depthwise.PASSES)


@pytest.mark.parametrize("problem", benchmark.DRY_SHAPES, ids=lambda p: p[0])
def test_the_cudnn_baseline_computes_the_reference_convolution_in_our_layout(rng, problem):
    """PyTorch on the CPU (its backend is not cuDNN there, and a note says so), on NumPy arrays as the
    GPU run passes CuPy's: the filter's reordering, groups=C and each pass's output read back as
    the benchmark's checks read them (conv2d.in_our_layout, which needs CuPy, done here with NumPy)."""
    torch = pytest.importorskip("torch")
    name, x_shape, w_shape, stride, padding = problem
    options = (stride, padding, 1)
    geometry = depthwise.depthwise_conv2d_geometry(x_shape, w_shape, *options)
    y_shape = depthwise.depthwise_conv2d_output_shape(x_shape, w_shape, *options)
    x, dy, w = (rng.uniform(-1, 1, shape).astype(np.float32) for shape in (x_shape, y_shape, w_shape))
    session = types.SimpleNamespace(benchmark="depthwise_conv2d", notes=[], xp=np)
    passes, backend = benchmark.cudnn_passes(session, torch, w, stride, benchmark.symmetric_padding(name, geometry), x)
    assert session.notes == ([] if backend == "Cudnn" else [f"PyTorch runs this depthwise convolution on its "
                                                           f"{backend} backend, not cuDNN"])
    for step, reference in benchmark.references(w, options).items():
        result = passes[step](x, dy)
        ours = result.permute(2, 3, 1, 0) if step == "backward_filter" else result.permute(0, 2, 3, 1)
        expected = reference(x, dy)
        if step == "backward_filter":
            expected = expected.reshape(*w_shape[:2], 1, -1)
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
