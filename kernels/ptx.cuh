// Every inline PTX instruction the kernels use, each in one small helper, and beside each its
// emulated twin: the code the CPU emulation backend runs instead (CNN_GPU_EMULATE), with the same
// effect on the same lanes and registers. Kernels never write `asm` themselves.
//
// Helpers, in the order a tensor-core GEMM meets them:
//   cp_async<16> / cp_async<4> copy global -> shared without passing through registers (to a
//                              pointer, or to a shared address from shared_address)
//   cp_async_commit            close the group of copies this thread issued so far
//   cp_async_wait<N>           wait until at most N of this thread's groups are still in flight
//   max_keeping_nan            max.NaN: the larger of two floats, NaN if either is (the ReLU epilogue)
//   f32_to_tf32                round an FP32 value to TF32 (cvt.rna: nearest, ties away from zero)
//   mma_tf32_m16n8k8           one warp-wide 16x8x8 TF32 matrix product with FP32 accumulation
//                              (its result rounded toward zero: see "Rounding" there)
// and, for Hopper's warpgroup MMA (sm_90a only; gemm_wgmma.cu):
//   swizzle_128b_offset        where element (row, k) of a K-major tile lives in the 128-byte swizzle
//   swizzle_128b_align         the first 1024-byte boundary at or after a shared-memory pointer
//   wgmma_descriptor_sw128     the 64-bit shared-memory descriptor of such a tile
//   fence_proxy_async_shared   make this thread's shared-memory writes visible to wgmma's reads
//   wgmma_fence / wgmma_commit_group / wgmma_wait_group<N> / wgmma_fence_operands
//                              order wgmma against the registers and shared memory it uses
//   wgmma_m64k8_tf32<N>        one warpgroup-wide 64xNx8 TF32 product from shared memory
//   wgmma_m64k8_tf32_a_in_registers<N>
//                              the same with A's fragments in registers (only B from shared memory)
//   mbarrier_init / mbarrier_arrive_expect_tx / mbarrier_arrive_if / mbarrier_wait / fence_mbarrier_init
//                              a shared-memory barrier that counts arrivals and bytes copied
//   tma_load_2d                one box of a 2-D tensor, global -> shared, by the Tensor Memory Accelerator (TMA)
//   fence_tensormap_acquire    before the first copy by a tensor map that lives in global memory
// and, for thread-block clusters:
//   cluster_ctarank / cluster_arrive / cluster_wait / cluster_sync / tma_load_2d_multicast / mbarrier_arrive_remote_if
//   cluster_load_float4        a float4 from another block's shared memory (distributed shared memory)
#pragma once

#ifdef CNN_GPU_EMULATE
#include <cstring>
#include <vector>
#endif

// ---- asynchronous copies (sm_80+) ---------------------------------------------------------------
// cp.async copies `bytes` from global to shared memory in the background. With src-size smaller
// than `bytes` it reads only src_bytes and fills the rest of the destination with zeros, which is
// how the GEMM tiles zero-fill their edges: a copy that starts past the matrix reads nothing.
// .cg (cache global, skip L1) only takes 16-byte copies; .ca takes 4, 8 or 16.

// The 32-bit shared-memory address that cp.async and wgmma descriptors want, from a generic pointer.
// The twin counts from the start of the block's dynamic shared memory (the emulator has no shared
// window; wgmma's operands must live there, and only cp.async's real build asks for the address).
__device__ __forceinline__ unsigned shared_address(const void* ptr)
{
#ifdef CNN_GPU_EMULATE
    const long offset = static_cast<const unsigned char*>(ptr) - cnn_emu_dynamic_shared;
    if (offset < 0 || offset >= CNN_EMU_MAX_DYNAMIC_SHARED) __trap();  // not dynamic shared memory
    return unsigned(offset);
#else
    unsigned address;
    asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(address) : "l"(ptr));
    return address;
#endif
}

// The destination as a shared-memory address (shared_address): a loader that computes it once can
// step it by constants, which ptxas folds into the copies' address offsets. The twin maps it back
// into dynamic shared memory, the only kind its shared_address takes; the pointer form below takes
// any shared memory.
template <int BYTES>
__device__ __forceinline__ void cp_async(unsigned smem_dst, const void* gmem_src, int src_bytes)
{
    static_assert(BYTES == 16 || BYTES == 4, "the GEMM tiles copy 16 bytes (.cg) or 4 (.ca)");
#ifdef CNN_GPU_EMULATE
    cnn_emu::async_copy(cnn_emu_dynamic_shared + smem_dst, gmem_src, BYTES, src_bytes);
#else
    if constexpr (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(smem_dst), "l"(gmem_src), "r"(src_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" :: "r"(smem_dst), "l"(gmem_src), "r"(src_bytes));
#endif
}

template <int BYTES>
__device__ __forceinline__ void cp_async(void* smem_dst, const void* gmem_src, int src_bytes)
{
#ifdef CNN_GPU_EMULATE
    static_assert(BYTES == 16 || BYTES == 4, "the GEMM tiles copy 16 bytes (.cg) or 4 (.ca)");
    cnn_emu::async_copy(smem_dst, gmem_src, BYTES, src_bytes);
#else
    cp_async<BYTES>(shared_address(smem_dst), gmem_src, src_bytes);
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

// ---- max.ftz.NaN.f32 (sm_80+) ------------------------------------------------------------------------
// The larger of a and b, or NaN if either is: what a ReLU epilogue needs to keep a NaN (fmaxf
// returns the other operand, so fmaxf(NaN, 0) is 0). One instruction, as fmaxf is, where a compare
// and a select would take two and a predicate register more (enough to make a 128-register wgmma
// kernel spill).
__device__ __forceinline__ float max_keeping_nan(float a, float b)
{
#ifdef CNN_GPU_EMULATE
    if (a != a) return a;
    if (b != b) return b;
    return a > b ? a : b;
#else
    float d;
    asm("max.ftz.NaN.f32 %0, %1, %2;\n" : "=f"(d) : "f"(a), "f"(b));  // .ftz: as every build (-ftz=true)
    return d;
#endif
}

// ---- TF32 -----------------------------------------------------------------------------------------
// A float's bit pattern, and the float of a bit pattern: a TF32 value's (or any 32-bit float's), and
// an FP32 value's as an mma operand register holds it (the tensor core reads its top 19 bits:
// mma_tf32_m16n8k8 below). Not PTX; here because the emulated build spells them differently.
#ifdef CNN_GPU_EMULATE
__device__ __forceinline__ unsigned float_as_bits(float x) { unsigned b; std::memcpy(&b, &x, sizeof b); return b; }
__device__ __forceinline__ float tf32_bits_as_float(unsigned b) { float x; std::memcpy(&x, &b, sizeof x); return x; }
#else
__device__ __forceinline__ unsigned float_as_bits(float x) { return __float_as_uint(x); }
__device__ __forceinline__ float tf32_bits_as_float(unsigned bits) { return __uint_as_float(bits); }
#endif

// TF32 keeps FP32's sign and 8-bit exponent and the top 10 of its 23 mantissa bits: the low 13 bits
// of the 32-bit register are zero. cvt.rna rounds to nearest with ties away from zero. On the bit
// pattern that is "add half an ulp of TF32 (bit 12) to the magnitude, then clear the low 13 bits";
// a carry out of the mantissa bumps the exponent, which is exactly the rounding up to the next
// binade (and to infinity past the largest finite value). Infinities and NaNs skip the addition.
__device__ __forceinline__ unsigned f32_to_tf32(float x)
{
#ifdef CNN_GPU_EMULATE
    unsigned bits = float_as_bits(x);
    if ((bits & 0x7f800000u) != 0x7f800000u) bits += 0x1000u;
    return bits & 0xffffe000u;
#else
    unsigned bits;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(bits) : "f"(x));
    return bits;
#endif
}

// f32_to_tf32's rounding without its test for infinities and NaN: two instructions (an add, a mask)
// where cvt.rna takes three on sm_90 (FSETP, a predicated add, a mask). Finite values and infinities
// round as cvt.rna rounds them; a NaN may come out as any value (0x7fffffff, the GPU's NaN, carries
// into the sign: -0), so it is for 3xTF32's big part alone, whose small part, x - big, is NaN for a
// NaN x whatever big is, and carries the NaN into the product.
__device__ __forceinline__ unsigned tf32_round_split(float x)
{
    return (float_as_bits(x) + 0x1000u) & 0xffffe000u;
}

// ---- mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 -------------------------------------------
// acc (16x8, FP32) += A (16x8, TF32) * B (8x8, TF32), computed by the whole warp together. Each lane
// holds a fragment; with g = lane / 4 and t = lane % 4 (PTX ISA, "Matrix Fragments for mma.m16n8k8",
// .tf32):
//   a[0] = A[g][t]    a[1] = A[g+8][t]    a[2] = A[g][t+4]    a[3] = A[g+8][t+4]
//   b[0] = B[t][g]    b[1] = B[t+4][g]
//   acc[0] = C[g][2t] acc[1] = C[g][2t+1] acc[2] = C[g+8][2t] acc[3] = C[g+8][2t+1]
// Every lane of the warp must call it (the .aligned in the name), with the same code path.
// The operand registers hold TF32 values (f32_to_tf32's results), or FP32 values for the tensor core
// to cut (3xTF32's small parts: to_tf32 in gemm_common.cuh); the twin reads only their top 19 bits,
// i.e. treats any lower bits as if they were zero (a GPU test confirmed this).
// Rounding: the twin forms acc + the 8 exact products and rounds that once toward zero to FP32. The
// PTX ISA does not say how the result is rounded; this is a model fitted to a measurement. On an H200
// (benchmarks/results/gemm.json, commit 1b45d2c) 3xTF32, which then chained every mma of a K-long dot
// product through one accumulator, had an error growing linearly with K (1.4e-5 at 2048^3, 2.9e-5
// at 4096^3, 5.7e-5 at 8192^3), a drift always one way: what rounding toward zero at each of K/8
// accumulations gives, as Ootomo & Yokota found ("Recovering single precision accuracy from Tensor
// Cores while surpassing the FP32 theoretical peak performance", 2022). With this twin the emulator
// shows the same drift (3.6e-5 to 4e-5 for 16 x 16 x 4096), and tests/ops/test_ptx.py holds the
// hardware to the model on a GPU. So: keep mma accumulation chains short (gemm_tensorcore.cu).
#ifdef CNN_GPU_EMULATE
// The tensor core's arithmetic as the twins model it: acc + the 8 products of TF32 values (exact in
// FP32), summed in double (exact to 2^-53) and rounded once, toward zero (see "Rounding" above).
inline float tensor_core_dot8_twin(float acc, const float* a, const float* b)
{
    double sum = acc;
    for (int k = 0; k < 8; ++k) sum += double(a[k]) * double(b[k]);
    const float nearest = float(sum);
    return fabs(double(nearest)) > fabs(sum) ? nextafterf(nearest, 0.0f) : nearest;
}
#endif

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
        float b_col[8];
        for (int k = 0; k < 8; ++k) b_col[k] = B[k][col];
        acc[i] = tensor_core_dot8_twin(acc[i], A[row], b_col);
    }
#else
    asm volatile(
        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

// ---- Hopper's warpgroup MMA: wgmma.mma_async (sm_90a) ----------------------------------------------
// A warpgroup is four consecutive warps (128 threads, the first a multiple of 128). Together they
// compute D (64 x N, FP32, in registers) += A (64 x 8, TF32) * B (8 x N, TF32) in one instruction,
// reading A and B straight from shared memory, asynchronously: the instruction returns at once, the
// tensor core works on, and the registers and tiles belong to it until a wgmma_wait_group says the
// group holding it is done. Each of the four mma.sync-sized steps of the old design (load fragments
// into registers, one 16 x 8 x 8 product per warp) is gone: no fragment loads, and at N = 128 64 times
// the work per instruction (16 times per warp of the four).
//
// The shared-memory tiles. For TF32 both operands must be "K-major": A as 64 rows of k, B as N rows
// of k (B transposed), k contiguous; the PTX ISA allows transposed (MN-major) operands only for 16-bit
// types. Our tiles hold 32 floats of k per row: 128 bytes, one row of the 128-byte swizzle. In that
// layout (the tile 1024-byte aligned) the 16-byte chunk c of row r (floats 4c .. 4c + 3) is stored at
// chunk c XOR (r mod 8) of the row, so the 8 rows of a group spread any one chunk column over all 32
// banks: reads of a column of chunks, and our cp.async writes of a row, are free of bank conflicts.
// A descriptor (PTX ISA, "Matrix Descriptor Format") says where the tile starts (address / 16, bits
// 0-13), how far apart its 8-row groups are (the stride byte offset / 16, bits 32-45: 8 x 128 =
// 1024 here), and the swizzle (bits 62-63: 1 = 128-byte). Its leading byte offset (bits 16-29) is
// not used by swizzled K-major layouts; 1 by convention. The k-steps of a 32-float row are 8 floats
// = 32 bytes apart: the descriptor of step s is the row's plus 2 s (32 bytes / 16); the hardware
// applies the swizzle to the address it forms, as swizzle_128b_offset does.
//
// The accumulator fragments, by warp w of the warpgroup and lane l (PTX ISA, "Register Fragments and
// Shared Memory Matrix Layouts" for wgmma, D of .m64nNk8): d[4j + i] is D[16w + l / 4 + 8 (i / 2)]
// [8j + 2 (l % 4) + i % 2], for j < N / 8: mma.sync's 16 x 8 C fragment, once per 8 columns.
//   A may come from registers instead of a tile (the PTX ISA's register-sourced form, for TF32 the
// only way to feed wgmma an operand that is not K-major in memory: the registers have no "major").
// Then thread (w, l) holds a[4] of A's rows 16w .. 16w + 15 as mma.sync's A fragment holds its 16 x 8
// (PTX ISA, "Register Fragments" for wgmma, A of .m64nNk8 .tf32): a[0] = A[16w + l / 4][l % 4],
// a[1] = A[16w + l / 4 + 8][l % 4], a[2] and a[3] the same rows at k + 4. Like the accumulators, the
// registers belong to the tensor core until the wait that completes their wgmma: writing them
// earlier is undefined behaviour.
//
// Every wgmma instruction is .sync.aligned: a thread goes on only once all threads of its warp have
// reached it. The twin's wgmma and waits meet the warp likewise (__syncwarp), so that no lane runs ahead
// of the others past them, as none can on a GPU: a kernel may let one lane per warp speak for it
// (release a stage) after such a point.
//
// The twin keeps the asynchrony: each thread's wgmma stay in flight until a wgmma_wait_group completes
// their group, and only then are their results written to the accumulators, so a kernel that reads
// them early reads stale values. An operation's result is computed when it issues and again when it
// completes, from the tiles as they are then: if they differ, shared memory under a wgmma in flight
// was overwritten, and the launch fails; so it does if the accumulators of one were written in the
// meantime, or a thread exits with one still in flight. It fails too when a wgmma starts on
// accumulators no wgmma_fence has ordered since ordinary code could last touch them, and when it
// reads shared memory that a cp.async wrote with no fence_proxy_async_shared after it (the runtime
// tracks cp.async's writes; ordinary stores it cannot see), and when A's registers change while a wgmma
// that reads them is in flight (the twin gathers the warp's fragments when it issues, as
// mma_tf32_m16n8k8's does, and keeps a pointer to the thread's registers: the array must live until
// the wait that completes the wgmma). The ISA asks for a wgmma_fence between a write of A's registers
// and the wgmma that reads them; the twin cannot see register writes, so it asks for a fence before
// every wgmma that takes A from registers (stricter than the ISA; ptxas, for its part, adds a missing
// one itself and says so, info C7519, which the compile check refuses). Operands are the
// descriptors' tiles decoded as above (or the gathered fragments), each float cut to its top 19
// bits, as mma.sync was measured to read them; the arithmetic is mma_tf32_m16n8k8's (see
// "Rounding" there). Both held for shared-memory operands on an H100 (tests/ops/test_ptx.py); the
// register-sourced form is an assumption until those tests run on a Hopper GPU.

// Byte offset of float (row, k) of a tile of 128-byte rows (k < 32) in the 128-byte swizzle.
__device__ __forceinline__ int swizzle_128b_offset(int row, int k)
{
    return row * 128 + ((((k >> 2) ^ row) & 7) << 4) + ((k & 3) << 2);
}

// The first 1024-byte boundary of shared memory at or after p: the swizzle's pattern repeats every
// 1024 bytes of address, and the hardware applies it by address, so tiles start on one.
__device__ __forceinline__ unsigned char* swizzle_128b_align(unsigned char* p)
{
    return p + ((1024 - (shared_address(p) & 1023)) & 1023);
}

// The descriptor of a K-major tile of 128-byte rows in the 128-byte swizzle, 1024-byte aligned.
__device__ __forceinline__ unsigned long long wgmma_descriptor_sw128(const void* tile)
{
    const unsigned long long start = (shared_address(tile) & 0x3FFFF) >> 4;
    const unsigned long long leading = 1, stride = 1024 >> 4, swizzle_128b = 1;
    return start | (leading << 16) | (stride << 32) | (swizzle_128b << 62);
}

// wgmma reads shared memory through the "async proxy"; stores and cp.async write it through the
// generic one. After its writes have landed (cp_async_wait) and before the barrier that lets the
// warpgroups read them, each writing thread fences the two.
__device__ __forceinline__ void fence_proxy_async_shared()
{
#ifdef CNN_GPU_EMULATE
    cnn_emu::proxy_fence();  // the twin of a wgmma that reads this thread's cp.async writes checks for it
#else
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Before a batch of wgmma: the accumulators' earlier writes by ordinary instructions are done.
__device__ __forceinline__ void wgmma_fence();  // below, after the twin's bookkeeping

#ifdef CNN_GPU_EMULATE
// The twin's bookkeeping: each thread's wgmma in flight, oldest first, in committed groups.
namespace wgmma_twin {
struct InFlight {
    float* d;  // the accumulators it writes when its group completes
    unsigned long long desc_a, desc_b;
    // A from registers: the warp's 16 x 8 slice of A as its lanes held it at issue (row-major, empty
    // when A comes from desc_a), and this thread's four registers, which must stay as they were.
    std::vector<float> a_rows;
    const unsigned* a_registers;
    unsigned a_seen[4];
    std::vector<float> seen;    // the accumulators as the thread left them (they must stay so)
    std::vector<float> base;    // what it adds to: seen, or the result of the one before it on d
    std::vector<float> result;  // base + A * B, from the tiles when it issued
};
struct Queue {
    std::vector<InFlight> ops;
    std::vector<size_t> group_ends;  // ops before group_ends[i] belong to groups 0 .. i
    // wgmma_fence calls so far, and for each set of accumulators the count when the last wgmma on
    // them completed: a wgmma that starts on accumulators with none in flight (ordinary code may have
    // touched them since) needs a fence after that, as it does before the thread's first wgmma.
    unsigned long long fences = 0;
    std::vector<std::pair<const float*, unsigned long long>> settled;
    unsigned long long fences_at_register_issue = 0;  // `fences` when this thread last issued one with A in registers
};

inline void at_thread_exit(void* state)
{
    Queue* queue = static_cast<Queue*>(state);
    const bool in_flight = !queue->ops.empty();
    delete queue;
    if (in_flight) cnn_emu::fail("a thread exited with wgmma in flight: wgmma_wait_group<0> must come first");
}

inline Queue& queue()
{
    Queue* queue = static_cast<Queue*>(cnn_emu::twin_state());
    if (!queue) {
        queue = new Queue;
        cnn_emu::set_twin_state(queue, at_thread_exit);
    }
    return *queue;
}

inline float operand(unsigned long long descriptor, int row, int k);  // below, with the descriptor's format

// out = base + A * B for this thread's accumulators (the fragment layout above).
inline void product(const InFlight& op, const float* base, float* out)
{
    const int thread = ((threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x) % 128;
    const int warp = thread / 32, lane = thread % 32, regs = int(op.seen.size());
    for (int r = 0; r < regs; ++r) {
        const int j = r / 4, i = r % 4;
        const int row = 16 * warp + lane / 4 + 8 * (i / 2), col = 8 * j + 2 * (lane % 4) + i % 2;
        float a_row[8], b_col[8];
        for (int k = 0; k < 8; ++k) {
            a_row[k] = op.a_rows.empty() ? operand(op.desc_a, row, k) : op.a_rows[(row % 16) * 8 + k];
            b_col[k] = operand(op.desc_b, col, k);
        }
        out[r] = tensor_core_dot8_twin(base[r], a_row, b_col);
    }
}

inline bool same_bits(const float* a, const std::vector<float>& b)
{
    return std::memcmp(a, b.data(), b.size() * sizeof(float)) == 0;
}

// The warp's 16 x 8 slice of A from its lanes' fragments (the layout above), each value cut to TF32.
inline std::vector<float> gather_a_rows(const unsigned* a)
{
    unsigned mine[4] = {a[0], a[1], a[2], a[3]}, all[32][4];
    cnn_emu::warp_all_gather(mine, all, sizeof mine);
    std::vector<float> rows(16 * 8);
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i)
            rows[(lane / 4 + 8 * (i % 2)) * 8 + lane % 4 + 4 * (i / 2)] =
                tf32_bits_as_float(all[lane][i] & 0xffffe000u);
    return rows;
}

// A wgmma on d, with A from desc_a's tile or, when a_registers is given, from the warp's registers.
inline void issue(float* d, int regs, unsigned long long desc_a, unsigned long long desc_b,
                  const unsigned* a_registers = nullptr)
{
    __syncwarp();  // .sync (gather_a_rows, below, meets the warp as well)
    Queue& q = queue();
    const InFlight* before = nullptr;  // the newest one in flight on the same accumulators
    for (const InFlight& op : q.ops)
        if (op.d == d) before = &op;
    if (before && !same_bits(d, before->seen))
        cnn_emu::fail("the accumulators of a wgmma in flight were written before its wgmma_wait_group");
    if (!before) {
        unsigned long long fences_then = 0;
        for (const auto& [accumulators, fences] : q.settled)
            if (accumulators == d) fences_then = fences;
        if (q.fences <= fences_then)
            cnn_emu::fail("a wgmma started on accumulators with no wgmma_fence since they were last free for "
                          "ordinary instructions (the thread's start, or the wait that completed the last wgmma on them)");
    }
    if (a_registers && q.fences == q.fences_at_register_issue)
        cnn_emu::fail("a wgmma read A from registers with no wgmma_fence since the thread's last such wgmma "
                      "(the loads of its fragment must be fenced; the twin asks it of every one)");
    InFlight op{d, desc_a, desc_b, {}, a_registers, {},
                before ? before->seen : std::vector<float>(d, d + regs), {}, {}};
    if (a_registers) {
        q.fences_at_register_issue = q.fences;
        op.a_rows = gather_a_rows(a_registers);
        std::memcpy(op.a_seen, a_registers, sizeof op.a_seen);
    }
    op.base = before ? before->result : op.seen;
    op.result.resize(size_t(regs));
    product(op, op.base.data(), op.result.data());
    q.ops.push_back(std::move(op));
}

inline void wait(int pending)
{
    __syncwarp();  // .sync
    Queue& q = queue();
    if (q.group_ends.size() <= size_t(pending)) return;
    const size_t groups_done = q.group_ends.size() - size_t(pending), done = q.group_ends[groups_done - 1];
    for (size_t i = 0; i < done; ++i) {
        InFlight& op = q.ops[i];
        std::vector<float> again(op.result.size());
        product(op, op.base.data(), again.data());
        if (!same_bits(again.data(), op.result))
            cnn_emu::fail("shared memory read by a wgmma in flight changed before its wgmma_wait_group");
        if (!same_bits(op.d, op.seen))
            cnn_emu::fail("the accumulators of a wgmma in flight were written before its wgmma_wait_group");
        if (op.a_registers && std::memcmp(op.a_registers, op.a_seen, sizeof op.a_seen) != 0)
            cnn_emu::fail("the A registers of a wgmma in flight were written before its wgmma_wait_group");
        std::memcpy(op.d, op.result.data(), op.result.size() * sizeof(float));
        bool known = false;
        for (auto& [accumulators, fences] : q.settled)
            if (accumulators == op.d) fences = q.fences, known = true;
        if (!known) q.settled.emplace_back(op.d, q.fences);
        for (size_t j = i + 1; j < q.ops.size(); ++j)  // later ones on d now see its result there
            if (q.ops[j].d == op.d) q.ops[j].seen = op.result;
    }
    q.ops.erase(q.ops.begin(), q.ops.begin() + long(done));
    q.group_ends.erase(q.group_ends.begin(), q.group_ends.begin() + long(groups_done));
    for (size_t& end : q.group_ends) end -= done;
}
}  // namespace wgmma_twin
#endif

__device__ __forceinline__ void wgmma_fence()
{
#ifdef CNN_GPU_EMULATE
    wgmma_twin::queue().fences += 1;
#else
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}

// Close the group of wgmma this warpgroup issued since the last commit.
__device__ __forceinline__ void wgmma_commit_group()
{
#ifdef CNN_GPU_EMULATE
    wgmma_twin::queue().group_ends.push_back(wgmma_twin::queue().ops.size());
#else
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}

// Wait until at most N of this warpgroup's groups are in flight: the older ones' results are in
// their registers and their tiles may be overwritten.
template <int N>
__device__ __forceinline__ void wgmma_wait_group()
{
#ifdef CNN_GPU_EMULATE
    wgmma_twin::wait(N);
#else
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory");
#endif
}

// The compiler sees wgmma's accumulators as written when the instruction issues; after the wait,
// this pins every later read of them below it. Before a wgmma_fence, it pins the ordinary writes of
// the accumulators (zeroing them) above the fence, as wgmma.fence requires.
template <int R>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[R])
{
#ifndef CNN_GPU_EMULATE
#pragma unroll
    for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i]) :: "memory");
#endif
}

#ifdef CNN_GPU_EMULATE
// The float a descriptor's tile holds at (row, k), k < 8, k counted from the descriptor's start.
inline float wgmma_twin::operand(unsigned long long descriptor, int row, int k)
{
    if ((descriptor >> 62) != 1 || ((descriptor >> 49) & 7) != 0) __trap();  // only the 128-byte swizzle, base offset 0
    const unsigned start = unsigned(descriptor & 0x3FFF) << 4, stride = unsigned((descriptor >> 32) & 0x3FFF) << 4;
    unsigned address = start + (row / 8) * stride + (row % 8) * 128 + k * 4;
    address ^= ((address >> 7) & 7) << 4;
    if (cnn_emu::unfenced_writer(cnn_emu_dynamic_shared + address))
        cnn_emu::fail("a wgmma read shared memory that a cp.async wrote with no fence_proxy_async_shared after it "
                      "(wgmma reads through the async proxy)");
    unsigned bits;
    std::memcpy(&bits, cnn_emu_dynamic_shared + address, sizeof bits);
    return tf32_bits_as_float(bits & 0xffffe000u);
}
#endif

#define CNN_WGMMA_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), \
                        "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define CNN_WGMMA_D64 CNN_WGMMA_D8(0), CNN_WGMMA_D8(8), CNN_WGMMA_D8(16), CNN_WGMMA_D8(24), \
                      CNN_WGMMA_D8(32), CNN_WGMMA_D8(40), CNN_WGMMA_D8(48), CNN_WGMMA_D8(56)
#define CNN_WGMMA_D96 CNN_WGMMA_D64, CNN_WGMMA_D8(64), CNN_WGMMA_D8(72), CNN_WGMMA_D8(80), CNN_WGMMA_D8(88)
#define CNN_WGMMA_D128 CNN_WGMMA_D96, CNN_WGMMA_D8(96), CNN_WGMMA_D8(104), CNN_WGMMA_D8(112), CNN_WGMMA_D8(120)
// The accumulators' operand lists, %0 to %63 (N = 128), %95 (N = 192) and %127 (N = 256).
#define CNN_WGMMA_LIST64 \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
    "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
    "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
    "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define CNN_WGMMA_LIST96 CNN_WGMMA_LIST64 ", " \
    "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
    "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95"
#define CNN_WGMMA_LIST128 CNN_WGMMA_LIST96 ", " \
    "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"

// d (this thread's N / 2 accumulators of the warpgroup's 64 x N tile) += A * B, A and B given by
// descriptors of K-major 128-byte-swizzled tiles. All 128 threads of the warpgroup must call it.
template <int N>
__device__ __forceinline__ void wgmma_m64k8_tf32(float (&d)[N / 2], unsigned long long desc_a, unsigned long long desc_b)
{
    static_assert(N == 128 || N == 256, "the instruction shapes written out below");
#ifdef CNN_GPU_EMULATE
    wgmma_twin::issue(d, N / 2, desc_a, desc_b);
#else
    // scale-d = 1 (accumulate; p), and A and B not negated (1, 1).
    if constexpr (N == 128)
        asm volatile("{ .reg .pred p; setp.ne.b32 p, %66, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {" CNN_WGMMA_LIST64 "}, "
                     "%64, %65, p, 1, 1; }\n"
                     : CNN_WGMMA_D64
                     : "l"(desc_a), "l"(desc_b), "r"(1));
    if constexpr (N == 256)
        asm volatile("{ .reg .pred p; setp.ne.b32 p, %130, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 {" CNN_WGMMA_LIST128 "}, "
                     "%128, %129, p, 1, 1; }\n"
                     : CNN_WGMMA_D128
                     : "l"(desc_a), "l"(desc_b), "r"(1));
#endif
}

// The same with A's fragments in registers (a, the layout above; TF32 bit patterns, or floats whose
// low 13 bits the tensor core ignores) and B from a descriptor. All 128 threads must call it.
template <int N>
__device__ __forceinline__ void wgmma_m64k8_tf32_a_in_registers(float (&d)[N / 2], const unsigned (&a)[4],
                                                                unsigned long long desc_b)
{
    static_assert(N == 128 || N == 192 || N == 256, "the instruction shapes written out below");
#ifdef CNN_GPU_EMULATE
    wgmma_twin::issue(d, N / 2, 0, desc_b, a);
#else
    if constexpr (N == 128)
        asm volatile("{ .reg .pred p; setp.ne.b32 p, %69, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 {" CNN_WGMMA_LIST64 "}, "
                     "{%64, %65, %66, %67}, %68, p, 1, 1; }\n"
                     : CNN_WGMMA_D64
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
    if constexpr (N == 192)
        asm volatile("{ .reg .pred p; setp.ne.b32 p, %101, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n192k8.f32.tf32.tf32 {" CNN_WGMMA_LIST96 "}, "
                     "{%96, %97, %98, %99}, %100, p, 1, 1; }\n"
                     : CNN_WGMMA_D96
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
    if constexpr (N == 256)
        asm volatile("{ .reg .pred p; setp.ne.b32 p, %133, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n256k8.f32.tf32.tf32 {" CNN_WGMMA_LIST128 "}, "
                     "{%128, %129, %130, %131}, %132, p, 1, 1; }\n"
                     : CNN_WGMMA_D128
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));
#endif
}
#undef CNN_WGMMA_LIST128
#undef CNN_WGMMA_LIST96
#undef CNN_WGMMA_LIST64
#undef CNN_WGMMA_D128
#undef CNN_WGMMA_D96
#undef CNN_WGMMA_D64
#undef CNN_WGMMA_D8

// ---- mbarrier and the bulk tensor copy (TMA, sm_90) --------------------------------------------------
// An mbarrier is 8 bytes of shared memory that completes a "phase" once a set number of threads
// have arrived and a set number of bytes have landed; waiting names the phase by its parity (0, 1,
// 0, ...). The tensor memory accelerator copies a box of a tensor, described by a 128-byte tensor map
// (built on the host: cnn_gpu/cuda/tensor_map.py), into shared memory, applying the 128-byte swizzle
// and zero-filling what lies outside the tensor, and counts the bytes against an mbarrier: one
// instruction from one thread moves a whole tile.
//
// The twins: an mbarrier's 8 bytes hold [0:16) arrivals per phase, [16:32) arrivals still due, [32:63)
// bytes still due, [63] the phase's parity. A copy reads its box when issued, fills its destination
// with NaN, and lands (its bytes counted) only when a thread waits on its mbarrier: a kernel that
// reads the destination before the wait reads NaN. A wait for a phase that has not completed
// suspends the thread until other threads' arrivals complete it (cnn_emu::wait_until), or ends the
// launch as a deadlock when no thread can. The tensor map of
// the emulator (tma_twin::Map, filled by the host in place of the driver's opaque one) says the same
// as the real one for the layouts used here: a 2-D float tensor, boxes of 32 floats x rows, 128-byte
// swizzle.
#ifdef CNN_GPU_EMULATE
namespace tma_twin {
struct Map {
    unsigned long long magic;  // kMagic: a map the host built for the emulator
    const float* base;         // element (x, y) is base[y * row_stride + x]
    unsigned long long width, height, row_stride;  // in floats: x < width, y < height
    unsigned long long box_width, box_height;
};
constexpr unsigned long long kMagic = 0x544d41454d55ull;  // "TMAEMU"

inline unsigned long long& state(unsigned long long* bar) { return *bar; }

inline void complete_if_done(unsigned long long* bar)
{
    unsigned long long& s = state(bar);
    const unsigned long long count = s & 0xffff, due = (s >> 16) & 0xffff, bytes = (s >> 32) & 0x7fffffff;
    if (due == 0 && bytes == 0) s = (count | (count << 16)) | ((~s) & (1ull << 63));  // next phase
}

inline void arrive(unsigned long long* bar, unsigned long long bytes, const char* who)
{
    unsigned long long& s = state(bar);
    if (((s >> 16) & 0xffff) == 0) cnn_emu::fail(who);
    s = s - (1ull << 16) + (bytes << 32);
    complete_if_done(bar);
}

// The copies issued and not landed yet, each with the box it read, the block of the cluster it
// lands in (0 without clusters), and its destination and mbarrier as offsets in that block's
// dynamic shared memory (cnn_emu::block_shared).
struct Landing {
    unsigned rank;
    size_t bar, dst;
    std::vector<unsigned char> box;
};

inline size_t offset_of(const void* shared)
{
    const long offset = static_cast<const unsigned char*>(shared) - cnn_emu_dynamic_shared;
    if (offset < 0 || offset >= CNN_EMU_MAX_DYNAMIC_SHARED)
        cnn_emu::fail("a bulk tensor copy's destination and mbarrier must be in dynamic shared memory");
    return size_t(offset);
}
inline std::vector<Landing>& in_flight()
{
    static std::vector<Landing> copies;  // one launch at a time, one block (or cluster) at a time
    return copies;
}

// Bytes of the copies in flight on `bar`, in the running block.
inline unsigned long long bytes_in_flight(const unsigned long long* bar)
{
    unsigned long long bytes = 0;
    const size_t at = offset_of(bar);
    for (const Landing& copy : in_flight())
        if (copy.rank == cnn_emu::live_rank() && copy.bar == at) bytes += copy.box.size();
    return bytes;
}

// Land the running block's copies counted on `bar` (when a thread waits on it), those whose bytes
// the mbarrier expects by now (another block's multicast may come before this block announced
// them: it lands after); or drop them (`keep` false: at the mbarrier's init, so that a block's
// copies never waited on do not land in the next block's). Called in a wait_until condition too:
// nothing here may fail the launch.
inline void land(unsigned long long* bar, bool keep = true)
{
    std::vector<Landing>& copies = in_flight();
    const size_t at = size_t(reinterpret_cast<unsigned char*>(bar) - cnn_emu_dynamic_shared);
    for (size_t i = 0; i < copies.size();) {
        Landing& copy = copies[i];
        if (copy.rank != cnn_emu::live_rank() || copy.bar != at) {
            ++i;
            continue;
        }
        if (keep) {
            unsigned long long& s = state(bar);
            if (((s >> 32) & 0x7fffffff) < copy.box.size()) {
                ++i;
                continue;
            }
            std::memcpy(cnn_emu_dynamic_shared + copy.dst, copy.box.data(), copy.box.size());
            s -= static_cast<unsigned long long>(copy.box.size()) << 32;
        }
        copies.erase(copies.begin() + long(i));
    }
    if (keep) complete_if_done(bar);
}

// The box at (x, y) of a tensor map, in the 128-byte swizzle, zero outside the tensor.
inline std::vector<unsigned char> read_box(const void* map, int x, int y)
{
    const Map& m = *static_cast<const Map*>(map);
    if (m.magic != kMagic || m.box_width != 32) cnn_emu::fail("tma_load_2d: not an emulator tensor map of 32-float boxes");
    std::vector<unsigned char> box(m.box_width * m.box_height * 4);
    for (int row = 0; row < int(m.box_height); ++row)
        for (int k = 0; k < 32; ++k) {
            const long long gx = (long long)x + k, gy = (long long)y + row;
            const bool inside = gx >= 0 && gy >= 0 && gx < (long long)m.width && gy < (long long)m.height;
            const float value = inside ? m.base[gy * (long long)m.row_stride + gx] : 0.0f;
            std::memcpy(box.data() + swizzle_128b_offset(row, k), &value, sizeof value);
        }
    return box;
}

// A phase of parity p has completed once the barrier's current phase has the other parity.
struct Waiter {
    unsigned long long* bar;
    unsigned parity;
    static bool done(const void* self)
    {
        const Waiter& w = *static_cast<const Waiter*>(self);
        land(w.bar);  // the copies issued since the wait began
        return (state(w.bar) >> 63) != w.parity;
    }
};
}  // namespace tma_twin
#endif

// Initialise an mbarrier for `count` arrivals per phase (one thread, before anyone uses it).
__device__ __forceinline__ void mbarrier_init(unsigned long long* bar, unsigned count)
{
#ifdef CNN_GPU_EMULATE
    tma_twin::land(bar, false);
    *bar = count | (count << 16);
#else
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(shared_address(bar)), "r"(count) : "memory");
#endif
}

// Make the initialised mbarriers visible to the TMA unit (then a __syncthreads for the threads).
__device__ __forceinline__ void fence_mbarrier_init()
{
#ifndef CNN_GPU_EMULATE
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}

// Arrive, and announce `bytes` more to land in this phase (before the copies that bring them).
__device__ __forceinline__ void mbarrier_arrive_expect_tx(unsigned long long* bar, unsigned bytes)
{
#ifdef CNN_GPU_EMULATE
    tma_twin::arrive(bar, bytes, "mbarrier_arrive_expect_tx: more arrivals than the phase counts");
#else
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n"
                 :: "r"(shared_address(bar)), "r"(bytes) : "memory");
#endif
}

// Arrive (one of the phase's `count`), announcing no bytes, where `arrive` is true: a consumer saying
// it is done with a buffer, as one lane for its warp. A predicate, not a branch on the lane, which
// would make ptxas serialize the kernel's wgmma while one is in flight (mbarrier_arrive_remote_if,
// below, for the same reason).
__device__ __forceinline__ void mbarrier_arrive_if(unsigned long long* bar, bool arrive)
{
#ifdef CNN_GPU_EMULATE
    if (arrive) tma_twin::arrive(bar, 0, "mbarrier_arrive_if: more arrivals than the phase counts");
#else
    asm volatile("{ .reg .pred p;\n"
                 "setp.ne.b32 p, %1, 0;\n"
                 "@p mbarrier.arrive.shared::cta.b64 _, [%0]; }\n"
                 :: "r"(shared_address(bar)), "r"(int(arrive)) : "memory");
#endif
}

// Wait until the phase of parity `parity` has completed. A phase that never completes (a byte count
// that disagrees with the copies, a lost arrival) would hang the GPU until the process is killed:
// after 2^32 clocks (about 2 s) of trying, the wait traps instead, and the launch fails with an error.
// (Where a warpgroup may have wgmma in flight at the wait, ptxas may make the trap's path wait for
// them first, and says so: info C7517, for 9b's kernel. The SASS has the wait on that path only.)
__device__ __forceinline__ void mbarrier_wait(unsigned long long* bar, unsigned parity)
{
#ifdef CNN_GPU_EMULATE
    const tma_twin::Waiter waiter{bar, parity};
    cnn_emu::wait_until(tma_twin::Waiter::done, &waiter, "an mbarrier phase (mbarrier_wait)");
#else
    const long long start = clock64();
    for (;;) {
        unsigned done;
        asm volatile(
            "{ .reg .pred p;\n"
            "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
            "selp.u32 %0, 1, 0, p; }\n" : "=r"(done) : "r"(shared_address(bar)), "r"(parity) : "memory");
        if (done) return;
        if (clock64() - start > (1ll << 32)) __trap();
    }
#endif
}

// Before the first copy by a tensor map in global memory: the TMA unit reads maps through a
// proxy of its own, which may hold an older map from the same address (the host writes each launch's
// maps into memory an earlier launch's may have used). System scope: the writer is the host (a copy
// from host memory), the scope the CUDA Programming Guide gives for a map written so.
__device__ __forceinline__ void fence_tensormap_acquire(const void* map)
{
#ifndef CNN_GPU_EMULATE
    asm volatile("fence.proxy.tensormap::generic.acquire.sys [%0], 128;\n" :: "l"(map) : "memory");
#endif
}

// Copy the box at (x, y) (x along the contiguous dimension) of the tensor `map` describes into
// `smem_dst` (1024-byte aligned for the 128-byte swizzle), counting its bytes against `bar`.
// `map` is the tensor map's address in global memory.
__device__ __forceinline__ void tma_load_2d(void* smem_dst, const void* map, int x, int y, unsigned long long* bar)
{
#ifdef CNN_GPU_EMULATE
    unsigned char* dst = static_cast<unsigned char*>(smem_dst);
    if ((dst - cnn_emu_dynamic_shared) % 1024 != 0)
        cnn_emu::fail("tma_load_2d: the destination is not 1024-byte aligned, as the 128-byte swizzle needs");
    tma_twin::Landing copy{cnn_emu::live_rank(), tma_twin::offset_of(bar), tma_twin::offset_of(dst),
                           tma_twin::read_box(map, x, y)};
    if (((tma_twin::state(bar) >> 32) & 0x7fffffff) < tma_twin::bytes_in_flight(bar) + copy.box.size())
        cnn_emu::fail("tma_load_2d: more bytes than mbarrier_arrive_expect_tx announced");
    std::memset(dst, 0xFF, copy.box.size());  // NaN until it lands
    tma_twin::in_flight().push_back(std::move(copy));
#else
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
                 :: "r"(shared_address(smem_dst)), "l"(map), "r"(x), "r"(y), "r"(shared_address(bar)) : "memory");
#endif
}

// ---- thread-block clusters (sm_90) ----------------------------------------------------------------
// A cluster is a few blocks the GPU runs at once on neighbouring SMs, each able to reach the others'
// shared memory. The bulk tensor copy can then multicast: one copy lands the same box at the same
// offset in the shared memory of every block its mask names, counting the bytes on the mbarrier at
// the same offset in each.
// The twins: the emulator runs a cluster's blocks together, one scheduler over all their threads,
// the running thread's block's shared memory in the buffer and the others' aside
// (cnn_emu::block_shared). A multicast copy is one tma_load_2d per block of its mask, landing when
// a thread of that block waits on its mbarrier; a remote arrival updates the other block's
// mbarrier where it is kept, and a remote load reads the other block's shared memory there.

// This block's rank in its cluster (0 .. cluster size - 1).
__device__ __forceinline__ unsigned cluster_ctarank()
{
#ifdef CNN_GPU_EMULATE
    return cnn_emu::cluster_rank();
#else
    unsigned rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
    return rank;
#endif
}

// The cluster barrier in two halves: every thread of every block of the cluster arrives, and may do
// other work before it waits until all have arrived. The arrival releases and the wait acquires: the
// thread's memory operations before its arrival (writes, mbarrier initialisations, remote arrivals,
// and reads of another block's shared memory too) happen before every thread's after its wait.
// ptxas puts a MEMBAR.ALL.GPU in front of the arrival, which waits for the thread's stores and loads
// still in flight, to global memory too: an arrival before a kernel's global stores does not wait
// for them.
__device__ __forceinline__ void cluster_arrive()
{
#ifdef CNN_GPU_EMULATE
    cnn_emu::cluster_arrive();
#else
    asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
#endif
}

__device__ __forceinline__ void cluster_wait()
{
#ifdef CNN_GPU_EMULATE
    cnn_emu::cluster_wait();
#else
    asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}

// Both halves at once: wait until every thread of the cluster has arrived.
__device__ __forceinline__ void cluster_sync()
{
    cluster_arrive();
    cluster_wait();
}

// The float4 at `shared`'s offset in the dynamic shared memory of the cluster's block `rank` (its
// own included): mapa turns the address into that block's in the cluster's shared window, which
// ld.shared::cluster reads, from another SM if need be. What that block stored there before a
// cluster barrier that both have passed since is visible. Volatile, with the memory clobber: it
// must not move above the cluster_sync that orders it; the loads of a thread still go out back to
// back, without waiting for one another.
__device__ __forceinline__ float4 cluster_load_float4(const float4* shared, unsigned rank)
{
#ifdef CNN_GPU_EMULATE
    return *reinterpret_cast<const float4*>(cnn_emu::block_shared(rank) + shared_address(shared));
#else
    float4 v;
    asm volatile("{ .reg .b32 remote;\n"
                 "mapa.shared::cluster.u32 remote, %4, %5;\n"
                 "ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [remote]; }\n"
                 : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "r"(shared_address(shared)), "r"(rank) : "memory");
    return v;
#endif
}

// tma_load_2d, the box landing in every block of the cluster that `blocks` (a bit per rank) names,
// at smem_dst's offset there, its bytes counted on the mbarrier at bar's offset there.
__device__ __forceinline__ void tma_load_2d_multicast(void* smem_dst, const void* map, int x, int y,
                                                      unsigned long long* bar, unsigned short blocks)
{
#ifdef CNN_GPU_EMULATE
    const size_t dst = tma_twin::offset_of(smem_dst);
    if (dst % 1024 != 0)
        cnn_emu::fail("tma_load_2d_multicast: the destination is not 1024-byte aligned, as the 128-byte swizzle needs");
    const std::vector<unsigned char> box = tma_twin::read_box(map, x, y);
    for (unsigned rank = 0; rank < 16; ++rank)
        if (blocks >> rank & 1) {
            std::memset(cnn_emu::block_shared(rank) + dst, 0xFF, box.size());  // NaN until it lands
            tma_twin::in_flight().push_back({rank, tma_twin::offset_of(bar), dst, box});
        }
#else
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
                 " [%0], [%1, {%2, %3}], [%4], %5;\n"
                 :: "r"(shared_address(smem_dst)), "l"(map), "r"(x), "r"(y), "r"(shared_address(bar)), "h"(blocks)
                 : "memory");
#endif
}

// Arrive on the mbarrier at bar's offset in the cluster's block `rank`, where `arrive` is true. A
// predicate, not a branch: only threads that branch on their lane around it would do as well, and
// ptxas serializes the wgmma of a kernel that branches so while one is in flight. The arrival's
// default order, release at block scope, as CUTLASS's cluster barriers arrive: .release.cluster
// would put a MEMBAR.ALL.GPU in front of it, in the K loop.
__device__ __forceinline__ void mbarrier_arrive_remote_if(unsigned long long* bar, unsigned rank, bool arrive)
{
#ifdef CNN_GPU_EMULATE
    if (arrive)
        tma_twin::arrive(reinterpret_cast<unsigned long long*>(cnn_emu::block_shared(rank) + tma_twin::offset_of(bar)),
                         0, "mbarrier_arrive_remote_if: more arrivals than the phase counts");
#else
    asm volatile("{ .reg .pred p; .reg .b32 remote;\n"
                 "setp.ne.b32 p, %2, 0;\n"
                 "mapa.shared::cluster.u32 remote, %0, %1;\n"
                 "@p mbarrier.arrive.shared::cluster.b64 _, [remote]; }\n"
                 :: "r"(shared_address(bar)), "r"(rank), "r"(int(arrive)) : "memory");
#endif
}
