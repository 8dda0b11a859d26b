"""The image reshaping ops of cnn_gpu.ops.reshaping: each gradient the adjoint of its forward, and
named errors."""

import numpy as np
import pytest

from cnn_gpu.ops.reshaping import crop2d, pad2d, upsampling2d_backward, upsampling2d_forward
from helpers import random_array


@pytest.mark.parametrize("forward, backward, x_shape, argument", [
    (upsampling2d_forward, upsampling2d_backward, (2, 3, 4, 2), (2, 3)),
    (pad2d, crop2d, (2, 3, 4, 2), ((1, 0), (2, 3))),
    (crop2d, pad2d, (2, 5, 4, 2), ((0, 2), (1, 1))),
])
def test_each_gradient_is_the_adjoint_of_its_forward(rng, forward, backward, x_shape, argument):
    """<forward(x), v> = <x, backward(v)>: what makes backward the gradient of a linear op."""
    x = random_array(rng, x_shape, np.float64)
    y = forward(x, argument)
    v = random_array(rng, y.shape, np.float64)
    assert backward(v, argument).shape == x.shape
    np.testing.assert_allclose(np.sum(y * v), np.sum(x * backward(v, argument)), rtol=1e-13)
    assert y.flags.c_contiguous and y.dtype == x.dtype


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"cropping \(\(2, 1\), \(0, 0\)\) leaves nothing"):
        crop2d(np.zeros((1, 3, 3, 1)), ((2, 1), (0, 0)))
    with pytest.raises(ValueError, match=r"multiples of the size \(2, 2\)"):
        upsampling2d_backward(np.zeros((1, 3, 4, 1)), (2, 2))
    with pytest.raises(ValueError, match="x must be 4-D"):
        pad2d(np.zeros((3, 3, 1)), ((1, 1), (1, 1)))
    with pytest.raises(TypeError, match="float32 or float64"):
        upsampling2d_forward(np.zeros((1, 3, 3, 1), np.int32), (2, 2))
