"""Seconds per training epoch of the seed model on the CPU: cnn_gpu's numpy backend against PyTorch.

Both train the same network (Conv2D 32 3x3 - MaxPool 2 - Dense 64 - Dense 10) with Adam at Keras's
defaults on the same uint8 images scaled to [0, 1], batch 32. Epochs alternate between the two, so
that a change in the machine's load falls on both; the first epoch of each warms caches and is not
counted, the median of the others is. Threads: OpenBLAS (ours) and PyTorch each default to all
cores; on a busy machine spinning BLAS threads distort both, and OMP_NUM_THREADS=1
OPENBLAS_NUM_THREADS=1 gives steadier numbers. Writes benchmarks/results/cpu_train_[TAG_]threads-N.json,
N being PyTorch's thread count.

    pip install -e '.[bench]'   # torch: install a CPU build first to avoid the CUDA download
    python -m benchmarks.cpu_train [--dataset mnist-sample] [--epochs 4]
    python -m benchmarks.cpu_train --table

The trainers here serve benchmarks/gpu_train.py too, on the GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from benchmarks import run_info
from cnn_gpu import datasets, seed_model

GOAL_RATIO = 1.5  # issue 3: ours no slower than 1.5x PyTorch


def cnn_gpu_epoch(x, y, batch_size: int, seed: int, backend: str = "numpy", batch_norm: bool = False):
    """A function that trains cnn_gpu's seed model (with ``batch_norm``, seed_model's variant with
    BatchNormalization) on ``backend`` for one epoch, from host arrays as Model.fit takes them, and
    returns once the device has finished."""
    import cnn_gpu
    from cnn_gpu.backend import set_backend
    from cnn_gpu.utils import set_random_seed

    xp = set_backend(backend).xp
    set_random_seed(seed)
    model = seed_model.build(cnn_gpu, input_shape=x.shape[1:], batch_norm=batch_norm)

    def epoch():
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
        if backend == "cuda":
            xp.cuda.Device().synchronize()

    return epoch


def torch_seed_model(torch, input_shape, batch_norm=False):
    """The seed model in PyTorch; with ``batch_norm``, seed_model's variant (Keras's epsilon and
    momentum: PyTorch's momentum is the weight of the new batch, 1 - Keras's; its running variance
    follows the unbiased batch variance where Keras's follows the biased one, which only the moving
    statistics see, not the time)."""
    height, width, channels = input_shape
    flat = 32 * ((height - 2) // 2) * ((width - 2) // 2)
    nn = torch.nn
    first = ([nn.Conv2d(channels, 32, 3, bias=False), nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)] if batch_norm
             else [nn.Conv2d(channels, 32, 3)])
    return nn.Sequential(
        *first, nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, seed_model.CLASSES))


def torch_epoch(x, y, batch_size: int, seed: int, device: str = "cpu", batch_norm: bool = False):
    """A function that trains the same model in PyTorch on ``device`` for one epoch, each batch copied
    there from host tensors and each step's loss read back, as Model.fit does with its own (it stops
    on a NaN loss and shows the loss as it goes), and returns once the device has finished."""
    import torch

    torch.manual_seed(seed)
    model = torch_seed_model(torch, x.shape[1:], batch_norm).to(device)
    # Keras's Adam defaults; CrossEntropyLoss on logits is softmax + categorical cross-entropy.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW
    labels = torch.from_numpy(y.argmax(axis=1))
    generator = torch.Generator().manual_seed(seed)

    def epoch():
        order = torch.randperm(len(images), generator=generator)
        for first in range(0, len(images), batch_size):
            batch = order[first:first + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(images[batch].to(device)), labels[batch].to(device))
            loss.backward()
            optimizer.step()
            loss.item()
        if device == "cuda":
            torch.cuda.synchronize()

    return epoch


def interleaved_epoch_times(trainers: dict, epochs: int) -> dict:
    """Seconds of each epoch of each trainer, taking turns so that a change in the machine's load
    falls on both rather than on whichever ran second."""
    times = {name: [] for name in trainers}
    for _ in range(epochs):
        for name, epoch in trainers.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    return times


def table() -> str:
    rows = [[r["result_file"], f"{r['threads']['torch']}", r["threads"]["OPENBLAS_NUM_THREADS"],
             f"{r['cnn_gpu_numpy']['seconds_per_epoch']:.2f}", f"{r['pytorch_cpu']['seconds_per_epoch']:.2f}",
             f"**{r['ratio']:.2f}**", f"{r['machine']['cpu']}, {r['machine']['cores']} cores",
             " / ".join(f"{x:.1f}" for x in r["load_average_after"]), r["git_commit"][:7]]
            for r in run_info.load_results("cpu_train_*")]
    return run_info.markdown_table(
        ["result", "PyTorch threads", "OPENBLAS_NUM_THREADS", "cnn_gpu s/epoch", "PyTorch s/epoch", "ratio",
         "machine", "load average after (1/5/15 min)", "commit"], rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=datasets.SAMPLE, choices=datasets.NAMES)
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, default=4, help="including the uncounted first (default 4)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", help="names the machine in the result file's name")
    parser.add_argument("--table", action="store_true", help="print the table of all results and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(table())
        return 0
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is a warm-up and not counted")

    import torch

    provenance = run_info.describe_run("torch", "cnn-gpu")  # the code as it was at the start
    (images, labels), _ = datasets.load(args.dataset, args.data_dir)
    x, y = seed_model.prepare(images, labels)
    trainers = {"cnn_gpu_numpy": cnn_gpu_epoch(x, y, args.batch_size, args.seed),
                "pytorch_cpu": torch_epoch(x, y, args.batch_size, args.seed)}
    measured = {}
    for name, times in interleaved_epoch_times(trainers, args.epochs).items():
        measured[name] = {"epoch_seconds": [round(t, 3) for t in times],
                          "seconds_per_epoch": statistics.median(times[1:])}
        print(f"{name:>14}: {measured[name]['seconds_per_epoch']:.2f} s/epoch "
              f"(epochs: {', '.join(f'{t:.2f}' for t in times)}; the first is not counted)")
    ratio = measured["cnn_gpu_numpy"]["seconds_per_epoch"] / measured["pytorch_cpu"]["seconds_per_epoch"]
    verdict = "meets" if ratio <= GOAL_RATIO else "misses"
    print(f"cnn_gpu / PyTorch = {ratio:.2f}x ({verdict} the goal of at most {GOAL_RATIO}x)")
    tag = f"{args.tag}_" if args.tag else ""
    path = run_info.write_result(f"cpu_train_{tag}threads-{torch.get_num_threads()}", {
        "dataset": args.dataset, "train_images": len(x), "batch_size": args.batch_size,
        "epochs": args.epochs, "seed": args.seed, "load_average_after": os.getloadavg(),
        "threads": {"torch": torch.get_num_threads(),
                    **{v: os.environ.get(v, "unset") for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}},
        **measured, "ratio": ratio, "goal_ratio": GOAL_RATIO,
        **provenance,
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
