// 2-D max and average pooling over NHWC input, forward and backward.
//
//   max forward    y[n, p, q, c] = max over the window of x, argmax[n, p, q, c] = its tap r*S + s
//   max backward   dx[n, h, w, c] = sum of dy over the windows whose argmax names (h, w)
//   avg forward    y = the window's sum / the number of its real (unpadded) elements
//   avg backward   dx[n, h, w, c] = sum of dy / count over the windows that cover (h, w)
//
// The window is R x S taps moved stride_h x stride_w at a time; with 'same' padding its origin is
// pad_top rows above and pad_left columns left of the input's (TensorFlow's rule, computed by
// cnn_gpu/ops/window.py: the odd padded element goes after). Every variant but the scatter, whose
// atomics add in no fixed order, matches the NumPy reference of cnn_gpu/ops/pool.py bit for bit:
// max pooling keeps the first maximum in row-major window order and propagates a NaN; sums are
// added in the reference's order.
//
// A lesson in the channels-last layout. Pooling does almost no arithmetic: its floor is reading
// the input once and writing the outputs once at copy bandwidth. Neighbouring channels of a pixel
// are neighbours in memory, so a warp whose threads take consecutive channels reads one contiguous
// run, and one that takes consecutive pixels of one channel reads 32 scattered floats. The ladder:
//   1. max_pool2d_forward_channel_slow  one thread per output, consecutive threads on consecutive
//                                       pixels of one channel: every access strided (uncoalesced)
//   2. max_pool2d_forward               one thread per output, consecutive threads on consecutive
//                                       channels: coalesced reads and writes
//   3. max_pool2d_forward_float4        four channels per thread, 16-byte loads and stores
//                                       (float32, C % 4 == 0)
//   4. max_pool2d_backward_scatter      one thread per dy element, atomicAdd into dx at the argmax
//   5. max_pool2d_backward_gather       one thread per dx element, summing the windows that chose it:
//                                       no atomics, no zero fill, deterministic
//   6. avg_pool2d_forward               one thread per output (as 2)
//   7. avg_pool2d_backward_gather       one thread per dx element (as 5)
//   8. max_pool2d_backward_window       one thread per window, where windows do not overlap: its
//                                       cell of dx written whole, the integer work per window
// Every variant but 3 is a template over the element type T (float, double). Indices are 64-bit
// (long long): N*H*W*C may exceed 2^31 even when each extent fits an int.
//
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2), float32, timed launch by
// launch, on two 'valid' poolings of about 200 MiB of input: A = 128x56x56x128, 2 x 2 at stride 2
// (windows side by side), B = 64x113x113x64, 3 x 3 at stride 2 (overlapping). Bytes counted are the
// op's fewest (x read, y written, and the int32 argmax for max pooling; dy, argmax read and dx
// written backward), against the file's copy bandwidth, 4180 GB/s. PyTorch's max_pool2d (with
// indices) and avg_pool2d on the same channels_last memory: A 168.8 and 318.1 us (44% and 19% of
// copy), B 236.5 and 370.4 (32% and 17%). Every rung passed its check. The surprises: the rungs
// expected to be bound by DRAM are not, save the float4 forward (68% and 49% of copy) and, short of
// it, rung 8 (44% on A); the gather backwards, which the kernel backends ran until this run, are
// 3.3x slower than the scatter and move 8% to 11% of copy bandwidth. The kernel backends now run rung
// 8 where windows do not overlap (the gather's bits, 4.0x its speed on A), the gather elsewhere.
// Wrappers: cnn_gpu/ops/pool.py. Tests: tests/ops/test_pool_kernels.py. Benchmark: benchmarks/pool.py.

#include "nhwc.cuh"

// The pooling's shape. Every kernel takes it as the scalars POOL_SHAPE_PARAMS, in this order (the
// wrappers pass them so), and rebuilds the struct with POOL_SHAPE.
struct Pool {
    int N, H, W, C;          // the input (N, H, W, C); C counts float4s in variant 3
    int P, Q;                // the output's height and width
    int R, S;                // the window's height and width
    int stride_h, stride_w;
    int pad_top, pad_left;   // the padding before the input's first row and first column
};
#define POOL_SHAPE_PARAMS                                                                                    \
    int N, int H, int W, int C, int P, int Q, int R, int S, int stride_h, int stride_w, int pad_top, int pad_left
#define POOL_SHAPE Pool{N, H, W, C, P, Q, R, S, stride_h, stride_w, pad_top, pad_left}

// The taps of output (p, q)'s window that land on the input: rows r_begin .. r_end - 1 and columns
// s_begin .. s_end - 1 of the R x S window, whose tap (0, 0) lies on input (h0, w0), negative in
// the padding. Every window holds at least one real element (window.py's padding never exceeds
// the window), so both ranges are non-empty.
struct Taps {
    int h0, w0, r_begin, r_end, s_begin, s_end;
};

__device__ __forceinline__ Taps taps_on_input(const Pool& g, int p, int q) {
    Taps t;
    t.h0 = p * g.stride_h - g.pad_top;
    t.w0 = q * g.stride_w - g.pad_left;
    t.r_begin = max(0, -t.h0);
    t.r_end = min(g.R, g.H - t.h0);
    t.s_begin = max(0, -t.w0);
    t.s_end = min(g.S, g.W - t.w0);
    return t;
}

// The outputs along one axis whose windows cover a position, `at` counted from the padded origin
// (input index + pad): p with p * stride <= at < p * stride + window, within 0 .. outputs - 1.
// Empty (last < first) for a position no window reaches: a gap when stride > window, or rows
// past the last valid window.
struct Span {
    int first, last;
};

__device__ __forceinline__ Span windows_covering(int at, int stride, int window, int outputs) {
    Span span;
    span.first = at < window ? 0 : (at - window) / stride + 1;
    span.last = min(at / stride, outputs - 1);
    return span;
}

// body(i, e) for every element i of an (N, rows, cols, C) array and its coordinates e, in a
// grid-stride loop over the launch's threads, consecutive threads on consecutive elements (channel
// fastest): the loop of the kernels with a thread per output (rungs 4, 6 and 8) or per input
// element (5 and 7).
template <class Body>
__device__ __forceinline__ void for_each_element(int N, int rows, int cols, int C, Body body) {
    const long long count = (long long)N * rows * cols * C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x)
        body(i, channel_fastest(i, rows, cols, C));
}

// The running maximum starts at -infinity with index 0. The reference starts from tap 0 itself,
// padding counting as -infinity, and lets only a strictly greater tap take the index: starting
// from (-inf, 0) and visiting the real taps only gives the same y and argmax, -inf inputs and a
// padded tap 0 included. Built from bits, so that no header is needed under NVRTC.
__device__ __forceinline__ void max_start(float& best, int& arg) {
    best = -__int_as_float(0x7f800000);
    arg = 0;
}
__device__ __forceinline__ void max_start(double& best, int& arg) {
    best = -__longlong_as_double(0x7ff0000000000000ll);
    arg = 0;
}
__device__ __forceinline__ void max_start(float4& best, int4& arg) {
    max_start(best.x, arg.x);
    max_start(best.y, arg.y);
    max_start(best.z, arg.z);
    max_start(best.w, arg.w);
}

// One tap of the running maximum, as the reference's loop takes it: a strictly greater value takes
// the index (a tie keeps the earlier tap, the first in row-major order); a NaN becomes the maximum,
// as NumPy's maximum makes it, but takes no index (NaN > best is false), and nothing compares
// greater than a NaN afterwards, so y stays NaN and argmax stays where the reference leaves it.
template <typename T>
__device__ __forceinline__ void max_take(T v, int tap, T& best, int& arg) {
    if (v > best) {
        best = v;
        arg = tap;
    } else if (v != v) {
        best = v;
    }
}
__device__ __forceinline__ void max_take(float4 v, int tap, float4& best, int4& arg) {
    max_take(v.x, tap, best.x, arg.x);
    max_take(v.y, tap, best.y, arg.y);
    max_take(v.z, tap, best.z, arg.z);
    max_take(v.w, tap, best.w, arg.w);
}

// The body of the three max-forward rungs: a grid-stride loop over the outputs, each thread taking
// the window of one output (V = T) or of four channels at once (V = float4, I = int4). The rungs
// differ only in which output consecutive threads take (CHANNEL_FASTEST) and in V.
template <bool CHANNEL_FASTEST, typename V, typename I>
__device__ __forceinline__ void max_forward_loop(const V* __restrict__ x, V* __restrict__ y, I* __restrict__ argmax,
                                                 const Pool& g) {
    const long long outputs = (long long)g.N * g.P * g.Q * g.C;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < outputs; i += (long long)gridDim.x * blockDim.x) {
        const Coord o = CHANNEL_FASTEST ? channel_fastest(i, g.P, g.Q, g.C) : channel_slowest(i, g.P, g.Q, g.C);
        const Taps t = taps_on_input(g, o.row, o.col);
        const long long corner = nhwc_offset(o.n, t.h0, t.w0, o.c, g.H, g.W, g.C);
        V best;
        I arg;
        max_start(best, arg);
        for (int r = t.r_begin; r < t.r_end; ++r) {
            for (int s = t.s_begin; s < t.s_end; ++s) {
                max_take(x[corner + ((long long)r * g.W + s) * g.C], r * g.S + s, best, arg);
            }
        }
        const long long out = CHANNEL_FASTEST ? i : nhwc_offset(o.n, o.row, o.col, o.c, g.P, g.Q, g.C);
        y[out] = best;
        argmax[out] = arg;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Max forward, one thread per output, channel slowest across threads.
// Idea: the loop as an NCHW programmer writes it: consecutive threads take consecutive output
// columns q of one channel. In NHWC those are C elements apart in y and stride_w * C apart in x,
// so (float32, C >= 8) each of a warp's 32 loads and stores is a separate 32-byte sector carrying
// 4 useful bytes.
// Expected bottleneck: memory transactions, up to 8x the sectors of rung 2 for the same bytes;
// how much of that reaches device memory depends on whether a sector is still in L2 when the
// warps of the next channel (P*Q outputs later) want its other floats.
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2):
// A 696.4 us, 443 GB/s, 10.6% of copy; B 1097.7 us, 284 GB/s, 6.8%. 3.5x (A) and 3.9x (B) rung 2's
// time: slower as expected, but under the 8x of the sectors.
template <typename T>
__global__ void max_pool2d_forward_channel_slow(const T* __restrict__ x, T* __restrict__ y, int* __restrict__ argmax,
                                                POOL_SHAPE_PARAMS) {
    const Pool g = POOL_SHAPE;
    max_forward_loop<false>(x, y, argmax, g);
}

// ---------------------------------------------------------------------------------------------
// 2. Max forward, one thread per output, channel fastest.
// Idea: output i in memory order, so consecutive threads take consecutive channels of one pixel:
// each tap's loads and the y and argmax stores are contiguous runs, whole sectors used. Overlapping
// windows (stride < window) read an input pixel more than once; the second read finds it in L1/L2.
// Expected bottleneck: device memory bandwidth (x once, y and argmax once), with the index divisions
// (about 20 instructions each: nhwc.cuh) and the per-tap loop as the overhead.
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2):
// A 201.7 us, 1528 GB/s, 36.6% of copy; B 284.0 us, 1098 GB/s, 26.3%; PyTorch's max_pool2d takes
// 0.84 and 0.83 of this time. The prediction missed: not DRAM-bound. Rung 3, the same bytes with a
// quarter of the memory instructions and index arithmetic, is 1.9x faster on both, so those, more
// than memory, bound this rung.
template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, int* __restrict__ argmax,
                                   POOL_SHAPE_PARAMS) {
    const Pool g = POOL_SHAPE;
    max_forward_loop<true>(x, y, argmax, g);
}

// ---------------------------------------------------------------------------------------------
// 3. Max forward, four channels per thread through float4.
// Idea: rung 2 with one 16-byte load per tap and 16-byte stores of y and of argmax (int4): a
// quarter of the memory instructions and of the index arithmetic per byte. Needs C % 4 == 0, so a
// float4 never straddles two pixels, and 16-byte-aligned arrays; the wrapper checks. C is passed
// in floats like every rung's; the loop counts float4s.
// Expected bottleneck: device memory bandwidth.
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2):
// A 108.8 us, 2833 GB/s, 67.8% of copy; B 151.1 us, 2065 GB/s, 49.4%. The fastest max forward,
// 1.6x faster than PyTorch's max_pool2d on both (168.8, 236.5 us), though short of copy bandwidth,
// most on B, whose windows overlap (each input loaded by 2.25 windows on average, the repeats from
// L1/L2).
extern "C" __global__ void max_pool2d_forward_float4(const float4* __restrict__ x, float4* __restrict__ y,
                                                     int4* __restrict__ argmax, POOL_SHAPE_PARAMS) {
    const Pool g{N, H, W, C / 4, P, Q, R, S, stride_h, stride_w, pad_top, pad_left};
    max_forward_loop<true>(x, y, argmax, g);
}

// ---------------------------------------------------------------------------------------------
// 4. Max backward, scatter: one thread per dy element.
// Idea: the forward's own direction: each dy goes to the input element its argmax names, added
// with atomicAdd because overlapping windows (stride < window) can name the same element. dx must
// be zeroed first (the wrapper does): a full extra write of dx. A tap that lands on padding (a
// window whose real elements are all -inf or NaN) is dropped, as the reference crops it; so is an
// argmax outside the window, which the forward never writes.
// Not deterministic: where windows overlap, the order of the atomic additions, and so the rounding
// of their float sum, changes from run to run.
// Expected bottleneck: the atomics, read-modify-writes in L2, plus the zero fill; without overlap
// each dx element gets at most one, so they do not contend.
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2), the zero fill counted in the
// time, not in the bytes: A 202.8 us, 1520 GB/s, 36.4% of copy; B 235.5 us, 1325 GB/s, 31.7%. About
// rung 2's rate, and 3.3x faster than the gather (rung 5), fill and atomics and all; on A, where
// windows do not overlap, rung 8 is 1.2x faster still.
template <typename T>
__global__ void max_pool2d_backward_scatter(const T* __restrict__ dy, const int* __restrict__ argmax,
                                            T* __restrict__ dx, POOL_SHAPE_PARAMS) {
    const Pool g = POOL_SHAPE;
    for_each_element(N, P, Q, C, [&](long long i, const Coord& o) {
        const Taps t = taps_on_input(g, o.row, o.col);
        const int tap = argmax[i];
        const int r = tap / S, s = tap % S;
        if (r >= t.r_begin && r < t.r_end && s >= t.s_begin && s < t.s_end) {
            atomicAdd(&dx[nhwc_offset(o.n, t.h0 + r, t.w0 + s, o.c, H, W, C)], dy[i]);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 5. Max backward, gather: one thread per dx element.
// Idea: each thread visits only the windows that cover its element (windows_covering: one for a
// 2x2 stride-2 pool, up to four for 3x3 stride 2) and adds the dy of those whose argmax names its
// tap. Every dx element is written once, by one thread: no atomics, no zero fill, the same bits on
// every run. The windows are visited from the last to the first, which is the order of increasing
// tap, the order in which the reference's fold adds them: the float sum is the reference's own.
// Expected bottleneck: device memory bandwidth (dy and argmax read, dx written); neighbouring
// threads re-read the same dy and argmax of overlapping windows from L1/L2.
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2):
// A 671.1 us, 459 GB/s, 11.0% of copy; B 784.1 us, 398 GB/s, 9.5%. The prediction missed: not
// DRAM-bound, and 3.3x the scatter's time on both. The kernel backends run it where windows overlap
// (deterministic, where the scatter is not), so there it costs them the difference. No counters
// were taken; the likely bound is the per-element integer work (seven divisions, about 20
// instructions each: nhwc.cuh's three and windows_covering's four), as rung 3's gain over rung 2
// suggests for the forward. At commit b323e23 (pool.json, another H200 run) it took 758.0 and
// 863.3 us, each window's dy load waiting for its argmax load, which decided it (sm_90 SASS: a
// branch between the two); since, both go out together and a select adds dy or zero, and the time
// is 11% (A) and 9% (B) lower, where rungs 2, 4 and 7 moved under 3% between the two runs.
template <typename T>
__global__ void max_pool2d_backward_gather(const T* __restrict__ dy, const int* __restrict__ argmax,
                                           T* __restrict__ dx, POOL_SHAPE_PARAMS) {
    for_each_element(N, H, W, C, [&](long long i, const Coord& e) {
        const int at_h = e.row + pad_top, at_w = e.col + pad_left;
        const Span ps = windows_covering(at_h, stride_h, R, P);
        const Span qs = windows_covering(at_w, stride_w, S, Q);
        T sum = T(0);
        for (int p = ps.last; p >= ps.first; --p) {
            for (int q = qs.last; q >= qs.first; --q) {
                const long long j = nhwc_offset(e.n, p, q, e.c, P, Q, C);
                // dy[j] read whatever argmax[j] holds, so that the two loads go out together: read
                // only on a match, it waited for argmax's round trip to memory before starting its own.
                // Adding a zero leaves sum as it was (it starts at +0, so it is never -0).
                const T share = dy[j];
                sum += argmax[j] == (at_h - p * stride_h) * S + (at_w - q * stride_w) ? share : T(0);
            }
        }
        dx[i] = sum;
    });
}

// ---------------------------------------------------------------------------------------------
// 6. Average forward: one thread per output, channel fastest (as rung 2).
// Idea: the sum of the window's real taps in row-major order (the reference's order: its padded
// taps add zeros), divided by their count, so a 'same' window at the border is the mean of its
// real elements, as Keras has it.
// Expected bottleneck: device memory bandwidth (x once, y once).
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2):
// A 188.7 us, 1361 GB/s, 32.6% of copy; B 227.0 us, 1148 GB/s, 27.5%; 1.7x (A) and 1.6x (B) faster
// than PyTorch's avg_pool2d (318.1, 370.4 us). The prediction missed as rung 2's did: not
// DRAM-bound; the same one-thread-per-output loop, at about the same rate.
template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, POOL_SHAPE_PARAMS) {
    const Pool g = POOL_SHAPE;
    for_each_element(N, P, Q, C, [&](long long i, const Coord& o) {
        const Taps t = taps_on_input(g, o.row, o.col);
        const long long corner = nhwc_offset(o.n, t.h0, t.w0, o.c, H, W, C);
        T sum = T(0);
        for (int r = t.r_begin; r < t.r_end; ++r) {
            for (int s = t.s_begin; s < t.s_end; ++s) sum += x[corner + ((long long)r * W + s) * C];
        }
        y[i] = sum / T((t.r_end - t.r_begin) * (t.s_end - t.s_begin));
    });
}

// ---------------------------------------------------------------------------------------------
// 7. Average backward, gather: one thread per dx element (as rung 5).
// Idea: each covering window's dy divided by that window's count of real elements, the shares
// added in the reference's order (windows from the last to the first); every dx element written
// once, no atomics.
// Expected bottleneck: device memory bandwidth (dy read, dx written); the per-window count costs
// a few integer operations per covering window.
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2):
// A 675.1 us, 381 GB/s, 9.1% of copy; B 792.0 us, 329 GB/s, 7.9%. The prediction missed, as rung
// 5's: 3.6x (A) and 3.5x (B) the time of the forward (rung 6), which moves the same bytes.
template <typename T>
__global__ void avg_pool2d_backward_gather(const T* __restrict__ dy, T* __restrict__ dx, POOL_SHAPE_PARAMS) {
    const Pool g = POOL_SHAPE;
    for_each_element(N, H, W, C, [&](long long i, const Coord& e) {
        const Span ps = windows_covering(e.row + pad_top, stride_h, R, P);
        const Span qs = windows_covering(e.col + pad_left, stride_w, S, Q);
        T sum = T(0);
        for (int p = ps.last; p >= ps.first; --p) {
            for (int q = qs.last; q >= qs.first; --q) {
                const Taps t = taps_on_input(g, p, q);
                const T count = T((t.r_end - t.r_begin) * (t.s_end - t.s_begin));
                sum += dy[nhwc_offset(e.n, p, q, e.c, P, Q, C)] / count;
            }
        }
        dx[i] = sum;
    });
}

// ---------------------------------------------------------------------------------------------
// 8. Max backward, one thread per window, for windows that do not overlap (stride >= window).
// Idea: rung 5 works out, for every dx element, its (n, h, w, c) and the windows covering it: seven
// integer divisions an element, the likely bound of its 11% of copy bandwidth (its Measured line).
// Where windows do not overlap (Keras's default strides, the pool size), each element lies in at
// most one window, and the windows' cells, stride_h x stride_w elements each, the first from the
// image's first row and column and the last to its last, share the image out without overlap. So a
// thread per output (n, p, q, c) reads its dy and argmax once and writes its whole cell: dy at the
// tap argmax names, 0 elsewhere (the rows and columns no window reaches included). Channel fastest,
// a warp's stores are as coalesced as rung 5's. Every dx element written once: no atomics, no zero
// fill, and rung 5's bits (dy is added to +0 as rung 5's sum does, so a -0 comes out +0).
// Expected bottleneck: device memory bandwidth, the integer work three divisions a window (2 x 2:
// four elements) where rung 5 does seven an element; A (2 x 2 at stride 2) at 50% of copy or more.
// Edges: cells clipped to the image; an empty output (no windows) leaves dx to the wrapper, which
// zeroes it. The wrapper runs rung 5 where windows overlap (B).
// Measured (NVIDIA H200, benchmarks/results/pool.json, commit 27bd7f2; A only, as the benchmark times
// it only where windows do not overlap): 166.0 us, 1857 GB/s, 44.4% of copy. Half held: 4.0x faster
// than rung 5 (671.1 us) and 1.2x faster than the scatter (202.8), the fastest max backward, but
// short of the 50% expected.
template <typename T>
__global__ void max_pool2d_backward_window(const T* __restrict__ dy, const int* __restrict__ argmax,
                                           T* __restrict__ dx, POOL_SHAPE_PARAMS) {
    for_each_element(N, P, Q, C, [&](long long i, const Coord& o) {
        const int top = o.row * stride_h - pad_top, left = o.col * stride_w - pad_left;  // tap (0, 0)
        const int row_end = o.row == P - 1 ? H : min(H, top + stride_h);
        const int col_end = o.col == Q - 1 ? W : min(W, left + stride_w);
        const T share = T(0) + dy[i];
        const int chosen = argmax[i];
        for (int h = max(0, top); h < row_end; ++h) {
            for (int w = max(0, left); w < col_end; ++w) {
                const int r = h - top, s = w - left;
                dx[nhwc_offset(o.n, h, w, o.c, H, W, C)] = r < R && s < S && r * S + s == chosen ? share : T(0);
            }
        }
    });
}
