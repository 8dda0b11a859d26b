// Batch normalization over the channel (last) axis of channels-last activations, forward and
// backward. An (N, H, W, C) batch, or an (N, C) one after a Dense layer, is a row-major rows x cols
// matrix with cols = C channels and rows = N*H*W (or N) samples of each; every channel c is
// normalised by the mean and variance of its column:
//   mean_c = sum_r x[r, c] / rows        var_c = sum_r (x[r, c] - mean_c)^2 / rows   (biased, as Keras)
//   y[r, c] = (x[r, c] - mean_c) * scale_c + beta_c,   scale_c = gamma_c / sqrt(var_c + epsilon)
// and the backward, with xhat = (x - mean) / sqrt(var + epsilon) and sums over the rows,
//   dbeta_c = sum dy     dgamma_c = sum dy * xhat
//   dx = scale_c * (dy - dbeta_c / rows - xhat * dgamma_c / rows)
// as batch_norm_forward and batch_norm_backward of cnn_gpu/ops/batchnorm.py compute them. In
// inference (or when the layer is frozen) the moving mean and variance stand in for the batch's,
// and dx is scale_c * dy.
//
// Both passes are two column sums and an element-wise pass:
//   forward:  sums of each column   ->  per-channel constants  ->  y = (x - mean) * scale + beta
//   backward: sums of each column   ->  per-channel constants  ->  dx = a dy + b (x - mean) + k
// The element-wise passes are memory-bound (8 and 12 bytes an element in float32), and so are the
// sums (4 and 8): 32 bytes an element for a training step's normalization, six reads of the
// activations' size (x four times, dy twice) and two writes (y, dx). A fused implementation such as
// cuDNN's moves the same: the statistics must be complete before the first element is normalised,
// so x is read twice in the forward, x and dy twice in the backward; what fusion saves is launches.
// Measured (NVIDIA H200, benchmarks/results/batchnorm.json, commit 27bd7f2; a case is a whole pass,
// sums, constants and element-wise pass, its rate counted on the 12 and 20 bytes an element above):
// at the two image shapes cuDNN (through PyTorch) took 0.029/0.036 ms forward/backward at
// (256, 26, 26, 32) and 0.048/0.069 ms at (64, 56, 56, 64), 54%-89% of copy bandwidth; our best rung
// took 1.5x/1.4x and 1.4x/1.3x as long (0.043/0.052 and 0.070/0.090 ms, 37%-68%). More than launches:
// rung 4, one launch fewer than rung 3, takes 7-18 us off it, but rung 2, with rung 3's three launches,
// is level with rung 4 at 32 channels and 10-15 us faster at 64; cuDNN is still 14-21 us ahead.
// PyTorch's native kernels took 0.042/0.053 and 0.070/0.083 ms, level with our best rung (which takes
// 0.98x-1.09x their time). At the Dense shape (4096, 512) cuDNN was far the slowest: 0.301/0.561 ms, 84/75 GB/s (2%
// of copy), 19x/36x PyTorch's native 0.016/0.016 ms and 9x/16x our rung 2. The reference's chain of
// CuPy operations took 6.2-9.4 ms a pass at the image shapes (11-27 GB/s). Every rung passed its check.
//
// The numerical lesson is in the forward's sums. The one-pass formula var = E[x^2] - E[x]^2 loses
// every digit when the mean is large against the spread (a channel of values near 1000 with a
// spread of 0.1: E[x^2] and E[x]^2 agree to 8 digits, float32 keeps 7); the two-pass formula reads x
// twice. Here each column is shifted by a value of its own, its first row's, before squaring:
// var = E[(x - K)^2] - E[x - K]^2 with K = x[0, c] (the "shifted data" algorithm). It cancels only
// as much as the first sample is far from the mean: with d = (K - mean) / std, E[(x - K)^2] is
// var (1 + d^2), so about log10(1 + d^2) digits go, none for a typical first sample (d of 1 or 2),
// more for an outlier (a first sample 30 standard deviations out leaves float32 four digits of the
// variance). One pass, plain sums, so column_sum.cuh's blocks serve as they are, and the sums keep
// a fixed order: the same bits on every run.
//
// The ladder is the column sums' (reduce.cu's rungs 5 to 7, with two sums per element):
//   1. batch_norm_sums_thread_per_column  one thread walks each column; one row of partial sums
//   2. batch_norm_sums_partial            column_sum.cuh's 32 x 8 blocks down 32-column slabs,
//                                         each block's sums a row of partial
//   3. batch_norm_sums_flat               for cols <= NORM_BLOCK: each block walks a run of whole
//                                         rows as one flat array, nearly all its lanes busy
//   4. batch_norm_{forward,backward}_last_block  rung 3, and the constants in the same launch: the
//                                         last block to finish adds the others' sums
// then (after rungs 1 to 3), one thread per channel, batch_norm_forward_constants and
// batch_norm_backward_constants add partial's rows in order into the channel's constants (in
// inference batch_norm_inference_constants takes the moving statistics instead), and
// batch_norm_normalize and batch_norm_backward_data make the element-wise passes. Every kernel is a
// template over the element type T (float, double).
// Wrappers: cnn_gpu/ops/batchnorm.py. Tests: tests/ops/test_batchnorm_kernels.py.
// Benchmark: benchmarks/batchnorm.py.

#include "column_sum.cuh"  // WARP, COLUMN_BLOCK_ROWS, the slab and flat layouts' block sums
#include "last_block.cuh"  // last_block_to_finish: rung 4's handshake
#include "typed_math.cuh"  // sqrt_of

// Threads per block of the one-thread-per-channel and element-wise kernels (cnn_gpu/ops/batchnorm.py
// launches with the same number).
constexpr int NORM_BLOCK = 256;

// Two running sums in one value, so that column_sum.cuh's templates (written for one T) carry both
// at once: first is sum v, second is sum v * u (below). A trivial default constructor, as a
// __shared__ array's element type needs; Pair(0) is the empty sum.
template <typename T>
struct Pair {
    T first, second;
    Pair() = default;
    __device__ __forceinline__ explicit Pair(T zero) : first(zero), second(zero) {}
    __device__ __forceinline__ Pair(T a, T b) : first(a), second(b) {}
    __device__ __forceinline__ Pair& operator+=(const Pair& other) {
        first += other.first;
        second += other.second;
        return *this;
    }
};

// What element i of column c adds to the two sums. With u = x - center_c:
//   forward  (GRADIENT false): (u, u * u), center = the column's first row (K above)
//   backward (GRADIENT true):  (dy, dy * u), center = the batch mean
template <bool GRADIENT, typename T>
__device__ __forceinline__ Pair<T> norm_terms(const T* __restrict__ x, const T* __restrict__ dy, T center,
                                              long long i) {
    const T u = x[i] - center;
    const T v = GRADIENT ? dy[i] : u;
    return Pair<T>(v, v * u);
}

// ---------------------------------------------------------------------------------------------
// 1. One thread per column.
// Idea: reduce.cu's rung 5 with two sums: a thread walks its column down all the rows, a warp
// reading 32 neighbouring elements of a row at each step; its sums are partial's one row.
// Expected bottleneck: parallelism: `cols` threads for the whole matrix (32 channels, one warp on
// the chip), each waiting on one load after another. Fine for a few hundred rows (a Dense layer's
// batch), slow for a convolution's N*H*W.
// Measured (NVIDIA H200, benchmarks/results/batchnorm.json, commit 27bd7f2), a whole pass, forward/backward:
// (256, 26, 26, 32) 5.33/14.4 ms, 12/8 GB/s, 0.3%/0.2% of copy bandwidth (cuDNN 0.029/0.036 ms, 183x/400x
// faster); (64, 56, 56, 64) 6.16/16.4 ms, 25/16 GB/s, 0.6%/0.4% (cuDNN 0.048/0.069, 127x/238x faster);
// (4096, 512) 0.165/0.386 ms, 153/109 GB/s, 4%/3% (PyTorch's native kernels 0.016/0.016 ms; cuDNN
// 0.301/0.561, slower than this rung there). Confirmed: starved for threads on an image batch's rows.
// The rounding lesson: at both image shapes this forward's relative error is 4.5e-5 at 173,056 and
// 200,704 rows a channel, where it is 1.6e-6 at 4096 rows. One thread adds ~200k terms one after
// another in float32, each rounded against a running sum that keeps growing, so the error grows with
// the rows. Rungs 2 to 4 split a column among many threads and add their shares in a fixed tree: at
// most 1.4e-6 at the same shapes. The benchmark's check now allows a sum over the rows its float32
// rounding (1.3e-4 and 1.4e-4 here), which this forward passes; against the 1e-5 of b323e23's run it
// failed. This rung's backward: 3.3e-7 and 3.7e-7.
template <typename T, bool GRADIENT>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_sums_thread_per_column(const T* __restrict__ x, const T* __restrict__ dy,
                                      const T* __restrict__ center, T* __restrict__ partial, int rows, int cols) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) return;
    const T shift = center[col];
    Pair<T> sums(T(0));
    for (int r = 0; r < rows; ++r) sums += norm_terms<GRADIENT>(x, dy, shift, (long long)r * cols + col);
    reinterpret_cast<Pair<T>*>(partial)[col] = sums;
}

// ---------------------------------------------------------------------------------------------
// 2. Blocks down 32-column slabs, a row of partial sums per block.
// Idea: reduce.cu's rung 6 (column_sum.cuh's body) with two sums: a grid of column slabs by up to
// 256 blocks down the rows fills the chip whatever the channel count; each block leaves its sums as
// a row of partial, which the constants kernels below add in order.
// Expected bottleneck: device memory bandwidth where cols is a multiple of 32 (the sums read x, and
// dy in the backward, once); otherwise the last slab's lanes past cols idle, as in reduce.cu's rung 6.
// Measured (NVIDIA H200, benchmarks/results/batchnorm.json, commit 27bd7f2), a whole pass, forward/backward:
// (256, 26, 26, 32) 0.045/0.052 ms, 1481/2133 GB/s, 35%/51% of copy bandwidth (cuDNN 0.029/0.036 ms,
// PyTorch's native kernels 0.042/0.053); (64, 56, 56, 64) 0.070/0.090 ms, 2206/2857 GB/s, 53%/68% (cuDNN
// 0.048/0.069, native 0.070/0.083); (4096, 512) 0.033/0.035 ms, 765/1195 GB/s, 18%/29% (cuDNN 0.301/0.561,
// native 0.016/0.016). Still short of the expectation: 18%-68% of copy at channel counts that are
// multiples of 32; 1.3x-1.5x cuDNN's time on the image batches, level with PyTorch's native kernels there
// (0.98x-1.09x their time), 2.1x-2.3x theirs on the Dense one. The fastest rung at 64 channels, level with
// rung 4 at 32. At b323e23 (batchnorm.json, another H200), before column_sum.cuh's slabs took four rows'
// loads at once, it took 0.069/0.078 and 0.095/0.112 ms on the image batches (23%-55% of copy): 1.2x-1.5x
// faster since, the Dense shape unchanged. The JSON times the whole pass only, so it does not say which
// of its three launches holds the rest of the time.
template <typename T, bool GRADIENT>
__global__ void __launch_bounds__(WARP * COLUMN_BLOCK_ROWS)
    batch_norm_sums_partial(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ center,
                            T* __restrict__ partial, int rows, int cols) {
    const int col = blockIdx.x * WARP + threadIdx.x;
    const T shift = col < cols ? center[col] : T(0);
    const Pair<T> share = thread_column_share<Pair<T>>(
        [&](long long i) { return norm_terms<GRADIENT>(x, dy, shift, i); }, rows, cols);
    store_block_column_sums(share, reinterpret_cast<Pair<T>*>(partial), cols);
}

// ---------------------------------------------------------------------------------------------
// 3. Whole rows as one flat run (cols <= NORM_BLOCK).
// Idea: reduce.cu's rung 7 with two sums (column_sum.cuh's flat_block_column_sums): a block's
// threads step through its rows (NORM_BLOCK / cols) * cols elements at a time, so every lane but
// NORM_BLOCK % cols is busy whatever the channel count, where rung 2 idles the lanes past cols of
// the last 32-column slab: half of them at 16 channels, three quarters at 8.
// Expected bottleneck: device memory bandwidth, for the same reason as rung 2, at any channel count
// up to 256.
// Measured (NVIDIA H200, benchmarks/results/batchnorm.json, commit 27bd7f2), a whole pass, forward/backward:
// (256, 26, 26, 32) 0.061/0.070 ms, 1085/1577 GB/s, 26%/38% of copy bandwidth (cuDNN 0.029/0.036 ms: 2.1x/1.9x
// its time; PyTorch's native kernels 0.042/0.053: 1.5x/1.3x); (64, 56, 56, 64) 0.087/0.112 ms, 1764/2300
// GB/s, 42%/55% (cuDNN 0.048/0.069: 1.8x/1.6x; native 0.070/0.083: 1.3x/1.4x). Not run at (4096, 512):
// 512 channels. Contradicted, as rung 2: 26%-55% of copy, not bandwidth-bound. Against rung 2, 1.36x/1.35x
// its time at 32 channels, 1.25x/1.24x at 64. At b323e23 (batchnorm.json, another H200) this rung was
// 11%/9% faster than rung 2 at 32 channels; since, rung 2's slabs take four rows' loads at once and
// gained 1.2x-1.5x, where this rung's flat walk, given four steps' loads at once too, kept its times.
// Rung 3's body, rung 4's first half.
template <bool GRADIENT, typename T>
__device__ __forceinline__ void flat_norm_sums(const T* __restrict__ x, const T* __restrict__ dy,
                                               const T* __restrict__ center, T* __restrict__ partial, int rows,
                                               int cols) {
    // Every element a thread visits lies in its column, threadIdx.x % cols (the flat layout's rule).
    const T shift = center[threadIdx.x % cols];
    flat_block_column_sums<NORM_BLOCK, Pair<T>>(
        [&](long long i) { return norm_terms<GRADIENT>(x, dy, shift, i); }, reinterpret_cast<Pair<T>*>(partial),
        rows, cols);
}

template <typename T, bool GRADIENT>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_sums_flat(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ center,
                         T* __restrict__ partial, int rows, int cols) {
    flat_norm_sums<GRADIENT>(x, dy, center, partial, rows, cols);
}

// ---------------------------------------------------------------------------------------------
// The per-channel constants: channel col's, from its two sums. The constants kernels below take a
// thread per channel, which adds the `parts` rows of partial in order; rung 4's last block adds
// them in the flat layout (its threads sharing each channel's rows), then a thread per channel.
template <typename T>
__device__ __forceinline__ Pair<T> added_parts(const T* __restrict__ partial, int parts, int cols, int col) {
    Pair<T> sums(T(0));
    for (int p = 0; p < parts; ++p) sums += reinterpret_cast<const Pair<T>*>(partial)[(long long)p * cols + col];
    return sums;
}

// Training: the batch's mean and 1 / sqrt(var + epsilon) (kept for the backward), scale = gamma *
// that, and the moving statistics updated in place as Keras does (center is the sums' shift K):
//   moving = moving * momentum + batch * (1 - momentum)
// From the forward's shifted sums S1 = sum (x - K), S2 = sum (x - K)^2: mean = K + S1 / rows and
// var = S2 / rows - (S1 / rows)^2, clamped at 0 (rounding may leave it a hair below); a NaN stays
// NaN (the comparison is false for it), so a NaN in x reaches the moving variance as in the reference.
template <typename T>
__device__ __forceinline__ void forward_constants(int col, Pair<T> sums, const T* __restrict__ center,
                                                  const T* __restrict__ gamma, T* __restrict__ moving_mean,
                                                  T* __restrict__ moving_variance, T* __restrict__ mean,
                                                  T* __restrict__ inv_std, T* __restrict__ scale, int rows, T momentum,
                                                  T epsilon) {
    const T shifted_mean = sums.first / T(rows);
    const T variance_or_less = sums.second / T(rows) - shifted_mean * shifted_mean;
    const T variance = variance_or_less < T(0) ? T(0) : variance_or_less;
    const T batch_mean = center[col] + shifted_mean;  // the sums' shift K
    const T r = T(1) / sqrt_of(variance + epsilon);
    mean[col] = batch_mean;
    inv_std[col] = r;
    scale[col] = gamma[col] * r;
    moving_mean[col] = moving_mean[col] * momentum + batch_mean * (T(1) - momentum);
    moving_variance[col] = moving_variance[col] * momentum + variance * (T(1) - momentum);
}

template <typename T>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_forward_constants(const T* __restrict__ partial, const T* __restrict__ center,
                                 const T* __restrict__ gamma, T* __restrict__ moving_mean,
                                 T* __restrict__ moving_variance, T* __restrict__ mean, T* __restrict__ inv_std,
                                 T* __restrict__ scale, int parts, int rows, int cols, T momentum, T epsilon) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col < cols)
        forward_constants(col, added_parts(partial, parts, cols, col), center, gamma, moving_mean, moving_variance,
                          mean, inv_std, scale, rows, momentum, epsilon);
}

// Inference: 1 / sqrt(moving_variance + epsilon) and scale; the moving mean is the mean.
template <typename T>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_inference_constants(const T* __restrict__ gamma, const T* __restrict__ moving_variance,
                                   T* __restrict__ inv_std, T* __restrict__ scale, int cols, T epsilon) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) return;
    const T r = T(1) / sqrt_of(moving_variance[col] + epsilon);
    inv_std[col] = r;
    scale[col] = gamma[col] * r;
}

// The backward's constants from its sums S1 = sum dy, S2 = sum dy * (x - mean):
//   dbeta = S1, dgamma = S2 * inv_std, and dx = a dy + b (x - mean) + k with
//   a = gamma * inv_std, b = -a * inv_std * dgamma / rows, k = -a * dbeta / rows
// (the formula at the top, multiplied out). b and k are the terms through the batch's statistics; a
// forward that used the moving ones (constants of the batch) has dx = a dy, and
// batch_norm_backward_data<T, false> leaves b and k out.
template <typename T>
__device__ __forceinline__ void backward_constants(int col, Pair<T> sums, const T* __restrict__ gamma,
                                                   const T* __restrict__ inv_std, T* __restrict__ dgamma,
                                                   T* __restrict__ dbeta, T* __restrict__ a, T* __restrict__ b,
                                                   T* __restrict__ k, int rows) {
    const T r = inv_std[col];
    const T dg = sums.second * r;
    const T coefficient = gamma[col] * r;
    dbeta[col] = sums.first;
    dgamma[col] = dg;
    a[col] = coefficient;
    b[col] = -coefficient * r * dg / T(rows);
    k[col] = -coefficient * sums.first / T(rows);
}

template <typename T>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_backward_constants(const T* __restrict__ partial, const T* __restrict__ gamma,
                                  const T* __restrict__ inv_std, T* __restrict__ dgamma, T* __restrict__ dbeta,
                                  T* __restrict__ a, T* __restrict__ b, T* __restrict__ k, int parts, int rows,
                                  int cols) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col < cols)
        backward_constants(col, added_parts(partial, parts, cols, col), gamma, inv_std, dgamma, dbeta, a, b, k, rows);
}

// ---------------------------------------------------------------------------------------------
// 4. Rung 3's sums and the constants in one launch (cols <= NORM_BLOCK).
// Idea: a pass was three launches (sums, constants, element-wise); here the constants ride on the
// sums' launch: each block leaves its row of partial as in rung 3, counts itself in on a counter,
// and the last block to finish (last_block.cuh, as GEMM's split-K rung 10c) adds every block's row
// in the flat layout, all its threads sharing the rows (where the constants kernel gives a channel
// one thread), then computes each channel's constants. One launch fewer a pass, two a training
// step per normalization; the counter (a zeroed word the wrapper keeps) is left at zero.
// Expected bottleneck: rung 3's, plus the last block's walk over the partial rows (at most 1024 rows
// of cols pairs, read from L2 by __ldcg: another block's row was never in this SM's L1, and must not
// come from it) while the rest of the GPU idles: at 32 channels each thread reads 8 rows' pairs,
// a few dependent L2 round trips. For small batches, where the launch is most of the cost, the win.
// Measured (NVIDIA H200, benchmarks/results/batchnorm.json, commit 27bd7f2), a whole pass, forward/backward:
// (256, 26, 26, 32) 0.043/0.053 ms, 1539/2108 GB/s, 37%/50% of copy bandwidth (cuDNN 0.029/0.036 ms: 1.5x/1.5x
// its time; PyTorch's native kernels 0.042/0.053: 1.0x/1.0x); (64, 56, 56, 64) 0.080/0.105 ms, 1927/2449
// GB/s, 46%/59% (cuDNN 0.048/0.069: 1.7x/1.5x; native 0.070/0.083: 1.2x/1.3x). Against rung 3, 0.71x/0.75x
// its time at 32 channels and 0.92x/0.94x at 64: the launch saved, less the last block's walk, now a gain
// at both. No small batch was timed, so the predicted win there is untested. The default, the fastest
// forward at 32 channels (rung 2 level with it), but rung 2 is 1.14x/1.17x faster at 64.
// At b323e23 (batchnorm.json, another H200) its walk took one pair of loads a step, each step waiting for
// the last (sm_90 SASS), and it took 0.057/0.066 and 0.106/0.131 ms: 21%/17% slower than rung 3 at 64
// channels, the walk costing more than the launch saved. Since, four steps' loads go out together
// (column_sum.cuh's strided_sum), and this rung alone of the two gained (rung 3's times did not move).

// The last block's sums of every block's row of partial, in the first cols threads.
template <typename T>
__device__ __forceinline__ Pair<T> sums_of_partial_rows(const T* __restrict__ partial, int cols) {
    return flat_run_column_sums<NORM_BLOCK, Pair<T>>(
        [&](long long i) { return Pair<T>(__ldcg(partial + 2 * i), __ldcg(partial + 2 * i + 1)); }, 0,
        (long long)gridDim.x * cols, cols);
}

template <typename T>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_forward_last_block(const T* __restrict__ x, T* __restrict__ partial, unsigned* __restrict__ counter,
                                  const T* __restrict__ gamma, T* __restrict__ moving_mean,
                                  T* __restrict__ moving_variance, T* __restrict__ mean, T* __restrict__ inv_std,
                                  T* __restrict__ scale, int rows, int cols, T momentum, T epsilon) {
    // The shift K is x's first row, as in the other rungs (the constants read it as `center`).
    flat_norm_sums<false>(x, x, x, partial, rows, cols);
    if (!last_block_to_finish(counter, gridDim.x)) return;
    const Pair<T> sums = sums_of_partial_rows(partial, cols);
    if (threadIdx.x < cols)
        forward_constants((int)threadIdx.x, sums, x, gamma, moving_mean, moving_variance, mean, inv_std, scale, rows,
                          momentum, epsilon);
}

template <typename T>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_backward_last_block(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ mean,
                                   T* __restrict__ partial, unsigned* __restrict__ counter,
                                   const T* __restrict__ gamma, const T* __restrict__ inv_std,
                                   T* __restrict__ dgamma, T* __restrict__ dbeta, T* __restrict__ a, T* __restrict__ b,
                                   T* __restrict__ k, int rows, int cols) {
    flat_norm_sums<true>(x, dy, mean, partial, rows, cols);
    if (!last_block_to_finish(counter, gridDim.x)) return;
    const Pair<T> sums = sums_of_partial_rows(partial, cols);
    if (threadIdx.x < cols)
        backward_constants((int)threadIdx.x, sums, gamma, inv_std, dgamma, dbeta, a, b, k, rows);
}

// ---------------------------------------------------------------------------------------------
// The element-wise passes: grid-stride loops over the flat matrix. Element i's channel is i % cols;
// rather than a 64-bit division per element, each thread divides once and then steps its channel
// by (the loop's stride) % cols, wrapping at cols.
// Expected bottleneck: device memory bandwidth; the per-channel constants stay in L1.
// Measured (NVIDIA H200, benchmarks/results/batchnorm.json, commit 27bd7f2): the inference forward
// (batch_norm_inference_constants, then batch_norm_normalize; 8 bytes an element) at (256, 26, 26, 32)
// 0.023 ms, 1951 GB/s, 47% of copy bandwidth; (64, 56, 56, 64) 0.041 ms, 2506 GB/s, 60%; (4096, 512)
// 0.016 ms, 1080 GB/s, 26%. Short of copy bandwidth, against the expectation, and furthest on the
// smallest matrix (16.8 MB moved). The training passes' element-wise halves are not timed apart.

// y = (x - mean) * scale + beta (the forward, in training and in inference).
template <typename T>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_normalize(const T* __restrict__ x, const T* __restrict__ mean, const T* __restrict__ scale,
                         const T* __restrict__ beta, T* __restrict__ y, long long size, int cols) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const int step = (int)(stride % cols);
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (int c = (int)(i % cols); i < size; i += stride) {
        y[i] = (x[i] - mean[c]) * scale[c] + beta[c];
        c += step;
        if (c >= cols) c -= cols;
    }
}

// dx = a dy + b (x - mean) + k (the backward; b (x - mean) rather than b x + (k - b mean), which
// would cancel digits where the mean is large against the spread). Without BATCH_STATISTICS, dx =
// a dy alone: not a dy + 0 (x - mean) + 0, which an infinite x would make NaN.
template <typename T, bool BATCH_STATISTICS>
__global__ void __launch_bounds__(NORM_BLOCK)
    batch_norm_backward_data(const T* __restrict__ x, const T* __restrict__ dy, const T* __restrict__ mean,
                             const T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ k,
                             T* __restrict__ dx, long long size, int cols) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    const int step = (int)(stride % cols);
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (int c = (int)(i % cols); i < size; i += stride) {
        dx[i] = BATCH_STATISTICS ? a[c] * dy[i] + b[c] * (x[i] - mean[c]) + k[c] : a[c] * dy[i];
        c += step;
        if (c >= cols) c -= cols;
    }
}
