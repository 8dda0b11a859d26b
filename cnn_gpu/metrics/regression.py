"""Keras's regression metrics: the mean over the samples of each one's error (the backend's sample_losses,
the losses' own per-sample terms)."""

from __future__ import annotations

from cnn_gpu.backend import get_backend
from cnn_gpu.metrics.base import MeanMetric


class MeanError(MeanMetric):
    """A regression metric: the mean over the samples of each one's error, the mean over its last axis
    (the backend's sample_losses of ``kind``); an output of more axes counts each row of its last axis
    as a sample, as Keras's mean of the errors over every other axis does."""

    kind = None
    works_on_logits = False  # a fused softmax's logits are not what the error is of

    def batch_counts(self, y_true, y_pred):
        rows = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 1 else y_pred.reshape(-1, 1)
        errors = get_backend().sample_losses(self.kind, rows,
                                             y_true.reshape(rows.shape).astype(rows.dtype, copy=False))

        def add(error_sum):
            self.sum += float(error_sum)
            self.total += rows.shape[0]
        return errors.sum(), add


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
