"""Keras's losses: each gives its value and its gradient through the backend, and checks labels early.

An output of more axes than (batch, classes), a per-pixel classification (batch, H, W, classes) say,
is taken as rows of its last axis: Keras averages a loss over every axis but the last, which is the
mean over those rows that the ops compute.

``prepare_targets`` runs once when ``fit``/``evaluate`` starts, on the user's host labels, so a wrong
shape or an out-of-range label fails then with a message that says what to change, not inside a
batch.
"""

from __future__ import annotations

import numpy as np

from cnn_gpu.backend import get_backend
from cnn_gpu.layers.base import format_shape
from cnn_gpu.ops.loss import hinge_labels
from cnn_gpu.utils.checks import check_number
from cnn_gpu.utils.registry import Registry

LOSSES = Registry("loss")


class Loss:
    """``loss(y_true, y_pred)`` -> float, like Keras; the model uses ``value_and_gradient``."""

    from_logits = False

    def __init__(self, name):
        self.name = name

    def __call__(self, y_true, y_pred):
        backend = get_backend()
        value, _ = self.value_and_gradient(backend.asarray(y_true), backend.asarray(y_pred))
        return float(backend.to_numpy(value))

    sparse = False  # integer class ids for labels, one fewer axis than the output
    KIND = None  # ops.loss.sample_losses's name for this loss
    label_smoothing = 0.0

    def value_and_gradient(self, y_true, y_pred, logits=False, sample_weight=None):
        """``(loss, d loss / d y_pred)``; ``logits``: y_pred is the last layer before its softmax. With
        ``sample_weight`` (N,), Keras's weighted mean: sum(w_i loss_i) / N, each row's gradient times w_i."""
        y_true = self.loss_labels(y_true, y_pred)
        if sample_weight is not None:
            return self.weighted_value_and_gradient(y_true, y_pred, logits, sample_weight)
        if y_pred.ndim <= 2:
            return self.rows_value_and_gradient(y_true, y_pred, logits)
        rows = y_pred.reshape(-1, y_pred.shape[-1])
        value, grad = self.rows_value_and_gradient(y_true.reshape(-1) if self.sparse else y_true.reshape(rows.shape),
                                                   rows, logits)
        return value, grad.reshape(y_pred.shape)

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        """``value_and_gradient`` of a 2-D (batch, classes) output (or 1-D)."""
        raise NotImplementedError

    def weighted_value_and_gradient(self, y_true, y_pred, logits, sample_weight):
        """The weighted mean of each sample's loss (the backend's sample_losses: array operations on either
        module), and the unweighted mean's gradient scaled row by row: the gradient of a mean over N
        rows is each row's own gradient over N, so weighting a row's loss weights its gradient."""
        if y_pred.ndim != 2:
            raise ValueError(f"{self.name}: sample and class weights need a 2-D output (batch, classes), got "
                             f"{y_pred.ndim} axes")
        _, grad = self.rows_value_and_gradient(y_true, y_pred, logits)
        weights = sample_weight.astype(y_pred.dtype, copy=False)
        return (weights * self.sample_losses(y_true, y_pred, logits)).sum() / len(y_pred), grad * weights[:, None]

    def sample_losses(self, y_true, y_pred, logits=False):
        """Each sample's loss, (N,), of a 2-D output (the backend's sample_losses), of labels as the
        loss reads them (value_and_gradient's loss_labels)."""
        return get_backend().sample_losses(self.KIND, y_pred, y_true, logits or self.from_logits, self.sparse)

    def loss_labels(self, y_true, y_pred):
        """The labels as the loss reads them: as given, or with Keras's label smoothing, each label moved
        ``label_smoothing`` of the way to the uniform one, ``y (1 - s) + s u`` (u = 1 / classes, or 1 / 2
        for binary labels), in y_pred's dtype."""
        if not self.label_smoothing:
            return y_true
        s = self.label_smoothing
        return (y_true * (1 - s) + s * self.uniform_label(y_pred.shape[-1])).astype(y_pred.dtype, copy=False)

    def uniform_label(self, classes):
        raise NotImplementedError

    def trains_on_logits(self, last_activation):
        """Whether the model should hand this loss its last layer's input to ``last_activation``."""
        return False

    def prepare_targets(self, y, output_shape, dtype):
        """``y`` checked against the model's output shape (None, ...) and converted for the backend."""
        y = np.asarray(y)
        if y.shape[1:] != tuple(output_shape[1:]) and y.shape[1:] + (1,) == tuple(output_shape[1:]):
            y = y.reshape(*y.shape, 1)  # (N,) labels for a (None, 1) output, as Keras accepts
        if y.shape[1:] != tuple(output_shape[1:]):
            raise ValueError(f"{self.name}: labels must have shape {format_shape(output_shape)} "
                             f"like the model's output, got {format_shape(y.shape)}")
        return self.check_values(y).astype(dtype)

    def check_values(self, y):
        if y.dtype.kind not in "biuf" or not np.all(np.isfinite(y)):
            raise ValueError(f"{self.name}: labels must be finite numbers")
        return y

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class ProbabilityLabels(Loss):
    """Losses whose labels are probabilities: every value must lie in [0, 1]."""

    def check_values(self, y):
        y = super().check_values(y)
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{self.name}: labels must lie in [0, 1], got values in [{y.min()}, {y.max()}]")
        return y


class Crossentropy(ProbabilityLabels):
    """Categorical cross-entropy, one-hot or (``sparse``) integer labels, on probabilities or logits."""

    KIND = "crossentropy"

    def __init__(self, from_logits=False, name=None):
        super().__init__(name)
        self.from_logits = bool(from_logits)

    def uniform_label(self, classes):
        return 1 / classes

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        backend = get_backend()
        if logits or self.from_logits:
            return backend.softmax_cross_entropy(y_pred, y_true, self.sparse)
        return backend.categorical_cross_entropy(y_pred, y_true, self.sparse)

    def trains_on_logits(self, last_activation):
        # softmax then log is unstable and its gradient is poor; the fused op is exact.
        return not self.from_logits and last_activation == "softmax"

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}


@LOSSES.register("categorical_crossentropy")
class CategoricalCrossentropy(Crossentropy):
    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy"):
        super().__init__(from_logits, name)
        self.label_smoothing = check_number(name, "label_smoothing", label_smoothing, 0, 1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}

    def prepare_targets(self, y, output_shape, dtype):
        y = np.asarray(y)
        if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and output_shape[1] != 1):
            raise ValueError(
                f"{self.name}: labels must be one-hot of shape {format_shape(output_shape)}, got integer-like "
                f"labels of shape {format_shape(y.shape)}: use to_categorical(y, {output_shape[-1]}) or "
                "loss='sparse_categorical_crossentropy'"
            )
        return super().prepare_targets(y, output_shape, dtype)


@LOSSES.register("sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(Crossentropy):
    sparse = True

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy"):
        super().__init__(from_logits, name)

    def prepare_targets(self, y, output_shape, dtype):
        y = np.asarray(y)
        classes, expected = output_shape[-1], tuple(output_shape[1:-1])  # a class id per row of the last axis
        if y.shape[1:] == (*expected, 1):
            y = y.reshape(y.shape[:-1])
        if y.shape[1:] != expected:
            raise ValueError(f"{self.name}: labels must be integer class ids of shape {format_shape((None, *expected))} "
                             f"for an output of shape {format_shape(output_shape)}, got shape {format_shape(y.shape)}")
        if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)):
            raise ValueError(f"{self.name}: labels must be integer class ids, got {y.dtype} values")
        if y.size and (y.min() < 0 or y.max() >= classes):
            raise ValueError(f"{self.name}: labels must lie in [0, {classes}) for {classes} output units, "
                             f"got values in [{y.min():g}, {y.max():g}]")
        return y.astype(np.int64)


@LOSSES.register("binary_crossentropy")
class BinaryCrossentropy(ProbabilityLabels):
    """On probabilities (a sigmoid's, clipped to [1e-7, 1 - 1e-7]) or, ``from_logits``, on the logits
    before it, where a large logit costs no precision (ops.loss.binary_cross_entropy_terms)."""

    KIND = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        super().__init__(name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = check_number(name, "label_smoothing", label_smoothing, 0, 1)

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        return get_backend().binary_cross_entropy(y_pred, y_true, self.from_logits)

    def uniform_label(self, classes):
        return 0.5

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


@LOSSES.register("binary_focal_crossentropy")
class BinaryFocalCrossentropy(BinaryCrossentropy):
    """The binary cross-entropy times (1 - p_t)^gamma, p_t the probability given to the label, so that
    confident right answers count little (Lin et al.); with ``apply_class_balancing``, times ``alpha``
    where the label is 1 and 1 - alpha where it is 0 (ops.loss.focal_terms)."""

    KIND = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 name="binary_focal_crossentropy"):
        super().__init__(from_logits, label_smoothing, name)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = check_number(name, "alpha", alpha, 0, 1), check_number(name, "gamma", gamma, 0)

    @property
    def focal(self):
        """(gamma, the weight where the label is 1, where it is 0)."""
        balanced = self.apply_class_balancing
        return self.gamma, self.alpha if balanced else 1.0, 1 - self.alpha if balanced else 1.0

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        return get_backend().binary_focal_cross_entropy(y_pred, y_true, *self.focal, self.from_logits)

    def sample_losses(self, y_true, y_pred, logits=False):
        return get_backend().sample_losses(self.KIND, y_pred, y_true, self.from_logits, focal=self.focal)

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


@LOSSES.register("mean_squared_error", "mse")
class MeanSquaredError(Loss):
    KIND = "mean_squared_error"

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        return get_backend().mean_squared_error(y_pred, y_true)


@LOSSES.register("mean_absolute_error", "mae")
class MeanAbsoluteError(Loss):
    KIND = "mean_absolute_error"

    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        return get_backend().mean_absolute_error(y_pred, y_true)


@LOSSES.register("huber")
class Huber(Loss):
    """(y_pred - y_true)^2 / 2 where within ``delta``, a straight line of slope delta beyond."""

    KIND = "huber"

    def __init__(self, delta=1.0, name="huber_loss"):
        super().__init__(name)
        if not isinstance(delta, (int, float)) or isinstance(delta, bool) or not delta > 0:
            raise ValueError(f"{name}: delta must be a number > 0, got {delta!r}")
        self.delta = float(delta)

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        return get_backend().huber(y_pred, y_true, self.delta)

    def sample_losses(self, y_true, y_pred, logits=False):
        return get_backend().sample_losses(self.KIND, y_pred, y_true, delta=self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class ElementwiseLoss(Loss):
    """Keras's other losses whose terms take each element alone (``KIND``: one of
    ops.loss.ELEMENTWISE_KINDS), the mean over every element (the KL divergence: the sum over the last
    axis, its mean over the rest)."""

    def rows_value_and_gradient(self, y_true, y_pred, logits):
        return get_backend().elementwise_loss(self.KIND, y_pred, y_true)


@LOSSES.register("hinge")
class Hinge(ElementwiseLoss):
    """max(1 - y_true y_pred, 0), labels -1 or 1 (0/1 labels are taken as -1/1, as Keras takes them)."""

    KIND = "hinge"

    def __init__(self, name="hinge"):
        super().__init__(name)

    def loss_labels(self, y_true, y_pred):
        return hinge_labels(y_true.astype(y_pred.dtype, copy=False))


@LOSSES.register("squared_hinge")
class SquaredHinge(Hinge):
    KIND = "squared_hinge"

    def __init__(self, name="squared_hinge"):
        super().__init__(name)


@LOSSES.register("log_cosh")
class LogCosh(ElementwiseLoss):
    """log(cosh(y_pred - y_true)): the square's half near 0, a straight line of slope 1 far out."""

    KIND = "log_cosh"

    def __init__(self, name="log_cosh"):
        super().__init__(name)


@LOSSES.register("poisson")
class Poisson(ElementwiseLoss):
    """y_pred - y_true log(y_pred + 1e-7): the negative log-likelihood of counts y_true at rates y_pred
    (less its constant)."""

    KIND = "poisson"

    def __init__(self, name="poisson"):
        super().__init__(name)


@LOSSES.register("kl_divergence", "kld")
class KLDivergence(ProbabilityLabels, ElementwiseLoss):
    """sum(y_true log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]: how far the
    predicted distribution is from the labels' (distillation's loss)."""

    KIND = "kl_divergence"

    def __init__(self, name="kl_divergence"):
        super().__init__(name)


@LOSSES.register("mean_absolute_percentage_error", "mape")
class MeanAbsolutePercentageError(ElementwiseLoss):
    """100 |y_true - y_pred| / max(|y_true|, 1e-7): the error as a percentage of the label."""

    KIND = "absolute_percentage_error"

    def __init__(self, name="mean_absolute_percentage_error"):
        super().__init__(name)


@LOSSES.register("mean_squared_logarithmic_error", "msle")
class MeanSquaredLogarithmicError(ElementwiseLoss):
    """(log(y_pred + 1) - log(y_true + 1))^2, each floored at 1e-7 first: a relative error for targets
    spanning magnitudes."""

    KIND = "squared_log_error"

    def __init__(self, name="mean_squared_logarithmic_error"):
        super().__init__(name)


def get(identifier):
    """A loss from a name ('categorical_crossentropy', 'mse', ...), a config dict or an instance."""
    return LOSSES.get(identifier)
