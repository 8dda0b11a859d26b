"""Checked emulation catches real bugs: each test plants one in a copy of a real kernel.

The copy is made from the kernel file as it is now (``helpers.planted``: the edit must still
apply, or the test fails), compiled under the emulator in checked mode (tests/conftest.py turns it on), and launched the
way its wrapper launches it. Each fault must be caught: by the guards, by the schedule orders, or
by the output missing the reference.
"""

import numpy as np
import pytest

from cnn_gpu.cuda.emulate import (
    DeadlockError, EmulatedModule, KernelFault, OutOfBoundsError, ScheduleDependenceError,
)
from cnn_gpu.cuda.sources import kernel_path, kernels_dir
from cnn_gpu.ops import reduce, transpose
from helpers import planted, poisoned, random_array, rel_error


def launch_transpose(code, name, src):
    rows, cols = src.shape
    out = poisoned((cols, rows), np.float32)
    module = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",))
    grid = (-(-cols // transpose.TILE), -(-rows // transpose.TILE))
    module.get_function(name)(grid, (transpose.TILE, transpose.BLOCK_ROWS), (src, out, np.int32(rows), np.int32(cols)))
    return out


def test_an_off_by_one_bound_is_caught_as_out_of_bounds(rng):
    code = planted(kernel_path("transpose.cu"), "row < row0 + TILE && row < rows;", "row < row0 + TILE && row <= rows;")
    src = random_array(rng, (37, 45), np.float32)
    with pytest.raises(OutOfBoundsError, match="transpose_naive"):
        launch_transpose(code, "transpose_naive", src)


def test_a_missing_syncthreads_is_caught(rng):
    barrier = "    // Every thread's store above must land before any thread reads another thread's element.\n    __syncthreads();\n"
    code = planted(kernel_path("transpose.cu"), barrier, "")
    src = random_array(rng, (64, 64), np.float32)
    with pytest.raises(ScheduleDependenceError, match="transpose_smem_tiled.*'dst'"):
        launch_transpose(code, "transpose_smem_tiled", src)


def test_a_wrong_shuffle_offset_is_caught(rng):
    code = planted(kernel_path("reduce.cu"), "for (int offset = WARP / 2; offset > 0; offset /= 2)",
                   "for (int offset = WARP / 4; offset > 0; offset /= 2)")
    x = random_array(rng, (5, 300), np.float32)
    out = poisoned(5, np.float32)
    name = "row_reduce_warp_per_row<float, Reduce::sum>"
    module = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",), name_expressions=[name])
    module.get_function(name)((1,), (reduce.BLOCK,), (x, out, np.int32(5), np.int32(300)))
    assert rel_error(out, x.astype(np.float64).sum(axis=1)) > 1e-2, "half the warp's lanes were dropped unnoticed"


# --- Hopper's wgmma (kernels/gemm_wgmma.cu): the twin keeps each operation in flight until its wait ---
def planted_pipeline(correct, faulty):
    """gemm_wgmma.cu with a bug planted in rung 9's pipeline, which it includes from wgmma_common.cuh
    (convolution's rung 8 too): the planted header's text in place of its #include."""
    header = planted(kernel_path("wgmma_common.cuh"), correct, faulty).replace("#pragma once\n", "")
    return planted(kernel_path("gemm_wgmma.cu"), '#include "wgmma_common.cuh"\n', header)


def launch_wgmma_gemm(code, rng, split=False, m=130, n=136, k=200):
    """C = A B^T by the wgmma kernel (TF32, or 3xTF32 with ``split``; every transpose shares its
    pipeline) from a planted copy."""
    from cnn_gpu.ops.gemm_variants import GEMM_VARIANTS

    variant = GEMM_VARIANTS["gemm_3xtf32_wgmma" if split else "gemm_tf32_wgmma"]
    name = variant.expression(False, True)
    a, b = random_array(rng, (m, k)), random_array(rng, (n, k))
    c, bias = poisoned((m, n)), np.zeros(n, np.float32)
    module = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",), name_expressions=[name])
    module.get_function(name)(variant.grid(m, n), variant.threads(),
                              (a, b, c, bias, np.int32(m), np.int32(n), np.int32(k), np.float32(1.0), np.float32(0.0),
                               np.int32(0)),
                              shared_mem=variant.shared_mem(False, True))
    return c, a.astype(np.float64) @ b.astype(np.float64).T


@pytest.mark.parametrize("split", [False, True], ids=["tf32", "3xtf32"])
def test_the_wgmma_kernels_as_they_are_pass_the_twins_checks(rng, split):
    c, ref = launch_wgmma_gemm(kernel_path("gemm_wgmma.cu").read_text(), rng, split)
    assert rel_error(c, ref) < (1e-5 if split else 2e-3)


def test_refilling_a_buffer_that_a_wgmma_in_flight_reads_is_caught(rng):
    # The copies one tile further ahead land in the buffer the previous tile's wgmma still read.
    code = planted_pipeline("constexpr int AHEAD = SPLIT ? STAGES - 1 : STAGES - 2;",
                            "constexpr int AHEAD = STAGES - 1;")
    with pytest.raises(KernelFault, match="shared memory read by a wgmma in flight changed"):
        launch_wgmma_gemm(code, rng)


def test_reading_the_accumulators_before_the_last_wait_is_caught(rng):
    tail = "            wgmma_wait_group<1>();\n        }\n    }\n"
    code = planted_pipeline(tail + "    wgmma_wait_group<0>();\n    wgmma_fence_operands(acc);",
                            tail + "    wgmma_fence_operands(acc);")
    with pytest.raises(KernelFault, match="exited with wgmma in flight"):
        launch_wgmma_gemm(code, rng)


def test_a_missing_proxy_fence_between_cp_async_and_wgmma_is_caught(rng):
    # cp.async writes through the generic proxy, wgmma reads through the async one: without the fence
    # the tensor core may read what the copies wrote before it was visible to it.
    code = planted_pipeline("        fence_proxy_async_shared();\n", "")
    with pytest.raises(KernelFault, match="cp.async wrote with no fence_proxy_async_shared"):
        launch_wgmma_gemm(code, rng)


def test_a_missing_wgmma_fence_is_caught(rng):
    code = planted_pipeline("        float chain[BN / 2] = {};\n        wgmma_fence_operands(chain);"
                            "  // the zeros are written before the fence below, not moved past it\n"
                            "        wgmma_fence();\n", "        float chain[BN / 2] = {};\n")
    with pytest.raises(KernelFault, match="no wgmma_fence since"):
        launch_wgmma_gemm(code, rng, split=True)


def test_a_3xtf32_copy_into_the_tile_being_split_is_caught(rng):
    # 3xTF32 waits for each tile's wgmma, so its copies may run STAGES - 1 tiles ahead, not STAGES:
    # one more lands in the buffer of the tile being split and computed.
    code = planted_pipeline("constexpr int AHEAD = SPLIT ? STAGES - 1 : STAGES - 2;",
                            "constexpr int AHEAD = SPLIT ? STAGES : STAGES - 2;")
    with pytest.raises(ScheduleDependenceError, match="argument 'c'"):
        launch_wgmma_gemm(code, rng, split=True)


def test_writing_the_accumulators_of_a_wgmma_in_flight_is_caught(rng):
    # As if the epilogue's work began early: the accumulators change while tile t's wgmma still run.
    issue = "            issue_tile_wgmma<BM, BN, BK>(acc, stage, warpgroup);\n"
    code = planted_pipeline(issue, issue + "            acc[0] += 1.0f;\n")
    with pytest.raises(KernelFault, match="accumulators of a wgmma in flight were written"):
        launch_wgmma_gemm(code, rng)


def launch_tma_gemm(code, rng, variant_name, m=130, n=136, k=300):
    """C = A B^T by a TMA rung (A and B k-contiguous, as TmaPlan hands them over) from a planted
    copy; k = 300 is 10 K-tiles, so every stage is refilled at least once. The persistent rung runs
    as one block, which takes every output tile; the multicast rung as one cluster of two blocks
    (the second past N), each copying half of A's rows."""
    from cnn_gpu.cuda import tensor_map
    from cnn_gpu.ops.gemm_variants import GEMM_VARIANTS

    variant = GEMM_VARIANTS[variant_name]
    name = variant.expression(False, True)
    a, b = random_array(rng, (m, k)), random_array(rng, (n, k))
    c, bias = poisoned((m, n)), np.zeros(n, np.float32)
    maps = tensor_map.maps("emulate", [(a, variant.tiling.block_m // variant.cluster), (b, variant.tiling.block_n)])
    module = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",), name_expressions=[name])
    grid = variant.grid(m, n)
    if variant.cluster > 1:
        grid = (-(-grid[0] // variant.cluster) * variant.cluster, grid[1])
    if variant.persistent:  # one block (one cluster) takes every output tile
        grid = (variant.cluster,)
    module.get_function(name)(grid, variant.threads(),
                              (maps, c, bias, np.int32(m), np.int32(n), np.int32(k), np.float32(1.0), np.float32(0.0),
                               np.int32(0)), shared_mem=variant.shared_mem(False, True))
    return c, a.astype(np.float64) @ b.astype(np.float64).T


def test_a_bulk_copy_into_a_buffer_a_wgmma_still_reads_is_caught(rng):
    # gemm_tf32_wgmma_tma's copies one tile further ahead land where the previous tile's wgmma read.
    code = planted(kernel_path("gemm_wgmma.cu"), "STAGE_BYTES = (BM + BN) * 128, AHEAD = STAGES - 2;",
                   "STAGE_BYTES = (BM + BN) * 128, AHEAD = STAGES - 1;")
    with pytest.raises(KernelFault, match="shared memory read by a wgmma in flight changed"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_tma")


# --- the warp-specialized rung: a producer and consumers that meet only at mbarriers ---
WS_RELEASE = "            if (t > 0) mbarrier_arrive_if(&empty[(it - 1) % STAGES], releases);"


# The rungs fed by producer warpgroups as they are: the persistent ones on two rows of tiles, which
# one block (one cluster of two) takes in turn.
@pytest.mark.parametrize("variant,m", [("gemm_tf32_wgmma_warp_specialized", 130), ("gemm_tf32_wgmma_persistent", 200),
                                       ("gemm_tf32_wgmma_multicast", 130),
                                       ("gemm_tf32_wgmma_multicast_persistent", 200),
                                       ("gemm_tf32_wgmma_b_in_registers", 130)])
def test_the_warp_specialized_kernels_as_they_are_pass_the_twins_checks(rng, variant, m):
    c, ref = launch_tma_gemm(kernel_path("gemm_wgmma.cu").read_text(), rng, variant, m=m)
    assert rel_error(c, ref) < 2e-3


def test_a_consumer_releasing_the_stage_its_wgmma_still_read_is_caught(rng):
    # Releasing K-tile it's stage right after issuing its wgmma, not K-tile it - 1's after the wait:
    # the producer refills it under the wgmma in flight.
    code = planted(kernel_path("gemm_wgmma.cu"), WS_RELEASE,
                   "            mbarrier_arrive_if(&empty[it % STAGES], releases);")
    with pytest.raises(KernelFault, match="shared memory read by a wgmma in flight changed"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_warp_specialized")


# Rung 9e's fragment registers: the twin must see a wgmma's registers overwritten in flight, and a
# fragment read with no fence after its loads (for the latter ptxas would add the fence itself on
# sm_90a, info C7519, and the compile check fail; for the former it serializes every wgmma, C7513).
FRAGMENT_FAULTS = {
    # Two k-steps' wgmma left in flight: the fragment then loaded lands in the registers of the one
    # before, which may not be done.
    "overwritten in flight": ("wgmma_wait_group<1>();  // only this k-step's",
                              "wgmma_wait_group<2>();  // only this k-step's",
                              "the A registers of a wgmma in flight were written"),
    # A fence before a K-tile's first k-step only.
    "read unfenced": ("            wgmma_fence();  // orders the writes of this k-step's fragment",
                      "            if (step == 0) wgmma_fence();  // orders the writes of this k-step's fragment",
                      "a wgmma read A from registers with no wgmma_fence"),
}


@pytest.mark.parametrize("fault", FRAGMENT_FAULTS)
def test_a_fragment_register_hazard_is_caught(rng, fault):
    before, after, message = FRAGMENT_FAULTS[fault]
    with pytest.raises(KernelFault, match=message):
        launch_tma_gemm(planted(kernel_path("gemm_wgmma.cu"), before, after), rng, "gemm_tf32_wgmma_b_in_registers")


def test_a_producer_that_does_not_wait_for_the_release_is_caught(rng):
    # It fills every K-tile at once: its second arrival on stage s's full barrier comes while the
    # phase of the first is still open, its copies not yet waited for (on a GPU: a phase completed
    # early, or a hang, and tiles computed from a later tile's data).
    code = planted(kernel_path("gemm_wgmma.cu"),
                   "if (it >= STAGES) mbarrier_wait(&empty[s], (it / STAGES - 1) % 2);  // K-tile it - STAGES released",
                   "")
    with pytest.raises(KernelFault, match="mbarrier_arrive_expect_tx: more arrivals than the phase counts"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_warp_specialized")


def test_a_read_of_a_stage_before_its_bulk_copies_land_is_caught(rng):
    # Rung 9b without its wait on the stage's mbarrier: the wgmma read the stage while its copies are
    # still in flight, which the twin fills with NaN until a wait lands them (two K-tiles, so that no
    # later copy trips over the phase left open).
    code = planted(kernel_path("gemm_wgmma.cu"),
                   "        mbarrier_wait(&landed[t % STAGES], (t / STAGES) % 2);  // tile t has landed\n", "")
    c, _ = launch_tma_gemm(code, rng, "gemm_tf32_wgmma_tma", k=64)
    assert np.isnan(c).all()


def test_a_persistent_block_that_keeps_its_tiles_last_stage_stalls_its_producer(rng):
    # Without the release after a tile's final wait, the producer's refill of that stage for the
    # next tile waits forever.
    code = planted(kernel_path("gemm_wgmma.cu"),
                   "        if (k_tiles > 0) mbarrier_arrive_if(&empty[(it - 1) % STAGES], releases);  // the tile's last stage\n",
                   "")
    with pytest.raises(DeadlockError, match="thread 256 wait for an mbarrier phase"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_persistent", m=200, n=136, k=100)


# --- the multicast rung: two blocks of a cluster, each producer feeding both ---
def test_a_block_whose_consumers_do_not_release_the_other_blocks_stage_stalls_its_producer(rng):
    # Without the remote arrival, the other block's producer would refill a stage this block's
    # consumers may still read (its half of A lands here): it must wait, and waits forever.
    code = planted(kernel_path("gemm_wgmma.cu"), "            mbarrier_arrive_remote_if(&empty[stage], other, releases);\n",
                   "")
    with pytest.raises(DeadlockError, match="wait for an mbarrier phase"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_multicast")


def test_a_half_of_a_multicast_to_its_own_block_only_is_caught(rng):
    # The other block never gets this block's half of A: its full barrier waits for bytes that never come.
    code = planted(kernel_path("gemm_wgmma.cu"), "&full[s], (1u << CLUSTER) - 1);", "&full[s], 1u << rank);")
    with pytest.raises(DeadlockError, match="wait for an mbarrier phase"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_multicast")


def test_a_half_of_a_landing_in_the_other_half_is_caught(rng):
    code = planted(kernel_path("gemm_wgmma.cu"), "tma_load_2d_multicast(stage + rank * A_SHARE,",
                   "tma_load_2d_multicast(stage + other * A_SHARE,")
    c, ref = launch_tma_gemm(code, rng, "gemm_tf32_wgmma_multicast")
    assert not rel_error(c, ref) < 1e-1, "A's halves swapped went unnoticed"


def test_every_lane_releasing_where_one_lane_a_warp_is_counted_is_caught(rng):
    # empty[s] counts one arrival per consumer warp: 32 from each warp complete a phase before the
    # other warps are done with the stage, and spill into the phases after it, so the producer's
    # waits and the stages lose step: the twin reports the hang (or a refill under a wgmma, where
    # the order of the threads lets the producer run ahead first).
    code = planted(kernel_path("gemm_wgmma.cu"), WS_RELEASE,
                   "            if (t > 0) mbarrier_arrive_if(&empty[(it - 1) % STAGES], true);")
    with pytest.raises((DeadlockError, KernelFault)):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_warp_specialized")


def test_a_consumer_warp_that_never_releases_is_a_deadlock_naming_the_mbarrier(rng):
    # Warp 1's releasing lane (thread 32) never arrives.
    code = planted(kernel_path("gemm_wgmma.cu"), WS_RELEASE,
                   "            if (t > 0) mbarrier_arrive_if(&empty[(it - 1) % STAGES], releases && tid != 32);")
    with pytest.raises(DeadlockError, match=r"thread 256 wait for an mbarrier phase .* at \S+\.cu:\d+"):
        launch_tma_gemm(code, rng, "gemm_tf32_wgmma_warp_specialized")
