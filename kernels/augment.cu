// Data augmentation: each image of an NHWC batch flipped left-right, upside down, both or neither,
// as its entry of `flips` says (bit FLIP_LEFT_RIGHT, bit FLIP_UP_DOWN), Keras's RandomFlip. The
// layer draws the flips on the host (a few bits an image, from its own generator), so every backend
// flips the same images; the kernel moves the pixels:
//   y[n, h, w, c] = x[n, flip_ud ? H-1-h : h, flip_lr ? W-1-w : w, c]
// A flip is its own inverse, so the backward is the same gather of dy: the gradient of a flipped
// image flipped back. As flip_images of cnn_gpu/ops/augment.py computes it.
//
// A lesson in gathers: every output element reads one input element, whose channel is its own, so a
// warp's 32 consecutive outputs (channels, then pixels) read 32 consecutive inputs, but for the
// pixels a left-right flip walks backwards: still whole 32-byte sectors, in reverse pixel order.
// The floor is a read and a write of the batch at copy bandwidth (8 bytes an element in float32).
//   1. flip_images   a grid-stride loop, one element per step (nhwc.cuh's channel_fastest order)
// Wrappers: cnn_gpu/ops/augment.py. Tests: tests/ops/test_augment.py.

#include "nhwc.cuh"  // Coord, channel_fastest, nhwc_offset

constexpr int FLIP_LEFT_RIGHT = 1;
constexpr int FLIP_UP_DOWN = 2;

// ---------------------------------------------------------------------------------------------
// 1. One element per step.
// Idea: output element i finds its coordinates (channel_fastest), mirrors them as its image's
// flips say, and copies that input element: a pure gather, no arithmetic on the values.
// Expected bottleneck: device memory bandwidth, less the integer divisions of the coordinates (four
// per element: a few percent at worst, where a copy has none).
// Measured: not yet run on a GPU.
template <typename T>
__global__ void flip_images(const T* __restrict__ x, const int* __restrict__ flips, T* __restrict__ y, int N,
                            int H, int W, int C) {
    const long long n_elements = (long long)N * H * W * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n_elements;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord e = channel_fastest(i, H, W, C);
        const int flip = flips[e.n];
        const int row = (flip & FLIP_UP_DOWN) ? H - 1 - e.row : e.row;
        const int col = (flip & FLIP_LEFT_RIGHT) ? W - 1 - e.col : e.col;
        y[i] = x[nhwc_offset(e.n, row, col, e.c, H, W, C)];
    }
}
