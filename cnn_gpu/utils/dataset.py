"""Keras's ``PyDataset``: data that arrives a batch at a time, for ``fit``, ``evaluate`` and ``predict``.

Subclass it with ``__len__`` (the batches in an epoch) and ``__getitem__(index)`` returning batch
``index`` as ``(x, y)`` or ``(x, y, sample_weight)`` (``x`` alone serves ``predict``), and
``on_epoch_end`` if the data should change between epochs (reshuffle, say). A Python generator of
such batches serves too, with ``steps_per_epoch`` saying how many make an epoch.

    class Batches(PyDataset):
        def __init__(self, x, y, batch_size):
            super().__init__()
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, index):
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return self.x[part], self.y[part]

    model.fit(Batches(x_train, y_train, 64), epochs=5)
"""

from __future__ import annotations


class PyDataset:
    """Keras's base for batch-at-a-time data (the module's docstring); its worker options are accepted
    and unused: batches are made in the training loop's own thread."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def on_epoch_end(self):
        """Called after each epoch of ``fit``: change the data here if it should change."""
