"""How a GEMM rung launches for one problem: a plan per (kernel, M, N, K, epilogue), made at the
first call of that problem and kept (plan_for), so that the calls after it only launch.

- ``GemmPlan``: one kernel over a grid of output tiles (rungs 1 to 9, 10d and 11; 10d's grid has its
  slices along z, GemmVariant.cluster_slices).
- ``TmaPlan``: the bulk-tensor-copy rungs (9b to 9e), which take tensor maps of their operands.
- ``SplitKPlan``: split-K (rung 10): K cut into slices by a policy per variant (or into as many as
  the caller asks for), then the slices summed, by a second kernel or by the last slice of each tile
  to finish.

The rungs themselves (templates, tilings, parameters) are in cnn_gpu/ops/gemm_variants.py; gemm()
in cnn_gpu/ops/gemm.py chooses one and calls its plan.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from cnn_gpu.cuda import tensor_map
from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, check_launch
from cnn_gpu.ops.common import ceil_div
from cnn_gpu.ops.gemm_variants import GEMM_KERNELS, GEMM_VARIANTS, SPLIT_K_TILE
from cnn_gpu.ops.transpose import transpose


@functools.lru_cache(maxsize=None)
def placeholder_vector(backend, device, dtype="float32"):
    """A vector on the device, made once, for a pointer the kernel never reads (no bias, one slice's
    counters): a view of out per call costs microseconds in CuPy."""
    return backend_xp(backend).zeros(1, dtype=dtype)


class GemmPlan:
    """One ladder kernel's launch for one problem, checked once and kept (plan_for): its grid, block
    and shared memory by check_launch, and M, N, K and the epilogue flags as their exact C types."""

    def __init__(self, kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device):
        self.kernel = kernel
        self.geometry = check_launch(variant.grid(m, n), variant.threads(), variant.shared_mem(trans_a, trans_b),
                                     kernel.name)
        self.m, self.n, self.k, self.flags = kernel.cast(M=m, N=n, K=k, flags=flags)

    def __call__(self, a, b, c, bias, alpha, beta, backend):
        """Launch on arrays gemm() has checked (``bias`` a placeholder where there is none), alpha and
        beta already float32 scalars."""
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
            grid = (min(grid[0] * grid[1], device_sm_count(backend, device) // cluster * cluster),)
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


# Every plan made in this process, by (kernel, variant name, m, n, k, flags, backend, device, split-K's
# slices asked for); the name lets a variant's plans be found by it. Training runs the same few problems
# per Dense layer at every step.
_PLANS: dict = {}


def plan_for(kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device, splits=None):
    """The plan that launches ``kernel`` (``variant``'s, or a sweep entry's) for this problem; for a
    split-K variant, in ``splits`` slices of K if given (split_k_plan), else as its policy cuts it."""
    key = (kernel, variant.name, m, n, k, flags, backend, device, splits)
    plan = _PLANS.get(key)
    if plan is None:
        if variant.split_k:
            plan = SplitKPlan(kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device, splits)
        else:
            plan = (TmaPlan if variant.tma else GemmPlan)(kernel, variant, trans_a, trans_b, m, n, k, flags, backend,
                                                          device)
        _PLANS[key] = plan
    return plan


# --- split-K (kernels/gemm_small.cu): the ladder's rung 10, two kernels per product, or one ---------
# A split-K kernel cuts K into slices and gives each (tile, slice) pair a block, which writes its
# partial tile to a workspace [splits][M][N rounded up to 4]; gemm_split_k_reduce sums the slices in a
# fixed order through the epilogue. One slice needs neither workspace nor reduce. Four variants, each
# with a policy for cutting K (SPLIT_K_POLICIES): gemm_split_k and gemm_split_k_fine run rung 5's tile
# in each slice, gemm_split_k_warptiled (10b) rung 7's, and gemm_split_k_last_slice_reduces (10c)
# 10b's slices with the sum in the same launch, by the last slice of each tile to finish (a counter
# per tile).


@dataclass(frozen=True)
class SplitKPolicy:
    """How a split-K variant cuts K (split_k_plan): slices enough for about ``blocks_per_sm`` blocks
    per SM, but each at least ``min_k_tiles`` K-tiles long, and at most ``max_splits`` of them; and
    how gemm_split_k_reduce sums them: ``reduce_groups`` threads summing one float4 of C's slices
    between them (unused where the slices sum themselves: GemmVariant.last_slice_reduces)."""

    blocks_per_sm: int
    min_k_tiles: int
    max_splits: int | None = None
    reduce_groups: int = 8


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
# gemm_split_k_last_slice_reduces: at most 8 slices, and half of 10b's blocks. One block sums each
# tile, on one SM, reading up to 16 KB of partials per slice from L2: at 8 slices 128 KB, at the 68
# of the Dense forward at batch 32 (10b's slices there, 8 KB each) 544 KB, all that 10b's reduce
# kernel spreads over the whole GPU. So 10c is for many tiles and few slices, as in Dense
# 5408 -> 64's weight gradient at batch 512 (85 tiles): there, at 10b's policy (6 slices), it took
# 24.6 us, against 10b's 18.7 and cuBLAS FP32's 16.1 (NVIDIA H200, gemm.json at ac366b0, by graph),
# cuBLAS itself cutting K into 3 slices, then summing them in a second kernel (gemm_counters.json,
# H100, 2c9911a). Two blocks per SM give 3 slices there too, 255 blocks, all resident at once, half
# the partials to write and sum, and slices of 11 K-tiles, where 6 slices' 6 K-tiles were hardly
# more than the 4 the pipeline's prologue puts in flight. (Unmeasured. At the forward products' 1
# to 8 tiles, and where K has few K-tiles, the slices are those of 4 blocks per SM.)
LAST_SLICE_POLICY = SplitKPolicy(blocks_per_sm=2, min_k_tiles=4, max_splits=8)  # 10c's, at each tiling, and 10e's
SPLIT_K_POLICIES = {"gemm_split_k": SplitKPolicy(blocks_per_sm=4, min_k_tiles=4),
                    "gemm_split_k_fine": SplitKPolicy(blocks_per_sm=8, min_k_tiles=1, reduce_groups=32),
                    "gemm_split_k_warptiled": SplitKPolicy(blocks_per_sm=4, min_k_tiles=4),
                    "gemm_split_k_last_slice_reduces": LAST_SLICE_POLICY,
                    "gemm_split_k_last_slice_reduces_bk8": LAST_SLICE_POLICY,
                    "gemm_split_k_last_slice_reduces_8_warps": LAST_SLICE_POLICY,
                    "gemm_split_k_3xtf32": LAST_SLICE_POLICY,
                    "gemm_split_k_3xtf32_8_warps": LAST_SLICE_POLICY}
# gemm_split_k_reduce's block: QUADS float4s of the output x a policy's reduce_groups groups of slices.
SPLIT_K_REDUCE_QUADS = 32
# The emulator has no SMs to fill; it plans for this many, so that small test shapes split too.
EMULATED_SM_COUNT = 4

SPLIT_K_REDUCE_PARAMS = [
    Array("partials", "float32", ndim=1), Array("c", "float32", ndim=2), Array("bias", "float32", ndim=1),
    Scalar("M", "int32"), Scalar("N", "int32"), Scalar("splits", "int32"), Scalar("alpha", "float32"),
    Scalar("beta", "float32"), Scalar("flags", "int32"),
]
# By groups: the reduce's instances.
SPLIT_K_REDUCE = {groups: Kernel("gemm_small.cu", f"gemm_split_k_reduce<{SPLIT_K_REDUCE_QUADS}, {groups}>",
                                 SPLIT_K_REDUCE_PARAMS)
                  for groups in sorted({policy.reduce_groups for name, policy in SPLIT_K_POLICIES.items()
                                        if not GEMM_VARIANTS[name].last_slice_reduces})}


def split_k_block(name):
    """``(BM, BN, BK)``: the block tile and K-tile of split-K variant ``name``'s slices, from its
    tiling, or gemm_split_k's template arguments."""
    tiling = GEMM_VARIANTS[name].tiling
    return (tiling.block_m, tiling.block_n, tiling.block_k) if tiling else SPLIT_K_TILE[:3]


@functools.lru_cache(maxsize=4096)
def split_k_plan(m, n, k, sm_count, name="gemm_split_k", splits=None):
    """``(splits, k_per_split)`` for an M x N x K product on ``sm_count`` SMs by split-K variant ``name``:
    split_k_slices under its policy and block tile, or, given ``splits``, K cut into that many slices
    (cut_k: fewer where K has fewer K-tiles)."""
    block = split_k_block(name)
    if splits is not None:
        return cut_k(k, block[2], splits)
    return split_k_slices(m, n, k, sm_count, SPLIT_K_POLICIES[name], block)


# The slice counts the autotuner times each last-slice rung at (10c and its tilings, 10e; cnn_gpu/ops/gemm.py):
# besides its policy's (two blocks an SM), the same policy at three and four blocks an SM, more and shorter
# slices where the tiles alone leave the SMs room. On Dense 5408 -> 64's weight gradient at batch 512 (85
# tiles on 132 SMs) that is 3, then 4 and 6 slices. 10c's 3 are cuBLAS's own count (LAST_SLICE_POLICY's
# comment), but 10e's slices hold 140-153 registers a thread, room for three blocks an SM, and 10c's SMs
# issued 40% of the time with two: which count pays there is the GPU's to say, not a guess's.
LAST_SLICE_BLOCKS_PER_SM_TRIED = (3, 4)


def split_k_alternatives(name, m, n, k, sm_count):
    """The slice counts, other than its policy's, that the autotuner times split-K variant ``name`` at for
    an M x N x K product on ``sm_count`` SMs: for a last-slice rung, its policy at
    LAST_SLICE_BLOCKS_PER_SM_TRIED blocks an SM (each count once); none for the others."""
    if not GEMM_VARIANTS[name].last_slice_reduces:
        return ()
    policy, block = SPLIT_K_POLICIES[name], split_k_block(name)
    own = split_k_plan(m, n, k, sm_count, name)[0]
    tried = {split_k_slices(m, n, k, sm_count, replace(policy, blocks_per_sm=blocks), block)[0]
             for blocks in LAST_SLICE_BLOCKS_PER_SM_TRIED}
    return tuple(sorted(tried - {own}))


def split_k_slices(m, n, k, sm_count, policy, block):
    """``(splits, k_per_split)`` for an M x N x K product on ``sm_count`` SMs, in blocks of ``block``
    = (BM, BN, BK) under SplitKPolicy ``policy``; convolution's filter gradient plans with it too.

    Enough slices that the blocks (its tiles x slices) come to about the policy's ``blocks_per_sm``
    per SM (and at most ``max_splits``), each slice at least ``min_k_tiles`` of its K-tiles and a
    whole number of them (only the last one ends inside a K-tile, at K), and no slice empty. Few
    slices when M x N alone fills the GPU: then 1.
    """
    bm, bn, bk = block
    tiles = ceil_div(m, bm) * ceil_div(n, bn)
    k_tiles = max(1, ceil_div(k, bk))
    wanted = policy.blocks_per_sm * sm_count // tiles
    return cut_k(k, bk, min(wanted, k_tiles // policy.min_k_tiles, policy.max_splits or k_tiles))


def cut_k(k, bk, splits):
    """``(slices, k_per_split)``: K cut into ``splits`` slices (at least 1) of whole K-tiles of ``bk``, or
    fewer where K has fewer K-tiles or the last slice would be empty (7 K-tiles in 3 slices: 3 + 3 + 1;
    in 5: 2 + 2 + 2 + 1, four slices)."""
    k_tiles = max(1, ceil_div(k, bk))
    tiles_per_split = ceil_div(k_tiles, max(1, min(splits, k_tiles)))
    return ceil_div(k_tiles, tiles_per_split), tiles_per_split * bk


@functools.lru_cache(maxsize=None)
def device_sm_count(backend, device):
    if backend != "cuda":
        return EMULATED_SM_COUNT
    import cupy

    return int(cupy.cuda.Device(device).attributes["MultiProcessorCount"])


# (owner, backend, device, size, dtype) -> a workspace, kept for the life of the process: training
# asks for the same few sizes at every step, and a captured CUDA graph holds the address it launched
# with. Shared by every launch of its owner (split-K's products, batch normalization's rung 4) of
# that size on the device, so those must run in stream order (one stream per device, as everything
# here does). The float32 ones hold partial tiles, the uint32 ones the last-block counters (10c's
# tile counters, batch normalization's): zeroed once here, and left at zero by every launch that
# completes. Owners never share one: a counter left off zero by one (a launch that failed) stays
# its own. Ops keep here, too, the temporaries that one call writes and a later launch of the same
# call reads (column sums' partials, per-row losses, batch normalization's sums and per-channel
# constants): an allocation per call cost microseconds of a training step's host time in CuPy.
_WORKSPACES: dict = {}


def split_k_workspace(backend, device, size, dtype="float32", owner="split-K"):
    """The process's zeroed workspace of ``size`` elements (an int, or a shape) on the device for
    ``owner`` (see _WORKSPACES)."""
    key = (owner, backend, device, size, dtype)
    if key not in _WORKSPACES:
        _WORKSPACES[key] = backend_xp(backend).zeros(size, dtype=dtype)
    return _WORKSPACES[key]


class SplitKPlan:
    """A split-K variant's launches for one problem, checked once and kept like a GemmPlan: the slices'
    kernel over a grid with the slices along z (its policy's, or ``splits``: split_k_plan), then (with
    more than one slice, unless the slices sum themselves) the reduce into C."""

    def __init__(self, kernel, variant, trans_a, trans_b, m, n, k, flags, backend, device, splits=None):
        policy, last_slice_reduces = SPLIT_K_POLICIES[variant.name], variant.last_slice_reduces
        splits, k_per_split = split_k_plan(m, n, k, device_sm_count(backend, device), variant.name, splits)
        grid = variant.grid(m, n)
        self.slices = kernel
        self.slices_geometry = check_launch((*grid, splits), variant.threads(), variant.shared_mem(trans_a, trans_b),
                                            kernel.name)
        self.slices_scalars = kernel.cast(M=m, N=n, K=k, k_per_split=k_per_split)
        self.flags, = kernel.cast(flags=flags)
        # One slice stores through the epilogue and never touches the workspace: C fills the slot (and
        # any uint32 vector the counters' one).
        self.workspace = split_k_workspace(backend, device, splits * m * ceil_div(n, 4) * 4) if splits > 1 else None
        self.counters = ()
        if last_slice_reduces:
            self.counters = (split_k_workspace(backend, device, grid[0] * grid[1], "uint32") if splits > 1
                             else placeholder_vector(backend, device, "uint32"),)
        self.reduce = None
        if splits > 1 and not last_slice_reduces:
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
