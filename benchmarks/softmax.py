"""Softmax over the last axis, forward and backward: every rung of kernels/softmax.cu against
PyTorch's and the reference's chain of CuPy operations, in bandwidth.

Memory-bound: the floor is one read of each input and one write of the output (float32): the
forward reads x and writes y (8 bytes an element), the backward reads y and dy and writes dx (12).
Shapes (rows, classes): a classifier's 10 classes at two batch sizes, and 1000 classes.

Every case is timed by CUDA-graph replay (the GPU's time, without the Python host side), ours and
the CuPy chain captured by CuPy and PyTorch's by PyTorch; a dry run times launch by launch.

Baselines: ``torch_softmax``, PyTorch's ``torch.softmax`` over the last axis, and
``torch_softmax_backward``, its backward kernel ``torch._softmax_backward_data`` (what autograd
runs for it), both on the same memory as our inputs (DLPack); and ``cupy_reference``, softmax and
softmax_backward of cnn_gpu/ops/activation.py on CuPy (NumPy on a dry run). PyTorch runs where it
imports. Each check compares the output with the float64 reference.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.activation import (SOFTMAX_VARIANTS, softmax, softmax_backward, softmax_backward_kernel,
                                    softmax_forward_kernel)

SHAPES = [(4096, 10), (65536, 10), (4096, 1000)]
DRY_SHAPES = [(37, 10), (5, 70)]


def forward_expected(x):
    return softmax(x.astype(np.float64))


def backward_expected(pair):
    y, dy = pair
    return softmax_backward(None, y.astype(np.float64), dy.astype(np.float64))


def main(argv=None) -> int:
    session = harness.Session("softmax", harness.parse_args(__doc__, argv), case_budget_ms=1000.0)
    xp, backend = session.xp, session.backend
    torch = harness.pytorch_baselines(session)
    timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    for rows, classes in session.pick(SHAPES, DRY_SHAPES):
        params = {"rows": rows, "classes": classes}
        n = rows * classes
        xs = session.input_sets(lambda rng: session.uniform(rng, (rows, classes), low=-4, high=4), 8 * n)
        # Backward sets (y, dy): y a forward output, as the layer keeps it.
        pairs = session.input_sets(lambda rng: (softmax(session.uniform(rng, (rows, classes), low=-4, high=4)),
                                                session.uniform(rng, (rows, classes))), 12 * n)
        # Every output made here, so that a graph of the calls allocates nothing.
        y, dx = xp.empty((rows, classes), dtype=np.float32), xp.empty((rows, classes), dtype=np.float32)
        for variant in SOFTMAX_VARIANTS:
            run = lambda x, v=variant: softmax_forward_kernel(x, v, out=y, backend=backend)  # noqa: E731
            session.measure(f"forward_{variant}", params, run, xs, lambda x: (y, forward_expected(x)), poison=[y],
                            bytes_moved=8 * n, timing=timing)
            run = lambda p, v=variant: softmax_backward_kernel(p[0], p[1], v, dx=dx, backend=backend)  # noqa: E731
            session.measure(f"backward_{variant}", params, run, pairs, lambda p: (dx, backward_expected(p)),
                            poison=[dx], bytes_moved=12 * n, timing=timing)

        last = {}

        def reference_forward(x):
            last["y"] = softmax(x)

        def reference_backward(p):
            last["dx"] = softmax_backward(None, p[0], p[1])

        session.measure("cupy_reference_forward", params, reference_forward, xs,
                        lambda x: (last["y"], forward_expected(x)), bytes_moved=8 * n, timing=timing)
        session.measure("cupy_reference_backward", params, reference_backward, pairs,
                        lambda p: (last["dx"], backward_expected(p)), bytes_moved=12 * n, timing=timing)
        if torch is not None:
            torch_baselines(session, torch, xs, pairs, params, n)
    return harness.finish(session)


def torch_baselines(session, torch, xs, pairs, params, n):
    """PyTorch's softmax forward and backward kernels on each set's own memory (tensors made at a
    set's first call, through DLPack: uncaptured, as the graph's capture runs every set once first).
    Their outputs are new tensors each call; the check reads the last one. A failure leaves the
    baseline out with a note."""
    xp = session.xp
    tensors, last = {}, {}

    def as_torch(*arrays):
        if id(arrays[0]) not in tensors:  # the arrays kept, so the id stays their own
            tensors[id(arrays[0])] = arrays, tuple(torch.from_dlpack(a) for a in arrays)
        return tensors[id(arrays[0])][1]

    def forward(x):
        (x_t,) = as_torch(x)
        last["y"] = torch.softmax(x_t, dim=-1)

    def backward(p):
        y_t, dy_t = as_torch(*p)
        last["dx"] = torch._softmax_backward_data(dy_t, y_t, -1, y_t.dtype)

    harness.measure_baseline(session, "torch_softmax", params, forward, xs,
                             lambda x: (xp.asarray(last["y"]), forward_expected(x)), bytes_moved=8 * n,
                             timing="graph", graph=harness.Graph(forward, via="torch", capture=harness.capture_torch))
    harness.measure_baseline(session, "torch_softmax_backward", params, backward, pairs,
                             lambda p: (xp.asarray(last["dx"]), backward_expected(p)), bytes_moved=12 * n,
                             timing="graph", graph=harness.Graph(backward, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
