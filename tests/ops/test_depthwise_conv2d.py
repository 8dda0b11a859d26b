"""Depthwise convolution: the reference of cnn_gpu.ops.depthwise_conv2d against conv2d's (a depthwise
kernel is a conv2d kernel that is zero off each channel's own filters) and central differences, then
the kernels of kernels/depthwise_conv2d.cu against the float64 reference: every variant, every pass,
each output poisoned before the launch."""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops import conv2d
from cnn_gpu.ops import depthwise_conv2d as depthwise
from cnn_gpu.ops.depthwise_conv2d import (VARIANTS, depthwise_conv2d_backward_data,
                                          depthwise_conv2d_backward_data_kernel, depthwise_conv2d_backward_filter,
                                          depthwise_conv2d_backward_filter_kernel, depthwise_conv2d_forward,
                                          depthwise_conv2d_forward_kernel)
from helpers import assert_close, on_backend, poisoned, random_array, to_host

# (x shape, w shape (R, S, C, M), strides, padding, dilation): odd sizes, both paddings, strides,
# dilations and multipliers; channels past one 32-lane slab (35, 33) and a last slab nearly empty;
# images of several tiles with partial last ones; a window as large as the image; 1 x 1 x 1.
CONFIGS = [
    ((2, 7, 9, 3), (3, 3, 3, 1), (1, 1), "valid", (1, 1)),
    ((3, 11, 6, 35), (3, 2, 35, 2), (2, 2), "same", (1, 1)),
    ((1, 9, 10, 33), (2, 3, 33, 3), (1, 2), "same", (2, 1)),
    ((2, 5, 5, 4), (5, 5, 4, 1), (1, 1), "same", (1, 1)),
    ((2, 17, 19, 8), (3, 3, 8, 1), (1, 1), "same", (1, 1)),
    ((1, 12, 13, 5), (3, 3, 5, 2), (2, 2), "valid", (1, 2)),
    ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1), "valid", (1, 1)),
    # Channels in quads (rung 2's input patches loaded 16 bytes at a time): two filters a channel with
    # a stride; 36 channels, a second slab of one quad, with a dilation.
    ((2, 9, 10, 12), (3, 3, 12, 2), (2, 1), "same", (1, 1)),
    ((1, 6, 7, 36), (3, 3, 36, 1), (1, 1), "valid", (1, 2)),
]


def config_id(config):
    x_shape, w_shape, strides, padding, dilation = config
    return f"x{x_shape}-w{w_shape}-s{strides}-{padding}-d{dilation}".replace(" ", "")


def random_problem(rng, config, dtype):
    x_shape, w_shape, strides, padding, dilation = config
    x, w = random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype)
    b = random_array(rng, (w_shape[2] * w_shape[3],), dtype)
    y_shape = depthwise.depthwise_conv2d_output_shape(x_shape, w_shape, strides, padding, dilation)
    return x, w, b, random_array(rng, y_shape, dtype), (strides, padding, dilation)


def as_conv2d_kernel(w):
    """The (R, S, C, C * M) conv2d kernel that computes the depthwise convolution of w (R, S, C, M)."""
    r, s, c, m = w.shape
    full = np.zeros((r, s, c, c * m), w.dtype)
    for channel in range(c):
        full[:, :, channel, channel * m:(channel + 1) * m] = w[:, :, channel]
    return full


def depthwise_part(dw_full, m):
    """The depthwise kernel's entries of a conv2d kernel gradient (R, S, C, C * M)."""
    return np.stack([dw_full[:, :, c, c * m:(c + 1) * m] for c in range(dw_full.shape[2])], axis=2)


# --- the reference ------------------------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_the_reference_is_conv2d_with_a_block_diagonal_kernel(rng, config):
    x, w, b, dy, options = random_problem(rng, config, np.float64)
    full = as_conv2d_kernel(w)
    assert_close(depthwise_conv2d_forward(x, w, b, *options), conv2d.conv2d_forward(x, full, b, *options))
    assert_close(depthwise_conv2d_backward_data(dy, w, x.shape, *options),
                 conv2d.conv2d_backward_data(dy, full, x.shape, *options))
    dw, db = depthwise_conv2d_backward_filter(x, dy, w.shape, *options)
    dw_full, db_full = conv2d.conv2d_backward_filter(x, dy, full.shape, *options)
    assert_close(dw, depthwise_part(dw_full, w.shape[3]))
    assert_close(db, db_full)


@pytest.mark.parametrize("config", CONFIGS[:3], ids=config_id)
def test_the_reference_gradients_match_central_differences(rng, config):
    x, w, b, dy, options = random_problem(rng, config, np.float64)
    dw, db = depthwise_conv2d_backward_filter(x, dy, w.shape, *options)
    check_gradient(op_scalar(lambda v: depthwise_conv2d_forward(v, w, b, *options), dy), x,
                   depthwise_conv2d_backward_data(dy, w, x.shape, *options), "dx")
    check_gradient(op_scalar(lambda v: depthwise_conv2d_forward(x, v, b, *options), dy), w, dw, "dw")
    check_gradient(op_scalar(lambda v: depthwise_conv2d_forward(x, w, v, *options), dy), b, db, "db")


@pytest.mark.parametrize("x_shape, w_shape, b_shape, message", [
    ((2, 5, 5), (3, 3, 1, 1), None, "x must be 4-D"),
    ((2, 5, 5, 3), (3, 3, 3), None, "w must be 4-D"),
    ((2, 5, 5, 3), (3, 3, 2, 1), None, "x has 3 channels but w expects 2"),
    ((2, 5, 5, 3), (3, 3, 3, 2), (3,), r"b must have shape \(6,\)"),
    ((2, 2, 5, 3), (3, 3, 3, 1), None, "smaller than the kernel extent"),
])
def test_bad_arguments_are_named(x_shape, w_shape, b_shape, message):
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match=message):
        depthwise_conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), b)


# --- the kernels ----------------------------------------------------------------------------------

def as64(*arrays):
    return [a.astype(np.float64) for a in arrays]


def run_and_check(kernel_backend, config, variant, rng, relu=False):
    """Each pass of ``variant`` against the float64 reference, its error judged against the same pass
    on the operands' magnitudes (a sum of terms that may cancel is rounded relative to its terms)."""
    x, w, b, dy, options = random_problem(rng, config, np.float32)
    x64, w64, b64, dy64 = as64(x, w, b, dy)
    ax, aw, ab, ady = (np.abs(a) for a in (x64, w64, b64, dy64))
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731

    y = on(poisoned(dy.shape))
    depthwise_conv2d_forward_kernel(on(x), on(w), on(b), *options, relu=relu, variant=variant, y=y,
                                    backend=kernel_backend)
    expected = depthwise_conv2d_forward(x64, w64, b64, *options)
    assert_close(y, np.maximum(expected, 0) if relu else expected, what=f"{variant} forward",
                 scale=depthwise_conv2d_forward(ax, aw, ab, *options))

    dx = on(poisoned(x.shape))
    depthwise_conv2d_backward_data_kernel(on(dy), on(w), x.shape, *options, variant=variant, dx=dx,
                                          backend=kernel_backend)
    assert_close(dx, depthwise_conv2d_backward_data(dy64, w64, x.shape, *options), what=f"{variant} backward data",
                 scale=depthwise_conv2d_backward_data(ady, aw, x.shape, *options))

    dw = on(poisoned(w.shape))
    depthwise_conv2d_backward_filter_kernel(on(x), on(dy), w.shape, *options, variant=variant, dw=dw,
                                            backend=kernel_backend)
    assert_close(dw, depthwise_conv2d_backward_filter(x64, dy64, w.shape, *options)[0],
                 what=f"{variant} backward filter", scale=depthwise_conv2d_backward_filter(ax, ady, w.shape, *options)[0])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_every_pass_matches_the_reference(rng, kernel_backend, config, variant):
    run_and_check(kernel_backend, config, variant, rng)


def test_the_tiles_input_patches_hold_the_same_values_loaded_16_or_4_bytes_at_a_time(rng, kernel_backend):
    """x and dy copies 4 bytes past a 16-byte boundary (contiguous, the channels in quads): rung 2's
    input patches (the forward's and the filter gradient's) then load 4 bytes a lane, where from the
    aligned arrays they load 16 a lane; every pass gives the same bits."""
    xp = backend_xp(kernel_backend)
    *arrays, options = random_problem(rng, CONFIGS[-2], np.float32)
    x, w, b, dy = (on_backend(a, kernel_backend) for a in arrays)

    def shifted(a):
        copy = xp.empty(a.size + 1, np.float32)[1:].reshape(a.shape)
        copy[...] = a
        return copy

    def passes(x, dy):
        kind = {"variant": "smem_tile", "backend": kernel_backend}
        return [to_host(depthwise_conv2d_forward_kernel(x, w, b, *options, **kind)),
                to_host(depthwise_conv2d_backward_data_kernel(dy, w, x.shape, *options, **kind)),
                to_host(depthwise_conv2d_backward_filter_kernel(x, dy, w.shape, *options, **kind))]

    for aligned, misaligned in zip(passes(x, dy), passes(shifted(x), shifted(dy))):
        assert np.isfinite(aligned).all() and np.array_equal(aligned, misaligned)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_fused_relu(rng, kernel_backend, variant):
    run_and_check(kernel_backend, CONFIGS[1], variant, rng, relu=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_nonfinite_input_reaches_only_the_outputs_that_read_it(kernel_backend, variant):
    """An inf on a row that no window of a stride-2 valid convolution reads leaves y and dw finite (rung
    2's patch and tiles hold that row, and must not multiply it by a zero); a NaN read by one output
    makes just that output NaN, through the ReLU too."""
    x, w = np.ones((1, 6, 6, 2), np.float32), -np.ones((3, 3, 2, 1), np.float32)
    x[0, 5, :, 0] = np.inf  # rows 0-4 are the windows' (stride 2, valid: outputs 0 and 1)
    x[0, 0, 0, 1] = np.nan  # read by output (0, 0) only
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731
    y = to_host(depthwise_conv2d_forward_kernel(on(x), on(w), None, 2, "valid", 1, relu=True, variant=variant,
                                                backend=kernel_backend))
    touched = np.zeros(y.shape, bool)
    touched[0, 0, 0, 1] = True
    assert np.isnan(y[touched]).all() and np.array_equal(y[~touched], np.zeros((~touched).sum(), np.float32))
    dy = np.ones(y.shape, np.float32)
    dw = to_host(depthwise_conv2d_backward_filter_kernel(on(x), on(dy), w.shape, 2, "valid", 1, variant=variant,
                                                         backend=kernel_backend))
    assert np.isfinite(dw[..., 0, :]).all() and np.isnan(dw[0, 0, 1, 0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_bias_and_an_empty_batch(rng, kernel_backend, variant):
    x, w, _, dy, options = random_problem(rng, CONFIGS[1], np.float32)
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731
    y = depthwise_conv2d_forward_kernel(on(x), on(w), None, *options, variant=variant, backend=kernel_backend)
    assert_close(y, depthwise_conv2d_forward(*as64(x, w), None, *options))
    empty_x, empty_dy = x[:0], dy[:0]
    assert depthwise_conv2d_forward_kernel(on(empty_x), on(w), None, *options, variant=variant,
                                           backend=kernel_backend).shape == empty_dy.shape
    assert depthwise_conv2d_backward_data_kernel(on(empty_dy), on(w), empty_x.shape, *options, variant=variant,
                                                 backend=kernel_backend).shape == empty_x.shape
    dw = on(poisoned(w.shape))
    depthwise_conv2d_backward_filter_kernel(on(empty_x), on(empty_dy), w.shape, *options, variant=variant, dw=dw,
                                            backend=kernel_backend)
    assert not np.any(to_host(dw)), "a gradient summed over no outputs is zero"


def test_the_tile_is_chosen_where_its_shared_memory_fits_and_refused_by_name_where_not():
    small = depthwise.depthwise_conv2d_geometry((1, 32, 32, 8), (3, 3, 8, 1))
    assert depthwise.choose_variant("forward", None, (3, 3, 8, 1), small) == "smem_tile"
    # A 9 x 9 window at dilation 3: patches of 32 x 32 pixels of 32 channels, 128 KiB, in every pass.
    large = depthwise.depthwise_conv2d_geometry((1, 64, 64, 8), (9, 9, 8, 1), 1, "same", 3)
    assert depthwise.shared_bytes("forward", (9, 9, 8, 1), large) > depthwise.MAX_SHARED_BYTES
    for step in depthwise.PASSES:
        assert depthwise.choose_variant(step, None, (9, 9, 8, 1), large) == "direct"
    with pytest.raises(ValueError, match="smem_tile needs .* bytes of shared memory"):
        depthwise.choose_variant("forward", "smem_tile", (9, 9, 8, 1), large)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_the_data_gradients_patch_bound_holds_for_every_tile(config):
    """shared_bytes sizes the data gradient's patch for its largest tile; the kernel's rows and columns
    (floor divisions that depend on where a tile starts) never exceed it."""
    x_shape, w_shape, strides, padding, dilation = config
    g = depthwise.depthwise_conv2d_geometry(x_shape, w_shape, strides, padding, dilation)
    (r, s), (sh, sw), (dh, dw), ((top, _), (left, _)) = g.window, g.strides, g.dilation, g.pads

    def extent(start, tile, pad, window, dil, stride):
        return (start + tile - 1 + pad) // stride - (start + pad - (window - 1) * dil) // stride + 1

    rows = max(extent(h, depthwise.TILE_ROWS, top, r, dh, sh) for h in range(0, x_shape[1], depthwise.TILE_ROWS))
    cols = max(extent(w, depthwise.TILE_COLS, left, s, dw, sw) for w in range(0, x_shape[2], depthwise.TILE_COLS))
    assert 4 * rows * cols * depthwise.LANES * w_shape[3] <= depthwise.shared_bytes("backward_data", w_shape, g)


def test_the_backend_runs_the_kernels_and_keeps_float64_on_the_reference(rng, kernel_backend):
    backend = KernelBackend(backend_xp(kernel_backend))
    for dtype in (np.float32, np.float64):
        x, w, b, dy, options = random_problem(rng, CONFIGS[1], dtype)
        xs = backend.asarray(random_array(rng, (*x.shape[:3], x.shape[3] + 2), dtype))[..., 1:-1]  # a strided view
        xs[...] = backend.asarray(x)
        y = backend.depthwise_conv2d_forward(xs, backend.asarray(w), backend.asarray(b), *options)
        dx, dw, db = backend.depthwise_conv2d_backward(xs, backend.asarray(w), backend.asarray(dy), *options)
        assert y.dtype == dtype and dx.dtype == dtype and dw.dtype == dtype
        x64, w64, b64, dy64 = as64(x, w, b, dy)
        assert_close(y, depthwise_conv2d_forward(x64, w64, b64, *options))
        assert_close(dx, depthwise_conv2d_backward_data(dy64, w64, x.shape, *options))
        for out, expected in zip((dw, db), depthwise_conv2d_backward_filter(x64, dy64, w.shape, *options)):
            assert_close(out, expected)
        no_dx = backend.depthwise_conv2d_backward(xs, backend.asarray(w), backend.asarray(dy), *options,
                                                  need_dx=False)
        assert no_dx[0] is None
        no_db = backend.depthwise_conv2d_backward(xs, backend.asarray(w), backend.asarray(dy), *options,
                                                  need_db=False)
        assert no_db[2] is None


def test_bad_arguments_to_the_kernels_are_refused_with_their_names(rng, kernel_backend):
    x, w, b, dy, options = random_problem(rng, CONFIGS[1], np.float32)
    on = lambda a: on_backend(a, kernel_backend)  # noqa: E731
    with pytest.raises(ValueError, match="float32.*x of dtype float64"):
        depthwise_conv2d_forward_kernel(on(x.astype(np.float64)), on(w.astype(np.float64)), None, *options,
                                        backend=kernel_backend)
    with pytest.raises(ValueError, match="variant"):
        depthwise_conv2d_forward_kernel(on(x), on(w), on(b), *options, variant="winograd", backend=kernel_backend)
    with pytest.raises(ValueError, match="channels"):
        depthwise_conv2d_forward_kernel(on(x), on(w[:, :, :1]), None, *options, backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="contiguous"):
        depthwise_conv2d_forward_kernel(on(x)[:, :, ::-1], on(w), None, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="dy"):
        depthwise_conv2d_backward_data_kernel(on(dy[:, :-1]), on(w), x.shape, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="dy"):
        depthwise_conv2d_backward_filter_kernel(on(x), on(dy[..., :-1]), w.shape, *options, backend=kernel_backend)
    with pytest.raises(ValueError, match="y"):
        depthwise_conv2d_forward_kernel(on(x), on(w), None, *options, y=on(np.empty((1, 1, 1, 1), np.float32)),
                                        backend=kernel_backend)


def test_a_problem_too_large_for_32_bit_indices_is_refused():
    g = depthwise.depthwise_conv2d_geometry((1, 50000, 50000, 1), (1, 1, 1, 1), 1000)  # an image of 2.5e9
    with pytest.raises(ValueError, match="32-bit"):
        depthwise._check_kernel_arguments("forward", (1, 50000, 50000, 1), (1, 1, 1, 1), g)
