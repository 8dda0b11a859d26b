"""Where a loop's batches come from: host arrays cut into batches (ArrayBatches), or the batches a
PyDataset or a generator makes (DatasetBatches), each checked as fit checks whole arrays. The loops of
training.py walk either alike: ``epoch()`` yields host batches ``(x, y, weights)`` (y and weights
None where there are none), and ``end_epoch()`` follows each epoch of fit.
"""

from __future__ import annotations

import collections.abc
import math

from cnn_gpu.models.data import as_inputs, batches, ensure_built, prepare, sample_weights
from cnn_gpu.utils.rng import global_generator


def is_dataset(x):
    """Whether ``x`` makes its own batches: a PyDataset (or any object with ``__len__`` and
    ``__getitem__`` that is no array or list), or an iterator such as a generator."""
    if isinstance(x, collections.abc.Iterator):
        return True
    return (hasattr(x, "__len__") and hasattr(x, "__getitem__") and not hasattr(x, "shape")
            and not isinstance(x, (list, tuple, dict, str)))


class ArrayBatches:
    """Arrays checked once (prepare, as_inputs), then cut into ``batch_size`` batches, in order or, with
    ``shuffle``, in a new order each epoch."""

    def __init__(self, x, y, weights, batch_size, shuffle=False):
        self.x, self.y, self.weights, self.batch_size, self.shuffle = x, y, weights, batch_size, shuffle
        self.labels_shape = None if y is None else y.shape

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def epoch(self):
        order = global_generator().permutation(len(self.x)) if self.shuffle else None
        for index in batches(len(self.x), self.batch_size, order):
            yield (self.x[index], None if self.y is None else self.y[index],
                   None if self.weights is None else self.weights[index])

    def end_epoch(self):
        pass


class DatasetBatches:
    """A PyDataset's batches (``source[i]``), or a generator's (``next``), ``steps`` of them an epoch
    (a PyDataset's length by default; a generator must be told). Each is ``(x, y)`` or ``(x, y,
    sample_weight)`` (``x`` alone, or the first of the tuple, where ``labels`` is false: predict's), and
    is checked as arrays are; ``class_weight`` weighs each batch's samples. The first batch is made at
    once, so that its labels' shape is known before the loop (the metrics are chosen by it), and
    served again as the first epoch's first."""

    def __init__(self, model, source, steps=None, class_weight=None, labels=True, what="x"):
        self.model, self.source, self.class_weight, self.labels, self.what = model, source, class_weight, labels, what
        self.iterator = source if isinstance(source, collections.abc.Iterator) else None
        if steps is None:
            if self.iterator is not None:
                raise ValueError(f"{what} is a generator, which has no length: give steps_per_epoch (fit) or "
                                 "steps (evaluate, predict), its batches an epoch")
            steps = len(source)
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"{what} must make at least one batch an epoch, got {steps!r}")
        self.steps = steps
        self._first = self._batch(0)
        self.labels_shape = self._first[1].shape if labels else None

    def __len__(self):
        return self.steps

    def epoch(self):
        for i in range(self.steps):
            if i == 0 and self._first is not None:
                batch, self._first = self._first, None
            else:
                batch = self._batch(i)
            yield batch

    def end_epoch(self):
        self._first = None
        on_epoch_end = getattr(self.source, "on_epoch_end", None)
        if on_epoch_end is not None:
            on_epoch_end()

    def _batch(self, i):
        what = f"{self.what}'s batch {i}"
        try:
            item = next(self.iterator) if self.iterator is not None else self.source[i]
        except StopIteration:
            raise ValueError(f"{self.what} ran out after {i} batches of the {self.steps} an epoch takes") from None
        parts = item if isinstance(item, tuple) else (item,)
        if not self.labels:
            ensure_built(self.model, parts[0], "predict")
            return as_inputs(parts[0], self.model.input_shape, self.model.dtype, what), None, None
        if len(parts) not in (2, 3):
            raise ValueError(f"{what} must be a tuple (x, y) or (x, y, sample_weight), got "
                             f"{type(item).__name__}" + (f" of {len(parts)}" if isinstance(item, tuple) else ""))
        x, y = prepare(self.model, parts[0], parts[1], what)
        return x, y, sample_weights(y, self.class_weight, parts[2] if len(parts) == 3 else None)
