"""Keras's metrics of the confusion counts: precision and recall at a threshold, and the area under the ROC
or precision-recall curve over many thresholds."""

from __future__ import annotations

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.metrics.base import MeanMetric, Metric


def labels_like_output(name, y_true, y_pred):
    """``y_true`` in the output's shape, once it holds one label per output element (one-hot or binary
    labels, as Keras's confusion metrics take them)."""
    if y_true.size != y_pred.size:
        raise ValueError(f"{name}: labels must have the output's shape {tuple(y_pred.shape)} (one-hot or binary "
                         f"labels, as Keras's), got {tuple(y_true.shape)}")
    return y_true.reshape(y_pred.shape)


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

    def batch_counts(self, y_true, y_pred):
        y_true = labels_like_output(self.name, y_true, y_pred)
        if self.class_id is not None:
            if self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{self.name}: class_id {self.class_id} is past the output's "
                                 f"{y_pred.shape[-1]} columns")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]

        def add(counts):
            self.sum += int(counts[0])
            self.total += int(counts[self.counted])
        return get_backend().confusion_counts(y_pred, y_true, self.thresholds), add

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


def divide_no_nan(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (Keras's divide_no_nan)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


class AUC(Metric):
    """The area under the ROC curve (``curve='ROC'``: recall against the false-positive rate) or the
    precision-recall one (``'PR'``), from the confusion counts at ``num_thresholds`` evenly spaced
    thresholds summed over every element of every batch so far (the backend's threshold_counts), as
    Keras's AUC approximates it: trapezoids (``summation_method='interpolation'``; for PR, Davis and
    Goadrich's interpolation of precision between thresholds), or rectangles under the lower
    (``'minoring'``) or higher (``'majoring'``) end of each step. Keras's ``thresholds``, ``multi_label``
    and ``label_weights`` are not supported."""

    CURVES, SUMMATIONS = ("ROC", "PR"), ("interpolation", "minoring", "majoring")

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name="auc",
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if not isinstance(num_thresholds, int) or isinstance(num_thresholds, bool) or num_thresholds < 2:
            raise ValueError(f"{name}: num_thresholds must be an int > 1, got {num_thresholds!r}")
        if str(curve).upper() not in self.CURVES or str(summation_method).lower() not in self.SUMMATIONS:
            raise ValueError(f"{name}: curve must be one of {self.CURVES} and summation_method one of "
                             f"{self.SUMMATIONS}, got {curve!r} and {summation_method!r}")
        for argument, value, default in (("thresholds", thresholds, None), ("multi_label", multi_label, False),
                                         ("label_weights", label_weights, None)):
            if value is not default and value != default:
                raise ValueError(f"{name}: {argument}={value!r} is not supported (only {default!r})")
        self.num_thresholds, self.curve = num_thresholds, str(curve).upper()
        self.summation_method, self.from_logits = str(summation_method).lower(), bool(from_logits)
        super().__init__(name)

    def reset_state(self):
        self.true_positives, self.false_positives = np.zeros(self.num_thresholds), np.zeros(self.num_thresholds)
        self.positives = self.negatives = 0

    def batch_counts(self, y_true, y_pred):
        y_true = labels_like_output(self.name, y_true, y_pred)

        def add(counts):
            tp, fp = counts
            # Every element is counted at the lowest threshold, -epsilon: its counts are the batch's
            # positives and negatives.
            self.true_positives, self.false_positives = self.true_positives + tp, self.false_positives + fp
            self.positives += int(tp[0])
            self.negatives += int(fp[0])
        return get_backend().threshold_counts(y_pred, y_true, self.num_thresholds, self.from_logits), add

    def result(self):
        tp, fp = self.true_positives, self.false_positives
        fn, tn = self.positives - tp, self.negatives - fp
        if self.curve == "PR" and self.summation_method == "interpolation":
            return float(self.interpolated_pr_area(tp, fp, fn))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, divide_no_nan(tp, tp + fp)
        low, high = y[:-1], y[1:]
        heights = {"interpolation": (low + high) / 2, "minoring": np.minimum(low, high),
                   "majoring": np.maximum(low, high)}[self.summation_method]
        # The thresholds rise, so x falls: each step's width is x[i] - x[i + 1].
        return float(np.sum((x[:-1] - x[1:]) * heights))

    @staticmethod
    def interpolated_pr_area(tp, fp, fn):
        """Between two thresholds, precision is not linear in recall but tp is linear in the predicted
        positives p = tp + fp (Davis and Goadrich, "The Relationship Between Precision-Recall and ROC
        Curves", section 4): tp = slope p + intercept, so precision = slope + intercept / p, whose
        integral over recall is closed-form, a log of the ratio of the p at the step's two ends."""
        predicted = tp + fp
        d_tp, d_predicted = tp[:-1] - tp[1:], predicted[:-1] - predicted[1:]
        slope = divide_no_nan(d_tp, np.maximum(d_predicted, 0))
        intercept = tp[1:] - slope * predicted[1:]
        both_positive = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = np.where(both_positive, divide_no_nan(predicted[:-1], np.maximum(predicted[1:], 0)), 1.0)
        steps = divide_no_nan(slope * (d_tp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        return steps.sum()

    def fresh(self):
        return type(self)(self.num_thresholds, self.curve, self.summation_method, self.name,
                          from_logits=self.from_logits)
