"""Batch normalization over the last (channel) axis, forward and backward: the NumPy reference, then
the wrappers of ``kernels/batchnorm.cu``.

Keras's BatchNormalization (``axis=-1``): in training each channel is normalised by its batch mean
and biased variance over every other axis, and the moving statistics follow them,
``moving = moving * momentum + batch * (1 - momentum)``; in inference (or on a frozen layer) the
moving statistics stand in for the batch's. ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta``;
``gamma`` (``scale=False``) or ``beta`` (``center=False``) may be None. The forward returns what the
backward needs as ``NormStatistics``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, current_device, resolve_backend
from cnn_gpu.ops.common import (C_TYPES, array_module, ceil_div, check_float, check_same_dtype, check_shape,
                                cpp_bool, dtype_name, grid_stride_launch, output_array)
from cnn_gpu.ops.gemm_plans import split_k_workspace
from cnn_gpu.ops.reduce import SERIAL_ROWS, column_flat_grid, column_partial_grid


@dataclass(frozen=True)
class NormStatistics:
    """What a forward pass leaves its backward: the mean it subtracted (C,), 1 / sqrt(var + epsilon) (C,),
    and whether they were the batch's (training) or the moving ones (constants of the batch)."""

    mean: object
    inv_std: object
    batch: bool


def check_batch_norm(x, gamma, beta, moving_mean, moving_variance):
    """Fail unless x is a float array of at least 2 axes and every per-channel array is (C,) of its dtype."""
    check_float(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch axis and a channel axis, got shape {tuple(x.shape)}")
    channels = (x.shape[-1],)
    for a, name in ((gamma, "gamma"), (beta, "beta"), (moving_mean, "moving_mean"),
                    (moving_variance, "moving_variance")):
        if a is not None:
            check_shape(a, channels, name, "x's channel count")
            check_same_dtype(a, name, x, "x")


def _channel_rows(a):
    return a.reshape(-1, a.shape[-1])


def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, momentum=0.99, epsilon=1e-3, training=False):
    """``(y, NormStatistics)``; in training the moving statistics are updated in place. The variance
    takes two passes (the mean, then the squared deviations from it), the accurate way."""
    check_batch_norm(x, gamma, beta, moving_mean, moving_variance)
    xp = array_module(x)
    if training:
        _checked_rows(x)  # an empty batch has no statistics to normalise by, or to move the moving ones
        rows = _channel_rows(x)
        mean = rows.mean(axis=0)
        variance = ((rows - mean) ** 2).mean(axis=0)
        moving_mean[...] = moving_mean * momentum + mean * (1 - momentum)
        moving_variance[...] = moving_variance * momentum + variance * (1 - momentum)
    else:
        mean, variance = moving_mean, moving_variance
    inv_std = 1 / xp.sqrt(variance + epsilon)
    y = (x - mean) * (inv_std if gamma is None else gamma * inv_std)
    if beta is not None:
        y += beta
    return y, NormStatistics(mean, inv_std, training)


def batch_norm_backward(x, dy, gamma, statistics):
    """``(dx, dgamma, dbeta)`` of ``batch_norm_forward`` given dy (x's shape); with the batch's statistics
    dx goes through the mean and variance too, with the moving ones it is ``gamma * inv_std * dy``."""
    check_shape(dy, tuple(x.shape), "dy", "x's shape")
    rows_x, rows_dy = _channel_rows(x), _channel_rows(dy)
    mean, inv_std = statistics.mean, statistics.inv_std
    normalized = (rows_x - mean) * inv_std
    dbeta = rows_dy.sum(axis=0)
    dgamma = (rows_dy * normalized).sum(axis=0)
    coefficient = inv_std if gamma is None else gamma * inv_std
    if statistics.batch:
        count = rows_x.shape[0]
        dx = coefficient * (rows_dy - dbeta / count - normalized * (dgamma / count))
    else:
        dx = coefficient * rows_dy
    return dx.reshape(x.shape), dgamma, dbeta


# --- kernels: kernels/batchnorm.cu --------------------------------------------------------------------
# The column sums' rungs; the last also computes the per-channel constants, in the same launch.
SUMS_VARIANTS = ("thread_per_column", "partial", "flat", "flat_last_block")
LAST_BLOCK = "flat_last_block"
_THREADS = 256  # NORM_BLOCK of batchnorm.cu
FLAT_MAX_CHANNELS = _THREADS  # batch_norm_sums_flat: at most one channel per thread of its block
_BLOCK_ROWS = 8  # COLUMN_BLOCK_ROWS of column_sum.cuh: batch_norm_sums_partial's block is 32 x 8


def _channel_params(dtype, *names):
    return [Array(name, dtype, ndim=1) for name in names]


SUMS_KERNELS = {
    (variant, dtype, gradient): Kernel(
        "batchnorm.cu", f"batch_norm_sums_{variant}<{ctype}, {cpp_bool(gradient)}>",
        [Array("x", dtype), Array("dy", dtype), Array("center", dtype), Array("partial", dtype, ndim=3),
         Scalar("rows", "int32"), Scalar("cols", "int32")])
    for variant in SUMS_VARIANTS if variant != LAST_BLOCK
    for dtype, ctype in C_TYPES.items() for gradient in (False, True)
}
FORWARD_LAST_BLOCK = {
    dtype: Kernel("batchnorm.cu", f"batch_norm_forward_last_block<{ctype}>",
                  [Array("x", dtype), Array("partial", dtype, ndim=3), Array("counter", "uint32", ndim=1),
                   *_channel_params(dtype, "gamma", "moving_mean", "moving_variance", "mean", "inv_std", "scale"),
                   Scalar("rows", "int32"), Scalar("cols", "int32"), Scalar("momentum", dtype),
                   Scalar("epsilon", dtype)])
    for dtype, ctype in C_TYPES.items()
}
BACKWARD_LAST_BLOCK = {
    dtype: Kernel("batchnorm.cu", f"batch_norm_backward_last_block<{ctype}>",
                  [Array("x", dtype), Array("dy", dtype), Array("mean", dtype, ndim=1),
                   Array("partial", dtype, ndim=3), Array("counter", "uint32", ndim=1),
                   *_channel_params(dtype, "gamma", "inv_std", "dgamma", "dbeta", "a", "b", "k"),
                   Scalar("rows", "int32"), Scalar("cols", "int32")])
    for dtype, ctype in C_TYPES.items()
}
FORWARD_CONSTANTS = {
    dtype: Kernel("batchnorm.cu", f"batch_norm_forward_constants<{ctype}>",
                  [Array("partial", dtype, ndim=3), Array("center", dtype),
                   *_channel_params(dtype, "gamma", "moving_mean", "moving_variance", "mean", "inv_std", "scale"),
                   Scalar("parts", "int32"), Scalar("rows", "int32"), Scalar("cols", "int32"),
                   Scalar("momentum", dtype), Scalar("epsilon", dtype)])
    for dtype, ctype in C_TYPES.items()
}
INFERENCE_CONSTANTS = {
    dtype: Kernel("batchnorm.cu", f"batch_norm_inference_constants<{ctype}>",
                  [*_channel_params(dtype, "gamma", "moving_variance", "inv_std", "scale"),
                   Scalar("cols", "int32"), Scalar("epsilon", dtype)])
    for dtype, ctype in C_TYPES.items()
}
BACKWARD_CONSTANTS = {
    dtype: Kernel("batchnorm.cu", f"batch_norm_backward_constants<{ctype}>",
                  [Array("partial", dtype, ndim=3),
                   *_channel_params(dtype, "gamma", "inv_std", "dgamma", "dbeta", "a", "b", "k"),
                   Scalar("parts", "int32"), Scalar("rows", "int32"), Scalar("cols", "int32")])
    for dtype, ctype in C_TYPES.items()
}
NORMALIZE_KERNELS = {
    dtype: Kernel("batchnorm.cu", f"batch_norm_normalize<{ctype}>",
                  [Array("x", dtype), *_channel_params(dtype, "mean", "scale", "beta"), Array("y", dtype),
                   Scalar("size", "int64"), Scalar("cols", "int32")])
    for dtype, ctype in C_TYPES.items()
}
BACKWARD_DATA_KERNELS = {
    (dtype, batch): Kernel("batchnorm.cu", f"batch_norm_backward_data<{ctype}, {cpp_bool(batch)}>",
                           [Array("x", dtype), Array("dy", dtype), *_channel_params(dtype, "mean", "a", "b", "k"),
                            Array("dx", dtype), Scalar("size", "int64"), Scalar("cols", "int32")])
    for dtype, ctype in C_TYPES.items() for batch in (False, True)
}


def _checked_rows(x):
    """(rows, cols) of non-empty ``x`` seen over its last axis."""
    if x.size == 0:
        raise ValueError(f"x must not be empty (the batch statistics of no rows are undefined), got shape "
                         f"{tuple(x.shape)}")
    cols = x.shape[-1]
    return x.size // cols, cols


def _sums_launch(variant, x, backend):
    """``(variant, grid, block, partial)`` of the column sums' rung ``variant`` (``auto``: rung 4, one
    launch for the sums and the constants, wherever it fits, at most FLAT_MAX_CHANNELS channels; else a
    thread per channel for up to SERIAL_ROWS rows, as column_sum's choice, else partial), partial
    (parts, cols, 2) being the rows of sums its blocks leave."""
    rows, cols = _checked_rows(x)
    if variant == "auto":  # one launch where a thread per channel (cols > 256) walks a short column
        variant = (LAST_BLOCK if cols <= FLAT_MAX_CHANNELS else
                   "thread_per_column" if rows <= SERIAL_ROWS else "partial")
    if variant not in SUMS_VARIANTS or (variant.startswith("flat") and cols > FLAT_MAX_CHANNELS):
        raise ValueError(f"variant must be 'auto' or one of {SUMS_VARIANTS} (the flat ones take at most "
                         f"{FLAT_MAX_CHANNELS} channels), got {variant!r} for {cols} channels")
    if rows > 2**31 - 1:
        raise ValueError(f"the batch normalization sums index rows with int: {rows} rows is too many")
    if variant == "thread_per_column":
        grid, block, parts = (ceil_div(cols, _THREADS),), (_THREADS,), 1
    elif variant == "partial":
        grid, block = column_partial_grid(rows, cols), (32, _BLOCK_ROWS)
        parts = grid[1]
    else:
        grid, block = column_flat_grid(rows, cols), (_THREADS,)
        parts = grid[0]
    # Read by the launch after the sums' and by nothing later: a workspace kept for the process.
    return variant, grid, block, split_k_workspace(backend, current_device(backend), (parts, cols, 2), dtype_name(x),
                                                   owner="batch normalization sums")


def _last_block_counter(backend):
    """Rung 4's counter: one zeroed word kept for the process (a gemm_plans workspace of its own, as
    split-K's tile counters are), which every completed launch leaves at zero; launches take turns in
    stream order."""
    return split_k_workspace(backend, current_device(backend), 1, "uint32", owner="batch normalization")


def _scratch(backend, cols, x, name):
    """A (cols,) workspace of x's dtype for the per-channel constant ``name`` of one call: read by a later
    launch of that call only, so kept for the process (an allocation per call cost microseconds in CuPy)."""
    return split_k_workspace(backend, current_device(backend), cols, dtype_name(x), owner=f"batch normalization {name}")


def _channel_constant(a, value, cols, dtype, xp):
    """``a``, or a (cols,) array of ``value`` where the layer has no such weight (gamma 1, beta 0)."""
    return xp.full(cols, value, dtype=dtype) if a is None else a


def batch_norm_forward_kernel(x, gamma, beta, moving_mean, moving_variance, momentum=0.99, epsilon=1e-3,
                              training=False, variant="auto", y=None, backend=None):
    """``batch_norm_forward`` by kernels/batchnorm.cu, into ``y`` if given: every array C-contiguous,
    the moving statistics updated in place in training; ``variant`` names the column sums' rung."""
    check_batch_norm(x, gamma, beta, moving_mean, moving_variance)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    rows, cols = _checked_rows(x)
    as_t = x.dtype.type
    gamma = _channel_constant(gamma, 1, cols, x.dtype, xp)
    beta = _channel_constant(beta, 0, cols, x.dtype, xp)
    # scale lives until the normalize launch; inv_std (kept for the backward) and mean are the caller's.
    inv_std, scale = xp.empty(cols, dtype=x.dtype), _scratch(backend, cols, x, "scale")
    channel_grid = ((ceil_div(cols, _THREADS),), (_THREADS,))
    if training:
        variant, grid, block, partial = _sums_launch(variant, x, backend)
        mean = xp.empty(cols, dtype=x.dtype)
        statistics_out = (mean, inv_std, scale)
        if variant == LAST_BLOCK:
            FORWARD_LAST_BLOCK[dtype_name(x)](
                grid, block, (x, partial, _last_block_counter(backend), gamma, moving_mean, moving_variance,
                              *statistics_out, rows, cols, as_t(momentum), as_t(epsilon)), backend=backend)
        else:
            # The sums' shift K is each column's first row, x[0, :]: x itself, read as a (cols,) array.
            SUMS_KERNELS[variant, dtype_name(x), False](grid, block, (x, x, x, partial, rows, cols), backend=backend)
            FORWARD_CONSTANTS[dtype_name(x)](
                *channel_grid, (partial, x, gamma, moving_mean, moving_variance, *statistics_out, partial.shape[0],
                                rows, cols, as_t(momentum), as_t(epsilon)), backend=backend)
    else:
        mean = moving_mean
        INFERENCE_CONSTANTS[dtype_name(x)](*channel_grid, (gamma, moving_variance, inv_std, scale, cols,
                                                           as_t(epsilon)), backend=backend)
    y = output_array(y, x.shape, x.dtype, "y", xp)
    NORMALIZE_KERNELS[dtype_name(x)](*grid_stride_launch(x.size, _THREADS), (x, mean, scale, beta, y, x.size, cols),
                                     backend=backend)
    return y, NormStatistics(mean, inv_std, training)


def batch_norm_backward_kernel(x, dy, gamma, statistics, variant="auto", dx=None, backend=None):
    """``batch_norm_backward`` by kernels/batchnorm.cu, dx into ``dx`` if given (x, dy and gamma
    C-contiguous)."""
    check_shape(dy, tuple(x.shape), "dy", "x's shape")
    check_batch_norm(x, gamma, None, None, None)
    check_same_dtype(dy, "dy", x, "x")
    for a, name in ((statistics.mean, "statistics.mean"), (statistics.inv_std, "statistics.inv_std")):
        check_shape(a, (x.shape[-1],), name, "x's channel count")
        check_same_dtype(a, name, x, "x")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    rows, cols = _checked_rows(x)
    gamma = _channel_constant(gamma, 1, cols, x.dtype, xp)
    variant, grid, block, partial = _sums_launch(variant, x, backend)
    # a, b and k live until the backward-to-data launch; dgamma and dbeta are the caller's.
    gradients = dgamma, dbeta, a, b, k = (xp.empty(cols, dtype=x.dtype), xp.empty(cols, dtype=x.dtype),
                                          *(_scratch(backend, cols, x, name) for name in ("a", "b", "k")))
    if variant == LAST_BLOCK:
        BACKWARD_LAST_BLOCK[dtype_name(x)](
            grid, block, (x, dy, statistics.mean, partial, _last_block_counter(backend), gamma, statistics.inv_std,
                          *gradients, rows, cols), backend=backend)
    else:
        SUMS_KERNELS[variant, dtype_name(x), True](grid, block, (x, dy, statistics.mean, partial, rows, cols),
                                                  backend=backend)
        BACKWARD_CONSTANTS[dtype_name(x)](
            (ceil_div(cols, _THREADS),), (_THREADS,),
            (partial, gamma, statistics.inv_std, *gradients, partial.shape[0], rows, cols), backend=backend)
    dx = output_array(dx, x.shape, x.dtype, "dx", xp)
    BACKWARD_DATA_KERNELS[dtype_name(x), statistics.batch](
        *grid_stride_launch(x.size, _THREADS), (x, dy, statistics.mean, a, b, k, dx, x.size, cols), backend=backend)
    return dx, dgamma, dbeta
