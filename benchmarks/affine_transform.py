"""Images resampled through affine maps (RandomTranslation's, RandomRotation's, RandomZoom's, bilinear
UpSampling2D's): kernels/affine_transform.cu against PyTorch's grid_sample, in bandwidth.

Memory-bound: the floor is a read and a write of the batch (8 bytes a float32 element); the four
reads of a bilinear sample overlap their neighbours', which the caches serve. Shapes (batch, height,
width, channels): a CIFAR-10 batch of 256 and a ResNet stage's activations. Each image gets its own
map, drawn as the layers draw them: turned up to a tenth of a turn, zoomed by 0.8 to 1.2.

Every case is timed by CUDA-graph replay (the GPU's time, without the Python host side), ours
captured by CuPy and PyTorch's by PyTorch; a dry run times launch by launch. Cases: the forward with
Keras's default fill ('reflect') on each rung that fits (``*_float4_*``, four channels a step, where
C % 4 == 0) and with 'nearest' on the faster-by-design one, and the backward (dx zeroed, then the
atomic adds) with 'reflect'.

Baseline: ``torch_grid_sample``, ``torch.nn.functional.grid_sample`` (bilinear, padding_mode='border',
align_corners=True: the same samples as our 'nearest' fill) on the same memory (DLPack; the NHWC array
as an NCHW tensor with channels_last strides), its sampling grid made beforehand from the same maps
(so it reads 8 bytes of grid a pixel that our kernel computes instead). Each check compares the
output with the float64 reference.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops import affine_transform as at

SHAPES = [(256, 32, 32, 3), (32, 56, 56, 64)]
DRY_SHAPES = [(3, 7, 6, 3), (2, 5, 6, 8)]
TOLERANCE = 1e-5


def main(argv=None) -> int:
    return harness.run_shapes("affine_transform", __doc__, argv, SHAPES, DRY_SHAPES, measure_shape,
                              case_budget_ms=500.0)


def random_maps(rng, n, height, width):
    """Each image turned by up to a tenth of a turn and zoomed by 0.8 to 1.2, about its centre."""
    turned = at.rotations(rng.uniform(-0.2 * np.pi, 0.2 * np.pi, n), height, width).astype(np.float64)
    zoom = rng.uniform(0.8, 1.2, n)[:, None]
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    t = turned.reshape(n, 2, 3)
    t[:, :, :2] *= zoom[:, :, None]
    t[:, :, 2] = centre - np.einsum("nij,j->ni", t[:, :, :2], centre)  # the centre stays put
    return t.reshape(n, 6).astype(np.float32)


def measure_shape(session, torch, shape):
    xp, backend = session.xp, session.backend
    timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    n_elements = int(np.prod(shape))
    params = {"shape": list(shape)}
    sets = session.input_sets(lambda rng: (session.uniform(rng, shape), xp.asarray(random_maps(rng, *shape[:3]))),
                              4 * n_elements)
    host = lambda a: a.get() if hasattr(a, "get") else a  # noqa: E731
    references = {}

    def reference(s, mode):
        """The float64 reference's y for set ``s``, made once a set and mode: NumPy on the host, 0.6 s at
        (32, 56, 56, 64), and every case's check asks it of the same set, its graph's last."""
        if (id(s[0]), mode) not in references:
            references[id(s[0]), mode] = at.affine_transform(host(s[0]).astype(np.float64), host(s[1]), fill_mode=mode)
        return references[id(s[0]), mode]
    y = xp.empty(shape, dtype=np.float32)
    # Both forward rungs with Keras's default fill where the float4 one fits; 'nearest' on the one that runs.
    rungs = at.GATHER_VARIANTS if at.gather_variant(sets[0][0], y) == "float4" else ("element",)
    cases = [("reflect", rung) for rung in rungs] + [("nearest", rungs[-1])]
    for mode, rung in cases:
        name = f"affine_transform_gather{'_float4' if rung == 'float4' else ''}_{mode}"
        session.measure(name, {**params, "fill_mode": mode},
                        lambda s, mode=mode, rung=rung: at.affine_transform_kernel(
                            *s, fill_mode=mode, y=y, variant=rung, backend=backend),
                        sets, lambda s, mode=mode: (y, reference(s, mode)),
                        poison=[y], bytes_moved=8 * n_elements, timing=timing, tolerance=TOLERANCE)
    dx = xp.empty(shape, dtype=np.float32)
    session.measure("affine_transform_backward_scatter_reflect", {**params, "fill_mode": "reflect"},
                    lambda s: at.affine_transform_backward_kernel(*s, shape, dx=dx, backend=backend), sets,
                    lambda s: (dx, at.affine_transform_backward(host(s[0]).astype(np.float64), host(s[1]), shape)),
                    poison=[dx], bytes_moved=8 * n_elements, timing=timing, tolerance=TOLERANCE)
    if torch is not None:
        torch_baseline(session, torch, sets, params, shape, host, reference)


def sampling_grid(maps, height, width):
    """grid_sample's grid (N, H, W, 2) for ``maps``: each output pixel's sampling point (x, y), scaled
    to [-1, 1] over the pixel centres (align_corners=True)."""
    row, col = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    t = maps.astype(np.float64)[:, :, None, None]
    x = t[:, 0] * col + t[:, 1] * row + t[:, 2]
    y = t[:, 3] * col + t[:, 4] * row + t[:, 5]
    return np.stack([2 * x / max(width - 1, 1) - 1, 2 * y / max(height - 1, 1) - 1], axis=-1).astype(np.float32)


def torch_baseline(session, torch, sets, params, shape, host, reference):
    """grid_sample on each set's own memory (the tensors and the grid made at a set's first call,
    uncaptured). A failure leaves the baseline out with a note."""
    import torch.nn.functional as F

    made, last = {}, {}

    def run(s):
        if id(s[0]) not in made:  # the set kept, so the id stays its own
            grid = torch.from_dlpack(session.xp.asarray(sampling_grid(host(s[1]), *shape[1:3])))
            made[id(s[0])] = s, harness.nchw_view(torch, s[0]), grid
        _, x, grid = made[id(s[0])]
        last["y"] = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)

    def check(s):
        nhwc = session.xp.asarray(last["y"].permute(0, 2, 3, 1).contiguous())
        return nhwc, reference(s, "nearest")

    harness.measure_baseline(session, "torch_grid_sample", {**params, "fill_mode": "nearest"}, run, sets, check,
                             bytes_moved=8 * int(np.prod(shape)), timing="graph", tolerance=TOLERANCE,
                             graph=harness.Graph(run, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
