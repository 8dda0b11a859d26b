"""Accuracy, as Keras picks it: ``metrics=['accuracy']`` becomes binary, sparse or categorical accuracy.

A metric sums what it counts batch by batch (one small backend reduction each) and reports the mean.
"""

from __future__ import annotations

from cnn_gpu.backend import get_backend


class Accuracy:
    """Base of the three accuracies; ``kind`` selects the backend's comparison."""

    kind = None
    # argmax is the same on logits and on softmax probabilities, so a fused model needs no softmax.
    works_on_logits = True

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def reset_state(self):
        self.correct = 0
        self.total = 0

    def update_state(self, y_true, y_pred):
        """Count a batch; an output of more axes than (batch, classes) counts each row of its last axis
        (each pixel of a per-pixel classification), as Keras averages over every axis but the last."""
        if y_pred.ndim > 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(-1) if self.kind == "sparse" else y_true.reshape(y_pred.shape)
        self.correct += int(get_backend().to_numpy(get_backend().count_correct(y_pred, y_true, self.kind)))
        self.total += y_true.size if self.kind == "binary" else y_pred.shape[0]

    def result(self):
        return self.correct / self.total if self.total else 0.0


class CategoricalAccuracy(Accuracy):
    kind = "categorical"

    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)


class SparseCategoricalAccuracy(Accuracy):
    kind = "sparse"

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)


class BinaryAccuracy(Accuracy):
    """Elementwise ``(y_pred > 0.5) == y_true``."""

    kind = "binary"
    works_on_logits = False

    def __init__(self, name="binary_accuracy"):
        super().__init__(name)


NAMED = {cls().name: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy)}


def get(identifier, labels_shape, output_shape):
    """A metric for ``compile(metrics=[...])``, chosen from the label and output shapes as Keras does."""
    if isinstance(identifier, Accuracy):
        return type(identifier)(name=identifier.name)  # a fresh one: training and validation count apart
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a metric object, got {identifier!r}")
    if identifier in NAMED:
        return NAMED[identifier]()
    if identifier.lower() not in ("accuracy", "acc"):
        raise ValueError(f"unknown metric {identifier!r}: valid names are accuracy, acc, {', '.join(NAMED)}")
    if output_shape[-1] == 1:
        return BinaryAccuracy(name=identifier)
    if len(labels_shape) < len(output_shape) or (labels_shape[-1] == 1 and output_shape[-1] > 1):
        return SparseCategoricalAccuracy(name=identifier)
    return CategoricalAccuracy(name=identifier)
