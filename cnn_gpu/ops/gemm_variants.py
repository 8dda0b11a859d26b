"""The GEMM ladder as data: each rung's kernel (a template instance per transpose), its tiling and
launch geometry, and the tile sweep's other tilings. kernels/gemm_simt.cu, gemm_tensorcore.cu,
gemm_wgmma.cu, gemm_small.cu and gemm_cluster.cu hold the kernels, in the same order; ``gemm`` (cnn_gpu/ops/gemm.py)
runs one of them, and cnn_gpu/ops/gemm_plans.py launches it for a problem.

Every kernel computes relu?(alpha * op(a) @ op(b) + beta * c + bias) in float32, the function of
``gemm_reference``. Each is a template on the transposes, declared here once per instance; the
16-byte-load rungs decide their load width themselves (float4_loads_fit in gemm_common.cuh).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar
from cnn_gpu.ops.common import ceil_div

# The epilogue bits of gemm_common.cuh.
EPILOGUE_BIAS, EPILOGUE_RELU = 1, 2
# The (trans_a, trans_b) combinations the kernels are built for: Dense forward, backward to data,
# backward to weights.
TRANSPOSES = ((False, False), (False, True), (True, False))
# gemm()'s arguments as the kernels declare them. gemm() checks each array (device too) and casts
# alpha and beta once per call with these, under its own name, as a launch would; a plan keeps the
# rest per problem shape, and the kernel takes all of them unchecked (Kernel.launch_checked).
GEMM_OPERANDS = {name: Array(name, "float32", ndim=ndim)
                 for name, ndim in [("a", 2), ("b", 2), ("c", 2), ("bias", 1), ("out", 2)]}
ALPHA, BETA = Scalar("alpha", "float32"), Scalar("beta", "float32")
GEMM_PARAMS = (
    *(GEMM_OPERANDS[name] for name in ("a", "b", "c", "bias")), Scalar("M", "int32"), Scalar("N", "int32"),
    Scalar("K", "int32"), ALPHA, BETA, Scalar("flags", "int32"),
)
# The TMA rungs (GemmVariant.tma: 9b to 9e) take the tensor maps of A and B^T (cnn_gpu/cuda/tensor_map.py)
# in their place, one kernel for every transpose (TmaPlan makes the operands k-contiguous); 9e takes
# B's map as B is, one kernel for each of B's layouts.
TMA_PARAMS = (Array("maps", "uint64", ndim=1), *GEMM_PARAMS[2:])
# Split-K's slices (GemmVariant.split_k) take a workspace for their partial tiles and the length of a
# slice; 10c's (GemmVariant.last_slice_reduces) a counter per tile besides.
SPLIT_K_PARAMS = (*GEMM_PARAMS[:4], Array("partials", "float32"), *GEMM_PARAMS[4:7], Scalar("k_per_split", "int32"),
                  *GEMM_PARAMS[7:])
SPLIT_K_LAST_SLICE_PARAMS = (*SPLIT_K_PARAMS[:5], Array("tile_counters", "uint32"), *SPLIT_K_PARAMS[5:])


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
# K-tiles and stages as the other two; 5 blocks of 38 KB fit an SM. Backward to data by graph (H200,
# gemm.json at ba54884): 4.5 us at batch 32, 7.0 at batch 128, the autotuner's choice there, against
# cuBLAS FP32's 4.6 and 7.0.
WIDE_TILES = Tiling(32, 64, 16, 32, 32, stages=5, min_blocks=5)
# The same two blocks, 32 x 32 and 32 x 64, in K-tiles of 8 and 3 stages: cuBLAS FP32's own tilings
# for Dense 5408 -> 64's backward to data at batch 32 and 128 (gemm_counters.json, H200, 27bd7f2:
# 32x32x8 and 32x64x8, stage 3, warps 1 x 2). There, K = 64 is two K-tiles of code a block runs once,
# and in that file our warps' top stall on both products was no_instruction (0.9 and 0.7 per issue,
# cuBLAS's under 0.3): waiting for instructions to be fetched, not for data. A K-tile of 8 halves the
# unrolled body and 3 stages shorten the prologue: 1304 and 2200 SASS instructions (A.B^T, sm_90,
# nvcc 13.0) against SMALL_TILES' 2088 and WIDE_TILES' 3312, for 8 barriers a product in place of 4.
# Measured (H200, gemm.json at 4f96517, in git at 7dc9295, by graph): backward to data at batch 32 4.8 and
# 5.4 us, at batch 128 7.0 and 7.4, no faster than BK = 16 (4.7, 5.1; 7.7, 7.0); at batch 32 the 32 x 32
# block's top stall became long_scoreboard (1.3 per issue): 2 K-tiles in flight, not all 4 (predictions.md).
SMALL_TILES_BK8 = replace(SMALL_TILES, block_k=8, stages=3)
WIDE_TILES_BK8 = replace(WIDE_TILES, block_k=8, stages=3)
# 3xTF32 (rung 8's kernel) at SMALL_TILES' block: two warps of 32 x 16, each 2 x 2 mma tiles. Dense
# 5408 -> 64's backward to data at batch 32 (K = 64) is 169 such blocks, 2 or 4 warps an SM, so at
# most one warp a scheduler, which must issue all of its work itself: in rung 7 at SMALL_TILES, 16
# outputs x 64 FMAs a lane (4.70 us by graph on an H200 at ac366b0, gemm.json; cuBLAS FP32 4.62 with
# the same block tile and two warps, gemm_counters.json). On the tensor cores a warp's 8-deep step of
# K is 12 mma and the operands' splits, in place of 128 FMAs a lane. FP32-accurate, as rung 8's
# 3xTF32 is. Measured (H200, gemm.json at 4f96517, in git at 7dc9295): 6.3 and 8.1 us, chosen nowhere,
# when its copies recomputed their addresses every K-tile (a main loop of 1470 SASS instructions for
# 24 mma); it takes copy_tile_async since (326-340; kernels/gemm_tensorcore.cu), unmeasured.
SMALL_TENSOR_CORE_TILES = Tiling(32, 32, 16, 32, 16, stages=5, min_blocks=8)
# 3xTF32 on wgmma (rung 9's kernel) in blocks of one warpgroup, 64 x 128, for Dense 5408 -> 64's
# backward to data (M = batch, N = 5408, K = 64: two K-tiles). At WGMMA_TILING's 128 x 128 and one
# block per SM (176 registers for 256 threads, 160 KB of stages), batch 512 is 172 tiles on 132 SMs, so
# 40 SMs run two in turn, and each block splits, waits at its barriers and stores with the tensor
# core idle: 15.7 us by graph against cuBLAS FP32's 15.4 (H200, 27bd7f2, gemm.json). Here 2 stages
# (all of K = 64) and the small parts take 72 KB, and min_blocks = 3 holds a thread to 168 registers,
# so three blocks share an SM: batch 512's 344 tiles all start at once, 2 or 3 an SM, each one's
# split, barriers and stores beside another's wgmma; batch 128 is 86 tiles of half the work, one an
# SM. Measured (H200, 6575a3b, gemm.json, by graph): batch 512 10.7 us, the autotuner's choice there;
# batch 128 8.8 (128 x 128: 8.9), where per-tile latency, not the work, sets the time
# (kernels/gemm_wgmma.cu, rung 9).
WGMMA_SMALL_TILING = Tiling(64, 128, 32, 64, 128, stages=2, min_blocks=3, group_threads=128)

# Split-K's slices (rung 10, kernels/gemm_small.cu): gemm_split_k's template arguments after the
# transposes (block tile BM x BN, K-tile BK, TM x TN outputs a thread), and the tiling of 10b and 10c,
# rung 7's kernel at MEDIUM_TILES (four 32 x 32 warps, 5 stages).
SPLIT_K_TILE = (64, 64, 16, 8, 4)
SPLIT_K_WARPTILED_TILES = MEDIUM_TILES
# 10c at cuBLAS FP32's own tiling for Dense 5408 -> 64's weight gradient at batch 512 (gemm_counters.json,
# H200, 27bd7f2: 64x64x8, stage 3, warps 1 x 4, each 64 x 16, in 3 slices and a second kernel that adds
# them): with the same 3 slices, 255 blocks and occupancy (12%), cuBLAS's kernel kept the SMs 60% busy
# and 10c's 40%; 17.2 us by graph against cuBLAS FP32's 16.2 (gemm.json, 6575a3b). A K-tile of 8 and 3
# stages make 3736 SASS instructions (A^T.B, sm_90, nvcc 13.0) of 10c's 4664. Measured (H200, gemm.json
# at 4f96517, in git at 7dc9295, by graph): 18.3 us there against 10c's 17.3, chosen nowhere: the gap to
# cuBLAS is in what its kernel does a K-tile, not in the tile's shape.
SPLIT_K_BK8_TILES = Tiling(64, 64, 8, 64, 16, stages=3, min_blocks=4)
# 10c's 64 x 64 block in eight 32 x 16 warps (16 outputs a lane) where MEDIUM_TILES has four of 32 x 32,
# for that same product, the one Dense product still lost (16.8 us by graph against cuBLAS FP32's 16.2,
# H200, gemm.json at ba54884). There 10c's 3 slices are 255 blocks, about two an SM: 8 warps, two a
# scheduler, with the SMs 40% busy where cuBLAS's kernel, with as many warps, kept them 57% busy
# (gemm_counters.json at 27bd7f2): each warp issues 512 FFMA a K-tile between barriers, and while one
# waits for its fragments' loads or at the barrier, only one other can issue. Eight warps a block give
# each scheduler four, at a third more fragment loads a multiply-add (4 + 4 floats a k for 16 FMAs,
# where 4 + 8 served 32), and half of 10c's partial quads a thread in the last slice's sum. Unmeasured:
# the autotuner decides.
# 10e's 3xTF32 slices run in this block too (gemm_split_k_3xtf32_8_warps): its warps are those of
# SMALL_TENSOR_CORE_TILES, whose three transposes compile to 92-104 registers (nvcc 13.0, sm_90), under
# the 128 a thread has where two 256-thread blocks share an SM.
SPLIT_K_EIGHT_WARP_TILES = replace(MEDIUM_TILES, warp_n=16, min_blocks=2)
# 10e (gemm_split_k_3xtf32) at 10c's block of four 32 x 32 warps, in 3xTF32: 149-153 registers a thread
# (nvcc 13.0, sm_90), more than the 128 that MEDIUM_TILES' four blocks an SM would leave, so two, which
# is what 10c's policy puts on an SM anyway (its comment in gemm_small.cu compares the two tilings).
SPLIT_K_TENSOR_CORE_TILES = replace(MEDIUM_TILES, min_blocks=2)

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
    split_k: bool = False  # K cut into slices, a block per (tile, slice), each writing its partial tile (SplitKPlan)
    last_slice_reduces: bool = False  # split-K whose last slice to finish on a tile sums the tile's slices (10c)
    # Split-K in one kernel of the GEMM parameters (10d): K cut into this many slices, grid z, each tile's
    # slices a thread-block cluster that sums them (the kernel's __cluster_dims__ fixes the number).
    cluster_slices: int = 1

    @property
    def params(self) -> tuple:
        """The kernel's parameters, as Kernel declares them."""
        if self.tma:
            return TMA_PARAMS
        if self.split_k:
            return SPLIT_K_LAST_SLICE_PARAMS if self.last_slice_reduces else SPLIT_K_PARAMS
        return GEMM_PARAMS

    def expression(self, trans_a, trans_b):
        b = lambda v: "true" if v else "false"  # noqa: E731
        tiling = self.tiling.template_arguments() if self.tiling else ""
        return self.template.format(ta=b(trans_a), tb=b(trans_b), tiling=tiling)

    def threads(self):
        return (self.tiling.threads + PRODUCER_THREADS * self.warp_specialized,) if self.tiling else self.block

    def grid(self, m, n):
        tile = (self.tiling.block_m, self.tiling.block_n) if self.tiling else self.tile
        rows, cols = ceil_div(m, tile[0]), ceil_div(n, tile[1])
        if self.cluster_slices > 1:
            return cols, rows, self.cluster_slices
        return (rows, cols) if self.m_on_x else (cols, rows)

    def shared_mem(self, trans_a, trans_b):
        if self.swizzled:
            return self.tiling.swizzled_shared_bytes(self.split, self.tma + self.warp_specialized)
        return self.tiling.shared_bytes(trans_a, trans_b, self.mn_pad) if self.tiling else 0

    def retiled(self, tiling: Tiling) -> GemmVariant:
        """This kernel under another tiling (a GEMM_SWEEP entry)."""
        return replace(self, tiling=tiling)


_SIMT, _TC, _WGMMA, _CLUSTER = "gemm_simt.cu", "gemm_tensorcore.cu", "gemm_wgmma.cu", "gemm_cluster.cu"
_WARPTILED = "gemm_warptiled_double_buffered<{ta}, {tb}, {tiling}>"
_TF32 = "gemm_tf32_mma<{ta}, {tb}, %s, {tiling}>"
_WGMMA_TF32 = "gemm_tf32_wgmma<{ta}, {tb}, %s, {tiling}>"
_WGMMA_WS = "gemm_tf32_wgmma_warp_specialized<%s, {tiling}>"
_WGMMA_MC = "gemm_tf32_wgmma_multicast<%s, {tiling}>"
_WGMMA_B_REGISTERS = "gemm_tf32_wgmma_b_in_registers<{tb}, {tiling}>"
_SMALL = "gemm_small.cu"
_SPLIT_K = "gemm_split_k<{ta}, {tb}, %d, %d, %d, %d, %d>" % SPLIT_K_TILE
_LAST_SLICE = "gemm_split_k_last_slice_reduces<{ta}, {tb}, {tiling}>"
_SPLIT_K_3XTF32 = "gemm_split_k_3xtf32<{ta}, {tb}, {tiling}>"
_BM, _BN, _BK, _TM, _TN = SPLIT_K_TILE
# The ladder, in order (the head comments of kernels/gemm_*.cu say what each one adds). Split-K's
# rungs differ in how they cut K and sum the slices, by their policies (cnn_gpu/ops/gemm_plans.py):
# gemm_split_k and gemm_split_k_fine run the same kernel.
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
    GemmVariant("gemm_warptiled_small_tiles_bk8", _SIMT, _WARPTILED, tiling=SMALL_TILES_BK8),
    GemmVariant("gemm_warptiled_wide_tiles_bk8", _SIMT, _WARPTILED, tiling=WIDE_TILES_BK8),
    GemmVariant("gemm_tf32_mma", _TC, _TF32 % "false", tf32=True, tiling=TF32_TILING, mn_pad=8),
    GemmVariant("gemm_3xtf32_mma", _TC, _TF32 % "true", tiling=TF32X3_TILING, mn_pad=8),
    GemmVariant("gemm_3xtf32_mma_small_tiles", _TC, _TF32 % "true", tiling=SMALL_TENSOR_CORE_TILES, mn_pad=8),
    # Hopper (sm_90a) only on a GPU (cnn_gpu/cuda/sources.py); the emulator runs it through ptx.cuh's twins.
    GemmVariant("gemm_tf32_wgmma", _WGMMA, _WGMMA_TF32 % "false", tf32=True, tiling=WGMMA_WS_TILING, swizzled=True),
    GemmVariant("gemm_3xtf32_wgmma", _WGMMA, _WGMMA_TF32 % "true", tiling=WGMMA_TILING, swizzled=True, split=True),
    GemmVariant("gemm_3xtf32_wgmma_small_tiles", _WGMMA, _WGMMA_TF32 % "true", tiling=WGMMA_SMALL_TILING,
                swizzled=True, split=True),
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
    GemmVariant("gemm_split_k", _SMALL, _SPLIT_K, ((_BM // _TM) * (_BN // _TN),), (_BM, _BN), split_k=True),
    GemmVariant("gemm_split_k_fine", _SMALL, _SPLIT_K, ((_BM // _TM) * (_BN // _TN),), (_BM, _BN), split_k=True),
    GemmVariant("gemm_split_k_warptiled", _SMALL, "gemm_split_k_warptiled<{ta}, {tb}, {tiling}>",
                tiling=SPLIT_K_WARPTILED_TILES, split_k=True),
    GemmVariant("gemm_split_k_last_slice_reduces", _SMALL, _LAST_SLICE,
                tiling=SPLIT_K_WARPTILED_TILES, split_k=True, last_slice_reduces=True),
    GemmVariant("gemm_split_k_last_slice_reduces_bk8", _SMALL, _LAST_SLICE,
                tiling=SPLIT_K_BK8_TILES, split_k=True, last_slice_reduces=True),
    GemmVariant("gemm_split_k_last_slice_reduces_8_warps", _SMALL, _LAST_SLICE,
                tiling=SPLIT_K_EIGHT_WARP_TILES, split_k=True, last_slice_reduces=True),
    GemmVariant("gemm_split_k_3xtf32", _SMALL, _SPLIT_K_3XTF32,
                tiling=SPLIT_K_TENSOR_CORE_TILES, mn_pad=8, split_k=True, last_slice_reduces=True),
    GemmVariant("gemm_split_k_3xtf32_8_warps", _SMALL, _SPLIT_K_3XTF32,
                tiling=SPLIT_K_EIGHT_WARP_TILES, mn_pad=8, split_k=True, last_slice_reduces=True),
    GemmVariant("gemm_warp_per_output", _SMALL, "gemm_warp_per_output<{ta}, {tb}>", (256,), (1, 8), m_on_x=True),
    # sm_90 only on a GPU (thread-block clusters; cnn_gpu/cuda/sources.py).
    GemmVariant("gemm_split_k_cluster_reduces", _CLUSTER, "gemm_split_k_cluster_reduces<{ta}, {tb}, {tiling}>",
                tiling=SPLIT_K_WARPTILED_TILES, cluster_slices=3),
    GemmVariant("gemm_split_k_cluster_reduces_8_warps", _CLUSTER, "gemm_split_k_cluster_reduces<{ta}, {tb}, {tiling}>",
                tiling=SPLIT_K_EIGHT_WARP_TILES, cluster_slices=3),
]}
GEMM_KERNELS = {
    (variant.name, trans_a, trans_b): Kernel(variant.file, variant.expression(trans_a, trans_b), variant.params)
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
SWEEP_KERNELS = {variant: Kernel(variant.file, variant.expression(False, False), variant.params, options=SWEEP_OPTIONS)
                 for variant in GEMM_SWEEP}
