// The sum of one value per thread over a block of BLOCK threads, in a fixed order: what the kernels
// that leave one sum per block share (kernels/loss.cu, kernels/metric.cu, kernels/regularizer.cu).
#pragma once

#include "row_lanes.cuh"  // WARP, lanes_sum

// The sum of every thread's `value` over the block, in thread 0 (the others get 0): each
// warp combines its 32 by butterfly, and thread 0 adds the warp totals in order, so the sum is the
// same bits on every run. Every thread of the block must call it (a barrier inside); warp_total is
// shared memory for BLOCK / 32 values. Once per buffer: with no barrier after the read, a second
// call could overwrite warp_total while thread 0 reads it.
template <int BLOCK, typename T>
__device__ __forceinline__ T block_sum(T value, T* warp_total) {
    value = lanes_sum<WARP>(value);
    if (threadIdx.x % WARP == 0) warp_total[threadIdx.x / WARP] = value;
    // Thread 0 reads the totals the other warps wrote.
    __syncthreads();
    T total = T(0);
    if (threadIdx.x == 0)
        for (int w = 0; w < BLOCK / WARP; ++w) total += warp_total[w];
    return total;
}

// The sum of terms[0 .. count - 1] by one block of BLOCK threads, in thread 0: each thread adds terms
// threadIdx.x, + BLOCK, ... in order, then block_sum. A fixed order: the same bits on every run.
// Once per kernel: its shared buffer is its own, and block_sum's rule holds for it.
template <int BLOCK, typename T>
__device__ __forceinline__ T one_block_sum(const T* __restrict__ terms, int count) {
    __shared__ T warp_total[BLOCK / WARP];
    T sum = T(0);
    for (int i = threadIdx.x; i < count; i += BLOCK) sum += terms[i];
    return block_sum<BLOCK>(sum, warp_total);
}
