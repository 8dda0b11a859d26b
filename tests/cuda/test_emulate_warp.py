"""Warp shuffles, votes and __syncwarp against a NumPy model of CUDA's definitions, and the misuse
a GPU leaves undefined reported as errors."""

import numpy as np
import pytest

from cnn_gpu.cuda.emulate import DeadlockError, EmulatedModule, KernelFault

SHUFFLES = r"""
template <class T>
__global__ void shuffles(const T* x, T* out, int width, int arg) {
    int i = threadIdx.x;
    T v = x[i];
    out[4 * i + 0] = __shfl_sync(0xffffffff, v, arg, width);
    out[4 * i + 1] = __shfl_up_sync(0xffffffff, v, arg, width);
    out[4 * i + 2] = __shfl_down_sync(0xffffffff, v, arg, width);
    out[4 * i + 3] = __shfl_xor_sync(0xffffffff, v, arg, width);
}
"""
TYPES = {"int": np.int32, "unsigned": np.uint32, "float": np.float32, "double": np.float64,
         "long long": np.int64}


@pytest.fixture(scope="module")
def shuffle_module():
    return EmulatedModule(code=SHUFFLES, name_expressions=[f"shuffles<{t}>" for t in TYPES])


def expected_shuffles(x, width, arg):
    """CUDA's definitions, lane by lane, for each warp of the block."""
    out = np.empty((x.size, 4), x.dtype)
    for i in range(x.size):
        warp, lane = i - i % 32, i % 32
        base = lane - lane % width
        sources = [base + (arg & (width - 1)),
                   lane - arg if lane - arg >= base else lane,
                   lane + arg if lane + arg < base + width else lane,
                   lane ^ arg if (lane ^ arg) < base + width else lane]
        out[i] = x[[warp + s for s in sources]]
    return out.ravel()


@pytest.mark.parametrize("ctype", TYPES)
@pytest.mark.parametrize("width, arg", [(32, 1), (32, 5), (32, 17), (16, 3), (8, 7), (4, 9), (2, 1), (1, 0)])
def test_shuffles_match_cuda_definitions(shuffle_module, rng, ctype, width, arg):
    dtype = TYPES[ctype]
    x = (rng.standard_normal(64) * 1000).astype(dtype)
    out = np.zeros(4 * 64, dtype)
    shuffle_module.get_function(f"shuffles<{ctype}>")(1, 64, (x, out, np.int32(width), np.int32(arg)))
    np.testing.assert_array_equal(out, expected_shuffles(x, width, arg))


VOTES = r"""
extern "C" __global__ void votes(const int* pred, unsigned* out) {
    int i = threadIdx.x, p = pred[i];
    out[6 * i + 0] = __ballot_sync(0xffffffff, p);
    out[6 * i + 1] = __any_sync(0xffffffff, p);
    out[6 * i + 2] = __all_sync(0xffffffff, p);
    out[6 * i + 3] = __activemask();
    // Two halves of the warp vote separately, each with its own mask.
    unsigned half = (i % 32) < 16 ? 0x0000ffffu : 0xffff0000u;
    out[6 * i + 4] = __ballot_sync(half, p);
    __syncwarp();
    out[6 * i + 5] = __all_sync(half, p);
}
"""


def test_votes(rng):
    pred = (rng.random(64) < 0.5).astype(np.int32)
    pred[32:48] = 1  # a half where every lane votes yes
    out = np.zeros((64, 6), np.uint32)
    EmulatedModule(code=VOTES).get_function("votes")(1, 64, (pred, out))
    for i in range(64):
        lanes = pred[i - i % 32: i - i % 32 + 32]
        ballot = sum(int(b) << k for k, b in enumerate(lanes))
        half = 0x0000FFFF if i % 32 < 16 else 0xFFFF0000
        assert list(out[i]) == [ballot, ballot != 0, ballot == 0xFFFFFFFF, 0xFFFFFFFF,
                                ballot & half, ballot & half == half], i


def test_a_partial_last_warp_votes_among_the_lanes_that_exist():
    pred = np.ones(40, np.int32)
    out = np.zeros((40, 6), np.uint32)
    EmulatedModule(code=VOTES).get_function("votes")(1, 40, (pred, out))
    assert out[39, 0] == 0xFF and out[39, 2] == 1 and out[39, 3] == 0xFF


MISUSE = r"""
extern "C" __global__ void mask_without_me(float* x) { x[threadIdx.x] = __shfl_sync(0x1, x[threadIdx.x], 0); }
extern "C" __global__ void shuffle_with_exited_lane(float* x) {
    if (threadIdx.x == 3) return;
    x[threadIdx.x] = __shfl_sync(0xffffffff, x[threadIdx.x], 0);
}
extern "C" __global__ void different_ops(float* x) {
    if (threadIdx.x % 2) x[threadIdx.x] = __shfl_sync(0xffffffff, x[threadIdx.x], 0);
    else x[threadIdx.x] = __ballot_sync(0xffffffff, 1);
}
extern "C" __global__ void bad_width(float* x) { x[threadIdx.x] = __shfl_xor_sync(0xffffffff, x[threadIdx.x], 1, 12); }
// The barrier sits in a branch only half the warp takes; the other half waits at the shuffle.
extern "C" __global__ void barrier_in_divergent_branch(float* x) {
    float v = x[threadIdx.x];
    if (threadIdx.x % 32 < 16) __syncthreads();
    x[threadIdx.x] = __shfl_sync(0xffffffff, v, 0);
}
"""


@pytest.mark.parametrize("name, error, words", [
    ("mask_without_me", KernelFault, "does not name the calling lane"),
    ("shuffle_with_exited_lane", KernelFault, "exited"),
    ("different_ops", KernelFault, "different warp operations"),
    ("bad_width", KernelFault, "power of 2"),
    ("barrier_in_divergent_branch", DeadlockError, "threads 0-15 wait at __syncthreads"),
])
def test_warp_misuse_is_an_error_naming_the_kernel(name, error, words):
    x = np.zeros(64, np.float32)
    with pytest.raises(error, match=words) as caught:
        EmulatedModule(code=MISUSE).get_function(name)(1, 64, (x,))
    assert f"kernel '{name}'" in str(caught.value)


def test_a_deadlock_names_where_each_group_of_threads_waits():
    x = np.zeros(64, np.float32)
    with pytest.raises(DeadlockError) as caught:
        EmulatedModule(code=MISUSE).get_function("barrier_in_divergent_branch")(1, 64, (x,))
    message = str(caught.value)
    assert "block (0,0,0)" in message
    assert "threads 16-31 wait at __shfl_sync with mask 0xffffffff" in message
    assert message.count(".cu:") >= 2  # each group's source line
