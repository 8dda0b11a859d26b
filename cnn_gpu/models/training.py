"""The training loop, evaluation and prediction of a model (and their one-batch forms), batch by batch
through the backend.

Per batch the loop does only what it must on the host: gather the batch, one float for the loss and
one count per metric (for the progress bar and the NaN check). All math is in the backend.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu import metrics as metrics_module
from cnn_gpu.backend import get_backend
from cnn_gpu.callbacks import CallbackList, History, ProgbarLogger
from cnn_gpu.models.data import (as_inputs, batches, check_batch_size, check_same_length, on_backend,
                                 sample_weights, split_validation, whole_batch)
from cnn_gpu.utils.progbar import Progbar
from cnn_gpu.utils.rng import global_generator


def check_verbose(verbose):
    verbose = 1 if verbose == "auto" else verbose
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return verbose


def ensure_built(model, x, action):
    """Build a model that has no input shape yet from ``x``'s, as Keras does on first use."""
    if not model.built and model.input_layer is None and x is not None and np.ndim(x) >= 2:
        model.build((None, *np.shape(x)[1:]))
    model.require_built(action)


def prepare(model, x, y, what="x"):
    """Checked inputs and targets for a compiled model."""
    ensure_built(model, x, "run")
    x = as_inputs(x, model.input_shape, model.dtype, what)
    if y is None:
        raise ValueError(f"the labels for {what} are required")
    check_same_length(x, y, what, "its labels")
    return x, model.loss.prepare_targets(y, model.output_shape, model.dtype)


class Tracker:
    """Running means over an epoch: the loss (weighted by batch size) and each metric."""

    def __init__(self, model, labels_shape):
        self.metrics = [metrics_module.get(m, labels_shape, model.output_shape) for m in model.metrics_names_given]
        self.loss_sum = 0.0
        self.samples = 0
        self.activation = model.layers[-1].activation if model.trains_on_logits else None

    def update(self, loss, y, output):
        self.loss_sum += loss * y.shape[0]
        self.samples += y.shape[0]
        probabilities = None
        for metric in self.metrics:
            if self.activation is None or metric.works_on_logits:
                metric.update_state(y, output)
            else:
                if probabilities is None:
                    probabilities = get_backend().activation_forward(self.activation, output)
                metric.update_state(y, probabilities)

    def logs(self, prefix=""):
        """Keras's order: the metrics, then the loss."""
        logs = {prefix + m.name: m.result() for m in self.metrics}
        logs[prefix + "loss"] = self.loss_sum / self.samples if self.samples else float("nan")
        return logs


def batch_weights(weights, index):
    """A batch's sample weights on the backend, or None."""
    return None if weights is None else get_backend().asarray(weights[index])


def run_test(model, x, y, batch_size, progbar=None, weights=None):
    """Loss and metrics over (x, y) in inference mode; penalties included in the loss, as in Keras, and
    each sample's loss weighted by ``weights`` if given."""
    backend = get_backend()
    tracker = Tracker(model, y.shape)
    steps = batches(len(x), batch_size)
    for step, index in enumerate(steps):
        yb = backend.asarray(y[index])
        loss, output = model.compute_loss(on_backend(backend, x[index]), yb, training=False,
                                          sample_weight=batch_weights(weights, index))
        tracker.update(loss, yb, output)
        if progbar is not None:
            progbar.update(step + 1, tracker.logs(), finalize=step + 1 == len(steps))
    return tracker.logs()


def validation_arrays(model, x, y, weights, validation_split, validation_data):
    """``(train_x, train_y, train_weights), (val_x, val_y, val_weights) or None`` from either way Keras
    accepts validation data; a split takes its share of the sample weights along (None: none)."""
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a tuple (x_val, y_val)")
        return (x, y, weights), (*prepare(model, *validation_data, what="validation_data x"), None)
    if validation_split:
        (train_x, train_y), (val_x, val_y) = split_validation(x, y, validation_split)
        split_at = len(train_x)
        return ((train_x, train_y, None if weights is None else weights[:split_at]),
                (val_x, val_y, None if weights is None else weights[split_at:]))
    return (x, y, weights), None


def check_epochs(epochs, initial_epoch):
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch <= epochs:
        raise ValueError(f"initial_epoch must be an int in [0, epochs], got {initial_epoch!r}")


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        initial_epoch, class_weight=None, sample_weight=None):
    model.require_compiled("fit")
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    check_epochs(epochs, initial_epoch)
    x, y = prepare(model, x, y)
    weights = sample_weights(y, class_weight, sample_weight)
    # As Keras: a split's validation share keeps sample_weight's weights, not class_weight's.
    (x, y, weights), validation = validation_arrays(model, x, y, weights, validation_split, validation_data)
    if class_weight is not None and validation is not None:
        validation = (*validation[:2], None)
    steps = math.ceil(len(x) / batch_size)
    history = History()
    # Keras's order: the user's callbacks, then History, then the progress bar, so that both see what
    # the user's add to the logs (a learning-rate callback's learning_rate).
    hooks = list(callbacks or []) + [history] + ([ProgbarLogger(verbose)] if verbose else [])
    hooks = CallbackList(hooks, model, {"verbose": verbose, "epochs": epochs, "steps": steps})
    model.stop_training = False
    model.history = history
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        logs = train_epoch(model, x, y, weights, batch_size, shuffle, epoch, hooks)
        if validation is not None and not model.stop_training:
            val_x, val_y, val_weights = validation
            logs.update({f"val_{k}": v for k, v in run_test(model, val_x, val_y, batch_size,
                                                             weights=val_weights).items()})
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    return history


def train_step(model, x, y, tracker, weights=None):
    """One optimizer step on the host batch (x, y), each sample's loss weighted by ``weights`` (the
    backend's) if given: its loss, returned; the metrics' counts; the update. A loss that is not
    finite is returned with nothing counted or updated, so the weights stay finite."""
    backend = get_backend()
    yb = backend.asarray(y)
    loss, output = model.compute_loss(on_backend(backend, x), yb, sample_weight=weights)
    if math.isfinite(loss):
        # The metrics before the backward pass: their read-back then waits for one small kernel, not
        # for the backward and the update, which the GPU runs while the host prepares the next batch.
        tracker.update(loss, yb, output)
        model.optimizer.apply(model.compute_gradients(), model.trainable_weights)
    return loss


def not_finite(loss, where):
    return FloatingPointError(f"the loss became {loss} {where}: lower the learning rate or check the data")


def train_epoch(model, x, y, weights, batch_size, shuffle, epoch, hooks):
    """One pass over (x, y); returns the epoch's running-mean logs."""
    tracker = Tracker(model, y.shape)
    order = global_generator().permutation(len(x)) if shuffle else None
    steps = batches(len(x), batch_size, order)
    for step, index in enumerate(steps):
        hooks.on_train_batch_begin(step)
        loss = train_step(model, x[index], y[index], tracker, batch_weights(weights, index))
        if not math.isfinite(loss):
            # TerminateOnNaN may stop quietly; else fail loudly.
            hooks.on_train_batch_end(step, {**tracker.logs(), "loss": loss})
            if model.stop_training:
                break
            raise not_finite(loss, f"at epoch {epoch + 1}, batch {step + 1} of {len(steps)} (add TerminateOnNaN() "
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
    weights = sample_weights(y, class_weight, sample_weight)
    loss = train_step(model, x, y, tracker, batch_weights(weights, slice(None)))
    if not math.isfinite(loss):
        raise not_finite(loss, "in train_on_batch (the weights were not updated)")
    return in_keras_order(tracker.logs(), return_dict)


def test_on_batch(model, x, y, sample_weight, return_dict):
    """The loss and metrics of (x, y) as one batch, in inference mode: evaluate's, on one batch."""
    return evaluate(model, x, y, whole_batch(model, x), 0, return_dict, sample_weight, action="test_on_batch")


def evaluate(model, x, y, batch_size, verbose, return_dict, sample_weight=None, action="evaluate"):
    model.require_compiled(action)
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    x, y = prepare(model, x, y)
    steps = math.ceil(len(x) / batch_size)
    logs = run_test(model, x, y, batch_size, Progbar(steps, verbose=verbose) if verbose else None,
                    weights=sample_weights(y, None, sample_weight))
    return in_keras_order(logs, return_dict)


def predict(model, x, batch_size, verbose):
    verbose = check_verbose(verbose)
    batch_size = check_batch_size(batch_size)
    ensure_built(model, x, "predict")
    x = as_inputs(x, model.input_shape, model.dtype)
    backend = get_backend()
    steps = batches(len(x), batch_size)
    progbar = Progbar(len(steps), verbose=verbose) if verbose else None
    outputs = []
    for step, index in enumerate(steps):
        outputs.append(backend.to_numpy(model.forward(on_backend(backend, x[index]), training=False)))
        if progbar is not None:
            progbar.update(step + 1)
    return np.concatenate(outputs)
