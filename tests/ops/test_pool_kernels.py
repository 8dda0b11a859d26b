"""The pooling kernels of kernels/pool.cu against the NumPy reference of cnn_gpu.ops.pool.

Separate from test_pool.py (the reference's own tests); same family, same references. A max
pooling's y and argmax must equal the reference's exactly (a maximum is a copy of an input, and
the tap that wins is a choice, not a rounding); sums are compared with the float64 reference, and
the deterministic kernels also with the reference in their own precision, whose order of additions
they follow.
"""

import numpy as np
import pytest

from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops.pool import (
    MAX_BACKWARD_VARIANTS,
    avg_pool2d_backward,
    avg_pool2d_backward_kernel,
    avg_pool2d_forward,
    avg_pool2d_forward_kernel,
    max_pool2d_backward,
    max_pool2d_backward_kernel,
    max_pool2d_forward,
    max_pool2d_forward_kernel,
    pool2d_output_shape,
)
from helpers import assert_close, on_backend, poisoned, random_array, to_host

# (x shape NHWC, pool size, strides (None: the pool size), padding). Channels 1, 3 (no float4), 4
# and 8 (float4), 33 (past a warp, odd); odd and even heights and widths; non-overlapping windows,
# overlapping ones (3x3 stride 2; 3x3 stride 1, where nine windows cover an element), a rectangular
# window with unequal strides, strides larger than the pool (input rows no window covers), the
# whole image in one window, a 1x1 window; 'same' and 'valid'. A few thousand elements at most:
# the emulator runs each thread as a fiber.
CONFIGS = [
    ((2, 5, 7, 1), (2, 2), None, "valid"),
    ((1, 6, 7, 3), (2, 2), None, "same"),
    ((2, 7, 8, 4), (3, 3), (2, 2), "valid"),
    ((1, 8, 7, 8), (3, 3), (2, 2), "same"),
    ((1, 7, 9, 3), (2, 3), (1, 2), "same"),
    ((2, 6, 5, 4), (2, 3), (1, 2), "valid"),
    ((1, 7, 8, 33), (2, 2), (3, 3), "same"),
    ((1, 9, 6, 8), (2, 2), (3, 3), "valid"),
    ((1, 6, 5, 4), (3, 3), (1, 1), "same"),
    ((2, 5, 6, 1), (5, 6), None, "valid"),
    ((1, 7, 6, 3), (1, 1), (2, 3), "valid"),
]
DTYPES = [np.float32, np.float64]


def config_id(config):
    x_shape, pool_size, strides, padding = config
    return f"x{x_shape}-p{pool_size}-s{strides}-{padding}".replace(" ", "")


def forward_variants(x):
    return ["channel_slow", "coalesced"] + (["float4"] if x.dtype == np.float32 and x.shape[3] % 4 == 0 else [])


def output_shape(config):
    x_shape, pool_size, strides, padding = config
    return pool2d_output_shape(x_shape, pool_size, strides, padding)


def max_forward(x, config, variant, backend):
    """The kernel's (y, argmax) on the host, both outputs poisoned before the launch."""
    _, pool_size, strides, padding = config
    shape = output_shape(config)
    y = on_backend(poisoned(shape, x.dtype), backend)
    argmax = on_backend(poisoned(shape, np.int32), backend)
    out = max_pool2d_forward_kernel(on_backend(x, backend), pool_size, strides, padding, variant, y=y, argmax=argmax,
                                    backend=backend)
    assert out[0] is y and out[1] is argmax
    return to_host(y), to_host(argmax)


def max_backward(dy, argmax, config, variant, backend):
    x_shape, pool_size, strides, padding = config
    dx = on_backend(poisoned(x_shape, dy.dtype), backend)
    out = max_pool2d_backward_kernel(on_backend(dy, backend), on_backend(argmax, backend), x_shape, pool_size, strides,
                                     padding, variant, dx=dx, backend=backend)
    assert out is dx
    return to_host(dx)


def check_max_forward(x, config, backend):
    """Every forward variant that fits ``x`` against the reference; the reference's argmax, int32."""
    _, pool_size, strides, padding = config
    ref_y, ref_argmax = max_pool2d_forward(x.astype(np.float64), pool_size, strides, padding)
    for variant in forward_variants(x):
        y, argmax = max_forward(x, config, variant, backend)
        assert np.array_equal(y, ref_y, equal_nan=True), f"{variant}: y differs from the reference"
        assert np.array_equal(argmax, ref_argmax), f"{variant}: argmax differs from the reference"
    return ref_y, ref_argmax.astype(np.int32)


def upstream_gradient(rng, config, dtype):
    """A max backward's dy, of one sign: where windows overlap, the scatter's atomics add several into
    one element in an order that changes with the schedule, and the emulator's checked mode compares
    two schedules' results to a relative 1e-5, which a sum of mixed signs can cancel away from."""
    return random_array(rng, output_shape(config), dtype, 0.5, 1.5)


def check_max_backward(dy, argmax, config, backend):
    """Every backward variant against the reference in float64, gather also bit for bit in dy's own
    precision, and window bit for bit with gather (where windows overlap it runs the gather); scatter
    and gather agree."""
    x_shape, pool_size, strides, padding = config
    expected = max_pool2d_backward(dy.astype(np.float64), argmax, x_shape, pool_size, strides, padding)
    dx = {variant: max_backward(dy, argmax, config, variant, backend) for variant in MAX_BACKWARD_VARIANTS}
    for variant, out in dx.items():
        assert_close(out, expected, what=f"{variant} dx")
    own_precision = max_pool2d_backward(dy, argmax, x_shape, pool_size, strides, padding)
    assert np.array_equal(dx["gather"], own_precision), "gather: dx differs from the reference's sum"
    assert np.array_equal(dx["window"], dx["gather"]), "window: dx differs from the gather's"
    assert_close(dx["scatter"], dx["gather"], what="scatter against gather")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_max_forward_matches_the_reference(rng, kernel_backend, config, dtype):
    x = random_array(rng, config[0], dtype)
    ref_y, _ = check_max_forward(x, config, kernel_backend)
    assert np.all(np.isfinite(ref_y))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_max_backward_matches_the_reference(rng, kernel_backend, config, dtype):
    x_shape, pool_size, strides, padding = config
    x = random_array(rng, x_shape, dtype)
    argmax = max_pool2d_forward(x, pool_size, strides, padding)[1].astype(np.int32)
    check_max_backward(upstream_gradient(rng, config, dtype), argmax, config, kernel_backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_window_backward_turns_a_minus_zero_into_plus_zero_as_the_gathers_sum_does(rng, kernel_backend, dtype):
    config = CONFIGS[0]
    x = random_array(rng, config[0], dtype)
    argmax = max_pool2d_forward(x, *config[1:])[1].astype(np.int32)
    dy = np.where(rng.uniform(size=output_shape(config)) < 0.5, -0.0, 1.0).astype(dtype)
    window, gather = (max_backward(dy, argmax, config, variant, kernel_backend) for variant in ("window", "gather"))
    assert np.array_equal(np.signbit(window), np.signbit(gather)) and not np.signbit(window).any()


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_ties_go_to_the_first_maximum_in_row_major_order(rng, kernel_backend, config):
    # Values from {0, 1, 2}: most windows hold several equal maxima, and where windows overlap
    # several of them choose the same element, so the scatter's atomics meet.
    x = rng.integers(0, 3, size=config[0]).astype(np.float32)
    _, argmax = check_max_forward(x, config, kernel_backend)
    check_max_backward(upstream_gradient(rng, config, np.float32), argmax, config, kernel_backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_nan_and_minus_infinity_are_pooled_as_the_reference_pools_them(rng, kernel_backend, padding, dtype):
    config = ((2, 7, 8, 4), (3, 3), (2, 2), padding)
    x = random_array(rng, config[0], dtype)
    x[0, 3, 4, 1] = x[1, 0, 0, :] = np.nan  # each NaN in several overlapping windows
    x[1, 4, 2, 2] = x[1, 6, 7, 3] = np.nan
    # With 'same' the first window's top row is padding, and its real elements here are all -inf:
    # y is -inf and argmax names tap 0, a padded one, which the backward then drops.
    x[0, 0:2, 0:3, 3] = -np.inf
    x[0, 5, 5, 0] = -np.inf
    ref_y, argmax = check_max_forward(x, config, kernel_backend)
    assert np.isnan(ref_y).any() and np.isneginf(ref_y).any() == (padding == "same")
    check_max_backward(upstream_gradient(rng, config, dtype), argmax, config, kernel_backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_avg_forward_and_backward_match_the_reference(rng, kernel_backend, config, dtype):
    x_shape, pool_size, strides, padding = config
    x = random_array(rng, x_shape, dtype)
    dy = random_array(rng, output_shape(config), dtype)
    y = on_backend(poisoned(output_shape(config), dtype), kernel_backend)
    assert avg_pool2d_forward_kernel(on_backend(x, kernel_backend), pool_size, strides, padding, y=y,
                                     backend=kernel_backend) is y
    assert_close(y, avg_pool2d_forward(x.astype(np.float64), pool_size, strides, padding), what="y")
    assert np.array_equal(to_host(y), avg_pool2d_forward(x, pool_size, strides, padding)), "y: not the reference's sum"
    dx = on_backend(poisoned(x_shape, dtype), kernel_backend)
    assert avg_pool2d_backward_kernel(on_backend(dy, kernel_backend), x_shape, pool_size, strides, padding, dx=dx,
                                      backend=kernel_backend) is dx
    assert_close(dx, avg_pool2d_backward(dy.astype(np.float64), x_shape, pool_size, strides, padding), what="dx")
    assert np.array_equal(to_host(dx), avg_pool2d_backward(dy, x_shape, pool_size, strides, padding)), \
        "dx: not the reference's sum"


def test_auto_picks_float4_where_it_fits_and_float4_is_refused_where_it_does_not(rng, kernel_backend):
    xp = backend_xp(kernel_backend)
    x = random_array(rng, (1, 6, 6, 8), np.float32)
    ref_y, ref_argmax = max_pool2d_forward(x, 2)
    y, argmax = max_pool2d_forward_kernel(on_backend(x, kernel_backend), 2, backend=kernel_backend)  # float4
    assert argmax.dtype == np.int32
    assert np.array_equal(to_host(y), ref_y) and np.array_equal(to_host(argmax), ref_argmax)
    misaligned = xp.zeros(x.size + 1, dtype=np.float32)[1:].reshape(x.shape)  # C-contiguous, 4 bytes off
    misaligned[...] = on_backend(x, kernel_backend)
    y, argmax = max_pool2d_forward_kernel(misaligned, 2, backend=kernel_backend)  # auto: coalesced
    assert np.array_equal(to_host(y), ref_y) and np.array_equal(to_host(argmax), ref_argmax)
    unfit = (misaligned, xp.ones((1, 4, 4, 3), np.float32), xp.ones((1, 4, 4, 4), np.float64))
    for refused in unfit:
        with pytest.raises(ValueError, match="float4 needs float32, C % 4 == 0"):
            max_pool2d_forward_kernel(refused, 2, variant="float4", backend=kernel_backend)
    with pytest.raises(ValueError, match="variant must be 'auto' or one of"):
        max_pool2d_forward_kernel(xp.ones((1, 4, 4, 4), np.float32), 2, variant="tiled", backend=kernel_backend)


def test_bad_arguments_are_refused_naming_the_argument(kernel_backend):
    xp = backend_xp(kernel_backend)
    x = xp.ones((2, 6, 6, 3), np.float32)
    dy = xp.ones((2, 3, 3, 3), np.float32)
    argmax = xp.zeros((2, 3, 3, 3), np.int32)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        max_pool2d_forward_kernel(xp.ones((2, 6, 6, 3), np.int32), 2, backend=kernel_backend)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        avg_pool2d_forward_kernel(xp.ones((2, 6, 6, 3), np.float16), 2, backend=kernel_backend)
    with pytest.raises(TypeError, match="dy must be a float32 or float64 array"):
        max_pool2d_backward_kernel(argmax, argmax, x.shape, 2, backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="argument 'x' must be C-contiguous"):
        max_pool2d_forward_kernel(xp.ones((2, 6, 12, 3), np.float32)[:, :, ::2], 2, backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="argument 'dy' must be C-contiguous"):
        avg_pool2d_backward_kernel(xp.ones((2, 3, 3, 6), np.float32)[..., ::2], x.shape, 2, backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="argument 'argmax' must have dtype int32, got int64"):
        max_pool2d_backward_kernel(dy, argmax.astype(np.int64), x.shape, 2, backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="argument 'argmax' must have dtype int32, got int64"):
        max_pool2d_forward_kernel(x, 2, argmax=argmax.astype(np.int64), backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="argument 'y' must have dtype float32, got float64"):
        max_pool2d_forward_kernel(x, 2, y=dy.astype(np.float64), backend=kernel_backend)
    with pytest.raises(ValueError, match=r"argmax must have dy's shape \(2, 3, 3, 3\)"):
        max_pool2d_backward_kernel(dy, argmax[:, :2], x.shape, 2, backend=kernel_backend)
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 3, 3, 3\)"):
        max_pool2d_backward_kernel(dy[:, :2], argmax[:, :2], x.shape, 2, backend=kernel_backend)
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 2, 2, 3\)"):
        avg_pool2d_backward_kernel(dy, x.shape, 3, 2, "valid", backend=kernel_backend)
    with pytest.raises(ValueError, match=r"y must have shape \(2, 3, 3, 3\)"):
        avg_pool2d_forward_kernel(x, 2, y=xp.empty((2, 3, 3, 4), np.float32), backend=kernel_backend)
    with pytest.raises(ValueError, match=r"dx must have shape \(2, 6, 6, 3\)"):
        max_pool2d_backward_kernel(dy, argmax, x.shape, 2, dx=xp.empty((2, 6, 6, 4), np.float32),
                                   backend=kernel_backend)
    with pytest.raises(ValueError, match="variant must be one of"):
        max_pool2d_backward_kernel(dy, argmax, x.shape, 2, variant="atomic", backend=kernel_backend)


def test_a_refused_dx_is_left_as_it_was(kernel_backend):
    # The scatter zeroes dx before its atomics: only once every argument has passed.
    xp = backend_xp(kernel_backend)
    dy, argmax = xp.ones((1, 2, 2, 1), np.float32), xp.zeros((1, 2, 2, 1), np.int64)
    dx = xp.full((1, 4, 4, 1), 7.0, np.float32)
    with pytest.raises(KernelArgumentError, match="argmax"):
        max_pool2d_backward_kernel(dy, argmax, dx.shape, 2, variant="scatter", dx=dx, backend=kernel_backend)
    assert bool((dx == 7).all())
