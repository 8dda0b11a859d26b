"""benchmarks/train_step_overhead.py: the seed model's training step with its launches stubbed."""

from benchmarks import gemm_call_overhead, train_step_overhead
from cnn_gpu import backend


def test_every_step_launches_the_same_kernels_and_the_backend_is_given_back(capsys, monkeypatch):
    launched = []
    monkeypatch.setattr(gemm_call_overhead.StubModule, "get_function",
                        lambda self, name: lambda *args, **kwargs: launched.append(name))
    before = backend._current
    assert train_step_overhead.main(["--steps", "3", "--rounds", "2"]) == 0
    assert backend._current is before
    line, = capsys.readouterr().out.splitlines()
    assert line.startswith("emulate  seed model, batch 32:") and float(line.split()[-8]) > 0
    # One untimed step and 2 rounds of 3, each the same launches: conv, pool, both Dense, the loss,
    # their backward passes, Adam on all 6 weights in one launch, the accuracy count.
    per_step = len(launched) // 7
    assert len(launched) == 7 * per_step and launched[:per_step] == launched[-per_step:]
    assert [name for name in launched[:per_step] if name.startswith("adam")] == ["adam_step_multi<float>"]
    assert any(name.startswith("conv2d_forward") for name in launched[:per_step])


def test_the_profile_names_the_step_as_its_unit(capsys):
    assert train_step_overhead.main(["--steps", "2", "--rounds", "1", "--profile"]) == 0
    out = capsys.readouterr().out
    assert "per training step, by cumulative time" in out and "(training_step)" in out


def test_the_batch_norm_variant_launches_the_normalization_kernels(capsys, monkeypatch):
    launched = []
    monkeypatch.setattr(gemm_call_overhead.StubModule, "get_function",
                        lambda self, name: lambda *args, **kwargs: launched.append(name))
    assert train_step_overhead.main(["--steps", "1", "--rounds", "1", "--batch-norm"]) == 0
    assert capsys.readouterr().out.startswith("emulate  seed model with batch norm, batch 32:")
    per_step = len(launched) // 2
    # Two a pass: the flat sums with the constants (rung 4, the default up to 256 channels), then the
    # element-wise pass.
    assert sum(name.startswith("batch_norm_") for name in launched[:per_step]) == 4
