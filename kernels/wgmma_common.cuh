// What the wgmma rungs share, GEMM's (gemm_wgmma.cu) and convolution's (conv2d_wgmma.cu): tiles in
// the 128-byte swizzle that wgmma reads (ptx.cuh), copied by cp.async; a warpgroup's wgmma over one
// K-tile and its epilogue; 3xTF32's split of a landed tile; and rung 9's pipeline, which runs them
// (wgmma_mainloop). sm_90a only, as wgmma.
#pragma once

#include "gemm_common.cuh"

// Copy the ROWS x 32 tile of an operand at (mn0, k0) into `tile` in the 128-byte swizzle, zero-filled
// outside the matrix; all NTHREADS threads take part, each with a compile-time share, so the loops
// unroll and per copy only an address, a bound and the copy itself are left in the K loop.
//   K-contiguous (A plain, B transposed): a thread copies the same 16-byte chunk of rows NTHREADS / 8
// apart, a multiple of 8 apart, so all its rows share one swizzle; a warp reads 4 whole rows of 128
// bytes and writes them to distinct banks. Where 16-byte copies do not fit, a float of rows
// NTHREADS / 32 apart, a warp one row.
//   MN-contiguous (A transposed, B plain), transposed on the way one float at a time: a warp takes 8
// consecutive rows (32 bytes of global memory at each k) at 4 consecutive k, a whole 16-byte chunk of
// each row: 4 full 32-byte sectors read, and 32 distinct banks written (8 rows with 8 different
// swizzles, 4 floats of a chunk each). The block's threads cover NTHREADS / 4 rows at a time.
template <bool K_CONTIGUOUS, int ROWS, int NTHREADS>
__device__ __forceinline__ void copy_swizzled_tile_async(unsigned char* __restrict__ tile, const float* __restrict__ x,
                                                         int mn0, int k0, int MN, int K, int tid, bool wide)
{
    if (K_CONTIGUOUS && wide) {
        constexpr int ROW_STEP = NTHREADS / 8;
        static_assert(ROWS % ROW_STEP == 0 && ROW_STEP % 8 == 0, "whole passes, rows a multiple of 8 apart");
        const int row = tid / 8, gk = k0 + (tid % 8) * 4;
        const int bytes = gk < K ? 16 : 0;  // wide: K is a multiple of 4, so a chunk is whole or outside
        unsigned char* const dst = tile + swizzle_128b_offset(row, gk - k0);
        const float* const src = x + (long long)(mn0 + row) * K + gk;
#pragma unroll
        for (int j = 0; j < ROWS / ROW_STEP; ++j) {
            const bool inside = mn0 + row + j * ROW_STEP < MN && bytes > 0;
            cp_async<16>(dst + j * ROW_STEP * 128, inside ? src + (long long)j * ROW_STEP * K : x, inside ? bytes : 0);
        }
    } else if (K_CONTIGUOUS) {
        // A warp per row: rows NTHREADS / 32 apart, which for a block of one warpgroup (4) is no
        // multiple of 8: then each row's swizzle is its own, where two warpgroups' share one.
        constexpr int ROW_STEP = NTHREADS / 32;
        constexpr bool SAME_SWIZZLE = ROW_STEP % 8 == 0;
        static_assert(ROWS % ROW_STEP == 0, "whole passes");
        const int row = tid / 32, gk = k0 + tid % 32;
        unsigned char* const dst = tile + swizzle_128b_offset(row, gk - k0);
        const float* const src = x + (long long)(mn0 + row) * K + gk;
#pragma unroll
        for (int j = 0; j < ROWS / ROW_STEP; ++j) {
            const bool inside = mn0 + row + j * ROW_STEP < MN && gk < K;
            unsigned char* const row_dst =
                SAME_SWIZZLE ? dst + j * ROW_STEP * 128 : tile + swizzle_128b_offset(row + j * ROW_STEP, gk - k0);
            cp_async<4>(row_dst, inside ? src + (long long)j * ROW_STEP * K : x, inside ? 4 : 0);
        }
    } else {
        constexpr int ROW_STEP = NTHREADS / 4;
        static_assert(ROWS % ROW_STEP == 0 && ROW_STEP % 8 == 0, "whole passes, rows a multiple of 8 apart");
        const int lane = tid % 32, row = (tid / 32) * 8 + lane % 8, k_in_chunk = lane / 8;
#pragma unroll
        for (int chunk = 0; chunk < 8; ++chunk) {
            const int gk = k0 + 4 * chunk + k_in_chunk;
            unsigned char* const dst = tile + swizzle_128b_offset(row, 4 * chunk + k_in_chunk);
            const float* const src = x + (long long)gk * MN + mn0 + row;
#pragma unroll
            for (int j = 0; j < ROWS / ROW_STEP; ++j) {
                const bool inside = gk < K && mn0 + row + j * ROW_STEP < MN;
                cp_async<4>(dst + j * ROW_STEP * 128, inside ? src + j * ROW_STEP : x, inside ? 4 : 0);
            }
        }
    }
}

// A warpgroup's 64 x BN accumulators, at (m0, n0) of C, through the epilogue: acc[4j + i] is
// C(m0 + 16 warp + lane / 4 + 8 (i / 2), n0 + 8j + 2 (lane % 4) + i % 2) (ptx.cuh's fragment layout),
// so acc[4j + 2h] and acc[4j + 2h + 1] are neighbours in a row: stored as a pair (store_output_pair).
template <int BN>
__device__ __forceinline__ void store_warpgroup_tile(const float (&acc)[BN / 2], float* __restrict__ c,
                                                     const float* __restrict__ bias, int m0, int n0, int M, int N,
                                                     float alpha, float beta, int flags)
{
    const int warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
    const int row = m0 + warp * 16 + lane / 4, col = n0 + 2 * (lane % 4);
    const bool pairs = output_pairs_fit(c, N);
    with_epilogue(beta, flags, pairs && m0 + 64 <= M && n0 + BN <= N, [&](EpilogueKind kind) {
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
            for (int h = 0; h < 2; ++h)
                store_output_pair(c, bias, row + 8 * h, col + 8 * j, M, N, acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1],
                                  alpha, beta, flags, pairs, kind);
    });
}

// A warpgroup's wgmma for one K-tile: its 64 rows of the stage's A tile (BM rows, first) times the
// B tile (BN rows, after it), four k-steps of 8 into acc, committed as one group.
template <int BM, int BN, int BK>
__device__ __forceinline__ void issue_tile_wgmma(float (&acc)[BN / 2], const unsigned char* stage, int warpgroup)
{
    const unsigned long long desc_a = wgmma_descriptor_sw128(stage + warpgroup * 64 * 128);
    const unsigned long long desc_b = wgmma_descriptor_sw128(stage + BM * 128);
    wgmma_fence();
#pragma unroll
    for (int step = 0; step < BK / 8; ++step)  // 8 floats = 32 bytes = 2 in descriptor units
        wgmma_m64k8_tf32<BN>(acc, desc_a + 2 * step, desc_b + 2 * step);
    wgmma_commit_group();
}

// 3xTF32 (SPLIT): each float x of a landed tile becomes big = tf32(x), in place, and small = x - big
// in the tile's twin in `small`, split as the mma.sync rungs split their fragments (to_tf32 in
// gemm_common.cuh), small cut to TF32 by wgmma as by mma.sync (wgmma reads the same 19 bits:
// tests/ops/test_ptx.py's operand model test passed on an H200, benchmarks/results/gpu_check.log at
// 4f96517); all threads take part, 16 bytes at a time (the split is elementwise, so the swizzle does
// not matter).
template <int TILE_BYTES, int NTHREADS>
__device__ __forceinline__ void split_tiles_tf32(unsigned char* __restrict__ stage, unsigned char* __restrict__ small,
                                                 int tid)
{
    static_assert(TILE_BYTES / 16 % NTHREADS == 0, "whole float4s per thread");
    float4* const big4 = reinterpret_cast<float4*>(stage);
    float4* const small4 = reinterpret_cast<float4*>(small);
#pragma unroll
    for (int j = 0; j < TILE_BYTES / 16 / NTHREADS; ++j) {
        const int i = tid + j * NTHREADS;
        const float x[4] = {big4[i].x, big4[i].y, big4[i].z, big4[i].w};
        float hi[4], lo[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            unsigned big, low;
            to_tf32<true>(x[e], big, low);
            hi[e] = tf32_bits_as_float(big);
            lo[e] = tf32_bits_as_float(low);
        }
        big4[i] = make_float4(hi[0], hi[1], hi[2], hi[3]);
        small4[i] = make_float4(lo[0], lo[1], lo[2], lo[3]);
    }
}

// Rung 9's pipeline (gemm_wgmma.cu, its comment), over k_tiles K-tiles of 32 floats: load(stage,
// k_tile) issues this thread's copies of K-tile k_tile into `stage` (BM rows of A, then BN of B, 128
// bytes a row in the swizzle), every thread of the block taking part; the warpgroup's 64 x BN products
// accumulate into acc. `tiles`: STAGES stages, then for 3xTF32 (SPLIT) one more for the small parts,
// 1024-byte aligned (swizzle_128b_align).
template <bool SPLIT, int BM, int BN, int STAGES, class Load>
__device__ __forceinline__ void wgmma_mainloop(float (&acc)[BN / 2], unsigned char* tiles, int k_tiles, Load load)
{
    constexpr int BK = 32, NTHREADS = (BM / 64) * 128, A_BYTES = BM * 128, STAGE_BYTES = (BM + BN) * 128;
    // TF32 leaves a tile's wgmma running when its iteration ends (they overlap the next barrier and
    // copies), so a buffer is refilled two tiles after its wgmma were issued: the copies run
    // STAGES - 2 tiles ahead. 3xTF32 waits for each tile's wgmma within its iteration (below), so
    // its copies run STAGES - 1 ahead.
    constexpr int AHEAD = SPLIT ? STAGES - 1 : STAGES - 2;
    static_assert(AHEAD >= 1, "at least one tile loading while one is computed");
    unsigned char* const smalls = tiles + STAGES * STAGE_BYTES;  // SPLIT: the current tile's small parts
    const int tid = threadIdx.x, warpgroup = tid / 128;
    wgmma_fence_operands(acc);  // the zeros are written before the first wgmma_fence
    // SPLIT: a tile's chain of 12 wgmma from zero (gemm_tensorcore.cu, "Accumulation"), waited for
    // and added to acc within the tile's iteration.
    auto run_chain = [&](const unsigned char* stage) {
        const unsigned long long desc_a = wgmma_descriptor_sw128(stage + warpgroup * 64 * 128);
        const unsigned long long desc_b = wgmma_descriptor_sw128(stage + A_BYTES);
        const unsigned long long small_a = wgmma_descriptor_sw128(smalls + warpgroup * 64 * 128);
        const unsigned long long small_b = wgmma_descriptor_sw128(smalls + A_BYTES);
        float chain[BN / 2] = {};
        wgmma_fence_operands(chain);  // the zeros are written before the fence below, not moved past it
        wgmma_fence();
        // The small cross terms first, so that they are not lost below big * big's ulp.
#pragma unroll
        for (int step = 0; step < BK / 8; ++step) {  // 8 floats = 32 bytes = 2 in descriptor units
            wgmma_m64k8_tf32<BN>(chain, small_a + 2 * step, desc_b + 2 * step);
            wgmma_m64k8_tf32<BN>(chain, desc_a + 2 * step, small_b + 2 * step);
        }
#pragma unroll
        for (int step = 0; step < BK / 8; ++step)
            wgmma_m64k8_tf32<BN>(chain, desc_a + 2 * step, desc_b + 2 * step);
        wgmma_commit_group();
        wgmma_wait_group<0>();
        wgmma_fence_operands(chain);
#pragma unroll
        for (int r = 0; r < BN / 2; ++r) acc[r] += chain[r];
    };

    // The prologue, the first AHEAD loads, is the loop's first AHEAD turns (t < 0), which compute
    // nothing, so that load's code, both copy paths, is in the kernel once (pipelined_mainloop says why).
#pragma unroll 1
    for (int t = -AHEAD; t < k_tiles; ++t) {
        unsigned char* const stage = tiles + (t + STAGES) % STAGES * STAGE_BYTES;  // tile t's (t > -STAGES)
        if (t >= 0) {
            cp_async_wait<AHEAD - 1>();  // this thread's copies of tile t have landed
            if constexpr (SPLIT) {
                // Everybody's copies of tile t have landed, and every warpgroup is done with tile t - 1's
                // wgmma, which read the small parts this split overwrites.
                __syncthreads();
                split_tiles_tf32<STAGE_BYTES, NTHREADS>(stage, smalls, tid);
            }
            fence_proxy_async_shared();
            // Every thread's writes of tile t are visible to the tensor core, and every warpgroup has
            // waited for the wgmma whose buffer the next copies overwrite.
            __syncthreads();
        }
        if (t + AHEAD < k_tiles) load(tiles + ((t + AHEAD) % STAGES) * STAGE_BYTES, t + AHEAD);
        cp_async_commit();
        if (t < 0) continue;

        if constexpr (SPLIT) {
            run_chain(stage);
        } else {
            issue_tile_wgmma<BM, BN, BK>(acc, stage, warpgroup);
            wgmma_wait_group<1>();
        }
    }
    wgmma_wait_group<0>();
    wgmma_fence_operands(acc);
}
