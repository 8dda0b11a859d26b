"""cnn_gpu.utils.files: the cache folder where it cannot be written, and the caches' pruning
(atomic_write is tested with what writes through it)."""

import os
import time

import pytest

from cnn_gpu.utils import files


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_pruned", set())
    return tmp_path


def cached(folder, name, size, age_s):
    path = folder / name
    path.write_bytes(b"x" * size)
    when = time.time() - age_s
    os.utime(path, (when, when))
    return path


def test_the_least_recently_used_files_go_until_the_rest_fit(folder):
    oldest, old, recent = (cached(folder, name, 100, age) for name, age in [("a", 9e5), ("b", 8e5), ("c", 7e5)])
    assert files.prune_cache(folder, max_bytes=150, spare_s=60) == [oldest, old]
    assert sorted(folder.iterdir()) == [recent]


def test_a_file_marked_used_is_kept_over_an_older_one(folder):
    first, second = cached(folder, "a", 100, 9e5), cached(folder, "b", 100, 8e5)
    files.mark_used(first)
    assert files.prune_cache(folder, max_bytes=100, spare_s=60) == [second]


def test_recently_used_files_and_ones_being_written_are_spared_even_over_the_limit(folder):
    cached(folder, "just_built", 100, 10)
    cached(folder, ".partial.part", 100, 9e5)
    assert files.prune_cache(folder, max_bytes=0, spare_s=60) == []
    assert len(list(folder.iterdir())) == 2


def test_a_folder_is_pruned_once_per_process(folder):
    cached(folder, "a", 100, 9e5)
    assert files.prune_cache(folder, max_bytes=200) == []
    cached(folder, "b", 200, 8e5)
    assert files.prune_cache(folder, max_bytes=200) == [], "pruned a second time"
    assert len(list(folder.iterdir())) == 2


def test_a_missing_folder_prunes_nothing(folder):
    assert files.prune_cache(folder / "none", max_bytes=0) == []


def test_a_cache_folder_that_cannot_be_made_gives_one_of_the_process_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_process_root", None)
    monkeypatch.setattr(files.atexit, "register", lambda *args: None)
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "a_file" / "cache"))  # below a file: no folder
    with pytest.warns(UserWarning, match="cannot write its cache folder .*CNN_GPU_CACHE_DIR"):
        cubins = files.cache_folder("cubin")
    emulated = files.cache_folder("emulate")  # the same process folder, warned once
    assert cubins.parent == emulated.parent == files._process_root and cubins.is_dir() and emulated.is_dir()
    (cubins / "k.cubin").write_bytes(b"built")
    assert files.cache_folder("datasets", create=False) == tmp_path / "a_file" / "cache" / "datasets", \
        "a folder only read from stays where the user put it"
    files.shutil.rmtree(files._process_root)
