// Summing a row-major rows x cols matrix down its columns, block by block: what reduce.cu's
// column_sum_partial and activation.cu's bias_act_backward (whose column sums are the bias
// gradient) share.
//
// Layout: blocks of 32 x COLUMN_BLOCK_ROWS threads; threadIdx.x picks the column within the block's
// slab of 32 (blockIdx.x), so a warp reads 32 consecutive elements of one row. The block's rows,
// and gridDim.y blocks of them, stride down the matrix. Each thread keeps its column's running sum
// in a register; at the end the block adds its COLUMN_BLOCK_ROWS sums per column in shared memory
// and writes them as row blockIdx.y of `partial` (gridDim.y x cols). No atomics: reduce.cu's
// column_sum_thread_per_column then adds partial's rows in a fixed order, so the column sums are
// the same bit for bit on every run (atomicAdd's order, and so its rounding, varies).
#pragma once

#include "row_lanes.cuh"  // WARP

constexpr int COLUMN_BLOCK_ROWS = 8;

// This thread's share of its column: element(i) summed over the offsets i of the rows it visits.
// `element` may do more than read (bias_act_backward writes the gradient it returns).
template <typename T, typename Element>
__device__ __forceinline__ T thread_column_share(Element element, int rows, int cols) {
    const int col = blockIdx.x * WARP + threadIdx.x;
    T sum = T(0);
    if (col < cols) {
        for (int r = blockIdx.y * COLUMN_BLOCK_ROWS + threadIdx.y; r < rows; r += gridDim.y * COLUMN_BLOCK_ROWS) {
            sum += element((long long)r * cols + col);
        }
    }
    return sum;
}

// The block's column sums, from each thread's share, into row blockIdx.y of partial. Every thread
// of the block must call it (it holds a barrier).
template <typename T>
__device__ __forceinline__ void store_block_column_sums(T share, T* __restrict__ partial, int cols) {
    __shared__ T column_share[COLUMN_BLOCK_ROWS][WARP];
    const int col = blockIdx.x * WARP + threadIdx.x;
    column_share[threadIdx.y][threadIdx.x] = share;
    // Row 0 of the block reads the shares the other rows just wrote.
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        T block_sum = T(0);
        for (int k = 0; k < COLUMN_BLOCK_ROWS; ++k) block_sum += column_share[k][threadIdx.x];
        partial[(long long)blockIdx.y * cols + col] = block_sum;
    }
}
