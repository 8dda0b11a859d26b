"""The batch normalization reference of cnn_gpu.ops.batchnorm: its gradients by central differences
(to x, gamma and beta, with the batch's statistics and with the moving ones) and its argument checks.
The kernels are checked against it in test_batchnorm_kernels.py."""

import numpy as np
import pytest

from cnn_gpu import gradcheck
from cnn_gpu.ops.batchnorm import batch_norm_backward, batch_norm_forward


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape, with_gamma", [((5, 3), True), ((2, 3, 4, 2), True), ((4, 3), False)])
def test_gradients_by_central_differences(rng, shape, with_gamma, training):
    x = rng.normal(1, 2, shape)
    channels = shape[-1]
    gamma = rng.uniform(0.5, 2, channels) if with_gamma else None
    beta = rng.uniform(-1, 1, channels)
    moving = rng.normal(size=channels), rng.uniform(0.5, 2, channels)

    def forward(x_, gamma_=gamma, beta_=beta):
        return batch_norm_forward(x_, gamma_, beta_, *(m.copy() for m in moving), 0.9, 1e-3, training)[0]

    dy = rng.standard_normal(shape)
    _, statistics = batch_norm_forward(x, gamma, beta, *(m.copy() for m in moving), 0.9, 1e-3, training)
    dx, dgamma, dbeta = batch_norm_backward(x, dy, gamma, statistics)
    gradcheck.check_gradient(gradcheck.op_scalar(forward, dy), x, dx, "dx")
    gradcheck.check_gradient(gradcheck.op_scalar(lambda b: forward(x, beta_=b), dy), beta.copy(), dbeta, "dbeta")
    if with_gamma:
        gradcheck.check_gradient(gradcheck.op_scalar(lambda g: forward(x, gamma_=g), dy), gamma.copy(), dgamma,
                                 "dgamma")


def test_bad_arguments_name_what_is_wrong():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="batch axis and a channel axis"):
        batch_norm_forward(np.ones(3), None, None, np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="moving_variance must have x's channel count"):
        batch_norm_forward(x, None, None, np.zeros(3), np.ones(4))
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        batch_norm_forward(x.astype(np.int32), None, None, np.zeros(3), np.ones(3))
    moving = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="x must not be empty"):
        batch_norm_forward(x[:0], None, None, *moving, training=True)
    assert np.array_equal(moving[0], np.zeros(3)), "an empty batch moved nothing"
