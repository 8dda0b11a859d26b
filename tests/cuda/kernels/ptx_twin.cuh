// A test-only miniature of kernels/ptx.cuh: each helper is inline PTX on a GPU and, under
// CNN_GPU_EMULATE, an emulated twin built on the emulator's primitives (namespace cnn_emu).
#pragma once

// cp.async of 16 bytes from global to shared memory; src_bytes < 16 zero-fills the rest.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, int src_bytes) {
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_copy(smem, gmem, 16, src_bytes);
#else
    unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(src_bytes));
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_commit_group();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Wait until at most `pending` committed groups are still in flight.
template <int pending>
__device__ __forceinline__ void cp_async_wait() {
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_wait_group(pending);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(pending));
#endif
}

// ldmatrix.x1 of an 8x8 matrix of 16-bit values: lanes 0-7 give the addresses of rows 0-7, and lane
// i receives row i/4, columns 2*(i%4) and 2*(i%4)+1, packed in one 32-bit register. The twin
// gathers every lane's row address, then reads its own two elements.
__device__ __forceinline__ unsigned ldmatrix_x1(const unsigned short* row) {
#ifdef CNN_GPU_EMULATE
    const unsigned short* rows[32];
    cnn_emu::warp_all_gather(&row, rows, sizeof row);
    int lane = threadIdx.x % 32;
    const unsigned short* mine = rows[lane / 4] + 2 * (lane % 4);
    return unsigned(mine[0]) | (unsigned(mine[1]) << 16);
#else
    unsigned out;
    unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(out) : "r"(address));
    return out;
#endif
}
