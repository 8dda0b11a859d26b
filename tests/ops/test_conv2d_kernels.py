"""The convolution kernels of kernels/conv2d.cu against the float64 reference of cnn_gpu.ops.conv2d.

Separate from test_conv2d.py (the reference's own tests and gradient checks), whose configurations
these share: every variant, every pass, each output poisoned before the launch.
"""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.cuda.emulate import EmulationError
from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.cuda import kernel as kernel_module
from cnn_gpu.cuda.kernel import backend_xp, current_device, runs_here
from cnn_gpu.ops import conv2d, gemm_plans
from cnn_gpu.ops.common import quads_fit
from cnn_gpu.ops.conv2d import (VARIANTS, conv2d_backward_data_kernel, conv2d_backward_filter_kernel,
                                conv2d_forward_kernel)
from helpers import TOLERANCE, assert_close, on_backend, poisoned, random_array, to_host
from test_conv2d import SMALL, config_id, random_problem

# The reference's small configurations, and what tiles the implicit GEMM in more ways: more filters
# than the narrow tile's 32 (the square tile, its last column tile partial), several row tiles, and
# a filter gradient long enough to split (SPLITS_CONFIG); a 1 x 1 x 1 problem.
CONFIGS = SMALL + [
    ((2, 8, 7, 4), (3, 2, 4, 33), (2, 2), "same", (1, 1)),
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), "valid", (1, 1)),
    # Real rows and columns in several warps and K-tiles: the narrow tile's forward over 23 K-tiles
    # with four warps of real rows; the data gradient on the square tile (C = 40 and 36, past the
    # narrow tile's 32); a stride and a dilation on the narrow tile.
    ((2, 9, 7, 40), (3, 3, 40, 20), (1, 1), "same", (1, 1)),
    ((2, 12, 11, 36), (2, 2, 36, 66), (2, 2), "valid", (1, 1)),
    ((3, 10, 9, 6), (3, 2, 6, 30), (2, 1), "same", (2, 1)),
    # Channel and filter counts in quads (rung 6's 16-byte copies, every pass), with a stride, padding
    # and a dilation; and K = 36, whose last quad of filters is past the square tile's 32-column edge.
    ((2, 9, 8, 8), (3, 3, 8, 12), (2, 2), "same", (1, 1)),
    ((3, 10, 9, 12), (3, 2, 12, 36), (1, 2), "same", (2, 1)),
    # Channels and filters past 64 (rung 7's 128 x 128 tile, not its 128 x 64 one, in every pass) and
    # past 128 rows of the filter gradient's GEMM (R * S * C = 272: three row tiles, the last partial).
    ((1, 5, 4, 68), (2, 2, 68, 72), (1, 1), "same", (1, 1)),
]
# The configurations above whose channels (x's C, the filters' K) rung 6 copies four at a time.
QUAD_CONFIGS = [config for config in CONFIGS if config[1][2] % 4 == 0 and config[1][3] % 4 == 0]
SPLITS_CONFIG = ((4, 17, 19, 8), (5, 3, 8, 70), (1, 2), "same", (1, 1))


def as64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def tolerance(variant):
    """A variant's error bound: float32's, or TF32's for the plain TF32 rung."""
    return TOLERANCE["tf32"] if variant in conv2d.TF32_VARIANTS else None


def skip_unless_it_runs_here(variant, kernel_backend):
    """Rung 8's kernels are Hopper's (conv2d_wgmma.cu, built for sm_90a): another GPU skips them."""
    file = conv2d.KERNEL_FILE.get(variant, "conv2d.cu")
    if not runs_here(file, kernel_backend):
        pytest.skip(f"{file} needs another GPU architecture (sources.ARCH_SPECIFIC)")


def run_and_check(kernel_backend, config, variant, rng, relu=False):
    """Each pass of ``variant`` against the float64 reference, its error judged against the same pass
    on the operands' magnitudes: a sum of terms that may cancel (the 1 x 1 x 1 problem's x w + b) is
    rounded relative to its terms, not to what is left of them."""
    skip_unless_it_runs_here(variant, kernel_backend)
    x, w, b, dy, options = random_problem(rng, config, np.float32)
    x64, w64, b64, dy64 = as64(x, w, b, dy)
    ax, aw, ab, ady = (np.abs(a) for a in (x64, w64, b64, dy64))
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731

    y = on(poisoned(dy.shape))
    conv2d_forward_kernel(on(x), on(w), on(b), *options, relu=relu, variant=variant, y=y, backend=kernel_backend)
    expected = conv2d.conv2d_forward(x64, w64, b64, *options)
    assert_close(y, np.maximum(expected, 0) if relu else expected, tol=tolerance(variant), what=f"{variant} forward",
                 scale=conv2d.conv2d_forward(ax, aw, ab, *options))

    dx = on(poisoned(x.shape))
    conv2d_backward_data_kernel(on(dy), on(w), x.shape, *options, variant=variant, dx=dx, backend=kernel_backend)
    assert_close(dx, conv2d.conv2d_backward_data(dy64, w64, x.shape, *options), tol=tolerance(variant),
                 what=f"{variant} backward data",
                 scale=conv2d.conv2d_backward_data(ady, aw, x.shape, *options))

    dw = on(poisoned(w.shape))
    conv2d_backward_filter_kernel(on(x), on(dy), w.shape, *options, variant=variant, dw=dw, backend=kernel_backend)
    assert_close(dw, conv2d.conv2d_backward_filter(x64, dy64, w.shape, *options)[0], tol=tolerance(variant),
                 what=f"{variant} backward filter",
                 scale=conv2d.conv2d_backward_filter(ax, ady, w.shape, *options)[0])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_every_pass_matches_the_reference(rng, kernel_backend, config, variant):
    run_and_check(kernel_backend, config, variant, rng)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_fused_relu(rng, kernel_backend, variant):
    run_and_check(kernel_backend, CONFIGS[1], variant, rng, relu=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_fused_relu_keeps_a_nan(kernel_backend, variant):
    """Outputs whose window holds a NaN stay NaN through the ReLU; the others, all negative, become 0."""
    skip_unless_it_runs_here(variant, kernel_backend)
    x, w = np.ones((1, 5, 5, 2), np.float32), -np.ones((3, 3, 2, 3), np.float32)
    x[0, 0, 0, 1] = np.nan  # read by output (0, 0) only, at valid padding
    y = to_host(conv2d_forward_kernel(on_backend(x, kernel_backend), on_backend(w, kernel_backend), None, 1,
                                      "valid", 1, relu=True, variant=variant, backend=kernel_backend))
    touched = np.zeros(y.shape, bool)
    touched[0, 0, 0, :] = True
    assert np.isnan(y[touched]).all() and np.array_equal(y[~touched], np.zeros((~touched).sum(), np.float32))


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_bias_and_an_empty_batch(rng, kernel_backend, variant):
    skip_unless_it_runs_here(variant, kernel_backend)
    x, w, _, dy, options = random_problem(rng, CONFIGS[1], np.float32)
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731
    y = conv2d_forward_kernel(on(x), on(w), None, *options, variant=variant, backend=kernel_backend)
    assert_close(y, conv2d.conv2d_forward(*as64(x, w), None, *options), tol=tolerance(variant))
    empty_x, empty_dy = x[:0], dy[:0]
    assert conv2d_forward_kernel(on(empty_x), on(w), None, *options, variant=variant,
                                 backend=kernel_backend).shape == empty_dy.shape
    assert conv2d_backward_data_kernel(on(empty_dy), on(w), empty_x.shape, *options, variant=variant,
                                       backend=kernel_backend).shape == empty_x.shape
    dw = on(poisoned(w.shape))
    conv2d_backward_filter_kernel(on(empty_x), on(empty_dy), w.shape, *options, variant=variant, dw=dw,
                                  backend=kernel_backend)
    assert not np.any(to_host(dw)), "a gradient summed over no outputs is zero"


@pytest.mark.parametrize("variant", conv2d.TILED_VARIANTS)
def test_a_long_filter_gradient_is_split_and_summed(rng, kernel_backend, variant):
    x_shape, w_shape, strides, padding, dilation = SPLITS_CONFIG
    g = conv2d.conv2d_geometry(x_shape, w_shape, strides, padding, dilation)
    rows, k, depth = conv2d.conv2d_gemm_shape("backward_filter", x_shape, w_shape, g)
    tile = conv2d.TILES[conv2d._running_variant("backward_filter", variant, channel_quads=True)][0]
    splits, _ = gemm_plans.split_k_slices(
        rows, k, depth, gemm_plans.device_sm_count(kernel_backend, current_device(kernel_backend)),
        conv2d.FILTER_SPLIT_POLICY, (tile.bm, tile.bn, tile.bk))
    assert splits > 1, "the configuration must exercise the slices and their reduce"
    run_and_check(kernel_backend, SPLITS_CONFIG, variant, rng)


def test_the_backend_runs_the_kernels_and_keeps_float64_on_the_reference(rng, kernel_backend):
    backend = KernelBackend(backend_xp(kernel_backend))
    config = CONFIGS[1]
    for dtype in (np.float32, np.float64):
        x, w, b, dy, options = random_problem(rng, config, dtype)
        xs = backend.asarray(random_array(rng, (*x.shape[:3], x.shape[3] + 2), dtype))[..., 1:-1]  # a strided view
        xs[...] = backend.asarray(x)
        y = backend.conv2d_forward(xs, backend.asarray(w), backend.asarray(b), *options)
        dx, dw, db = backend.conv2d_backward(xs, backend.asarray(w), backend.asarray(dy), *options)
        assert y.dtype == dtype and dx.dtype == dtype and dw.dtype == dtype
        x64, w64, b64, dy64 = as64(x, w, b, dy)
        assert_close(y, conv2d.conv2d_forward(x64, w64, b64, *options))
        assert_close(dx, conv2d.conv2d_backward_data(dy64, w64, x.shape, *options))
        for out, expected in zip((dw, db), conv2d.conv2d_backward_filter(x64, dy64, w.shape, *options)):
            assert_close(out, expected)
        assert backend.conv2d_backward(xs, backend.asarray(w), backend.asarray(dy), *options, need_dx=False)[0] is None
        assert backend.conv2d_backward(xs, backend.asarray(w), backend.asarray(dy), *options, need_db=False)[2] is None


def test_bad_arguments_are_refused_with_their_names(rng, kernel_backend):
    x, w, b, dy, options = random_problem(rng, CONFIGS[1], np.float32)
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731
    with pytest.raises(ValueError, match="float32.*x of dtype float64"):
        conv2d_forward_kernel(on(x.astype(np.float64)), on(w.astype(np.float64)), None, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="variant"):
        conv2d_forward_kernel(on(x), on(w), on(b), *options, variant="winograd", backend=kernel_backend)
    with pytest.raises(ValueError, match="channels"):
        conv2d_forward_kernel(on(x), on(w[:, :, :1]), None, *options, backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="contiguous"):
        conv2d_forward_kernel(on(x)[:, :, ::-1], on(w), None, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="dy"):
        conv2d_backward_data_kernel(on(dy[:, :-1]), on(w), x.shape, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="dy"):
        conv2d_backward_filter_kernel(on(x), on(dy[..., :-1]), w.shape, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="y"):
        conv2d_forward_kernel(on(x), on(w), None, *options, y=on(np.empty((1, 1, 1, 1), np.float32)),
                              backend=kernel_backend)


def test_a_problem_too_large_for_32_bit_indices_is_refused():
    g = conv2d.conv2d_geometry((1 << 16, 200, 200, 3), (3, 3, 3, 8))
    with pytest.raises(ValueError, match="32-bit"):
        conv2d._check_kernel_arguments("forward", "direct", (1 << 16, 200, 200, 3), (3, 3, 3, 8), g)
    g = conv2d.conv2d_geometry((1, 50000, 50000, 1), (1, 1, 1, 1), 1000)  # few outputs, an image of 2.5e9
    with pytest.raises(ValueError, match="32-bit"):
        conv2d._check_kernel_arguments("backward_filter", "direct", (1, 50000, 50000, 1), (1, 1, 1, 1), g)
    g = conv2d.conv2d_geometry((1, 2**31 - 200, 1, 1), (1, 1, 1, 1))  # M within a tile of 2^31
    with pytest.raises(ValueError, match="32-bit"):
        conv2d._check_kernel_arguments("forward", "implicit_gemm", (1, 2**31 - 200, 1, 1), (1, 1, 1, 1), g)


def test_the_variant_is_forced_by_the_environment_or_chosen(rng, kernel_backend, monkeypatch):
    x, w, b, dy, options = random_problem(rng, CONFIGS[1], np.float32)
    g = conv2d.conv2d_geometry(x.shape, w.shape, *options)
    never = lambda *args: pytest.fail("nothing is timed when the variant is given or forced")  # noqa: E731
    assert conv2d.choose_variant("forward", "direct", x.shape, w.shape, g, kernel_backend, never, None, None) == "direct"
    monkeypatch.setenv(conv2d.VARIANT_ENV, "direct")
    assert conv2d.choose_variant("forward", None, x.shape, w.shape, g, kernel_backend, never, None, None) == "direct"
    monkeypatch.setenv(conv2d.VARIANT_ENV, "winograd")
    with pytest.raises(ValueError, match="CNN_GPU_CONV2D_VARIANT must name a conv2d variant"):
        conv2d.choose_variant("forward", None, x.shape, w.shape, g, kernel_backend, never, None, None)
    monkeypatch.delenv(conv2d.VARIANT_ENV)
    # Unforced: the emulator's default, or on a GPU the autotuner's choice; the result is right either way.
    y = conv2d_forward_kernel(on_backend(x, kernel_backend), on_backend(w, kernel_backend), on_backend(b, kernel_backend),
                              *options, backend=kernel_backend)
    assert_close(y, conv2d.conv2d_forward(*as64(x, w, b), *options))
    if kernel_backend == "emulate":
        assert conv2d.choose_variant("backward_filter", None, x.shape, w.shape, g, kernel_backend, never, None,
                                     None) == conv2d.EMULATE_DEFAULT


def test_the_plain_tf32_rung_is_tf32_and_its_3xtf32_twin_is_not(rng, kernel_backend):
    """The two precisions of rung 5's kernel apart: TF32's 10-bit mantissas leave an error near 1e-4 on
    a 576-term sum, far above float32's; 3xTF32 restores float32's (a SPLIT swapped fails here)."""
    x, w = random_array(rng, (2, 9, 9, 64), np.float32), random_array(rng, (3, 3, 64, 24), np.float32)
    expected = conv2d.conv2d_forward(*as64(x, w), None, 1, "valid", 1)
    errors = {}
    for variant in ("implicit_gemm_3xtf32_pipelined", "implicit_gemm_tf32_pipelined"):
        y = conv2d_forward_kernel(on_backend(x, kernel_backend), on_backend(w, kernel_backend), None, 1, "valid", 1,
                                  variant=variant, backend=kernel_backend)
        errors[variant] = np.linalg.norm(to_host(y) - expected) / np.linalg.norm(expected)
    assert errors["implicit_gemm_3xtf32_pipelined"] < 1e-6 < 1e-5 < errors["implicit_gemm_tf32_pipelined"] < 2e-3


@pytest.mark.parametrize("precision", ["3xtf32", "tf32"])
@pytest.mark.parametrize("config", QUAD_CONFIGS + [SPLITS_CONFIG], ids=config_id)
def test_rungs_6_and_7_give_rung_5s_bits(rng, kernel_backend, config, precision):
    """Rung 6 moves the same elements into its tiles as rung 5, four at a time, in other layouts, and
    sums them in the same order, as rung 7 does on larger tiles: every pass's output is rung 5's, bit
    for bit (the split filter gradient's too)."""
    x, w, b, dy, options = random_problem(rng, config, np.float32)
    x, w, b, dy = (on_backend(a, kernel_backend) for a in (x, w, b, dy))
    passes = {"forward": lambda v: conv2d_forward_kernel(x, w, b, *options, variant=v, backend=kernel_backend),
              "data": lambda v: conv2d_backward_data_kernel(dy, w, x.shape, *options, variant=v,
                                                            backend=kernel_backend),
              "filter": lambda v: conv2d_backward_filter_kernel(x, dy, w.shape, *options, variant=v,
                                                                backend=kernel_backend)}
    for name, run in passes.items():
        rung_5, rung_6, rung_7 = (to_host(run(f"implicit_gemm_{precision}_{rung}"))
                                  for rung in ("pipelined", "quads", "large"))
        assert np.isfinite(rung_6).all() and np.array_equal(rung_6, rung_5), name
        if name == "filter" and config == SPLITS_CONFIG:
            # Split-K cuts the sum where the tile count says (gemm_plans.split_k_slices): rung 7's
            # larger tiles are fewer, so its slices end elsewhere and its sums group otherwise.
            assert_close(rung_7, rung_5, what=name)
        else:
            assert np.array_equal(rung_7, rung_5), name


def test_rung_6_copies_16_bytes_and_falls_back_to_rung_5_where_they_are_misaligned(rng, monkeypatch):
    """x 4 bytes past a 16-byte boundary (a contiguous array, C a multiple of 4): rung 6's 16-byte copies
    from it would fault on a GPU, as they fail in the emulator (its cp.async twin checks alignment), so
    the forward runs rung 5. With that fallback taken away, the launch fails: the quads were copied."""
    config = QUAD_CONFIGS[0]
    x, w, b, _, options = random_problem(rng, config, np.float32)
    shifted = np.empty(x.size + 1, np.float32)[1:].reshape(x.shape)
    shifted[...] = x
    assert quads_fit(x.shape[3], x) and not quads_fit(x.shape[3], shifted)
    y = conv2d_forward_kernel(shifted, w, b, *options, variant="implicit_gemm_3xtf32_quads", backend="emulate")
    assert_close(y, conv2d.conv2d_forward(*as64(x, w, b), *options))
    monkeypatch.setattr(conv2d, "QUADS_FALLBACK", {})
    with pytest.raises(EmulationError, match="16-byte aligned"):
        conv2d_forward_kernel(shifted, w, b, *options, variant="implicit_gemm_3xtf32_quads", backend="emulate")


def test_the_autotuner_judges_a_fused_relus_candidates_without_the_relu(rng, monkeypatch):
    """Through a ReLU a candidate's errors on negative outputs would vanish, and its choice is kept for
    the problem with or without one: what choose_variant gets runs and checks the plain convolution."""
    seen = {}

    def choose(step, variant, x_shape, w_shape, g, backend, run, out, reference):
        seen.update(run=run, reference=reference)
        return "implicit_gemm"

    monkeypatch.setattr(conv2d, "choose_variant", choose)
    x, w, b, _, options = random_problem(rng, CONFIGS[1], np.float32)
    y = conv2d_forward_kernel(x, w, b, *options, relu=True, backend="emulate")
    assert (y >= 0).all()
    trial = np.full_like(y, np.nan)
    seen["run"]("implicit_gemm", trial)
    expected = seen["reference"]()
    assert (expected < 0).any(), "the problem must have negative outputs for the ReLU to hide"
    assert_close(trial, expected)
    assert_close(y, np.maximum(expected, 0))


def test_the_autotuner_leaves_out_a_wrong_candidate_and_times_nothing_without_a_reference(monkeypatch):
    # The GPU path of choose_variant on NumPy, the timing replaced: what reaches autotune.choose.
    monkeypatch.setattr(conv2d, "backend_xp", lambda backend: np)
    monkeypatch.setattr(conv2d, "current_device", lambda backend: 0)
    monkeypatch.setattr(conv2d, "runs_here", lambda file, backend: True)  # a Hopper GPU: rung 8 runs
    monkeypatch.setattr(conv2d, "_TUNED", {})
    verdicts = {}

    def choose(op, key, candidates, check=None):
        verdicts.update({name: check(name) for name in candidates})
        return "implicit_gemm"

    monkeypatch.setattr(conv2d.autotune, "choose", choose)
    expected = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)

    def run(name, out):  # the direct kernel wrong in one element
        out[...] = expected
        if name == "direct":
            out[0, 0, 1, 2] += 1e-3

    g = conv2d.conv2d_geometry((1, 3, 4, 1), (2, 2, 1, 3))
    args = ("forward", None, (1, 3, 4, 1), (2, 2, 1, 3), g, "cuda", run, np.empty_like(expected))
    assert conv2d.choose_variant(*args, lambda: expected) == "implicit_gemm"
    assert verdicts["direct"].startswith("an element off by 1.7e-04")
    assert set(verdicts) == set(conv2d.FP32_VARIANTS), "plain TF32 is never a candidate"
    assert all(verdicts[name] is None for name in conv2d.FP32_VARIANTS[1:])
    assert list(conv2d._TUNED.values()) == ["implicit_gemm"]

    # NaN in the reference (operands holding NaN): nothing checked, timed or kept; the last rung runs.
    monkeypatch.setattr(conv2d, "_TUNED", {})
    verdicts.clear()
    assert conv2d.choose_variant(*args, lambda: expected * np.nan) == conv2d.NONFINITE_VARIANT
    assert not verdicts and not conv2d._TUNED


def test_the_autotuner_offers_rung_8_on_hopper_alone_and_not_for_the_filter_gradient(monkeypatch):
    monkeypatch.setattr(conv2d, "runs_here", lambda file, backend: True)
    assert conv2d.autotune_candidates("forward", "cuda") == list(conv2d.FP32_VARIANTS)
    assert "implicit_gemm_3xtf32_wgmma" not in conv2d.autotune_candidates("backward_filter", "cuda")
    monkeypatch.setattr(conv2d, "runs_here", lambda file, backend: file != "conv2d_wgmma.cu")
    assert conv2d.autotune_candidates("forward", "cuda") == [v for v in conv2d.FP32_VARIANTS if "wgmma" not in v]


def test_the_rungs_whose_gpu_tests_failed_are_kept_out_of_the_autotuner(monkeypatch):
    # gpu_check.sh names them in $CNN_GPU_AUTOTUNE_EXCLUDE (benchmarks/unproven.py), GEMM's among them.
    monkeypatch.setattr(conv2d, "runs_here", lambda file, backend: True)
    monkeypatch.setenv(conv2d.autotune.EXCLUDE_ENV, "implicit_gemm_3xtf32_large,gemm_tf32_wgmma")
    assert conv2d.autotune_candidates("forward", "cuda") == [v for v in conv2d.FP32_VARIANTS
                                                             if v != "implicit_gemm_3xtf32_large"]


# The variant in the test's id: gpu_check.sh selects an unproven rung's tests by it (benchmarks/unproven.py).
@pytest.mark.parametrize("variant", ["implicit_gemm_3xtf32_wgmma", "implicit_gemm_tf32_wgmma"])
def test_rung_8_runs_wgmma_and_rung_7s_filter_gradient(rng, kernel_backend, monkeypatch, variant):
    """Where the channels come in quads, rung 8's forward (after W's transpose) and data gradient launch
    its own kernels, and its filter gradient is rung 7's, bit for bit; every pass is checked against
    the reference above."""
    skip_unless_it_runs_here(variant, kernel_backend)
    launched = []
    launch = kernel_module.Kernel.launch_checked
    monkeypatch.setattr(kernel_module.Kernel, "launch_checked",
                        lambda self, *args: launched.append(self.name) or launch(self, *args))
    x, w, b, dy, options = random_problem(rng, QUAD_CONFIGS[-1], np.float32)
    x, w, b, dy = (on_backend(a, kernel_backend) for a in (x, w, b, dy))
    conv2d_forward_kernel(x, w, b, *options, variant=variant, backend=kernel_backend)
    conv2d_backward_data_kernel(dy, w, x.shape, *options, variant=variant, backend=kernel_backend)
    assert [name.split("<")[0] for name in launched] == ["transpose_smem_tiled", "conv2d_forward_implicit_gemm_wgmma",
                                                         "conv2d_backward_data_implicit_gemm_wgmma"]
    dw_8, dw_7 = (to_host(conv2d_backward_filter_kernel(x, dy, w.shape, *options, variant=v, backend=kernel_backend))
                  for v in (variant, variant.replace("wgmma", "large")))
    assert np.isfinite(dw_8).all() and np.array_equal(dw_8, dw_7)
