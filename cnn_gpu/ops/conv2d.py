"""2-D convolution (cross-correlation, as frameworks compute it), NHWC input, (R, S, C, K) kernel.

Problem names as everywhere in the project: input (N, H, W, C), kernel (R, S, C, K), output
(N, P, Q, K), with strides, ``valid``/``same`` padding and dilation.

The reference is im2col: every window of the padded input gathered into one (N*P*Q, R*S*C) matrix
(a strided view, copied once by the reshape), then a single GEMM per pass:

- forward:         y  = cols @ w            (N*P*Q, K)
- backward filter: dw = cols.T @ dy         (R*S*C, K)
- backward data:   dcols = dy @ w.T, folded back onto the input (``window.fold``)

The kernels of ``kernels/conv2d.cu`` (float32) compute the same three GEMMs without the matrices;
their wrappers are at the bottom.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, replace

import numpy as np

from cnn_gpu.cuda import autotune
from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, current_device, resolve_backend, runs_here
from cnn_gpu.ops import gemm_plans, window
from cnn_gpu.ops.common import (array_module, ceil_div, check_float, check_ndim, check_same_dtype, check_shape,
                                grid_stride_launch, output_array, quads_fit)
from cnn_gpu.ops.gemm_variants import EPILOGUE_BIAS, EPILOGUE_RELU, Tiling
from cnn_gpu.ops.transpose import transpose


def conv2d_geometry(x_shape, w_shape, strides=1, padding="valid", dilation=1, w_layout="(R, S, C, K)"):
    """Validated ``window.Geometry`` of a convolution (of a depthwise one too: its kernel is laid out
    ``w_layout``, the input channels third as here); errors name the argument that is wrong."""
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, H, W, C), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w must be 4-D {w_layout}, got shape {tuple(w_shape)}")
    if x_shape[3] != w_shape[2]:
        raise ValueError(f"x has {x_shape[3]} channels but w expects {w_shape[2]} (w is {tuple(w_shape)})")
    return window.geometry(x_shape[1:3], tuple(w_shape[:2]), strides, padding, dilation)


def conv2d_output_shape(x_shape, w_shape, strides=1, padding="valid", dilation=1):
    """(N, P, Q, K) of ``conv2d_forward`` for these shapes and options."""
    g = conv2d_geometry(x_shape, w_shape, strides, padding, dilation)
    return (x_shape[0], *g.out_hw, w_shape[3])


def check_conv_operands(x, w, w_layout="(R, S, C, K)"):
    """Fail unless x and w are float arrays of one dtype, x 4-D (N, H, W, C) and w 4-D ``w_layout``
    (the transposed and depthwise convolutions' kernels are laid out otherwise)."""
    check_float(x, "x")
    check_float(w, "w")
    check_same_dtype(x, "x", w, "w")
    check_ndim(x, 4, "x", "(N, H, W, C)")
    check_ndim(w, 4, "w", w_layout)


def check_conv2d(x, w, b=None):
    """Fail unless x, w (and b) are float arrays of one dtype with a bias of shape (K,)."""
    check_conv_operands(x, w)
    if b is not None:
        check_shape(b, (w.shape[3],), "b")


def im2col(x, g):
    """(N*P*Q, R*S*C) matrix of every window of ``x``, zero-padded as ``g`` says."""
    cols = window.window_view(window.pad(x, g), g)
    return cols.reshape(-1, cols.shape[3] * cols.shape[4] * cols.shape[5])


def conv2d_forward(x, w, b=None, strides=1, padding="valid", dilation=1):
    """y[n, p, q, k] = sum over r, s, c of x_padded[n, p*sh + r*dh, q*sw + s*dw, c] * w[r, s, c, k] + b[k]."""
    check_conv2d(x, w, b)
    g = conv2d_geometry(x.shape, w.shape, strides, padding, dilation)
    k = w.shape[3]
    y = im2col(x, g) @ w.reshape(-1, k)
    if b is not None:
        y += b
    return y.reshape(x.shape[0], *g.out_hw, k)


def conv2d_backward_data(dy, w, x_shape, strides=1, padding="valid", dilation=1):
    """Gradient to the input (N, H, W, C) given dy (N, P, Q, K)."""
    g = conv2d_geometry(x_shape, w.shape, strides, padding, dilation)
    r, s, c, k = w.shape
    check_shape(dy, (x_shape[0], *g.out_hw, k), "dy", "the forward output's shape")
    dcols = (dy.reshape(-1, k) @ w.reshape(-1, k).T).reshape(dy.shape[0], *g.out_hw, r, s, c)
    return window.fold(lambda i, j: dcols[:, :, :, i, j], g, x_shape, dy.dtype, array_module(dy))


def conv2d_backward_filter(x, dy, w_shape, strides=1, padding="valid", dilation=1):
    """Gradients ``(dw, db)`` to the kernel (R, S, C, K) and the bias (K,) given dy (N, P, Q, K)."""
    g = conv2d_geometry(x.shape, w_shape, strides, padding, dilation)
    k = w_shape[3]
    check_shape(dy, (x.shape[0], *g.out_hw, k), "dy", "the forward output's shape")
    dy_rows = dy.reshape(-1, k)
    dw = im2col(x, g).T @ dy_rows
    return dw.reshape(w_shape), dy_rows.sum(axis=0)


# --- kernels: kernels/conv2d.cu (float32) ---------------------------------------------------------
# Each pass is a GEMM over gathered operands (conv2d.cu's head comment), of M x N outputs summing
# over a depth:  forward N*P*Q x K over R*S*C;  backward data N*H*W x C over R*S*K;  backward filter
# R*S*C x K over N*P*Q.

PASSES = ("forward", "backward_data", "backward_filter")
# The rungs, in ladder order (conv2d.cu, and rung 8 in conv2d_wgmma.cu); each pass has every one. Rungs 5
# to 8 come in 3xTF32 and in plain TF32 (each the other's kernel at TF32's accuracy): only a caller who
# names a plain one gets it.
VARIANTS = ("direct", "implicit_gemm", "implicit_gemm_precomputed", "implicit_gemm_3xtf32",
            "implicit_gemm_3xtf32_pipelined", "implicit_gemm_tf32_pipelined", "implicit_gemm_3xtf32_quads",
            "implicit_gemm_tf32_quads", "implicit_gemm_3xtf32_large", "implicit_gemm_tf32_large",
            "implicit_gemm_3xtf32_wgmma", "implicit_gemm_tf32_wgmma")
TILED_VARIANTS = VARIANTS[1:]  # the ones a block tile (ConvTile) runs
# TF32's accuracy (about 1e-3), not float32's.
TF32_VARIANTS = ("implicit_gemm_tf32_pipelined", "implicit_gemm_tf32_quads", "implicit_gemm_tf32_large",
                 "implicit_gemm_tf32_wgmma")
FP32_VARIANTS = tuple(v for v in VARIANTS if v not in TF32_VARIANTS)  # the autotuner's candidates
# What the emulator runs unless told: rung 6, the top FP32 rung but for rungs 7 and 8, which compute the
# same on tiles four times as large (the emulator's fibers run them no faster, and small layers pad them).
EMULATE_DEFAULT = "implicit_gemm_3xtf32_quads"
NONFINITE_VARIANT = "implicit_gemm_precomputed"  # for operands holding NaN or inf (choose_variant)
VARIANT_ENV = "CNN_GPU_CONV2D_VARIANT"  # forces a variant on every pass, as CNN_GPU_GEMM_VARIANT does for gemm()
# The autotuner's limit on a candidate's max |out - ref| / max |ref|: float32's rounding is far below it.
AUTOTUNE_MAX_ERROR = 1e-4
# The autotuner's answers in this process, by (pass, shapes, geometry, device index).
_TUNED = autotune.memo("conv2d")
# ConvShape's fields, in the order of conv2d.cu's CONV_SHAPE_PARAMS.
SHAPE_FIELDS = ("N", "H", "W", "C", "K", "R", "S", "P", "Q", "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w")
_SHAPE_PARAMS = [Scalar(name, "int32") for name in SHAPE_FIELDS]
# The kernels index GEMM rows, columns and depth with int, as far as a tile (at most 128) past the
# end and one K-tile more.
_LARGEST_INDEX = 2**31 - 1 - 256


@dataclass(frozen=True)
class ConvTile:
    """An implicit-GEMM block tile: BM x BN outputs, BK deep, TM x TN of them per thread
    (RegisterBlockedTile), or per warp of ``lanes`` = 32 threads (TensorCoreTile: TM x TN = WM x WN);
    ``stages`` shared-memory buffers where the tile is pipelined (PipelinedTensorCoreTile), else 0, and
    then ``min_blocks``, __launch_bounds__'s blocks per SM that the compiler must leave registers for."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int
    lanes: int = 1
    stages: int = 0
    min_blocks: int = 0
    swizzled: bool = False  # rung 8's: wgmma's 128-byte-swizzled stages (conv2d_wgmma.cu)

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn) * self.lanes

    @property
    def template_arguments(self) -> str:
        pipeline = f", {self.stages}, {self.min_blocks}" if self.stages else ""
        return f"{self.bm}, {self.bn}, {self.bk}, {self.tm}, {self.tn}{pipeline}"

    def shared_bytes(self, k_contiguous, split) -> int:
        """The dynamic shared memory of a pipelined tile (PipelinedTensorCoreTile, conv2d.cu): ``stages``
        x (A tile + B tile), a tile ``rows x (bk + 4)`` floats where ``k_contiguous`` says it is (its
        entry for A, then B), else ``bk x (rows + 8)``; of a swizzled one (rung 8) GEMM rung 9's, with
        3xTF32's small parts where ``split``; 0 for the others, whose tiles are static."""
        if self.swizzled:
            return Tiling(self.bm, self.bn, self.bk, self.tm, self.tn, self.stages, self.min_blocks,
                          self.lanes).swizzled_shared_bytes(split)

        def tile(rows, k_contiguous):
            return rows * (self.bk + 4) if k_contiguous else self.bk * (rows + 8)
        return self.stages * (tile(self.bm, k_contiguous[0]) + tile(self.bn, k_contiguous[1])) * 4


# gemm_split_k's 64 x 64 tile; and 128 x 32 where the GEMM's N (the filters; the channels for the
# data gradient) is 32 or fewer, as the seed model's 32 filters, which a 64-wide tile would pad
# with as many columns of zeros. The tensor-core rung's tiles are the same sizes, four warps of
# 32 x 32 each: 128 threads, as the others, which rung 3's loaders need (a multiple of BK and BM).
SQUARE_TILE = ConvTile(64, 64, 16, 8, 4)
NARROW_TILE = ConvTile(128, 32, 16, 8, 4)
TENSOR_CORE_SQUARE_TILE = ConvTile(64, 64, 16, 32, 32, lanes=32)
TENSOR_CORE_NARROW_TILE = ConvTile(128, 32, 16, 32, 32, lanes=32)
PIPELINE_STAGES = 3  # rung 5's buffers: two K-tiles in flight while one is computed (4 fit too; untried)
PIPELINE_MIN_BLOCKS = 3  # rungs 5 and 6: three blocks of 128 threads an SM (conv2d.cu, rung 5's registers)
# Rung 7's tiles (conv2d.cu): GEMM rung 8's 3xTF32 block tile, 128 x 128 of 8 warps of 64 x 32, and
# 128 x 64 of 4 such warps where the GEMM's N is 64 or fewer; 3xTF32 at one block an SM on the first
# (213-235 registers) and two on the second. Plain TF32 takes fewer registers: two blocks an SM on both.
LARGE_3XTF32_TILES = (ConvTile(128, 128, 16, 64, 32, lanes=32, stages=PIPELINE_STAGES, min_blocks=1),
                      ConvTile(128, 64, 16, 64, 32, lanes=32, stages=PIPELINE_STAGES, min_blocks=2))
LARGE_TF32_TILES = (replace(LARGE_3XTF32_TILES[0], min_blocks=2), LARGE_3XTF32_TILES[1])
# Rung 8's tile (conv2d_wgmma.cu): GEMM rung 9's 3xTF32 one (WGMMA_TILING), two warpgroups of 64 x 128,
# K-tiles of 32, 4 stages, for either precision and any N (no narrow one: wgmma's N is 128 or 256 here).
WGMMA_TILE = ConvTile(128, 128, 32, 64, 128, lanes=128, stages=4, min_blocks=1, swizzled=True)
# Each tiled rung's (square, narrow) tiles.
TILES = {
    "implicit_gemm": (SQUARE_TILE, NARROW_TILE),
    "implicit_gemm_precomputed": (SQUARE_TILE, NARROW_TILE),
    "implicit_gemm_3xtf32": (TENSOR_CORE_SQUARE_TILE, TENSOR_CORE_NARROW_TILE),
    "implicit_gemm_3xtf32_large": LARGE_3XTF32_TILES,
    "implicit_gemm_tf32_large": LARGE_TF32_TILES,
    "implicit_gemm_3xtf32_wgmma": (WGMMA_TILE, WGMMA_TILE),
    "implicit_gemm_tf32_wgmma": (WGMMA_TILE, WGMMA_TILE),
}
# Rungs 5 and 6, in both precisions, on the same pipelined tiles.
PIPELINED_VARIANTS = ("implicit_gemm_3xtf32_pipelined", "implicit_gemm_tf32_pipelined", "implicit_gemm_3xtf32_quads",
                      "implicit_gemm_tf32_quads")
TILES |= {variant: tuple(replace(tile, stages=PIPELINE_STAGES, min_blocks=PIPELINE_MIN_BLOCKS)
                         for tile in (TENSOR_CORE_SQUARE_TILE, TENSOR_CORE_NARROW_TILE))
          for variant in PIPELINED_VARIANTS}
# Each tiled variant's kernel, by the name conv2d.cu gives it after conv2d_<pass>_, and the template
# arguments after its tile's: rung 5's kernel, and rung 6's, serve both precisions (SPLIT, as GEMM's
# gemm_tf32_mma), and rung 7 is rung 6's kernel on its own tiles.
KERNEL_OF_VARIANT = {variant: (variant, "") for variant in TILED_VARIANTS} | {
    "implicit_gemm_3xtf32_pipelined": ("implicit_gemm_tf32_pipelined", ", true"),
    "implicit_gemm_tf32_pipelined": ("implicit_gemm_tf32_pipelined", ", false"),
    "implicit_gemm_3xtf32_quads": ("implicit_gemm_tf32_quads", ", true"),
    "implicit_gemm_tf32_quads": ("implicit_gemm_tf32_quads", ", false"),
    "implicit_gemm_3xtf32_large": ("implicit_gemm_tf32_quads", ", true"),
    "implicit_gemm_tf32_large": ("implicit_gemm_tf32_quads", ", false"),
    "implicit_gemm_3xtf32_wgmma": ("implicit_gemm_wgmma", ", true"),
    "implicit_gemm_tf32_wgmma": ("implicit_gemm_wgmma", ", false"),
}
# Rung 8, Hopper's (wgmma), differs from the others in three ways (conv2d_wgmma.cu says why): its kernels
# are in a file built for sm_90a alone (cnn_gpu/cuda/sources.py); its forward reads W transposed, which
# the wrapper makes first (filters_transposed); and it has no filter gradient of its own, but runs rung
# 7's in the same precision.
WGMMA_VARIANTS = ("implicit_gemm_3xtf32_wgmma", "implicit_gemm_tf32_wgmma")
KERNEL_FILE = dict.fromkeys(WGMMA_VARIANTS, "conv2d_wgmma.cu")
W_TRANSPOSED = {(variant, "forward") for variant in WGMMA_VARIANTS}
PASS_FALLBACK = {(variant, "backward_filter"): variant.replace("wgmma", "large") for variant in WGMMA_VARIANTS}
# Rungs 6 to 8 copy four channels of a pixel at a time (conv2d.cu, conv2d_wgmma.cu): where a pass's
# operands do not allow it (quads_fit of their channels), the pass runs rung 5 in the same precision
# instead, whose sums are rungs 6's and 7's, bit for bit.
QUADS_FALLBACK = {"implicit_gemm_3xtf32_quads": "implicit_gemm_3xtf32_pipelined",
                  "implicit_gemm_tf32_quads": "implicit_gemm_tf32_pipelined",
                  "implicit_gemm_3xtf32_large": "implicit_gemm_3xtf32_pipelined",
                  "implicit_gemm_tf32_large": "implicit_gemm_tf32_pipelined",
                  "implicit_gemm_3xtf32_wgmma": "implicit_gemm_3xtf32_pipelined",
                  "implicit_gemm_tf32_wgmma": "implicit_gemm_tf32_pipelined"}
# Which of each pass's two shared tiles (A, B) are k-contiguous in rung 6's kernels (TensorCoreTile's
# A_K and B_K, conv2d.cu): what their shared memory takes (ConvTile.shared_bytes). Rung 5's are k-major.
QUADS_K_CONTIGUOUS = {"forward": (True, False), "backward_data": (True, True), "backward_filter": (False, False)}
# The filter gradient's slices: gemm_split_k's policy (made for its RegisterBlockedTile, which rungs 2
# and 3 run, and rungs 4 to 6 on the same sizes), for each rung's own tile (_backward_filter_split_k).
FILTER_SPLIT_POLICY = gemm_plans.SPLIT_K_POLICIES["gemm_split_k"]

_PARAMS = {
    "forward": [Array("x", "float32", ndim=4), Array("w", "float32", ndim=4), Array("bias", "float32", ndim=1),
                Array("y", "float32", ndim=4), *_SHAPE_PARAMS, Scalar("flags", "int32")],
    "backward_data": [Array("dy", "float32", ndim=4), Array("w", "float32", ndim=4), Array("dx", "float32", ndim=4),
                      *_SHAPE_PARAMS],
    "backward_filter": [Array("x", "float32", ndim=4), Array("dy", "float32", ndim=4), Array("dw", "float32", ndim=4),
                        *_SHAPE_PARAMS],
}
_SPLIT_PARAMS = [*_PARAMS["backward_filter"][:3], Array("partials", "float32", ndim=1), *_SHAPE_PARAMS,
                 Scalar("k_per_split", "int32")]
# Rung 8's forward reads W transposed, K x R*S*C (filters_transposed).
_WT_PARAMS = [_PARAMS["forward"][0], Array("wt", "float32", ndim=2), *_PARAMS["forward"][2:]]


def _params(variant, step):
    """The parameters of ``variant``'s kernel for pass ``step``."""
    if step == "backward_filter":
        return _SPLIT_PARAMS
    return _WT_PARAMS if (variant, step) in W_TRANSPOSED else _PARAMS[step]


KERNELS = {("direct", step, None): Kernel("conv2d.cu", f"conv2d_{step}_direct", params)
           for step, params in _PARAMS.items()} | {
    (variant, step, tile): Kernel(KERNEL_FILE.get(variant, "conv2d.cu"),
                                  f"conv2d_{step}_{KERNEL_OF_VARIANT[variant][0]}"
                                  f"<{tile.template_arguments}{KERNEL_OF_VARIANT[variant][1]}>", _params(variant, step))
    for step in PASSES for variant in TILED_VARIANTS for tile in TILES[variant] if (variant, step) not in PASS_FALLBACK
}


def conv2d_gemm_shape(step, x_shape, w_shape, g):
    """``(M, N, depth)`` of pass ``step`` as a GEMM (the table above)."""
    n, h, w, c = x_shape
    r, s, _, k = w_shape
    p, q = g.out_hw
    return {"forward": (n * p * q, k, r * s * c), "backward_data": (n * h * w, c, r * s * k),
            "backward_filter": (r * s * c, k, n * p * q)}[step]


def _check_kernel_arguments(step, variant, x_shape, w_shape, g, *arrays):
    """Refuse what the kernels cannot take, naming it: an unknown variant (None lets choose_variant
    choose), float64 (the reference's), a problem whose GEMM dimensions, filter elements or elements
    of one (padded) image overflow the kernels' int indices."""
    if variant is not None and variant not in VARIANTS:
        raise ValueError(f"conv2d variant must be one of {VARIANTS}, got {variant!r}")
    for name, a in arrays:
        if a is not None and a.dtype != np.float32:
            raise ValueError(f"the conv2d kernels compute in float32, got {name} of dtype {a.dtype} "
                             "(float64 convolutions run on the reference, conv2d_forward and its backward)")
    # A tap's offset within one image, as far as the window reaches past it (rung 3's filter gradient).
    (r, s), (dil_h, dil_w) = w_shape[:2], g.dilation
    image = (x_shape[1] + (r - 1) * dil_h + 1) * (x_shape[2] + (s - 1) * dil_w + 1) * x_shape[3]
    # math.prod, not np.prod: NumPy's takes microseconds to make an array of the shape first (per call).
    if max(*conv2d_gemm_shape(step, x_shape, w_shape, g), math.prod(w_shape), image) > _LARGEST_INDEX:
        raise ValueError(f"conv2d {step}: x {tuple(x_shape)} with w {tuple(w_shape)} is too large for the kernels' "
                         "32-bit indices")


def shape_scalars(x_shape, w_shape, g):
    """The CONV_SHAPE_PARAMS values (SHAPE_FIELDS order)."""
    (pad_h, _), (pad_w, _) = g.pads
    return (*x_shape, w_shape[3], *w_shape[:2], *g.out_hw, *g.strides, pad_h, pad_w, *g.dilation)


def _tile_for(variant, gemm_n):
    square, narrow = TILES[variant]
    return narrow if gemm_n <= narrow.bn else square


def _running_variant(step, variant, channel_quads):
    """The variant whose kernel runs pass ``step`` of ``variant``: rung 8's filter gradient is rung 7's
    (PASS_FALLBACK), and rungs 6 to 8 run only where ``channel_quads`` (quads_fit of the channels:
    nhwc.cuh's channel_quads_fit), else rung 5 (QUADS_FALLBACK)."""
    variant = PASS_FALLBACK.get((variant, step), variant)
    return variant if channel_quads else QUADS_FALLBACK.get(variant, variant)


def filters_transposed(w, backend):
    """W (R, S, C, K) as the matrix W^T, K x R*S*C, in a workspace of the process kept for its shape:
    transpose.cu's tiled kernel, one read and one write of W."""
    depth, k = math.prod(w.shape[:3]), w.shape[3]
    wt = gemm_plans.split_k_workspace(backend, current_device(backend), (k, depth), owner="conv2d W^T")
    return transpose(w.reshape(depth, k), out=wt, backend=backend)


def _launch(step, variant, gemm, arguments, backend, splits=1, channel_quads=False):
    """Launch pass ``step`` of ``variant`` (_running_variant's kernel) for a GEMM of ``gemm`` = (M, N,
    depth): the direct kernels a thread per output element, the implicit GEMM a block per output tile
    (and slice)."""
    m, n, _ = gemm
    if m * n == 0:  # an empty batch (or filter): nothing to compute
        return
    variant = _running_variant(step, variant, channel_quads)
    if (variant, step) in W_TRANSPOSED:
        arguments = (arguments[0], filters_transposed(arguments[1], backend), *arguments[2:])
    if variant == "direct":
        KERNELS["direct", step, None](*grid_stride_launch(m * n), arguments, backend=backend)
        return
    tile = _tile_for(variant, n)
    quads = KERNEL_OF_VARIANT[variant][0] == "implicit_gemm_tf32_quads"
    shared_mem = tile.shared_bytes(QUADS_K_CONTIGUOUS[step] if quads else (False, False),
                                   split=variant not in TF32_VARIANTS)
    KERNELS[variant, step, tile]((ceil_div(m, tile.bm), ceil_div(n, tile.bn), splits), (tile.threads,),
                                 arguments, shared_mem, backend=backend)


def conv2d_forward_kernel(x, w, b=None, strides=1, padding="valid", dilation=1, relu=False, variant=None,
                          y=None, backend=None):
    """``conv2d_forward`` (plus ReLU if ``relu``) by kernel ``conv2d_forward_<variant>`` (None: choose_variant's
    choice), into ``y`` if given."""
    check_conv2d(x, w, b)
    g = conv2d_geometry(x.shape, w.shape, strides, padding, dilation)
    _check_kernel_arguments("forward", variant, x.shape, w.shape, g, ("x", x), ("w", w), ("b", b))
    backend = resolve_backend(backend)
    y_shape = conv2d_output_shape(x.shape, w.shape, strides, padding, dilation)
    y = output_array(y, y_shape, np.float32, "y", backend_xp(backend))
    flags = (EPILOGUE_BIAS if b is not None else 0) | (EPILOGUE_RELU if relu else 0)
    bias = b if b is not None else gemm_plans.placeholder_vector(backend, current_device(backend))
    gemm = conv2d_gemm_shape("forward", x.shape, w.shape, g)
    channel_quads = quads_fit(x.shape[3], x)

    def run(name, out, flags=flags):
        _launch("forward", name, gemm, (x, w, bias, out, *shape_scalars(x.shape, w.shape, g), flags), backend,
                channel_quads=channel_quads)

    def reference():
        return conv2d_forward(x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64),
                              strides, padding, dilation)

    # The autotuner times and checks the candidates without the ReLU, which its choice (kept for the
    # problem, with or without one) does not depend on: through a ReLU, a candidate's errors on
    # negative outputs, and a -inf that says the operands are not finite, would be clamped to 0.
    def run_without_relu(name, out):
        run(name, out, flags & ~EPILOGUE_RELU)

    run(choose_variant("forward", variant, x.shape, w.shape, g, backend, run_without_relu, y, reference), y)
    return y


def conv2d_backward_data_kernel(dy, w, x_shape, strides=1, padding="valid", dilation=1, variant=None,
                                dx=None, backend=None):
    """``conv2d_backward_data`` by kernel ``conv2d_backward_data_<variant>`` (None: choose_variant's
    choice), into ``dx`` if given."""
    x_shape = tuple(x_shape)
    g = conv2d_geometry(x_shape, w.shape, strides, padding, dilation)
    check_shape(dy, (x_shape[0], *g.out_hw, w.shape[3]), "dy", "the forward output's shape")
    _check_kernel_arguments("backward_data", variant, x_shape, w.shape, g, ("dy", dy), ("w", w))
    backend = resolve_backend(backend)
    dx = output_array(dx, x_shape, np.float32, "dx", backend_xp(backend))
    gemm = conv2d_gemm_shape("backward_data", x_shape, w.shape, g)
    channel_quads = quads_fit(w.shape[3], dy, w)

    def run(name, out):
        _launch("backward_data", name, gemm, (dy, w, out, *shape_scalars(x_shape, w.shape, g)), backend,
                channel_quads=channel_quads)

    def reference():
        return conv2d_backward_data(dy.astype(np.float64), w.astype(np.float64), x_shape, strides, padding, dilation)

    run(choose_variant("backward_data", variant, x_shape, w.shape, g, backend, run, dx, reference), dx)
    return dx


def conv2d_backward_filter_kernel(x, dy, w_shape, strides=1, padding="valid", dilation=1, variant=None,
                                  dw=None, backend=None):
    """``conv2d_backward_filter``'s dw (not db: the backend sums dy's columns, as for Dense) by kernel
    ``conv2d_backward_filter_<variant>`` (None: choose_variant's choice), into ``dw`` if given."""
    w_shape = tuple(w_shape)
    g = conv2d_geometry(x.shape, w_shape, strides, padding, dilation)
    check_shape(dy, (x.shape[0], *g.out_hw, w_shape[3]), "dy", "the forward output's shape")
    _check_kernel_arguments("backward_filter", variant, x.shape, w_shape, g, ("x", x), ("dy", dy))
    backend = resolve_backend(backend)
    dw = output_array(dw, w_shape, np.float32, "dw", backend_xp(backend))
    shape = shape_scalars(x.shape, w_shape, g)
    gemm = conv2d_gemm_shape("backward_filter", x.shape, w_shape, g)
    channel_quads = quads_fit(x.shape[3], x)

    def run(name, out):
        if gemm[2] == 0:  # an empty batch: a sum over no outputs
            out.fill(0)
        elif name == "direct":
            _launch("backward_filter", name, gemm, (x, dy, out, *shape), backend)
        else:
            _backward_filter_split_k(name, x, dy, out, shape, gemm, backend, channel_quads)

    def reference():
        return conv2d_backward_filter(x.astype(np.float64), dy.astype(np.float64), w_shape, strides, padding,
                                      dilation)[0]

    run(choose_variant("backward_filter", variant, x.shape, w_shape, g, backend, run, dw, reference), dw)
    return dw


def choose_variant(step, variant, x_shape, w_shape, g, backend, run, out, reference):
    """The variant that runs pass ``step``: ``variant``, else $CNN_GPU_CONV2D_VARIANT, else
    EMULATE_DEFAULT under the emulator, else the autotuner's choice among FP32_VARIANTS for this problem and GPU
    (cnn_gpu.cuda.autotune, as gemm() has): ``run(name, out)`` launches variant ``name`` into ``out``,
    each candidate is checked against ``reference()`` (float64) and the fastest correct one kept.
    The reference is computed on the first call of a problem only."""
    if variant is not None:
        return variant
    forced = os.environ.get(VARIANT_ENV)
    if forced:
        if forced not in VARIANTS:
            raise ValueError(f"${VARIANT_ENV} must name a conv2d variant ({', '.join(VARIANTS)}), got {forced!r}")
        return forced
    if backend != "cuda":  # the emulator has no GPU to time candidates on: the top FP32 rung
        return EMULATE_DEFAULT
    problem = (step, tuple(x_shape), tuple(w_shape), g, current_device(backend))
    if problem not in _TUNED:
        xp = backend_xp(backend)
        expected = reference()
        if not bool(xp.isfinite(expected).all()):
            # NaN or inf in the operands: nothing to check a candidate against, so nothing is timed or
            # kept, and the pass runs rung 3 (whose results are IEEE's, where 3xTF32 turns an inf
            # into NaN) until a call with finite operands chooses.
            return NONFINITE_VARIANT
        scale = max(float(xp.abs(expected).max()) if expected.size else 0.0, 1e-30)  # (CuPy has no initial=)
        scratch = xp.empty_like(out)

        def check(name):
            trial = xp.full_like(out, xp.nan)
            run(name, trial)
            # Element by element, against the output's largest magnitude: one wrong element fails.
            error = float(xp.abs(trial - expected).max()) / scale if out.size else 0.0
            return None if error <= AUTOTUNE_MAX_ERROR else f"an element off by {error:.1e} of the largest"

        # "relu": False: the candidates are timed and checked without the ReLU (choices cached before
        # c9203ca judged them through it, and are not reused).
        key = {"pass": step, "x": list(x_shape), "w": list(w_shape), "strides": list(g.strides), "pads": list(g.pads),
               "dilation": list(g.dilation), "dtype": "float32", "relu": False}
        _TUNED[problem] = autotune.choose("conv2d", key, {name: functools.partial(run, name, scratch)
                                                             for name in autotune_candidates(step, backend)},
                                          check=check)
    return _TUNED[problem]


def autotune_candidates(step, backend):
    """The FP32-accurate variants the autotuner times for pass ``step`` on ``backend``: each whose kernels'
    file the device runs (runs_here: rung 8 is Hopper's), not one that runs another's kernel for this
    pass (PASS_FALLBACK), which that one's timing covers, and none that $CNN_GPU_AUTOTUNE_EXCLUDE names."""
    excluded = autotune.excluded(VARIANTS)
    return [name for name in FP32_VARIANTS if name not in excluded
            and runs_here(KERNEL_FILE.get(name, "conv2d.cu"), backend) and (name, step) not in PASS_FALLBACK]


def _backward_filter_split_k(variant, x, dy, dw, shape, gemm, backend, channel_quads):
    """An implicit-GEMM filter gradient (``variant``; ``channel_quads`` as _launch's): its depth (N*P*Q)
    cut into slices as gemm_split_k's is, then the slices summed into dw by gemm_split_k_reduce (none
    with one slice)."""
    rows, k, depth = gemm
    running = _running_variant("backward_filter", variant, channel_quads)
    tile, device = _tile_for(running, k), current_device(backend)
    splits, k_per_split = gemm_plans.split_k_slices(rows, k, depth, gemm_plans.device_sm_count(backend, device),
                                                    FILTER_SPLIT_POLICY, (tile.bm, tile.bn, tile.bk))
    k4 = ceil_div(k, 4) * 4
    partials = (gemm_plans.split_k_workspace(backend, device, splits * rows * k4) if splits > 1
                else gemm_plans.placeholder_vector(backend, device))
    _launch("backward_filter", variant, gemm, (x, dy, dw, partials, *shape, k_per_split), backend, splits,
            channel_quads)
    if splits > 1:
        reduce = gemm_plans.SPLIT_K_REDUCE[FILTER_SPLIT_POLICY.reduce_groups]
        quads = gemm_plans.SPLIT_K_REDUCE_QUADS
        reduce((ceil_div(rows * k4 // 4, quads),), (quads, FILTER_SPLIT_POLICY.reduce_groups),
               (partials, dw.reshape(rows, k), gemm_plans.placeholder_vector(backend, device), rows, k, splits,
                1.0, 0.0, 0), backend=backend)
