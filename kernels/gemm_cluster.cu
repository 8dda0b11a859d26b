// GEMM for small products on Hopper: split-K whose slices sum in a thread-block cluster (sm_90).
//
//   C (M x N) = act(alpha * op(A) op(B) + beta * C + bias)      (conventions: gemm_common.cuh)
//
//   10d gemm_split_k_cluster_reduces  10c's slices of a tile as one cluster, summed in shared memory
//
// Split-K (gemm_small.cu, rung 10) gives each slice of K a block of its own, and the slices of one
// output tile then have to meet somewhere: 10b writes them to a workspace in global memory and sums
// them in a second kernel, 10c in the same kernel, by the block that counts itself in last on the
// tile's counter. Either way each partial tile makes a round trip through L2, and 10c's handshake
// costs each block a GPU-wide fence and an atomic besides. On Hopper the blocks of a thread-block
// cluster run at once, on SMs of one GPC, and each can read the others' shared memory (distributed
// shared memory, ptx.cuh's cluster_load_float4). So here the slices of a tile are one cluster; each
// keeps its partial tile in its own shared memory, and after a cluster barrier the three blocks sum
// the tile between them, each a third of it, reading the other two slices' partials from their
// SMs. Built for sm_90 only (cnn_gpu/cuda/sources.py); the emulator runs a cluster's blocks together.

#include "gemm_common.cuh"

// ---- 10d. gemm_split_k_cluster_reduces -----------------------------------------------------------
// Idea: 10c without the workspace and the counters. Grid z is the slice, and
// __cluster_dims__(1, 1, 3) makes the three slices of each tile one cluster. Each block runs rung 7's
// pipelined block tile (WarpTiledTile) over its slice, a third of K's K-tiles (the last slice may be
// shorter, or empty where K has fewer than three K-tiles: it adds zeros). Then, its stages free, it
// stores its accumulators into its own shared memory in the threads' own order (thread t's q-th
// float4 at q * THREADS + t: consecutive threads, consecutive 16 bytes, no bank conflicts), and the
// cluster synchronises. Thread t of each block owns the same outputs in all three, so the block of
// rank r takes those of its float4s whose index q is r mod 3 and sums slice 0's, slice 1's and slice
// 2's partials, in that order (the same bits on every run): its own from its registers, the other
// two from their blocks' shared memory, all its loads in flight at once. It arrives at the cluster
// barrier once it has them (the arrival waits for those loads, and for nothing else), stores the
// sums through the epilogue, and waits for the others' arrivals before it leaves, so that no block's
// shared memory is gone while another still reads it.
//   Why three: the cluster's size is fixed when the kernel is compiled, and three is 10c's choice for
// the product it is for, the last Dense product still lost to cuBLAS: Dense 5408 -> 64's weight
// gradient at batch 512, x^T.dy, 5408 x 64 x 512, 85 tiles of 64 x 64. Three slices of 11 K-tiles
// make 255 blocks, about two an SM, all resident at once; cuBLAS FP32 cuts that product into 3 slices
// too (gemm_counters.json, H200, 4f96517), then sums them in a second kernel.
// Bottleneck (expected): as 10c's slices, two blocks of four warps an SM: each scheduler has two
// warps, issuing about half the time (10c's sm__issue_active 40%, cuBLAS's 57%; gemm_counters.json at
// 4f96517). What goes is 10c's tail: a fence that waits for 16 KB of partials to reach L2, an atomic,
// and three round trips to L2 for the last slice's sum (membar stalls were 6% of 10c's warp time
// there). In their place two cluster barriers, whose fences (ptx.cuh, cluster_arrive) wait for
// shared-memory stores and loads only, and one round trip to the neighbouring SMs' shared memory.
// gemm_split_k_cluster_reduces_8_warps runs the same block tile in eight warps of 32 x 16
// (cnn_gpu/ops/gemm_variants.py, SPLIT_K_EIGHT_WARP_TILES says why).
// Edges: the tile's (zero-filled loads, guarded stores in store_output_quad); the slices cut K at
// whole K-tiles, only the last one ending inside a K-tile, at K.
// Measured: not yet run on a GPU (benchmarks/unproven.py, NEW).
template <bool TRANS_A, bool TRANS_B, int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS>
__global__ void __cluster_dims__(1, 1, 3) __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
gemm_split_k_cluster_reduces(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                             const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    constexpr int SLICES = 3;  // __cluster_dims__'s z: the cluster is the tile's slices
    using Tile = WarpTiledTile<TRANS_A, TRANS_B, BM, BN, BK, WM, WN, STAGES>;
    constexpr int THREADS = Tile::NTHREADS, QUADS = Tile::TM * Tile::TN / 4;  // a thread's float4s of the tile
    static_assert(BM * BN <= STAGES * (Tile::Tiles::A_FLOATS + Tile::Tiles::B_FLOATS),
                  "the partial tile fits in the pipeline's shared memory, which it takes over");
    extern __shared__ float4 smem_vec4[];
    Tile tile{reinterpret_cast<float*>(smem_vec4)};

    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const unsigned rank = blockIdx.z;  // the slice, and the block's rank in its cluster
    const int k_per_slice = ((K + BK - 1) / BK + SLICES - 1) / SLICES * BK;
    const int k_begin = min(K, int(rank) * k_per_slice);
    tile.accumulate(a, b, m0, n0, M, N, K, k_begin, min(K, k_begin + k_per_slice));

    // Thread t's q-th float4 of the tile: its accumulators' row q / QUADS_PER_ROW from column
    // q % QUADS_PER_ROW * 4; in shared memory, mine[q * THREADS].
    constexpr int QUADS_PER_ROW = Tile::TN / 4;
    auto quad = [&](int q) { return &tile.acc[q / QUADS_PER_ROW][q % QUADS_PER_ROW * 4]; };
    auto as_float4 = [](const float* v) { return make_float4(v[0], v[1], v[2], v[3]); };
    float4* const mine = smem_vec4 + threadIdx.x;

    __syncthreads();  // every warp is done with the stages
#pragma unroll
    for (int q = 0; q < QUADS; ++q) mine[q * THREADS] = as_float4(quad(q));
    cluster_sync();  // the three partial tiles are written, and visible to the cluster

    // The sums, each into the thread's own accumulators, in slice order.
#pragma unroll
    for (int q = 0; q < QUADS; ++q) {
        if (q % SLICES != int(rank)) continue;
        float* sum = quad(q);
        float4 parts[SLICES];
#pragma unroll
        for (int s = 0; s < SLICES; ++s)
            parts[s] = s == int(rank) ? as_float4(sum) : cluster_load_float4(&mine[q * THREADS], s);
        sum[0] = parts[0].x; sum[1] = parts[0].y; sum[2] = parts[0].z; sum[3] = parts[0].w;
#pragma unroll
        for (int s = 1; s < SLICES; ++s) {
            sum[0] += parts[s].x; sum[1] += parts[s].y; sum[2] += parts[s].z; sum[3] += parts[s].w;
        }
    }
    // Done with the other blocks' shared memory: the arrival waits for those loads, and nothing else is
    // in flight yet (the stores to C come after it, and do not hold it up).
    cluster_arrive();
    const bool quads_fit = output_quads_fit(c, N);
#pragma unroll
    for (int q = 0; q < QUADS; ++q)
        if (q % SLICES == int(rank))
            store_output_quad(c, bias, m0 + tile.row(q / QUADS_PER_ROW), n0 + tile.col(q % QUADS_PER_ROW * 4), M, N,
                              quad(q), alpha, beta, flags, quads_fit);
    cluster_wait();  // no block leaves while another may still read its shared memory
}
