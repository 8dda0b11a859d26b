// GEMM on Hopper's warpgroup tensor cores: TF32 inputs, FP32 accumulation, through wgmma (sm_90a).
//
//   C (M x N) = act(alpha * op(A) op(B) + beta * C + bias)      (conventions: gemm_common.cuh)
//
// The rungs below change one thing each, the wgmma in the middle staying the same
// (issue_tile_wgmma: a warpgroup's four k-steps of a K-tile, from 128-byte-swizzled tiles; 3xTF32's
// three products of them: wgmma_mainloop's run_chain; both in wgmma_common.cuh, which convolution's
// rung 8, conv2d_wgmma.cu, shares):
//   9   gemm_tf32_wgmma                   every thread copies the tiles (cp.async); a barrier per K-tile
//       gemm_3xtf32_wgmma                 the same, each tile split for FP32 accuracy (SPLIT)
//       gemm_3xtf32_wgmma_small_tiles     the same in blocks of one warpgroup, three an SM (short K)
//   9b  gemm_tf32_wgmma_tma               one thread copies them (the bulk tensor copy, an mbarrier)
//   9c  gemm_tf32_wgmma_warp_specialized  a producer warpgroup copies, consumers compute, no barrier
//       gemm_tf32_wgmma_persistent        the same, each block looping over output tiles
//   9d  gemm_tf32_wgmma_multicast         clusters of two blocks sharing A's tiles
//       gemm_tf32_wgmma_multicast_persistent  the same, each cluster looping over pairs of tiles
//   9e  gemm_tf32_wgmma_b_in_registers    9c with B's fragments in registers: no transpose of an MN-major B
// The PTX of each step, and the twin the emulator runs in its place, is in ptx.cuh.
//
// ---- 9. gemm_tf32_wgmma -------------------------------------------------------------------------
// Idea: rung 8 on an H200 ran at 31.2-37.1% of cuBLAS TF32 whatever its tiling (gemm_tensorcore.cu):
// mma.sync makes every warp load its operand fragments from shared memory into registers and issue
// a 16 x 8 x 8 product at a time. Hopper's wgmma (kernels/ptx.cuh, "Hopper's warpgroup MMA") has a
// warpgroup of 4 warps compute 64 x BN x 8 in one asynchronous instruction, its operands read by the
// tensor core straight from shared memory: no fragment loads, no per-warp operand traffic. This is
// the instruction cuBLAS uses on Hopper.
//   A block of BM / 64 warpgroups owns a BM x BN tile of C; warpgroup w the rows 64 w .. 64 w + 63,
// with all BN columns (wgmma_m64k8_tf32<BN>: BN / 2 accumulators per thread). The K-tile is 32
// floats, one 128-byte row of the swizzled layout wgmma reads (ptx.cuh), so a stage is the A tile
// (BM rows) and the B tile (BN rows, B read as B^T: wgmma wants both K-major), 128 bytes a row.
//   Loads: cp.async into the swizzled layout, every thread taking part, STAGES buffers. A K-major
// operand (A plain, B transposed) is copied 16 bytes at a time when float4_loads_fit, each 16-byte
// chunk to its swizzled place; an MN-major one (A transposed, B plain: Dense's forward W) is
// transposed on the way, one 4-byte cp.async per float, which cp.async cannot do in larger
// pieces (copy_swizzled_tile_async says how each stays coalesced and free of bank conflicts). Edges
// as in rung 8: src-size zero-fill, guarded stores of neighbouring outputs in pairs.
//   The pipeline: at tile t the block waits for tile t's copies, fences them for wgmma (they were
// written through the generic proxy: ptx.cuh, fence_proxy_async_shared), synchronises, issues the
// copies of a later tile, then the four wgmma of tile t as one group, and waits until only that
// group is in flight: tile t's wgmma overlap the next iteration's barrier and copies. So a buffer
// may be refilled only two tiles after its wgmma were issued (by then they are done), and the
// copies run STAGES - 2 tiles ahead.
// Operands: wgmma reads the FP32 tiles as TF32 by cutting each float's low 13 bits (the twin's
// model; mma.sync was measured so), not rounding them as rung 8's cvt.rna does, since wgmma reads
// the tiles from shared memory with no pass through registers to round in (3xTF32's split below is
// such a pass, and costs one): in emulation the error at 16 x 16 x 4096 is 6.8e-4, against rung 8's
// 2.5e-4. TF32's tolerance (about 1e-3) holds.
// SPLIT = true is 3xTF32 (gemm_3xtf32_wgmma), as in rung 8: once a tile has landed, the block
// splits each float in place into big = tf32(x) and small = x - big, the small parts in a
// buffer of their own, and each warpgroup runs small * big, big * small, then big * big for the
// tile's four k-steps as one chain of 12 wgmma from zero, in registers of its own, waits for it and
// adds it to its accumulators with round-to-nearest FADDs (rung 8's "Accumulation": the chain
// rounds toward zero at every step, so it stays one K-tile short). Waiting within the tile leaves
// the tensor core idle while the block splits and meets at its barriers. Keeping one chain in flight
// across them while the previous one, in a second set of registers, is added would hide that; but
// ptxas then finds ordinary instructions reading accumulators of a wgmma pipeline in flight and
// serializes every wgmma of the kernel (info C7514, which the compile check now refuses). Since each
// tile's wgmma are done within its iteration, the copies run STAGES - 1 tiles ahead.
// In emulation, 16 x 16 x 4096: 2.5e-7 (rung 8's 3xTF32: 4.4e-7; NumPy's float32 product: 2.3e-7).
// Expected bottleneck, by arithmetic (before any run; measured below): shared-memory bandwidth. Per
// k8-step a warpgroup's wgmma reads 64 x 8 floats of A and BN x 8 of B for 64 x BN x 8 FMAs; at the
// tensor core's dense TF32 rate (1024 FMAs per clock per SM, NVIDIA's figure for the H100) that is
// 96 bytes per clock at BN = 128 and 80 at BN = 256, and the copies write (BM + BN) x 128 bytes per
// K-tile into shared memory besides: 64 and 48 bytes per clock. Shared memory serves 128 bytes per
// clock, so at 128 x 128 the block cannot pass about 80% of the tensor rate, at 128 x 256 about
// 100%. The same 64 (48) bytes per clock per SM must come from L2, for every SM at once; whether L2
// keeps up is what the sweep's tilings were to show (below). Issue slots: in the SASS (nvcc 13.0, sm_90a,
// default tiling, A.B^T) a K-tile's loop is about 170 instructions per warp, 100 of them the 16-byte
// copies and their addresses: some 340 issue cycles per SM for 8 warps, under the 512 the tensor
// core needs for the tile. An MN-major operand takes 4 times as many copies (16 per thread and tile).
// Next steps, each a rung below: the bulk tensor copy (TMA) in place of cp.async (rung 9b), a
// producer warpgroup feeding consumer warpgroups (rung 9c), multicast to a cluster of blocks that
// share an operand, for less L2 traffic (rung 9d), and an MN-major B fed to wgmma from registers,
// where the TMA rungs transpose it first (rung 9e).
// ptxas (sm_90a, nvcc 13.0, default tilings; `cnn-gpu kernels`): TF32 at 128 x 256 208-228 registers,
// 3xTF32 at 128 x 128 152-176 (two accumulator sets), no spills.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0), TF32 at its default 128 x 256
// tiles (cnn_gpu/ops/gemm_variants.py, WGMMA_WS_TILING): gemm_tf32_wgmma 176.7 TFLOP/s at 4096^3 A.B,
// 48.6% of cuBLAS TF32 (363.8), above rung 8's 143.6; A.B^T, both operands K-major, 239.1 (62.2%);
// A^T.B 147.6 (65.2% of cuBLAS TF32's 226.4 there). Shared memory is not what stops it: the tensor
// pipe is 39% busy (gemm_counters.json, commit b323e23, A.B), well under the 100% the arithmetic
// above allows at 128 x 256, no memory unit above 74% (L1's), top stall long_scoreboard 1.7. The
// sweep (gemm_sweep.json, b323e23, A.B, cuBLAS TF32 385.5 there): 128 x 256 tiles 181.9 (47.2%),
// 128 x 128 150.3 (39.0%), the other three tilings 143.8-157.1.
//   gemm_3xtf32_wgmma 58.3 TFLOP/s, 119.6% of cuBLAS FP32 (48.8), at FP32 accuracy (2.3e-7; cuBLAS
// FP32 1.1e-6), against rung 8's 3xTF32 at 41.7; A.B^T 64.6 (130.5%), A^T.B 55.1 (109.3%). Tensor
// pipe 39%, top stall barrier 1.6: the tensor core idles while the block splits and meets at its
// barriers, as expected.
//   gemm_3xtf32_wgmma_small_tiles: the same kernel in blocks of one warpgroup, 64 x 128, with 2
// stages, so that three blocks (72 KB of tiles, at most 168 registers a thread) share an SM and one's
// split and barriers overlap another's wgmma (gemm_variants.py, WGMMA_SMALL_TILING). Made for Dense
// 5408 -> 64's backward to data, K = 64: two K-tiles, where at 128 x 128 a block's split, barriers
// and stores are most of its time and batch 512's 172 tiles leave 40 SMs a second tile in turn.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit 6575a3b; kernel times by graph):
// backward to data at batch 512 10.7 us, against 15.7 at 128 x 128 and cuBLAS FP32's 15.5, the
// autotuner's choice there (predicted: 11-13). At batch 128 (86 blocks, one an SM) 8.8 us, the
// same as 128 x 128's 43 blocks (8.9) and above cuBLAS FP32's 6.9 (predicted: 6-7): there a block
// works alone on its SM, and its two K-tiles take as long at half the size, so per-tile latency,
// not the tensor core's work, sets the time. Where it goes, a lead: at 128 x 128, batch 512, the
// warps stalled most for instructions (no_instruction 8.6 per issue, tensor pipe 11%;
// gemm_counters.json, commit 27bd7f2): a block runs its unrolled code once, two K-tiles, so fetching
// it costs more than the tensor core's work (the 64 x 128 blocks were not profiled). The code is
// long: at 64 x 128, A.B^T, 7568 SASS instructions (nvcc 13.0, sm_90a), the 12 HGMMA of a K-tile's
// chain at about instruction 4430, after both copy paths (16- and 4-byte), and some 3000 of the
// epilogue after them (192 STG: each pair's bounds, bias, beta and ReLU inline). Since ba54884 the
// prologue is the main loop's first turn, and the epilogue has plain copies, which the backward
// products run (gemm_common.cuh, with_epilogue): 6904 instructions, the HGMMA at about 2700. Measured
// (NVIDIA H200, gemm.json, commit ba54884, by graph): backward to data at batch 32 / 128 / 512 in
// 7.4 / 6.9 / 11.0 us, from 8.2 / 8.7 / 10.9 at 4f96517 (cuBLAS FP32 4.6 / 7.0 / 15.7): fetching the
// code was part of a lone block's time at batch 128, not most of it at batch 32. At 4096^3 A.B
// 52.5 TFLOP/s, 107.5% of cuBLAS FP32, below 128 x 128's 58.8 in the same run; A.B^T 63.8 (132.6%),
// A^T.B 48.3 (97.4%). Error 2.3e-7, as at 128 x 128.

#include "wgmma_common.cuh"

template <bool TRANS_A, bool TRANS_B, bool SPLIT, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / 64) * 128, MIN_BLOCKS)
gemm_tf32_wgmma(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    static_assert(BK == 32, "a K-tile is one 128-byte swizzle row of floats");
    static_assert(WM == 64 && WN == BN && BM % 64 == 0, "a warpgroup per 64 rows of the block, with all its columns");
    constexpr int NTHREADS = (BM / 64) * 128;
    // 1024 bytes more than the stages (and, for 3xTF32, a buffer of small parts) for the alignment.
    extern __shared__ float4 smem_vec4[];
    unsigned char* const tiles = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));

    const int tid = threadIdx.x, warpgroup = tid / 128;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const bool wide = float4_loads_fit<TRANS_A, TRANS_B>(a, b, M, N, K);
    float acc[BN / 2] = {};
    wgmma_mainloop<SPLIT, BM, BN, STAGES>(acc, tiles, (K + BK - 1) / BK, [&](unsigned char* stage, int k_tile) {
        copy_swizzled_tile_async<!TRANS_A, BM, NTHREADS>(stage, a, m0, k_tile * BK, M, K, tid, wide);
        copy_swizzled_tile_async<TRANS_B, BN, NTHREADS>(stage + BM * 128, b, n0, k_tile * BK, N, K, tid, wide);
    });
    store_warpgroup_tile<BN>(acc, c, bias, m0 + warpgroup * 64, n0, M, N, alpha, beta, flags);
}

// ---- 9b. gemm_tf32_wgmma_tma --------------------------------------------------------------------
// Idea: rung 9 without its per-thread copy instructions: one thread has the tensor memory accelerator copy
// each tile (ptx.cuh, tma_load_2d), already 128-byte swizzled, zero-filled outside the matrix, its
// bytes counted on the stage's mbarrier; the warpgroups wait on that mbarrier instead of on their
// own copies. No copy instructions, addresses or bounds in the other threads' K loop, and TMA
// reads global memory in whole boxes. The wgmma pipeline is rung 9's: tile t's wgmma overlap
// the next iteration, and a buffer is refilled two tiles after its wgmma were issued.
//   TMA cannot transpose, and wgmma's TF32 operands must be K-major, so this kernel
// computes C = A B^T for A (M x K) and B (N x K) both k-contiguous; gemm() transposes an MN-major
// operand into a workspace first (cnn_gpu/ops/gemm_plans.py: TmaPlan), and hands products whose rows are
// not a multiple of 16 bytes (K % 4 != 0), which a tensor map cannot describe, to rung 9.
//   The two tensor maps (A's, then B's: 128 bytes each, in global memory; B's is b_map(maps)) are
// built by the host: by the driver on a GPU (cuTensorMapEncodeTiled), as tma_twin::Map in the emulator.
// Expected bottleneck: rung 9's shared-memory bandwidth, less its copies' share of the issue slots;
// the transposing copy costs a pass over an MN-major operand (for Dense's forward, W).
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0), at its default 128 x 256
// tiles: 297.3 TFLOP/s at 4096^3 A.B, 81.7% of cuBLAS TF32, B's transpose included (two kernels);
// A.B^T 322.0 (83.8%), A^T.B 280.8 (124.0% of cuBLAS TF32's 226.4 there). Rid of the copy
// instructions, the tensor pipe is 88% busy (gemm_counters.json, commit b323e23), not rung 9's 39%,
// as expected; L2 is the busiest memory unit at 65%, top stall barrier 5.2; B's transpose takes 40.6
// of the 405.3 us there. The sweep (gemm_sweep.json, b323e23, A.B): 128 x 256 tiles 316.3 (82.1% of
// cuBLAS TF32 385.5 there), 128 x 128 233.4 (60.6%).
// The TMA rungs' second tensor map, B's, after A's 128 bytes in `maps`.
__device__ __forceinline__ const unsigned long long* b_map(const unsigned long long* maps)
{
    return maps + 128 / sizeof(unsigned long long);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / 64) * 128, MIN_BLOCKS)
gemm_tf32_wgmma_tma(const unsigned long long* __restrict__ maps, float* __restrict__ c, const float* __restrict__ bias,
                    int M, int N, int K, float alpha, float beta, int flags)
{
    static_assert(BK == 32, "a K-tile is one 128-byte swizzle row of floats: the box is 32 floats wide");
    static_assert(WM == 64 && WN == BN && BM % 64 == 0, "a warpgroup per 64 rows of the block, with all its columns");
    static_assert(BM <= 256 && BN <= 256, "a box is at most 256 rows");
    constexpr int A_BYTES = BM * 128, STAGE_BYTES = (BM + BN) * 128, AHEAD = STAGES - 2;
    static_assert(AHEAD >= 1, "at least one tile loading while one is computed");
    // 1024 bytes more than the stages and their mbarriers, for the alignment.
    extern __shared__ float4 smem_vec4[];
    unsigned char* const tiles = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));
    unsigned long long* const landed = reinterpret_cast<unsigned long long*>(tiles + STAGES * STAGE_BYTES);

    const int tid = threadIdx.x, warpgroup = tid / 128;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int k_tiles = (K + BK - 1) / BK;
    float acc[BN / 2] = {};
    wgmma_fence_operands(acc);  // the zeros are written before the first wgmma_fence

    auto load = [&](int k_tile) {  // thread 0's
        unsigned char* stage = tiles + (k_tile % STAGES) * STAGE_BYTES;
        unsigned long long* bar = &landed[k_tile % STAGES];
        mbarrier_arrive_expect_tx(bar, STAGE_BYTES);
        tma_load_2d(stage, maps, k_tile * BK, m0, bar);
        tma_load_2d(stage + A_BYTES, b_map(maps), k_tile * BK, n0, bar);
    };
    if (tid == 0) {
        for (int s = 0; s < STAGES; ++s) mbarrier_init(&landed[s], 1);
        fence_mbarrier_init();
        fence_tensormap_acquire(maps);
        fence_tensormap_acquire(b_map(maps));
        for (int t = 0; t < AHEAD && t < k_tiles; ++t) load(t);
    }
    __syncthreads();  // the mbarriers are initialised for every thread
    for (int t = 0; t < k_tiles; ++t) {
        mbarrier_wait(&landed[t % STAGES], (t / STAGES) % 2);  // tile t has landed
        // Every warpgroup has waited for tile t - 2's wgmma, whose buffer the next copy overwrites.
        __syncthreads();
        if (tid == 0 && t + AHEAD < k_tiles) load(t + AHEAD);

        issue_tile_wgmma<BM, BN, BK>(acc, tiles + (t % STAGES) * STAGE_BYTES, warpgroup);
        wgmma_wait_group<1>();
    }
    wgmma_wait_group<0>();
    wgmma_fence_operands(acc);
    store_warpgroup_tile<BN>(acc, c, bias, m0 + warpgroup * 64, n0, M, N, alpha, beta, flags);
}

// The warp-specialized rungs' two mbarriers per stage, in shared memory after the stages (the
// returned full[STAGES], then empty[STAGES]): full[s] counts the producer's arrival and the stage's
// bytes, empty[s] the consumers' `releases` arrivals. Thread 0 initialises them and fences them for
// the TMA unit; the caller's barrier (block or cluster) then makes them ready for every thread.
template <int STAGES>
__device__ __forceinline__ unsigned long long* init_stage_barriers(unsigned char* after_stages, unsigned releases)
{
    unsigned long long* const full = reinterpret_cast<unsigned long long*>(after_stages);
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; ++s) {
            mbarrier_init(&full[s], 1);
            mbarrier_init(&full[STAGES + s], releases);
        }
        fence_mbarrier_init();
    }
    return full;
}

// ---- 9c. gemm_tf32_wgmma_warp_specialized -------------------------------------------------------
// Idea: rung 9b still runs its K loop in lockstep: every thread waits at a __syncthreads per tile
// before thread 0 may refill the buffer the wgmma of two tiles ago read, so the copies run only
// STAGES - 2 tiles ahead and every warp stalls on the slowest once a tile. Here the block's warps
// take roles: BM / 64 consumer warpgroups only compute, and one more warpgroup, the producer, only
// copies (one of its threads issues the tensor copies; the other 127 exit at once). They talk
// through two mbarriers per stage and never meet at a block barrier in the K loop:
//   full[s]   the producer announces the stage's bytes and the TMA unit counts them in (rung 9b's
//             mbarrier): a consumer waits on it before its wgmma read the stage;
//   empty[s]  each consumer warp arrives once the wgmma that read the stage are done, one lane for
//             the warp: the producer waits on it before it refills the stage. The lane arrives by a
//             predicate (mbarrier_arrive_if), not inside a branch on the lane: ptxas serializes
//             every wgmma of a kernel that branches so while one is in flight (the compile check
//             refuses that). Until after the H100 run at 2c9911a every consumer thread arrived:
//             32 times the arrivals, for the same information.
// A consumer keeps one K-tile's wgmma in flight, as in rungs 9 and 9b: after issuing K-tile t's and
// waiting until only that group runs, K-tile t - 1's are done, so its threads release that stage.
// The producer is then STAGES - 1 K-tiles ahead, not STAGES - 2, and a consumer waits only for
// data, never for another warpgroup. This is the structure of CUTLASS's and cuBLAS's Hopper kernels
// ("warp-specialized"), which also hand registers from the producer to the consumers (setmaxnreg):
// not done here, the tiles below fit without.
//   Phases: the block's K-tiles are numbered in the order the producer loads them (`it`, across
// output tiles when PERSISTENT); stage s holds K-tiles s, s + STAGES, ..., so K-tile `it` is full[s]'s
// completion number it / STAGES (parity (it / STAGES) % 2), and the producer refilling stage s for
// it waits for empty[s]'s completion number it / STAGES - 1, the release of K-tile it - STAGES. A
// barrier never runs two phases ahead of its waiter (each side waits for the other), so the parity
// names the phase.
//   Default tiling 128 x 256 (two consumer warpgroups of 64 x 256, 128 accumulators a thread, 384
// threads: at most 168 registers each) with 4 stages of 48 KB: by rung 9's arithmetic the block tile
// that shared memory can feed at the full tensor rate. Like rung 9b it computes A B^T with both
// operands k-contiguous (TmaPlan transposes, or falls back to rung 9).
// Expected bottleneck: the tensor core itself, if L2 delivers the 48 bytes per clock per SM this
// tile needs (rung 9's arithmetic); then the blocks' starts and ends, which the K loop does not
// hide: a block's first copies, and its epilogue storing straight from registers.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 285.0 TFLOP/s at 4096^3
// A.B, 78.3% of cuBLAS TF32; A.B^T 313.8 (81.7%), A^T.B 258.8 (114.3% of cuBLAS TF32's 226.4 there).
// Tensor pipe 77% busy (gemm_counters.json, commit b323e23; cuBLAS TF32's kernel 92%), L2 57%, top
// stalls wait 2.5 and barrier 2.4. Not the tensor core, then, against the expectation: rung 9b, with
// one thread copying and no producer warpgroup, keeps it 88% busy and ran faster in every transpose
// (297.3, 322.0, 280.8); what holds 9c back these counters do not show. The sweep (gemm_sweep.json,
// b323e23, A.B): 128 x 256 tiles 276.6 at 4 stages, 274.7 at 3; 256 x 128 270.0; 128 x 128 217.0.
// PERSISTENT (gemm_tf32_wgmma_persistent) hides those: one block per SM (the grid is the SM count,
// or the tile count if smaller) takes output tiles blockIdx.x, blockIdx.x + gridDim.x, ..., and its
// producer goes on to the next tile's K-tiles as soon as stages are released, so they are loading
// while the consumers store the tile before. The consumers release a tile's last stage after its
// final wait, before the epilogue. Measured (same run): 279.2 TFLOP/s at 4096^3 A.B (76.7%), no
// faster than 9c there; A.B^T 314.6 (81.9%), A^T.B 263.5 (116.4%); at 2048^3, where starts and ends
// weigh more, 200.9 (66.1% of cuBLAS TF32) against 9c's 194.5 (64.0%). Tensor pipe 78%.
template <bool PERSISTENT, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / 64 + 1) * 128, MIN_BLOCKS)
gemm_tf32_wgmma_warp_specialized(const unsigned long long* __restrict__ maps, float* __restrict__ c,
                                 const float* __restrict__ bias, int M, int N, int K, float alpha, float beta,
                                 int flags)
{
    static_assert(BK == 32, "a K-tile is one 128-byte swizzle row of floats: the box is 32 floats wide");
    static_assert(WM == 64 && WN == BN && BM % 64 == 0, "a warpgroup per 64 rows of the block, with all its columns");
    static_assert(BM <= 256 && BN <= 256, "a box is at most 256 rows");
    static_assert(STAGES >= 2, "one stage filling while one is computed");
    constexpr int CONSUMERS = BM / 64, A_BYTES = BM * 128, STAGE_BYTES = (BM + BN) * 128;
    // 1024 bytes more than the stages and their two mbarriers each, for the alignment.
    extern __shared__ float4 smem_vec4[];
    unsigned char* const tiles = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));
    // empty[s]: every consumer warp's release.
    unsigned long long* const full = init_stage_barriers<STAGES>(tiles + STAGES * STAGE_BYTES, CONSUMERS * 4);
    unsigned long long* const empty = full + STAGES;

    const int tid = threadIdx.x, warpgroup = tid / 128;
    const int k_tiles = (K + BK - 1) / BK, tiles_n = (N + BN - 1) / BN, output_tiles = tiles_n * ((M + BM - 1) / BM);
    // This block's output tiles, n fastest: one (its grid position), or every gridDim.x-th from blockIdx.x.
    const int first_tile = PERSISTENT ? blockIdx.x : blockIdx.y * tiles_n + blockIdx.x;
    const int tile_step = PERSISTENT ? gridDim.x : output_tiles;
    __syncthreads();  // the mbarriers are initialised for every thread; the last block-wide barrier

    if (warpgroup == CONSUMERS) {  // the producer
        if (tid == CONSUMERS * 128) {
            fence_tensormap_acquire(maps);
            fence_tensormap_acquire(b_map(maps));
            int it = 0;  // K-tiles loaded so far
            for (int tile = first_tile; tile < output_tiles; tile += tile_step) {
                const int m0 = tile / tiles_n * BM, n0 = tile % tiles_n * BN;
                for (int t = 0; t < k_tiles; ++t, ++it) {
                    const int s = it % STAGES;
                    if (it >= STAGES) mbarrier_wait(&empty[s], (it / STAGES - 1) % 2);  // K-tile it - STAGES released
                    unsigned char* const stage = tiles + s * STAGE_BYTES;
                    mbarrier_arrive_expect_tx(&full[s], STAGE_BYTES);
                    tma_load_2d(stage, maps, t * BK, m0, &full[s]);
                    tma_load_2d(stage + A_BYTES, b_map(maps), t * BK, n0, &full[s]);
                }
            }
        }
        return;
    }

    const bool releases = tid % 32 == 0;  // the lane that releases a stage for its warp
    int it = 0;  // K-tiles consumed so far
    for (int tile = first_tile; tile < output_tiles; tile += tile_step) {
        float acc[BN / 2] = {};
        wgmma_fence_operands(acc);  // the zeros are written before the first wgmma_fence
        for (int t = 0; t < k_tiles; ++t, ++it) {
            mbarrier_wait(&full[it % STAGES], (it / STAGES) % 2);  // K-tile it has landed
            issue_tile_wgmma<BM, BN, BK>(acc, tiles + it % STAGES * STAGE_BYTES, warpgroup);
            wgmma_wait_group<1>();  // K-tile it - 1's wgmma are done (as far as this thread's warp is concerned)
            if (t > 0) mbarrier_arrive_if(&empty[(it - 1) % STAGES], releases);
        }
        wgmma_wait_group<0>();
        if (k_tiles > 0) mbarrier_arrive_if(&empty[(it - 1) % STAGES], releases);  // the tile's last stage
        wgmma_fence_operands(acc);
        store_warpgroup_tile<BN>(acc, c, bias, tile / tiles_n * BM + warpgroup * 64, tile % tiles_n * BN, M, N, alpha,
                                 beta, flags);
    }
}

// ---- 9d. gemm_tf32_wgmma_multicast ---------------------------------------------------------------
// Idea: rung 9c's blocks each read their A and B tiles from L2 on their own, though the blocks of a
// row of C read the same A tiles: at 128 x 256, 48 KB per K-tile per SM, which all SMs at the
// tensor core's full rate would ask of L2 at about 11.6 TB/s (an H100's 132 SMs at 1.83 GHz), likely
// more than it serves (not measured here: the harness ceilings measure DRAM copies). Here blocks go in
// clusters of two along n (ptx.cuh, "thread-block clusters"): both need the same A tile, so each
// producer copies half of its rows (a box of BM / 2 rows) and multicasts it into both blocks' stage,
// and copies its own B tile alone: 40 KB from L2 per block and K-tile instead of 48.
//   Each block's full[s] counts the whole stage (its own half of A, the other block's half, its B);
// a block's half may land before that block's producer has announced the stage's bytes, which the
// mbarrier allows. Since a producer now writes into the other block's stage as well, it may refill
// stage s only once the consumers of both blocks are done with it: empty[s] counts one arrival per
// consumer warp of the block (as in 9c) and one per consumer warp of the other block (a remote
// arrival, through the cluster). The blocks meet at a cluster barrier after initialising their mbarriers
// (before any copy or arrival reaches them) and before exiting (after the last ones have), so the
// producer warpgroup stays to the end. The grid's x is rounded up to an even number of blocks; a
// block past N copies zeros into its B tile, stores nothing, and still copies its half of A.
//   128 x 256 tiles, 4 stages. PERSISTENT (gemm_tf32_wgmma_multicast_persistent) as in rung 9c: a
// cluster per two SMs, each taking pairs of output tiles in turn; both blocks walk the same pairs,
// so they always share their A tiles.
//   What a cluster saves grows with the shared tile: at 128 x 256, A is 128 of a stage's 384 rows and
// the L2 traffic a sixth less than rung 9c's; at 256 x 128 (in the sweep: four consumer warpgroups of
// 64 x 128) A is 256 of them, a third less, for 1.2 times the shared-memory reads per FMA (wgmma reads
// B once per warpgroup: 96 bytes a clock at the full rate against 80).
// Expected bottleneck: the tensor core, or L2 if it serves less than the traffic above. The emulator runs
// a cluster's two blocks together (ptx.cuh, "thread-block clusters").
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 273.7 TFLOP/s at 4096^3
// A.B, 75.2% of cuBLAS TF32, under rung 9c's 285.0; A.B^T 294.2 (76.5%), A^T.B 261.8 (115.7%). L2 is
// less busy (55% against 9c's 57%; gemm_counters.json, commit b323e23), but L2 was not the limit: the
// tensor pipe is 76% busy, and the top stall is now barrier 5.0 (9c: 2.4). The persistent form:
// 277.7 (76.3%), A.B^T 316.8 (82.4%), A^T.B 263.9 (116.6%), level with 9c's. In the sweep
// (gemm_sweep.json, b323e23) 256 x 128 tiles ran 260.9 (persistent 267.8), under 128 x 256's 281.5
// (288.3).
template <bool PERSISTENT, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __cluster_dims__(2, 1, 1) __launch_bounds__((BM / 64 + 1) * 128, MIN_BLOCKS)
gemm_tf32_wgmma_multicast(const unsigned long long* __restrict__ maps, float* __restrict__ c,
                          const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    static_assert(BK == 32, "a K-tile is one 128-byte swizzle row of floats: the box is 32 floats wide");
    static_assert(WM == 64 && WN == BN && BM % 128 == 0, "a warpgroup per 64 rows; each block copies half of them");
    static_assert(BM <= 256 && BN <= 256, "a box is at most 256 rows");
    static_assert(STAGES >= 2, "one stage filling while one is computed");
    constexpr int CLUSTER = 2, CONSUMERS = BM / 64, A_BYTES = BM * 128, STAGE_BYTES = (BM + BN) * 128;
    constexpr int A_SHARE = A_BYTES / CLUSTER;  // the rows of A this block's producer copies for both
    extern __shared__ float4 smem_vec4[];
    unsigned char* const tiles = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));
    // empty[s]: a release per consumer warp of each block.
    unsigned long long* const full = init_stage_barriers<STAGES>(tiles + STAGES * STAGE_BYTES, CLUSTER * CONSUMERS * 4);
    unsigned long long* const empty = full + STAGES;

    const int tid = threadIdx.x, warpgroup = tid / 128;
    const unsigned rank = cluster_ctarank(), other = rank ^ 1;
    const int k_tiles = (K + BK - 1) / BK;
    // The cluster's pairs of output tiles (one row of tiles, two columns: the blocks' n0 differ by
    // BN), n fastest: one (its grid position), or every (gridDim.x / 2)-th from blockIdx.x / 2.
    const int pairs_n = ((N + BN - 1) / BN + 1) / CLUSTER, pairs = pairs_n * ((M + BM - 1) / BM);
    const int first_pair = PERSISTENT ? blockIdx.x / CLUSTER : blockIdx.y * pairs_n + blockIdx.x / CLUSTER;
    const int pair_step = PERSISTENT ? gridDim.x / CLUSTER : pairs;
    auto m0_of = [&](int pair) { return pair / pairs_n * BM; };
    auto n0_of = [&](int pair) { return (pair % pairs_n * CLUSTER + int(rank)) * BN; };
    cluster_sync();  // both blocks' mbarriers are initialised before any copy or arrival reaches them

    if (warpgroup == CONSUMERS) {  // the producer
        if (tid == CONSUMERS * 128) {
            fence_tensormap_acquire(maps);
            fence_tensormap_acquire(b_map(maps));
            int it = 0;  // K-tiles loaded so far
            for (int pair = first_pair; pair < pairs; pair += pair_step) {
                for (int t = 0; t < k_tiles; ++t, ++it) {
                    const int s = it % STAGES;
                    if (it >= STAGES) mbarrier_wait(&empty[s], (it / STAGES - 1) % 2);  // both blocks released it - STAGES
                    unsigned char* const stage = tiles + s * STAGE_BYTES;
                    mbarrier_arrive_expect_tx(&full[s], STAGE_BYTES);
                    tma_load_2d_multicast(stage + rank * A_SHARE, maps, t * BK, m0_of(pair) + int(rank) * (BM / CLUSTER),
                                          &full[s], (1u << CLUSTER) - 1);
                    tma_load_2d(stage + A_BYTES, b_map(maps), t * BK, n0_of(pair), &full[s]);
                }
            }
        }
        __syncwarp();
    } else {
        // A consumer warp releases a stage in both blocks, by one lane's arrival on each.
        const bool releases = tid % 32 == 0;
        auto release = [&](int stage) {
            mbarrier_arrive_if(&empty[stage], releases);
            mbarrier_arrive_remote_if(&empty[stage], other, releases);
        };
        int it = 0;  // K-tiles consumed so far
        for (int pair = first_pair; pair < pairs; pair += pair_step) {
            float acc[BN / 2] = {};
            wgmma_fence_operands(acc);  // the zeros are written before the first wgmma_fence
            for (int t = 0; t < k_tiles; ++t, ++it) {
                mbarrier_wait(&full[it % STAGES], (it / STAGES) % 2);  // K-tile it has landed: both halves of A, and B
                issue_tile_wgmma<BM, BN, BK>(acc, tiles + it % STAGES * STAGE_BYTES, warpgroup);
                wgmma_wait_group<1>();  // K-tile it - 1's wgmma are done (as far as this thread's warp is concerned)
                if (t > 0) release((it - 1) % STAGES);
            }
            wgmma_wait_group<0>();
            if (k_tiles > 0) release((it - 1) % STAGES);  // the tile's last stage
            wgmma_fence_operands(acc);
            store_warpgroup_tile<BN>(acc, c, bias, m0_of(pair) + warpgroup * 64, n0_of(pair), M, N, alpha, beta, flags);
        }
    }
    cluster_sync();  // no block exits while the other may still copy into it or arrive on its mbarriers
}

// ---- 9e. gemm_tf32_wgmma_b_in_registers ----------------------------------------------------------
// Idea: rungs 9b to 9d need both operands K-major, since wgmma reads TF32 tiles from shared memory
// only that way, so for Dense's forward x.W (A.B: B = W is K x N, n contiguous) gemm() first
// transposes B into a workspace: on the H200 that pass is the gap between 9c's A.B (482.3 us at
// 4096^3) and its A.B^T (438.0 us; benchmarks/results/gemm.json, ac366b0), 9% of the product.
// wgmma takes its A operand from registers as well (ptx.cuh, wgmma_m64k8_tf32_a_in_registers), and
// registers have no "major": a thread may load its fragment from a tile in any layout. So this rung
// computes the transposed product, C^T = B^T A^T: wgmma's A operand (64 rows x 8 k, in registers) is
// 64 columns n of B, loaded from B's tile as TMA copied it, either way round; its B operand (from
// shared memory, K-major as before) is the rows m of A. The accumulators hold C^T, and the epilogue
// stores them transposed.
//   Block tile BM x BN of C: BN / 64 consumer warpgroups, each 64 columns n by all BM rows m (wgmma's
// N: 128, 192 or 256), and rung 9c's producer warpgroup with its full and empty mbarriers per stage. A
// stage is A's BM x 32 tile as in 9c (one box), then B's BN x 32: one box of BN rows of k when B is
// N x K (TRANS_B), else BN / 32 boxes of 32 rows of k by 32 n (B as it is, K x N), 4 KB each; a
// box wholly past N lands as zeros and still counts its bytes, as 9d's blocks past N rely on.
//   The fragment loads: per k-step a thread loads 4 floats of B's tile (ld.shared, 32 bits each).
// wgmma reads a register fragment as the whole warpgroup's 64 rows, but which column n of C a row r
// stands for is ours to choose, as long as the epilogue stores row r's outputs at that column
// (fragment_row_n). In the MN-major tile (32 n per 128-byte row of k, chunk c of 4 n stored at
// chunk c ^ (k % 8)), lane l of warp w loads rows 16w + g + 8h (g = l / 4, h = 0, 1) at k = l % 4
// (+ 4): with rows taken in order, a lane at k = 0 reading n = 4 (chunk 1) and one at k = 1 reading
// n = 0 (chunk 0, swizzled to 1) would meet in one bank: 2-way conflicts. Here row 16w + g + 8h
// stands for n = 32 (w / 2) + 16 (g / 4) + 4x + g % 4 with x = 2 (w % 2) + h: within its 32-n box
// the chunk is 4 (g / 4) + x, swizzled to 4 (g / 4 ^ k / 4 % 2) + (x ^ l % 4), so a warp's 32 lanes
// reach 8 distinct chunks at 4 offsets: 32 banks, no conflict (a script checked every warp, k-step
// and register of both warpgroups). The K-major tile (rows n,
// 9c's layout) is conflict-free with rows in order, so TRANS_B keeps them.
//   The pipeline: each k-step's wgmma is a group of its own, its fragment in one of two sets of 4
// registers, taken in turn. A warpgroup issues a k-step's wgmma, waits until it is the only one in
// flight, then loads the next k-step's fragment (at the last k-step, the next K-tile's first, once it
// has landed) into the other set, whose wgmma that wait has seen done: the loads and the fence run
// while the tensor core works on the k-step just issued. A wgmma fence precedes each wgmma, ordering
// the loads of its fragment (ordinary register writes) before it. A K-tile's stage is released, by
// one lane per consumer warp as in 9c, after the wait that follows its successor's first k-step,
// which retires its last wgmma; the warp's fragment loads from it were done before. The fragment
// offsets are a thread's own four, computed once: a k-step moves them by a constant
// (b_fragment_offset).
//   ptxas keeps a set's physical registers from other uses until the wait that retires the wgmma
// reading them, and where code would write them earlier it serializes every wgmma of the kernel
// (info C7513; the compile check refuses it). Loading the next fragment before issuing the current
// k-step, into the set whose wgmma had not been waited for, did exactly that. The order above needs
// 8 fragment registers, so that 256 rows of C (128 accumulators) fit the 168 registers a thread of a
// 384-thread block may have: 162 (with 16 registers for four sets they did not: C7512).
//   Edges: TMA zero-fills outside A and B; the epilogue stores only inside C, a float at a time (a
// thread's outputs of one column n lie in different rows of C; a warp's store fills 4 rows of C with
// two 16-byte runs each, or with TRANS_B's rows in order one 32-byte run).
// Expected bottleneck: the tensor core, as 9c's A.B^T, with B's transpose gone: shared memory serves
// 9c's bytes (the fragment loads read the 2 KB per warpgroup and k-step that 9c's wgmma read of the
// warpgroup's own 64 rows), plus the fragment loads' issue slots (16 a K-tile per thread) and their
// latency, which the k-step in flight covers.
// Default tiling 256 x 128, 9c's 128 x 256 turned round: the same bytes per FMA, and at 4096^3 the
// same 512 tiles (3.9 waves on 132 SMs). The emulator runs it through ptx.cuh's twins (the wgmma twin
// gathers a warp's fragment registers as mma.sync's does).
// ptxas (sm_90a, nvcc 13.0, default tiling): 162 registers in either layout of B, no spills, no
// serialized wgmma. With B as it is, a k-step's fragment loads take it as an immediate offset; with
// TRANS_B its XOR costs two integer instructions a register.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 323.9 TFLOP/s at 4096^3
// A.B, 89.0% of cuBLAS TF32 (363.8), the fastest TF32 rung there: 424.3 us, under 9c's A.B^T (438.0),
// as expected, with no transpose to run (9c's A.B: 482.3). A.B^T (TRANS_B) 307.4 (80.0%), slower
// than its A.B and than 9b's 322.0; A^T.B 297.8 (131.5% of cuBLAS TF32's 226.4 there). At 8192^3
// A.B 312.0 (80.1%), under 9b's 337.1 (86.5%). Tensor pipe 85% busy (gemm_counters.json, commit
// b323e23; 9c's kernel 77%), one kernel of 379.3 us where 9c runs 407.4 after a 39.4 us transpose;
// top stalls wait 2.6, barrier 1.6, short_scoreboard 1.0. The sweep (gemm_sweep.json, b323e23, A.B):
// the default 256 x 128 339.0 (87.9% of cuBLAS TF32 385.5 there), 128 x 192 259.3, 192 x 128 248.4,
// 128 x 128 219.9.
// The column n (of a warpgroup's 64) that row r of its wgmma A operand stands for.
template <bool K_MAJOR>
__device__ __forceinline__ int fragment_row_n(int r)
{
    if (K_MAJOR) return r;
    const int warp = r / 16, h = r / 8 % 2, g = r % 8;
    return 32 * (warp / 2) + 16 * (g / 4) + 4 * (2 * (warp % 2) + h) + g % 4;
}

// Byte offset of B's float (n, k) in a stage's B tile: BN rows of 32 k (K_MAJOR), or 32-n boxes of
// 32 rows of k, 4 KB apart; both in the 128-byte swizzle.
template <bool K_MAJOR>
__device__ __forceinline__ int b_tile_offset(int n, int k)
{
    return K_MAJOR ? swizzle_128b_offset(n, k) : n / 32 * 4096 + swizzle_128b_offset(k, n % 32);
}

// The same float 8 k-steps further on, from its offset at k-step 0 (k < 8): in the N-major tile 8
// rows of k down, whose swizzle is the same (it depends on k % 8); in the K-major one 8 floats along
// the row, two chunks on, which the swizzle's XOR turns into an XOR of the chunk index.
template <bool K_MAJOR>
__device__ __forceinline__ int b_fragment_offset(int offset_at_step_0, int step)
{
    return K_MAJOR ? offset_at_step_0 ^ (step << 5) : offset_at_step_0 + step * 1024;
}

// A warpgroup's accumulators of C^T (64 columns n, the rows m0 .. m0 + BM - 1) through the epilogue:
// acc[4j + i] is row 16 warp + lane / 4 + 8 (i / 2) of C^T, column n[i / 2] of C, at row
// m0 + 8j + 2 (lane % 4) + i % 2 of C.
template <int BM>
__device__ __forceinline__ void store_transposed_warpgroup_tile(const float (&acc)[BM / 2], float* __restrict__ c,
                                                                const float* __restrict__ bias, int m0,
                                                                const int (&n)[2], int M, int N, float alpha,
                                                                float beta, int flags)
{
    const int m = m0 + 2 * (threadIdx.x % 4);
#pragma unroll
    for (int j = 0; j < BM / 8; ++j)
#pragma unroll
        for (int i = 0; i < 4; ++i)
            store_output(c, bias, m + 8 * j + i % 2, n[i / 2], M, N, acc[4 * j + i], alpha, beta, flags);
}

template <bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BN / 64 + 1) * 128, MIN_BLOCKS)
gemm_tf32_wgmma_b_in_registers(const unsigned long long* __restrict__ maps, float* __restrict__ c,
                               const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    static_assert(BK == 32, "a K-tile is one 128-byte swizzle row of floats: the box is 32 floats wide");
    static_assert(WM == BM && WN == 64 && BN % 64 == 0, "a warpgroup per 64 columns of the block, with all its rows");
    static_assert(BM == 128 || BM == 192 || BM == 256, "the block's rows are wgmma's N");
    static_assert(BN <= 256, "a box is at most 256 rows");
    static_assert(STAGES >= 2, "one stage filling while one is computed");
    constexpr int CONSUMERS = BN / 64, A_BYTES = BM * 128, STAGE_BYTES = (BM + BN) * 128;
    extern __shared__ float4 smem_vec4[];
    unsigned char* const tiles = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));
    // empty[s]: every consumer warp's release, as in rung 9c.
    unsigned long long* const full = init_stage_barriers<STAGES>(tiles + STAGES * STAGE_BYTES, CONSUMERS * 4);
    unsigned long long* const empty = full + STAGES;

    const int tid = threadIdx.x, warpgroup = tid / 128;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN, k_tiles = (K + BK - 1) / BK;
    __syncthreads();

    if (warpgroup == CONSUMERS) {  // the producer, as rung 9c's
        if (tid == CONSUMERS * 128) {
            fence_tensormap_acquire(maps);
            fence_tensormap_acquire(b_map(maps));
            for (int t = 0; t < k_tiles; ++t) {
                const int s = t % STAGES;
                if (t >= STAGES) mbarrier_wait(&empty[s], (t / STAGES - 1) % 2);  // K-tile t - STAGES released
                unsigned char* const stage = tiles + s * STAGE_BYTES;
                mbarrier_arrive_expect_tx(&full[s], STAGE_BYTES);
                tma_load_2d(stage, maps, t * BK, m0, &full[s]);
                if (TRANS_B) {
                    tma_load_2d(stage + A_BYTES, b_map(maps), t * BK, n0, &full[s]);
                } else {
#pragma unroll
                    for (int box = 0; box < BN / 32; ++box)
                        tma_load_2d(stage + A_BYTES + box * 4096, b_map(maps), n0 + 32 * box, t * BK, &full[s]);
                }
            }
        }
        return;
    }

    const int lane = tid % 32, row = 16 * (tid / 32 % 4) + lane / 4;  // this thread's fragment rows: row, row + 8
    const int n_in_tile[2] = {warpgroup * 64 + fragment_row_n<TRANS_B>(row),
                              warpgroup * 64 + fragment_row_n<TRANS_B>(row + 8)};
    // Where register i of k-step 0's fragment lies in B's tile (row n_in_tile[i % 2], k = 4 (i / 2) +
    // lane % 4); k-step s's is b_fragment_offset's step from it.
    int offset_at_step_0[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
        offset_at_step_0[i] = b_tile_offset<TRANS_B>(n_in_tile[i % 2], 4 * (i / 2) + lane % 4);
    // A k-step's 4 fragment registers of B, from the stage of K-tile t.
    auto load_fragment = [&](unsigned (&fragment)[4], int t, int step) {
        const unsigned char* const b_tile = tiles + t % STAGES * STAGE_BYTES + A_BYTES;
#pragma unroll
        for (int i = 0; i < 4; ++i)
            fragment[i] =
                *reinterpret_cast<const unsigned*>(b_tile + b_fragment_offset<TRANS_B>(offset_at_step_0[i], step));
    };
    float acc[BM / 2] = {};
    unsigned fragments[2][4];  // two k-steps' fragment registers, in turn
    wgmma_fence_operands(acc);  // the zeros are written before the first wgmma_fence
    if (k_tiles > 0) {
        mbarrier_wait(&full[0], 0);
        load_fragment(fragments[0], 0, 0);
    }
    for (int t = 0; t < k_tiles; ++t) {
        // A's BM rows of the stage, K-major: wgmma's B operand.
        const unsigned long long desc_a_rows = wgmma_descriptor_sw128(tiles + t % STAGES * STAGE_BYTES);
#pragma unroll
        for (int step = 0; step < BK / 8; ++step) {
            wgmma_fence();  // orders the writes of this k-step's fragment before the wgmma that reads it
            // A k-step is 8 floats of A's rows: 32 bytes, 2 in descriptor units.
            wgmma_m64k8_tf32_a_in_registers<BM>(acc, fragments[step % 2], desc_a_rows + 2 * step);
            wgmma_commit_group();
            wgmma_wait_group<1>();  // only this k-step's wgmma in flight: the one before is done
            // After step 0 K-tile t - 1's last wgmma is done: its stage may be refilled.
            if (step == 0 && t > 0) mbarrier_arrive_if(&empty[(t - 1) % STAGES], lane == 0);
            // The next k-step's fragment (the next K-tile's first, once it has landed), into the
            // registers of the k-step before, whose wgmma the wait has seen done.
            if (step + 1 < BK / 8) {
                load_fragment(fragments[(step + 1) % 2], t, step + 1);
            } else if (t + 1 < k_tiles) {
                mbarrier_wait(&full[(t + 1) % STAGES], (t + 1) / STAGES % 2);
                load_fragment(fragments[0], t + 1, 0);
            }
        }
    }
    wgmma_wait_group<0>();
    wgmma_fence_operands(acc);
    const int n[2] = {n0 + n_in_tile[0], n0 + n_in_tile[1]};
    store_transposed_warpgroup_tile<BM>(acc, c, bias, m0, n, M, N, alpha, beta, flags);
}
