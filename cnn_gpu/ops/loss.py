"""Losses with their gradients, reduced as Keras reduces them (the mean over the batch).

Each function returns ``(loss, grad)``: the loss as a 0-d array of the prediction's dtype and its
gradient with respect to the prediction. Labels are one-hot (or, with ``sparse``, integer class ids
of shape (N,) or (N, 1)) for the categorical losses, and of the prediction's shape otherwise.
"""

from __future__ import annotations

from cnn_gpu.ops.common import array_module, check_float, check_ndim

# Keras's backend.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON] before the log.
EPSILON = 1e-7


def one_hot(labels, classes, dtype):
    """Integer class ids (N,) or (N, 1) as an (N, classes) one-hot array; out-of-range ids fail."""
    xp = array_module(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"sparse labels must be integer class ids of shape (N,), got {labels.dtype} {tuple(labels.shape)}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"sparse labels must lie in [0, {classes}), got [{int(labels.min())}, {int(labels.max())}]")
    out = xp.zeros((labels.shape[0], classes), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels] = 1
    return out


def _categorical_labels(pred, labels, sparse):
    """Check a 2-D prediction against its labels and return the labels as one-hot in pred's dtype."""
    check_float(pred, "y_pred")
    check_ndim(pred, 2, "y_pred", "(batch, classes)")
    if sparse:
        labels = one_hot(labels, pred.shape[1], pred.dtype)
    if labels.shape != pred.shape:
        raise ValueError(f"labels must have y_pred's shape {tuple(pred.shape)}, got {tuple(labels.shape)}")
    return labels.astype(pred.dtype, copy=False)


def _matching_labels(pred, labels):
    check_float(pred, "y_pred")
    if labels.shape != pred.shape:
        raise ValueError(f"labels must have y_pred's shape {tuple(pred.shape)}, got {tuple(labels.shape)}")
    return labels.astype(pred.dtype, copy=False)


def log_softmax(logits):
    """log(softmax(logits)) over the last axis by log-sum-exp: no exponent is ever positive."""
    xp = array_module(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, labels, sparse=False):
    """Cross-entropy of softmax(logits), fused so that the gradient is (softmax - labels) / N."""
    xp = array_module(logits)
    labels = _categorical_labels(logits, labels, sparse)
    n = logits.shape[0]
    log_probs = log_softmax(logits)
    loss = -(labels * log_probs).sum() / n
    return xp.asarray(loss), (xp.exp(log_probs) - labels) / n


def categorical_cross_entropy(probs, labels, sparse=False):
    """Keras's cross-entropy on probabilities: rows renormalised to sum 1, clipped, then -sum(t log p)."""
    xp = array_module(probs)
    labels = _categorical_labels(probs, labels, sparse)
    n = probs.shape[0]
    total = probs.sum(axis=-1, keepdims=True)
    normalised = probs / total
    clipped = xp.clip(normalised, EPSILON, 1 - EPSILON)
    loss = -(labels * xp.log(clipped)).sum() / n
    # Back through the clip (zero where it clamps), then through p / sum(p).
    dq = -labels / clipped * ((normalised >= EPSILON) & (normalised <= 1 - EPSILON)) / n
    dp = (dq - (dq * normalised).sum(axis=-1, keepdims=True)) / total
    return xp.asarray(loss), dp


def binary_cross_entropy(probs, labels):
    """Keras's binary cross-entropy on probabilities (clipped), the mean over every element."""
    xp = array_module(probs)
    labels = _matching_labels(probs, labels)
    clipped = xp.clip(probs, EPSILON, 1 - EPSILON)
    loss = -(labels * xp.log(clipped) + (1 - labels) * xp.log(1 - clipped)).mean()
    inside = (probs >= EPSILON) & (probs <= 1 - EPSILON)
    grad = (clipped - labels) / (clipped * (1 - clipped)) * inside / probs.size
    return xp.asarray(loss), grad


def mean_squared_error(pred, target):
    """mean((pred - target)^2) over every element, as Keras's mean over the last axis, then the batch."""
    xp = array_module(pred)
    target = _matching_labels(pred, target)
    diff = pred - target
    return xp.asarray((diff * diff).mean()), diff * (2 / pred.size)
