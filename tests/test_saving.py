"""save / load_model: exact round trips, atomic writes, and a clear error for every kind of bad file."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from cnn_gpu.layers import AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from cnn_gpu.models import Sequential, load_model
from cnn_gpu.models.saving import ModelFileError
from cnn_gpu.optimizers import SGD, RMSprop
from cnn_gpu.regularizers import l2
from cnn_gpu.utils import set_random_seed, to_categorical

X = np.random.default_rng(0).uniform(size=(12, 8, 8, 2)).astype(np.float32)
Y = to_categorical(np.arange(12) % 3, 3)


def trained_model():
    set_random_seed(0)
    model = Sequential([
        Input((8, 8, 2)),
        Conv2D(4, 3, strides=2, padding="same", dilation_rate=1, activation="relu", kernel_initializer="he_normal",
               kernel_regularizer=l2(0.001)),
        MaxPooling2D(2, padding="same"),
        AveragePooling2D(1),
        Flatten(),
        Dropout(0.2, seed=5),
        Dense(3, activation="softmax", use_bias=False),
    ])
    model.compile(SGD(0.05, momentum=0.9, nesterov=True), "categorical_crossentropy", ["accuracy"])
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    return model


@pytest.fixture
def saved(tmp_path):
    model = trained_model()
    path = tmp_path / "model.cnn"
    model.save(path)
    return model, path


def test_round_trip_gives_identical_predictions_and_config(saved):
    model, path = saved
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert loaded.get_compile_config() == model.get_compile_config()
    assert loaded.evaluate(X, Y, verbose=0) == model.evaluate(X, Y, verbose=0)
    loaded.fit(X, Y, epochs=1, verbose=0)  # and it trains on


def test_the_file_is_a_zip_of_json_and_npz(saved):
    _, path = saved
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "optimizer.npz", "weights.npz"]
        config = json.loads(archive.read("config.json"))
        weights = np.load(io.BytesIO(archive.read("weights.npz")), allow_pickle=False)
        assert "layer_0_Conv2D/kernel" in weights.files
    assert config["model"]["config"]["layers"][1]["config"]["kernel_regularizer"] == {
        "class_name": "L2", "config": {"l2": 0.001}}
    assert config["compile_config"]["optimizer"]["config"]["nesterov"] is True


def test_a_failed_save_leaves_the_old_file_and_no_temporary(saved, monkeypatch):
    model, path = saved
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.cnn"]


def rewrite(path, config=None, weights=None):
    """Rewrite a saved model with its config (a dict) or weights (name -> array) replaced."""
    with zipfile.ZipFile(path) as archive:
        old_config = json.loads(archive.read("config.json"))
        old_weights = archive.read("weights.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config if config is not None else old_config))
        if weights is None:
            archive.writestr("weights.npz", old_weights)
        else:
            buffer = io.BytesIO()
            np.savez(buffer, **weights)
            archive.writestr("weights.npz", buffer.getvalue())
    return old_config


def test_garbage_and_truncated_files(saved, tmp_path):
    _, path = saved
    garbage = tmp_path / "garbage.cnn"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(ModelFileError, match="not a cnn_gpu model file"):
        load_model(garbage)
    truncated = tmp_path / "truncated.cnn"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model(truncated)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.cnn")


def test_corrupt_member_is_reported(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    start = data.find(b"weights.npz") + 40  # inside the stored weights, past the local header
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        load_model(path)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(format="keras"), "does not describe a cnn_gpu model"),
    (lambda c: c.update(format_version=99), "format version 99 is not supported"),
    (lambda c: c["model"]["config"]["layers"][-1]["config"].update(units=4), "weights do not match the model|shape"),
    (lambda c: c["model"]["config"]["layers"][-1].update(class_name="Lambda"), "unknown layer class 'Lambda'"),
    (lambda c: c["model"]["config"]["layers"][-1]["config"].update(units="3; import os"), "units must be a positive int"),
    (lambda c: c["model"]["config"]["layers"].pop(1), "weights do not match the model"),
])
def test_mismatched_configs(saved, edit, message):
    _, path = saved
    config = rewrite(path)
    edit(config)
    rewrite(path, config=config)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_invalid_json(saved):
    _, path = saved
    with zipfile.ZipFile(path) as archive:
        weights = archive.read("weights.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("weights.npz", weights)
    with pytest.raises(ModelFileError, match="config.json is not valid JSON"):
        load_model(path)


def test_pickled_or_misshapen_weights_are_refused(saved):
    model, path = saved
    good = {f"k{i}": w for i, w in enumerate(model.get_weights())}
    rewrite(path, weights={**good, "evil": np.array([object()], dtype=object)})
    with pytest.raises(ModelFileError, match="not a readable .npz"):
        load_model(path)
    names = ["layer_0_Conv2D/kernel", "layer_0_Conv2D/bias", "layer_5_Dense/kernel"]
    arrays = dict(zip(names, model.get_weights()))
    arrays["layer_5_Dense/kernel"] = np.zeros((5, 3))
    rewrite(path, weights=arrays)
    with pytest.raises(ModelFileError, match=r"layer_5_Dense/kernel is float64 \(5, 3\), the model needs a float "
                                             r"array of shape \(16, 3\)"):
        load_model(path)


def test_weights_round_trip_and_mismatch(tmp_path):
    model = trained_model()
    model.save_weights(tmp_path / "w.npz")
    other = trained_model()
    other.set_weights([w * 0 for w in other.get_weights()])
    other.load_weights(tmp_path / "w.npz")
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), model.get_weights()))
    different = Sequential([Input((8, 8, 2)), Flatten(), Dense(3)])
    with pytest.raises(ModelFileError, match="weights do not match the model"):
        different.load_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="has 3 weight arrays, got 2"):
        model.set_weights(model.get_weights()[:2])


def test_batch_normalization_and_global_pooling_round_trip(tmp_path):
    """The moving statistics (non-trainable weights) are saved and loaded with the rest."""
    from cnn_gpu.layers import BatchNormalization, GlobalAveragePooling2D

    set_random_seed(0)
    model = Sequential([Input((8, 8, 2)), Conv2D(4, 3, use_bias=False), BatchNormalization(momentum=0.5),
                        GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    assert not np.allclose(model.layers[1].get_weights()[2], 0), "training moved the moving mean"
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.get_config() == model.get_config()


def test_depthwise_and_separable_convolutions_round_trip(tmp_path):
    """Their Keras-named arguments (depthwise_*, pointwise_*) and weights come back as they were."""
    from cnn_gpu.layers import DepthwiseConv2D, GlobalAveragePooling2D, SeparableConv2D

    set_random_seed(0)
    model = Sequential([Input((8, 8, 2)),
                        DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu",
                                        depthwise_regularizer=l2(0.01), depthwise_initializer="he_normal"),
                        SeparableConv2D(3, 2, strides=2, pointwise_initializer="he_normal",
                                        depthwise_regularizer=l2(0.02)),
                        GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    assert loaded.get_config() == model.get_config()
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert [(layer.name, name, reg.l2) for layer, name, reg in loaded.regularized_weights()] == [
        (model.layers[0].name, "kernel", 0.01), (model.layers[1].name, "depthwise_kernel", 0.02)]


def test_activation_layers_keep_their_arguments(tmp_path):
    """ReLU, ELU and Softmax at arguments other than Keras's defaults: saved, loaded, the same outputs."""
    from cnn_gpu.layers import ELU, ReLU, Softmax

    set_random_seed(0)
    model = Sequential([Input((8, 8, 2)), Conv2D(3, 3), ReLU(negative_slope=0.1, threshold=0.5), Softmax(axis=(1, 2)),
                        Flatten(), Dense(6), ELU(alpha=0.5), Dense(4), ReLU(max_value=6.0), Dense(3),
                        Softmax(axis=[-1])])
    model.compile("adam", "categorical_crossentropy")
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    assert loaded.get_config() == model.get_config()
    relu, softmax, elu, relu6, last = (loaded.layers[i] for i in (1, 2, 5, 7, 9))
    assert (relu.negative_slope, relu.threshold, relu.max_value) == (0.1, 0.5, None) and relu6.max_value == 6.0
    assert softmax.axis == [1, 2] and elu.alpha == 0.5 and last.axis == [-1]
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


@pytest.mark.parametrize("optimizer", ["adam", SGD(0.05, momentum=0.9), "rmsprop", RMSprop(momentum=0.5, centered=True),
                                       "adagrad", "adamax", "nadam", "lion", "adadelta"])
def test_a_loaded_model_trains_on_where_it_stopped(tmp_path, optimizer):
    """The optimizer's step count and slots come back with the model (Keras's too), so an epoch after
    loading is the epoch the saved model would have trained."""
    set_random_seed(0)
    model = Sequential([Input((8, 8, 2)), Conv2D(4, 3, activation="relu"), Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer, "categorical_crossentropy")  # (no Dropout: its generator's place is not saved)
    model.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "model.cnn")
    loaded = load_model(tmp_path / "model.cnn")
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    for model_ in (model, loaded):
        model_.fit(X, Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_damaged_optimizer_state_is_named(tmp_path):
    model = trained_model()
    path = tmp_path / "model.cnn"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    state = dict(np.load(io.BytesIO(members["optimizer.npz"])))
    assert sorted(state) == ["iterations", "variable_0/momentum", "variable_1/momentum", "variable_2/momentum"]
    for edit, message in [
        (lambda s: s.pop("variable_1/momentum"), r"missing \['variable_1/momentum'\]"),
        (lambda s: s.update({"variable_0/momentum": np.zeros(3)}), r"variable_0/momentum is float64 \(3,\)"),
        (lambda s: s.update({"iterations": np.array(-1)}), "iterations must be a count"),
    ]:
        damaged = dict(state)
        edit(damaged)
        buffer = io.BytesIO()
        np.savez(buffer, **damaged)
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in {**members, "optimizer.npz": buffer.getvalue()}.items():
                archive.writestr(name, data)
        with pytest.raises(ModelFileError, match=message):
            load_model(path)
    load_model(path, compile=False)  # the state is the optimizer's: without one, it is not read
