"""Faults planted in copies of real kernels, each caught by checked mode with an error that says
what and where; and the faults every mode turns into a Python error instead of a crash."""

import numpy as np
import pytest
from conftest import KERNELS
from helpers import planted

from cnn_gpu.cuda.emulate import (DeadlockError, EmulatedModule, EmulationError, KernelFault,
                                  OutOfBoundsError, ScheduleDependenceError, StackOverflowError)


def matmul_args(rng, m=37, n=29, k=41, c_shape=None):
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full(c_shape or (m, n), np.nan, np.float32)
    return ((n + 15) // 16, (m + 15) // 16), (16, 16), (a, b, c, np.int32(m), np.int32(n), np.int32(k))


def test_off_by_one_write_names_the_argument_and_element(rng):
    source = planted(KERNELS / "matmul.cu", "C[row * N + col] = acc", "C[row * N + col + 1] = acc")
    grid, block, args = matmul_args(rng, m=36, n=28)  # C is 4032 bytes: no slack before the guard page
    with pytest.raises(OutOfBoundsError) as caught:
        EmulatedModule(code=source).get_function("matmul_tiled")(grid, block, args)
    message = str(caught.value)
    assert "out-of-bounds write of argument 'C' (float32[36, 28]) at element 1008 " in message
    # C[35, 27] is row 3, column 11 of block (1, 2)'s tile; the store is on line 20.
    assert "past the end" in message and "thread (11, 3, 0) of block (1, 2, 0)" in message
    assert ".cu:20" in message


def test_off_by_one_read_past_the_end(rng):
    source = planted(KERNELS / "transpose.cu", "in[(y + j) * cols + x]", "in[(y + j) * cols + x + 1]")
    x = rng.standard_normal((40, 64)).astype(np.float32)  # a multiple of 16 bytes: no slack
    out = np.full((64, 40), np.nan, np.float32)
    with pytest.raises(OutOfBoundsError, match=r"read of argument 'in' \(float32\[40, 64\]\) at element 2560 "):
        EmulatedModule(code=source).get_function("transpose_tiled")((2, 2), (32, 8), (x, out, np.int32(40), np.int32(64)))


def test_a_write_into_the_slack_before_the_guard_page_is_found_by_its_poison():
    source = r'extern "C" __global__ void one_past(float* x, int n) { if (threadIdx.x == 0) x[n] = 1.0f; }'
    x = np.zeros(5, np.float32)  # 20 bytes: x[5] is in the 12 bytes of slack
    with pytest.raises(OutOfBoundsError, match=r"write of argument 'x' \(float32\[5\]\) at element 5 .*poison"):
        EmulatedModule(code=source).get_function("one_past")(1, 32, (x, np.int32(5)))


def test_a_write_before_the_start(rng):
    source = r'extern "C" __global__ void before(float* x) { x[int(threadIdx.x) - 3] = 1.0f; }'
    with pytest.raises(OutOfBoundsError, match=r"element -3 \(byte offset -12, before the start\)"):
        EmulatedModule(code=source).get_function("before")(1, 8, (np.zeros(8, np.float32),))


@pytest.mark.parametrize("fixture, barrier", [
    ("transpose.cu", "__syncthreads();  // the tile is complete"),
    ("matmul.cu", "__syncthreads();  // the tiles are complete"),
    ("matmul.cu", "__syncthreads();  // everyone is done reading"),
])
def test_a_missing_syncthreads_is_caught_deterministically(rng, fixture, barrier):
    module = EmulatedModule(code=planted(KERNELS / fixture, barrier, "// (barrier removed)"))
    if fixture == "transpose.cu":
        kernel = module.get_function("transpose_tiled")
        x = rng.standard_normal((45, 70)).astype(np.float32)
        launch = ((3, 2), (32, 8), (x, np.full((70, 45), np.nan, np.float32), np.int32(45), np.int32(70)))
    else:
        kernel = module.get_function("matmul_tiled")
        launch = matmul_args(rng)
    with pytest.raises(ScheduleDependenceError, match="result depends on thread schedule: argument '(out|C)'"):
        kernel(*launch)


def test_a_wrong_shuffle_offset_gives_a_wrong_sum(rng):
    # Starting the shuffles at offset 8 instead of 16: lanes 16-31 never reach lane 0.
    source = planted(KERNELS / "reduction.cu", "for (int offset = 16;", "for (int offset = 8;")
    x = rng.uniform(0.5, 1.0, 3000).astype(np.float32)
    result = np.zeros(1, np.float32)
    EmulatedModule(code=source).get_function("reduce_sum")(4, 256, (x, result, np.int32(x.size)))
    assert 0.25 * x.sum() < result[0] < 0.75 * x.sum()


def test_a_block_reading_another_blocks_output_is_caught():
    source = r"""extern "C" __global__ void prefix_of_blocks(int* out) {
        if (threadIdx.x == 0) out[blockIdx.x] = blockIdx.x == 0 ? 1 : out[blockIdx.x - 1] + 1;
    }"""
    with pytest.raises(ScheduleDependenceError, match="argument 'out'"):
        EmulatedModule(code=source).get_function("prefix_of_blocks")(8, 32, (np.zeros(8, np.int32),))


ASYNC = "async_tiles.cu"


def async_launch(rng, tiles=5):
    x = rng.standard_normal(tiles * 32 * 4).astype(np.float32)
    return x, np.full_like(x, np.nan), np.int32(tiles)


def expected_tiles(x):
    return x.reshape(-1, 32, 4)[:, ::-1].ravel()


def test_cp_async_twin_with_its_wait(rng):
    x, out, tiles = async_launch(rng)
    EmulatedModule(path=KERNELS / ASYNC).get_function("copy_tiles")(1, 32, (x, out, tiles))
    np.testing.assert_array_equal(out, expected_tiles(x))


def test_cp_async_twin_missing_its_wait_reads_poison(rng):
    x, out, tiles = async_launch(rng)
    module = EmulatedModule(path=KERNELS / ASYNC, options=("-DMISSING_WAIT",))
    module.get_function("copy_tiles")(1, 32, (x, out, tiles))
    assert np.isnan(out).all()  # no copy was ever performed: every read saw the poison


@pytest.mark.parametrize("checked", ["1", "0"])
def test_a_misaligned_16_byte_cp_async_fails_the_launch(rng, monkeypatch, checked):
    monkeypatch.setenv("CNN_GPU_EMULATE_CHECKED", checked)
    x, out, tiles = async_launch(rng)
    module = EmulatedModule(path=KERNELS / ASYNC, options=("-DMISALIGNED_SOURCE",))
    with pytest.raises(EmulationError, match=r"async_copy of 16 bytes from .* both must be 16-byte aligned"):
        module.get_function("copy_tiles")(1, 32, (x, out, tiles))


def test_ldmatrix_twin_gathers_fragments_across_the_warp(rng):
    matrix = rng.integers(0, 2**16, 64).astype(np.uint16)
    out = np.zeros(32, np.uint32)
    EmulatedModule(path=KERNELS / ASYNC).get_function("load_fragments")(1, 32, (matrix, out))
    lane = np.arange(32)
    rows, cols = lane // 4, 2 * (lane % 4)
    expected = matrix[rows * 8 + cols].astype(np.uint32) | (matrix[rows * 8 + cols + 1].astype(np.uint32) << 16)
    np.testing.assert_array_equal(out, expected)


CRASHES = r"""
extern "C" __global__ void deep_stack(float* x) {
    volatile float big[32768];  // 128 KiB: twice an emulated thread's stack
    big[threadIdx.x] = x[threadIdx.x];
    x[threadIdx.x] = big[threadIdx.x];
}
extern "C" __global__ void divide(int* x, int d) { x[threadIdx.x] /= d; }
extern "C" __global__ void wild_pointer(float* x) { reinterpret_cast<float*>(16)[threadIdx.x] = x[0]; }
extern "C" __global__ void trap(float* x) { if (threadIdx.x == 5) __trap(); }
extern "C" __global__ void dynamic_overrun(float* x) {
    extern __shared__ float tile[];
    tile[threadIdx.x * 1024] = x[threadIdx.x];  // 4 KiB apart: thread 1 is past a 64-byte buffer's page
}
"""


@pytest.mark.parametrize("checked", ["1", "0"])
@pytest.mark.parametrize("name, scalar, error, words", [
    ("deep_stack", None, StackOverflowError, r"stack overflow in thread \(0,0,0\)"),
    ("divide", np.int32(0), KernelFault, r"integer division by zero in thread \(0,0,0\)"),
    ("wild_pointer", None, KernelFault, r"invalid memory write at address 0x10"),
    ("trap", None, KernelFault, r"__trap\(\) called .*thread \(5,0,0\)"),
])
def test_crashes_become_errors_in_every_mode(monkeypatch, checked, name, scalar, error, words):
    monkeypatch.setenv("CNN_GPU_EMULATE_CHECKED", checked)
    x = np.ones(32, np.int32 if name == "divide" else np.float32)
    args = (x,) if scalar is None else (x, scalar)
    with pytest.raises(error, match=words):
        EmulatedModule(code=CRASHES).get_function(name)(1, 32, args)


def test_a_dynamic_shared_memory_overrun_is_caught():
    with pytest.raises(OutOfBoundsError, match="dynamic shared memory at byte 4096, past the 64 bytes"):
        EmulatedModule(code=CRASHES).get_function("dynamic_overrun")(1, 2, (np.ones(2, np.float32),), shared_mem=64)


def test_arrays_that_share_memory_share_one_guarded_buffer():
    source = r"""extern "C" __global__ void shift_left(const float* x, float* y, int n) {
        int i = threadIdx.x;
        float v = i + 1 < n ? x[i + 1] : 0.0f;
        __syncthreads();
        y[i] = v;
    }"""
    a = np.arange(8, dtype=np.float32)
    EmulatedModule(code=source).get_function("shift_left")(1, 8, (a, a, np.int32(8)))  # in place
    np.testing.assert_array_equal(a, [1, 2, 3, 4, 5, 6, 7, 0])


def test_writing_a_read_only_array_is_an_error():
    source = r'extern "C" __global__ void zero(float* x) { x[threadIdx.x] = 0.0f; }'
    x = np.ones(4, np.float32)
    x.flags.writeable = False
    with pytest.raises(EmulationError, match="read-only array argument 'x'"):
        EmulatedModule(code=source).get_function("zero")(1, 4, (x,))


def test_the_guard_copies_go_back_to_the_caller_and_nothing_else_changes(rng):
    source = r'extern "C" __global__ void scale(float* x, const float* s) { x[threadIdx.x] *= s[0]; }'
    x, s = rng.standard_normal(7).astype(np.float32), np.array([3.0], np.float32)
    expected = x * 3
    EmulatedModule(code=source).get_function("scale")(1, 7, (x, s))
    np.testing.assert_array_equal(x, expected)
    assert s[0] == 3.0


def test_deadlock_never_hangs_even_unchecked(monkeypatch):
    monkeypatch.setenv("CNN_GPU_EMULATE_CHECKED", "0")
    source = r"""extern "C" __global__ void half_sync(float* x) {
        if (threadIdx.x < 16) __syncthreads();
        __syncwarp();
        x[threadIdx.x] = 1.0f;
    }"""
    with pytest.raises(DeadlockError, match="kernel 'half_sync': deadlock in block"):
        EmulatedModule(code=source).get_function("half_sync")(1, 32, (np.zeros(32, np.float32),))


def test_float_atomics_are_compared_to_the_arguments_scale_and_nan_never_passes():
    """Sums of atomic adds that cancel differ between orders relative to their terms: 1e-5 of the
    argument's largest value passes, however small the element; more than that is a race."""
    from cnn_gpu.cuda.emulate.checked import _differs

    a = np.array([100.0, -0.0056017, 3.0], np.float32)
    close = np.array([100.0, -0.0056015, 3.0], np.float32)  # 4e-5 of the element, 2e-9 of the scale
    far = np.array([100.0, -0.0156, 3.0], np.float32)  # 1e-4 of the scale
    nan = np.array([100.0, np.nan, 3.0], np.float32)
    assert not _differs(a, close, tolerant=True).any()
    assert _differs(a, close, tolerant=False).tolist() == [False, True, False]
    assert _differs(a, far, tolerant=True).tolist() == [False, True, False]
    assert _differs(a, nan, tolerant=True).tolist() == [False, True, False]
    # A one-element gradient (affine_transform_backward_scatter's, 1 x 1 x 1 x 1) summed from terms near
    # 1: 1.2e-5 of itself apart between orders, within 1e-5 of the launch's largest argument.
    one, other = np.array([0.0012683123], np.float32), np.array([0.0012683272], np.float32)
    assert _differs(one, other, tolerant=True).tolist() == [True]
    assert not _differs(one, other, tolerant=True, launch_scale=2.5).any()
    assert _differs(one, np.array([0.0112683], np.float32), tolerant=True, launch_scale=2.5).tolist() == [True]
