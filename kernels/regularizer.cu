// The L2 weight penalty (Keras's regularizers.L2) and its gradient, for a weight array w of n elements:
//
//   penalty = factor * sum of w^2         grad += 2 factor w   (into the weight's gradient, in place)
//
// as l2_penalty of cnn_gpu/ops/regularizer.py computes them. A reduction with an element-wise update
// riding along: the floor is one read of w (and one read and write of grad) at copy bandwidth.
//   1. l2_penalty_blocks<T, WITH_GRAD>  a grid-stride loop: each thread sums its w^2 (and, WITH_GRAD,
//                                       adds 2 factor w into grad, from the w it has read), then each
//                                       block's sum (block_sum) goes to partial[blockIdx.x]
//   2. l2_penalty_total<T>              one block adds the blocks' sums in a fixed order and
//                                       multiplies by factor: deterministic, no atomics
// Wrappers: cnn_gpu/ops/regularizer.py. Tests: tests/ops/test_regularizer_kernels.py.
// Benchmark: benchmarks/reduce.py.

#include "block_sum.cuh"  // block_sum, one_block_sum: sums over a block in a fixed order

// Threads per block of both kernels; cnn_gpu/ops/regularizer.py launches with the same number.
constexpr int PENALTY_BLOCK = 256;

// ---------------------------------------------------------------------------------------------
// 1. Each block's share of sum w^2, and the gradient.
// Idea: the gradient's update needs w, which the sum reads anyway: one pass does both.
// Expected bottleneck: device memory bandwidth (4 bytes an element for the penalty alone, 12 with
// the gradient, float32).
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2; by CUDA graph, l2_penalty_total
// included): 16,777,216 elements, the penalty alone 20.3 us, 3309 GB/s, 79% of copy bandwidth (4180 GB/s),
// 5.3x faster than the reference on CuPy (107.2 us); with the gradient 58.4 us, 3450 GB/s, 83%, 4.6x CuPy
// (269.0). The seed Dense kernel (346,112 elements): 4.3 us, 324 GB/s, 8% (CuPy 9.4, 2.2x); with the
// gradient 5.0 us, 823 GB/s, 20% (CuPy 15.0, 3.0x). As expected at 16 M elements; the seed's 1.4 MB is
// too few bytes for the rate to say much. Its GPU tests passed in the same run
// (benchmarks/results/gpu_check.log, commit 27bd7f2).
template <typename T, bool WITH_GRAD>
__global__ void __launch_bounds__(PENALTY_BLOCK)
    l2_penalty_blocks(const T* __restrict__ w, T* __restrict__ grad, T* __restrict__ partial, long long n,
                      T twice_factor) {
    __shared__ T warp_total[PENALTY_BLOCK / WARP];
    T sum = T(0);
    for (long long i = blockIdx.x * (long long)PENALTY_BLOCK + threadIdx.x; i < n;
         i += (long long)gridDim.x * PENALTY_BLOCK) {
        const T v = w[i];
        sum += v * v;
        if (WITH_GRAD) grad[i] += twice_factor * v;
    }
    const T total = block_sum<PENALTY_BLOCK>(sum, warp_total);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// ---------------------------------------------------------------------------------------------
// 2. The penalty: factor times the blocks' sums, added in a fixed order by one block.
// Expected bottleneck: launch overhead (it reads at most a thousand sums).
// Measured: not on its own; benchmarks/reduce.py's l2 cases include it.
template <typename T>
__global__ void __launch_bounds__(PENALTY_BLOCK)
    l2_penalty_total(const T* __restrict__ partial, T* __restrict__ penalty, int parts, T factor) {
    const T total = one_block_sum<PENALTY_BLOCK>(partial, parts);
    if (threadIdx.x == 0) *penalty = factor * total;
}
