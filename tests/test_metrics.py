"""Keras's AUC: the confusion counts at its evenly spaced thresholds, and the areas they draw."""

import numpy as np
import pytest

from cnn_gpu.metrics import AUC, get
from cnn_gpu.ops.metric import threshold_counts


def test_threshold_counts_by_hand():
    """Three thresholds (-epsilon, 0.5, 1 + epsilon): 0.2 falls in bucket 0, 0.6, 0.7 and 0.9 in bucket 1;
    a NaN in bucket 0; a prediction above 1 is clipped to 1."""
    pred = np.array([0.2, 0.7, 0.6, 0.9, np.nan, 1.5], np.float32)
    labels = np.array([0, 1, 0, 1, 1, 0], np.float32)
    tp, fp = threshold_counts(pred, labels, 3)
    assert tp.tolist() == [3, 2, 0] and fp.tolist() == [3, 2, 0]


def test_the_roc_area_of_a_small_case_by_hand():
    """Positives 0.7 and 0.9, negatives 0.2 and 0.6: at 0.5, recall 1 and false-positive rate 1/2, so the
    trapezoids give (1 - 1/2) (1 + 1) / 2 + (1/2 - 0) (1 + 0) / 2 = 0.75; the rectangles under each
    step's lower and higher end 0.5 and 1."""
    pred, labels = np.array([[0.2], [0.7], [0.6], [0.9]]), np.array([[0.0], [1.0], [0.0], [1.0]])
    for method, area in (("interpolation", 0.75), ("minoring", 0.5), ("majoring", 1.0)):
        metric = AUC(num_thresholds=3, summation_method=method)
        metric.update_state(labels, pred)
        assert metric.result() == area, method


def test_separated_classes_score_one_and_batches_add_up(rng):
    """Every positive above every negative: ROC and PR areas 1 (to the thresholds' resolution), reversed
    0; two batches count as their concatenation; a fresh copy starts from nothing."""
    labels = rng.integers(0, 2, (300, 1)).astype(np.float32)
    pred = np.where(labels == 1, rng.uniform(0.6, 1, labels.shape), rng.uniform(0, 0.4, labels.shape))
    whole, split, reversed_ = AUC(), AUC(curve="PR"), AUC()
    whole.update_state(labels, pred)
    split.update_state(labels[:100], pred[:100])
    split.update_state(labels[100:], pred[100:])
    reversed_.update_state(labels, 1 - pred)
    assert whole.result() == pytest.approx(1.0) and split.result() == pytest.approx(1.0)
    assert reversed_.result() == pytest.approx(0.0, abs=1e-12)
    fresh = split.fresh()
    assert (fresh.curve, fresh.result()) == ("PR", 0.0)


def test_logits_are_taken_through_a_sigmoid(rng):
    labels = rng.integers(0, 2, (200,)).astype(np.float32)
    logits = rng.normal(0, 1, 200).astype(np.float32) + 2 * labels  # an AUC near 0.92, far from the bounds below
    on_probabilities, on_logits = AUC(), AUC(from_logits=True)
    on_probabilities.update_state(labels, 1 / (1 + np.exp(-logits)))
    on_logits.update_state(labels, logits)
    assert on_logits.result() == pytest.approx(on_probabilities.result(), abs=1e-6)
    assert 0.75 < on_logits.result() < 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(thresholds=[0.3, 0.6]), "thresholds=[0.3, 0.6] is not supported"),
    (dict(multi_label=True), "multi_label=True is not supported"),
    (dict(curve="PRGAIN"), "curve must be one of ('ROC', 'PR')"),
    (dict(num_thresholds=1), "num_thresholds must be an int > 1"),
])
def test_what_is_not_supported_is_named(kwargs, message):
    with pytest.raises(ValueError) as error:
        AUC(**kwargs)
    assert message in str(error.value)


def test_auc_by_name():
    assert isinstance(get("auc", (None, 1), (None, 1)), AUC)
