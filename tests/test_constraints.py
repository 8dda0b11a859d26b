"""Keras's weight constraints: each projection by hand, their names and configs, and a model's step."""

import numpy as np
import pytest

from cnn_gpu import constraints
from cnn_gpu.constraints import MaxNorm, MinMaxNorm, NonNeg, UnitNorm
from cnn_gpu.layers import Dense, Input
from cnn_gpu.models import Sequential, load_model
from cnn_gpu.utils import set_random_seed

EPS = constraints.EPSILON


def test_each_projection_by_hand():
    """Columns of norms 5 and 0.5 (axis 0, a Dense kernel's units): MaxNorm(1) scales the first to norm 1
    and leaves the second; UnitNorm scales both to 1; MinMaxNorm(1, 2, rate 0.5) moves 5 halfway to 2 and
    0.5 halfway to 1; NonNeg zeroes the negatives."""
    w = np.array([[3.0, 0.3], [-4.0, 0.4]])
    norms = np.array([5.0, 0.5])
    np.testing.assert_allclose(MaxNorm(1.0)(w), w * np.array([1.0, 0.5]) / (EPS + norms), rtol=1e-15)
    np.testing.assert_allclose(UnitNorm()(w), w / (EPS + norms), rtol=1e-15)
    np.testing.assert_allclose(MinMaxNorm(1.0, 2.0, rate=0.5)(w), w * np.array([3.5, 0.75]) / (EPS + norms),
                               rtol=1e-15)
    np.testing.assert_array_equal(NonNeg()(w), [[3.0, 0.3], [0.0, 0.4]])
    # Each filter of a (R, S, C, filters) kernel as one vector: axis [0, 1, 2].
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4))
    projected = MaxNorm(0.5, axis=[0, 1, 2])(kernel)
    np.testing.assert_allclose(np.sqrt((projected**2).sum(axis=(0, 1, 2))), 0.5, rtol=1e-6)


def test_names_configs_and_bad_arguments():
    assert [type(constraints.get(name)) for name in ("max_norm", "non_neg", "unit_norm", "min_max_norm")] == [
        MaxNorm, NonNeg, UnitNorm, MinMaxNorm]
    assert constraints.get(None) is None
    again = constraints.get({"class_name": "MinMaxNorm", "config": MinMaxNorm(0.2, 3, 0.5, [0, 1]).get_config()})
    assert (again.min_value, again.max_value, again.rate, again.axis) == (0.2, 3.0, 0.5, [0, 1])
    with pytest.raises(ValueError, match=r"MaxNorm: max_value must be a number in \[0, inf\], got -1"):
        MaxNorm(-1)
    with pytest.raises(ValueError, match="UnitNorm: axis must be an int or a list of ints"):
        UnitNorm(axis="rows")
    with pytest.raises(ValueError, match="unknown constraint 'positive'"):
        Dense(2, kernel_constraint="positive")


def test_a_model_projects_after_each_step_saves_them_and_leaves_frozen_layers(tmp_path):
    """Targets of a large kernel push the norms past the bound at every step; after fit none is above it
    (a last step may leave one a little inside). The constraints come back from a saved model; a frozen
    layer keeps its weights as they were."""
    set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 4))
    y = x @ rng.normal(0, 20, (4, 3))  # the best kernel's columns have norms near 40
    model = Sequential([Input((4,)), Dense(3, kernel_constraint=MaxNorm(0.5), bias_constraint="non_neg")])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    kernel, bias = model.get_weights()
    norms = np.sqrt((kernel**2).sum(axis=0))
    assert (norms <= 0.5 * (1 + 1e-6)).all() and norms.max() > 0.49, norms
    assert (bias >= 0).all()
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    restored = loaded.layers[0].kernel_constraint
    assert isinstance(restored, MaxNorm) and restored.max_value == 0.5
    frozen = Sequential([Input((4,)), Dense(3, kernel_constraint=MaxNorm(0.01), trainable=False), Dense(3)])
    frozen.compile("sgd", "mse")
    before = frozen.layers[0].get_weights()
    frozen.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(frozen.layers[0].get_weights()[0], before[0])
