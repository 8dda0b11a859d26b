"""Matrix products: the float64 GEMM reference with the kernels' options, Dense forward/backward,
and ``gemm``, the wrapper of the GEMM kernel ladder (kernels/gemm_simt.cu, kernels/gemm_tensorcore.cu,
kernels/gemm_wgmma.cu, kernels/gemm_small.cu).

``gemm_reference`` is what every GEMM kernel is checked against; the Dense ops are the CPU path and
use the array module's own product in the inputs' dtype.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace

import numpy as np

from cnn_gpu.cuda import autotune, tensor_map
from cnn_gpu.cuda.kernel import (MAX_GRID, Array, Kernel, Scalar, backend_xp, check_launch, current_device,
                                 resolve_backend, runs_here)
from cnn_gpu.ops.common import array_module, ceil_div, check_float, check_ndim, check_same_dtype, check_shape
from cnn_gpu.ops.transpose import transpose


def gemm_reference(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, relu=False):
    """``relu?(alpha * op(a) @ op(b) + beta * c + bias)`` in float64, ``op`` transposing when asked.

    The epilogue runs in that order: scale, add ``beta * c`` (an (M, N) matrix), add ``bias`` (N,)
    to every row, then clamp at zero. Returns a float64 (M, N) array.
    """
    xp = array_module(a)
    for name, m in (("a", a), ("b", b)):
        check_float(m, name)
        check_ndim(m, 2, name, "(rows, cols)")
    a64 = (a.T if trans_a else a).astype(xp.float64)
    b64 = (b.T if trans_b else b).astype(xp.float64)
    if a64.shape[1] != b64.shape[0]:
        raise ValueError(f"op(a) is {a64.shape} and op(b) is {b64.shape}: inner dimensions differ")
    out = alpha * (a64 @ b64)
    if c is not None:
        out += beta * check_shape(c, out.shape, "c").astype(xp.float64)
    if bias is not None:
        out += check_shape(bias, (out.shape[1],), "bias").astype(xp.float64)
    return xp.maximum(out, 0) if relu else out


def check_dense(x, w, b=None):
    """Fail with a message naming the argument unless x (N, I), w (I, O) and b (O,) fit together."""
    check_float(x, "x")
    check_float(w, "w")
    check_same_dtype(x, "x", w, "w")
    check_ndim(x, 2, "x", "(batch, features)")
    check_ndim(w, 2, "w", "(in_features, units)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} features but w expects {w.shape[0]} (w is {tuple(w.shape)})")
    if b is not None:
        check_shape(b, (w.shape[1],), "b")


def dense_forward(x, w, b=None):
    """``x @ w + b`` for x (N, I), w (I, O), b (O,) or None."""
    check_dense(x, w, b)
    y = x @ w
    if b is not None:
        y += b
    return y


def dense_backward_data(dy, w):
    """Gradient to the input: ``dy @ w.T``."""
    if dy.ndim != 2 or dy.shape[1] != w.shape[1]:
        raise ValueError(f"dy must be (batch, {w.shape[1]}) for w of shape {tuple(w.shape)}, got {tuple(dy.shape)}")
    return dy @ w.T


def dense_backward_weights(x, dy):
    """Gradients ``(dw, db)``: ``x.T @ dy`` and the batch sum of ``dy``."""
    if dy.ndim != 2 or dy.shape[0] != x.shape[0]:
        raise ValueError(f"dy must be ({x.shape[0]}, units) for x of shape {tuple(x.shape)}, got {tuple(dy.shape)}")
    return x.T @ dy, dy.sum(axis=0)


# --- the ladder's kernels: kernels/gemm_simt.cu, gemm_tensorcore.cu, gemm_wgmma.cu, gemm_small.cu ---
# ``gemm`` computes relu?(alpha * op(a) @ op(b) + beta * c + bias) in float32 with one of the ladder's
# kernels, the same function as ``gemm_reference`` above. Each kernel is a template on the transposes,
# declared here once per instance; the 16-byte-load rungs decide their load width themselves
# (float4_loads_fit in gemm_common.cuh).

# The epilogue bits of gemm_common.cuh.
EPILOGUE_BIAS, EPILOGUE_RELU = 1, 2
# The (trans_a, trans_b) combinations the kernels are built for: Dense forward, backward to data,
# backward to weights.
TRANSPOSES = ((False, False), (False, True), (True, False))
# The environment variable that forces one variant everywhere (like the ``variant=`` argument), and
# the one that keeps variants out of the autotuner (autotune_excluded).
VARIANT_ENV = "CNN_GPU_GEMM_VARIANT"
AUTOTUNE_EXCLUDE_ENV = "CNN_GPU_AUTOTUNE_EXCLUDE"

# gemm()'s arguments as the kernels declare them. gemm() checks each array (device too) and casts
# alpha and beta once per call with these, under its own name, as a launch would; a GemmPlan keeps
# the rest per problem shape, and the kernel takes all of them unchecked (Kernel.launch_checked).
GEMM_OPERANDS = {name: Array(name, "float32", ndim=ndim)
                 for name, ndim in [("a", 2), ("b", 2), ("c", 2), ("bias", 1), ("out", 2)]}
ALPHA, BETA = Scalar("alpha", "float32"), Scalar("beta", "float32")
GEMM_PARAMS = [
    *(GEMM_OPERANDS[name] for name in ("a", "b", "c", "bias")), Scalar("M", "int32"), Scalar("N", "int32"),
    Scalar("K", "int32"), ALPHA, BETA, Scalar("flags", "int32"),
]


@dataclass(frozen=True)
class Tiling:
    """The template arguments of a tiled cp.async kernel (gemm_warptiled_double_buffered, gemm_tf32_mma).

    A block computes a ``block_m`` x ``block_n`` tile of C with warps of ``warp_m`` x ``warp_n``,
    stepping through K ``block_k`` at a time with ``stages`` shared-memory buffers (cp.async in flight
    for all but one). ``min_blocks`` is ``__launch_bounds__``'s second argument: the blocks per SM the
    compiler must leave registers for. ``group_threads`` is how many threads share one warp tile: a
    warp's 32, or a wgmma warpgroup's 128.
    """

    block_m: int
    block_n: int
    block_k: int
    warp_m: int
    warp_n: int
    stages: int
    min_blocks: int = 1
    group_threads: int = 32

    @property
    def threads(self) -> int:
        return (self.block_m // self.warp_m) * (self.block_n // self.warp_n) * self.group_threads

    @property
    def label(self) -> str:
        """``128x256x32_w64x64_s3`` (block tile, warp tile, stages; ``_b2`` for min_blocks = 2)."""
        blocks = f"_b{self.min_blocks}" if self.min_blocks > 1 else ""
        return (f"{self.block_m}x{self.block_n}x{self.block_k}_w{self.warp_m}x{self.warp_n}_s{self.stages}"
                f"{blocks}")

    def template_arguments(self) -> str:
        return (f"{self.block_m}, {self.block_n}, {self.block_k}, {self.warp_m}, {self.warp_n}, {self.stages}, "
                f"{self.min_blocks}")

    def shared_bytes(self, trans_a, trans_b, mn_pad) -> int:
        """Dynamic shared memory by StagedTiles' layout (gemm_common.cuh): ``stages`` x (A tile + B tile),
        a k-contiguous tile ``rows x (block_k + 4)`` floats, an mn-contiguous one ``block_k x (rows + mn_pad)``."""
        def tile(rows, k_contiguous):
            return rows * (self.block_k + 4) if k_contiguous else self.block_k * (rows + mn_pad)
        return self.stages * (tile(self.block_m, not trans_a) + tile(self.block_n, trans_b)) * 4

    def swizzled_shared_bytes(self, split: bool, mbarriers_per_stage: int = 0) -> int:
        """Dynamic shared memory of the wgmma rungs: ``stages`` x (A tile + B tile), 128 bytes (32 floats
        of k) per row of either, one more pair for 3xTF32's small parts (``split``), 8-byte mbarriers
        per stage (one for gemm_tf32_wgmma_tma, two for the warp-specialized rungs), and 1024 bytes to
        align the tiles to the swizzle's period."""
        return ((self.stages + split) * (self.block_m + self.block_n) * 128 + 8 * self.stages * mbarriers_per_stage
                + 1024)


# The tilings of the ladder's tiled rungs, one constant each: benchmarks/gemm.py --sweep times
# GEMM_SWEEP at 4096^3, A.B only, and a winner becomes the default here if every transpose instance
# compiles without spills for sm_80 and sm_90 (tests/cuda/test_compile.py) and passes the emulation
# tests: A.B^T and A^T.B take it untimed. Figures: benchmarks/results/gemm_sweep.json, NVIDIA H100,
# commit 2c9911a, in TFLOP/s at 4096^3 A.B and against cuBLAS in the same run (cuBLAS FP32 51.2,
# TF32 382.6). Rungs 7's and 8's defaults were chosen by an H200's sweep at d395d83, 9's and 9b's by
# this one.
# SIMT: 41.2 = 80.6% of cuBLAS FP32; the same with 3 stages 42.0, no further from it than the
# ladder's timing of this one (41.8) is. Two blocks per SM at 127 registers (gemm_counters.json).
SIMT_TILING = Tiling(128, 128, 32, 64, 32, stages=2)
# TF32: the sweep's six tilings ran 122.4-144.3, this one the fastest.
TF32_TILING = Tiling(128, 128, 32, 64, 64, stages=3)
# 3xTF32 adds each mma chain's result to its accumulators (kernels/gemm_tensorcore.cu), which needs
# registers the 64 x 64 warp tile of TF32_TILING does not have (it spills): 64 x 32 warps here.
# The sweep's fastest: 42.1 = 82.3% of cuBLAS FP32; the others 30.9-38.6. All three transposes take
# 255 registers, all a thread may have (nvcc 13.0, `cnn-gpu kernels`), so a change to the kernel or
# to nvcc may tip one into spilling (the compile check fails then); 128x128x16_w64x32_s4, at
# 214-241, is the fallback.
TF32X3_TILING = Tiling(128, 128, 32, 64, 32, stages=3)
# 3xTF32 on wgmma: two warpgroups of 64 x 128 (64 accumulators a thread), 4 stages of 32 KB and one
# more for the small parts (at 128 x 256 the five would not fit in shared memory).
WGMMA_TILING = Tiling(128, 128, 32, 64, 128, stages=4, group_threads=128)
# TF32 on wgmma, with or without TMA (9, 9b), and the warp-specialized rungs (9c, its persistent
# form, 9d's clusters): two (consumer) warpgroups of 64 x 256 (128 accumulators a thread), 4 stages
# of 48 KB; 9c and 9d have a producer warpgroup besides (GemmVariant.warp_specialized). The sweep's
# fastest for each of them (gemm_sweep.json, NVIDIA H100, 2c9911a, 4096^3 A.B against cuBLAS TF32's
# 382.6 TFLOP/s there): 9 185.9 and 9b 292.7, where at 128 x 128 they ran 151.6 and 228.3; 9c 284.4,
# 9c persistent 285.0, 9d 279.1 and 9d persistent 279.5.
WGMMA_WS_TILING = Tiling(128, 256, 32, 64, 256, stages=4, group_threads=128)
# 9e (B in registers): C's rows are wgmma's N, so its block tile is 9c's turned round, 256 rows of C by
# 128 columns: two consumer warpgroups of 256 x 64 (128 accumulators a thread), 4 stages of 48 KB, the
# same bytes per FMA as 9c (rung 9's arithmetic). Not yet run on a GPU.
WGMMA_B_REGISTERS_TILING = Tiling(256, 128, 32, 256, 64, stages=4, group_threads=128)


# Rung 7's kernel at the Dense products' sizes, where the default's 128 x 128 tiles leave most SMs idle
# or run a second, mostly empty wave: on the H100 at 48bedcb (gemm.json as committed at 3716e99,
# kernel times by graph) the Dense 5408 -> 64 backward products (M x N = 32 to 512 x 5408, or
# 5408 x 64; K = 32 to 512) took 1.6-2.2x cuBLAS FP32's time, where cuBLAS itself ran 32 x 32 and
# 64 x 64 tiles of 2 and 4 warps (gemm_counters.json, same commit). Warps of 32 x 16 and 32 x 32
# (4 x 4 and 4 x 8 outputs a lane), K-tiles of BK = 16; min_blocks asks room for 512 threads a SM, so
# at most 128 registers a thread. Autotuner candidates, not ladder rungs. At 2c9911a (same card), with
# 3 stages, they took the weight gradients at batch 32 and 128 (3.3 and 6.7 us against cuBLAS's 3.9
# and 7.4) and lost backward to data at batch 32 and 128 (5.6 and 8.4 against 4.7 and 6.8, before
# A.B^T's outputs went out as 16-byte stores). 5 stages since, unmeasured: the prologue then puts 4
# K-tiles in flight at once, the whole of backward to data's K of 64 (and of a split-K slice's 4
# K-tiles), so a block waits for one round trip to memory where 3 stages waited for two; 5 x 5 KB
# (25.6 KB) and 5 x 10 KB still fit 8 and 4 blocks per SM.
SMALL_TILES = Tiling(32, 32, 16, 32, 16, stages=5, min_blocks=8)
MEDIUM_TILES = Tiling(64, 64, 16, 32, 32, stages=5, min_blocks=4)
# Between them, the tile cuBLAS FP32 ran for backward to data at batch 128 (gemm_counters.json at
# 2c9911a: 32 x 64 x 8, two warps side by side along n, 3 stages; 6.8 us against our 8.4 with
# SMALL_TILES and 8.9 with MEDIUM_TILES), here with two of MEDIUM_TILES' 32 x 32 warps, the same
# K-tiles and stages as the other two; 5 blocks of 38 KB fit an SM. Unmeasured: the autotuner decides.
WIDE_TILES = Tiling(32, 64, 16, 32, 32, stages=5, min_blocks=5)

# The warp-specialized rungs' producer: one warpgroup, of which one thread issues the copies.
PRODUCER_THREADS = 128


@dataclass(frozen=True)
class GemmVariant:
    """One rung of the ladder: its template, launch geometry and arithmetic."""

    name: str
    file: str
    template: str  # a name expression with {ta} and {tb}, and {tiling} for a tiled kernel
    block: tuple = ()  # threads per block (a tiled kernel's follow from its tiling)
    tile: tuple = ()  # (rows of C, columns of C) per block (likewise)
    m_on_x: bool = False  # grid x runs along m (gemm_naive: that is its flaw; gemm_warp_per_output: a row a block)
    tf32: bool = False  # TF32 products (about 1e-3 relative error), not FP32 accuracy
    tiling: Tiling | None = None  # a tiled kernel's template arguments; its tiles are in dynamic shared memory
    mn_pad: int = 0  # floats of padding per row of its mn-contiguous tiles (StagedTiles' MN_PAD)
    swizzled: bool = False  # its tiles are wgmma's 128-byte-swizzled ones (Tiling.swizzled_shared_bytes)
    split: bool = False  # 3xTF32 on wgmma: its tiles' small parts take a buffer of their own
    tma: bool = False  # its tiles come by the bulk tensor copy: it takes tensor maps, not A and B (TmaPlan)
    warp_specialized: bool = False  # a producer warpgroup besides the tiling's, and a 2nd mbarrier per stage
    persistent: bool = False  # one block per SM (at most), each taking output tiles in turn (TmaPlan)
    cluster: int = 1  # blocks per thread-block cluster along n, sharing A's tiles
    b_in_registers: bool = False  # B's tile either way round (9e): no transpose of B; warp tile = all rows x 64

    def expression(self, trans_a, trans_b):
        b = lambda v: "true" if v else "false"  # noqa: E731
        tiling = self.tiling.template_arguments() if self.tiling else ""
        return self.template.format(ta=b(trans_a), tb=b(trans_b), tiling=tiling)

    def threads(self):
        return (self.tiling.threads + PRODUCER_THREADS * self.warp_specialized,) if self.tiling else self.block

    def grid(self, m, n):
        tile = (self.tiling.block_m, self.tiling.block_n) if self.tiling else self.tile
        rows, cols = ceil_div(m, tile[0]), ceil_div(n, tile[1])
        return (rows, cols) if self.m_on_x else (cols, rows)

    def shared_mem(self, trans_a, trans_b):
        if self.swizzled:
            return self.tiling.swizzled_shared_bytes(self.split, self.tma + self.warp_specialized)
        return self.tiling.shared_bytes(trans_a, trans_b, self.mn_pad) if self.tiling else 0

    def retiled(self, tiling: Tiling) -> GemmVariant:
        """This kernel under another tiling (a GEMM_SWEEP entry)."""
        return replace(self, tiling=tiling)


_SIMT, _TC, _WGMMA = "gemm_simt.cu", "gemm_tensorcore.cu", "gemm_wgmma.cu"
_WARPTILED = "gemm_warptiled_double_buffered<{ta}, {tb}, {tiling}>"
_TF32 = "gemm_tf32_mma<{ta}, {tb}, %s, {tiling}>"
_WGMMA_TF32 = "gemm_tf32_wgmma<{ta}, {tb}, %s, {tiling}>"
_WGMMA_WS = "gemm_tf32_wgmma_warp_specialized<%s, {tiling}>"
_WGMMA_MC = "gemm_tf32_wgmma_multicast<%s, {tiling}>"
_WGMMA_B_REGISTERS = "gemm_tf32_wgmma_b_in_registers<{tb}, {tiling}>"
# The ladder, in order (the head comments of kernels/gemm_*.cu say what each one adds; split-K's two
# policies and rung 11 join it further down).
GEMM_VARIANTS = {v.name: v for v in [
    GemmVariant("gemm_naive", _SIMT, "gemm_naive<{ta}, {tb}>", (32, 32), (32, 32), m_on_x=True),
    GemmVariant("gemm_coalesced", _SIMT, "gemm_coalesced<{ta}, {tb}>", (32, 32), (32, 32)),
    GemmVariant("gemm_smem_tiled", _SIMT, "gemm_smem_tiled<{ta}, {tb}, 32>", (32, 32), (32, 32)),
    GemmVariant("gemm_regblock_1d", _SIMT, "gemm_regblock_1d<{ta}, {tb}, 64, 64, 8, 8>", (512,), (64, 64)),
    GemmVariant("gemm_regblock_2d", _SIMT, "gemm_regblock_2d<{ta}, {tb}, 128, 128, 8, 8, 8>", (256,), (128, 128)),
    GemmVariant("gemm_vectorized", _SIMT, "gemm_vectorized<{ta}, {tb}>", (256,), (128, 128)),
    GemmVariant("gemm_warptiled_double_buffered", _SIMT, _WARPTILED, tiling=SIMT_TILING),
    GemmVariant("gemm_warptiled_small_tiles", _SIMT, _WARPTILED, tiling=SMALL_TILES),
    GemmVariant("gemm_warptiled_medium_tiles", _SIMT, _WARPTILED, tiling=MEDIUM_TILES),
    GemmVariant("gemm_warptiled_wide_tiles", _SIMT, _WARPTILED, tiling=WIDE_TILES),
    GemmVariant("gemm_tf32_mma", _TC, _TF32 % "false", tf32=True, tiling=TF32_TILING, mn_pad=8),
    GemmVariant("gemm_3xtf32_mma", _TC, _TF32 % "true", tiling=TF32X3_TILING, mn_pad=8),
    # Hopper (sm_90a) only on a GPU (cnn_gpu/cuda/sources.py); the emulator runs it through ptx.cuh's twins.
    GemmVariant("gemm_tf32_wgmma", _WGMMA, _WGMMA_TF32 % "false", tf32=True, tiling=WGMMA_WS_TILING, swizzled=True),
    GemmVariant("gemm_3xtf32_wgmma", _WGMMA, _WGMMA_TF32 % "true", tiling=WGMMA_TILING, swizzled=True, split=True),
    GemmVariant("gemm_tf32_wgmma_tma", _WGMMA, "gemm_tf32_wgmma_tma<{tiling}>", tf32=True, tiling=WGMMA_WS_TILING,
                swizzled=True, tma=True),
    GemmVariant("gemm_tf32_wgmma_warp_specialized", _WGMMA, _WGMMA_WS % "false", tf32=True, tiling=WGMMA_WS_TILING,
                swizzled=True, tma=True, warp_specialized=True),
    GemmVariant("gemm_tf32_wgmma_persistent", _WGMMA, _WGMMA_WS % "true", tf32=True, tiling=WGMMA_WS_TILING,
                swizzled=True, tma=True, warp_specialized=True, persistent=True),
    GemmVariant("gemm_tf32_wgmma_multicast", _WGMMA, _WGMMA_MC % "false", tf32=True, tiling=WGMMA_WS_TILING,
                swizzled=True, tma=True, warp_specialized=True, cluster=2),
    GemmVariant("gemm_tf32_wgmma_multicast_persistent", _WGMMA, _WGMMA_MC % "true", tf32=True,
                tiling=WGMMA_WS_TILING, swizzled=True, tma=True, warp_specialized=True, persistent=True, cluster=2),
    GemmVariant("gemm_tf32_wgmma_b_in_registers", _WGMMA, _WGMMA_B_REGISTERS, tf32=True,
                tiling=WGMMA_B_REGISTERS_TILING, swizzled=True, tma=True, warp_specialized=True, b_in_registers=True),
]}
# What the autotuner times on a GPU: FP32-accurate rungs that can win, every product, where the
# device runs them (gemm_3xtf32_wgmma: Hopper only). 3xTF32 counts as FP32: its error is FP32's
# (tests/ops/test_gemm.py), and on the H100 at 2c9911a gemm_3xtf32_wgmma ran the 4096^3 A.B at 1.18x
# cuBLAS FP32's rate and Dense 5408 -> 64's backward to data at batch 512 in cuBLAS FP32's 15.8 us.
AUTOTUNE_CANDIDATES = ("gemm_regblock_1d", "gemm_regblock_2d", "gemm_vectorized",
                       "gemm_warptiled_double_buffered", "gemm_warptiled_small_tiles", "gemm_warptiled_medium_tiles",
                       "gemm_warptiled_wide_tiles",
                       "gemm_3xtf32_mma", "gemm_3xtf32_wgmma", "gemm_split_k", "gemm_split_k_fine",
                       "gemm_split_k_warptiled", "gemm_split_k_last_slice_reduces")
# ... and for small products (up to SMALL_PRODUCT_MACS multiply-adds), the first rungs too: one
# thread (or warp, rung 11) per output starts fastest where there is little to do, and the naive
# ones take seconds at 4096^3. On the H100 at 2c9911a (gemm.json, kernel times by graph replay) rung
# 11 was the autotuner's choice in 7 of Dense 64 -> 10's 9 products, at 1.7-4.2 us against cuBLAS
# FP32's 2.7-10.9; rung 7's 32 x 32 tiles took the other two.
SMALL_PRODUCT_CANDIDATES = ("gemm_naive", "gemm_coalesced", "gemm_smem_tiled", "gemm_warp_per_output")
# Before timing, the autotuner runs each candidate once on the real operands and leaves out one with
# an element further than this from float64's, relative to that element's sum of |products|, the
# (|op(a)| |op(b)|)[i, j] that FP32's rounding errors grow with (NaN is never within it). Rounding
# stays orders of magnitude below it (about sqrt(K) float32 epsilons, 4e-6 at K = 5408, even where
# the terms cancel), while a wrong tile, an unwritten element or a lost slice is off by far more.
AUTOTUNE_MAX_ERROR = 1e-4
FLOAT32_MAX, FLOAT32_TINY = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)
SMALL_PRODUCT_MACS = 1 << 24
# The emulator does not time anything; it runs this one unless told otherwise.
EMULATE_DEFAULT = "gemm_smem_tiled"

# The TMA rungs (GemmVariant.tma: 9b to 9e) take the tensor maps of A and B^T (cnn_gpu/cuda/tensor_map.py)
# in their place, one kernel for every transpose (TmaPlan makes the operands k-contiguous); 9e takes
# B's map as B is, one kernel for each of B's layouts.
TMA_PARAMS = [Array("maps", "uint64", ndim=1), *GEMM_PARAMS[2:]]
GEMM_KERNELS = {
    (variant.name, trans_a, trans_b): Kernel(variant.file, variant.expression(trans_a, trans_b),
                                             TMA_PARAMS if variant.tma else GEMM_PARAMS)
    for variant in GEMM_VARIANTS.values()
    for trans_a, trans_b in TRANSPOSES
}

# The tile sweep (benchmarks/gemm.py --sweep): the tiled rungs under other tilings, the defaults
# first. Hopper ideas: larger block tiles (one 8-warp 128 x 256 block per SM), 4 stages with
# shorter K-tiles, 8 smaller warps held to two blocks per SM by __launch_bounds__. Every entry
# compiles without spills and fits the 227 KB a block may have (tests/ops/test_gemm.py, and the
# compile check). Built for A.B only, and with -lineinfo (source lines for a profiler, at no cost in
# speed), which also keeps them in a module of their own: the library's build never compiles them.
_SWEEP_TILINGS = {
    # Two blocks per SM at 128 registers a thread (128x128x8_w64x32_s2_b2) left the sweep: its A.B^T
    # spills, so it could never be the default, and the default's A.B now runs two blocks per SM by
    # itself (127 registers; gemm_counters.json at 2c9911a), no faster than at one.
    # The last two: cuBLAS FP32's own block at 4096^3 (gemm_counters.json, H100, 2c9911a: 256 x 128 x 8,
    # 8 warps, 3 stages, 254 registers, one block per SM): warps of 64 x 64, 128 outputs a lane, half
    # the shared-memory reads per FMA of 64 x 32's. All three transposes compile without spills (196-255
    # registers, sm_80 and sm_90, nvcc 13.0).
    "gemm_warptiled_double_buffered": [SIMT_TILING, Tiling(128, 128, 16, 64, 32, stages=2),
                                       Tiling(128, 128, 8, 64, 32, stages=3), Tiling(128, 128, 16, 64, 32, stages=3),
                                       Tiling(128, 128, 32, 64, 32, stages=3), Tiling(256, 128, 8, 64, 64, stages=3),
                                       Tiling(256, 128, 16, 64, 64, stages=2)],
    "gemm_tf32_mma": [TF32_TILING, Tiling(128, 128, 16, 64, 64, stages=4), Tiling(128, 256, 32, 64, 64, stages=3),
                      Tiling(128, 256, 16, 64, 64, stages=4), Tiling(256, 128, 32, 64, 64, stages=3),
                      Tiling(128, 128, 32, 64, 32, stages=3, min_blocks=2)],
    "gemm_3xtf32_mma": [TF32X3_TILING, Tiling(128, 128, 16, 64, 32, stages=4), Tiling(128, 64, 16, 64, 32, stages=4),
                        Tiling(128, 128, 8, 64, 32, stages=6)],
    "gemm_tf32_wgmma": [WGMMA_WS_TILING, WGMMA_TILING, Tiling(128, 256, 32, 64, 256, stages=3, group_threads=128),
                        Tiling(128, 128, 32, 64, 128, stages=6, group_threads=128),
                        # Two blocks per SM (128 registers a thread, 2 x 97 KB): one block's wgmma run
                        # while the other waits at its barrier, the overlap a producer warp would give.
                        Tiling(128, 128, 32, 64, 128, stages=3, min_blocks=2, group_threads=128)],
    "gemm_tf32_wgmma_tma": [WGMMA_WS_TILING, WGMMA_TILING],
    "gemm_tf32_wgmma_warp_specialized": [WGMMA_WS_TILING, Tiling(128, 256, 32, 64, 256, stages=3, group_threads=128),
                                         Tiling(128, 128, 32, 64, 128, stages=6, group_threads=128),
                                         Tiling(256, 128, 32, 64, 128, stages=4, group_threads=128)],
    "gemm_tf32_wgmma_persistent": [WGMMA_WS_TILING, Tiling(128, 128, 32, 64, 128, stages=6, group_threads=128)],
    # 256 x 128: the shared A tile is then the larger one, 256 of a stage's 384 rows (kernels/gemm_wgmma.cu, 9d).
    "gemm_tf32_wgmma_multicast": [WGMMA_WS_TILING, Tiling(128, 128, 32, 64, 128, stages=6, group_threads=128),
                                  Tiling(256, 128, 32, 64, 128, stages=4, group_threads=128)],
    "gemm_tf32_wgmma_multicast_persistent": [WGMMA_WS_TILING, Tiling(256, 128, 32, 64, 128, stages=4,
                                                                     group_threads=128)],
    # 9e: 96 accumulators a thread at 192 rows (5 stages fit), or 64 at 128 rows with three consumer
    # warpgroups (512 threads) or two.
    "gemm_tf32_wgmma_b_in_registers": [WGMMA_B_REGISTERS_TILING,
                                       Tiling(192, 128, 32, 192, 64, stages=5, group_threads=128),
                                       Tiling(128, 192, 32, 128, 64, stages=4, group_threads=128),
                                       Tiling(128, 128, 32, 128, 64, stages=6, group_threads=128)],
}
GEMM_SWEEP = [GEMM_VARIANTS[name].retiled(tiling) for name, tilings in _SWEEP_TILINGS.items() for tiling in tilings]
SWEEP_OPTIONS = ("-lineinfo",)
_SWEEP_KERNELS = {variant: Kernel(variant.file, variant.expression(False, False),
                                   TMA_PARAMS if variant.tma else GEMM_PARAMS, options=SWEEP_OPTIONS)
                  for variant in GEMM_SWEEP}


@functools.lru_cache(maxsize=None)
def _placeholder_vector(backend, device, dtype="float32"):
    """A vector on the device, made once: a view of out per call costs microseconds in CuPy."""
    return backend_xp(backend).zeros(1, dtype=dtype)


def gemm(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None, relu=False,
         variant=None, out=None, backend=None):
    """``relu?(alpha * op(a) @ op(b) + beta * c + bias)`` in float32 by one GEMM kernel.

    ``a`` and ``b`` are row-major float32 matrices (``op`` transposes when asked; not both at once),
    ``c`` an (M, N) matrix read only when ``beta != 0``, ``bias`` an (N,) vector added to every row.
    The result goes to ``out`` (M, N) if given, else a new array; ``out`` may be ``c`` itself.
    ``variant`` (or $CNN_GPU_GEMM_VARIANT) names the kernel; otherwise the autotuner picks one on a
    GPU, and the emulator runs ``EMULATE_DEFAULT``. A ``GEMM_SWEEP`` entry may be passed as
    ``variant`` too (A.B only).
    """
    backend = resolve_backend(backend)
    for name, x in (("a", a), ("b", b)):
        GEMM_OPERANDS[name].check(x, "gemm", backend)
    alpha, beta = ALPHA.check(alpha, "gemm"), BETA.check(beta, "gemm")
    if trans_a and trans_b:
        raise ValueError("trans_a and trans_b together are not supported (Dense never needs it): "
                         "transpose one operand first")
    # One read of each shape: CuPy builds the tuple at every read.
    (m, k), (k_b, n) = (a.shape[::-1] if trans_a else a.shape), (b.shape[::-1] if trans_b else b.shape)
    if k != k_b:
        raise ValueError(f"op(a) is {(m, k)} and op(b) is {(k_b, n)}: inner dimensions differ")
    if beta != 0.0 and c is None:
        raise ValueError("beta != 0 needs c, the matrix it scales")
    for name, x, shape in (("c", c, (m, n)), ("bias", bias, (n,)), ("out", out, (m, n))):
        if x is not None:
            check_shape(GEMM_OPERANDS[name].check(x, "gemm", backend), shape, name)
    device = current_device(backend)
    if backend == "cuda":
        for name, x in (("a", a), ("b", b), ("c", c), ("bias", bias), ("out", out)):
            if x is not None:
                GEMM_OPERANDS[name].check_device(x, "gemm", device)
    xp = backend_xp(backend)
    if out is None:
        out = xp.empty((m, n), dtype=xp.float32)  # a new array, which overlaps nothing
    else:
        for name, x in (("a", a), ("b", b), ("bias", bias)):
            if x is not None and xp.may_share_memory(out, x):
                raise ValueError(f"out must not overlap {name}: the kernel would read what it overwrites")
    if beta != 0.0 and c is not out:
        out[...] = c  # the kernels update C in place
    if m == 0 or n == 0:
        return out
    if isinstance(variant, GemmVariant):
        if variant not in _SWEEP_KERNELS or trans_a or trans_b:
            raise ValueError(f"a GemmVariant given as variant must be a GEMM_SWEEP entry, run as A.B; got "
                             f"{variant.name} {variant.tiling.label if variant.tiling else ''} with "
                             f"trans_a={trans_a} trans_b={trans_b}")
        chosen, kernel = variant, _SWEEP_KERNELS[variant]
    else:
        chosen = GEMM_VARIANTS[choose_variant(variant, backend, device, a, b, out, trans_a, trans_b, m, n, k)]
        kernel = GEMM_KERNELS[chosen.name, trans_a, trans_b]
    flags = (EPILOGUE_BIAS if bias is not None else 0) | (EPILOGUE_RELU if relu else 0)
    plan = _plan(kernel, chosen, trans_a, trans_b, m, n, k, flags, backend, device)
    # Without a bias the kernel never reads that pointer; any float32 vector fills the slot.
    plan(a, b, out, bias if bias is not None else _placeholder_vector(backend, device), alpha, beta, backend)
    return out


class GemmPlan:
    """One ladder kernel's launch for one problem, checked once and kept (``_plan``): its grid, block
    and shared memory by check_launch, and M, N, K and the epilogue flags as their exact C types."""

    def __init__(self, kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device):
        self.kernel = kernel
        self.geometry = check_launch(variant.grid(m, n), variant.threads(), variant.shared_mem(trans_a, trans_b),
                                     kernel.name)
        self.m, self.n, self.k, self.flags = kernel.cast(M=m, N=n, K=k, flags=flags)

    def __call__(self, a, b, c, bias, alpha, beta, backend):
        """Launch on arrays gemm() has checked, alpha and beta already float32 scalars."""
        self.kernel.launch_checked(self.geometry, (a, b, c, bias, self.m, self.n, self.k, alpha, beta, self.flags),
                                   backend)


class TmaPlan:
    """A TMA rung (9b to 9e) for one problem, kept like a GemmPlan: the grid (a block per SM at most
    for the persistent forms, whole clusters for 9d), checked once. At each call the operands are
    made k-contiguous (an MN-major one transposed into a new array: the copy engine cannot
    transpose, and wgmma's TF32 operands must be K-major), except B for 9e, which takes it either way
    round, and their tensor maps built (cached by address: tensor_map.maps). A's boxes are a
    cluster's share of the block's rows; B's its block's columns, or for 9e's K x N B the K-tile's
    rows. What a map cannot describe (K = 0, K % 4 != 0, N % 4 != 0 for 9e's K x N B, an operand not
    16-byte aligned) runs rung 9's cp.async kernel (at its own tiling) instead."""

    def __init__(self, kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device):
        self.kernel, self.trans_a = kernel, trans_a
        tiling, grid, cluster = variant.tiling, variant.grid(m, n), variant.cluster
        if cluster > 1:  # whole clusters along x
            grid = (ceil_div(grid[0], cluster) * cluster, grid[1])
        # A block per SM at most (whole clusters), each looping over output tiles. Every cluster of such
        # a grid must be resident at once, or the last ones wait for the first to finish all their
        # tiles: on the H100, 66 clusters of two were (gemm_counters.json at 2c9911a,
        # launch__cluster_max_active for 9d persistent).
        if variant.persistent:
            grid = (min(grid[0] * grid[1], _sm_count(backend, device) // cluster * cluster),)
        self.a_box_rows = tiling.block_m // cluster  # each block of a cluster copies its share
        # B as it is (9e), or made N x K.
        self.transpose_b = not (trans_b or variant.b_in_registers)
        self.b_box_rows = tiling.block_k if variant.b_in_registers and not trans_b else tiling.block_n
        self.geometry = check_launch(grid, variant.threads(), variant.shared_mem(trans_a, trans_b), kernel.name)
        self.scalars = kernel.cast(M=m, N=n, K=k)
        self.flags, = kernel.cast(flags=flags)
        self.fallback = GemmPlan(GEMM_KERNELS["gemm_tf32_wgmma", trans_a, trans_b], GEMM_VARIANTS["gemm_tf32_wgmma"],
                                 trans_a, trans_b, m, n, k, flags, backend, device)
        self.k_fits = k > 0 and k % 4 == 0  # the driver refuses a tensor map with an empty dimension

    def __call__(self, a, b, c, bias, alpha, beta, backend):
        if self.k_fits:
            a_rows = transpose(a, backend=backend) if self.trans_a else a  # M x K
            b_tiles = transpose(b, backend=backend) if self.transpose_b else b  # N x K, or (9e) K x N
            if tensor_map.fits(a_rows) and tensor_map.fits(b_tiles):
                maps = tensor_map.maps(backend, [(a_rows, self.a_box_rows), (b_tiles, self.b_box_rows)])
                self.kernel.launch_checked(self.geometry, (maps, c, bias, *self.scalars, alpha, beta, self.flags),
                                           backend)
                return
        self.fallback(a, b, c, bias, alpha, beta, backend)


# Every plan made in this process, by (kernel, variant name, m, n, k, flags, backend, device): the
# split-K variants share their kernels. Training runs the same few problems per Dense layer at every step.
_PLANS: dict = {}


def _plan(kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device):
    key = (kernel, variant.name, m, n, k, flags, backend, device)
    plan = _PLANS.get(key)
    if plan is None:
        plan_type = SplitKPlan if variant.name in SPLIT_K_POLICIES else TmaPlan if variant.tma else GemmPlan
        plan = _PLANS[key] = plan_type(kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device)
    return plan


def _known_variant(name, source):
    if name in GEMM_VARIANTS:
        return name
    raise ValueError(f"{source} must name a GEMM variant ({', '.join(GEMM_VARIANTS)}), got {name!r}")


def choose_variant(variant, backend, device, a, b, out, trans_a, trans_b, m, n, k):
    """The variant to run: ``variant``, else $CNN_GPU_GEMM_VARIANT, else the autotuner's choice (for
    ``device``, the current one)."""
    if variant is not None:
        return _known_variant(variant, "variant")
    forced = os.environ.get(VARIANT_ENV)
    if forced:
        return _known_variant(forced, VARIANT_ENV)
    if backend != "cuda":
        return EMULATE_DEFAULT
    known = (m, n, k, trans_a, trans_b, device)
    if known in _TUNED:
        return _TUNED[known]

    def trial(name):
        # Timing runs write a scratch output with beta = 0, so they never disturb out or read c.
        scratch = backend_xp(backend).empty_like(out)
        return lambda: gemm(a, b, trans_a=trans_a, trans_b=trans_b, variant=name, out=scratch, backend=backend)

    key = {"m": m, "n": n, "k": k, "trans_a": trans_a, "trans_b": trans_b, "dtype": "float32"}
    _TUNED[known] = autotune.choose("gemm", key, {name: trial(name) for name in autotune_candidates(m, n, k, backend)},
                                    check=result_check(a, b, trans_a, trans_b, out, backend))
    return _TUNED[known]


def result_check(a, b, trans_a, trans_b, out, backend):
    """The autotuner's check of a candidate: ``check(name)`` runs variant ``name`` on ``a`` and ``b``
    into a NaN-filled scratch like ``out`` and says why its product is wrong (an element further than
    AUTOTUNE_MAX_ERROR from float64's), or returns None. Operands holding NaN or inf, or a product
    beyond float32's range, blame no kernel. The float64 products are made at the first check, so a
    choice found in the cache costs nothing."""
    xp = backend_xp(backend)
    # A GPU flushes float32 subnormals to zero (-ftz=true), up to FLOAT32_TINY a term: an element whose
    # terms are that small is held to no more than the limit allows for K of them.
    k = a.shape[0] if trans_a else a.shape[1]
    smallest_magnitude = max(k, 1) * FLOAT32_TINY / AUTOTUNE_MAX_ERROR

    @functools.cache
    def reference():
        product = gemm_reference(a, b, trans_a, trans_b)
        magnitude = gemm_reference(xp.abs(a), xp.abs(b), trans_a, trans_b)  # what rounding errors scale with
        checkable = bool(xp.isfinite(magnitude).all()) and float(magnitude.max()) < FLOAT32_MAX
        return product, xp.maximum(magnitude, smallest_magnitude), checkable

    def check(name):
        product, magnitude, checkable = reference()
        if not checkable:
            return None
        scratch = xp.full_like(out, xp.nan)
        gemm(a, b, trans_a=trans_a, trans_b=trans_b, variant=name, out=scratch, backend=backend)
        # NaN stays NaN. (Never empty: gemm() returns before choosing for an empty C. No initial=: CuPy has none.)
        error = float((xp.abs(scratch - product) / magnitude).max())
        return None if error <= AUTOTUNE_MAX_ERROR else f"an element off by {error:.1e} of its sum of |products|"

    return check


def autotune_excluded() -> set[str]:
    """The rungs $CNN_GPU_AUTOTUNE_EXCLUDE names (comma-separated), which the autotuner never offers:
    benchmarks/gpu_check.sh names those whose GPU tests failed, so that no later process launches them."""
    names = {name for name in os.environ.get(AUTOTUNE_EXCLUDE_ENV, "").split(",") if name}
    unknown = sorted(names - set(GEMM_VARIANTS))
    if unknown:
        raise ValueError(f"{AUTOTUNE_EXCLUDE_ENV} names no GEMM variant: {', '.join(unknown)}")
    return names


def autotune_candidates(m, n, k, backend):
    """The rungs the autotuner times for an M x N x K product on ``backend``: AUTOTUNE_CANDIDATES, and
    the small products' ones up to SMALL_PRODUCT_MACS; each only if the device runs its file
    (runs_here), its grid fits CUDA's limits (the one-thread- or warp-per-output rungs put a
    dimension of C on grid y, at most 65535 blocks) and $CNN_GPU_AUTOTUNE_EXCLUDE does not name it."""
    names = AUTOTUNE_CANDIDATES + (SMALL_PRODUCT_CANDIDATES if m * n * k <= SMALL_PRODUCT_MACS else ())
    excluded = autotune_excluded()
    return [name for name in names if name not in excluded and runs_here(GEMM_VARIANTS[name].file, backend)
            and all(blocks <= limit for blocks, limit in zip(GEMM_VARIANTS[name].grid(m, n), MAX_GRID))]


# The autotuner's answers in this process, by (m, n, k, trans_a, trans_b, device index): asked at
# every call of gemm() without a variant, which Dense makes at every step.
_TUNED = autotune.memo("gemm")


# --- split-K (kernels/gemm_small.cu): the ladder's rung 10, two kernels per product, or one ---------
# gemm_split_k cuts K into slices and gives each (tile, slice) pair a block, which writes its partial
# tile to a workspace [splits][M][N rounded up to 4]; gemm_split_k_reduce sums the slices in a fixed
# order through the epilogue. One slice needs neither workspace nor reduce. It joins GEMM_VARIANTS
# here four times, each with a policy for cutting K (SPLIT_K_POLICIES): gemm_split_k and
# gemm_split_k_fine run rung 5's tile in each slice, gemm_split_k_warptiled (10b) rung 7's, and
# gemm_split_k_last_slice_reduces (10c) 10b's slices with the sum in the same launch, by the last
# slice of each tile to finish (a counter per tile). Their slices' kernels join GEMM_KERNELS, and a
# SplitKPlan launches them as a GemmPlan launches one.

# gemm_split_k's template arguments after the transposes: block tile BM x BN, K-tile BK, TM x TN
# outputs per thread.
SPLIT_K_TILE = (64, 64, 16, 8, 4)
# gemm_split_k_warptiled's: rung 7's kernel at MEDIUM_TILES (four 32 x 32 warps, 5 stages).
SPLIT_K_WARPTILED_TILES = MEDIUM_TILES


@dataclass(frozen=True)
class SplitKPolicy:
    """How a split-K variant cuts K (split_k_plan): slices enough for about ``blocks_per_sm`` blocks
    per SM, but each at least ``min_k_tiles`` K-tiles long, and at most ``max_splits`` of them; and
    how it sums them: by gemm_split_k_reduce, ``reduce_groups`` threads summing one float4 of C's
    slices between them, or (``last_slice_reduces``) by the slices' own kernel, in the same launch."""

    blocks_per_sm: int
    min_k_tiles: int
    max_splits: int | None = None
    reduce_groups: int = 8
    last_slice_reduces: bool = False


# gemm_split_k: 16 warps of 4-warp blocks per SM, so that some compute while others wait for their
# next K-tile (rung 5's loop does not overlap the two), and slices of at least 4 K-tiles, so that a
# block's work outweighs writing and reducing its partial tile. On the H100 (2c9911a, by graph) its
# kernels took 16.1 us for the Dense 5408 -> 64 forward at batch 32: 68 slices of 5 K-tiles on one
# tile of C, each block waiting out 5 loads in turn, on about half the SMs.
# gemm_split_k_fine: a target of twice the blocks, slices down to one K-tile: at batch 32, 338
# slices of one K-tile (against gemm_split_k's 68 of 5), each block waiting for one load, and a
# reduce over more partial tiles (338 of 32 x 64 floats, 2.8 MB) with 32 threads per float4 of C
# instead of 8, each waiting for about 11 loads in turn: 8.8 us there, but 28.9 at batch 512, where
# gemm_split_k took 27.4.
# gemm_split_k_warptiled: gemm_split_k's policy (the same slices), for 4-warp blocks whose loads
# overlap their math: 7.8, 10.6 and 18.8 us at batch 32, 128 and 512 (at 3 stages, before
# MEDIUM_TILES took 5), the autotuner's choice for all three.
# gemm_split_k_last_slice_reduces: 10b's policy, but at most 8 slices. One block sums each tile, on
# one SM, reading up to 16 KB of partials per slice from L2: at 8 slices 128 KB, at the 68 of the
# Dense forward at batch 32 (10b's slices there, 8 KB each) 544 KB, all that 10b's reduce kernel
# spreads over the whole GPU. So 10c is for many tiles and few slices, as in Dense 5408 -> 64's
# weight gradient at batch 512: 85 tiles of 6 slices, where 10b took 18.1 us against cuBLAS FP32's
# 16.1 (H100, 2c9911a, by graph), cuBLAS itself in two kernels there (gemm_counters.json: 3 slices,
# then a "split" kernel).
SPLIT_K_POLICIES = {"gemm_split_k": SplitKPolicy(blocks_per_sm=4, min_k_tiles=4),
                    "gemm_split_k_fine": SplitKPolicy(blocks_per_sm=8, min_k_tiles=1, reduce_groups=32),
                    "gemm_split_k_warptiled": SplitKPolicy(blocks_per_sm=4, min_k_tiles=4),
                    "gemm_split_k_last_slice_reduces": SplitKPolicy(blocks_per_sm=4, min_k_tiles=4, max_splits=8,
                                                                    last_slice_reduces=True)}
# gemm_split_k_reduce's block: QUADS float4s of the output x a policy's reduce_groups groups of slices.
SPLIT_K_REDUCE_QUADS = 32
# The emulator has no SMs to fill; it plans for this many, so that small test shapes split too.
EMULATED_SM_COUNT = 4

SPLIT_K_PARAMS = [
    Array("a", "float32", ndim=2), Array("b", "float32", ndim=2), Array("c", "float32", ndim=2),
    Array("bias", "float32", ndim=1), Array("partials", "float32"), Scalar("M", "int32"), Scalar("N", "int32"),
    Scalar("K", "int32"), Scalar("k_per_split", "int32"), Scalar("alpha", "float32"), Scalar("beta", "float32"),
    Scalar("flags", "int32"),
]
# 10c's: a counter per tile after the workspace.
SPLIT_K_LAST_SLICE_PARAMS = [*SPLIT_K_PARAMS[:5], Array("tile_counters", "uint32"), *SPLIT_K_PARAMS[5:]]
SPLIT_K_REDUCE_PARAMS = [
    Array("partials", "float32", ndim=1), Array("c", "float32", ndim=2), Array("bias", "float32", ndim=1),
    Scalar("M", "int32"), Scalar("N", "int32"), Scalar("splits", "int32"), Scalar("alpha", "float32"),
    Scalar("beta", "float32"), Scalar("flags", "int32"),
]
# By groups: the reduce's instances.
SPLIT_K_REDUCE = {groups: Kernel("gemm_small.cu", f"gemm_split_k_reduce<{SPLIT_K_REDUCE_QUADS}, {groups}>",
                                 SPLIT_K_REDUCE_PARAMS)
                  for groups in sorted({policy.reduce_groups for policy in SPLIT_K_POLICIES.values()
                                        if not policy.last_slice_reduces})}


_bm, _bn, _bk, _tm, _tn = SPLIT_K_TILE
for _name in ("gemm_split_k", "gemm_split_k_fine"):
    GEMM_VARIANTS[_name] = GemmVariant(
        _name, "gemm_small.cu", f"gemm_split_k<{{ta}}, {{tb}}, {_bm}, {_bn}, {_bk}, {_tm}, {_tn}>",
        ((_bm // _tm) * (_bn // _tn),), (_bm, _bn))
for _name in ("gemm_split_k_warptiled", "gemm_split_k_last_slice_reduces"):
    GEMM_VARIANTS[_name] = GemmVariant(_name, "gemm_small.cu", _name + "<{ta}, {tb}, {tiling}>",
                                       tiling=SPLIT_K_WARPTILED_TILES)


def split_k_block(name):
    """``(BM, BN, BK)``: the block tile and K-tile of split-K variant ``name``'s slices, from its
    tiling, or gemm_split_k's template arguments."""
    tiling = GEMM_VARIANTS[name].tiling
    return (tiling.block_m, tiling.block_n, tiling.block_k) if tiling else SPLIT_K_TILE[:3]


@functools.lru_cache(maxsize=4096)
def split_k_plan(m, n, k, sm_count, name="gemm_split_k"):
    """``(splits, k_per_split)`` for an M x N x K product on ``sm_count`` SMs by split-K variant ``name``.

    Enough slices that the blocks (its tiles x slices) come to about its policy's ``blocks_per_sm``
    per SM (and at most ``max_splits``), each slice at least ``min_k_tiles`` of its K-tiles and a
    whole number of them (only the last one ends inside a K-tile, at K), and no slice empty. Few
    slices when M x N alone fills the GPU: then 1.
    """
    policy, (bm, bn, bk) = SPLIT_K_POLICIES[name], split_k_block(name)
    tiles = ceil_div(m, bm) * ceil_div(n, bn)
    k_tiles = max(1, ceil_div(k, bk))
    wanted = policy.blocks_per_sm * sm_count // tiles
    tiles_per_split = ceil_div(k_tiles, max(1, min(wanted, k_tiles // policy.min_k_tiles,
                                                   policy.max_splits or k_tiles)))
    return ceil_div(k_tiles, tiles_per_split), tiles_per_split * bk


@functools.lru_cache(maxsize=None)
def _sm_count(backend, device):
    if backend != "cuda":
        return EMULATED_SM_COUNT
    import cupy

    return int(cupy.cuda.Device(device).attributes["MultiProcessorCount"])


# (backend, device, size, dtype) -> a workspace, kept for the life of the process: training asks for
# the same few sizes at every step, and a captured CUDA graph holds the address it launched with.
# Shared by every split-K product of that size on the device, so those must run in stream order
# (one stream per device, as everything here does). The float32 ones hold partial tiles, the uint32
# ones 10c's tile counters: zeroed once here, and left at zero by every launch that completes.
_WORKSPACES: dict = {}


def _split_k_workspace(backend, device, size, dtype="float32"):
    key = (backend, device, size, dtype)
    if key not in _WORKSPACES:
        _WORKSPACES[key] = backend_xp(backend).zeros(size, dtype=dtype)
    return _WORKSPACES[key]


class SplitKPlan:
    """A split-K variant's launches for one problem, checked once and kept like a GemmPlan: the slices'
    kernel over a grid with the slices along z, then (with more than one slice, unless the slices
    sum themselves) the reduce into C."""

    def __init__(self, kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device):
        policy = SPLIT_K_POLICIES[variant.name]
        splits, k_per_split = split_k_plan(m, n, k, _sm_count(backend, device), variant.name)
        grid = variant.grid(m, n)
        self.slices = kernel
        self.slices_geometry = check_launch((*grid, splits), variant.threads(), variant.shared_mem(trans_a, trans_b),
                                            kernel.name)
        self.slices_scalars = kernel.cast(M=m, N=n, K=k, k_per_split=k_per_split)
        self.flags, = kernel.cast(flags=flags)
        # One slice stores through the epilogue and never touches the workspace: C fills the slot (and
        # any uint32 vector the counters' one).
        self.workspace = _split_k_workspace(backend, device, splits * m * ceil_div(n, 4) * 4) if splits > 1 else None
        self.counters = ()
        if policy.last_slice_reduces:
            self.counters = (_split_k_workspace(backend, device, grid[0] * grid[1], "uint32") if splits > 1
                             else _placeholder_vector(backend, device, "uint32"),)
        self.reduce = None
        if splits > 1 and not policy.last_slice_reduces:
            self.reduce = SPLIT_K_REDUCE[policy.reduce_groups]
            quads = SPLIT_K_REDUCE_QUADS
            self.reduce_geometry = check_launch((ceil_div(m * ceil_div(n, 4), quads),),
                                                (quads, policy.reduce_groups), 0, self.reduce.name)
            self.reduce_scalars = self.reduce.cast(M=m, N=n, splits=splits)

    def __call__(self, a, b, c, bias, alpha, beta, backend):
        """Launch on arrays gemm() has checked (the workspaces are on this plan's device), alpha and
        beta already float32 scalars."""
        partials = c if self.workspace is None else self.workspace
        self.slices.launch_checked(self.slices_geometry, (a, b, c, bias, partials, *self.counters,
                                                          *self.slices_scalars, alpha, beta, self.flags), backend)
        if self.reduce is not None:
            self.reduce.launch_checked(self.reduce_geometry,
                                       (partials, c, bias, *self.reduce_scalars, alpha, beta, self.flags), backend)


@functools.lru_cache(maxsize=None)
def _split_k_kernel(expression, last_slice_reduces):
    """The slices' kernel of a name expression, one per expression: gemm_split_k_fine, gemm_split_k's
    template under another policy, shares its kernels."""
    return Kernel("gemm_small.cu", expression, SPLIT_K_LAST_SLICE_PARAMS if last_slice_reduces else SPLIT_K_PARAMS)


GEMM_KERNELS.update({(name, *transposes): _split_k_kernel(GEMM_VARIANTS[name].expression(*transposes),
                                                          policy.last_slice_reduces)
                     for name, policy in SPLIT_K_POLICIES.items() for transposes in TRANSPOSES})


# --- one warp per output (kernels/gemm_small.cu): the ladder's rung 11, after split-K ---------------
GEMM_VARIANTS["gemm_warp_per_output"] = GemmVariant(
    "gemm_warp_per_output", "gemm_small.cu", "gemm_warp_per_output<{ta}, {tb}>", (256,), (1, 8), m_on_x=True)
GEMM_KERNELS.update({("gemm_warp_per_output", *transposes): Kernel(
    "gemm_small.cu", GEMM_VARIANTS["gemm_warp_per_output"].expression(*transposes), GEMM_PARAMS)
    for transposes in TRANSPOSES})
