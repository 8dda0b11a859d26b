"""Every transpose variant against NumPy, on random odd shapes, on each kernel backend."""

import numpy as np
import pytest

from cnn_gpu.cuda.kernel import KernelArgumentError
from cnn_gpu.ops.transpose import VARIANTS, transpose, transpose_reference
from helpers import assert_close, on_backend, poisoned, random_array

# Partial tiles in either direction, a single row and column, more than one tile of each.
SHAPES = [(1, 1), (1, 33), (31, 1), (33, 65), (70, 37)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_matches_numpy(rng, kernel_backend, variant, shape):
    src = random_array(rng, shape, np.float32)
    out = on_backend(poisoned(shape[::-1], np.float32), kernel_backend)
    result = transpose(on_backend(src, kernel_backend), variant, out=out, backend=kernel_backend)
    assert result is out
    assert_close(out, transpose_reference(src.astype(np.float64)), what=variant)


def test_bad_arguments_are_refused_before_launch(kernel_backend):
    src = on_backend(np.ones((4, 5), np.float32), kernel_backend)
    with pytest.raises(ValueError, match="variant must be one of"):
        transpose(src, "fastest", backend=kernel_backend)
    with pytest.raises(ValueError, match="2-D"):
        transpose(src[None], backend=kernel_backend)
    with pytest.raises(ValueError, match=r"out must have shape \(5, 4\)"):
        transpose(src, out=on_backend(np.empty((4, 5), np.float32), kernel_backend), backend=kernel_backend)
    with pytest.raises(KernelArgumentError, match="dtype float32, got float64"):
        transpose(on_backend(np.ones((4, 5)), kernel_backend), backend=kernel_backend)
