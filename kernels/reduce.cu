// Row-wise reduction, out[r] = sum (or max) of in[r, :], for a row-major rows x cols matrix.
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
// Every variant is a template over the element type T (float, double) and the operation.
// Wrappers: cnn_gpu/ops/reduce.py. Tests: tests/ops/test_reduce.py. Benchmark: benchmarks/reduce.py.

enum class Reduce { sum, max };

// Threads per block of every variant; cnn_gpu/ops/reduce.py launches with the same number.
constexpr int REDUCE_BLOCK = 256;
constexpr int WARP = 32;
constexpr unsigned FULL_MASK = 0xffffffffu;

template <Reduce OP, typename T>
__device__ __forceinline__ T combine(T a, T b) {
    if (OP == Reduce::sum) return a + b;
    // NaN-propagating max, as NumPy's: a plain a > b ? a : b would drop a NaN in `a`.
    return (a > b || a != a) ? a : b;
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
// Measured (NVIDIA H100, benchmarks/results/reduce.json, commit 2c9911a), sum/max: rows=8192 cols=8192 248/248 GB/s,
// 8%/8% of copy bandwidth (CuPy 2872/1115); rows=1048576 cols=64 982/974, 33%/33% (CuPy 1907/1066);
// rows=256 cols=262144 8/8, 0%/0% (CuPy 2772/2592). Confirmed: uncoalesced, and starved with 256 rows.
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
// Measured (NVIDIA H100, benchmarks/results/reduce.json, commit 2c9911a), sum/max: rows=8192 cols=8192 2934/2926
// GB/s, 98%/98% of copy bandwidth (CuPy 2872/1115); rows=1048576 cols=64 236/206, 8%/7% (CuPy 1907/1066);
// rows=256 cols=262144 2903/2684, 97%/90% (CuPy 2772/2592). Fine for long rows, as expected; slow on short ones.
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
// Measured (NVIDIA H100, benchmarks/results/reduce.json, commit 2c9911a), sum/max: rows=8192 cols=8192 2952/2937
// GB/s, 99%/98% of copy bandwidth (CuPy 2872/1115); rows=1048576 cols=64 323/208, 11%/7% (CuPy 1907/1066);
// rows=256 cols=262144 2909/2565, 97%/86% (CuPy 2772/2592). Both confirmed: near copy on long rows, slow on short.
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
// Measured (NVIDIA H100, benchmarks/results/reduce.json, commit 2c9911a), sum/max: rows=8192 cols=8192 2891/2869
// GB/s, 97%/96% of copy bandwidth (CuPy 2872/1115); rows=1048576 cols=64 1661/1520, 56%/51% (CuPy 1907/1066);
// rows=256 cols=262144 1036/876, 35%/29% (CuPy 2772/2592). Long rows: slower than variant 3, as expected.
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
