"""User data checked once, when fit/evaluate/predict starts: shape, dtype, finiteness, labels, splits
(and each batch of a PyDataset or a generator, as it comes: batching.py).

Everything here runs on host NumPy arrays before any batch reaches the backend, so a mistake in the
data fails at once with a message naming the argument, not deep inside an op.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu.layers.base import format_shape


class Inputs:
    """A model's several inputs, batched as one: ``len`` is their samples', and indexing (a batch's slice
    or index array) indexes each alike. ``on_backend`` gives the arrays a model's forward takes."""

    def __init__(self, arrays):
        self.arrays = list(arrays)

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return Inputs([a[index] for a in self.arrays])


def whole_batch(model, x):
    """The batch size that takes the user's ``x`` (an array, or a list of one an input) in one batch."""
    return max(len(x[0]) if model.several_inputs else len(x), 1)


def on_backend(backend, x):
    """Host inputs (an array, or Inputs) as the backend's: an array, or a list of arrays."""
    return [backend.asarray(a) for a in x.arrays] if isinstance(x, Inputs) else backend.asarray(x)


def as_inputs(x, input_shape, dtype, what="x"):
    """``x`` as a ``dtype`` array of shape (N, *input_shape[1:]); fails on non-numbers and NaN/Inf. For
    a model of several inputs (``input_shape`` a list of shapes), x is a list of arrays, one an input,
    each checked so, of as many samples each: Inputs."""
    if isinstance(input_shape, list):
        if not isinstance(x, (list, tuple)) or len(x) != len(input_shape):
            given = f"{type(x).__name__} of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
            raise ValueError(f"{what} must be a list of {len(input_shape)} arrays, one for each of the model's "
                             f"inputs, got {given}")
        arrays = [as_inputs(a, shape, dtype, f"{what}[{i}]") for i, (a, shape) in enumerate(zip(x, input_shape))]
        for i, a in enumerate(arrays[1:], 1):
            check_same_length(arrays[0], a, f"{what}[0]", f"{what}[{i}]")
        return Inputs(arrays)
    if x is None:
        raise ValueError(f"{what} is required")
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold numbers, got dtype {x.dtype}")
    if input_shape is not None and x.shape[1:] != tuple(input_shape[1:]):
        raise ValueError(f"{what} has shape {format_shape(x.shape)} but the model expects "
                         f"{format_shape(input_shape)} (batch first)")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{what} must have a batch axis and at least one sample, got shape {x.shape}")
    x = x.astype(dtype, copy=False)
    check_finite(x, what)
    return x


def check_finite(a, what):
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        sample = int(np.argwhere(~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1))[0, 0])
        raise ValueError(f"{what} contains NaN or Inf (first in sample {sample})")


def check_same_length(x, y, x_name="x", y_name="y"):
    if len(x) != len(y):
        raise ValueError(f"{x_name} has {len(x)} samples but {y_name} has {len(y)}: they must match")


def split_validation(x, y, validation_split):
    """Keras's split: the last ``validation_split`` of the samples, taken before any shuffling."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    split_at = int(math.floor(len(x) * (1 - validation_split)))
    if split_at in (0, len(x)):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves no training or "
                         "no validation samples: provide more data or another validation_split")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def batches(n, batch_size, order=None):
    """Indexers of consecutive batches: slices (cheap views) in order, or index arrays over ``order``."""
    if order is None:
        return [slice(start, start + batch_size) for start in range(0, n, batch_size)]
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]


def sample_weights(y, class_weight, sample_weight):
    """Each sample's loss weight, (N,), from Keras's ``sample_weight`` (one number a sample) or
    ``class_weight`` ({class: weight}, 1 for a class it leaves out; the class of a one-hot row its
    argmax, of a (N, 1) label the label), or None without either."""
    if class_weight is not None and sample_weight is not None:
        raise ValueError("give sample_weight or class_weight, not both")
    if sample_weight is not None:
        weights = np.asarray(sample_weight)
        if weights.shape != (len(y),) or weights.dtype.kind not in "biuf" or not np.all(np.isfinite(weights)):
            raise ValueError(f"sample_weight must be {len(y)} finite numbers, one a sample, got "
                             f"{weights.dtype} of shape {format_shape(weights.shape)}")
        return weights.astype(np.float64)
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict) or not all(isinstance(c, (int, np.integer)) and isinstance(
            w, (int, float, np.number)) for c, w in class_weight.items()):
        raise ValueError(f"class_weight must be a dict of class index -> weight, got {class_weight!r}")
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    if labels.ndim != 1:
        raise ValueError(f"class_weight needs a class a sample, got labels of shape {format_shape(np.shape(y))}")
    return np.array([float(class_weight.get(int(c), 1.0)) for c in np.round(labels)])


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
