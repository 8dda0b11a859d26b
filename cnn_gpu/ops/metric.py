"""What Keras's accuracies count: how many predictions match their labels, batch by batch (and, for
the top-k accuracies, how many true classes are among the k highest scores; for precision and
recall, the true, predicted and actual positives; for the AUC, the positives at many thresholds:
array operations on either module, no kernel of ours)."""

from __future__ import annotations

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, resolve_backend
from cnn_gpu.ops.common import C_TYPES, WARP, array_module, ceil_div, check_float, check_ndim, check_shape, dtype_name
from cnn_gpu.ops.loss import class_ids


def count_correct(pred, labels, kind, threshold=0.5):
    """How many predictions match their labels, as a 0-d integer array.

    ``kind`` is ``categorical`` (argmax of pred == argmax of one-hot labels), ``sparse`` (argmax of
    pred == integer label, labels (N,) or (N, 1)) or ``binary`` (``pred > threshold`` == label,
    counted element by element).
    """
    if kind == "binary":
        return ((pred > threshold) == labels).sum()
    predicted = pred.argmax(axis=-1)
    expected = labels.reshape(-1) if kind == "sparse" else labels.argmax(axis=-1)
    return (predicted == expected).sum()


def count_in_top_k(pred, labels, k, sparse):
    """How many rows' true class is among their ``k`` highest scores, as a 0-d integer array: a class
    is in when fewer than k classes score strictly higher (so ties with the k-th count in, and a NaN
    score at the true class counts as lowest), as Keras's in_top_k. ``labels`` one-hot, or class ids
    (N,) if ``sparse``."""
    xp = array_module(pred)
    target = labels.reshape(-1).astype(np.int64) if sparse else labels.argmax(axis=-1)
    at_target = xp.take_along_axis(pred, target[:, None], axis=-1)
    at_target = xp.where(xp.isnan(at_target), -xp.inf, at_target)
    return ((pred > at_target).sum(axis=-1) < k).sum()


def confusion_counts(pred, labels, threshold=0.5):
    """``[true positives, predicted positives, actual positives]`` over every element, an int64 array
    of 3: an element predicted positive where ``pred > threshold`` (a NaN never is), actually positive
    where its label is nonzero, as Keras's confusion metrics count (precision is the first over the
    second, recall the first over the third)."""
    xp = array_module(pred)
    predicted, actual = pred > threshold, labels != 0
    return xp.stack([(predicted & actual).sum(), predicted.sum(), actual.sum()]).astype(np.int64)


def threshold_counts(pred, labels, thresholds, from_logits=False):
    """``[true positives, false positives]`` at each of ``thresholds`` evenly spaced thresholds, Keras's
    AUC's: -epsilon, 1 / (thresholds - 1), ..., 1 + epsilon, an int64 array (2, thresholds). As Keras
    counts them when they are evenly spaced: each prediction (a sigmoid's of a logit, with
    ``from_logits``), clipped to [0, 1], falls in bucket ceil(p (thresholds - 1)) - 1 (0 at least; a NaN
    in bucket 0), and is positive at every threshold up to its bucket's; a label is positive where it
    is nonzero. Bucket counts by bincount, then summed from the top down: O(n + thresholds)."""
    xp = array_module(pred)
    pred, actual = pred.reshape(-1), labels.reshape(-1) != 0
    if from_logits:
        pred = 1 / (1 + xp.exp(-pred))
    buckets = xp.ceil(xp.clip(pred, 0, 1) * (thresholds - 1)) - 1
    buckets = xp.where(buckets > 0, buckets, 0).astype(np.int64)  # a NaN compares false: bucket 0
    counts = [xp.bincount(buckets[side], minlength=thresholds) for side in (actual, ~actual)]
    return xp.stack([c[::-1].cumsum()[::-1] for c in counts]).astype(np.int64)


# --- kernels: kernels/metric.cu -------------------------------------------------------------------
# Each kernel adds its blocks' counts to one int32, which the wrapper zeroes first. The argmax kinds
# run rung 1 or 2 on one-hot labels (float32 or float64) or int32 class ids; binary runs rung 3.

KINDS = ("categorical", "sparse", "binary")
ARGMAX_VARIANTS = ("row_per_thread", "warp_per_row")
VARIANTS = {"categorical": ARGMAX_VARIANTS, "sparse": ARGMAX_VARIANTS, "binary": ("binary",)}
# What count_correct_kernel runs when no variant is named: for the argmax kinds the coalesced rung, as
# the loss's wrapper does (no GPU has yet measured which rung is faster at 10 classes).
DEFAULT_VARIANTS = {"categorical": "warp_per_row", "sparse": "warp_per_row", "binary": "binary"}
_BLOCK = 256  # METRIC_BLOCK of metric.cu: every kernel runs 256-thread blocks
# The grids loop over rows or elements, and each block makes one atomicAdd on the one counter: enough
# blocks to fill an H100 (132 SMs x 8 resident 256-thread blocks = 1056), few enough that the atomics
# on one address stay cheap next to the reads (65536 rows a warp each would otherwise be 8192 blocks).
_MAX_BLOCKS = 1024
# rows, classes and n are C ints, and row_argmax steps its column up to 32 past classes.
_LARGEST = 2**31 - 1 - WARP


def _params(dtype, kind, label_dtype):
    """The parameters of kind's kernels: pred, labels, the count, then the sizes (and the threshold)."""
    count = Array("count", "int32", ndim=0)
    if kind == "binary":
        return [Array("pred", dtype), Array("labels", label_dtype), count, Scalar("n", "int32"),
                Scalar("threshold", dtype)]
    labels = Array("labels", label_dtype, ndim=1 if kind == "sparse" else 2)
    return [Array("pred", dtype, ndim=2), labels, count, Scalar("rows", "int32"), Scalar("classes", "int32")]


# The labels' dtypes by kind: class ids as int32; one-hot and binary labels in their own float type,
# as the reference compares them (other numbers arrive as float64, exact for integers up to 2^53).
LABEL_DTYPES = {"categorical": ("float32", "float64"), "sparse": ("int32",), "binary": ("float32", "float64")}
_C_LABEL_TYPES = {**C_TYPES, "int32": "int"}
KERNELS = {
    (kind, variant, dtype, label_dtype): Kernel(
        "metric.cu", f"count_correct_{variant}<{ctype}, {_C_LABEL_TYPES[label_dtype]}>",
        _params(dtype, kind, label_dtype))
    for kind, label_dtypes in LABEL_DTYPES.items() for variant in VARIANTS[kind] for dtype, ctype in C_TYPES.items()
    for label_dtype in label_dtypes
}


def _check_size(value, what):
    if value > _LARGEST:
        raise ValueError(f"the metric kernels take {what} as a C int: {value} is more than {_LARGEST}")


def count_correct_kernel(pred, labels, kind, threshold=0.5, variant=None, count=None, backend=None):
    """``count_correct`` by a kernel of kernels/metric.cu: a 0-d int32 array on the backend's array
    module (``count`` if given, zeroed first), the reference's count.

    ``variant`` is one of VARIANTS[kind] (default DEFAULT_VARIANTS[kind]). ``pred`` is float32 or
    float64: (batch, classes) for categorical and sparse, any shape for binary. One-hot and binary
    ``labels`` have pred's shape and any numeric dtype, compared in their own (float32 or float64;
    other numbers as float64, exact for integers up to 2^53: a copy), as the reference compares them; sparse
    ones are integer class ids (N,) or (N, 1) in [0, classes), converted to int32. The binary
    ``threshold`` is rounded to pred's dtype, as Keras casts it (and as NumPy compares a Python float
    with a float32 array). An empty batch counts 0, with no launch.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    variant = DEFAULT_VARIANTS[kind] if variant is None else variant
    if variant not in VARIANTS[kind]:
        raise ValueError(f"variant must be one of {VARIANTS[kind]} for {kind} counts, got {variant!r}")
    check_float(pred, "pred")
    if kind == "binary":
        _check_size(pred.size, "the element count")
    else:
        check_ndim(pred, 2, "pred", "(batch, classes)")
        if pred.shape[0] and not pred.shape[1]:
            raise ValueError(f"pred needs at least one class to take an argmax, got shape {tuple(pred.shape)}")
        _check_size(pred.shape[0], "the batch")
        _check_size(pred.shape[1], "the classes")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    if kind == "sparse":
        # Checked before the int32 conversion, which would wrap an int64 id of 2^32 to 0.
        labels = check_shape(class_ids(labels, pred.shape[1]), (pred.shape[0],), "sparse labels", "pred's batch")
        labels = xp.ascontiguousarray(labels.astype(np.int32, copy=False))
    else:
        check_shape(labels, tuple(pred.shape), "labels", "pred's shape")  # no broadcasting
        if labels.dtype.kind not in "biuf":
            raise ValueError(f"labels must be numbers, got {labels.dtype}")
        if dtype_name(labels) not in LABEL_DTYPES[kind]:
            labels = labels.astype(np.float64)
    if count is None:
        count = xp.zeros((), dtype=np.int32)
    else:
        check_shape(count, (), "count")
        count.fill(0)
    if pred.size == 0:
        return count
    if kind == "binary":
        blocks, sizes = ceil_div(pred.size, _BLOCK), (pred.size, threshold)
    else:
        blocks, sizes = ceil_div(pred.shape[0], _BLOCK if variant == "row_per_thread" else _BLOCK // WARP), pred.shape
    KERNELS[kind, variant, dtype_name(pred), dtype_name(labels)]((min(blocks, _MAX_BLOCKS),), (_BLOCK,),
                                                                 (pred, labels, count, *sizes), backend=backend)
    return count
