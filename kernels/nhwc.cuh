// Indexing an NHWC array (N, rows, cols, C), channels fastest in memory: what the pooling and
// convolution kernels share (kernels/pool.cu, kernels/conv2d.cu, kernels/depthwise_conv2d.cu).
#pragma once

// An element's coordinates in an (N, rows, cols, C) array: (n, row, col, c).
struct Coord {
    int n, row, col, c;
};

// Element i of an (N, rows, cols, C) array in memory order, c varying fastest.
// What its divisions cost (sm_90 SASS, nvcc 13.0, read with cuobjdump): ptxas compiles each 64-bit
// division by an int as a test of the high words and, when they are zero (any array under 2^32
// elements), an inline 32-bit division of about 20 instructions (a float reciprocal, MUFU.RCP, then
// two corrections); the 97-instruction 64-bit routine runs only past that. So a 64-bit index costs
// little over a 32-bit one, but each division still costs about 20 instructions, a few tens per
// element: a divisor fixed for the launch could be a multiply and a shift, worked out once.
__device__ __forceinline__ Coord channel_fastest(long long i, int rows, int cols, int C) {
    Coord e;
    e.c = int(i % C);
    i /= C;
    e.col = int(i % cols);
    i /= cols;
    e.row = int(i % rows);
    e.n = int(i / rows);
    return e;
}

// The same elements numbered in (n, c, row, col) order, col varying fastest: the NCHW order, which
// consecutive threads of pool.cu's max_pool2d_forward_channel_slow follow through the NHWC array.
__device__ __forceinline__ Coord channel_slowest(long long i, int rows, int cols, int C) {
    Coord e;
    e.col = int(i % cols);
    i /= cols;
    e.row = int(i % rows);
    i /= rows;
    e.c = int(i % C);
    e.n = int(i / C);
    return e;
}

// The offset of (n, row, col, c) in an (N, rows, cols, C) array. `row` and `col` may be negative
// (a padded window corner): the offset of a real element is still exact.
__device__ __forceinline__ long long nhwc_offset(int n, int row, int col, int c, int rows, int cols, int C) {
    return (((long long)n * rows + row) * cols + col) * C + c;
}

// Whether an array of C channels a pixel, from `a`, holds its channels in aligned quads: four
// consecutive channels of one pixel from a multiple of 4 are 16 contiguous bytes, 16-byte aligned
// (one float4, or one 16-byte cp.async), when C is a multiple of 4 and `a` 16-byte aligned.
__device__ __forceinline__ bool channel_quads_fit(const float* a, int C) {
    return C % 4 == 0 && reinterpret_cast<unsigned long long>(a) % 16 == 0;
}
