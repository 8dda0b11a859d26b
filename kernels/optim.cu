// Optimizer steps, in place: Keras 3's SGD (plain, momentum, Nesterov), Adam (plain, AMSGrad),
// RMSprop (plain, centered, with momentum), Adagrad, Adamax, Nadam, Lion and Adadelta, each one
// kernel over the parameter's elements, float and double.
//
//   SGD       v = momentum v - lr g;  w += v  (Nesterov: w += momentum v - lr g);  no momentum: w -= lr g
//   Adam      m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);  w -= alpha m / (sqrt(v) + epsilon),
//             alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t), computed once on the host (AMSGrad: the
//             largest v so far in place of v)
//   RMSprop   v = rho v + (1 - rho) g^2;  d = v + epsilon (centered: a = rho a + (1 - rho) g,
//             d = v - a^2 + epsilon);  w -= lr g / sqrt(d)  (momentum: u = mu u + lr g / sqrt(d); w -= u)
//   Adagrad   s += g^2;  w -= lr g / sqrt(s + epsilon)  (s starts at initial_accumulator_value)
//   Adamax    m += (g - m)(1 - beta_1);  u = max(beta_2 u, |g|);  w -= lr m / ((1 - beta_1^t)(u + epsilon))
//   Nadam     Adam's m and v;  w -= lr (c_m m + c_g g) / (sqrt(v / (1 - beta_2^t)) + epsilon), c_m and c_g
//             from Dozat's momentum schedule, computed once on the host
//   Lion      w -= lr sign(beta_1 m + (1 - beta_1) g);  m = beta_2 m + (1 - beta_2) g
//   Adadelta  s = rho s + (1 - rho) g^2;  d = -sqrt(x + epsilon) g / sqrt(s + epsilon);
//             x = rho x + (1 - rho) d^2;  w += lr d
// each after Keras's weight decay (AdamW's, or any optimizer's weight_decay), w -= w decay with
// decay = weight_decay lr, in the same pass (decay 0: none).
//
// A lesson in fusion. Each formula is element-wise, so its floor is one read of every operand and
// one write of every state at copy bandwidth: Adam reads w, g, m, v and writes w, m, v, 28 bytes a
// float32 element. The reference (cnn_gpu/ops/optim.py), on CuPy, runs Adam as twelve array
// operations, each its own kernel reading and writing whole arrays (about 100 bytes an element,
// and twelve launches per parameter per step); here it is one. The terms are computed in the
// reference's order, so the results differ from it only where the compiler fuses a multiply and an
// add into one rounding (an FMA).
// One rung per update (nothing lies between the chain of array operations, the benchmark's
// baseline, and one pass), each a grid-stride loop, one element per step:
//   1. sgd_step<T, MOMENTUM, NESTEROV>   2. adam_step<T, AMSGRAD>   3. rmsprop_step<T, CENTERED, MOMENTUM>
// then, for a model's many small parameters, one launch for all of them:
//   4. adam_step_multi<T>                up to MULTI_TENSORS parameters' Adam steps in one launch
// and the rest of Keras's optimizers, one pass each as rungs 1-3:
//   5. adagrad_step<T>   6. adamax_step<T>   7. nadam_step<T>   8. lion_step<T>   9. adadelta_step<T>
// The scalars come as T, cast on the host the way NumPy casts a Python float in an operation on a
// T array. Every variant's expected bottleneck is device memory bandwidth for the large parameters
// (the seed model's Dense kernel, 346,112 elements: 9.7 MB a step for Adam) and the launch itself
// for the small ones (biases, the convolution's 288 weights).
// Wrappers: cnn_gpu/ops/optim.py. Tests: tests/ops/test_optim_kernels.py. Benchmark: benchmarks/optim.py.

#include "typed_math.cuh"  // exp_of, log_of, tanh_of, sqrt_of: one name for float and double

// w after Keras's weight decay, which comes before the step: w - w decay (decay = weight_decay lr).
// Skipped at decay 0, so that an infinite weight stays infinite there (inf - inf * 0 is NaN).
template <typename T>
__device__ __forceinline__ T decayed(T w, T decay) {
    return decay != T(0) ? w - w * decay : w;
}

// ---------------------------------------------------------------------------------------------
// 1. SGD. Without momentum Keras keeps no velocity: the kernel never touches it (the wrapper passes
// the parameter in its slot). Reads w and g (and v), writes w (and v): 12 (20) bytes a float.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): with momentum,
// 16,777,216 elements: 88.6 us, 3788 GB/s, 91% of copy bandwidth (4180 GB/s), 3.7x faster than the
// reference on CuPy (324.9 us); the seed Dense kernel (346,112): 4.0 us, 1739 GB/s, 42%, 3.0x CuPy (12.0).
// As expected. Plain SGD and Nesterov's are not timed.
template <typename T, bool MOMENTUM, bool NESTEROV>
__global__ void sgd_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ velocity, int n, T lr,
                         T momentum, T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T w_decayed = decayed(w[i], decay);
        if (!MOMENTUM) {
            w[i] = w_decayed - lr * g[i];
            continue;
        }
        const T v = velocity[i] * momentum - lr * g[i];
        velocity[i] = v;
        w[i] = w_decayed + (NESTEROV ? momentum * v - lr * g[i] : v);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Adam. The reference's twelve array operations in one pass: 28 bytes a float where they move
// about 100, one launch where they make twelve. AMSGRAD (Reddi et al.) divides by the largest v
// seen so far, kept in v_max (8 bytes more a float), so that the step never grows back when the
// squared gradients shrink; without it v_max is never touched.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): without AMSGrad,
// 16,777,216 elements: 130.1 us, 3612 GB/s, 86% of copy bandwidth (4180 GB/s), 7.5x faster than the
// reference on CuPy (971.0 us); the seed Dense kernel (346,112): 5.4 us, 1794 GB/s, 43%, 6.5x CuPy (35.1).
// As expected. AMSGrad is not timed.
// Element i's Adam step (rungs 2 and 4).
template <typename T, bool AMSGRAD>
__device__ __forceinline__ void adam_element(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m,
                                             T* __restrict__ v, T* __restrict__ v_max, long long i, T alpha,
                                             T one_minus_beta_1, T one_minus_beta_2, T epsilon, T decay)
{
    const T grad = g[i];
    const T m_new = m[i] + (grad - m[i]) * one_minus_beta_1;
    const T v_new = v[i] + (grad * grad - v[i]) * one_minus_beta_2;
    m[i] = m_new;
    v[i] = v_new;
    T v_used = v_new;
    if (AMSGRAD) {
        const T before = v_max[i];
        v_used = before < v_new || v_new != v_new ? v_new : before;  // NaN from either side, as np.maximum
        v_max[i] = v_used;
    }
    w[i] = decayed(w[i], decay) - m_new / (sqrt_of(v_used) + epsilon) * alpha;
}

template <typename T, bool AMSGRAD>
__global__ void adam_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                          T* __restrict__ v_max, int n, T alpha, T one_minus_beta_1, T one_minus_beta_2, T epsilon,
                          T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        adam_element<T, AMSGRAD>(w, g, m, v, v_max, i, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, decay);
}

// ---------------------------------------------------------------------------------------------
// 3. RMSprop, epsilon under the square root, as Keras has it. CENTERED keeps a running mean of the
// gradient too and divides by the root of the variance estimate v - a^2 instead of v; MOMENTUM
// accumulates the steps in a momentum slot and moves w by it. Keras keeps no slot it does not use:
// the kernel never touches average_grad or momentum_slot without its flag (the wrapper fills
// their places with the parameter). 20 bytes a float, 8 more for each of the two.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): plain,
// 16,777,216 elements: 100.8 us, 3330 GB/s, 80% of copy bandwidth (4180 GB/s), 7.2x faster than the
// reference on CuPy (728.4 us); the seed Dense kernel (346,112): 4.8 us, 1434 GB/s, 34%, 5.5x CuPy (26.4).
// Near the floor, but 1.14x the time of SGD with momentum (88.6 us), which moves the same 20 bytes: the
// square root and the division do not hide wholly under the memory time. Centered and momentum not timed.
template <typename T, bool CENTERED, bool MOMENTUM>
__global__ void rmsprop_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ velocity,
                             T* __restrict__ average_grad, T* __restrict__ momentum_slot, int n, T lr, T rho,
                             T one_minus_rho, T epsilon, T momentum, T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T v = velocity[i] * rho + one_minus_rho * grad * grad;
        velocity[i] = v;
        T denominator = v + epsilon;
        if (CENTERED) {
            const T a = average_grad[i] * rho + one_minus_rho * grad;
            average_grad[i] = a;
            denominator = v - a * a + epsilon;
        }
        const T increment = lr * grad / sqrt_of(denominator);
        if (MOMENTUM) {
            const T u = momentum * momentum_slot[i] + increment;
            momentum_slot[i] = u;
            w[i] = decayed(w[i], decay) - u;
        } else {
            w[i] = decayed(w[i], decay) - increment;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Adam on up to MULTI_TENSORS parameters in one launch ("multi-tensor apply").
// Idea: a small model's step updates a handful of parameters, most of them small (the seed model's
// biases have 32, 64 and 10 elements), one launch each; on a GPU a launch's host side (the checks,
// the arguments, the driver's call) takes longer than such a kernel runs. Here one launch takes them
// all. Their arrays arrive as the launch's own arguments, slot by slot (PyTorch's multi-tensor
// apply packs them into a struct; here each is an argument, so the launch checks it as any other).
// The grid is the tensors' chunks of ADAM_CHUNK elements laid end to end; a block finds its tensor
// by walking the slots' chunk counts (at most MULTI_TENSORS steps), then its threads take its chunk
// with rung 2's arithmetic (adam_element), so each parameter's result is rung 2's, bit for bit.
// A slot with n = 0 is empty: its pointers are never read.
// Expected bottleneck: the launch for the seed model's parameters (one where rung 2 makes six);
// device memory bandwidth for large ones, as rung 2 (28 bytes a float32 element).
// Measured: not timed on its own (benchmarks/optim.py times one parameter a step, rung 2); its GPU tests
// passed on an NVIDIA H200 (benchmarks/results/gpu_check.log, commit 27bd7f2).
constexpr int MULTI_TENSORS = 8;
constexpr int ADAM_CHUNK = 4096;

template <typename T>
__global__ void adam_step_multi(T* __restrict__ w0, const T* __restrict__ g0, T* __restrict__ m0, T* __restrict__ v0,
                                int n0, T* __restrict__ w1, const T* __restrict__ g1, T* __restrict__ m1,
                                T* __restrict__ v1, int n1, T* __restrict__ w2, const T* __restrict__ g2,
                                T* __restrict__ m2, T* __restrict__ v2, int n2, T* __restrict__ w3,
                                const T* __restrict__ g3, T* __restrict__ m3, T* __restrict__ v3, int n3,
                                T* __restrict__ w4, const T* __restrict__ g4, T* __restrict__ m4, T* __restrict__ v4,
                                int n4, T* __restrict__ w5, const T* __restrict__ g5, T* __restrict__ m5,
                                T* __restrict__ v5, int n5, T* __restrict__ w6, const T* __restrict__ g6,
                                T* __restrict__ m6, T* __restrict__ v6, int n6, T* __restrict__ w7,
                                const T* __restrict__ g7, T* __restrict__ m7, T* __restrict__ v7, int n7, T alpha,
                                T one_minus_beta_1, T one_minus_beta_2, T epsilon, T decay)
{
    T* const ws[MULTI_TENSORS] = {w0, w1, w2, w3, w4, w5, w6, w7};
    const T* const gs[MULTI_TENSORS] = {g0, g1, g2, g3, g4, g5, g6, g7};
    T* const ms[MULTI_TENSORS] = {m0, m1, m2, m3, m4, m5, m6, m7};
    T* const vs[MULTI_TENSORS] = {v0, v1, v2, v3, v4, v5, v6, v7};
    const int ns[MULTI_TENSORS] = {n0, n1, n2, n3, n4, n5, n6, n7};
    // This block's slot, and its chunk within it. The loops are unrolled, so every index is a constant
    // and the tables stay in registers (indexed by a variable, they would go to local memory). The
    // wrapper launches exactly the slots' chunks; a block past them (a wrong grid) leaves.
    int slot = MULTI_TENSORS, chunk = blockIdx.x;
#pragma unroll
    for (int s = 0; s < MULTI_TENSORS; ++s) {
        const int chunks = ns[s] / ADAM_CHUNK + (ns[s] % ADAM_CHUNK != 0);  // ceil, with no n + 4095 to overflow
        if (slot == MULTI_TENSORS) {
            if (chunk < chunks) slot = s;
            else chunk -= chunks;
        }
    }
    if (slot == MULTI_TENSORS) return;
    T* w = ws[0];
    const T* g = gs[0];
    T *m = ms[0], *v = vs[0];
    int n = ns[0];
#pragma unroll
    for (int s = 1; s < MULTI_TENSORS; ++s) {
        if (s == slot) {
            w = ws[s], g = gs[s], m = ms[s], v = vs[s], n = ns[s];
        }
    }
    const long long begin = (long long)chunk * ADAM_CHUNK;
    const long long end = begin + ADAM_CHUNK < n ? begin + ADAM_CHUNK : n;
    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x)
        adam_element<T, false>(w, g, m, v, nullptr, i, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, decay);
}

// ---------------------------------------------------------------------------------------------
// 5. Adagrad: each element's step shrinks with the sum of its squared gradients so far (the
// accumulator starts at Keras's initial_accumulator_value, 0.1, not 0). 20 bytes a float.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): 16,777,216
// elements: 100.7 us, 3333 GB/s, 80% of copy bandwidth (4180 GB/s), 5.6x faster than the reference on CuPy
// (567.4 us). RMSprop's time on its bytes; like it, 1.14x SGD's with momentum on the same 20 bytes.
template <typename T>
__global__ void adagrad_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ accumulator, int n, T lr,
                             T epsilon, T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T s = accumulator[i] + grad * grad;
        accumulator[i] = s;
        w[i] = decayed(w[i], decay) - lr * grad / sqrt_of(s + epsilon);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Adamax: Adam with the infinity norm in place of the root mean square, u = max(beta_2 u, |g|),
// which needs no bias correction; the host folds beta_1's into one_minus_beta_1_power = 1 - beta_1^t.
// A NaN gradient makes u NaN (the comparison picks it), as the reference's maximum does. 28 bytes a float.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): 16,777,216
// elements: 129.7 us, 3622 GB/s, 87% of copy bandwidth (4180 GB/s), 6.9x faster than the reference on CuPy
// (889.9 us). Adam's time on Adam's bytes, as expected.
template <typename T>
__global__ void adamax_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ norm,
                            int n, T lr, T one_minus_beta_1, T beta_2, T epsilon, T one_minus_beta_1_power, T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T m_new = m[i] + (grad - m[i]) * one_minus_beta_1;
        const T shrunk = beta_2 * norm[i], size = grad < T(0) ? -grad : grad;
        const T u = shrunk < size || size != size ? size : shrunk;
        m[i] = m_new;
        norm[i] = u;
        w[i] = decayed(w[i], decay) - lr * m_new / (one_minus_beta_1_power * (u + epsilon));
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Nadam: Adam with Nesterov's look-ahead, m_hat = c_m m + c_g g, the two coefficients of Dozat's
// momentum schedule (u_t = beta_1 (1 - 0.96^t / 2) and their running product) the same for every
// element, so the host computes them once a step (cnn_gpu/ops/optim.py: nadam_coefficients), and
// v_scale = 1 / (1 - beta_2^t). Adam's traffic, 28 bytes a float.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): 16,777,216
// elements: 130.3 us, 3606 GB/s, 86% of copy bandwidth (4180 GB/s), 9.9x faster than the reference on CuPy
// (1293.6 us). Adam's time, as expected.
template <typename T>
__global__ void nadam_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, int n,
                           T lr, T one_minus_beta_1, T one_minus_beta_2, T epsilon, T momentum_scale, T gradient_scale,
                           T v_scale, T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T m_new = m[i] + (grad - m[i]) * one_minus_beta_1;
        const T v_new = v[i] + (grad * grad - v[i]) * one_minus_beta_2;
        m[i] = m_new;
        v[i] = v_new;
        const T m_hat = momentum_scale * m_new + gradient_scale * grad;
        w[i] = decayed(w[i], decay) - m_hat * lr / (sqrt_of(v_new * v_scale) + epsilon);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms"): every element moves by
// exactly lr, in the sign of an interpolation of its momentum and gradient (0 where that is 0, NaN
// for a NaN, as the reference's sign); the momentum then takes the gradient at another rate, beta_2.
// One state where Adam keeps two: 20 bytes a float.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): 16,777,216
// elements: 88.3 us, 3799 GB/s, 91% of copy bandwidth (4180 GB/s), 8.3x faster than the reference on CuPy
// (729.3 us). SGD's time with momentum on the same 20 bytes, as expected.
template <typename T>
__global__ void lion_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, int n, T lr, T beta_1,
                          T one_minus_beta_1, T beta_2, T one_minus_beta_2, T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i], momentum = m[i];
        const T direction = momentum * beta_1 + grad * one_minus_beta_1;
        const T sign = direction > T(0) ? T(1) : (direction < T(0) ? T(-1) : direction * T(0));
        w[i] = decayed(w[i], decay) - lr * sign;
        m[i] = momentum * beta_2 + grad * one_minus_beta_2;
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Adadelta (Zeiler, "ADADELTA: An Adaptive Learning Rate Method"): the step's size is the ratio of
// two running root mean squares, of the past steps and of the past gradients, so its units are the
// parameter's; Keras still scales it by lr (Zeiler's method is lr = 1). Two states: 28 bytes a float.
// Measured (NVIDIA H200, benchmarks/results/optim.json, commit 27bd7f2; by CUDA graph): 16,777,216
// elements: 165.0 us, 2847 GB/s, 68% of copy bandwidth (4180 GB/s), 8.3x faster than the reference on CuPy
// (1375.5 us). Below the bandwidth the header expects: 1.27x Adam's time (130.1 us) on the same 28 bytes.
// Its two square roots and a division an element are the difference in work; these figures cannot say more.
template <typename T>
__global__ void adadelta_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ accumulated_grad,
                              T* __restrict__ accumulated_delta, int n, T lr, T rho, T one_minus_rho, T epsilon,
                              T decay)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T s = rho * accumulated_grad[i] + one_minus_rho * (grad * grad);
        accumulated_grad[i] = s;
        const T step = -(sqrt_of(accumulated_delta[i] + epsilon) * grad / sqrt_of(s + epsilon));
        accumulated_delta[i] = rho * accumulated_delta[i] + one_minus_rho * (step * step);
        w[i] = decayed(w[i], decay) + lr * step;
    }
}
