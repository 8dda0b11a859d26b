// Probes of ptx.cuh's Hopper helpers (sm_90a on a GPU; cnn_gpu/cuda/sources.py): like ptx_probe.cu,
// one small kernel that runs a helper on inputs the test chose and writes its raw results out, for
// tests/ops/test_ptx.py to compare with a NumPy model of what the PTX ISA documents.
#include "ptx.cuh"

// One warpgroup (128 threads), one wgmma_m64k8_tf32<128> at k-step `step` (0 to 3) of 32-float rows.
// A (64 x 8) and B^T (128 x 8, row n holding column n of B) are row-major; they are written into
// 128-byte-swizzled tiles at k = 8 step .. 8 step + 7 of each row, every other float of the rows NaN,
// so a descriptor that points at the wrong k, or a wrong swizzle, poisons the result. Thread t's
// 64 accumulators start as acc_frags[t][..] and end in d_frags[t][..]; the test maps them to D by the
// documented fragment layout. Dynamic shared memory: (64 + 128) * 128 + 1024 bytes.
extern "C" __global__ void probe_wgmma_tf32_m64n128k8(const float* __restrict__ a, const float* __restrict__ b_t,
                                                      const float* __restrict__ acc_frags, float* __restrict__ d_frags,
                                                      int step)
{
    extern __shared__ float4 smem_vec4[];
    unsigned char* const a_tile = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));
    unsigned char* const b_tile = a_tile + 64 * 128;
    const int t = threadIdx.x;
    for (int i = t; i < (64 + 128) * 32; i += 128) {
        const int row = i / 32, k = i % 32;
        const bool in_a = row < 64;
        const int r = in_a ? row : row - 64;
        float value = __int_as_float(0x7fc00000);  // NaN
        if (k / 8 == step) value = in_a ? a[r * 8 + k % 8] : b_t[r * 8 + k % 8];
        *reinterpret_cast<float*>((in_a ? a_tile : b_tile) + swizzle_128b_offset(r, k)) = value;
    }
    fence_proxy_async_shared();
    __syncthreads();
    float d[64];
    for (int i = 0; i < 64; ++i) d[i] = acc_frags[t * 64 + i];
    wgmma_fence();
    wgmma_m64k8_tf32<128>(d, wgmma_descriptor_sw128(a_tile) + 2 * step, wgmma_descriptor_sw128(b_tile) + 2 * step);
    wgmma_commit_group();
    wgmma_wait_group<0>();
    wgmma_fence_operands(d);
    for (int i = 0; i < 64; ++i) d_frags[t * 64 + i] = d[i];
}

// A 64 x N x 8 product with A from registers (wgmma_m64k8_tf32_a_in_registers<N>, N = 128, 192 or
// 256: each a different operand list): thread t's four fragment registers are a_frags[t][0..3],
// placed by the test as the PTX ISA documents; B^T (N x 8) is in its tile at k-step `step` as above,
// the rest of the tile NaN; thread t's N / 2 accumulators start as acc_frags[t][..] and end in
// d_frags[t][..]. Dynamic shared memory: N * 128 + 1024 bytes.
template <int N>
__global__ void probe_wgmma_tf32_a_in_registers(const unsigned* __restrict__ a_frags, const float* __restrict__ b_t,
                                                const float* __restrict__ acc_frags, float* __restrict__ d_frags,
                                                int step)
{
    // Not smem_vec4, which the extern "C" probes above declare with C linkage: a template has C++'s.
    extern __shared__ float4 b_tile_storage[];
    unsigned char* const b_tile = swizzle_128b_align(reinterpret_cast<unsigned char*>(b_tile_storage));
    const int t = threadIdx.x;
    for (int i = t; i < N * 32; i += 128) {
        const int row = i / 32, k = i % 32;
        *reinterpret_cast<float*>(b_tile + swizzle_128b_offset(row, k)) =
            k / 8 == step ? b_t[row * 8 + k % 8] : __int_as_float(0x7fc00000);
    }
    fence_proxy_async_shared();
    __syncthreads();
    const unsigned a[4] = {a_frags[t * 4], a_frags[t * 4 + 1], a_frags[t * 4 + 2], a_frags[t * 4 + 3]};
    float d[N / 2];
    for (int i = 0; i < N / 2; ++i) d[i] = acc_frags[t * (N / 2) + i];
    wgmma_fence();
    wgmma_m64k8_tf32_a_in_registers<N>(d, a, wgmma_descriptor_sw128(b_tile) + 2 * step);
    wgmma_commit_group();
    wgmma_wait_group<0>();
    wgmma_fence_operands(d);
    for (int i = 0; i < N / 2; ++i) d_frags[t * (N / 2) + i] = d[i];
}

// One tma_load_2d of the box at (x, y) (x along the rows) of the matrix `map` describes, boxes of 32
// floats x box_rows, into a 128-byte-swizzled tile; out[r * 32 + k] receives the tile's float (r, k)
// read back through the swizzle (zero where the box lies outside the matrix). Dynamic shared memory:
// box_rows * 128 + 8 (the mbarrier) + 1024 bytes.
extern "C" __global__ void probe_tma_load_2d(const unsigned long long* __restrict__ map, float* __restrict__ out, int x,
                                             int y, int box_rows)
{
    extern __shared__ float4 smem_vec4[];
    unsigned char* const tile = swizzle_128b_align(reinterpret_cast<unsigned char*>(smem_vec4));
    unsigned long long* const landed = reinterpret_cast<unsigned long long*>(tile + box_rows * 128);
    if (threadIdx.x == 0) {
        mbarrier_init(landed, 1);
        fence_mbarrier_init();
        fence_tensormap_acquire(map);
        mbarrier_arrive_expect_tx(landed, box_rows * 128);
        tma_load_2d(tile, map, x, y, landed);
    }
    __syncthreads();
    mbarrier_wait(landed, 0);
    for (int i = threadIdx.x; i < box_rows * 32; i += blockDim.x)
        out[i] = *reinterpret_cast<const float*>(tile + swizzle_128b_offset(i / 32, i % 32));
}
