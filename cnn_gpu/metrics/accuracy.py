"""Keras's accuracies: categorical, sparse categorical, binary (at a threshold), and the top-k ones; each
counts right answers by a backend comparison (kernels/metric.cu on the kernel backends)."""

from __future__ import annotations

from cnn_gpu.backend import get_backend
from cnn_gpu.metrics.base import MeanMetric


class Accuracy(MeanMetric):
    """Base of the accuracies; ``kind`` selects the backend's comparison. ``sum`` counts the right answers."""

    kind = None
    # argmax is the same on logits and on softmax probabilities, so a fused model needs no softmax.
    works_on_logits = True

    def batch_counts(self, y_true, y_pred):
        """The batch's right answers; an output of more axes than (batch, classes) counts each row of its
        last axis (each pixel of a per-pixel classification), as Keras averages over every axis but the
        last."""
        if y_pred.ndim > 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(-1) if self.kind == "sparse" else y_true.reshape(y_pred.shape)
        answers = y_true.size if self.kind == "binary" else y_pred.shape[0]

        def add(right):
            self.sum += int(right)
            self.total += answers
        return self.count(y_true, y_pred), add

    def count(self, y_true, y_pred):
        return get_backend().count_correct(y_pred, y_true, self.kind)


class CategoricalAccuracy(Accuracy):
    kind = "categorical"

    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)


class SparseCategoricalAccuracy(Accuracy):
    kind = "sparse"

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)


class BinaryAccuracy(Accuracy):
    """Elementwise ``(y_pred > threshold) == y_true``: Keras's threshold 0.5 for a sigmoid's probabilities,
    0 for logits (a model trained with ``BinaryCrossentropy(from_logits=True)``; its ``'accuracy'``
    keeps 0.5, as Keras's does)."""

    kind = "binary"
    works_on_logits = False

    def __init__(self, name="binary_accuracy", threshold=0.5):
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold != threshold:
            raise ValueError(f"{name}: threshold must be a number, got {threshold!r}")
        self.threshold = float(threshold)
        super().__init__(name)

    def count(self, y_true, y_pred):
        return get_backend().count_correct(y_pred, y_true, self.kind, self.threshold)

    def fresh(self):
        return type(self)(name=self.name, threshold=self.threshold)


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
