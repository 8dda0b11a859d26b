"""Depthwise convolution: each pass of both rungs of kernels/depthwise_conv2d.cu against cuDNN's
depthwise convolution (through PyTorch), FP32, in bandwidth.

Memory-bound: an output takes R * S multiply-adds, not R * S * C, so the floor is moving each operand
once, at copy bandwidth. Bytes moved per pass (float32): the forward reads x and w and writes y; the
data gradient reads dy and w and writes dx; the filter gradient reads x and dy and writes dw. dy is
y's size and dx is x's, so every pass moves 4 (|x| + |w| + |y|) bytes. Rung 2's filter gradient
also writes and reads back a row of partial sums a tile, and its call, whose time is measured,
includes the column sum that adds them up (reduce.cu); that traffic is above the floor, and the
fraction of copy bandwidth shows it.

Shapes (N, H, W, C, window, stride, all 'same'): MobileNet's depthwise layers at a training batch
(64 x 56 x 56 x 128 at stride 1; 64 x 113 x 113 x 32 at stride 2; 128 x 14 x 14 x 512), and a depth
multiplier of 2 (64 x 56 x 56 x 64, 128 output channels). Each input set (x and dy) is 100 to 210
MB, past an H100's 50 MB L2, and session.input_sets rotates enough sets that a launch never finds
its inputs cached. cuDNN takes symmetric padding only: 'same' is symmetric for an odd window at
stride 1, and at stride 2 for an odd input size, so the stride-2 layer is 113 x 113 (Keras pads 1
each side, as PyTorch's padding 1) where MobileNet's 112 would pad (0, 1) (symmetric_padding refuses
such a shape). A variant whose shared memory does not fit (smem_tile for a large window, stride or
multiplier) is left out with a note; the dry run's last shape shows it.

Baselines, where PyTorch imports and sees the GPU: ``cudnn_<pass>``, ``torch.nn.functional.conv2d``
with ``groups=C`` and ``torch.ops.aten.convolution_backward`` with one output of its ``output_mask``
(the call under torch.nn.grad's conv2d_input and conv2d_weight, given the real x), on the same
memory as our kernels: NHWC seen as a channels_last NCHW tensor (DLPack), the filter (C * M, 1, R, S)
(output channel c * M + m, as ours). PyTorch sends a channels_last depthwise convolution to cuDNN,
not to its own depthwise kernels; each baseline records the backend PyTorch picks for its operands
(``torch_backend``), and a note says so if that is not cuDNN. TF32 off, ``cudnn.benchmark`` on. Our
rows record ``vs_cudnn`` (cuDNN's time over ours; above 1, ours is faster), and
``benchmarks/report.py depthwise_conv2d.json --convolution`` tables them. Every case is timed by
CUDA-graph replay (the GPU's time, without the Python host side), ours captured by CuPy and cuDNN's
by PyTorch; a dry run (the emulator, no PyTorch) times our kernels launch by launch.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from benchmarks import conv2d, harness
from cnn_gpu.ops import depthwise_conv2d as depthwise

# (name, x shape NHWC, w shape (R, S, C, M), stride, padding)
SHAPES = [
    ("mobilenet_56x56x128", (64, 56, 56, 128), (3, 3, 128, 1), 1, "same"),
    ("mobilenet_113x113x32_s2", (64, 113, 113, 32), (3, 3, 32, 1), 2, "same"),
    ("mobilenet_14x14x512", (128, 14, 14, 512), (3, 3, 512, 1), 1, "same"),
    ("multiplier2_56x56x64", (64, 56, 56, 64), (3, 3, 64, 2), 1, "same"),
]
# Odd sizes for the emulator: partial tiles, a stride 2 with a multiplier, and a 5 x 5 window with a
# multiplier of 8, whose smem_tile gradients need more shared memory than MAX_SHARED_BYTES (left out).
DRY_SHAPES = [
    ("dry_7x9x5", (2, 7, 9, 5), (3, 3, 5, 1), 1, "same"),
    ("dry_9x7x3_s2", (2, 9, 7, 3), (3, 3, 3, 2), 2, "same"),
    ("dry_5x7x3_m8", (1, 5, 7, 3), (5, 5, 3, 8), 1, "same"),
]


def main(argv=None) -> int:
    return harness.run_shapes("depthwise_conv2d", __doc__, argv, SHAPES, DRY_SHAPES, measure_shape,
                              case_budget_ms=1000.0)


def symmetric_padding(name, geometry):
    """(pad_h, pad_w) of a geometry padded alike on both sides, as cuDNN takes it, else a ValueError."""
    (top, bottom), (left, right) = geometry.pads
    if (top, left) != (bottom, right):
        raise ValueError(f"{name}: padding {geometry.pads} is not symmetric: PyTorch's conv2d cannot take it")
    return top, left


def our_pass(step, w, options, variant, backend):
    """Our pass ``step`` by ``variant``, ``run(x, dy, out)``."""
    if step == "forward":
        return lambda x, dy, y: depthwise.depthwise_conv2d_forward_kernel(x, w, None, *options, variant=variant,
                                                                          y=y, backend=backend)
    if step == "backward_data":
        return lambda x, dy, dx: depthwise.depthwise_conv2d_backward_data_kernel(dy, w, x.shape, *options,
                                                                                 variant=variant, dx=dx,
                                                                                 backend=backend)
    return lambda x, dy, dw: depthwise.depthwise_conv2d_backward_filter_kernel(x, dy, w.shape, *options,
                                                                               variant=variant, dw=dw, backend=backend)


def references(w, options):
    """Each pass's float64 reference, ``reference(x, dy)``."""
    w64 = w.astype(np.float64)
    return {
        "forward": lambda x, dy: depthwise.depthwise_conv2d_forward(x.astype(np.float64), w64, None, *options),
        "backward_data": lambda x, dy: depthwise.depthwise_conv2d_backward_data(dy.astype(np.float64), w64, x.shape,
                                                                                *options),
        "backward_filter": lambda x, dy: depthwise.depthwise_conv2d_backward_filter(
            x.astype(np.float64), dy.astype(np.float64), w.shape, *options)[0],
    }


def note(session, text):
    """Print ``text`` and keep it in the JSON's notes: what was left out, and why."""
    print(f"{session.benchmark}: {text}", flush=True)
    session.notes.append(text)


def fits(session, name, step, variant, w_shape, geometry) -> bool:
    """Whether ``variant`` runs pass ``step`` here; if not (smem_tile's shared memory), a printed note."""
    try:
        depthwise.choose_variant(step, variant, w_shape, geometry)
        return True
    except ValueError as why:
        note(session, f"{variant}_{step} at {name} left out: {why}")
        return False


def measure_shape(session, torch, problem):
    name, x_shape, w_shape, stride, padding = problem
    xp = session.xp
    options = (stride, padding, 1)
    geometry = depthwise.depthwise_conv2d_geometry(x_shape, w_shape, *options)
    pad = symmetric_padding(name, geometry)
    y_shape = depthwise.depthwise_conv2d_output_shape(x_shape, w_shape, *options)
    x_size, y_size = math.prod(x_shape), math.prod(y_shape)
    w = session.uniform(session.rng, w_shape)
    sets = session.input_sets(lambda rng: (session.uniform(rng, x_shape), session.uniform(rng, y_shape)),
                              4 * (x_size + y_size))
    outputs = {"forward": xp.empty(y_shape, np.float32), "backward_data": xp.empty(x_shape, np.float32),
               "backward_filter": xp.empty(w_shape, np.float32)}
    bytes_moved = 4 * (x_size + math.prod(w_shape) + y_size)  # each pass: two of x, w, y read, the third written
    macs = y_size * w_shape[0] * w_shape[1]
    params = {"shape": name, "x": list(x_shape), "w": list(w_shape), "strides": stride, "padding": padding}
    timing = "launch" if session.dry_run else "graph"  # the emulator has no CUDA graphs
    cudnn = cudnn_passes(session, torch, w, stride, pad, sets[0][0]) if torch is not None else None
    for step, reference in references(w, options).items():
        # An output sums macs / its size terms: R S (forward), about R S M / strides (data), N P Q (filter).
        tolerance = harness.sum_tolerance(macs // outputs[step].size)
        ours = []
        for variant in (v for v in depthwise.VARIANTS if fits(session, name, step, v, w_shape, geometry)):
            run, check, poison, graph = conv2d.timed(our_pass(step, w, options, variant, session.backend),
                                                     outputs[step], reference)
            ours.append(session.measure(f"{variant}_{step}", {"pass": step, **params}, run, sets, check,
                                        poison=poison, bytes_moved=bytes_moved, tolerance=tolerance, timing=timing,
                                        graph=graph))
        if cudnn is None:
            continue
        their_passes, backend = cudnn
        their_reference = reference
        if step == "backward_filter":  # cuDNN's dw, (C * M, 1, R, S), reads as (R, S, 1, C * M) in our layout
            their_reference = lambda x, dy: reference(x, dy).reshape(*w_shape[:2], 1, -1)  # noqa: E731
        run, check, poison, graph = conv2d.theirs(step, their_passes[step], their_reference)
        # cuDNN may pick a Winograd or FFT algorithm, which trades some accuracy: held to 1e-4.
        their_params = {"pass": step, **params, "torch_backend": backend}
        baseline = harness.measure_baseline(session, f"cudnn_{step}", their_params, run, sets, check,
                                            bytes_moved=bytes_moved, tolerance=max(tolerance, 1e-4), timing="graph",
                                            graph=graph)
        for result in ours if baseline is not None and baseline["check"]["passed"] else ():
            result["vs_cudnn"] = baseline["median_ms"] / result["median_ms"]
    session.write()  # with vs_cudnn


def cudnn_passes(session, torch, w, stride, pad, x):
    """``(passes, backend)``: ``passes``, PyTorch's three passes of the depthwise convolution by ``w``
    (R, S, C, M) in FP32, conv2d's at ``groups=C`` with the filter (C * M, 1, R, S), output channel
    c * M + m as ours; ``backend``, the convolution backend PyTorch picks for the operands of ``x``'s
    shape ("Cudnn" for cuDNN), noted if it is another. None, with a note, if PyTorch refuses the
    operands (the baselines are then left out)."""
    r, s, channels, multiplier = w.shape
    grouped = w.reshape(r, s, 1, channels * multiplier)  # conv2d's (R, S, C / groups, K)
    passes = conv2d.cudnn_passes(torch, grouped, stride, pad, groups=channels)  # sets cuDNN's flags
    try:
        operands = harness.nchw_view(torch, x), conv2d.channels_last_filter(torch, grouped)
        select = getattr(torch._C, "_select_conv_backend", None)  # PyTorch's own dispatch, private: may be missing
        backend = (select(*operands, None, [stride, stride], list(pad), [1, 1], False, [0, 0], channels).name
                   if select else "unknown")
    except Exception as error:  # whatever PyTorch raised, our kernels' cases still run
        note(session, f"cuDNN's depthwise convolution left out: {type(error).__name__}: {error}")
        return None
    if backend != "Cudnn":
        note(session, f"PyTorch runs this depthwise convolution on its {backend} backend, not cuDNN")
    return passes, backend


if __name__ == "__main__":
    sys.exit(main())
