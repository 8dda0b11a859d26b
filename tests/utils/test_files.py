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


def test_a_folder_another_process_pruned_first_counts_as_removed(folder, monkeypatch):
    first, second, third = (cached(folder, name, 100, age) for name, age in [("a", 9e5), ("b", 8e5), ("c", 7e5)])
    unlink = files.Path.unlink

    def raced(path, *args, **kwargs):
        if path == first:  # another process removes it between this one's listing and its unlink
            unlink(path)
            raise FileNotFoundError(path)
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(files.Path, "unlink", raced)
    assert files.prune_cache(folder, max_bytes=150, spare_s=60) == [second]
    assert sorted(folder.iterdir()) == [third], "removed more than the limit asked for"


@pytest.fixture
def read_only_cache(tmp_path, monkeypatch):
    """A cache folder with one build in it that this process may read but not write."""
    monkeypatch.setattr(files, "_process_root", None)
    monkeypatch.setattr(files.atexit, "register", lambda *args: None)
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "shared"))
    (tmp_path / "shared" / "cubin").mkdir(parents=True)
    (tmp_path / "shared" / "cubin" / "old.cubin").write_bytes(b"built")
    real_access = files.os.access
    monkeypatch.setattr(files.os, "access", lambda path, mode: not str(path).startswith(str(tmp_path / "shared"))
                        and real_access(path, mode))
    yield tmp_path / "shared"
    if files._process_root is not None:
        files.shutil.rmtree(files._process_root)


def test_a_read_only_cache_serves_its_builds_and_new_ones_go_to_a_folder_of_the_process(read_only_cache):
    assert files.find_cached("cubin", "old.cubin") == read_only_cache / "cubin"
    with pytest.warns(UserWarning, match="cannot write its cache folder .*CNN_GPU_CACHE_DIR"):
        cubins = files.build_folder("cubin")
    emulated = files.build_folder("emulate")  # the same process folder, warned once
    assert cubins.parent == emulated.parent == files._process_root and files.is_process_own(cubins)
    assert not files.is_process_own(read_only_cache / "cubin")
    (cubins / "new.cubin").write_bytes(b"built here")
    assert files.find_cached("cubin", "new.cubin") == cubins
    assert files.find_cached("cubin", "old.cubin", "new.cubin") is None, "one folder must hold them all"


def test_a_cache_folder_that_cannot_be_made_sends_builds_to_the_process_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_process_root", None)
    monkeypatch.setattr(files.atexit, "register", lambda *args: None)
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "a_file" / "cache"))  # below a file: no folder
    with pytest.warns(UserWarning, match="cannot write its cache folder"):
        folder = files.build_folder("emulate")
    assert files.is_process_own(folder) and folder.is_dir()
    assert files.find_cached("emulate", "nothing.so") is None
    files.shutil.rmtree(files._process_root)


def test_a_kept_result_is_read_back_until_refreshed_and_one_that_cannot_be_kept_still_holds(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_pruned", set())
    monkeypatch.setenv(files.CACHE_DIR_ENV, str(tmp_path / "cache"))
    made = []
    make = lambda: made.append(1) or {"made": len(made)}  # noqa: E731
    keep = lambda **options: files.kept_result("checks", "k", make, 1 << 20, **options)  # noqa: E731
    assert keep() == keep() == {"made": 1}
    assert keep(refresh=True) == keep() == {"made": 2}
    assert keep(read=lambda value: value["made"]) == 2
    # A kept result that read refuses (one an older version wrote) is made again.
    assert keep(read=lambda value: value["made"] if value["made"] > 2 else int("older")) == 3 == len(made)

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(files, "atomic_write", full_disk)
    with pytest.warns(UserWarning, match="could not keep k.json in .*No space left"):
        assert keep(refresh=True) == {"made": 4}
    assert keep() == {"made": 3}, "the one kept before stays"
