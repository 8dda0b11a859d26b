// Copies tiles of 32 float4 from global to shared memory with the ptx_twin.cuh cp.async helpers,
// double-buffered: the copy of tile t+1 is in flight while tile t is used. WAIT_PENDING is the
// number of groups allowed in flight at the wait (1 is right; leaving the wait out is the bug).
// MISALIGNED_SOURCE reads from 4 bytes past the array's start: 16-byte copies from there fault on a GPU.
#include "ptx_twin.cuh"

extern "C" __global__ void copy_tiles(const float4* __restrict__ in, float4* __restrict__ out, int tiles) {
    __shared__ __align__(16) float4 buffer[2][32];
    const int lane = threadIdx.x;
#ifdef MISALIGNED_SOURCE
    in = reinterpret_cast<const float4*>(reinterpret_cast<const float*>(in) + 1);
#endif
    cp_async_16(&buffer[0][lane], &in[lane], 16);
    cp_async_commit();
    for (int t = 0; t < tiles; ++t) {
        if (t + 1 < tiles) cp_async_16(&buffer[(t + 1) % 2][lane], &in[(t + 1) * 32 + lane], 16);
        cp_async_commit();
#ifndef MISSING_WAIT
        cp_async_wait<1>();  // tile t has landed; tile t+1 may still be in flight
#endif
        __syncthreads();
        out[t * 32 + lane] = buffer[t % 2][31 - lane];  // read another thread's element
        __syncthreads();
    }
}

// Each warp loads an 8x8 matrix of 16-bit values into shared memory and reads it back with
// ldmatrix_x1: out[warp][lane] is the 32-bit fragment of that lane.
extern "C" __global__ void load_fragments(const unsigned short* __restrict__ in, unsigned* __restrict__ out) {
    __shared__ unsigned short matrix[64];
    const int lane = threadIdx.x;
    matrix[lane] = in[lane];
    matrix[lane + 32] = in[lane + 32];
    __syncwarp();
    out[lane] = ldmatrix_x1(&matrix[(lane % 8) * 8]);
}
