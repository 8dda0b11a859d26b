"""The CUDA C subset beyond warps: atomics, vector types, intrinsics and math, block-wide barrier
reductions, templates with static shared memory, printf."""

import numpy as np
import pytest

from cnn_gpu.cuda.emulate import DeadlockError, EmulatedModule, ScheduleDependenceError

ATOMICS = r"""
extern "C" __global__ void atomics(int* i, unsigned* u, unsigned long long* ull, float* f, double* d) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    atomicAdd(&i[0], t);          atomicSub(&i[1], t);       atomicMax(&i[2], t * 7 % 101);
    atomicMin(&i[3], t * 7 % 101 - 50); atomicAnd(&i[4], ~(1 << (t % 31)) | (t % 2)); atomicOr(&i[5], 1 << (t % 31));
    atomicXor(&i[6], t);          atomicCAS(&i[7], -1, 5);  // only the first succeeds
    atomicAdd(&u[0], 3u);         atomicInc(&u[1], 9u);      atomicDec(&u[2], 9u);   atomicExch(&u[3], 5u);
    atomicAdd(&ull[0], 1ull << 33);
    atomicAdd(&f[0], 0.5f);       atomicAdd(&d[0], 0.25);    atomicExch(&f[1], 2.0f);
}
extern "C" __global__ void tickets(int* counter, int* old) {
    old[blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(counter, 1);  // who gets which depends on timing
}
"""


def test_atomics():
    n = 192
    i = np.array([0, 0, -1, 100, -1, 0, 0, -1], np.int32)
    u, ull = np.zeros(4, np.uint32), np.zeros(1, np.uint64)
    f, d = np.zeros(2, np.float32), np.zeros(1, np.float64)
    EmulatedModule(code=ATOMICS).get_function("atomics")(3, 64, (i, u, ull, f, d))
    t = np.arange(n)
    and_ = -1
    for k in t:
        and_ &= ~(1 << (k % 31)) | (k % 2)
    assert list(i) == [t.sum(), -t.sum(), (t * 7 % 101).max(), (t * 7 % 101 - 50).min(), and_,
                       int(np.bitwise_or.reduce(1 << (t % 31))), int(np.bitwise_xor.reduce(t)), 5]
    assert list(u) == [3 * n, n % 10, (-n) % 10, 5]
    assert ull[0] == n << 33 and f[0] == 0.5 * n and d[0] == 0.25 * n and f[1] == 2.0


def test_atomic_tickets_run_unchecked_and_are_reported_as_schedule_dependent_in_checked_mode(monkeypatch):
    kernel = EmulatedModule(code=ATOMICS).get_function("tickets")
    counter, old = np.zeros(1, np.int32), np.full(128, -1, np.int32)
    with pytest.raises(ScheduleDependenceError, match="argument 'old'"):
        kernel(2, 64, (counter, old))
    monkeypatch.setenv("CNN_GPU_EMULATE_CHECKED", "0")
    kernel(2, 64, (counter, old))
    assert sorted(old) == list(range(128))


TYPES_AND_INTRINSICS = r"""
struct Sizes { int size, align; };
#define SIZE(T) out_sizes[k++] = {int(sizeof(T)), int(alignof(T))}
extern "C" __global__ void sizes(Sizes* out_sizes) {
    int k = 0;
    SIZE(char4); SIZE(int2); SIZE(int4); SIZE(uint2); SIZE(uint4); SIZE(float2); SIZE(float3);
    SIZE(float4); SIZE(double2);
}
extern "C" __global__ void intrinsics(const float* x, const unsigned* u, float* f, int* i) {
    int t = threadIdx.x;
    float4 v = reinterpret_cast<const float4*>(x)[t];  // a 16-byte vector load
    float2 w = make_float2(v.x, v.y);
    int4 q = make_int4(1, 2, 3, 4);
    f[8 * t + 0] = w.x + w.y + v.z * v.w + q.w;
    f[8 * t + 1] = __saturatef(v.x) + rsqrtf(fabsf(v.y) + 1.0f);
    f[8 * t + 2] = __expf(v.x) + exp2f(v.y) + __logf(fabsf(v.z) + 1.0f) + tanhf(v.w);
    f[8 * t + 3] = fmaf(v.x, v.y, v.z) + __fdividef(v.x, 2.0f) + __frcp_rn(4.0f);
    f[8 * t + 4] = fminf(v.x, v.y) + fmaxf(v.z, v.w) + min(v.x, v.z) + max(v.y, v.w);
    f[8 * t + 5] = ceilf(v.x) + floorf(v.y) + sqrtf(fabsf(v.z)) + __ldg(&x[4 * t + 3]);
    f[8 * t + 6] = __int_as_float(__float_as_int(v.x)) + __uint_as_float(__float_as_uint(v.y));
    f[8 * t + 7] = (v.x > 0.0f ? __int_as_float(0x7f800000) : __int_as_float(0xff800000)) + (isnan(__int_as_float(0x7fc00000)) ? 1.0f : 0.0f);
    unsigned a = u[t];
    i[8 * t + 0] = __popc(a);  i[8 * t + 1] = __clz(int(a));  i[8 * t + 2] = __ffs(int(a));
    i[8 * t + 3] = int(__brev(a)); i[8 * t + 4] = min(-3, 5) + max(2u, 7u);  i[8 * t + 5] = int(min(a, 9u));
    i[8 * t + 6] = __float2int_rn(2.5f) + __float2int_rz(-2.7f); i[8 * t + 7] = __popcll(0xFFull << 40);
}
"""


def test_vector_types_are_sized_and_aligned_as_on_the_gpu():
    out = np.zeros((9, 2), np.int32)
    EmulatedModule(code=TYPES_AND_INTRINSICS).get_function("sizes")(1, 1, (out,))
    assert out.tolist() == [[4, 4], [8, 8], [16, 16], [8, 8], [16, 16], [8, 8], [12, 4], [16, 16], [16, 16]]


def test_intrinsics_and_math_match_numpy(rng):
    n = 32
    x = rng.uniform(-2, 2, 4 * n).astype(np.float32)
    u = rng.integers(1, 2**32, n, dtype=np.uint64).astype(np.uint32)
    u[0] = 1
    f, i = np.full(8 * n, np.nan, np.float32), np.zeros(8 * n, np.int32)
    EmulatedModule(code=TYPES_AND_INTRINSICS).get_function("intrinsics")(1, n, (x, u, f, i))
    a, b, c, d = (x.reshape(n, 4)[:, k].astype(np.float64) for k in range(4))
    expected = np.stack([
        a + b + c * d + 4, np.clip(a, 0, 1) + 1 / np.sqrt(np.abs(b) + 1),
        np.exp(a) + np.exp2(b) + np.log(np.abs(c) + 1) + np.tanh(d), a * b + c + a / 2 + 0.25,
        np.minimum(a, b) + np.maximum(c, d) + np.minimum(a, c) + np.maximum(b, d),
        np.ceil(a) + np.floor(b) + np.sqrt(np.abs(c)) + d, a + b, np.where(a > 0, np.inf, -np.inf) + 1,
    ], axis=1).ravel()
    np.testing.assert_allclose(f, expected, rtol=1e-5, atol=1e-5)
    bits = [format(int(v), "032b") for v in u]
    expected_i = np.array([[s.count("1"), len(s) - len(s.lstrip("0")), 32 - s.rfind("1"),
                            np.int32(np.uint32(int(s[::-1], 2))), 4, min(int(v), 9), 0, 8]
                           for s, v in zip(bits, u)], np.int64).astype(np.int32)
    np.testing.assert_array_equal(i.reshape(n, 8), expected_i)


BARRIER_REDUCTIONS = r"""
extern "C" __global__ void barrier_votes(const int* pred, int* out) {
    int p = pred[threadIdx.x];
    int count = __syncthreads_count(p), all = __syncthreads_and(p), any = __syncthreads_or(p);
    out[3 * threadIdx.x] = count; out[3 * threadIdx.x + 1] = all; out[3 * threadIdx.x + 2] = any;
}
"""


@pytest.mark.parametrize("ones", [0, 37, 100])
def test_syncthreads_count_and_or(ones):
    pred = np.zeros(100, np.int32)
    pred[:ones] = 7
    out = np.zeros((100, 3), np.int32)
    EmulatedModule(code=BARRIER_REDUCTIONS).get_function("barrier_votes")(1, 100, (pred, out))
    assert (out == [ones, ones == 100, ones > 0]).all()


TEMPLATES = r"""
// Static shared memory declared in a device function and in two instances of a template.
__device__ float* scratch() { __shared__ float buffer[64]; return buffer; }

template <int N, class T>
__global__ void block_sum(const T* x, T* out) {
    __shared__ T values[N];
    values[threadIdx.x] = x[blockIdx.x * N + threadIdx.x];
    scratch()[threadIdx.x % 64] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) {
        T sum = 0;
        for (int i = 0; i < N; ++i) sum += values[i];
        out[blockIdx.x] = sum + T(scratch()[0]);
    }
}
"""


@pytest.mark.parametrize("expression, dtype, n", [("block_sum<32, float>", np.float32, 32),
                                                  ("block_sum<128, double>", np.float64, 128)])
def test_templated_kernels_by_name_expression(rng, expression, dtype, n):
    module = EmulatedModule(code=TEMPLATES, name_expressions=["block_sum<32, float>", "block_sum<128, double>"])
    x = rng.integers(-50, 50, 3 * n).astype(dtype)
    out = np.full(3, np.nan, dtype)
    module.get_function(expression)(3, n, (x, out))
    np.testing.assert_array_equal(out, x.reshape(3, n).sum(axis=1) + 1)


PRINTF = r"""
extern "C" __global__ void hello(int base) {
    if (threadIdx.x < 2) printf("hello from thread %d of block %d: %d %.2f\n", threadIdx.x, blockIdx.x, base, 0.5);
}
"""


def test_printf_goes_to_stdout_once_even_in_checked_mode(capfd):
    EmulatedModule(code=PRINTF).get_function("hello")(2, 32, (np.int32(7),))
    lines = sorted(capfd.readouterr().out.splitlines())
    assert lines == sorted(f"hello from thread {t} of block {b}: 7 0.50" for b in range(2) for t in range(2))


QUALIFIERS = r"""
__constant__ float table[4] = {1.0f, 10.0f, 100.0f, 1000.0f};
struct __align__(16) Pair { float a, b; };
__host__ __device__ __forceinline__ float twice(float x) { return 2.0f * x; }
__device__ __noinline__ float lookup(int i) { return table[i % 4]; }

extern "C" __global__ void __launch_bounds__(128, 2) qualified(const float* __restrict__ x, float* __restrict__ y) {
    __shared__ Pair pairs[128];
    static __shared__ float scale;
    if (threadIdx.x == 0) scale = 0.5f;
    pairs[threadIdx.x] = Pair{x[threadIdx.x], lookup(threadIdx.x)};
    __syncthreads();
    __threadfence_block();
    y[threadIdx.x] = twice(pairs[127 - threadIdx.x].a) + pairs[threadIdx.x].b * scale + alignof(Pair);
}
"""


def test_qualifiers_constant_memory_and_aligned_structs(rng):
    x = rng.standard_normal(128).astype(np.float32)
    y = np.full(128, np.nan, np.float32)
    EmulatedModule(code=QUALIFIERS).get_function("qualified")(1, 128, (x, y))
    expected = 2 * x[::-1] + np.array([1, 10, 100, 1000], np.float32)[np.arange(128) % 4] * 0.5 + 16
    np.testing.assert_allclose(y, expected, rtol=1e-6)


# cnn_emu::wait_until: the primitive behind ptx.cuh's mbarrier_wait twin. Thread 0 waits for a flag
# that the block's last thread sets: the waiter must read the value written before the flag
# (whichever order runs first), a condition already true must not suspend, and one that nothing
# makes true is a deadlock that says what was waited for.
WAIT_UNTIL = r"""
__device__ bool flag_is_set(const void* flag) { return *static_cast<const volatile int*>(flag) != 0; }

extern "C" __global__ void handoff(int* out, int set_flag) {
    __shared__ int flag, value;
    if (threadIdx.x == 0) {
        flag = 0;
        value = -1;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        cnn_emu::wait_until(flag_is_set, &flag, "the handoff flag");
        out[0] = value;
        cnn_emu::wait_until(flag_is_set, &flag, "the flag again");  // already set: returns at once
        return;
    }
    if (threadIdx.x == blockDim.x - 1 && set_flag) {
        value = 42;
        flag = 1;
    }
}
"""


def test_wait_until_resumes_a_waiter_once_another_thread_makes_its_condition_true():
    kernel = EmulatedModule(code=WAIT_UNTIL).get_function("handoff")
    out = np.zeros(1, np.int32)
    kernel(1, 64, (out, np.int32(1)))
    assert out[0] == 42


def test_wait_until_that_nothing_satisfies_is_a_deadlock_naming_the_condition():
    kernel = EmulatedModule(code=WAIT_UNTIL).get_function("handoff")
    with pytest.raises(DeadlockError, match=r"thread 0 wait for the handoff flag at \S+:\d+\n  threads 1-63 have exited"):
        kernel(1, 64, (np.zeros(1, np.int32), np.int32(0)))


# Thread-block clusters (__cluster_dims__): the emulator runs a cluster's blocks together, each with
# its own dynamic shared memory, __syncthreads per block, cluster_sync across the cluster.
CLUSTERS = r"""
#include "ptx.cuh"
extern "C" __global__ void __cluster_dims__(2, 1, 1) ranks(int* out) {
    extern __shared__ int mine[];
    const unsigned rank = cluster_ctarank();
    if (threadIdx.x == 0) mine[0] = 100 * blockIdx.x + rank;  // each block's own shared memory
    __syncthreads();
    cluster_sync();
    out[blockIdx.x * blockDim.x + threadIdx.x] = mine[0];
}
"""


def test_a_cluster_s_blocks_run_together_each_with_its_own_shared_memory():
    from cnn_gpu.cuda.sources import kernels_dir

    kernel = EmulatedModule(code=CLUSTERS, options=(f"-I{kernels_dir()}",)).get_function("ranks")
    assert kernel.cluster == (2, 1, 1)
    out = np.zeros(4 * 64, np.int32)
    kernel(4, 64, (out,), shared_mem=16)
    assert list(out.reshape(4, 64)[:, 0]) == [0, 101, 200, 301] and (out.reshape(4, 64) == out.reshape(4, 64)[:, :1]).all()


# Distributed shared memory: each block reads the float4 its neighbour in the cluster stored, then
# arrives at the cluster barrier and waits there before it exits, so that neither block's shared
# memory is gone while the other may still read it; or (mode 0) leaves without the barrier, or
# (mode 2) waits without arriving.
NEIGHBOUR = r"""
#include "ptx.cuh"
extern "C" __global__ void __cluster_dims__(2, 1, 1) neighbour(float4* out, int mode) {
    extern __shared__ float4 mine[];
    const unsigned rank = cluster_ctarank();
    mine[threadIdx.x] = make_float4(rank, threadIdx.x, blockIdx.x, 1.0f);
    cluster_sync();
    const float4 theirs = cluster_load_float4(&mine[threadIdx.x], 1 - rank);
    if (mode == 1) cluster_arrive();
    out[blockIdx.x * blockDim.x + threadIdx.x] = theirs;
    if (mode != 0) cluster_wait();
}
"""


def test_a_block_reads_its_neighbours_shared_memory_until_the_neighbour_exits():
    from cnn_gpu.cuda.emulate import KernelFault
    from cnn_gpu.cuda.sources import kernels_dir

    kernel = EmulatedModule(code=NEIGHBOUR, options=(f"-I{kernels_dir()}",)).get_function("neighbour")
    out = np.full((4, 32, 4), np.nan, np.float32)
    kernel(4, 32, (out, np.int32(1)), shared_mem=32 * 16)
    block, thread = np.meshgrid(np.arange(4), np.arange(32), indexing="ij")
    expected = np.stack([1 - block % 2, thread, block ^ 1, np.ones_like(block)], axis=-1)
    assert np.array_equal(out, expected.astype(np.float32))
    with pytest.raises(KernelFault, match="shared memory of block 0 of the cluster, whose threads have all exited"):
        kernel(2, 32, (out, np.int32(0)), shared_mem=32 * 16)
    with pytest.raises(KernelFault, match="cluster_wait without this thread's cluster_arrive before it"):
        kernel(2, 32, (out, np.int32(2)), shared_mem=32 * 16)


def test_a_cluster_deadlock_says_which_block_waits_where():
    from cnn_gpu.cuda.emulate import DeadlockError
    from cnn_gpu.cuda.sources import kernels_dir

    # Block 1 waits for an mbarrier phase nobody completes, block 0 for block 1 at cluster_sync.
    code = r"""
    #include "ptx.cuh"
    extern "C" __global__ void __cluster_dims__(2, 1, 1) stuck(int* out) {
        extern __shared__ unsigned long long bar[];
        if (threadIdx.x == 0) mbarrier_init(&bar[0], 1);
        __syncthreads();
        if (cluster_ctarank() == 1) mbarrier_wait(&bar[0], 0);
        cluster_sync();
        out[0] = 1;
    }
    """
    kernel = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",)).get_function("stuck")
    with pytest.raises(DeadlockError, match=r"deadlock in the cluster of block \(0,0,0\)(.|\n)*"
                                            r"block \(0,0,0\) threads 0-63 wait at cluster_wait(.|\n)*"
                                            r"block \(1,0,0\) threads 0-63 wait for an mbarrier phase"):
        kernel(2, 64, (np.zeros(1, np.int32),), shared_mem=16)


def test_a_cluster_launch_the_gpu_or_the_emulator_refuses_says_why():
    from cnn_gpu.cuda.emulate import LaunchConfigError
    from cnn_gpu.cuda.sources import kernels_dir

    kernel = EmulatedModule(code=CLUSTERS, options=(f"-I{kernels_dir()}",)).get_function("ranks")
    with pytest.raises(LaunchConfigError, match="not a whole number of its clusters"):
        kernel(3, 64, (np.zeros(192, np.int32),), shared_mem=16)
    with pytest.raises(LaunchConfigError, match="clusters of .* blocks of 48 threads are not emulated"):
        kernel(2, 48, (np.zeros(96, np.int32),), shared_mem=16)
