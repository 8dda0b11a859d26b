"""Test accuracy of the seed model trained by Keras 3 (PyTorch backend, CPU) and by cnn_gpu.

One protocol for both: the embedded mnist-sample split (4,000 train / 1,000 test), inputs in
[0, 1], one-hot labels, 5 epochs, batch 32, Adam with its defaults, seeds 0, 1 and 2. Each run
writes benchmarks/results/accuracy_<framework>.json; --table prints the Markdown table of all of
them (the README's copy is pasted from it).

    KERAS_BACKEND=torch .venv-keras/bin/python -m benchmarks.keras_accuracy --framework keras
    python -m benchmarks.keras_accuracy --framework cnn_gpu
    python -m benchmarks.keras_accuracy --table
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time

from benchmarks import run_info
from cnn_gpu import datasets, seed_model

SEEDS = (0, 1, 2)


def train_and_test(framework, seed: int, epochs: int, batch_size: int) -> dict:
    (x_train, y_train), (x_test, y_test) = datasets.load(datasets.SAMPLE)
    x_train, y_train = seed_model.prepare(x_train, y_train)
    x_test, y_test = seed_model.prepare(x_test, y_test)
    importlib.import_module(f"{framework.__name__}.utils").set_random_seed(seed)
    model = seed_model.build(framework)
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"seed": seed, "test_accuracy": float(accuracy), "test_loss": float(loss),
            "train_seconds": round(seconds, 2)}


def measure(name: str, seeds, epochs: int, batch_size: int) -> dict:
    provenance = run_info.describe_run("keras", "torch", "cnn-gpu")  # the code as it was at the start
    framework = importlib.import_module(name)
    runs = []
    for seed in seeds:
        runs.append(train_and_test(framework, seed, epochs, batch_size))
        print(f"{name} seed {seed}: test accuracy {runs[-1]['test_accuracy']:.4f}")
    backend = os.environ.get("KERAS_BACKEND", "default") if name == "keras" else "numpy"
    return {
        "framework": name, "backend": backend, "dataset": datasets.SAMPLE,
        "protocol": {"epochs": epochs, "batch_size": batch_size, "optimizer": "adam (defaults)"},
        "runs": runs,
        "mean_test_accuracy": statistics.fmean(r["test_accuracy"] for r in runs),
        **provenance,
    }


def table() -> str:
    rows = []
    for result in run_info.load_results("accuracy_*"):
        package = result["framework"].replace("_", "-")
        rows.append([f"{result['framework']} {result['versions'].get(package, '')}", result["backend"],
                     *(f"{100 * r['test_accuracy']:.2f}" for r in result["runs"]),
                     f"**{100 * result['mean_test_accuracy']:.2f}**"])
    return run_info.markdown_table(["framework", "backend", *(f"seed {s}" for s in SEEDS), "mean"], rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", choices=["keras", "cnn_gpu"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--table", action="store_true", help="print the table of all results and exit")
    args = parser.parse_args(argv)
    if args.table or not args.framework:
        print(table())
        return 0
    result = measure(args.framework, SEEDS, args.epochs, args.batch_size)
    path = run_info.write_result(f"accuracy_{args.framework}", result)
    print(f"mean test accuracy {result['mean_test_accuracy']:.4f}; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
