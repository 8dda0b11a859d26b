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
