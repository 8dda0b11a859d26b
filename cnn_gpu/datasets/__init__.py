"""Datasets as Keras returns them: ``(x_train, y_train), (x_test, y_test)`` of uint8 arrays.

Images are (N, 28, 28) for the MNIST family and (N, 32, 32, 3) for CIFAR-10; labels are (N,).

- ``mnist-sample``: 5,000 real MNIST digits shipped inside the package (4,000 train / 1,000 test),
  so training works with no data and no network.
- ``mnist``, ``fashion-mnist``, ``cifar10``: read from files found in ``data_dir``, ``$CNN_GPU_DATA``,
  the user's cache (``~/.cache/cnn_gpu/datasets``) or ``/usr/share/datasets`` (Debian's packages);
  else downloaded into the first of those that is set, each file checked by its SHA-256.

``cnn_gpu.datasets.mnist.load_data()`` and the like work as in ``keras.datasets``.
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from pathlib import Path

import numpy as np

from .catalog import FILE_DATASETS, locate_files
from .fetch import download_dir, search_dirs
from .formats import DatasetFormatError

SAMPLE = "mnist-sample"
NAMES = (SAMPLE, *FILE_DATASETS)
SAMPLE_FILE = "mnist_sample.npz"
# tools/make_mnist_sample.py reproduces this file byte for byte.
SAMPLE_SHA256 = "bb6d924f8dec4ab3a06282e572859091e55eb877fedc025dda0b9a80c4977d48"

__all__ = ["NAMES", "SAMPLE", "DatasetFormatError", "DatasetNotFoundError", "load", "locate",
           "mnist", "fashion_mnist", "cifar10", "mnist_sample"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says how to get it."""


def load(name: str, data_dir=None, download: bool = True):
    """``(x_train, y_train), (x_test, y_test)`` of dataset ``name`` (one of ``NAMES``)."""
    if name == SAMPLE:
        return _load_sample()
    spec = _spec(name)
    found = locate(name, data_dir)
    if found is None:
        found = _download(spec, data_dir) if download else None
    if found is None:
        raise DatasetNotFoundError(_not_found_message(spec, data_dir, "downloading was not asked for"))
    return spec.read(found)


def locate(name: str, data_dir=None) -> dict[str, Path] | None:
    """The files of dataset ``name`` already on disk, by role, or None; never downloads."""
    spec = _spec(name)
    for directory in search_dirs(spec.folder, data_dir):
        found = locate_files(spec, directory)
        if found:
            return found
    return None


def _spec(name):
    if name not in FILE_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
    return FILE_DATASETS[name]


def _download(spec, data_dir):
    target = download_dir(spec.folder, data_dir)
    try:
        spec.install(spec, target)
    except OSError as error:
        raise DatasetNotFoundError(_not_found_message(spec, data_dir, str(error))) from None
    return locate_files(spec, target)


def _not_found_message(spec, data_dir, download_outcome):
    searched = "\n".join(f"  {d}" for d in search_dirs(spec.folder, data_dir))
    return (f"dataset {spec.name!r} was not found in:\n{searched}\n"
            f"and was not downloaded ({download_outcome}).\n"
            f"To get it, {spec.how_to_get}, into {download_dir(spec.folder, data_dir)} "
            f"(or a folder named by --data-dir / data_dir=, or by $CNN_GPU_DATA).\n"
            f"Or use the embedded sample, which needs nothing: --dataset {SAMPLE}.")


def _load_sample():
    data = resources.files(__name__).joinpath(SAMPLE_FILE).read_bytes()
    if hashlib.sha256(data).hexdigest() != SAMPLE_SHA256:
        raise DatasetFormatError(f"{SAMPLE_FILE} in {Path(__file__).parent} is damaged (its SHA-256 "
                                 "is wrong); reinstall cnn-gpu")
    with np.load(io.BytesIO(data)) as arrays:
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


class _KerasStyleDataset:
    """Stands in for a ``keras.datasets`` module: ``cnn_gpu.datasets.mnist.load_data()``."""

    def __init__(self, name):
        self.name = name

    def load_data(self, data_dir=None):
        return load(self.name, data_dir)


mnist_sample = _KerasStyleDataset(SAMPLE)
mnist = _KerasStyleDataset("mnist")
fashion_mnist = _KerasStyleDataset("fashion-mnist")
cifar10 = _KerasStyleDataset("cifar10")
