// Optimizer steps, in place: Keras 3's SGD (plain, momentum, Nesterov), Adam and RMSprop, each one
// kernel over the parameter's elements, float and double.
//
//   SGD       v = momentum v - lr g;  w += v  (Nesterov: w += momentum v - lr g);  no momentum: w -= lr g
//   Adam      m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2);  w -= alpha m / (sqrt(v) + epsilon),
//             alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t), computed once on the host
//   RMSprop   v = rho v + (1 - rho) g^2;  w -= lr g / sqrt(v + epsilon)
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
//   1. sgd_step<T, MOMENTUM, NESTEROV>   2. adam_step<T>   3. rmsprop_step<T>
// The scalars come as T, cast on the host the way NumPy casts a Python float in an operation on a
// T array. Every variant's expected bottleneck is device memory bandwidth for the large parameters
// (the seed model's Dense kernel, 346,112 elements: 9.7 MB a step for Adam) and the launch itself
// for the small ones (biases, the convolution's 288 weights).
// Wrappers: cnn_gpu/ops/optim.py. Tests: tests/ops/test_optim_kernels.py. Benchmark: benchmarks/optim.py.

#include "typed_math.cuh"  // exp_of, log_of, tanh_of, sqrt_of: one name for float and double

// ---------------------------------------------------------------------------------------------
// 1. SGD. Without momentum Keras keeps no velocity: the kernel never touches it (the wrapper passes
// the parameter in its slot). Reads w and g (and v), writes w (and v): 12 (20) bytes a float.
// Measured: not yet run on a GPU.
template <typename T, bool MOMENTUM, bool NESTEROV>
__global__ void sgd_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ velocity, int n, T lr,
                         T momentum)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        if (!MOMENTUM) {
            w[i] -= lr * g[i];
            continue;
        }
        const T v = velocity[i] * momentum - lr * g[i];
        velocity[i] = v;
        w[i] += NESTEROV ? momentum * v - lr * g[i] : v;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Adam. The reference's twelve array operations in one pass: 28 bytes a float where they move
// about 100, one launch where they make twelve.
// Measured: not yet run on a GPU.
template <typename T>
__global__ void adam_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, int n,
                          T alpha, T one_minus_beta_1, T one_minus_beta_2, T epsilon)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T m_new = m[i] + (grad - m[i]) * one_minus_beta_1;
        const T v_new = v[i] + (grad * grad - v[i]) * one_minus_beta_2;
        m[i] = m_new;
        v[i] = v_new;
        w[i] -= m_new / (sqrt_of(v_new) + epsilon) * alpha;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. RMSprop (no momentum, not centered; epsilon under the square root, as Keras has it): 20 bytes
// a float.
// Measured: not yet run on a GPU.
template <typename T>
__global__ void rmsprop_step(T* __restrict__ w, const T* __restrict__ g, T* __restrict__ velocity, int n, T lr,
                             T rho, T one_minus_rho, T epsilon)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const T grad = g[i];
        const T v = velocity[i] * rho + one_minus_rho * grad * grad;
        velocity[i] = v;
        w[i] -= lr * grad / sqrt_of(v + epsilon);
    }
}
