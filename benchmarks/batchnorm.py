"""Batch normalization over the channel axis, forward (training and inference) and backward: every
rung of kernels/batchnorm.cu's column sums against cuDNN's batch normalization (through PyTorch) and
the reference's chain of CuPy operations, in bandwidth.

Memory-bound. The floor counted here is what a fused implementation must move (float32): the
training forward reads x twice (the statistics, then the normalization) and writes y (12 bytes an
element), the backward reads x and dy twice and writes dx (20), the inference forward reads x and
writes y (8). Ours moves exactly that, in three launches a pass (the sums, the per-channel constants,
the element-wise pass), or two (rung 4, ``flat_last_block``: the constants in the sums' launch).
Shapes (batch, height, width, channels): the seed model's convolution output at batch 256, a
ResNet stage's (batch 64, 56 x 56, 64 channels), and a Dense layer's (4096, 512).

Every case is timed by CUDA-graph replay (the GPU's time, without the Python host side), ours and
the CuPy chain captured by CuPy and PyTorch's by PyTorch; a dry run times launch by launch.

Baselines, where PyTorch imports and sees the GPU: ``cudnn_forward_training`` and
``cudnn_backward``, ``torch.ops.aten.cudnn_batch_norm`` and its backward on the same memory as our
inputs (DLPack; an image batch as NCHW with channels-last strides, which cuDNN runs as NHWC);
``native_forward_training`` and ``native_backward``, PyTorch's own CUDA kernels
(``native_batch_norm`` and its backward); and ``cupy_reference_*``, cnn_gpu/ops/batchnorm.py's
reference on CuPy (NumPy on a dry run). Each check compares the output with the float64 reference.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.batchnorm import (FLAT_MAX_CHANNELS, SUMS_VARIANTS, batch_norm_backward, batch_norm_backward_kernel,
                                   batch_norm_forward, batch_norm_forward_kernel)
from cnn_gpu.ops.common import array_module

SHAPES = [(256, 26, 26, 32), (64, 56, 56, 64), (4096, 512)]
DRY_SHAPES = [(3, 5, 7, 6), (37, 10), (20, 300)]
MOMENTUM, EPSILON = 0.99, 1e-3


def as64(a):
    return a.astype(np.float64)


def expected_forward(x, gamma, beta, training):
    """The float64 reference's y (the moving statistics of a fresh layer where they are used)."""
    xp, channels = array_module(x), x.shape[-1]
    moving = xp.zeros(channels), xp.ones(channels)
    return batch_norm_forward(as64(x), as64(gamma), as64(beta), *moving, MOMENTUM, EPSILON, training)[0]


def expected_backward(x, dy, gamma):
    """The float64 reference's dx, through the batch's own statistics."""
    xp, channels = array_module(x), x.shape[-1]
    _, statistics = batch_norm_forward(as64(x), as64(gamma), None, xp.zeros(channels), xp.ones(channels),
                                       MOMENTUM, EPSILON, True)
    return batch_norm_backward(as64(x), as64(dy), as64(gamma), statistics)[0]


def main(argv=None) -> int:
    return harness.run_shapes("batchnorm", __doc__, argv, SHAPES, DRY_SHAPES, measure_shape, case_budget_ms=500.0)


def measure_shape(session, torch, shape):
    """Every case at one shape: our rungs, the reference on CuPy and (with ``torch``) PyTorch's."""
    xp, backend = session.xp, session.backend
    timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    params = {"shape": list(shape)}
    n, channels = int(np.prod(shape)), shape[-1]
    gamma, beta = session.uniform(session.rng, channels, low=0.5, high=2), session.uniform(session.rng, channels)
    # A fresh layer's moving statistics, which the training cases update in place at every call (as
    # a training step does); the inference case reads its own, never updated.
    moving_mean, moving_variance = xp.zeros(channels, np.float32), xp.ones(channels, np.float32)
    xs = session.input_sets(lambda rng: session.uniform(rng, shape, low=-2, high=3), 4 * n)
    # Backward sets (x, dy, the statistics of x's forward, as the layer keeps them).
    pairs = session.input_sets(lambda rng: backward_set(session, rng, shape, gamma), 8 * n)
    y, dx = xp.empty(shape, np.float32), xp.empty(shape, np.float32)
    # Each output goes through its channel's sums over every row: rung 1 adds them one after another,
    # whose float32 rounding grows with the rows (4.5e-5 at 173k rows on an H200, batchnorm.json at b323e23).
    tolerance = harness.sum_tolerance(n // channels)
    for variant in (v for v in SUMS_VARIANTS if not v.startswith("flat") or channels <= FLAT_MAX_CHANNELS):
        run = lambda x, v=variant: batch_norm_forward_kernel(  # noqa: E731
            x, gamma, beta, moving_mean, moving_variance, MOMENTUM, EPSILON, True, v, y=y, backend=backend)
        session.measure(f"forward_training_{variant}", params, run, xs,
                        lambda x: (y, expected_forward(x, gamma, beta, True)), poison=[y], bytes_moved=12 * n,
                        tolerance=tolerance, timing=timing)
        run = lambda p, v=variant: batch_norm_backward_kernel(  # noqa: E731
            p[0], p[1], gamma, p[2], v, dx=dx, backend=backend)
        session.measure(f"backward_{variant}", params, run, pairs,
                        lambda p: (dx, expected_backward(p[0], p[1], gamma)), poison=[dx], bytes_moved=20 * n,
                        tolerance=tolerance, timing=timing)
    fresh = xp.zeros(channels, np.float32), xp.ones(channels, np.float32)
    run = lambda x: batch_norm_forward_kernel(x, gamma, beta, *fresh, training=False, y=y,  # noqa: E731
                                              backend=backend)
    session.measure("forward_inference", params, run, xs, lambda x: (y, expected_forward(x, gamma, beta, False)),
                    poison=[y], bytes_moved=8 * n, timing=timing)
    reference_cases(session, xs, pairs, gamma, beta, params, n, timing)
    if torch is not None:
        torch_baselines(session, torch, xs, pairs, gamma, beta, params, n)


def backward_set(session, rng, shape, gamma):
    x, dy = session.uniform(rng, shape, low=-2, high=3), session.uniform(rng, shape)
    channels = shape[-1]
    _, statistics = batch_norm_forward(x, gamma, None, session.xp.zeros(channels, np.float32),
                                       session.xp.ones(channels, np.float32), MOMENTUM, EPSILON, True)
    return x, dy, statistics


def reference_cases(session, xs, pairs, gamma, beta, params, n, timing):
    """The reference of cnn_gpu/ops/batchnorm.py on CuPy: about ten array operations a pass."""
    xp, channels, last = session.xp, gamma.shape[0], {}
    moving = xp.zeros(channels, np.float32), xp.ones(channels, np.float32)

    def forward(x):
        last["y"] = batch_norm_forward(x, gamma, beta, *moving, MOMENTUM, EPSILON, True)[0]

    def backward(p):
        last["dx"] = batch_norm_backward(p[0], p[1], gamma, p[2])[0]

    session.measure("cupy_reference_forward_training", params, forward, xs,
                    lambda x: (last["y"], expected_forward(x, gamma, beta, True)), bytes_moved=12 * n, timing=timing)
    session.measure("cupy_reference_backward", params, backward, pairs,
                    lambda p: (last["dx"], expected_backward(p[0], p[1], gamma)), bytes_moved=20 * n, timing=timing)


def torch_baselines(session, torch, xs, pairs, gamma, beta, params, n):
    """cuDNN's and PyTorch's native batch normalization on each set's own memory (tensors made at a
    set's first call, through DLPack: uncaptured, as the graph's capture runs every set once first),
    with the saved statistics of each backward set's forward made then too. Their outputs are new
    tensors each call; the check reads the last one. A failure leaves the baseline out with a note."""
    xp, aten = session.xp, torch.ops.aten
    weight, bias = torch.from_dlpack(gamma), torch.from_dlpack(beta)
    channels = gamma.shape[0]
    running = torch.zeros(channels, device="cuda"), torch.ones(channels, device="cuda")
    tensors, last = {}, {}

    def nchw(a):
        """An NHWC array as PyTorch's NCHW tensor with channels-last strides (the same memory)."""
        t = torch.from_dlpack(a)
        return t.permute(0, 3, 1, 2) if t.dim() == 4 else t

    def as_torch(*arrays):
        if id(arrays[0]) not in tensors:  # the arrays kept, so the id stays their own
            tensors[id(arrays[0])] = arrays, tuple(nchw(a) for a in arrays)
        return tensors[id(arrays[0])][1]

    def saved(p, kind):
        """The forward's saved tensors for backward set ``p``, by cuDNN or by PyTorch's native kernels."""
        key = (id(p[0]), kind)
        if key not in tensors:
            x_t, _ = as_torch(p[0], p[1])
            forward = aten.cudnn_batch_norm if kind == "cudnn" else aten.native_batch_norm
            tensors[key] = p, forward(x_t, weight, bias, *running, True, 1 - MOMENTUM, EPSILON)[1:]
        return tensors[key][1]

    def output(name):
        """The last output as an NHWC CuPy array (the permute undone), for the check."""
        t = last[name]
        return xp.asarray(t.permute(0, 2, 3, 1) if t.dim() == 4 else t)

    def forward(op):
        def run(x):
            (x_t,) = as_torch(x)
            last["y"] = op(x_t, weight, bias, *running, True, 1 - MOMENTUM, EPSILON)[0]
        return run

    def cudnn_backward(p):
        x_t, dy_t = as_torch(p[0], p[1])
        save_mean, save_var, reserve = saved(p, "cudnn")
        last["dx"] = aten.cudnn_batch_norm_backward(x_t, dy_t, weight, *running, save_mean, save_var, EPSILON,
                                                    reserve)[0]

    def native_backward(p):
        x_t, dy_t = as_torch(p[0], p[1])
        save_mean, save_invstd = saved(p, "native")
        last["dx"] = aten.native_batch_norm_backward(dy_t, x_t, weight, *running, save_mean, save_invstd, True,
                                                     EPSILON, [True, True, True])[0]

    for name, op in (("cudnn_forward_training", aten.cudnn_batch_norm),
                     ("native_forward_training", aten.native_batch_norm)):
        run = forward(op)
        harness.measure_baseline(session, name, params, run, xs,
                                 lambda x: (output("y"), expected_forward(x, gamma, beta, True)), bytes_moved=12 * n,
                                 timing="graph", graph=harness.Graph(run, via="torch", capture=harness.capture_torch))
    for name, run in (("cudnn_backward", cudnn_backward), ("native_backward", native_backward)):
        harness.measure_baseline(session, name, params, run, pairs,
                                 lambda p: (output("dx"), expected_backward(p[0], p[1], gamma)), bytes_moved=20 * n,
                                 timing="graph", graph=harness.Graph(run, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
