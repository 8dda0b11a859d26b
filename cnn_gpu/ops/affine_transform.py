"""Images resampled through an affine map, per image (Keras's RandomTranslation, RandomRotation,
RandomZoom, Resizing, CenterCrop, RandomCrop, and UpSampling2D's bilinear interpolation): the maps
the layers build, the NumPy reference, then the wrappers of ``kernels/affine_transform.cu``.

``transforms`` holds a float32 row (a0, a1, a2, b0, b1, b2) an image, Keras's first six of eight:
output pixel (row, col) samples the input at x = a0 col + a1 row + a2, y = b0 col + b1 row + b2, by
bilinear or nearest interpolation, pixels outside the image filled as ``fill_mode`` says, as
jax.scipy.ndimage.map_coordinates does for Keras's JAX backend (the kernel file has the details).
The op is linear in x: its backward applies the transpose to dy.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import (C_TYPES, check_float, check_ndim, check_shape, dtype_name, grid_stride_launch,
                                output_array, quads_fit)

FILL_MODES = {"reflect": 0, "wrap": 1, "constant": 2, "nearest": 3}  # FILL_* of affine_transform.cu
INTERPOLATIONS = {"nearest": 0, "bilinear": 1}  # INTERPOLATION_* of affine_transform.cu
IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


# --- the maps Keras's layers build ---------------------------------------------------------------
def translations(dx, dy):
    """Images shifted right by ``dx`` and down by ``dy`` pixels (arrays, one entry an image)."""
    one, zero = np.ones_like(dx), np.zeros_like(dx)
    return _rows(one, zero, -dx, zero, one, -dy)


def rotations(angles, height, width):
    """Images turned by ``angles`` radians about their centres, as Keras's RandomRotation builds them."""
    cos, sin = np.cos(angles), np.sin(angles)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    return _rows(cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos)


def zooms(width_zoom, height_zoom, height, width):
    """Images scaled about their centres, each input span of ``zoom`` pixels stretched over one
    output pixel (above 1: zoomed out), as Keras's RandomZoom builds them."""
    zero = np.zeros_like(width_zoom)
    return _rows(width_zoom, zero, (width - 1) / 2 * (1 - width_zoom),
                 zero, height_zoom, (height - 1) / 2 * (1 - height_zoom))


def resize(in_shape, out_shape):
    """The map of an image of ``in_shape`` (H, W) resized to ``out_shape``, one row: output pixel centres
    spread evenly over the input's ((out + 0.5) * H / Ho - 0.5), as jax.image.resize places them for
    Keras (UpSampling2D, Resizing); with the 'nearest' fill (the edges clamp) and bilinear
    interpolation it is jax's bilinear resize without antialiasing."""
    (rows, cols), (out_rows, out_cols) = in_shape, out_shape
    col_step, row_step = cols / out_cols, rows / out_rows
    return _rows(col_step, 0.0, 0.5 * col_step - 0.5, 0.0, row_step, 0.5 * row_step - 0.5)[0]


def aspect_crop(height, width, target):
    """Keras's crop_to_aspect_ratio: the largest window of ``target``'s aspect ratio (rows, cols),
    centred, as (top, left, rows, cols)."""
    rows = max(min(height, int(width * target[0] / target[1])), 1)
    cols = max(min(width, int(height * target[1] / target[0])), 1)
    return int((height - rows) / 2), int((width - cols) / 2), rows, cols


def aspect_pad(height, width, target):
    """Keras's pad_to_aspect_ratio: the rows added above and below, or else the columns added left and
    right (the same number each side), that bring the image near ``target``'s aspect ratio."""
    top = int((max(height, int(width * target[0] / target[1])) - height) / 2)
    left = int((max(width, int(height * target[1] / target[0])) - width) / 2)
    return (top, 0) if top > 0 else (0, left)


def _rows(*columns):
    """The columns (numbers, or arrays of one entry an image) as float32 rows of six."""
    columns = np.broadcast_arrays(*[np.atleast_1d(np.asarray(c, dtype=np.float64)) for c in columns])
    return np.stack(columns, axis=1).astype(np.float32)


# --- the NumPy reference ---------------------------------------------------------------------------
def _check(x, transforms, interpolation, fill_mode, name="x"):
    check_float(x, name)
    check_ndim(x, 4, name, "(N, H, W, C)")
    check_shape(transforms, (x.shape[0], 6), "transforms", "one row (a0, a1, a2, b0, b1, b2) an image")
    if transforms.dtype != np.float32:
        raise TypeError(f"transforms must be float32, got {transforms.dtype}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {sorted(FILL_MODES)}, got {fill_mode!r}")


def _check_x_shape(x_shape, dy):
    if len(x_shape) != 4 or x_shape[0] != dy.shape[0] or x_shape[3] != dy.shape[3]:
        raise ValueError(f"x_shape {tuple(x_shape)} must be (N, H, W, C) with dy's N and C; dy's shape is "
                         f"{tuple(dy.shape)}")


def _fixed_index(i, size, fill_mode):
    """Indices ``i`` along an axis of ``size`` as the fill mode maps them into the image; -1 where a
    constant fill takes their place (fixed_index of the kernel file)."""
    if fill_mode == "constant":
        return np.where((i >= 0) & (i < size), i, -1)
    if fill_mode == "nearest":
        return np.clip(i, 0, size - 1)
    period = size if fill_mode == "wrap" else 2 * size
    m = i % period  # NumPy's modulo is never negative
    return np.where(m < size, m, period - 1 - m)


def _samples(transforms, out_shape, interpolation):
    """Each output pixel's (row, col, weight) corners: a list of (rows, cols, weights) arrays of shape
    (N, Ho, Wo), one or four of them. The points are computed in float64 from the float32 transforms:
    the same bits as the kernels' (see the kernel file)."""
    t = transforms.astype(np.float64)[:, :, None, None]
    row, col = np.meshgrid(np.arange(out_shape[0], dtype=np.float64), np.arange(out_shape[1], dtype=np.float64),
                           indexing="ij")
    x = t[:, 0] * col + t[:, 1] * row + t[:, 2]
    y = t[:, 3] * col + t[:, 4] * row + t[:, 5]
    if interpolation == "nearest":
        return [(np.floor(y + 0.5).astype(np.int64), np.floor(x + 0.5).astype(np.int64), np.ones_like(x))]
    row0, col0 = np.floor(y), np.floor(x)
    fy, fx = y - row0, x - col0
    row0, col0 = row0.astype(np.int64), col0.astype(np.int64)
    return [(row0 + dr, col0 + dc, (fy if dr else 1 - fy) * (fx if dc else 1 - fx)) for dr in (0, 1) for dc in (0, 1)]


def affine_transform(x, transforms, interpolation="bilinear", fill_mode="reflect", fill_value=0.0, out_shape=None):
    """Each image of NHWC ``x`` (NumPy arrays) resampled through its row of ``transforms`` into an
    (N, Ho, Wo, C) output, ``out_shape`` = (Ho, Wo) (x's own by default)."""
    _check(x, transforms, interpolation, fill_mode)
    N, H, W, C = x.shape
    out_shape = out_shape or (H, W)
    images = np.arange(N)[:, None, None]
    y = np.zeros((N, *out_shape, C), dtype=x.dtype)
    for rows, cols, weights in _samples(transforms, out_shape, interpolation):
        rows, cols = _fixed_index(rows, H, fill_mode), _fixed_index(cols, W, fill_mode)
        outside = (rows < 0) | (cols < 0)
        values = np.where(outside[..., None], x.dtype.type(fill_value), x[images, rows, cols])
        y += weights.astype(x.dtype)[..., None] * values
    return y


def affine_transform_backward(dy, transforms, x_shape, interpolation="bilinear", fill_mode="reflect"):
    """The gradient of affine_transform with respect to x (of ``x_shape``), given dy: each dy element's
    weighted value added into the input pixels its output read (none for a constant fill)."""
    _check(dy, transforms, interpolation, fill_mode, "dy")
    _check_x_shape(x_shape, dy)
    N, H, W, C = x_shape
    dx = np.zeros(x_shape, dtype=dy.dtype)
    images = np.broadcast_to(np.arange(N)[:, None, None], dy.shape[:3])
    for rows, cols, weights in _samples(transforms, dy.shape[1:3], interpolation):
        rows, cols = _fixed_index(rows, H, fill_mode), _fixed_index(cols, W, fill_mode)
        inside = (rows >= 0) & (cols >= 0)
        np.add.at(dx, (images[inside], rows[inside], cols[inside]),
                  weights.astype(dy.dtype)[inside][:, None] * dy[inside])
    return dx


# --- kernels: kernels/affine_transform.cu ----------------------------------------------------------
_SHAPE = ("N", "H", "W", "C", "Ho", "Wo")
KERNELS = {
    (dtype, pass_): Kernel("affine_transform.cu", f"{name}<{ctype}>",
                           [Array(first, dtype, ndim=4), Array("transforms", "float32", ndim=2),
                            Array(out, dtype, ndim=4), *(Scalar(s, "int32") for s in _SHAPE),
                            Scalar("interpolation", "int32"), Scalar("fill_mode", "int32"), *extra(dtype)])
    for dtype, ctype in C_TYPES.items()
    for pass_, name, first, out, extra in (
        ("forward", "affine_transform_gather", "x", "y", lambda dtype: [Scalar("fill_value", dtype)]),
        ("backward", "affine_transform_backward_scatter", "dy", "dx", lambda dtype: []))
}


FLOAT4_KERNEL = Kernel("affine_transform.cu", "affine_transform_gather_float4",
                       [Array("x", "float32", ndim=4), Array("transforms", "float32", ndim=2),
                        Array("y", "float32", ndim=4),
                        *(Scalar(s, "int32") for s in ("N", "H", "W", "C4", "Ho", "Wo", "interpolation", "fill_mode")),
                        Scalar("fill_value", "float32")])
# The forward's rungs: a thread step an element, or four channels (float32, C % 4 == 0); "auto" takes
# the second where it can.
GATHER_VARIANTS = ("element", "float4")


def gather_variant(x, y, variant="auto"):
    """The forward rung that takes x into y: ``variant`` checked, or the one "auto" picks. float4 needs
    float32, whole float4s per pixel and 16-byte-aligned arrays (a sliced view may not be)."""
    fits = x.dtype == np.float32 and quads_fit(x.shape[3], x, y)
    if variant == "auto":
        return "float4" if fits else "element"
    if variant not in GATHER_VARIANTS or (variant == "float4" and not fits):
        raise ValueError(f"variant must be 'auto' or one of {GATHER_VARIANTS} (float4 needs float32, C % 4 == 0 "
                         f"and 16-byte-aligned arrays), got {variant!r} for {x.dtype} with {x.shape[3]} channels")
    return variant


def _launch(pass_, source, transforms, out, x_shape, out_shape, interpolation, fill_mode, extra, backend):
    """One thread step an element of the forward's output (y, or dy)."""
    items = x_shape[0] * math.prod(out_shape) * x_shape[3]
    KERNELS[dtype_name(source), pass_](*grid_stride_launch(items),
                                       (source, transforms, out, *x_shape, *out_shape, INTERPOLATIONS[interpolation],
                                        FILL_MODES[fill_mode], *extra), backend=backend)


def affine_transform_kernel(x, transforms, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                            out_shape=None, y=None, variant="auto", backend=None):
    """``affine_transform`` by kernels/affine_transform.cu's rung ``variant`` (gather_variant), into
    ``y`` if given (arrays C-contiguous, on the backend's device)."""
    _check(x, transforms, interpolation, fill_mode)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    out_shape = tuple(out_shape or x.shape[1:3])
    y = output_array(y, (x.shape[0], *out_shape, x.shape[3]), x.dtype, "y", xp)
    if xp.may_share_memory(x, y):  # a gather reads what other threads write: never in place
        raise ValueError("y must not share memory with x: the samples read pixels other threads write")
    if gather_variant(x, y, variant) == "element":
        _launch("forward", x, transforms, y, x.shape, out_shape, interpolation, fill_mode,
                (x.dtype.type(fill_value),), backend)
        return y
    (n, h, w, c), (ho, wo) = x.shape, out_shape
    FLOAT4_KERNEL(*grid_stride_launch(n * ho * wo * c // 4),
                  (x, transforms, y, n, h, w, c // 4, ho, wo, INTERPOLATIONS[interpolation], FILL_MODES[fill_mode],
                   np.float32(fill_value)), backend=backend)
    return y


def affine_transform_backward_kernel(dy, transforms, x_shape, interpolation="bilinear", fill_mode="reflect",
                                     dx=None, backend=None):
    """``affine_transform_backward`` by kernels/affine_transform.cu, into ``dx`` if given (zeroed
    first: the atomics add into it)."""
    _check(dy, transforms, interpolation, fill_mode, "dy")
    _check_x_shape(x_shape, dy)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    dx = output_array(dx, tuple(x_shape), dy.dtype, "dx", xp)
    if xp.may_share_memory(dy, dx):
        raise ValueError("dx must not share memory with dy: the adds land where other threads read")
    dx.fill(0)
    _launch("backward", dy, transforms, dx, tuple(x_shape), dy.shape[1:3], interpolation, fill_mode, (), backend)
    return dx
