"""Data augmentation: images flipped left-right and/or upside down (Keras's RandomFlip), the NumPy
reference, then the wrapper of ``kernels/augment.cu``; and the per-image colour changes of
RandomContrast and RandomBrightness, array operations on either module (no kernel of ours).

``flips`` holds an int per image: bit FLIP_LEFT_RIGHT mirrors its columns, bit FLIP_UP_DOWN its rows.
A flip is its own inverse, so the same op takes the gradient back.
"""

from __future__ import annotations

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import (C_TYPES, array_module, check_float, check_ndim, check_shape, dtype_name,
                                grid_stride_launch, output_array)

FLIP_LEFT_RIGHT = 1  # FLIP_LEFT_RIGHT of augment.cu
FLIP_UP_DOWN = 2  # FLIP_UP_DOWN of augment.cu
MODES = {"horizontal": FLIP_LEFT_RIGHT, "vertical": FLIP_UP_DOWN,
         "horizontal_and_vertical": FLIP_LEFT_RIGHT | FLIP_UP_DOWN}


def draw_flips(n, mode, rng):
    """Each of ``n`` images' flips for Keras's ``mode``, as an int32 array of the bits above: one coin
    toss an image (a uniform draw <= 0.5), as Keras 3 draws it, flipping it every way the mode
    allows or not at all ('horizontal_and_vertical' turns an image half a turn or leaves it)."""
    return np.where(rng.random(n) <= 0.5, MODES[mode], 0).astype(np.int32)


def _check_flips(x, flips):
    check_float(x, "x")
    check_ndim(x, 4, "x", "(N, H, W, C)")
    check_shape(flips, (x.shape[0],), "flips", "one per image")
    if flips.dtype != np.int32:
        raise TypeError(f"flips must be int32, got {flips.dtype}")


def flip_images(x, flips):
    """Each image of NHWC ``x`` mirrored as its entry of ``flips`` says."""
    _check_flips(x, flips)
    xp = array_module(x)
    flips = xp.asarray(flips)
    left_right = (flips & FLIP_LEFT_RIGHT).astype(bool)[:, None, None, None]
    up_down = (flips & FLIP_UP_DOWN).astype(bool)[:, None, None, None]
    y = xp.where(left_right, x[:, :, ::-1], x)
    return xp.where(up_down, y[:, ::-1], y)


# --- kernels: kernels/augment.cu -------------------------------------------------------------------
KERNELS = {
    dtype: Kernel("augment.cu", f"flip_images<{ctype}>",
                  [Array("x", dtype, ndim=4), Array("flips", "int32", ndim=1), Array("y", dtype, ndim=4),
                   *(Scalar(name, "int32") for name in ("N", "H", "W", "C"))])
    for dtype, ctype in C_TYPES.items()
}


def flip_images_kernel(x, flips, y=None, backend=None):
    """``flip_images`` by kernels/augment.cu, into ``y`` if given (x and flips C-contiguous, on the
    backend's device)."""
    _check_flips(x, flips)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    y = output_array(y, x.shape, x.dtype, "y", xp)
    if xp.may_share_memory(x, y):  # a gather reads what another thread writes: never in place
        raise ValueError("y must not share memory with x: the flips read every image while they write it")
    KERNELS[dtype_name(x)](*grid_stride_launch(x.size), (x, flips, y, *x.shape), backend=backend)
    return y


def rescale(x, scale, offset):
    """``x * scale + offset`` in x's dtype (Rescaling's): ``scale`` and ``offset`` numbers, or lists of one
    per channel (the last axis), broadcast. One array operation on either module (no kernel of ours)."""
    xp = array_module(x)
    scale, offset = (xp.asarray(v, dtype=x.dtype) if isinstance(v, list) else x.dtype.type(v) for v in (scale, offset))
    return x * scale + offset


# --- colour: RandomContrast and RandomBrightness (array operations) -------------------------------
def _per_image(xp, values, x):
    """One value an image, (N,), as x's dtype, broadcast over an image's pixels and channels."""
    return xp.asarray(values, dtype=x.dtype).reshape(-1, 1, 1, 1)


def _clipped(xp, y, value_range):
    """y clipped to ``value_range`` = (low, high), and where it was inside (the gradient's mask)."""
    low, high = (y.dtype.type(v) for v in value_range)
    return xp.clip(y, low, high), (y >= low) & (y <= high)


def adjust_contrast(x, factors, value_range):
    """Keras's RandomContrast on NHWC x: each image's channels pulled toward or pushed from their mean
    over the image by its entry of ``factors`` (m + f (x - m)), clipped to ``value_range``. Returns
    the output and what adjust_contrast_backward takes: (the factors broadcast, the clip's mask)."""
    xp = array_module(x)
    f = _per_image(xp, factors, x)
    mean = x.mean(axis=(1, 2), keepdims=True)
    y, inside = _clipped(xp, (x - mean) * f + mean, value_range)
    return y, (f, inside)


def adjust_contrast_backward(dy, saved):
    """dx of adjust_contrast: the mean's share too, (1 - f) times the mean of the unclipped dy."""
    f, inside = saved
    g = dy * inside
    return f * g + (1 - f) * g.mean(axis=(1, 2), keepdims=True)


def adjust_brightness(x, deltas, value_range):
    """Keras's RandomBrightness on NHWC x: each image shifted by its entry of ``deltas``, clipped to
    ``value_range``. Returns the output and the clip's mask (adjust_brightness_backward's)."""
    xp = array_module(x)
    return _clipped(xp, x + _per_image(xp, deltas, x), value_range)


def adjust_brightness_backward(dy, inside):
    return dy * inside
