// GEMM on the FP32 cores (SIMT): a ladder of kernels, each one idea better than the last.
//
//   C (M x N) = act(alpha * op(A) op(B) + beta * C + bias)      (conventions: gemm_common.cuh)
//
// Every kernel is a template on <TRANS_A, TRANS_B> and handles any M, N, K: tiles reach past the
// matrix edges with zero-filled loads and guarded stores. Launch geometry per kernel is in
// cnn_gpu/ops/gemm_variants.py (GEMM_VARIANTS).
//
// Two numbers bound any version: the time of its arithmetic at the peak rate, and the time to move
// the fewest bytes it must at the memory's bandwidth. An M = N = K = 4096 product is 2 * 4096^3 =
// 137 GFLOP and moves at least 3 * 64 MiB = 201 MB: at ~67 TFLOP/s FP32 (the H100's and H200's
// datasheet peak) and the H200's measured 4.2 TB/s, 2.0 ms of arithmetic against 0.05 ms of memory.
// GEMM is compute-bound by 40x, and every kernel below is about feeding the FMA units from ever
// closer memory.
// Measured results come from committed benchmark JSON: benchmarks/results/gemm.json (the ladder),
// an NVIDIA H200 at commit ac366b0, where cuBLAS FP32 ran 4096^3 A.B at 48.8 TFLOP/s and its copy
// bandwidth was 4.2 TB/s (4193 GB/s); each rung's line gives its 4096^3 A.B rate and its fraction
// of that. benchmarks/results/gemm_sweep.json (a second H200, commit b323e23) times rung 7's
// tilings; gemm_counters.json (that second run) holds Nsight Compute's counters for each rung's kernel.

#include "gemm_common.cuh"

// ---- 1. gemm_naive ------------------------------------------------------------------------------
// Idea: one thread per output element, a K-long dot product straight from global memory.
// Bottleneck: memory access pattern. threadIdx.x runs along m, so the 32 threads of a warp read 32
// different rows of A (32 cache lines per load) and write 32 different rows of C; every element of
// A and B is fetched from L2 or DRAM M or N times over.
// Edges: threads outside C return at once; the dot product only touches valid indices.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 0.5 TFLOP/s at 2048^3 A.B,
// 1.1% of cuBLAS FP32 (45.6 there); skipped at 4096^3, where a launch takes seconds.

// The dot product that kernels 1 and 2 share; only who computes which (m, n) differs.
template <bool TRANS_A, bool TRANS_B>
__device__ __forceinline__ float dot_row_col(const float* __restrict__ a, const float* __restrict__ b,
                                             int m, int n, int M, int N, int K)
{
    float acc = 0.0f;
    for (int k = 0; k < K; ++k)
        acc += operand_at<!TRANS_A>(a, m, k, M, K) * operand_at<TRANS_B>(b, n, k, N, K);
    return acc;
}

template <bool TRANS_A, bool TRANS_B>
__global__ void gemm_naive(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                           const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    const int m = blockIdx.x * blockDim.x + threadIdx.x;
    const int n = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    store_output(c, bias, m, n, M, N, dot_row_col<TRANS_A, TRANS_B>(a, b, m, n, M, N, K), alpha, beta, flags);
}

// ---- 2. gemm_coalesced --------------------------------------------------------------------------
// Idea: swap the roles of x and y, so that threadIdx.x runs along n. A warp now reads one element of
// A (a broadcast) and 32 consecutive elements of B (one 128-byte line, with B stored K x N), and
// writes 32 consecutive elements of C: global-memory coalescing.
// Bottleneck: still one global load of A and one of B per FMA; the L1/L2 bandwidth caps it.
// Edges: as kernel 1.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 6.4 TFLOP/s at 2048^3 A.B,
// 14.1% of cuBLAS FP32 (45.6 there); skipped at 4096^3.
template <bool TRANS_A, bool TRANS_B>
__global__ void gemm_coalesced(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                               const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int m = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    store_output(c, bias, m, n, M, N, dot_row_col<TRANS_A, TRANS_B>(a, b, m, n, M, N, K), alpha, beta, flags);
}

// ---- 3. gemm_smem_tiled -------------------------------------------------------------------------
// Idea: a TILE x TILE block of threads computes a TILE x TILE block of C. It walks K in steps of TILE;
// at each step the block copies one TILE x TILE tile of A and one of B into shared memory (each
// thread one element of each, coalesced: see load_tile), waits, and every thread accumulates its
// dot product from shared memory. Each global element is now read M/TILE (or N/TILE) times, not M.
// Bottleneck: shared-memory bandwidth and instruction issue: two shared loads per FMA.
// Edges: load_tile zero-fills past the matrix; store_output is guarded.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 3.9 TFLOP/s at 4096^3 A.B,
// 7.9% of cuBLAS FP32 (A.B^T 5.8, 11.7%); at 2048^3 4.7 TFLOP/s, still slower than kernel 2 (6.4
// there). The counters (gemm_counters.json, 4096^3 A.B) bear the expected bottleneck out: the top
// stalls are mio_throttle (the shared-memory instruction queue full) 6.8 per issue and
// long_scoreboard (global loads) 6.4, at 50% occupancy. Kernel 2 was not profiled, so why it is faster is
// still open (its repeated global reads may be served by L1).
template <bool TRANS_A, bool TRANS_B, int TILE>
__global__ void gemm_smem_tiled(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                                const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    constexpr int STRIDE = TILE + 1;  // odd: a column of the tile spans all 32 banks
    __shared__ float as[TILE * STRIDE];  // as[k][m]
    __shared__ float bs[TILE * STRIDE];  // bs[k][n]
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * TILE + tx;
    const int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        load_tile<!TRANS_A, TILE, TILE, STRIDE, TILE * TILE>(as, a, m0, k0, M, K, tid);
        load_tile<TRANS_B, TILE, TILE, STRIDE, TILE * TILE>(bs, b, n0, k0, N, K, tid);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TILE; ++k) acc += as[k * STRIDE + ty] * bs[k * STRIDE + tx];
        // Nobody may overwrite the tiles for the next step while others still read these.
        __syncthreads();
    }
    store_output(c, bias, m0 + ty, n0 + tx, M, N, acc, alpha, beta, flags);
}

// ---- 4. gemm_regblock_1d ------------------------------------------------------------------------
// Idea: each thread computes TM outputs of one column instead of one. The B value it loads from
// shared memory is reused TM times from a register, so shared loads per FMA drop from 2 to 1 + 1/TM.
// BM x BN = 64 x 64 outputs per block of BM * BN / TM = 512 threads, BK = 8.
// Bottleneck: shared-memory loads of A (one per FMA), and the global tile loads between barriers.
// Edges: zero-filled tiles, guarded stores.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 15.4 TFLOP/s at 4096^3 A.B,
// 31.5% of cuBLAS FP32 (A^T.B 17.6, 34.9%). As expected: the top stalls are short_scoreboard 4.8
// (shared loads) and long_scoreboard 3.8 (global ones), at 73% occupancy (40 registers).
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int TM>
__global__ void __launch_bounds__(BM * BN / TM)
gemm_regblock_1d(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                 const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    constexpr int NTHREADS = BM * BN / TM;
    // Row strides of 4 mod 32 put the 8 k-rows a warp writes (k contiguous) in different banks.
    constexpr int A_STRIDE = BM + 4, B_STRIDE = BN + 4;
    __shared__ float as[BK * A_STRIDE];  // as[k][m]
    __shared__ float bs[BK * B_STRIDE];  // bs[k][n]
    const int tid = threadIdx.x;
    const int col = tid % BN, row0 = (tid / BN) * TM;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    float acc[TM] = {};
    for (int k0 = 0; k0 < K; k0 += BK) {
        load_tile<!TRANS_A, BM, BK, A_STRIDE, NTHREADS>(as, a, m0, k0, M, K, tid);
        load_tile<TRANS_B, BN, BK, B_STRIDE, NTHREADS>(bs, b, n0, k0, N, K, tid);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            const float b_kn = bs[k * B_STRIDE + col];
#pragma unroll
            for (int i = 0; i < TM; ++i) acc[i] += as[k * A_STRIDE + row0 + i] * b_kn;
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i)
        store_output(c, bias, m0 + row0 + i, n0 + col, M, N, acc[i], alpha, beta, flags);
}

// ---- 5. gemm_regblock_2d ------------------------------------------------------------------------
// Idea: each thread computes a TM x TN = 8 x 8 block: per k it loads TM values of A and TN of B into
// registers and does TM * TN FMAs with them (an outer product), 4 FMAs per shared load.
// (The block tile is RegisterBlockedTile in gemm_common.cuh, which gemm_split_k shares.)
// BM x BN = 128 x 128 per block of 256 threads, BK = 8.
// Bottleneck: the global tile loads are scalar (LDG.E, 4 bytes each). The compiler already merges a
// thread's 8 adjacent shared reads into two LDS.128 (seen in the SASS), but with n = col0 + j
// (col0 = (tid % 16) * 8) the 8 threads of a quarter-warp start 32 bytes apart: 2-way bank
// conflicts on every read of B.
// Edges: zero-filled tiles, guarded stores.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 26.5 TFLOP/s at 4096^3 A.B,
// 54.4% of cuBLAS FP32; 122 registers, two blocks per SM (25% occupancy). The top stalls,
// short_scoreboard 1.5 (shared reads) and long_scoreboard 1.5 (global loads), are the two expected.
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_regblock_2d(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                 const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    RegisterBlockedTile<TRANS_A, TRANS_B, BM, BN, BK, TM, TN> tile;
    tile.accumulate(a, b, m0, n0, M, N, K, 0, K);
    tile.store(c, bias, m0, n0, M, N, alpha, beta, flags);
}

// ---- 6. gemm_vectorized -------------------------------------------------------------------------
// Idea: kernel 5 with 16-byte accesses everywhere they fit. Global tiles load as float4
// (LDG.E.128, load_tile_vectorized); both shared tiles stay k-major (A transposed on the way in when
// it is stored k-contiguous), so a thread's 4 consecutive m (or n) values are one LDS.128. A thread
// owns rows {tr*4 + i, 64 + tr*4 + i} and columns {tc*4 + j, 64 + tc*4 + j} (i, j < 4) rather than
// 8 adjacent ones: the 8 threads of a quarter-warp then read 8 adjacent float4s of B, 128 bytes
// with no bank conflict (kernel 5's were 32 bytes apart).
// Bottleneck: no overlap of global loads and math within a block: each K-tile loads, waits at a
// barrier, computes. What hides the loads is a second block on the SM computing meanwhile, so the
// registers must leave room for two: __launch_bounds__(256, 2) holds a thread to 128 (rung 5's
// 110-122 fit two blocks unasked).
// Edges: float4 loads when float4_loads_fit (else scalar ones); zero-filled tiles, guarded stores.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 28.5 TFLOP/s at 4096^3 A.B,
// 58.5% of cuBLAS FP32, ahead of kernel 5 (26.5); A^T.B 27.3 (54.2%). The bound holds: 128
// registers, two blocks per SM (25% occupancy). The top stall is not_selected 1.7 (a warp ready,
// another issued), ahead of long_scoreboard 1.2: the second block hides the loads in part, as expected.
// On the H200 at d395d83, without the second bound (139 registers, one block per SM), it ran slower
// than kernel 5 there: 18.2 against 26.3 TFLOP/s.
template <bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(256, 2)
gemm_vectorized(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    constexpr int BM = 128, BN = 128, BK = 8, NTHREADS = 256, HALF = 64;
    constexpr int A_STRIDE = BM + 4, B_STRIDE = BN + 4;  // multiples of 4 (float4), 4 mod 32 (banks)
    __shared__ __align__(16) float as[BK * A_STRIDE];
    __shared__ __align__(16) float bs[BK * B_STRIDE];
    const int tid = threadIdx.x;
    const int tr = tid / 16, tc = tid % 16;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const bool wide = float4_loads_fit<TRANS_A, TRANS_B>(a, b, M, N, K);
    float acc[8][8] = {};
    float a_frag[8], b_frag[8];
    for (int k0 = 0; k0 < K; k0 += BK) {
        load_tile_vectorized<!TRANS_A, BM, BK, A_STRIDE, NTHREADS>(as, a, m0, k0, M, K, tid, wide);
        load_tile_vectorized<TRANS_B, BN, BK, B_STRIDE, NTHREADS>(bs, b, n0, k0, N, K, tid, wide);
        __syncthreads();
        // Unrolled by 4, not 8: fully unrolled, A.B took 139 registers (one block per SM), and within
        // __launch_bounds__(256, 2)'s 128 it spilled.
#pragma unroll 4
        for (int k = 0; k < BK; ++k) {
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const float4 av = *reinterpret_cast<const float4*>(&as[k * A_STRIDE + h * HALF + tr * 4]);
                const float4 bv = *reinterpret_cast<const float4*>(&bs[k * B_STRIDE + h * HALF + tc * 4]);
                a_frag[h * 4 + 0] = av.x; a_frag[h * 4 + 1] = av.y; a_frag[h * 4 + 2] = av.z; a_frag[h * 4 + 3] = av.w;
                b_frag[h * 4 + 0] = bv.x; b_frag[h * 4 + 1] = bv.y; b_frag[h * 4 + 2] = bv.z; b_frag[h * 4 + 3] = bv.w;
            }
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] += a_frag[i] * b_frag[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j)
            store_output(c, bias, m0 + (i / 4) * HALF + tr * 4 + i % 4, n0 + (j / 4) * HALF + tc * 4 + j % 4,
                         M, N, acc[i][j], alpha, beta, flags);
}

// ---- 7. gemm_warptiled_double_buffered ----------------------------------------------------------
// Idea: two changes on kernel 6.
// (a) Double buffering with cp.async: STAGES shared-memory buffers per operand (2 by default); while
//     the block computes on one, cp.async copies fill the next with a later K-tile
//     (pipelined_mainloop), so global latency hides behind math and one barrier per K-tile suffices.
//     cp.async cannot transpose, so each tile keeps its operand's layout (StagedTiles): s[k][mn]
//     (mn contiguous) or s[mn][k] (k contiguous, row stride BK + 4).
// (b) Warp tiling: the warps split the BM x BN block tile into WM x WN warp tiles (64 x 32 by
//     default: 8 warps in 2 (m) x 4 (n) for a 128 x 128 block), and the 32 lanes of a warp split
//     that 8 (m) x 4 (n), lane_row = lane % 8 and lane_col = lane / 8, each lane owning
//     TM = WM / 8 rows and TN = WN / 4 columns (8 x 8 by default). The code is WarpTiledTile in
//     gemm_common.cuh, which split-K's rung 10b runs too. Which rows and columns a lane owns is
//     chosen so that every shared read is conflict-free or a broadcast. The compiler merges each
//     lane's 8-byte reads of 2 k into 16-byte ones of 4 k (LDS.128), which the hardware serves a
//     quarter-warp (8 lanes: one lane_col, all 8 lane_rows) at a time:
//       A mn-contiguous: a lane's rows in runs of 4 adjacent ones (one LDS.128 per run and k);
//       A k-contiguous:  its rows LANES_M = 8 apart, so the 8 lanes read 8 adjacent rows, whose
//                        starts, BK + 4 words apart, fall in distinct banks for BK = 8, 16, 32;
//       B, either layout: a lane's columns in runs of 4; k-contiguous, the 8 lanes share one
//                        lane_col and so read one row (a broadcast).
//     So every lane's outputs come in runs of 4 columns and go out as 16-byte stores
//     (WarpTiledTile::store). Until after the H100 run at 2c9911a, a k-contiguous B's columns were
//     LANES_N = 4 apart instead, and A.B^T stored single floats, half of each 32-byte sector per
//     store, where a K of 64 (Dense's backward to data) makes the stores a large share of the work.
// The tiling (block tile, warp tile, K-tile, stages; cnn_gpu/ops/gemm_variants.py SIMT_TILING) is a template
// argument, so benchmarks/gemm.py --sweep can time others; the tiles live in dynamic shared memory
// for that.
// Bottleneck (expected): FMA issue, with 16 warps per SM (two blocks; A.B^T, at 168 registers, one:
// 8), and shared-memory bandwidth.
// Edges: cp.async src-size zero-fill, 16-byte copies when float4_loads_fit, else 4-byte ones;
// guarded stores, one float at a time where C's rows are no multiple of 16 bytes or C is misaligned.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): 41.4 TFLOP/s at 4096^3 A.B,
// 84.8% of cuBLAS FP32; A.B^T 39.7 (80.2%, its columns now in runs of 4; 79.7% before them, on the
// H100 at 2c9911a), A^T.B 48.0 (95.2%). A.B ran at two blocks per SM (127 registers, 24% occupancy;
// on the H100 at 48bedcb one block had run as fast). The top stalls, not_selected 2.4 (a warp ready,
// another issued) and dispatch_stall 1.1, with memory at 48% of its peak throughput, point to FMA
// issue, the first expected limit, not to shared-memory bandwidth, the second. The sweep
// (gemm_sweep.json, A.B, cuBLAS FP32 50.4 there) ran seven tilings at 35.0-41.8 TFLOP/s: the
// default 41.4 (82.1%), the same with 3 stages 41.8 (83.0%). The two changes came in one step, so
// the gain over kernel 6 is not shared out between them.
//   gemm_warptiled_small_tiles, gemm_warptiled_medium_tiles and gemm_warptiled_wide_tiles, this kernel
// at 32 x 32, 64 x 64 and 32 x 64 tiles (cnn_gpu/ops/gemm_variants.py; 32 x 64 is cuBLAS's tile for
// backward data at batch 128), serve the Dense products; kernel times by graph at batch 32, 128, 512
// against cuBLAS FP32's: Dense 5408 -> 64 backward data (A.B^T) 4.7, 7.9, 19.1 us (small), 5.8, 7.1,
// 17.1 (medium) and 5.1, 7.1, 17.9 (wide) against 4.6, 7.0, 15.7; its weight gradient 3.1, 6.4,
// 19.5, then 3.7, 7.3, 20.3 and 3.7, 7.0, 20.0 against 4.0, 7.5, 16.1; Dense 64 -> 10 backward data
// (small) 1.8, 1.8, 1.9 against 4.7, 4.9, 5.3. The autotuner chose the wide tiles for backward data
// at batch 32 and 128, though at batch 32 the small ones ran faster in the same file (4.7 against
// 5.1). At 4096^3 A.B they run 31.9, 37.9 and 36.6 TFLOP/s (65.4%, 77.6% and 75.0%). Since ba54884
// (the prologue a loop, the epilogue's plain copies: gemm_common.cuh) backward data at batch 32 and
// 128 took 4.6 and 7.7 us (small) and 4.5 and 7.0 (wide) against cuBLAS FP32's 4.6 and 7.0, from
// 4.7, 7.7, 5.1 and 7.0 at 4f96517 (gemm.json at each commit, by graph).
// Compiler (ptxas, sm_90, nvcc 13.0; `cnn-gpu kernels` for today's figures): at the default tiling,
// 127 registers for A.B and 115 for A^T.B (two 256-thread blocks per SM), 168 for A.B^T (one); no
// spills; 64-72 KB of shared memory. A.B took 167 until its outputs went out as 16-byte stores.
// Held to two blocks by __launch_bounds__(256, 2), A.B^T spills (40 bytes). Earlier, at BK = 16:
// the k-contiguous reads' merging into LDS.128 is where A.B's registers over A^T.B went, and A.B^T
// took 254 while the loader looped over a trip count nvcc could not know (the loop copy_tile_async
// replaced, kept as copy_tile_async_recomputed). The main loop's SASS per K-tile before this stop's
// changes (16-byte path, instruction counts, not timings): 2269-2272 instructions, 2048 of them
// FFMA, 134 LDS, 74-77 the copies of the next tile (before copy_tile_async's compile-time share:
// 2560-2579, 361-380 of them the copies).

template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
gemm_warptiled_double_buffered(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                               const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    extern __shared__ float4 smem_vec4[];
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    WarpTiledTile<TRANS_A, TRANS_B, BM, BN, BK, WM, WN, STAGES> tile{reinterpret_cast<float*>(smem_vec4)};
    tile.accumulate(a, b, m0, n0, M, N, K, 0, K);
    tile.store(c, bias, m0, n0, M, N, alpha, beta, flags);
}
