"""2-D max and average pooling over NHWC input, forward and backward, vectorised over the batch.

Strides default to the pool size (as in Keras). With ``same`` padding:

- max pooling pads with -inf, so a padded position never wins;
- average pooling divides each window's sum by the number of real (unpadded) elements in it, as
  Keras/TensorFlow do, not by the pool area.

Max pooling's backward routes each output gradient to its window's maximum. Ties go to the first
maximum in row-major window order (lowest row, then lowest column): the forward keeps a tap only
when it is strictly greater than the best so far.

Both run as one whole-batch array operation per window tap (``window.taps``), which NumPy does
faster than a reduction over the strided window axes.

The ``*_kernel`` wrappers at the bottom run the same ops as the kernels of ``kernels/pool.cu``, whose
argmax is int32.
"""

from __future__ import annotations

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, check_launch, resolve_backend
from cnn_gpu.ops import window
from cnn_gpu.ops.common import (C_TYPES, array_module, check_float, check_ndim, check_shape, dtype_name,
                                grid_stride_launch, output_array, quads_fit)


def pool2d_geometry(x_shape, pool_size, strides=None, padding="valid"):
    """Validated ``window.Geometry`` of a pooling; ``strides`` None means the pool size."""
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, H, W, C), got shape {tuple(x_shape)}")
    strides = pool_size if strides is None else strides
    return window.geometry(x_shape[1:3], pool_size, strides, padding, 1, window_name="pool_size")


def pool2d_output_shape(x_shape, pool_size, strides=None, padding="valid"):
    """(N, P, Q, C) of a pooling of an (N, H, W, C) input."""
    g = pool2d_geometry(x_shape, pool_size, strides, padding)
    return (x_shape[0], *g.out_hw, x_shape[3])


def _checked_geometry(x, pool_size, strides, padding):
    check_float(x, "x")
    check_ndim(x, 4, "x", "(N, H, W, C)")
    return pool2d_geometry(x.shape, pool_size, strides, padding)


def _backward_geometry(dy, x_shape, pool_size, strides, padding):
    g = pool2d_geometry(x_shape, pool_size, strides, padding)
    check_shape(dy, (x_shape[0], *g.out_hw, x_shape[3]), "dy", "the forward output's shape")
    return g


def max_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """``(y, argmax)``: the window maxima (N, P, Q, C) and, per output, the winning tap's index r*S + s."""
    xp = array_module(x)
    g = _checked_geometry(x, pool_size, strides, padding)
    windows = window.window_view(window.pad(x, g, value=-np.inf), g)
    (r0, s0), *rest = window.taps(g)
    y = windows[:, :, :, r0, s0].copy()
    argmax = xp.zeros(y.shape, dtype=np.min_scalar_type(len(rest)))
    for k, (r, s) in enumerate(rest, start=1):
        tap = windows[:, :, :, r, s]
        better = tap > y
        # argmax = k where better, as arithmetic (k > argmax so nothing wraps): a masked select
        # with an unpredictable mask is an order of magnitude slower in NumPy.
        argmax += better * (argmax.dtype.type(k) - argmax)
        xp.maximum(y, tap, out=y)
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, pool_size, strides=None, padding="valid"):
    """Gradient to the input: each dy[n, p, q, c] added to the input element its window's argmax names."""
    g = _backward_geometry(dy, x_shape, pool_size, strides, padding)
    check_shape(argmax, dy.shape, "argmax", "dy's shape")
    width = g.window[1]
    return window.fold(lambda r, s: dy * (argmax == r * width + s), g, x_shape, dy.dtype, array_module(dy))


def _window_counts(g, xp, dtype):
    """(P, Q, 1) count of real input elements under each window (the pool area where nothing is padded)."""
    counts = []
    for size, out, k, stride, (before, _) in zip(g.in_hw, g.out_hw, g.window, g.strides, g.pads):
        start = xp.arange(out) * stride - before
        counts.append(xp.minimum(start + k, size) - xp.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :])[:, :, None].astype(dtype)


def avg_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """Window means (N, P, Q, C), each over the real elements of its window."""
    xp = array_module(x)
    g = _checked_geometry(x, pool_size, strides, padding)
    windows = window.window_view(window.pad(x, g), g)
    (r0, s0), *rest = window.taps(g)
    total = windows[:, :, :, r0, s0].copy()
    for r, s in rest:
        total += windows[:, :, :, r, s]
    total /= _window_counts(g, xp, x.dtype)
    return total


def avg_pool2d_backward(dy, x_shape, pool_size, strides=None, padding="valid"):
    """Gradient to the input: each dy spread evenly over the real elements of its window."""
    xp = array_module(dy)
    g = _backward_geometry(dy, x_shape, pool_size, strides, padding)
    share = dy / _window_counts(g, xp, dy.dtype)
    return window.fold(lambda r, s: share, g, x_shape, dy.dtype, xp)


# --- kernels: kernels/pool.cu ---------------------------------------------------------------------
# Every kernel takes its arrays, then the pooling's shape as the same twelve int scalars.

MAX_FORWARD_VARIANTS = ("channel_slow", "coalesced", "float4")
MAX_BACKWARD_VARIANTS = ("scatter", "gather", "window")
_SHAPE_PARAMS = ("N", "H", "W", "C", "P", "Q", "R", "S", "stride_h", "stride_w", "pad_top", "pad_left")


def _params(*arrays):
    """``arrays`` (Array declarations) followed by the shape scalars, each a C ``int``."""
    return [*arrays, *(Scalar(name, "int32") for name in _SHAPE_PARAMS)]


def _max_forward_params(dtype):
    return _params(Array("x", dtype), Array("y", dtype), Array("argmax", "int32"))


def _max_backward_params(dtype):
    return _params(Array("dy", dtype), Array("argmax", "int32"), Array("dx", dtype))


_MAX_FORWARD_NAMES = {"channel_slow": "max_pool2d_forward_channel_slow", "coalesced": "max_pool2d_forward"}
MAX_FORWARD_KERNELS = {
    (variant, dtype): Kernel("pool.cu", f"{name}<{ctype}>", _max_forward_params(dtype))
    for variant, name in _MAX_FORWARD_NAMES.items() for dtype, ctype in C_TYPES.items()
} | {("float4", "float32"): Kernel("pool.cu", "max_pool2d_forward_float4", _max_forward_params("float32"))}
MAX_BACKWARD_KERNELS = {
    (variant, dtype): Kernel("pool.cu", f"max_pool2d_backward_{variant}<{ctype}>", _max_backward_params(dtype))
    for variant in MAX_BACKWARD_VARIANTS for dtype, ctype in C_TYPES.items()
}
AVG_FORWARD_KERNELS = {
    dtype: Kernel("pool.cu", f"avg_pool2d_forward<{ctype}>", _params(Array("x", dtype), Array("y", dtype)))
    for dtype, ctype in C_TYPES.items()
}
AVG_BACKWARD_KERNELS = {
    dtype: Kernel("pool.cu", f"avg_pool2d_backward_gather<{ctype}>", _params(Array("dy", dtype), Array("dx", dtype)))
    for dtype, ctype in C_TYPES.items()
}


def _shape_args(x_shape, g):
    """The shape scalars of _SHAPE_PARAMS, as Python ints (the declarations cast them to int)."""
    (top, _), (left, _) = g.pads
    return (*x_shape, *g.out_hw, *g.window, *g.strides, top, left)


def _float4_fits(x, *arrays):
    """float4 needs float32, whole float4s per pixel and 16-byte-aligned arrays (a sliced view may not be)."""
    return x.dtype == np.float32 and quads_fit(x.shape[3], x, *arrays)


def _checked_backward(dy, x_shape, pool_size, strides, padding):
    """``(x_shape as a tuple, geometry)``, once dy is a float array of the forward output's shape."""
    check_float(dy, "dy")
    x_shape = tuple(x_shape)
    return x_shape, _backward_geometry(dy, x_shape, pool_size, strides, padding)


def max_pool2d_forward_kernel(x, pool_size, strides=None, padding="valid", variant="auto", y=None, argmax=None,
                              backend=None):
    """``(y, argmax)`` as max_pool2d_forward, by kernel, argmax int32; ``variant`` is one of
    MAX_FORWARD_VARIANTS, or auto: float4 where it fits, else coalesced."""
    g = _checked_geometry(x, pool_size, strides, padding)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    out_shape = (x.shape[0], *g.out_hw, x.shape[3])
    y = output_array(y, out_shape, x.dtype, "y", xp)
    argmax = output_array(argmax, out_shape, np.int32, "argmax", xp)
    if variant == "auto":
        variant = "float4" if _float4_fits(x, y, argmax) else "coalesced"
    if variant not in MAX_FORWARD_VARIANTS or (variant == "float4" and not _float4_fits(x, y, argmax)):
        raise ValueError(f"variant must be 'auto' or one of {MAX_FORWARD_VARIANTS} (float4 needs float32, C % 4 == 0 "
                         f"and 16-byte-aligned arrays), got {variant!r} for {x.dtype} with {x.shape[3]} channels")
    per_thread = 4 if variant == "float4" else 1
    MAX_FORWARD_KERNELS[variant, dtype_name(x)](*grid_stride_launch(y.size // per_thread),
                                                (x, y, argmax, *_shape_args(x.shape, g)), backend=backend)
    return y, argmax


def windows_apart(g):
    """Whether the pooling's windows do not overlap (each stride at least the window): what the window
    backward (pool.cu's rung 8) takes."""
    return all(stride >= size for stride, size in zip(g.strides, g.window))


def max_pool2d_backward_kernel(dy, argmax, x_shape, pool_size, strides=None, padding="valid", variant="window",
                               dx=None, backend=None):
    """dx as max_pool2d_backward, by kernel, from the forward kernel's int32 ``argmax``; ``variant`` is
    one of MAX_BACKWARD_VARIANTS (gather: deterministic, no atomics; window: the gather's bits, a
    thread per window, where windows do not overlap, else the gather). The default, window, ran 4.0x
    the gather's speed and 1.2x the scatter's on 2 x 2 windows at stride 2 (NVIDIA H200,
    benchmarks/results/pool.json, commit 27bd7f2)."""
    x_shape, g = _checked_backward(dy, x_shape, pool_size, strides, padding)
    check_shape(argmax, dy.shape, "argmax", "dy's shape")
    if variant not in MAX_BACKWARD_VARIANTS:
        raise ValueError(f"variant must be one of {MAX_BACKWARD_VARIANTS}, got {variant!r}")
    if variant == "window" and not windows_apart(g):
        variant = "gather"
    backend = resolve_backend(backend)
    dx = output_array(dx, x_shape, dy.dtype, "dx", backend_xp(backend))
    kernel = MAX_BACKWARD_KERNELS[variant, dtype_name(dy)]
    # Every argument checked before the zero fills, so a refused dx is left as it was.
    args = kernel.check_args((dy, argmax, dx, *_shape_args(x_shape, g)), backend)
    # The scatter's atomics add into dx, where an element no window chose stays 0; the window
    # backward writes the windows' cells, of which an empty output has none.
    if variant == "scatter" or variant == "window" and dy.size == 0:
        dx.fill(0)
    grid, block = grid_stride_launch(dx.size if variant == "gather" else dy.size)
    kernel.launch_checked(check_launch(grid, block, 0, kernel.name), args, backend)
    return dx


def avg_pool2d_forward_kernel(x, pool_size, strides=None, padding="valid", y=None, backend=None):
    """Window means as avg_pool2d_forward, by kernel."""
    g = _checked_geometry(x, pool_size, strides, padding)
    backend = resolve_backend(backend)
    y = output_array(y, (x.shape[0], *g.out_hw, x.shape[3]), x.dtype, "y", backend_xp(backend))
    AVG_FORWARD_KERNELS[dtype_name(x)](*grid_stride_launch(y.size), (x, y, *_shape_args(x.shape, g)), backend=backend)
    return y


def avg_pool2d_backward_kernel(dy, x_shape, pool_size, strides=None, padding="valid", dx=None, backend=None):
    """dx as avg_pool2d_backward, by kernel (a gather: deterministic, no atomics)."""
    x_shape, g = _checked_backward(dy, x_shape, pool_size, strides, padding)
    backend = resolve_backend(backend)
    dx = output_array(dx, x_shape, dy.dtype, "dx", backend_xp(backend))
    AVG_BACKWARD_KERNELS[dtype_name(dy)](*grid_stride_launch(dx.size), (dy, dx, *_shape_args(x_shape, g)), backend=backend)
    return dx
