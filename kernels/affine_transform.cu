// Images resampled through an affine map: Keras's RandomTranslation, RandomRotation and RandomZoom,
// Resizing, CenterCrop and RandomCrop, and UpSampling2D's bilinear interpolation. An (N, H, W, C)
// input gives an (N, Ho, Wo, C) output (of the input's size for the first three), whose pixel
// (row, col) of image n reads the input at
//   x_in = a0 * col + a1 * row + a2,   y_in = b0 * col + b1 * row + b2
// with (a0, a1, a2, b0, b1, b2) image n's row of `transforms` (Keras's first six of eight), by one of
//   - bilinear interpolation: the four pixels around (y_in, x_in), weighted by closeness;
//   - nearest: the one pixel at floor(y_in + 0.5), floor(x_in + 0.5).
// A pixel outside the image is replaced as the fill mode says (as jax.scipy.ndimage.map_coordinates,
// which Keras's JAX backend calls, does): reflect (d c b a | a b c d | d c b a), wrap (a b c d |
// a b c d), nearest (the edge pixel), or constant (`fill_value`, where the other modes name a pixel).
// As affine_transform of cnn_gpu/ops/affine_transform.py computes it.
//
// The coordinates are computed in double from the float transform: each product of a float and an
// int below 2^24 is exact in double, so a fused multiply-add gives the same bits as a multiply and
// an add, and the kernels, the emulator's host build and the NumPy reference all sample the same
// points. The weights are then the operand type's.
//
// The backward: the forward is linear in x, so dx is its transpose applied to dy. Each dy element
// adds its weighted value into the (at most four) input pixels its output read; a constant fill's
// value depends on no input and takes no gradient. Neighbouring outputs read overlapping pixels, so
// the adds are atomic, and their order, hence dx's last bits, varies from run to run.
//
// A lesson in gathers whose addresses are computed: a warp's 32 consecutive outputs are channels
// of a pixel or two, so each of its four reads still covers whole 32-byte sectors of one or two
// pixels; neighbouring pixels' reads overlap, and L2 (or L1) serves the overlap. The floor is a read
// and a write of the batch at copy bandwidth, as for a copy.
//   1. affine_transform_gather             a grid-stride loop, one output element per step
//   2. affine_transform_gather_float4      four channels per step, 16-byte loads and stores, the
//                                          sampling point computed once for the four (float32,
//                                          C % 4 == 0)
//   3. affine_transform_backward_scatter   one dy element per step, atomicAdd into dx
// Wrappers: cnn_gpu/ops/affine_transform.py. Tests: tests/ops/test_affine_transform.py. Benchmark:
// benchmarks/affine_transform.py.

#include "nhwc.cuh"  // Coord, channel_fastest, nhwc_offset

// The fill modes (FILL_MODES of cnn_gpu/ops/affine_transform.py) and the interpolations (INTERPOLATIONS).
constexpr int FILL_REFLECT = 0;
constexpr int FILL_WRAP = 1;
constexpr int FILL_CONSTANT = 2;
constexpr int FILL_NEAREST = 3;
constexpr int INTERPOLATION_NEAREST = 0;
constexpr int INTERPOLATION_BILINEAR = 1;

// Index i along an axis of `size` pixels, as the fill mode maps it into [0, size); -1 where the
// constant fill takes its place.
__device__ __forceinline__ int fixed_index(int i, int size, int fill_mode) {
    if (i >= 0 && i < size) return i;
    if (fill_mode == FILL_CONSTANT) return -1;
    if (fill_mode == FILL_NEAREST) return i < 0 ? 0 : size - 1;
    const int period = fill_mode == FILL_WRAP ? size : 2 * size;
    int m = i % period;
    if (m < 0) m += period;
    return m < size ? m : period - 1 - m;  // reflect: the second half of a period runs backwards
}

// Where output pixel (row, col) of an image samples its input: the first pixel's row and column
// along each axis (before the fill mode), and the weight of the second (row0 + 1, col0 + 1) along
// each; nearest interpolation takes the first pixel alone, at weight 1.
struct Sample {
    int row0, col0;
    double row_weight, col_weight;
};

__device__ __forceinline__ Sample sample_point(const float* transform, int row, int col, int interpolation) {
    const double x = (double)transform[0] * col + (double)transform[1] * row + (double)transform[2];
    const double y = (double)transform[3] * col + (double)transform[4] * row + (double)transform[5];
    Sample s;
    if (interpolation == INTERPOLATION_NEAREST) {
        s.row0 = (int)floor(y + 0.5);
        s.col0 = (int)floor(x + 0.5);
        s.row_weight = s.col_weight = 0.0;
    } else {
        const double row0 = floor(y), col0 = floor(x);
        s.row0 = (int)row0;
        s.col0 = (int)col0;
        s.row_weight = y - row0;
        s.col_weight = x - col0;
    }
    return s;
}

// Calls visit(row, col, weight) for each pixel (one, or four) that output pixel (row, col) samples:
// the pixel as the fill mode fixes it (row or col -1 for a constant fill's), and its weight in T.
template <typename T, typename Visit>
__device__ __forceinline__ void for_each_sampled_pixel(const float* transform, int row, int col, int H, int W,
                                                       int interpolation, int fill_mode, Visit visit) {
    const Sample s = sample_point(transform, row, col, interpolation);
    const int corners = interpolation == INTERPOLATION_NEAREST ? 1 : 2;
    for (int dr = 0; dr < corners; ++dr) {
        const int r = fixed_index(s.row0 + dr, H, fill_mode);
        const T row_weight = (T)(dr ? s.row_weight : 1.0 - s.row_weight);
        for (int dc = 0; dc < corners; ++dc)
            visit(r, fixed_index(s.col0 + dc, W, fill_mode), row_weight * (T)(dc ? s.col_weight : 1.0 - s.col_weight));
    }
}

// ---------------------------------------------------------------------------------------------
// 1. One output element per step.
// Idea: output element i finds its pixel and image (channel_fastest), its image's transform maps the
// pixel to a sampling point, and the element is the weighted sum of its channel at the (up to) four
// pixels around it, each fixed by the fill mode. Every channel of a pixel computes the same point:
// C times the arithmetic a pixel needs, cheap beside the loads.
// Expected bottleneck: memory; the four reads of a pixel's channels hit L1/L2 for its neighbours, so
// device memory sees about a read and a write of the batch.
// Measured (NVIDIA H200, benchmarks/results/affine_transform.json, commit 27bd7f2; graph replay; bilinear,
// rates on 8 bytes an element): (256, 32, 32, 3) reflect fill 0.0165 ms, 381 GB/s, 9% of copy bandwidth;
// nearest fill 0.0144 ms, 436 GB/s, 10% (PyTorch's grid_sample, the same samples, 0.0068 ms, 924 GB/s:
// 2.1x faster); (32, 56, 56, 64) reflect 0.1020 ms, 504 GB/s, 12%. Contradicted: not memory-bound. At 64
// channels rung 2, the same bytes in 16-byte accesses with a quarter of the index and coordinate work an
// element, is 3.3x faster: the instructions an element, not memory, bound this rung.
template <typename T>
__global__ void affine_transform_gather(const T* __restrict__ x, const float* __restrict__ transforms,
                                        T* __restrict__ y, int N, int H, int W, int C, int Ho, int Wo,
                                        int interpolation, int fill_mode, T fill_value) {
    const long long n_elements = (long long)N * Ho * Wo * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n_elements;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord e = channel_fastest(i, Ho, Wo, C);
        T sum = 0;
        for_each_sampled_pixel<T>(transforms + 6 * e.n, e.row, e.col, H, W, interpolation, fill_mode,
                                  [&](int row, int col, T weight) {
                                      const bool fill = row < 0 || col < 0;
                                      sum += weight * (fill ? fill_value : x[nhwc_offset(e.n, row, col, e.c, H, W, C)]);
                                  });
        y[i] = sum;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Four channels per step through float4.
// Idea: rung 1 works out each element's pixel (four integer divisions) and sampling point (six
// multiply-adds in double) for a single float; here a step takes four channels of one pixel, so
// both cost a quarter as much an element, and each corner's four channels arrive in one 16-byte
// load (a warp's 32 steps: 512 contiguous bytes of a corner where C >= 128). Each channel's sum is
// rung 1's, term by term in the same order. Needs C % 4 == 0: a pixel's channels start 16-byte
// aligned, and a float4 never straddles two pixels.
// Expected bottleneck: memory, as rung 1, with fewer instructions an element; where C is 3 (RGB
// images at the input) rung 1 serves.
// Measured (NVIDIA H200, benchmarks/results/affine_transform.json, commit 27bd7f2; graph replay; bilinear),
// (32, 56, 56, 64): reflect fill 0.0308 ms, 1666 GB/s, 40% of copy bandwidth (3.3x rung 1's rate); nearest
// fill 0.0287 ms, 1788 GB/s, 43% (PyTorch's grid_sample, the same samples, 0.1013 ms, 507 GB/s: 3.5x
// slower). Not run at C = 3. Faster as expected, but not memory-bound either: 40%-43% of copy.
extern "C" __global__ void affine_transform_gather_float4(const float4* __restrict__ x,
                                                          const float* __restrict__ transforms, float4* __restrict__ y,
                                                          int N, int H, int W, int C4, int Ho, int Wo,
                                                          int interpolation, int fill_mode, float fill_value) {
    const long long n_steps = (long long)N * Ho * Wo * C4;
    const float4 fill = make_float4(fill_value, fill_value, fill_value, fill_value);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n_steps;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord e = channel_fastest(i, Ho, Wo, C4);
        float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
        for_each_sampled_pixel<float>(transforms + 6 * e.n, e.row, e.col, H, W, interpolation, fill_mode,
                                      [&](int row, int col, float weight) {
                                          const float4 v = row < 0 || col < 0
                                                               ? fill
                                                               : x[nhwc_offset(e.n, row, col, e.c, H, W, C4)];
                                          sum.x += weight * v.x;
                                          sum.y += weight * v.y;
                                          sum.z += weight * v.z;
                                          sum.w += weight * v.w;
                                      });
        y[i] = sum;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. The backward: one dy element per step, scattered.
// Idea: the forward's loop, run backwards: dy element i adds weight * dy[i] into each input pixel
// its output read (none for a constant fill's corners). Pixels that several outputs read (all of
// them, under bilinear interpolation) take several adds, hence atomicAdd; dx must be zero first.
// Expected bottleneck: the atomics, which L2 performs: a read of dy and four atomic adds an element,
// about as many as a gather's reads where the map neither shrinks nor magnifies much.
// Measured (NVIDIA H200, benchmarks/results/affine_transform.json, commit 27bd7f2; graph replay; dx zeroed,
// then the adds; reflect fill, rates on 8 bytes an element): (256, 32, 32, 3) 0.0177 ms, 356 GB/s, 9% of
// copy bandwidth; (32, 56, 56, 64) 0.1050 ms, 489 GB/s, 12%. As predicted, about rung 1's forward time
// (0.0165 and 0.1020 ms); no baseline for the backward.
template <typename T>
__global__ void affine_transform_backward_scatter(const T* __restrict__ dy, const float* __restrict__ transforms,
                                                  T* __restrict__ dx, int N, int H, int W, int C, int Ho,
                                                  int Wo, int interpolation, int fill_mode) {
    const long long n_elements = (long long)N * Ho * Wo * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n_elements;
         i += (long long)gridDim.x * blockDim.x) {
        const Coord e = channel_fastest(i, Ho, Wo, C);
        const T g = dy[i];
        for_each_sampled_pixel<T>(transforms + 6 * e.n, e.row, e.col, H, W, interpolation, fill_mode,
                                  [&](int row, int col, T weight) {
                                      if (row >= 0 && col >= 0)
                                          atomicAdd(&dx[nhwc_offset(e.n, row, col, e.c, H, W, C)], weight * g);
                                  });
    }
}
