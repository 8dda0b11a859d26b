"""Accuracy, as Keras picks it: ``metrics=['accuracy']`` becomes binary, sparse or categorical accuracy;
Keras's top-k accuracies (``'top_k_categorical_accuracy'``, its sparse twin, or either with its k); and
the regression metrics, mean absolute, mean squared, mean absolute percentage and mean squared
logarithmic error (``'mae'``, ``'mse'``, ``'mape'``, ``'msle'`` or their long names);
and Keras's ``Precision``, ``Recall`` and ``AUC`` (``'precision'``, ``'recall'``, ``'auc'``).

A metric sums what it counts batch by batch (one small backend reduction each) and reports the mean
(the AUC, the area its counts draw). Modules: ``base`` (Metric, MeanMetric), ``accuracy``,
``regression``, ``confusion``.
"""

from __future__ import annotations

from cnn_gpu.metrics.accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                      SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from cnn_gpu.metrics.base import MeanMetric, Metric
from cnn_gpu.metrics.confusion import AUC, Precision, Recall
from cnn_gpu.metrics.regression import (MeanAbsoluteError, MeanAbsolutePercentageError, MeanError, MeanSquaredError,
                                        MeanSquaredLogarithmicError)

NAMED = {cls().name: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy,
                                     TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanAbsoluteError,
                                     MeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
                                     Precision, Recall, AUC)}
# Keras's short names, kept as the metric's name (the history's key), as Keras keeps them.
SHORT = {"mae": MeanAbsoluteError, "mse": MeanSquaredError, "mape": MeanAbsolutePercentageError,
         "msle": MeanSquaredLogarithmicError}


def get(identifier, labels_shape, output_shape):
    """A metric for ``compile(metrics=[...])``, chosen from the label and output shapes as Keras does."""
    if isinstance(identifier, Metric):
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


__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanError", "MeanMetric", "MeanSquaredError", "MeanSquaredLogarithmicError", "Metric", "Precision", "Recall",
    "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "get",
]
