"""What Keras's accuracies count: how many predictions match their labels, batch by batch."""

from __future__ import annotations


def count_correct(pred, labels, kind, threshold=0.5):
    """How many predictions match their labels, as a 0-d integer array.

    ``kind`` is ``categorical`` (argmax of pred == argmax of one-hot labels), ``sparse`` (argmax of
    pred == integer label, labels (N,) or (N, 1)) or ``binary`` (``pred > threshold`` == label,
    counted element by element).
    """
    if kind == "binary":
        return ((pred > threshold) == labels).sum()
    predicted = pred.argmax(axis=-1)
    expected = labels.reshape(-1) if kind == "sparse" else labels.argmax(axis=-1)
    return (predicted == expected).sum()
