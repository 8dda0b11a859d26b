// GEMM for small products, little M x N: K spread over more threads than one per output or tile.
//
//   C (M x N) = act(alpha * op(A) op(B) + beta * C + bias)      (conventions: gemm_common.cuh)
//
//   10  gemm_split_k            K cut into slices, a block each, for little M x N and a long K
//   10b gemm_split_k_warptiled  the same slices on rung 7's pipelined block tile
//   10c gemm_split_k_last_slice_reduces  10b in one launch: a tile's last slice to finish adds them up
//   10d gemm_split_k_cluster_reduces     (gemm_cluster.cu, Hopper) 10c's slices of a tile as one
//                                        thread-block cluster, summed in its shared memory
//   10e gemm_split_k_3xtf32     10c's slices on rung 8's tensor-core tile, in 3xTF32
//   11  gemm_warp_per_output    a warp per output, its lanes taking turns along K, for few outputs
//
// The ladder's kernels give each block one tile of C and let it walk all of K. When M x N is a few
// tiles, as in the seed model's Dense forward x.W (M = batch 32 to 512, N = 64, K = 5408), that is
// a few blocks on a 132-SM GPU (1 to 4 of 128 x 128, 2 to 32 of 32 x 32), each one walking K = 5408
// alone: on an NVIDIA H200 the fastest kernel that walks all of K there, rung 7 at 32 x 32 tiles
// (gemm_warptiled_small_tiles), took 121 us per product, and the fastest numbered SIMT rung,
// gemm_smem_tiled, 355.1-386.1 us, against cuBLAS FP32's 10.3-22.4 us (kernel times by graph;
// benchmarks/results/gemm.json, commit ac366b0).
//
// The two bounds (gemm_simt.cu: arithmetic at the peak rate, bytes at the bandwidth) for the
// largest of those, 512 x 64 x 5408: 2 * 512 * 64 * 5408 = 354 MFLOP, 7 us at cuBLAS's measured
// 48.8 TFLOP/s FP32; at least (512 + 64) * 5408 * 4 bytes = 12.5 MB read, 3 us at 4.2 TB/s. At
// batch 32 both are under a microsecond: the launches are the floor.
//
// Launch geometry and the choice of `splits` are in cnn_gpu/ops/gemm_plans.py (split_k_plan), under a
// policy per variant, each one the autotuner times: gemm_split_k (slices of at least 4 K-tiles),
// gemm_split_k_fine (down to one K-tile, twice the blocks), gemm_split_k_warptiled,
// gemm_split_k_last_slice_reduces and gemm_split_k_3xtf32 (the last two: the same policy).

#include "gemm_common.cuh"
#include "last_block.cuh"  // last_block_to_finish: rung 10c's handshake

// One slice of split-K (rung 10 below) in whichever block tile runs it (RegisterBlockedTile in
// gemm_split_k, WarpTiledTile in gemm_split_k_warptiled): the tile's sums over K-slice blockIdx.z,
// through the epilogue into C when there is one slice, else raw into the slice's part of the
// workspace, partials[splits][M][N4] (N4: N rounded up to 4).
template <class Tile>
__device__ __forceinline__ void split_k_slice(Tile& tile, const float* __restrict__ a, const float* __restrict__ b,
                                              float* __restrict__ c, const float* __restrict__ bias,
                                              float* __restrict__ partials, int M, int N, int K, int k_per_split,
                                              float alpha, float beta, int flags)
{
    const int m0 = blockIdx.y * Tile::BLOCK_M, n0 = blockIdx.x * Tile::BLOCK_N;
    const int k_begin = blockIdx.z * k_per_split;
    tile.accumulate(a, b, m0, n0, M, N, K, k_begin, min(K, k_begin + k_per_split));
    if (gridDim.z == 1) {
        tile.store(c, bias, m0, n0, M, N, alpha, beta, flags);
        return;
    }
    const int N4 = (N + 3) / 4 * 4;
    tile.store_partials(partials + (long long)blockIdx.z * M * N4, m0, n0, M, N, N4);
}

// ---- 10. gemm_split_k ---------------------------------------------------------------------------
// Idea: cut K into `splits` slices of k_per_split (a multiple of BK), and give each (tile, slice)
// pair its own block: grid z is the slice. Each block runs rung 5's register-blocked tile
// (RegisterBlockedTile) over its slice only and writes the partial tile, without the epilogue, to
// the workspace partials[splits][M][N4] (N4 = N rounded up to 4, so that every row of it starts
// 16-byte aligned and a thread's 4 adjacent columns go out as one STG.128). No atomics: a second
// kernel, gemm_split_k_reduce, sums the slices in a fixed order, so the result is the same on every
// run. With one slice (splits = 1) the block stores through the epilogue straight into C, and the
// wrapper launches nothing else: then this is rung 5 with a 64 x 64 tile.
// Tile: BM x BN = 64 x 64 with TM x TN = 8 x 4 per thread, 128 threads, BK = 16 (the wrapper's
// template arguments). A warp's 16 column groups read 16 adjacent float4s of B per k (no bank
// conflict) and two rows of A (broadcasts).
// Bottleneck (expected): global latency. Rung 5's loop does not overlap its tile loads with math,
// so each block stalls once per K-tile; the wrapper asks for about 4 blocks per SM so that others
// compute meanwhile. Then the partial tiles: splits x M x N4 floats written and read back (~7.5 MB
// for 512 x 64 x 5408, mostly from L2), and two launches instead of one.
// Edges: zero-filled tiles; only the last slice can end inside a K-tile (at K), which the loaders
// zero-fill; guarded stores.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): the Dense 5408 -> 64
// forward product (a call of gemm(): both kernels, bias and ReLU), kernel times by CUDA-graph
// replays against cuBLAS FP32's (torch.mm, by graph): batch 32 16.5 us against 10.3, batch 128
// 19.3 against 11.5, batch 512 27.2 against 22.4, so 1.2-1.7x cuBLAS's time. gemm_split_k_fine
// took 8.8, 12.3 and 29.1 us. Rung 7's pipelined tile in 10b below takes 7.7, 10.6 and 18.9,
// consistent with the expected cost of rung 5's unhidden global latency. At 4096^3 A.B, where it
// does not split, 25.1 TFLOP/s, 51.4% of cuBLAS FP32.
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
gemm_split_k(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
             const float* __restrict__ bias, float* __restrict__ partials, int M, int N, int K,
             int k_per_split, float alpha, float beta, int flags)
{
    RegisterBlockedTile<TRANS_A, TRANS_B, BM, BN, BK, TM, TN> tile;
    split_k_slice(tile, a, b, c, bias, partials, M, N, K, k_per_split, alpha, beta, flags);
}

// ---- 10b. gemm_split_k_warptiled -----------------------------------------------------------------
// Idea: gemm_split_k with rung 7's block tile (WarpTiledTile) in place of rung 5's, K cut into the
// same slices: the slice's K-tiles come by cp.async, STAGES of them in flight, so a block no longer
// waits out each load in turn. (Its slices could be longer for the same latency, with fewer
// partial tiles to write and reduce; its policy does not yet make them so.)
// Tiling: cnn_gpu/ops/gemm_variants.py (64 x 64 blocks of four 32 x 32 warps, BK = 16, 5 stages: a
// slice's 4 K-tiles all in flight at once; 3 stages in the H100 run at 2c9911a).
// Bottleneck (expected): the partial tiles' traffic and the second launch, as gemm_split_k's.
// Edges: WarpTiledTile's (cp.async zero-fill, guarded stores).
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): the Dense 5408 -> 64
// forward product, kernel times by graph: batch 32 7.7 us, batch 128 10.6, batch 512 18.9, against
// cuBLAS FP32's 10.3, 11.5 and 22.4; the autotuner takes it for all three, and for the weight
// gradient at batch 512 (18.7 us against cuBLAS's 16.1). Launch by launch the autotuned call takes
// 55.8, 54.1 and 58.3 us against cuBLAS's 38.4, 46.9 and 45.6: the host bounds a call, not the
// kernels. On the H100 at 2c9911a (its gemm_counters.json), at batch 32 the SMs were 13% busy and
// memory 13% (6% occupancy): the partial tiles' traffic is not what costs; latency and the second
// launch, the other expected cost, are. (The H200's counters, b323e23, have no row for it: its
// autotuner, inside ncu, chose other rungs.) At 4096^3 A.B (one slice) 38.8 TFLOP/s, 79.5% of
// cuBLAS FP32.
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
gemm_split_k_warptiled(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                       const float* __restrict__ bias, float* __restrict__ partials, int M, int N, int K,
                       int k_per_split, float alpha, float beta, int flags)
{
    extern __shared__ float4 smem_vec4[];
    WarpTiledTile<TRANS_A, TRANS_B, BM, BN, BK, WM, WN, STAGES> tile{reinterpret_cast<float*>(smem_vec4)};
    split_k_slice(tile, a, b, c, bias, partials, M, N, K, k_per_split, alpha, beta, flags);
}

// The sum of slices first, first + step, first + 2 * step, ... (below `splits`) of one float4 of the
// workspace, `p` pointing at it in slice 0, slices `slice_quads` float4s apart, added in that order.
// The loads are independent of one another: unrolled, several are in flight at once. They bypass L1
// (__ldcg): other SMs wrote these partials, and only L2 is coherent between SMs.
__device__ __forceinline__ float4 add_slices(const float4* p, long long slice_quads, int first, int step, int splits)
{
    float4 sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 4
    for (int s = first; s < splits; s += step) {
        const float4 v = __ldcg(p + s * slice_quads);
        sum.x += v.x; sum.y += v.y; sum.z += v.z; sum.w += v.w;
    }
    return sum;
}

// ---- gemm_split_k_reduce ------------------------------------------------------------------------
// C = epilogue(sum over s of partials[s]), for the `splits` partial tiles of gemm_split_k.
// A block of QUADS x GROUPS threads owns QUADS float4s ("quads": 4 adjacent columns of a row) of the
// M x N4 result. Thread (x, y) sums slices y, y + GROUPS, y + 2 * GROUPS, ... of quad x: the GROUPS
// threads of a quad have their loads in flight together, where one thread alone would wait for
// `splits` loads in turn. Consecutive x read consecutive float4s: a warp reads 512 contiguous bytes
// per slice. The GROUPS partial sums then meet in shared memory and thread (x, 0) adds them in
// order of y: the summation order is fixed by the launch geometry, never by timing.
// The epilogue stores a quad as one float4 (store_output_quad: read C likewise when beta != 0) when
// N is a multiple of 4 and C is 16-byte aligned, else element by element, skipping the columns past N.
// Bottleneck (expected): L2 latency and bandwidth, reading splits x M x N4 floats.
// Measured: not on its own; the split-K rungs' figures above include it.
template <int QUADS, int GROUPS>
__global__ void __launch_bounds__(QUADS * GROUPS)
gemm_split_k_reduce(const float* __restrict__ partials, float* __restrict__ c, const float* __restrict__ bias,
                    int M, int N, int splits, float alpha, float beta, int flags)
{
    __shared__ float4 sums[GROUPS][QUADS];
    const int quads_per_row = (N + 3) / 4;
    const long long quads = (long long)M * quads_per_row;  // per slice
    const long long q = (long long)blockIdx.x * QUADS + threadIdx.x;
    float4 sum = q < quads ? add_slices(reinterpret_cast<const float4*>(partials) + q, quads, threadIdx.y, GROUPS,
                                        splits)
                           : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    sums[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y != 0 || q >= quads) return;
    for (int g = 1; g < GROUPS; ++g) {
        const float4 v = sums[g][threadIdx.x];
        sum.x += v.x; sum.y += v.y; sum.z += v.z; sum.w += v.w;
    }

    const int m = (int)(q / quads_per_row), n = (int)(q % quads_per_row) * 4;
    const float quad[4] = {sum.x, sum.y, sum.z, sum.w};
    store_output_quad(c, bias, m, n, M, N, quad, alpha, beta, flags, output_quads_fit(c, N));
}

// Whether this block is the last of its tile's gridDim.z slices to finish, counted on the tile's
// entry of tile_counters (the wrapper zeroes them once; last_block.cuh's handshake).
__device__ __forceinline__ bool last_slice_to_finish(unsigned* __restrict__ tile_counters)
{
    return last_block_to_finish(tile_counters + blockIdx.y * gridDim.x + blockIdx.x, gridDim.z);
}

// ---- 10c. gemm_split_k_last_slice_reduces -------------------------------------------------------
// Idea: 10b without its second launch. Each block still writes its partial tile to the workspace;
// then it counts itself in on its tile's counter (last_slice_to_finish), and the block that finds it
// was the tile's last slice sums the tile's `splits` partials, in slice order, through the epilogue
// into C. Which block that is depends on timing, but not the result: the sum always runs slice 0
// first, so it is the same bit for bit on every run. The other blocks leave at once. No reduce
// launch (a second kernel node in a CUDA graph, and a pass over all the partials by blocks that must
// wait for every slice of every tile) and no atomics on the outputs, only one integer per tile.
// Tiling: 10b's (cnn_gpu/ops/gemm_variants.py); its slices fewer, for half of 10b's blocks and at
// most 8 of them (its policy in cnn_gpu/ops/gemm_plans.py): one block sums a whole tile, on one
// SM, so its share of the reading grows with the slices (8 x 16 KB a tile), where 10b's reduce
// kernel spreads the reading over the GPU. For many tiles and few slices. gemm_split_k_last_slice_reduces_bk8
// runs it at cuBLAS FP32's tiling for Dense's weight gradient at batch 512 (64 x 64 of four 64 x 16 warps,
// K-tiles of 8, 3 stages; gemm_variants.py, SPLIT_K_BK8_TILES says why): 18.3 us there against 10c's
// 17.3 (H200, gemm.json at 4f96517). gemm_split_k_last_slice_reduces_8_warps runs it in eight warps of
// 32 x 16 (SPLIT_K_EIGHT_WARP_TILES says why; unmeasured).
// Bottleneck (expected): the latency of the last slice's sum, after it has done its own slice: a
// thread reads `splits` float4s for each of its BM * BN / 4 / threads quads, from L2, which is
// where the other slices' partials are.
// Edges: 10b's; the sum skips the quads past M and N, and store_output_quad the columns past N.
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): slower than 10b on the
// products split-K is for. Dense 5408 -> 64 forward, kernel times by graph at batch 32, 128, 512:
// 30.7, 34.1, 35.1 us, against 10b's 7.7, 10.6, 18.9 and cuBLAS FP32's 10.3, 11.5, 22.4. There
// M x N is 1 to 8 tiles, and at most 8 slices leave 8 to 64 blocks, each walking 688 of K (43
// K-tiles; split_k_plan on 132 SMs), where 10b runs 57 to 68 slices of 80-96. The same tile walking
// all 338 K-tiles alone (gemm_warptiled_medium_tiles) takes 201.3 us at batch 128, about 26 us per
// 43: the long slices, not the last slice's sum (the expected cost), take most of 10c's 34.1. The
// counters agree (gemm_counters.json, b323e23, batch 128: SMs 5% busy, memory 4%, 6% occupancy).
// Where it was meant to win, many tiles and few slices, timed launch by launch: 512^3 A.B 31.9 us
// against 10b's 46.2 and cuBLAS FP32's 50.5; 256^3 34.4 against 51.6 and 45.4. At 4096^3 A.B (one
// slice) 37.9 TFLOP/s, 77.6% of cuBLAS FP32. The autotuner, which times kernels by graph, took it
// for no Dense product. On Dense 5408 -> 64's weight gradient at batch 512, where it had 10b's 6
// slices, it took 24.6 us against 10b's 18.7: there the last slice's sum did cost, its loads going
// out 4 at a time for each quad in turn. Since, that sum has a whole slice's loads in flight at once
// (below), and the product 3 slices: 16.8 us against 10b's 18.7 and cuBLAS FP32's 16.2, the
// autotuner's choice there (H200, gemm.json at ba54884, by graph), the one Dense product still lost.
// 10c's slice in whichever block tile runs it (WarpTiledTile here, MmaTile in 10e below), then, in the
// tile's last slice to finish, the sum of its slices.
template <class Tile>
__device__ __forceinline__ void split_k_slice_last_reduces(Tile& tile, const float* __restrict__ a,
                                                           const float* __restrict__ b, float* __restrict__ c,
                                                           const float* __restrict__ bias, float* __restrict__ partials,
                                                           unsigned* __restrict__ tile_counters, int M, int N, int K,
                                                           int k_per_split, float alpha, float beta, int flags)
{
    split_k_slice(tile, a, b, c, bias, partials, M, N, K, k_per_split, alpha, beta, flags);
    if (gridDim.z == 1 || !last_slice_to_finish(tile_counters)) return;

    // The sum runs slice by slice over all of a thread's quads at once: each slice's QUADS loads are
    // independent, so they go out together, one round trip to L2 a slice. Quad by quad (add_slices,
    // four slices in flight), the 6 slices of a 64 x 64 tile took 2 round trips for each of a thread's
    // 8 quads, 16 in turn. Each quad still adds slice 0 first, then 1, ...: the same bits.
    // A thread's quads share their columns and lie ROWS_APART rows apart, so one pointer and the row
    // count say where each is (eight pointers, with the loads in flight, spilled under the 128
    // registers that __launch_bounds__ allows).
    constexpr int BM = Tile::BLOCK_M, BN = Tile::BLOCK_N, THREADS = Tile::NTHREADS, QUADS_PER_ROW = BN / 4;
    constexpr int QUADS = BM * QUADS_PER_ROW / THREADS, ROWS_APART = THREADS / QUADS_PER_ROW;
    static_assert(THREADS % QUADS_PER_ROW == 0 && BM % ROWS_APART == 0,
                  "a thread's quads in one column, evenly apart");
    const int m = blockIdx.y * BM + threadIdx.x / QUADS_PER_ROW;
    const int n = blockIdx.x * BN + threadIdx.x % QUADS_PER_ROW * 4;
    if (m >= M || n >= N) return;
    const int N4 = (N + 3) / 4 * 4;
    const long long slice_floats = (long long)M * N4, quad_rows_apart = (long long)ROWS_APART * N4;
    // A quad past M reads the thread's last quad inside M again and is not stored: no branch between
    // the loads.
    const int last_row = min(QUADS - 1, (M - 1 - m) / ROWS_APART);
    const float* mine = partials + (long long)m * N4 + n;  // this thread's first quad in slice 0
    float4 sum[QUADS];
#pragma unroll
    for (int i = 0; i < QUADS; ++i) sum[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll 1
    for (int slice = 0; slice < (int)gridDim.z; ++slice) {
        const float* quad0 = mine + slice * slice_floats;
#pragma unroll
        for (int i = 0; i < QUADS; ++i) {
            // L2 (__ldcg): other SMs wrote these partials (add_slices says why).
            const float4 v = __ldcg(reinterpret_cast<const float4*>(quad0 + min(i, last_row) * quad_rows_apart));
            sum[i].x += v.x; sum[i].y += v.y; sum[i].z += v.z; sum[i].w += v.w;
        }
    }
    const bool quads_fit = output_quads_fit(c, N);
#pragma unroll
    for (int i = 0; i < QUADS; ++i) {
        if (i > last_row) break;
        const float quad[4] = {sum[i].x, sum[i].y, sum[i].z, sum[i].w};
        store_output_quad(c, bias, m + i * ROWS_APART, n, M, N, quad, alpha, beta, flags, quads_fit);
    }
}

template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
gemm_split_k_last_slice_reduces(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                                const float* __restrict__ bias, float* __restrict__ partials,
                                unsigned* __restrict__ tile_counters, int M, int N, int K, int k_per_split,
                                float alpha, float beta, int flags)
{
    extern __shared__ float4 smem_vec4[];
    WarpTiledTile<TRANS_A, TRANS_B, BM, BN, BK, WM, WN, STAGES> tile{reinterpret_cast<float*>(smem_vec4)};
    split_k_slice_last_reduces(tile, a, b, c, bias, partials, tile_counters, M, N, K, k_per_split, alpha, beta, flags);
}

// ---- 10e. gemm_split_k_3xtf32 -------------------------------------------------------------------
// Idea: 10c's slices and sum, each slice on rung 8's 3xTF32 tensor-core tile (MmaTile) in place of
// rung 7's FP32 one, with FP32's accuracy (rung 8's comment). It is for Dense 5408 -> 64's weight
// gradient at batch 512 (x^T.dy, 5408 x 64 x 512), the one Dense product still lost to cuBLAS FP32
// (16.2 us by graph against 10c's 16.8, H200, gemm.json at ba54884). There 10c's 3 slices make 255
// blocks of 4 warps, about two an SM, and the SMs issued 40% of the time (gemm_counters.json at
// 4f96517): two warps a scheduler, often all waiting, each issuing 762 SASS instructions a K-tile of 16
// for its 32 x 32 outputs (sm_90, nvcc 13.0). On the tensor cores the products leave the FMA pipe to
// the operands' splits, and the instructions fall with the warp tile's size, so the two tilings
// (cnn_gpu/ops/gemm_variants.py) trade instructions for warps:
//   gemm_split_k_3xtf32, 10c's four warps of 32 x 32 (SPLIT_K_TENSOR_CORE_TILES): 418-432 instructions
//   a K-tile (48 mma), 43-45% under 10c's, with 10c's two warps a scheduler;
//   gemm_split_k_3xtf32_8_warps, eight warps of 32 x 16 (SPLIT_K_EIGHT_WARP_TILES): 290-303 a K-tile
//   (24 mma) for half the outputs, a fifth under 10c's instructions an output, with four warps a
//   scheduler (the same eight FP32 warps, 10c's _8_warps, take 438).
//   (547-561 and 387-400 while to_tf32's split took 7 instructions an element, gemm_common.cuh.)
// Bottleneck (expected): latency still: a 3xTF32 chain is three dependent mma, each waiting for the
// last, eight chains a k8-step in a 32 x 32 warp, four in a 32 x 16 one; then 10c's sum.
// Edges: MmaTile's (cp.async zero-fill, guarded stores) and 10c's.
// Measured: not yet run on a GPU (benchmarks/unproven.py, NEW).
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
gemm_split_k_3xtf32(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                    const float* __restrict__ bias, float* __restrict__ partials, unsigned* __restrict__ tile_counters,
                    int M, int N, int K, int k_per_split, float alpha, float beta, int flags)
{
    extern __shared__ float4 smem_vec4[];
    MmaTile<TRANS_A, TRANS_B, true, BM, BN, BK, WM, WN, STAGES> tile{reinterpret_cast<float*>(smem_vec4)};
    split_k_slice_last_reduces(tile, a, b, c, bias, partials, tile_counters, M, N, K, k_per_split, alpha, beta, flags);
}

// ---- 11. gemm_warp_per_output -------------------------------------------------------------------
// Idea: rung 1 gives each output a thread, which walks K alone. With few outputs that is a few
// hundred threads on a GPU that holds a quarter million, each waiting out K loads in turn: Dense
// 64 -> 10's weight gradient x^T.dy is 64 x 10 outputs over K = batch, and at batch 512 the naive
// rung took 17.5 us and split-K's two kernels 9.7 (kernel times by graph replay, NVIDIA H200,
// benchmarks/results/gemm.json at ac366b0). Here each output gets a warp: lane l adds up the
// products at k = l, l + 32, l + 64, ..., so each lane has K / 32 loads of each operand to wait
// for, not K, and those do not depend on one another; then the warp adds its 32 partial sums by
// shuffles, in a fixed tree (the same result on every run), and lane 0 stores through the epilogue.
// No workspace and one launch, where split-K needs a second kernel to add its slices.
//   A block is 8 warps, 8 consecutive outputs of a row of C: block (x, y) takes row x, columns
// 8y .. 8y + 7, so the grid is M x ceil(N / 8) (wrapper: GemmVariant's tile (1, 8), m on x).
//   Reads go along k: a warp's loads of a k-contiguous operand (A plain, B transposed) coalesce,
// those of an mn-contiguous one are 32 floats each a row (MN floats) apart, 32 sectors for 128
// useful bytes. x^T.dy has both operands mn-contiguous, so every load there is of that kind: only
// small operands, which stay in L1 and L2 (64 x 512 floats of x, 10 x 512 of dy at batch 512), can
// afford it, and the rung is for small products only: the autotuner offers it up to
// SMALL_PRODUCT_MACS multiply-adds (cnn_gpu/ops/gemm.py).
// Bottleneck (expected): latency: about K / 32 loads per lane in flight, then five shuffle steps.
// Edges: lanes past K add nothing; the warps of a block's last columns past N leave at once, whole
// (their shuffles would need all 32 lanes).
// Measured (NVIDIA H200, benchmarks/results/gemm.json, commit ac366b0): Dense 64 -> 10, kernel
// times by graph at batch 32, 128, 512 against cuBLAS FP32's: forward 1.7, 1.8, 2.2 us against 5.1,
// 6.4, 5.7; weight gradient x^T.dy 1.8, 2.2, 4.2 against 2.7, 4.4, 11.1; backward data (K = 10: most
// lanes add nothing) 1.5, 2.3, 5.0 against 4.7, 4.9, 5.3, where rung 7's 32 x 32 tiles take 1.8,
// 1.8, 1.9. Latency-bound, as expected: on the H100 at 2c9911a (its gemm_counters.json), at x^T.dy,
// batch 512, the top stall was long_scoreboard 22.9 per issue, the SMs 3% busy; the H200's counters
// (b323e23) profiled it only where their autotuner, inside ncu, took it far out of its range (Dense
// 5408 -> 64 forward at batch 32: 49.5 us, long_scoreboard 56.8 per issue). At 2048^3 A.B, far
// outside its range, 0.5 TFLOP/s, as rung 1.
template <bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(256)
gemm_warp_per_output(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                     const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    const int lane = threadIdx.x % 32;
    const int m = blockIdx.x, n = blockIdx.y * 8 + threadIdx.x / 32;
    if (n >= N) return;
    float sum = 0.0f;
#pragma unroll 4
    for (int k = lane; k < K; k += 32)
        sum += operand_at<!TRANS_A>(a, m, k, M, K) * operand_at<TRANS_B>(b, n, k, N, K);
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) store_output(c, bias, m, n, M, N, sum, alpha, beta, flags);
}
