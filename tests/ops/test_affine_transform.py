"""Images resampled through affine maps (ops/affine_transform.py): the NumPy reference against maps
whose results are known without it (the identity, whole-pixel shifts under every fill mode, quarter
turns, jax's fill patterns written out), its backward as the forward's transpose, the kernels of
kernels/affine_transform.cu against the reference on odd sizes, every fill mode and interpolation,
the layers that draw the maps (RandomTranslation, RandomRotation, RandomZoom) on every backend, and
Resizing and CenterCrop, which run fixed maps."""

import numpy as np
import pytest

from cnn_gpu import backend, gradcheck
from cnn_gpu.layers import (CenterCrop, RandomCrop, RandomRotation, RandomTranslation, RandomZoom, Resizing,
                            deserialize)
from cnn_gpu.ops import affine_transform as at
from cnn_gpu.ops.reshaping import nearest_sources
from helpers import fixed, on_backend, poisoned, random_array, rel_error, to_host

# One pixel; odd and even sides; channels fewer and more than a warp; a non-square image; channels in
# whole float4s (the float4 rung's).
SHAPES = [(1, 1, 1, 1), (3, 5, 7, 2), (2, 6, 4, 33), (2, 9, 1, 3), (2, 5, 6, 8)]
MODES = sorted(at.FILL_MODES)


def random_transforms(rng, n, height, width):
    """A mix of what the layers draw: each image turned, zoomed and shifted a random amount."""
    turned = at.rotations(rng.uniform(-np.pi, np.pi, n), height, width).astype(np.float64)
    zoom = rng.uniform(0.6, 1.5, n)
    t = turned * np.repeat(zoom, 6).reshape(n, 6)  # scales the map about the origin ...
    t[:, 2] += rng.uniform(-0.4, 0.4, n) * width  # ... and shifts it
    t[:, 5] += rng.uniform(-0.4, 0.4, n) * height
    return t.astype(np.float32)


def test_the_identity_and_whole_pixel_shifts_move_pixels_as_by_hand(rng):
    x = random_array(rng, (4, 5, 6, 2), np.float64)
    identity = np.tile(np.float32(at.IDENTITY), (4, 1))
    for interpolation in at.INTERPOLATIONS:
        np.testing.assert_array_equal(at.affine_transform(x, identity, interpolation), x)
    shift = at.translations(np.full(4, 2.0), np.full(4, -1.0))  # two right, one up
    expected = {  # the input's column index for output columns 0..5, and row index for rows 0..4
        "reflect": ([1, 0, 0, 1, 2, 3], [1, 2, 3, 4, 4]), "wrap": ([4, 5, 0, 1, 2, 3], [1, 2, 3, 4, 0]),
        "nearest": ([0, 0, 0, 1, 2, 3], [1, 2, 3, 4, 4]), "constant": ([-1, -1, 0, 1, 2, 3], [1, 2, 3, 4, -1])}
    for mode, (cols, rows) in expected.items():
        out = at.affine_transform(x, shift, "bilinear", mode, fill_value=7.0)
        by_hand = x[:, rows][:, :, cols]
        by_hand[:, np.array(rows) < 0] = 7.0
        by_hand[:, :, np.array(cols) < 0] = 7.0
        np.testing.assert_array_equal(out, by_hand, err_msg=mode)


def test_the_fill_modes_repeat_jaxs_patterns():
    """jax.scipy.ndimage.map_coordinates's fills of a 4-pixel axis at -9 ... 12 (Keras 3.15 on JAX)."""
    index = np.arange(-9, 13)
    np.testing.assert_array_equal(at._fixed_index(index, 4, "reflect"),
                                  [0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3])
    np.testing.assert_array_equal(at._fixed_index(index, 4, "wrap"), index % 4)
    np.testing.assert_array_equal(at._fixed_index(index, 4, "nearest"), np.clip(index, 0, 3))
    inside = (index >= 0) & (index < 4)
    np.testing.assert_array_equal(at._fixed_index(index, 4, "constant"), np.where(inside, index, -1))


def test_a_quarter_turn_of_a_square_image_is_a_rot90(rng):
    x = random_array(rng, (2, 5, 5, 3), np.float64)
    turned = at.affine_transform(x, at.rotations(np.full(2, np.pi / 2), 5, 5), "bilinear", "constant")
    np.testing.assert_allclose(turned, np.rot90(x, k=1, axes=(1, 2)), atol=1e-6)


def test_bilinear_upsampling_interpolates_between_pixel_centres():
    x = np.array([0.0, 4.0, 8.0]).reshape(1, 1, 3, 1)
    up = at.affine_transform(x, at.resize((1, 3), (1, 6))[None], "bilinear", "nearest", out_shape=(1, 6))
    np.testing.assert_allclose(up.ravel(), [0, 1, 3, 5, 7, 8], atol=1e-6)  # the ends clamp


@pytest.mark.parametrize("interpolation", sorted(at.INTERPOLATIONS))
@pytest.mark.parametrize("mode", MODES)
def test_the_backward_is_the_forwards_transpose(rng, mode, interpolation):
    """<A x, dy> = <x, A^T dy> for random x and dy: the gradient of a linear map, exactly."""
    x = random_array(rng, (3, 5, 7, 2), np.float64)
    dy = random_array(rng, (3, 6, 4, 2), np.float64)
    t = random_transforms(rng, 3, 5, 7)
    forward = at.affine_transform(x, t, interpolation, mode, fill_value=0.0, out_shape=(6, 4))
    backward = at.affine_transform_backward(dy, t, x.shape, interpolation, mode)
    assert np.vdot(forward, dy) == pytest.approx(np.vdot(x, backward), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_kernels_match_the_reference(rng, kernel_backend, shape, dtype):
    n, height, width, channels = shape
    x, t = random_array(rng, shape, dtype), random_transforms(rng, n, height, width)
    out_shape = (height + 2, max(1, width - 1))  # another size than x's: UpSampling2D's case
    tolerance = 2e-6 if dtype == np.float32 else 1e-13
    variants = at.GATHER_VARIANTS if dtype == np.float32 and channels % 4 == 0 else ("element",)
    for mode in MODES:
        for interpolation in at.INTERPOLATIONS:
            arguments = dict(interpolation=interpolation, fill_mode=mode)
            # Each output sums terms of both signs: its rounding is relative to the terms' magnitudes, the
            # same op on |x| (and |dy| below).
            reference, scale = (at.affine_transform(v.astype(np.float64), t, fill_value=0.5, out_shape=out_shape,
                                                    **arguments) for v in (x, abs(x)))
            for variant in variants:
                y = on_backend(poisoned((n, *out_shape, channels), dtype), kernel_backend)
                out = at.affine_transform_kernel(on_backend(x, kernel_backend), on_backend(t, kernel_backend),
                                                 fill_value=0.5, out_shape=out_shape, y=y, variant=variant,
                                                 backend=kernel_backend, **arguments)
                assert out is y
                assert rel_error(to_host(y), reference, scale) < tolerance, (mode, interpolation, variant)
            dy = random_array(rng, (n, *out_shape, channels), dtype)
            dx = on_backend(poisoned(shape, dtype), kernel_backend)
            affine_transform_backward_kernel(dy, t, shape, arguments, dx, kernel_backend)
            reference, scale = (at.affine_transform_backward(v.astype(np.float64), t, shape, **arguments)
                                for v in (dy, abs(dy)))
            assert rel_error(to_host(dx), reference, scale) < tolerance, (mode, interpolation)


def affine_transform_backward_kernel(dy, t, shape, arguments, dx, backend):
    out = at.affine_transform_backward_kernel(on_backend(dy, backend), on_backend(t, backend), shape, dx=dx,
                                              backend=backend, **arguments)
    assert out is dx


def test_bad_arguments_are_refused_with_their_names(kernel_backend):
    x = on_backend(np.ones((2, 3, 3, 1), np.float32), kernel_backend)
    t = on_backend(np.tile(np.float32(at.IDENTITY), (2, 1)), kernel_backend)
    kernel = at.affine_transform_kernel
    with pytest.raises(ValueError, match=r"transforms must have one row .* an image \(2, 6\)"):
        kernel(x, t[:1], backend=kernel_backend)
    with pytest.raises(TypeError, match="transforms must be float32, got float64"):
        kernel(x, t.astype(np.float64), backend=kernel_backend)
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        kernel(x, t, fill_mode="mirror", backend=kernel_backend)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        kernel(x, t, interpolation="bicubic", backend=kernel_backend)
    with pytest.raises(ValueError, match="y must not share memory with x"):
        kernel(x, t, y=x, backend=kernel_backend)
    with pytest.raises(ValueError, match=r"float4 needs float32, C % 4 == 0 .* got 'float4' for float32 with 1"):
        kernel(x, t, variant="float4", backend=kernel_backend)
    wide = on_backend(np.ones((2, 3, 3, 5), np.float32), kernel_backend)[..., 1:]  # 4 channels, not aligned
    assert at.gather_variant(wide, wide, "auto") == "element"
    with pytest.raises(ValueError, match="16-byte-aligned arrays"):
        at.gather_variant(wide, wide, "float4")
    with pytest.raises(ValueError, match=r"x_shape \(3, 3, 3, 1\) must be \(N, H, W, C\) with dy's N and C"):
        at.affine_transform_backward_kernel(x, t, (3, 3, 3, 1), backend=kernel_backend)


# --- the layers --------------------------------------------------------------------------------------
LAYERS = [(RandomTranslation, dict(height_factor=(-0.2, 0.3), width_factor=0.25, fill_mode="wrap")),
          (RandomRotation, dict(factor=0.2, fill_mode="constant", fill_value=-1.0)),
          (RandomZoom, dict(height_factor=(-0.3, 0.2), width_factor=0.4, interpolation="nearest")),
          (RandomZoom, dict(height_factor=0.3, fill_mode="nearest"))]


@pytest.mark.parametrize("cls, arguments", LAYERS)
@pytest.mark.parametrize("name", ["numpy", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_each_layer_moves_the_same_images_on_every_backend(rng, fresh_backend, name, cls, arguments):
    x = random_array(rng, (6, 5, 7, 3), np.float32)
    layer = cls(**arguments, seed=7)
    layer.build((None, 5, 7, 3))
    expected_maps = cls(**arguments, seed=7).draw(6, 5, 7)
    interpolation, mode = layer.interpolation, layer.fill_mode
    expected = at.affine_transform(x, expected_maps, interpolation, mode, layer.fill_value)
    ours = backend.set_backend(name)
    assert rel_error(layer.forward(ours.asarray(x), training=True), expected) < 1e-6
    np.testing.assert_array_equal(to_host(layer._drawn), expected_maps)
    dy = random_array(rng, x.shape, np.float32)
    assert rel_error(layer.backward(ours.asarray(dy)),
                     at.affine_transform_backward(dy, expected_maps, x.shape, interpolation, mode)) < 1e-6
    np.testing.assert_array_equal(to_host(layer.forward(ours.asarray(x), training=False)), x)
    assert not np.array_equal(layer.draw(6, 5, 7), expected_maps), "each call draws new maps"


def test_the_maps_are_drawn_from_each_factors_range():
    n, height, width = 4000, 9, 11
    t = RandomTranslation((-0.2, 0.3), 0.25, seed=0).draw(n, height, width)
    assert np.all(t[:, [0, 4]] == 1) and np.all(t[:, [1, 3]] == 0)
    assert -0.3 * height <= t[:, 5].min() < -0.29 * height and 0.19 * height < t[:, 5].max() <= 0.2 * height
    assert -0.25 * width <= t[:, 2].min() < -0.24 * width and 0.24 * width < t[:, 2].max() <= 0.25 * width
    angles = np.arctan2(*RandomRotation((0.05, -0.1), seed=0).draw(n, height, width)[:, [3, 0]].T)
    assert -0.1 * 2 * np.pi <= angles.min() < -0.09 * 2 * np.pi and 0.04 * 2 * np.pi < angles.max() <= 0.05 * 2 * np.pi
    zoom = RandomZoom(0.3, seed=0).draw(n, height, width)
    np.testing.assert_array_equal(zoom[:, 0], zoom[:, 4])  # no width_factor: the rows' zoom for both
    assert 0.7 <= zoom[:, 0].min() < 0.71 and 1.29 < zoom[:, 0].max() <= 1.3
    centre = zoom[:, [0, 2]] @ np.array([(width - 1) / 2, 1])  # the centre column stays where it is
    np.testing.assert_allclose(centre, (width - 1) / 2, rtol=1e-6)


@pytest.mark.parametrize("cls, arguments", LAYERS)
def test_the_gradient_goes_back_through_the_same_maps(rng, cls, arguments):
    layer = fixed(cls, **arguments, seed=3, dtype="float64")
    gradcheck.check_layer(layer, rng.uniform(-1, 1, (3, 4, 5, 2)), training=True)


@pytest.mark.parametrize("make, message", [
    (lambda: RandomRotation(1.5), r"factor must be a number or a pair of numbers in \[-1, 1\], got 1.5"),
    (lambda: RandomTranslation((0.1, 0.2, 0.3), 0.1), "height_factor must be a number or a pair"),
    (lambda: RandomZoom(0.1, width_factor="x"), "width_factor must be a number or a pair"),
    (lambda: RandomZoom(0.1, fill_mode="mirror"), r"fill_mode must be one of \['constant', 'nearest', 'reflect'"),
    (lambda: RandomRotation(0.1, interpolation="bicubic"), "interpolation must be one of"),
])
def test_bad_layer_arguments_are_refused_with_their_names(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("cls, arguments", LAYERS)
def test_a_layer_comes_back_from_its_config(cls, arguments):
    layer = cls(**arguments, seed=5)
    again = deserialize({"class_name": cls.__name__, "config": layer.get_config()})
    assert type(again) is cls and again.get_config() == layer.get_config()
    np.testing.assert_array_equal(again.draw(3, 4, 5), cls(**arguments, seed=5).draw(3, 4, 5))


# --- Resizing and CenterCrop: steps of the op --------------------------------------------------------
def test_keras_aspect_ratio_windows_by_hand():
    assert at.aspect_crop(7, 9, (12, 6)) == (0, 3, 7, 3)  # a tall target: the middle 3 of 9 columns
    assert at.aspect_crop(7, 9, (5, 11)) == (1, 0, 4, 9)
    assert at.aspect_pad(7, 9, (12, 6)) == (5, 0)  # 18 rows wanted: 5 above and 5 below
    assert at.aspect_pad(7, 9, (5, 11)) == (0, 3)


def test_resizing_samples_a_ramp_where_it_should(fresh_backend):
    """A linear image r + 2c, shrunk: every sample falls inside, so bilinear interpolation is exact,
    at output pixel centres spread evenly over the input's."""
    rows, cols = np.meshgrid(np.arange(9.0), np.arange(12.0), indexing="ij")
    x = (rows + 2 * cols)[None, :, :, None]
    layer = Resizing(3, 4, dtype="float64")
    layer.build((None, 9, 12, 1))
    centres_r, centres_c = (np.arange(3) + 0.5) * 3 - 0.5, (np.arange(4) + 0.5) * 3 - 0.5
    np.testing.assert_allclose(layer.forward(x, training=False)[0, :, :, 0],
                               centres_r[:, None] + 2 * centres_c[None, :], atol=1e-12)


def test_center_crop_of_a_larger_image_is_its_middle_exactly(rng, fresh_backend):
    x = random_array(rng, (2, 7, 8, 3), np.float32)
    layer = CenterCrop(4, 5)
    layer.build((None, 7, 8, 3))
    np.testing.assert_array_equal(layer.forward(x, training=False), x[:, 1:5, 1:6])
    assert layer.compute_output_shape((None, 7, 8, 3)) == (None, 4, 5, 3)


@pytest.mark.parametrize("make, message", [
    (lambda: Resizing(4, 0), "height and width must be ints >= 1, got 4 and 0"),
    (lambda: Resizing(4, 4, interpolation="bicubic"), "interpolation must be 'bilinear' or 'nearest', got 'bicubic'"),
    (lambda: Resizing(4, 4, antialias=True), r"antialias=True is not supported \(only False\)"),
    (lambda: Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "exclude each other"),
    (lambda: CenterCrop(2.5, 3), "height and width must be ints >= 1"),
])
def test_bad_resizing_arguments_are_refused_with_their_names(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_nearest_resizing_takes_jaxs_source_pixels_exactly():
    """floor((out + 0.5) * in / out_size) in integers: where the quotient is whole (6 rows to 9: outputs
    1, 4 and 7 land on rows 1, 3 and 5 exactly) a float map of in / out_size = 2/3 could floor one short."""
    assert nearest_sources(6, 9) == [0, 1, 1, 2, 3, 3, 4, 5, 5]
    assert nearest_sources(5, 3) == [0, 2, 4] and nearest_sources(4, 8) == [0, 0, 1, 1, 2, 2, 3, 3]
    x = np.arange(2 * 6 * 5 * 3, dtype=np.float64).reshape(2, 6, 5, 3)
    layer = Resizing(9, 3, interpolation="nearest", dtype="float64")
    layer.build((None, 6, 5, 3))
    np.testing.assert_array_equal(layer.forward(x, training=False), x[:, nearest_sources(6, 9)][:, :, [0, 2, 4]])


def test_random_crop_takes_one_window_a_batch_in_training_and_the_centred_one_resized_in_inference(rng):
    x = random_array(rng, (3, 7, 9, 2), np.float64)
    layer = RandomCrop(4, 5, seed=2, dtype="float64")
    layer.build((None, 7, 9, 2))
    assert layer.compute_output_shape((None, 7, 9, 2)) == (None, 4, 5, 2)
    seen = set()
    for _ in range(60):
        y = layer.forward(x, training=True)
        windows = [(top, left) for top in range(4) for left in range(5)
                   if np.array_equal(y, x[:, top:top + 4, left:left + 5])]
        assert len(windows) == 1  # every image cropped at the same place, exactly
        seen.add(windows[0])
    assert len(seen) > 12  # of the 20 places
    resized = Resizing(4, 5, crop_to_aspect_ratio=True, dtype="float64")
    resized.build((None, 7, 9, 2))
    np.testing.assert_array_equal(layer.forward(x, training=False), resized.forward(x, training=False))
    small = random_array(rng, (2, 4, 5, 2), np.float64)  # no larger than the window: as in inference
    np.testing.assert_array_equal(layer.forward(small, training=True), small)
    gradcheck.check_layer(fixed_crop(seed=3, dtype="float64"), x, training=True)


def fixed_crop(**arguments):
    """A RandomCrop drawing the same window on every call."""
    class FixedCrop(RandomCrop):
        def call(self, x, training):
            self.generator = np.random.default_rng(self.seed)
            return super().call(x, training)
    layer = FixedCrop(4, 5, **arguments)
    layer.build((None, 7, 9, 2))
    return layer
