// Row-wise reduction, out[r] = sum (or max) of in[r, :], for a row-major rows x cols matrix, and
// column-wise sum, out[c] = sum of in[:, c] (rungs 5 to 7, at the end: the bias gradient).
//
// A lesson in cooperation inside a block. The floor is one read of the matrix at copy bandwidth
// (the output is rows elements, negligible). The ladder:
//   1. row_reduce_naive         one thread per row: simple, but a warp reads 32 rows at once,
//                               `cols` elements apart: uncoalesced
//   2. row_reduce_smem          one block per row: threads stride along the row (coalesced), then
//                               a tree in shared memory with a barrier per level
//   3. row_reduce_shuffle       one block per row: each warp reduces in registers with shuffles,
//                               shared memory holds only one value per warp, two barriers in all
//   4. row_reduce_warp_per_row  one warp per row, shuffles only: no shared memory, no barrier;
//                               the right shape for many short rows (softmax over classes)
// Every row variant is a template over the element type T (float, double) and the operation.
// Wrappers: cnn_gpu/ops/reduce.py. Tests: tests/ops/test_reduce.py. Benchmark: benchmarks/reduce.py.

#include "column_sum.cuh"  // rung 6's body (thread_column_share, store_block_column_sums), rung 7's
#include "row_lanes.cuh"   // WARP, FULL_MASK, nan_max

enum class Reduce { sum, max };

// Threads per block of every variant; cnn_gpu/ops/reduce.py launches with the same number.
constexpr int REDUCE_BLOCK = 256;

template <Reduce OP, typename T>
__device__ __forceinline__ T combine(T a, T b) {
    // Max propagates a NaN, as NumPy's: a plain a > b ? a : b would drop a NaN in `a`.
    return OP == Reduce::sum ? a + b : nan_max(a, b);
}

// The value a thread with no elements starts from. For max we take the row's first element
// rather than -infinity: max(x0, x0) = x0, and no infinity constant is needed.
template <Reduce OP, typename T>
__device__ __forceinline__ T start_value(const T* __restrict__ row) {
    return OP == Reduce::sum ? T(0) : row[0];
}

// The warp's combined value, in lane 0. Each step folds the upper half of the active lanes onto
// the lower half: after offsets 16, 8, 4, 2, 1 lane 0 holds all 32.
template <Reduce OP, typename T>
__device__ __forceinline__ T warp_reduce(T value) {
    for (int offset = WARP / 2; offset > 0; offset /= 2) {
        value = combine<OP>(value, __shfl_down_sync(FULL_MASK, value, offset));
    }
    return value;
}

// This thread's share of a row: elements lane, lane + stride, ... Consecutive threads read
// consecutive elements, so each warp's load is one coalesced transaction.
template <Reduce OP, typename T>
__device__ __forceinline__ T strided_partial(const T* __restrict__ row, int cols, int lane, int stride) {
    T acc = start_value<OP>(row);
    for (int c = lane; c < cols; c += stride) acc = combine<OP>(acc, row[c]);
    return acc;
}

// ---------------------------------------------------------------------------------------------
// 1. One thread per row.
// Idea: the serial loop, one row per thread.
// Expected bottleneck: uncoalesced loads (a warp touches 32 rows per step) and, for few rows,
// too few threads to fill the chip.
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2; timed launch by launch), sum/max:
// rows=8192 cols=8192 245/241 GB/s, 6%/6% of copy bandwidth (CuPy 3944/3826); rows=1048576 cols=64 979/977,
// 23%/23% (CuPy 1909/1124); rows=256 cols=262144 8/8, 0.2%/0.2% (CuPy 3912/3007). Confirmed: uncoalesced,
// and starved with 256 rows.
template <typename T, Reduce OP>
__global__ void row_reduce_naive(const T* __restrict__ in, T* __restrict__ out, int rows, int cols) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const T* row = in + (long long)r * cols;
    T acc = start_value<OP>(row);
    for (int c = 0; c < cols; ++c) acc = combine<OP>(acc, row[c]);
    out[r] = acc;
}

// ---------------------------------------------------------------------------------------------
// 2. One block per row, tree reduction in shared memory.
// Idea: REDUCE_BLOCK threads share a row (coalesced), then halve the partials log2(256) = 8 times.
// Expected bottleneck: the 8 barriers and the idle threads of the last levels; fine for long rows.
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2), sum/max: rows=8192 cols=8192
// 4099/4051 GB/s, 98%/97% of copy bandwidth (CuPy 3944/3826); rows=1048576 cols=64 234/215, 6%/5% (CuPy
// 1909/1124); rows=256 cols=262144 3980/3848, 95%/92% (CuPy 3912/3007). Fine for long rows, as expected;
// slow on short ones.
template <typename T, Reduce OP>
__global__ void __launch_bounds__(REDUCE_BLOCK) row_reduce_smem(const T* __restrict__ in, T* __restrict__ out,
                                                                int rows, int cols) {
    __shared__ T partial[REDUCE_BLOCK];
    const T* row = in + (long long)blockIdx.x * cols;
    const int tid = threadIdx.x;
    partial[tid] = strided_partial<OP>(row, cols, tid, REDUCE_BLOCK);
    __syncthreads();
    for (int half = REDUCE_BLOCK / 2; half > 0; half /= 2) {
        if (tid < half) partial[tid] = combine<OP>(partial[tid], partial[tid + half]);
        // The next level reads what other threads wrote at this one.
        __syncthreads();
    }
    if (tid == 0) out[blockIdx.x] = partial[0];
}

// ---------------------------------------------------------------------------------------------
// 3. One block per row, warp shuffles.
// Idea: a warp reduces 32 values in registers in 5 shuffle steps with no barrier; only the 8
// warp totals go through shared memory, and the first warp combines them with shuffles again.
// Expected bottleneck: device memory bandwidth for long rows; for short rows, launching one
// 256-thread block per row wastes most of its threads.
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2), sum/max: rows=8192 cols=8192
// 4140/4091 GB/s, 99%/98% of copy bandwidth (CuPy 3944/3826); rows=1048576 cols=64 320/220, 8%/5% (CuPy
// 1909/1124); rows=256 cols=262144 3998/3857, 96%/92% (CuPy 3912/3007). Both confirmed: near copy on long
// rows, slow on short.
template <typename T, Reduce OP>
__global__ void __launch_bounds__(REDUCE_BLOCK) row_reduce_shuffle(const T* __restrict__ in, T* __restrict__ out,
                                                                   int rows, int cols) {
    constexpr int WARPS = REDUCE_BLOCK / WARP;
    __shared__ T warp_total[WARPS];
    const T* row = in + (long long)blockIdx.x * cols;
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;

    const T total = warp_reduce<OP>(strided_partial<OP>(row, cols, threadIdx.x, REDUCE_BLOCK));
    if (lane == 0) warp_total[warp] = total;
    // Warp 0 reads the totals the other warps wrote.
    __syncthreads();
    if (warp == 0) {
        // Lanes past WARPS have no warp total; they bring the start value, which changes neither
        // a sum (0) nor a max (the row's first element).
        const T mine = lane < WARPS ? warp_total[lane] : start_value<OP>(row);
        const T all = warp_reduce<OP>(mine);
        if (lane == 0) out[blockIdx.x] = all;
    }
}

// ---------------------------------------------------------------------------------------------
// 4. One warp per row, shuffles only.
// Idea: REDUCE_BLOCK / 32 rows per block, each warp on its own row; nothing shared, no barrier.
// Expected bottleneck: device memory bandwidth at any row length; for long rows, fewer loads
// in flight per row than variant 3.
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2), sum/max: rows=8192 cols=8192
// 4035/3940 GB/s, 97%/94% of copy bandwidth (CuPy 3944/3826); rows=1048576 cols=64 1683/1623, 40%/39% (CuPy
// 1909/1124); rows=256 cols=262144 1101/952, 26%/23% (CuPy 3912/3007). Long rows: slower than variant 3, as
// expected, by about 4x with only 256 rows (256 warps on the chip). Short rows: the fastest rung (1.7x
// rung 1, 5x to 7x rung 3), but at 40%/39% of copy not the bandwidth-bound the expectation says: a
// 64-element row gives each lane two loads, then five shuffle steps. CuPy's sum was faster there (46%),
// its max slower (27%).
template <typename T, Reduce OP>
__global__ void __launch_bounds__(REDUCE_BLOCK) row_reduce_warp_per_row(const T* __restrict__ in,
                                                                        T* __restrict__ out, int rows, int cols) {
    const int r = blockIdx.x * (REDUCE_BLOCK / WARP) + threadIdx.x / WARP;
    const int lane = threadIdx.x % WARP;
    // Whole warps leave together, so the full-mask shuffles below never miss a lane.
    if (r >= rows) return;
    const T* row = in + (long long)r * cols;
    const T total = warp_reduce<OP>(strided_partial<OP>(row, cols, lane, WARP));
    if (lane == 0) out[r] = total;
}

// =============================================================================================
// Column sums: out[c] = sum of in[:, c]. The bias gradient is one: the upstream gradient summed over
// the batch (Dense) or over the batch and the image (Conv2D, whose NHWC gradient is a
// (N*H*W) x channels matrix). The floor is again one read of the matrix at copy bandwidth.
// Here a column's elements are `cols` apart but neighbouring columns are neighbours in memory, so
// threads that take neighbouring columns of one row read coalesced with no effort. The lesson is
// parallelism and bytes in flight: a bias gradient has few columns (10 to a few hundred) and many
// rows. The ladder:
//   5. column_sum_thread_per_column  one thread per column walks down it
//   6. column_sum_partial            column_sum.cuh's 32 x 8 blocks down 32-column slabs, each block
//                                    writing its column sums as a row of `partial`; rung 5 adds
//                                    partial's rows (gridDim.y of them) in a fixed order
//   7. column_sum_flat               for cols <= REDUCE_BLOCK: each block walks a run of whole rows
//                                    as one flat array, nearly all its lanes busy; rung 5 again adds the
//                                    blocks' rows of `partial`
// No atomics anywhere: every sum is added in a fixed order, so the result is the same bit for bit on
// every run.

// ---------------------------------------------------------------------------------------------
// 5. One thread per column.
// Idea: the serial loop down a column, one column per thread; at each step a warp reads 32
// neighbouring elements of one row (coalesced).
// Expected bottleneck: parallelism. There are only `cols` threads: 64 columns are 64 threads on a
// chip that holds over 250,000, each waiting on one load after another. Launch overhead where the
// matrix is small, which is its use as the last step of rungs 6 and 7 (a few hundred rows of partial).
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2; timed launch by launch):
// rows=21632 cols=32 0.609 ms, 5 GB/s, 0.1% of copy bandwidth (CuPy 0.507 ms, 5 GB/s); rows=65536
// cols=1024 2.30 ms, 117 GB/s, 3% (CuPy 1.53 ms, 175 GB/s); not run at 2097152 rows. Confirmed: 23x-29x
// slower than rung 6 at those shapes.
template <typename T>
__global__ void column_sum_thread_per_column(const T* __restrict__ in, T* __restrict__ out, int rows, int cols) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) return;
    T sum = T(0);
    for (int r = 0; r < rows; ++r) sum += in[(long long)r * cols + col];
    out[col] = sum;
}

// ---------------------------------------------------------------------------------------------
// 6. Blocks down 32-column slabs, partial sums per block.
// Idea: many blocks share a column: a grid of (column slabs) x (up to 256 blocks down the rows), so
// a matrix of few columns still fills the chip; each block leaves one row of partial column sums,
// which rung 5 adds up. The same body as activation.cu's bias_act_backward (column_sum.cuh).
// Expected bottleneck: device memory bandwidth when cols is a multiple of 32. Otherwise the last
// slab's lanes past cols idle: at 36 columns, 28 of the second slab's 32 (44% of the 64 idle).
// And few bytes in flight: at most 256 x 8 rows in flight per slab, one 4-byte load per thread.
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2; launch by launch, with rung 5's
// finishing launch): rows=21632 cols=32 0.027 ms, 103 GB/s, 2.5% of copy bandwidth (CuPy 0.507 ms,
// 5 GB/s); rows=2097152 cols=36 0.155 ms, 1951 GB/s, 47% (CuPy 47.5 ms, 6 GB/s); rows=65536 cols=1024
// 0.079 ms, 3384 GB/s, 81% (CuPy 1.53 ms, 175 GB/s). Near the expectation where cols is a multiple of 32
// (81% at 1024 columns); at 36 columns 47%, 1.5x slower than rung 7, the idle lanes' cost. The seed
// model's 2.8 MB matrix took 27-30 us at rungs 6 and 7, two launches timed one by one: there the rate
// says little. 19x-307x faster than CuPy's sum(axis=0). At b323e23 (reduce.json, another H200) each
// thread waited out its loads one row at a time (sm_90 SASS) and the rung took 0.036, 0.458 and 0.131
// ms at these shapes (16% of copy at 36 columns, 49% at 1024); since, four rows' loads go out together
// (column_sum.cuh's strided_sum), 1.3x, 3.0x and 1.7x faster: bytes in flight were what bound it.
template <typename T>
__global__ void __launch_bounds__(32 * COLUMN_BLOCK_ROWS)
    column_sum_partial(const T* __restrict__ in, T* __restrict__ partial, int rows, int cols) {
    const T share = thread_column_share<T>([&](long long i) { return in[i]; }, rows, cols);
    store_block_column_sums(share, partial, cols);
}

// ---------------------------------------------------------------------------------------------
// 7. Whole rows as one flat array (cols <= REDUCE_BLOCK).
// Idea: block b sums a run of whole rows as the one flat array they are in memory, its threads
// stepping (REDUCE_BLOCK / cols) * cols elements at a time, so a thread meets the same column at
// every step and each step of the block reads that many consecutive elements (column_sum.cuh's
// flat_block_column_sums). Every lane but the spare REDUCE_BLOCK % cols is busy whatever cols is
// (at 36 columns, 252 of 256), where rung 6 idles lanes past cols in the last 32-column slab. Each
// block leaves its column sums as a row of partial; rung 5 adds the rows.
// Expected bottleneck: device memory bandwidth, given enough blocks (the wrapper asks for at least
// 16 elements per thread and at most 1024 blocks: enough loads in flight to cover the latency, and
// a partial short enough for rung 5).
// Measured (NVIDIA H200, benchmarks/results/reduce.json, commit 27bd7f2; launch by launch, with rung 5's
// finishing launch): rows=21632 cols=32 0.030 ms, 94 GB/s, 2% of copy bandwidth (CuPy 0.507 ms);
// rows=2097152 cols=36 0.102 ms, 2965 GB/s, 71% (CuPy 47.5 ms, 6 GB/s: 467x slower; rung 6 1.5x slower).
// Not run at 1024 columns (more than REDUCE_BLOCK). At 36 columns the busy lanes bring it to 71% of
// copy, near but short of the bandwidth expected; the seed model's 2.8 MB matrix is too small to say.
// At b323e23 (reduce.json, another H200), before each thread had four steps' loads in flight at once
// (column_sum.cuh), it took 0.100 ms at 36 columns (72%): the change that made rung 6 3.0x faster there
// left this rung where it was.
template <typename T>
__global__ void __launch_bounds__(REDUCE_BLOCK)
    column_sum_flat(const T* __restrict__ in, T* __restrict__ partial, int rows, int cols) {
    flat_block_column_sums<REDUCE_BLOCK, T>([&](long long i) { return in[i]; }, partial, rows, cols);
}
