import gzip

import numpy as np
import pytest

from cnn_gpu.datasets.formats import (DatasetFormatError, read_cifar_batches, read_idx,
                                      read_idx_split)
from dataset_files import cifar_bytes, idx_bytes, random_split, write_idx


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", [(5, 28, 28), (9,), (2, 3, 4)])
def test_idx_round_trip(tmp_path, rng, compress, shape):
    array = rng.integers(0, 256, size=shape, dtype=np.uint8)
    path = write_idx(tmp_path / "a.idx", array, compress)
    out = read_idx(path, len(shape))
    np.testing.assert_array_equal(out, array)
    assert out.dtype == np.uint8 and out.flags.writeable


def test_idx_split_returns_images_and_labels(tmp_path, rng):
    images, labels = random_split(rng, 6)
    out = read_idx_split(write_idx(tmp_path / "i", images), write_idx(tmp_path / "l", labels))
    np.testing.assert_array_equal(out[0], images)
    np.testing.assert_array_equal(out[1], labels)


def _corrupt(data: bytes, how: str) -> bytes:
    return {
        "empty": b"",
        "bad magic": b"\x12\x34" + data[2:],
        "float type": data[:2] + b"\x0d" + data[3:],
        "wrong ndim": data[:3] + b"\x01" + data[4:],
        "cut header": data[:6],
        "truncated": data[:-1],
        "trailing bytes": data + b"\0",
    }[how]


@pytest.mark.parametrize("how,message", [
    ("empty", "not an IDX file"), ("bad magic", "not an IDX file"),
    ("float type", "IDX type 0x0d"), ("wrong ndim", "with 1 dimensions"),
    ("cut header", "truncated inside the IDX header"), ("truncated", "truncated"),
    ("trailing bytes", "longer than its header says"),
])
@pytest.mark.parametrize("compress", [False, True])
def test_bad_idx_file_is_named_in_the_error(tmp_path, rng, how, message, compress):
    data = _corrupt(idx_bytes(rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)), how)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DatasetFormatError, match=message) as error:
        read_idx(path, 3)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_corrupt_gzip_is_named_in_the_error(tmp_path, rng, damage):
    packed = bytearray(gzip.compress(idx_bytes(rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8))))
    if damage == "truncated":
        del packed[len(packed) // 2:]
    else:
        packed[len(packed) // 2] ^= 0xFF
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(DatasetFormatError, match="corrupt or truncated gzip") as error:
        read_idx(path, 3)
    assert str(path) in str(error.value)


def test_images_and_labels_must_agree(tmp_path, rng):
    images, labels = random_split(rng, 6)
    with pytest.raises(DatasetFormatError, match="6 images but .* 5 labels"):
        read_idx_split(write_idx(tmp_path / "i", images), write_idx(tmp_path / "l", labels[:5]))


def test_images_must_be_28_by_28(tmp_path, rng):
    images, labels = random_split(rng, 3, image_shape=(28, 27))
    with pytest.raises(DatasetFormatError, match=r"\(28, 27\), expected \(28, 28\)"):
        read_idx_split(write_idx(tmp_path / "i", images), write_idx(tmp_path / "l", labels))


def test_label_out_of_range(tmp_path, rng):
    images, labels = random_split(rng, 3)
    labels[1] = 10
    labels_path = write_idx(tmp_path / "l", labels)
    with pytest.raises(DatasetFormatError, match="label 10 is out of range") as error:
        read_idx_split(write_idx(tmp_path / "i", images), labels_path)
    assert str(labels_path) in str(error.value)


def test_cifar_batches_are_channels_last_and_concatenated_in_order(tmp_path, rng):
    batches = [random_split(rng, n, (32, 32, 3)) for n in (2, 3)]
    paths = []
    for i, (images, labels) in enumerate(batches):
        paths.append(tmp_path / f"data_batch_{i}.bin")
        paths[-1].write_bytes(cifar_bytes(images, labels))
    images, labels = read_cifar_batches(paths)
    np.testing.assert_array_equal(images, np.concatenate([b[0] for b in batches]))
    np.testing.assert_array_equal(labels, np.concatenate([b[1] for b in batches]))
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8


def test_cifar_planes_are_red_green_blue(tmp_path):
    record = np.zeros(3073, np.uint8)
    record[0] = 7
    record[1:1025], record[1025:2049], record[2049:] = 10, 20, 30  # R, G, B planes
    path = tmp_path / "test_batch.bin"
    path.write_bytes(record.tobytes())
    images, labels = read_cifar_batches([path])
    assert labels.tolist() == [7]
    assert images[0, 5, 9].tolist() == [10, 20, 30]


@pytest.mark.parametrize("size", [0, 3072, 3074, 2 * 3073 - 1])
def test_cifar_size_not_whole_records(tmp_path, size):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(size))
    with pytest.raises(DatasetFormatError, match="not a whole number of 3073-byte") as error:
        read_cifar_batches([path])
    assert str(path) in str(error.value)


def test_cifar_label_out_of_range(tmp_path, rng):
    images, labels = random_split(rng, 2, (32, 32, 3))
    labels[0] = 200
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(cifar_bytes(images, labels))
    with pytest.raises(DatasetFormatError, match="label 200"):
        read_cifar_batches([path])
