"""Keras's callbacks: hooks the training loop calls at the start and end of training, epochs and batches.

``History`` and ``ProgbarLogger`` are added by ``fit`` itself, as in Keras.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from numbers import Real

from cnn_gpu.utils.progbar import Progbar


class Callback:
    """Override any of the ``on_*`` hooks; ``self.model`` is the model being trained."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...

    def on_train_end(self, logs=None): ...

    def on_epoch_begin(self, epoch, logs=None): ...

    def on_epoch_end(self, epoch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None): ...

    def on_train_batch_end(self, batch, logs=None): ...


class CallbackList:
    """Calls each hook on every callback in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {callback!r}")
            callback.set_model(model)
            callback.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call_all(*args):
            for callback in self.callbacks:
                getattr(callback, hook)(*args)

        return call_all


class History(Callback):
    """``history.history``: each logged value per epoch ('loss', 'accuracy', 'val_loss', ...)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints ``Epoch 1/5`` and the progress bar (verbose 1) or one line per epoch (verbose 2)."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Epoch {epoch + 1}/{self.params['epochs']}", flush=True)
        self.progbar = Progbar(self.params["steps"], verbose=self.verbose)

    def on_train_batch_end(self, batch, logs=None):
        self.progbar.update(batch + 1, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        self.progbar.update(self.params["steps"], logs, finalize=True)


class MonitorCallback(Callback):
    """Watches one logged value; ``mode`` 'auto' maximises accuracies and minimises losses."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            name = monitor.removeprefix("val_")
            if name.endswith("loss"):
                mode = "min"
            elif "acc" in name:
                mode = "max"
            else:
                raise ValueError(f"{type(self).__name__}: cannot tell whether {monitor!r} should go up or "
                                 "down: pass mode='max' or mode='min'")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.best = None

    def is_improvement(self, value, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def monitored_value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} monitors {self.monitor!r}, which is not logged; "
                          f"logged are: {', '.join(logs or {})}", stacklevel=3)
        return value


class EarlyStopping(MonitorCallback):
    """Stops when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (Keras's rules)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # The wait restarts only once the baseline is beaten as well.
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(MonitorCallback):
    """Saves the model (or its weights) after each epoch to ``filepath.format(epoch=..., **logs)``."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", initial_value_threshold=None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        try:
            path = self.filepath.format(epoch=epoch + 1, **(logs or {}))
        except (KeyError, IndexError, ValueError) as error:
            raise KeyError(f"ModelCheckpoint: cannot format filepath {self.filepath!r} with epoch and "
                           f"{', '.join(logs or {})}: {error}") from error
        if self.save_best_only:
            current = self.monitored_value(logs)
            if current is not None:
                best = "None" if self.best is None else f"{self.best:.5f}"
                if not self.is_improvement(current, self.best):
                    self.say(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best}")
                    return
                self.say(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                         f"saving model to {path}")
                self.best = current
        else:
            self.say(f"Epoch {epoch + 1}: saving model to {path}")
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def say(self, message):
        if self.verbose > 0:
            print(f"\n{message}")


def current_learning_rate(model):
    """The model's optimizer's learning rate, or an error saying the callback needs a compiled model."""
    if getattr(model, "optimizer", None) is None:
        raise RuntimeError("a learning-rate callback needs a compiled model (compile() sets its optimizer)")
    return model.optimizer.learning_rate


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or ``schedule(epoch)``),
    epochs counted from 0, as Keras's; logs it as ``learning_rate``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = current_learning_rate(self.model)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # Keras's older one-argument schedules
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: the schedule must return a non-negative float, got {lr!r} "
                             f"for epoch {epoch}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by ``factor`` (down to ``min_lr``) once ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs before counting again (Keras's
    rules); logs the rate as ``learning_rate``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be below 1.0, got {factor!r}")
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr

    def on_train_begin(self, logs=None):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model)
        current = self.monitored_value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        old_lr = current_learning_rate(self.model)
        if self.wait >= self.patience and old_lr > self.min_lr:
            new_lr = max(old_lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0


class LambdaCallback(Callback):
    """Keras's callback of functions: each of ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch,
    logs)``, ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)`` (or their short
    names ``on_batch_begin`` and ``on_batch_end``), ``on_train_begin(logs)`` and ``on_train_end(logs)``
    that is given runs at that point of fit, always with its logs argument (None where fit has none)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, on_batch_begin=None, on_batch_end=None):
        super().__init__()
        counted = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                   "on_train_batch_begin": on_train_batch_begin or on_batch_begin,
                   "on_train_batch_end": on_train_batch_end or on_batch_end}
        for hook, function in {**counted, "on_train_begin": on_train_begin, "on_train_end": on_train_end}.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: {hook} must be callable, got {function!r}")
            if hook in counted:  # (epoch or batch, logs)
                setattr(self, hook, lambda index, logs=None, function=function: function(index, logs))
            else:  # (logs)
                setattr(self, hook, lambda logs=None, function=function: function(logs))


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or Inf (instead of ``fit`` raising)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Each epoch's logs as a row of a CSV file, as Keras writes it: ``epoch``, then the log keys in
    sorted order (the val_ keys added up front if the first epoch has none), "NA" for a missing value.
    With ``append`` an existing file is continued, its header kept. The file is flushed every epoch and
    closed when training ends."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, bool(append)
        self.file = self.writer = self.keys = None

    def on_train_begin(self, logs=None):
        header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0)
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer, self.keys, self.header = None, None, header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
            self.writer = csv.DictWriter(self.file, ["epoch", *self.keys], delimiter=self.separator)
            if self.header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
            self.file = self.writer = None


__all__ = ["CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback", "LearningRateScheduler",
           "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TerminateOnNaN"]
