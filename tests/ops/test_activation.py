import math

import numpy as np
import pytest

from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops.activation import FORWARD, activation_backward, activation_forward
from helpers import assert_close, random_array

SHAPES = [(1, 1), (5, 7), (3, 4, 9)]
NAMES = sorted(FORWARD)


def away_from_zero(rng, shape, dtype):
    """Values of magnitude in [0.1, 3): relu's kink at 0 stays out of a finite difference's reach."""
    return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 3.0, size=shape)).astype(dtype)


def float64_formula(name, x):
    x = x.astype(np.float64)
    if name == "relu":
        return np.where(x > 0, x, 0.0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "tanh":
        return (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)
    if name == "softmax":
        e = np.exp(x)
        return e / e.sum(axis=-1, keepdims=True)
    # Keras's definitions, written plainly (float64 has the digits exp(x) - 1 would lose in float32).
    selu_alpha, selu_scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    if name == "elu":
        return np.where(x > 0, x, np.exp(x) - 1)
    if name == "selu":
        return selu_scale * np.where(x > 0, x, selu_alpha * (np.exp(x) - 1))
    if name == "leaky_relu":
        return np.where(x >= 0, x, 0.2 * x)
    if name == "softplus":
        return np.log(1 + np.exp(x))
    if name == "softsign":
        return x / (1 + np.abs(x))
    if name == "gelu":
        return x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    if name in ("swish", "silu"):
        return x / (1 + np.exp(-x))
    assert name == "linear", f"no formula for {name}"
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_the_textbook_formula(rng, name, shape, dtype):
    x = random_array(rng, shape, dtype, -4, 4)
    y = activation_forward(name, x)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, float64_formula(name, x), what=name)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(rng, name, shape):
    x = away_from_zero(rng, shape, np.float64)
    dy = random_array(rng, shape, np.float64)
    analytic = activation_backward(name, x, activation_forward(name, x), dy)
    check_gradient(op_scalar(lambda v: activation_forward(name, v), dy), x, analytic)


@pytest.mark.parametrize("name", NAMES)
def test_float32_backward_matches_float64(rng, name):
    x = away_from_zero(rng, (6, 11), np.float32)
    dy = random_array(rng, x.shape, np.float32)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    out = activation_backward(name, x, activation_forward(name, x), dy)
    ref = activation_backward(name, x64, activation_forward(name, x64), dy64)
    assert out.dtype == np.float32
    assert_close(out, ref, what=f"{name} backward")


def test_sigmoid_and_softmax_are_stable_for_huge_inputs(rng):
    x = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = activation_forward("sigmoid", x)
        p = activation_forward("softmax", x + 1e4)
    assert s[0, 0] == 0 and s[0, 2] == 0.5 and s[0, -1] == 1
    assert_close(p, activation_forward("softmax", x.astype(np.float64)))
    moderate = random_array(rng, (4, 9), np.float64, -3, 3)
    assert_close(activation_forward("softmax", moderate + 700), float64_formula("softmax", moderate))


def test_unknown_activation_names_the_known_ones():
    with pytest.raises(ValueError, match="activation must be one of .*relu.*got 'mish'"):
        activation_forward("mish", np.zeros(3))
