"""Accuracy, as Keras picks it: ``metrics=['accuracy']`` becomes binary, sparse or categorical accuracy;
Keras's top-k accuracies (``'top_k_categorical_accuracy'``, its sparse twin, or either with its k); and
the regression metrics, mean absolute, mean squared, mean absolute percentage and mean squared
logarithmic error (``'mae'``, ``'mse'``, ``'mape'``, ``'msle'`` or their long names);
and Keras's ``Precision`` and ``Recall`` (``'precision'``, ``'recall'``).

A metric sums what it counts batch by batch (one small backend reduction each) and reports the mean.
"""

from __future__ import annotations

from cnn_gpu.backend import get_backend


class MeanMetric:
    """A metric that adds up a value and a count batch by batch (``update_state``) and reports their
    ratio; ``fresh`` gives a new one like it, counting from zero (training and validation count apart)."""

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def reset_state(self):
        self.sum = 0.0
        self.total = 0

    def update_state(self, y_true, y_pred):
        raise NotImplementedError

    def fresh(self):
        return type(self)(name=self.name)

    def result(self):
        return self.sum / self.total if self.total else 0.0


class Accuracy(MeanMetric):
    """Base of the accuracies; ``kind`` selects the backend's comparison. ``sum`` counts the right answers."""

    kind = None
    # argmax is the same on logits and on softmax probabilities, so a fused model needs no softmax.
    works_on_logits = True

    def update_state(self, y_true, y_pred):
        """Count a batch; an output of more axes than (batch, classes) counts each row of its last axis
        (each pixel of a per-pixel classification), as Keras averages over every axis but the last."""
        if y_pred.ndim > 2:
            y_pred = y_pred.reshape(-1, y_pred.shape[-1])
            y_true = y_true.reshape(-1) if self.kind == "sparse" else y_true.reshape(y_pred.shape)
        self.sum += int(get_backend().to_numpy(self.count(y_true, y_pred)))
        self.total += y_true.size if self.kind == "binary" else y_pred.shape[0]

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


class MeanError(MeanMetric):
    """A regression metric: the mean over the samples of each one's error, the mean over its last axis
    (the backend's sample_losses of ``kind``); an output of more axes counts each row of its last axis
    as a sample, as Keras's mean of the errors over every other axis does."""

    kind = None
    works_on_logits = False  # a fused softmax's logits are not what the error is of

    def update_state(self, y_true, y_pred):
        rows = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 1 else y_pred.reshape(-1, 1)
        backend = get_backend()
        errors = backend.sample_losses(self.kind, rows, y_true.reshape(rows.shape).astype(rows.dtype, copy=False))
        self.sum += float(backend.to_numpy(errors.sum()))
        self.total += rows.shape[0]


class MeanAbsoluteError(MeanError):
    kind = "mean_absolute_error"

    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)


class MeanSquaredError(MeanError):
    kind = "mean_squared_error"

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)


class MeanAbsolutePercentageError(MeanError):
    kind = "absolute_percentage_error"

    def __init__(self, name="mean_absolute_percentage_error"):
        super().__init__(name)


class MeanSquaredLogarithmicError(MeanError):
    kind = "squared_log_error"

    def __init__(self, name="mean_squared_logarithmic_error"):
        super().__init__(name)


class ConfusionRatio(MeanMetric):
    """Precision and recall, Keras's way: over every element of every batch so far (or of column
    ``class_id`` alone), an element predicted positive where y_pred > ``thresholds`` (0.5 unless given)
    and actually positive where its label is nonzero; ``sum`` counts the true positives and ``total``
    those of ``counted`` (the backend's confusion_counts), 0 before any."""

    counted = None  # 1: the predicted positives (precision); 2: the actual ones (recall)
    works_on_logits = False  # a threshold of 0.5 is on probabilities, not on a fused softmax's logits

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        if thresholds is None:
            thresholds = 0.5
        if not isinstance(thresholds, (int, float)) or isinstance(thresholds, bool) or not 0 <= thresholds <= 1:
            raise ValueError(f"{name}: thresholds must be one number in [0, 1] (a list of them is not supported), "
                             f"got {thresholds!r}")
        if top_k is not None:
            raise ValueError(f"{name}: top_k={top_k!r} is not supported (only None)")
        if class_id is not None and (not isinstance(class_id, int) or isinstance(class_id, bool) or class_id < 0):
            raise ValueError(f"{name}: class_id must be a column index >= 0, got {class_id!r}")
        self.thresholds, self.class_id = float(thresholds), class_id
        super().__init__(name)

    def update_state(self, y_true, y_pred):
        if y_true.size != y_pred.size:
            raise ValueError(f"{self.name}: labels must have the output's shape {tuple(y_pred.shape)} (one-hot "
                             f"or binary labels, as Keras's), got {tuple(y_true.shape)}")
        y_true = y_true.reshape(y_pred.shape)
        if self.class_id is not None:
            if self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{self.name}: class_id {self.class_id} is past the output's "
                                 f"{y_pred.shape[-1]} columns")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        backend = get_backend()
        counts = backend.to_numpy(backend.confusion_counts(y_pred, y_true, self.thresholds))
        self.sum += int(counts[0])
        self.total += int(counts[self.counted])

    def fresh(self):
        return type(self)(thresholds=self.thresholds, class_id=self.class_id, name=self.name)


class Precision(ConfusionRatio):
    """Of the elements predicted positive, the fraction whose label is positive."""

    counted = 1

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision"):
        super().__init__(thresholds, top_k, class_id, name)


class Recall(ConfusionRatio):
    """Of the elements whose label is positive, the fraction predicted positive."""

    counted = 2

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall"):
        super().__init__(thresholds, top_k, class_id, name)


NAMED = {cls().name: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
                                     TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsoluteError,
                                     MeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
                                     Precision, Recall)}
# Keras's short names, kept as the metric's name (the history's key), as Keras keeps them.
SHORT = {"mae": MeanAbsoluteError, "mse": MeanSquaredError, "mape": MeanAbsolutePercentageError,
         "msle": MeanSquaredLogarithmicError}


def get(identifier, labels_shape, output_shape):
    """A metric for ``compile(metrics=[...])``, chosen from the label and output shapes as Keras does."""
    if isinstance(identifier, MeanMetric):
        return identifier.fresh()
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a metric object, got {identifier!r}")
    if identifier in NAMED:
        return NAMED[identifier]()
    if identifier in SHORT:
        return SHORT[identifier](name=identifier)
    if identifier.lower() not in ("accuracy", "acc"):
        raise ValueError(f"unknown metric {identifier!r}: valid names are accuracy, acc, {', '.join(NAMED)}, "
                         f"{', '.join(SHORT)}")
    if output_shape[-1] == 1:
        return BinaryAccuracy(name=identifier)
    if len(labels_shape) < len(output_shape) or (labels_shape[-1] == 1 and output_shape[-1] > 1):
        return SparseCategoricalAccuracy(name=identifier)
    return CategoricalAccuracy(name=identifier)
