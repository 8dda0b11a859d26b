"""The references are array-module generic: on CuPy arrays they give what they give on NumPy arrays.

This is what the ``cuda`` backend relies on for every op whose kernel has not landed yet. GPU only:
skipped where CuPy or a GPU is missing.
"""

import numpy as np
import pytest

from cnn_gpu.backend.numpy_backend import NumpyBackend
from cnn_gpu.ops import activation, conv2d, dropout, gemm, loss, optim, pool
from helpers import assert_close, random_array, to_host

cp = pytest.importorskip("cupy")
pytestmark = pytest.mark.gpu
try:
    HAS_GPU = cp.cuda.runtime.getDeviceCount() > 0
except cp.cuda.runtime.CUDARuntimeError:
    HAS_GPU = False
if not HAS_GPU:
    pytest.skip("no CUDA device", allow_module_level=True)

DTYPES = [np.float32, np.float64]


def same_on_both(op, *args, **kwargs):
    """Run ``op`` on NumPy arrays and on their CuPy copies; every array output must agree."""
    on_host = op(*args, **kwargs)
    on_device = op(*(cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args), **kwargs)
    host_outputs = on_host if isinstance(on_host, tuple) else (on_host,)
    device_outputs = on_device if isinstance(on_device, tuple) else (on_device,)
    for i, (h, d) in enumerate(zip(host_outputs, device_outputs)):
        assert isinstance(d, cp.ndarray), f"output {i} of {op.__name__} left the device"
        if h.dtype.kind == "f":
            assert_close(d, h.astype(np.float64), what=f"{op.__name__} output {i}")
        else:
            assert np.array_equal(to_host(d), h), f"{op.__name__} output {i}"


CONV = [((2, 7, 9, 3), (3, 2, 3, 5), (2, 3), "same", (1, 1)), ((1, 9, 8, 2), (2, 2, 2, 2), (2, 1), "same", (3, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,strides,padding,dilation", CONV)
def test_conv2d(rng, x_shape, w_shape, strides, padding, dilation, dtype):
    x, w = random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype)
    b = random_array(rng, (w_shape[3],), dtype)
    dy = random_array(rng, conv2d.conv2d_output_shape(x_shape, w_shape, strides, padding, dilation), dtype)
    same_on_both(conv2d.conv2d_forward, x, w, b, strides, padding, dilation)
    same_on_both(conv2d.conv2d_backward_data, dy, w, x_shape, strides, padding, dilation)
    same_on_both(conv2d.conv2d_backward_filter, x, dy, w_shape, strides, padding, dilation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling(rng, padding, dtype):
    x = random_array(rng, (2, 7, 9, 3), dtype)
    shape = pool.pool2d_output_shape(x.shape, 3, 2, padding)
    dy = random_array(rng, shape, dtype)
    same_on_both(pool.max_pool2d_forward, x, 3, 2, padding)
    _, argmax = pool.max_pool2d_forward(x, 3, 2, padding)
    same_on_both(pool.max_pool2d_backward, dy, argmax, x.shape, 3, 2, padding)
    same_on_both(pool.avg_pool2d_forward, x, 3, 2, padding)
    same_on_both(pool.avg_pool2d_backward, dy, x.shape, 3, 2, padding)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_and_dense(rng, dtype):
    a, b, c = (random_array(rng, s, dtype) for s in [(7, 5), (6, 7), (5, 6)])
    same_on_both(gemm.gemm_reference, a, b, True, True, 0.5, 2.0, c, random_array(rng, (6,), dtype), True)
    x, w, dy = (random_array(rng, s, dtype) for s in [(9, 13), (13, 4), (9, 4)])
    same_on_both(gemm.dense_forward, x, w, random_array(rng, (4,), dtype))
    same_on_both(gemm.dense_backward_data, dy, w)
    same_on_both(gemm.dense_backward_weights, x, dy)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(activation.FORWARD))
def test_activations(rng, name, dtype):
    x, dy = random_array(rng, (5, 11), dtype, -4, 4), random_array(rng, (5, 11), dtype)
    same_on_both(activation.activation_forward, name, x)
    same_on_both(activation.activation_backward, name, x, activation.activation_forward(name, x), dy)


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses(rng, dtype):
    logits = random_array(rng, (9, 4), dtype)
    ids = rng.integers(0, 4, size=9)
    same_on_both(loss.softmax_cross_entropy, logits, ids, True)
    same_on_both(loss.softmax_cross_entropy, logits, np.eye(4, dtype=dtype)[ids], False)
    probs = random_array(rng, (9, 4), dtype, 0.05, 1.0)
    same_on_both(loss.categorical_cross_entropy, probs, ids, True)
    same_on_both(loss.binary_cross_entropy, probs, rng.integers(0, 2, size=(9, 4)).astype(dtype))
    same_on_both(loss.mean_squared_error, logits, probs)


def test_dropout_draws_the_same_mask_from_the_same_seed(rng):
    x = random_array(rng, (8, 17), np.float32)
    seed = int(rng.integers(2**32))
    y, mask = dropout.dropout_forward(x, 0.3, np.random.default_rng(seed))
    y_d, mask_d = dropout.dropout_forward(cp.asarray(x), 0.3, np.random.default_rng(seed))
    assert isinstance(y_d, cp.ndarray) and np.array_equal(to_host(mask_d), mask)
    assert_close(y_d, y.astype(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_updates_in_place(rng, dtype):
    w, g = random_array(rng, (6, 5), dtype), random_array(rng, (6, 5), dtype)
    for update, slots, hyper in [
        (optim.sgd_update, 1, dict(lr=0.1, momentum=0.9, nesterov=True)),
        (optim.adam_update, 2, dict(lr=0.1, step=3)),
        (optim.rmsprop_update, 1, dict(lr=0.1)),
    ]:
        host = [w.copy(), g] + [np.full_like(w, 0.5) for _ in range(slots)]
        device = [cp.asarray(a) for a in host]
        update(*host, **hyper)
        update(*device, **hyper)
        for h, d in zip(host, device):
            assert_close(d, h.astype(np.float64), what=update.__name__)


def test_the_numpy_backend_runs_a_training_step_on_cupy_arrays(rng):
    be = NumpyBackend(xp=cp)
    x = be.asarray(random_array(rng, (4, 12, 12, 1), np.float32))
    w = be.asarray(random_array(rng, (3, 3, 1, 8), np.float32))
    y = be.activation_forward("relu", be.conv2d_forward(x, w, None, 1, "valid", 1))
    pooled, argmax = be.max_pool2d_forward(y, 2, None, "valid")
    _, dlogits = be.softmax_cross_entropy(pooled.reshape(4, -1), be.asarray(np.array([0, 3, 1, 2])), True)
    dy = be.max_pool2d_backward(dlogits.reshape(pooled.shape), argmax, y.shape, 2, None, "valid")
    _, dw, db = be.conv2d_backward(x, w, dy, 1, "valid", 1, need_dx=False)
    assert isinstance(dw, cp.ndarray) and isinstance(be.to_numpy(dw), np.ndarray)
