// GEMM on the tensor cores: TF32 inputs, FP32 accumulation, through mma.sync (kernels/ptx.cuh).
//
//   C (M x N) = act(alpha * op(A) op(B) + beta * C + bias)      (conventions: gemm_common.cuh)
//
// ---- 8. gemm_tf32_mma ---------------------------------------------------------------------------
// Idea: let the tensor cores do the multiply-adds. One mma.sync.m16n8k8 makes a warp compute a
// 16 x 8 x 8 product (1024 FMAs) in one instruction; its operands are TF32 (FP32 with a 10-bit
// mantissa), rounded from the FP32 tiles with cvt.rna as fragments are built. Each lane holds a
// fixed part of each operand and result (lane g = lane / 4, t = lane % 4: A's (g, t), (g + 8, t),
// (g, t + 4), (g + 8, t + 4); B's (k = t, n = g), (t + 4, g); C's (g, 2t), (g, 2t + 1), (g + 8, 2t),
// (g + 8, 2t + 1): ptx.cuh, mma_tf32_m16n8k8), so the kernel builds fragments by those indices.
//   The tiling is a template argument (cnn_gpu/ops/gemm_variants.py: TF32_TILING; benchmarks/gemm.py
//   --sweep times others). By default: block tile BM x BN = 128 x 128, K-tile BK = 32, 4 warps (128
//   threads) in 2 x 2, each warp 64 x 64: 4 (m) x 8 (n) mma tiles, 128 FP32 accumulators per lane.
//   Tiles arrive by cp.async, STAGES deep (3 by default; pipelined_mainloop, StagedTiles); each keeps
//   its operand's layout, with row strides chosen so that a fragment load (lanes g = lane / 4,
//   t = lane % 4 reading element (g, t) of a tile) touches 32 distinct banks: s[mn][k] with stride
//   BK + 4 (4g + t mod 32 for BK = 32; 20g + t for BK = 16 and 12g + t for BK = 8 are distinct too),
//   s[k][mn] with stride ROWS + 8, BM + 8 for A and BN + 8 for B (8t + g mod 32, ROWS a multiple
//   of 32; 3xTF32 reads A^T's four rows at once, see MmaTile::PAIRED).
// SPLIT = true is 3xTF32 (gemm_3xtf32_mma): each operand x becomes big = tf32(x) plus
// small = x - big (which the tensor core cuts to TF32; to_tf32 in gemm_common.cuh says how), and
// big*big + big*small + small*big (three mma, small*small dropped) restores FP32 accuracy (relative
// error ~2^-21 per product instead of 2^-11) at three times the tensor-core work.
// Accumulation: the tensor core rounds each mma's FP32 result toward zero (ptx.cuh, "Rounding"), so
// a chain of K/8 mma through one accumulator loses up to an ulp of the running sum at every step,
// always toward zero. 3xTF32 did that at first, and on an H200 its error grew with K to 2.9e-5 at
// 4096^3 (gemm.json at 1b45d2c; cuBLAS FP32 1.1e-6). Now each mma tile's three mma of a k8-step
// form a chain of their own from zero, the small terms first, and one round-to-nearest FADD per
// element adds it to the accumulator; the short chain's own drift is below the FP32 sum's rounding
// (Ootomo & Yokota 2022 keep the chains short the same way). In emulation, 16 x 16 x 4096: 3.6e-5
// before, about 4e-7 after (tests/ops/test_gemm.py). The cost: 4 FADDs per 3 mma, and 4 registers
// per chain in flight, which the 64 x 64 warp tile has not got (it spills); 3xTF32's default tiling
// is therefore 8 warps of 64 x 32 in a 128 x 128 block, BK = 32, 3 stages (TF32X3_TILING).
// Plain TF32 keeps one chain: its drift (about 1e-5 at K = 4096 in emulation) is small beside the
// 2.6e-4 that rounding the operands to TF32 costs (cuBLAS TF32 measured the same 2.6e-4), and the
// FADDs would be 4 per mma.
// Bottleneck (expected): shared-memory bandwidth: per k8-step a warp loads (WM / 16) * 4 + (WN / 8) * 2
// words per lane (LDS.32, but LDS.128 for 3xTF32's A^T; no ldmatrix) for (WM / 16) * (WN / 8) mma
// tiles, and mma.sync on Hopper runs well below the wgmma rate that cuBLAS uses.
// Edges: cp.async src-size zero-fill, 16-byte copies when float4_loads_fit, else 4-byte ones;
// guarded stores. TF32 stores a lane's two neighbouring outputs as one 8-byte store where both lie
// inside C (store_output_pair, in place when the figures below were measured); 3xTF32's 64 x 32
// warps still store floats (MmaTile::store).
// Measured at 4096^3 A.B on NVIDIA H200s (benchmarks/results/gemm.json, the ladder, commit ac366b0;
// gemm_sweep.json, the tilings, and gemm_counters.json, Nsight Compute's counters, commit b323e23):
//   gemm_tf32_mma 143.6 TFLOP/s, 39.5% of cuBLAS TF32 (363.8); A.B^T 131.2 (34.2%), A^T.B 146.8
//   (64.9% of cuBLAS TF32's 226.4 there). The sweep ran its 6 tilings at 120.1-142.9 TFLOP/s, the
//   default the fastest (37.1% of cuBLAS TF32 385.5 there): with cuBLAS at 2.5 times the ladder's
//   figure, the mma.sync path, not the tiling, is the limit on Hopper, where cuBLAS uses wgmma
//   (rung 9, gemm_wgmma.cu). The expected shared-memory limit does not show in the counters: memory
//   at 58% of its peak throughput (L2 58%), the tensor pipe 47% busy, top stall wait 1.2 (fixed
//   latencies).
//   gemm_3xtf32_mma 41.7 TFLOP/s, 85.6% of cuBLAS FP32 (48.8), with a relative error of 4.1e-7 where
//   cuBLAS FP32 has 1.1e-6 on the same inputs: more accurate than cuBLAS FP32. A.B^T 39.0 (78.7%);
//   A^T.B, which reads A^T's fragments as LDS.128 (PAIRED), 41.1 (81.7%), close to A.B. 255
//   registers, one block per SM (12% occupancy), tensor pipe 41%. The sweep's 4 tilings: the
//   default (TF32X3_TILING) 42.0 (83.4% of cuBLAS FP32 50.4 there), the others 30.9-38.1.
//   On the H200 at 1b45d2c, with one chain and 64 x 64 warps, it ran 55.0 TFLOP/s but wrong (2.9e-5).
//   gemm_3xtf32_mma_small_tiles, 3xTF32 at 32 x 32 tiles of two 32 x 16 warps (cnn_gpu/ops/
//   gemm_variants.py, SMALL_TENSOR_CORE_TILES), is a candidate for the Dense products whose output is
//   a few of rung 7's 32 x 32 blocks an SM (backward to data: K = 64), where each warp must issue all
//   its own work: 12 mma a k8-step in place of 128 FMAs a lane. Chosen for none of them on H200s at
//   4f96517 and ba54884 (gemm.json); its warps' top stall was no_instruction, 8.3 per issue on Dense
//   5408 -> 64's weight gradient at batch 32 (gemm_counters.json at 4f96517), against rung 7's 1.2:
//   7336-7400 SASS instructions, the main loop's 1470 a K-tile for 24 mma, with the recomputed copies.
//   It now copies, loops and stores as TF32 does (MmaTile::REGISTER_BOUND): 1664-1688 instructions, the
//   loop 423-437; with to_tf32's cheaper split (gemm_common.cuh) 1568-1592 and 326-340 (sm_90, nvcc
//   13.0; unmeasured). The default tiling, REGISTER_BOUND, rounds big by cvt.rna as before (CVT_BIG).
//   Since the figures above, the kernel's body has moved into MmaTile (gemm_common.cuh), which
//   split-K's rung 10e runs too: its main loops' SASS is within 12 instructions of before (sm_90), its
//   epilogues' not the same code (the default TF32's about 1060 instructions fewer, 3xTF32's 72 more).
// Compiler notes (nvcc 13.0; `cnn-gpu kernels` reports the current figures):
//   ptxas, sm_90, default tilings: TF32 192-200 registers, 102-108 KB of dynamic shared memory (two
//   128-thread blocks per SM); 3xTF32 255 registers, every one a thread may have (one 256-thread
//   block per SM), 102-108 KB; no spills, on sm_80 too.
//   Copies: TF32 uses copy_tile_async (gemm_common.cuh), a K-tile's 16 copies per thread 118-122
//   instructions of the main loop's 656-659 (SASS, sm_90; before, 686-720 of 1226-1260). 3xTF32
//   keeps copy_tile_async_recomputed (StagedTiles' RECOMPUTE) at its default 64 x 32 warps: with
//   copy_tile_async's state kept across K-tiles one of its 255-register instances spilled, a different
//   one for each form tried; its copies take 364-384 of 1607-1628 instructions per K-tile. Smaller warp
//   tiles (SMALL_TENSOR_CORE_TILES' 32 x 16: 92-104 registers of 128) take copy_tile_async
//   (MmaTile::REGISTER_BOUND).

#include "gemm_common.cuh"

// The block tile, its loads, mma steps and stores are MmaTile's (gemm_common.cuh), which split-K's
// 3xTF32 slices share (rung 10e, gemm_small.cu).
template <bool TRANS_A, bool TRANS_B, bool SPLIT, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
gemm_tf32_mma(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
              const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    extern __shared__ float4 smem_vec4[];
    MmaTile<TRANS_A, TRANS_B, SPLIT, BM, BN, BK, WM, WN, STAGES> tile{reinterpret_cast<float*>(smem_vec4)};
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    tile.accumulate(a, b, m0, n0, M, N, K, 0, K);
    tile.store(c, bias, m0, n0, M, N, alpha, beta, flags);
}
