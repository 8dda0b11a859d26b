// A convolution's shape and window arithmetic: what the convolution kernels share (kernels/conv2d.cu,
// kernels/depthwise_conv2d.cu). Problem names as there: input (N, H, W, C), K output channels from an
// R x S window, output (N, P, Q, K).
#pragma once

#include "nhwc.cuh"

// The problem's shape. Every kernel takes it as the scalars CONV_SHAPE_PARAMS, in this order (the
// wrappers pass them so), and rebuilds the struct with CONV_SHAPE.
struct ConvShape {
    int N, H, W, C;  // input
    int K, R, S;     // filters and their window
    int P, Q;        // output
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;  // pad: the top and left padding
};
#define CONV_SHAPE_PARAMS                                                                                   \
    int N, int H, int W, int C, int K, int R, int S, int P, int Q, int stride_h, int stride_w, int pad_h, \
        int pad_w, int dil_h, int dil_w
#define CONV_SHAPE ConvShape{N, H, W, C, K, R, S, P, Q, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w}

// The input row (or column) that tap r of output row p reads; outside [0, H) it is padding.
__device__ __forceinline__ int input_index(int p, int r, int stride, int pad, int dilation)
{
    return p * stride - pad + r * dilation;
}

// The output row (or column) whose tap at `tap` (r * dilation) reads padded position `at` (the input
// row plus the padding before it), or -1 if none does: at - tap must be a non-negative multiple of
// the stride, and the quotient a row of the output. Stride 1, the usual case, needs no division
// (a branch every thread of a launch takes alike).
__device__ __forceinline__ int output_at(int at, int tap, int stride, int outputs)
{
    const int offset = at - tap;
    if (offset < 0) return -1;
    const int p = stride == 1 ? offset : (offset % stride == 0 ? offset / stride : -1);
    return p < outputs ? p : -1;
}

// The direct filter gradients' sum for weight (r, s) from input channel c to output channel k: over
// every output (n, p, q), the input its tap (r, s) reads (padding skipped) times dy there.
__device__ __forceinline__ float filter_gradient_sum(const float* __restrict__ x, const float* __restrict__ dy,
                                                     const ConvShape& g, int r, int s, int c, int k)
{
    float acc = 0.0f;
    for (int n = 0; n < g.N; ++n)
        for (int p = 0; p < g.P; ++p) {
            const int h = input_index(p, r, g.stride_h, g.pad_h, g.dil_h);
            if (h < 0 || h >= g.H) continue;
            for (int q = 0; q < g.Q; ++q) {
                const int col = input_index(q, s, g.stride_w, g.pad_w, g.dil_w);
                if (col < 0 || col >= g.W) continue;
                acc += x[nhwc_offset(n, h, col, c, g.H, g.W, g.C)] * dy[nhwc_offset(n, p, q, k, g.P, g.Q, g.K)];
            }
        }
    return acc;
}

// The direct data gradients' sum for input element e: over the taps (r, s) whose output (p, q) reads
// it, ``count`` products of dy[n, p, q, first + j] with the tap's weights w_tap(r, s)[j] (the
// filters' layout is the caller's: conv2d's K filters of channel c, the depthwise M of it).
template <typename TapWeights>
__device__ __forceinline__ float data_gradient_sum(const float* __restrict__ dy, const ConvShape& g, const Coord& e,
                                                   int first, int count, TapWeights w_tap)
{
    float acc = 0.0f;
    for (int r = 0; r < g.R; ++r) {
        const int p = output_at(e.row + g.pad_h, r * g.dil_h, g.stride_h, g.P);
        if (p < 0) continue;
        for (int s = 0; s < g.S; ++s) {
            const int q = output_at(e.col + g.pad_w, s * g.dil_w, g.stride_w, g.Q);
            if (q < 0) continue;
            const float* dy_out = dy + nhwc_offset(e.n, p, q, first, g.P, g.Q, g.K);
            const float* weights = w_tap(r, s);
            for (int j = 0; j < count; ++j) acc += dy_out[j] * weights[j];
        }
    }
    return acc;
}
