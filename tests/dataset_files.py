"""Writers of small dataset files in the real on-disk formats, so tests never need the real data."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def random_split(rng, n, image_shape=(28, 28)):
    return (rng.integers(0, 256, size=(n, *image_shape), dtype=np.uint8),
            rng.integers(0, 10, size=n, dtype=np.uint8))


def write_idx_dataset(directory: Path, rng, n_train=7, n_test=5, compress=True):
    """The four MNIST-style files of a tiny random dataset; returns ``(train, test)``."""
    directory.mkdir(parents=True, exist_ok=True)
    train, test = random_split(rng, n_train), random_split(rng, n_test)
    suffix = ".gz" if compress else ""
    for stem, array in zip(IDX_STEMS, (*train, *test)):
        write_idx(directory / f"{stem}{suffix}", array, compress)
    return train, test


def cifar_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR-10 binary records: a label byte, then the image as red, green and blue planes."""
    planar = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels[:, None], planar], axis=1).astype(np.uint8).tobytes()


def write_cifar_dataset(directory: Path, rng, per_batch=3):
    """cifar-10-batches-bin/ with five tiny training batches and a test batch."""
    folder = directory / "cifar-10-batches-bin"
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        batches[name] = random_split(rng, per_batch, (32, 32, 3))
        (folder / name).write_bytes(cifar_bytes(*batches[name]))
    return batches
