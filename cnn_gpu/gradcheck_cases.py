"""One small float64 case for every registered layer and loss (and the seed model's shape), checked
with ``cnn_gpu.gradcheck``; ``cnn-gpu gradcheck`` prints the outcome as a table.

Cases are keyed by registered class name, so a layer or loss registered without a case shows up as
"no case" in the table (and fails the test that runs them) instead of passing unseen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cnn_gpu import gradcheck, layers, losses
from cnn_gpu.utils import to_categorical

F64 = {"dtype": "float64"}
# Layers with nothing to differentiate.
NO_GRADIENT = {"InputLayer"}

LAYER_CASES = {
    # class name -> [(constructor arguments, input shape)], or (arguments, shape, training) for a case
    # checked in training mode (inference mode otherwise), or (..., training, make the input from rng and shape)
    "Conv2D": [(dict(filters=3, kernel_size=3, activation="relu"), (2, 7, 6, 2)),
               (dict(filters=2, kernel_size=(3, 2), strides=2, padding="same"), (2, 7, 6, 2)),
               (dict(filters=2, kernel_size=3, dilation_rate=2), (1, 8, 7, 2))],
    "Conv2DTranspose": [(dict(filters=3, kernel_size=3, strides=2, padding="same", activation="relu"), (2, 3, 4, 2)),
                        (dict(filters=2, kernel_size=(2, 3), strides=3), (1, 3, 2, 3)),
                        (dict(filters=2, kernel_size=2, dilation_rate=2, use_bias=False), (2, 3, 3, 2))],
    "DepthwiseConv2D": [(dict(kernel_size=3, activation="relu"), (2, 6, 5, 3)),
                        (dict(kernel_size=(2, 3), strides=2, padding="same", depth_multiplier=2), (2, 7, 6, 2)),
                        (dict(kernel_size=2, dilation_rate=2, use_bias=False), (1, 6, 7, 3))],
    "SeparableConv2D": [(dict(filters=3, kernel_size=3, activation="relu"), (2, 6, 5, 2)),
                        (dict(filters=2, kernel_size=2, strides=2, padding="same", depth_multiplier=2), (1, 5, 6, 3))],
    # The merge layers take a list of inputs: a list of shapes.
    "Add": [(dict(), [(2, 3, 4, 2)] * 2), (dict(), [(3, 5)] * 3), (dict(), [(2, 3, 4, 2), (2, 1, 1, 2)])],
    # Broadcast too: a gate of one value a channel (a squeeze-and-excitation block's), a row of one.
    "Subtract": [(dict(), [(2, 3, 4, 2), (2, 1, 4, 2)])],
    "Multiply": [(dict(), [(2, 3, 4, 2), (2, 1, 1, 2)]), (dict(), [(3, 5)] * 3)],
    "Average": [(dict(), [(3, 5), (3, 1), (3, 5)])],
    "Maximum": [(dict(), [(3, 5)] * 3), (dict(), [(2, 3, 4, 2), (2, 1, 1, 2)])],
    "Minimum": [(dict(), [(3, 5), (3, 5)])],
    "Concatenate": [(dict(), [(2, 3, 4, 2), (2, 3, 4, 3)]), (dict(axis=1), [(2, 2, 5), (2, 4, 5), (2, 1, 5)])],
    "UpSampling2D": [(dict(), (2, 3, 2, 2)), (dict(size=(1, 3)), (1, 2, 3, 2)),
                     (dict(size=(2, 3), interpolation="bilinear"), (2, 3, 2, 2))],
    "ZeroPadding2D": [(dict(), (2, 3, 2, 2)), (dict(padding=((0, 2), (1, 0))), (1, 2, 3, 2))],
    "Resizing": [(dict(height=3, width=7), (2, 5, 4, 2)),
                 (dict(height=4, width=2, crop_to_aspect_ratio=True), (1, 5, 6, 2)),
                 (dict(height=6, width=3, pad_to_aspect_ratio=True, fill_value=0.5), (1, 4, 5, 2)),
                 (dict(height=7, width=2, interpolation="nearest", crop_to_aspect_ratio=True), (2, 5, 6, 2))],
    "CenterCrop": [(dict(height=3, width=2), (2, 5, 4, 2)), (dict(height=6, width=3), (1, 4, 5, 2))],
    # Inference: the centred window of the target's aspect ratio, resized (training's in test_affine_transform).
    "RandomCrop": [(dict(height=3, width=4, seed=1), (2, 5, 6, 2))],
    "Cropping2D": [(dict(cropping=1), (2, 4, 3, 2)), (dict(cropping=((0, 2), (1, 0))), (1, 4, 3, 2))],
    "Conv1D": [(dict(filters=3, kernel_size=3, activation="relu"), (2, 7, 2)),
               (dict(filters=2, kernel_size=2, strides=2, padding="same", dilation_rate=1), (2, 7, 3)),
               (dict(filters=2, kernel_size=3, dilation_rate=2), (1, 9, 2)),
               (dict(filters=2, kernel_size=3, padding="causal", dilation_rate=2), (2, 7, 2))],
    "Conv1DTranspose": [(dict(filters=2, kernel_size=3, strides=2, padding="same", activation="relu"), (2, 4, 3))],
    "DepthwiseConv1D": [(dict(kernel_size=3, depth_multiplier=2, dilation_rate=2), (2, 8, 2))],
    "SeparableConv1D": [(dict(filters=3, kernel_size=2, strides=2, padding="same"), (2, 7, 2))],
    "UpSampling1D": [(dict(size=3), (2, 4, 2))],
    "ZeroPadding1D": [(dict(padding=(2, 1)), (2, 4, 2))],
    "Cropping1D": [(dict(cropping=(1, 2)), (2, 6, 2))],
    "SpatialDropout1D": [(dict(rate=0.3, seed=1), (2, 4, 3))],  # inference; training in test_layers
    "MaxPooling1D": [(dict(), (2, 6, 3)), (dict(pool_size=3, strides=2, padding="same"), (1, 7, 2))],
    "AveragePooling1D": [(dict(), (2, 6, 3)), (dict(pool_size=3, strides=2, padding="same"), (1, 7, 2))],
    "GlobalMaxPooling1D": [(dict(), (2, 5, 3)), (dict(keepdims=True), (1, 4, 2))],
    "GlobalAveragePooling1D": [(dict(), (2, 5, 3)), (dict(keepdims=True), (1, 4, 2))],
    "MaxPooling2D": [(dict(pool_size=2), (2, 6, 6, 3)),
                     (dict(pool_size=3, strides=2, padding="same"), (1, 7, 5, 2))],
    "AveragePooling2D": [(dict(pool_size=2), (2, 6, 6, 3)),
                         (dict(pool_size=3, strides=2, padding="same"), (1, 7, 5, 2))],
    "Dense": [(dict(units=4, activation=a), (3, 5)) for a in (None, "relu", "softmax")]
             + [(dict(units=3, activation="relu"), (2, 3, 4))],  # over the last axis of a 3-D input
    "Activation": [(dict(activation=a), (3, 6)) for a in ("relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu",
                                                          "leaky_relu", "softplus", "softsign", "gelu", "swish",
                                                          "relu6", "hard_sigmoid", "hard_silu", "mish",
                                                          "exponential")],
    "Flatten": [(dict(), (2, 3, 4, 2))],
    "Reshape": [(dict(target_shape=(4, -1, 2)), (2, 24))],
    "Permute": [(dict(dims=(2, 3, 1)), (2, 3, 4, 2)), (dict(dims=(2, 1)), (3, 4, 5))],
    "RepeatVector": [(dict(n=3), (2, 4))],
    "Identity": [(dict(), (2, 3))],
    # Keras's other arguments too: kinks at 0.3 and 0.6 (the random inputs miss them), a negative alpha,
    # softmax over a middle axis and over two axes together.
    "ReLU": [(dict(), (3, 6)), (dict(max_value=0.6, negative_slope=0.2, threshold=0.3), (3, 7)),
             (dict(negative_slope=0.1, threshold=0.3), (2, 5)), (dict(max_value=0.6), (2, 5))],
    "ELU": [(dict(), (3, 6)), (dict(alpha=0.5), (3, 6)), (dict(alpha=-1.5), (2, 5))],
    "Softmax": [(dict(), (3, 6)), (dict(axis=1), (2, 3, 4)), (dict(axis=(1, -1)), (2, 3, 2, 4))],
    "LeakyReLU": [(dict(), (3, 6)), (dict(negative_slope=0.0), (2, 5))],
    "Dropout": [(dict(rate=0.3, seed=1), (4, 7))],  # inference mode: a training mask is random
    "SpatialDropout2D": [(dict(rate=0.3, seed=1), (2, 3, 3, 2))],  # the same (test_layers fixes a mask)
    # The same: inference is the identity (test_noise_layers checks training through fixed draws).
    "GaussianNoise": [(dict(stddev=0.3, seed=1), (3, 4))],
    "GaussianDropout": [(dict(rate=0.3, seed=1), (3, 4))],
    "RandomFlip": [(dict(seed=1), (2, 3, 4, 2))],  # inference mode too (the identity); flips in test_augment
    # The same: inference is the identity; each layer's training maps in test_affine_transform.
    "RandomTranslation": [(dict(height_factor=0.2, width_factor=0.3, seed=1), (2, 4, 5, 2))],
    "RandomRotation": [(dict(factor=0.1, seed=1), (2, 4, 5, 2))],
    "RandomZoom": [(dict(height_factor=0.2, seed=1), (2, 4, 5, 2))],
    "RandomContrast": [(dict(factor=0.2, seed=1), (2, 4, 5, 2))],  # training in test_augment
    "RandomBrightness": [(dict(factor=0.2, seed=1), (2, 4, 5, 2))],
    "Rescaling": [(dict(scale=0.5, offset=-0.1), (2, 3)), (dict(scale=[2.0, -1.0], offset=[0.0, 1.0]), (2, 3, 2))],
    "GlobalMaxPooling2D": [(dict(), (2, 5, 4, 3))],
    "GlobalAveragePooling2D": [(dict(), (2, 5, 4, 3)), (dict(keepdims=True), (1, 3, 6, 2))],
    # Training normalises by the batch's statistics (dx goes through them); inference by the moving ones.
    "LayerNormalization": [(dict(), (3, 5)), (dict(center=False, epsilon=0.1), (2, 3, 4)), (dict(scale=False), (2, 4))],
    # Ids, each several times in the batch, so that the table's gradient adds rows up.
    "Embedding": [(dict(input_dim=5, output_dim=3), (4, 6), False, lambda r, shape: r.integers(0, 5, shape))],
    "PReLU": [(dict(alpha_initializer="random_normal"), (3, 4, 2)),
              (dict(alpha_initializer="random_normal", shared_axes=[1, 2]), (2, 3, 4, 2))],
    "GroupNormalization": [(dict(groups=2), (2, 3, 2, 4)), (dict(groups=3, center=False), (3, 5, 6)),
                           (dict(groups=1, scale=False), (2, 4))],
    "Normalization": [(dict(), (3, 5)), (dict(axis=None, invert=True), (2, 3, 4)),
                      (dict(axis=1, mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]), (2, 3, 4))],
    "BatchNormalization": [(dict(), (3, 4, 5, 3), True), (dict(), (6, 4), True),
                           (dict(center=False, momentum=0.5), (5, 3), True), (dict(scale=False), (2, 3, 3, 2), False)],
}


def _probabilities(rng, shape):
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


def _one_hot(rng, n=4, classes=3):
    return to_categorical(rng.integers(0, classes, n), classes)


LOSS_CASES = {
    # class name -> [(description, the loss's arguments, logits, make y_true, make y_pred)]
    "CategoricalCrossentropy": [
        ("probabilities", {}, False, _one_hot, lambda r: _probabilities(r, (4, 3))),
        ("logits", {}, True, _one_hot, lambda r: r.normal(size=(4, 3))),
        # a class for each pixel: the rows of the last axis
        ("logits per pixel", {}, True, lambda r: to_categorical(r.integers(0, 3, (2, 2, 3)), 3),
         lambda r: r.normal(size=(2, 2, 3, 3))),
        ("smoothed labels", dict(label_smoothing=0.2), True, _one_hot, lambda r: r.normal(size=(4, 3)))],
    "SparseCategoricalCrossentropy": [
        ("probabilities", {}, False, lambda r: r.integers(0, 3, 4), lambda r: _probabilities(r, (4, 3))),
        ("logits", {}, True, lambda r: r.integers(0, 3, 4), lambda r: r.normal(size=(4, 3))),
        ("probabilities per pixel", {}, False, lambda r: r.integers(0, 3, (2, 3, 2)),
         lambda r: _probabilities(r, (2, 3, 2, 3)))],
    "BinaryCrossentropy": [
        ("probabilities", {}, False, lambda r: r.integers(0, 2, (4, 2)).astype(float),
         lambda r: r.uniform(0.05, 0.95, (4, 2))),
        ("logits, smoothed labels", dict(from_logits=True, label_smoothing=0.1), False,
         lambda r: r.integers(0, 2, (4, 2)).astype(float), lambda r: r.normal(0, 3, (4, 2)))],
    "BinaryFocalCrossentropy": [
        ("probabilities", {}, False, lambda r: r.integers(0, 2, (4, 2)).astype(float),
         lambda r: r.uniform(0.05, 0.95, (4, 2))),
        ("logits, balanced, gamma 3", dict(apply_class_balancing=True, gamma=3.0, from_logits=True), False,
         lambda r: r.integers(0, 2, (4, 2)).astype(float), lambda r: r.normal(0, 2, (4, 2)))],
    "MeanSquaredError": [("", {}, False, lambda r: r.normal(size=(4, 2)), lambda r: r.normal(size=(4, 2))),
                         ("per pixel", {}, False, lambda r: r.normal(size=(2, 3, 2, 2)),
                          lambda r: r.normal(size=(2, 3, 2, 2)))],
    "MeanAbsoluteError": [("", {}, False, lambda r: r.normal(size=(4, 2)), lambda r: r.normal(size=(4, 2)))],
    "Huber": [("", {}, False, lambda r: r.normal(size=(4, 3)), lambda r: r.normal(size=(4, 3)))],
    "Hinge": [("0/1 labels", {}, False, lambda r: r.integers(0, 2, (4, 3)).astype(float),
               lambda r: r.normal(size=(4, 3)))],
    "SquaredHinge": [("-1/1 labels", {}, False, lambda r: r.choice([-1.0, 1.0], (4, 3)),
                      lambda r: r.normal(size=(4, 3)))],
    "LogCosh": [("", {}, False, lambda r: r.normal(size=(4, 3)), lambda r: r.normal(0, 3, (4, 3)))],
    "Poisson": [("", {}, False, lambda r: r.integers(0, 4, (4, 3)).astype(float), lambda r: r.uniform(0.2, 3, (4, 3)))],
    "KLDivergence": [("", {}, False, lambda r: _probabilities(r, (4, 3)), lambda r: _probabilities(r, (4, 3)))],
    "MeanAbsolutePercentageError": [("", {}, False, lambda r: r.normal(size=(4, 3)), lambda r: r.normal(size=(4, 3)))],
    "MeanSquaredLogarithmicError": [("", {}, False, lambda r: r.uniform(0, 3, (4, 3)),
                                     lambda r: r.uniform(0.1, 3, (4, 3)))],
}


@dataclass
class Outcome:
    kind: str  # layer, loss or model
    name: str
    case: str
    passed: bool | None  # None: nothing was checked
    detail: str
    seconds: float


def _timed(kind, name, case, check):
    start = time.perf_counter()
    try:
        check()
    except AssertionError as error:
        return Outcome(kind, name, case, False, str(error), time.perf_counter() - start)
    return Outcome(kind, name, case, True, "", time.perf_counter() - start)


def _describe(kwargs, shape, training):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"({args}) on {shape}" + (", training" if training else "")


def _check_layer(cls, kwargs, shape, training, seed, make_input=None):
    def check():
        rng = np.random.default_rng(seed)
        layer = cls(**kwargs, **F64)
        shapes = shape if layer.TAKES_LIST else [shape]
        built = [(None, *s[1:]) for s in shapes]
        layer.build(built if layer.TAKES_LIST else built[0])
        for name, weight in layer.params.items():  # random, not the zero biases layers start with
            # (a frozen weight is a statistic, such as a variance, which must stay positive)
            weight[...] = rng.uniform(0.5, 2, weight.shape) if name in layer.frozen_params else rng.uniform(
                -1, 1, weight.shape)
        xs = [rng.uniform(-1, 1, s) if make_input is None else make_input(rng, s) for s in shapes]
        gradcheck.check_layer(layer, xs if layer.TAKES_LIST else xs[0], training=training)
    return check


def _check_loss(cls, kwargs, logits, make_true, make_pred, seed):
    def check():
        rng = np.random.default_rng(seed)
        gradcheck.check_loss(cls(**kwargs), make_true(rng), make_pred(rng), logits=logits)
    return check


def _check_seed_model(seed):
    """The seed model's layer sequence at a small size, checked end to end with its loss."""
    from cnn_gpu.models import Sequential

    rng = np.random.default_rng(seed)
    model = Sequential([
        layers.Conv2D(2, (3, 3), activation="relu", input_shape=(6, 6, 1), **F64),
        layers.MaxPooling2D((2, 2), **F64), layers.Flatten(**F64),
        layers.Dense(4, activation="relu", **F64), layers.Dense(3, activation="softmax", **F64)])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.build((None, 6, 6, 1))
    for weight in model.weights:
        weight[...] = rng.uniform(-1, 1, weight.shape)
    gradcheck.check_model(model, rng.uniform(0, 1, (3, 6, 6, 1)), _one_hot(rng, 3))


def _check_residual_model(seed):
    """A functional Model with a residual connection and a concatenation: the input's and the stem's
    gradients each added up from two layers, checked end to end with its loss."""
    from cnn_gpu.models import Model

    rng = np.random.default_rng(seed)
    inputs = layers.Input((5, 5, 2), dtype="float64")
    stem = layers.Conv2D(3, 3, padding="same", activation="tanh", **F64)(inputs)
    branch = layers.Conv2D(3, 3, padding="same", **F64)(stem)
    merged = layers.Concatenate(**F64)([layers.Add(**F64)([stem, branch]), layers.Conv2D(2, 1, **F64)(inputs)])
    outputs = layers.Dense(3, activation="softmax", **F64)(layers.GlobalAveragePooling2D(**F64)(merged))
    model = Model(inputs, outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    for weight in model.weights:
        weight[...] = rng.uniform(-1, 1, weight.shape)
    gradcheck.check_model(model, rng.uniform(0, 1, (3, 5, 5, 2)), _one_hot(rng, 3))


def run_all(seed: int = 0) -> list[Outcome]:
    outcomes = []
    for name, cls in sorted(layers.LAYERS.classes.items()):
        if name in NO_GRADIENT:
            continue
        if name not in LAYER_CASES:
            outcomes.append(Outcome("layer", name, "", None, "no case: add one to LAYER_CASES", 0.0))
        for case in LAYER_CASES.get(name, []):
            kwargs, shape, training, make_input = (*case, *(False, None)[len(case) - 2:])
            outcomes.append(_timed("layer", name, _describe(kwargs, shape, training),
                                   _check_layer(cls, kwargs, shape, training, seed, make_input)))
    for name, cls in sorted(losses.LOSSES.classes.items()):
        if name not in LOSS_CASES:
            outcomes.append(Outcome("loss", name, "", None, "no case: add one to LOSS_CASES", 0.0))
        for case, kwargs, logits, make_true, make_pred in LOSS_CASES.get(name, []):
            outcomes.append(_timed("loss", name, case, _check_loss(cls, kwargs, logits, make_true, make_pred, seed)))
    outcomes.append(_timed("model", "Sequential", "seed model layers, 6x6x1 input",
                           lambda: _check_seed_model(seed)))
    outcomes.append(_timed("model", "Model", "a residual Add and a Concatenate, 5x5x2 input",
                           lambda: _check_residual_model(seed)))
    return outcomes
