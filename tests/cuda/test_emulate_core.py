"""The emulator's core: launching, index variables, barriers, shared memory, and the RawModule door."""

import subprocess
import sys

import numpy as np
import pytest

import cnn_gpu
from cnn_gpu.cuda.emulate import EmulatedModule

INDEXING = r"""
extern "C" __global__ void where_am_i(int* out) {
    int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    int* o = out + 8 * (b * blockDim.x * blockDim.y * blockDim.z + t);
    o[0] = threadIdx.x; o[1] = threadIdx.y; o[2] = threadIdx.z;
    o[3] = blockIdx.x; o[4] = blockIdx.y; o[5] = blockIdx.z;
    o[6] = blockDim.x * blockDim.y * blockDim.z; o[7] = gridDim.x * gridDim.y * gridDim.z + warpSize;
}
"""


def test_3d_grid_and_block_give_every_thread_its_indices():
    kernel = EmulatedModule(code=INDEXING).get_function("where_am_i")
    grid, block = (2, 3, 2), (4, 2, 3)
    out = np.full((12, 24, 8), -1, np.int32)
    kernel(grid, block, (out,))
    bz, by, bx, tz, ty, tx = np.meshgrid(*(np.arange(n) for n in grid[::-1] + block[::-1]), indexing="ij")
    expected = np.stack([tx, ty, tz, bx, by, bz, np.full_like(tx, 24), np.full_like(tx, 12 + 32)], axis=-1)
    np.testing.assert_array_equal(out, expected.reshape(12, 24, 8))


REVERSE = r"""
// Each block reverses its slice through static shared memory (one barrier between write and read),
// and through dynamic shared memory in the second kernel.
extern "C" __global__ void reverse_static(const float* x, float* y) {
    __shared__ float buf[128];
    int base = blockIdx.x * blockDim.x;
    buf[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    y[base + threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}
extern "C" __global__ void reverse_dynamic(const float* x, float* y) {
    extern __shared__ float buf[];
    int base = blockIdx.x * blockDim.x;
    buf[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    y[base + threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}
"""


@pytest.mark.parametrize("name, shared_mem", [("reverse_static", 0), ("reverse_dynamic", 128 * 4)])
def test_shared_memory_and_barrier(rng, name, shared_mem):
    x = rng.standard_normal(5 * 128).astype(np.float32)
    y = np.full_like(x, np.nan)
    EmulatedModule(code=REVERSE).get_function(name)(5, 128, (x, y), shared_mem=shared_mem)
    np.testing.assert_array_equal(y, x.reshape(5, 128)[:, ::-1].ravel())


def test_the_same_kernel_runs_unchecked(rng, unchecked):
    x = rng.standard_normal(3 * 128).astype(np.float32)
    y = np.full_like(x, np.nan)
    EmulatedModule(code=REVERSE).get_function("reverse_static")(3, 128, (x, y))
    np.testing.assert_array_equal(y, x.reshape(3, 128)[:, ::-1].ravel())


def test_rawmodule_is_the_emulator_on_the_emulate_backend(emulate_backend):
    module = cnn_gpu.RawModule(code=REVERSE)
    assert isinstance(module, EmulatedModule)


def test_import_cnn_gpu_neither_imports_cupy_nor_compiles():
    code = ("import sys, cnn_gpu; cnn_gpu.RawModule; "
            "print('cupy' in sys.modules, 'cnn_gpu.cuda.emulate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
