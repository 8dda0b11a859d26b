"""2-D max and average pooling over NHWC input, forward and backward, vectorised over the batch.

Strides default to the pool size (as in Keras). With ``same`` padding:

- max pooling pads with -inf, so a padded position never wins;
- average pooling divides each window's sum by the number of real (unpadded) elements in it, as
  Keras/TensorFlow do, not by the pool area.

Max pooling's backward routes each output gradient to its window's maximum. Ties go to the first
maximum in row-major window order (lowest row, then lowest column), which is what ``argmax`` over
the flattened (R*S) window returns.
"""

from __future__ import annotations

from cnn_gpu.ops import window
from cnn_gpu.ops.common import array_module, check_float, check_ndim


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


def max_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """``(y, argmax)``: the window maxima (N, P, Q, C) and, per output, the winning tap's index r*S + s."""
    g = _checked_geometry(x, pool_size, strides, padding)
    windows = window.window_view(window.pad(x, g, value=-float("inf")), g)
    n, p, q, r, s, c = windows.shape
    flat = windows.reshape(n, p, q, r * s, c)
    argmax = flat.argmax(axis=3)
    y = array_module(x).take_along_axis(flat, argmax[:, :, :, None], axis=3)[:, :, :, 0]
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, pool_size, strides=None, padding="valid"):
    """Gradient to the input: each dy[n, p, q, c] added to the input element its window's argmax names."""
    xp = array_module(dy)
    g = pool2d_geometry(x_shape, pool_size, strides, padding)
    r, s = g.window
    winners = argmax[:, :, :, None] == xp.arange(r * s)[:, None]
    cols = (winners * dy[:, :, :, None]).astype(dy.dtype, copy=False)
    return window.fold(cols.reshape(*dy.shape[:3], r, s, dy.shape[3]), g)


def _window_counts(g, xp, dtype):
    """(P, Q, 1) count of real input elements under each window (the pool area where nothing is padded)."""
    counts = []
    for size, out, k, stride, (before, _) in zip(g.in_hw, g.out_hw, g.window, g.strides, g.pads):
        start = xp.arange(out) * stride - before
        counts.append(xp.minimum(start + k, size) - xp.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :])[:, :, None].astype(dtype)


def avg_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """Window means (N, P, Q, C), each over the real elements of its window."""
    g = _checked_geometry(x, pool_size, strides, padding)
    sums = window.window_view(window.pad(x, g), g).sum(axis=(3, 4))
    return sums / _window_counts(g, array_module(x), x.dtype)


def avg_pool2d_backward(dy, x_shape, pool_size, strides=None, padding="valid"):
    """Gradient to the input: each dy spread evenly over the real elements of its window."""
    xp = array_module(dy)
    g = pool2d_geometry(x_shape, pool_size, strides, padding)
    share = dy / _window_counts(g, xp, dy.dtype)
    cols = xp.broadcast_to(share[:, :, :, None, None], (*dy.shape[:3], *g.window, dy.shape[3]))
    return window.fold(cols, g)
