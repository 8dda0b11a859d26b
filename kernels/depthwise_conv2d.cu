// Depthwise 2-D convolution, float32, NHWC, forward and both backward passes, for any stride,
// padding, dilation and depth multiplier M: each input channel c has M filters of its own, and
// output channel k = c * M + m is filter m of channel c (Keras's DepthwiseConv2D, PyTorch's conv2d
// with groups = C).
//
//   x (N, H, W, C), w (R, S, C, M), y (N, P, Q, K) with K = C * M, and the shape scalars of
//   conv_shape.cuh (their K is C * M; the kernels find M as K / C)
//   forward          y[n, p, q, cM + m] = sum over r, s of x[n, p*sh - pad_h + r*dh, q*sw - pad_w + s*dw, c]
//                                                       * w[r, s, c, m]
//   backward data    dx[n, h, w, c]     = sum over m and the taps (r, s) of outputs (p, q) that read
//                                         (h, w) of dy[n, p, q, cM + m] w[r, s, c, m]
//   backward filter  dw[r, s, c, m]     = sum over n, p, q of x[the tap (r, s) of output (n, p, q), c]
//                                                             * dy[n, p, q, cM + m]
//
// A lesson in a convolution that is not a matrix product. With one input channel per filter, an
// output takes R * S multiply-adds, not R * S * C: where conv2d.cu's passes are GEMMs bound by
// arithmetic, these are bound by memory, like pooling (pool.cu). The floor is reading x once and
// writing y once at copy bandwidth; what costs more is reading each input element again for every
// window that covers it (R * S times at stride 1). The ladder:
//   1. depthwise_conv2d_*_direct      one thread per output element (of y, dx or dw), the sums as
//                                     loops over the window: every reuse is left to L1 and L2
//   2. depthwise_conv2d_*_smem_tile   a block per tile of the image and 32 channels: the tile's
//                                     inputs (forward, filter gradient) or output gradients (data
//                                     gradient), halo included, read into shared memory once and
//                                     used by every window of the tile; the filter gradient sums
//                                     a tile's products in shared memory and leaves one partial sum
//                                     per tile, which reduce.cu's column sums add up
//
// Measured (NVIDIA H200, benchmarks/results/depthwise_conv2d.json, commit 27bd7f2; CUDA-graph
// replay), both rungs on four layers, 3 x 3 windows, 'same': a = mobilenet_56x56x128, x 64x56x56x128;
// b = mobilenet_113x113x32_s2, x 64x113x113x32 at stride 2; c = mobilenet_14x14x512, x 128x14x14x512;
// d = multiplier2_56x56x64, x 64x56x56x64 with M = 2. Each rung's "Measured" line gives microseconds
// a pass, forward / data gradient / filter gradient, and in brackets cuDNN's time over ours (above
// 1: ours faster; PyTorch's grouped convolution, channels_last, TF32 off, cudnn.benchmark on). Bytes
// counted: 4 (|x| + |w| + |y|) a pass, against the file's copy bandwidth, 4180 GB/s. cuDNN's own:
// a 70.4 / 80.8 / 57.6 (70%, 61%, 85% of copy), b 33.4 / 129.4 / 108.0 (94%, 24%, 29%), c 37.4 /
// 42.3 / 40.4 (66%, 58%, 61%), d 1334.2 / 1040.0 / 1879.9 (3%, 4%, 2%): 24% to 94% of copy
// bandwidth with one filter a channel, 4% at most with two. Ours (the better rung of each pass, rung
// 2 everywhere) is 0.16 to 0.94 of cuDNN where M = 1, and 3.9 to 12.2x faster than it where M = 2;
// the best of ours reaches 44% of copy bandwidth. Every pass of both rungs passed its check.
// Wrappers: cnn_gpu/ops/depthwise_conv2d.py. Tests: tests/ops/test_depthwise_conv2d.py. Benchmark:
// benchmarks/depthwise_conv2d.py.

#include "conv_shape.cuh"
#include "gemm_common.cuh"
#include "nhwc.cuh"

// ---------------------------------------------------------------------------------------------
// 1. Direct: one thread per output element, a grid-stride loop over them.
// Idea: the formulas above as loops. The channel is the fastest index of the outputs and of the
// threads, so a warp's loads of x, dy and w and its stores are coalesced (with M = 1; with M > 1,
// M consecutive threads share one input channel).
// Expected bottleneck: the forward and data gradient read R * S inputs per output, and neighbouring
// outputs' windows overlap: L1 and L2 catch most of the overlap, so the load instructions, not DRAM,
// should bound them. The filter gradient has R * S * C * M threads (288 for 3 x 3 over 32 channels),
// each summing over all N * P * Q outputs: most of the GPU idles.
// Edges: taps that fall on padding are skipped.
// Measured (NVIDIA H200, benchmarks/results/depthwise_conv2d.json, commit 27bd7f2), us (cuDNN's time
// over ours): a 541.5 (0.13) / 662.1 (0.12) / 37337.8 (0.002); b 157.3 (0.21) / 611.8 (0.21) /
// 41448.0 (0.003); c 268.8 (0.14) / 320.1 (0.13) / 4817.5 (0.008); d 543.0 (2.46) / 350.1 (2.97) /
// 37321.2 (0.05). As expected, not DRAM: the forward and data gradient move 5% to 20% of copy
// bandwidth. The filter gradient's few threads leave the GPU idle, as expected: 37.3 ms on a,
// 5.5 GB/s.
// At ac366b0 (depthwise_conv2d.json, another H200) this rung's forward on b (stride 2) was faster than
// rung 2's (157.9 against 199.9 us); since rung 2 loads its patch 16 bytes a lane, it is not (157.3
// against 70.9).
extern "C" __global__ void depthwise_conv2d_forward_direct(const float* __restrict__ x, const float* __restrict__ w,
                                                           const float* __restrict__ bias, float* __restrict__ y,
                                                           CONV_SHAPE_PARAMS, int flags)
{
    const ConvShape g = CONV_SHAPE;
    const int M = g.K / g.C;
    const long long total = (long long)g.N * g.P * g.Q * g.K;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord o = channel_fastest(i, g.P, g.Q, g.K);  // output (n, p, q, k)
        const int c = o.c / M;
        float acc = 0.0f;
        for (int r = 0; r < g.R; ++r) {
            const int h = input_index(o.row, r, g.stride_h, g.pad_h, g.dil_h);
            if (h < 0 || h >= g.H) continue;
            for (int s = 0; s < g.S; ++s) {
                const int col = input_index(o.col, s, g.stride_w, g.pad_w, g.dil_w);
                if (col < 0 || col >= g.W) continue;
                acc += x[nhwc_offset(o.n, h, col, c, g.H, g.W, g.C)] * w[(r * g.S + s) * g.K + o.c];
            }
        }
        y[i] = epilogue(acc, 0.0f, bias, o.c, 1.0f, 0.0f, flags);
    }
}

extern "C" __global__ void depthwise_conv2d_backward_data_direct(const float* __restrict__ dy,
                                                                 const float* __restrict__ w, float* __restrict__ dx,
                                                                 CONV_SHAPE_PARAMS)
{
    const ConvShape g = CONV_SHAPE;
    const int M = g.K / g.C;
    const long long total = (long long)g.N * g.H * g.W * g.C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord e = channel_fastest(i, g.H, g.W, g.C);  // input element (n, h, w, c)
        dx[i] = data_gradient_sum(dy, g, e, e.c * M, M, [&](int r, int s) {  // w[r, s, c, :], M filters
            return w + (r * g.S + s) * g.K + e.c * M;
        });
    }
}

extern "C" __global__ void depthwise_conv2d_backward_filter_direct(const float* __restrict__ x,
                                                                   const float* __restrict__ dy,
                                                                   float* __restrict__ dw, CONV_SHAPE_PARAMS)
{
    const ConvShape g = CONV_SHAPE;
    const int M = g.K / g.C;
    const int total = g.R * g.S * g.K;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        const int k = i % g.K, tap = i / g.K, r = tap / g.S, s = tap % g.S;  // dw[r, s, c, m] is dw[tap, k]
        dw[i] = filter_gradient_sum(x, dy, g, r, s, k / M, k);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Shared-memory tiles: a block of 32 x TILE_ROWS threads takes TILE_ROWS x TILE_COLS pixels of one
// image and 32 input channels (blockIdx.y's slab), lane l on channel c0 + l; thread row ty works on
// tile row ty, TILE_COLS pixels of it.
// Idea: read what the tile's windows share once. The forward's TILE_ROWS x TILE_COLS outputs read
// a patch of ((TILE_ROWS - 1) sh + (R - 1) dh + 1) x ((TILE_COLS - 1) sw + (S - 1) dw + 1) input
// pixels: 10 x 10 for 8 x 8 outputs of a 3 x 3 window at stride 1, 1.56 reads an input where rung 1
// issues 9. The patch goes into shared memory once, a warp per pixel (32 channels: 128 contiguous
// bytes); each window then reads shared memory only, lane l at bank l (no conflicts).
// The data gradient does the same with the output gradients its tile's inputs receive from; the
// filter gradient reads the forward's patch and the tile's dy, and thread row ty sums the taps
// ty, ty + TILE_ROWS, ... over the tile's pixels into one partial sum per tile and weight, a row of
// `partials` (tiles x R * S * K); the wrapper sums those rows with reduce.cu's column sum.
// Expected bottleneck: DRAM, at the patch's overhead over reading x once (1.56x for 3 x 3 at
// stride 1, whatever the image's size: the halo is per tile), plus the barrier between loading and
// computing, which other resident blocks cover. With M > 1, lane l reads dy (or writes y) at channel
// (c0 + l) M + m: M apart, so those stores lose coalescing and the shared dy reads take bank
// conflicts.
// Edges: the patch's pixels outside the image, and channels past C, are loaded as zeros, and the
// outputs past P, Q or C are not stored; a patch must fit shared memory (the wrapper checks; rung 1
// takes what does not).
// Measured (NVIDIA H200, benchmarks/results/depthwise_conv2d.json, commit 27bd7f2), us (cuDNN's time
// over ours): a 143.4 (0.49) / 445.5 (0.18) / 249.2 (0.23); b 70.9 (0.47) / 377.3 (0.34) / 114.4
// (0.94); c 91.2 (0.41) / 256.8 (0.16) / 151.8 (0.27); d 109.2 (12.21) / 269.3 (3.86) / 201.0 (9.35).
// The prediction missed: not DRAM-bound. The forward moves 27% to 44% of copy bandwidth (1433 GB/s
// on a), the data gradient 8% to 14%, the filter gradient, its partial sums and their column sum
// included, 16% to 27%; the halo's re-reads (1.56 reads of x at stride 1), even all from DRAM, add
// at most 28% to a's bytes. Faster than rung 1 everywhere, and 32x (c) to 362x (b) faster on the
// filter gradient. The data do not say what bounds it (the barrier, the per-thread loop over
// TILE_COLS pixels, occupancy): no counters were taken. With M = 2 (d) it is the fastest of all: 34%
// of copy where cuDNN reaches 3%.
// The forward and the filter gradient load their input patch 16 bytes a lane where x's channels come
// in aligned quads (load_input_patch): four pixels a warp instruction where a warp took one. At
// ac366b0 (depthwise_conv2d.json, another H200), before that, the forward took 272.2 / 199.9 / 168.6
// / 172.3 us on a / b / c / d and the filter gradient 302.8 / 209.1 / 190.5 / 221.8: the quads made
// the forward 1.6x to 2.8x faster and the filter gradient 1.1x to 1.8x, where the data gradient (its
// dy patch still 4 bytes a lane) and rung 1 moved under 1%. So the patch's loads were a large part
// of what bound the forward.
#define DW_LANES 32

// The patch of `rows` x `cols` pixels whose first is (h0, w0) of image n (negative in the padding),
// `channels` channels a pixel from channel `c0` of an array of `C` channels: patch[(row * cols +
// col) * channels + j] = a[n, h0 + row, w0 + col, c0 + j], zero outside the image or past channel C.
// A warp loads a pixel's channels at a time, from one contiguous run.
__device__ __forceinline__ void load_patch(const float* __restrict__ a, float* patch, int n, int h0, int w0,
                                           int rows, int cols, int c0, int channels, int H, int W, int C)
{
    for (int pixel = threadIdx.y; pixel < rows * cols; pixel += blockDim.y) {
        const int h = h0 + pixel / cols, col = w0 + pixel % cols;
        const bool inside = h >= 0 && h < H && col >= 0 && col < W;
        for (int j = threadIdx.x; j < channels; j += DW_LANES)
            patch[pixel * channels + j] = inside && c0 + j < C ? a[nhwc_offset(n, h, col, c0 + j, H, W, C)] : 0.0f;
    }
}

// The forward's and the filter gradient's input patch: load_patch of x's DW_LANES channels from c0.
// Where x's channels come in aligned quads (channel_quads_fit), a warp takes four pixels at a time,
// a quad of channels a lane, 16 bytes a load and a store where load_patch moves 4 (a quad wholly
// inside C or past it): a quarter of the instructions, and the same values.
__device__ __forceinline__ void load_input_patch(const float* __restrict__ x, float* patch, int n, int h0, int w0,
                                                 int rows, int cols, int c0, int H, int W, int C)
{
    if (!channel_quads_fit(x, C)) {
        load_patch(x, patch, n, h0, w0, rows, cols, c0, DW_LANES, H, W, C);
        return;
    }
    constexpr int QUADS_A_PIXEL = DW_LANES / 4;
    for (int i = threadIdx.y * DW_LANES + threadIdx.x; i < rows * cols * QUADS_A_PIXEL; i += DW_LANES * blockDim.y) {
        const int pixel = i / QUADS_A_PIXEL, c = c0 + i % QUADS_A_PIXEL * 4;
        const int h = h0 + pixel / cols, col = w0 + pixel % cols;
        const bool inside = h >= 0 && h < H && col >= 0 && col < W && c < C;
        const float* quad = x + nhwc_offset(n, h, col, c, H, W, C);
        reinterpret_cast<float4*>(patch)[i] =
            inside ? *reinterpret_cast<const float4*>(quad) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
}

// The tile of blockIdx.x: image n and the first row and column of its TILE_ROWS x TILE_COLS pixels
// of an (rows x cols) grid of them.
struct ImageTile {
    int n, row0, col0;
};

template <int TILE_ROWS, int TILE_COLS>
__device__ __forceinline__ ImageTile image_tile(int rows, int cols)
{
    const int tiles_across = (cols + TILE_COLS - 1) / TILE_COLS, tiles_down = (rows + TILE_ROWS - 1) / TILE_ROWS;
    const int tile = blockIdx.x;
    return ImageTile{tile / (tiles_across * tiles_down), tile / tiles_across % tiles_down * TILE_ROWS,
                     tile % tiles_across * TILE_COLS};
}

// The floor of a / b for b > 0 and any a (C++'s division rounds toward zero).
__device__ __forceinline__ int floor_div(int a, int b) { return a >= 0 ? a / b : -((b - 1 - a) / b); }

template <int TILE_ROWS, int TILE_COLS>
__global__ void __launch_bounds__(DW_LANES * TILE_ROWS)
    depthwise_conv2d_forward_smem_tile(const float* __restrict__ x, const float* __restrict__ w,
                                       const float* __restrict__ bias, float* __restrict__ y, CONV_SHAPE_PARAMS,
                                       int flags)
{
    extern __shared__ float patch[];  // [patch row][patch column][DW_LANES channels]
    const ConvShape g = CONV_SHAPE;
    const int M = g.K / g.C;
    const ImageTile t = image_tile<TILE_ROWS, TILE_COLS>(g.P, g.Q);
    const int c0 = blockIdx.y * DW_LANES;
    const int cols = (TILE_COLS - 1) * g.stride_w + (g.S - 1) * g.dil_w + 1;
    load_input_patch(x, patch, t.n, t.row0 * g.stride_h - g.pad_h, t.col0 * g.stride_w - g.pad_w,
                     (TILE_ROWS - 1) * g.stride_h + (g.R - 1) * g.dil_h + 1, cols, c0, g.H, g.W, g.C);
    __syncthreads();

    const int lane = threadIdx.x, c = c0 + lane, p = t.row0 + threadIdx.y;
    if (c >= g.C || p >= g.P) return;  // after the block's only barrier
    for (int m = 0; m < M; ++m) {
        float acc[TILE_COLS] = {};
        for (int r = 0; r < g.R; ++r)
            for (int s = 0; s < g.S; ++s) {
                const float tap = w[(r * g.S + s) * g.K + c * M + m];
                const float* row = patch + ((threadIdx.y * g.stride_h + r * g.dil_h) * cols + s * g.dil_w) * DW_LANES + lane;
#pragma unroll
                for (int j = 0; j < TILE_COLS; ++j) acc[j] += row[j * g.stride_w * DW_LANES] * tap;
            }
        const int k = c * M + m;
#pragma unroll
        for (int j = 0; j < TILE_COLS; ++j)
            if (t.col0 + j < g.Q)
                y[nhwc_offset(t.n, p, t.col0 + j, k, g.P, g.Q, g.K)] = epilogue(acc[j], 0.0f, bias, k, 1.0f, 0.0f, flags);
    }
}

// The data gradient's tile is TILE_ROWS x TILE_COLS input pixels; the outputs whose windows reach
// them run from row floor((row0 + pad_h - (R - 1) dh) / sh) to floor((row0 + TILE_ROWS - 1 + pad_h)
// / sh) (likewise for columns), and their dy, M values a channel, is the patch.
template <int TILE_ROWS, int TILE_COLS>
__global__ void __launch_bounds__(DW_LANES * TILE_ROWS)
    depthwise_conv2d_backward_data_smem_tile(const float* __restrict__ dy, const float* __restrict__ w,
                                             float* __restrict__ dx, CONV_SHAPE_PARAMS)
{
    extern __shared__ float patch[];  // [patch row][patch column][DW_LANES * M output channels]
    const ConvShape g = CONV_SHAPE;
    const int M = g.K / g.C;
    const ImageTile t = image_tile<TILE_ROWS, TILE_COLS>(g.H, g.W);
    const int c0 = blockIdx.y * DW_LANES;
    const int p0 = floor_div(t.row0 + g.pad_h - (g.R - 1) * g.dil_h, g.stride_h);
    const int q0 = floor_div(t.col0 + g.pad_w - (g.S - 1) * g.dil_w, g.stride_w);
    const int rows = floor_div(t.row0 + TILE_ROWS - 1 + g.pad_h, g.stride_h) - p0 + 1;
    const int cols = floor_div(t.col0 + TILE_COLS - 1 + g.pad_w, g.stride_w) - q0 + 1;
    const int channels = DW_LANES * M;
    load_patch(dy, patch, t.n, p0, q0, rows, cols, c0 * M, channels, g.P, g.Q, g.K);
    __syncthreads();

    const int lane = threadIdx.x, c = c0 + lane, h = t.row0 + threadIdx.y;
    if (c >= g.C || h >= g.H) return;  // after the block's only barrier
    float acc[TILE_COLS] = {};
    for (int r = 0; r < g.R; ++r) {
        const int p = output_at(h + g.pad_h, r * g.dil_h, g.stride_h, g.P);
        if (p < 0) continue;
        for (int s = 0; s < g.S; ++s) {
            const float* w_tap = w + (r * g.S + s) * g.K + c * M;
#pragma unroll
            for (int j = 0; j < TILE_COLS; ++j) {
                const int q = output_at(t.col0 + j + g.pad_w, s * g.dil_w, g.stride_w, g.Q);
                if (q < 0) continue;
                const float* dy_out = patch + ((p - p0) * cols + q - q0) * channels + lane * M;
                for (int m = 0; m < M; ++m) acc[j] += dy_out[m] * w_tap[m];
            }
        }
    }
#pragma unroll
    for (int j = 0; j < TILE_COLS; ++j)
        if (t.col0 + j < g.W) dx[nhwc_offset(t.n, h, t.col0 + j, c, g.H, g.W, g.C)] = acc[j];
}

// The filter gradient's tile is the forward's: its input patch, then the tile's dy (TILE_ROWS x
// TILE_COLS pixels of DW_LANES * M channels, zero past P, Q or K), then each thread's taps summed
// over the tile's pixels. partials[blockIdx.x][r][s][c][m]: one row of R * S * K a tile.
template <int TILE_ROWS, int TILE_COLS>
__global__ void __launch_bounds__(DW_LANES * TILE_ROWS)
    depthwise_conv2d_backward_filter_smem_tile(const float* __restrict__ x, const float* __restrict__ dy,
                                               float* __restrict__ partials, CONV_SHAPE_PARAMS)
{
    extern __shared__ float patch[];  // the input patch, then the tile's dy
    const ConvShape g = CONV_SHAPE;
    const int M = g.K / g.C;
    const ImageTile t = image_tile<TILE_ROWS, TILE_COLS>(g.P, g.Q);
    const int c0 = blockIdx.y * DW_LANES;
    const int rows = (TILE_ROWS - 1) * g.stride_h + (g.R - 1) * g.dil_h + 1;
    const int cols = (TILE_COLS - 1) * g.stride_w + (g.S - 1) * g.dil_w + 1;
    const int channels = DW_LANES * M;
    float* tile_dy = patch + rows * cols * DW_LANES;
    load_input_patch(x, patch, t.n, t.row0 * g.stride_h - g.pad_h, t.col0 * g.stride_w - g.pad_w, rows, cols, c0,
                     g.H, g.W, g.C);
    load_patch(dy, tile_dy, t.n, t.row0, t.col0, TILE_ROWS, TILE_COLS, c0 * M, channels, g.P, g.Q, g.K);
    __syncthreads();

    const int lane = threadIdx.x, c = c0 + lane;
    if (c >= g.C) return;  // after the block's only barrier
    float* row_out = partials + (long long)blockIdx.x * g.R * g.S * g.K;
    for (int tap = threadIdx.y; tap < g.R * g.S * M; tap += TILE_ROWS) {
        const int m = tap % M, r = tap / M / g.S, s = tap / M % g.S;
        float acc = 0.0f;
        for (int i = 0; i < TILE_ROWS && t.row0 + i < g.P; ++i) {  // (no x past the outputs: 0 * inf is NaN)
            const float* x_row = patch + ((i * g.stride_h + r * g.dil_h) * cols + s * g.dil_w) * DW_LANES + lane;
            const float* dy_row = tile_dy + i * TILE_COLS * channels + lane * M + m;
#pragma unroll
            for (int j = 0; j < TILE_COLS; ++j)
                if (t.col0 + j < g.Q) acc += x_row[j * g.stride_w * DW_LANES] * dy_row[j * channels];
        }
        row_out[(r * g.S + s) * g.K + c * M + m] = acc;
    }
}
