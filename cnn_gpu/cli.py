"""``cnn-gpu``: a thin dispatcher, one function per subcommand.

A subcommand is a function ``<name>(args) -> exit code`` whose docstring's first line is its help,
an optional ``<name>_arguments(parser)``, and one line in ``COMMANDS``; nothing else here needs to
change to add one.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from cnn_gpu import datasets

AUTO = "auto"  # full MNIST if it is on disk, else the embedded sample


# --- shared arguments ----------------------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text}")
    return value


def _data_arguments(parser):
    parser.add_argument("--dataset", default=AUTO, choices=(AUTO, *datasets.NAMES),
                        help="auto (default): full MNIST where it is found on disk, else the "
                             f"embedded {datasets.SAMPLE}; a named dataset is downloaded if missing")
    parser.add_argument("--data-dir", help="folder holding the dataset files (searched first, "
                                           "and where downloads go)")
    parser.add_argument("--backend", choices=("numpy", "cuda", "emulate"),
                        help="default: cuda where a GPU is usable, else numpy")
    parser.add_argument("--batch-size", type=_positive_int, default=32)


def _choose_backend(name):
    from cnn_gpu.backend import backend_reason, get_backend, set_backend

    if name:
        set_backend(name)
    print(f"backend: {backend_reason()}")
    if get_backend().name == "cuda":
        _compile_ahead()


def _compile_ahead():
    """On a GPU, the kernel modules no earlier run left in the cache compiled now, all at once (what
    `cnn-gpu compile` does), where the first epoch's launches would compile them one after another.
    If that fails, the launches still compile what they need."""
    from cnn_gpu.cuda import precompile

    try:
        builds = precompile.missing(precompile.declared_builds(precompile.gpu_capability()))
        if builds:
            print(f"compiling {len(builds)} kernel modules, once and in parallel (`cnn-gpu compile` does it ahead)")
            precompile.precompile(builds, report=lambda line: None)
    except RuntimeError as error:
        print(f"compiling ahead failed ({error}); each kernel compiles at its first launch instead")


def _load_dataset(name, data_dir):
    """The prepared splits of ``name`` (resolving auto), after saying which dataset it is."""
    from cnn_gpu import seed_model

    if name == AUTO:
        name = "mnist" if datasets.locate("mnist", data_dir) else datasets.SAMPLE
        why = "found on disk" if name == "mnist" else (
            "full MNIST is not on disk; --dataset mnist downloads it")
    else:
        why = "as asked"
    (x_train, y_train), (x_test, y_test) = datasets.load(name, data_dir)
    print(f"dataset: {name} ({why}): {len(x_train)} train / {len(x_test)} test images")
    return seed_model.prepare(x_train, y_train), seed_model.prepare(x_test, y_test)


# --- train ---------------------------------------------------------------------------------------
def train_arguments(parser):
    _data_arguments(parser)
    parser.add_argument("--epochs", type=_positive_int, default=5)
    parser.add_argument("--seed", type=int, help="seed every random choice (weights, shuffling)")
    parser.add_argument("--validation-split", type=_fraction, default=0.0,
                        help="fraction of the training images held out to validate each epoch")
    parser.add_argument("--save", metavar="PATH", help="write the trained model here")


def train(args):
    """Train the seed CNN and report its test accuracy."""
    import cnn_gpu
    from cnn_gpu import seed_model
    from cnn_gpu.utils import set_random_seed

    _choose_backend(args.backend)
    (x_train, y_train), (x_test, y_test) = _load_dataset(args.dataset, args.data_dir)
    if args.seed is not None:
        set_random_seed(args.seed)
    model = seed_model.build(cnn_gpu, input_shape=x_train.shape[1:])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_split=args.validation_split)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save}")
    return 0


# --- evaluate ------------------------------------------------------------------------------------
def evaluate_arguments(parser):
    parser.add_argument("model", help="a model written by `cnn-gpu train --save`")
    _data_arguments(parser)


def evaluate(args):
    """Evaluate a saved model on a dataset's test split."""
    from cnn_gpu.models import load_model

    _choose_backend(args.backend)
    _, (x_test, y_test) = _load_dataset(args.dataset, args.data_dir)
    model = load_model(args.model)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    return 0


# --- info ----------------------------------------------------------------------------------------
def info(args):
    """Show the backend in use and why, the GPU seen, the CuPy and nvcc versions, and the cache folder."""
    from cnn_gpu import system_info

    rows = system_info.report()
    width = max(len(what) for what, _ in rows)
    for what, finding in rows:
        print(f"{what:>{width}}: {finding}")
    return 0


# --- kernels -------------------------------------------------------------------------------------
def kernels_arguments(parser):
    parser.add_argument("--refresh", action="store_true", help="compile again even where the sources are unchanged")


def kernels(args):
    """List every kernel with its registers, shared memory, stack and spills per GPU architecture."""
    from cnn_gpu.cuda import compile_check
    from cnn_gpu.cuda.kernel import declared_kernels

    nvcc = compile_check.find_nvcc()
    if nvcc is None:
        print("nvcc not found: the declared kernels, without their resource use")
        for kernel in declared_kernels():
            print(f"{kernel.file:18s} {kernel.name}")
        return 0
    print(compile_check.format_report(compile_check.check_all(nvcc, refresh=args.refresh)))
    return 0


# --- compile -------------------------------------------------------------------------------------
def _architecture(text):
    if not re.fullmatch(r"sm_\d+a?", text):
        raise argparse.ArgumentTypeError(f"must be a GPU architecture such as sm_90, got {text}")
    return text


def compile_arguments(parser):
    parser.add_argument("--arch", type=_architecture, help="the architecture to compile for, e.g. sm_90 "
                        "(default: the GPU's; naming one needs no GPU)")
    parser.add_argument("--jobs", type=_positive_int, help="compiles at once (default: one per core)")
    parser.add_argument("--all", action="store_true", help="also the builds only benchmarks launch (the tile sweep's)")


def compile(args):  # the builtin of that name is not used here
    """Compile every kernel into the cache now, in parallel, so no later run waits for NVRTC."""
    from cnn_gpu.cuda import precompile
    from cnn_gpu.cuda.sources import compute_capability

    try:
        capability = compute_capability(args.arch) if args.arch else precompile.gpu_capability()
        start = time.perf_counter()
        # A line a file once all are done, not one a module: the GPU's modules are one a template instance.
        builds = precompile.precompile(precompile.declared_builds(capability, args.all), args.jobs,
                                       report=lambda line: None)
    except RuntimeError as error:  # no GPU and no --arch, a cache it cannot write, or NVRTC refused a source
        print(f"cnn-gpu compile: {error}", file=sys.stderr)
        return 1
    print("\n".join(precompile.per_file(builds)))
    print(f"{len(builds)} modules for sm_{capability} in the cache after {time.perf_counter() - start:.1f} s")
    return 0


# --- gradcheck -----------------------------------------------------------------------------------
def gradcheck_arguments(parser):
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs and weights")


def gradcheck(args):
    """Check every layer's and loss's gradients against central differences; print a table."""
    from cnn_gpu import gradcheck_cases
    from cnn_gpu.backend import set_backend

    # The checks perturb weights in place, which only works on host arrays.
    set_backend("numpy")
    outcomes = gradcheck_cases.run_all(args.seed)
    verdicts = {True: "ok", False: "FAIL", None: "MISSING"}
    rows = [("kind", "name", "case", "result", "ms")] + [
        (o.kind, o.name, o.case, verdicts[o.passed], f"{1000 * o.seconds:.0f}") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for o in outcomes:
        if not o.passed:
            print(" ".join(filter(None, (verdicts[o.passed], o.kind, o.name, o.case))) + f": {o.detail}")
    failed = sum(not o.passed for o in outcomes)
    print(f"{len(outcomes) - failed} of {len(outcomes)} gradient checks passed")
    return 1 if failed else 0


# --- bench ---------------------------------------------------------------------------------------
def bench_arguments(parser):
    parser.add_argument("benchmark", help="a script of benchmarks/ (gemm, transpose, ...), without .py")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="passed on (--dry-run, --out DIR, ...)")


def bench(args):
    """Run a benchmark of the checkout's benchmarks/ folder (not shipped in the wheel)."""
    import importlib
    from pathlib import Path

    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "benchmarks" / f"{args.benchmark}.py").is_file():
        print(f"cnn-gpu bench: no benchmarks/{args.benchmark}.py in {checkout} (benchmarks run from a checkout)",
              file=sys.stderr)
        return 1
    sys.path.insert(0, str(checkout))
    return importlib.import_module(f"benchmarks.{args.benchmark}").main(args.options)


# --- dispatch ------------------------------------------------------------------------------------
COMMANDS = {
    "train": (train_arguments, train),
    "evaluate": (evaluate_arguments, evaluate),
    "info": (None, info),
    "kernels": (kernels_arguments, kernels),
    "compile": (compile_arguments, compile),
    "gradcheck": (gradcheck_arguments, gradcheck),
    "bench": (bench_arguments, bench),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="cnn-gpu", description="A Keras-like CNN engine on "
                                     "hand-written CUDA kernels (NumPy on the CPU).")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (add_arguments, run) in COMMANDS.items():
        summary = run.__doc__.splitlines()[0]
        subparser = subparsers.add_parser(name, help=summary, description=summary)
        if add_arguments:
            add_arguments(subparser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    # Bad input: missing or corrupt files, a model that does not fit the data. Their messages say
    # what is wrong; a traceback would only hide that.
    except (OSError, ValueError) as error:
        print(f"cnn-gpu {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
