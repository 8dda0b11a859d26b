"""Dropout, one training step's worth (forward, then backward): kernels/dropout.cu's two ways against the
reference on CuPy and PyTorch's, in bandwidth.

Element-wise and memory-bound. Every case's rate counts the op's floor, 16 bytes a float32 element
(x read and y written, dy read and dx written), so a case that also writes and reads a mask shows
it as a lower fraction of copy bandwidth: ``stored_mask`` moves 24 bytes an element, ``regenerated``
16 (its backward draws the mask again). Sizes: the Keras MNIST convnet's Dropout(0.5) after Flatten
at batch 128 (1600 units), and 16M elements.

Baselines: ``cupy_reference``, dropout_forward and dropout_backward of cnn_gpu/ops/dropout.py on CuPy,
whose draws are made on the host by NumPy's generator and copied over (what the cuda backend ran
before these kernels): timed launch by launch, since a copy from the host cannot be captured in a
graph; ``torch_dropout``, PyTorch's ``native_dropout`` and ``native_dropout_backward`` (Philox on the
device, a bool mask stored), by graph. Ours by graph. Each check compares y and dx with x * m and
dy * m in float64, m being the mask the case drew (for ours, its NumPy twin dropout_keep_mask).
Then GaussianDropout's step at the same rate (``gaussian_dropout_*``): rung 4 against PyTorch's
``randn_like`` and multiplies, both by graph.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import harness
from cnn_gpu.ops import dropout

SIZES = [128 * 1600, 1 << 24]
DRY_SIZES = [1001]
RATE = 0.5
KEY = (0x1234567, 0x89ABCDEF)  # every call of ours draws with it, so the check knows the mask


def expected(xp, x, dy, mask):
    """y and dx as the float64 reference makes them from ``mask``, as one vector."""
    mask = xp.asarray(mask, dtype=np.float64)
    return xp.concatenate([(x.astype(np.float64) * mask).ravel(), (dy.astype(np.float64) * mask).ravel()])


def main(argv=None) -> int:
    session = harness.Session("dropout", harness.parse_args(__doc__, argv), case_budget_ms=1000.0)
    xp, backend = session.xp, session.backend
    torch = harness.pytorch_baselines(session)
    graph_timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    for size in session.pick(SIZES, DRY_SIZES):
        params, floor = {"elements": size, "rate": RATE}, 16 * size
        sets = session.input_sets(lambda rng: [session.uniform(rng, (size,)), session.uniform(rng, (size,))], 8 * size)
        # Our outputs made here, so that a graph of the calls allocates nothing.
        y, mask, dx = (xp.empty(size, dtype=np.float32) for _ in range(3))
        # The mask every call of ours draws, made once a size: NumPy's Philox on the host takes seconds at 2^24.
        keep = xp.asarray(dropout.dropout_keep_mask(size, RATE, KEY, np.float32))
        ours_check = lambda inputs: (xp.concatenate([y, dx]), expected(xp, *inputs, keep))  # noqa: E731
        for variant in dropout.VARIANTS:
            def run(inputs, v=variant):
                x, dy = inputs
                _, drawn = dropout.dropout_forward_kernel(x, RATE, KEY, variant=v, y=y, mask=mask, backend=backend)
                dropout.dropout_backward_kernel(dy, drawn, dx=dx, backend=backend)

            session.measure(variant, params, run, sets, ours_check, poison=[y, dx], bytes_moved=floor,
                            timing=graph_timing)
        last = {}

        rng = np.random.default_rng(0)

        def reference(inputs):
            x, dy = inputs
            last["y"], last["mask"] = dropout.dropout_forward(x, RATE, rng)
            last["dx"] = dropout.dropout_backward(dy, last["mask"])

        session.measure("cupy_reference", params, reference, sets,
                        lambda inputs: (xp.concatenate([last["y"], last["dx"]]), expected(xp, *inputs, last["mask"])),
                        bytes_moved=floor, timing="launch")
        if torch is not None:
            torch_baseline(session, torch, sets, params, floor)
        gaussian_dropout_cases(session, torch, sets, size, floor)
    return harness.finish(session)


def gaussian_dropout_cases(session, torch, sets, size, floor):
    """GaussianDropout's step, x (1 + s z) forward and dy (1 + s z) backward: rung 4 (the draws made in
    each pass, as rung 3's mask) against PyTorch's ``randn_like`` and two multiplies (the multiplier
    kept between the passes); each check rebuilds y and dx from the multiplier drawn."""
    xp, stddev = session.xp, float(np.sqrt(RATE / (1 - RATE)))
    params = {"elements": size, "rate": RATE}
    y, dx = xp.empty(size, dtype=np.float32), xp.empty(size, dtype=np.float32)
    multiplier = 1 + np.float32(stddev) * dropout.gaussian_draws(size, KEY).astype(np.float32)

    def run(inputs):
        x, dy = inputs
        _, saved = dropout.gaussian_noise_kernel(x, stddev, KEY, multiply=True, out=y, backend=session.backend)
        dropout.gaussian_noise_backward_kernel(dy, saved, dx=dx, backend=session.backend)

    session.measure("gaussian_dropout_regenerated", params, run, sets,
                    lambda inputs: (xp.concatenate([y, dx]), expected(xp, *inputs, multiplier)), poison=[y, dx],
                    bytes_moved=floor, timing="launch" if session.dry_run else "graph", tolerance=1e-6)
    if torch is None:
        return
    tensors, last = {}, {}

    def run_torch(inputs):
        if id(inputs[0]) not in tensors:
            tensors[id(inputs[0])] = (inputs, torch.from_dlpack(inputs[0]), torch.from_dlpack(inputs[1]))
        _, x, dy = tensors[id(inputs[0])]
        last["m"] = 1 + stddev * torch.randn_like(x)
        last["y"], last["dx"] = x * last["m"], dy * last["m"]

    harness.measure_baseline(
        session, "torch_gaussian_dropout", params, run_torch, sets,
        lambda inputs: (xp.concatenate([xp.asarray(last["y"]), xp.asarray(last["dx"])]),
                        expected(xp, *inputs, xp.asarray(last["m"]))),
        bytes_moved=floor, timing="graph", graph=harness.Graph(run_torch, via="torch", capture=harness.capture_torch))


def torch_baseline(session, torch, sets, params, bytes_moved):
    """PyTorch's dropout forward and backward on each set (tensors on its memory, through DLPack, made at
    a set's first call, which the graph's capture makes uncaptured); the check rebuilds y and dx from
    the bool mask it returned."""
    xp, tensors, last = session.xp, {}, {}

    def run(inputs):
        if id(inputs[0]) not in tensors:
            tensors[id(inputs[0])] = (inputs, torch.from_dlpack(inputs[0]), torch.from_dlpack(inputs[1]))
        _, x, dy = tensors[id(inputs[0])]
        last["y"], last["mask"] = torch.ops.aten.native_dropout(x, RATE, True)
        last["dx"] = torch.ops.aten.native_dropout_backward(dy, last["mask"], 1 / (1 - RATE))

    def check(inputs):
        mask = xp.asarray(last["mask"]).astype(np.float64) / (1 - RATE)
        return xp.concatenate([xp.asarray(last["y"]), xp.asarray(last["dx"])]), expected(xp, *inputs, mask)

    harness.measure_baseline(session, "torch_dropout", params, run, sets, check, bytes_moved=bytes_moved,
                             timing="graph", graph=harness.Graph(run, via="torch", capture=harness.capture_torch))


if __name__ == "__main__":
    sys.exit(main())
