"""Losses with their gradients, reduced as Keras reduces them (the mean over the batch).

Each function returns ``(loss, grad)``: the loss as a 0-d array of the prediction's dtype and its
gradient with respect to the prediction. Labels are one-hot (or, with ``sparse``, integer class ids
of shape (N,) or (N, 1)) for the categorical losses, and of the prediction's shape otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, current_device, resolve_backend
from cnn_gpu.ops.common import C_TYPES, WARP, array_module, ceil_div, check_float, check_ndim, check_shape, dtype_name
from cnn_gpu.ops.gemm_plans import split_k_workspace

# Keras's backend.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON] before the log.
EPSILON = 1e-7


def class_ids(labels, classes):
    """Integer class ids (N,) or (N, 1) as a vector (N,), once every id is known to lie in [0, classes).

    On a GPU the range check costs a pass over the ids and a device-to-host sync, once per training
    step, for an error raised where the bad labels are passed rather than a wrong loss without a sign.
    """
    if getattr(labels, "ndim", None) == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if getattr(labels, "ndim", None) != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"sparse labels must be integer class ids of shape (N,), got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {getattr(labels, 'shape', None)}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(f"sparse labels must lie in [0, {classes}), got [{int(labels.min())}, {int(labels.max())}]")
    return labels


def one_hot(labels, classes, dtype):
    """Integer class ids (N,) or (N, 1) as an (N, classes) one-hot array; out-of-range ids fail."""
    xp = array_module(labels)
    labels = class_ids(labels, classes)
    out = xp.zeros((labels.shape[0], classes), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels] = 1
    return out


def _categorical_labels(pred, labels, sparse):
    """Check a 2-D prediction against its labels and return the labels as one-hot in pred's dtype."""
    check_float(pred, "y_pred")
    check_ndim(pred, 2, "y_pred", "(batch, classes)")
    if sparse:
        labels = one_hot(labels, pred.shape[1], pred.dtype)
    if labels.shape != pred.shape:
        raise ValueError(f"labels must have y_pred's shape {tuple(pred.shape)}, got {tuple(labels.shape)}")
    return labels.astype(pred.dtype, copy=False)


def _matching_labels(pred, labels):
    check_float(pred, "y_pred")
    if labels.shape != pred.shape:
        raise ValueError(f"labels must have y_pred's shape {tuple(pred.shape)}, got {tuple(labels.shape)}")
    return labels.astype(pred.dtype, copy=False)


def log_softmax(logits):
    """log(softmax(logits)) over the last axis by log-sum-exp: no exponent is ever positive."""
    xp = array_module(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits, labels, sparse=False):
    """Cross-entropy of softmax(logits), fused so that the gradient is (softmax - labels) / N."""
    xp = array_module(logits)
    labels = _categorical_labels(logits, labels, sparse)
    n = logits.shape[0]
    log_probs = log_softmax(logits)
    loss = -(labels * log_probs).sum() / n
    return xp.asarray(loss), (xp.exp(log_probs) - labels) / n


def categorical_cross_entropy(probs, labels, sparse=False):
    """Keras's cross-entropy on probabilities: rows renormalised to sum 1, clipped, then -sum(t log p)."""
    xp = array_module(probs)
    labels = _categorical_labels(probs, labels, sparse)
    n = probs.shape[0]
    total = probs.sum(axis=-1, keepdims=True)
    normalised = probs / total
    clipped = xp.clip(normalised, EPSILON, 1 - EPSILON)
    loss = -(labels * xp.log(clipped)).sum() / n
    # Back through the clip (zero where it clamps), then through p / sum(p).
    dq = -labels / clipped * ((normalised >= EPSILON) & (normalised <= 1 - EPSILON)) / n
    dp = (dq - (dq * normalised).sum(axis=-1, keepdims=True)) / total
    return xp.asarray(loss), dp


def binary_cross_entropy(probs, labels, from_logits=False):
    """Keras's binary cross-entropy on probabilities (clipped), the mean over every element; with
    ``from_logits``, on logits (binary_cross_entropy_terms)."""
    xp = array_module(probs)
    labels = _matching_labels(probs, labels)
    terms, sigmoid = binary_cross_entropy_terms(probs, labels, from_logits)
    if from_logits:
        grad = (sigmoid - labels) / probs.size
    else:  # back through the clip, zero where it clamps
        clipped = xp.clip(probs, EPSILON, 1 - EPSILON)
        inside = (probs >= EPSILON) & (probs <= 1 - EPSILON)
        grad = (clipped - labels) / (clipped * (1 - clipped)) * inside / probs.size
    return xp.asarray(terms.mean()), grad


def binary_cross_entropy_terms(pred, labels, from_logits):
    """Each element's binary cross-entropy term, and (on logits) sigmoid(pred). On logits x, Keras's
    -t log sigmoid(x) - (1 - t) log sigmoid(-x) is softplus(x) - t x, formed as max(x, 0) - t x +
    log1p(e^-|x|): the one exponent is never positive, so no logit overflows, and sigmoid(x) is
    1 / (1 + e) or e / (1 + e) with the same e. On probabilities, clipped to [EPSILON, 1 - EPSILON]."""
    xp = array_module(pred)
    if not from_logits:
        clipped = xp.clip(pred, EPSILON, 1 - EPSILON)
        return -(labels * xp.log(clipped) + (1 - labels) * xp.log(1 - clipped)), None
    e = xp.exp(-abs(pred))
    return xp.maximum(pred, 0) - pred * labels + xp.log1p(e), xp.where(pred >= 0, 1, e) / (1 + e)


def binary_focal_cross_entropy(pred, labels, gamma=2.0, positive_weight=1.0, negative_weight=1.0, from_logits=False):
    """Keras's binary focal cross-entropy (Lin et al., "Focal Loss for Dense Object Detection"), the mean
    over every element of focal_terms; on probabilities, or on logits with ``from_logits``."""
    xp = array_module(pred)
    labels = _matching_labels(pred, labels)
    terms, derivative = focal_terms(pred, labels, gamma, positive_weight, negative_weight, from_logits)
    return xp.asarray(terms.mean()), derivative * (1 / pred.size) if pred.size else derivative


def focal_terms(pred, labels, gamma, positive_weight, negative_weight, from_logits):
    """``(terms, d terms / d pred)``: each element's binary cross-entropy (of the probability clipped to
    [EPSILON, 1 - EPSILON]) times (1 - p_t)^gamma, p_t = t p + (1 - t)(1 - p) the probability given to
    the label, times the label's weight, negative_weight + t (positive_weight - negative_weight) (Keras's
    class balancing: alpha and 1 - alpha). On logits, p = sigmoid(pred) and the derivative goes on
    through p (1 - p)."""
    xp = array_module(pred)
    prob = 1 / (1 + xp.exp(-pred)) if from_logits else pred
    clipped = xp.clip(prob, EPSILON, 1 - EPSILON)
    inside = (prob >= EPSILON) & (prob <= 1 - EPSILON)
    bce = -(labels * xp.log(clipped) + (1 - labels) * xp.log(1 - clipped))
    miss = 1 - (labels * prob + (1 - labels) * (1 - prob))
    focus = miss**gamma
    d_focus = 0 if gamma == 0 else gamma * miss ** (gamma - 1) * (1 - 2 * labels)  # 0 at gamma 0, even at miss 0
    weight = negative_weight + labels * (positive_weight - negative_weight)
    d_prob = weight * (d_focus * bce + focus * ((clipped - labels) / (clipped * (1 - clipped)) * inside))
    return weight * (focus * bce), d_prob * (prob * (1 - prob)) if from_logits else d_prob


def mean_squared_error(pred, target):
    """mean((pred - target)^2) over every element, as Keras's mean over the last axis, then the batch."""
    xp = array_module(pred)
    target = _matching_labels(pred, target)
    diff = pred - target
    return xp.asarray((diff * diff).mean()), diff * (2 / pred.size)


def mean_absolute_error(pred, target):
    """mean(|pred - target|) over every element; the gradient sign(pred - target) / n (0 where they
    are equal, as jax's)."""
    xp = array_module(pred)
    target = _matching_labels(pred, target)
    diff = pred - target
    return xp.asarray(xp.abs(diff).mean()), xp.sign(diff) * (1 / pred.size)


def huber(pred, target, delta=1.0):
    """Keras's Huber loss over every element: (pred - target)^2 / 2 where |pred - target| <= delta,
    delta |pred - target| - delta^2 / 2 beyond (a straight line, its slope delta), their mean."""
    xp = array_module(pred)
    target = _matching_labels(pred, target)
    diff = pred - target
    size, inside = abs(diff), abs(diff) <= delta
    terms = xp.where(inside, 0.5 * diff * diff, delta * size - 0.5 * delta * delta)
    return xp.asarray(terms.mean()), xp.where(inside, diff, delta * xp.sign(diff)) * (1 / pred.size)


# Keras's other losses whose terms take each element alone: by name, each element's term and its derivative
# to the prediction, given (pred, target), as elementwise_terms forms them.
ELEMENTWISE_KINDS = ("hinge", "squared_hinge", "log_cosh", "poisson", "kl_divergence", "absolute_percentage_error",
                     "squared_log_error")


def hinge_labels(target):
    """Keras's hinge labels: 0/1 labels (every one 0 or 1) become -1/1; any others are kept as they are."""
    xp = array_module(target)
    return 2 * target - 1 if bool(xp.all((target == 0) | (target == 1))) else target


def elementwise_terms(kind, pred, target):
    """``(terms, d terms / d pred)`` of loss ``kind`` (ELEMENTWISE_KINDS), element by element:
    hinge max(1 - t p, 0) and its square (labels of -1 or 1: hinge_labels); log-cosh of d = p - t as
    Keras forms it, d + softplus(-2d) - log 2 (softplus with no positive exponent), its derivative
    tanh(d); Poisson's p - t log(p + EPSILON); the KL divergence t log(t / p) of both clipped to
    [EPSILON, 1], its derivative zero where p's clip clamps; the absolute percentage error
    100 |t - p| / max(|t|, EPSILON); the squared logarithmic error (log(max(p, EPSILON) + 1) -
    log(max(t, EPSILON) + 1))^2, its derivative zero where p's floor holds."""
    xp = array_module(pred)
    if kind in ("hinge", "squared_hinge"):
        margin = 1 - target * pred
        positive = xp.maximum(margin, 0)
        if kind == "hinge":
            return positive, xp.where(margin > 0, -target, 0)
        return positive * positive, -2 * target * positive
    if kind == "log_cosh":
        diff = pred - target
        z = -2 * diff
        return diff + (xp.maximum(z, 0) + xp.log1p(xp.exp(-abs(z)))) - math.log(2), xp.tanh(diff)
    if kind == "poisson":
        shifted = pred + EPSILON
        return pred - target * xp.log(shifted), 1 - target / shifted
    if kind == "kl_divergence":
        clipped_target, clipped = xp.clip(target, EPSILON, 1), xp.clip(pred, EPSILON, 1)
        inside = (pred >= EPSILON) & (pred <= 1)
        return clipped_target * xp.log(clipped_target / clipped), -clipped_target / clipped * inside
    if kind == "absolute_percentage_error":
        denominator = xp.maximum(abs(target), EPSILON)
        diff = (target - pred) / denominator
        return 100 * abs(diff), -100 * xp.sign(diff) / denominator
    if kind == "squared_log_error":
        shifted = xp.maximum(pred, EPSILON) + 1
        diff = xp.log(shifted) - xp.log(xp.maximum(target, EPSILON) + 1)
        return diff * diff, 2 * diff / shifted * (pred >= EPSILON)
    raise ValueError(f"unknown element-wise loss {kind!r}: one of {', '.join(ELEMENTWISE_KINDS)}")


def terms_per_loss(kind, pred):
    """How many terms each loss value averages: the KL divergence sums over the last axis (its mean is
    over the rows); the others average every element."""
    return pred.shape[-1] if kind == "kl_divergence" and pred.ndim else 1


def elementwise_loss(kind, pred, target):
    """``(loss, grad)`` of loss ``kind`` (ELEMENTWISE_KINDS): the mean of its terms over every element
    (the KL divergence: their sum over the last axis, averaged over the rows); labels of pred's shape."""
    xp = array_module(pred)
    target = _matching_labels(pred, target)
    terms, derivative = elementwise_terms(kind, pred, target)
    count = pred.size // terms_per_loss(kind, pred)
    return xp.asarray(terms.sum() / count if kind == "kl_divergence" else terms.mean()), derivative * (1 / count)


def sample_losses(kind, pred, labels, logits=False, sparse=False, delta=1.0, focal=None):
    """Each sample's loss, (N,), of a 2-D (N, classes) prediction: what the losses above average. For
    a weighted mean (Keras's sample and class weights) and the regression metrics, the one place a
    loss is needed row by row: ``kind`` is "crossentropy" (on logits with ``logits``, with class ids
    if ``sparse``), "binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber" (at
    ``delta``), "binary_focal_crossentropy" (``focal``: its gamma, positive and negative weights) or one
    of ELEMENTWISE_KINDS (each the mean over a sample's last axis; the KL divergence, the sum)."""
    xp = array_module(pred)
    if kind == "crossentropy":
        labels = _categorical_labels(pred, labels, sparse)
        if logits:
            return -(labels * log_softmax(pred)).sum(axis=-1)
        clipped = xp.clip(pred / pred.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
        return -(labels * xp.log(clipped)).sum(axis=-1)
    labels = _matching_labels(pred, labels)
    if kind == "binary_crossentropy":
        return binary_cross_entropy_terms(pred, labels, logits)[0].reshape(len(pred), -1).mean(axis=1)
    if kind == "binary_focal_crossentropy":
        return focal_terms(pred, labels, *focal, logits)[0].reshape(len(pred), -1).mean(axis=1)
    diff = (pred - labels).reshape(len(pred), -1)
    if kind == "mean_squared_error":
        return (diff ** 2).mean(axis=1)
    if kind == "mean_absolute_error":
        return abs(diff).mean(axis=1)
    if kind == "huber":
        return xp.where(abs(diff) <= delta, 0.5 * diff * diff, delta * abs(diff) - 0.5 * delta * delta).mean(axis=1)
    if kind in ELEMENTWISE_KINDS:
        terms = elementwise_terms(kind, pred, labels)[0].reshape(len(pred), -1)
        return terms.sum(axis=1) / (terms.shape[1] // terms_per_loss(kind, pred))
    raise ValueError(f"unknown loss kind {kind!r}")


# --- kernels: kernels/loss.cu ---------------------------------------------------------------------
# A softmax cross-entropy kernel writes each row's gradient and loss, then loss_mean averages the row
# losses into the 0-d loss. Labels are the logits' dtype (one-hot) or int32 ids. The element-wise
# losses (binary cross-entropy on probabilities or logits, mean squared and absolute errors, Huber's)
# write each element's gradient and each block's sum of loss terms, which loss_mean averages over the
# elements. The cross-entropy on probabilities (probs_xent_warp_per_row) writes row losses, as the
# softmax cross-entropy does.

XENT_VARIANTS = ("row_per_thread", "warp_per_row", "warp_per_row_registers")
_BLOCK = 256  # XENT_BLOCK of loss.cu: every kernel runs 256-thread blocks


def _xent_params(dtype, sparse):
    labels = Array("labels", "int32", ndim=1) if sparse else Array("labels", dtype, ndim=2)
    return [Array("logits", dtype, ndim=2), labels, Array("grad", dtype, ndim=2), Array("row_loss", dtype, ndim=1),
            Scalar("rows", "int32"), Scalar("classes", "int32")]


XENT_KERNELS = {
    (variant, dtype, sparse): Kernel("loss.cu", f"softmax_xent_{variant}<{ctype}, {'int' if sparse else ctype}>",
                                     _xent_params(dtype, sparse))
    for variant in XENT_VARIANTS for dtype, ctype in C_TYPES.items() for sparse in (False, True)
}
PROBS_XENT_KERNELS = {
    (dtype, sparse): Kernel("loss.cu", f"probs_xent_warp_per_row<{ctype}, {'int' if sparse else ctype}>",
                            [Array("probs", dtype, ndim=2), *_xent_params(dtype, sparse)[1:],
                             Scalar("lo", dtype), Scalar("hi", dtype)])
    for dtype, ctype in C_TYPES.items() for sparse in (False, True)
}
MEAN_KERNELS = {
    dtype: Kernel("loss.cu", f"loss_mean<{ctype}>",
                  [Array("terms", dtype, ndim=1), Array("loss", dtype, ndim=0), Scalar("count", "int32"),
                   Scalar("divisor", dtype)])
    for dtype, ctype in C_TYPES.items()
}
ELEMENTWISE_LOSSES = ("binary_xent", "binary_xent_logits", "squared_error", "absolute_error", "huber",
                      *ELEMENTWISE_KINDS, "focal_xent", "focal_xent_logits")
ELEMENTWISE_KERNELS = {
    (kind, dtype): Kernel("loss.cu", f"elementwise_loss<Loss::{kind}, {ctype}>",
                          [Array("pred", dtype), Array("target", dtype), Array("grad", dtype),
                           Array("partial", dtype, ndim=1), Scalar("n", "int64"),
                           *(Scalar(name, dtype) for name in ("lo", "hi", "elements", "scale", "delta",
                                                              "weight_positive", "weight_negative"))])
    for kind in ELEMENTWISE_LOSSES for dtype, ctype in C_TYPES.items()
}
_MAX_LOSS_BLOCKS = 1024  # the element-wise losses' grid-stride loops: enough blocks, and few sums for loss_mean


def softmax_cross_entropy_kernel(logits, labels, sparse=False, variant="warp_per_row", grad=None, row_loss=None,
                                 loss=None, backend=None):
    """``(loss, grad)`` as softmax_cross_entropy, by kernel ``softmax_xent_<variant>``, grad into ``grad`` if given.

    ``loss`` is a 0-d array of the logits' dtype. One-hot ``labels`` must have the logits' shape and
    dtype (no conversion: a hidden copy of a whole matrix per call); sparse ones are integer class ids
    (N,) or (N, 1) in [0, classes), converted to int32 when they are not already.
    """
    if variant not in XENT_VARIANTS:
        raise ValueError(f"variant must be one of {XENT_VARIANTS}, got {variant!r}")
    rows_per_block = _BLOCK if variant == "row_per_thread" else _BLOCK // WARP
    return _row_loss_kernel(lambda dtype: XENT_KERNELS[variant, dtype, sparse], "logits", logits, labels, sparse,
                            rows_per_block, (), grad, row_loss, loss, backend)


def categorical_cross_entropy_kernel(probs, labels, sparse=False, grad=None, row_loss=None, loss=None, backend=None):
    """``(loss, grad)`` as categorical_cross_entropy (on probabilities), by kernel probs_xent_warp_per_row;
    the arguments as softmax_cross_entropy_kernel's."""
    return _row_loss_kernel(lambda dtype: PROBS_XENT_KERNELS[dtype, sparse], "probs", probs, labels, sparse,
                            _BLOCK // WARP, (EPSILON, 1 - EPSILON), grad, row_loss, loss, backend)


def _row_loss_kernel(kernel_for, name, pred, labels, sparse, rows_per_block, scalars, grad, row_loss, loss, backend):
    """A row-wise loss kernel (``kernel_for(dtype name)``) on (batch, classes) ``pred``, named ``name`` in
    errors, then loss_mean: the checks, the labels' form and the outputs both cross-entropies share."""
    check_float(pred, name)
    check_ndim(pred, 2, name, "(batch, classes)")
    rows, classes = pred.shape
    if rows == 0 or classes == 0:
        raise ValueError(f"{name} need at least one row and one class, got shape {tuple(pred.shape)}")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    if sparse:
        # Checked before the int32 conversion, which would wrap an int64 id of 2^32 to 0.
        labels = check_shape(class_ids(labels, classes), (rows,), "sparse labels", f"the {name}' batch")
        labels = xp.ascontiguousarray(labels.astype(np.int32, copy=False))
    else:
        check_shape(labels, pred.shape, "labels", f"the {name}' shape")
        if labels.dtype != pred.dtype:
            raise TypeError(f"one-hot labels must have the {name}' dtype {pred.dtype}, got {labels.dtype}")
    if grad is None:
        grad = xp.empty(pred.shape, dtype=pred.dtype)
    check_shape(grad, pred.shape, "grad", f"the {name}' shape")
    # The per-row losses and the 0-d loss, made here unless given (a CUDA graph of these calls must
    # not allocate: benchmarks/loss.py gives them). The per-row losses live until loss_mean's launch:
    # a workspace kept for the process.
    row_loss = (split_k_workspace(backend, current_device(backend), rows, dtype_name(pred), owner="row losses")
                if row_loss is None else check_shape(row_loss, (rows,), "row_loss"))
    loss = xp.empty((), dtype=pred.dtype) if loss is None else check_shape(loss, (), "loss")
    as_t = pred.dtype.type
    arguments = (pred, labels, grad, row_loss, rows, classes, *(as_t(v) for v in scalars))
    kernel_for(dtype_name(pred))((ceil_div(rows, rows_per_block),), (_BLOCK,), arguments, backend=backend)
    MEAN_KERNELS[dtype_name(pred)]((1,), (_BLOCK,), (row_loss, loss, rows, as_t(rows)), backend=backend)
    return loss, grad


def _elementwise_loss_kernel(kind, pred, target, scalars, grad, loss, backend, per_loss=1, weights=(1, 1)):
    """``(loss, grad)`` of element-wise loss ``kind`` by elementwise_loss and loss_mean, the terms' sum
    divided by pred.size / per_loss; ``scalars`` (lo, hi, elements, scale, delta) and the focal loss's
    ``weights`` as the kernel takes them; ``target`` is cast to pred's dtype (a copy where it differs),
    as the reference casts it."""
    check_float(pred, "y_pred")
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"labels must have y_pred's shape {tuple(pred.shape)}, got {tuple(target.shape)}")
    if pred.size == 0:
        raise ValueError("the loss of an empty batch is undefined (the reference's mean of nothing is NaN)")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    target = xp.ascontiguousarray(target.astype(pred.dtype, copy=False))
    grad = xp.empty(pred.shape, dtype=pred.dtype) if grad is None else check_shape(grad, tuple(pred.shape), "grad")
    loss = xp.empty((), dtype=pred.dtype) if loss is None else check_shape(loss, (), "loss")
    n, blocks = pred.size, min(ceil_div(pred.size, _BLOCK), _MAX_LOSS_BLOCKS)
    partial = xp.empty(blocks, dtype=pred.dtype)
    as_t = pred.dtype.type
    ELEMENTWISE_KERNELS[kind, dtype_name(pred)]((blocks,), (_BLOCK,), (pred, target, grad, partial, n,
                                                                     *(as_t(v) for v in (*scalars, *weights))),
                                                backend=backend)
    MEAN_KERNELS[dtype_name(pred)]((1,), (_BLOCK,), (partial, loss, blocks, as_t(n // per_loss)), backend=backend)
    return loss, grad


def elementwise_loss_kernel(kind, pred, target, grad=None, loss=None, backend=None):
    """``(loss, grad)`` as elementwise_loss(kind, ...), by kernels/loss.cu's elementwise_loss; hinge
    labels as given (the backend turns 0/1 ones into -1/1 first, as the loss does)."""
    if kind not in ELEMENTWISE_KINDS:
        raise ValueError(f"unknown element-wise loss {kind!r}: one of {', '.join(ELEMENTWISE_KINDS)}")
    per_loss = terms_per_loss(kind, pred)
    # lo, hi (EPSILON and 1: Poisson's shift, the divergence's clip, the errors' floor), elements, scale, delta.
    scalars = (EPSILON, 1, pred.size, _per_element(pred, per_loss), 0)
    return _elementwise_loss_kernel(kind, pred, target, scalars, grad, loss, backend, per_loss)


def binary_cross_entropy_kernel(probs, labels, from_logits=False, grad=None, loss=None, backend=None):
    """``(loss, grad)`` as binary_cross_entropy (on logits with ``from_logits``), by kernels/loss.cu's
    elementwise_loss."""
    # lo, hi, elements, scale, delta as the reference rounds them to pred's dtype (NumPy's weak Python scalars).
    scalars = (EPSILON, 1 - EPSILON, probs.size, 0, 0)
    kind = "binary_xent_logits" if from_logits else "binary_xent"
    return _elementwise_loss_kernel(kind, probs, labels, scalars, grad, loss, backend)


def binary_focal_cross_entropy_kernel(pred, labels, gamma=2.0, positive_weight=1.0, negative_weight=1.0,
                                      from_logits=False, grad=None, loss=None, backend=None):
    """``(loss, grad)`` as binary_focal_cross_entropy, by kernels/loss.cu's elementwise_loss."""
    kind = "focal_xent_logits" if from_logits else "focal_xent"
    return _elementwise_loss_kernel(kind, pred, labels, (EPSILON, 1 - EPSILON, pred.size, _per_element(pred, 1), gamma),
                                    grad, loss, backend, weights=(positive_weight, negative_weight))


def _per_element(pred, numerator):
    """``numerator / n`` of the gradients below (0 for an empty pred, which the wrapper refuses)."""
    return numerator / pred.size if pred.size else 0


def mean_squared_error_kernel(pred, target, grad=None, loss=None, backend=None):
    """``(loss, grad)`` as mean_squared_error, by kernels/loss.cu's elementwise_loss."""
    return _elementwise_loss_kernel("squared_error", pred, target, (0, 0, pred.size, _per_element(pred, 2), 0),
                                    grad, loss, backend)


def mean_absolute_error_kernel(pred, target, grad=None, loss=None, backend=None):
    """``(loss, grad)`` as mean_absolute_error, by kernels/loss.cu's elementwise_loss."""
    return _elementwise_loss_kernel("absolute_error", pred, target, (0, 0, pred.size, _per_element(pred, 1), 0),
                                    grad, loss, backend)


def huber_kernel(pred, target, delta=1.0, grad=None, loss=None, backend=None):
    """``(loss, grad)`` as huber, by kernels/loss.cu's elementwise_loss."""
    return _elementwise_loss_kernel("huber", pred, target, (0, 0, pred.size, _per_element(pred, 1), delta),
                                    grad, loss, backend)
