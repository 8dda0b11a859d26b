// Summing a row-major rows x cols matrix down its columns, block by block: what reduce.cu's
// column_sum_partial and activation.cu's bias_act_backward (whose column sums are the bias
// gradient) share, and batchnorm.cu's statistics (two sums at once). Two layouts: 32-column slabs
// (below) and, for cols <= the block's threads, whole rows as one flat run (flat_block_column_sums,
// at the end).
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

// element(i) summed over i = first, first + step, ... below end, in that order (I, the index type:
// int or long long). Four steps' elements are asked for before any is added, so that their loads are
// in flight together, and then added in order: the same sum, bit for bit, as one step at a time,
// which left a load's round trip to memory between two adds (sm_90 SASS of column_sum_partial and of
// batch normalization's last block, whose walk over 64 channels' partial rows made rung 4 slower
// than rung 3 there, batchnorm.cu). element's own writes, if any (bias_act_backward's), go to other
// addresses than it reads, in the same order.
template <typename T, typename I, typename Element>
__device__ __forceinline__ T strided_sum(Element element, I first, I end, I step) {
    T sum = T(0);
    I i = first;
    for (; i + 3LL * step < end; i += 4 * step) {
        const T e0 = element(i), e1 = element(i + step), e2 = element(i + 2 * step), e3 = element(i + 3 * step);
        sum += e0;
        sum += e1;
        sum += e2;
        sum += e3;
    }
    for (; i < end; i += step) sum += element(i);
    return sum;
}

// This thread's share of its column: element(i) summed over the offsets i of the rows it visits.
// `element` may do more than read (bias_act_backward writes the gradient it returns).
template <typename T, typename Element>
__device__ __forceinline__ T thread_column_share(Element element, int rows, int cols) {
    const int col = blockIdx.x * WARP + threadIdx.x;
    if (col >= cols) return T(0);
    // Stepping by rows (an int) rather than by offsets (64-bit): bias_act_backward's heaviest
    // activations spilled on sm_80 with the wider loop variable.
    return strided_sum<T>([&](int r) { return element((long long)r * cols + col); },
                          int(blockIdx.y * COLUMN_BLOCK_ROWS + threadIdx.y), rows, int(gridDim.y * COLUMN_BLOCK_ROWS));
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

// The flat layout's steps over the whole rows in [begin, end) (flat element offsets), for cols <=
// BLOCK: its column's sum in each of the first cols threads (T(0) in the others). The block's
// threads step LANES = (BLOCK / cols) * cols elements at a time, so a thread meets the same column,
// threadIdx.x % cols, at every step; then the threads of one column add their shares in shared
// memory, in a fixed order. Every thread of the block must call it (a barrier inside); an
// instantiation's shared buffer is its own, so a kernel calls each one once.
template <int BLOCK, typename T, typename Element>
__device__ __forceinline__ T flat_run_column_sums(Element element, long long begin, long long end, int cols) {
    __shared__ T share[BLOCK];
    const int lanes = (BLOCK / cols) * cols;
    const long long step = lanes;
    share[threadIdx.x] = threadIdx.x < lanes ? strided_sum<T>(element, begin + threadIdx.x, end, step) : T(0);
    // The first cols threads read the shares of every thread of their column.
    __syncthreads();
    T column_sum = T(0);
    if (threadIdx.x < cols) {
        for (int k = threadIdx.x; k < lanes; k += cols) column_sum += share[k];
    }
    return column_sum;
}

// The flat layout, for cols <= BLOCK (reduce.cu's column_sum_flat, batchnorm.cu's
// batch_norm_sums_flat): block b sums rows [b * chunk, (b + 1) * chunk), chunk = ceil(rows /
// gridDim.x), as the flat run of chunk * cols elements they are in memory, stepping LANES = (BLOCK /
// cols) * cols elements at a time (the largest multiple of cols that fits the block). A thread then
// meets the same column, threadIdx.x % cols, at every step; the threads of one column add their
// shares in shared memory, in a fixed order, into row blockIdx.x of partial (gridDim.x x cols).
// element(i) is what flat element i adds. Every thread of the block must call it (a barrier inside).
template <int BLOCK, typename T, typename Element>
__device__ __forceinline__ void flat_block_column_sums(Element element, T* __restrict__ partial, int rows, int cols) {
    const int chunk = (rows + gridDim.x - 1) / gridDim.x;
    const long long begin = (long long)blockIdx.x * chunk * cols;
    const long long last_row = (long long)(blockIdx.x + 1) * chunk;  // past rows in the last block
    const long long end = (last_row < rows ? last_row : rows) * cols;
    const T block_sum = flat_run_column_sums<BLOCK, T>(element, begin, end, cols);
    if (threadIdx.x < cols) partial[(long long)blockIdx.x * cols + threadIdx.x] = block_sum;
}
