"""The training loop, evaluation and prediction of a model (and their one-batch forms), batch by batch
through the backend, from arrays or from a PyDataset or generator (batching.py).

Per batch the loop does only what it must on the host: gather the batch, one float for the loss and
the metrics' counts (for the progress bar and the NaN check), all read back once the step's kernels
are launched. All math is in the backend.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu import metrics as metrics_module
from cnn_gpu.backend import get_backend
from cnn_gpu.callbacks import CallbackList, History, ProgbarLogger
from cnn_gpu.models.batching import ArrayBatches, DatasetBatches, is_dataset
from cnn_gpu.models.data import (as_inputs, check_batch_size, ensure_built, on_backend, prepare, sample_weights,
                                 split_validation, whole_batch)
from cnn_gpu.utils.progbar import Progbar


def check_verbose(verbose):
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


class Tracker:
    """Running means over an epoch: the loss (weighted by batch size) and each metric. A batch counts in
    two steps: batch_counts launches the metrics' kernels, add_batch reads their counts back and adds
    them with the loss."""

    def __init__(self, model, labels_shape):
        self.metrics = [metrics_module.get(m, labels_shape, model.output_shape) for m in model.metrics_names_given]
        self.loss_sum = 0.0
        self.samples = 0
        self.activation = model.layers[-1].activation if model.trains_on_logits else None

    def batch_counts(self, y, output):
        """Each metric's ``(counts, add)`` for this batch (Metric.batch_counts), on the probabilities where
        the model trains on logits and a metric needs them."""
        pending, probabilities = [], None
        for metric in self.metrics:
            if self.activation is None or metric.works_on_logits:
                pending.append(metric.batch_counts(y, output))
            else:
                if probabilities is None:
                    probabilities = get_backend().activation_forward(self.activation, output)
                pending.append(metric.batch_counts(y, probabilities))
        return pending

    def add_batch(self, loss, samples, pending):
        """Add a batch of ``samples`` samples: its ``loss`` and the counts of batch_counts' ``pending``."""
        self.loss_sum += loss * samples
        self.samples += samples
        backend = get_backend()
        for counts, add in pending:
            add(None if counts is None else backend.to_numpy(counts))

    def logs(self, prefix=""):
        """Keras's order: the metrics, then the loss."""
        logs = {prefix + m.name: m.result() for m in self.metrics}
        logs[prefix + "loss"] = self.loss_sum / self.samples if self.samples else float("nan")
        return logs


def batch_weights(weights):
    """A batch's host sample weights on the backend, or None."""
    return None if weights is None else get_backend().asarray(weights)


def run_test(model, source, progbar=None):
    """Loss and metrics over the batches of ``source`` (batching.py) in inference mode; penalties
    included in the loss, as in Keras, and each sample's loss weighted by its batch's weights if any."""
    backend = get_backend()
    tracker = Tracker(model, source.labels_shape)
    for step, (x, y, weights) in enumerate(source.epoch()):
        yb = backend.asarray(y)
        terms, output = model.loss_terms(on_backend(backend, x), yb, training=False,
                                         sample_weight=batch_weights(weights))
        pending = tracker.batch_counts(yb, output)
        tracker.add_batch(model.total_loss(terms), yb.shape[0], pending)
        if progbar is not None:
            progbar.update(step + 1, tracker.logs(), finalize=step + 1 == len(source))
    return tracker.logs()


def validation_batches(model, x, y, weights, batch_size, validation_split, validation_data, validation_steps=None):
    """``(x, y, weights)`` left for training, and the validation batches (or None), from either way
    Keras accepts validation data (a generator's, ``validation_steps`` batches each time); a split
    takes its share of the sample weights along."""
    if validation_steps is not None and not is_dataset(validation_data):
        raise ValueError("validation_steps is for validation_data that is a generator or a PyDataset")
    if validation_data is not None:
        if is_dataset(validation_data):
            return (x, y, weights), DatasetBatches(model, validation_data, validation_steps, what="validation_data")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a tuple (x_val, y_val) or a PyDataset")
        val_x, val_y = prepare(model, *validation_data, what="validation_data x")
        return (x, y, weights), ArrayBatches(val_x, val_y, None, batch_size)
    if validation_split:
        (train_x, train_y), (val_x, val_y) = split_validation(x, y, validation_split)
        split_at = len(train_x)
        return ((train_x, train_y, None if weights is None else weights[:split_at]),
                ArrayBatches(val_x, val_y, None if weights is None else weights[split_at:], batch_size))
    return (x, y, weights), None


def training_batches(model, x, y, batch_size, validation_split, validation_data, shuffle, class_weight,
                     sample_weight, steps_per_epoch, validation_steps):
    """fit's training and validation batches (batching.py): arrays, or a dataset's own batches."""
    if not is_dataset(x):
        if steps_per_epoch is not None:
            raise ValueError("steps_per_epoch is for a generator or a PyDataset; arrays take batch_size")
        x, y = prepare(model, x, y)
        weights = sample_weights(y, class_weight, sample_weight)
        (x, y, weights), validation = validation_batches(model, x, y, weights, batch_size, validation_split,
                                                         validation_data, validation_steps)
        if class_weight is not None and isinstance(validation, ArrayBatches):
            validation.weights = None  # as Keras: a split's share keeps sample_weight's weights, not class_weight's
        return ArrayBatches(x, y, weights, batch_size, shuffle), validation
    for name, value in (("y", y), ("sample_weight", sample_weight)):
        if value is not None:
            raise ValueError(f"{name} must be None when x is a PyDataset or a generator: its batches hold them")
    if validation_split:
        raise ValueError("validation_split cannot split a PyDataset or a generator: give validation_data")
    train = DatasetBatches(model, x, steps_per_epoch, class_weight)
    return train, validation_batches(model, None, None, None, batch_size, 0, validation_data, validation_steps)[1]


def check_epochs(epochs, initial_epoch):
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch <= epochs:
        raise ValueError(f"initial_epoch must be an int in [0, epochs], got {initial_epoch!r}")


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        initial_epoch, class_weight=None, sample_weight=None, steps_per_epoch=None, validation_steps=None):
    model.require_compiled("fit")
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    check_epochs(epochs, initial_epoch)
    train, validation = training_batches(model, x, y, batch_size, validation_split, validation_data, shuffle,
                                         class_weight, sample_weight, steps_per_epoch, validation_steps)
    history = History()
    # Keras's order: the user's callbacks, then History, then the progress bar, so that both see what
    # the user's add to the logs (a learning-rate callback's learning_rate).
    hooks = list(callbacks or []) + [history] + ([ProgbarLogger(verbose)] if verbose else [])
    hooks = CallbackList(hooks, model, {"verbose": verbose, "epochs": epochs, "steps": len(train)})
    model.stop_training = False
    model.history = history
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        logs = train_epoch(model, train, epoch, hooks)
        if validation is not None and not model.stop_training:
            logs.update({f"val_{k}": v for k, v in run_test(model, validation).items()})
        train.end_epoch()
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    return history


def train_step(model, x, y, tracker, weights=None):
    """One optimizer step on the host batch (x, y), each sample's loss weighted by ``weights`` (the
    backend's) if given: its loss, returned; the metrics' counts; the update. A loss that is not
    finite is returned with nothing counted or updated, so the weights stay finite.

    Nothing is read back until the forward pass, the loss, the metrics' kernels and the backward pass
    are all launched: on a GPU the host then waits for its queue once a step (the loss's read-back,
    which the update needs first), and the counts' read-backs after it find the GPU idle. The update
    runs on the GPU while the host prepares the next batch."""
    backend = get_backend()
    yb = backend.asarray(y)
    terms, output = model.loss_terms(on_backend(backend, x), yb, sample_weight=weights)
    pending = tracker.batch_counts(yb, output)
    gradients = model.compute_gradients()
    loss = model.total_loss(terms)
    if math.isfinite(loss):
        tracker.add_batch(loss, yb.shape[0], pending)
        model.optimizer.apply(gradients, model.trainable_weights)
        for layer in model.layers:
            layer.apply_constraints()
    return loss


def not_finite(loss, where):
    return FloatingPointError(f"the loss became {loss} {where}: lower the learning rate or check the data")


def train_epoch(model, source, epoch, hooks):
    """One pass over the batches of ``source`` (batching.py); returns the epoch's running-mean logs."""
    tracker = Tracker(model, source.labels_shape)
    for step, (x, y, weights) in enumerate(source.epoch()):
        hooks.on_train_batch_begin(step)
        loss = train_step(model, x, y, tracker, batch_weights(weights))
        if not math.isfinite(loss):
            # TerminateOnNaN may stop quietly; else fail loudly.
            hooks.on_train_batch_end(step, {**tracker.logs(), "loss": loss})
            if model.stop_training:
                break
            raise not_finite(loss, f"at epoch {epoch + 1}, batch {step + 1} of {len(source)} (add TerminateOnNaN() "
                                   "to stop training quietly instead)")
        hooks.on_train_batch_end(step, tracker.logs())
        if model.stop_training:
            break
    return tracker.logs()


def in_keras_order(logs, return_dict):
    """The logs as Keras's evaluate and *_on_batch return them: the dict, or the loss then the metrics
    (the loss alone without metrics)."""
    if return_dict:
        return logs
    others = [v for k, v in logs.items() if k != "loss"]
    return [logs["loss"], *others] if others else logs["loss"]


def train_on_batch(model, x, y, sample_weight, class_weight, return_dict):
    """One optimizer step on (x, y), as one batch; its loss and metrics (counted from zero, as Keras's)."""
    model.require_compiled("train_on_batch")
    x, y = prepare(model, x, y)
    tracker = Tracker(model, y.shape)
    loss = train_step(model, x, y, tracker, batch_weights(sample_weights(y, class_weight, sample_weight)))
    if not math.isfinite(loss):
        raise not_finite(loss, "in train_on_batch (the weights were not updated)")
    return in_keras_order(tracker.logs(), return_dict)


def test_on_batch(model, x, y, sample_weight, return_dict):
    """The loss and metrics of (x, y) as one batch, in inference mode: evaluate's, on one batch."""
    return evaluate(model, x, y, whole_batch(model, x), 0, return_dict, sample_weight, action="test_on_batch")


def evaluate(model, x, y, batch_size, verbose, return_dict, sample_weight=None, action="evaluate", steps=None):
    model.require_compiled(action)
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    if is_dataset(x):
        if y is not None or sample_weight is not None:
            raise ValueError("y and sample_weight must be None when x is a PyDataset or a generator: its batches "
                             "hold them")
        source = DatasetBatches(model, x, steps)
    else:
        x, y = prepare(model, x, y)
        source = ArrayBatches(x, y, sample_weights(y, None, sample_weight), batch_size)
    logs = run_test(model, source, Progbar(len(source), verbose=verbose) if verbose else None)
    return in_keras_order(logs, return_dict)


def predict(model, x, batch_size, verbose, steps=None):
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    if is_dataset(x):
        source = DatasetBatches(model, x, steps, labels=False)
    else:
        ensure_built(model, x, "predict")
        source = ArrayBatches(as_inputs(x, model.input_shape, model.dtype), None, None, batch_size)
    backend = get_backend()
    progbar = Progbar(len(source), verbose=verbose) if verbose else None
    outputs = []
    for step, (xb, _, _) in enumerate(source.epoch()):
        outputs.append(backend.to_numpy(model.forward(on_backend(backend, xb), training=False)))
        if progbar is not None:
            progbar.update(step + 1)
    return np.concatenate(outputs)
