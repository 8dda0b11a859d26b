import pytest

from cnn_gpu import cli, system_info


def test_info_reports_every_probe(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for what in system_info.PROBES:
        assert f"{what}: " in out
    assert "backend: numpy" in out or "backend: cuda" in out


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
    (["train", "--validation-split", "1"], "--validation-split: must be in [0, 1), got 1"),
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
