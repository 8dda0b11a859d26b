"""Image flips (Keras's RandomFlip): the NumPy reference against flips written out by hand, the
kernel of kernels/augment.cu against the reference, bit for bit (a flip moves values, it computes
none), and the layer on both kinds of backend; then RandomContrast and RandomBrightness, array
operations, against the same by hand, their gradients and their Keras 3 factor ranges."""

import numpy as np
import pytest

from cnn_gpu import backend, gradcheck
from cnn_gpu.layers import RandomBrightness, RandomContrast, RandomFlip
from cnn_gpu.ops.augment import (FLIP_LEFT_RIGHT, FLIP_UP_DOWN, adjust_brightness, adjust_contrast, draw_flips,
                                 flip_images, flip_images_kernel)
from helpers import fixed, on_backend, poisoned, random_array, to_host

# One pixel; odd and even heights and widths; channels fewer and more than a warp; one image each way.
SHAPES = [(1, 1, 1, 1), (4, 3, 5, 2), (4, 6, 4, 33), (2, 7, 1, 3)]


def by_hand(x, flips):
    out = x.copy()
    for n, flip in enumerate(flips):
        if flip & FLIP_LEFT_RIGHT:
            out[n] = out[n][:, ::-1]
        if flip & FLIP_UP_DOWN:
            out[n] = out[n][::-1]
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_the_reference_flips_as_by_hand(rng, shape):
    x = random_array(rng, shape, np.float64)
    flips = np.arange(shape[0], dtype=np.int32) % 4  # every combination in turn
    np.testing.assert_array_equal(flip_images(x, flips), by_hand(x, flips))
    np.testing.assert_array_equal(flip_images(flip_images(x, flips), flips), x)  # its own inverse


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_kernel_is_the_reference_bit_for_bit(rng, kernel_backend, shape, dtype):
    x = random_array(rng, shape, dtype)
    for turn in range(4):  # every image through every combination of flips
        flips = ((np.arange(shape[0]) + turn) % 4).astype(np.int32)
        y = on_backend(poisoned(shape, dtype), kernel_backend)
        out = flip_images_kernel(on_backend(x, kernel_backend), on_backend(flips, kernel_backend), y=y,
                                 backend=kernel_backend)
        assert out is y
        np.testing.assert_array_equal(to_host(y), by_hand(x, flips))


def test_bad_arguments_are_refused_with_their_names(kernel_backend):
    x = on_backend(np.ones((2, 3, 3, 1), np.float32), kernel_backend)
    with pytest.raises(ValueError, match=r"flips must have one per image \(2,\)"):
        flip_images_kernel(x, on_backend(np.zeros(3, np.int32), kernel_backend), backend=kernel_backend)
    with pytest.raises(TypeError, match="flips must be int32, got int64"):
        flip_images_kernel(x, on_backend(np.zeros(2, np.int64), kernel_backend), backend=kernel_backend)
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, H, W, C\)"):
        flip_images_kernel(x[0], on_backend(np.zeros(2, np.int32), kernel_backend), backend=kernel_backend)
    with pytest.raises(ValueError, match="y must not share memory with x"):
        flip_images_kernel(x, on_backend(np.ones(2, np.int32), kernel_backend), y=x, backend=kernel_backend)


def test_each_image_flips_every_way_its_mode_allows_or_not_at_all_as_keras_3():
    """One coin toss an image: 'horizontal_and_vertical' turns about half the images half a turn and
    leaves the others (Keras 3.15's RandomFlip, measured: 0.5065 both, 0.4935 neither, 0 one alone)."""
    rng = np.random.default_rng(0)
    for mode, allowed in (("horizontal", FLIP_LEFT_RIGHT), ("vertical", FLIP_UP_DOWN),
                          ("horizontal_and_vertical", FLIP_LEFT_RIGHT | FLIP_UP_DOWN)):
        flips = draw_flips(4000, mode, rng)
        assert flips.dtype == np.int32 and set(np.unique(flips)) == {0, allowed}
        assert 0.45 < (flips == allowed).mean() < 0.55


@pytest.mark.parametrize("name", ["numpy", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_layer_flips_the_same_images_on_every_backend(rng, fresh_backend, name):
    x = random_array(rng, (16, 5, 4, 3), np.float32)
    layer = RandomFlip(seed=7)
    layer.build((None, 5, 4, 3))
    expected = by_hand(x, draw_flips(16, "horizontal_and_vertical", np.random.default_rng(7)))
    ours = backend.set_backend(name)
    y = to_host(layer.forward(ours.asarray(x), training=True))
    np.testing.assert_array_equal(y, expected)
    dy = random_array(rng, x.shape, np.float32)
    np.testing.assert_array_equal(to_host(layer.backward(ours.asarray(dy))), by_hand(dy, to_host(layer._drawn)))
    np.testing.assert_array_equal(to_host(layer.forward(ours.asarray(x), training=False)), x)


def test_the_gradient_goes_back_through_the_same_flips(rng):
    layer = fixed(RandomFlip, seed=3, dtype="float64")
    gradcheck.check_layer(layer, rng.uniform(-1, 1, (4, 3, 2, 2)), training=True)
    with pytest.raises(ValueError, match="mode must be one of"):
        RandomFlip("diagonal")


# --- RandomContrast and RandomBrightness: array operations on the backends ---------------------------

def test_contrast_and_brightness_as_by_hand(rng):
    x = random_array(rng, (3, 4, 5, 2), np.float64, 0, 10)
    factors, deltas = np.array([0.5, 1.0, 1.6]), np.array([-3.0, 0.0, 2.5])
    by_hand = np.empty_like(x)
    for n in range(3):
        for c in range(2):
            m = x[n, :, :, c].mean()
            by_hand[n, :, :, c] = m + factors[n] * (x[n, :, :, c] - m)
    y, _ = adjust_contrast(x, factors, (1.0, 9.0))
    np.testing.assert_allclose(y, np.clip(by_hand, 1.0, 9.0), rtol=1e-14)
    y, _ = adjust_brightness(x, deltas, (0.0, 10.0))
    np.testing.assert_array_equal(y, np.clip(x + deltas[:, None, None, None], 0.0, 10.0))


COLOUR = [(RandomContrast, dict(factor=0.5, value_range=(-0.8, 0.9))),
          (RandomContrast, dict(factor=(0.2, 0.7))),
          (RandomBrightness, dict(factor=0.3, value_range=(-1.0, 1.0)))]


@pytest.mark.parametrize("cls, arguments", COLOUR)
def test_the_colour_layers_gradients_go_back_through_the_same_draws_and_the_clip(rng, cls, arguments):
    layer = fixed(cls, **arguments, seed=3, dtype="float64")
    x = rng.uniform(-1, 1, (3, 4, 5, 2))
    layer.build(x.shape)
    gradcheck.check_layer(layer, x, training=True)


@pytest.mark.parametrize("cls, arguments", COLOUR)
@pytest.mark.parametrize("name", ["numpy", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_colour_layers_change_the_same_images_on_every_backend(rng, fresh_backend, name, cls, arguments):
    x = random_array(rng, (6, 4, 3, 3), np.float32)
    layer = cls(**arguments, seed=7)
    layer.build((None, 4, 3, 3))
    draws = cls(**arguments, seed=7).draw(6, 4, 3)
    adjust = adjust_contrast if cls is RandomContrast else adjust_brightness
    expected, _ = adjust(x, draws, layer.value_range)
    ours = backend.set_backend(name)
    np.testing.assert_allclose(to_host(layer.forward(ours.asarray(x), training=True)), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(to_host(layer.forward(ours.asarray(x), training=False)), x)


def test_keras_3s_factor_ranges_and_bad_arguments():
    assert RandomContrast(0.2).draw(2000, 1, 1).min() >= 1.0  # Keras 3.15: a number f gives (0, f): [1, 1 + f]
    contrast = RandomContrast((-0.3, 0.3)).draw(5, 1, 1)  # a pair: 1 - lower to 1 + upper, here both 1.3
    np.testing.assert_allclose(contrast, 1.3)
    brightness = RandomBrightness(0.25, value_range=(0, 2), seed=0).draw(4000, 1, 1)
    assert -0.5 <= brightness.min() < -0.49 and 0.49 < brightness.max() <= 0.5  # a quarter of the range's 2
    with pytest.raises(ValueError, match=r"factor must be a number or a pair of numbers in \[0, 1\], got 1.5"):
        RandomContrast(1.5)
    with pytest.raises(ValueError, match=r"value_range must be \(low, high\) with low < high"):
        RandomBrightness(0.1, value_range=(1, 0))
