"""The softmax kernels of kernels/softmax.cu against the reference of cnn_gpu.ops.activation.

Separate from test_activation.py (the reference's own tests); same reference, computed in float64.
"""

import numpy as np
import pytest

from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops.activation import (SOFTMAX_VARIANTS, softmax, softmax_axes, softmax_backward, softmax_backward_kernel,
                                    softmax_forward_kernel, softmax_over_axes_backward_kernel,
                                    softmax_over_axes_kernel)
from helpers import TOLERANCE as HELPER_TOLERANCE
from helpers import assert_close, on_backend, poisoned, random_array, to_host

# One element; one class; one row; fewer classes than lanes, and one more than a warp; rows fewer
# and more than a block's 8 warps; more rows than a block of rung 1 holds; classes in the thousands
# (each lane takes 66 of them); a rank-3 input, seen as 2 x 3 = 6 rows; the most classes rungs 5 and
# 6 hold in registers, and one more (they run rungs 2's and 4's bodies then).
SHAPES = [(1, 1), (5, 1), (1, 10), (7, 10), (9, 33), (3, 257), (300, 3), (2, 2100), (2, 3, 10), (3, 1024),
          (2, 1025)]
DTYPES = [np.float32, np.float64]
# ||out - ref|| / ||ref|| allowed: the helpers' per-dtype bounds. Each output is a few roundings from
# the float64 reference, but a row's sum of e^(x - max) adds up to thousands of terms in one thread
# (rung 1 at 2100 classes), whose rounding reached 1.6e-6 in float32 over 200 seeds.
TOLERANCE = {np.dtype(np.float32): HELPER_TOLERANCE[np.dtype(np.float32)],
             np.dtype(np.float64): HELPER_TOLERANCE[np.dtype(np.float64)]}


def run_forward(x, variant, backend):
    """The kernel's softmax of ``x`` on the host, its output poisoned before the launch."""
    out = on_backend(poisoned(x.shape, x.dtype), backend)
    assert softmax_forward_kernel(on_backend(x, backend), variant, out=out, backend=backend) is out
    return to_host(out)


def run_backward(y, dy, variant, backend):
    """The kernel's dx from ``y`` and ``dy`` on the host, dx poisoned before the launch."""
    dx = on_backend(poisoned(y.shape, y.dtype), backend)
    assert softmax_backward_kernel(on_backend(y, backend), on_backend(dy, backend), variant, dx=dx,
                                   backend=backend) is dx
    return to_host(dx)


def reference_backward(y, dy):
    return softmax_backward(None, y.astype(np.float64), dy.astype(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_forward_matches_the_reference(rng, kernel_backend, variant, shape, dtype):
    x = random_array(rng, shape, dtype, -4, 4)
    out = run_forward(x, variant, kernel_backend)
    assert out.dtype == dtype and out.shape == shape
    assert_close(out, softmax(x.astype(np.float64)), TOLERANCE[np.dtype(dtype)], what=f"{variant} forward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_backward_matches_the_reference(rng, kernel_backend, variant, shape, dtype):
    y = softmax(random_array(rng, shape, np.float64, -4, 4)).astype(dtype)  # a forward output, as the layer keeps it
    dy = random_array(rng, shape, dtype)
    dx = run_backward(y, dy, variant, kernel_backend)
    assert dx.dtype == dtype and dx.shape == shape
    assert_close(dx, reference_backward(y, dy), TOLERANCE[np.dtype(dtype)], what=f"{variant} backward")


@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_the_default_outputs_are_new_arrays_of_the_input_shape(rng, kernel_backend, variant):
    x = random_array(rng, (2, 3, 10), np.float32, -4, 4)
    y = softmax_forward_kernel(on_backend(x, kernel_backend), variant, backend=kernel_backend)
    assert isinstance(y, backend_xp(kernel_backend).ndarray) and y.shape == x.shape and y.dtype == x.dtype
    assert_close(y, softmax(x.astype(np.float64)), TOLERANCE[np.dtype(np.float32)])
    dy = random_array(rng, x.shape, np.float32)
    dx = softmax_backward_kernel(y, on_backend(dy, kernel_backend), variant, backend=kernel_backend)
    assert isinstance(dx, backend_xp(kernel_backend).ndarray) and dx.shape == x.shape
    assert_close(dx, reference_backward(to_host(y), dy), TOLERANCE[np.dtype(np.float32)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_a_nan_or_an_infinity_spoils_its_row_as_in_the_reference(rng, kernel_backend, variant, dtype):
    x = random_array(rng, (7, 40), dtype, -4, 4)
    x[1, 35] = np.nan  # lane 3's second element, none of lane 0's: the butterflies must carry it to all
    x[3, 0] = np.inf  # inf - inf = NaN: the row is NaN in the reference too
    x[4, 20] = -np.inf  # e^-inf = 0: the row stays finite
    x[5] = -np.inf  # -inf - -inf = NaN everywhere
    out = run_forward(x, variant, kernel_backend)
    with np.errstate(invalid="ignore"):  # the reference's inf - inf, as the kernel's
        expected = softmax(x.astype(np.float64))
    assert np.array_equal(np.isnan(out), np.isnan(expected))
    assert np.isnan(out[[1, 3, 5]]).all() and out[4, 20] == 0
    finite = [0, 2, 4, 6]
    assert_close(out[finite], expected[finite], TOLERANCE[np.dtype(dtype)], what="the other rows")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_a_nan_in_the_backward_spoils_its_row_only(rng, kernel_backend, variant, dtype):
    y = softmax(random_array(rng, (7, 40), np.float64, -4, 4)).astype(dtype)
    dy = random_array(rng, (7, 40), dtype)
    dy[2, 35] = np.nan
    y[4, 7] = np.nan
    dx = run_backward(y, dy, variant, kernel_backend)
    assert np.isnan(dx[[2, 4]]).all() and not np.isnan(dx[[0, 1, 3, 5, 6]]).any()
    others = [0, 1, 3, 5, 6]
    assert_close(dx[others], reference_backward(y, dy)[others], TOLERANCE[np.dtype(dtype)], what="the other rows")


# e^x overflows float32 above 88.7 and float64 above 709.8: logits of +-1e30 (and up to float32's
# largest, where x - max overflows to -inf and e^-inf is a clean 0) leave only the subtracted
# maximum between the kernel and an overflow. 100 and 750 keep the noise, so rows do not all tie.
@pytest.mark.parametrize("dtype,magnitude", [(np.float32, 100.0), (np.float32, 1e30), (np.float32, 3e38),
                                             (np.float64, 750.0), (np.float64, 1e30), (np.float64, 1e308)])
@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS)
def test_huge_logits_stay_finite(rng, kernel_backend, variant, dtype, magnitude):
    shape = (9, 40)
    x = (rng.choice([-magnitude, magnitude], size=shape) + random_array(rng, shape, np.float64)).astype(dtype)
    x[0] = dtype(magnitude)  # a row of ties: 1/40 each
    out = run_forward(x, variant, kernel_backend)
    assert np.isfinite(out).all()
    with np.errstate(over="ignore"):  # -1e308 - 1e308 = -inf in the reference, as in the kernel: e^-inf = 0
        expected = softmax(x.astype(np.float64))
    assert_close(out, expected, TOLERANCE[np.dtype(dtype)])


def test_bad_arguments_are_refused_naming_them(kernel_backend):
    xp = backend_xp(kernel_backend)
    x = xp.zeros((4, 6), np.float32)

    def forward(x=x, **kwargs):
        return softmax_forward_kernel(x, backend=kernel_backend, **kwargs)

    def backward(y=x, dy=x, **kwargs):
        return softmax_backward_kernel(y, dy, backend=kernel_backend, **kwargs)

    with pytest.raises(ValueError, match="x must be a non-empty float32 or float64 array, got int32"):
        forward(x=xp.zeros((4, 6), np.int32))
    with pytest.raises(ValueError, match="y must be a non-empty float32 or float64 array, got float16"):
        backward(y=xp.zeros((4, 6), np.float16))
    for empty in ((0, 6), (4, 0), ()):
        with pytest.raises(ValueError, match=r"x must be a non-empty .* of shape"):
            forward(x=xp.zeros(empty, np.float32))
    with pytest.raises(ValueError, match=r"x must be C-contiguous, got strides \(4, 16\) for shape \(4, 6\)"):
        forward(x=xp.zeros((6, 4), np.float32).T)
    with pytest.raises(ValueError, match=r"out must have x's shape \(4, 6\), got \(6, 4\)"):
        forward(out=xp.empty((6, 4), np.float32))
    with pytest.raises(ValueError, match="out must have x's dtype float32, got float64"):
        forward(out=xp.empty((4, 6), np.float64))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        forward(out=xp.empty((6, 4), np.float32).T)
    with pytest.raises(ValueError, match=r"variant must be one of \('row_per_thread', 'warp_per_row', "):
        forward(variant="block_per_row")
    with pytest.raises(ValueError, match="variant must be one of"):
        backward(variant="auto")
    with pytest.raises(ValueError, match=r"dy must have y's shape \(4, 6\), got \(4, 5\)"):
        backward(dy=x[:, :5])
    with pytest.raises(ValueError, match="dy must have y's dtype float32, got float64"):
        backward(dy=x.astype(np.float64))
    with pytest.raises(ValueError, match="dy must be C-contiguous"):
        backward(dy=xp.zeros((6, 4), np.float32).T)
    with pytest.raises(ValueError, match=r"dx must have y's shape \(4, 6\), got \(24,\)"):
        backward(dx=xp.empty(24, np.float32))
    with pytest.raises(ValueError, match="dx must have y's dtype float32, got float64"):
        backward(dx=xp.empty((4, 6), np.float64))


def test_a_refused_call_writes_nothing(kernel_backend):
    x = on_backend(np.zeros((4, 6), np.float32), kernel_backend)
    out = on_backend(poisoned((4, 6), np.float32), kernel_backend)
    with pytest.raises(ValueError, match="dy must have y's dtype"):
        softmax_backward_kernel(x, x.astype(np.float64), dx=out, backend=kernel_backend)
    with pytest.raises(ValueError, match="variant must be one of"):
        softmax_forward_kernel(x, "block_per_row", out=out, backend=kernel_backend)
    assert np.isnan(to_host(out)).all()


@pytest.mark.parametrize("shape", [(2**31, 1), (1, 2**31), (2**16, 2**15, 1)])
def test_more_rows_or_columns_than_an_int_indexes_are_refused_before_anything_is_made(shape):
    # A view of one element posing as 2^31 of them: C-contiguous, never read, as the check comes first
    # (before even the 8 GiB output would be allocated).
    strides = tuple(4 * int(np.prod(shape[i + 1:])) for i in range(len(shape)))  # C order
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=strides)
    assert huge.flags.c_contiguous
    with pytest.raises(ValueError, match="the softmax kernels index rows and columns with int"):
        softmax_forward_kernel(huge, backend="emulate")
    with pytest.raises(ValueError, match="the softmax kernels index rows and columns with int"):
        softmax_backward_kernel(huge, huge, backend="emulate")


# --- any axes (the Softmax layer's): the axes moved last, the kernels run, moved back ---------------

@pytest.fixture
def poisoned_kernel_outputs(monkeypatch):
    """The over-axes wrappers' kernels write into NaN-filled outputs (the wrappers make them): an
    element the kernel never wrote shows."""
    from cnn_gpu.ops import activation

    def poisoning(kernel, out_name):
        def call(*args, backend=None, **kwargs):
            xp = backend_xp(backend)
            kwargs[out_name] = xp.full(args[0].shape, np.nan, dtype=args[0].dtype)
            return kernel(*args, backend=backend, **kwargs)
        return call

    monkeypatch.setattr(activation, "softmax_forward_kernel", poisoning(softmax_forward_kernel, "out"))
    monkeypatch.setattr(activation, "softmax_backward_kernel", poisoning(softmax_backward_kernel, "dx"))


# A middle axis; the batch axis; two axes together, adjacent and not, negative ones among them; the
# trailing axes (no copy); every axis; a single axis given as a one-element list.
AXES_CASES = [((3, 5, 7), 1), ((3, 5, 7), 0), ((2, 3, 4, 5), (1, 2)), ((2, 3, 4, 5), (-1, 1)), ((4, 33), -2),
              ((3, 5, 7), (1, 2)), ((2, 3, 4), (0, 1, 2)), ((5, 6, 3), [1])]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axis", AXES_CASES, ids=str)
def test_softmax_over_any_axes_matches_the_reference(rng, kernel_backend, poisoned_kernel_outputs, shape, axis, dtype):
    x = random_array(rng, shape, dtype, -4, 4)
    axes = softmax_axes(axis, len(shape))
    y = softmax_over_axes_kernel(on_backend(x, kernel_backend), axis, backend=kernel_backend)
    assert y.shape == shape and y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, softmax(x.astype(np.float64), axes), TOLERANCE[np.dtype(dtype)], what="forward")
    dy = random_array(rng, shape, dtype)
    dx = softmax_over_axes_backward_kernel(y, on_backend(dy, kernel_backend), axis, backend=kernel_backend)
    assert dx.shape == shape and dx.dtype == dtype and dx.flags.c_contiguous
    expected = softmax_backward(None, to_host(y).astype(np.float64), dy.astype(np.float64), axes)
    assert_close(dx, expected, TOLERANCE[np.dtype(dtype)], what="backward")


def test_softmax_over_axes_refuses_bad_axes_naming_them(kernel_backend):
    x = on_backend(np.zeros((2, 3, 4), np.float32), kernel_backend)
    with pytest.raises(ValueError, match=r"axis \(1, 3\) is out of range for an input of 3 axes"):
        softmax_over_axes_kernel(x, (1, 3), backend=kernel_backend)
    with pytest.raises(ValueError, match="must not name an axis twice"):
        softmax_over_axes_backward_kernel(x, x, (2, -1), backend=kernel_backend)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3, 4\)"):
        softmax_over_axes_backward_kernel(x, x[:1], 1, backend=kernel_backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5, 1000), (9, 33), (3, 1)])
def test_the_rungs_with_the_row_in_registers_give_the_warp_rungs_bits(rng, kernel_backend, shape, dtype):
    """Rungs 5 and 6 read a row once into registers where rungs 2 and 4 read it again from the caches;
    the arithmetic is the same, in the same order."""
    x = random_array(rng, shape, dtype) * 4
    dy = random_array(rng, shape, dtype)
    ours, theirs = (run_forward(x, variant, kernel_backend) for variant in ("warp_per_row_registers", "warp_per_row"))
    assert np.isfinite(ours).all() and np.array_equal(ours, theirs)
    ours, theirs = (run_backward(theirs, dy, variant, kernel_backend)
                    for variant in ("warp_per_row_registers", "warp_per_row"))
    assert np.isfinite(ours).all() and np.array_equal(ours, theirs)
