import inspect

import numpy as np
import pytest

from cnn_gpu.backend.base import Backend
from cnn_gpu.backend.numpy_backend import NumpyBackend
from helpers import assert_close, random_array

OPS = [name for name, _ in inspect.getmembers(Backend, inspect.isfunction)]


@pytest.mark.parametrize("name", OPS)
def test_every_method_of_the_interface_is_implemented_with_its_signature(name):
    implementation = getattr(NumpyBackend, name)
    assert implementation is not getattr(Backend, name), f"NumpyBackend does not implement {name}"
    assert inspect.signature(implementation) == inspect.signature(getattr(Backend, name))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_training_step_keeps_the_dtype_and_skips_dx_when_asked(rng, dtype):
    be = NumpyBackend()
    x = be.asarray(random_array(rng, (3, 9, 8, 2), dtype))
    w, b = random_array(rng, (3, 3, 2, 4), dtype), be.zeros((4,), dtype)
    y = be.conv2d_forward(x, w, b, 1, "same", 1)
    pooled, argmax = be.max_pool2d_forward(be.activation_forward("relu", y), 2, None, "valid")
    flat = pooled.reshape(3, -1)
    dense_w = random_array(rng, (flat.shape[1], 5), dtype)
    logits = be.dense_forward(flat, dense_w, None)
    loss, dlogits = be.softmax_cross_entropy(logits, np.array([0, 4, 2]), True)
    dflat, dw_dense, _ = be.dense_backward(flat, dense_w, dlogits)
    dy = be.max_pool2d_backward(dflat.reshape(pooled.shape), argmax, y.shape, 2, None, "valid")
    dx, dw, db = be.conv2d_backward(x, w, dy, 1, "same", 1, need_dx=False)
    assert dx is None and be.dense_backward(flat, dense_w, dlogits, need_dx=False)[0] is None
    assert be.dense_backward(flat, dense_w, dlogits, need_db=False)[2] is None
    assert be.conv2d_backward(x, w, dy, 1, "same", 1, need_db=False)[2] is None
    assert {a.dtype for a in (y, pooled, logits, loss, dflat, dw_dense, dy, dw, db)} == {np.dtype(dtype)}
    assert dw.shape == w.shape and db.shape == b.shape
    velocity = be.zeros(w.shape, dtype)
    be.sgd_update(w, dw, velocity, 0.1, 0.9, True)
    assert w.dtype == dtype and np.any(velocity != 0)


def test_arrays_round_trip_to_numpy(rng):
    be = NumpyBackend()
    a = random_array(rng, (4, 5))
    assert_close(be.to_numpy(be.asarray(a, dtype=np.float64)), a)
    assert be.zeros((2, 3), np.float32).dtype == np.float32
