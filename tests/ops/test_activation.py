import math

import numpy as np
import pytest

from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops.activation import (FORWARD, ReluArguments, activation_backward, activation_forward, elu,
                                    elu_with_alpha, elu_with_alpha_backward, leaky_relu, leaky_relu_backward,
                                    relu_with_arguments, relu_with_arguments_backward, softmax, softmax_axes,
                                    softmax_backward)
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
    # Keras 3's docstrings: hard_sigmoid 0 to -3, 1 from 3, x / 6 + 0.5 between; hard_silu x times it.
    if name == "relu6":
        return np.clip(x, 0, 6)
    if name == "hard_sigmoid":
        return np.clip(x / 6 + 0.5, 0, 1)
    if name in ("hard_silu", "hard_swish"):
        return x * np.clip(x / 6 + 0.5, 0, 1)
    if name == "mish":
        return x * np.tanh(np.log(1 + np.exp(x)))
    if name == "exponential":
        return np.exp(x)
    assert name == "linear", f"no formula for {name}"
    return x


# The kinks of the piecewise activations other than relu's 0 (which away_from_zero avoids).
KINKS = {"relu6": (0.0, 6.0), "hard_sigmoid": (-3.0, 3.0), "hard_silu": (-3.0, 3.0), "hard_swish": (-3.0, 3.0)}


def differentiable_inputs(rng, name, shape, dtype):
    """Inputs a central difference may take: away_from_zero's, or, for the activations of KINKS, values
    over both sides of each kink (the saturated parts too) at least 0.05 from it."""
    if name in KINKS:
        return kinks_apart(rng, shape, *KINKS[name]).astype(dtype)
    return away_from_zero(rng, shape, dtype)


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
    x = differentiable_inputs(rng, name, shape, np.float64)
    dy = random_array(rng, shape, np.float64)
    analytic = activation_backward(name, x, activation_forward(name, x), dy)
    check_gradient(op_scalar(lambda v: activation_forward(name, v), dy), x, analytic)


@pytest.mark.parametrize("name", NAMES)
def test_float32_backward_matches_float64(rng, name):
    x = differentiable_inputs(rng, name, (6, 11), np.float32)
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
    with pytest.raises(ValueError, match="activation must be one of .*relu.*got 'hard_tanh'"):
        activation_forward("hard_tanh", np.zeros(3))


# What Keras 3.15.1 on JAX gives (keras.activations.get(name) and jax.grad, in float32 and float64
# alike) at the kinks, at 0 and beyond: (name, x, y, derivative). relu6 is jax.nn.relu6, whose
# derivative is 1 for 0 < x < 6 only; hard_sigmoid and hard_silu take it through relu6(x + 3).
KERAS_ACTIVATION_KINKS = [
    ("relu6", 0.0, 0.0, 0.0), ("relu6", -0.0, 0.0, 0.0), ("relu6", 6.0, 6.0, 0.0), ("relu6", 3.0, 3.0, 1.0),
    ("hard_sigmoid", -3.0, 0.0, 0.0), ("hard_sigmoid", 3.0, 1.0, 0.0), ("hard_sigmoid", 0.0, 0.5, 1 / 6),
    ("hard_silu", -3.0, 0.0, 0.0), ("hard_silu", 3.0, 3.0, 1.0), ("hard_silu", 0.0, 0.0, 0.5),
    ("hard_silu", 6.0, 6.0, 1.0), ("hard_silu", -6.0, 0.0, 0.0), ("hard_swish", -3.0, 0.0, 0.0),
    ("hard_swish", 3.0, 3.0, 1.0),
]


@pytest.mark.parametrize("name, x, y, derivative", KERAS_ACTIVATION_KINKS, ids=str)
def test_kinks_take_keras_derivative(name, x, y, derivative):
    for dtype in (np.float32, np.float64):
        xs = np.array([x], dtype)
        ys = activation_forward(name, xs)
        dx = activation_backward(name, xs, ys, np.array([2.0], dtype))
        assert ys.dtype == dx.dtype == dtype and ys[0] == y
        assert dx[0] == 2 * dtype(derivative), (dtype, dx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_activations_keep_nan_and_infinities_as_keras(dtype):
    """As Keras on JAX: a NaN stays NaN forward; at -inf hard_silu and mish give NaN (-inf times 0),
    exponential 0; the piecewise ones' derivative is 0 at NaN and where they saturate."""
    x = np.array([np.nan, np.inf, -np.inf], dtype)
    with np.errstate(invalid="ignore"):
        forward = {name: activation_forward(name, x) for name in ("relu6", "hard_sigmoid", "hard_silu", "mish",
                                                                  "exponential")}
        backward = {name: activation_backward(name, x, y, np.ones_like(x)) for name, y in forward.items()}
    np.testing.assert_array_equal(forward["relu6"], [np.nan, 6, 0])
    np.testing.assert_array_equal(forward["hard_sigmoid"], [np.nan, 1, 0])
    np.testing.assert_array_equal(forward["hard_silu"], [np.nan, np.inf, np.nan])
    np.testing.assert_array_equal(forward["mish"], [np.nan, np.inf, np.nan])
    np.testing.assert_array_equal(forward["exponential"], [np.nan, np.inf, 0])
    np.testing.assert_array_equal(backward["relu6"], [0, 0, 0])
    np.testing.assert_array_equal(backward["hard_sigmoid"], [0, 0, 0])
    np.testing.assert_array_equal(backward["hard_silu"], [np.nan, 1, 0])


# --- the layers' activations with arguments: ReLU's, ELU's alpha, Softmax's axes ------------------

# ReLU's arguments, each a path of Keras's relu: a cap alone (6: relu6), a slope alone (leaky_relu),
# a slope with a cap, a threshold alone and with a slope, all three, a cap below the threshold.
RELU_ARGUMENTS = [dict(max_value=6.0), dict(max_value=1.5), dict(negative_slope=0.3),
                  dict(negative_slope=0.1, max_value=2.0), dict(threshold=0.5), dict(negative_slope=0.1, threshold=0.5),
                  dict(negative_slope=0.2, threshold=0.75, max_value=2.5), dict(negative_slope=0.25, threshold=2.0,
                                                                               max_value=1.0)]


def relu_textbook(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's ReLU docstring in float64: max_value at or above it, x from the threshold up, the slope
    times x - threshold below (at the threshold 0: Keras's where(x > threshold) decides it)."""
    x = x.astype(np.float64)
    y = np.where(x > threshold, x, negative_slope * (x - threshold))
    return y if max_value is None else np.where(x > threshold, np.minimum(y, max_value), y)


def kinks_apart(rng, shape, *kinks):
    """Values in [-4, 8) at least 0.05 from every kink: central differences stay on one side."""
    x = rng.uniform(-4, 8, shape)
    for kink in kinks:
        near = np.abs(x - kink) < 0.05
        x[near] = kink + np.where(x[near] >= kink, 0.05, -0.05)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
def test_relu_with_arguments_matches_keras_formula(rng, kwargs, dtype):
    x = random_array(rng, (5, 7), dtype, -4, 8)
    x[0, :4] = [kwargs.get("threshold", 0.0), kwargs.get("max_value") or 3.0, 0.0, -0.0]
    y = relu_with_arguments(x, ReluArguments.keras(**kwargs))
    assert y.dtype == dtype
    assert_close(y, relu_textbook(x, **kwargs))


@pytest.mark.parametrize("kwargs", RELU_ARGUMENTS, ids=str)
def test_relu_with_arguments_backward_matches_central_differences(rng, kwargs):
    x = kinks_apart(rng, (4, 9), kwargs.get("threshold", 0.0), kwargs.get("max_value") or 0.0)
    dy = random_array(rng, x.shape, np.float64)
    arguments = ReluArguments.keras(**kwargs)
    check_gradient(op_scalar(lambda v: relu_with_arguments(v, arguments), dy), x,
                   relu_with_arguments_backward(x, dy, arguments))


# What Keras 3.15.1 on JAX gives as the derivative of its relu (the ReLU layer) at a kink, measured
# with jax.grad: (arguments, x, derivative).
KERAS_KINKS = [
    (dict(max_value=3.0), 3.0, 0.5), (dict(max_value=3.0), 0.0, 0.0), (dict(max_value=6.0), 6.0, 0.0),
    (dict(negative_slope=0.1), 0.0, 1.0), (dict(negative_slope=0.1, max_value=3.0), 0.0, 0.0),
    (dict(negative_slope=0.1, max_value=3.0), 3.0, 0.5), (dict(negative_slope=0.1, max_value=6.0), 6.0, 0.0),
    (dict(threshold=0.5), 0.5, 0.0), (dict(negative_slope=0.1, threshold=0.5), 0.5, 0.0),
    (dict(negative_slope=0.1, threshold=0.5, max_value=3.0), 3.0, 0.5), (dict(threshold=0.5, max_value=6.0), 6.0, 0.5),
    (dict(negative_slope=0.2, threshold=5.0, max_value=2.0), 2.0, 0.2),
    (dict(negative_slope=0.2, threshold=5.0, max_value=2.0), 5.0, 0.0),
    (dict(negative_slope=0.1, threshold=0.5, max_value=0.5), 0.5, 0.0), (dict(max_value=0.0), 0.0, 0.0),
]


@pytest.mark.parametrize("kwargs, x, derivative", KERAS_KINKS, ids=str)
def test_relu_with_arguments_takes_keras_derivative_at_the_kinks(kwargs, x, derivative):
    for dtype in (np.float32, np.float64):
        dx = relu_with_arguments_backward(np.array([x], dtype), np.array([2.0], dtype), ReluArguments.keras(**kwargs))
        assert dx.dtype == dtype and dx[0] == 2 * derivative


def test_leaky_relus_arguments_are_its_own():
    """The LeakyReLU layer's leaky_relu: derivative 1 at 0 at every slope (jax.nn.leaky_relu's x >= 0),
    where Keras's relu at slope 0 is plain relu, 0 there."""
    for slope in (0.0, 0.3):
        arguments = ReluArguments.leaky(slope)
        x = np.array([-2.0, -0.0, 0.0, 3.0, np.inf, 1e-310, -1e-310])
        with np.errstate(invalid="ignore"):  # 0 inf, in the branch where() leaves out
            np.testing.assert_array_equal(relu_with_arguments(x, arguments), leaky_relu(x, slope))
        np.testing.assert_array_equal(relu_with_arguments_backward(x, np.ones(7), arguments),
                                      leaky_relu_backward(x, None, np.ones(7), slope))
    assert ReluArguments.keras(negative_slope=0.3) == ReluArguments.leaky(0.3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0, 0.0, -1.5])
def test_elu_with_alpha_matches_the_textbook_formula(rng, alpha, dtype):
    x = random_array(rng, (5, 7), dtype, -4, 4)
    y = elu_with_alpha(x, alpha)
    x64 = x.astype(np.float64)
    assert y.dtype == dtype
    assert_close(y, np.where(x64 > 0, x64, alpha * (np.exp(x64) - 1)), scale=np.abs(x64))
    if alpha == 1.0:
        np.testing.assert_array_equal(y, elu(x))


@pytest.mark.parametrize("alpha", [0.5, 2.0, 0.0, -1.5])
def test_elu_with_alpha_backward_matches_central_differences(rng, alpha):
    x = away_from_zero(rng, (4, 9), np.float64)
    dy = random_array(rng, x.shape, np.float64)
    check_gradient(op_scalar(lambda v: elu_with_alpha(v, alpha), dy), x, elu_with_alpha_backward(x, dy, alpha))
    # At 0, alpha: Keras on JAX's alpha e^0.
    assert elu_with_alpha_backward(np.zeros(1), np.ones(1), alpha)[0] == alpha


@pytest.mark.parametrize("axis", [1, -3, (1, 2), [0, 2], (2, -1), (0, 1, 2, 3)], ids=str)
def test_softmax_over_axes_matches_the_textbook_formula(rng, axis):
    x = random_array(rng, (3, 4, 5, 2), np.float64, -3, 3)
    axes = softmax_axes(axis, x.ndim)
    e = np.exp(x)
    assert_close(softmax(x, axes), e / e.sum(axis=axes, keepdims=True))
    dy = random_array(rng, x.shape, np.float64)
    check_gradient(op_scalar(lambda v: softmax(v, axes), dy), x, softmax_backward(None, softmax(x, axes), dy, axes))


def test_softmax_axes_are_checked_and_normalised():
    assert softmax_axes(-1, 3) == (2,) and softmax_axes((2, 0), 3) == (0, 2) and softmax_axes([1], 2) == (1,)
    for axis, message in [(3, "out of range for an input of 3 axes"), ((1, -2), "must not name an axis twice"),
                          ((), "an int or a non-empty tuple of ints"), (1.0, "an int or a non-empty tuple"),
                          (True, "an int or a non-empty tuple"), ((0, None), "an int or a non-empty tuple")]:
        with pytest.raises(ValueError, match=message):
            softmax_axes(axis, 3)
