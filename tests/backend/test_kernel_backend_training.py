"""The seed model trained on the kernels (emulated, or on the GPU) against the same training on the
numpy backend.

The op tests check each kernel alone; this checks them as the layers call them, step after step
(the layouts the layers hand over, what each backward pass receives, the optimizer on the kernels'
gradients), as `cnn-gpu train` runs them on a GPU.
"""

import numpy as np
import pytest

from cnn_gpu import backend, seed_model
from cnn_gpu.utils import set_random_seed


@pytest.fixture(autouse=True)
def fresh_choice(monkeypatch):
    monkeypatch.setattr(backend, "_current", None)


def train(name, x, y):
    """The seed model's weights and loss after one epoch at batch 8 on backend ``name``."""
    backend.set_backend(name)
    set_random_seed(0)
    model = seed_model.build()
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return model.get_weights(), history.history["loss"][0]


@pytest.mark.parametrize("kernels", ["emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_seed_model_trains_on_the_kernels_as_on_numpy(rng, kernels):
    x = rng.uniform(0, 1, (24, 28, 28, 1)).astype(np.float32)
    y = np.eye(seed_model.CLASSES, dtype=np.float32)[rng.integers(0, seed_model.CLASSES, 24)]
    numpy_weights, numpy_loss = train("numpy", x, y)
    kernel_weights, kernel_loss = train(kernels, x, y)
    assert abs(kernel_loss - numpy_loss) <= 1e-5 * abs(numpy_loss)
    # Element by element, to 1% of an Adam step (lr = 1e-3) or a relative 1e-4: a bias starts at zero,
    # so its norm after three steps is too small to judge rounding against.
    for i, (ours, reference) in enumerate(zip(kernel_weights, numpy_weights)):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5,
                                   err_msg=f"weight {i} ({reference.shape}) drifted from the numpy backend's")


def test_a_layer_without_a_bias_asks_the_kernels_for_no_bias_gradient(rng, monkeypatch):
    from cnn_gpu.backend.kernel_backend import KernelBackend
    from cnn_gpu.layers import Conv2D, Dense

    summed = []
    original = KernelBackend._bias_gradient
    monkeypatch.setattr(KernelBackend, "_bias_gradient", lambda self, dy: summed.append(dy.shape) or original(self, dy))
    backend.set_backend("emulate")
    for use_bias in (False, True):
        for layer, x in ((Dense(3, use_bias=use_bias), rng.uniform(-1, 1, (4, 5))),
                         (Conv2D(2, 3, use_bias=use_bias), rng.uniform(-1, 1, (2, 5, 5, 1)))):
            layer.build((None, *x.shape[1:]))
            y = layer.forward(backend.get_backend().asarray(x, np.float32), training=True)
            layer.backward(backend.get_backend().asarray(np.ones(y.shape), np.float32))
            assert ("bias" in layer.grads) == use_bias
    assert summed == [(4, 3), (2, 3, 3, 2)], "a column sum for each layer with a bias, none without"


def test_the_loss_with_weight_penalties_is_the_numpy_backends(rng):
    """compute_loss reads the loss and every penalty back at once; the sum is the numpy backend's."""
    from cnn_gpu.layers import Dense, Input
    from cnn_gpu.models import Sequential

    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    losses = {}
    for name in ("numpy", "emulate"):
        backend.set_backend(name)
        set_random_seed(0)
        model = Sequential([Input((5,)), Dense(4, activation="relu", kernel_regularizer="l2"),
                            Dense(3, activation="softmax", kernel_regularizer="l2", bias_regularizer="l2")])
        model.compile("adam", "categorical_crossentropy")
        losses[name] = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]
    np.testing.assert_allclose(losses["emulate"], losses["numpy"], rtol=1e-5)


@pytest.mark.parametrize("kernels", ["emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_batch_normalization_and_global_pooling_train_on_the_kernels_as_on_numpy(rng, kernels):
    """A small CNN of the layers beyond the seed model's (batch normalization after a convolution and
    after a Dense layer, global average pooling), its weights and moving statistics after one epoch.
    SGD, not Adam: a normalization makes some gradients 0 but for rounding (the bias of the layer before
    it, any weight whose effect it subtracts again with the batch mean), and Adam would turn each into a
    full step of either sign."""
    from cnn_gpu.layers import (Activation, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input,
                                MaxPooling2D)
    from cnn_gpu.models import Sequential

    x = rng.uniform(0, 1, (24, 12, 12, 1)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 24)]
    results = {}
    for name in ("numpy", kernels):
        backend.set_backend(name)
        set_random_seed(0)
        model = Sequential([Input((12, 12, 1)), Conv2D(6, 3, use_bias=False), BatchNormalization(),
                            Activation("relu"), MaxPooling2D(), Conv2D(8, 3, activation="relu"),
                            GlobalAveragePooling2D(), Dense(7, use_bias=False), BatchNormalization(momentum=0.5),
                            Dense(5, activation="softmax")])
        model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        results[name] = model.get_weights(), history.history["loss"][0], model.evaluate(x, y, verbose=0)
    (kernel_weights, kernel_loss, kernel_eval), (numpy_weights, numpy_loss, numpy_eval) = (
        results[kernels], results["numpy"])
    assert abs(kernel_loss - numpy_loss) <= 1e-5 * abs(numpy_loss)
    np.testing.assert_allclose(kernel_eval, numpy_eval, rtol=1e-4)
    for i, (ours, reference) in enumerate(zip(kernel_weights, numpy_weights)):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5,
                                   err_msg=f"weight {i} ({reference.shape}) drifted from the numpy backend's")
