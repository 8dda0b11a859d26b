// Accuracy counts: how many predictions of a batch match their labels, what Keras's accuracies
// count each batch, into one integer in global memory.
//
// For a row-major rows x classes matrix of predictions p (probabilities or logits),
//   categorical  argmax over c of p[r, c] == argmax over c of t[r, c]   (t one-hot rows)
//   sparse       argmax over c of p[r, c] == t[r]                       (t a class id per row)
//   binary       (p[i] > threshold ? 1 : 0) == t[i], for every element i of p and t
// and count = the number of rows (elements, for binary) where it holds, as the NumPy reference
// count_correct of cnn_gpu/ops/metric.py counts them. Argmax is NumPy's: the first index of the
// maximum, and a NaN counts as larger than any number (the first NaN wins), so a row holding a NaN
// counts as the reference counts it.
//
// Memory-bound: the floor is one read of the predictions and the labels at copy bandwidth (one-hot
// labels are as large as the predictions, class ids 4 bytes a row); the output is one integer. The
// ladder:
//   1. count_correct_row_per_thread  one thread per row, a serial argmax along it: a warp reads 32
//                                    rows `classes` elements apart: uncoalesced
//   2. count_correct_warp_per_row    one warp per row, lanes striding along it (coalesced), the
//                                    (value, index) pairs combined by a shuffle butterfly
//   3. count_correct_binary          element by element, a grid-stride loop: two coalesced streams
// Rungs 1 and 2 run the same body (row_argmax), with 1 or 32 threads per row, and are templates over
// the element type T (float, double) and the labels' type L: float or double for one-hot rows, int
// for class ids (which the wrapper has checked lie in [0, classes)). Rung 3 is a template over T and
// L (float or double). Labels are read in their own type, as the reference compares them: rounded
// to T, soft labels could tie, or a binary label of 1 + 1e-9 become 1.
// Every kernel loops over its rows or elements with a grid the wrapper caps, sums its matches per
// block and adds the block's count to *count with one integer atomicAdd. Integer addition is exact
// and its order does not change the sum, so the count is the same on every run. The wrapper zeroes
// *count before the launch.
// Wrappers: cnn_gpu/ops/metric.py. Tests: tests/ops/test_metric_kernels.py. Benchmark: benchmarks/metric.py.

#include "block_sum.cuh"  // block_sum: a block's counts added
#include "row_lanes.cuh"  // WARP, FULL_MASK, lanes_sum: lanes of a row combined by shuffles

// Threads per block of every kernel; cnn_gpu/ops/metric.py launches with the same number.
constexpr int METRIC_BLOCK = 256;

// A candidate for a row's argmax: an element and its column.
template <typename T>
struct Candidate {
    T value;
    int index;
};

// Whether element (value, index) comes before `best` in NumPy's argmax order: a NaN before any
// number, then the larger value, then, between equal values or two NaNs, the smaller index. A
// strict total order on (value, index) pairs of distinct indices: however the pairs are met, the
// first in that order is the same one, NumPy's argmax.
template <typename T>
__device__ __forceinline__ bool comes_first(T value, int index, Candidate<T> best) {
    const bool value_nan = value != value, best_nan = best.value != best.value;
    if (value_nan != best_nan) return value_nan;
    if (!value_nan && value != best.value) return value > best.value;
    return index < best.index;
}

// The argmax of `row` (classes elements) by the LANES threads that share it, this one being `lane`
// (0 .. LANES - 1): each takes elements lane, lane + LANES, ..., then LANES = 32 combine their
// candidates by butterfly, each lane exchanging with lane ^ offset; every lane ends with the same
// pair, the first in comes_first's order. LANES = 1: the butterfly runs zero times.
// Every lane starts from (row[0], 0) rather than from -infinity: a real element, and a lane with
// none of its own (classes < LANES) offers it, which changes nothing.
template <int LANES, typename T>
__device__ __forceinline__ int row_argmax(const T* __restrict__ row, int classes, int lane) {
    Candidate<T> best = {row[0], 0};
    for (int c = lane; c < classes; c += LANES) {
        const T value = row[c];
        if (comes_first(value, c, best)) best = {value, c};
    }
    for (int offset = LANES / 2; offset > 0; offset /= 2) {
        const T value = __shfl_xor_sync(FULL_MASK, best.value, offset);
        const int index = __shfl_xor_sync(FULL_MASK, best.index, offset);
        if (comes_first(value, index, best)) best = {value, index};
    }
    return best.index;
}

// Row r's expected class: the argmax of its one-hot row (labels of a float type L), or its class id
// (const int*), the overload picked by the labels' type. One-hot rows go through row_argmax as the
// predictions do: a row of all zeros expects class 0, as the reference's argmax says.
template <int LANES, typename L>
__device__ __forceinline__ int expected_class(const L* __restrict__ labels, long long r, int classes, int lane) {
    return row_argmax<LANES>(labels + r * classes, classes, lane);
}

template <int LANES>
__device__ __forceinline__ int expected_class(const int* __restrict__ labels, long long r, int, int) {
    return labels[r];
}

// Adds the block's matches (each thread's `mine`) to *count: each warp sums its 32 by integer
// butterfly, thread 0 adds the warp totals and makes the block's one atomicAdd. Every thread of the
// block must call it (a barrier inside).
__device__ __forceinline__ void add_block_count(int* __restrict__ count, int mine) {
    __shared__ int warp_total[METRIC_BLOCK / WARP];
    const int total = block_sum<METRIC_BLOCK>(mine, warp_total);
    if (threadIdx.x == 0 && total > 0) atomicAdd(count, total);
}

// ---------------------------------------------------------------------------------------------
// 1. One thread per row.
// Idea: the serial argmax, one row per thread, rows blockIdx.x * METRIC_BLOCK + threadIdx.x and
// on by the grid's width; one-hot labels take a second serial argmax.
// Expected bottleneck: uncoalesced loads. At each step a warp touches one element of 32 rows
// `classes` elements apart. With 10 classes the warp's 32 rows span 1280 bytes (float32), which
// stay in L1 across the steps: device memory reads each byte about once, but each load costs up to
// 32 L1 wavefronts instead of 1, so L1 throughput binds. With 1000 classes a block's rows span
// 1 MB, more than L1 holds: a 32-byte sector is evicted before the thread's next 4 bytes in it are
// wanted, and device memory moves up to 8x the bytes used. Few rows starve the chip: 4096 rows are
// 16 blocks for the 132 SMs of an H100.
// Edges: threads past the last row count nothing but still reach add_block_count's barrier.
// Measured (NVIDIA H200, benchmarks/results/metric.json, commit 27bd7f2; one-hot labels, by CUDA graph, the
// count's zeroing included): (4096, 1000) 229.9 us, 143 GB/s, 3.4% of copy bandwidth (4180 GB/s), 12.4x
// rung 2's time, 13.7x the time of PyTorch's argmax chain on int64 ids (16.8 us). (65536, 10) 6.4 us,
// 813 GB/s, 19%: 4.4x faster than rung 2 (28.7 us), 3.5x faster than PyTorch (22.4), 2.1x faster than the
// reference on CuPy on class ids (13.6). (4096, 10) 4.5 us, rung 2's 4.7. As expected: L1 holds the
// short rows, not the long.
template <typename T, typename L>
__global__ void __launch_bounds__(METRIC_BLOCK)
    count_correct_row_per_thread(const T* __restrict__ pred, const L* __restrict__ labels, int* __restrict__ count,
                                 int rows, int classes) {
    int mine = 0;
    for (long long r = (long long)blockIdx.x * METRIC_BLOCK + threadIdx.x; r < rows;
         r += (long long)gridDim.x * METRIC_BLOCK) {
        mine += row_argmax<1>(pred + r * classes, classes, 0) == expected_class<1>(labels, r, classes, 0);
    }
    add_block_count(count, mine);
}

// ---------------------------------------------------------------------------------------------
// 2. One warp per row, shuffles only.
// Idea: METRIC_BLOCK / 32 warps per block, each on its own row at a time: consecutive lanes read
// consecutive elements (each load a contiguous run), the lanes' candidates combined by a 5-step
// butterfly of (value, index) pairs in registers. Every lane learns the row's verdict; lane 0
// counts it.
// Expected bottleneck: device memory bandwidth for rows of hundreds of classes and more (1000
// classes: 32 loads per lane). For the 10 classes of a classifier, 22 of the 32 lanes idle, each
// warp reads only 40 bytes (float32) of a row and then waits on two shuffles per step of the
// butterfly: latency, with too few loads in flight per SM to reach copy bandwidth. One-hot labels
// double the reads and the butterflies; class ids add one broadcast load per row.
// Edges: classes < 32 leaves lanes without elements (they offer (row[0], 0)). Whole warps share a
// row and leave the loop together, so the full-mask shuffles never miss a lane.
// Measured (NVIDIA H200, benchmarks/results/metric.json, commit 27bd7f2; one-hot labels, by CUDA graph, the
// count's zeroing included): (4096, 1000) 18.5 us, 1771 GB/s, 42% of copy bandwidth (4180 GB/s); PyTorch's
// argmax chain on int64 ids 16.8 us (1.10x faster than ours, reading half the bytes), the reference on CuPy
// on class ids 23.3 (ours 1.26x faster). (65536, 10) 28.7 us, 183 GB/s, 4%: slower than PyTorch (22.4,
// 1.28x) and CuPy (13.6, 2.1x) and than rung 1 (6.4), the latency above. (4096, 10) 4.7 us: PyTorch 9.0
// (1.9x), CuPy 6.4 (1.4x). With class ids (timed launch by launch: the wrapper's device check and its
// read-back sync, which no graph captures) 87-106 us at every shape, the host side and the sync.
// Not as expected at 1000 classes: the comment expected device memory bandwidth; the rung reaches 42% of
// copy, where rung 3 reads the same 32.8 MB at 63%.
template <typename T, typename L>
__global__ void __launch_bounds__(METRIC_BLOCK)
    count_correct_warp_per_row(const T* __restrict__ pred, const L* __restrict__ labels, int* __restrict__ count,
                               int rows, int classes) {
    constexpr int WARPS = METRIC_BLOCK / WARP;
    const int lane = threadIdx.x % WARP;
    int mine = 0;
    for (long long r = (long long)blockIdx.x * WARPS + threadIdx.x / WARP; r < rows;
         r += (long long)gridDim.x * WARPS) {
        const bool correct =
            row_argmax<WARP>(pred + r * classes, classes, lane) == expected_class<WARP>(labels, r, classes, lane);
        mine += lane == 0 && correct;
    }
    add_block_count(count, mine);
}

// ---------------------------------------------------------------------------------------------
// 3. Binary: element by element.
// Idea: a grid-stride loop over the n elements, each thread counting where (p > threshold), as 1
// or 0 of the labels' type, equals the label; the threshold arrives rounded to T, as Keras casts it
// to the predictions' dtype. A label that is neither 0 nor 1 never matches, and a NaN prediction reads as
// 0 (NaN > threshold is false), both as in the reference.
// Expected bottleneck: device memory bandwidth: two coalesced streams and one compare per element.
// Scalar loads (4 bytes a lane for float32) may keep too few bytes in flight per SM to reach copy
// bandwidth; a float4 rung would be the next step if measurements say so.
// Measured (NVIDIA H200, benchmarks/results/metric.json, commit 27bd7f2; by CUDA graph, the count's zeroing
// included): (4096, 1000) 12.5 us, 2616 GB/s, 63% of copy bandwidth (4180 GB/s); PyTorch's
// ((pred > 0.5) == labels).sum() 47.9 us (ours 3.8x faster), the reference on CuPy 49.9 (4.0x). (65536, 10)
// 5.8 us, 896 GB/s, 21%: PyTorch 18.8 (3.2x), CuPy 12.8 (2.2x). (4096, 10) 3.4 us. Short of the floor at
// 1000 classes: whether the scalar loads or the count's zeroing before the kernel hold it there, these
// figures cannot tell.
template <typename T, typename L>
__global__ void __launch_bounds__(METRIC_BLOCK)
    count_correct_binary(const T* __restrict__ pred, const L* __restrict__ labels, int* __restrict__ count, int n,
                         T threshold) {
    int mine = 0;
    for (long long i = (long long)blockIdx.x * METRIC_BLOCK + threadIdx.x; i < n;
         i += (long long)gridDim.x * METRIC_BLOCK) {
        mine += (pred[i] > threshold ? L(1) : L(0)) == labels[i];
    }
    add_block_count(count, mine);
}
