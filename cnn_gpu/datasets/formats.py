"""Parsers for the two on-disk formats the datasets come in: IDX (MNIST, Fashion-MNIST) and
CIFAR-10's binary batches. Both check every size against the header before trusting a byte, so a
truncated download or a wrong file fails with the file's name instead of a reshape error."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
IDX_UBYTE = 0x08  # IDX's type code for unsigned bytes, the only one these datasets use
CIFAR_IMAGE_SHAPE = (3, 32, 32)  # stored channel-planar: all red, then green, then blue
CIFAR_RECORD_BYTES = 1 + math.prod(CIFAR_IMAGE_SHAPE)
CLASSES = 10


class DatasetFormatError(ValueError):
    """A dataset file is truncated, corrupt or not of the expected format."""


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip data (whatever its name says)."""
    data = Path(path).read_bytes()
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(
            f"{path}: corrupt or truncated gzip data ({error}); delete the file and fetch it again"
        ) from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions, as a writable uint8 array."""
    data = read_bytes(path)
    header_bytes = 4 + 4 * ndim
    magic = data[:4]
    if len(magic) < 4 or magic[:2] != b"\0\0":
        raise DatasetFormatError(f"{path}: not an IDX file (starts with {magic.hex() or 'nothing'}, "
                                 f"expected 0000{IDX_UBYTE:02x}{ndim:02x})")
    if magic[2] != IDX_UBYTE or magic[3] != ndim:
        raise DatasetFormatError(f"{path}: IDX type 0x{magic[2]:02x} with {magic[3]} dimensions; "
                                 f"expected unsigned bytes (0x{IDX_UBYTE:02x}) with {ndim}")
    if len(data) < header_bytes:
        raise DatasetFormatError(f"{path}: truncated inside the IDX header ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    expected = header_bytes + math.prod(shape)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DatasetFormatError(f"{path}: {what}: the header gives shape {shape}, i.e. "
                                 f"{expected} bytes, but the data has {len(data)}")
    return np.frombuffer(data, np.uint8, offset=header_bytes).reshape(shape).copy()


def read_idx_split(images_path: Path, labels_path: Path, image_shape=(28, 28)):
    """``(images, labels)`` from an MNIST-style pair of IDX files, checked against each other."""
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != image_shape:
        raise DatasetFormatError(f"{images_path}: images are {images.shape[1:]}, expected {image_shape}")
    if len(images) != len(labels):
        raise DatasetFormatError(f"{images_path} holds {len(images)} images but {labels_path} "
                                 f"holds {len(labels)} labels; the two files must come from one split")
    _check_labels(labels, labels_path)
    return images, labels


def read_cifar_batches(paths) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 32, 32, 3), labels (N,))`` from CIFAR-10 binary batches, concatenated in order."""
    images, labels = [], []
    for path in paths:
        data = read_bytes(path)
        if not data or len(data) % CIFAR_RECORD_BYTES:
            raise DatasetFormatError(
                f"{path}: {len(data)} bytes is not a whole number of {CIFAR_RECORD_BYTES}-byte "
                "CIFAR-10 records; the file is truncated or not from the binary version "
                "(cifar-10-binary.tar.gz)")
        records = np.frombuffer(data, np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
        _check_labels(records[:, 0], path)
        labels.append(records[:, 0])
        # Channels-last, as Keras returns CIFAR-10.
        images.append(records[:, 1:].reshape(-1, *CIFAR_IMAGE_SHAPE).transpose(0, 2, 3, 1))
    return np.concatenate(images), np.concatenate(labels)


def _check_labels(labels: np.ndarray, path: Path) -> None:
    if labels.size and labels.max() >= CLASSES:
        raise DatasetFormatError(f"{path}: label {labels.max()} is out of range 0..{CLASSES - 1}; "
                                 "the file is corrupt or not a label file")
