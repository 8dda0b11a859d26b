"""Depthwise 2-D convolution: each input channel convolved with M filters of its own, NHWC input,
(R, S, C, M) kernel, (N, P, Q, C * M) output whose channel c * M + m is filter m of channel c (Keras's
DepthwiseConv2D; PyTorch's conv2d with groups = C).

Strides, padding and dilation as conv2d's (``window.py``). The reference works tap by tap over the
window (``window.window_view`` and ``window.fold``), each tap one array operation over the whole
batch: the input channel's values times its M filters' weight at that tap.

The kernels of ``kernels/depthwise_conv2d.cu`` (float32) are at the bottom, with their wrappers.
"""

from __future__ import annotations

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, current_device, resolve_backend
from cnn_gpu.ops import reduce, window
from cnn_gpu.ops.common import array_module, ceil_div, check_shape, grid_stride_launch, output_array
from cnn_gpu.ops.conv2d import SHAPE_FIELDS, check_conv_operands, conv2d_geometry, shape_scalars
from cnn_gpu.ops.gemm_plans import placeholder_vector
from cnn_gpu.ops.gemm_variants import EPILOGUE_BIAS, EPILOGUE_RELU


KERNEL_LAYOUT = "(R, S, C, depth_multiplier)"


def depthwise_conv2d_geometry(x_shape, w_shape, strides=1, padding="valid", dilation=1):
    """Validated ``window.Geometry`` (conv2d's checks); errors name the argument that is wrong."""
    return conv2d_geometry(x_shape, w_shape, strides, padding, dilation, KERNEL_LAYOUT)


def depthwise_conv2d_output_shape(x_shape, w_shape, strides=1, padding="valid", dilation=1):
    """(N, P, Q, C * M) of ``depthwise_conv2d_forward``."""
    g = depthwise_conv2d_geometry(x_shape, w_shape, strides, padding, dilation)
    return (x_shape[0], *g.out_hw, w_shape[2] * w_shape[3])


def check_depthwise_conv2d(x, w, b=None):
    """Fail unless x, w (and b) are float arrays of one dtype with a bias of shape (C * M,)."""
    check_conv_operands(x, w, KERNEL_LAYOUT)
    if b is not None:
        check_shape(b, (w.shape[2] * w.shape[3],), "b")


def depthwise_conv2d_forward(x, w, b=None, strides=1, padding="valid", dilation=1):
    """y[n, p, q, c*M + m] = sum over r, s of x_padded[n, p*sh + r*dh, q*sw + s*dw, c] * w[r, s, c, m] + b."""
    check_depthwise_conv2d(x, w, b)
    g = depthwise_conv2d_geometry(x.shape, w.shape, strides, padding, dilation)
    windows = window.window_view(window.pad(x, g), g)
    y = sum(windows[:, :, :, r, s, :, None] * w[r, s] for r, s in window.taps(g))
    y = y.reshape(*y.shape[:3], -1)
    return y + b if b is not None else y


def depthwise_conv2d_backward_data(dy, w, x_shape, strides=1, padding="valid", dilation=1):
    """Gradient to the input (N, H, W, C) given dy (N, P, Q, C * M)."""
    g = depthwise_conv2d_geometry(x_shape, w.shape, strides, padding, dilation)
    check_shape(dy, (x_shape[0], *g.out_hw, w.shape[2] * w.shape[3]), "dy", "the forward output's shape")
    dy_by_channel = dy.reshape(*dy.shape[:3], *w.shape[2:])  # (N, P, Q, C, M)
    return window.fold(lambda r, s: (dy_by_channel * w[r, s]).sum(axis=4), g, x_shape, dy.dtype,
                       array_module(dy))


def depthwise_conv2d_backward_filter(x, dy, w_shape, strides=1, padding="valid", dilation=1):
    """Gradients ``(dw, db)`` to the kernel (R, S, C, M) and the bias (C * M,) given dy (N, P, Q, C * M)."""
    w_shape = tuple(w_shape)
    g = depthwise_conv2d_geometry(x.shape, w_shape, strides, padding, dilation)
    check_shape(dy, (x.shape[0], *g.out_hw, w_shape[2] * w_shape[3]), "dy", "the forward output's shape")
    xp = array_module(x)
    windows = window.window_view(window.pad(x, g), g)
    dy_by_channel = dy.reshape(*dy.shape[:3], *w_shape[2:])
    dw = xp.empty(w_shape, dtype=dy.dtype)
    for r, s in window.taps(g):
        dw[r, s] = (windows[:, :, :, r, s, :, None] * dy_by_channel).sum(axis=(0, 1, 2))
    return dw, dy.sum(axis=(0, 1, 2))


# --- kernels: kernels/depthwise_conv2d.cu (float32) ----------------------------------------------
# Their shape scalars are conv2d.cu's (conv_shape.cuh), with K = C * M.

PASSES = ("forward", "backward_data", "backward_filter")
VARIANTS = ("direct", "smem_tile")  # the ladder, in order; each pass has both
LANES = 32  # DW_LANES: the channels of a block's slab, one a lane
TILE_ROWS, TILE_COLS = 8, 8  # rung 2's tile: a row of threads a tile row, TILE_COLS pixels a thread
TILE_TEMPLATE = f"<{TILE_ROWS}, {TILE_COLS}>"
# Rung 2's shared memory, at most: past 48 KiB the loader opts the kernel in to more (as for GEMM's
# deep pipelines), and 64 KiB still leaves room for two blocks an SM on sm_80 (164 KiB) and three on
# sm_90 (228 KiB). A problem whose patch does not fit (a large window, stride, dilation or multiplier)
# runs rung 1 (choose_variant).
MAX_SHARED_BYTES = 64 * 1024
_SHAPE_PARAMS = [Scalar(name, "int32") for name in SHAPE_FIELDS]
_PARAMS = {
    "forward": [Array("x", "float32", ndim=4), Array("w", "float32", ndim=4), Array("bias", "float32", ndim=1),
                Array("y", "float32", ndim=4), *_SHAPE_PARAMS, Scalar("flags", "int32")],
    "backward_data": [Array("dy", "float32", ndim=4), Array("w", "float32", ndim=4),
                      Array("dx", "float32", ndim=4), *_SHAPE_PARAMS],
    # rung 1 writes dw (R, S, C, M), rung 2 a row of partial sums a tile (tiles, R * S * C * M)
    "backward_filter": [Array("x", "float32", ndim=4), Array("dy", "float32", ndim=4), Array("dw", "float32"),
                        *_SHAPE_PARAMS],
}
KERNELS = {(variant, step): Kernel("depthwise_conv2d.cu", f"depthwise_conv2d_{step}_{variant}"
                                   + (TILE_TEMPLATE if variant == "smem_tile" else ""), params)
           for step, params in _PARAMS.items() for variant in VARIANTS}
# The kernels index within one image (and the filter) with int; the batch and the element count
# are 64-bit.
_LARGEST_INDEX = 2**31 - 1


def _tile_grid(step, x_shape, out_hw):
    """Rung 2's grid: a block a tile of the image it walks (the output's for the forward and the filter
    gradient, the input's for the data gradient) by a slab of LANES channels."""
    rows, cols = x_shape[1:3] if step == "backward_data" else out_hw
    return x_shape[0] * ceil_div(rows, TILE_ROWS) * ceil_div(cols, TILE_COLS), ceil_div(x_shape[3], LANES)


def shared_bytes(step, w_shape, g):
    """Rung 2's dynamic shared memory for pass ``step``: its patch, and for the filter gradient the tile's dy."""
    (r, s), (sh, sw), (dh, dw) = g.window, g.strides, g.dilation
    multiplier = w_shape[3]
    if step == "backward_data":
        # The output rows a tile's input rows receive from: span // stride + 1 at most, one more
        # where the stride does not divide the span's start (floor_div in the kernel).
        span_rows, span_cols = TILE_ROWS - 1 + (r - 1) * dh, TILE_COLS - 1 + (s - 1) * dw
        rows = span_rows // sh + 1 + (sh > 1)
        cols = span_cols // sw + 1 + (sw > 1)
        return 4 * rows * cols * LANES * multiplier
    patch = ((TILE_ROWS - 1) * sh + (r - 1) * dh + 1) * ((TILE_COLS - 1) * sw + (s - 1) * dw + 1) * LANES
    tile_dy = TILE_ROWS * TILE_COLS * LANES * multiplier if step == "backward_filter" else 0
    return 4 * (patch + tile_dy)


def choose_variant(step, variant, w_shape, g):
    """``variant`` if named, else rung 2 where its shared memory fits MAX_SHARED_BYTES, else rung 1."""
    if variant is not None:
        if variant not in VARIANTS:
            raise ValueError(f"depthwise_conv2d variant must be one of {VARIANTS}, got {variant!r}")
        if variant == "smem_tile" and shared_bytes(step, w_shape, g) > MAX_SHARED_BYTES:
            raise ValueError(f"depthwise_conv2d {step}: smem_tile needs {shared_bytes(step, w_shape, g)} bytes of "
                             f"shared memory for a {g.window} window at strides {g.strides}, dilation {g.dilation} "
                             f"and multiplier {w_shape[3]}, more than {MAX_SHARED_BYTES}")
        return variant
    return "smem_tile" if shared_bytes(step, w_shape, g) <= MAX_SHARED_BYTES else "direct"


def _check_kernel_arguments(step, x_shape, w_shape, g, *arrays):
    """Refuse float64 (the reference's) and problems whose per-image indices overflow the kernels' int."""
    for name, a in arrays:
        if a is not None and a.dtype != np.float32:
            raise ValueError(f"the depthwise_conv2d kernels compute in float32, got {name} of dtype {a.dtype} "
                             "(float64 runs on the reference, depthwise_conv2d_forward and its backward)")
    (_, h, w, c), (p, q) = x_shape, g.out_hw
    if max(h * w * c, p * q * c * w_shape[3], int(np.prod(w_shape))) > _LARGEST_INDEX:
        raise ValueError(f"depthwise_conv2d {step}: x {tuple(x_shape)} with w {tuple(w_shape)} is too large for "
                         "the kernels' 32-bit indices")


def _launch(step, variant, items, x_shape, w_shape, g, arguments, backend):
    """Pass ``step`` of ``variant``: rung 1 a grid-stride loop over ``items`` outputs, rung 2 a block a tile."""
    if variant == "direct":
        KERNELS[variant, step](*grid_stride_launch(items), arguments, backend=backend)
    else:
        KERNELS[variant, step](_tile_grid(step, x_shape, g.out_hw), (LANES, TILE_ROWS), arguments,
                               shared_mem=shared_bytes(step, w_shape, g), backend=backend)


def depthwise_conv2d_forward_kernel(x, w, b=None, strides=1, padding="valid", dilation=1, relu=False,
                                    variant=None, y=None, backend=None):
    """``depthwise_conv2d_forward`` (plus ReLU if ``relu``) by ``depthwise_conv2d_forward_<variant>``
    (None: choose_variant's choice), into ``y`` if given."""
    check_depthwise_conv2d(x, w, b)
    g = depthwise_conv2d_geometry(x.shape, w.shape, strides, padding, dilation)
    _check_kernel_arguments("forward", x.shape, w.shape, g, ("x", x), ("w", w), ("b", b))
    variant = choose_variant("forward", variant, w.shape, g)
    backend = resolve_backend(backend)
    y = output_array(y, depthwise_conv2d_output_shape(x.shape, w.shape, strides, padding, dilation), np.float32,
                     "y", backend_xp(backend))
    if y.size == 0:
        return y
    flags = (EPILOGUE_BIAS if b is not None else 0) | (EPILOGUE_RELU if relu else 0)
    bias = b if b is not None else placeholder_vector(backend, current_device(backend))
    shape = shape_scalars(x.shape, (*w.shape[:2], w.shape[2], w.shape[2] * w.shape[3]), g)
    _launch("forward", variant, y.size, x.shape, w.shape, g, (x, w, bias, y, *shape, flags), backend)
    return y


def depthwise_conv2d_backward_data_kernel(dy, w, x_shape, strides=1, padding="valid", dilation=1, variant=None,
                                          dx=None, backend=None):
    """``depthwise_conv2d_backward_data`` by ``depthwise_conv2d_backward_data_<variant>`` (None:
    choose_variant's choice), into ``dx`` if given."""
    x_shape = tuple(x_shape)
    g = depthwise_conv2d_geometry(x_shape, w.shape, strides, padding, dilation)
    check_shape(dy, (x_shape[0], *g.out_hw, w.shape[2] * w.shape[3]), "dy", "the forward output's shape")
    _check_kernel_arguments("backward_data", x_shape, w.shape, g, ("dy", dy), ("w", w))
    variant = choose_variant("backward_data", variant, w.shape, g)
    backend = resolve_backend(backend)
    dx = output_array(dx, x_shape, np.float32, "dx", backend_xp(backend))
    if dx.size == 0:
        return dx
    shape = shape_scalars(x_shape, (*w.shape[:2], w.shape[2], w.shape[2] * w.shape[3]), g)
    _launch("backward_data", variant, dx.size, x_shape, w.shape, g, (dy, w, dx, *shape), backend)
    return dx


def depthwise_conv2d_backward_filter_kernel(x, dy, w_shape, strides=1, padding="valid", dilation=1, variant=None,
                                            dw=None, backend=None):
    """``depthwise_conv2d_backward_filter``'s dw (not db: the backend sums dy's columns) by
    ``depthwise_conv2d_backward_filter_<variant>`` (None: choose_variant's choice), into ``dw`` if given.
    Rung 2 leaves a row of partial sums a tile, which reduce.column_sum adds into dw."""
    w_shape = tuple(w_shape)
    g = depthwise_conv2d_geometry(x.shape, w_shape, strides, padding, dilation)
    check_shape(dy, (x.shape[0], *g.out_hw, w_shape[2] * w_shape[3]), "dy", "the forward output's shape")
    _check_kernel_arguments("backward_filter", x.shape, w_shape, g, ("x", x), ("dy", dy))
    variant = choose_variant("backward_filter", variant, w_shape, g)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    dw = output_array(dw, w_shape, np.float32, "dw", xp)
    if dy.size == 0 or dw.size == 0:  # an empty batch: a sum over no outputs
        dw.fill(0)
        return dw
    shape = shape_scalars(x.shape, (*w_shape[:2], w_shape[2], w_shape[2] * w_shape[3]), g)
    if variant == "direct":
        _launch("backward_filter", variant, dw.size, x.shape, w_shape, g, (x, dy, dw, *shape), backend)
        return dw
    partials = xp.empty((_tile_grid("backward_filter", x.shape, g.out_hw)[0], dw.size), dtype=np.float32)
    _launch("backward_filter", variant, dw.size, x.shape, w_shape, g, (x, dy, partials, *shape), backend)
    reduce.column_sum(partials, out=dw.reshape(-1), backend=backend)
    return dw
