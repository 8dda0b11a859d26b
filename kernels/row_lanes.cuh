// Combining a value across the LANES threads that share one row of a matrix: what the row-wise
// kernels share (kernels/loss.cu, kernels/softmax.cu, kernels/metric.cu).
#pragma once

#include "typed_math.cuh"  // exp_of: one name for float and double

constexpr int WARP = 32;
constexpr unsigned FULL_MASK = 0xffffffffu;

// NaN-propagating max, as NumPy's: a plain a > b ? a : b would drop a NaN in `a`.
template <typename T>
__device__ __forceinline__ T nan_max(T a, T b) {
    return (a > b || a != a) ? a : b;
}

// The max and the sum over the LANES threads that share a row, in every one of them. LANES = 1
// (a row per thread): nothing to combine, the loops run zero times. LANES = 32 (a warp): a
// butterfly, each lane exchanging with lane ^ offset for offsets 16, 8, 4, 2, 1. Every lane needs
// the row's max and sum, and the butterfly leaves them in all 32 lanes without a broadcast. The
// lanes hold the same bits: both partners of an exchange add the same two values (in swapped
// order, which does not change an IEEE sum) in the same tree.
template <int LANES, typename T>
__device__ __forceinline__ T lanes_max(T value) {
    for (int offset = LANES / 2; offset > 0; offset /= 2) {
        value = nan_max(value, __shfl_xor_sync(FULL_MASK, value, offset));
    }
    return value;
}

template <int LANES, typename T>
__device__ __forceinline__ T lanes_sum(T value) {
    for (int offset = LANES / 2; offset > 0; offset /= 2) value += __shfl_xor_sync(FULL_MASK, value, offset);
    return value;
}

// The row's maximum and the sum of e^(x - max) over it, in every one of the LANES threads that share
// the row, this one being `lane` (0 .. LANES - 1); each takes elements lane, lane + LANES, ... Two
// loops over the row; the second reads it again, from L1 or L2 when the row is short enough to stay
// there, which is the case these kernels are for. The softmax kernels (softmax.cu) and the softmax
// cross-entropy (loss.cu) both open with it.
template <typename T>
struct MaxAndExpSum {
    T top;  // the row's maximum (NaN if the row holds one)
    T sum;  // sum of e^(x - top): >= 1, the maximum's own term being e^0, unless NaN
};

template <int LANES, typename T>
__device__ __forceinline__ MaxAndExpSum<T> row_max_and_exp_sum(const T* __restrict__ x, int cols, int lane) {
    // Starting every lane from x[0] rather than -infinity: max(x0, x0) = x0, and a lane with no
    // element of its own (cols < LANES) changes nothing.
    T top = x[0];
    for (int c = lane; c < cols; c += LANES) top = nan_max(top, x[c]);
    top = lanes_max<LANES>(top);

    T sum = T(0);
    for (int c = lane; c < cols; c += LANES) sum += exp_of(x[c] - top);
    return {top, lanes_sum<LANES>(sum)};
}

// A row held in registers by the 32 lanes of a warp: lane holds elements lane, lane + 32, ..., at most
// HELD_PER_LANE of them (rows of up to HELD_ROW_COLS columns), loaded together, each load in flight
// with the others. The warp-per-row rungs that hold their row (softmax.cu's rungs 5 and 6, loss.cu's
// rung 6) read it once where row_max_and_exp_sum's loops read it twice, and a third loop a third
// time. Elements past cols are neither loaded nor counted.
constexpr int HELD_PER_LANE = 32, HELD_ROW_COLS = HELD_PER_LANE * WARP;

template <typename T>
__device__ __forceinline__ void load_held_row(const T* __restrict__ x, int cols, int lane, T (&held)[HELD_PER_LANE]) {
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i)
        if (lane + i * WARP < cols) held[i] = x[lane + i * WARP];
}

// row_max_and_exp_sum on a held row (`first` its element 0): the same operations in the same order,
// so the same bits.
template <typename T>
__device__ __forceinline__ MaxAndExpSum<T> held_row_max_and_exp_sum(const T (&held)[HELD_PER_LANE], T first, int cols,
                                                                    int lane) {
    T top = first;
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i)
        if (lane + i * WARP < cols) top = nan_max(top, held[i]);
    top = lanes_max<WARP>(top);
    T sum = T(0);
#pragma unroll
    for (int i = 0; i < HELD_PER_LANE; ++i)
        if (lane + i * WARP < cols) sum += exp_of(held[i] - top);
    return {top, lanes_sum<WARP>(sum)};
}
