"""The transposed convolution of cnn_gpu.ops.conv2d_transpose: Keras's output shapes, the adjoint of
conv2d (which is what it is), central differences, and the kernel backends (conv2d's kernels in other
roles) against the float64 reference."""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops import conv2d
from cnn_gpu.ops.conv2d_transpose import (conv2d_transpose_backward, conv2d_transpose_forward,
                                          conv2d_transpose_output_shape)
from helpers import assert_close, random_array, to_host

# (x shape, w shape (R, S, filters, C), strides, padding, dilation, Keras 3.15's output shape): 'same'
# with odd and even windows, 'valid' with a stride wider than the window, a dilation.
CONFIGS = [
    ((2, 5, 4, 3), (3, 3, 4, 3), 2, "same", 1, (2, 10, 8, 4)),
    ((1, 4, 5, 2), (2, 3, 3, 2), 3, "valid", 1, (1, 12, 15, 3)),
    ((2, 3, 4, 2), (3, 2, 2, 2), 1, "valid", 2, (2, 7, 6, 2)),
    ((1, 3, 3, 4), (3, 3, 5, 4), (2, 1), "same", 1, (1, 6, 3, 5)),
    ((1, 4, 4, 2), (2, 2, 3, 2), 2, "same", 1, (1, 8, 8, 3)),
    ((1, 5, 5, 2), (4, 4, 2, 2), 2, "same", 1, (1, 10, 10, 2)),
]


def problem(rng, config, dtype=np.float64):
    x_shape, w_shape, strides, padding, dilation, y_shape = config
    return (random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype), random_array(rng, w_shape[2:3], dtype),
            random_array(rng, y_shape, dtype), (strides, padding, dilation))


@pytest.mark.parametrize("config", CONFIGS)
def test_keras_output_shapes(config):
    x_shape, w_shape, strides, padding, dilation, y_shape = config
    assert conv2d_transpose_output_shape(x_shape, w_shape, strides, padding, dilation) == y_shape


@pytest.mark.parametrize("config", CONFIGS)
def test_it_is_the_adjoint_of_the_convolution(rng, config):
    """<conv2d(v), x> = <v, conv2d_transpose(x)> for every v and x: the same kernel, the same window."""
    x, w, _, v, options = problem(rng, config)
    lhs = np.sum(conv2d.conv2d_forward(v, w, None, *options) * x)
    rhs = np.sum(v * conv2d_transpose_forward(x, w, None, *options))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_gradients_match_central_differences(rng, config):
    x, w, b, dy, options = problem(rng, config)
    dx, dw, db = conv2d_transpose_backward(x, w, dy, *options)
    check_gradient(op_scalar(lambda v: conv2d_transpose_forward(v, w, b, *options), dy), x, dx, "dx")
    check_gradient(op_scalar(lambda v: conv2d_transpose_forward(x, v, b, *options), dy), w, dw, "dw")
    check_gradient(op_scalar(lambda v: conv2d_transpose_forward(x, w, v, *options), dy), b, db, "db")
    assert conv2d_transpose_backward(x, w, dy, *options, need_dx=False)[0] is None


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("config", CONFIGS)
def test_the_kernel_backends_match_the_reference(rng, kernel_backend, config, relu):
    """Against the float64 reference, the error relative to the same op on the operands' magnitudes:
    a sum whose terms cancel has a small norm, which float32's rounding of the terms is not relative to."""
    backend = KernelBackend(backend_xp(kernel_backend))
    x, w, b, dy, options = problem(rng, config, np.float32)
    on = backend.asarray
    y = backend.conv2d_transpose_forward(on(x), on(w), on(b), *options, relu=relu)
    exact, magnitudes = ([a.astype(np.float64) for a in arrays] for arrays in ((x, w, b, dy), map(abs, (x, w, b, dy))))
    expected = conv2d_transpose_forward(*exact[:3], *options)
    assert y.dtype == np.float32
    assert_close(y, np.maximum(expected, 0) if relu else expected,
                 scale=conv2d_transpose_forward(*magnitudes[:3], *options))
    dx, dw, db = backend.conv2d_transpose_backward(on(x), on(w), on(dy), *options)
    for ours, theirs, scale in zip((dx, dw, db), conv2d_transpose_backward(*exact[:2], exact[3], *options),
                                   conv2d_transpose_backward(*magnitudes[:2], magnitudes[3], *options)):
        assert_close(ours, theirs, scale=scale)
    no_dx, _, no_db = backend.conv2d_transpose_backward(on(x), on(w), on(dy), *options, need_dx=False, need_db=False)
    assert no_dx is None and no_db is None
    y64 = backend.conv2d_transpose_forward(on(x.astype(np.float64)), on(w.astype(np.float64)), None, *options)
    assert y64.dtype == np.float64 and np.isfinite(to_host(y64)).all()


@pytest.mark.parametrize("x_shape, w_shape, b_shape, message", [
    ((2, 5, 5), (3, 3, 1, 1), None, "x must be 4-D"),
    ((2, 5, 5, 3), (3, 3, 2), None, r"w must be 4-D \(R, S, filters, C\)"),
    ((2, 5, 5, 3), (3, 3, 2, 4), None, "x has 3 channels but w expects 4"),
    ((2, 5, 5, 3), (3, 3, 2, 3), (3,), r"b must have shape \(2,\)"),
])
def test_bad_arguments_are_named(x_shape, w_shape, b_shape, message):
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match=message):
        conv2d_transpose_forward(np.zeros(x_shape), np.zeros(w_shape), b)
