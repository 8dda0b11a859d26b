"""The functional API: layers called on symbolic tensors, Model(inputs, outputs), the merge layers.

Training against Keras is in test_keras_reference.py (its graph cases); the gradients of a residual
model against central differences in gradcheck_cases.py.
"""

import numpy as np
import pytest

from cnn_gpu import backend
from cnn_gpu.layers import (Activation, Add, BatchNormalization, Concatenate, Conv2D, Dense, Flatten,
                            GlobalAveragePooling2D, Input, Maximum, MaxPooling2D, Minimum, Multiply, Subtract)
from cnn_gpu.models import Model, Sequential, load_model
from cnn_gpu.utils import set_random_seed, to_categorical

X = np.random.default_rng(0).uniform(size=(12, 8, 8, 3)).astype(np.float32)
Y = to_categorical(np.arange(12) % 3, 3)


def residual_model(**kwargs):
    """The residual block of the module's docstring, with a side branch: the layer names say where."""
    inputs = Input((8, 8, 3))
    stem = Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    side = Conv2D(4, 1, name="side")(inputs)  # made before the block, read after it
    branch = BatchNormalization(name="norm")(Conv2D(8, 3, padding="same", use_bias=False, name="branch")(stem))
    block = Activation("relu", name="relu")(Add(name="add")([stem, branch]))
    merged = Concatenate(name="concatenate")([block, side])
    outputs = Dense(3, activation="softmax", name="dense")(GlobalAveragePooling2D(name="pool")(merged))
    return Model(inputs, outputs, **kwargs)


def test_layers_come_in_keras_order_each_after_what_it_reads():
    """Depth first from the output, inputs in the order given: Keras 3's order, which its get_weights
    follows (its model.layers lists the same, after its InputLayer)."""
    model = residual_model()
    assert [layer.name for layer in model.layers] == ["stem", "branch", "norm", "add", "relu", "side", "concatenate",
                                                      "pool", "dense"]
    assert model.name.startswith("functional") and model.output_shape == (None, 3)
    assert model.count_params() == 224 + 576 + 32 + 16 + 39


def test_the_graph_is_the_same_function_as_its_layers_applied_by_hand():
    set_random_seed(1)
    model = residual_model()
    stem, branch, norm, add, relu, side, concatenate, pool, dense = model.layers
    x = X[:5]
    s = stem.forward(x)
    by_hand = dense.forward(pool.forward(concatenate.forward([relu.forward(add.forward([s, norm.forward(
        branch.forward(s))])), side.forward(x)])))
    np.testing.assert_array_equal(model.predict(x, verbose=0), by_hand)


@pytest.mark.parametrize("name", ["numpy", "emulate"])
def test_it_trains_and_round_trips_through_a_file(tmp_path, monkeypatch, name):
    monkeypatch.setattr(backend, "_current", None)
    backend.set_backend(name)
    set_random_seed(0)
    model = residual_model()
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    before = model.get_weights()
    history = model.fit(X, Y, epochs=2, batch_size=4, verbose=0).history
    assert history["loss"][1] < history["loss"][0]
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()) if a.size > 1)
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    assert isinstance(loaded, Model) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    loaded.fit(X, Y, epochs=1, batch_size=4, verbose=0)  # compiled as saved, and trainable


def test_a_frozen_model_trains_nothing():
    model = residual_model(trainable=False)
    assert model.trainable_weights == [] and all(not layer.trainable for layer in model.layers)


def test_a_one_layer_model_and_lists_of_one():
    inputs = Input((4,))
    model = Model([inputs], [Dense(2)(inputs)])
    assert model.predict(np.ones((3, 4), np.float32), verbose=0).shape == (3, 2)


def test_merge_shapes_and_concatenate_splits_its_gradient_back():
    a, b = Input((2, 3)), Input((5, 3))
    assert Concatenate(axis=1)([a, b]).shape == (None, 7, 3)
    concatenate = Concatenate(axis=-2)
    concatenate.build([(None, 2, 3), (None, 5, 3)])
    dz = np.arange(2 * 7 * 3, dtype=np.float64).reshape(2, 7, 3)
    first, second = concatenate.backward(dz)
    np.testing.assert_array_equal(first, dz[:, :2])
    np.testing.assert_array_equal(second, dz[:, 2:])
    assert Add()([Input((3,)), Dense(3)(Flatten()(b)), Input((3,))]).shape == (None, 3)


@pytest.mark.parametrize("build, error, message", [
    (lambda i: Add()([i, Conv2D(2, 3)(i)]), ValueError,
     "merges inputs that broadcast together (each axis one size, or 1), got (None, 8, 8, 3), (None, 6, 6, 2)"),
    (lambda i: Multiply()([i, GlobalAveragePooling2D()(i)]), ValueError, "merges inputs of one rank"),
    (lambda i: Subtract()([i, i, i]), ValueError, "merges exactly 2 inputs, got 3"),
    (lambda i: Concatenate()([i, MaxPooling2D()(i)]), ValueError, "must match on every axis but axis -1"),
    (lambda i: Concatenate(axis=0), ValueError, "axis must be an int other than 0"),
    (lambda i: Add()([i]), ValueError, "merges at least 2 inputs, got 1"),
    (lambda i: Add()(i), TypeError, "takes a list of tensors, got one"),
    (lambda i: Dense(3)([i, i]), TypeError, "takes one tensor, got a list"),
    (lambda i: Dense(3)(X), TypeError, "called on Input(...) or on another layer's output, got ndarray"),
    (lambda i: Conv2D(2, 3, dtype="float64")(i), ValueError, "is float64 but its input from"),
    (lambda i: Flatten()(Conv2D(2, 9)(i)), ValueError, "smaller than the kernel extent"),
])
def test_a_wrong_call_fails_at_once_naming_the_layer(build, error, message):
    with pytest.raises(error) as raised:
        build(Input((8, 8, 3)))
    assert message in str(raised.value)


def test_a_layer_is_called_once_and_a_model_is_fixed():
    inputs = Input((4,))
    dense = Dense(2)
    dense(inputs)
    with pytest.raises(ValueError, match="shared layers are not supported"):
        dense(inputs)
    model = Model(inputs, Dense(3)(inputs))
    with pytest.raises(TypeError, match="fixed by its inputs and outputs"):
        model.add(Dense(2))


@pytest.mark.parametrize("make, error, message", [
    (lambda i, j: Model(i, Add()([Dense(3)(i), Dense(3)(j)])), ValueError, "which is not one of the model's inputs"),
    (lambda i, j: Model([i, j], Dense(3)(i)), ValueError, "the output does not depend on InputLayer"),
    (lambda i, j: Model([i, i], Dense(3)(i)), ValueError, "an input is listed twice"),
    (lambda i, j: Model(i, [Dense(3)(i), Dense(2)(i)]), TypeError, "several outputs are not supported"),
    (lambda i, j: Model(Dense(3)(i), Dense(2)(Dense(3)(i))), ValueError, "inputs must come from Input"),
    (lambda i, j: Model(i, i), ValueError, "has no layers between its input and its output"),
    (lambda i, j: Model(i, Add()([Dense(3, name="twin")(i), Dense(3, name="twin")(i)])), ValueError,
     "all layers need unique names"),
])
def test_a_model_that_cannot_be_walked_is_refused(make, error, message):
    with pytest.raises(error, match=message):
        make(Input((4,)), Input((4,)))


def test_input_still_starts_a_sequential_model():
    model = Sequential([Input((8, 8, 3)), Conv2D(2, 3), Flatten(), Dense(3)])
    assert model.input_shape == (None, 8, 8, 3) and model.output_shape == (None, 3)


def test_the_summary_says_what_each_layer_reads_where_the_graph_branches():
    from cnn_gpu.models.summary import summary_text

    text = summary_text(residual_model(name="residual"), line_length=108)
    assert 'Model: "residual"' in text and "Connected to" in text
    assert any("add (Add)" in line and "stem[0][0]," in line for line in text.splitlines())
    inputs = Input((4,))
    chain = summary_text(Model(inputs, Dense(2)(Dense(3)(inputs))), line_length=88)
    assert "Connected to" not in chain and "(InputLayer)" in chain  # a chain prints as Keras prints it


def two_input_model():
    image, features = Input((8, 8, 3), name="image"), Input((4,), name="features")
    pooled = GlobalAveragePooling2D(name="pool")(Conv2D(4, 3, activation="relu", name="conv")(image))
    merged = Concatenate(name="merge")([pooled, Dense(4, activation="tanh", name="hidden")(features)])
    return Model([image, features], Dense(3, activation="softmax", name="out")(merged))


def test_a_model_of_two_inputs_takes_a_list_of_arrays_everywhere(fresh_backend):
    set_random_seed(1)
    model = two_input_model()
    assert model.input_shape == [(None, 8, 8, 3), (None, 4)] and model.output_shape == (None, 3)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    features = np.random.default_rng(1).uniform(size=(12, 4)).astype(np.float32)
    history = model.fit([X, features], Y, epochs=2, batch_size=5, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    predictions = model.predict([X, features], batch_size=4, verbose=0)
    assert predictions.shape == (12, 3)
    np.testing.assert_allclose(model.predict_on_batch([X, features]), predictions, rtol=1e-6)
    loss, accuracy = model.evaluate([X, features], Y, verbose=0)
    assert loss == pytest.approx(model.test_on_batch([X, features], Y)[0], rel=1e-6)
    model.train_on_batch([X[:3], features[:3]], Y[:3])
    swapped = features[::-1].copy()  # the second input matters: other features, other outputs
    assert not np.allclose(model.predict([X, swapped], verbose=0), model.predict([X, features], verbose=0))


@pytest.mark.parametrize("x, message", [
    (lambda f: X, "x must be a list of 2 arrays, one for each of the model's inputs, got ndarray"),
    (lambda f: [X], "x must be a list of 2 arrays, one for each of the model's inputs, got list of 1"),
    (lambda f: [X, f[:5]], "x[0] has 12 samples but x[1] has 5"),
    (lambda f: [X, f[:, :3]], "x[1] has shape (12, 3) but the model expects (None, 4)"),
])
def test_a_wrong_list_of_inputs_is_named(x, message):
    model = two_input_model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError) as raised:
        model.fit(x(np.zeros((12, 4), np.float32)), Y, verbose=0)
    assert message in str(raised.value)


def test_a_model_of_two_inputs_saves_loads_and_summarises(tmp_path):
    from cnn_gpu.models.summary import summary_text

    model = two_input_model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    features = np.ones((12, 4), np.float32)
    model.save(tmp_path / "two.cnn")
    again = load_model(tmp_path / "two.cnn")
    assert again.input_shape == model.input_shape
    np.testing.assert_array_equal(again.predict([X, features], verbose=0), model.predict([X, features], verbose=0))
    text = summary_text(model, line_length=100)
    assert "image (InputLayer)" in text and "features (InputLayer)" in text and "pool[0][0]," in text


def test_a_config_saved_before_several_inputs_still_loads():
    model = residual_model()
    config = model.get_config()
    old = {**{k: v for k, v in config.items() if k not in ("input_layers", "several_inputs")},
           "input_layer": config["input_layers"][0]}
    again = Model.from_config(old)
    assert again.input_shape == (None, 8, 8, 3) and [layer.name for layer in again.layers] == [
        layer.name for layer in model.layers]


def test_maximum_and_minimum_keep_a_nan_and_split_a_tie_as_jax():
    for cls, expected in ((Maximum, [3.0, np.nan, 2.0]), (Minimum, [1.0, np.nan, 2.0])):
        layer = cls()
        layer.build([(None, 3), (None, 3)])
        y = layer.forward([np.array([[3.0, np.nan, 2.0]]), np.array([[1.0, 5.0, 2.0]])])
        np.testing.assert_array_equal(y, [expected])
        first, second = layer.backward(np.ones((1, 3)))
        assert first[0, 2] == second[0, 2] == 0.5  # the tie
        assert (first[0, 0], second[0, 0]) == ((1.0, 0.0) if cls is Maximum else (0.0, 1.0))


def test_a_gate_of_one_value_a_channel_broadcasts_and_its_gradient_sums_over_the_pixels():
    rng = np.random.default_rng(2)
    image, gate = rng.uniform(size=(2, 3, 4, 5)), rng.uniform(size=(2, 1, 1, 5))
    layer = Multiply()
    assert layer.compute_output_shape([(None, 3, 4, 5), (None, 1, 1, 5)]) == (None, 3, 4, 5)
    np.testing.assert_allclose(layer.forward([image, gate]), image * gate)
    d_image, d_gate = layer.backward(np.ones((2, 3, 4, 5)))
    np.testing.assert_allclose(d_image, np.broadcast_to(gate, image.shape))
    np.testing.assert_allclose(d_gate, image.sum(axis=(1, 2), keepdims=True))


def test_an_activity_penalty_on_one_branch_of_an_add_leaves_the_others_gradient_alone(rng):
    """Add hands the same gradient to both of its inputs: the regularized branch adds its penalty's
    gradient to a copy of it, not to the one the other branch reads (central differences)."""
    from cnn_gpu import gradcheck

    inputs = Input((5,), dtype="float64")
    right = Dense(4, dtype="float64", name="right")(inputs)
    left = Dense(4, activation="tanh", activity_regularizer="l2", dtype="float64", name="left")(inputs)
    outputs = Dense(2, dtype="float64")(Add(dtype="float64")([right, left]))
    model = Model(inputs, outputs)
    # The backward pass reaches the regularized branch first, before the other reads the gradient they share.
    assert [layer.name for layer in model.layers][:2] == ["right", "left"]
    model.compile("sgd", "mse")
    for weight in model.weights:
        weight[...] = rng.uniform(-1, 1, weight.shape)
    gradcheck.check_model(model, rng.uniform(-1, 1, (3, 5)), rng.normal(size=(3, 2)))
    assert load_model_config_round_trip(model).get_layer("left").activity_regularizer.l2 == 0.01


def load_model_config_round_trip(model):
    return Model.from_config(model.get_config())
