"""On a GPU: the emulator and the hardware agree on the same kernels and inputs, bit for bit where
CUDA defines the result exactly (shuffles, votes, integer intrinsics, the cp.async and ldmatrix
twins against their PTX), within tolerance where nvcc may fuse multiply-adds."""

import numpy as np
import pytest
from conftest import KERNELS
from test_emulate_features import BARRIER_REDUCTIONS, TYPES_AND_INTRINSICS
from test_emulate_warp import SHUFFLES, VOTES

from cnn_gpu.cuda.emulate import EmulatedModule

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cupy():
    # Where no GPU is usable, tests/conftest.py has skipped every gpu-marked test before this runs.
    import cupy

    return cupy


def as_dim3(extent):
    """CuPy's kernels take grid and block only as tuples (the emulator also takes an int)."""
    return tuple(extent) if isinstance(extent, (tuple, list)) else (extent,)


def run_both(cupy, kernel, grid, block, args, code=None, path=None, name_expressions=None, options=()):
    """Outputs (every array argument after the launch) from the emulator and from the GPU."""
    emulated = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    EmulatedModule(code=code, path=path, options=options, name_expressions=name_expressions
                   ).get_function(kernel)(grid, block, tuple(emulated))
    on_gpu = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    cupy.RawModule(code=code if code else open(path).read(), options=options,
                   name_expressions=name_expressions).get_function(kernel)(as_dim3(grid), as_dim3(block), tuple(on_gpu))
    return ([a for a in emulated if isinstance(a, np.ndarray)],
            [cupy.asnumpy(a) for a in on_gpu if not isinstance(a, (np.generic, int, float))])


@pytest.mark.parametrize("ctype, dtype", [("int", np.int32), ("double", np.float64)])
@pytest.mark.parametrize("width, arg", [(32, 1), (32, 17), (16, 3), (8, 7), (4, 9), (1, 0)])
def test_shuffles(cupy, rng, ctype, dtype, width, arg):
    x = (rng.standard_normal(64) * 1000).astype(dtype)
    emulated, gpu = run_both(cupy, f"shuffles<{ctype}>", 1, 64, (x, np.zeros(256, dtype), np.int32(width), np.int32(arg)),
                             code=SHUFFLES, name_expressions=[f"shuffles<{ctype}>"])
    np.testing.assert_array_equal(emulated[1], gpu[1])


def test_votes_and_barrier_reductions(cupy, rng):
    pred = (rng.random(64) < 0.5).astype(np.int32)
    emulated, gpu = run_both(cupy, "votes", 1, 64, (pred, np.zeros(64 * 6, np.uint32)), code=VOTES)
    np.testing.assert_array_equal(emulated[1], gpu[1])
    pred = (rng.random(100) < 0.4).astype(np.int32)
    emulated, gpu = run_both(cupy, "barrier_votes", 1, 100, (pred, np.zeros(300, np.int32)), code=BARRIER_REDUCTIONS)
    np.testing.assert_array_equal(emulated[1], gpu[1])


def test_intrinsics(cupy, rng):
    x = rng.uniform(-2, 2, 128).astype(np.float32)
    u = rng.integers(1, 2**32, 32, dtype=np.uint64).astype(np.uint32)
    args = (x, u, np.zeros(256, np.float32), np.zeros(256, np.int32))
    emulated, gpu = run_both(cupy, "intrinsics", 1, 32, args, code=TYPES_AND_INTRINSICS)
    np.testing.assert_array_equal(emulated[3], gpu[3])
    np.testing.assert_allclose(emulated[2], gpu[2], rtol=1e-5, atol=1e-5)


def test_sample_kernels(cupy, rng):
    m, n, k = 45, 7, 130
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    emulated, gpu = run_both(cupy, "matmul_tiled", ((n + 15) // 16, (m + 15) // 16), (16, 16),
                             (a, b, np.zeros((m, n), np.float32), np.int32(m), np.int32(n), np.int32(k)),
                             path=str(KERNELS / "matmul.cu"))
    np.testing.assert_allclose(emulated[2], gpu[2], rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((31, 33)).astype(np.float32)
    emulated, gpu = run_both(cupy, "transpose_tiled", (2, 1), (32, 8), (x, np.zeros((33, 31), np.float32),
                             np.int32(31), np.int32(33)), path=str(KERNELS / "transpose.cu"))
    np.testing.assert_array_equal(emulated[1], gpu[1])


def test_cp_async_and_ldmatrix_twins_match_their_ptx(cupy, rng):
    options = (f"-I{KERNELS}",)
    x = rng.standard_normal(5 * 32 * 4).astype(np.float32)
    emulated, gpu = run_both(cupy, "copy_tiles", 1, 32, (x, np.zeros_like(x), np.int32(5)),
                             path=str(KERNELS / "async_tiles.cu"), options=options)
    np.testing.assert_array_equal(emulated[1], gpu[1])
    matrix = rng.integers(0, 2**16, 64).astype(np.uint16)
    emulated, gpu = run_both(cupy, "load_fragments", 1, 32, (matrix, np.zeros(32, np.uint32)),
                             path=str(KERNELS / "async_tiles.cu"), options=options)
    np.testing.assert_array_equal(emulated[1], gpu[1])
