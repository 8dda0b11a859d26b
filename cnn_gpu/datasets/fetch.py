"""Where dataset files are looked for, and how they are downloaded: checked against a SHA-256
before they get their final name, so a partial or tampered download never looks like data."""

from __future__ import annotations

import hashlib
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cnn_gpu.utils.files import atomic_write, cache_folder

ENV_VAR = "CNN_GPU_DATA"
# Debian's dataset-* packages install here, one folder per dataset (e.g. fashion-mnist/).
SYSTEM_DIRS = (Path("/usr/share/datasets"),)
TIMEOUT_S = 60
CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """A file that can be downloaded from any of ``urls``, all serving the same bytes."""

    name: str
    sha256: str
    urls: tuple[str, ...]


class DownloadError(OSError):
    """No mirror served a file with the expected checksum."""


def cache_dir() -> Path:
    return cache_folder("datasets", create=False)


def search_dirs(folder: str, data_dir=None) -> list[Path]:
    """The folders that may hold a dataset, in the order they are tried.

    Only an explicit ``data_dir`` is also searched itself, not just its ``folder`` subfolder: MNIST
    and Fashion-MNIST share file names, so a shared root must keep them apart.
    """
    dirs = [Path(data_dir) / folder, Path(data_dir)] if data_dir else []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]) / folder)
    dirs.append(cache_dir() / folder)
    dirs.extend(root / folder for root in SYSTEM_DIRS)
    return dirs


def download_dir(folder: str, data_dir=None) -> Path:
    """Where downloads go: the explicit data_dir, else $CNN_GPU_DATA, else the user's cache."""
    root = data_dir or os.environ.get(ENV_VAR) or cache_dir()
    return Path(root) / folder


def download(remote: Remote, directory: Path) -> Path:
    """``directory/remote.name``, fetched from the first mirror whose bytes match the checksum."""
    directory.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in remote.urls:
        print(f"Downloading {url}", file=sys.stderr)
        try:
            return _download_checked(url, remote, directory)
        except OSError as error:  # URLError, timeouts and checksum mismatches alike
            failures.append(f"{url}: {error}")
    raise DownloadError(f"could not download {remote.name}:\n  " + "\n  ".join(failures))


def _download_checked(url: str, remote: Remote, directory: Path) -> Path:
    target = directory / remote.name
    digest = hashlib.sha256()
    with atomic_write(target) as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != remote.sha256:
            raise OSError(f"SHA-256 {digest.hexdigest()} differs from the expected {remote.sha256}")
    return target


def extract_members(archive: Path, members: list[str], directory: Path) -> None:
    """Write the named regular files of a tar archive under ``directory``, each atomically.

    Only the listed members are read, so an archive cannot place files anywhere else.
    """
    with tarfile.open(archive) as tar:
        for name in members:
            try:
                member = tar.getmember(name)
            except KeyError:
                raise OSError(f"{archive}: has no member {name}") from None
            if not member.isfile():
                raise OSError(f"{archive}: {name} is not a regular file")
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(target) as out:
                out.write(tar.extractfile(member).read())
