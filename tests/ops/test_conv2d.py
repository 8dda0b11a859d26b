import numpy as np
import pytest

import loops
from cnn_gpu.gradcheck import check_gradient, op_scalar
from cnn_gpu.ops.conv2d import conv2d_backward_data, conv2d_backward_filter, conv2d_forward, conv2d_output_shape
from helpers import assert_close, random_array

# (x shape NHWC, kernel RSCK, strides, padding, dilation): odd sizes, batch 1, stride > 1, same
# padding with odd and even kernels and odd padding totals, dilation, 1x1, a kernel as large as
# the input or larger.
CONFIGS = [
    ((1, 5, 5, 1), (3, 3, 1, 1), (1, 1), "valid", (1, 1)),
    ((2, 7, 9, 3), (3, 2, 3, 5), (2, 3), "same", (1, 1)),
    ((3, 8, 7, 2), (2, 3, 2, 4), (1, 1), "same", (2, 1)),
    ((2, 11, 10, 3), (3, 3, 3, 2), (2, 2), "valid", (2, 2)),
    ((1, 6, 6, 4), (1, 1, 4, 3), (2, 2), "same", (1, 1)),
    ((2, 5, 6, 3), (5, 6, 3, 2), (1, 1), "valid", (1, 1)),
    ((2, 4, 4, 2), (5, 5, 2, 3), (1, 1), "same", (1, 1)),
    ((1, 10, 13, 1), (2, 2, 1, 1), (4, 3), "same", (1, 1)),
    ((2, 6, 7, 2), (2, 4, 2, 3), (1, 1), "same", (1, 1)),
    ((1, 9, 8, 2), (2, 2, 2, 2), (2, 1), "same", (3, 2)),
    ((4, 28, 28, 1), (3, 3, 1, 32), (1, 1), "valid", (1, 1)),
]
SMALL = [c for c in CONFIGS if np.prod(c[0]) <= 400]


def config_id(config):
    x_shape, w_shape, strides, padding, dilation = config
    return f"x{x_shape}-w{w_shape}-s{strides}-{padding}-d{dilation}".replace(" ", "")


def random_problem(rng, config, dtype):
    x_shape, w_shape, strides, padding, dilation = config
    x, w = random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype)
    b = random_array(rng, (w_shape[3],), dtype)
    dy = random_array(rng, conv2d_output_shape(x_shape, w_shape, strides, padding, dilation), dtype)
    return x, w, b, dy, (strides, padding, dilation)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_forward_matches_the_loop_oracle(rng, config, dtype):
    x, w, b, _, options = random_problem(rng, config, dtype)
    y = conv2d_forward(x, w, b, *options)
    assert y.dtype == dtype
    assert_close(y, loops.conv_forward(x, w, b, *options))
    assert_close(conv2d_forward(x, w, None, *options), loops.conv_forward(x, w, np.zeros(w.shape[3]), *options))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_backward_matches_the_loop_oracle(rng, config, dtype):
    x, w, _, dy, options = random_problem(rng, config, dtype)
    dx = conv2d_backward_data(dy, w, x.shape, *options)
    dw, db = conv2d_backward_filter(x, dy, w.shape, *options)
    ref_dx, ref_dw, ref_db = loops.conv_backward(x, w, dy, *options)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (w.shape[3],)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    # Each gradient is a sum of terms that may cancel (CI once found float32's db of a 3 x 5 output
    # 1.95e-5 of itself off): judged against the sums of the terms' magnitudes, the same sums over
    # |x|, |w| and |dy|.
    scales = loops.conv_backward(np.abs(x), np.abs(w), np.abs(dy), *options)
    for name, got, ref, scale in zip(("dx", "dw", "db"), (dx, dw, db), (ref_dx, ref_dw, ref_db), scales):
        assert_close(got, ref, what=name, scale=scale)


@pytest.mark.parametrize("config", SMALL, ids=config_id)
def test_gradients_match_central_differences(rng, config):
    x, w, b, dy, options = random_problem(rng, config, np.float64)
    dw, db = conv2d_backward_filter(x, dy, w.shape, *options)
    check_gradient(op_scalar(lambda v: conv2d_forward(v, w, b, *options), dy), x,
                   conv2d_backward_data(dy, w, x.shape, *options), "dx")
    check_gradient(op_scalar(lambda v: conv2d_forward(x, v, b, *options), dy), w, dw, "dw")
    check_gradient(op_scalar(lambda v: conv2d_forward(x, w, v, *options), dy), b, db, "db")


def test_same_padding_puts_the_odd_element_on_the_bottom_right(rng):
    # A 2x2 kernel under 'same' needs one padding row and column; TensorFlow adds them after the
    # input, so the top-left tap sees x itself and the bottom-right tap sees x shifted up-left.
    x = random_array(rng, (2, 5, 4, 3), np.float64)
    top_left = np.zeros((2, 2, 3, 3))
    top_left[0, 0] = np.eye(3)
    bottom_right = np.zeros((2, 2, 3, 3))
    bottom_right[1, 1] = np.eye(3)
    assert np.array_equal(conv2d_forward(x, top_left, padding="same"), x)
    shifted = np.zeros_like(x)
    shifted[:, :-1, :-1] = x[:, 1:, 1:]
    assert np.array_equal(conv2d_forward(x, bottom_right, padding="same"), shifted)


@pytest.mark.parametrize(
    "x_shape,w_shape,strides,padding,dilation,expected",
    [
        ((32, 28, 28, 1), (3, 3, 1, 32), 1, "valid", 1, (32, 26, 26, 32)),
        ((1, 7, 8, 2), (3, 3, 2, 4), 2, "same", 1, (1, 4, 4, 4)),
        ((1, 7, 8, 2), (3, 3, 2, 4), (2, 3), "valid", 1, (1, 3, 2, 4)),
        ((1, 11, 11, 1), (3, 3, 1, 1), 1, "valid", 2, (1, 7, 7, 1)),
        ((1, 11, 11, 1), (3, 3, 1, 1), 1, "SAME", (2, 3), (1, 11, 11, 1)),
    ],
)
def test_output_shape(x_shape, w_shape, strides, padding, dilation, expected):
    assert conv2d_output_shape(x_shape, w_shape, strides, padding, dilation) == expected


@pytest.mark.parametrize(
    "x_shape,w_shape,b_shape,kwargs,message",
    [
        ((1, 5, 5, 3), (3, 3, 2, 4), None, {}, "x has 3 channels but w expects 2"),
        ((5, 5, 3), (3, 3, 3, 4), None, {}, "x must be 4-D"),
        ((1, 5, 5, 3), (3, 3, 3), None, {}, "w must be 4-D"),
        ((1, 5, 5, 3), (3, 3, 3, 4), (3,), {}, r"b must have shape \(4,\)"),
        ((1, 5, 5, 3), (3, 3, 3, 4), None, {"padding": "full"}, "padding must be 'valid' or 'same'"),
        ((1, 5, 5, 3), (3, 3, 3, 4), None, {"strides": 0}, "strides must be a positive int"),
        ((1, 5, 5, 3), (3, 3, 3, 4), None, {"strides": (1, 2, 3)}, "strides must be a positive int or a pair"),
        ((1, 5, 5, 3), (3, 3, 3, 4), None, {"dilation": (1, -1)}, "dilation must be a positive int"),
        ((1, 4, 9, 3), (3, 3, 3, 4), None, {"dilation": 2}, r"smaller than the kernel extent \(5, 5\)"),
    ],
)
def test_bad_arguments_are_named(x_shape, w_shape, b_shape, kwargs, message):
    x, w = np.zeros(x_shape), np.zeros(w_shape)
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match=message):
        conv2d_forward(x, w, b, **kwargs)


def test_mixed_dtypes_are_rejected():
    with pytest.raises(TypeError, match="x is float32 but w is float64"):
        conv2d_forward(np.zeros((1, 3, 3, 1), np.float32), np.zeros((1, 1, 1, 1)))


def test_backward_names_a_dy_of_the_wrong_shape():
    x, w, dy = np.zeros((2, 5, 5, 3)), np.zeros((3, 3, 3, 4)), np.zeros((2, 5, 5, 4))
    message = r"dy must have the forward output's shape \(2, 3, 3, 4\), got \(2, 5, 5, 4\)"
    with pytest.raises(ValueError, match=message):
        conv2d_backward_data(dy, w, x.shape)
    with pytest.raises(ValueError, match=message):
        conv2d_backward_filter(x, dy, w.shape)


def test_a_kept_geometry_never_answers_for_arguments_that_only_equal_its_own():
    from cnn_gpu.ops import window

    assert window.geometry((7, 7), 3, (1, 1), "valid", 1).out_hw == (5, 5)
    with pytest.raises(ValueError, match="strides must be a positive int"):
        window.geometry((7, 7), 3, (True, 1), "valid", 1)  # True == 1 as a key, but no stride
    assert window.geometry([7, 7], [3, 3], [1, 1], "valid", [1, 1]).out_hw == (5, 5)  # lists: worked out
