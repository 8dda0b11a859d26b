"""Bias + activation, forward (grid-stride and float4) and backward with the bias gradient.

Memory-bound: the forward reads x and writes y (8 bytes per float32 element), the backward reads
y and dy and writes dx (12 bytes). The unfused CuPy pair (add, then maximum) is the baseline row.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.activation import FORWARD, BACKWARD, bias_activation_backward, bias_activation_forward

# 256 MiB of float32 as Dense-like (rows, units) and as a conv output (N*H*W, 36 channels: narrow rows).
SHAPES = [(65536, 1024), (1 << 21, 36)]
DRY_SHAPES = [(37, 12)]
ACTIVATIONS = ("relu", "sigmoid", "tanh")


def reference_forward(name, x, bias):
    return FORWARD[name](x.astype(np.float64) + bias.astype(np.float64))


def main(argv=None) -> int:
    session = harness.Session("activation", harness.parse_args(__doc__, argv))
    xp = session.xp
    for rows, cols in session.pick(SHAPES, DRY_SHAPES):
        n = rows * cols
        params = {"rows": rows, "cols": cols}
        bias = session.uniform(session.rng, (cols,))
        sets = session.input_sets(lambda rng: session.uniform(rng, (rows, cols), low=-3, high=3), 4 * n)
        y = xp.empty((rows, cols), dtype=np.float32)
        check = lambda x, name: (y, reference_forward(name, x, bias))  # noqa: E731
        variants = ("grid_stride", "float4") if cols % 4 == 0 else ("grid_stride",)
        for name in ACTIVATIONS:
            for variant in variants:
                run = lambda x, v=variant, a=name: bias_activation_forward(x, bias, a, v, out=y, backend=session.backend)
                session.measure(f"forward_{variant}", {"act": name, **params}, run, sets,
                                lambda x, a=name: check(x, a), poison=[y], bytes_moved=8 * n)
        relu_unfused = lambda x: xp.maximum(xp.add(x, bias, out=y), 0, out=y)  # noqa: E731
        session.measure("cupy_unfused_relu", {"act": "relu", **params}, relu_unfused, sets,
                        lambda x: check(x, "relu"), poison=[y], bytes_moved=8 * n)

        # Backward: the input sets are (y, dy) pairs; the output checked is dx (dbias by the tests).
        pairs = session.input_sets(lambda rng: (session.uniform(rng, (rows, cols), low=0.01, high=0.99),
                                                session.uniform(rng, (rows, cols))), 8 * n)
        dx = xp.empty((rows, cols), dtype=np.float32)
        for name in ("relu", "sigmoid"):
            run = lambda p, a=name: bias_activation_backward(p[0], p[1], a, dx=dx, backend=session.backend)
            # relu's reference reads x > 0, which is y > 0 for y = relu(x): y stands in for x.
            expected = lambda p, a=name: (dx, BACKWARD[a](p[0].astype(np.float64), p[0].astype(np.float64),
                                                          p[1].astype(np.float64)))
            session.measure("backward_with_bias", {"act": name, **params}, run, pairs, expected,
                            poison=[dx], bytes_moved=12 * n)
    return harness.finish(session)


if __name__ == "__main__":
    sys.exit(main())
