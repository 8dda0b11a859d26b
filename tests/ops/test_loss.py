import numpy as np
import pytest

from cnn_gpu.gradcheck import check_gradient
from cnn_gpu.ops.loss import (
    ELEMENTWISE_KINDS,
    EPSILON,
    binary_cross_entropy,
    binary_focal_cross_entropy,
    categorical_cross_entropy,
    elementwise_loss,
    hinge_labels,
    huber,
    mean_absolute_error,
    mean_squared_error,
    one_hot,
    sample_losses,
    softmax_cross_entropy,
)
from helpers import assert_close, random_array

BATCH_CLASSES = [(1, 2), (7, 3), (32, 10)]


def random_labels(rng, n, classes):
    ids = rng.integers(0, classes, size=n)
    return ids, np.eye(classes)[ids]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,classes", BATCH_CLASSES)
def test_softmax_cross_entropy_matches_the_definition(rng, n, classes, dtype):
    logits = random_array(rng, (n, classes), dtype)
    ids, onehot = random_labels(rng, n, classes)
    e = np.exp(logits.astype(np.float64))
    probs = e / e.sum(axis=1, keepdims=True)
    loss, grad = softmax_cross_entropy(logits, onehot.astype(dtype))
    assert loss.shape == () and loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, -np.log(probs[np.arange(n), ids]).mean(), what="loss")
    assert_close(grad, (probs - onehot) / n, what="dlogits")
    sparse_loss, sparse_grad = softmax_cross_entropy(logits, ids, sparse=True)
    assert_close(sparse_loss, loss.astype(np.float64), what="sparse loss")
    assert_close(sparse_grad, grad.astype(np.float64), what="sparse dlogits")
    column_loss, _ = softmax_cross_entropy(logits, ids[:, None], sparse=True)
    assert_close(column_loss, loss.astype(np.float64), what="(N, 1) labels")


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, grad = softmax_cross_entropy(logits, np.array([1, 0]), sparse=True)
    # Row 0 misses by 1000 nats, row 1 is certain: the mean is 500.
    assert loss == pytest.approx(500.0)
    assert_close(grad, np.array([[0.5, -0.5], [0.0, 0.0]]))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n,classes", BATCH_CLASSES)
def test_softmax_cross_entropy_gradient_matches_central_differences(rng, n, classes, sparse):
    logits = random_array(rng, (n, classes), np.float64, -3, 3)
    ids, onehot = random_labels(rng, n, classes)
    labels = ids if sparse else onehot
    _, grad = softmax_cross_entropy(logits, labels, sparse)
    check_gradient(lambda v: softmax_cross_entropy(v, labels, sparse)[0], logits, grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,classes", BATCH_CLASSES)
def test_categorical_cross_entropy_renormalises_and_clips_as_keras(rng, n, classes, dtype):
    # Rows that do not sum to 1, and one probability of exactly 0 on a true class.
    probs = random_array(rng, (n, classes), dtype, 0.05, 2.0)
    ids, onehot = random_labels(rng, n, classes)
    probs[0, ids[0]] = 0
    normalised = probs.astype(np.float64) / probs.astype(np.float64).sum(axis=1, keepdims=True)
    expected = -np.log(np.clip(normalised[np.arange(n), ids], EPSILON, 1 - EPSILON)).mean()
    loss, grad = categorical_cross_entropy(probs, onehot)
    assert loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, expected)
    assert_close(categorical_cross_entropy(probs, ids, sparse=True)[0], np.float64(loss))


@pytest.mark.parametrize("sparse", [False, True])
def test_categorical_cross_entropy_gradient_matches_central_differences(rng, sparse):
    probs = random_array(rng, (6, 4), np.float64, 0.1, 1.0)
    ids, onehot = random_labels(rng, 6, 4)
    labels = ids if sparse else onehot
    _, grad = categorical_cross_entropy(probs, labels, sparse)
    check_gradient(lambda v: categorical_cross_entropy(v, labels, sparse)[0], probs, grad)


@pytest.mark.parametrize("shape", [(1, 1), (9, 1), (5, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_matches_keras(rng, shape, dtype):
    probs = random_array(rng, shape, dtype, 0.01, 0.99)
    labels = rng.integers(0, 2, size=shape).astype(dtype)
    p = probs.astype(np.float64)
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
    loss, grad = binary_cross_entropy(probs, labels)
    assert loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, expected)
    assert_close(grad, (p - labels) / (p * (1 - p)) / p.size)


def test_binary_cross_entropy_clips_certain_mistakes():
    loss, grad = binary_cross_entropy(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]]))
    assert loss == pytest.approx(-np.log(EPSILON))
    assert np.all(np.isfinite(grad))


def test_binary_cross_entropy_gradient_matches_central_differences(rng):
    probs = random_array(rng, (5, 3), np.float64, 0.05, 0.95)
    labels = rng.integers(0, 2, size=(5, 3)).astype(np.float64)
    _, grad = binary_cross_entropy(probs, labels)
    check_gradient(lambda v: binary_cross_entropy(v, labels)[0], probs, grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_on_logits_is_keras_log_sigmoid_form(rng, dtype):
    """Keras's -t log sigmoid(x) - (1 - t) log sigmoid(-x) (log sigmoid(x) = -logaddexp(0, -x), in float64),
    soft labels too; the gradient (sigmoid(x) - t) / n, and by central differences."""
    logits = random_array(rng, (6, 3), dtype, -6, 6)
    labels = rng.uniform(0, 1, (6, 3)).astype(dtype)
    x, t = logits.astype(np.float64), labels.astype(np.float64)
    loss, grad = binary_cross_entropy(logits, labels, from_logits=True)
    assert loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, (t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x)).mean(), what="loss")
    assert_close(grad, (1 / (1 + np.exp(-x)) - t) / x.size, what="grad")
    _, grad64 = binary_cross_entropy(x, t, from_logits=True)
    check_gradient(lambda v: binary_cross_entropy(v, t, from_logits=True)[0], x, grad64)
    assert_close(sample_losses("binary_crossentropy", x, t, logits=True).mean(),
                 binary_cross_entropy(x, t, from_logits=True)[0])


def test_binary_cross_entropy_on_logits_keeps_large_logits_exact_and_a_nan():
    """e^-|x| never overflows: a logit of +-200 costs 0 where it is right and 200 where it is wrong
    (the clipped probabilities would cap it at -log(1e-7)); a NaN logit makes its gradient NaN."""
    logits = np.array([200.0, -200.0, 200.0, -200.0, 0.0])
    labels = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss, grad = binary_cross_entropy(logits, labels, from_logits=True)
    assert loss == pytest.approx((200 + 200 + np.log(2)) / 5, rel=1e-15)
    assert np.allclose(grad, np.array([0, 0, 1, -1, -0.5]) / 5, rtol=1e-15, atol=1e-80)
    loss, grad = binary_cross_entropy(np.array([np.nan, 1.0]), np.array([1.0, 0.0]), from_logits=True)
    assert np.isnan(loss) and np.isnan(grad[0]) and np.isfinite(grad[1])


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("gamma, weights", [(2.0, (1.0, 1.0)), (0.5, (0.25, 0.75)), (0.0, (1.0, 1.0))])
def test_binary_focal_cross_entropy_is_lin_et_al(rng, gamma, weights, from_logits):
    """Lin et al.'s -alpha_t (1 - p_t)^gamma log(p_t), p_t the probability of the label (0/1 labels; Keras
    clips p to [1e-7, 1 - 1e-7] in the log only), its mean; the gradient by central differences; at
    gamma 0 and no weights, the binary cross-entropy itself."""
    pred = rng.normal(0, 2, (5, 3)) if from_logits else rng.uniform(0.02, 0.98, (5, 3))
    labels = rng.integers(0, 2, (5, 3)).astype(np.float64)
    prob = 1 / (1 + np.exp(-pred)) if from_logits else pred
    p_t = np.where(labels == 1, prob, 1 - prob)
    alpha_t = np.where(labels == 1, *weights)
    expected = (-alpha_t * (1 - p_t) ** gamma * np.log(np.clip(p_t, EPSILON, 1 - EPSILON))).mean()
    loss, grad = binary_focal_cross_entropy(pred, labels, gamma, *weights, from_logits)
    assert_close(loss, expected)
    check_gradient(lambda v: binary_focal_cross_entropy(v, labels, gamma, *weights, from_logits)[0], pred, grad)
    assert_close(sample_losses("binary_focal_crossentropy", pred, labels, from_logits, focal=(gamma, *weights)).mean(),
                 loss)
    if gamma == 0 and weights == (1.0, 1.0):
        assert_close(loss, binary_cross_entropy(pred, labels, from_logits)[0])


def keras_definition(kind, pred, target):
    """Each loss as Keras's documentation defines it, in float64 (the KL divergence's sum over the last
    axis left to the caller): log(cosh(d)) directly, the hinges on -1/1 labels."""
    if kind == "hinge":
        return np.maximum(1 - target * pred, 0)
    if kind == "squared_hinge":
        return np.maximum(1 - target * pred, 0) ** 2
    if kind == "log_cosh":
        return np.log(np.cosh(pred - target))
    if kind == "poisson":
        return pred - target * np.log(pred + EPSILON)
    if kind == "absolute_percentage_error":
        return 100 * np.abs(target - pred) / np.maximum(np.abs(target), EPSILON)
    if kind == "squared_log_error":
        return (np.log1p(np.maximum(pred, EPSILON)) - np.log1p(np.maximum(target, EPSILON))) ** 2
    t, p = np.clip(target, EPSILON, 1), np.clip(pred, EPSILON, 1)
    return t * np.log(t / p)


def elementwise_problem(rng, kind, shape, dtype=np.float64):
    """Predictions and labels in each loss's domain: -1/1 labels for the hinges, rates and counts for
    Poisson's, probabilities for the divergence, positive values for the logarithmic error, any values
    for log-cosh and the percentage error."""
    if kind in ("hinge", "squared_hinge"):
        return random_array(rng, shape, dtype, -2, 2), rng.choice([-1.0, 1.0], shape).astype(dtype)
    if kind == "poisson":
        return random_array(rng, shape, dtype, 0.2, 3), rng.integers(0, 4, shape).astype(dtype)
    if kind == "kl_divergence":
        return random_array(rng, shape, dtype, 0.05, 1), random_array(rng, shape, dtype, 0, 1)
    if kind == "squared_log_error":
        return random_array(rng, shape, dtype, 0.1, 5), random_array(rng, shape, dtype, 0, 5)
    return random_array(rng, shape, dtype, -3, 3), random_array(rng, shape, dtype, -3, 3)


@pytest.mark.parametrize("kind", ELEMENTWISE_KINDS)
def test_the_other_elementwise_losses_are_keras_definitions(rng, kind):
    """The value by Keras's definition (the mean over every element; the divergence, the sum over the
    last axis and the mean over rows), the gradient by central differences, and sample_losses' rows
    averaging to the loss."""
    pred, target = elementwise_problem(rng, kind, (5, 3))
    loss, grad = elementwise_loss(kind, pred, target)
    terms = keras_definition(kind, pred, target)
    assert_close(loss, terms.sum(axis=-1).mean() if kind == "kl_divergence" else terms.mean())
    check_gradient(lambda v: elementwise_loss(kind, v, target)[0], pred, grad)
    assert_close(sample_losses(kind, pred, target).mean(), loss)
    loss32, grad32 = elementwise_loss(kind, pred.astype(np.float32), target.astype(np.float32))
    assert loss32.dtype == np.float32 and grad32.dtype == np.float32


def test_log_cosh_stays_finite_far_out_and_hinge_labels_are_keras():
    """cosh(200) overflows float32, but d + softplus(-2d) - log 2 does not: log cosh(+-200) is 200 - log 2.
    0/1 labels become -1/1 only when every label is 0 or 1."""
    loss, grad = elementwise_loss("log_cosh", np.array([200.0, -200.0], np.float32), np.zeros(2, np.float32))
    assert loss == pytest.approx(200 - np.log(2), rel=1e-6) and np.array_equal(grad, [0.5, -0.5])
    assert np.array_equal(hinge_labels(np.array([0.0, 1.0, 1.0])), [-1.0, 1.0, 1.0])
    assert np.array_equal(hinge_labels(np.array([-1.0, 1.0, 0.0])), [-1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="unknown element-wise loss 'cosine'"):
        elementwise_loss("cosine", np.ones(2), np.ones(2))


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (4, 5, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_squared_error_value_and_gradient(rng, shape, dtype):
    pred, target = random_array(rng, shape, dtype), random_array(rng, shape, dtype)
    loss, grad = mean_squared_error(pred, target)
    diff = pred.astype(np.float64) - target
    assert loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, (diff**2).mean())
    assert_close(grad, 2 * diff / diff.size)
    pred64 = pred.astype(np.float64)
    _, grad64 = mean_squared_error(pred64, target)
    check_gradient(lambda v: mean_squared_error(v, target)[0], pred64, grad64)


@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_mean_absolute_error_and_huber_values_and_gradients(rng, delta):
    # Errors on both of Huber's pieces (a column within delta, one beyond it), none near the kinks.
    sizes = np.stack([rng.uniform(0.05, 0.9, 6) * delta, rng.uniform(delta + 0.1, 2.5, 6), rng.uniform(0.05, 2.5, 6)],
                     axis=1)
    diff = sizes * rng.choice([-1.0, 1.0], sizes.shape)
    pred = rng.uniform(-2, 2, (6, 3))
    target = pred - diff
    loss, grad = mean_absolute_error(pred, target)
    assert_close(loss, np.abs(diff).mean())
    check_gradient(lambda v: mean_absolute_error(v, target)[0], pred, grad)
    small = np.abs(diff) <= delta
    loss, grad = huber(pred, target, delta)
    assert_close(loss, np.where(small, diff**2 / 2, delta * (np.abs(diff) - delta / 2)).mean())
    check_gradient(lambda v: huber(v, target, delta)[0], pred, grad)
    for kind, arguments in (("mean_absolute_error", {}), ("huber", {"delta": delta})):
        per_sample = sample_losses(kind, pred, target, **arguments)
        assert_close(per_sample.mean(), (mean_absolute_error if kind == "mean_absolute_error" else huber)(
            pred, target, *arguments.values())[0])


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: softmax_cross_entropy(np.zeros((3, 4)), np.zeros((3, 5))), r"labels must have y_pred's shape \(3, 4\)"),
        (lambda: softmax_cross_entropy(np.zeros((3, 4)), np.array([0, 4, 1]), True), r"must lie in \[0, 4\)"),
        (lambda: softmax_cross_entropy(np.zeros((3, 4)), np.array([0, -1, 1]), True), r"must lie in \[0, 4\)"),
        (lambda: softmax_cross_entropy(np.zeros((3, 4)), np.zeros(3), True), "integer class ids"),
        (lambda: softmax_cross_entropy(np.zeros(4), np.zeros(4)), "y_pred must be 2-D"),
        (lambda: categorical_cross_entropy(np.zeros((3, 4), np.int32), np.zeros((3, 4))), "y_pred must be a float"),
        (lambda: binary_cross_entropy(np.zeros((3, 1)), np.zeros(3)), "labels must have y_pred's shape"),
        (lambda: mean_squared_error(np.zeros((3, 2)), np.zeros((2, 3))), "labels must have y_pred's shape"),
    ],
)
def test_losses_reject_bad_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_one_hot_puts_a_single_one_per_row(rng):
    ids = rng.integers(0, 7, size=11)
    out = one_hot(ids, 7, np.float32)
    assert out.dtype == np.float32
    assert np.array_equal(out.argmax(axis=1), ids) and np.all(out.sum(axis=1) == 1)
