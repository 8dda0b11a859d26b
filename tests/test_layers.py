"""Layers: gradients by central differences in float64, Keras's output shapes, and early, named errors."""

import json

import numpy as np
import pytest

from cnn_gpu import gradcheck, initializers
from cnn_gpu.layers import (ELU, Activation, AveragePooling2D, BatchNormalization, Conv2D, Conv2DTranspose, Cropping2D,
                            Dense, DepthwiseConv2D, Dropout, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
                            Input, LeakyReLU, MaxPooling2D, ReLU, Reshape, SeparableConv2D, Softmax,
                            SpatialDropout2D, UpSampling2D, ZeroPadding2D, deserialize)
from cnn_gpu.models import Sequential
from cnn_gpu.ops.activation import FORWARD
from cnn_gpu.utils import clear_session, set_random_seed, to_categorical

F64 = {"dtype": "float64"}

# Central differences step by 1e-6 times a coefficient of order one (an input, a weight, 1 for a bias): a
# pre-activation that close to ReLU's kink at 0 gets neither side's slope, and the check fails (once in 3,000 to
# 20,000 runs for the convolutions below, by their count of outputs). 1e-4 keeps every step a hundred times clear.
RELU_KINK_MARGIN = 1e-4


def clear_of_relu_kink(layer, draw):
    """``draw()``, which sets the layer's random weights and returns an input, again until no pre-activation
    of a ReLU layer lies within RELU_KINK_MARGIN of 0 (as tests/ops/test_activation.py keeps inputs off kinks)."""
    for _ in range(10):  # each draw is clear with probability 0.97 or more
        x = draw()
        if layer.activation != "relu" or np.abs(layer.forward(x, logits=True)).min() > RELU_KINK_MARGIN:
            return x
    raise AssertionError(f"{layer.describe()}: 10 draws each put a pre-activation within "
                         f"{RELU_KINK_MARGIN:g} of ReLU's kink")


CONV_CASES = [
    # (input shape, Conv2D arguments, Keras's output shape)
    ((2, 7, 5, 3), dict(filters=4, kernel_size=3), (None, 5, 3, 4)),
    ((2, 7, 5, 3), dict(filters=4, kernel_size=(3, 2), strides=2), (None, 3, 2, 4)),
    ((1, 7, 5, 2), dict(filters=3, kernel_size=3, strides=2, padding="same"), (None, 4, 3, 3)),
    ((2, 9, 8, 2), dict(filters=3, kernel_size=3, dilation_rate=2), (None, 5, 4, 3)),
    ((1, 6, 7, 2), dict(filters=2, kernel_size=(2, 3), padding="same", dilation_rate=(2, 1)), (None, 6, 7, 2)),
    ((3, 5, 5, 1), dict(filters=2, kernel_size=5, activation="tanh", use_bias=False), (None, 1, 1, 2)),
    # ReLU goes into the backend's convolution (the kernels' fused epilogue), its gradient from y alone.
    ((2, 6, 6, 2), dict(filters=3, kernel_size=3, activation="relu"), (None, 4, 4, 3)),
]


@pytest.mark.parametrize("x_shape, kwargs, output_shape", CONV_CASES)
def test_conv2d_gradients_and_shape(rng, x_shape, kwargs, output_shape):
    layer = Conv2D(**kwargs, **F64)
    layer.build((None, *x_shape[1:]))
    assert layer.output_shape == output_shape

    def draw():
        layer.params["bias" if layer.use_bias else "kernel"][...] = rng.uniform(-1, 1, layer.weights[-1].shape)
        return rng.uniform(-1, 1, x_shape)
    gradcheck.check_layer(layer, clear_of_relu_kink(layer, draw))


DEPTHWISE_CASES = [  # and the transposed convolution's
    # (layer, input shape, arguments, Keras's output shape, Keras's parameter count)
    (DepthwiseConv2D, (2, 7, 5, 3), dict(kernel_size=3), (None, 5, 3, 3), 30),
    (DepthwiseConv2D, (1, 7, 6, 2), dict(kernel_size=(3, 2), strides=2, padding="same", depth_multiplier=3),
     (None, 4, 3, 6), 42),
    (DepthwiseConv2D, (2, 8, 9, 2), dict(kernel_size=2, dilation_rate=(2, 3), activation="relu", use_bias=False),
     (None, 6, 6, 2), 8),
    (Conv2DTranspose, (2, 4, 3, 3), dict(filters=2, kernel_size=3, strides=2, padding="same"), (None, 8, 6, 2), 56),
    (Conv2DTranspose, (1, 3, 4, 2), dict(filters=3, kernel_size=(2, 3), strides=(3, 1), activation="relu"),
     (None, 9, 6, 3), 39),
    (SeparableConv2D, (2, 7, 5, 3), dict(filters=4, kernel_size=3), (None, 5, 3, 4), 43),
    (SeparableConv2D, (1, 6, 7, 2), dict(filters=3, kernel_size=2, strides=2, padding="same", depth_multiplier=2,
                                         activation="relu"), (None, 3, 4, 3), 31),
    (SeparableConv2D, (2, 5, 5, 2), dict(filters=2, kernel_size=3, use_bias=False, activation="tanh"),
     (None, 3, 3, 2), 22),
]


@pytest.mark.parametrize("cls, x_shape, kwargs, output_shape, params", DEPTHWISE_CASES)
def test_depthwise_separable_and_transposed_gradients_shapes_and_config(rng, cls, x_shape, kwargs, output_shape, params):
    layer = cls(**kwargs, **F64)
    layer.build((None, *x_shape[1:]))
    assert layer.output_shape == output_shape and layer.count_params() == params

    def draw():
        if layer.use_bias:
            layer.params["bias"][...] = rng.uniform(-1, 1, layer.params["bias"].shape)
        return rng.uniform(-1, 1, x_shape)
    gradcheck.check_layer(layer, clear_of_relu_kink(layer, draw))
    assert deserialize({"class_name": cls.__name__, "config": layer.get_config()}).get_config() == layer.get_config()


def test_separable_conv2d_is_its_depthwise_then_a_1x1_conv2d(rng):
    """Keras's weight order and names, and the same output as the two layers it is made of."""
    x = rng.uniform(-1, 1, (2, 6, 7, 3))
    separable = SeparableConv2D(4, 3, strides=2, padding="same", depth_multiplier=2, activation="relu", **F64)
    depthwise = DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, use_bias=False, **F64)
    pointwise = Conv2D(4, 1, activation="relu", **F64)
    for layer, shape in ((separable, x.shape), (depthwise, x.shape), (pointwise, (None, 3, 4, 6))):
        layer.build((None, *shape[1:]))
    assert list(separable.params) == ["depthwise_kernel", "pointwise_kernel", "bias"]
    weights = [rng.uniform(-1, 1, w.shape) for w in separable.weights]
    separable.set_weights(weights)
    depthwise.set_weights(weights[:1])
    pointwise.set_weights(weights[1:])
    np.testing.assert_allclose(separable.forward(x), pointwise.forward(depthwise.forward(x)), rtol=1e-13)


def depthwise_and_separable_layers():
    """(class, positional arguments, input shape) of each layer whose kernels Keras names depthwise_*
    (and pointwise_*), not kernel_*."""
    from cnn_gpu.layers import DepthwiseConv1D, SeparableConv1D

    return [(DepthwiseConv2D, (3,), (None, 5, 5, 2)), (SeparableConv2D, (4, 3), (None, 5, 5, 2)),
            (DepthwiseConv1D, (3,), (None, 5, 2)), (SeparableConv1D, (4, 3), (None, 5, 2))]


@pytest.mark.parametrize("cls, args, input_shape", depthwise_and_separable_layers())
@pytest.mark.parametrize("argument", ["kernel_initializer", "kernel_regularizer", "kernel_constraint"])
def test_depthwise_and_separable_convolutions_refuse_kernel_arguments_as_keras(cls, args, input_shape, argument):
    keras_name = argument.replace("kernel", "depthwise")
    with pytest.raises(ValueError, match=f"^Unrecognized keyword argument passed to {cls.__name__}: '{argument}' "
                                         f"\\(Keras names it {keras_name}"):
        cls(*args, **{argument: None})


@pytest.mark.parametrize("cls, args, input_shape", depthwise_and_separable_layers())
def test_depthwise_and_separable_keras_named_arguments_reach_their_weights_and_round_trip(cls, args, input_shape):
    from cnn_gpu import constraints, regularizers

    separable = cls.__name__.startswith("Separable")
    depthwise = "depthwise_kernel" if separable else "kernel"
    kwargs = dict(depthwise_initializer="ones", depthwise_regularizer=regularizers.L2(0.01),
                  depthwise_constraint=constraints.NonNeg(), bias_initializer=initializers.Constant(0.5),
                  bias_regularizer=regularizers.L1(0.03), bias_constraint=constraints.UnitNorm())
    if separable:
        kwargs.update(pointwise_initializer="zeros", pointwise_regularizer=regularizers.L1(0.02),
                      pointwise_constraint=constraints.MaxNorm(0.3))
    layer = cls(*args, **kwargs)
    layer.build(input_shape)
    np.testing.assert_array_equal(layer.params[depthwise], 1)
    np.testing.assert_array_equal(layer.params["bias"], 0.5)
    if separable:
        np.testing.assert_array_equal(layer.params["pointwise_kernel"], 0)
    # Each weight's regularizer and constraint: the argument named after it.
    arguments = {depthwise: "depthwise", "bias": "bias", **({"pointwise_kernel": "pointwise"} if separable else {})}
    assert layer.regularizers == {name: kwargs[f"{argument}_regularizer"] for name, argument in arguments.items()}
    assert layer.constrained_weights() == {name: kwargs[f"{argument}_constraint"]
                                           for name, argument in arguments.items()}
    config = json.loads(json.dumps(layer.get_config()))
    assert not {key for key in config if key.startswith("kernel_")} - {"kernel_size"}
    again = deserialize({"class_name": cls.__name__, "config": config})
    assert again.get_config() == layer.get_config()  # each initializer, regularizer and constraint included


@pytest.mark.parametrize("layer, x_shape, output_shape", [
    (UpSampling2D(), (2, 3, 2, 2), (None, 6, 4, 2)),
    (UpSampling2D(size=(1, 3)), (1, 2, 3, 2), (None, 2, 9, 2)),
    (ZeroPadding2D(), (2, 3, 2, 2), (None, 5, 4, 2)),
    (ZeroPadding2D(padding=(1, 2)), (1, 2, 3, 2), (None, 4, 7, 2)),  # (height's, width's)
    (ZeroPadding2D(padding=((0, 2), (1, 0))), (1, 2, 3, 2), (None, 4, 4, 2)),
    (Cropping2D(cropping=1), (2, 4, 3, 2), (None, 2, 1, 2)),
    (Cropping2D(cropping=((0, 2), (1, 0))), (1, 4, 3, 2), (None, 2, 2, 2)),
])
def test_image_reshaping_layers_shapes_values_and_config(rng, layer, x_shape, output_shape):
    """Keras's output shapes and argument forms; each value where Keras puts it; pad and crop undo each other."""
    layer.build((None, *x_shape[1:]))
    assert layer.output_shape == output_shape
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    y = layer.forward(x)
    if isinstance(layer, UpSampling2D):
        np.testing.assert_array_equal(y[:, ::layer.size[0], ::layer.size[1]], x)
    elif isinstance(layer, ZeroPadding2D):
        np.testing.assert_array_equal(Cropping2D(layer.padding).forward(y), x)
        assert np.count_nonzero(y) == np.count_nonzero(x)  # the border is zeros
    else:
        np.testing.assert_array_equal(ZeroPadding2D(layer.cropping).forward(y), np.pad(
            x[:, layer.cropping[0][0]:x_shape[1] - layer.cropping[0][1],
              layer.cropping[1][0]:x_shape[2] - layer.cropping[1][1]], ((0, 0), *layer.cropping, (0, 0))))
    config = json.loads(json.dumps(layer.get_config()))
    assert deserialize({"class_name": type(layer).__name__, "config": config}).get_config() == layer.get_config()


POOL_CASES = [
    (MaxPooling2D, (2, 6, 6, 3), dict(), (None, 3, 3, 3)),
    (MaxPooling2D, (1, 7, 5, 2), dict(pool_size=(3, 2), strides=(2, 1)), (None, 3, 4, 2)),
    (MaxPooling2D, (2, 7, 5, 2), dict(pool_size=2, padding="same"), (None, 4, 3, 2)),
    (AveragePooling2D, (2, 6, 6, 3), dict(), (None, 3, 3, 3)),
    (AveragePooling2D, (1, 7, 5, 2), dict(pool_size=3, strides=2, padding="same"), (None, 4, 3, 2)),
]


@pytest.mark.parametrize("cls, x_shape, kwargs, output_shape", POOL_CASES)
def test_pooling_gradients_and_shape(rng, cls, x_shape, kwargs, output_shape):
    layer = cls(**kwargs, **F64)
    layer.build((None, *x_shape[1:]))
    assert layer.output_shape == output_shape
    gradcheck.check_layer(layer, rng.uniform(-1, 1, x_shape))


@pytest.mark.parametrize("cls, keepdims, reduce", [(GlobalAveragePooling2D, False, np.mean),
                                                   (GlobalMaxPooling2D, False, np.max),
                                                   (GlobalAveragePooling2D, True, np.mean)])
def test_global_pooling_values_gradients_and_shape(rng, cls, keepdims, reduce):
    layer = cls(keepdims=keepdims, **F64)
    layer.build((None, 5, 3, 4))
    assert layer.output_shape == ((None, 1, 1, 4) if keepdims else (None, 4))
    x = rng.uniform(-1, 1, (2, 5, 3, 4))
    np.testing.assert_allclose(layer.forward(x), reduce(x, axis=(1, 2), keepdims=keepdims), rtol=1e-12)
    gradcheck.check_layer(layer, x)


def test_batch_normalization_weights_in_keras_order():
    layer = BatchNormalization()
    layer.build((None, 5, 5, 3))
    assert list(layer.params) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert layer.trainable_names == ["gamma", "beta"] and len(layer.non_trainable_weights) == 2
    assert layer.count_params() == 12 and layer.output_shape == (None, 5, 5, 3)
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(3))
    bare = BatchNormalization(center=False, scale=False)
    bare.build((None, 4))
    assert list(bare.params) == ["moving_mean", "moving_variance"] and bare.trainable_weights == []
    model = Sequential([Input((4, 4, 3)), BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    assert " Total params: 12 (48.00 B)\n Trainable params: 6 (24.00 B)\n Non-trainable params: 6 (24.00 B)" in lines[0]


def test_batch_normalization_trains_on_the_batch_and_infers_from_the_moving_statistics(rng):
    layer = BatchNormalization(momentum=0.9, **F64)
    layer.build((None, 6, 4))
    x = rng.normal(3, 2, (50, 6, 4))
    gamma, beta = rng.uniform(0.5, 2, 4), rng.uniform(-1, 1, 4)
    layer.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    y = layer.forward(x, training=True)
    mean, variance = x.mean(axis=(0, 1)), x.var(axis=(0, 1))

    def assert_normalized(out, mean, variance):
        """out = (x - mean) / sqrt(variance + eps) gamma + beta to float64 rounding, judged against the
        terms' size: an output near 0 is the difference of terms of order 1."""
        normalized = (x - mean) / np.sqrt(variance + 1e-3) * gamma
        np.testing.assert_allclose(out, normalized + beta, rtol=1e-12, atol=1e-12 * np.abs(normalized).max())

    assert_normalized(y, mean, variance)
    moving_mean, moving_variance = layer.get_weights()[2:]
    np.testing.assert_allclose(moving_mean, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(moving_variance, 0.9 + 0.1 * variance, rtol=1e-12)
    assert_normalized(layer.forward(x, training=False), moving_mean, moving_variance)
    # A frozen layer runs in inference mode in training too (as Keras's), and moves nothing.
    layer.trainable = False
    assert_normalized(layer.forward(x, training=True), moving_mean, moving_variance)
    np.testing.assert_array_equal(layer.get_weights()[2], moving_mean)
    assert layer.trainable_names == []
    dy = rng.normal(size=x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * gamma / np.sqrt(moving_variance + 1e-3), rtol=1e-12)


@pytest.mark.parametrize("activation", [None, "relu", "softmax"])
def test_dense_on_more_axes_is_the_same_product_at_every_position(rng, activation):
    """Keras's Dense over the last axis of a (batch, ..., features) input."""
    layer = Dense(3, activation=activation, **F64)
    layer.build((None, 4, 2, 5))
    assert layer.output_shape == (None, 4, 2, 3) and layer.params["kernel"].shape == (5, 3)

    def draw():
        layer.params["bias"][...] = rng.uniform(-1, 1, 3)
        return rng.uniform(-1, 1, (2, 4, 2, 5))
    x = clear_of_relu_kink(layer, draw)
    rows = Dense(3, activation=activation, **F64)
    rows.build((None, 5))
    rows.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer.forward(x), rows.forward(x.reshape(-1, 5)).reshape(2, 4, 2, 3), rtol=1e-14)
    gradcheck.check_layer(layer, x)


@pytest.mark.parametrize("activation", [None, "tanh", "sigmoid", "softmax", "relu"])
def test_dense_gradients(rng, activation):
    layer = Dense(4, activation=activation, **F64)
    layer.build((None, 5))

    def draw():
        layer.params["bias"][...] = rng.uniform(-1, 1, 4)
        return rng.uniform(-1, 1, (3, 5))
    gradcheck.check_layer(layer, clear_of_relu_kink(layer, draw))


@pytest.mark.parametrize("name", sorted(FORWARD))
def test_activation_gradients(rng, name):
    gradcheck.check_layer(Activation(name, **F64), rng.uniform(-2, 2, (3, 6)))


def test_flatten_gradient_and_channels_last_order(rng):
    layer = Flatten(**F64)
    x = rng.uniform(-1, 1, (2, 3, 4, 5))
    gradcheck.check_layer(layer, x)
    np.testing.assert_array_equal(layer.forward(x), x.reshape(2, -1))


@pytest.mark.parametrize("target, output_shape", [((28, 28, 1), (None, 28, 28, 1)), ((-1, 4), (None, 196, 4)),
                                                   ((784,), (None, 784)), ([7, -1, 2], (None, 7, 56, 2))])
def test_reshape_in_row_major_order_like_keras(rng, target, output_shape):
    layer = Reshape(target, **F64)
    layer.build((None, 784))
    assert layer.output_shape == output_shape
    x = rng.uniform(-1, 1, (2, 784))
    np.testing.assert_array_equal(layer.forward(x), x.reshape(2, *output_shape[1:]))
    gradcheck.check_layer(layer, x)
    again = deserialize({"class_name": "Reshape", "config": layer.get_config()})
    again.build((None, 784))
    assert again.output_shape == output_shape


@pytest.mark.parametrize("cls, name", [(ReLU, "relu"), (ELU, "elu"), (Softmax, "softmax")])
def test_named_activation_layers_are_their_activation(rng, cls, name):
    x = rng.uniform(-2, 2, (3, 6))
    np.testing.assert_array_equal(cls(**F64).forward(x), Activation(name, **F64).forward(x))
    layer = deserialize({"class_name": cls.__name__, "config": cls(**F64).get_config()})
    assert type(layer) is cls and layer.activation == name


@pytest.mark.parametrize("layer, name", [(ReLU(max_value=None, negative_slope=0, threshold=0), "relu"),
                                         (ELU(alpha=1), "elu"), (Softmax(axis=-1), "softmax")])
def test_keras_defaults_given_explicitly_are_still_the_activation(layer, name):
    assert layer.activation == name and layer.at_defaults


def softmax_over(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# Keras's formulas in float64 at other arguments (central differences: gradcheck_cases).
OTHER_ARGUMENTS = [
    (ReLU, dict(max_value=6.0), lambda x: np.clip(x, 0, 6.0)),
    (ReLU, dict(negative_slope=0.1, threshold=0.5), lambda x: np.where(x > 0.5, x, 0.1 * (x - 0.5))),
    (ReLU, dict(max_value=2.0, negative_slope=0.2, threshold=1.0),
     lambda x: np.where(x > 1, np.minimum(x, 2), 0.2 * (x - 1))),
    (ELU, dict(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (ELU, dict(alpha=-2.0), lambda x: np.where(x > 0, x, -2.0 * np.expm1(x))),
    (Softmax, dict(axis=1), lambda x: softmax_over(x, 1)),
    (Softmax, dict(axis=(1, -1)), lambda x: softmax_over(x, (1, 3))),
    (Softmax, dict(axis=0), lambda x: softmax_over(x, 0)),
]


@pytest.mark.parametrize("cls, kwargs, formula", OTHER_ARGUMENTS, ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_named_activation_layers_at_other_arguments(rng, cls, kwargs, formula):
    layer = cls(**kwargs, **F64)
    layer.build((None, 4, 3, 5))
    # Computed by the layer, its activation linear: a last Softmax(axis=1) is no softmax for a loss to fuse.
    assert layer.activation == "linear" and not layer.at_defaults
    x = rng.uniform(-8, 8, (2, 4, 3, 5))
    y = layer.forward(x)
    np.testing.assert_allclose(y, formula(x), rtol=1e-13, atol=1e-15)
    dy = rng.standard_normal(x.shape)
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    config = json.loads(json.dumps(layer.get_config()))  # as a saved model keeps it
    assert {k: config[k] for k in kwargs} == {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    again = deserialize({"class_name": cls.__name__, "config": config})
    assert type(again) is cls and again.get_config() == layer.get_config()
    np.testing.assert_array_equal(again.forward(x), y)
    np.testing.assert_array_equal(again.backward(dy), dx)


def test_leaky_relu_layer_takes_its_slope_and_keras_2s_alpha(rng):
    x = rng.uniform(-2, 2, (3, 6))
    np.testing.assert_array_equal(LeakyReLU(**F64).forward(x), np.where(x >= 0, x, 0.3 * x))
    layer = LeakyReLU(alpha=0.1, **F64)
    assert layer.negative_slope == 0.1 and layer.get_config()["negative_slope"] == 0.1
    np.testing.assert_array_equal(layer.forward(x), np.where(x >= 0, x, 0.1 * x))
    again = deserialize({"class_name": "LeakyReLU", "config": layer.get_config()})
    assert again.negative_slope == 0.1 and LeakyReLU().name.startswith("leaky_re_lu")


class FixedMask:
    """A dropout layer whose every call draws the same mask, so that central differences are meaningful."""

    def call(self, x, training):
        self.generator = np.random.default_rng(self.seed)
        return super().call(x, training)


class FixedMaskDropout(FixedMask, Dropout):
    pass


class FixedMaskSpatialDropout(FixedMask, SpatialDropout2D):
    pass


def test_dropout_gradient_with_a_fixed_mask(rng):
    layer = FixedMaskDropout(0.4, seed=3, **F64)
    x = rng.uniform(-1, 1, (4, 7))
    gradcheck.check_layer(layer, x, training=True)
    assert (layer.forward(x, training=True) == 0).any()


def test_spatial_dropout_gradient_with_a_fixed_mask(rng):
    layer = FixedMaskSpatialDropout(0.5, seed=4, **F64)
    layer.build((None, 3, 4, 5))
    gradcheck.check_layer(layer, rng.uniform(-1, 1, (3, 3, 4, 5)), training=True)


@pytest.mark.parametrize("name", ["numpy", "emulate"])
def test_spatial_dropout_drops_whole_channels(monkeypatch, name):
    """A draw per image and channel (Keras's noise_shape (batch, 1, 1, channels)), shared by every pixel;
    Dropout's noise_shape with None taking the input's size; the mask's gradient the same mask."""
    from cnn_gpu import backend

    monkeypatch.setattr(backend, "_current", None)
    backend.set_backend(name)
    x = np.ones((40, 3, 4, 25), dtype=np.float32)
    for layer in (SpatialDropout2D(0.4, seed=2), Dropout(0.4, noise_shape=(None, 1, 1, None), seed=2)):
        layer.build((None, 3, 4, 25))
        y = backend.get_backend().to_numpy(layer.forward(backend.get_backend().asarray(x), training=True))
        kept = y[:, :1, :1] != 0
        assert np.array_equal(y != 0, np.broadcast_to(kept, y.shape)), "a channel is dropped or kept whole"
        np.testing.assert_allclose(y[y != 0], 1 / 0.6, rtol=1e-6)
        assert 0.45 < kept.mean() < 0.75
        dx = backend.get_backend().to_numpy(layer.backward(backend.get_backend().asarray(x)))
        np.testing.assert_array_equal(dx, y)


def test_dropout_scales_kept_units_and_is_inactive_at_inference():
    layer = Dropout(0.25, seed=1)
    x = np.ones((200, 50), dtype=np.float32)
    y = layer.forward(x, training=True)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


def test_seed_model_output_shapes():
    clear_session()
    model = Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                        Flatten(), Dense(64, activation="relu"), Dense(10, activation="softmax")])
    shapes = [layer.output_shape for layer in model.layers]
    assert shapes == [(None, 26, 26, 32), (None, 13, 13, 32), (None, 5408), (None, 64), (None, 10)]
    assert [layer.count_params() for layer in model.layers] == [320, 0, 0, 346176, 650]
    assert [layer.name for layer in model.layers] == ["conv2d", "max_pooling2d", "flatten", "dense", "dense_1"]


@pytest.mark.parametrize("layers, message", [
    ([MaxPooling2D(5, input_shape=(4, 4, 1))], "MaxPooling2D layer 'pool_x': input of height x width (4, 4)"),
    ([Dense(3, input_shape=(4,)), Dropout(0.5, noise_shape=(None, 2))], "noise_shape (None, 2) does not broadcast"),
    ([Dense(3, input_shape=(4,)), SpatialDropout2D(0.5)], "expects a 4-D input (batch, height, width, channels)"),
    ([Conv2D(2, 3, dilation_rate=3, input_shape=(6, 6, 1))], "smaller than the kernel extent (7, 7) with padding 'valid'"),
    ([Dense(3, input_shape=(4,)), Conv2D(2, 3)], "Conv2D layer 'conv_x' expects a 4-D input"),
    ([Dense(3, input_shape=(4,)), GlobalAveragePooling2D()], "GlobalAveragePooling2D layer 'pool_x' expects a 4-D"),
    ([BatchNormalization(axis=1, input_shape=(5, 5, 2))], "only the last axis (channels last) can be normalised"),
    ([Reshape((5, -1), input_shape=(12,))], "cannot reshape (None, 12) (12 values a sample) to (None, 5, -1)"),
    ([Reshape((5, 3), input_shape=(12,))], "cannot reshape (None, 12) (12 values a sample) to (None, 5, 3)"),
    ([Softmax(axis=3, input_shape=(4, 5))], "Softmax layer 'softmax_x': axis 3 is out of range for an input of 3 axes"),
    ([Softmax(axis=(1, -2), input_shape=(4, 5))], "Softmax layer 'softmax_x': axis must not name an axis twice"),
])
def test_incompatible_layers_fail_when_added(layers, message):
    for layer in layers:
        layer.name = {"Dense": "dense_x", "MaxPooling2D": "pool_x", "Conv2D": "conv_x", "GlobalAveragePooling2D": "pool_x",
                      "BatchNormalization": "norm_x", "Reshape": "reshape_x",
                      "Softmax": "softmax_x", "Dropout": "drop_x", "SpatialDropout2D": "drop_x"}[type(layer).__name__]
    model = Sequential()
    with pytest.raises(ValueError) as error:
        for layer in layers:
            model.add(layer)
    assert message in str(error.value)


@pytest.mark.parametrize("make, message", [
    (lambda: Dense(3, activation="relux"), "activation must be one of"),
    (lambda: Dense(0), "units must be a positive int"),
    (lambda: Dense(3, kernel_initializer="glorot"), "valid names are constant, glorot_normal, glorot_uniform, "
                                                    "he_normal, he_uniform, lecun_normal, lecun_uniform, normal, ones"),
    (lambda: Conv2D(2, 3, padding="full"), "padding must be 'valid' or 'same'"),
    (lambda: Conv2D(2, (3, 0)), "kernel_size must be a positive int"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier must be a positive int"),
    (lambda: Conv2DTranspose(2, 3, strides=2, output_padding=1), "output_padding=1 is not supported (only None)"),
    (lambda: UpSampling2D(interpolation="bicubic"), "interpolation must be 'nearest' or 'bilinear', got 'bicubic'"),
    (lambda: ZeroPadding2D(padding=(1, 2, 3)), "padding must be an int, a pair of ints, or a pair of pairs"),
    (lambda: ZeroPadding2D(padding=-1), "padding must be ints >= 0"),
    (lambda: Cropping2D(cropping=((1, 2), (3,))), "cropping must be an int, a pair of ints, or a pair of pairs"),
    (lambda: Conv2DTranspose(2, 3, strides=2, dilation_rate=2), "strides > 1 together with dilation_rate > 1"),
    (lambda: SeparableConv2D(0, 3), "filters must be a positive int"),
    (lambda: SeparableConv2D(2, 3, strides=(1, 0)), "strides must be a positive int"),
    (lambda: DepthwiseConv2D(3, depthwise_initializer="glorot"), "valid names are"),
    (lambda: Dropout(1.0), "rate must be a number in [0, 1)"),
    (lambda: Dropout(0.5, noise_shape=3), "noise_shape must be a tuple of positive ints or None"),
    (lambda: SpatialDropout2D(0.5, data_format="channels_first"), "only data_format='channels_last'"),
    (lambda: Dense(3, dtype="float16"), "dtype must be float32 or float64"),
    (lambda: Conv2D(2, 3, data_format="channels_first"), "only data_format='channels_last'"),
    (lambda: GlobalMaxPooling2D(data_format="channels_first"), "only data_format='channels_last'"),
    (lambda: BatchNormalization(momentum=1.5), "momentum must be a number in [0, 1]"),
    (lambda: BatchNormalization(epsilon=0), "epsilon must be a positive number"),
    (lambda: BatchNormalization(gamma_initializer="one"), "valid names are"),
    (lambda: Reshape((-1, -1)), "at most one of them -1"),
    (lambda: Reshape((3, 0)), "target_shape must be positive ints"),
    (lambda: Reshape(784), "target_shape must be a tuple (without the batch axis), got 784"),
    # Keras's refusals (a negative max_value, a negative or None slope or threshold), and ours of what
    # is no number or not finite (but a max_value of +inf, Keras's None).
    (lambda: ReLU(max_value=-1.0), "ReLU layer 're_lu"),
    (lambda: ReLU(max_value=-1.0), "max_value must be None or a number >= 0, got -1.0"),
    (lambda: ReLU(max_value="6"), "max_value must be None or a number >= 0, got '6'"),
    (lambda: ReLU(max_value=float("nan")), "max_value must be None or a number >= 0, got nan"),
    (lambda: ReLU(negative_slope=-0.1), "negative_slope must be a finite number >= 0, got -0.1"),
    (lambda: ReLU(negative_slope=None), "negative_slope must be a finite number >= 0, got None"),
    (lambda: ReLU(threshold=-0.5), "threshold must be a finite number >= 0, got -0.5"),
    (lambda: ReLU(threshold=float("inf")), "threshold must be a finite number >= 0, got inf"),
    (lambda: ReLU(threshold=True), "threshold must be a finite number >= 0, got True"),
    (lambda: ELU(alpha="1"), "ELU layer 'elu"),
    (lambda: ELU(alpha="1"), "alpha must be a finite number, got '1'"),
    (lambda: ELU(alpha=float("-inf")), "alpha must be a finite number, got -inf"),
    (lambda: Softmax(axis=()), "Softmax layer 'softmax"),
    (lambda: Softmax(axis=()), "axis must be an int or a non-empty tuple of ints, got ()"),
    (lambda: Softmax(axis=1.0), "axis must be an int or a non-empty tuple of ints, got 1.0"),
    (lambda: Softmax(axis=(1, None)), "axis must be an int or a non-empty tuple of ints, got (1, None)"),
    (lambda: LeakyReLU(negative_slope=-0.1), "negative_slope must be a number >= 0"),
])
def test_bad_arguments_fail_at_construction(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert message in str(error.value)


def test_glorot_uniform_bounds_and_seeding():
    set_random_seed(4)
    a = np.asarray(initializers.GlorotUniform()((3, 3, 8, 16)))
    limit = np.sqrt(6 / (72 + 144))
    assert np.abs(a).max() <= limit and np.abs(a).max() > 0.95 * limit
    set_random_seed(4)
    np.testing.assert_array_equal(a, initializers.get("glorot_uniform")((3, 3, 8, 16)))
    np.testing.assert_array_equal(initializers.GlorotUniform(seed=1)((5, 5)), initializers.GlorotUniform(seed=1)((5, 5)))


def test_he_normal_is_truncated_with_keras_stddev():
    w = np.asarray(initializers.HeNormal(seed=0)((400, 300)), dtype=np.float64)
    stddev = np.sqrt(2 / 400)
    assert np.abs(w).max() <= 2 * stddev / 0.87962566103423978
    assert abs(w.std() / stddev - 1) < 0.02
    assert not np.asarray(initializers.get("zeros")((3, 2))).any()


@pytest.mark.parametrize("name, variance, uniform", [
    # Keras's: the variance each asks for on a (400, 300) kernel (fan_in 400, fan_out 300), and its shape
    ("glorot_normal", 2 / 700, False), ("he_uniform", 2 / 400, True), ("lecun_normal", 1 / 400, False),
    ("lecun_uniform", 1 / 400, True), ("random_normal", 0.05**2, False), ("random_uniform", 0.05**2 / 3, True),
    ("truncated_normal", 0.05**2 * 0.87962566103423978**2, False),
])
def test_every_keras_initializer_draws_its_variance(name, variance, uniform):
    w = np.asarray(initializers.get(name)((400, 300)), dtype=np.float64)
    assert abs(w.var() / variance - 1) < 0.03 and abs(w.mean()) < 0.1 * np.sqrt(variance)
    if uniform:  # on [-limit, limit], limit sqrt(3 variance)
        assert 0.99 * np.sqrt(3 * variance) < np.abs(w).max() <= np.sqrt(3 * variance)


def test_initializer_configs_round_trip_and_arguments_are_checked():
    for initializer in (initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal", seed=3),
                        initializers.HeUniform(seed=1), initializers.RandomNormal(0.5, 0.1, seed=2),
                        initializers.TruncatedNormal(stddev=0.2), initializers.RandomUniform(0, 1),
                        initializers.Constant(0.25), initializers.Zeros()):
        again = initializers.get({"class_name": type(initializer).__name__, "config": initializer.get_config()})
        assert type(again) is type(initializer) and again.get_config() == initializer.get_config()
    np.testing.assert_array_equal(initializers.get("constant")((2,)), [0.0, 0.0])
    np.testing.assert_array_equal(initializers.Constant(0.25)((2,)), [0.25, 0.25])
    with pytest.raises(ValueError, match="mode must be one of fan_in, fan_out, fan_avg"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="scale must be a number > 0"):
        initializers.VarianceScaling(scale=0)
    layer = Dense(4, kernel_initializer="he_uniform", bias_initializer=initializers.Constant(0.1))
    layer.build((None, 6))
    assert np.abs(layer.get_weights()[0]).max() <= np.sqrt(6 / 6) and np.allclose(layer.get_weights()[1], 0.1)


def test_rescaling_scales_in_inference_too_and_checks_its_channels():
    from cnn_gpu.layers import Rescaling

    layer = Rescaling([2.0, 0.5], offset=1.0)
    layer.build((None, 3, 2))
    x = np.arange(6, dtype=np.float32).reshape(1, 3, 2)
    np.testing.assert_array_equal(layer.forward(x), x * [2.0, 0.5] + 1.0)
    assert layer.forward(x).dtype == np.float32
    again = deserialize({"class_name": "Rescaling", "config": json.loads(json.dumps(layer.get_config()))})
    assert again.get_config() == layer.get_config()
    model = Sequential()
    with pytest.raises(ValueError, match="scale has 2 values for an input of 3 channels"):
        model.add(Rescaling([1.0, 2.0], input_shape=(4, 3)))
    with pytest.raises(ValueError, match="offset must be a number or a list of numbers"):
        Rescaling(1.0, offset="zero")


def test_layer_normalization_normalises_each_sample_alike_in_training_and_inference(rng):
    from cnn_gpu.layers import LayerNormalization

    layer = LayerNormalization(**F64)
    layer.build((None, 3, 6))
    assert list(layer.params) == ["gamma", "beta"] and layer.count_params() == 12
    x = rng.normal(5, 3, (4, 3, 6))
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), x.var(axis=-1) / (x.var(axis=-1) + 1e-3), rtol=1e-12)
    np.testing.assert_array_equal(layer.forward(x, training=False), y)
    with pytest.raises(ValueError, match="only axis=-1 \\(the last\\) is supported, got 1"):
        LayerNormalization(axis=1)


def test_embedding_has_keras_shapes_and_refuses_what_it_does_not_support():
    from cnn_gpu.layers import Embedding

    model = Sequential([Input((6,)), Embedding(10, 4)])
    assert model.output_shape == (None, 6, 4) and model.layers[0].params["embeddings"].shape == (10, 4)
    table = model.layers[0].params["embeddings"]
    assert np.abs(table).max() <= 0.05, "Keras's 'uniform': RandomUniform(-0.05, 0.05)"
    ids = np.array([[0, 9, 3, 3, 1, 2]])
    np.testing.assert_array_equal(model.predict(ids, verbose=0), table[ids])
    assert Embedding(10, 4).get_config()["output_dim"] == 4
    with pytest.raises(ValueError, match="mask_zero=True is not supported"):
        Embedding(10, 4, mask_zero=True)
    with pytest.raises(ValueError, match="input_dim must be a positive int, got 0"):
        Embedding(0, 4)


def test_prelu_learns_a_slope_per_element_or_shared(rng):
    """Keras's shapes (input_shape[1:], 1 along the shared axes), its zero start (a ReLU), x above 0 and
    alpha x below, and shared axes past the input named."""
    from cnn_gpu.layers import PReLU

    layer = PReLU(shared_axes=[1, 2], **F64)
    layer.build((None, 4, 3, 2))
    assert layer.params["alpha"].shape == (1, 1, 2) and not layer.params["alpha"].any()
    layer.params["alpha"][...] = [[[0.1, -2.0]]]
    x = rng.normal(size=(5, 4, 3, 2))
    np.testing.assert_array_equal(layer.forward(x), np.where(x > 0, x, x * np.array([0.1, -2.0])))
    per_element = PReLU(**F64)
    per_element.build((None, 4, 3))
    assert per_element.params["alpha"].shape == (4, 3)
    assert PReLU(shared_axes=1).get_config()["shared_axes"] == [1]
    with pytest.raises(ValueError, match="shared_axes \\[3\\] past the input's 3 axes"):
        Sequential([Input((4, 3)), PReLU(shared_axes=3)])
    with pytest.raises(ValueError, match="shared_axes must be axes >= 1"):
        PReLU(shared_axes=0)


def test_group_normalization_normalises_each_group_of_consecutive_channels(rng):
    """Two groups of three channels: each sample's group has mean 0 and variance var / (var + epsilon) over
    its positions and channels together; one group is the whole sample; a group per channel normalises
    each channel alone (instance normalization). Channels that do not divide into the groups are named."""
    from cnn_gpu.layers import GroupNormalization

    x = rng.normal(2, 3, (4, 5, 2, 6))
    for groups in (2, 1, 6):
        layer = GroupNormalization(groups=groups, **F64)
        layer.build((None, 5, 2, 6))
        y = layer.forward(x, training=True).reshape(4, 5, 2, groups, 6 // groups)
        grouped = x.reshape(4, 5, 2, groups, 6 // groups)
        variance = grouped.var(axis=(1, 2, 4))
        np.testing.assert_allclose(y.mean(axis=(1, 2, 4)), 0, atol=1e-12)
        np.testing.assert_allclose(y.var(axis=(1, 2, 4)), variance / (variance + 1e-3), rtol=1e-12)
    assert GroupNormalization(groups=3).get_config()["groups"] == 3
    with pytest.raises(ValueError, match="6 channels cannot be cut into 4 groups of equal size"):
        Sequential([Input((5, 6)), GroupNormalization(groups=4)])
    with pytest.raises(ValueError, match="groups must be a positive int, got 0"):
        GroupNormalization(groups=0)


def test_one_dimensional_layers_have_keras_shapes_weights_and_configs():
    from cnn_gpu.layers import AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D

    model = Sequential([Input((20, 3)), Conv1D(4, 3, padding="same"), MaxPooling1D(), Conv1D(5, 2, strides=2),
                        AveragePooling1D(3, padding="same"), GlobalMaxPooling1D(keepdims=True)])
    assert [layer.output_shape for layer in model.layers] == [(None, 20, 4), (None, 10, 4), (None, 5, 5),
                                                              (None, 2, 5), (None, 1, 5)]
    assert model.layers[0].params["kernel"].shape == (3, 3, 4) and model.count_params() == 40 + 45
    for layer in model.layers + [GlobalAveragePooling1D()]:
        again = deserialize({"class_name": type(layer).__name__, "config": json.loads(json.dumps(layer.get_config()))})
        assert again.get_config() == layer.get_config()
    assert model.layers[0].get_config()["kernel_size"] == [3] and model.layers[1].get_config()["pool_size"] == [2]
    with pytest.raises(ValueError, match="expects a 3-D input \\(batch, steps, channels\\)"):
        Sequential([Input((4, 4, 2)), Conv1D(2, 3)])


def test_the_1d_reshaping_layers_and_spatial_dropout_1d(rng):
    from cnn_gpu.layers import Cropping1D, SpatialDropout1D, UpSampling1D, ZeroPadding1D

    x = rng.uniform(-1, 1, (2, 5, 3))
    for layer, expected in ((UpSampling1D(2), np.repeat(x, 2, axis=1)),
                            (ZeroPadding1D((1, 2)), np.pad(x, ((0, 0), (1, 2), (0, 0)))),
                            (Cropping1D(2), x[:, 2:3])):
        layer.build((None, 5, 3))
        np.testing.assert_array_equal(layer.forward(x, training=False), expected)
        again = deserialize({"class_name": type(layer).__name__, "config": json.loads(json.dumps(layer.get_config()))})
        assert again.get_config() == layer.get_config()
    dropout = SpatialDropout1D(0.5, seed=2)
    dropout.build((None, 50, 8))
    y = dropout.forward(np.ones((4, 50, 8)), training=True)
    assert np.all((y == y[:, :1]))  # one draw per sequence and channel, shared by every step
    assert 0 < (y[:, 0] == 0).mean() < 1
    with pytest.raises(ValueError, match=r"padding must be an int or a pair of ints >= 0, got \(1, -1\)"):
        ZeroPadding1D((1, -1))


def test_causal_conv1d_sees_no_later_step_and_is_a_valid_convolution_after_zeros(rng):
    from cnn_gpu.layers import Conv1D

    layer = Conv1D(3, 3, padding="causal", dilation_rate=2, dtype="float64")
    assert layer.compute_output_shape((None, 11, 2)) == (None, 11, 3) and layer.get_config()["padding"] == "causal"
    layer.build((None, 11, 2))
    x = rng.uniform(-1, 1, (2, 11, 2))
    y = layer.forward(x, training=False)
    later = x.copy()
    later[:, 6:] += 1.0  # steps 6 and on changed: outputs 0 to 5 stay
    np.testing.assert_array_equal(layer.forward(later, training=False)[:, :6], y[:, :6])
    valid = Conv1D(3, 3, dilation_rate=2, dtype="float64")
    valid.build((None, 15, 2))
    valid.params["kernel"][...], valid.params["bias"][...] = layer.params["kernel"], layer.params["bias"]
    np.testing.assert_allclose(y, valid.forward(np.pad(x, ((0, 0), (4, 0), (0, 0))), training=False), rtol=1e-14)
    strided = Conv1D(2, 4, strides=3, padding="causal")
    assert strided.compute_output_shape((None, 10, 2)) == (None, 4, 2)  # ceil(10 / 3), as Keras


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert to_categorical(np.array([[1], [3]])).shape == (2, 4)
    with pytest.raises(ValueError, match="out of range for num_classes=3"):
        to_categorical([3], 3)


def test_permute_repeat_vector_and_identity_shapes_values_and_errors(rng):
    from cnn_gpu.layers import Identity, Permute, RepeatVector

    x = rng.uniform(-1, 1, (2, 3, 4, 5))
    permute = Permute((3, 1, 2))
    assert permute.compute_output_shape((None, 3, 4, 5)) == (None, 5, 3, 4)
    permute.build((None, 3, 4, 5))
    np.testing.assert_array_equal(permute.forward(x, training=False), x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(permute.backward(x.transpose(0, 3, 1, 2)), x)
    repeat = RepeatVector(3)
    repeat.build((None, 5))
    v = rng.uniform(-1, 1, (2, 5))
    np.testing.assert_array_equal(repeat.forward(v, training=False), np.stack([v] * 3, axis=1))
    np.testing.assert_array_equal(Identity().forward(v, training=False), v)
    with pytest.raises(ValueError, match=r"dims must be a permutation of 1 .. n"):
        Permute((0, 1))
    with pytest.raises(ValueError, match=r"reorder 2 axes, but the input \(None, 3, 4, 5\) has 3"):
        Permute((2, 1)).compute_output_shape((None, 3, 4, 5))


def test_normalization_adapts_to_data_and_keeps_keras_weights(rng, tmp_path):
    from cnn_gpu.layers import Normalization
    from cnn_gpu.models import load_model

    x = rng.uniform(1, 4, (40, 3, 5)).astype(np.float32)
    layer = Normalization(axis=1)
    layer.adapt(x)
    np.testing.assert_allclose(layer.params["mean"], x.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(layer.params["variance"], x.var(axis=(0, 2)), rtol=1e-5)
    assert float(layer.params["count"]) == 40 * 5
    y = layer.forward(x, training=False)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2)), 1, rtol=1e-4)
    model = Sequential([Input((3, 5)), layer, Flatten(), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    assert [w.shape for w in model.get_weights()[:3]] == [(3,), (3,), ()]
    model.save(tmp_path / "normalized.cnn")
    again = load_model(tmp_path / "normalized.cnn")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    from cnn_gpu.utils import PyDataset

    class Parts(PyDataset):  # x in uneven batches, with labels beside
        def __len__(self):
            return 3

        def __getitem__(self, index):
            part = x[[slice(0, 7), slice(7, 30), slice(30, 40)][index]]
            return part, np.zeros(len(part))

    for data in (Parts(), (part for part in (x[:25], x[25:]))):
        batched = Normalization(axis=1)
        batched.adapt(data)
        for name in ("mean", "variance", "count"):
            np.testing.assert_allclose(batched.params[name], layer.params[name], rtol=1e-6)
    fresh = Normalization()
    fresh.build((None, 4))
    ones = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(fresh.forward(ones, training=False), ones)  # not adapted yet: the identity
    with pytest.raises(ValueError, match="give mean and variance together"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="nothing to adapt"):
        Normalization(mean=1.0, variance=2.0).adapt(x)
