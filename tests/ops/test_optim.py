"""Keras 3's optimizers: single steps against the values Keras's own tests expect, and several steps
against the textbook forms of the same algorithms, written independently in float64."""

import numpy as np
import pytest

from cnn_gpu.ops.optim import (adadelta_update, adagrad_update, adam_update, adamax_update, lion_update, nadam_update,
                                rmsprop_update, sgd_update)
from helpers import assert_close, random_array

# Keras's optimizer tests start every optimizer from these weights and gradients.
START = [1.0, 2.0, 3.0, 4.0]
GRADS = [1.0, 6.0, 7.0, 2.0]


def keras_start(dtype):
    return np.array(START, dtype), np.array(GRADS, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_steps_give_the_values_keras_tests_expect(dtype):
    w, g = keras_start(dtype)
    sgd_update(w, g, None, lr=0.5)
    np.testing.assert_allclose(w, [0.5, -1.0, -0.5, 3.0], atol=1e-4)

    w, g = keras_start(dtype)
    adam_update(w, g, np.zeros_like(w), np.zeros_like(w), lr=0.5, step=1)
    np.testing.assert_allclose(w, [0.5, 1.5, 2.5, 3.5], atol=1e-4)

    w, g = keras_start(dtype)
    rmsprop_update(w, g, np.zeros_like(w), lr=0.5)
    np.testing.assert_allclose(w, [-0.5811, 0.4189, 1.4189, 2.4189], atol=1e-4)
    assert w.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_steps_of_adagrad_adamax_nadam_lion_and_adadelta_give_the_values_keras_tests_expect(dtype):
    """Keras's optimizer tests: learning rate 0.5 from these weights and gradients, fresh states
    (Adagrad's accumulator at its 0.1)."""
    for update, states, expected, extra in (
            (adagrad_update, [0.1], [0.5233, 1.5007, 2.5005, 3.5061], {}),
            (adamax_update, [0.0, 0.0], [0.5, 1.5, 2.5, 3.5], {"step": 1}),
            (nadam_update, [0.0, 0.0], [0.4686, 1.4686, 2.4686, 3.4686], {"step": 1}),
            (lion_update, [0.0], [0.5, 1.5, 2.5, 3.5], {}),
            (adadelta_update, [0.0, 0.0], [0.9993, 1.9993, 2.9993, 3.9993], {})):
        w, g = keras_start(dtype)
        update(w, g, *(np.full_like(w, value) for value in states), lr=0.5, **extra)
        np.testing.assert_allclose(w, expected, atol=1e-4, err_msg=update.__name__)
        assert w.dtype == dtype


def test_rmsprop_matches_the_keras_docstring_example():
    # loss = w^2 / 2, so the gradient is w itself; Keras documents 9.683772 after one step.
    w = np.array([10.0], np.float32)
    rmsprop_update(w, w.copy(), np.zeros_like(w), lr=0.1)
    assert w[0] == pytest.approx(9.683772, abs=1e-6)


def run_steps(update, w, grads, slots, **hyper):
    for step, g in enumerate(grads, start=1):
        extra = {"step": step} if update in (adam_update, adamax_update, nadam_update) else {}
        update(w, g, *slots, **hyper, **extra)
    return w


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_with_momentum_matches_the_textbook_over_steps(rng, nesterov, dtype):
    w0, grads = random_array(rng, (5, 3), dtype), [random_array(rng, (5, 3), dtype) for _ in range(6)]
    lr, momentum = 0.05, 0.8
    w = run_steps(sgd_update, w0.copy(), grads, [np.zeros_like(w0)], lr=lr, momentum=momentum, nesterov=nesterov)
    # Textbook heavy ball, v = mu v + g, w -= lr v; Nesterov looks ahead: w -= lr (g + mu v).
    ref, v = w0.astype(np.float64), np.zeros(w0.shape)
    for g in grads:
        v = momentum * v + g
        ref -= lr * (g + momentum * v) if nesterov else lr * v
    assert w.dtype == dtype
    assert_close(w, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_matches_the_paper_with_epsilon_hat_over_steps(rng, dtype):
    w0, grads = random_array(rng, (4, 7), dtype), [random_array(rng, (4, 7), dtype) for _ in range(6)]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w = run_steps(adam_update, w0.copy(), grads, [np.zeros_like(w0), np.zeros_like(w0)], lr=lr, beta_1=b1,
                  beta_2=b2, epsilon=eps)
    # Kingma and Ba with bias-corrected moments; Keras's epsilon is the paper's "epsilon hat", which
    # sits beside the uncorrected sqrt(v): eps on sqrt(v_hat) becomes eps / sqrt(1 - b2^t).
    ref, m, v = w0.astype(np.float64), np.zeros(w0.shape), np.zeros(w0.shape)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        ref -= lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - b2**t))
    assert w.dtype == dtype
    assert_close(w, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rmsprop_matches_the_textbook_over_steps(rng, dtype):
    w0, grads = random_array(rng, (9,), dtype), [random_array(rng, (9,), dtype) for _ in range(6)]
    lr, rho, eps = 0.01, 0.9, 1e-7
    w = run_steps(rmsprop_update, w0.copy(), grads, [np.zeros_like(w0)], lr=lr, rho=rho, epsilon=eps)
    ref, ms = w0.astype(np.float64), np.zeros(w0.shape)
    for g in grads:
        ms = rho * ms + (1 - rho) * g * g
        ref -= lr * g / np.sqrt(ms + eps)
    assert w.dtype == dtype
    assert_close(w, ref)


def test_centered_rmsprop_with_momentum_matches_graves_over_steps(rng):
    """Graves (2013) divides by the root of the gradient's running variance, E[g^2] - E[g]^2; momentum
    accumulates those steps. Keras's epsilon sits under the root."""
    w0, grads = random_array(rng, (9,), np.float64), [random_array(rng, (9,), np.float64) for _ in range(6)]
    lr, rho, eps, mu = 0.01, 0.9, 1e-7, 0.8
    slots = [np.zeros_like(w0) for _ in range(3)]
    w = w0.copy()
    for g in grads:
        rmsprop_update(w, g, slots[0], lr, rho, eps, average_grad=slots[1], momentum=mu, momentum_slot=slots[2])
    ref, mean_square, mean, step = w0.copy(), np.zeros(9), np.zeros(9), np.zeros(9)
    for g in grads:
        mean_square = rho * mean_square + (1 - rho) * g**2
        mean = rho * mean + (1 - rho) * g
        step = mu * step + lr * g / np.sqrt(mean_square - mean**2 + eps)
        ref = ref - step
    assert_close(w, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adagrad_adamax_nadam_and_lion_match_their_papers_over_steps(rng, dtype):
    """Duchi et al.'s Adagrad; Kingma and Ba's AdaMax (section 7.1); Dozat's Nadam with Keras's
    momentum schedule mu_t = beta_1 (1 - 0.96^t / 2), its m_hat and v_hat written out from the paper's
    algorithm 2; Chen et al.'s Lion (their algorithm 1): each in float64, six steps."""
    w0, grads = random_array(rng, (4, 5), dtype), [random_array(rng, (4, 5), dtype) for _ in range(6)]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    x = w0.astype(np.float64)
    ref = {name: x.copy() for name in ("adagrad", "adamax", "nadam", "lion")}
    total = np.full(x.shape, 0.1)
    m_max, u = np.zeros(x.shape), np.zeros(x.shape)
    m_nadam, v_nadam, mu_product = np.zeros(x.shape), np.zeros(x.shape), 1.0
    m_lion = np.zeros(x.shape)
    mu = lambda t: b1 * (1 - 0.5 * 0.96**t)  # noqa: E731
    for t, g in enumerate((g.astype(np.float64) for g in grads), start=1):
        total = total + g**2
        ref["adagrad"] = ref["adagrad"] - lr * g / np.sqrt(total + eps)
        m_max = b1 * m_max + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g))
        ref["adamax"] = ref["adamax"] - (lr / (1 - b1**t)) * m_max / (u + eps)
        mu_product *= mu(t)
        m_nadam = b1 * m_nadam + (1 - b1) * g
        v_nadam = b2 * v_nadam + (1 - b2) * g**2
        m_hat = mu(t + 1) * m_nadam / (1 - mu_product * mu(t + 1)) + (1 - mu(t)) * g / (1 - mu_product)
        ref["nadam"] = ref["nadam"] - lr * m_hat / (np.sqrt(v_nadam / (1 - b2**t)) + eps)
        ref["lion"] = ref["lion"] - lr * np.sign(0.9 * m_lion + 0.1 * g)
        m_lion = 0.99 * m_lion + 0.01 * g
    ours = {
        "adagrad": run_steps(adagrad_update, w0.copy(), grads, [np.full_like(w0, 0.1)], lr=lr, epsilon=eps),
        "adamax": run_steps(adamax_update, w0.copy(), grads, [np.zeros_like(w0), np.zeros_like(w0)], lr=lr,
                            beta_1=b1, beta_2=b2, epsilon=eps),
        "nadam": run_steps(nadam_update, w0.copy(), grads, [np.zeros_like(w0), np.zeros_like(w0)], lr=lr,
                           beta_1=b1, beta_2=b2, epsilon=eps),
        "lion": run_steps(lion_update, w0.copy(), grads, [np.zeros_like(w0)], lr=lr, beta_1=0.9, beta_2=0.99),
    }
    for name, w in ours.items():
        assert w.dtype == dtype
        assert_close(w, ref[name], what=name)


def test_amsgrad_keeps_the_largest_second_moment(rng):
    """Reddi et al.'s AMSGrad over steps whose gradients shrink: v_hat = max(v_hat, v) under the root."""
    w0 = random_array(rng, (6,), np.float64)
    grads = [random_array(rng, (6,), np.float64) * scale for scale in (2.0, 1.0, 0.3, 0.1)]
    lr, b1, b2, eps = 0.01, 0.9, 0.99, 1e-7
    slots = [np.zeros(6), np.zeros(6), np.zeros(6)]
    w = run_steps(adam_update, w0.copy(), grads, slots[:2], lr=lr, beta_1=b1, beta_2=b2, epsilon=eps, v_max=slots[2])
    ref, m, v, v_hat = w0.copy(), np.zeros(6), np.zeros(6), np.zeros(6)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_hat = np.maximum(v_hat, v)
        ref -= lr * (m / (1 - b1**t)) / (np.sqrt(v_hat / (1 - b2**t)) + eps / np.sqrt(1 - b2**t))
    assert_close(w, ref)
    assert np.any(slots[2] > slots[1]), "the gradients shrank: v fell below its peak somewhere"


def test_adadelta_matches_zeiler_over_steps(rng):
    """Zeiler's algorithm 1 (E[g^2], the update, E[dx^2]), its step times Keras's learning rate."""
    w0, grads = random_array(rng, (7,), np.float64), [random_array(rng, (7,), np.float64) for _ in range(6)]
    lr, rho, eps = 0.5, 0.95, 1e-6
    w = run_steps(adadelta_update, w0.copy(), grads, [np.zeros(7), np.zeros(7)], lr=lr, rho=rho, epsilon=eps)
    ref, mean_square_grad, mean_square_step = w0.copy(), np.zeros(7), np.zeros(7)
    for g in grads:
        mean_square_grad = rho * mean_square_grad + (1 - rho) * g**2
        step = -np.sqrt(mean_square_step + eps) / np.sqrt(mean_square_grad + eps) * g
        mean_square_step = rho * mean_square_step + (1 - rho) * step**2
        ref = ref + lr * step
    assert_close(w, ref)


def test_updates_are_in_place(rng):
    w, g = random_array(rng, (3, 2), np.float32), random_array(rng, (3, 2), np.float32)
    m, v = np.zeros_like(w), np.zeros_like(w)
    before = w.copy()
    adam_update(w, g, m, v, lr=0.1, step=1)
    assert not np.array_equal(w, before) and np.any(m != 0) and np.any(v != 0)


def test_adam_step_counts_from_one(rng):
    w = np.zeros(2)
    with pytest.raises(ValueError, match="step counts from 1"):
        adam_update(w, w, w.copy(), w.copy(), lr=0.1, step=0)


def test_gradient_clipping_as_keras_clips():
    from cnn_gpu.ops.optim import clip_gradients

    big, small = np.array([3.0, 4.0]), np.array([0.3, 0.4])  # norms 5 and 0.5
    norm_clipped = clip_gradients([big, small], clipnorm=1.0)
    np.testing.assert_allclose(norm_clipped[0], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_array_equal(norm_clipped[1], small)  # under the norm: as it was
    global_clipped = clip_gradients([big, small], global_clipnorm=1.0)  # together: sqrt(25.25)
    scale = 1.0 / np.sqrt(25.25)
    np.testing.assert_allclose(global_clipped[0], big * scale, rtol=1e-15)
    np.testing.assert_allclose(global_clipped[1], small * scale, rtol=1e-15)
    np.testing.assert_array_equal(clip_gradients([big], clipvalue=3.5)[0], [3.0, 3.5])
    assert all(np.isnan(g).all() for g in clip_gradients([big, np.array([np.inf, 0.0])], global_clipnorm=1.0))
    grads = [big]
    assert clip_gradients(grads) is grads and clip_gradients(grads, clipnorm=0.0) is grads
    assert clip_gradients([big.astype(np.float32)], global_clipnorm=1.0)[0].dtype == np.float32


def test_only_one_kind_of_clipping():
    from cnn_gpu.optimizers import SGD, Adam

    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                                         "clipnorm, global_clipnorm"):
        Adam(clipnorm=1.0, global_clipnorm=2.0)
    with pytest.raises(ValueError, match=r"clipvalue must be a number in \[0, inf\]"):
        SGD(clipvalue=-1.0)
    assert SGD(clipnorm=1.0).get_config()["clipnorm"] == 1.0
