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
// Measured (NVIDIA H200, benchmarks/results/augment.json, commit 27bd7f2; graph replay): (256, 32, 32, 3)
// 0.0084 ms, 748 GB/s, 18% of copy bandwidth (the reference on CuPy 0.0166 ms, PyTorch's torch.where
// between flips 0.0157 ms: 2.0x and 1.9x slower); (64, 56, 56, 64) 0.077 ms, 1331 GB/s, 32% (CuPy 0.141,
// PyTorch 0.177: 1.8x and 2.3x slower). Contradicted: far from copy bandwidth, not a few percent short.
// The JSON does not say why. A suspect no run has isolated: the coordinates' divisions, about 20
// instructions each (nhwc.cuh's channel_fastest says why), dearer than the estimate took them to be.
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
