"""The bias + activation kernels against the NumPy reference of cnn_gpu.ops.activation.

Separate from test_activation.py (the reference's own tests); same family, same references.
"""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.backend.numpy_backend import NumpyBackend
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import activation
from cnn_gpu.ops.activation import (INPUT_BACKWARD_ACTIVATIONS, KERNEL_ACTIVATIONS, OUTPUT_BACKWARD_ACTIVATIONS,
                                    activation_backward_from_input_kernel, bias_activation_backward,
                                    bias_activation_forward)
from helpers import assert_close, on_backend, poisoned, random_array, to_host

# Channel counts: 1, not a multiple of 4, a multiple of 4 (float4), more than a warp wide.
SHAPES = [(1, 1), (7, 3), (5, 8), (3, 5, 36), (9, 33)]


def reference(name, x, bias):
    z = x.astype(np.float64) + (0 if bias is None else bias.astype(np.float64))
    return activation.FORWARD[name](z)


def variants_for(shape, dtype):
    return ["grid_stride"] + (["float4"] if dtype == np.float32 and shape[-1] % 4 == 0 else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("name", KERNEL_ACTIVATIONS)
def test_forward_matches_the_reference(rng, kernel_backend, name, with_bias, shape, dtype):
    x = random_array(rng, shape, dtype, -4, 4)
    bias = random_array(rng, shape[-1:], dtype) if with_bias else None
    for variant in variants_for(shape, dtype):
        out = on_backend(poisoned(shape, dtype), kernel_backend)
        bias_activation_forward(on_backend(x, kernel_backend), None if bias is None else on_backend(bias, kernel_backend),
                                name, variant, out=out, backend=kernel_backend)
        assert_close(out, reference(name, x, bias), what=f"{name} {variant}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES + [(300, 5), (2100, 3)])
@pytest.mark.parametrize("name", INPUT_BACKWARD_ACTIVATIONS)
def test_backward_from_the_input_matches_the_reference(rng, kernel_backend, name, shape, dtype):
    z = random_array(rng, shape, dtype, -4, 4)
    dy = random_array(rng, shape, dtype)
    dx = on_backend(poisoned(shape, dtype), kernel_backend)
    out = activation_backward_from_input_kernel(on_backend(z, kernel_backend), on_backend(dy, kernel_backend), name,
                                                dx=dx, backend=kernel_backend)
    assert out is dx
    z64, dy64 = z.astype(np.float64), dy.astype(np.float64)
    expected = activation.BACKWARD[name](z64, None, dy64)
    # Judged against the terms' magnitudes: the derivative crosses 0 (gelu near -0.75, swish near
    # -1.28, hard_silu at -1.5, mish near -1.19), where its two terms cancel.
    if name == "gelu":
        terms = activation._normal_cdf(z64) + np.abs(z64) * np.exp(-0.5 * z64 * z64) / np.sqrt(2 * np.pi)
    elif name in ("hard_silu", "hard_swish"):
        terms = activation.hard_sigmoid(z64) + np.abs(z64) / 6
    elif name == "mish":
        t = np.tanh(activation.softplus(z64))
        terms = t + np.abs(z64) * activation.sigmoid(z64) * (1 - t * t)
    else:
        s = activation.sigmoid(z64)
        terms = s + np.abs(z64) * s * (1 - s)
    assert_close(dx, expected, what=f"{name} dx", scale=np.abs(dy64) * terms)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES + [(300, 5), (2100, 3)])
@pytest.mark.parametrize("name", OUTPUT_BACKWARD_ACTIVATIONS)
def test_backward_and_bias_gradient_match_the_reference(rng, kernel_backend, name, shape, dtype):
    # |x| <= 2 keeps tanh's 1 - y^2 away from cancellation: for y near 1, float32 y itself (the
    # input both sides share) decides 1 - y^2 only to a few digits, whatever the kernel does.
    x = random_array(rng, shape, dtype, -2, 2)
    y = activation.FORWARD[name](x)
    dy = random_array(rng, shape, dtype)
    dx = on_backend(poisoned(shape, dtype), kernel_backend)
    _, dbias = bias_activation_backward(on_backend(y, kernel_backend), on_backend(dy, kernel_backend), name, dx=dx,
                                        backend=kernel_backend)
    expected = activation.BACKWARD[name](x.astype(np.float64), y.astype(np.float64), dy.astype(np.float64))
    assert_close(dx, expected, what=f"{name} dx")
    assert_close(dbias, expected.reshape(-1, shape[-1]).sum(axis=0), what=f"{name} dbias")


# Where the activations bend, saturate or overflow: 0 and the tiny values around it, the large ones,
# the infinities and NaN.
EDGES = np.array([0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 5.0, -5.0, -10.0, 20.0, -20.0, 100.0, -100.0, np.inf, -np.inf,
                  np.nan])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", KERNEL_ACTIVATIONS)
def test_edge_values_match_the_reference(kernel_backend, name, dtype):
    """Forward and backward at EDGES, element by element, NaN where the reference has NaN (and only
    there): relative 1e-6, or 1e-6 absolute for the derivatives (a difference with y, such as elu's
    y + 1 far below 0, is exact only to a rounding of y)."""
    x = EDGES.astype(dtype)[None, :]
    dy = np.ones_like(x)
    y, dx = bias_free_kernels(kernel_backend, name, x, dy)
    ours = y.astype(np.float64)
    with np.errstate(all="ignore"):  # rounded to the kernel's dtype: exponential(100) is inf in float32
        reference = activation.FORWARD[name](x.astype(np.float64)).astype(dtype).astype(np.float64)
    # (atol: float32's subnormals below 1.2e-38 keep few digits, and a GPU flushes them to 0)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-37, equal_nan=True, err_msg=f"{name} forward")
    with np.errstate(all="ignore"):
        expected = activation.BACKWARD[name](x.astype(np.float64), ours, dy.astype(np.float64))
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=f"{name} backward")


def bias_free_kernels(kernel_backend, name, x, dy):
    """``(y, dx)`` on the host: ``name``'s forward kernel (grid-stride, no bias) at ``x``, and its backward
    at ``dy``, from x or from the kernel's y as the backends take it."""
    y = to_host(bias_activation_forward(on_backend(x, kernel_backend), None, name, "grid_stride",
                                        backend=kernel_backend))
    if name in INPUT_BACKWARD_ACTIVATIONS:
        dx = activation_backward_from_input_kernel(on_backend(x, kernel_backend), on_backend(dy, kernel_backend), name,
                                                   backend=kernel_backend)
    else:
        dx, _ = bias_activation_backward(on_backend(y, kernel_backend), on_backend(dy, kernel_backend), name,
                                         with_bias=False, backend=kernel_backend)
    return y, to_host(dx)


def test_float4_is_refused_where_it_does_not_fit(kernel_backend):
    xp = backend_xp(kernel_backend)
    x = xp.ones((4, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="float4 needs"):
        bias_activation_forward(x, None, "relu", "float4", backend=kernel_backend)
    misaligned = xp.ones(4 * 8 + 1, dtype=np.float32)[1:].reshape(4, 8)  # C-contiguous, 4 bytes off
    out = bias_activation_forward(misaligned, None, "relu", backend=kernel_backend)  # auto: grid-stride
    assert_close(out, np.ones((4, 8)))


def test_bad_arguments_are_refused(kernel_backend):
    x = on_backend(np.ones((3, 4), np.float32), kernel_backend)
    with pytest.raises(ValueError, match="activation kernels compute"):
        bias_activation_forward(x, None, "softmax", backend=kernel_backend)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        bias_activation_forward(x, on_backend(np.ones(3, np.float32), kernel_backend), "relu", backend=kernel_backend)
    with pytest.raises(ValueError, match=r"dy must have shape \(3, 4\)"):
        bias_activation_backward(x, x[:2], "relu", backend=kernel_backend)
    with pytest.raises(ValueError, match="gelu's derivative needs the forward's input"):
        bias_activation_backward(x, x, "gelu", backend=kernel_backend)
    with pytest.raises(ValueError, match="act_backward_from_input computes"):
        activation_backward_from_input_kernel(x, x, "relu", backend=kernel_backend)


# Where the piecewise ones bend (relu6 at 0 and 6, hard_sigmoid and hard_silu at -3 and 3), values an
# ulp to either side in float32, and where they saturate: test_activation.py checks the reference's
# derivatives there against Keras's.
KINK_INPUTS = np.array([0.0, -0.0, 6.0, -3.0, 3.0, -6.0, 9.0, 2.9999998, 3.0000002, -2.9999998, -3.0000002,
                        5.9999995, 6.0000005, 1e-30])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu6", "hard_sigmoid", "hard_silu", "hard_swish"])
def test_kinks_match_the_reference_bit_for_bit(kernel_backend, name, dtype):
    """Forward and backward at KINK_INPUTS in the input's dtype: the reference's bits (its derivative at
    each kink Keras's). dy = 2 makes every product with it exact, so a GPU's fused multiply-add rounds
    as NumPy does."""
    x = KINK_INPUTS.astype(dtype)
    dy = np.full_like(x, 2.0)
    y, dx = bias_free_kernels(kernel_backend, name, x, dy)
    np.testing.assert_array_equal(y, activation.FORWARD[name](x), err_msg=f"{name} forward")
    np.testing.assert_array_equal(dx, activation.BACKWARD[name](x, y, dy), err_msg=f"{name} backward")


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "elu", "softplus", "gelu", "silu", "relu6",
                                  "hard_sigmoid", "hard_swish", "mish", "exponential"])
def test_the_kernel_backend_matches_the_numpy_backend(rng, kernel_backend, name):
    backend = KernelBackend(backend_xp(kernel_backend))
    assert backend.name == kernel_backend
    x = random_array(rng, (6, 10), np.float32, -3, 3)[:, 1:9]  # a strided view: the backend copies it
    dy = random_array(rng, (6, 8), np.float32)
    y = backend.activation_forward(name, backend.asarray(x))
    dx = backend.activation_backward(name, backend.asarray(x), y, backend.asarray(dy))
    assert_close(y, activation.FORWARD[name](x.astype(np.float64)))
    expected = activation.BACKWARD[name](x.astype(np.float64), to_host(y).astype(np.float64), dy.astype(np.float64))
    assert_close(dx, expected)


@pytest.mark.parametrize("slope", [0.3, 0.0, 1.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_with_its_slope_matches_the_reference(rng, kernel_backend, dtype, slope):
    """Rung 5: the LeakyReLU layer's slope as an argument; at slope 0 the backward must read x."""
    z = random_array(rng, (7, 33), dtype, -2, 2)
    z[0, :3] = [0.0, -0.0, -1e-30]
    y = on_backend(poisoned(z.shape, dtype), kernel_backend)
    assert activation.leaky_relu_kernel(on_backend(z, kernel_backend), slope, y=y, backend=kernel_backend) is y
    # The reference in z's own dtype (NumPy rounds slope * z as the kernel does): the same bits.
    np.testing.assert_array_equal(to_host(y), activation.leaky_relu(z, slope))
    dy = random_array(rng, z.shape, dtype)
    dx = activation.leaky_relu_backward_kernel(on_backend(z, kernel_backend), on_backend(dy, kernel_backend), slope,
                                               backend=kernel_backend)
    expected = activation.leaky_relu_backward(z.astype(np.float64), None, dy.astype(np.float64), slope)
    assert_close(dx, expected, what="dx")
    if slope == 0.0:
        assert (to_host(dx)[z < 0] == 0).all() and np.array_equal(to_host(dx)[z >= 0], dy[z >= 0])


# Rung 5's arguments (dyadic kinks: the same value in float32 and float64): a cap alone (relu6), a
# slope and threshold, all three, a cap below the threshold, a cap of 0.
RELU_ARGUMENTS = [dict(max_value=6.0), dict(negative_slope=0.1, threshold=0.5),
                  dict(negative_slope=0.2, threshold=0.75, max_value=2.5),
                  dict(negative_slope=0.25, threshold=2.0, max_value=1.0), dict(max_value=0.0, negative_slope=0.3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7, 33), (3, 5, 13)])
@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
def test_relu_with_arguments_matches_the_reference(rng, kernel_backend, kwargs, shape, dtype):
    """Rung 5 at the ReLU layer's arguments: the reference's bits in z's dtype, the kinks included."""
    arguments = activation.ReluArguments.keras(**kwargs)
    z = random_array(rng, shape, dtype, -4, 8)
    z.flat[:4] = [kwargs.get("threshold", 0.0), kwargs["max_value"] if "max_value" in kwargs else 3.0, 0.0, -0.0][
        :z.size]
    y = on_backend(poisoned(shape, dtype), kernel_backend)
    assert activation.relu_with_arguments_kernel(on_backend(z, kernel_backend), arguments, y=y,
                                                 backend=kernel_backend) is y
    np.testing.assert_array_equal(to_host(y), activation.relu_with_arguments(z, arguments))
    assert_close(y, activation.relu_with_arguments(z.astype(np.float64), arguments))
    dy = random_array(rng, shape, dtype)
    dx = on_backend(poisoned(shape, dtype), kernel_backend)
    assert activation.relu_with_arguments_backward_kernel(on_backend(z, kernel_backend), on_backend(dy, kernel_backend),
                                                          arguments, dx=dx, backend=kernel_backend) is dx
    np.testing.assert_array_equal(to_host(dx), activation.relu_with_arguments_backward(z, dy, arguments))
    assert_close(dx, activation.relu_with_arguments_backward(z.astype(np.float64), dy.astype(np.float64), arguments),
                 what="dx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7, 33), (3, 5, 13)])
@pytest.mark.parametrize("alpha", [0.5, 2.0, 0.0, -1.5])
def test_elu_with_alpha_matches_the_reference(rng, kernel_backend, alpha, shape, dtype):
    """Rung 6 at the ELU layer's alpha (a negative one too: the backward reads z, not y)."""
    z = random_array(rng, shape, dtype, -4, 4)
    y = on_backend(poisoned(shape, dtype), kernel_backend)
    assert activation.elu_with_alpha_kernel(on_backend(z, kernel_backend), alpha, y=y, backend=kernel_backend) is y
    z64 = z.astype(np.float64)
    assert_close(y, activation.elu_with_alpha(z64, alpha), scale=np.abs(z64))  # (alpha 0: y is 0 below 0)
    dy = random_array(rng, shape, dtype)
    dx = on_backend(poisoned(shape, dtype), kernel_backend)
    assert activation.elu_with_alpha_backward_kernel(on_backend(z, kernel_backend), on_backend(dy, kernel_backend),
                                                     alpha, dx=dx, backend=kernel_backend) is dx
    assert_close(dx, activation.elu_with_alpha_backward(z64, dy.astype(np.float64), alpha), what="dx",
                 scale=dy.astype(np.float64) * max(1.0, abs(alpha)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_elu_with_arguments_at_the_edge_values(kernel_backend, dtype):
    """EDGES through rungs 5 and 6, element by element against the reference in the input's dtype,
    NaN where it has NaN."""
    z = EDGES.astype(dtype)
    dy = np.ones_like(z)
    runs = [(activation.relu_with_arguments_kernel, activation.relu_with_arguments_backward_kernel,
             activation.relu_with_arguments, activation.relu_with_arguments_backward,
             activation.ReluArguments.keras(**kwargs)) for kwargs in RELU_ARGUMENTS]
    runs += [(activation.elu_with_alpha_kernel, activation.elu_with_alpha_backward_kernel, activation.elu_with_alpha,
              activation.elu_with_alpha_backward, alpha) for alpha in (0.5, -1.5)]
    for forward, backward, reference, reference_backward, argument in runs:
        y = to_host(forward(on_backend(z, kernel_backend), argument, backend=kernel_backend))
        dx = to_host(backward(on_backend(z, kernel_backend), on_backend(dy, kernel_backend), argument,
                              backend=kernel_backend))
        with np.errstate(all="ignore"):
            expected, expected_dx = reference(z, argument), reference_backward(z, dy, argument)
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-37, equal_nan=True, err_msg=f"{argument}")
        np.testing.assert_allclose(dx, expected_dx, rtol=1e-6, atol=1e-37, equal_nan=True, err_msg=f"{argument}")


def test_the_kernel_backend_takes_the_layers_arguments_as_the_numpy_backend(rng, kernel_backend):
    """relu_forward, elu_forward, softmax_forward and their backwards: the kernel backend's (on a
    strided view, which it copies) against the numpy backend's in float64."""
    ours, numpy_backend = KernelBackend(backend_xp(kernel_backend)), NumpyBackend(np)
    x = random_array(rng, (3, 6, 10), np.float32, -3, 3)[:, :, 1:9]
    dy = random_array(rng, (3, 6, 8), np.float32)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    relu = activation.ReluArguments.keras(negative_slope=0.1, threshold=0.5, max_value=2.0)
    for forward, backward, argument, backward_from_output in [("relu_forward", "relu_backward", relu, False),
                                                              ("elu_forward", "elu_backward", -0.5, False),
                                                              ("softmax_forward", "softmax_backward", (0, 1), True)]:
        y = getattr(ours, forward)(ours.asarray(x), argument)
        y64 = getattr(numpy_backend, forward)(x64, argument)
        assert_close(y, y64, what=forward)
        dx = getattr(ours, backward)(y if backward_from_output else ours.asarray(x), ours.asarray(dy), argument)
        assert_close(dx, getattr(numpy_backend, backward)(y64 if backward_from_output else x64, dy64, argument),
                     what=backward)
