// Bias + activation, forward and backward, for a row-major rows x cols matrix whose last axis is
// the channel (channels-last: a Dense output (N, units) or a Conv2D output (N*H*W, filters)).
//
//   forward   y = act(x + bias[col])
//   backward  dx = dy * act'(.)  and  dbias[col] = sum over rows of dx[:, col]  (rung 3)
//
// act' is written in terms of the forward's output y, which every activation here but four allows
// (relu: y > 0; sigmoid: y (1 - y); tanh: 1 - y^2; linear: 1; elu: y + 1 below 0; selu: y + scale
// alpha below 0; leaky_relu: the slope below 0; softplus: 1 - e^-y; softsign: (1 - |y|)^2; relu6: 1
// for 0 < y < 6; hard_sigmoid: 1/6 for 0 < y < 1; exponential: y), so the backward never recomputes
// an exponential (but softplus's), and needs no x. (gelu, swish, hard_silu and mish have no such
// form: rung 4 takes them from x.) The price: where the derivative is tiny, a difference
// with y loses its relative digits (elu's y + 1 far below 0, softsign's 1 - |y| far from 0), though
// the gradient stays within a rounding of y (about 6e-8 |dy| in float32) of the true one. A lesson in memory-bound element-wise work: the floor is one read of each
// input and one write of each output at copy bandwidth; arithmetic is free by comparison.
// The ladder:
//   1. bias_act_forward          a grid-stride loop, one element per step
//   2. bias_act_forward_float4   the same with 16-byte loads and stores (float32, cols % 4 == 0)
//   3. bias_act_backward         dx element-wise, plus each block's column sums (column_sum.cuh);
//                                reduce.cu's column_sum_thread_per_column adds them into the bias
//                                gradient in a fixed order, so it is deterministic (no atomics)
//   4. act_backward_from_input   dx from the forward's input, for gelu, swish, hard_silu and mish,
//                                whose derivative y does not give
//   5. relu_with_slope_threshold_max
//                                Keras's relu at any arguments (the ReLU layer's slope, threshold and
//                                cap; the LeakyReLU layer's slope, at threshold 0 and no cap), and its
//                                backward from the input
//   6. elu_with_alpha            elu with its alpha an argument (the ELU layer), and its backward
//                                from the input
// BIAS = false skips the bias (the backend's bias-free activation ops); the pointer is unused.
// Wrappers: cnn_gpu/ops/activation.py. Tests: tests/ops/test_activation.py.
// Benchmark: benchmarks/activation.py.

// New names go last: an instance's mangled name holds its Act's number ((Act)10 is swish).
enum class Act {
    linear, relu, sigmoid, tanh, elu, selu, leaky_relu, softplus, softsign, gelu, swish,
    relu6, hard_sigmoid, hard_silu, mish, exponential
};

// Keras's constants: selu's (Klambauer et al.) and the leaky_relu activation's default slope.
constexpr double SELU_ALPHA = 1.6732632423543772848170429916717;
constexpr double SELU_SCALE = 1.0507009873554804934193349852946;
constexpr double LEAKY_RELU_SLOPE = 0.2;
constexpr double INV_SQRT2 = 0.70710678118654752440;  // gelu's z / sqrt(2)
constexpr double INV_SQRT_2PI = 0.39894228040143267794;  // the normal density's 1 / sqrt(2 pi)

#include "column_sum.cuh"  // thread_column_share, store_block_column_sums: the bias gradient's column sums
#include "typed_math.cuh"  // exp_of, expm1_of, log1p_of, tanh_of: one name for float and double

template <Act ACT, typename T>
__device__ __forceinline__ T activate(T z) {
    switch (ACT) {
        case Act::relu:
            return z < T(0) ? T(0) : z;  // a NaN stays NaN, as in the NumPy reference
        case Act::sigmoid: {
            // e^-|z| never overflows: 1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z) below.
            const T e = exp_of(z >= T(0) ? -z : z);
            return (z >= T(0) ? T(1) : e) / (T(1) + e);
        }
        case Act::tanh:
            return tanh_of(z);
        // expm1, not exp - 1: no digits lost near 0. A NaN takes the second branch and stays NaN.
        case Act::elu:
            return z > T(0) ? z : expm1_of(z);
        case Act::selu:
            return T(SELU_SCALE) * (z > T(0) ? z : T(SELU_ALPHA) * expm1_of(z));
        case Act::leaky_relu:
            return z >= T(0) ? z : T(LEAKY_RELU_SLOPE) * z;
        case Act::softplus:
            // log(1 + e^z) = max(z, 0) + log(1 + e^-|z|): no exponential overflows.
            return (z > T(0) ? z : T(0)) + log1p_of(exp_of(z > T(0) ? -z : z));
        case Act::softsign:
            return z / ((z < T(0) ? -z : z) + T(1));
        // Keras's exact gelu (approximate=False): z times the normal distribution function at z,
        // Phi(z) = erfc(-z / sqrt(2)) / 2: with erfc, not 1 + erf, no digits lost far below 0.
        case Act::gelu:
            return z * (T(0.5) * erfc_of(-z * T(INV_SQRT2)));
        case Act::swish:  // z sigmoid(z), Keras's swish and silu
            return z * activate<Act::sigmoid>(z);
        // Keras 3's (jax.nn's) relu6, hard_sigmoid and hard_silu, in T: min(max(z, 0), 6); relu6(z + 3)
        // / 6 (Keras 2's 0.2 z + 0.5 is gone); z hard_sigmoid(z). A NaN stays NaN. The / 6 divides, as
        // written (XLA makes it a product with 1/6 rounded, at times an ulp away).
        case Act::relu6: {
            const T r = z < T(0) ? T(0) : z;
            return r > T(6) ? T(6) : r;
        }
        case Act::hard_sigmoid:
            return activate<Act::relu6>(z + T(3)) / T(6);
        case Act::hard_silu:  // Keras's hard_silu and hard_swish
            return z * activate<Act::hard_sigmoid>(z);
        case Act::mish:  // z tanh(softplus(z)), softplus's form above: no overflow, no digits lost
            return z * tanh_of(activate<Act::softplus>(z));
        case Act::exponential:
            return exp_of(z);
        default:
            return z;
    }
}

// d act / dz, times the upstream gradient, from the forward output y.
template <Act ACT, typename T>
__device__ __forceinline__ T activate_backward(T y, T dy) {
    static_assert(ACT != Act::gelu && ACT != Act::swish && ACT != Act::hard_silu && ACT != Act::mish,
                  "their derivative needs z: activate_backward_from_input");
    switch (ACT) {
        case Act::relu:
            return y > T(0) ? dy : T(0);
        case Act::sigmoid:
            return dy * y * (T(1) - y);
        case Act::tanh:
            return dy * (T(1) - y * y);
        case Act::elu:  // below 0, y = e^z - 1: the derivative e^z is y + 1
            return y > T(0) ? dy : dy * (y + T(1));
        case Act::selu:  // below 0, y = scale alpha (e^z - 1): the derivative is y + scale alpha
            return y > T(0) ? dy * T(SELU_SCALE) : dy * (y + T(SELU_SCALE * SELU_ALPHA));
        case Act::leaky_relu:
            return y >= T(0) ? dy : dy * T(LEAKY_RELU_SLOPE);
        case Act::softplus:  // the derivative is sigmoid(z) = 1 - e^-y
            return -dy * expm1_of(-y);
        case Act::softsign: {  // 1 / (1 + |z|)^2 = (1 - |y|)^2
            const T rest = T(1) - (y < T(0) ? -y : y);
            return dy * rest * rest;
        }
        // At the kinks (relu6's z = 0 and 6, hard_sigmoid's z = -3 and 3) the derivative is 0, as Keras
        // on JAX takes it (jax.nn.relu6's custom derivative: 1 for 0 < z < 6 only). 0 < y < 6 is
        // 0 < z < 6; 0 < y < 1 is 0 < z + 3 < 6 (relu6(z + 3) / 6 rounds to neither 0 nor 1 inside).
        case Act::relu6:
            return y > T(0) && y < T(6) ? dy : T(0);
        case Act::hard_sigmoid:
            return y > T(0) && y < T(1) ? dy / T(6) : T(0);
        case Act::exponential:
            return dy * y;
        default:
            return dy;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Grid-stride loop, one element per step.
// Idea: any grid size covers any matrix; the bias is read through the cache (cols values shared
// by every row).
// Expected bottleneck: device memory bandwidth, less the cost of 4-byte accesses and the integer
// remainder for the bias column.
// Measured (NVIDIA H200, benchmarks/results/activation.json, commit 27bd7f2), relu/sigmoid/tanh: rows=65536
// cols=1024 3261/2730/3059 GB/s, 78%/65%/73% of copy bandwidth (CuPy unfused relu 831); rows=2097152 cols=36
// 3279/2733/3061, 78%/65%/73% (CuPy 833). Slower than the float4 variant in every case, as expected.
template <typename T, Act ACT, bool BIAS>
__global__ void bias_act_forward(const T* __restrict__ x, const T* __restrict__ bias, T* __restrict__ y,
                                 int rows, int cols) {
    const long long n = (long long)rows * cols;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T z = BIAS ? x[i] + bias[i % cols] : x[i];
        y[i] = activate<ACT>(z);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Four floats per step through float4.
// Idea: one 16-byte load and store per thread per step instead of four 4-byte ones: fewer
// instructions, more bytes in flight. Needs cols % 4 == 0 (a float4 never straddles two rows,
// so its four bias values are consecutive too) and 16-byte-aligned pointers; the wrapper checks.
// Expected bottleneck: device memory bandwidth.
// Measured (NVIDIA H200, benchmarks/results/activation.json, commit 27bd7f2), relu/sigmoid/tanh: rows=65536
// cols=1024 3908/3925/3919 GB/s, 93%/94%/94% of copy bandwidth (CuPy unfused relu 831: 4.7x slower than our
// relu); rows=2097152 cols=36 3959/3946/3950, 95%/94%/94% (CuPy 833: 4.8x). Close to copy bandwidth, as
// expected, the three activations level. At ac366b0 (activation.json, another H200) relu at 1024 columns
// ran at 77%, below sigmoid and tanh (86%, 88%); the kernel has not changed since, and what slowed it
// then these files do not say.
template <Act ACT, bool BIAS>
__global__ void bias_act_forward_float4(const float4* __restrict__ x, const float4* __restrict__ bias,
                                        float4* __restrict__ y, int rows, int cols) {
    const int cols4 = cols / 4;
    const long long n4 = (long long)rows * cols4;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n4; i += (long long)gridDim.x * blockDim.x) {
        float4 v = x[i];
        if (BIAS) {
            const float4 b = bias[i % cols4];
            v.x += b.x; v.y += b.y; v.z += b.z; v.w += b.w;
        }
        y[i] = make_float4(activate<ACT>(v.x), activate<ACT>(v.y), activate<ACT>(v.z), activate<ACT>(v.w));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Backward, and each block's share of the bias gradient.
// Layout: column_sum.cuh's blocks of 32 x COLUMN_BLOCK_ROWS threads, each thread summing the
// gradient it writes down its column; the blocks' column sums go to `partial` (gridDim.y x cols),
// whose rows reduce.cu's column_sum_thread_per_column then adds in a fixed order (the bias gradient
// is the same bit for bit on every run).
// Expected bottleneck: device memory bandwidth for cols >= 32; narrower matrices waste lanes.
// Measured (NVIDIA H200, benchmarks/results/activation.json, commit 27bd7f2), with the finishing column
// sum, relu/sigmoid: rows=65536 cols=1024 3535/3541 GB/s, 85%/85% of copy bandwidth; rows=2097152 cols=36
// 2318/2371, 55%/57%. No CuPy baseline. As expected at 1024 columns; short of it at cols=36, though
// cols >= 32 (reduce.cu's column_sum_flat takes up why). At ac366b0 (activation.json, another H200),
// before column_sum.cuh's slabs took four rows' loads at once, 76% and 33%.
template <typename T, Act ACT, bool BIAS>
__global__ void __launch_bounds__(32 * COLUMN_BLOCK_ROWS)
    bias_act_backward(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx, T* __restrict__ partial,
                      int rows, int cols) {
    const T share = thread_column_share<T>(
        [&](long long i) {
            const T g = activate_backward<ACT>(y[i], dy[i]);
            dx[i] = g;
            return g;
        },
        rows, cols);
    if (BIAS) store_block_column_sums(share, partial, cols);  // BIAS is uniform: no thread skips the barrier alone
}

// ---------------------------------------------------------------------------------------------
// 4. The backward of gelu, swish, hard_silu and mish, from the forward's input z.
// Idea: their derivatives are no function of y alone (none is monotonic: one y, two z), so the
// backward reads z where rung 3's reads y. No bias gradient here: the layers' products compute theirs.
//   gelu'(z)      = Phi(z) + z phi(z)           (Phi, phi: the normal distribution and density)
//   swish'(z)     = s + z s (1 - s), s = sigmoid(z)
//   hard_silu'(z) = h + z / 6 for -3 < z < 3, h elsewhere, h = hard_sigmoid(z)
//   mish'(z)      = t + z s (1 - t^2), t = tanh(softplus(z)), s = sigmoid(z)
// Expected bottleneck: device memory bandwidth (12 bytes an element: z and dy read, dx written);
// gelu's erfc and exp, mish's exp, log1p and tanh a few dozen instructions an element, still under
// a byte's worth each.
// Measured: not timed (benchmarks/activation.py times rungs 1 to 3). Its tests in
// tests/ops/test_activation_kernels.py passed on an NVIDIA H200 (benchmarks/results/gpu_check.log, commit
// 27bd7f2).
template <Act ACT, typename T>
__device__ __forceinline__ T activate_backward_from_input(T z, T dy) {
    static_assert(ACT == Act::gelu || ACT == Act::swish || ACT == Act::hard_silu || ACT == Act::mish,
                  "the others take their derivative from y");
    if (ACT == Act::gelu) {
        const T distribution = T(0.5) * erfc_of(-z * T(INV_SQRT2));
        const T density = T(INV_SQRT_2PI) * exp_of(T(-0.5) * z * z);
        return dy * (distribution + z * density);
    }
    if (ACT == Act::hard_silu) {
        // Keras on JAX's autodiff, term by term: dy h + (z dy) / 6 where 0 < h < 1 (0 < z + 3 < 6),
        // so at its kinks the derivative is h alone: 0 at z = -3, 1 at z = 3 (0.5 at z = 0).
        const T h = activate<Act::hard_sigmoid>(z);
        return h > T(0) && h < T(1) ? dy * h + z * dy / T(6) : dy * h;
    }
    if (ACT == Act::mish) {
        // 1 - t^2 as (1 - t)(1 + t), as JAX's tanh derivative: 1 - t exact for t near 1.
        const T t = tanh_of(activate<Act::softplus>(z));
        const T s = activate<Act::sigmoid>(z);
        return dy * (t + z * s * ((T(1) - t) * (T(1) + t)));
    }
    const T s = activate<Act::sigmoid>(z);
    return dy * (s + z * s * (T(1) - s));
}

template <typename T, Act ACT>
__global__ void act_backward_from_input(const T* __restrict__ z, const T* __restrict__ dy, T* __restrict__ dx,
                                        long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        dx[i] = activate_backward_from_input<ACT>(z[i], dy[i]);
}

// ---------------------------------------------------------------------------------------------
// 5. Keras's relu at any of its arguments (the ReLU layer's negative_slope, threshold, max_value;
// the LeakyReLU layer is the slope alone, at threshold 0 and max_value +inf):
//   y = z > threshold ? min(z, max_value) : slope (z - threshold)
// in T, as Keras computes it in x's dtype (its clip(z > threshold ? z : 0, 0, max_value) less
// slope relu(threshold - z): the same roundings, -(s (t - z)) being s (z - t) exactly). At z ==
// threshold y is 0 (Keras's where(z > threshold)), a jump where threshold > 0. A NaN stays NaN (Keras
// on JAX gives 0 at slope 0 and a threshold), as in the NumPy reference. The backward reads z, not y
// (at slope 0, y says nothing of z below the threshold); at the two kinks it takes the derivative the
// host passes, Keras's differing by case (ops.activation.ReluArguments says which).
// LeakyReLU's results are those of its own kernels before this rung took them over, bit for bit:
// at threshold 0, y is z itself at z == 0, and dy passes as is where the derivative is 1, by a
// select, not a product (z's sign kept, and a subnormal z or dy where -ftz flushes it in arithmetic
// and comparisons).
// Expected bottleneck: device memory bandwidth (8 bytes an element forward, 12 backward).
// Measured: not timed (benchmarks/activation.py times rungs 1 to 3). Its tests in
// tests/ops/test_activation_kernels.py passed on an NVIDIA H200 (benchmarks/results/gpu_check.log, commit
// 27bd7f2).
template <typename T>
__global__ void relu_with_slope_threshold_max(const T* __restrict__ z, T* __restrict__ y, long long n, T slope,
                                              T threshold, T max_value) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T v = z[i];
        if (v > threshold)
            y[i] = v < max_value ? v : max_value;
        else if (v == threshold)
            y[i] = threshold == T(0) ? v : T(0);
        else
            y[i] = slope * (v - threshold);
    }
}

// dy times a kink's derivative, dy itself where that is 1 (see above).
template <typename T>
__device__ __forceinline__ T times_derivative_at_kink(T derivative, T dy) {
    return derivative == T(1) ? dy : derivative * dy;
}

template <typename T>
__global__ void relu_with_slope_threshold_max_backward(const T* __restrict__ z, const T* __restrict__ dy,
                                                       T* __restrict__ dx, long long n, T slope, T threshold,
                                                       T max_value, T gradient_at_threshold, T gradient_at_max) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T v = z[i];
        if (v > threshold)
            dx[i] = v < max_value ? dy[i] : v == max_value ? times_derivative_at_kink(gradient_at_max, dy[i]) : T(0);
        else if (v == threshold)
            dx[i] = times_derivative_at_kink(gradient_at_threshold, dy[i]);
        else
            dx[i] = slope * dy[i];
    }
}

// ---------------------------------------------------------------------------------------------
// 6. elu with alpha as an argument (Keras's ELU layer; 1 in Act::elu): y = z > 0 ? z : alpha (e^z - 1),
// and its backward from z, dy alpha e^z below 0 (alpha dy at 0, as Keras on JAX gives it): at
// alpha <= 0, y says nothing of z's sign.
// Expected bottleneck: device memory bandwidth (8 bytes an element forward, 12 backward); expm1 and
// exp a few dozen instructions an element.
// Measured: not timed (benchmarks/activation.py times rungs 1 to 3). Its tests in
// tests/ops/test_activation_kernels.py passed on an NVIDIA H200 (benchmarks/results/gpu_check.log, commit
// 27bd7f2).
template <typename T>
__global__ void elu_with_alpha(const T* __restrict__ z, T* __restrict__ y, long long n, T alpha) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = z[i] > T(0) ? z[i] : alpha * expm1_of(z[i]);
}

template <typename T>
__global__ void elu_with_alpha_backward(const T* __restrict__ z, const T* __restrict__ dy, T* __restrict__ dx,
                                        long long n, T alpha) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        dx[i] = z[i] > T(0) ? dy[i] : dy[i] * (alpha * exp_of(z[i]));
}
