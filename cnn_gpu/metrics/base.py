"""What every metric is: a name, ``update_state`` batch by batch, ``result`` and ``fresh`` (a new one like
it, counting from zero: training and validation count apart); and the metric most are, a running mean."""

from __future__ import annotations


class Metric:
    """``update_state(y_true, y_pred)`` for each batch, ``result()`` for the epoch so far. ``works_on_logits``:
    whether it may be given a fused softmax's logits in place of its probabilities."""

    works_on_logits = False

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_true, y_pred):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def fresh(self):
        return type(self)(name=self.name)


class MeanMetric(Metric):
    """A metric that adds up a value and a count batch by batch (``update_state``) and reports their
    ratio."""

    def reset_state(self):
        self.sum = 0.0
        self.total = 0

    def result(self):
        return self.sum / self.total if self.total else 0.0
