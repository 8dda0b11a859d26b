"""fit, evaluate and predict on a PyDataset's or a generator's batches (models/batching.py): the same
weights, losses and outputs as on the arrays those batches cut, on_epoch_end after each epoch, and
what cannot go with a dataset named."""

import math

import numpy as np
import pytest

from cnn_gpu.layers import Conv2D, Dense, Flatten, Input
from cnn_gpu.models import Sequential
from cnn_gpu.utils import PyDataset, set_random_seed, to_categorical

RNG = np.random.default_rng(5)
X = RNG.uniform(size=(20, 6, 6, 1)).astype(np.float32)
Y = to_categorical(RNG.integers(0, 3, 20), 3)
W = RNG.uniform(0.5, 2, 20)


class Batches(PyDataset):
    """The arrays in batches of ``size``, in order; counts its epochs."""

    def __init__(self, x, y, size, weights=None):
        super().__init__()
        self.x, self.y, self.size, self.weights, self.epochs = x, y, size, weights, 0

    def __len__(self):
        return math.ceil(len(self.x) / self.size)

    def __getitem__(self, index):
        part = slice(index * self.size, (index + 1) * self.size)
        if self.y is None:
            return self.x[part]
        return (self.x[part], self.y[part]) if self.weights is None else (self.x[part], self.y[part],
                                                                          self.weights[part])

    def on_epoch_end(self):
        self.epochs += 1


def model():
    set_random_seed(3)
    m = Sequential([Input((6, 6, 1)), Conv2D(2, 3, activation="relu"), Flatten(), Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def test_fitting_a_dataset_is_fitting_its_arrays_in_its_order():
    on_arrays, on_batches = model(), model()
    expected = on_arrays.fit(X, Y, batch_size=6, epochs=2, shuffle=False, sample_weight=W, verbose=0).history
    data = Batches(X, Y, 6, W)
    history = on_batches.fit(data, epochs=2, verbose=0).history
    assert data.epochs == 2
    for ours, theirs in zip(on_batches.get_weights(), on_arrays.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-6)


def test_evaluate_and_predict_take_datasets_and_generators():
    m = model()
    np.testing.assert_allclose(m.evaluate(Batches(X, Y, 7), verbose=0), m.evaluate(X, Y, batch_size=7, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(m.predict(Batches(X, None, 8), verbose=0), m.predict(X, verbose=0), rtol=1e-6)
    generator = ((X[i:i + 5], Y[i:i + 5]) for i in range(0, 20, 5))
    np.testing.assert_allclose(m.evaluate(generator, steps=4, verbose=0), m.evaluate(X, Y, batch_size=5, verbose=0),
                               rtol=1e-6)


def test_a_generator_gives_steps_per_epoch_batches_an_epoch_and_validation_may_be_a_dataset():
    def endless():
        while True:
            for i in range(0, 20, 4):
                yield X[i:i + 4], Y[i:i + 4]

    m = model()
    history = m.fit(endless(), steps_per_epoch=3, epochs=2, validation_data=Batches(X, Y, 10), verbose=0).history
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"] and len(history["loss"]) == 2
    on_generator = m.fit(endless(), steps_per_epoch=2, epochs=1, validation_data=endless(), validation_steps=5,
                         verbose=0).history
    assert on_generator["val_loss"][0] == pytest.approx(m.evaluate(X, Y, batch_size=4, verbose=0)[0], rel=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda m: m.fit(Batches(X, Y, 5), Y, verbose=0), "y must be None when x is a PyDataset"),
    (lambda m: m.fit(Batches(X, Y, 5), validation_split=0.2, verbose=0), "validation_split cannot split"),
    (lambda m: m.fit(iter([(X, Y)]), verbose=0), "give steps_per_epoch"),
    (lambda m: m.fit(iter([(X[:5], Y[:5])]), steps_per_epoch=2, verbose=0), "ran out after 1 batches of the 2"),
    (lambda m: m.fit(Batches(X, None, 5), verbose=0), "x's batch 0 must be a tuple (x, y) or (x, y, sample_weight)"),
    (lambda m: m.fit(Batches(X[:, :5], Y, 5), verbose=0), "x's batch 0 has shape (5, 5, 6, 1) but the model expects"),
    (lambda m: m.fit(X, Y, steps_per_epoch=2, verbose=0), "steps_per_epoch is for a generator or a PyDataset"),
    (lambda m: m.fit(X, Y, validation_data=(X, Y), validation_steps=2, verbose=0), "validation_steps is for"),
])
def test_what_cannot_go_with_a_dataset_is_named(call, message):
    with pytest.raises(ValueError) as raised:
        call(model())
    assert message in str(raised.value)
