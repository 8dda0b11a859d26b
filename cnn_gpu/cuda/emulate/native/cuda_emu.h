// The CUDA C that kernels use, for the host compiler: force-included (`g++ -include cuda_emu.h`)
// ahead of every emulated kernel source, which itself includes no system header.
//
// Index variables, barriers and warp operations go to the runtime (emu_runtime.h), which runs each
// GPU thread as a fiber. Everything else is plain C++ here. Not emulated: half precision, texture
// and surface objects, cooperative groups, inline PTX (kernels/ptx.cuh has an emulated twin of each
// of its PTX helpers, under #ifdef CNN_GPU_EMULATE).
#pragma once

#include <math.h>  // the global-namespace float functions (expf, fminf, ...), INFINITY and NAN
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>
#include <utility>

#include "emu_runtime.h"

#define CNN_GPU_EMULATE 1

// --- qualifiers ------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
// A cluster kernel's dimensions: the Python side reads them from the source (source.py) and runs
// each cluster's blocks together (runtime/block.cpp).
#define __cluster_dims__(...)
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is the host compiler's own.

// Static shared memory: one instance per block. Blocks run one after another on one OS thread, so
// any static storage would do; thread_local is used because the kernel library's TLS segment then
// holds exactly its shared variables, which checked mode poisons at each block start. (A
// `section` attribute cannot delimit them: g++ drops it on statics inside template instantiations.)
// `extern __shared__ T name[];` is rewritten before compiling (see source.py).
#define __shared__ thread_local

// --- built-in variables ----------------------------------------------------------------------------
#define threadIdx (static_cast<const uint3&>(cnn_emu_thread_idx))
#define blockIdx (static_cast<const uint3&>(cnn_emu_block_idx))
#define blockDim (static_cast<const dim3&>(cnn_emu_block_dim))
#define gridDim (static_cast<const dim3&>(cnn_emu_grid_dim))
constexpr int warpSize = 32;

// --- vector types, aligned as on the GPU -------------------------------------------------------------
#define CNN_EMU_VECTOR2(name, T, align)                        \
    struct __align__(align) name { T x, y; };                  \
    __forceinline__ name make_##name(T x, T y) { return {x, y}; }
#define CNN_EMU_VECTOR3(name, T)                               \
    struct name { T x, y, z; };                                \
    __forceinline__ name make_##name(T x, T y, T z) { return {x, y, z}; }
#define CNN_EMU_VECTOR4(name, T, align)                        \
    struct __align__(align) name { T x, y, z, w; };            \
    __forceinline__ name make_##name(T x, T y, T z, T w) { return {x, y, z, w}; }

CNN_EMU_VECTOR2(char2, signed char, 2)
CNN_EMU_VECTOR4(char4, signed char, 4)
CNN_EMU_VECTOR2(uchar2, unsigned char, 2)
CNN_EMU_VECTOR4(uchar4, unsigned char, 4)
CNN_EMU_VECTOR2(short2, short, 4)
CNN_EMU_VECTOR2(ushort2, unsigned short, 4)
CNN_EMU_VECTOR2(int2, int, 8)
CNN_EMU_VECTOR3(int3, int)
CNN_EMU_VECTOR4(int4, int, 16)
CNN_EMU_VECTOR2(uint2, unsigned, 8)
CNN_EMU_VECTOR4(uint4, unsigned, 16)
CNN_EMU_VECTOR2(float2, float, 8)
CNN_EMU_VECTOR3(float3, float)
CNN_EMU_VECTOR4(float4, float, 16)
CNN_EMU_VECTOR2(double2, double, 16)
CNN_EMU_VECTOR2(longlong2, long long, 16)
__forceinline__ uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }

// --- barriers and warp operations ----------------------------------------------------------------------
__forceinline__ void __syncthreads() { cnn_emu::block_barrier(cnn_emu::BarrierKind::plain, 0); }
__forceinline__ int __syncthreads_count(int p) { return cnn_emu::block_barrier(cnn_emu::BarrierKind::count, p); }
__forceinline__ int __syncthreads_and(int p) { return cnn_emu::block_barrier(cnn_emu::BarrierKind::all, p); }
__forceinline__ int __syncthreads_or(int p) { return cnn_emu::block_barrier(cnn_emu::BarrierKind::any, p); }
// Threads switch only inside runtime calls and blocks run one at a time: fences have nothing to do.
__forceinline__ void __threadfence() {}
__forceinline__ void __threadfence_block() {}
__forceinline__ void __threadfence_system() {}

__forceinline__ void __syncwarp(unsigned mask = 0xffffffffu) {
    cnn_emu::warp_collective(cnn_emu::WarpOp::sync, mask, nullptr, nullptr, 0, 0, 32);
}

namespace cnn_emu {
template <class T>
__forceinline__ T shuffle(WarpOp op, unsigned mask, T var, int lane_arg, int width) {
    static_assert(std::is_arithmetic_v<T> && (sizeof(T) == 4 || sizeof(T) == 8),
                  "warp shuffles take int, unsigned, long long, unsigned long long, float or double");
    T out;
    warp_collective(op, mask, &var, &out, int(sizeof(T)), lane_arg, width);
    return out;
}
}  // namespace cnn_emu

template <class T>
__forceinline__ T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
    return cnn_emu::shuffle(cnn_emu::WarpOp::shfl_idx, mask, var, src_lane, width);
}
template <class T>
__forceinline__ T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    return cnn_emu::shuffle(cnn_emu::WarpOp::shfl_up, mask, var, int(delta), width);
}
template <class T>
__forceinline__ T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    return cnn_emu::shuffle(cnn_emu::WarpOp::shfl_down, mask, var, int(delta), width);
}
template <class T>
__forceinline__ T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
    return cnn_emu::shuffle(cnn_emu::WarpOp::shfl_xor, mask, var, lane_mask, width);
}

__forceinline__ unsigned __ballot_sync(unsigned mask, int predicate) {
    int vote = predicate != 0;
    unsigned votes;
    cnn_emu::warp_collective(cnn_emu::WarpOp::ballot, mask, &vote, &votes, 4, 0, 32);
    return votes;
}
__forceinline__ int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
__forceinline__ int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, !predicate) == 0; }
// The lanes of the warp that have not exited (divergence inside a warp is not tracked).
__forceinline__ unsigned __activemask() { return cnn_emu::active_mask(); }

// --- atomics: a cooperative fiber cannot be interrupted, so a plain read-modify-write is atomic --------
#define CNN_EMU_ATOMIC(name, T, update)                    \
    __forceinline__ T name(T* address, T val) {             \
        T old = *address;                                   \
        *address = (update);                                \
        return old;                                         \
    }
#define CNN_EMU_ATOMIC_INTEGERS(name, update)              \
    CNN_EMU_ATOMIC(name, int, update)                       \
    CNN_EMU_ATOMIC(name, unsigned, update)                  \
    CNN_EMU_ATOMIC(name, unsigned long long, update)

CNN_EMU_ATOMIC_INTEGERS(atomicAdd, old + val)
CNN_EMU_ATOMIC_INTEGERS(atomicExch, val)
CNN_EMU_ATOMIC_INTEGERS(atomicAnd, old & val)
CNN_EMU_ATOMIC_INTEGERS(atomicOr, old | val)
CNN_EMU_ATOMIC_INTEGERS(atomicXor, old ^ val)
CNN_EMU_ATOMIC_INTEGERS(atomicMin, val < old ? val : old)
CNN_EMU_ATOMIC_INTEGERS(atomicMax, val > old ? val : old)
CNN_EMU_ATOMIC(atomicMin, long long, val < old ? val : old)
CNN_EMU_ATOMIC(atomicMax, long long, val > old ? val : old)
CNN_EMU_ATOMIC(atomicSub, int, old - val)
CNN_EMU_ATOMIC(atomicSub, unsigned, old - val)
CNN_EMU_ATOMIC(atomicExch, float, val)
CNN_EMU_ATOMIC(atomicInc, unsigned, old >= val ? 0u : old + 1)
CNN_EMU_ATOMIC(atomicDec, unsigned, (old == 0 || old > val) ? val : old - 1)
// Float sums depend on the order of the additions: count them, so checked mode compares results
// of such launches with a tolerance.
CNN_EMU_ATOMIC(atomicAdd, float, (++cnn_emu_float_atomics, old + val))
CNN_EMU_ATOMIC(atomicAdd, double, (++cnn_emu_float_atomics, old + val))

#define CNN_EMU_ATOMIC_CAS(T)                                        \
    __forceinline__ T atomicCAS(T* address, T compare, T val) {       \
        T old = *address;                                             \
        if (old == compare) *address = val;                           \
        return old;                                                   \
    }
CNN_EMU_ATOMIC_CAS(int)
CNN_EMU_ATOMIC_CAS(unsigned)
CNN_EMU_ATOMIC_CAS(unsigned long long)
CNN_EMU_ATOMIC_CAS(unsigned short)

// --- integer and bit intrinsics ------------------------------------------------------------------------
// Cache hints only (__ldg: the read-only path; __ldcg: L2, not L1): one memory here.
template <class T>
__forceinline__ T __ldg(const T* p) { return *p; }
template <class T>
__forceinline__ T __ldcg(const T* p) { return *p; }
__forceinline__ int __popc(unsigned x) { return __builtin_popcount(x); }
__forceinline__ int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
__forceinline__ int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }
__forceinline__ int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
__forceinline__ int __ffs(int x) { return __builtin_ffs(x); }
__forceinline__ int __ffsll(long long x) { return __builtin_ffsll(x); }
__forceinline__ unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i, x >>= 1) r = (r << 1) | (x & 1);
    return r;
}
__forceinline__ unsigned long long __brevll(unsigned long long x) {
    return (static_cast<unsigned long long>(__brev(unsigned(x))) << 32) | __brev(unsigned(x >> 32));
}
__forceinline__ int __mulhi(int a, int b) { return int((static_cast<long long>(a) * b) >> 32); }
__forceinline__ unsigned __umulhi(unsigned a, unsigned b) {
    return unsigned((static_cast<unsigned long long>(a) * b) >> 32);
}
__forceinline__ int __mul24(int a, int b) { return int(unsigned(a << 8 >> 8) * unsigned(b << 8 >> 8)); }
__forceinline__ unsigned __umul24(unsigned a, unsigned b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }

namespace cnn_emu {
template <class To, class From>
__forceinline__ To bit_cast(From from) {
    static_assert(sizeof(To) == sizeof(From), "bit casts keep the size");
    To to;
    memcpy(&to, &from, sizeof to);
    return to;
}
}  // namespace cnn_emu
__forceinline__ int __float_as_int(float x) { return cnn_emu::bit_cast<int>(x); }
__forceinline__ unsigned __float_as_uint(float x) { return cnn_emu::bit_cast<unsigned>(x); }
__forceinline__ float __int_as_float(int x) { return cnn_emu::bit_cast<float>(x); }
__forceinline__ float __uint_as_float(unsigned x) { return cnn_emu::bit_cast<float>(x); }
__forceinline__ long long __double_as_longlong(double x) { return cnn_emu::bit_cast<long long>(x); }
__forceinline__ double __longlong_as_double(long long x) { return cnn_emu::bit_cast<double>(x); }

// --- float intrinsics: computed accurately (no fast-math approximations) ---------------------------------
__forceinline__ float __expf(float x) { return expf(x); }
__forceinline__ float __exp10f(float x) { return exp10f(x); }
__forceinline__ float __logf(float x) { return logf(x); }
__forceinline__ float __log2f(float x) { return log2f(x); }
__forceinline__ float __log10f(float x) { return log10f(x); }
__forceinline__ float __powf(float x, float y) { return powf(x, y); }
__forceinline__ float __sinf(float x) { return sinf(x); }
__forceinline__ float __cosf(float x) { return cosf(x); }
__forceinline__ float __tanf(float x) { return tanf(x); }
__forceinline__ void __sincosf(float x, float* s, float* c) { sincosf(x, s, c); }
__forceinline__ float __fdividef(float x, float y) { return x / y; }
__forceinline__ float fdividef(float x, float y) { return x / y; }
__forceinline__ float __frcp_rn(float x) { return 1.0f / x; }
__forceinline__ float __fsqrt_rn(float x) { return sqrtf(x); }
__forceinline__ float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
__forceinline__ float rsqrtf(float x) { return 1.0f / sqrtf(x); }
__forceinline__ double rsqrt(double x) { return 1.0 / sqrt(x); }
__forceinline__ float __fadd_rn(float a, float b) { return a + b; }
__forceinline__ float __fsub_rn(float a, float b) { return a - b; }
__forceinline__ float __fmul_rn(float a, float b) { return a * b; }
__forceinline__ float __fdiv_rn(float a, float b) { return a / b; }
__forceinline__ float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
__forceinline__ double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
__forceinline__ float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
__forceinline__ int __float2int_rn(float x) { return int(nearbyintf(x)); }
__forceinline__ int __float2int_rz(float x) { return int(x); }
__forceinline__ int __float2int_rd(float x) { return int(floorf(x)); }
__forceinline__ int __float2int_ru(float x) { return int(ceilf(x)); }
__forceinline__ unsigned __float2uint_rn(float x) { return unsigned(nearbyintf(x)); }
__forceinline__ float __int2float_rn(int x) { return float(x); }
__forceinline__ float __uint2float_rn(unsigned x) { return float(x); }

// min and max, with CUDA's overloads for mixed signedness and precision.
#define CNN_EMU_MIN_MAX(A, B, R)                                                         \
    __forceinline__ R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? a : b; } \
    __forceinline__ R max(A a, B b) { return static_cast<R>(a) > static_cast<R>(b) ? a : b; }
CNN_EMU_MIN_MAX(int, int, int)
CNN_EMU_MIN_MAX(unsigned, unsigned, unsigned)
CNN_EMU_MIN_MAX(int, unsigned, unsigned)
CNN_EMU_MIN_MAX(unsigned, int, unsigned)
CNN_EMU_MIN_MAX(long, long, long)
CNN_EMU_MIN_MAX(unsigned long, unsigned long, unsigned long)
CNN_EMU_MIN_MAX(long long, long long, long long)
CNN_EMU_MIN_MAX(unsigned long long, unsigned long long, unsigned long long)
__forceinline__ float min(float a, float b) { return fminf(a, b); }
__forceinline__ float max(float a, float b) { return fmaxf(a, b); }
__forceinline__ double min(double a, double b) { return fmin(a, b); }
__forceinline__ double max(double a, double b) { return fmax(a, b); }
__forceinline__ double min(float a, double b) { return fmin(a, b); }
__forceinline__ double max(float a, double b) { return fmax(a, b); }
__forceinline__ double min(double a, float b) { return fmin(a, b); }
__forceinline__ double max(double a, float b) { return fmax(a, b); }

// --- misc --------------------------------------------------------------------------------------------
__forceinline__ void __trap() { cnn_emu::fail("__trap() called"); }
#define printf cnn_emu_printf

// --- launch stubs: what the generated code after the kernel source uses --------------------------------
namespace cnn_emu {

// One kernel parameter, as Python packs it. Kinds: 'p' pointer, 'i' signed integer, 'u' unsigned
// integer, 'f' floating point, 'b' bool, '?' anything else (not passable from Python).
struct ParamInfo {
    int kind, size, pointee_kind, pointee_size;
};

template <class T>
constexpr int kind_of() {
    if constexpr (std::is_same_v<T, bool>) return 'b';
    else if constexpr (std::is_integral_v<T>) return std::is_signed_v<T> ? 'i' : 'u';
    else if constexpr (std::is_floating_point_v<T>) return 'f';
    else if constexpr (std::is_pointer_v<T>) return 'p';
    else return '?';
}

template <class T>
constexpr ParamInfo describe() {
    if constexpr (std::is_pointer_v<T>) {
        using Pointee = std::remove_cv_t<std::remove_pointer_t<T>>;
        if constexpr (std::is_void_v<Pointee>) return {'p', int(sizeof(T)), '?', 0};
        else return {'p', int(sizeof(T)), kind_of<Pointee>(), int(sizeof(Pointee))};
    } else {
        return {kind_of<T>(), int(sizeof(T)), 0, 0};
    }
}

// The parameter list of a kernel's function type, and its per-thread body: unpack `args` (CUDA's
// kernel-parameter layout, one pointer per parameter) and call the kernel.
template <class... P>
struct Signature {
    static constexpr int count = int(sizeof...(P));
    static constexpr ParamInfo params[sizeof...(P) + 1] = {describe<P>()..., ParamInfo{}};

    template <auto Kernel, size_t... I>
    static void call(void** args, std::index_sequence<I...>) {
        Kernel(*static_cast<P*>(args[I])...);
    }
    template <auto Kernel>
    static void body(void** args) {
        call<Kernel>(args, std::index_sequence_for<P...>{});
    }
};

template <class... P>
Signature<P...> signature_of(void (*)(P...));

}  // namespace cnn_emu
