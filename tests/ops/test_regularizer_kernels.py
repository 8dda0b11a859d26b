"""The L2 penalty kernels of kernels/regularizer.cu against the reference l2_penalty of
cnn_gpu.ops.regularizer in float64: the penalty, and the gradient's update (within float32's
rounding: a GPU may fuse its multiply and add into one)."""

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import regularizer
from cnn_gpu.ops.regularizer import l2_penalty, l2_penalty_kernel
from helpers import assert_close, on_backend, random_array, to_host

# One weight; a bias; the seed model's kernels; more elements than the grid's 1024 blocks of 256 hold
# at once (each thread's loop goes round); none.
SHAPES = [(1,), (32,), (3, 3, 1, 32), (5408, 64), (0,)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("with_grad", [False, True], ids=["penalty", "with_grad"])
def test_the_penalty_and_its_gradient_match_the_reference(rng, kernel_backend, shape, dtype, with_grad):
    w, grad = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
    ours = on_backend(grad.copy(), kernel_backend) if with_grad else None
    weights = on_backend(w.copy(), kernel_backend)
    penalty = l2_penalty_kernel(weights, 0.01, ours, backend=kernel_backend)
    assert penalty.shape == () and penalty.dtype == dtype
    expected_grad = grad.astype(np.float64)
    expected = l2_penalty(w.astype(np.float64), 0.01, expected_grad if with_grad else None)
    if w.size:
        assert_close(to_host(penalty), expected)
    else:
        assert float(to_host(penalty)) == 0.0
    if with_grad:
        assert_close(to_host(ours), expected_grad)
    assert np.array_equal(to_host(weights), w), "w is only read"


def test_a_nan_weight_makes_the_penalty_nan(kernel_backend):
    w = np.ones(300, np.float32)
    w[123] = np.nan
    assert np.isnan(to_host(l2_penalty_kernel(on_backend(w, kernel_backend), 0.5, backend=kernel_backend)))


def test_bad_arguments_are_refused(kernel_backend):
    w = on_backend(np.ones((4, 3), np.float32), kernel_backend)
    with pytest.raises(ValueError, match="grad must have the weights' shape"):
        l2_penalty_kernel(w, 0.1, on_backend(np.ones(12, np.float32), kernel_backend), backend=kernel_backend)
    with pytest.raises(TypeError):
        l2_penalty_kernel(on_backend(np.ones(3, np.int32), kernel_backend), 0.1, backend=kernel_backend)


def test_the_backend_runs_the_kernels_and_leaves_what_they_cannot_take_to_the_reference(rng, kernel_backend,
                                                                                        monkeypatch):
    ours = KernelBackend(backend_xp(kernel_backend))
    calls = []
    monkeypatch.setattr(regularizer, "l2_penalty_kernel",
                        lambda *args, **kwargs: calls.append(1) or l2_penalty_kernel(*args, **kwargs))
    w = random_array(rng, (6, 5), np.float32)
    strided_grad = ours.asarray(random_array(rng, (6, 10), np.float32))[:, ::2]  # a view the kernel cannot update
    for grad in (None, ours.asarray(random_array(rng, (6, 5), np.float32)), strided_grad):
        before = None if grad is None else to_host(grad).astype(np.float64)
        penalty = ours.l2_penalty(ours.asarray(w), 0.02, grad)
        assert_close(to_host(penalty), 0.02 * (w.astype(np.float64) ** 2).sum())
        if grad is not None:
            assert_close(to_host(grad), before + 0.04 * w.astype(np.float64))
    assert len(calls) == 2, "the kernels for the contiguous cases, the reference for the strided gradient"
    scalar, scalar_grad = ours.asarray(np.float32(3.0).reshape(())), ours.asarray(np.float32(1.0).reshape(()))
    assert float(to_host(ours.l2_penalty(scalar, 0.5, scalar_grad))) == 4.5 and float(to_host(scalar_grad)) == 4.0
    assert len(calls) == 2, "a 0-d weight: the reference (a contiguous copy would be 1-d)"
