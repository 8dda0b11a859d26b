// Probes of the ptx.cuh helpers: one small kernel per helper that runs it on inputs the test chose
// and writes its raw results out. tests/ops/test_ptx.py compares them with a NumPy model of what the
// PTX ISA documents: in emulation that checks each twin, on a GPU the instruction itself.
#include "ptx.cuh"

// max_keeping_nan (max.ftz.NaN.f32) of a[i] and b[i], each of n pairs.
extern "C" __global__ void probe_max_keeping_nan(const float* __restrict__ a, const float* __restrict__ b,
                                                 float* __restrict__ out, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = max_keeping_nan(a[i], b[i]);
}

// f32_to_tf32 (cvt.rna.tf32.f32) on each of n values; bits receives the result's bit pattern.
extern "C" __global__ void probe_f32_to_tf32(const float* __restrict__ x, unsigned* __restrict__ bits, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) bits[i] = f32_to_tf32(x[i]);
}

// One warp, one mma_tf32_m16n8k8. Lane l's registers come from row l of the fragment arrays
// (a: 32 x 4 bit patterns, b: 32 x 2, acc: 32 x 4 floats) and its accumulators go to row l of d.
// The kernel knows nothing of the fragment layout: the test builds the rows from A, B and C by the
// documented layout and reassembles D the same way.
extern "C" __global__ void probe_mma_tf32_m16n8k8(const unsigned* __restrict__ a_frags, const unsigned* __restrict__ b_frags,
                                                  const float* __restrict__ acc_frags, float* __restrict__ d_frags)
{
    const int lane = threadIdx.x;
    const unsigned a[4] = {a_frags[lane * 4 + 0], a_frags[lane * 4 + 1], a_frags[lane * 4 + 2], a_frags[lane * 4 + 3]};
    const unsigned b[2] = {b_frags[lane * 2 + 0], b_frags[lane * 2 + 1]};
    float acc[4] = {acc_frags[lane * 4 + 0], acc_frags[lane * 4 + 1], acc_frags[lane * 4 + 2], acc_frags[lane * 4 + 3]};
    mma_tf32_m16n8k8(acc, a, b);
    for (int i = 0; i < 4; ++i) d_frags[lane * 4 + i] = acc[i];
}

// cp.async in two groups, one block of 64 threads. Thread i copies 16 bytes (width 4: one
// cp_async<16>) or 4 x 4 bytes (width 1: four cp_async<4>) from first[4i..] into shared row i, keeping
// only src_bytes[i] of the 16 (in whole floats for width 1), then the same from second[] into a
// second buffer. After waiting for all but the newest group, the first buffer is complete: it goes to
// out[0 .. 256); after waiting for all, the second goes to out[256 .. 512). Shared memory starts
// filled with -1, so a missing zero-fill shows.
extern "C" __global__ void probe_cp_async(const float* __restrict__ first, const float* __restrict__ second,
                                          const int* __restrict__ src_bytes, float* __restrict__ out, int width)
{
    __shared__ __align__(16) float s[2][64 * 4];
    const int i = threadIdx.x;
    for (int j = 0; j < 4; ++j) s[0][i * 4 + j] = s[1][i * 4 + j] = -1.0f;
    __syncthreads();
    const float* sources[2] = {first, second};
    for (int group = 0; group < 2; ++group) {
        const float* src = sources[group] + i * 4;
        float* dst = &s[group][i * 4];
        if (width == 4) {
            cp_async<16>(dst, src, src_bytes[i]);
        } else {
            for (int j = 0; j < 4; ++j) cp_async<4>(dst + j, src + j, src_bytes[i] > 4 * j ? 4 : 0);
        }
        cp_async_commit();
    }
    cp_async_wait<1>();
    __syncthreads();
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = s[0][i * 4 + j];
    cp_async_wait<0>();
    __syncthreads();
    for (int j = 0; j < 4; ++j) out[256 + i * 4 + j] = s[1][i * 4 + j];
}
