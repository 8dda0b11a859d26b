"""Convolution: each pass of every kernel variant against cuDNN's (through PyTorch), FP32, in TFLOP/s.

Shapes: rows of ``benchmarks/shapes/conv_shapes.csv`` (the project's shared shape table). A row's
padding is explicit and symmetric, as cuDNN takes it, and ours is Keras's ``valid`` or ``same``: the
rows benchmarked are those where the two mean the same windows (no padding, or stride 1 with
(R - 1) / 2 on each side and an odd window).

Every pass does 2 N P Q K R S C flops. Our rows record ``vs_cudnn``, cuDNN's time over ours for the
same pass and shape (above 1: faster than cuDNN), in the same precision: our FP32-accurate rungs
against cuDNN with TF32 off (``cudnn_<pass>``), our plain TF32 rungs (conv2d.TF32_VARIANTS)
against cuDNN with TF32 allowed, as PyTorch allows it in convolutions by default
(``cudnn_tf32_<pass>``; both held to TF32's accuracy). cuDNN runs with ``cudnn.benchmark`` on, so it
picks its fastest algorithm for each shape; it sees the same memory as our kernels, NHWC (PyTorch's channels_last), its filter stored
(K, R, S, C) as PyTorch keeps a channels_last weight. All of it is timed by CUDA-graph replay (the
GPU's time, without the Python host side), ours captured by CuPy and PyTorch's by PyTorch.
Where PyTorch is missing (a dry run, here), only our kernels run.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from benchmarks import harness
from cnn_gpu.cuda import autotune
from cnn_gpu.ops import conv2d

SHAPES_CSV = Path(__file__).parent / "shapes" / "conv_shapes.csv"
# The seed model's convolution at the batch `cnn-gpu train` runs, then three larger layers: a 3x3
# one of a small CIFAR network, a 1x1 and a wide 3x3 of DeepBench's training set.
SHAPES = ("seed_conv1_b32", "cifar_conv2", "deepbench_resnet_1x1_up", "deepbench_vgg_28")
# The direct rung is left out above this many flops a pass (deepbench_vgg_28's 29.6 G): its filter
# gradient walks all of N * P * Q in each thread, tens of milliseconds a call there, seconds a case,
# and the smaller shapes already show how it scales.
DIRECT_MAX_FLOPS = 20e9
# TF32 keeps 10 of float32's 23 mantissa bits: each product's operands rounded by up to 2^-11 of
# themselves, a relative error near 1e-3 in a sum of them. Ours in plain TF32 and cuDNN's are held to this.
TF32_TOLERANCE = 5e-3
# Tiny problems for the emulator: the two paddings, a stride, a narrow and a square tile.
DRY_PROBLEMS = [("dry_valid", (2, 7, 6, 3), (3, 3, 3, 5), 1, "valid"), ("dry_same", (2, 6, 7, 4), (3, 3, 4, 40), 1, "same")]


def problems(names=SHAPES):
    """``(name, x_shape, w_shape, stride, padding)`` of each named row of the shape table."""
    with SHAPES_CSV.open() as table:
        rows = {row["name"]: row for row in csv.DictReader(table)}
    out = []
    for name in names:
        row = {key: int(value) for key, value in rows[name].items() if key not in ("name", "source")}
        out.append((name, (row["N"], row["H"], row["W"], row["C"]), (row["R"], row["S"], row["C"], row["K"]),
                    (row["stride_h"], row["stride_w"]), keras_padding(name, row)))
    return out


def keras_padding(name, row):
    """``valid`` or ``same`` for a row whose symmetric padding means one of them, else a ValueError."""
    pads, windows, strides = (row["pad_h"], row["pad_w"]), (row["R"], row["S"]), (row["stride_h"], row["stride_w"])
    if pads == (0, 0):
        return "valid"
    if strides == (1, 1) and all(k % 2 == 1 and pad == (k - 1) // 2 for k, pad in zip(windows, pads)):
        return "same"
    raise ValueError(f"{name}: padding {pads} with window {windows} and strides {strides} is neither "
                     "'valid' nor 'same'")


def cudnn_padding(padding, w_shape):
    """cuDNN's symmetric padding (pad_h, pad_w) of a Keras ``padding`` that problems() accepted."""
    return (0, 0) if padding == "valid" else ((w_shape[0] - 1) // 2, (w_shape[1] - 1) // 2)


def channels_last_filter(torch, w):
    """Our filter ``w``, (R, S, C / groups, K), as PyTorch keeps a channels_last one: (K, C / groups, R, S),
    stored (K, R, S, C / groups); a copy."""
    return torch.from_dlpack(w).permute(3, 0, 1, 2).contiguous().permute(0, 3, 1, 2)


def cudnn_passes(torch, w, stride, pad, tf32=False, groups=1):
    """PyTorch's three passes of the convolution by ``w`` (ours, (R, S, C / groups, K)) in ``groups``
    groups, ``stride`` an int or a pair and ``pad`` cuDNN's (pad_h, pad_w), each ``run(x, dy)`` on
    CuPy arrays through views of their memory, returning its result (PyTorch's own tensor: copying it
    into ours would time a copy too); cuDNN allowed TF32 if ``tf32``, else in FP32. The views and the
    filter (channels_last_filter) are made at the first call (uncaptured, where an error is the
    baseline's own), then kept (harness.torch_views)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    nchw, weight = harness.torch_views(torch, harness.nchw_view), harness.torch_views(torch, channels_last_filter)
    strides = (stride, stride) if isinstance(stride, int) else tuple(stride)
    # The backward passes by the call under torch.nn.grad's conv2d_input and conv2d_weight, given the
    # real x and filter, one output of its mask. conv2d_input would give PyTorch a zero-stride stand-in
    # for x, which reads as NCHW: by PyTorch's source (cuDNN's convolution_backward, ConvShared.cpp), dy
    # would then be copied to NCHW and back to channels_last before cuDNN's kernel, two copies of dy
    # timed as cuDNN's. With x channels_last, as dy, none comes first.
    def gradient(output):
        mask = (output == 0, output == 1, False)
        return lambda x, dy: torch.ops.aten.convolution_backward(
            nchw(dy), nchw(x), weight(w), None, strides, list(pad), [1, 1], False, [0, 0], groups, mask)[output]

    backward = {"backward_data": gradient(0), "backward_filter": gradient(1)}
    passes = {"forward": lambda x, dy: torch.nn.functional.conv2d(nchw(x), weight(w), None, strides, pad, 1, groups),
              **backward}

    def in_precision(run):
        def run_in_precision(x, dy):
            torch.backends.cudnn.allow_tf32 = tf32  # read by each call, as it picks its algorithm
            return run(x, dy)
        return run_in_precision
    return {step: in_precision(run) for step, run in passes.items()}


def in_our_layout(step, result):
    """A PyTorch pass's result as a CuPy array of our layout (NHWC, or RSCK for the filter), no copy."""
    import cupy

    return cupy.asarray(result.permute(2, 3, 1, 0) if step == "backward_filter" else result.permute(0, 2, 3, 1))


def our_passes(session, w, options, variant):
    backend = session.backend
    return {
        "forward": lambda x, dy, y: conv2d.conv2d_forward_kernel(x, w, None, *options, variant=variant, y=y,
                                                                 backend=backend),
        "backward_data": lambda x, dy, dx: conv2d.conv2d_backward_data_kernel(dy, w, x.shape, *options,
                                                                              variant=variant, dx=dx, backend=backend),
        "backward_filter": lambda x, dy, dw: conv2d.conv2d_backward_filter_kernel(x, dy, w.shape, *options,
                                                                                  variant=variant, dw=dw,
                                                                                  backend=backend),
    }


def references(w, options):
    """Each pass's float64 reference (cnn_gpu.ops.conv2d), ``reference(x, dy)``."""
    w64 = w.astype(np.float64)
    return {
        "forward": lambda x, dy: conv2d.conv2d_forward(x.astype(np.float64), w64, None, *options),
        "backward_data": lambda x, dy: conv2d.conv2d_backward_data(dy.astype(np.float64), w64, x.shape, *options),
        "backward_filter": lambda x, dy: conv2d.conv2d_backward_filter(x.astype(np.float64), dy.astype(np.float64),
                                                                       w.shape, *options)[0],
    }


def timed(run, out, reference):
    """(run, check, poison, graph) of one of our passes: it writes ``out``, poisoned before timing."""
    return (lambda inputs: run(*inputs, out)), (lambda inputs: (out, reference(*inputs))), [out], None


def theirs(step, run, reference):
    """The same for a PyTorch pass: its result kept, the last one checked, its graph PyTorch's own."""
    last = {}

    def run_and_keep(inputs):
        last["result"] = run(*inputs)

    check = lambda inputs: (in_our_layout(step, last["result"]), reference(*inputs))  # noqa: E731
    return run_and_keep, check, [], harness.Graph(run_and_keep, via="torch", capture=harness.capture_torch)


def main(argv=None) -> int:
    # Short cases: the direct kernels take tens of milliseconds on the larger shapes, and gpu_check.sh
    # runs every benchmark in minutes.
    session = harness.Session("conv2d", harness.parse_args(__doc__, argv), repeat=20, case_budget_ms=1000.0)
    xp, torch = session.xp, harness.pytorch_baselines(session)
    # The rungs whose GPU tests failed in this run of gpu_check.sh (benchmarks/unproven.py) are not timed.
    left_out = autotune.excluded(conv2d.VARIANTS)
    if left_out:
        session.notes.append(f"not timed, their GPU tests having failed: {', '.join(sorted(left_out))}")
    variants = [variant for variant in conv2d.VARIANTS if variant not in left_out]
    for name, x_shape, w_shape, stride, padding in session.pick(problems(), DRY_PROBLEMS):
        options = (stride, padding, 1)
        y_shape = conv2d.conv2d_output_shape(x_shape, w_shape, *options)
        w = session.uniform(session.rng, w_shape)
        sets = session.input_sets(lambda rng: (session.uniform(rng, x_shape), session.uniform(rng, y_shape)),
                                  4 * (int(np.prod(x_shape)) + int(np.prod(y_shape))))
        outputs = {"forward": xp.empty(y_shape, np.float32), "backward_data": xp.empty(x_shape, np.float32),
                   "backward_filter": xp.empty(w_shape, np.float32)}
        flops = 2 * int(np.prod(y_shape)) * int(np.prod(w_shape[:3]))
        params = {"shape": name, "x": list(x_shape), "w": list(w_shape), "strides": stride, "padding": padding}
        passes = {variant: our_passes(session, w, options, variant) for variant in variants}
        pad = cudnn_padding(padding, w_shape)
        cudnn = ({tf32: cudnn_passes(torch, w, stride, pad, tf32) for tf32 in (False, True)}
                 if torch is not None else None)
        for step, reference in references(w, options).items():
            # Each output sums flops / 2 / its size terms: R S C (forward), about R S K (data), N P Q (filter).
            tolerance = harness.sum_tolerance(flops // 2 // outputs[step].size)
            ours = {False: [], True: []}  # by precision: TF32 or not
            # Not a variant that runs another's kernel for this pass (rung 8's filter gradient is rung 7's).
            for variant in (v for v in variants if (v != "direct" or flops <= DIRECT_MAX_FLOPS)
                            and (v, step) not in conv2d.PASS_FALLBACK):
                tf32 = variant in conv2d.TF32_VARIANTS
                run, check, poison, graph = timed(passes[variant][step], outputs[step], reference)
                ours[tf32].append(session.measure(f"{variant}_{step}", {"pass": step, **params}, run, sets, check,
                                                  poison=poison, flops=flops,
                                                  tolerance=TF32_TOLERANCE if tf32 else tolerance, graph=graph,
                                                  timing="launch" if session.dry_run else "graph"))
            for tf32 in (False, True) if cudnn is not None else ():
                # cuDNN may pick a Winograd or FFT algorithm, which trades some accuracy: held to 1e-4 in FP32.
                run, check, poison, graph = theirs(step, cudnn[tf32][step], reference)
                baseline = harness.measure_baseline(session, f"cudnn_{'tf32_' if tf32 else ''}{step}",
                                                    {"pass": step, **params}, run, sets, check, flops=flops,
                                                    tolerance=TF32_TOLERANCE if tf32 else max(tolerance, 1e-4),
                                                    timing="graph", graph=graph)
                for result in ours[tf32] if baseline is not None and baseline["check"]["passed"] else ():
                    result["vs_cudnn"] = baseline["median_ms"] / result["median_ms"]
        session.write()
    return harness.finish(session)


if __name__ == "__main__":
    sys.exit(main())
