import dataclasses
import gzip
import hashlib
import io
import tarfile

import numpy as np
import pytest

import cnn_gpu.datasets as datasets
from cnn_gpu.datasets import catalog
from cnn_gpu.datasets.fetch import Remote
from dataset_files import IDX_STEMS, idx_bytes, random_split, write_cifar_dataset, write_idx_dataset


@pytest.fixture(autouse=True)
def isolated(offline_data):
    return offline_data


def assert_splits_equal(loaded, expected):
    for (x, y), (ex, ey) in zip(loaded, expected):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)
        assert x.dtype == y.dtype == np.uint8


def test_embedded_sample_is_a_balanced_uint8_split():
    (x_train, y_train), (x_test, y_test) = datasets.load("mnist-sample")
    assert x_train.shape == (4000, 28, 28) and y_train.shape == (4000,)
    assert x_test.shape == (1000, 28, 28) and y_test.shape == (1000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_test).tolist() == [100] * 10
    assert np.bincount(y_train).tolist() == [400] * 10
    assert 0.05 < x_train.mean() / 255 < 0.3  # handwriting: mostly black background, some ink


def test_keras_style_loader_matches_load():
    assert_splits_equal(datasets.mnist_sample.load_data(), datasets.load("mnist-sample"))


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="mnist-sample, mnist, fashion-mnist, cifar10"):
        datasets.load("mnsit")


@pytest.mark.parametrize("layout", ["folder itself", "dataset subfolder"])
@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_data_dir(tmp_path, rng, layout, compress):
    folder = tmp_path / "d" if layout == "folder itself" else tmp_path / "d" / "mnist"
    expected = write_idx_dataset(folder, rng, compress=compress)
    assert_splits_equal(datasets.load("mnist", data_dir=tmp_path / "d"), expected)


def test_keras_style_loader_takes_data_dir(tmp_path, rng):
    expected = write_idx_dataset(tmp_path / "fashion-mnist", rng)
    assert_splits_equal(datasets.fashion_mnist.load_data(data_dir=tmp_path), expected)


def test_search_order_data_dir_env_cache_system(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("CNN_GPU_DATA", str(tmp_path / "env"))
    in_system = write_idx_dataset(tmp_path / "system" / "fashion-mnist", rng)
    assert_splits_equal(datasets.load("fashion-mnist"), in_system)
    in_cache = write_idx_dataset(tmp_path / "cache" / "cnn_gpu" / "datasets" / "fashion-mnist", rng)
    assert_splits_equal(datasets.load("fashion-mnist"), in_cache)
    in_env = write_idx_dataset(tmp_path / "env" / "fashion-mnist", rng)
    assert_splits_equal(datasets.load("fashion-mnist"), in_env)
    in_data_dir = write_idx_dataset(tmp_path / "mine", rng)
    assert_splits_equal(datasets.load("fashion-mnist", data_dir=tmp_path / "mine"), in_data_dir)


def test_shared_root_keeps_same_named_datasets_apart(tmp_path, rng, monkeypatch, isolated):
    # MNIST's files lying directly in $CNN_GPU_DATA must not be taken for Fashion-MNIST.
    monkeypatch.setenv("CNN_GPU_DATA", str(tmp_path / "env"))
    write_idx_dataset(tmp_path / "env", rng)
    assert datasets.locate("fashion-mnist") is None
    with pytest.raises(datasets.DatasetNotFoundError):
        datasets.load("fashion-mnist")


def test_cifar10_from_extracted_archive(tmp_path, rng):
    batches = write_cifar_dataset(tmp_path / "d", rng)
    (x_train, y_train), (x_test, y_test) = datasets.cifar10.load_data(data_dir=tmp_path / "d")
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15,)
    np.testing.assert_array_equal(x_train[3:6], batches["data_batch_2.bin"][0])
    np.testing.assert_array_equal(y_test, batches["test_batch.bin"][1])


def test_a_truncated_file_on_disk_is_named(tmp_path, rng):
    write_idx_dataset(tmp_path, rng, compress=False)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(datasets.DatasetFormatError, match="truncated") as error:
        datasets.load("mnist", data_dir=tmp_path)
    assert str(path) in str(error.value)


# --- downloads ---------------------------------------------------------------------------------
def fake_idx_remotes(rng, mirrors):
    """Four small IDX .gz payloads and Remotes whose checksums match them."""
    train, test = random_split(rng, 4), random_split(rng, 3)
    payloads = {f"{stem}.gz": gzip.compress(idx_bytes(a)) for stem, a in zip(IDX_STEMS, (*train, *test))}
    remotes = tuple(Remote(name, hashlib.sha256(data).hexdigest(), tuple(m + name for m in mirrors))
                    for name, data in payloads.items())
    return payloads, remotes, (train, test)


@pytest.fixture
def fake_mnist(rng, monkeypatch):
    mirrors = ("https://first.invalid/", "https://second.invalid/")
    payloads, remotes, expected = fake_idx_remotes(rng, mirrors)
    monkeypatch.setitem(catalog.FILE_DATASETS, "mnist",
                        dataclasses.replace(catalog.MNIST, remotes=remotes))
    return mirrors, payloads, expected


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def test_download_into_cache_then_reuse(tmp_path, fake_mnist, isolated):
    mirrors, payloads, expected = fake_mnist
    isolated.served = {mirrors[0] + name: data for name, data in payloads.items()}
    assert_splits_equal(datasets.load("mnist"), expected)
    target = tmp_path / "cache" / "cnn_gpu" / "datasets" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(payloads)
    requests = len(isolated.requests)
    assert_splits_equal(datasets.mnist.load_data(), expected)
    assert len(isolated.requests) == requests == 4


def test_download_goes_into_data_dir_when_given(tmp_path, fake_mnist, isolated):
    mirrors, payloads, expected = fake_mnist
    isolated.served = {mirrors[1] + name: data for name, data in payloads.items()}
    assert_splits_equal(datasets.load("mnist", data_dir=tmp_path / "mine"), expected)
    assert (tmp_path / "mine" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_checksum_mismatch_falls_back_to_the_next_mirror(fake_mnist, isolated):
    mirrors, payloads, expected = fake_mnist
    for name, data in payloads.items():
        isolated.served[mirrors[0] + name] = data[:-1] + b"?"
        isolated.served[mirrors[1] + name] = data
    assert_splits_equal(datasets.load("mnist"), expected)
    assert isolated.requests[:2] == [mirrors[0] + "train-images-idx3-ubyte.gz",
                                     mirrors[1] + "train-images-idx3-ubyte.gz"]


def test_checksum_mismatch_everywhere_leaves_nothing_behind(tmp_path, fake_mnist, isolated):
    mirrors, payloads, _ = fake_mnist
    isolated.served = {m + name: b"tampered" for m in mirrors for name in payloads}
    with pytest.raises(datasets.DatasetNotFoundError, match="SHA-256 .* differs from the expected"):
        datasets.load("mnist")
    assert list((tmp_path / "cache" / "cnn_gpu" / "datasets" / "mnist").iterdir()) == []


def test_offline_error_says_where_it_looked_and_how_to_get_the_data(tmp_path, isolated):
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load("fashion-mnist", data_dir=tmp_path / "mine")
    message = str(error.value)
    for expected in (str(tmp_path / "mine" / "fashion-mnist"), str(tmp_path / "system" / "fashion-mnist"),
                     "no network in tests", "t10k-labels-idx1-ubyte.gz", "apt-get install dataset-fashion-mnist",
                     "--dataset mnist-sample"):
        assert expected in message
    assert isolated.requests  # it did try


def test_download_false_never_touches_the_network(isolated):
    with pytest.raises(datasets.DatasetNotFoundError, match="downloading was not asked for"):
        datasets.load("cifar10", download=False)
    assert isolated.requests == []


def cifar_archive(tmp_path, rng, skip=()):
    source = tmp_path / "source"
    write_cifar_dataset(source, rng)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted((source / "cifar-10-batches-bin").iterdir()):
            if path.name not in skip:
                tar.add(path, arcname=f"cifar-10-batches-bin/{path.name}")
    return buffer.getvalue()


def serve_cifar(monkeypatch, isolated, archive):
    remote = Remote("cifar-10-binary.tar.gz", hashlib.sha256(archive).hexdigest(), ("https://c.invalid/a.tgz",))
    monkeypatch.setattr(catalog, "CIFAR_ARCHIVE", remote)
    isolated.served[remote.urls[0]] = archive


def test_cifar10_download_extracts_the_batches_and_drops_the_archive(tmp_path, rng, monkeypatch, isolated):
    serve_cifar(monkeypatch, isolated, cifar_archive(tmp_path, rng))
    (x_train, _), (x_test, _) = datasets.load("cifar10")
    assert x_train.shape == (15, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    target = tmp_path / "cache" / "cnn_gpu" / "datasets" / "cifar10"
    assert sorted(p.name for p in target.iterdir()) == ["cifar-10-batches-bin"]
    np.testing.assert_array_equal(x_test, datasets.load("cifar10", download=False)[1][0])


def test_cifar10_archive_missing_a_batch(tmp_path, rng, monkeypatch, isolated):
    serve_cifar(monkeypatch, isolated, cifar_archive(tmp_path, rng, skip=("test_batch.bin",)))
    with pytest.raises(datasets.DatasetNotFoundError, match="has no member cifar-10-batches-bin/test_batch.bin"):
        datasets.load("cifar10")
