import numpy as np
import pytest

import loops
from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    pool2d_output_shape,
)
from helpers import assert_close, random_array

# (x shape NHWC, pool size, strides (None: the pool size), padding): batch 1, odd sizes with
# leftover rows, same padding, overlapping windows, strides larger than the pool, the whole image.
CONFIGS = [
    ((1, 4, 4, 1), (2, 2), None, "valid"),
    ((2, 7, 9, 3), (2, 2), None, "valid"),
    ((2, 7, 9, 3), (2, 2), None, "same"),
    ((3, 8, 7, 2), (3, 3), (2, 2), "same"),
    ((2, 9, 10, 3), (3, 2), (1, 2), "valid"),
    ((1, 5, 5, 2), (2, 2), (3, 3), "same"),
    ((2, 5, 6, 1), (5, 6), None, "valid"),
    ((4, 26, 26, 32), (2, 2), None, "valid"),
]
SMALL = [c for c in CONFIGS if np.prod(c[0]) <= 400]


def config_id(config):
    x_shape, pool_size, strides, padding = config
    return f"x{x_shape}-p{pool_size}-s{strides}-{padding}".replace(" ", "")


def full_strides(config):
    return config[2] or config[1]


def run_max(x, dy, config):
    _, pool_size, strides, padding = config
    y, argmax = max_pool2d_forward(x, pool_size, strides, padding)
    return y, max_pool2d_backward(dy, argmax, x.shape, pool_size, strides, padding)


def run_avg(x, dy, config):
    _, pool_size, strides, padding = config
    return avg_pool2d_forward(x, pool_size, strides, padding), avg_pool2d_backward(dy, x.shape, pool_size, strides, padding)


RUN = {"max": run_max, "avg": run_avg}


def random_dy(rng, config, dtype):
    x_shape, pool_size, strides, padding = config
    return random_array(rng, pool2d_output_shape(x_shape, pool_size, strides, padding), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_forward_and_backward_match_the_loop_oracle(rng, kind, config, dtype):
    x, dy = random_array(rng, config[0], dtype), random_dy(rng, config, dtype)
    y, dx = RUN[kind](x, dy, config)
    ref_y, ref_dx = loops.pool(x, dy, kind, config[1], full_strides(config), config[3])
    assert y.dtype == dx.dtype == dtype and dx.shape == x.shape
    assert_close(y, ref_y, what="y")
    assert_close(dx, ref_dx, what="dx")


@pytest.mark.parametrize("config", SMALL, ids=config_id)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_gradients_match_central_differences(rng, kind, config):
    x, dy = random_array(rng, config[0], np.float64), random_dy(rng, config, np.float64)
    _, dx = RUN[kind](x, dy, config)
    check_gradient(op_scalar(lambda v: RUN[kind](v, dy, config)[0], dy), x, dx)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order(rng, config):
    # Values from {0, 1, 2}: most windows hold several equal maxima.
    x = rng.integers(0, 3, size=config[0]).astype(np.float32)
    dy = random_dy(rng, config, np.float32)
    _, dx = run_max(x, dy, config)
    assert_close(dx, loops.pool(x, dy, "max", config[1], full_strides(config), config[3])[1])


def test_max_pool_tie_example():
    x = np.array([[5.0, 5.0], [5.0, 1.0]]).reshape(1, 2, 2, 1)
    y, argmax = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.ones((1, 1, 1, 1)), argmax, x.shape, 2)
    assert y.item() == 5 and np.array_equal(dx.reshape(2, 2), [[1.0, 0.0], [0.0, 0.0]])


def test_max_pool_padding_never_wins(rng):
    x = -random_array(rng, (2, 7, 7, 3), np.float32, 0.5, 1.0)  # all negative: a padded 0 would win
    y, argmax = max_pool2d_forward(x, 2, padding="same")
    assert np.all(y < 0)
    dx = max_pool2d_backward(np.ones_like(y), argmax, x.shape, 2, padding="same")
    assert dx.sum() == y.size  # every gradient landed on a real element


def test_avg_pool_same_divides_by_the_real_elements_only():
    x = np.ones((1, 5, 7, 2))
    y = avg_pool2d_forward(x, 3, 2, "same")
    assert np.array_equal(y, np.ones_like(y))
    # The bottom-right window of a 2x2 pool over 5x5 covers one real element: its gradient is whole.
    dx = avg_pool2d_backward(np.ones((1, 3, 3, 1)), (1, 5, 5, 1), 2, padding="same")
    assert dx[0, 4, 4, 0] == 1.0 and dx[0, 0, 0, 0] == 0.25


@pytest.mark.parametrize(
    "x_shape,pool_size,strides,padding,expected",
    [
        ((32, 26, 26, 32), 2, None, "valid", (32, 13, 13, 32)),
        ((1, 7, 9, 3), 2, None, "valid", (1, 3, 4, 3)),
        ((1, 7, 9, 3), 2, None, "same", (1, 4, 5, 3)),
        ((1, 7, 9, 3), (3, 2), 1, "valid", (1, 5, 8, 3)),
    ],
)
def test_output_shape(x_shape, pool_size, strides, padding, expected):
    assert pool2d_output_shape(x_shape, pool_size, strides, padding) == expected


@pytest.mark.parametrize(
    "x,kwargs,error,message",
    [
        (np.zeros((1, 3, 3, 1)), {"pool_size": 4}, ValueError, r"smaller than the pool_size extent \(4, 4\)"),
        (np.zeros((1, 3, 3, 1)), {"pool_size": (2, 0)}, ValueError, "pool_size must be a positive int"),
        (np.zeros((1, 3, 3, 1)), {"pool_size": 2, "padding": "causal"}, ValueError, "padding must be"),
        (np.zeros((3, 3, 1)), {"pool_size": 2}, ValueError, "x must be 4-D"),
        (np.zeros((1, 3, 3, 1), np.int32), {"pool_size": 2}, TypeError, "x must be a float32 or float64"),
    ],
)
@pytest.mark.parametrize("forward", [max_pool2d_forward, avg_pool2d_forward])
def test_bad_arguments_are_named(forward, x, kwargs, error, message):
    with pytest.raises(error, match=message):
        forward(x, **kwargs)


def test_backward_names_a_dy_or_argmax_of_the_wrong_shape(rng):
    x = random_array(rng, (2, 6, 6, 3), np.float32)
    y, argmax = max_pool2d_forward(x, 2)
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(2, 3, 3, 3\), got \(2, 3, 3\)"):
        avg_pool2d_backward(y[..., 0], x.shape, 2)
    with pytest.raises(ValueError, match=r"argmax must have dy's shape \(2, 3, 3, 3\), got \(2, 3, 3, 1\)"):
        max_pool2d_backward(y, argmax[..., :1], x.shape, 2)
