// GEMM on the tensor cores: TF32 inputs, FP32 accumulation, through mma.sync (kernels/ptx.cuh).
//
//   C (M x N) = act(alpha * op(A) op(B) + beta * C + bias)      (conventions: gemm_common.cuh)
//
// ---- 8. gemm_tf32_mma ---------------------------------------------------------------------------
// Idea: let the tensor cores do the multiply-adds. One mma.sync.m16n8k8 makes a warp compute a
// 16 x 8 x 8 product (1024 FMAs) in one instruction; its operands are TF32 (FP32 with a 10-bit
// mantissa), rounded from the FP32 tiles with cvt.rna as fragments are built.
//   Block tile BM x BN = 128 x 128, K-tile BK, 4 warps (128 threads) in 2 x 2, each warp 64 x 64:
//   4 (m) x 8 (n) mma tiles, 128 FP32 accumulators per lane.
//   Tiles arrive by cp.async, STAGES deep (pipelined_mainloop); each keeps its operand's layout, with
//   row strides chosen so that a fragment load (lanes g = lane / 4, t = lane % 4 reading element
//   (g, t) of a tile) touches 32 distinct banks:  s[mn][k] with stride BK + 4 (4 mod 32: 4g + t),
//   s[k][mn] with stride 128 + 8 (8 mod 32: 8t + g).
// SPLIT = true is 3xTF32: each operand x becomes big = tf32(x) plus small = tf32(x - big), and
// big*big + big*small + small*big (three mma, small*small dropped) restores FP32 accuracy
// (relative error ~2^-22 per product instead of 2^-11) at three times the tensor-core work.
// Bottleneck (expected): shared-memory bandwidth: per k8-step a warp loads 16 + 16 words per lane
// (LDS.32; no ldmatrix) for 32 mma, and mma.sync on Hopper runs well below the wgmma rate that
// cuBLAS uses. ptxas (sm_90): 188-198 registers (3xTF32: 229-236), no spills; 102-108 KB of
// dynamic shared memory for BK = 32, 3 stages: two 128-thread blocks per SM.
// Edges: cp.async src-size zero-fill, 16-byte copies when float4_loads_fit, else 4-byte ones;
// guarded stores.
// Measured: not yet measured on a GPU.

#include "gemm_common.cuh"

// Element (mn, k) of a shared tile in its operand's layout.
template <bool K_CONTIGUOUS, int STRIDE>
__device__ __forceinline__ float tile_at(const float* __restrict__ s, int mn, int k)
{
    return K_CONTIGUOUS ? s[mn * STRIDE + k] : s[k * STRIDE + mn];
}

// One operand value as the (big, small) TF32 pair of 3xTF32; small is unused when !SPLIT.
template <bool SPLIT>
__device__ __forceinline__ void to_tf32(float x, unsigned& big, unsigned& small)
{
    big = f32_to_tf32(x);
    if constexpr (SPLIT) small = f32_to_tf32(x - tf32_bits_as_float(big));
}

template <bool TRANS_A, bool TRANS_B, bool SPLIT, int BK, int STAGES>
__global__ void __launch_bounds__(128)
gemm_tf32_mma(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
              const float* __restrict__ bias, int M, int N, int K, float alpha, float beta, int flags)
{
    constexpr int BM = 128, BN = 128, NTHREADS = 128, WM = 64, WN = 64, MI = WM / 16, NI = WN / 8;
    constexpr bool A_K = !TRANS_A, B_K = TRANS_B;
    constexpr int A_STRIDE = A_K ? BK + 4 : BM + 8, B_STRIDE = B_K ? BK + 4 : BN + 8;
    constexpr int A_FLOATS = A_K ? BM * A_STRIDE : BK * A_STRIDE;
    constexpr int B_FLOATS = B_K ? BN * B_STRIDE : BK * B_STRIDE;
    // STAGES x (A tile, B tile), in dynamic shared memory: over 48 KB for BK = 32, STAGES = 3.
    extern __shared__ float4 smem_vec4[];
    float* smem = reinterpret_cast<float*>(smem_vec4);

    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int g = lane / 4, t = lane % 4;
    const int warp_m = (warp / 2) * WM, warp_n = (warp % 2) * WN;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const bool wide = float4_loads_fit<TRANS_A, TRANS_B>(a, b, M, N, K);
    float acc[MI][NI][4] = {};

    auto a_tile = [&](int stage) { return smem + stage * (A_FLOATS + B_FLOATS); };
    auto b_tile = [&](int stage) { return smem + stage * (A_FLOATS + B_FLOATS) + A_FLOATS; };
    auto load = [&](int stage, int k_tile) {
        load_tile_async<A_K, BM, BK, A_STRIDE, NTHREADS>(a_tile(stage), a, m0, k_tile * BK, M, K, tid, wide);
        load_tile_async<B_K, BN, BK, B_STRIDE, NTHREADS>(b_tile(stage), b, n0, k_tile * BK, N, K, tid, wide);
    };
    auto compute = [&](int stage) {
        const float* as = a_tile(stage);
        const float* bs = b_tile(stage);
#pragma unroll
        for (int k = 0; k < BK; k += 8) {
            // B fragments of the warp's 8 n-tiles: b[0] = B(k + t, n + g), b[1] = B(k + t + 4, n + g).
            unsigned b_big[NI][2], b_small[NI][2];
#pragma unroll
            for (int ni = 0; ni < NI; ++ni)
#pragma unroll
                for (int r = 0; r < 2; ++r)
                    to_tf32<SPLIT>(tile_at<B_K, B_STRIDE>(bs, warp_n + ni * 8 + g, k + t + 4 * r),
                                   b_big[ni][r], b_small[ni][r]);
#pragma unroll
            for (int mi = 0; mi < MI; ++mi) {
                // A fragment of m-tile mi: a[r] = A(m + g + 8 * (r % 2), k + t + 4 * (r / 2)).
                unsigned a_big[4], a_small[4];
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    to_tf32<SPLIT>(tile_at<A_K, A_STRIDE>(as, warp_m + mi * 16 + g + 8 * (r % 2), k + t + 4 * (r / 2)),
                                   a_big[r], a_small[r]);
#pragma unroll
                for (int ni = 0; ni < NI; ++ni) {
                    if constexpr (SPLIT) {
                        // The small cross terms first, so they are not lost below big*big's ulp.
                        mma_tf32_m16n8k8(acc[mi][ni], a_small, b_big[ni]);
                        mma_tf32_m16n8k8(acc[mi][ni], a_big, b_small[ni]);
                    }
                    mma_tf32_m16n8k8(acc[mi][ni], a_big, b_big[ni]);
                }
            }
        }
    };
    pipelined_mainloop<STAGES>((K + BK - 1) / BK, load, compute);

    // acc[mi][ni][r] is C(m + g + 8 * (r / 2), n + 2t + r % 2) of tile (mi, ni).
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni)
#pragma unroll
            for (int r = 0; r < 4; ++r)
                store_output(c, bias, m0 + warp_m + mi * 16 + g + 8 * (r / 2), n0 + warp_n + ni * 8 + 2 * t + r % 2,
                             M, N, acc[mi][ni][r], alpha, beta, flags);
}
