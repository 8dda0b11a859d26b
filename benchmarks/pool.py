"""Max and average pooling over NHWC float32: the max-forward ladder, both max backwards and the
average pair, in bandwidth.

Memory-bound: the floor is one read of each input and one write of each output. Bytes moved: the
max forward reads x and writes y and an int32 argmax; the max backward reads dy and argmax and
writes dx; the average forward reads x and writes y; its backward reads dy and writes dx. Two
shapes of about 200 MiB of input: a 2x2 stride-2 pooling (windows side by side) and an overlapping
3x3 stride-2 one, both 'valid'.

Baselines: PyTorch's max_pool2d (with indices) and avg_pool2d on the same memory, seen as a
channels_last NCHW tensor (torch_max_pool2d, torch_avg_pool2d), on a GPU run where PyTorch imports.
Their check is y alone: PyTorch's indices count positions in the input plane, not window taps.
Their bytes are the op's fewest, as ours (PyTorch writes int64 indices: 4 bytes more per output).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.pool import (
    MAX_BACKWARD_VARIANTS,
    MAX_FORWARD_VARIANTS,
    avg_pool2d_backward,
    avg_pool2d_backward_kernel,
    avg_pool2d_forward,
    avg_pool2d_forward_kernel,
    max_pool2d_backward,
    max_pool2d_backward_kernel,
    max_pool2d_forward,
    max_pool2d_forward_kernel,
    pool2d_output_shape,
)

# (x shape NHWC, pool size, stride): 205 MiB and 209 MiB of float32 input, several times the L2.
SHAPES = [((128, 56, 56, 128), 2, 2), ((64, 113, 113, 64), 3, 2)]
DRY_SHAPES = [((2, 6, 6, 8), 2, 2), ((2, 7, 7, 4), 3, 2)]


def joined(xp, y, argmax):
    """y and argmax as one float64 vector, so that one check covers both: a single argmax one tap off
    among millions still moves the relative error far past the tolerance."""
    return xp.concatenate([y.astype(np.float64).ravel(), argmax.astype(np.float64).ravel()])


def main(argv=None) -> int:
    session = harness.Session("pool", harness.parse_args(__doc__, argv), case_budget_ms=1000.0)
    xp, backend = session.xp, session.backend
    torch = harness.pytorch_baselines(session)
    for x_shape, k, stride in session.pick(SHAPES, DRY_SHAPES):
        n, h, w, c = x_shape
        params = {"n": n, "h": h, "w": w, "c": c, "pool": k, "stride": stride}
        y_shape = pool2d_output_shape(x_shape, k, stride)
        inputs, outputs = math.prod(x_shape), math.prod(y_shape)
        xs = session.input_sets(lambda rng: session.uniform(rng, x_shape), 4 * inputs)
        y = xp.empty(y_shape, dtype=np.float32)
        argmax = xp.empty(y_shape, dtype=np.int32)

        def max_check(x):
            ref_y, ref_argmax = max_pool2d_forward(x.astype(np.float64), k, stride)
            return joined(xp, y, argmax), joined(xp, ref_y, ref_argmax)

        for variant in MAX_FORWARD_VARIANTS:
            argmax.fill(-1)  # the harness poisons float outputs only; no rung may find the last one's argmax
            run = lambda x, v=variant: max_pool2d_forward_kernel(  # noqa: E731
                x, k, stride, variant=v, y=y, argmax=argmax, backend=backend)
            session.measure(f"max_forward_{variant}", params, run, xs, max_check, poison=[y],
                            bytes_moved=4 * inputs + 8 * outputs)

        run = lambda x: avg_pool2d_forward_kernel(x, k, stride, y=y, backend=backend)  # noqa: E731
        expected = lambda x: (y, avg_pool2d_forward(x.astype(np.float64), k, stride))  # noqa: E731
        session.measure("avg_forward", params, run, xs, expected, poison=[y], bytes_moved=4 * inputs + 4 * outputs)

        if torch is not None:
            pool_baselines(session, torch, xs, x_shape, k, stride, params)

        # Max backward: (dy, argmax) sets. Every tap of a 'valid' window is real, and a random
        # input's maximum is equally likely at any tap, so a uniform random argmax is a fair one.
        pairs = session.input_sets(
            lambda rng: (session.uniform(rng, y_shape), xp.asarray(rng.integers(0, k * k, y_shape, dtype=np.int32))),
            8 * outputs)
        dx = xp.empty(x_shape, dtype=np.float32)
        expected = lambda p: (dx, max_pool2d_backward(p[0].astype(np.float64), p[1], x_shape, k, stride))  # noqa: E731
        # The window backward only where windows do not overlap (elsewhere it runs the gather).
        backward_variants = [v for v in MAX_BACKWARD_VARIANTS if v != "window" or k <= stride]
        for variant in backward_variants:
            run = lambda p, v=variant: max_pool2d_backward_kernel(  # noqa: E731
                p[0], p[1], x_shape, k, stride, variant=v, dx=dx, backend=backend)
            session.measure(f"max_backward_{variant}", params, run, pairs, expected, poison=[dx],
                            bytes_moved=8 * outputs + 4 * inputs)

        dys = session.input_sets(lambda rng: session.uniform(rng, y_shape), 4 * outputs)
        run = lambda dy: avg_pool2d_backward_kernel(dy, x_shape, k, stride, dx=dx, backend=backend)  # noqa: E731
        expected = lambda dy: (dx, avg_pool2d_backward(dy.astype(np.float64), x_shape, k, stride))  # noqa: E731
        session.measure("avg_backward_gather", params, run, dys, expected, poison=[dx],
                        bytes_moved=4 * outputs + 4 * inputs)
    return harness.finish(session)


def pool_baselines(session, torch, xs, x_shape, k, stride, params):
    """PyTorch's max and average pooling forward on each input set's own memory: an NCHW view with
    channels_last strides (no copy, through DLPack), so it reads what our kernels read. Its outputs
    are new tensors, channels_last too; the check reads the last one back as NHWC. A baseline that
    fails is left out with a note (harness.measure_baseline)."""
    xp = session.xp
    functional = torch.nn.functional
    nchw, last = harness.torch_views(torch, harness.nchw_view), {}

    def torch_max(x):
        last["y"], _ = functional.max_pool2d(nchw(x), k, stride, return_indices=True)

    def torch_avg(x):
        last["y"] = functional.avg_pool2d(nchw(x), k, stride)

    def as_nhwc():
        return xp.asarray(last["y"].permute(0, 2, 3, 1))

    inputs, outputs = math.prod(x_shape), math.prod(pool2d_output_shape(x_shape, k, stride))
    harness.measure_baseline(session, "torch_max_pool2d", params, torch_max, xs,
                             lambda x: (as_nhwc(), max_pool2d_forward(x.astype(np.float64), k, stride)[0]),
                             bytes_moved=4 * inputs + 8 * outputs)
    harness.measure_baseline(session, "torch_avg_pool2d", params, torch_avg, xs,
                             lambda x: (as_nhwc(), avg_pool2d_forward(x.astype(np.float64), k, stride)),
                             bytes_moved=4 * inputs + 4 * outputs)


if __name__ == "__main__":
    sys.exit(main())
