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
"""

from __future__ import annotations

import numpy as np

from cnn_gpu.ops import window
from cnn_gpu.ops.common import array_module, check_float, check_ndim, check_shape


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
