"""Checked emulation catches real bugs: each test plants one in a copy of a real kernel.

The copy is made from the kernel file as it is now (``helpers.planted``: the edit must still
apply, or the test fails), compiled under the emulator in checked mode (tests/conftest.py turns it on), and launched the
way its wrapper launches it. Each fault must be caught: by the guards, by the schedule orders, or
by the output missing the reference.
"""

import numpy as np
import pytest

from cnn_gpu.cuda.emulate import EmulatedModule, OutOfBoundsError, ScheduleDependenceError
from cnn_gpu.cuda.sources import kernel_path, kernels_dir
from cnn_gpu.ops import reduce, transpose
from helpers import planted, poisoned, random_array, rel_error


def launch_transpose(code, name, src):
    rows, cols = src.shape
    out = poisoned((cols, rows), np.float32)
    module = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",))
    grid = (-(-cols // transpose.TILE), -(-rows // transpose.TILE))
    module.get_function(name)(grid, (transpose.TILE, transpose.BLOCK_ROWS), (src, out, np.int32(rows), np.int32(cols)))
    return out


def test_an_off_by_one_bound_is_caught_as_out_of_bounds(rng):
    code = planted(kernel_path("transpose.cu"), "row < row0 + TILE && row < rows;", "row < row0 + TILE && row <= rows;")
    src = random_array(rng, (37, 45), np.float32)
    with pytest.raises(OutOfBoundsError, match="transpose_naive"):
        launch_transpose(code, "transpose_naive", src)


def test_a_missing_syncthreads_is_caught(rng):
    barrier = "    // Every thread's store above must land before any thread reads another thread's element.\n    __syncthreads();\n"
    code = planted(kernel_path("transpose.cu"), barrier, "")
    src = random_array(rng, (64, 64), np.float32)
    with pytest.raises(ScheduleDependenceError, match="transpose_smem_tiled.*'dst'"):
        launch_transpose(code, "transpose_smem_tiled", src)


def test_a_wrong_shuffle_offset_is_caught(rng):
    code = planted(kernel_path("reduce.cu"), "for (int offset = WARP / 2; offset > 0; offset /= 2)",
                   "for (int offset = WARP / 4; offset > 0; offset /= 2)")
    x = random_array(rng, (5, 300), np.float32)
    out = poisoned(5, np.float32)
    name = "row_reduce_warp_per_row<float, Reduce::sum>"
    module = EmulatedModule(code=code, options=(f"-I{kernels_dir()}",), name_expressions=[name])
    module.get_function(name)((1,), (reduce.BLOCK,), (x, out, np.int32(5), np.int32(300)))
    assert rel_error(out, x.astype(np.float64).sum(axis=1)) > 1e-2, "half the warp's lanes were dropped unnoticed"
