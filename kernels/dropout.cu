// Dropout, forward and backward, with its random draws made on the GPU by a counter-based generator.
//
//   forward   y[i] = x[i] * m[i],  m[i] = 0 (dropped) or 1 / (1 - rate) (kept)
//   backward  dx[i] = dy[i] * m[i]
//
// Unit i is kept where its uniform draw u[i] in [0, 1) is >= rate, as TensorFlow decides. A
// counter-based generator makes u[i] a pure function of (key, i): Philox4x32-10 (Salmon, Moraes,
// Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the generator cuRAND and
// PyTorch's dropout use. It scrambles a 128-bit counter under a 64-bit key in ten rounds of two
// 32 x 32 -> 64-bit multiplies, and returns four 32-bit words: no state to keep or to share between
// threads, any element's draw computed by whichever thread wants it, in any order. Element i takes
// word i % 4 of the call whose counter is i / 4; the backend draws a fresh key per call from the
// layer's generator. Its top 24 bits make the uniform, u[i] = (word >> 8) / 2^24, and the wrapper
// turns rate into the integer threshold ceil(rate * 2^24): keep where word >> 8 >= threshold, an
// exact integer compare for float and double alike. philox4x32_10 and dropout_keep_mask of
// cnn_gpu/ops/dropout.py compute the same bits in NumPy; the tests compare them bit for bit.
//
// A lesson in storing against recomputing. Memory-bound: the floor is one read and one write per
// element in each pass; Philox's 20 multiplies per four elements are cheap beside them.
//   1. dropout_forward_stored_mask   y and the mask, stored as the reference's (a T per element),
//                                    which the backward reads: 12 bytes an element forward (float)
//   2. dropout_backward_stored_mask  dx = dy * mask
//   3. dropout_regenerated           both passes, out = in * m with m drawn from (key, i) each
//                                    time: 8 bytes an element, no mask in memory between them
//   4. gaussian_noise                Keras's GaussianNoise (out = in + s z) and GaussianDropout
//                                    (out = in (1 + s z), both passes), z a normal draw made from
//                                    the same Philox words by the Box-Muller transform
// Every kernel is a grid-stride loop over groups of 4 elements (one Philox call each), a template
// over the element type T (float, double); rung 4 over whether the noise adds or multiplies too.
// Wrappers: cnn_gpu/ops/dropout.py. Tests: tests/ops/test_dropout_kernels.py. Benchmark: benchmarks/dropout.py.

// Threads per block of every kernel; cnn_gpu/ops/dropout.py launches with the same number.
constexpr int DROPOUT_BLOCK = 256;

// Philox4x32's constants: the round multipliers and the Weyl increments of the key.
constexpr unsigned PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
constexpr unsigned PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;

struct Words4 {
    unsigned w[4];
};

// The 64-bit product a * b as its high and low halves.
__device__ __forceinline__ void mul_hi_lo(unsigned a, unsigned b, unsigned& hi, unsigned& lo)
{
    const unsigned long long product = (unsigned long long)a * b;
    hi = unsigned(product >> 32);
    lo = unsigned(product);
}

// Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1).
__device__ __forceinline__ Words4 philox4x32_10(unsigned c0, unsigned c1, unsigned c2, unsigned c3, unsigned k0,
                                                unsigned k1)
{
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        unsigned hi0, lo0, hi1, lo1;
        mul_hi_lo(PHILOX_M0, c0, hi0, lo0);
        mul_hi_lo(PHILOX_M1, c2, hi1, lo1);
        const unsigned n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return {{c0, c1, c2, c3}};
}

// The four random words of group g (elements 4g .. 4g + 3).
__device__ __forceinline__ Words4 group_words(long long g, unsigned key_lo, unsigned key_hi)
{
    return philox4x32_10(unsigned(g), unsigned((unsigned long long)g >> 32), 0u, 0u, key_lo, key_hi);
}

// Element i's mask value: 0 where its draw falls below the threshold, else the kept units' scale.
template <typename T>
__device__ __forceinline__ T mask_value(unsigned word, unsigned threshold, T scale)
{
    return (word >> 8) >= threshold ? scale : T(0);
}

// For every group of 4 elements of the n, grid-stride: visit(g, words), the group's Philox words.
template <class Visit>
__device__ __forceinline__ void for_each_group(long long n, unsigned key_lo, unsigned key_hi, Visit visit)
{
    const long long groups = (n + 3) / 4;
    for (long long g = blockIdx.x * (long long)blockDim.x + threadIdx.x; g < groups;
         g += (long long)gridDim.x * blockDim.x)
        visit(g, group_words(g, key_lo, key_hi));
}

// visit(i, word) for each of the n elements, with its word of its group's (the last group may be partial).
template <class Visit>
__device__ __forceinline__ void for_each_draw(long long n, unsigned key_lo, unsigned key_hi, Visit visit)
{
    for_each_group(n, key_lo, key_hi, [&](long long g, const Words4& words) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const long long i = 4 * g + j;
            if (i < n) visit(i, words.w[j]);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// 1. Forward, the mask stored.
// Idea: what the reference does, in one pass: draw, write y and the mask (a T per element, 0 or
// the scale), which the backward reads.
// Expected bottleneck: device memory bandwidth: x read, y and the mask written, 12 bytes an element
// for float. A thread's four elements are 16 contiguous bytes, so a warp's accesses are 512
// contiguous bytes, in four 4-byte instructions per array.
// Measured with rung 2, a step's forward and backward (NVIDIA H200, benchmarks/results/dropout.json, commit
// 27bd7f2; by CUDA graph; rate 0.5; GB/s counted on the step's 16-byte floor, of the 24 it moves):
// 16,777,216 elements 171.4 us, 1566 GB/s, 37% of copy bandwidth (4180 GB/s); PyTorch's native_dropout and
// its backward (a bool mask stored) 91.0 us, 1.9x faster than ours; the reference on CuPy (host draws, by
// launch) 68.64 ms, 400x slower. 204,800 elements (the MNIST convnet's Dropout at batch 128): 5.0 us
// (PyTorch 5.2).
// Not as expected: 2.4x rung 3's time (70.5 us) for 1.5x its bytes, and slower than PyTorch, whose mask
// is a byte an element where ours is a float; these figures do not split the forward from the backward.
template <typename T>
__global__ void __launch_bounds__(DROPOUT_BLOCK)
    dropout_forward_stored_mask(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ mask, long long n,
                                unsigned key_lo, unsigned key_hi, unsigned threshold, T scale)
{
    for_each_draw(n, key_lo, key_hi, [&](long long i, unsigned word) {
        const T m = mask_value(word, threshold, scale);
        mask[i] = m;
        y[i] = x[i] * m;
    });
}

// ---------------------------------------------------------------------------------------------
// 2. Backward from the stored mask.
// Idea: dx = dy * mask, element-wise; the draws are not made again.
// Expected bottleneck: device memory bandwidth: dy and the mask read, dx written, 12 bytes an
// element for float.
// Measured: only with rung 1, as one step (rung 1's comment).
template <typename T>
__global__ void __launch_bounds__(DROPOUT_BLOCK)
    dropout_backward_stored_mask(const T* __restrict__ dy, const T* __restrict__ mask, T* __restrict__ dx, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        dx[i] = dy[i] * mask[i];
}

// ---------------------------------------------------------------------------------------------
// 3. Both passes with the mask drawn, never stored: out = in * m.
// Idea: the mask is a function of (key, i), so there is nothing to store: the forward (x -> y) draws
// it, and the backward (dy -> dx) draws it again from the same key. The two passes are the same
// arithmetic, so this one kernel runs both.
// Expected bottleneck: device memory bandwidth, 8 bytes an element for float in each pass (rungs 1
// and 2 move 12); Philox's 20 multiplies and about 40 other integer operations per group of four
// stay under it.
// Measured, a step's forward and backward (NVIDIA H200, benchmarks/results/dropout.json, commit 27bd7f2; by
// CUDA graph; rate 0.5): 16,777,216 elements 70.5 us, 3808 GB/s, 91% of copy bandwidth (4180 GB/s);
// PyTorch's native_dropout pair 91.0 us (ours 1.29x faster); the reference on CuPy (host draws, by launch)
// 68.64 ms (974x). 204,800 elements: 4.4 us, 748 GB/s, 18%; PyTorch 5.2 (1.2x), CuPy 724.7 (165x).
// As expected: Philox's arithmetic stays under the memory time.
template <typename T>
__global__ void __launch_bounds__(DROPOUT_BLOCK)
    dropout_regenerated(const T* __restrict__ in, T* __restrict__ out, long long n, unsigned key_lo, unsigned key_hi,
                        unsigned threshold, T scale)
{
    for_each_draw(n, key_lo, key_hi, [&](long long i, unsigned word) { out[i] = in[i] * mask_value(word, threshold, scale); });
}

// ---------------------------------------------------------------------------------------------
// 4. Gaussian noise, added (GaussianNoise) or multiplied (GaussianDropout).
// Idea: the Box-Muller transform makes two independent normal draws of two uniform ones,
//   r = sqrt(-2 log u1), z = r cos(2 pi u2) and r sin(2 pi u2),
// so a group's four Philox words give its four elements' draws: elements 4g and 4g + 1 from words 0
// and 1, elements 4g + 2 and 4g + 3 from words 2 and 3, u1 = (word + 1) / 2^32 in (0, 1] (never
// log 0) and u2 = word / 2^32. The transform runs in double: its logarithm, sine and cosine are then
// within an ulp or two of gaussian_draws of cnn_gpu/ops/dropout.py in NumPy's float64, so a float
// draw rounds to the same float but for the rarest ties. As rung 3, nothing is stored: GaussianDropout's
// backward, dx = dy (1 + s z), is this kernel again on dy under the same key; GaussianNoise's is dy.
// Expected bottleneck: device memory bandwidth, 8 bytes an element for float, if the double
// transcendentals (a log, a sqrt and a sine or cosine an element; H100's FP64 units run at half
// the FP32 rate) keep under it; on a card with few FP64 units they would not.
// Measured, GaussianDropout's step, forward and backward (NVIDIA H200, benchmarks/results/dropout.json,
// commit 27bd7f2; by CUDA graph; rate 0.5): 16,777,216 elements 181.1 us, 1483 GB/s, 35% of copy bandwidth
// (4180 GB/s); PyTorch's randn_like and multiplies 211.5 us (ours 1.17x faster). 204,800 elements: 6.8 us
// (PyTorch 11.7; ours 1.74x faster). GaussianNoise (MULTIPLY false) is not timed.
// Not as expected: 2.6x rung 3's time (70.5 us) on the same 16 bytes an element, so the double
// transcendentals do not keep under the memory time, even on the H200's Hopper FP64 units.
template <typename T, bool MULTIPLY>
__global__ void __launch_bounds__(DROPOUT_BLOCK)
    gaussian_noise(const T* __restrict__ in, T* __restrict__ out, long long n, unsigned key_lo, unsigned key_hi,
                   T stddev)
{
    for_each_group(n, key_lo, key_hi, [&](long long g, const Words4& words) {
#pragma unroll
        for (int pair = 0; pair < 2; ++pair) {
            const double u1 = (words.w[2 * pair] + 1.0) * 0x1p-32, u2 = words.w[2 * pair + 1] * 0x1p-32;
            const double r = sqrt(-2.0 * log(u1)), angle = 6.283185307179586 * u2;
            const double z[2] = {r * cos(angle), r * sin(angle)};
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                const long long i = 4 * g + 2 * pair + j;
                if (i < n) {
                    const T noise = stddev * T(z[j]);
                    out[i] = MULTIPLY ? in[i] * (T(1) + noise) : in[i] + noise;
                }
            }
        }
    });
}

