"""What every metric is: a name, ``update_state`` batch by batch (in two steps: ``batch_counts`` on the
backend, then the counts read back and added), ``result`` and ``fresh`` (a new one like it, counting
from zero: training and validation count apart); and the metric most are, a running mean."""

from __future__ import annotations

from cnn_gpu.backend import get_backend


class Metric:
    """``update_state(y_true, y_pred)`` for each batch, ``result()`` for the epoch so far. ``works_on_logits``:
    whether it may be given a fused softmax's logits in place of its probabilities.

    A metric defines ``batch_counts``, or (as Keras's custom metrics do) ``update_state`` alone."""

    works_on_logits = False

    def __init__(self, name):
        self.name = name
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def batch_counts(self, y_true, y_pred):
        """``(counts, add)``: what this batch adds, as a backend array whose kernels are launched but not
        read back, and the function that adds it, read back into NumPy, to the state. The training loop
        reads every metric's counts after the step's other kernels are launched, where a read-back per
        metric would make the host wait for the GPU once each (cnn_gpu/models/training.py). A metric
        that defines only update_state counts when ``add`` is called, by it."""
        if type(self).update_state is Metric.update_state:
            raise NotImplementedError(f"metric '{self.name}' defines neither batch_counts nor update_state")
        return None, lambda _: self.update_state(y_true, y_pred)

    def update_state(self, y_true, y_pred):
        counts, add = self.batch_counts(y_true, y_pred)
        add(get_backend().to_numpy(counts))

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
