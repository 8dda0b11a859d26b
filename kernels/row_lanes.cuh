// Combining a value across the LANES threads that share one row of a matrix: what the row-wise
// kernels share (kernels/loss.cu, kernels/softmax.cu, kernels/metric.cu).
#pragma once

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
