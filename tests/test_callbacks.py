"""Callbacks: EarlyStopping's, ModelCheckpoint's and ReduceLROnPlateau's rules on scripted logs, then
inside fit."""

import os

import numpy as np
import pytest

from cnn_gpu.callbacks import (Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau,
                               TerminateOnNaN)
from cnn_gpu.layers import Dense, Input
from cnn_gpu.models import Sequential, load_model
from cnn_gpu.optimizers import SGD
from cnn_gpu.utils import set_random_seed, to_categorical


class StubOptimizer:
    learning_rate = 1.0


class StubModel:
    """Just what the monitoring callbacks touch: weights that record the epoch, a stop flag, save, an
    optimizer's learning rate."""

    def __init__(self):
        self.stop_training = False
        self.epoch = None
        self.saved = []
        self.optimizer = StubOptimizer()

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])

    def save(self, path):
        self.saved.append(path)


def drive(callback, values, monitor="val_loss", logged=None):
    """Run ``callback`` over epochs whose ``monitor`` takes ``values``; returns (model, epochs run).
    Each epoch's logs, as the callback left them, go to ``logged`` if given."""
    model = StubModel()
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        model.epoch = epoch
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        if logged is not None:
            logged.append(logs)
        if model.stop_training:
            break
    callback.on_train_end()
    return model, epoch + 1


def test_early_stopping_waits_patience_epochs_after_the_best():
    _, epochs = drive(EarlyStopping(patience=2), [1.0, 0.8, 0.9, 0.85, 0.7])
    assert epochs == 4


def test_early_stopping_min_delta_and_max_mode():
    _, epochs = drive(EarlyStopping(patience=1, min_delta=0.1), [1.0, 0.95, 0.5])
    assert epochs == 2  # 0.95 is not better by 0.1
    _, epochs = drive(EarlyStopping(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.55, 0.9],
                      monitor="val_accuracy")
    assert epochs == 3


def test_early_stopping_restores_the_best_weights():
    model, _ = drive(EarlyStopping(patience=2, restore_best_weights=True), [1.0, 0.5, 0.7, 0.8, 0.1])
    assert model.restored == 1


def test_early_stopping_needs_a_direction_it_can_tell():
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        EarlyStopping(monitor="val_f1")


def test_checkpoint_formats_the_epoch_and_saves_only_improvements():
    callback = ModelCheckpoint("ckpt-{epoch:02d}-{val_loss:.2f}.cnn", save_best_only=True)
    model, _ = drive(callback, [1.0, 1.2, 0.5])
    assert model.saved == ["ckpt-01-1.00.cnn", "ckpt-03-0.50.cnn"]


def test_reduce_lr_on_plateau_follows_keras_rules():
    # Keras's rules worked by hand: the rate halves after 2 epochs without improvement, then the
    # count stays at 0 for 1 cooldown epoch; the rate each epoch ran at is logged.
    logged = []
    values = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85]
    model, _ = drive(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_delta=0), values, logged=logged)
    assert [logs["learning_rate"] for logs in logged] == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    assert model.optimizer.learning_rate == 0.25
    model, _ = drive(ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.3), values)
    assert model.optimizer.learning_rate == 0.3
    model, _ = drive(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1), [0.5, 0.4, 0.6],
                     monitor="val_accuracy")
    assert model.optimizer.learning_rate == 0.5  # accuracy is maximised
    with pytest.raises(ValueError, match="factor must be below 1.0"):
        ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        ReduceLROnPlateau(monitor="val_f1")


def test_learning_rate_scheduler_sets_each_epochs_rate_in_fit(capsys):
    set_random_seed(0)
    model = make_model()
    x, y = np.random.default_rng(0).uniform(size=(8, 3)), to_categorical(np.arange(8) % 2, 2)
    history = model.fit(x, y, epochs=3, verbose=2,
                        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.4 if epoch == 0 else lr / 2)])
    assert history.history["learning_rate"] == [0.4, 0.2, 0.1]
    # The progress bar runs after the user's callbacks, as Keras's: it shows the rate they logged.
    assert "learning_rate: 0.1000" in capsys.readouterr().out
    assert model.optimizer.learning_rate == 0.1
    one_argument = LearningRateScheduler(lambda epoch: np.float32(0.01) * (epoch + 1))  # Keras's older form
    model.fit(x, y, epochs=2, verbose=0, callbacks=[one_argument])
    assert model.optimizer.learning_rate == np.float32(0.02)
    with pytest.raises(ValueError, match="the schedule must return a non-negative float, got 'fast'"):
        model.fit(x, y, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: "fast")])


def make_model():
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    model.compile(SGD(0.1), "categorical_crossentropy", ["accuracy"])
    return model


X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
Y = to_categorical((X[:, 0] > 0).astype(int), 2)


def test_early_stopping_ends_fit():
    set_random_seed(0)
    model = make_model()
    model.compile(SGD(0.0), "categorical_crossentropy")  # nothing changes, so nothing improves
    history = model.fit(X, Y, epochs=10, validation_split=0.25, callbacks=[EarlyStopping(patience=2)], verbose=0)
    assert len(history.history["val_loss"]) == 3


def test_model_checkpoint_writes_models_and_weights(tmp_path):
    set_random_seed(0)
    model = make_model()
    pattern = str(tmp_path / "sub" / "model-{epoch}.cnn")
    model.fit(X, Y, epochs=2, callbacks=[ModelCheckpoint(pattern, save_best_only=False)], verbose=0)
    assert sorted(os.listdir(tmp_path / "sub")) == ["model-1.cnn", "model-2.cnn"]
    np.testing.assert_array_equal(load_model(pattern.format(epoch=2)).predict(X, verbose=0), model.predict(X, verbose=0))
    weights_path = str(tmp_path / "w.npz")
    model.fit(X, Y, epochs=1, callbacks=[ModelCheckpoint(weights_path, monitor="loss", save_weights_only=True)],
              verbose=0)
    other = make_model()
    other.build((None, 3))
    other.load_weights(weights_path)
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), model.get_weights()))


def test_terminate_on_nan_stops_quietly_and_keeps_weights_finite(capsys):
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(SGD(0.01), "mse")
    x = np.array([[1.0, 1.0]] * 4 + [[1e30, 1e30]] * 4, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        history = model.fit(x, np.zeros(8), batch_size=4, epochs=3, shuffle=False, callbacks=[TerminateOnNaN()],
                            verbose=0)
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    assert len(history.history["loss"]) == 1  # the epoch it stopped in, without the NaN batch
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_hooks_are_called_in_keras_order():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch} {sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            events.append("train_end")

    make_model().fit(X, Y, batch_size=10, epochs=1, callbacks=[Recorder()], verbose=0)
    assert events == ["train_begin", "epoch_begin 0", "batch_end 0 ['accuracy', 'loss']",
                      "batch_end 1 ['accuracy', 'loss']", "epoch_end 0 ['accuracy', 'loss']", "train_end"]


def test_csv_logger_writes_each_epoch_as_keras_does(tmp_path):
    """epoch, then the sorted log keys; the val_ columns even without validation ("NA"); with append,
    more rows under the same header."""
    import csv

    from cnn_gpu.callbacks import CSVLogger

    set_random_seed(0)
    x, y = np.random.default_rng(0).uniform(size=(16, 4)), to_categorical(np.arange(16) % 3, 3)
    model = Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile(SGD(0.1), "categorical_crossentropy", ["accuracy"])
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0,
                        callbacks=[CSVLogger(path)]).history
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row["epoch"] for row in rows] == ["0", "1"]
    for key in ("accuracy", "loss", "val_accuracy", "val_loss"):
        assert [float(row[key]) for row in rows] == history[key]
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[CSVLogger(path, separator=",", append=True)])
    with open(path, newline="") as file:
        lines = file.read().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,") and lines[3].endswith(",NA,NA")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    with open(path) as file:
        assert file.read().splitlines()[0] == "epoch;accuracy;loss;val_accuracy;val_loss"


def test_a_lambda_callback_runs_each_function_given_with_its_logs():
    from cnn_gpu.callbacks import LambdaCallback

    seen = []
    callback = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, sorted(logs))),
                              on_batch_end=lambda batch, logs: seen.append(("batch", batch)),
                              on_train_begin=lambda logs: seen.append(("begin", logs)))
    model = make_model()
    model.fit(X, Y, epochs=2, batch_size=len(X), verbose=0, callbacks=[callback])
    logged = ["accuracy", "loss"]
    assert seen == [("begin", None), ("batch", 0), ("epoch", 0, logged), ("batch", 0), ("epoch", 1, logged)]
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        LambdaCallback(on_epoch_end=3)
