// Softmax over the last axis, forward and backward, of a row-major rows x cols matrix.
//
//   y[r, c]  = e^(x[r, c] - max_r) / sum over c' of e^(x[r, c'] - max_r)
//   dx[r, c] = y[r, c] * (dy[r, c] - sum over c' of dy[r, c'] * y[r, c'])
// as softmax and softmax_backward of cnn_gpu/ops/activation.py compute them (the backward applies
// the Jacobian diag(y) - y y^T to dy without forming it). Subtracting the row's maximum first keeps
// every exponent <= 0: no e^x overflows, however large the logits.
//
// The softmax cross-entropy of loss.cu without the labels: the same lesson in giving a row to a
// thread or to a warp, on the activation a classifier's last layer ends with when it is not fused
// into the loss (a model's predict, or a loss other than cross-entropy). Memory-bound: the floor is
// one read of x and one write of y at copy bandwidth (8 bytes an element in float32); the backward
// reads y and dy and writes dx (12 bytes). The ladder:
//   1. softmax_forward_row_per_thread   one thread per row, three loops along it: a warp reads 32
//                                       rows `cols` elements apart: uncoalesced
//   2. softmax_forward_warp_per_row     one warp per row, lanes striding along it (coalesced), the
//                                       maximum and the sum shared by shuffle butterflies
//   3. softmax_backward_row_per_thread  the backward's two loops (the dot product dy . y, then dx),
//                                       one thread per row
//   4. softmax_backward_warp_per_row    the same, one warp per row
//   5. softmax_forward_warp_per_row_registers   rung 2 with the row held in registers: x read once
//   6. softmax_backward_warp_per_row_registers  rung 4 likewise: y and dy read once
// Rungs 1 and 2 run one body (softmax_forward_row), rungs 3 and 4 another (softmax_backward_row),
// with 1 or 32 threads per row; rungs 5 and 6 theirs, which give rungs 2's and 4's bits, and take
// those bodies for rows longer than they hold. Every kernel is a template over the element type T
// (float, double).
// Wrappers: cnn_gpu/ops/activation.py. Tests: tests/ops/test_softmax_kernels.py.
// Benchmark: benchmarks/softmax.py.

#include "row_lanes.cuh"    // WARP, lanes_sum, row_max_and_exp_sum: a row's max and sums across its lanes
#include "typed_math.cuh"  // exp_of: one name for float and double

// Threads per block of every kernel; cnn_gpu/ops/activation.py launches with the same number.
constexpr int SOFTMAX_BLOCK = 256;

// The forward body of rungs 1 and 2: row x (cols values) into row y, by the LANES threads that share
// the row, this one being `lane`. A third loop after row_max_and_exp_sum's two writes y; it computes
// e^(x - max) again rather than storing it in y in the second and scaling y in the third: a read of
// x instead of a read of y, and y written once. A NaN in a row becomes its maximum (nan_max
// propagates it), and every x - max of the row, the sum and so every output of the row turn NaN
// with it, as in the reference; so does a +inf (inf - inf = NaN), or a row of -inf only. A -inf
// among finite values gives a clean 0. The other rows never read any of it.
template <int LANES, typename T>
__device__ __forceinline__ void softmax_forward_row(const T* __restrict__ x, T* __restrict__ y, int cols, int lane) {
    const MaxAndExpSum<T> row = row_max_and_exp_sum<LANES>(x, cols, lane);
    // sum >= 1, so no quotient overflows. A division, as the reference's e / sum, rather than a
    // product with 1 / sum: one rounding, not two.
    for (int c = lane; c < cols; c += LANES) y[c] = exp_of(x[c] - row.top) / row.sum;
}

// The backward body of rungs 3 and 4, shared as the forward's is: the row's dot product dy . y, then
// dx = y * (dy - dot). The second loop reads y and dy again, from L1 or L2 as the forward's does.
// A NaN in y or dy makes the dot, and so the row's dx, NaN, as in the reference.
template <int LANES, typename T>
__device__ __forceinline__ void softmax_backward_row(const T* __restrict__ y, const T* __restrict__ dy,
                                                     T* __restrict__ dx, int cols, int lane) {
    T dot = T(0);
    for (int c = lane; c < cols; c += LANES) dot += dy[c] * y[c];
    dot = lanes_sum<LANES>(dot);
    for (int c = lane; c < cols; c += LANES) dx[c] = y[c] * (dy[c] - dot);
}

// Where this thread's row starts (a 64-bit offset: rows x cols may pass 2^31 elements) and its lane
// in the row, with LANES threads per row and SOFTMAX_BLOCK / LANES rows per block; false past the
// last row. Whole warps of a warp-per-row kernel leave together, so its full-mask shuffles never
// miss a lane.
template <int LANES>
__device__ __forceinline__ bool row_of_thread(int rows, int cols, long long* start, int* lane) {
    const int r = blockIdx.x * (SOFTMAX_BLOCK / LANES) + threadIdx.x / LANES;
    *start = (long long)r * cols;
    *lane = threadIdx.x % LANES;
    return r < rows;
}

// ---------------------------------------------------------------------------------------------
// 1. Forward, one thread per row.
// Idea: the serial loops, one row per thread.
// Expected bottleneck: uncoalesced accesses, as rung 1 of loss.cu. At each step a warp touches one
// element of 32 rows `cols` elements apart. With 10 classes the 32 rows span 1280 bytes (float32)
// that stay in L1 across the steps: device memory reads each byte about once, but each load and
// store costs up to 32 L1 transactions instead of 1 or 2, so L1 throughput binds. With 1000 classes
// a block's rows span 1 MB, more than L1 holds: a 32-byte sector is gone before the thread's next
// 4 bytes in it are wanted, so device memory moves up to 8x the bytes used, in each of the three
// loops. And few rows starve the chip: 4096 rows are 16 blocks for the 132 SMs of an H100.
// Measured (NVIDIA H200, benchmarks/results/softmax.json, commit 27bd7f2; by CUDA graph): (4096, 1000)
// 442.0 us, 74 GB/s, 1.8% of copy bandwidth (4180 GB/s), 23x rung 2's time, 36x torch.softmax's (12.3 us).
// (65536, 10) 9.5 us, 552 GB/s, 13.2%: 1.5x faster than rung 2 (14.7 us) and 2.1x faster than the reference
// on CuPy (20.3), but torch.softmax takes 4.8 (2.0x faster). (4096, 10) 3.6 us (rung 2 2.1). As expected.
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_BLOCK)
    softmax_forward_row_per_thread(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    long long start;
    int lane;
    if (row_of_thread<1>(rows, cols, &start, &lane)) softmax_forward_row<1>(x + start, y + start, cols, lane);
}

// ---------------------------------------------------------------------------------------------
// 2. Forward, one warp per row, shuffles only.
// Idea: SOFTMAX_BLOCK / 32 rows per block, each warp on its own row: consecutive lanes read
// consecutive elements (each load a contiguous run), the row's max and sum combined by butterflies
// in registers, no shared memory, no barrier.
// Expected bottleneck: device memory bandwidth for rows of hundreds of classes and more (1000
// classes: 32 loads per lane per loop, the second and third loops' from L1 or L2). For the 10
// classes of a classifier, 22 of the 32 lanes idle and each warp moves only 40 bytes (float32) per
// loop between two 5-step butterflies: latency, the loads in flight per SM too few to reach copy
// bandwidth; rung 1 may well be the faster there.
// Edges: cols < 32 (and cols = 1) leaves lanes without elements; they start the max from x[0] and
// the sum from 0, and take part in the butterflies, which need all 32 lanes.
// Measured (NVIDIA H200, benchmarks/results/softmax.json, commit 27bd7f2; by CUDA graph): (4096, 1000)
// 18.8 us, 1738 GB/s, 42% of copy bandwidth (4180 GB/s); torch.softmax 12.3 us, 2661 GB/s, 64% (1.53x
// faster than ours); the reference on CuPy 84.5 (ours 4.5x faster). (65536, 10) 14.7 us, 358 GB/s, 8.6%:
// torch.softmax 4.8 (3.0x faster than ours), CuPy 20.3 (ours 1.4x), and rung 1 faster (9.5), as foreseen.
// (4096, 10) 2.1 us: torch.softmax 1.6 (1.3x faster), CuPy 9.4 (ours 4.4x).
// Not as expected at 1000 classes: the comment expected device memory bandwidth; the rung reaches 42% of
// copy where torch.softmax reaches 64% on the same bytes (rung 5, the row read once, 49%).
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_BLOCK)
    softmax_forward_warp_per_row(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    long long start;
    int lane;
    if (row_of_thread<WARP>(rows, cols, &start, &lane)) softmax_forward_row<WARP>(x + start, y + start, cols, lane);
}

// ---------------------------------------------------------------------------------------------
// 3. Backward, one thread per row.
// Idea: the backward's two loops, one row per thread: rung 1's layout on two inputs.
// Expected bottleneck: as rung 1, uncoalesced, now on y and dy in both loops and dx in the second:
// L1 transactions for short rows; for long ones device memory moving up to 8x the bytes used.
// Measured (NVIDIA H200, benchmarks/results/softmax.json, commit 27bd7f2; by CUDA graph): (4096, 1000)
// 504.8 us, 97 GB/s, 2.3% of copy bandwidth (4180 GB/s), 24x rung 4's time. (65536, 10) 5.6 us, 1413 GB/s,
// 34%: 2.0x faster than rung 4 (11.1 us), 1.32x faster than PyTorch's backward (7.3), 2.9x faster than
// the reference on CuPy (16.0): the fastest backward measured at that shape. (4096, 10) 3.3 us (rung 4 1.7).
// As expected.
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_BLOCK)
    softmax_backward_row_per_thread(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx, int rows,
                                    int cols) {
    long long start;
    int lane;
    if (row_of_thread<1>(rows, cols, &start, &lane)) {
        softmax_backward_row<1>(y + start, dy + start, dx + start, cols, lane);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Backward, one warp per row, shuffles only.
// Idea: rung 2's layout on the backward: coalesced reads of y and dy, the dot product combined by
// one butterfly.
// Expected bottleneck: device memory bandwidth for long rows (12 bytes an element in float32); for
// 10 classes, latency as rung 2, with one butterfly instead of two.
// Edges: as rung 2's, lanes without elements add 0 to the dot and take part in the butterfly.
// Measured (NVIDIA H200, benchmarks/results/softmax.json, commit 27bd7f2; by CUDA graph): (4096, 1000)
// 21.0 us, 2344 GB/s, 56% of copy bandwidth (4180 GB/s); PyTorch's backward (_softmax_backward_data)
// 25.2 us (ours 1.20x faster), the reference on CuPy 70.8 (3.4x). (65536, 10) 11.1 us, 710 GB/s, 17%:
// PyTorch 7.3 (1.5x faster than ours), CuPy 16.0 (ours 1.4x), rung 3 faster (5.6). (4096, 10) 1.7 us:
// PyTorch 2.7 (ours 1.5x faster), CuPy 6.2 (3.5x). Below the bandwidth expected at 1000 classes (56%),
// though ahead of PyTorch there; rung 6, y and dy read once, reaches 77%.
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_BLOCK)
    softmax_backward_warp_per_row(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx, int rows,
                                  int cols) {
    long long start;
    int lane;
    if (row_of_thread<WARP>(rows, cols, &start, &lane)) {
        softmax_backward_row<WARP>(y + start, dy + start, dx + start, cols, lane);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Forward, one warp per row, the row in registers.
// Idea: rung 2 reads x three times, in row_max_and_exp_sum's two loops and the third that writes y,
// the second and third from L1 or L2. Here each lane loads its elements (lane, lane + 32, ...) once,
// into registers, all of its loads in flight together (load_held_row, row_lanes.cuh): device memory
// and the caches see x once and y once, the floor of 8 bytes an element (float32). Up to
// HELD_ROW_COLS columns (32 registers a lane in float32, 64 in float64); a longer row runs rung 2's
// body. The same operations in the same order as rung 2 (e^(x - max) again for y): the same bits.
// Expected bottleneck: device memory bandwidth at 1000 classes (rung 2: 41% of copy, torch.softmax
// 64%, H200, softmax.json at b323e23); at 10 classes rung 2's latency, 22 lanes idle (no gain).
// Edges: elements past cols are neither loaded nor stored, and add nothing to the max or the sum.
// Measured (NVIDIA H200, benchmarks/results/softmax.json, commit 27bd7f2; by CUDA graph): (4096, 1000)
// 15.9 us, 2057 GB/s, 49% of copy bandwidth (4180 GB/s): 1.18x faster than rung 2 (18.8 us, 42%), but
// torch.softmax (12.3 us, 64%) still 1.29x faster than ours. (65536, 10) 73.0 us, 72 GB/s, 1.7%: 5.0x
// rung 2's time (14.7); (4096, 10) 6.5 us, 3.1x rung 2's (2.1). Half held: closer to the bandwidth at
// 1000 classes, not at it; at 10 classes not level with rung 2 as expected but far slower, a cost no
// counter has explained yet (a suspect: each lane tests all 32 held slots, where rung 2's loops run once).
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_BLOCK)
    softmax_forward_warp_per_row_registers(const T* __restrict__ x, T* __restrict__ y, int rows, int cols) {
    long long start;
    int lane;
    if (!row_of_thread<WARP>(rows, cols, &start, &lane)) return;
    if (cols > HELD_ROW_COLS) {
        softmax_forward_row<WARP>(x + start, y + start, cols, lane);
        return;
    }
    T held[HELD_PER_LANE];
    load_held_row(x + start, cols, lane, held);
    const MaxAndExpSum<T> row = held_row_max_and_exp_sum(held, x[start], cols, lane);
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i)
        if (lane + i * WARP < cols) y[start + lane + i * WARP] = exp_of(held[i] - row.top) / row.sum;
}

// ---------------------------------------------------------------------------------------------
// 6. Backward, one warp per row, the row in registers.
// Idea: rung 4 reads y and dy twice (the dot product, then dx); here once, into registers (64 a lane
// in float32), which dx is computed from: 12 bytes an element, the floor. Rows longer than
// HELD_ROW_COLS run rung 4's body. The same bits as rung 4.
// Expected bottleneck: device memory bandwidth at 1000 classes (rung 4: 55% of copy, H200,
// softmax.json at b323e23); at 10 classes rung 4's latency.
// Edges: as rung 5's.
// Measured (NVIDIA H200, benchmarks/results/softmax.json, commit 27bd7f2; by CUDA graph): (4096, 1000)
// 15.3 us, 3214 GB/s, 77% of copy bandwidth (4180 GB/s): 1.37x faster than rung 4 (21.0 us, 56%) and
// 1.65x faster than PyTorch's backward (25.2), the fastest backward at that shape. (65536, 10) 33.6 us,
// 234 GB/s, 5.6%: 3.0x rung 4's time (11.1); (4096, 10) 3.2 us, 1.8x rung 4's (1.7). As expected at 1000
// classes; at 10 classes slower than rung 4, not level, as rung 5 (not profiled).
template <typename T>
__global__ void __launch_bounds__(SOFTMAX_BLOCK)
    softmax_backward_warp_per_row_registers(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx,
                                            int rows, int cols) {
    long long start;
    int lane;
    if (!row_of_thread<WARP>(rows, cols, &start, &lane)) return;
    if (cols > HELD_ROW_COLS) {
        softmax_backward_row<WARP>(y + start, dy + start, dx + start, cols, lane);
        return;
    }
    T y_held[HELD_PER_LANE], dy_held[HELD_PER_LANE];
    load_held_row(y + start, cols, lane, y_held);
    load_held_row(dy + start, cols, lane, dy_held);
    T dot = T(0);
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i)
        if (lane + i * WARP < cols) dot += dy_held[i] * y_held[i];
    dot = lanes_sum<WARP>(dot);
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i)
        if (lane + i * WARP < cols) dx[start + lane + i * WARP] = y_held[i] * (dy_held[i] - dot);
}
