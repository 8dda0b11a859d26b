"""The loss kernels of kernels/loss.cu (the softmax cross-entropy, then the element-wise binary
cross-entropy, mean squared and absolute error, Huber's) against the reference of cnn_gpu.ops.loss.

Separate from test_loss.py (the reference's own tests); same reference, computed in float64.
"""

import functools

import numpy as np
import pytest

from cnn_gpu.backend.kernel_backend import KernelBackend
from cnn_gpu.cuda.errors import KernelArgumentError
from cnn_gpu.cuda.kernel import backend_xp
from cnn_gpu.ops import loss as loss_ops
from cnn_gpu.ops.loss import (XENT_VARIANTS, binary_cross_entropy, binary_cross_entropy_kernel,
                              categorical_cross_entropy, categorical_cross_entropy_kernel, huber, huber_kernel,
                              mean_absolute_error, mean_absolute_error_kernel, mean_squared_error,
                              mean_squared_error_kernel, softmax_cross_entropy, softmax_cross_entropy_kernel)
from helpers import assert_close, on_backend, poisoned, random_array, to_host

# One element; one row; rows fewer and more than a block's 8 warps; fewer classes than lanes; rows
# many times a warp wide; more rows than the batch mean's 256 threads (each sums two); more rows than
# four blocks of rung 1 hold (each of the batch mean's threads sums four or five); the most classes
# rung 6 holds in registers, and one more (it runs rung 2's body then).
SHAPES = [(1, 1), (1, 10), (7, 10), (33, 10), (5, 3), (4, 1000), (300, 10), (1030, 3), (3, 1024), (2, 1025)]
DTYPES = [np.float32, np.float64]
# How the labels reach the kernel: one-hot in the logits' dtype, or class ids of a dtype and shape.
LABELS = ["one_hot", "int32 (N,)", "int64 (N, 1)"]
SPARSE_FORMS = ["int32 (N,)", "int32 (N, 1)", "int64 (N,)", "int64 (N, 1)"]


def make_labels(ids, classes, form, dtype):
    """``(labels, sparse)`` for the kernel: ``ids`` as one-hot of ``dtype`` or as ids of the form named."""
    if form == "one_hot":
        return np.eye(classes, dtype=dtype)[ids], False
    id_dtype, shape = form.split(" ", 1)
    ids = ids.astype(id_dtype)
    return (ids[:, None] if shape == "(N, 1)" else ids), True


def run_kernel(logits, labels, sparse, variant, backend):
    """The kernel's ``(loss, grad)`` on the host, grad poisoned before the launch."""
    grad = on_backend(poisoned(logits.shape, logits.dtype), backend)
    loss, out = softmax_cross_entropy_kernel(on_backend(logits, backend), on_backend(labels, backend), sparse, variant,
                                             grad=grad, backend=backend)
    assert out is grad
    assert isinstance(loss, backend_xp(backend).ndarray) and loss.shape == () and loss.dtype == logits.dtype
    return to_host(loss), to_host(grad)


def reference(logits, ids):
    """The reference's ``(loss, grad)`` in float64."""
    return softmax_cross_entropy(logits.astype(np.float64), ids, sparse=True)


@pytest.mark.parametrize("form", LABELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variant", XENT_VARIANTS)
def test_variant_matches_the_reference(rng, kernel_backend, variant, shape, dtype, form):
    logits = random_array(rng, shape, dtype, -4, 4)
    ids = rng.integers(0, shape[1], size=shape[0])
    labels, sparse = make_labels(ids, shape[1], form, dtype)
    loss, grad = run_kernel(logits, labels, sparse, variant, kernel_backend)
    ref_loss, ref_grad = reference(logits, ids)
    assert_close(loss, ref_loss, what=f"{variant} loss")
    assert_close(grad, ref_grad, what=f"{variant} grad")


@pytest.mark.parametrize("form", SPARSE_FORMS)
def test_every_sparse_form_gives_the_one_hot_result(rng, kernel_backend, form):
    logits = random_array(rng, (33, 10), np.float32, -4, 4)
    ids = rng.integers(0, 10, size=33)
    labels, _ = make_labels(ids, 10, form, np.float32)
    one_hot, _ = make_labels(ids, 10, "one_hot", np.float32)
    for variant in XENT_VARIANTS:
        sparse_loss, sparse_grad = run_kernel(logits, labels, True, variant, kernel_backend)
        loss, grad = run_kernel(logits, one_hot, False, variant, kernel_backend)
        # The same arithmetic on the same values: a sparse label is read as the one-hot 0 or 1.
        assert sparse_loss == loss and np.array_equal(sparse_grad, grad), f"{variant} {form}"


# e^x overflows float32 above 88.7 and float64 above 709.8: 80 and 700 come near, 100 and 750 pass it,
# where only the subtracted maximum keeps the loss and the gradient finite; e^(-2 x) underflows to 0.
@pytest.mark.parametrize("dtype,magnitude", [(np.float32, 80.0), (np.float32, 100.0), (np.float64, 700.0),
                                             (np.float64, 750.0)])
@pytest.mark.parametrize("variant", XENT_VARIANTS)
def test_large_logits_stay_finite(rng, kernel_backend, variant, dtype, magnitude):
    shape = (33, 40)
    logits = (rng.choice([-magnitude, magnitude], size=shape) + random_array(rng, shape, np.float64)).astype(dtype)
    ids = rng.integers(0, shape[1], size=shape[0])
    loss, grad = run_kernel(logits, ids, True, variant, kernel_backend)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    ref_loss, ref_grad = reference(logits, ids)
    assert_close(loss, ref_loss, what="loss")
    assert_close(grad, ref_grad, what="grad")


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", XENT_VARIANTS)
def test_a_nan_logit_makes_the_loss_and_its_row_of_the_gradient_nan(rng, kernel_backend, variant, dtype, sparse):
    logits = random_array(rng, (7, 40), dtype, -4, 4)
    logits[3, 35] = np.nan  # lane 3's second element, none of lane 0's: the butterflies must carry it to all
    ids = rng.integers(0, 40, size=7)
    labels, _ = make_labels(ids, 40, "int32 (N,)" if sparse else "one_hot", dtype)
    loss, grad = run_kernel(logits, labels, sparse, variant, kernel_backend)
    assert np.isnan(loss)
    assert np.isnan(grad[3]).all()
    others = np.arange(7) != 3
    assert_close(grad[others], reference(logits, ids)[1][others], what="the other rows' grad")


def test_out_of_range_class_ids_are_refused_before_the_launch(kernel_backend):
    logits = on_backend(np.zeros((3, 10), np.float32), kernel_backend)
    grad = on_backend(poisoned((3, 10), np.float32), kernel_backend)
    # An int64 id of 2^32 would wrap to 0 if it were converted to int32 before the check.
    for ids in (np.array([0, -1, 2]), np.array([0, 10, 2], np.int32), np.array([[0], [2**32], [1]], np.int64)):
        with pytest.raises(ValueError, match=r"sparse labels must lie in \[0, 10\), got \["):
            softmax_cross_entropy_kernel(logits, on_backend(ids, kernel_backend), True, grad=grad,
                                         backend=kernel_backend)
    assert np.isnan(to_host(grad)).all(), "a refused call wrote the gradient"


def test_bad_arguments_are_refused_naming_them(kernel_backend):
    xp = backend_xp(kernel_backend)
    logits = xp.zeros((4, 6), np.float32)
    one_hot = xp.zeros((4, 6), np.float32)
    ids = xp.zeros(4, np.int32)

    def call(logits=logits, labels=one_hot, sparse=False, **kwargs):
        return softmax_cross_entropy_kernel(logits, labels, sparse, backend=kernel_backend, **kwargs)

    with pytest.raises(TypeError, match="logits must be a float32 or float64 array, got int32"):
        call(logits=xp.zeros((4, 6), np.int32))
    with pytest.raises(ValueError, match=r"logits must be 2-D \(batch, classes\), got shape \(24,\)"):
        call(logits=logits.ravel())
    with pytest.raises(ValueError, match="logits need at least one row and one class"):
        call(logits=logits[:0], labels=one_hot[:0])
    with pytest.raises(ValueError, match=r"labels must have the logits' shape \(4, 6\), got \(4, 5\)"):
        call(labels=one_hot[:, :5])
    with pytest.raises(TypeError, match="one-hot labels must have the logits' dtype float32, got float64"):
        call(labels=one_hot.astype(np.float64))
    with pytest.raises(ValueError, match=r"sparse labels must be integer class ids .* got float32"):
        call(labels=ids.astype(np.float32), sparse=True)
    with pytest.raises(ValueError, match=r"sparse labels must be integer class ids .* \(4, 2\)"):
        call(labels=xp.zeros((4, 2), np.int32), sparse=True)
    with pytest.raises(ValueError, match=r"sparse labels must have the logits' batch \(4,\), got \(3,\)"):
        call(labels=ids[:3], sparse=True)
    with pytest.raises(ValueError, match=r"grad must have the logits' shape \(4, 6\), got \(6, 4\)"):
        call(grad=xp.empty((6, 4), np.float32))
    with pytest.raises(ValueError, match="variant must be one of"):
        call(variant="block_per_row")
    # What only the launch's checks see: the layout and dtype of each array, named.
    with pytest.raises(KernelArgumentError, match="argument 'logits' must be C-contiguous"):
        call(logits=xp.zeros((6, 4), np.float32).T)
    with pytest.raises(KernelArgumentError, match="argument 'labels' must be C-contiguous"):
        call(labels=xp.zeros((6, 4), np.float32).T)  # one-hot labels, as a transposed view
    with pytest.raises(KernelArgumentError, match="argument 'grad' must have dtype float32, got float64"):
        call(grad=xp.empty((4, 6), np.float64))


@pytest.mark.parametrize("sparse", [False, True])
def test_the_backend_runs_the_kernel_on_labels_as_the_model_passes_them(rng, kernel_backend, sparse):
    backend = KernelBackend(backend_xp(kernel_backend))
    logits = random_array(rng, (9, 10), np.float32, -3, 3)
    ids = rng.integers(0, 10, 9)
    labels = ids if sparse else np.eye(10)[ids]  # one-hot in float64, as a user may hold them
    loss, grad = backend.softmax_cross_entropy(backend.asarray(logits), backend.asarray(labels), sparse)
    expected_loss, expected_grad = softmax_cross_entropy(logits.astype(np.float64), np.eye(10)[ids])
    assert grad.dtype == np.float32
    assert_close(loss, expected_loss)
    assert_close(grad, expected_grad)


def test_strided_class_ids_are_taken_as_the_reference_takes_them(rng, kernel_backend):
    logits = random_array(rng, (5, 7), np.float32)
    ids = rng.integers(0, 7, 10).astype(np.int32)
    loss, grad = softmax_cross_entropy_kernel(on_backend(logits, kernel_backend), on_backend(ids, kernel_backend)[::2],
                                              sparse=True, backend=kernel_backend)
    ref_loss, ref_grad = reference(logits, ids[::2])
    assert_close(loss, ref_loss)
    assert_close(grad, ref_grad)


# --- the element-wise losses ------------------------------------------------------------------------
def any_values(rng, shape, dtype):
    return random_array(rng, shape, dtype, -2, 2), random_array(rng, shape, dtype, -2, 2)


# (kernel, reference, inputs): binary cross-entropy on probabilities with 0/1 labels, the others on
# any values.
ELEMENTWISE = {
    "binary_xent": (binary_cross_entropy_kernel, binary_cross_entropy,
                    lambda rng, shape, dtype: (random_array(rng, shape, dtype, 0, 1),
                                               (rng.random(shape) < 0.5).astype(dtype))),
    # On logits: up to +-40, where e^-|x| underflows float32's normal range, and soft labels.
    "binary_xent_logits": (functools.partial(binary_cross_entropy_kernel, from_logits=True),
                           functools.partial(binary_cross_entropy, from_logits=True),
                           lambda rng, shape, dtype: (random_array(rng, shape, dtype, -40, 40),
                                                      random_array(rng, shape, dtype, 0, 1))),
    "squared_error": (mean_squared_error_kernel, mean_squared_error, any_values),
    "absolute_error": (mean_absolute_error_kernel, mean_absolute_error, any_values),
    # Errors up to 4, so that the square and the line both take part; delta 1 (Keras's) and another.
    "huber": (huber_kernel, huber, any_values),
    "huber_delta_0.3": (functools.partial(huber_kernel, delta=0.3), functools.partial(huber, delta=0.3), any_values),
    # Keras's other element-wise losses, each in its domain: -1/1 hinge labels, Poisson's positive rates
    # and counts, the divergence's probabilities (some predictions under its clip's epsilon).
    **{kind: (functools.partial(loss_ops.elementwise_loss_kernel, kind),
              functools.partial(loss_ops.elementwise_loss, kind), make)
       for kind, make in (
           ("hinge", lambda rng, shape, dtype: (random_array(rng, shape, dtype, -2, 2),
                                                rng.choice([-1.0, 1.0], shape).astype(dtype))),
           ("squared_hinge", lambda rng, shape, dtype: (random_array(rng, shape, dtype, -2, 2),
                                                        rng.choice([-1.0, 1.0], shape).astype(dtype))),
           ("log_cosh", lambda rng, shape, dtype: (random_array(rng, shape, dtype, -30, 30),
                                                   random_array(rng, shape, dtype, -3, 3))),
           ("poisson", lambda rng, shape, dtype: (random_array(rng, shape, dtype, 0.01, 3),
                                                  rng.integers(0, 4, shape).astype(dtype))),
           ("kl_divergence", lambda rng, shape, dtype: (random_array(rng, shape, dtype, -1e-6, 1),
                                                        random_array(rng, shape, dtype, 0, 1))),
           ("absolute_percentage_error", any_values),
           # Some predictions under the floor of 1e-7, where the gradient is zero.
           ("squared_log_error", lambda rng, shape, dtype: (random_array(rng, shape, dtype, -1e-6, 5),
                                                            random_array(rng, shape, dtype, 0, 5))))},
    # The focal cross-entropy at Keras's gamma on probabilities (some clipped), and balanced on logits at
    # another gamma, soft labels.
    "focal": (loss_ops.binary_focal_cross_entropy_kernel, loss_ops.binary_focal_cross_entropy,
              lambda rng, shape, dtype: (random_array(rng, shape, dtype, -1e-6, 1),
                                         (rng.random(shape) < 0.5).astype(dtype))),
    "focal_logits_balanced": (
        functools.partial(loss_ops.binary_focal_cross_entropy_kernel, gamma=1.5, positive_weight=0.25,
                          negative_weight=0.75, from_logits=True),
        functools.partial(loss_ops.binary_focal_cross_entropy, gamma=1.5, positive_weight=0.25, negative_weight=0.75,
                          from_logits=True),
        # Logits within +-8: beyond about 16, float32's sigmoid rounds into the clip at 1 - 1e-7, where its
        # bound and float64's differ (the loss there is float32's, not wrong).
        lambda rng, shape, dtype: (random_array(rng, shape, dtype, -8, 8), random_array(rng, shape, dtype, 0, 1))),
}
# One element; a Dense output; a rank-3 output; more elements than one block's threads several times.
ELEMENTWISE_SHAPES = [(1,), (37, 5), (3, 7, 11), (2000,)]
# The kinds whose gradient takes an exponential, a log, a tanh or a power: the same operations as the
# reference's, but each is the device's or the host C library's on one side and NumPy's on the other,
# equal to rounding, not bits. Their formulas subtract nearly equal terms in places (log-cosh's
# d + softplus(-2d) - log 2 near d = 0; the focal loss's 1 - p_t near p_t = 1; t x beside max(x, 0) on
# logits), which multiplies a rounding difference by up to a few thousand; a lone element (shape (1,))
# shows it undiluted. So these are compared within ROUNDED_TOLERANCE, far below what a wrong formula
# gives (errors of order 1).
ROUNDED_EXP = {"binary_xent_logits", "log_cosh", "poisson", "kl_divergence", "squared_log_error", "focal",
               "focal_logits_balanced"}
ROUNDED_TOLERANCE = {np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-9}


def assert_reference_gradient(kind, grad, ref_grad):
    if kind in ROUNDED_EXP:
        nan = np.isnan(ref_grad)
        assert np.array_equal(np.isnan(grad), nan), "NaN where the reference has NaN, and nowhere else"
        assert_close(grad[~nan], ref_grad[~nan], ROUNDED_TOLERANCE[grad.dtype], what=f"{kind} gradient")
    else:
        assert np.array_equal(grad, ref_grad, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES, ids=str)
@pytest.mark.parametrize("kind", ELEMENTWISE)
def test_elementwise_loss_matches_the_reference(rng, kernel_backend, kind, shape, dtype):
    """The loss against the float64 reference; the gradient, the same operations in the same order,
    equal to the reference's in the inputs' own dtype bit for bit."""
    kernel, reference, make = ELEMENTWISE[kind]
    pred, target = make(rng, shape, dtype)
    grad = on_backend(poisoned(shape, dtype), kernel_backend)
    loss, out = kernel(on_backend(pred, kernel_backend), on_backend(target, kernel_backend), grad=grad,
                       backend=kernel_backend)
    assert out is grad and loss.shape == () and loss.dtype == dtype
    tolerance = ROUNDED_TOLERANCE[np.dtype(dtype)] if kind in ROUNDED_EXP else None
    assert_close(to_host(loss), reference(pred.astype(np.float64), target.astype(np.float64))[0], tolerance,
                 what=f"{kind} loss")
    assert_reference_gradient(kind, to_host(grad), reference(pred, target)[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_xent_clips_as_the_reference_and_keeps_a_nan(kernel_backend, dtype):
    eps = loss_ops.EPSILON
    pred = np.array([0, eps, 1 - eps, 1, 0.5, np.nan, 1e-9, 1 - 1e-9], dtype)
    target = np.array([0, 1, 0, 1, 1, 0, 1, 0], dtype)
    loss, grad = binary_cross_entropy_kernel(on_backend(pred, kernel_backend), on_backend(target, kernel_backend),
                                             backend=kernel_backend)
    ref_loss, ref_grad = binary_cross_entropy(pred, target)
    assert np.isnan(to_host(loss)) and np.isnan(ref_loss)
    assert np.array_equal(to_host(grad), ref_grad, equal_nan=True)
    finite = ~np.isnan(pred)
    loss, _ = binary_cross_entropy_kernel(on_backend(pred[finite], kernel_backend),
                                          on_backend(target[finite], kernel_backend), backend=kernel_backend)
    # Against the reference in the inputs' dtype: the clip's upper bound is 1 - eps rounded to it, and
    # log(1 - c) there differs by 1% between float32's bound and float64's.
    assert_close(to_host(loss), binary_cross_entropy(pred[finite], target[finite])[0])


def test_elementwise_loss_over_a_grid_smaller_than_the_work(rng, kernel_backend, monkeypatch):
    """Two blocks stride over 2000 elements; loss_mean adds their two sums."""
    monkeypatch.setattr(loss_ops, "_MAX_LOSS_BLOCKS", 2)
    pred, target = random_array(rng, (2000,), np.float32), random_array(rng, (2000,), np.float32)
    loss, grad = mean_squared_error_kernel(on_backend(pred, kernel_backend), on_backend(target, kernel_backend),
                                           backend=kernel_backend)
    assert_close(to_host(loss), mean_squared_error(pred.astype(np.float64), target.astype(np.float64))[0])
    assert np.array_equal(to_host(grad), mean_squared_error(pred, target)[1])


def test_elementwise_loss_refuses_what_the_reference_refuses(kernel_backend):
    x = on_backend(np.ones((4, 3), np.float32), kernel_backend)
    with pytest.raises(ValueError, match="labels must have y_pred's shape"):
        mean_squared_error_kernel(x, on_backend(np.ones((3, 4), np.float32), kernel_backend), backend=kernel_backend)
    with pytest.raises(ValueError, match="empty batch"):
        binary_cross_entropy_kernel(x[:0], x[:0], backend=kernel_backend)
    with pytest.raises(TypeError):
        mean_squared_error_kernel(on_backend(np.ones(3, np.int32), kernel_backend),
                                  on_backend(np.ones(3, np.int32), kernel_backend), backend=kernel_backend)


@pytest.mark.parametrize("kind", ELEMENTWISE)
def test_the_backend_runs_the_elementwise_loss_on_labels_of_another_dtype(rng, kernel_backend, kind):
    _, reference, make = ELEMENTWISE[kind]
    pred, target = make(rng, (9, 4), np.float32)
    ours = KernelBackend(backend_xp(kernel_backend))
    method = {"binary_xent": ours.binary_cross_entropy,
              "binary_xent_logits": functools.partial(ours.binary_cross_entropy, from_logits=True),
              "squared_error": ours.mean_squared_error,
              "absolute_error": ours.mean_absolute_error, "huber": functools.partial(ours.huber, delta=1.0),
              "huber_delta_0.3": functools.partial(ours.huber, delta=0.3),
              **{kind: functools.partial(ours.elementwise_loss, kind) for kind in loss_ops.ELEMENTWISE_KINDS},
              "focal": functools.partial(ours.binary_focal_cross_entropy, gamma=2.0, positive_weight=1.0,
                                         negative_weight=1.0),
              "focal_logits_balanced": functools.partial(ours.binary_focal_cross_entropy, gamma=1.5,
                                                         positive_weight=0.25, negative_weight=0.75,
                                                         from_logits=True)}[kind]
    loss, grad = method(ours.asarray(pred), ours.asarray(target.astype(np.float64), dtype=np.float64))
    ref_loss, ref_grad = reference(pred, target.astype(np.float64))
    assert_close(to_host(loss), ref_loss)
    assert_reference_gradient(kind, to_host(grad), ref_grad)


def test_the_backend_leaves_a_0d_prediction_to_the_reference(kernel_backend):
    ours = KernelBackend(backend_xp(kernel_backend))
    pred, target = np.float32(0.3).reshape(()), np.float32(1.0).reshape(())
    loss, grad = ours.mean_squared_error(ours.asarray(pred), ours.asarray(target))
    ref_loss, ref_grad = mean_squared_error(pred, target)
    assert to_host(grad).shape == () and np.array_equal(to_host(grad), ref_grad) and to_host(loss) == ref_loss



# --- the cross-entropy on probabilities ---------------------------------------------------------------
@pytest.mark.parametrize("form", LABELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cross_entropy_on_probabilities_matches_the_reference(rng, kernel_backend, shape, dtype, form):
    """Rows that do not sum to 1 (renormalised), a zero and a one among them (clipped: no gradient
    through them), against the float64 reference with one-hot labels and with class ids."""
    probs = random_array(rng, shape, dtype, 0, 1)
    probs[0, 0] = 0
    if shape[1] > 1:
        probs[-1, :] = 0
        probs[-1, -1] = 1
    ids = rng.integers(0, shape[1], size=shape[0])
    labels, sparse = make_labels(ids, shape[1], form, dtype)
    grad = on_backend(poisoned(shape, dtype), kernel_backend)
    loss, out = categorical_cross_entropy_kernel(on_backend(probs, kernel_backend), on_backend(labels, kernel_backend),
                                                 sparse, grad=grad, backend=kernel_backend)
    # Against the reference in the inputs' dtype: the clip's bounds are epsilon and 1 - epsilon rounded
    # to it, and a probability of 1 clipped to float32's 1 - epsilon has a log 19% off float64's.
    one_hot = np.eye(shape[1], dtype=dtype)[ids]
    with np.errstate(invalid="ignore"):  # (1, 1): the one row is [0], and 0 / 0 is NaN
        ref_loss, ref_grad = categorical_cross_entropy(probs, one_hot)
    if shape == (1, 1):
        assert np.isnan(to_host(loss)) and np.isnan(ref_loss)
        return
    assert out is grad
    assert_close(to_host(loss), ref_loss, what="loss")
    assert_close(to_host(grad), ref_grad, what="grad")


def test_the_backend_runs_the_cross_entropy_on_probabilities(rng, kernel_backend, monkeypatch):
    ours = KernelBackend(backend_xp(kernel_backend))
    calls = []
    kernel = categorical_cross_entropy_kernel
    monkeypatch.setattr(loss_ops, "categorical_cross_entropy_kernel",
                        lambda *args, **kwargs: calls.append(1) or kernel(*args, **kwargs))
    probs = random_array(rng, (9, 4), np.float32, 0.1, 1)
    ids = rng.integers(0, 4, 9)
    for labels, sparse in ((np.eye(4)[ids], False), (ids, True)):  # one-hot as float64, as a model may pass them
        on = ours.asarray
        loss, grad = ours.categorical_cross_entropy(on(probs), on(labels, dtype=labels.dtype), sparse)
        ref_loss, ref_grad = categorical_cross_entropy(probs.astype(np.float64), np.eye(4)[ids])
        assert_close(to_host(loss), ref_loss)
        assert_close(to_host(grad), ref_grad)
    assert len(calls) == 2, "both label forms ran the kernel"
    with np.errstate(invalid="ignore"):  # the reference's 0 / 0
        empty = ours.categorical_cross_entropy(ours.asarray(probs[:0]), ours.asarray(np.eye(4)[ids][:0]), False)[0]
    assert np.isnan(to_host(empty)), "an empty batch: the reference's NaN"


def test_a_nan_row_makes_the_loss_and_that_row_of_the_gradient_nan_and_bad_probabilities_are_named(kernel_backend):
    probs = np.full((3, 5), 0.2, np.float32)
    probs[1, 2] = np.nan
    labels = np.eye(5, dtype=np.float32)[[0, 1, 2]]
    loss, grad = categorical_cross_entropy_kernel(on_backend(probs, kernel_backend), on_backend(labels, kernel_backend),
                                                  backend=kernel_backend)
    host = to_host(grad)
    assert np.isnan(to_host(loss)) and np.isnan(host[1]).all() and np.isfinite(np.delete(host, 1, axis=0)).all()
    with pytest.raises(ValueError, match="probs need at least one row"):
        categorical_cross_entropy_kernel(on_backend(probs[:0], kernel_backend), on_backend(labels[:0], kernel_backend),
                                         backend=kernel_backend)
    with pytest.raises(TypeError, match="one-hot labels must have the probs' dtype"):
        categorical_cross_entropy_kernel(on_backend(probs, kernel_backend),
                                         on_backend(labels.astype(np.float64), kernel_backend), backend=kernel_backend)


@pytest.mark.parametrize("kind", ["squared_error", "absolute_error", "huber", "binary_xent_logits", "log_cosh",
                                  "poisson", "kl_divergence", "absolute_percentage_error", "squared_log_error"])
def test_a_nan_prediction_makes_the_loss_and_its_gradient_nan(kernel_backend, kind):
    kernel, reference, _ = ELEMENTWISE[kind]
    pred = np.array([0.5, np.nan, -3.0, 0.0], np.float32)
    target = np.array([0.25, 1.0, 1.0, 0.0], np.float32)  # an error of 0 too: sign 0, as NumPy's
    loss, grad = kernel(on_backend(pred, kernel_backend), on_backend(target, kernel_backend), backend=kernel_backend)
    with np.errstate(invalid="ignore"):  # Poisson's log of a negative rate, -3 + 1e-7: NaN on both sides
        ref_loss, ref_grad = reference(pred, target)
    assert np.isnan(to_host(loss)) and np.isnan(ref_loss) and np.isnan(ref_grad[1])
    assert_reference_gradient(kind, to_host(grad), ref_grad)


@pytest.mark.parametrize("form", ["one_hot", "int32 (N,)"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 1000), (9, 33), (3, 1)])
def test_the_rung_with_the_row_in_registers_gives_the_warp_rungs_bits(rng, kernel_backend, shape, dtype, form):
    """Rung 6 reads a row's logits once into registers where rung 2 reads them again from the caches;
    the arithmetic is the same, in the same order: the same loss and gradient, bit for bit."""
    logits = random_array(rng, shape, dtype) * 4
    labels, sparse = make_labels(rng.integers(0, shape[1], shape[0]), shape[1], form, dtype)
    (loss, grad), (theirs_loss, theirs_grad) = (run_kernel(logits, labels, sparse, variant, kernel_backend)
                                                for variant in ("warp_per_row_registers", "warp_per_row"))
    assert np.isfinite(grad).all() and np.array_equal(grad, theirs_grad) and np.array_equal(loss, theirs_loss)
