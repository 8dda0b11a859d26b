// Every inline PTX instruction the kernels use, each in one small helper, and beside each its
// emulated twin: the code the CPU emulation backend runs instead (CNN_GPU_EMULATE), with the same
// effect on the same lanes and registers. Kernels never write `asm` themselves.
//
// Helpers, in the order a tensor-core GEMM meets them:
//   cp_async<16> / cp_async<4> copy global -> shared without passing through registers
//   cp_async_commit            close the group of copies this thread issued so far
//   cp_async_wait<N>           wait until at most N of this thread's groups are still in flight
//   f32_to_tf32                round an FP32 value to TF32 (cvt.rna: nearest, ties away from zero)
//   mma_tf32_m16n8k8           one warp-wide 16x8x8 TF32 matrix product with FP32 accumulation
//                              (its result rounded toward zero: see "Rounding" there)
#pragma once

#ifdef CNN_GPU_EMULATE
#include <cstring>
#endif

// ---- asynchronous copies (sm_80+) ---------------------------------------------------------------
// cp.async copies `bytes` from global to shared memory in the background. With src-size smaller
// than `bytes` it reads only src_bytes and fills the rest of the destination with zeros, which is
// how the GEMM tiles zero-fill their edges: a copy that starts past the matrix reads nothing.
// .cg (cache global, skip L1) only takes 16-byte copies; .ca takes 4, 8 or 16.

#ifndef CNN_GPU_EMULATE
// The 32-bit shared-memory address that cp.async wants, from a generic pointer.
__device__ __forceinline__ unsigned shared_address(const void* ptr)
{
    unsigned address;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(address) : "l"(ptr));
    return address;
}
#endif

template <int BYTES>
__device__ __forceinline__ void cp_async(void* smem_dst, const void* gmem_src, int src_bytes)
{
    static_assert(BYTES == 16 || BYTES == 4, "the GEMM tiles copy 16 bytes (.cg) or 4 (.ca)");
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_copy(smem_dst, gmem_src, BYTES, src_bytes);
#else
    if constexpr (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                     :: "r"(shared_address(smem_dst)), "l"(gmem_src), "r"(src_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n"
                     :: "r"(shared_address(smem_dst)), "l"(gmem_src), "r"(src_bytes));
#endif
}

__device__ __forceinline__ void cp_async_commit()
{
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_commit_group();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// Groups complete in order, so waiting for "at most N pending" means every group but the newest N
// has landed in shared memory (for this thread's copies: a __syncthreads() must follow before other
// threads read them).
template <int N>
__device__ __forceinline__ void cp_async_wait()
{
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_wait_group(N);
#else
    asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
#endif
}

// ---- TF32 -----------------------------------------------------------------------------------------
// TF32 keeps FP32's sign and 8-bit exponent and the top 10 of its 23 mantissa bits: the low 13 bits
// of the 32-bit register are zero. cvt.rna rounds to nearest with ties away from zero. On the bit
// pattern that is "add half an ulp of TF32 (bit 12) to the magnitude, then clear the low 13 bits";
// a carry out of the mantissa bumps the exponent, which is exactly the rounding up to the next
// binade (and to infinity past the largest finite value). Infinities and NaNs skip the addition.
__device__ __forceinline__ unsigned f32_to_tf32(float x)
{
#ifdef CNN_GPU_EMULATE
    unsigned bits;
    std::memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7f800000u) != 0x7f800000u) bits += 0x1000u;
    return bits & 0xffffe000u;
#else
    unsigned bits;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(bits) : "f"(x));
    return bits;
#endif
}

// The FP32 value of a TF32 (or any 32-bit float) bit pattern. Not PTX; here beside f32_to_tf32
// because the emulated build spells it differently.
__device__ __forceinline__ float tf32_bits_as_float(unsigned bits)
{
#ifdef CNN_GPU_EMULATE
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
#else
    return __uint_as_float(bits);
#endif
}

// ---- mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 -------------------------------------------
// acc (16x8, FP32) += A (16x8, TF32) * B (8x8, TF32), computed by the whole warp together. Each lane
// holds a fragment; with g = lane / 4 and t = lane % 4 (PTX ISA, "Matrix Fragments for mma.m16n8k8",
// .tf32):
//   a[0] = A[g][t]    a[1] = A[g+8][t]    a[2] = A[g][t+4]    a[3] = A[g+8][t+4]
//   b[0] = B[t][g]    b[1] = B[t+4][g]
//   acc[0] = C[g][2t] acc[1] = C[g][2t+1] acc[2] = C[g+8][2t] acc[3] = C[g+8][2t+1]
// Every lane of the warp must call it (the .aligned in the name), with the same code path.
// The operand registers are meant to hold TF32 values (f32_to_tf32's results); the twin reads only
// their top 19 bits, i.e. treats any lower bits as if they were zero (a GPU test confirmed this).
// Rounding: the twin forms acc + the 8 exact products and rounds that once toward zero to FP32. The
// PTX ISA does not say how the result is rounded; this is a model fitted to a measurement. On an H200
// (benchmarks/results/gemm.json, commit 1b45d2c) 3xTF32, which then chained every mma of a K-long dot
// product through one accumulator, had an error growing linearly with K (1.4e-5 at 2048^3, 2.9e-5
// at 4096^3, 5.7e-5 at 8192^3), a drift always one way: what rounding toward zero at each of K/8
// accumulations gives, as Ootomo & Yokota found ("Recovering single precision accuracy from Tensor
// Cores while surpassing the FP32 theoretical peak performance", 2022). With this twin the emulator
// shows the same drift (3.6e-5 to 4e-5 for 16 x 16 x 4096), and tests/ops/test_ptx.py holds the
// hardware to the model on a GPU. So: keep mma accumulation chains short (gemm_tensorcore.cu).
__device__ __forceinline__ void mma_tf32_m16n8k8(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
#ifdef CNN_GPU_EMULATE
    struct Operands { unsigned a[4]; unsigned b[2]; };
    Operands mine = {{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
    Operands all[32];
    cnn_emu::warp_all_gather(&mine, all, sizeof(Operands));
    auto tf32_value = [](unsigned bits) { return tf32_bits_as_float(bits & 0xffffe000u); };
    float A[16][8], B[8][8];
    for (int lane = 0; lane < 32; ++lane) {
        const int g = lane / 4, t = lane % 4;
        A[g][t] = tf32_value(all[lane].a[0]);
        A[g + 8][t] = tf32_value(all[lane].a[1]);
        A[g][t + 4] = tf32_value(all[lane].a[2]);
        A[g + 8][t + 4] = tf32_value(all[lane].a[3]);
        B[t][g] = tf32_value(all[lane].b[0]);
        B[t + 4][g] = tf32_value(all[lane].b[1]);
    }
    const int lane = ((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x) % 32;
    const int g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
        const int row = g + 8 * (i / 2), col = 2 * t + i % 2;
        // TF32 x TF32 products are exact in FP32; the sum is formed in double (exact to 2^-53)
        // and rounded once, toward zero (see "Rounding" above).
        double sum = acc[i];
        for (int k = 0; k < 8; ++k) sum += double(A[row][k]) * double(B[k][col]);
        const float nearest = float(sum);
        acc[i] = fabs(double(nearest)) > fabs(sum) ? nextafterf(nearest, 0.0f) : nearest;
    }
#else
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
