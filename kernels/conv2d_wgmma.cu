// Convolution rung 8: the implicit GEMM of conv2d.cu on Hopper's warpgroup tensor cores (wgmma, sm_90a).
//
// A file of its own because wgmma exists only in the sm_90a target, whose code runs on compute
// capability 9.0 alone (cnn_gpu/cuda/sources.py, ARCH_SPECIFIC); every other rung is in conv2d.cu,
// built for any GPU, which this file includes for its gathers (rung 3's loaders, rung 6's quads).
//
// ---- 8. conv2d_*_implicit_gemm_wgmma ----------------------------------------------------------------
// Idea: rungs 4 to 7 run GEMM rung 8's mma.sync, whose every warp loads its operand fragments from
// shared memory into registers and issues 16 x 8 x 8 products; GEMM went past it with rung 9's wgmma
// (gemm_wgmma.cu: 176.7 TFLOP/s in TF32 and 58.3 in 3xTF32 at 4096^3 A.B against rung 8's 143.6 and
// 41.7, H200, gemm.json, ac366b0), where a warpgroup of 4 warps computes 64 x 128 x 8 in one
// asynchronous instruction that reads both operands from shared memory. This rung is rung 9's
// pipeline (wgmma_common.cuh: wgmma_mainloop, 3xTF32's split and chains included) fed by rung 6's
// gathers: a block of two warpgroups computes 128 x 128 outputs, K-tiles of 32 floats, one
// 128-byte row of the swizzle a tile row, 4 stages.
//   Loads: the tile a pass gathers from the image (the forward's X_cols, the data gradient's dY_taps,
// both k-contiguous along channels or filters) goes 16 bytes at a time, four channels of a tap
// (rung 6's quads), each copy to its swizzled place (SwizzledTiles::a_index): rung 3's loaders with
// this tile's layout. The data gradient's W' is K-major (a tap's filters are contiguous): rung 6's
// gather, 16 bytes a copy, for both its tiles. The forward's W is (R S C) x K, its filters contiguous,
// and wgmma wants B K-major. Transposed on the way into the tile, a float a copy (as GEMM rung 9 copies
// an MN-major B), W would be transposed again by every block of the grid's rows, all of which read all
// of it, with four times the copies of a K-major tile. So the wrapper transposes W once a call, into
// W^T (K x R S C: transpose.cu, reading and writing W once, small beside the images), and the
// forward copies W^T's tiles 16 bytes at a time (copy_swizzled_tile_async, K-contiguous).
//   The filter gradient has no wgmma form here: both its operands run along (n, p, q), the slowest
// axis of NHWC, so both would be transposed a float at a time; the variants run rung 7 for it
// (cnn_gpu/ops/conv2d.py, PASS_FALLBACK).
// Operands: wgmma reads TF32 by cutting each float's low 13 bits (gemm_wgmma.cu, rung 9), so the plain
// TF32 variant's error is about three times rung 5's, still TF32's (in emulation 7.7e-4, where rung 5's
// TF32 ran 2.4e-4 to 2.6e-4 on the H200, conv2d.json at ac366b0); 3xTF32 splits each landed tile as
// rung 9 does and keeps FP32's accuracy (1.4e-7 to 1.8e-7 in emulation).
// Expected bottleneck: the copies' issue, as at rung 6, now without mma.sync's fragment loads. A K-tile
// is 2,048 copies of 16 bytes for 524,288 FMAs, 256 FMAs a copy (8 copies a thread), as rung 7 and
// twice rung 6's 128 (with W transposed in the loop, the forward's would be 5,120 copies, 102 FMAs a
// copy: GEMM rung 9 pays that for its MN-major B, A.B ran 176.7 TFLOP/s against A.B^T's 239.1, K-major
// both). Expected on cifar_conv2's and deepbench_vgg_28's forwards and data gradients: 3xTF32 near GEMM
// rung 9's 3xTF32 (58.3 TFLOP/s), past cuDNN FP32 (the data gradients' 24.5 and 44.2 TFLOP/s, conv2d.json
// at ac366b0), plain TF32 at 100-180 TFLOP/s (rung 5's data gradients 19.8 and 18.5, cuDNN TF32's 170
// and 298); the forward's transpose of W a few microseconds besides.
// Edges: the gathers' (rung 3's: zeros past the image and the matrix, by the copies' source size);
// the epilogue's guarded stores (store_warpgroup_tile).
// Registers (ptxas 13.0, sm_90a): 3xTF32 234 (forward) and 188 (data gradient), plain TF32 181 and
// 133, no spills; one block of 256 threads an SM (132-165 KB of shared memory).
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// (the filter gradient is rung 7's). 3xTF32 (cuDNN FP32's time over ours): seed 6.9 (1.19) / 55.3 (0.30);
// cifar 357.5 (0.78) / 434.9 (0.89); 1x1 50.5 (2.04) / 77.2 (1.50); vgg 532.0 (1.75) / 845.0 (0.79).
// Plain TF32 (cuDNN TF32's): seed 6.4 (0.94) / 30.7 (0.46); cifar 149.0 (0.35) / 224.6 (0.25); 1x1 35.1
// (0.67) / 43.9 (0.53); vgg 192.2 (0.40) / 424.2 (0.23). The prediction held on vgg's forward alone:
// 3xTF32 at 55.6 TFLOP/s (113% of cuBLAS FP32, 1.75x cuDNN FP32's speed) and plain TF32 at 154.0 (38%
// of cuBLAS TF32), 1.6x and 2.2x rung 7's speed. Cifar's passes and vgg's data gradient run 22.2 to
// 35.0 TFLOP/s in 3xTF32, under cuDNN FP32, and 43.0 to 69.8 in plain TF32, 0.23 to 0.35 of cuDNN TF32
// (rung 5 was at 0.06 to 0.15 there); on cifar 3xTF32 takes 1.29x and 1.24x rung 7's time. The 1x1
// layer's forward (depth R S C = 64) runs 2.04x cuDNN FP32's speed in 3xTF32. The errors
// as expected: plain TF32 6.7e-4 to 6.9e-4, 2.6x rung 5's; 3xTF32 1.2e-7 to 2.4e-7 (the seed forward,
// C = 1, is rung 5's). What bounds cifar's passes (depth 576, where vgg's are 2304 and 4608) no counter
// has shown yet. Since ba54884 the pipeline's prologue is its loop's first turns (wgmma_mainloop), which
// cut the SASS to 4464 / 2352 instructions in 3xTF32 (5792 / 4360) and 4024 / 1944 in plain TF32 (4688 /
// 3248), forward / data gradient: on an H200 (conv2d.json at ba54884, against 4f96517's in git at
// 7dc9295) 3xTF32 within 4% on every layer, plain TF32 2-8% slower on vgg and cifar, where that run's
// TF32 ran slower generally (cuBLAS TF32 7% at 4096^3, gemm.json): no gain to tell from the spread.

#include "conv2d.cu"
#include "wgmma_common.cuh"

// The stage layout rung 3's loaders fill here: the A tile's BM rows, then the B tile's BN, each row
// 32 floats of k in the 128-byte swizzle (ptx.cuh: swizzle_128b_offset), as wgmma_mainloop reads them.
template <int BM, int BN>
struct SwizzledTiles {
    static constexpr int BLOCK_M = BM, BLOCK_N = BN, BLOCK_K = 32, NTHREADS = (BM / 64) * 128;
    __device__ static __forceinline__ int a_index(int m, int k) { return swizzle_128b_offset(m, k) / 4; }
    __device__ static __forceinline__ int b_index(int n, int k) { return swizzle_128b_offset(n, k) / 4; }
};

// The dynamic shared memory, 1024-byte aligned for the swizzle: STAGES stages and, for 3xTF32, the small
// parts' (cnn_gpu/ops/conv2d.py, ConvTile.shared_bytes, as GEMM's Tiling.swizzled_shared_bytes).
__device__ __forceinline__ unsigned char* swizzled_stages()
{
    extern __shared__ float4 conv_wgmma_stages[];
    return swizzle_128b_align(reinterpret_cast<unsigned char*>(conv_wgmma_stages));
}

// A block's BM x BN outputs of a pass at (m0, n0) of its GEMM (M x N, summing over `depth`): rung 9's
// pipeline over the K-tiles that load(stage, t) copies, then the epilogue (bias and flags as the GEMM's).
template <bool SPLIT, int BM, int BN, int STAGES, class Load>
__device__ __forceinline__ void implicit_gemm_wgmma(Load load, int depth, float* __restrict__ out,
                                                    const float* __restrict__ bias, int m0, int n0, int M, int N,
                                                    int flags)
{
    float acc[BN / 2] = {};
    wgmma_mainloop<SPLIT, BM, BN, STAGES>(acc, swizzled_stages(), (depth + 31) / 32, load);
    store_warpgroup_tile<BN>(acc, out, bias, m0 + threadIdx.x / 128 * 64, n0, M, N, 1.0f, 0.0f, flags);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / 64) * 128, MIN_BLOCKS)
conv2d_forward_implicit_gemm_wgmma(const float* __restrict__ x, const float* __restrict__ wt,
                                   const float* __restrict__ bias, float* __restrict__ y, CONV_SHAPE_PARAMS, int flags)
{
    static_assert(BK == 32 && WM == 64 && WN == BN, "rung 9's tile: a warpgroup per 64 rows, all BN columns");
    using Tiles = SwizzledTiles<BM, BN>;
    const ConvShape g = CONV_SHAPE;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, depth = g.R * g.S * g.C, rows = g.N * g.P * g.Q;
    __shared__ long long corner_offset[BM];
    __shared__ int corner_h[BM], corner_w[BM];
    output_corners<BM, Tiles::NTHREADS>(corner_offset, corner_h, corner_w, m0, g);
    __syncthreads();

    const int column = threadIdx.x % (BK / 4) * 4;  // this thread's quad of every K-tile's columns
    const bool wide = channel_quads_fit(wt, depth);  // W^T's rows in aligned quads (R S C is a multiple of 4)
    auto load = [&](unsigned char* stage, int t) {
        copy_image_columns<Tiles, AsyncCopy, 4>(reinterpret_cast<float*>(stage), x, t * BK, column, corner_offset,
                                                corner_h, corner_w, g);
        copy_swizzled_tile_async<true, BN, Tiles::NTHREADS>(stage + BM * 128, wt, n0, t * BK, g.K, depth, threadIdx.x,
                                                            wide);
    };
    implicit_gemm_wgmma<SPLIT, BM, BN, STAGES>(load, depth, y, bias, m0, n0, rows, g.K, flags);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / 64) * 128, MIN_BLOCKS)
conv2d_backward_data_implicit_gemm_wgmma(const float* __restrict__ dy, const float* __restrict__ w,
                                         float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    static_assert(BK == 32 && WM == 64 && WN == BN, "rung 9's tile: a warpgroup per 64 rows, all BN columns");
    using Tiles = SwizzledTiles<BM, BN>;
    const ConvShape g = CONV_SHAPE;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, depth = g.R * g.S * g.K, rows = g.N * g.H * g.W;
    __shared__ long long image_offset[BM];
    __shared__ int padded_h[BM], padded_w[BM];
    input_rows<BM, Tiles::NTHREADS>(image_offset, padded_h, padded_w, m0, g);
    __syncthreads();

    const int column = threadIdx.x % (BK / 4) * 4;  // this thread's quad of every K-tile's columns
    auto load = [&](unsigned char* stage, int t) {
        copy_gradient_taps<Tiles, AsyncCopy, 4>(reinterpret_cast<float*>(stage),
                                                reinterpret_cast<float*>(stage + BM * 128), dy, w, t * BK, n0, column,
                                                image_offset, padded_h, padded_w, g);
    };
    implicit_gemm_wgmma<SPLIT, BM, BN, STAGES>(load, depth, dx, nullptr, m0, n0, rows, g.C, 0);
}
