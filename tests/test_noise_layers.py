"""GaussianNoise and GaussianDropout (layers/noise.py): the noise's statistics on every backend (the
numpy backend's draws from the layer's generator, the kernel backends' from Philox on the device),
the identity in inference, the gradient through the same draws, configs and bad arguments."""

import json

import numpy as np
import pytest

from cnn_gpu import backend, gradcheck
from cnn_gpu.layers import GaussianDropout, GaussianNoise, deserialize
from helpers import to_host


class SameDraws:
    """Mixed in before a noise layer: the same draws on every call, so that central differences through
    it are meaningful."""

    def call(self, x, training):
        self.generator = np.random.default_rng(self.seed)
        return super().call(x, training)


@pytest.mark.parametrize("name", ["numpy", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_the_noise_has_its_mean_and_spread_and_inference_is_the_identity(fresh_backend, name):
    ours = backend.set_backend(name)
    x = np.full((200, 50, 3), 2.0, np.float32)
    for layer, mean, spread in ((GaussianNoise(0.5, seed=1), 2.0, 0.5),
                                (GaussianDropout(0.2, seed=1), 2.0, 2.0 * np.sqrt(0.2 / 0.8))):
        y = to_host(layer.forward(ours.asarray(x), training=True))
        # Within four standard errors of the mean's and of the spread's estimates (30,000 draws).
        assert abs(y.mean() - mean) < 4 * spread / np.sqrt(y.size), type(layer).__name__
        assert abs(y.std() - spread) < 4 * spread / np.sqrt(2 * y.size), type(layer).__name__
        second = to_host(layer.forward(ours.asarray(x), training=True))
        assert not np.array_equal(second, y), "each call draws anew"
        np.testing.assert_array_equal(to_host(layer.forward(ours.asarray(x), training=False)), x)


@pytest.mark.parametrize("name", ["numpy", "emulate"])
@pytest.mark.parametrize("cls, argument", [(GaussianNoise, 0.3), (GaussianDropout, 0.4)])
def test_the_gradient_goes_back_through_the_same_draws(rng, fresh_backend, name, cls, argument):
    backend.set_backend(name)
    layer = type(f"Same{cls.__name__}", (SameDraws, cls), {})(argument, seed=3, dtype="float64")
    layer.build((None, 4, 5))
    gradcheck.check_layer(layer, rng.uniform(-1, 1, (3, 4, 5)), training=True)


def test_configs_come_back_and_bad_arguments_are_named():
    for layer in (GaussianNoise(0.25, seed=4), GaussianDropout(0.1)):
        again = deserialize({"class_name": type(layer).__name__, "config": json.loads(json.dumps(layer.get_config()))})
        assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="stddev must be a number >= 0, got -1"):
        GaussianNoise(-1)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\), got 1"):
        GaussianDropout(1)
