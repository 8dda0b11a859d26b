"""The datasets that can be loaded from files: which files make each one, where to download them
(with their SHA-256), how to read them, and what to tell a user who has none of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .fetch import Remote, download, extract_members
from .formats import read_cifar_batches, read_idx_split


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    folder: str  # the subfolder of a data root that holds this dataset
    files: dict[str, tuple[str, ...]]  # role -> accepted paths inside the folder, preferred first
    remotes: tuple[Remote, ...]
    read: Callable[[dict[str, Path]], tuple]  # found files by role -> ((x, y), (x, y))
    install: Callable[["DatasetSpec", Path], None]  # downloads into the folder it is given
    how_to_get: str


def locate_files(spec: DatasetSpec, directory: Path) -> dict[str, Path] | None:
    """The dataset's files by role, if ``directory`` holds all of them."""
    found = {}
    for role, candidates in spec.files.items():
        present = [directory / c for c in candidates if (directory / c).is_file()]
        if not present:
            return None
        found[role] = present[0]
    return found


# --- MNIST and Fashion-MNIST: four IDX files each, gzipped or not --------------------------------
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _read_idx_dataset(found):
    train = read_idx_split(found["train-images-idx3-ubyte"], found["train-labels-idx1-ubyte"])
    test = read_idx_split(found["t10k-images-idx3-ubyte"], found["t10k-labels-idx1-ubyte"])
    return train, test


def _download_all(spec: DatasetSpec, directory: Path) -> None:
    for remote in spec.remotes:
        download(remote, directory)


def _idx_dataset(name, folder, sha256_by_stem, mirrors, extra_hint=""):
    remotes = tuple(
        Remote(f"{stem}.gz", sha256_by_stem[stem], tuple(f"{m}{stem}.gz" for m in mirrors))
        for stem in IDX_STEMS)
    names = ", ".join(r.name for r in remotes)
    return DatasetSpec(
        name=name, folder=folder,
        files={stem: (f"{stem}.gz", stem) for stem in IDX_STEMS},
        remotes=remotes, read=_read_idx_dataset, install=_download_all,
        how_to_get=f"download {names} from {mirrors[0]}{extra_hint}")


MNIST = _idx_dataset(
    "mnist", "mnist",
    {"train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
     "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
     "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
     "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
    ("https://ossci-datasets.s3.amazonaws.com/mnist/",
     "https://storage.googleapis.com/cvdf-datasets/mnist/"))

FASHION_MNIST = _idx_dataset(
    "fashion-mnist", "fashion-mnist",
    {"train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
     "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
     "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
     "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"},
    ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
     "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    # Debian's package holds the same images, recompressed (so other checksums), in SYSTEM_DIRS.
    extra_hint=", or on Debian/Ubuntu run `apt-get install dataset-fashion-mnist`")


# --- CIFAR-10: the binary version's six batch files, from one tar.gz -------------------------------
CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST = "test_batch.bin"
CIFAR_ARCHIVE = Remote(
    "cifar-10-binary.tar.gz",
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",))


def _read_cifar(found):
    return (read_cifar_batches([found[name] for name in CIFAR_TRAIN]),
            read_cifar_batches([found[CIFAR_TEST]]))


def _install_cifar(spec: DatasetSpec, directory: Path) -> None:
    archive = download(CIFAR_ARCHIVE, directory)
    extract_members(archive, [f"{CIFAR_DIR}/{name}" for name in (*CIFAR_TRAIN, CIFAR_TEST)], directory)
    archive.unlink()  # 170 MB that the extracted batches make redundant


CIFAR10 = DatasetSpec(
    name="cifar10", folder="cifar10",
    files={name: (f"{CIFAR_DIR}/{name}", name) for name in (*CIFAR_TRAIN, CIFAR_TEST)},
    remotes=(CIFAR_ARCHIVE,), read=_read_cifar, install=_install_cifar,
    how_to_get=f"download {CIFAR_ARCHIVE.urls[0]} (the binary version, not the python one) "
               "and extract it")

FILE_DATASETS = {spec.name: spec for spec in (MNIST, FASHION_MNIST, CIFAR10)}
