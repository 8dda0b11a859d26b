"""Seconds per training epoch of the seed model on the GPU: cnn_gpu's cuda backend against PyTorch
(cuDNN's convolutions, cuBLAS's products), the whole of one Model.fit epoch.

The protocol is cpu_train.py's, whose trainers this uses: the same network (Conv2D 32 3x3 - MaxPool 2
- Dense 64 - Dense 10), Adam at Keras's defaults, the same uint8 images scaled to [0, 1], batch 32.
Each batch is copied to the GPU from host arrays and each step's loss read back, as Model.fit does
with its own (so neither side runs ahead of the host by more than a step). Epochs alternate
between the two, and each ends with the GPU synchronised. The first epoch of each is not counted:
it compiles kernels, runs the autotuner and lets cuDNN choose its algorithms. The median of the
others is. Both sides run in FP32: PyTorch's TF32 is off for its convolutions and products, as
CuPy's is by default.

    python -m benchmarks.gpu_train [--dataset mnist-sample] [--epochs 4] [--out DIR] [--batch-norm]
    python -m benchmarks.gpu_train --dry-run        # the numpy backend on a few batches: checks the script
    python -m benchmarks.gpu_train --summary FILE   # one line from a result file

Writes <out>/gpu_train.json (default benchmarks/results/) with the device, the versions and the git
commit. ``--batch-norm`` trains seed_model's variant with BatchNormalization after the convolution
on both sides instead (PyTorch's BatchNorm2d, cuDNN's), into gpu_train_batchnorm.json. On the seed
model cnn_gpu's kernels run everything: Dense (GEMM), Conv2D, MaxPooling2D, the activations (ReLU in
the products' epilogues), the softmax cross-entropy, the bias gradients (column sums), the accuracy
count and Adam; each layer's Python sits between launches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks import harness, run_info
from benchmarks.cpu_train import cnn_gpu_epoch, interleaved_epoch_times, torch_epoch
from cnn_gpu import datasets, seed_model

BENCHMARK = "gpu_train"
DRY_RUN_IMAGES = 64


def pytorch_fp32(torch) -> None:
    """PyTorch in FP32 on the GPU: no TF32 in cuDNN's convolutions or cuBLAS's products."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def sides(dry_run: bool) -> tuple[str, str]:
    """The result names of cnn_gpu's side and PyTorch's."""
    return ("cnn_gpu_numpy", "pytorch_cpu") if dry_run else ("cnn_gpu_cuda", "pytorch_cuda")


def trainers(x, y, batch_size: int, seed: int, dry_run: bool, batch_norm: bool = False) -> tuple[dict, str]:
    """The epoch functions to time, by result name, and a note on what was left out (or "")."""
    ours, theirs = sides(dry_run)
    runs = {ours: cnn_gpu_epoch(x, y, batch_size, seed, backend="numpy" if dry_run else "cuda",
                                batch_norm=batch_norm)}
    try:
        import torch
    except ImportError:
        return runs, "PyTorch is not installed: its side was left out"
    if not dry_run:
        pytorch_fp32(torch)
    runs[theirs] = torch_epoch(x, y, batch_size, seed, device="cpu" if dry_run else "cuda", batch_norm=batch_norm)
    return runs, ""


def summary(document: dict) -> str:
    """One line: each side's seconds per epoch and milliseconds per step, their ratio, and the note
    on what was left out, if anything was."""
    timings = [f"{name} {side['seconds_per_epoch']:.3f} s/epoch ({side['ms_per_step']:.2f} ms/step)"
               for name, side in document["measured"].items()]
    ratio = document.get("ratio")
    ratio_text = f"; cnn_gpu / PyTorch = {ratio:.2f}x" if ratio is not None else ""
    note = f" ({document['note']})" if "note" in document else ""
    model = " with batch normalization" if document.get("batch_norm") else ""
    return f"training{model} ({document['environment']['device']}): {', '.join(timings)}{ratio_text}{note}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=run_info.RESULTS, help="folder for the JSON result")
    parser.add_argument("--dry-run", action="store_true",
                        help="the numpy backend (and PyTorch on the CPU) on a few batches: checks the script")
    parser.add_argument("--dataset", default=datasets.SAMPLE, choices=datasets.NAMES)
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=4, help="including the uncounted first (default 4)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-norm", action="store_true",
                        help="seed_model's variant with BatchNormalization after the convolution")
    parser.add_argument("--summary", type=Path, help="print one line from this result file and exit")
    args = parser.parse_args(argv)
    if args.summary:
        print(summary(json.loads(args.summary.read_text())))
        return 0
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is a warm-up and not counted")

    backend = "numpy" if args.dry_run else "cuda"
    environment = harness.environment(backend)  # the code as it was at the start
    (images, labels), _ = datasets.load(args.dataset, args.data_dir)
    x, y = seed_model.prepare(images, labels)
    if args.dry_run:
        x, y = x[:DRY_RUN_IMAGES], y[:DRY_RUN_IMAGES]
    runs, note = trainers(x, y, args.batch_size, args.seed, args.dry_run, args.batch_norm)
    steps = -(-len(x) // args.batch_size)
    measured = {}
    for name, times in interleaved_epoch_times(runs, args.epochs).items():
        per_epoch = statistics.median(times[1:])
        measured[name] = {"epoch_seconds": [round(t, 4) for t in times], "seconds_per_epoch": per_epoch,
                          "ms_per_step": 1000 * per_epoch / steps}
    ours, theirs = (measured.get(name) for name in sides(args.dry_run))
    document = {"benchmark": BENCHMARK, "dry_run": args.dry_run, "environment": environment,
                "dataset": args.dataset, "train_images": len(x), "batch_size": args.batch_size, "steps": steps,
                "epochs": args.epochs, "seed": args.seed, "batch_norm": args.batch_norm, "pytorch_tf32": False,
                "measured": measured,
                "ratio": ours["seconds_per_epoch"] / theirs["seconds_per_epoch"] if theirs else None,
                **({"note": note} if note else {})}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{BENCHMARK}{'_batchnorm' if args.batch_norm else ''}.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(summary(document))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
