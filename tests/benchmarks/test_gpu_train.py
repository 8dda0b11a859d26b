"""benchmarks/gpu_train.py: its dry run (the numpy backend, a few batches; PyTorch's side where it is
installed) writes a result gpu_check.sh can summarise in one line."""

import json

import pytest

from benchmarks import gpu_train


def test_the_dry_run_times_each_side_and_writes_a_result_the_summary_reads(tmp_path, capsys):
    assert gpu_train.main(["--dry-run", "--out", str(tmp_path), "--epochs", "3"]) == 0
    document = json.loads((tmp_path / "gpu_train.json").read_text())
    assert document["dry_run"] and document["train_images"] == gpu_train.DRY_RUN_IMAGES and document["steps"] == 2
    ours = document["measured"]["cnn_gpu_numpy"]
    assert len(ours["epoch_seconds"]) == 3 and ours["seconds_per_epoch"] > 0
    assert ours["ms_per_step"] == pytest.approx(1000 * ours["seconds_per_epoch"] / 2)
    if "pytorch_cpu" in document["measured"]:
        assert document["ratio"] > 0
    else:
        assert document["ratio"] is None and "PyTorch is not installed" in document["note"]
    capsys.readouterr()
    assert gpu_train.main(["--summary", str(tmp_path / "gpu_train.json")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("training (CPU: ") and "cnn_gpu_numpy" in line and "ms/step" in line
    assert ("pytorch_cpu" in line) != ("PyTorch is not installed" in line)


def test_the_batch_norm_variant_writes_its_own_result(tmp_path, capsys):
    assert gpu_train.main(["--dry-run", "--batch-norm", "--out", str(tmp_path), "--epochs", "2"]) == 0
    document = json.loads((tmp_path / "gpu_train_batchnorm.json").read_text())
    assert document["batch_norm"] and not (tmp_path / "gpu_train.json").exists()
    assert capsys.readouterr().out.startswith("training with batch normalization (CPU: ")


def test_a_single_epoch_is_refused_since_the_first_is_not_counted(tmp_path):
    with pytest.raises(SystemExit):
        gpu_train.main(["--dry-run", "--out", str(tmp_path), "--epochs", "1"])
