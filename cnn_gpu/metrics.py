"""Accuracy, as Keras picks it: ``metrics=['accuracy']`` becomes binary, sparse or categorical accuracy;
and Keras's top-k accuracies (``'top_k_categorical_accuracy'``, its sparse twin, or either with its k).

A metric sums what it counts batch by batch (one small backend reduction each) and reports the mean.
"""

from __future__ import annotations

from cnn_gpu.backend import get_backend


class Accuracy:
    """Base of the accuracies; ``kind`` selects the backend's comparison."""

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
        self.correct += int(get_backend().to_numpy(self.count(y_true, y_pred)))
        self.total += y_true.size if self.kind == "binary" else y_pred.shape[0]

    def count(self, y_true, y_pred):
        return get_backend().count_correct(y_pred, y_true, self.kind)

    def fresh(self):
        """A new metric like this one, counting from zero (training and validation count apart)."""
        return type(self)(name=self.name)

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


class TopKCategoricalAccuracy(Accuracy):
    """Whether the true class (one-hot labels) is among the ``k`` highest scores, as Keras's in_top_k."""

    kind = "categorical"

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"{name}: k must be a positive int, got {k!r}")
        self.k = k
        super().__init__(name)

    def count(self, y_true, y_pred):
        return get_backend().count_in_top_k(y_pred, y_true, self.k, self.kind == "sparse")

    def fresh(self):
        return type(self)(k=self.k, name=self.name)


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """The same with integer class ids for labels."""

    kind = "sparse"

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        super().__init__(k, name)


NAMED = {cls().name: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
                                     TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy)}


def get(identifier, labels_shape, output_shape):
    """A metric for ``compile(metrics=[...])``, chosen from the label and output shapes as Keras does."""
    if isinstance(identifier, Accuracy):
        return identifier.fresh()
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
