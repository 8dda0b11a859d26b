"""What an op allocates per call: its outputs, and no temporaries once the problem has been seen (a
temporary that a later launch of the same call reads is a gemm_plans workspace, kept for the process),
since each allocation costs microseconds of a training step's host time in CuPy."""

import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_gpu.ops import activation, batchnorm, loss, reduce


@pytest.fixture
def allocations(monkeypatch):
    """The shapes of the arrays that the op modules (cnn_gpu/ops/, not the emulator running their
    kernels) make by np.empty, np.zeros and np.full while the test runs."""
    made = []
    ops = str(Path(activation.__file__).parent)
    for name in ("empty", "zeros", "full"):
        def recording(*args, original=getattr(np, name), **kwargs):
            array = original(*args, **kwargs)
            if sys._getframe(1).f_code.co_filename.startswith(ops):
                made.append(array.shape)
            return array

        monkeypatch.setattr(np, name, recording)
    return made


def _float32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _batch_norm_backward(x, rng, variant):
    cols = x.shape[-1]
    gamma, mean, variance = _float32(rng, cols), np.zeros(cols, np.float32), np.ones(cols, np.float32)
    _, statistics = batchnorm.batch_norm_forward_kernel(x, gamma, gamma, mean, variance, training=True,
                                                        backend="emulate")
    dy = _float32(rng, x.shape)
    return lambda: batchnorm.batch_norm_backward_kernel(x, dy, gamma, statistics, variant=variant, backend="emulate")


def _softmax_cross_entropy(x, rng):
    labels = np.eye(x.shape[1], dtype=np.float32)[rng.integers(0, x.shape[1], x.shape[0])]
    return lambda: loss.softmax_cross_entropy_kernel(x, labels, backend="emulate")


# Each op, run twice on one problem, and the shapes of what its second call may make: its outputs.
CASES = {
    "column_sum partial": (lambda x, rng: lambda: reduce.column_sum(x, "partial", backend="emulate"), [(8,)]),
    "column_sum flat": (lambda x, rng: lambda: reduce.column_sum(x, "flat", backend="emulate"), [(8,)]),
    "bias_activation_forward without bias": (
        lambda x, rng: lambda: activation.bias_activation_forward(x, None, "relu", backend="emulate"), [(300, 8)]),
    "bias_activation_backward": (
        lambda x, rng: lambda: activation.bias_activation_backward(x, x, "relu", backend="emulate"), [(300, 8), (8,)]),
    "bias_activation_backward without bias": (
        lambda x, rng: lambda: activation.bias_activation_backward(x, x, "relu", with_bias=False, backend="emulate"),
        [(300, 8)]),
    "softmax_cross_entropy_kernel": (_softmax_cross_entropy, [(300, 8), ()]),
    "batch_norm_forward_kernel": (
        lambda x, rng: lambda: batchnorm.batch_norm_forward_kernel(
            x, np.ones(8, np.float32), np.zeros(8, np.float32), np.zeros(8, np.float32), np.ones(8, np.float32),
            training=True, backend="emulate"), [(8,), (8,), (300, 8)]),
    "batch_norm_backward_kernel partial": (lambda x, rng: _batch_norm_backward(x, rng, "partial"),
                                           [(8,), (8,), (300, 8)]),
    "batch_norm_backward_kernel last block": (lambda x, rng: _batch_norm_backward(x, rng, batchnorm.LAST_BLOCK),
                                              [(8,), (8,), (300, 8)]),
}


@pytest.mark.parametrize("case", CASES)
def test_a_second_call_of_a_problem_allocates_only_its_outputs(rng, allocations, case):
    make, outputs = CASES[case]
    call = make(_float32(rng, (300, 8)), rng)
    call()
    allocations.clear()
    call()
    assert sorted(allocations) == sorted(outputs)
