import cnn_gpu


def test_version_is_a_string():
    assert isinstance(cnn_gpu.__version__, str) and cnn_gpu.__version__.count(".") == 2


def test_every_cache_lives_in_one_folder_that_cnn_gpu_cache_dir_moves(tmp_path, monkeypatch):
    from cnn_gpu.cuda import autotune
    from cnn_gpu.cuda.emulate import build
    from cnn_gpu.datasets import fetch
    from cnn_gpu.utils.files import cache_folder

    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert {autotune.cache_path().parent, build.cache_dir().parent, fetch.cache_dir().parent,
            cache_folder("cubin").parent} == {tmp_path / "mine"}
    monkeypatch.delenv("CNN_GPU_CACHE_DIR")
    assert autotune.cache_path() == tmp_path / "xdg" / "cnn_gpu" / autotune.CACHE_FILE
