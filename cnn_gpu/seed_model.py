"""The seed model of issue 3 and its input preparation, written once for any Keras-like framework.

``build(framework)`` takes a package with ``models.Sequential`` and ``layers.*`` (``cnn_gpu`` or
``keras``), so the CLI and the accuracy and speed comparisons train exactly the same network.
"""

from __future__ import annotations

import importlib

import numpy as np

CLASSES = 10


def build(framework=None, input_shape=(28, 28, 1), batch_norm=False):
    """The compiled seed model: Conv2D(32, 3x3) - MaxPool(2) - Dense(64) - Dense(10, softmax). With
    ``batch_norm``, the convolution (without its bias, which the normalization would subtract again)
    is followed by BatchNormalization and then the ReLU: the block most small CNNs repeat."""
    if framework is None:
        framework = importlib.import_module("cnn_gpu")
    models = importlib.import_module(f"{framework.__name__}.models")
    layers = importlib.import_module(f"{framework.__name__}.layers")
    model = models.Sequential()
    if batch_norm:
        model.add(layers.Conv2D(32, (3, 3), use_bias=False, input_shape=input_shape))
        model.add(layers.BatchNormalization())
        model.add(layers.Activation("relu"))
    else:
        model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=input_shape))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(CLASSES, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def prepare(images: np.ndarray, labels: np.ndarray):
    """uint8 images and class ids -> float32 NHWC in [0, 1] and float32 one-hot labels."""
    x = images.astype(np.float32) / 255.0
    if x.ndim == 3:  # grayscale (N, H, W): add the channel axis Conv2D expects
        x = x[..., None]
    return x, np.eye(CLASSES, dtype=np.float32)[labels]
