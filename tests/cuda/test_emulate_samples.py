"""Plain CUDA C kernels written in the style of the CUDA samples run unchanged through
cnn_gpu.RawModule on the emulator and match NumPy, on random odd shapes with poisoned outputs."""

import numpy as np
import pytest
from conftest import KERNELS
from helpers import assert_close, poisoned, random_array

import cnn_gpu

pytestmark = pytest.mark.usefixtures("emulate_backend")


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (17, 33, 9), (64, 48, 80), (45, 7, 130)])
def test_tiled_matmul(rng, m, n, k):
    a, b = random_array(rng, (m, k)), random_array(rng, (k, n))
    c = poisoned((m, n))
    kernel = cnn_gpu.RawModule(path=str(KERNELS / "matmul.cu")).get_function("matmul_tiled")
    kernel(((n + 15) // 16, (m + 15) // 16), (16, 16), (a, b, c, np.int32(m), np.int32(n), np.int32(k)))
    assert_close(c, a.astype(np.float64) @ b)


def test_tiled_matmul_on_random_odd_shapes(rng):
    kernel = cnn_gpu.RawModule(path=str(KERNELS / "matmul.cu")).get_function("matmul_tiled")
    for _ in range(3):
        m, n, k = (int(v) * 2 + 1 for v in rng.integers(0, 40, 3))
        a, b, c = random_array(rng, (m, k)), random_array(rng, (k, n)), poisoned((m, n))
        kernel(((n + 15) // 16, (m + 15) // 16), (16, 16), (a, b, c, np.int32(m), np.int32(n), np.int32(k)))
        assert_close(c, a.astype(np.float64) @ b, what=f"C of shape {(m, n)}, k={k}")


@pytest.mark.parametrize("n, blocks", [(1, 1), (1000, 3), (4099, 8), (70000, 16)])
def test_block_reduction_with_shuffles_and_atomic_add(rng, n, blocks):
    x = random_array(rng, n, low=0.0)  # no cancellation: the sum's rounding stays relative to it
    result = np.zeros(1, np.float32)
    kernel = cnn_gpu.RawModule(path=str(KERNELS / "reduction.cu")).get_function("reduce_sum")
    kernel((blocks,), (256,), (x, result, np.int32(n)))  # float atomicAdd: orders compared with a tolerance
    assert_close(result, np.array([x.astype(np.float64).sum()]), tol=1e-5)


@pytest.mark.parametrize("rows, cols", [(1, 1), (31, 33), (64, 96), (100, 3)])
def test_tiled_transpose(rng, rows, cols):
    x = random_array(rng, (rows, cols))
    out = poisoned((cols, rows))
    kernel = cnn_gpu.RawModule(path=str(KERNELS / "transpose.cu")).get_function("transpose_tiled")
    kernel(((cols + 31) // 32, (rows + 31) // 32), (32, 8), (x, out, np.int32(rows), np.int32(cols)))
    np.testing.assert_array_equal(out, x.T)
