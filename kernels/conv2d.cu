// 2-D convolution (cross-correlation, as frameworks compute it), float32, NHWC, forward and both
// backward passes, for any stride, padding and dilation.
//
//   x (N, H, W, C), w (R, S, C, K), y (N, P, Q, K)
//   forward          y[n, p, q, k]  = sum over r, s, c of x[n, p*sh - pad_h + r*dh, q*sw - pad_w + s*dw, c]
//                                                        * w[r, s, c, k]
//   backward data    dx[n, h, w, c] = sum over the (r, s, k) whose tap of some output (p, q) reads (h, w) of dy w
//   backward filter  dw[r, s, c, k] = sum over n, p, q of x[the tap (r, s) of output (n, p, q), c] dy[n, p, q, k]
//
// A lesson in seeing a convolution as a matrix product. All three passes are GEMMs over operands
// that are not stored as matrices (cnn_gpu/ops/conv2d.py's reference builds them, im2col):
//   forward          Y (NPQ x K)  = X_cols (NPQ x RSC) . W (RSC x K)
//   backward data    dX (NHW x C) = dY_taps (NHW x RSK) . W' (RSK x C)
//   backward filter  dW (RSC x K) = X_cols^T (RSC x NPQ) . dY (NPQ x K)
// The ladder:
//   1. conv2d_*_direct         one thread per output element, the sums written as loops over the
//                              window: no reuse between threads beyond what the caches find
//   2. conv2d_*_implicit_gemm  the register-blocked GEMM tile of gemm_simt.cu's rung 5
//                              (RegisterBlockedTile), fed by operands that gather each element
//                              from the image as the tile loads it: im2col without its matrix;
//                              the filter gradient's long sum over NPQ cut into split-K slices
//                              (gemm_small.cu's rung 10, and its reduce kernel)
//   3. conv2d_*_implicit_gemm_precomputed  the gathers with what a block's rows (or columns)
//                              share worked out once per block (or K-tile), not per element
//   4. conv2d_*_implicit_gemm_3xtf32  rung 3's loaders, the products on the tensor cores in
//                              3xTF32 (FP32 accuracy), as GEMM rung 8
//   5. conv2d_*_implicit_gemm_tf32_pipelined<..., true>  rung 4 with its loads in flight while
//                              it computes: the same loaders issue cp.async copies into 3 stages;
//                              <..., false> is the same in plain TF32 (one mma a product, TF32's
//                              accuracy), which only a caller who asks for it gets
//   6. conv2d_*_implicit_gemm_tf32_quads<..., true>  rung 5 with four channels of a pixel a copy
//                              (16 bytes), where NHWC keeps them side by side; <..., false> in
//                              plain TF32 as rung 5's
//   7. rung 6's kernels on GEMM rung 8's block tile (128 x 128, 8 warps of 64 x 32): half the
//                              copies and shared-memory reads a multiply-add of rung 6's 64 x 64
//   8. conv2d_*_implicit_gemm_wgmma (conv2d_wgmma.cu, Hopper's alone)  rung 6's gathers feeding
//                              GEMM rung 9's wgmma pipeline, in 3xTF32 or plain TF32; the filter
//                              gradient is rung 7's
//
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2; CUDA-graph replay), every rung
// on four layers, x (N, H, W, C) by w (R, S, C, K): seed = seed_conv1_b32, 32x28x28x1 by 3x3x1x32
// 'valid' (the seed model's first layer at batch 32); cifar = cifar_conv2, 128x32x32x64 by 3x3x64x64
// 'same'; 1x1 = deepbench_resnet_1x1_up, 16x56x56x64 by 1x1x64x256; vgg = deepbench_vgg_28,
// 16x28x28x256 by 3x3x256x512 'same'. Each rung's "Measured" line gives microseconds a pass, and in
// brackets cuDNN's time over ours (above 1: ours faster): the FP32-accurate rungs against cuDNN with
// TF32 off, the plain TF32 rung against cuDNN with TF32 on (cudnn.benchmark on, the same NHWC memory).
// cuDNN's own, forward / data gradient / filter gradient, TF32 off: seed 8.2 / 16.8 / 42.9, cifar
// 280.4 / 388.4 / 416.1, 1x1 103.0 / 115.9 / 86.6, vgg 930.8 / 664.2 / 256.6; TF32 on: seed 6.0 /
// 14.0 / 42.9, cifar 52.6 / 56.1 / 109.2, 1x1 23.4 / 23.2 / 29.3, vgg 77.5 / 96.9 / 198.2. cuBLAS in
// the same file: 49.3 TFLOP/s FP32, 403.1 TF32. cuDNN's FP32 vgg filter gradient counts 115.3
// TFLOP/s at 2 N P Q K R S C flops, 2.3x cuBLAS FP32: it does fewer multiplications than a GEMM (a
// Winograd or FFT algorithm, which the benchmark allows in FP32 within 1e-4; its error 5.6e-6, its
// forward's 8.4e-7), so that ratio is not one of GEMM against GEMM.
// In short: the best FP32-accurate rung is faster than cuDNN FP32 on the seed layer's forward (1.26,
// rung 3) and filter gradient (2.29, rung 6), on cifar's three passes (1.01 to 1.30, rung 7), on the
// 1x1 layer's (1.08 to 2.04, rungs 6 and 8) and on vgg's forward (1.75, rung 8); it is 0.79 of cuDNN
// on vgg's data gradient (rung 8), 0.27 on its filter gradient (rung 7), and 0.49 on the seed layer's
// data gradient (rung 6: with C = 1 that GEMM is one column wide). The plain TF32 rungs are 0.23 to
// 0.67 of cuDNN TF32 on the three larger layers (rungs 7 and 8), where rung 5 is 0.06 to 0.42: the
// gathering loaders, not the tensor cores, still set the pace (rungs 5 and 6). Every pass of every rung
// passed its check. At commit ac366b0, on another H200, rungs 1 to 5 ran within 5% of these times but
// for rung 3's forward and rung 5's plain TF32 filter gradient (see there), and cuDNN's within 3% but
// for the seed layer's filter gradient (50.9 us) and the 1x1 layer's in TF32 (35.4).
// Wrappers: cnn_gpu/ops/conv2d.py. Tests: tests/ops/test_conv2d_kernels.py. Benchmark: benchmarks/conv2d.py.

#include "conv_shape.cuh"
#include "gemm_common.cuh"
#include "nhwc.cuh"

// ---------------------------------------------------------------------------------------------
// 1. Direct: one thread per output element, a grid-stride loop over them.
// Idea: the formulas above as loops. The channel (k, or c for the data gradient) is the fastest
// index of the output and of the threads, so a warp's stores are coalesced and its reads of w are
// too (forward, filter gradient), or all read one address (x in the forward: a broadcast).
// Expected bottleneck: each thread reads its whole window from memory, R * S * C values of x and as
// many of w per output, with no sharing but what L1 and L2 catch: load-bound, and far under the FMA
// rate. The filter gradient is worse: only R * S * C * K threads (288 for the seed model's first
// layer), each summing over all N * P * Q outputs, leave most of the GPU idle.
// Edges: taps that fall on padding are skipped; nothing is tiled.
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// / filter gradient (cuDNN FP32's time over ours): seed 21.9 (0.38) / 39.8 (0.42) / 5009.9 (0.01);
// cifar 1251.8 (0.22) / 18896.4 (0.02) / 23746.8 (0.02); 1x1 280.7 (0.37) / 3327.5 (0.03) / 10286.1
// (0.01); vgg not run (the benchmark skips this rung above 20 GFLOP a pass). As expected, far under
// the FMA rate: the cifar forward runs 7.7 TFLOP/s, 15.7% of cuBLAS FP32, and the filter gradient
// 0.4 TFLOP/s. The data gradient takes 15x the forward's time on cifar (12x on 1x1) for the same
// flops: its lanes take consecutive c, so each of their reads of w[r, s, c, :] is K floats from its
// neighbour's, a sector a lane. On the seed layer (C = 1) it was our fastest data gradient until
// rung 6 (see rung 2).
extern "C" __global__ void conv2d_forward_direct(const float* __restrict__ x, const float* __restrict__ w,
                                      const float* __restrict__ bias, float* __restrict__ y, CONV_SHAPE_PARAMS,
                                      int flags)
{
    const ConvShape g = CONV_SHAPE;
    const long long total = (long long)g.N * g.P * g.Q * g.K;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord o = channel_fastest(i, g.P, g.Q, g.K);  // output (n, p, q, k)
        float acc = 0.0f;
        for (int r = 0; r < g.R; ++r) {
            const int h = input_index(o.row, r, g.stride_h, g.pad_h, g.dil_h);
            if (h < 0 || h >= g.H) continue;
            for (int s = 0; s < g.S; ++s) {
                const int col = input_index(o.col, s, g.stride_w, g.pad_w, g.dil_w);
                if (col < 0 || col >= g.W) continue;
                const float* x_tap = x + nhwc_offset(o.n, h, col, 0, g.H, g.W, g.C);
                const float* w_tap = w + (long long)(r * g.S + s) * g.C * g.K + o.c;
                for (int c = 0; c < g.C; ++c) acc += x_tap[c] * w_tap[(long long)c * g.K];
            }
        }
        y[i] = epilogue(acc, 0.0f, bias, o.c, 1.0f, 0.0f, flags);
    }
}

extern "C" __global__ void conv2d_backward_data_direct(const float* __restrict__ dy, const float* __restrict__ w,
                                            float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    const ConvShape g = CONV_SHAPE;
    const long long total = (long long)g.N * g.H * g.W * g.C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord e = channel_fastest(i, g.H, g.W, g.C);  // input element (n, h, w, c)
        dx[i] = data_gradient_sum(dy, g, e, 0, g.K, [&](int r, int s) {  // w[r, s, c, :], K filters
            return w + ((long long)(r * g.S + s) * g.C + e.c) * g.K;
        });
    }
}

extern "C" __global__ void conv2d_backward_filter_direct(const float* __restrict__ x, const float* __restrict__ dy,
                                              float* __restrict__ dw, CONV_SHAPE_PARAMS)
{
    const ConvShape g = CONV_SHAPE;
    const long long total = (long long)g.R * g.S * g.C * g.K;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord f = channel_fastest(i, g.S, g.C, g.K);  // dw[r, s, c, k] as (n, row, col, c)
        dw[i] = filter_gradient_sum(x, dy, g, f.n, f.row, f.col, f.c);  // r, s, c, k
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Implicit GEMM: the GEMMs of the head comment, on RegisterBlockedTile (gemm_common.cuh).
// The tile loads a BK-deep slab of each operand into shared memory, and every thread then does
// TM x TN FMAs for each TM + TN values it reads from there. Here the operands below compute, per
// element, which value of x, dy or w the im2col matrix would hold there (zero for padding and past
// the edges), so no matrix is ever stored. Each operand says which of its two indices runs along memory, and the
// tile's loaders walk that one with consecutive threads, as for a stored matrix: the GEMM's k is
// (r, s, c) with c fastest, contiguous in x, for the forward's image operand, for instance.
// Expected bottleneck: the gathers' integer arithmetic. Each element loaded costs a handful of
// divisions and compares to find its (n, p, q) and (r, s, c), where a stored matrix needs one
// address; with the K-dimension as short as R * S * C = 9 (the seed model's first layer) that
// overhead is most of the work. The data and filter gradients add their own: stride > 1 leaves most
// of dY_taps' elements zero, computed and multiplied all the same.
// Edges: the operands return zero outside the matrix, store_output is guarded (RegisterBlockedTile's).
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// / filter gradient (cuDNN FP32's time over ours): seed 11.7 (0.70) / 177.3 (0.09) / 44.8 (0.96);
// cifar 965.6 (0.29) / 1266.0 (0.31) / 1285.0 (0.32); 1x1 171.4 (0.60) / 249.7 (0.46) / 244.3 (0.35);
// vgg 2937.2 (0.32) / 4234.9 (0.16) / 5588.3 (0.05). As expected, the gathers cost nearly half: the
// cifar and vgg forwards run 10.0 and 10.1 TFLOP/s (20% of cuBLAS FP32), and rung 3, the same tile
// with the gathers' divisions taken out, 1.8x and 1.7x that (2x at ac366b0, on another H200, before
// rung 3's forward slowed: see there). The seed layer's data gradient, 177.3 us, is a
// GEMM one column wide (C = 1) on a tile 32 columns wide (128 x 32): 31 of every 32 products are
// padding.

// The forward's A: X_cols, row m = (n, p, q), column j = (r, s, c).
struct ImageColumnsOperand {
    static constexpr bool K_CONTIGUOUS = true;  // consecutive j, consecutive c: adjacent in x
    const float* __restrict__ x;
    ConvShape g;
    __device__ __forceinline__ float operator()(int m, int j) const
    {
        if (m >= g.N * g.P * g.Q || j >= g.R * g.S * g.C) return 0.0f;
        const int c = j % g.C, s = j / g.C % g.S, r = j / (g.C * g.S);
        const int q = m % g.Q, p = m / g.Q % g.P, n = m / (g.Q * g.P);
        const int h = input_index(p, r, g.stride_h, g.pad_h, g.dil_h);
        const int col = input_index(q, s, g.stride_w, g.pad_w, g.dil_w);
        if (h < 0 || h >= g.H || col < 0 || col >= g.W) return 0.0f;
        return x[nhwc_offset(n, h, col, c, g.H, g.W, g.C)];
    }
};

// The filter gradient's A: X_cols^T, row m = (r, s, c), column j = (n, p, q): the same elements.
struct ImageColumnsTransposed {
    static constexpr bool K_CONTIGUOUS = false;  // consecutive m, consecutive c
    ImageColumnsOperand columns;
    __device__ __forceinline__ float operator()(int m, int j) const { return columns(j, m); }
};

// The data gradient's A: dY_taps, row m = (n, h, w), column j = (r, s, k): dy at the output whose
// tap (r, s) reads input (h, w), or zero where no output's does.
struct OutputGradientTapsOperand {
    static constexpr bool K_CONTIGUOUS = true;  // consecutive j, consecutive k: adjacent in dy
    const float* __restrict__ dy;
    ConvShape g;
    __device__ __forceinline__ float operator()(int m, int j) const
    {
        if (m >= g.N * g.H * g.W || j >= g.R * g.S * g.K) return 0.0f;
        const int k = j % g.K, s = j / g.K % g.S, r = j / (g.K * g.S);
        const int col = m % g.W, h = m / g.W % g.H, n = m / (g.W * g.H);
        const int p = output_at(h + g.pad_h, r * g.dil_h, g.stride_h, g.P);
        const int q = output_at(col + g.pad_w, s * g.dil_w, g.stride_w, g.Q);
        if (p < 0 || q < 0) return 0.0f;
        return dy[nhwc_offset(n, p, q, k, g.P, g.Q, g.K)];
    }
};

// The data gradient's B: W', row j = (r, s, k), column c: w[r, s, c, k], read as the operand's
// (mn = c, k = j) element.
struct FilterTapsOperand {
    static constexpr bool K_CONTIGUOUS = true;  // consecutive j, consecutive k: adjacent in w
    const float* __restrict__ w;
    ConvShape g;
    __device__ __forceinline__ float operator()(int c, int j) const
    {
        if (c >= g.C || j >= g.R * g.S * g.K) return 0.0f;
        const int k = j % g.K, rs = j / g.K;
        return w[((long long)rs * g.C + c) * g.K + k];
    }
};

// Blocks walk the output tiles with blockIdx.x along the GEMM's M (N * P * Q or N * H * W rows, more
// than grid y's 65535 tiles allow) and blockIdx.y along its N.
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_forward_implicit_gemm(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                             float* __restrict__ y, CONV_SHAPE_PARAMS, int flags)
{
    const ConvShape g = CONV_SHAPE;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, depth = g.R * g.S * g.C;
    RegisterBlockedTile<false, false, BM, BN, BK, TM, TN> tile;
    tile.accumulate_operands(ImageColumnsOperand{x, g}, MatrixOperand<false>{w, g.K, depth}, m0, n0, 0, depth);
    tile.store(y, bias, m0, n0, g.N * g.P * g.Q, g.K, 1.0f, 0.0f, flags);
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_backward_data_implicit_gemm(const float* __restrict__ dy, const float* __restrict__ w, float* __restrict__ dx,
                                   CONV_SHAPE_PARAMS)
{
    const ConvShape g = CONV_SHAPE;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    RegisterBlockedTile<false, false, BM, BN, BK, TM, TN> tile;
    tile.accumulate_operands(OutputGradientTapsOperand{dy, g}, FilterTapsOperand{w, g}, m0, n0, 0, g.R * g.S * g.K);
    tile.store(dx, nullptr, m0, n0, g.N * g.H * g.W, g.C, 1.0f, 0.0f, 0);
}

// A filter-gradient block's tile, summed over its slice blockIdx.z: into dw itself when there is one
// slice, else raw into the slice's part of the workspace, partials[z][rows][K rounded up to 4].
template <class Tile>
__device__ __forceinline__ void store_filter_slice(const Tile& tile, float* __restrict__ dw,
                                                   float* __restrict__ partials, int m0, int n0, int rows, int K)
{
    if (gridDim.z == 1) {
        tile.store(dw, nullptr, m0, n0, rows, K, 1.0f, 0.0f, 0);
        return;
    }
    const int K4 = (K + 3) / 4 * 4;
    tile.store_partials(partials + (long long)blockIdx.z * rows * K4, m0, n0, rows, K, K4);
}

// The filter gradient's sum over j = (n, p, q) runs to N * P * Q (346,112 for the seed model's first
// layer at batch 512) for an output of R * S * C x K (288 values there): one tile, which one block
// would walk alone. So it is cut into gridDim.z slices of k_per_split (a multiple of BK), as
// gemm_split_k does: each block sums its slice and writes the raw tile to partials[z] (rows of K
// rounded up to 4), and gemm_split_k_reduce (gemm_small.cu) adds the slices in a fixed order. With
// one slice the block stores into dw itself.
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_backward_filter_implicit_gemm(const float* __restrict__ x, const float* __restrict__ dy,
                                     float* __restrict__ dw, float* __restrict__ partials, CONV_SHAPE_PARAMS,
                                     int k_per_split)
{
    const ConvShape g = CONV_SHAPE;
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int rows = g.R * g.S * g.C, outputs = g.N * g.P * g.Q, k_begin = blockIdx.z * k_per_split;
    RegisterBlockedTile<false, false, BM, BN, BK, TM, TN> tile;
    tile.accumulate_operands(ImageColumnsTransposed{ImageColumnsOperand{x, g}}, MatrixOperand<false>{dy, g.K, outputs},
                             m0, n0, k_begin, min(outputs, k_begin + k_per_split));
    store_filter_slice(tile, dw, partials, m0, n0, rows, g.K);
}


// ---------------------------------------------------------------------------------------------
// How rung 3's loaders (below) put elements into a shared tile: Copy::elements<VEC>(dst, base, offset,
// real) stores base[offset .. offset + VEC - 1] at dst, or zeros where `real` is false (padding, or
// past the matrix). Rungs 3 and 4 load through registers (StoreCopy); rungs 5 and 6 ask the copy
// engine (AsyncCopy: a cp.async of 4 bytes, or 16 for rung 6's quads, whose source size 0 writes the
// zeros, so no branch), and their pipeline waits for the copies. Copy::matrix_tile does the same for
// a stored matrix's tile (W, and the filter gradient's dY), 16 bytes a copy where `quads` (rung 6,
// where the matrix's rows are whole quads, 16-byte aligned).
struct StoreCopy {
    template <int VEC>
    __device__ static __forceinline__ void elements(float* dst, const float* __restrict__ base, long long offset,
                                                    bool real)
    {
#pragma unroll
        for (int e = 0; e < VEC; ++e) dst[e] = real ? base[offset + e] : 0.0f;
    }
    template <int ROWS, int BK, int STRIDE, int NTHREADS>
    __device__ static __forceinline__ void matrix_tile(float* __restrict__ s, const float* __restrict__ x, int mn0,
                                                       int k0, int MN, int K, int tid, bool /* quads: never */)
    {
        load_tile<false, ROWS, BK, STRIDE, NTHREADS>(s, x, mn0, k0, MN, K, tid);
    }
};

struct AsyncCopy {
    template <int VEC>
    __device__ static __forceinline__ void elements(float* dst, const float* __restrict__ base, long long offset,
                                                    bool real)
    {
        cp_async<4 * VEC>(dst, real ? base + offset : base, real ? 4 * VEC : 0);
    }
    // Each address computed afresh (RECOMPUTE: the tensor-core tile needs its registers).
    template <int ROWS, int BK, int STRIDE, int NTHREADS>
    __device__ static __forceinline__ void matrix_tile(float* __restrict__ s, const float* __restrict__ x, int mn0,
                                                       int k0, int MN, int K, int tid, bool quads)
    {
        load_tile_async<false, ROWS, BK, STRIDE, NTHREADS, true>(s, x, mn0, k0, MN, K, tid, quads);
    }
};

// ---------------------------------------------------------------------------------------------
// 3. Implicit GEMM with precomputed gathers (the forward pass, then the data and filter gradients).
// Idea: rung 2's image operand works out, for every element it loads, the output pixel (n, p, q) of
// its row and the tap (r, s, c) of its column: a chain of integer divisions per element, the
// bottleneck rung 2 expects. But a block's rows are the same BM output pixels at every K-tile, so
// the block works them out once, before its loop: each row's corner (the input position of its
// window's tap (0, 0)) and the corner's offset in x, into shared memory. And a thread's column
// within a K-tile never changes (its loads step by NTHREADS, a multiple of BK), so it splits its
// column into (r, s, c) once per K-tile. An element then costs a shared-memory read (a broadcast:
// the BK threads of a row read the same corner), two bounds checks and an add. The loader is the
// only change: the tile's loop and its FMAs are RegisterBlockedTile's (accumulate_tiles).
// cuDNN names its form of this IMPLICIT_PRECOMP_GEMM.
// Expected bottleneck: the tile's FMAs and shared-memory reads, as in GEMM rung 5 (26.5 TFLOP/s,
// 54.6% of cuBLAS FP32 at 4096^3, H200, benchmarks/results/gemm.json, ac366b0), on the layers deep
// enough to be arithmetic (cifar_conv2, deepbench_vgg_28: depth 576 and 2304); on the seed layer
// (depth 9, one K-tile) its stores.
// Edges: a row past N * P * Q gets a corner from which no tap lands inside the input; a column past
// R * S * C reads nothing; store_output is guarded.
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), forward, us (cuDNN FP32's
// time over ours): seed 6.6 (1.26), cifar 523.4 (0.54), 1x1 113.2 (0.91), vgg 1692.8 (0.55). The
// cifar and vgg forwards run 18.5 and 17.5 TFLOP/s, 37% and 35% of cuBLAS FP32: 1.8x and 1.7x rung 2
// (the divisions were nearly half its time, as rung 2 expects), and 68% and 64% of GEMM rung 5 in the
// same run (27.4 TFLOP/s at 4096^3; its tile is 128 x 128 to this one's 64 x 64). At ac366b0, on
// another H200, the cifar, 1x1 and vgg forwards took 469.1, 97.6 and 1438.5 us (cifar's and vgg's 20.6
// TFLOP/s), where cuDNN's moved 0.8% to 1.4% between the runs: this forward lost 12%, 16% and 18% in
// between, when its loader became a template that rung 6's quads share (VEC = 1 here). That is not
// the cause: both instances' SASS is the same instruction for instruction at both commits (nvcc 13.0,
// sm_90, 2864 instructions), so the machine code did not change; the loss is unexplained (the card,
// or NVRTC's build on it, one module an instance since 8a4cf26; no counter was taken). At ac366b0 it
// was the fastest FP32-accurate forward on the three larger layers; here rung 5 passes it (500.6,
// 101.5 and 1453.7 us), and rungs 6 to 8 more so. cuDNN FP32 runs cifar and vgg at 34.5 and 31.8
// TFLOP/s.
// The A tile's part of one K-tile, X_cols' columns k0 .. k0 + BK - 1 of the block's rows: this thread
// copies columns `column` .. `column` + VEC - 1 (channels of one tap, VEC = 4 at rung 6) of every
// NTHREADS / (BK / VEC)-th row from its first, threadIdx.x / (BK / VEC).
template <class Tile, class Copy, int VEC>
__device__ __forceinline__ void copy_image_columns(float* __restrict__ as, const float* __restrict__ x, int k0,
                                                   int column, const long long* corner_offset, const int* corner_h,
                                                   const int* corner_w, const ConvShape& g)
{
    constexpr int COPIES_PER_ROW = Tile::BLOCK_K / VEC;
    const int j = k0 + column;
    const bool inside = j < g.R * g.S * g.C;
    const int c = j % g.C, s = j / g.C % g.S, r = j / (g.C * g.S);
    const int dh = r * g.dil_h, dw = s * g.dil_w;
    const long long tap = ((long long)dh * g.W + dw) * g.C + c;  // from a row's corner
    for (int i = threadIdx.x / COPIES_PER_ROW; i < Tile::BLOCK_M; i += Tile::NTHREADS / COPIES_PER_ROW) {
        const int h = corner_h[i] + dh, col = corner_w[i] + dw;
        const bool real = inside && h >= 0 && h < g.H && col >= 0 && col < g.W;
        Copy::template elements<VEC>(&as[Tile::a_index(i, column)], x,
                                     corner_offset[i] + tap, real);
    }
}

// The forward's rows m0 .. m0 + BM - 1, output pixels (n, p, q), into shared memory, NTHREADS threads
// taking part: each row's corner and the corner's offset in x.
template <int BM, int NTHREADS>
__device__ __forceinline__ void output_corners(long long* corner_offset, int* corner_h, int* corner_w, int m0,
                                               const ConvShape& g)
{
    for (int i = threadIdx.x; i < BM; i += NTHREADS) {
        const int m = m0 + i;
        const int q = m % g.Q, p = m / g.Q % g.P, n = m / (g.Q * g.P);
        const bool real = m < g.N * g.P * g.Q;
        // Past the last row: a corner above the input by more than the window's extent.
        corner_h[i] = real ? input_index(p, 0, g.stride_h, g.pad_h, g.dil_h) : -1 - (g.R - 1) * g.dil_h;
        corner_w[i] = input_index(q, 0, g.stride_w, g.pad_w, g.dil_w);
        corner_offset[i] = real ? nhwc_offset(n, corner_h[i], corner_w[i], 0, g.H, g.W, g.C) : 0;
    }
}

// VEC = 4 (rung 6 only): the A tile 4 channels a copy; `w_quads`: W's tile 16 bytes a copy
// (channel_quads_fit(w, K)).
template <class Tile, class Copy = StoreCopy, int VEC = 1>
__device__ __forceinline__ void forward_precomputed(const float* __restrict__ x, const float* __restrict__ w,
                                                    const float* __restrict__ bias, float* __restrict__ y,
                                                    const ConvShape& g, int flags, bool w_quads = false)
{
    constexpr int BM = Tile::BLOCK_M, BN = Tile::BLOCK_N, BK = Tile::BLOCK_K;
    static_assert(Tile::NTHREADS % (BK / VEC) == 0 && !Tile::B_TILE_K_CONTIGUOUS,
                  "a thread's columns within a K-tile stay the same; W's tile is k-major");
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, depth = g.R * g.S * g.C, rows = g.N * g.P * g.Q;

    __shared__ long long corner_offset[BM];
    __shared__ int corner_h[BM], corner_w[BM];
    output_corners<BM, Tile::NTHREADS>(corner_offset, corner_h, corner_w, m0, g);
    __syncthreads();

    const int column = threadIdx.x % (BK / VEC) * VEC;  // this thread's first column in every K-tile
    Tile tile;
    tile.accumulate_tiles(
        [=](float* as, float* bs, int k0) {
            copy_image_columns<Tile, Copy, VEC>(as, x, k0, column, corner_offset, corner_h, corner_w, g);
            Copy::template matrix_tile<BN, BK, Tile::B_STRIDE, Tile::NTHREADS>(bs, w, n0, k0, g.K, depth, threadIdx.x,
                                                                              w_quads);
        },
        0, depth);
    tile.store(y, bias, m0, n0, rows, g.K, 1.0f, 0.0f, flags);
}

// The data gradient's version of the same: its rows are input pixels (n, h, w), its columns taps
// (r, s, k). A row's n and its padded position (h + pad_h, w + pad_w) are worked out once per block;
// a thread's column once per K-tile, for both tiles (dY_taps, and W', whose element (c, j) is
// w[r, s, c, k]). An element of dY_taps is then the output (p, q) = ((h + pad_h - r dh) / sh,
// (w + pad_w - s dw) / sw), if both divide and land inside dy (output_at): with stride 1 no
// division at all.
// Expected bottleneck: as the forward's; with stride > 1 most of dY_taps is zeros, still loaded and
// multiplied, and a remainder per element decides which.
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), data gradient, us (cuDNN
// FP32's time over ours): seed 78.2 (0.21), cifar 562.5 (0.69), 1x1 120.3 (0.96), vgg 1700.6 (0.39).
// Near the forward, as expected: 17.2 and 17.4 TFLOP/s on cifar and vgg (35% of cuBLAS FP32) to its
// 18.5 and 17.5; the fastest FP32-accurate data gradient there until rung 6. Every layer benchmarked
// has stride 1, so the zeros of stride > 1 are unmeasured. The seed layer's is rung 2's one-column
// GEMM (C = 1).

// Both tiles' part of one K-tile, columns k0 .. k0 + BK - 1 of dY_taps and W' (rows of the block's
// input pixels, and of its channels): this thread copies columns `column` .. `column` + VEC - 1
// (filters of one tap, VEC = 4 at rung 6) of every NTHREADS / (BK / VEC)-th row of each.
template <class Tile, class Copy, int VEC>
__device__ __forceinline__ void copy_gradient_taps(float* __restrict__ as, float* __restrict__ bs,
                                                   const float* __restrict__ dy, const float* __restrict__ w, int k0,
                                                   int n0, int column, const long long* image_offset,
                                                   const int* padded_h, const int* padded_w, const ConvShape& g)
{
    constexpr int COPIES_PER_ROW = Tile::BLOCK_K / VEC, ROWS_APART = Tile::NTHREADS / COPIES_PER_ROW;
    const int j = k0 + column;
    const bool inside = j < g.R * g.S * g.K;
    const int k = j % g.K, rs = j / g.K, s = rs % g.S, r = rs / g.S;
    const int dh = r * g.dil_h, dw = s * g.dil_w;
    for (int i = threadIdx.x / COPIES_PER_ROW; i < Tile::BLOCK_M; i += ROWS_APART) {
        const int p = output_at(padded_h[i], dh, g.stride_h, g.P);
        const int q = output_at(padded_w[i], dw, g.stride_w, g.Q);
        Copy::template elements<VEC>(&as[Tile::a_index(i, column)], dy,
                                     image_offset[i] + ((long long)p * g.Q + q) * g.K + k, inside && p >= 0 && q >= 0);
    }
    for (int i = threadIdx.x / COPIES_PER_ROW; i < Tile::BLOCK_N; i += ROWS_APART) {
        const int c = n0 + i;
        Copy::template elements<VEC>(&bs[Tile::b_index(i, column)], w,
                                     ((long long)rs * g.C + c) * g.K + k, inside && c < g.C);
    }
}

// The data gradient's rows m0 .. m0 + BM - 1, input pixels (n, h, w), into shared memory, NTHREADS
// threads taking part: each row's padded position and dy's offset of its image.
template <int BM, int NTHREADS>
__device__ __forceinline__ void input_rows(long long* image_offset, int* padded_h, int* padded_w, int m0,
                                           const ConvShape& g)
{
    for (int i = threadIdx.x; i < BM; i += NTHREADS) {
        const int m = m0 + i;
        const int col = m % g.W, h = m / g.W % g.H, n = m / (g.W * g.H);
        const bool real = m < g.N * g.H * g.W;
        padded_h[i] = real ? h + g.pad_h : -1;  // past the last row: above every output's reach
        padded_w[i] = col + g.pad_w;
        image_offset[i] = real ? (long long)n * g.P * g.Q * g.K : 0;
    }
}

// VEC = 4 (rung 6 only): both tiles 4 filters a copy.
template <class Tile, class Copy = StoreCopy, int VEC = 1>
__device__ __forceinline__ void backward_data_precomputed(const float* __restrict__ dy, const float* __restrict__ w,
                                                          float* __restrict__ dx, const ConvShape& g)
{
    constexpr int BM = Tile::BLOCK_M, BN = Tile::BLOCK_N, BK = Tile::BLOCK_K;
    static_assert(Tile::NTHREADS % (BK / VEC) == 0, "a thread's columns within a K-tile stay the same");
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, depth = g.R * g.S * g.K, rows = g.N * g.H * g.W;

    __shared__ long long image_offset[BM];  // dy's offset of the row's image n
    __shared__ int padded_h[BM], padded_w[BM];
    input_rows<BM, Tile::NTHREADS>(image_offset, padded_h, padded_w, m0, g);
    __syncthreads();

    // This thread's first column in every K-tile, of both tiles.
    const int column = threadIdx.x % (BK / VEC) * VEC;
    Tile tile;
    tile.accumulate_tiles(
        [=](float* as, float* bs, int k0) {
            copy_gradient_taps<Tile, Copy, VEC>(as, bs, dy, w, k0, n0, column, image_offset, padded_h, padded_w, g);
        },
        0, depth);
    tile.store(dx, nullptr, m0, n0, rows, g.C, 1.0f, 0.0f, 0);
}

// The filter gradient's version: its rows are taps (r, s, c), its columns output pixels (n, p, q),
// and the tiles are the other way round. A thread's row within the block never changes (the A tile
// is mn-contiguous, its loads step by NTHREADS, a multiple of BM), so it splits its row into
// (r, s, c) once per block; and each K-tile's BK columns are worked out once, into shared memory,
// by BK threads: each column's input corner and its offset in x. dY is a stored matrix (rung 2's
// loader). The split into slices is rung 2's.
// Expected bottleneck: as the forward's.
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), filter gradient, us (cuDNN
// FP32's time over ours): seed 24.2 (1.78), cifar 705.4 (0.59), 1x1 152.8 (0.57), vgg 2928.6 (0.09).
// The prediction missed: slower than the forward, 13.7 and 10.1 TFLOP/s on cifar and vgg (28% and
// 21% of cuBLAS FP32) to the forward's 18.5 and 17.5, so vgg's filter gradient takes 1.7x its
// forward's time for the same flops (2x at ac366b0, before the forward slowed). The data do not say
// how much of that is the corners worked out per K-tile (BK threads, then a barrier) and how much the
// split-K slices and their reduction. cuDNN's vgg filter gradient does fewer multiplications (the
// head comment), and the 0.09 counts that too.
// The A tile's part of one K-tile, X_cols^T's rows of the block by columns k0 .. k0 + BK - 1 (whose
// input corners are worked out): this thread copies rows `row` .. `row` + VEC - 1 (channels of one
// tap, VEC = 4 at rung 6; `tap` their offset from a corner, `real_row` whether they are taps) of
// every NTHREADS / (BM / VEC)-th column from its first, threadIdx.x / (BM / VEC).
template <class Tile, class Copy, int VEC>
__device__ __forceinline__ void copy_image_rows(float* __restrict__ as, const float* __restrict__ x, int row, int dh,
                                                int dw, int tap, bool real_row, const long long* corner_offset,
                                                const int* corner_h, const int* corner_w, const ConvShape& g)
{
    constexpr int COPIES_PER_COLUMN = Tile::BLOCK_M / VEC;
    for (int k = threadIdx.x / COPIES_PER_COLUMN; k < Tile::BLOCK_K; k += Tile::NTHREADS / COPIES_PER_COLUMN) {
        const int h = corner_h[k] + dh, col = corner_w[k] + dw;
        Copy::template elements<VEC>(&as[Tile::a_index(row, k)], x,
                                     corner_offset[k] + tap, real_row && h >= 0 && h < g.H && col >= 0 && col < g.W);
    }
}

// VEC = 4 (rung 6 only): the A tile 4 channels a copy; `dy_quads`: dY's tile 16 bytes a copy
// (channel_quads_fit(dy, K)).
template <class Tile, class Copy = StoreCopy, int VEC = 1>
__device__ __forceinline__ void backward_filter_precomputed(const float* __restrict__ x, const float* __restrict__ dy,
                                                            float* __restrict__ dw, float* __restrict__ partials,
                                                            const ConvShape& g, int k_per_split, bool dy_quads = false)
{
    constexpr int BM = Tile::BLOCK_M, BN = Tile::BLOCK_N, BK = Tile::BLOCK_K;
    static_assert(Tile::NTHREADS % BM == 0 && !Tile::A_TILE_K_CONTIGUOUS && !Tile::B_TILE_K_CONTIGUOUS,
                  "a thread's rows within the block stay the same; both tiles are k-major");
    const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
    const int rows = g.R * g.S * g.C, outputs = g.N * g.P * g.Q, k_begin = blockIdx.z * k_per_split;

    // This thread's first row of the A tile: the tap (r, s, c), as offsets from a column's corner
    // (with quads, channels c to c + 3 of the tap: C is a multiple of 4).
    const int row = threadIdx.x % (BM / VEC) * VEC, m = m0 + row;
    const int c = m % g.C, s = m / g.C % g.S, r = m / (g.C * g.S);
    const bool real_row = m < rows;
    const int dh = r * g.dil_h, dw_tap = s * g.dil_w;
    // Within one image, whose size the wrapper caps below 2^31; a row past the taps reads nothing.
    const int tap = real_row ? (dh * g.W + dw_tap) * g.C + c : 0;

    // Two sets of corners, for even and odd K-tiles: rung 5's pipeline issues its first K-tiles' loads
    // one after another, with no barrier between them but the one below, so a thread may write the
    // next K-tile's corners while another still reads this one's. Two K-tiles on, every thread has
    // passed the barrier below since its last read of that set. (Rungs 3 and 4 need only one set:
    // shared_tile_loop has two barriers between K-tiles; they take the same code.)
    __shared__ long long corner_offset[2][BK];
    __shared__ int corner_h[2][BK], corner_w[2][BK];
    Tile tile;
    tile.accumulate_tiles(
        [=](float* as, float* bs, int k0) {
            const int set = (k0 / BK) % 2;
            // This K-tile's columns, output pixels (n, p, q): their input corners, by BK threads.
            if (threadIdx.x < BK) {
                const int j = k0 + threadIdx.x;
                const int q = j % g.Q, p = j / g.Q % g.P, n = j / (g.Q * g.P);
                const bool real = j < outputs;
                const int h = real ? input_index(p, 0, g.stride_h, g.pad_h, g.dil_h)
                                   : -1 - (g.R - 1) * g.dil_h;  // no tap lands inside
                const int w = input_index(q, 0, g.stride_w, g.pad_w, g.dil_w);
                corner_h[set][threadIdx.x] = h;
                corner_w[set][threadIdx.x] = w;
                corner_offset[set][threadIdx.x] = real ? nhwc_offset(n, h, w, 0, g.H, g.W, g.C) : 0;
            }
            __syncthreads();
            copy_image_rows<Tile, Copy, VEC>(as, x, row, dh, dw_tap, tap, real_row, corner_offset[set],
                                             corner_h[set], corner_w[set], g);
            Copy::template matrix_tile<BN, BK, Tile::B_STRIDE, Tile::NTHREADS>(bs, dy, n0, k0, g.K, outputs,
                                                                              threadIdx.x, dy_quads);
        },
        k_begin, min(outputs, k_begin + k_per_split));
    store_filter_slice(tile, dw, partials, m0, n0, rows, g.K);
}

// Rung 3's kernels: the bodies above on rung 2's tile.
template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_forward_implicit_gemm_precomputed(const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ bias, float* __restrict__ y, CONV_SHAPE_PARAMS,
                                         int flags)
{
    forward_precomputed<RegisterBlockedTile<false, false, BM, BN, BK, TM, TN>>(x, w, bias, y, CONV_SHAPE, flags);
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_backward_data_implicit_gemm_precomputed(const float* __restrict__ dy, const float* __restrict__ w,
                                               float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    backward_data_precomputed<RegisterBlockedTile<false, false, BM, BN, BK, TM, TN>>(dy, w, dx, CONV_SHAPE);
}

template <int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
conv2d_backward_filter_implicit_gemm_precomputed(const float* __restrict__ x, const float* __restrict__ dy,
                                                 float* __restrict__ dw, float* __restrict__ partials,
                                                 CONV_SHAPE_PARAMS, int k_per_split)
{
    backward_filter_precomputed<RegisterBlockedTile<false, false, BM, BN, BK, TM, TN>>(x, dy, dw, partials, CONV_SHAPE,
                                                                                     k_per_split);
}

// ---------------------------------------------------------------------------------------------
// 4. Implicit GEMM on the tensor cores, in 3xTF32.
// Idea: rung 3's loaders and shared tiles, with the tile's multiply-adds moved from the FP32 cores
// to the tensor cores, as GEMM rung 8 (gemm_tensorcore.cu) does: each warp computes its WM x WN
// part of the block tile as 16 x 8 x 8 mma.sync tiles, fragments read from the shared tiles by the
// mma's lane layout (lane g = lane / 4, t = lane % 4). Each operand value is split into a TF32 big
// part and a TF32 small part (to_tf32), and three mma (small*big, big*small, big*big) restore FP32
// accuracy (mma_3xtf32, gemm_common.cuh): the autotuner holds every rung to float32's accuracy, and
// plain TF32's 1e-3 would not pass. The shared tiles keep RegisterBlockedTile's k-major layout
// (as[k][m], bs[k][n]), so rung 3's loaders fill them unchanged; their row strides are BM + 8 and
// BN + 8, 8 mod 32, so that a fragment read (lanes g, t at k + t, column g) touches 32 distinct banks.
// Unlike rung 8 the loads are not pipelined: the loaders compute addresses, which cp.async could
// take, but a gather of 4-byte elements keeps the copy engine's 16-byte path out of reach.
// Expected bottleneck: the loads. Per K-tile a block loads its two tiles, then waits for them,
// then its warps do 3 x (WM / 16) x (WN / 8) x (BK / 8) mma each; with nothing else to overlap the
// loads, the tensor cores idle while they run, as rung 5's FP32 cores do. Faster than rung 3 where
// its FMAs were the bound (the deep layers), no faster on the seed layer's one K-tile.
// Edges: the loaders' (rung 3); store_output and the split-K partials guarded per element. An
// infinite operand comes out NaN (its small part is inf - inf), and a finite one near FLT_MAX may
// overflow in its rounding to TF32, where the FP32 rungs give IEEE's results: the autotuner's check
// leaves this rung out where a problem shows it, and operands holding NaN or inf run rung 3.
// Registers: the kernels ask for one block per SM at least (__launch_bounds__'s second argument):
// without it ptxas (13.0) held them to 72-128 registers and spilled; with it they take 154-163
// (sm_90), three blocks of 128 threads per SM.
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// / filter gradient (cuDNN FP32's time over ours): seed 8.7 (0.95) / 76.1 (0.22) / 23.7 (1.81);
// cifar 790.0 (0.35) / 791.3 (0.49) / 1254.0 (0.33); 1x1 214.8 (0.48) / 202.5 (0.57) / 271.6 (0.32);
// vgg 2532.6 (0.37) / 2455.9 (0.27) / 2831.2 (0.09). The prediction missed: on the deep layers this
// rung is slower than rung 3, not faster: 1.5x rung 3's time on the cifar and vgg forwards (12.2 and
// 11.7 TFLOP/s, 24-25% of cuBLAS FP32; 1.7 to 1.8x at ac366b0, when rung 3's forward ran faster),
// 1.4x on their data gradients, level on vgg's filter gradient (2831.2 against 2928.6), 1.9x on the
// 1x1 forward. The loads it waits on are the bound, as expected, and they cost more than rung 3's FMAs
// did: rung 5, the same work with the loads in flight, takes 0.47 to 0.63 of this rung's time on the
// three larger forwards.
// A_K and B_K (rung 6 only): a tile k-contiguous, s[mn][k] with row stride BK + 4, where the loaders
// copy 4 consecutive k at a time (GEMM rung 8's layout for a k-contiguous operand, as free of bank
// conflicts: lanes g, t read banks 20g + t mod 32 at BK = 16).
template <int BM, int BN, int BK, int WM, int WN, bool SPLIT = true, bool A_K = false, bool B_K = false>
struct TensorCoreTile {
    static_assert(BM % WM == 0 && BN % WN == 0 && WM % 16 == 0 && WN % 8 == 0 && BK % 8 == 0,
                  "whole warp tiles of whole 16 x 8 x 8 mma tiles");
    static_assert(BM % 32 == 0 && BN % 32 == 0, "row strides of 8 mod 32 (see above)");
    static constexpr int BLOCK_M = BM, BLOCK_N = BN, BLOCK_K = BK, NTHREADS = (BM / WM) * (BN / WN) * 32;
    static constexpr bool A_TILE_K_CONTIGUOUS = A_K, B_TILE_K_CONTIGUOUS = B_K;
    static constexpr int A_STRIDE = A_K ? BK + 4 : BM + 8, B_STRIDE = B_K ? BK + 4 : BN + 8;
    static constexpr int A_FLOATS = A_K ? BM * A_STRIDE : BK * A_STRIDE;  // one K-tile's tile
    static constexpr int B_FLOATS = B_K ? BN * B_STRIDE : BK * B_STRIDE;
    __device__ static __forceinline__ int a_index(int m, int k) { return tile_index<A_K, A_STRIDE>(m, k); }
    __device__ static __forceinline__ int b_index(int n, int k) { return tile_index<B_K, B_STRIDE>(n, k); }
    static constexpr int MI = WM / 16, NI = WN / 8;
    const int warp_m = (threadIdx.x / 32 / (BN / WN)) * WM, warp_n = (threadIdx.x / 32 % (BN / WN)) * WN;
    const int g = threadIdx.x % 32 / 4, t = threadIdx.x % 4;
    float acc[MI][NI][4] = {};

    template <class Load>
    __device__ __forceinline__ void accumulate_tiles(Load load, int k_begin, int k_end)
    {
        shared_tile_loop<BK, A_FLOATS, B_FLOATS>(
            load, [&](const float* as, const float* bs) { compute(as, bs); }, k_begin, k_end);
    }

    // The warp's mma over one K-tile of the shared tiles (k-major, as[k][m] and bs[k][n], but at rung 6).
    __device__ __forceinline__ void compute(const float* as, const float* bs)
    {
#pragma unroll
        for (int k = 0; k < BK; k += 8)
            warp_mma_k8<SPLIT>(
                acc,
                [&](int mi, int h, int kk) { return tile_at<A_K, A_STRIDE>(as, warp_m + mi * 16 + g + 8 * h, kk); },
                [&](int ni, int kk) { return tile_at<B_K, B_STRIDE>(bs, warp_n + ni * 8 + g, kk); }, k, t);
    }

    // acc[mi][ni][r] is C(m0 + warp_m + mi * 16 + g + 8 (r / 2), n0 + warp_n + ni * 8 + 2t + r % 2).
    __device__ __forceinline__ void store(float* __restrict__ c, const float* __restrict__ bias, int m0, int n0,
                                          int M, int N, float alpha, float beta, int flags) const
    {
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
            for (int ni = 0; ni < NI; ++ni)
#pragma unroll
                for (int r = 0; r < 4; ++r)
                    store_output(c, bias, m0 + warp_m + mi * 16 + g + 8 * (r / 2), n0 + warp_n + ni * 8 + 2 * t + r % 2,
                                 M, N, acc[mi][ni][r], alpha, beta, flags);
    }

    // The raw sums into one slice of split-K's workspace (rows of N4 floats), element by element;
    // columns from N to N4 are left as they are, and gemm_split_k_reduce never stores them.
    __device__ __forceinline__ void store_partials(float* __restrict__ slice, int m0, int n0, int M, int N,
                                                   int N4) const
    {
#pragma unroll
        for (int mi = 0; mi < MI; ++mi)
#pragma unroll
            for (int ni = 0; ni < NI; ++ni)
#pragma unroll
                for (int r = 0; r < 4; ++r) {
                    const int m = m0 + warp_m + mi * 16 + g + 8 * (r / 2), n = n0 + warp_n + ni * 8 + 2 * t + r % 2;
                    if (m < M && n < N) slice[(long long)m * N4 + n] = acc[mi][ni][r];
                }
    }
};

template <int BM, int BN, int BK, int WM, int WN>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, 1)
conv2d_forward_implicit_gemm_3xtf32(const float* __restrict__ x, const float* __restrict__ w,
                                    const float* __restrict__ bias, float* __restrict__ y, CONV_SHAPE_PARAMS, int flags)
{
    forward_precomputed<TensorCoreTile<BM, BN, BK, WM, WN>>(x, w, bias, y, CONV_SHAPE, flags);
}

template <int BM, int BN, int BK, int WM, int WN>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, 1)
conv2d_backward_data_implicit_gemm_3xtf32(const float* __restrict__ dy, const float* __restrict__ w,
                                          float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    backward_data_precomputed<TensorCoreTile<BM, BN, BK, WM, WN>>(dy, w, dx, CONV_SHAPE);
}

template <int BM, int BN, int BK, int WM, int WN>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, 1)
conv2d_backward_filter_implicit_gemm_3xtf32(const float* __restrict__ x, const float* __restrict__ dy,
                                            float* __restrict__ dw, float* __restrict__ partials, CONV_SHAPE_PARAMS,
                                            int k_per_split)
{
    backward_filter_precomputed<TensorCoreTile<BM, BN, BK, WM, WN>>(x, dy, dw, partials, CONV_SHAPE, k_per_split);
}

// ---------------------------------------------------------------------------------------------
// 5. Rung 4 pipelined: the next K-tiles' copies in flight while this one is computed.
// Idea: rung 4's warps wait for every K-tile's loads, then its loaders wait for the mma; nothing
// overlaps. Here the loaders are the same three bodies, but each element goes to shared memory by
// a 4-byte cp.async (AsyncCopy: a source size of 0 writes the zero of padding), and the tile keeps
// STAGES buffers: GEMM rung 7's pipelined_mainloop issues the copies of K-tile t + STAGES - 1, then
// computes K-tile t, whose copies were issued STAGES - 1 K-tiles ago. The loaders still compute
// every gather's address and bounds, as rung 3's do; only the wait for the data moves off the
// critical path. 4-byte copies, since a gathered element's neighbours in the tile are not
// neighbours in memory (16-byte copies would need C % 4 == 0 and runs of 4 channels of one tap).
// Expected bottleneck: issue. Each thread issues a K-tile's (BM + BN) x BK / 128 copies, every one
// an instruction and its address arithmetic (16 per K-tile at 64 x 64 x 16), against 3 x 4 x 2 x 2 = 48
// mma per warp; where rung 4 waited on memory (the deep layers' long K) this should come closer
// to GEMM rung 8's 3xTF32 (85.9% of cuBLAS FP32 at 4096^3, H200, gemm.json, ac366b0). The seed layer's
// forward, a single K-tile (depth 9), gains nothing: there is nothing to overlap.
// Edges: the loaders' (rung 3's); the pipeline's empty groups past the last K-tile (pipelined_mainloop).
// Shared memory: STAGES x (BK x (BM + 8) + BK x (BN + 8)) floats, 27,648 bytes (64 x 64) or 33,792
// (128 x 32) at 3 stages, dynamic since rung 7 (PipelinedTensorCoreTile); the loaders' corners, static,
// add 1,024 and 2,048 (ptxas). (4 stages fit too; not tried on a GPU.)
// Registers: asked for one block per SM, as rung 4, ptxas (13.0, sm_90) gave these 158-173, which
// fits two blocks of 128 threads per SM; asked for three (__launch_bounds__'s second argument), it
// gives 145-160 and spills nothing, so three blocks run, as rung 4's do.
// Precision: SPLIT = true is 3xTF32, FP32-accurate (the variant implicit_gemm_3xtf32_pipelined).
// SPLIT = false takes one TF32 mma per product, a third of the tensor-core work, at TF32's accuracy
// (a relative error near 1e-3, as cuDNN's convolutions in PyTorch by default, which allows them
// TF32): the variant implicit_gemm_tf32_pipelined, which the autotuner never picks (it holds every
// candidate to FP32's accuracy) and benchmarks/conv2d.py compares with cuDNN in TF32. Expected
// bottleneck there: the copies' issue even more than at SPLIT = true, with a third of the mma.
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// / filter gradient. SPLIT = true (cuDNN FP32's time over ours): seed 6.8 (1.21) / 75.2 (0.22) / 19.0
// (2.27); cifar 500.6 (0.56) / 674.2 (0.58) / 575.1 (0.72); 1x1 101.5 (1.01) / 118.0 (0.98) / 107.6
// (0.80); vgg 1453.7 (0.64) / 1923.1 (0.35) / 2048.9 (0.13). The prediction missed: the cifar and vgg
// forwards run 19.3 and 20.4 TFLOP/s, 39% and 41% of cuBLAS FP32, under half of GEMM rung 8's 3xTF32
// (gemm_3xtf32_mma: 42.3 TFLOP/s, 85.9% at 4096^3, gemm.json, same run), and 4% and 14% faster than
// rung 3 on the FP32 cores (523.4 and 1692.8 us; at ac366b0 rung 3 was the faster). It was the fastest
// FP32-accurate filter gradient on every layer until rung 6, ahead of rung 3 by 1.2x (cifar) to 1.4x
// (1x1, vgg).
// SPLIT = false, plain TF32 (cuDNN TF32's time over ours): seed 6.7 (0.90) / 68.8 (0.20) / 16.8
// (2.55); cifar 361.5 (0.15) / 483.8 (0.12) / 362.0 (0.30); 1x1 79.7 (0.29) / 97.1 (0.24) / 69.9
// (0.42); vgg 1050.2 (0.07) / 1565.4 (0.06) / 1600.8 (0.12); error 2.4e-4 to 2.6e-4 (cuDNN TF32's
// 2.6e-4 to 7.1e-4 on the three larger layers). Far behind: the vgg forward runs 28.2 TFLOP/s, 7% of
// cuBLAS TF32 (403.1), where cuDNN TF32 runs 381.7. Not bound by the mma, as expected: with a third of
// SPLIT = true's mma it takes 0.63 to 0.82 of its time (1.2x to 1.6x faster) on the three larger
// layers. The cifar and 1x1 filter gradients ran 22% and 24% faster than at ac366b0 (464.9 and 91.9
// us, another H200), which these files do not explain. That the copies' issue, rather than the
// gathers' latency, bounds it, no counter has shown; rung 6, which issues a quarter of the copies,
// runs 1.1x to 2.3x faster on cifar and vgg (see there).
// The STAGES buffers are the launch's dynamic shared memory, STAGES x (A_FLOATS + B_FLOATS) floats
// (ConvTile.shared_bytes in cnn_gpu/ops/conv2d.py): rung 7's tiles take more than the 48 KB a static
// array may.
template <int BM, int BN, int BK, int WM, int WN, int STAGES, bool SPLIT, bool A_K = false, bool B_K = false>
struct PipelinedTensorCoreTile : TensorCoreTile<BM, BN, BK, WM, WN, SPLIT, A_K, B_K> {
    using Base = TensorCoreTile<BM, BN, BK, WM, WN, SPLIT, A_K, B_K>;
    // A multiple of 4 floats (each tile's rows are), so every stage starts 16-byte aligned.
    static constexpr int STAGE_FLOATS = Base::A_FLOATS + Base::B_FLOATS;

    template <class Load>
    __device__ __forceinline__ void accumulate_tiles(Load load, int k_begin, int k_end)
    {
        extern __shared__ float4 conv_stages[];
        float* const stages = reinterpret_cast<float*>(conv_stages);
        auto a_tile = [&](int stage) { return stages + stage * STAGE_FLOATS; };
        auto b_tile = [&](int stage) { return stages + stage * STAGE_FLOATS + Base::A_FLOATS; };
        pipelined_mainloop<STAGES>(
            (k_end - k_begin + BK - 1) / BK,
            [&](int stage, int t) { load(a_tile(stage), b_tile(stage), k_begin + t * BK); },
            [&](int stage) { this->compute(a_tile(stage), b_tile(stage)); });
    }
};

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
conv2d_forward_implicit_gemm_tf32_pipelined(const float* __restrict__ x, const float* __restrict__ w,
                                            const float* __restrict__ bias, float* __restrict__ y,
                                            CONV_SHAPE_PARAMS, int flags)
{
    forward_precomputed<PipelinedTensorCoreTile<BM, BN, BK, WM, WN, STAGES, SPLIT>, AsyncCopy>(x, w, bias, y,
                                                                                              CONV_SHAPE, flags);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
conv2d_backward_data_implicit_gemm_tf32_pipelined(const float* __restrict__ dy, const float* __restrict__ w,
                                                  float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    backward_data_precomputed<PipelinedTensorCoreTile<BM, BN, BK, WM, WN, STAGES, SPLIT>, AsyncCopy>(dy, w, dx, CONV_SHAPE);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
conv2d_backward_filter_implicit_gemm_tf32_pipelined(const float* __restrict__ x, const float* __restrict__ dy,
                                                    float* __restrict__ dw, float* __restrict__ partials,
                                                    CONV_SHAPE_PARAMS, int k_per_split)
{
    backward_filter_precomputed<PipelinedTensorCoreTile<BM, BN, BK, WM, WN, STAGES, SPLIT>, AsyncCopy>(
        x, dy, dw, partials, CONV_SHAPE, k_per_split);
}

// ---------------------------------------------------------------------------------------------
// 6. Rung 5 with 16-byte copies: four channels of one pixel a copy.
// Idea: rung 5's loaders issue a 4-byte cp.async for every element of its tiles, each after its own
// address arithmetic and bounds checks. But NHWC keeps a pixel's channels side by side: where the
// channel count is a multiple of 4 (and the array starts 16-byte aligned: nhwc.cuh's
// channel_quads_fit, which the wrapper asks as channels_in_quads, else it runs rung 5), four
// consecutive channels of one tap are 16 contiguous, aligned bytes, in or out of the image together,
// so one 16-byte cp.async with one address and one bounds check moves them (the same loaders, VEC
// = 4). The GEMM's depth runs along those channels in the forward (x's C: X_cols is k-contiguous)
// and the data gradient (dy's and w's K: both dY_taps and W' are), and its rows along x's C in the
// filter gradient (X_cols^T is mn-contiguous). So the tiles take those operands' layouts: the
// forward's A, and both of the data gradient's, are k-contiguous here (TensorCoreTile's A_K and
// B_K: s[mn][k], rows BK + 4 apart, where four consecutive k are adjacent and 16-byte aligned), the
// others k-major as in rung 5, whose rows four consecutive m are. The stored matrices' tiles (W in
// the forward, dY in the filter gradient) take GEMM's 16-byte copies where the filter count K is a
// multiple of 4. Otherwise each tile falls back to rung 5's 4-byte copies, in the same layout.
// Expected bottleneck: rung 5's was the copies' issue (its Measured line): a 64 x 64 x 16 K-tile's 16
// copies a thread become 4, each with one address. Then the mma and their operands' splits and
// shared-memory reads, as in GEMM rung 8 (3xTF32 at 85.9% of cuBLAS FP32 at 4096^3, H200, gemm.json,
// ac366b0): the forwards and data gradients of cifar_conv2 and deepbench_vgg_28 (C and K multiples of
// 4) expected at 1.3-2x rung 5's speed. Nothing gained where C = 1 (the seed layer's x) but in its
// filter count.
// Edges: rung 5's; a quad is wholly inside or outside the image (its channels share a pixel) and the
// depth (R * S * C and R * S * K are multiples of 4 when its channels are); W's and dY's tiles clip
// at K with the copy's source size (copy_tile_async_recomputed).
// The sums are rung 5's, term for term and in the same order, in the same tensor-core instructions:
// rung 6 gives rung 5's bits (tests/ops/test_conv2d_kernels.py holds it to that, in emulation).
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// / filter gradient. 3xTF32 (cuDNN FP32's time over ours): seed 6.9 (1.19) / 34.1 (0.49) / 18.8 (2.29);
// cifar 349.3 (0.80) / 360.0 (1.08) / 419.6 (0.99); 1x1 80.2 (1.28) / 66.0 (1.76) / 80.1 (1.08); vgg
// 991.7 (0.94) / 1013.2 (0.66) / 1429.7 (0.18). Plain TF32 (cuDNN TF32's): seed 6.7 (0.90) / 27.8
// (0.51) / 16.8 (2.56); cifar 230.5 (0.23) / 222.4 (0.25) / 330.1 (0.33); 1x1 61.8 (0.38) / 49.7
// (0.47) / 65.6 (0.45); vgg 631.2 (0.12) / 673.4 (0.14) / 944.7 (0.21). The prediction held, and
// more: over rung 5 the cifar and vgg forwards and data gradients run 1.43x to 1.90x faster in 3xTF32
// and 1.57x to 2.32x in plain TF32 (the data gradients the most), their filter gradients 1.10x to
// 1.69x; the 3xTF32 forwards (27.7 and 29.8 TFLOP/s, 56% and 61% of cuBLAS FP32) pass rung 3's. So the
// copies' issue was rung 5's bound. The seed layer's data gradient gains 2.2x and 2.5x (its depth runs
// along the 32 filters, in quads); its forward and filter gradient are rung 5's (C = 1: no quads).
// Every pass's error equals rung 5's, as the bits should.
template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
conv2d_forward_implicit_gemm_tf32_quads(const float* __restrict__ x, const float* __restrict__ w,
                                        const float* __restrict__ bias, float* __restrict__ y, CONV_SHAPE_PARAMS,
                                        int flags)
{
    forward_precomputed<PipelinedTensorCoreTile<BM, BN, BK, WM, WN, STAGES, SPLIT, true, false>, AsyncCopy, 4>(
        x, w, bias, y, CONV_SHAPE, flags, channel_quads_fit(w, K));
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
conv2d_backward_data_implicit_gemm_tf32_quads(const float* __restrict__ dy, const float* __restrict__ w,
                                              float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    backward_data_precomputed<PipelinedTensorCoreTile<BM, BN, BK, WM, WN, STAGES, SPLIT, true, true>, AsyncCopy, 4>(
        dy, w, dx, CONV_SHAPE);
}

template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, bool SPLIT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
conv2d_backward_filter_implicit_gemm_tf32_quads(const float* __restrict__ x, const float* __restrict__ dy,
                                                float* __restrict__ dw, float* __restrict__ partials,
                                                CONV_SHAPE_PARAMS, int k_per_split)
{
    backward_filter_precomputed<PipelinedTensorCoreTile<BM, BN, BK, WM, WN, STAGES, SPLIT>, AsyncCopy, 4>(
        x, dy, dw, partials, CONV_SHAPE, k_per_split, channel_quads_fit(dy, K));
}

// ---------------------------------------------------------------------------------------------
// 7. Rung 6 on large tiles: no new code, rung 6's kernels on GEMM rung 8's 3xTF32 block tile.
// Idea: rung 6's 64 x 64 block of four 32 x 32 warps is gemm_split_k's tile, not a tensor-core one.
// Its block copies (64 + 64) x BK elements a K-tile for 64 x 64 x BK multiply-adds, and each warp
// reads (32 / 16) x 4 + (32 / 8) x 2 = 16 words a lane from shared memory a k8-step for 2 x 4 = 8 mma
// tiles. GEMM rung 8 computes 128 x 128 a block, in 8 warps of 64 x 32 for 3xTF32 (gemm_tensorcore.cu:
// TF32X3_TILING; its 64 x 64 warps spill there): half the copies a multiply-add, and 4 x 4 + 4 x 2 = 24
// words a lane for 4 x 4 = 16 mma tiles, 1.5 a tile where rung 6 reads 2. The variants
// implicit_gemm_3xtf32_large and implicit_gemm_tf32_large run rung 6's kernels on that tile, and on
// 128 x 64 (4 such warps) where the GEMM's N is 64 or fewer (cnn_gpu/ops/conv2d.py, LARGE_3XTF32_TILES).
// 3 stages of a 128 x 128 x 16 K-tile take 52,224-61,440 bytes (ConvTile.shared_bytes), past the
// 49,152 a static array may have: PipelinedTensorCoreTile's stages are dynamic shared memory at every rung.
// Expected bottleneck: as rung 6's, the copies' issue and the gathers' latency, with half the copies
// a multiply-add; then the mma and their operands' splits, as GEMM rung 8 (3xTF32 at 85.9% of cuBLAS
// FP32, plain TF32 143.6 TFLOP/s at 4096^3, H200, gemm.json, ac366b0). Expected on cifar_conv2's and
// deepbench_vgg_28's forwards and data gradients (GEMM N = K or C of 64 to 512): 1.3-2x rung 6's
// speed, the plain TF32 ones the most (their mma are a third of 3xTF32's, so the copies weigh more);
// nothing gained on the seed layer (one K-tile, N = 32), where the 128 x 64 tile pads half its columns.
// What could undo it: one block of 8 warps an SM (3xTF32 on the large tile) hides the gathers'
// latency worse than rung 6's three blocks of 4; the autotuner then keeps rung 6.
// Edges: rung 6's.
// Registers (ptxas 13.0, no spills; sm_90, then sm_80): 3xTF32 213-214 (219-235) on the 128 x 128 tile
// (one block of 256 threads an SM), 222-227 (233-243) on 128 x 64 (two of 128); plain TF32 113-125
// (105-123) and 132-142 (118-128), two blocks an SM. 3xTF32 asked for two blocks of 256 threads spills
// (28-72 bytes).
// The sums are rung 6's, term for term (the same k order in every output's chain), so rung 7 gives rung
// 5's bits too (tests/ops/test_conv2d_kernels.py).
// Measured (NVIDIA H200, benchmarks/results/conv2d.json, commit 27bd7f2), us, forward / data gradient
// / filter gradient. 3xTF32 (cuDNN FP32's time over ours): seed 6.7 (1.23) / 44.2 (0.38) / 18.9 (2.27);
// cifar 276.8 (1.01) / 349.6 (1.11) / 320.9 (1.30); 1x1 91.1 (1.13) / 77.8 (1.49) / 120.9 (0.72); vgg
// 845.9 (1.10) / 1182.4 (0.56) / 965.1 (0.27). Plain TF32 (cuDNN TF32's): seed 6.4 (0.94) / 32.6
// (0.43) / 16.9 (2.55); cifar 157.3 (0.33) / 208.0 (0.27) / 215.1 (0.51); 1x1 56.1 (0.42) / 40.7
// (0.57) / 62.8 (0.47); vgg 420.0 (0.18) / 518.5 (0.19) / 440.8 (0.45). The prediction held in part:
// over rung 6 the plain TF32 forwards run 1.47x (cifar) and 1.50x (vgg) faster, the most, as
// expected, but their data gradients 1.07x and 1.30x, and in 3xTF32 the forwards 1.26x and 1.17x, the
// data gradients 1.03x and 0.86x (vgg's slower); on the 1x1 layer every 3xTF32 pass is slower, 1.14x to
// 1.51x rung 6's time. The filter gradients gained most: 1.31x and 1.48x in
// 3xTF32, 1.53x and 2.14x in plain TF32. On cifar this rung is the first FP32-accurate one past cuDNN
// FP32 in all three passes (1.01 to 1.30; its forward 34.9 TFLOP/s, 71% of cuBLAS FP32). The seed
// layer's data gradient lost (1.30x and 1.17x rung 6's time), the rest of that layer is rung 5's.
// Errors equal rung 6's but where the filter gradient's split differs (cifar, 1x1, vgg). Whether one
// block of 8 warps an SM holds 3xTF32's vgg data gradient back, no counter has shown.
