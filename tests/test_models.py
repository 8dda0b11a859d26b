"""Sequential end to end: the seed model trains, results repeat with a seed, Keras's formats and errors."""

import io
import re

import numpy as np
import pytest

from cnn_gpu import backend as backend_module
from cnn_gpu import gradcheck, losses, regularizers
from cnn_gpu.backend.numpy_backend import NumpyBackend
from cnn_gpu.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from cnn_gpu.models import Sequential
from cnn_gpu.metrics import BinaryAccuracy, CategoricalAccuracy
from cnn_gpu.optimizers import SGD, Adam
from cnn_gpu.utils import Progbar, clear_session, set_random_seed, to_categorical
from cnn_gpu.utils.registry import serialize

# What Keras 3.15 prints for the seed model (summary() with output not to a terminal: 76 columns).
KERAS_SEED_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                 │ (None, 26, 26, 32)     │           320 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d (MaxPooling2D)    │ (None, 13, 13, 32)     │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 5408)           │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 64)             │       346,176 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │           650 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 347,146 (1.32 MB)
 Trainable params: 347,146 (1.32 MB)
 Non-trainable params: 0 (0.00 B)
"""


def seed_model():
    """The seed model of issue 3, exactly as a Keras user writes it."""
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(64, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def bright_quadrant_images(n, seed=0):
    """28x28 noise with one brighter quadrant; the class is the quadrant (linearly separable)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    x = rng.uniform(0, 0.5, (n, 28, 28, 1)).astype(np.float32)
    for quadrant in range(4):
        rows, cols = divmod(quadrant, 2)
        x[labels == quadrant, rows * 14:(rows + 1) * 14, cols * 14:(cols + 1) * 14] += 0.5
    return x, to_categorical(labels, 10)


def test_summary_matches_keras_for_the_seed_model():
    clear_session()
    printed = []
    seed_model().summary(line_length=76, print_fn=printed.append)
    assert printed == [KERAS_SEED_SUMMARY]


def test_summary_counts_optimizer_slots_after_training():
    set_random_seed(0)
    model = Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.fit(np.ones((4, 4)), to_categorical([0, 1, 2, 0], 3), verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    # Keras 3 prints exactly these for this model after one Adam step.
    assert " Total params: 47 (188.00 B)\n Trainable params: 15 (60.00 B)\n" in lines[0]
    assert " Optimizer params: 32 (128.00 B)\n" in lines[0]


def test_seed_model_learns_a_separable_problem():
    set_random_seed(1)
    x, y = bright_quadrant_images(320)
    model = seed_model()
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.1, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    x_test, y_test = bright_quadrant_images(64, seed=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9
    probabilities = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def train_small(seed):
    set_random_seed(seed)
    x, y = bright_quadrant_images(96)
    model = Sequential([Input((28, 28, 1)), Conv2D(4, 3, strides=2, activation="relu"), Flatten(),
                        Dropout(0.3), Dense(10, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model.get_weights()


def test_a_seed_makes_training_reproducible():
    first, second, other = train_small(7), train_small(7), train_small(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_softmax_with_crossentropy_trains_on_logits():
    """Saturated softmax: the fused loss is exact where a clipped log(probability) would cap at 16.1."""
    model = Sequential([Input((2,)), Dense(2, activation="softmax", dtype="float64")])
    model.compile("sgd", "categorical_crossentropy")
    model.set_weights([np.array([[30.0, -30.0], [0.0, 0.0]]), np.zeros(2)])
    x, y = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert model.evaluate(x, y, verbose=0) == pytest.approx(60.0, rel=1e-12)
    np.testing.assert_allclose(model.predict(x, verbose=0), [[1.0, np.exp(-60.0)]], rtol=1e-9)


def test_evaluate_returns_like_keras():
    set_random_seed(0)
    x, y = np.random.default_rng(0).uniform(size=(10, 3)), to_categorical(np.arange(10) % 2, 2)
    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    probabilities = model.predict(x, verbose=0).astype(np.float64)
    expected = -np.mean(np.log(np.sum(probabilities * y, axis=1)))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, batch_size=3, verbose=0)
    assert accuracy == np.mean(probabilities.argmax(1) == y.argmax(1))
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"accuracy": accuracy, "loss": loss}


@pytest.mark.parametrize("loss, activation, labels, metric", [
    ("binary_crossentropy", "sigmoid", lambda c: c[:, None].astype(float), "binary_accuracy"),
    ("sparse_categorical_crossentropy", "softmax", lambda c: c, "sparse_categorical_accuracy"),
    ("mse", "sigmoid", lambda c: c[:, None].astype(float), None),
])
def test_other_losses_train(loss, activation, labels, metric):
    set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 4)).astype(np.float32)
    classes = (x[:, 0] + x[:, 1] > 0).astype(int)
    units = 2 if loss.startswith("sparse") else 1
    model = Sequential([Input((4,)), Dense(8, activation="tanh"), Dense(units, activation=activation)])
    model.compile(optimizer=Adam(learning_rate=0.02), loss=loss, metrics=["accuracy"])
    history = model.fit(x, labels(classes), epochs=10, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["accuracy"][-1] > 0.85
    if metric:
        model.compile(optimizer="adam", loss=loss, metrics=[metric])
        assert metric in model.evaluate(x, labels(classes), verbose=0, return_dict=True)


def test_a_logits_model_trains_with_binary_crossentropy_from_logits_and_a_zero_threshold():
    """Dense(1) without a sigmoid, the loss on its logits; BinaryAccuracy(threshold=0) counts as the
    sigmoid's 0.5 would, and 'accuracy' keeps Keras's 0.5 on the logits."""
    set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    model = Sequential([Input((4,)), Dense(8, activation="tanh"), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.02), loss=losses.BinaryCrossentropy(from_logits=True),
                  metrics=[BinaryAccuracy(threshold=0.0), "accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0] and history["binary_accuracy"][-1] > 0.85
    logits = model.predict(x, verbose=0)[:, 0]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["binary_accuracy"] == pytest.approx(np.mean((logits > 0) == y))
    assert result["accuracy"] == pytest.approx(np.mean((logits > 0.5) == y))
    with pytest.raises(ValueError, match="threshold must be a number"):
        BinaryAccuracy(threshold=None)


@pytest.mark.parametrize("loss, labels, smoothed", [
    (losses.CategoricalCrossentropy(label_smoothing=0.3), np.eye(3)[[0, 2, 1, 1]], 0.7 * np.eye(3)[[0, 2, 1, 1]] + 0.1),
    (losses.BinaryCrossentropy(label_smoothing=0.2), np.array([[0.0], [1.0], [1.0], [0.0]]),
     np.array([[0.1], [0.9], [0.9], [0.1]])),
])
def test_label_smoothing_moves_the_labels_toward_the_uniform_one(rng, loss, labels, smoothed):
    """Keras's y (1 - s) + s / classes (s / 2 for binary labels): the loss of the labels as given equals
    the unsmoothed loss of the smoothed labels, and a bad factor is named."""
    pred = rng.uniform(0.1, 0.9, labels.shape)
    plain = type(loss)()
    assert float(loss(labels, pred)) == pytest.approx(float(plain(smoothed, pred)), rel=1e-12)
    assert losses.get(serialize(loss)).label_smoothing == loss.label_smoothing
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\]"):
        type(loss)(label_smoothing=1.5)


def small_float64_model(loss, last_activation, units):
    model = Sequential([
        Input((7, 6, 2), dtype="float64"),
        Conv2D(3, 3, strides=2, padding="same", activation="tanh", dtype="float64"),
        MaxPooling2D(2, padding="same", dtype="float64"),
        Flatten(dtype="float64"),
        Dense(5, activation="sigmoid", kernel_regularizer=regularizers.l2(0.05), dtype="float64"),
        Dense(units, activation=last_activation, dtype="float64"),
    ])
    model.compile("sgd", loss)
    return model


@pytest.mark.parametrize("loss, activation, make_labels", [
    ("categorical_crossentropy", "softmax", lambda c: to_categorical(c, 3)),
    ("sparse_categorical_crossentropy", "softmax", lambda c: c),
    (losses.CategoricalCrossentropy(from_logits=True), None, lambda c: to_categorical(c, 3)),
    ("categorical_crossentropy", "sigmoid", lambda c: to_categorical(c, 3)),
    ("binary_crossentropy", "sigmoid", lambda c: to_categorical(c, 3)),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), None, lambda c: to_categorical(c, 3)),
    ("mse", "tanh", lambda c: to_categorical(c, 3)),
])
def test_whole_model_gradients(rng, loss, activation, make_labels):
    model = small_float64_model(loss, activation, 3)
    for weight in model.weights:
        weight[...] = rng.uniform(-1, 1, weight.shape)
    gradcheck.check_model(model, rng.uniform(-1, 1, (3, 7, 6, 2)), make_labels(rng.integers(0, 3, 3)))


def test_activity_penalties_join_the_loss_and_its_gradients(rng):
    """Keras 3's activity_regularizer: the penalty of the layer's output (after its activation, not
    divided by the batch size) joins the loss, and its gradient every weight's below it: on tanh and
    sigmoid outputs, a ReLU taken in the product's epilogue, and a linear output, by central
    differences."""
    model = Sequential([
        Input((7, 6, 2), dtype="float64"),
        Conv2D(3, 3, strides=2, padding="same", activation="tanh", activity_regularizer=regularizers.l2(0.3),
               dtype="float64"),
        Flatten(dtype="float64"),
        Dense(5, activation="relu", activity_regularizer=regularizers.l1_l2(0.2, 0.1), dtype="float64"),
        Dense(4, activation="sigmoid", activity_regularizer="l1", dtype="float64"),
        Dense(3, activity_regularizer=regularizers.l2(0.05), dtype="float64"),
    ])
    model.compile("sgd", "mse")
    for weight in model.weights:
        weight[...] = rng.uniform(-1, 1, weight.shape)
    x, y = rng.uniform(-1, 1, (3, 7, 6, 2)), rng.normal(size=(3, 3))
    gradcheck.check_model(model, x, y)
    output = model.predict(x, verbose=0)
    penalties = sum(layer.activity_regularizer(layer.activity) for layer in model.layers
                    if layer.activity_regularizer is not None)
    assert model.compute_loss(x, y, training=False)[0] == pytest.approx(np.mean((output - y) ** 2) + penalties)
    assert model.layers[-1].activity_regularizer(output) == pytest.approx(0.05 * np.sum(output ** 2))


def test_an_activity_penalty_on_an_output_the_loss_fuses_is_refused_by_name():
    model = Sequential([Input((4,)), Dense(3, activation="softmax", activity_regularizer="l2", name="out")])
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="Dense layer 'out': an activity_regularizer on the layer whose softmax the "
                                         "loss fuses is not supported"):
        model.train_on_batch(np.ones((2, 4), np.float32), to_categorical([0, 1], 3))


@pytest.mark.parametrize("loss, logits, y_pred, y_true", [
    (losses.CategoricalCrossentropy(), True, lambda r: r.normal(size=(4, 3)), lambda r: to_categorical(r.integers(0, 3, 4), 3)),
    (losses.SparseCategoricalCrossentropy(), True, lambda r: r.normal(size=(4, 3)), lambda r: r.integers(0, 3, 4)),
    (losses.CategoricalCrossentropy(), False, lambda r: r.uniform(0.1, 1, (4, 3)), lambda r: to_categorical(r.integers(0, 3, 4), 3)),
    (losses.SparseCategoricalCrossentropy(), False, lambda r: r.uniform(0.1, 1, (4, 3)), lambda r: r.integers(0, 3, 4)),
    (losses.BinaryCrossentropy(), False, lambda r: r.uniform(0.05, 0.95, (4, 2)), lambda r: r.integers(0, 2, (4, 2)).astype(float)),
    (losses.BinaryCrossentropy(from_logits=True), False, lambda r: r.normal(0, 3, (4, 2)),
     lambda r: r.uniform(0, 1, (4, 2))),
    (losses.BinaryCrossentropy(label_smoothing=0.2), False, lambda r: r.uniform(0.05, 0.95, (4, 2)),
     lambda r: r.integers(0, 2, (4, 2)).astype(float)),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), True, lambda r: r.normal(size=(4, 3)),
     lambda r: to_categorical(r.integers(0, 3, 4), 3)),
    (losses.CategoricalCrossentropy(label_smoothing=0.3), False, lambda r: r.uniform(0.1, 1, (4, 3)),
     lambda r: to_categorical(r.integers(0, 3, 4), 3)),
    (losses.MeanSquaredError(), False, lambda r: r.normal(size=(4, 2)), lambda r: r.normal(size=(4, 2))),
])
def test_loss_gradients(rng, loss, logits, y_pred, y_true):
    gradcheck.check_loss(loss, y_true(rng), y_pred(rng), logits=logits)


class RecordingBackend(NumpyBackend):
    """The numpy backend, noting the name of every method a model calls."""

    def __init__(self):
        super().__init__()
        self.called = set()

    def __getattribute__(self, name):
        if not name.startswith("_") and name not in ("called", "xp", "name"):
            object.__getattribute__(self, "called").add(name)
        return object.__getattribute__(self, name)


def test_all_math_goes_through_the_backend(monkeypatch):
    recording = RecordingBackend()
    monkeypatch.setattr(backend_module, "_current", recording)
    model = Sequential([Input((6, 6, 1)), Conv2D(2, 3, activation="tanh"), MaxPooling2D(), Flatten(),
                        Dropout(0.5), Dense(3, activation="softmax", kernel_regularizer="l2")])
    model.compile("rmsprop", "categorical_crossentropy", ["accuracy"])
    model.fit(np.ones((4, 6, 6, 1)), to_categorical([0, 1, 2, 0], 3), verbose=0)
    assert {"conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward", "dense_forward",
            "dense_backward", "activation_forward", "activation_backward", "dropout_forward",
            "dropout_backward", "softmax_cross_entropy", "l2_penalty", "count_correct",
            "rmsprop_update"} <= recording.called


def test_progress_bar_lines(capsys):
    set_random_seed(0)
    x, y = bright_quadrant_images(40)
    model = Sequential([Input((28, 28, 1)), Flatten(), Dense(10, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    number = r"\d\.\d{4}"
    step = rf"2/2 ━{{20}} \d+s \d+(s|ms|us)/step - accuracy: {number} - loss: {number} - val_accuracy: {number} - val_loss: {number}"
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(step, lines[1]) and re.fullmatch(step, lines[3])
    model.fit(x, y, epochs=1, batch_size=16, verbose=2)
    assert re.fullmatch(rf"3/3 - \d+s - \d+(s|ms|us)/step - accuracy: {number} - loss: {number}",
                        capsys.readouterr().out.splitlines()[1])
    model.fit(x, y, epochs=1, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def compiled_dense(loss="categorical_crossentropy", units=3):
    model = Sequential([Input((4,)), Dense(units, activation="softmax")])
    model.compile("adam", loss, ["accuracy"])
    return model


X4 = np.ones((6, 4), dtype=np.float32)
Y3 = to_categorical([0, 1, 2, 0, 1, 2], 3)


def per_position_model(loss):
    """A Dense over the last axis of a 3-D input: a (batch, 2, classes) output, a class for each position."""
    model = Sequential([Input((2, 4)), Dense(3, activation="softmax")])
    model.compile("adam", loss)
    return model


@pytest.mark.parametrize("call, error, message", [
    (lambda: Sequential([Input((4,)), Dense(3)]).fit(X4, Y3), RuntimeError, "call compile(optimizer, loss, metrics) before fit()"),
    (lambda: compiled_dense().fit(np.ones((6, 5)), Y3), ValueError, "x has shape (6, 5) but the model expects (None, 4)"),
    (lambda: compiled_dense().fit(np.array([["a"] * 4] * 6), Y3), TypeError, "x must hold numbers"),
    (lambda: compiled_dense().fit(np.where(np.eye(6, 4) > 0, np.nan, 1), Y3), ValueError, "x contains NaN or Inf (first in sample 0)"),
    (lambda: compiled_dense().fit(X4, [0, 1, 2, 0, 1, 2]), ValueError, "use to_categorical(y, 3) or loss='sparse_categorical_crossentropy'"),
    (lambda: compiled_dense("sparse_categorical_crossentropy").fit(X4, [0, 1, 2, 3, 1, 2]), ValueError, "labels must lie in [0, 3)"),
    (lambda: compiled_dense("sparse_categorical_crossentropy").fit(X4, [0.5] * 6), ValueError, "labels must be integer class ids"),
    (lambda: compiled_dense().fit(X4, Y3[:5]), ValueError, "x has 6 samples but its labels has 5"),
    (lambda: compiled_dense().fit(X4, Y3 * 2), ValueError, "labels must lie in [0, 1]"),
    (lambda: compiled_dense().fit(X4, Y3, validation_split=0.9), ValueError, "leaves no training or no validation samples"),
    (lambda: compiled_dense().fit(X4, Y3, batch_size=0), ValueError, "batch_size must be a positive int"),
    (lambda: compiled_dense().predict(np.ones((2, 3))), ValueError, "x has shape (2, 3) but the model expects (None, 4)"),
    (lambda: compiled_dense().compile("ftrl", "mse"), ValueError,
     "unknown optimizer 'ftrl': valid names are adadelta, adagrad, adam, adamax, adamw, lion, nadam, rmsprop, sgd"),
    (lambda: compiled_dense().compile("adam", "cosine_similarity"), ValueError,
     "unknown loss 'cosine_similarity': valid names are binary_crossentropy"),
    (lambda: compiled_dense().compile("adam", "mse", "accuracy"), TypeError, "metrics must be a list"),
    (lambda: Sequential([Dense(3)]).predict(np.ones(3)), ValueError, "is not built"),
    (lambda: per_position_model("sparse_categorical_crossentropy").fit(np.ones((6, 2, 4)), [0, 1, 2, 0, 1, 2]),
     ValueError, "labels must be integer class ids of shape (None, 2) for an output of shape (None, 2, 3), got "
                 "shape (6,)"),
    (lambda: per_position_model("categorical_crossentropy").fit(np.ones((6, 2, 4)), Y3), ValueError,
     "labels must have shape (None, 2, 3) like the model's output"),
])
def test_bad_use_fails_early_with_a_clear_message(call, error, message):
    with pytest.raises(error) as raised:
        call()
    assert message in str(raised.value)


def test_unknown_metric_lists_the_valid_ones():
    model = compiled_dense()
    model.compile("adam", "categorical_crossentropy", ["f1"])
    with pytest.raises(ValueError, match="unknown metric 'f1': valid names are accuracy, acc, categorical_accuracy"):
        model.fit(X4, Y3, verbose=0)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_nan_loss_names_the_epoch_and_batch():
    model = Sequential([Input((4,)), Dense(1)])
    model.compile("sgd", "mse")
    model.set_weights([np.ones((4, 1)), np.zeros(1)])
    x = np.full((8, 4), 1e20, dtype=np.float32)
    with pytest.raises(FloatingPointError, match=r"the loss became (inf|nan) at epoch 1, batch 1 of 2"):
        model.fit(x, np.ones(8), batch_size=4, verbose=0)


def test_model_without_input_shape_builds_on_first_fit_and_on_build():
    model = Sequential([Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    assert not model.built
    model.fit(X4, Y3, verbose=0)
    assert model.input_shape == (None, 4) and model.output_shape == (None, 3)
    other = Sequential([Flatten(), Dense(2)])
    other.build((None, 3, 3))
    assert other.layers[1].params["kernel"].shape == (9, 2)


def test_metric_objects_count_training_and_validation_apart():
    model = compiled_dense()
    model.compile(SGD(0.0), "categorical_crossentropy", metrics=[CategoricalAccuracy(name="acc")])
    model.set_weights([np.zeros((4, 3)), np.array([1.0, 0.0, 0.0])])  # always predicts class 0
    history = model.fit(X4, Y3, epochs=1, validation_data=(X4[:3], to_categorical([0, 0, 0], 3)), verbose=0).history
    assert history["acc"] == [2 / 6] and history["val_acc"] == [1.0]


def test_precision_and_recall_count_every_element_of_every_batch():
    """Keras's confusion counts over two batches: positive where y_pred > the threshold (a NaN never),
    a label positive where it is nonzero; class_id takes one column; no positives at all give 0."""
    from cnn_gpu.metrics import Precision, Recall

    preds = [np.array([[0.9, 0.2], [0.6, np.nan], [0.1, 0.7]]), np.array([[0.55, 0.8], [0.3, 0.45]])]
    labels = [np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.3]]), np.array([[1.0, 1.0], [0.0, 1.0]])]
    metrics = {"precision": Precision(), "recall": Recall(), "p_col1": Precision(thresholds=0.4, class_id=1),
               "r_col0": Recall(class_id=0)}
    for pred, label in zip(preds, labels):
        for metric in metrics.values():
            metric.update_state(label, pred)
    # Predicted positive at 0.5: 0.9, 0.6, 0.7, 0.55, 0.8 (5); labels nonzero: 7 (0.3 too); both: 0.9, 0.7,
    # 0.55, 0.8.
    assert metrics["precision"].result() == 4 / 5 and metrics["recall"].result() == 4 / 7
    # Column 1 at 0.4: 0.7, 0.8, 0.45 predicted; labels nonzero in column 1: rows 2-5 (4); all three true.
    assert metrics["p_col1"].result() == 3 / 3
    # Column 0: labels 1, 0, 1, 1, 0 (3 positive); predicted at 0.5: 0.9, 0.6, 0.55; both: 0.9, 0.55.
    assert metrics["r_col0"].result() == 2 / 3
    assert Precision().result() == 0.0 and metrics["p_col1"].fresh().class_id == 1
    with pytest.raises(ValueError, match="precision: thresholds must be one number in"):
        Precision(thresholds=[0.3, 0.6])
    with pytest.raises(ValueError, match="recall: top_k=2 is not supported"):
        Recall(top_k=2)
    with pytest.raises(ValueError, match="labels must have the output's shape"):
        Precision().update_state(np.array([0, 1]), np.ones((2, 3)))


def test_precision_and_recall_by_name_in_fit():
    set_random_seed(4)
    x = np.random.default_rng(4).normal(size=(64, 4)).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)  # two independent labels
    model = Sequential([Input((4,)), Dense(2, activation="sigmoid")])
    model.compile(Adam(0.05), "binary_crossentropy", metrics=["precision", "recall"])
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history
    assert history["precision"][-1] > 0.8 and history["recall"][-1] > 0.8
    predicted = model.predict(x, verbose=0) > 0.5
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result["precision"] == pytest.approx((predicted & (y == 1)).sum() / predicted.sum())
    assert result["recall"] == pytest.approx((predicted & (y == 1)).sum() / (y == 1).sum())


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progbar_redraws_in_place_on_a_terminal():
    stream = FakeTerminal()
    bar = Progbar(3, verbose=1, interval=0, stream=stream)
    for step in (1, 2, 3):
        bar.update(step, {"loss": 0.5})
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "\x1b[32m" + "━" * 13 in text  # 2 of 3 steps: 13 of 20 cells filled


def test_a_frozen_model_or_layer_trains_nothing_of_it():
    """model.trainable = False freezes every layer (as Keras's); a frozen layer keeps its weights while
    the others train; its BatchNormalization's moving statistics stay put (inference mode)."""
    from cnn_gpu.layers import BatchNormalization

    set_random_seed(0)
    model = Sequential([Input((4,)), Dense(3), BatchNormalization(), Dense(2, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    x, y = np.random.default_rng(0).uniform(size=(8, 4)), to_categorical(np.arange(8) % 2, 2)
    before = model.get_weights()
    model.trainable = False
    assert model.trainable_weights == [] and all(not layer.trainable for layer in model.layers)
    model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.trainable = True
    model.layers[0].trainable = False
    model.compile("adam", "categorical_crossentropy")  # a new optimizer for the new set of variables
    model.fit(x, y, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert changed == [False, False, True, True, True, True, True, True]  # the first Dense frozen
    # Frozen by the constructor, and a layer added after: nothing trains either.
    model = Sequential([Input((4,)), Dense(3)], trainable=False)
    model.add(Dense(2, activation="softmax"))
    model.compile("adam", "categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_the_one_batch_methods_are_fit_evaluate_and_predict_on_one_batch():
    """train_on_batch is a step of fit (the same weights after), its metrics counted afresh each call;
    test_on_batch is evaluate, predict_on_batch predict, each on one batch."""
    x = np.random.default_rng(0).uniform(-1, 1, (6, 4)).astype(np.float32)
    models = []
    for _ in range(2):
        set_random_seed(3)
        models.append(compiled_dense())
    by_fit, by_batch = models
    by_fit.fit(x, Y3, batch_size=6, epochs=2, shuffle=False, verbose=0)
    first = by_batch.train_on_batch(x, Y3)
    second = by_batch.train_on_batch(x, Y3, return_dict=True)
    for ours, theirs in zip(by_batch.get_weights(), by_fit.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert isinstance(first, list) and len(first) == 2 and second["loss"] == by_fit.history.history["loss"][1]
    assert second["accuracy"] == by_fit.history.history["accuracy"][1]
    assert by_batch.test_on_batch(x, Y3) == by_batch.evaluate(x, Y3, batch_size=6, verbose=0)
    np.testing.assert_array_equal(by_batch.predict_on_batch(x), by_batch.predict(x, verbose=0))
    no_metrics = Sequential([Input((4,)), Dense(3, activation="softmax")])
    no_metrics.compile("sgd", "categorical_crossentropy")
    assert isinstance(no_metrics.train_on_batch(x, Y3), float)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_non_finite_loss_in_train_on_batch_is_named_and_updates_nothing():
    model = Sequential([Input((4,)), Dense(1)])
    model.compile("sgd", "mse")
    model.set_weights([np.ones((4, 1)), np.zeros(1)])
    before = model.get_weights()
    with pytest.raises(FloatingPointError, match="in train_on_batch \\(the weights were not updated\\)"):
        model.train_on_batch(np.full((2, 4), 1e20, np.float32), np.ones(2))  # finite x, an overflowing loss
    for ours, theirs in zip(model.get_weights(), before):
        np.testing.assert_array_equal(ours, theirs)


def test_a_training_step_reads_nothing_back_until_its_backward_pass_is_launched(monkeypatch):
    """On a GPU each read-back waits for the kernels queued before it: a step's loss and its metrics'
    counts are read once the backward pass is queued too, the loss first (the update needs it)."""
    rng = np.random.default_rng(0)
    model = Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy", "mae", "auc"])
    x, y = rng.normal(size=(6, 4)).astype(np.float32), to_categorical(rng.integers(0, 3, 6), 3)
    model.train_on_batch(x, y)  # builds the model and its optimizer
    backend, events = backend_module.get_backend(), []
    to_numpy, compute_gradients = backend.to_numpy, model.compute_gradients
    monkeypatch.setattr(backend, "to_numpy", lambda a: events.append("read") or to_numpy(a))
    monkeypatch.setattr(model, "compute_gradients", lambda: events.append("backward") or compute_gradients())
    logs = model.train_on_batch(x, y, return_dict=True)
    assert events == ["backward"] + ["read"] * 4, "the loss and three metrics' counts, after the backward pass"
    assert set(logs) == {"loss", "accuracy", "mae", "auc"} and all(np.isfinite(list(logs.values())))


def test_get_layer_and_pop():
    model = Sequential([Input((4,)), Dense(5, name="hidden"), Dense(3, name="out")])
    assert model.get_layer("hidden") is model.layers[0] and model.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match="has no layer 'nope'; its layers are \\['hidden', 'out'\\]"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="has 2 layers, no index 5"):
        model.get_layer(index=5)
    assert model.pop().name == "out" and model.output_shape == (None, 5) and len(model.layers) == 1
    from cnn_gpu.models import Model

    inputs = Input((4,))
    with pytest.raises(TypeError, match="a functional Model has no pop"):
        Model(inputs, Dense(2)(inputs)).pop()


@pytest.mark.parametrize("loss, logits, make_labels, make_pred", [
    ("categorical_crossentropy", True, lambda r: to_categorical(r.integers(0, 3, 5), 3), lambda r: r.normal(size=(5, 3))),
    ("categorical_crossentropy", False, lambda r: to_categorical(r.integers(0, 3, 5), 3),
     lambda r: r.uniform(0.1, 1, (5, 3))),
    ("sparse_categorical_crossentropy", True, lambda r: r.integers(0, 3, 5), lambda r: r.normal(size=(5, 3))),
    ("binary_crossentropy", False, lambda r: r.integers(0, 2, (5, 2)).astype(float), lambda r: r.uniform(0.1, 0.9, (5, 2))),
    ({"class_name": "BinaryCrossentropy", "config": {"from_logits": True, "label_smoothing": 0.2}}, False,
     lambda r: r.integers(0, 2, (5, 2)).astype(float), lambda r: r.normal(0, 3, (5, 2))),
    ({"class_name": "CategoricalCrossentropy", "config": {"label_smoothing": 0.1}}, True,
     lambda r: to_categorical(r.integers(0, 3, 5), 3), lambda r: r.normal(size=(5, 3))),
    ("hinge", False, lambda r: r.integers(0, 2, (5, 2)).astype(float), lambda r: r.normal(size=(5, 2))),
    ("kld", False, lambda r: r.uniform(0, 1, (5, 3)), lambda r: r.uniform(0.05, 1, (5, 3))),
    ("log_cosh", False, lambda r: r.normal(size=(5, 2)), lambda r: r.normal(size=(5, 2))),
    ("msle", False, lambda r: r.uniform(0, 3, (5, 2)), lambda r: r.uniform(0.1, 3, (5, 2))),
    ({"class_name": "BinaryFocalCrossentropy", "config": {"apply_class_balancing": True, "from_logits": True}}, False,
     lambda r: r.integers(0, 2, (5, 2)).astype(float), lambda r: r.normal(0, 2, (5, 2))),
    ("mse", False, lambda r: r.normal(size=(5, 2)), lambda r: r.normal(size=(5, 2))),
])
def test_a_weighted_loss_is_the_weighted_mean_of_the_samples_and_its_gradient(rng, loss, logits, make_labels,
                                                                             make_pred):
    """sum(w_i loss_i) / N, as Keras reduces, and its gradient by central differences."""
    from cnn_gpu import losses
    from cnn_gpu.gradcheck import check_gradient

    loss = losses.get(loss)
    labels, pred, w = make_labels(rng), make_pred(rng), rng.uniform(0, 2, 5)
    value, grad = loss.value_and_gradient(labels, pred, logits, sample_weight=w)
    each = [float(loss.value_and_gradient(labels[i:i + 1], pred[i:i + 1], logits)[0]) for i in range(5)]
    assert float(value) == pytest.approx(sum(wi * li for wi, li in zip(w, each)) / 5, rel=1e-12)
    check_gradient(lambda p: float(loss.value_and_gradient(labels, p, logits, sample_weight=w)[0]), pred, grad)


@pytest.mark.parametrize("kwargs, message", [
    (dict(class_weight={0: 1.0}, sample_weight=np.ones(6)), "give sample_weight or class_weight, not both"),
    (dict(sample_weight=np.ones(5)), "sample_weight must be 6 finite numbers, one a sample"),
    (dict(sample_weight=[1, 1, 1, 1, 1, np.nan]), "sample_weight must be 6 finite numbers"),
    (dict(class_weight=[1.0, 2.0]), "class_weight must be a dict of class index -> weight"),
])
def test_bad_weights_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compiled_dense().fit(X4, Y3, verbose=0, **kwargs)


def test_evaluate_and_test_on_batch_weigh_their_samples():
    model = compiled_dense(loss="categorical_crossentropy")
    x, w = np.random.default_rng(1).uniform(-1, 1, (6, 4)), np.array([0.0, 1.0, 2.0, 0.5, 0.0, 3.0])
    each = [model.evaluate(x[i:i + 1], Y3[i:i + 1], verbose=0)[0] for i in range(6)]
    weighted = model.evaluate(x, Y3, batch_size=4, verbose=0, sample_weight=w, return_dict=True)
    assert weighted["loss"] == pytest.approx(float(np.dot(w, each)) / 6, rel=1e-6)
    assert model.test_on_batch(x, Y3, sample_weight=w)[0] == pytest.approx(weighted["loss"], rel=1e-6)
    assert weighted["accuracy"] == model.evaluate(x, Y3, verbose=0)[1]  # the metrics are not weighted

