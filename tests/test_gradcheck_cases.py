from cnn_gpu import cli, gradcheck_cases, layers


def test_every_layer_and_loss_has_a_passing_case():
    outcomes = gradcheck_cases.run_all()
    assert [o for o in outcomes if not o.passed] == []
    checked = {o.name for o in outcomes}
    assert set(layers.LAYERS.classes) - gradcheck_cases.NO_GRADIENT <= checked
    assert {"Sequential", "CategoricalCrossentropy", "Conv2D", "MaxPooling2D"} <= checked


def test_a_wrong_gradient_fails_the_command(capsys, monkeypatch):
    backward = layers.Dense.call_backward
    monkeypatch.setattr(layers.Dense, "call_backward",
                        lambda self, dz, need_dx: None if (dx := backward(self, dz, need_dx)) is None else 2 * dx)
    assert cli.main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "FAIL layer Dense (units=4, activation=None) on (3, 5): " in out
    assert "Dense layer" in out and "input" in out  # gradcheck's own message says what differed
    assert "layer  Flatten" in out and "ok" in out  # the others still ran


def test_a_layer_without_a_case_is_reported_missing(capsys, monkeypatch):
    monkeypatch.delitem(gradcheck_cases.LAYER_CASES, "Flatten")
    assert cli.main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "MISSING layer Flatten: no case: add one to LAYER_CASES" in out
