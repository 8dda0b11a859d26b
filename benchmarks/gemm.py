"""GEMM: every rung of the ladder against cuBLAS, in TFLOP/s and as a fraction of cuBLAS.

Cases: square products 256 to 8192 (A.B; at 4096 also A.B^T and A^T.B), and the seed model's two
Dense layers (5408 -> 64 and 64 -> 10) at batch 32, 128 and 512, each in its three products: forward
x.W (A.B), backward to data dy.W^T (A.B^T), backward to weights x^T.dy (A^T.B). cuBLAS (``cupy.matmul``) runs each case twice,
with TF32 off (the baseline of the FP32 rungs) and on (the baseline of gemm_tf32_mma); every result
records its fraction of the cuBLAS run of the same case and precision (``vs_cublas``), and the
harness adds the fraction of cuBLAS's FP32 rate at 8192^3 (the measured peak).

The Dense products take microseconds of GPU time, less than the host spends to launch them, so each
is timed twice (``timing`` in each result, harness.TIMINGS): as replays of a CUDA graph of the
calls, the time the kernels take, every rung; and launch by launch, the time a caller waits per
call, cuBLAS and the autotuned call only (rungs_timed); each ``vs_cublas`` compares with cuBLAS
timed the same way. CuPy refuses any cuBLAS call while a stream captures, so cuBLAS's graph holds
the same products through ``torch.mm`` instead (PyTorch's views of
the same arrays, transposed the same way, its TF32 flag off for cublas_fp32 and on for cublas_tf32),
captured with PyTorch's graph API; such a result says ``graph_via: "torch.mm"``, and the run's
PyTorch version is in its environment. Launch by launch, cuBLAS stays ``cupy.matmul``: that timing
includes the call's host side, which is the library's own, and CuPy's is what this engine's callers
meet (the ceilings are measured through it too). Without PyTorch, or where its capture fails,
cuBLAS's graph case is timed launch by launch, and its ``timing_note`` says why.
Each Dense product also times ``autotuned``: gemm() without a variant, as Dense calls it, the rung the
autotuner chose (timing its candidates' kernels by graph replay, cnn_gpu/cuda/autotune.py) named in
its ``chosen`` parameter: what issue 5's Dense goal compares with cuBLAS.
``--cases REGEX`` and ``--kernels NAME,...`` time a subset (the cuBLAS baselines and, on Dense
products, the autotuned call always run).

The slow rungs skip the large squares (NAIVE_MAX), and samples are short, so that the run fits
gpu_check.sh's per-benchmark time limit.
The README's ladder table comes from the JSON: ``python -m benchmarks.report benchmarks/results/gemm.json
--ladder square4096``.

``--sweep`` times the tile sweep instead (``GEMM_SWEEP`` in cnn_gpu/ops/gemm_variants.py: the tiled
rungs under other block tiles, warp tiles, K-tiles and pipeline depths; with ``--kernels``, those rungs' entries)
on the 4096^3 A.B square, after the two cuBLAS baselines, into gemm_sweep.json; each result's
``tiling`` parameter names its tiling. Its module compiles at the first launch (about 15 s of NVRTC),
outside the timings. Rungs built for another GPU architecture (wgmma's sm_90a) are left out, saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import re
import sys
import types

import numpy as np

from benchmarks import harness, unproven
from cnn_gpu.cuda.kernel import current_device, runs_here
from cnn_gpu.cuda.loader import KernelLaunchError
from cnn_gpu.ops.gemm import choice_label, choose_variant, gemm, gemm_reference
from cnn_gpu.ops.gemm_variants import GEMM_SWEEP, GEMM_VARIANTS

SQUARES = [256, 512, 1024, 2048, 4096, 8192]
# The seed model's Dense layers (in_features, units) and the batches to time them at.
DENSE_LAYERS = [(5408, 64), (64, 10)]
BATCHES = [32, 128, 512]
# Rungs 1, 2 and 11 take a tenth of a second to seconds per launch past this size: skipped there.
SLOW_VARIANTS, NAIVE_MAX = ("gemm_naive", "gemm_coalesced", "gemm_warp_per_output"), 2048
# The square the tile sweep runs on (a dry run takes the dry run's square).
SWEEP_SQUARE = 4096
# At this square the ladder also times A.B^T and A^T.B (cases square4096_abt, square4096_atb): the
# rungs' loads differ by operand layout (wgmma transposes an MN-major operand on the way, 4 bytes at
# a time), and A.B has one of each.
TRANSPOSED_SQUARE = 4096
TRANSPOSED_SQUARE_PRODUCTS = [("_abt", 4096, 4096, 4096, False, True, ("a", "b")),
                              ("_atb", 4096, 4096, 4096, True, False, ("a", "b"))]


def dense_products(batch, fan_in, units):
    """A Dense layer's three products: (label, m, n, k, trans_a, trans_b, operand names), over the
    layer's x (batch, fan_in), w (fan_in, units) and dy (batch, units)."""
    return [("forward", batch, units, fan_in, False, False, ("x", "w")),
            ("backward_data", batch, fan_in, units, False, True, ("dy", "w")),
            ("backward_weights", fan_in, units, batch, True, False, ("x", "dy"))]


def problems(dry_run):
    """(label prefix, {operand name: shape}, products): one input family and the products over it."""
    if dry_run:
        squares = [("square40", {"a": (40, 20), "b": (20, 36)}, [("", 40, 36, 20, False, False, ("a", "b"))])]
        layers, batches = [(68, 12)], [8]
    else:
        squares = [(f"square{n}", {"a": (n, n), "b": (n, n)}, [("", n, n, n, False, False, ("a", "b"))]
                    + (TRANSPOSED_SQUARE_PRODUCTS if n == TRANSPOSED_SQUARE else []))
                   for n in SQUARES]
        layers, batches = DENSE_LAYERS, BATCHES
    dense = [(f"dense{fan_in}x{units}_b{batch}_", {"x": (batch, fan_in), "w": (fan_in, units), "dy": (batch, units)},
              dense_products(batch, fan_in, units)) for fan_in, units in layers for batch in batches]
    # Issue 5's goal cases first (the 4096 square, the seed model's Dense products): a run that
    # gpu_check.sh's time limit cuts short keeps them. Then the other squares.
    goal_square = [p for p in squares if p[0] == f"square{TRANSPOSED_SQUARE}"]
    return goal_square + dense + [p for p in squares if p not in goal_square]


def cublas_runs(session):
    """The vendor baselines by name: ``(tf32, run, torch_run)``, ``run(a, b, trans_a, trans_b, out)``
    being cuBLAS through cupy.matmul with TF32 off and on (plain NumPy on a dry run), and ``torch_run``
    the same product through torch.mm, which graph timing captures instead (TorchProduct says why)."""
    xp = session.xp
    if session.dry_run:
        return {"numpy_matmul": (False, functools.partial(multiply, xp.matmul), None)}
    from cupy._core import _routines_linalg as cublas_modes

    def with_mode(mode):
        float32 = np.dtype(np.float32)

        def run(*args):
            with setting(lambda: cublas_modes.get_compute_type(float32),
                         lambda value: cublas_modes.set_compute_type(float32, value), mode):
                multiply(xp.matmul, *args)
        return run

    return {"cublas_fp32": (False, with_mode(cublas_modes.COMPUTE_TYPE_FP32), TorchProduct(False)),
            "cublas_tf32": (True, with_mode(cublas_modes.COMPUTE_TYPE_TF32), TorchProduct(True))}


def multiply(matmul, a, b, trans_a, trans_b, out):
    """``matmul(a, b, out=out)`` (NumPy's, CuPy's or PyTorch's), an operand transposed where its flag
    says so: a transposed view, which cuBLAS reads in place, as our kernels do."""
    matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)


@contextlib.contextmanager
def setting(get, put, value):
    """``put(value)`` for the duration, then the previous setting (``get()``) back."""
    previous = get()
    put(value)
    try:
        yield
    finally:
        put(previous)


class TorchProduct:
    """``run`` through torch.mm, on PyTorch's views of the CuPy arrays (their memory shared, nothing
    copied), TF32 allowed as ``tf32`` says: what graph timing captures of cuBLAS, since CuPy raises
    on any cuBLAS call while a stream captures and PyTorch captures its own (harness.capture_torch).
    cuBLAS's math mode is fixed when a call is captured, so the TF32 flag is set around each call,
    the captured ones included, and restored after it.

    PyTorch is imported at the first call, which harness.capture_torch makes after importing it: where
    it is missing, the capture fails first, and the case is timed launch by launch, saying why."""
    via = "torch.mm"

    def __init__(self, tf32):
        self.tf32, self.view = tf32, None

    def __call__(self, a, b, trans_a, trans_b, out):
        import torch

        self.view = self.view or harness.torch_views(torch)  # each array's tensor, made at its first call
        flags = torch.backends.cuda.matmul
        with setting(lambda: flags.allow_tf32, lambda value: setattr(flags, "allow_tf32", value), self.tf32):
            multiply(torch.mm, self.view(a), self.view(b), trans_a, trans_b, self.view(out))


def timings(prefix):
    """How a problem's products are timed: the Dense ones both ways (see the module's docstring), by
    graph first, the kernel times that issue 5's Dense goal compares."""
    return ("graph", "launch") if prefix.startswith("dense") else ("launch",)


def rungs_timed(prefix, timing, kernels):
    """The rungs a product is timed on: all of ``kernels``, but a Dense product launch by launch on
    none (only cuBLAS and the autotuned call, what a caller waits for): there the rungs differ mostly
    by the host's time, which benchmarks/gemm_call_overhead.py measures, and the GPU run's time
    limit is better spent elsewhere."""
    return [] if prefix.startswith("dense") and timing == "launch" else kernels


def measure_product(session, sets, case, product, name, run, tf32, extra_params=None, timing="launch",
                    torch_run=None):
    """Time ``run(a, b, trans_a, trans_b, out)`` on one product of ``sets`` and check it against float64;
    ``torch_run``, of the same form, is what graph timing captures instead (see TorchProduct)."""
    label, m, n, k, trans_a, trans_b, (name_a, name_b) = product
    out = case["out"]
    params = {"case": case["name"], "m": m, "n": n, "k": k, "trans_a": trans_a, "trans_b": trans_b, "tf32": tf32,
              **(extra_params or {})}
    on_sets = lambda run: lambda ops: run(ops[name_a], ops[name_b], trans_a, trans_b, out)  # noqa: E731
    graph = None if torch_run is None else harness.Graph(on_sets(torch_run), torch_run.via, harness.capture_torch)
    return session.measure(
        name, params, on_sets(run), sets,
        lambda ops: (out, gemm_reference(ops[name_a], ops[name_b], trans_a, trans_b)), poison=[out],
        flops=2 * m * n * k, tolerance=2e-3 if tf32 else harness.sum_tolerance(k), timing=timing, graph=graph)


def main(argv=None) -> int:
    parser = harness.argument_parser(__doc__)
    parser.add_argument("--sweep", action="store_true", help="time the tile sweep (GEMM_SWEEP) instead of the ladder")
    parser.add_argument("--cases", type=re.compile, default=re.compile(""),
                        help="time only the products whose case name matches this regular expression")
    parser.add_argument("--kernels", type=rung_names, default=list(GEMM_VARIANTS),
                        help="time only these rungs (comma-separated; the cuBLAS baselines always run)")
    args = parser.parse_args(argv)
    # Short samples: ~450 cases must fit gpu_check.sh's per-benchmark limit with compilation.
    session = harness.Session("gemm_sweep" if args.sweep else "gemm", args, warmup=2, repeat=15, batch_ms=0.5,
                              case_budget_ms=400.0)
    not_launched = []
    kernels = [name for name in args.kernels if runs_here(GEMM_VARIANTS[name].file, session.backend)]
    if len(kernels) < len(args.kernels):
        left_out = ", ".join(sorted(set(args.kernels) - set(kernels)))
        print(f"gemm: built for another GPU architecture: {left_out}", flush=True)
    try:
        if args.sweep:
            not_launched = measure_sweep(session, kernels)
        else:
            measure_all(session, args.cases, kernels)
    except KeyboardInterrupt:  # gpu_check.sh's time limit (SIGINT): keep what was measured
        print("gemm: interrupted; writing the cases measured so far", flush=True)
    return harness.finish(session) or int(bool(not_launched))


def rung_names(text):
    """``--kernels``: comma-separated names of GEMM_VARIANTS."""
    names = text.split(",")
    unknown = [name for name in names if name not in GEMM_VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"no such rungs: {', '.join(unknown)} (the ladder: {', '.join(GEMM_VARIANTS)})")
    return names


def measure_all(session, cases=re.compile(""), kernels=tuple(GEMM_VARIANTS)):
    """Every problem's products (those ``cases`` matches): the cuBLAS baselines first, then each rung
    of ``kernels`` against them, once per timing."""
    for prefix, shapes, products in problems(session.dry_run):
        products = [product for product in products if cases.search(prefix + product[0])]
        if not products:
            continue
        sets = operand_sets(session, shapes)
        for product, timing in itertools.product(products, timings(prefix)):
            case, baselines = measure_baselines(session, sets, prefix, product, timing)
            if prefix.startswith("dense"):  # the goal's row before the rungs, which a fault would end
                name_a, name_b = product[-1]
                chosen = choice_label(*chosen_variant(session.backend, sets[0][name_a], sets[0][name_b], case["out"],
                                                      product))
                measure_rung(session, sets, case, product, None, AUTOTUNED, baselines, {"chosen": chosen}, timing)
            for name in rungs_timed(prefix, timing, kernels):
                if name in SLOW_VARIANTS and max(product[1:4]) > NAIVE_MAX:
                    continue
                measure_rung(session, sets, case, product, name, GEMM_VARIANTS[name], baselines, None, timing)


# gemm() called without a variant, as a stand-in for a ladder rung in measure_rung.
AUTOTUNED = types.SimpleNamespace(name="autotuned", tf32=False)


def chosen_variant(backend, a, b, out, product):
    """``(variant, split_k)``: the rung gemm() runs for ``product`` (its operands ``a`` and ``b``, into
    ``out``) when given no variant, and its slices of K where not its policy's (else None): the
    autotuner's choice on a GPU (timed now if not yet), the emulator's default on a dry run."""
    _, m, n, k, trans_a, trans_b, _ = product
    return choose_variant(None, backend, current_device(backend), a, b, out, trans_a, trans_b, m, n, k)


def sweep_order(kernels=tuple(GEMM_VARIANTS)):
    """The GEMM_SWEEP entries of the rungs ``kernels`` in the order the sweep times them: those of the
    Hopper rungs first (benchmarks/unproven.py: those on which the TF32 goal hangs),
    so that a sweep cut short by gpu_check.sh's time limit keeps them; each rung's default first."""
    hopper = set(unproven.rungs())
    return sorted((v for v in GEMM_SWEEP if v.name in kernels), key=lambda v: v.name not in hopper)


def sweep_problem(dry_run):
    """(label prefix, operand shapes, product) of the sweep: the square's A.B, not the transposed
    products timed beside it."""
    square = "square40" if dry_run else f"square{SWEEP_SQUARE}"
    ((prefix, shapes, (product, *_)),) = [p for p in problems(dry_run) if p[0] == square]
    return prefix, shapes, product


def measure_sweep(session, kernels=tuple(GEMM_VARIANTS)):
    """The cuBLAS baselines, then every GEMM_SWEEP entry of the rungs ``kernels``, on the sweep's
    square (A.B). A tiling the device will not launch is reported and skipped, so that it does not
    cost the others their turn; returns those."""
    prefix, shapes, product = sweep_problem(session.dry_run)
    sets = operand_sets(session, shapes)
    case, baselines = measure_baselines(session, sets, prefix, product)
    not_launched = []
    for variant in sweep_order(kernels):
        label = variant.tiling.label
        try:
            measure_rung(session, sets, case, product, variant, variant, baselines, {"tiling": label})
        except KernelLaunchError as error:
            print(f"gemm_sweep: {variant.name} {label} not measured: {error}", flush=True)
            not_launched.append(f"{variant.name} {label}")
    return not_launched


def operand_sets(session, shapes):
    """Random operands of ``shapes`` ({name: shape}), in as many sets as the harness rotates through."""
    return session.input_sets(lambda rng: {name: session.uniform(rng, shape) for name, shape in shapes.items()},
                              4 * sum(int(np.prod(shape)) for shape in shapes.values()))


def measure_baselines(session, sets, prefix, product, timing="launch"):
    """A fresh case for ``product`` and its cuBLAS rates, ``{(tf32, timing used): TFLOP/s}``."""
    label, m, n = product[:3]
    case = {"name": prefix + label, "out": session.xp.empty((m, n), dtype=np.float32)}
    baselines = {}
    for name, (tf32, run, torch_run) in cublas_runs(session).items():
        result = measure_product(session, sets, case, product, name, run, tf32, None, timing, torch_run)
        baselines[tf32, result["timing"]] = result["tflops"]
    return case, baselines


def measure_rung(session, sets, case, product, kernel, variant, baselines, extra_params=None, timing="launch"):
    """One kernel (a ladder name, a GEMM_SWEEP entry, or None for the autotuner's choice) timed and
    checked, with its fraction of the cuBLAS run of the same precision, timed the same way (``vs_cublas``)."""
    run = lambda a, b, ta, tb, out: gemm(  # noqa: E731
        a, b, trans_a=ta, trans_b=tb, variant=kernel, out=out, backend=session.backend)
    result = measure_product(session, sets, case, product, variant.name, run, variant.tf32, extra_params, timing)
    used = result["timing"]
    baseline = baselines.get((variant.tf32, used), baselines.get((False, used)))
    result["vs_cublas"] = result["tflops"] / baseline if baseline else None


if __name__ == "__main__":
    sys.exit(main())
