"""Image flips (RandomFlip's): kernels/augment.cu against PyTorch and the reference's chain of CuPy
operations, in bandwidth.

Memory-bound: the floor is a read and a write of the batch (8 bytes a float32 element). Shapes
(batch, height, width, channels): a CIFAR-10 batch of 256 and a ResNet stage's activations.

Every case is timed by CUDA-graph replay (the GPU's time, without the Python host side), ours and
the CuPy chain captured by CuPy and PyTorch's by PyTorch; a dry run times launch by launch. The
flips are drawn once per input set, as the layer draws them ('horizontal_and_vertical': each image
turned half a turn on a coin toss).

Baselines: ``torch_where_flip``, PyTorch's ``torch.where`` between the batch and its ``flip`` along
each axis (what a PyTorch user writes for a per-image flip), on the same memory (DLPack; the NHWC
array as it is); ``cupy_reference``, flip_images of cnn_gpu/ops/augment.py on CuPy (NumPy on a dry
run). Each check compares the output with the reference, which a flip matches exactly.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops.augment import FLIP_LEFT_RIGHT, FLIP_UP_DOWN, draw_flips, flip_images, flip_images_kernel

SHAPES = [(256, 32, 32, 3), (64, 56, 56, 64)]
DRY_SHAPES = [(5, 7, 6, 3)]


def main(argv=None) -> int:
    return harness.run_shapes("augment", __doc__, argv, SHAPES, DRY_SHAPES, measure_shape, case_budget_ms=500.0)


def measure_shape(session, torch, shape):
    xp, backend = session.xp, session.backend
    timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    params, n = {"shape": list(shape)}, int(np.prod(shape))
    sets = session.input_sets(lambda rng: (session.uniform(rng, shape),
                                           xp.asarray(draw_flips(shape[0], "horizontal_and_vertical", rng))), 4 * n)
    expected = lambda s: flip_images(s[0].astype(np.float64), s[1])  # noqa: E731
    y = xp.empty(shape, dtype=np.float32)
    session.measure("flip_images", params, lambda s: flip_images_kernel(*s, y=y, backend=backend), sets,
                    lambda s: (y, expected(s)), poison=[y], bytes_moved=8 * n, timing=timing)
    last = {}

    def reference(s):
        last["y"] = flip_images(*s)

    session.measure("cupy_reference", params, reference, sets, lambda s: (last["y"], expected(s)),
                    bytes_moved=8 * n, timing=timing)
    if torch is not None:
        torch_baseline(session, torch, sets, params, n, expected)


def torch_baseline(session, torch, sets, params, n, expected):
    """``torch.where`` between the batch and its flips, on each set's own memory (tensors made at a
    set's first call, uncaptured). A failure leaves the baseline out with a note."""
    tensors, last = {}, {}

    def run(s):
        if id(s[0]) not in tensors:  # the set kept, so the id stays its own
            flips = torch.from_dlpack(s[1])
            tensors[id(s[0])] = s, torch.from_dlpack(s[0]), ((flips & FLIP_LEFT_RIGHT) != 0).view(-1, 1, 1, 1), \
                ((flips & FLIP_UP_DOWN) != 0).view(-1, 1, 1, 1)
        _, x, left_right, up_down = tensors[id(s[0])]
        flipped = torch.where(left_right, x.flip(2), x)
        last["y"] = torch.where(up_down, flipped.flip(1), flipped)

    harness.measure_baseline(session, "torch_where_flip", params, run, sets,
                             lambda s: (session.xp.asarray(last["y"]), expected(s)), bytes_moved=8 * n,
                             timing="graph", graph=harness.Graph(run, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
