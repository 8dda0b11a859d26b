import pytest

from cnn_gpu import cli, system_info
from dataset_files import write_cifar_dataset, write_idx_dataset


def test_info_reports_every_probe(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for what in system_info.PROBES:
        assert f"{what}: " in out
    assert "backend: numpy" in out or "backend: cuda" in out


def test_info_says_where_the_cache_is_and_how_large_each_kind_of_build(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_GPU_CACHE_DIR", str(tmp_path / "cache"))
    assert system_info.PROBES["cache"]().startswith(f"{tmp_path / 'cache'} (empty")
    (tmp_path / "cache" / "cubin").mkdir(parents=True)
    (tmp_path / "cache" / "cubin" / "k.cubin").write_bytes(b"x" * 3 * 2**20)
    (tmp_path / "cache" / "emulate").mkdir()
    assert system_info.PROBES["cache"]() == f"{tmp_path / 'cache'} (cubin 3 MB, emulate 0 MB; $CNN_GPU_CACHE_DIR moves it)"


def test_info_goes_on_past_a_failing_probe(capsys, monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")

    monkeypatch.setitem(system_info.PROBES, "GPU", broken)
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "GPU: unavailable (RuntimeError: driver exploded)" in out
    assert "nvcc: " in out and "CuPy: " in out


@pytest.mark.parametrize("argv,message", [
    (["train", "--epochs", "0"], "--epochs: must be a positive integer, got 0"),
    (["train", "--batch-size", "-3"], "--batch-size: must be a positive integer, got -3"),
    (["train", "--validation-split", "1"], "--validation-split: must be a number in [0, 1), got 1"),
    (["train", "--validation-split", "half"], "--validation-split: must be a number in [0, 1), got half"),
    (["train", "--epochs", "five"], "--epochs: must be a positive integer, got five"),
    (["train", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["evaluate"], "the following arguments are required: model"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_arguments_are_refused_with_a_reason(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error_not_a_traceback(capsys, offline_data, tmp_path):
    assert cli.main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "\ncnn-gpu train: dataset 'cifar10' was not found" in err
    assert "cifar-10-binary.tar.gz" in err and "--dataset mnist-sample" in err


def test_train_save_then_evaluate(capsys, offline_data, tmp_path, rng):
    write_idx_dataset(tmp_path / "data" / "mnist", rng, n_train=12, n_test=5)
    saved = tmp_path / "model.cnn"
    common = ["--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--batch-size", "4"]
    assert cli.main(["train", *common, "--epochs", "2", "--seed", "3", "--validation-split", "0.25",
                     "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "dataset: mnist (as asked): 12 train / 5 test images" in out
    assert "Epoch 2/2" in out and "val_accuracy" in out  # fit's progress, with the held-out part
    trained = out.splitlines()[-2]
    assert trained.startswith("test loss ") and saved.is_file()

    assert cli.main(["evaluate", str(saved), *common]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == trained


def test_auto_dataset_prefers_full_mnist_on_disk(capsys, offline_data, tmp_path, rng):
    write_idx_dataset(tmp_path / "mnist", rng, n_train=6, n_test=4)
    (x_train, _), _ = cli._load_dataset(cli.AUTO, tmp_path)
    assert x_train.shape == (6, 28, 28, 1) and x_train.dtype == "float32" and x_train.max() <= 1
    assert "dataset: mnist (found on disk)" in capsys.readouterr().out


def test_auto_dataset_falls_back_to_the_embedded_sample(capsys, offline_data):
    (x_train, y_train), (x_test, _) = cli._load_dataset(cli.AUTO, None)
    assert x_train.shape == (4000, 28, 28, 1) and y_train.shape == (4000, 10) and len(x_test) == 1000
    assert "dataset: mnist-sample (full MNIST is not on disk" in capsys.readouterr().out
    assert offline_data.requests == []  # auto never downloads


@pytest.mark.parametrize("problem", ["missing file", "corrupt file", "wrong input shape"])
def test_evaluate_reports_bad_input_in_one_line(capsys, offline_data, tmp_path, rng, problem):
    write_idx_dataset(tmp_path / "mnist", rng, n_train=4, n_test=3)
    write_cifar_dataset(tmp_path / "cifar10", rng)
    model = tmp_path / "model.cnn"
    assert cli.main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1",
                     "--save", str(model)]) == 0
    dataset = "mnist"
    if problem == "missing file":
        model.unlink()
    elif problem == "corrupt file":
        model.write_bytes(b"not a model")
    else:
        dataset = "cifar10"
    capsys.readouterr()
    assert cli.main(["evaluate", str(model), "--dataset", dataset, "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cnn-gpu evaluate: ") and len(err.splitlines()) == 1
    assert {"missing file": "No such file", "corrupt file": "not a cnn_gpu model file",
            "wrong input shape": "the model expects (None, 28, 28, 1)"}[problem] in err


@pytest.mark.parametrize("script, header", [("cpu_train", "| result | PyTorch threads |"),
                                            ("keras_accuracy", "| framework | backend |")])
def test_bench_runs_a_scripts_main_with_the_options_after_its_name(capsys, script, header):
    assert cli.main(["bench", script, "--table"]) == 0
    assert capsys.readouterr().out.startswith(header)


@pytest.fixture
def on_a_gpu(monkeypatch):
    """cnn-gpu's backend choice as on a GPU machine, with precompile's work recorded, not done."""
    import types

    import cnn_gpu.backend
    from cnn_gpu.cuda import precompile

    monkeypatch.setattr(cnn_gpu.backend, "get_backend", lambda: types.SimpleNamespace(name="cuda"))
    monkeypatch.setattr(cnn_gpu.backend, "backend_reason", lambda: "cuda: a GPU is usable (pretend)")
    monkeypatch.setattr(precompile, "gpu_capability", lambda: "90")
    monkeypatch.setattr(precompile, "declared_builds", lambda capability: ["a.cu", "b.cu", "c.cu"])
    compiled = []
    monkeypatch.setattr(precompile, "precompile", lambda builds, report: compiled.extend(builds))
    return precompile, compiled


def test_on_a_gpu_the_modules_not_yet_cached_compile_at_once_before_training(capsys, monkeypatch, on_a_gpu):
    precompile, compiled = on_a_gpu
    monkeypatch.setattr(precompile, "missing", lambda builds: builds[1:])
    cli._choose_backend(None)
    assert compiled == ["b.cu", "c.cu"]
    assert "compiling 2 kernel modules, once and in parallel" in capsys.readouterr().out
    monkeypatch.setattr(precompile, "missing", lambda builds: [])
    cli._choose_backend(None)
    assert compiled == ["b.cu", "c.cu"] and "compiling" not in capsys.readouterr().out


def test_a_failed_compile_ahead_leaves_the_kernels_to_their_first_launches(capsys, monkeypatch, on_a_gpu):
    precompile, _ = on_a_gpu
    monkeypatch.setattr(precompile, "missing", lambda builds: builds)

    def refuse(builds, report):
        raise RuntimeError("the kernel cache cannot be written")

    monkeypatch.setattr(precompile, "precompile", refuse)
    cli._choose_backend(None)
    assert ("compiling ahead failed (the kernel cache cannot be written); each kernel compiles at its first "
            "launch instead") in capsys.readouterr().out
