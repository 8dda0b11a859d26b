"""Gradient checking by central differences in float64.

Every check reduces to a scalar function ``f`` of one float64 array: an op's output is contracted with
a fixed random upstream gradient ``dy`` (``op_scalar``), a loss already is a scalar. The analytic
gradient must match ``numerical_gradient(f, x)`` in relative norm (``gradient_error``).
"""

from __future__ import annotations

import numpy as np

# Central differences have truncation error ~ eps^2 f''' and rounding error ~ 1e-16 / eps; 1e-6
# balances the two near 1e-10 for inputs of order one.
EPS = 1e-6


def numerical_gradient(f, x, eps=EPS):
    """d f / d x by central differences; ``x`` (float64) is perturbed in place and restored."""
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for a gradient check, got {x.dtype}")
    grad = np.empty_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        up = float(f(x))
        flat_x[i] = saved - eps
        down = float(f(x))
        flat_x[i] = saved
        flat_grad[i] = (up - down) / (2 * eps)
    return grad


def gradient_error(f, x, analytic, eps=EPS):
    """||analytic - numerical|| / ||numerical|| for the gradient of scalar ``f`` at ``x``."""
    numerical = numerical_gradient(f, x, eps)
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}, expected {numerical.shape}")
    norm = np.linalg.norm(numerical)
    diff = np.linalg.norm(analytic - numerical)
    if not np.isfinite(diff):
        return float("inf")
    return float(diff / norm) if norm > 0 else float(diff)


def op_scalar(forward, dy):
    """The scalar ``sum(forward(x) * dy)``, whose gradient to x is the op's backward applied to dy."""
    return lambda x: float(np.sum(forward(x) * dy))


# What ``gradient_error`` reaches for a correct gradient of a smooth function of inputs of order one
# (the rounding in f, amplified by 1 / eps); a wrong gradient is off by order one.
TOLERANCE = 1e-6


def check_gradient(f, x, analytic, what="gradient", tol=TOLERANCE):
    """Raise AssertionError unless ``analytic`` is the gradient of scalar ``f`` at ``x``."""
    error = gradient_error(f, x, analytic)
    if not error <= tol:
        raise AssertionError(f"{what}: ||analytic - numerical|| / ||numerical|| = {error:.3g} > {tol:.1g}")


# --- layers, losses and whole models ------------------------------------------------------------------
# These perturb the weights in place, so they need float64 layers (dtype="float64") on the numpy
# backend, whose weights are the host arrays themselves. The forward pass must be deterministic: a
# training-mode Dropout must draw the same mask on every call.


def check_layer(layer, x, training=False, seed=0, tol=TOLERANCE):
    """Check ``layer.backward`` against central differences, to the input (to each input of a merge
    layer, whose ``x`` is a list; none for ids, an Embedding's) and to every weight."""
    if layer.dtype != "float64":
        raise TypeError(f"{layer.describe()} is {layer.dtype}: build it with dtype='float64' to check it")
    xs = [np.array(v, dtype=np.float64) for v in (x if layer.TAKES_LIST else [x])]
    if not layer.built:
        shapes = [(None, *v.shape[1:]) for v in xs]
        layer.build(shapes if layer.TAKES_LIST else shapes[0])

    def forward(arrays):
        return layer.forward(arrays if layer.TAKES_LIST else arrays[0], training)

    dy = np.random.default_rng(seed).standard_normal(forward(xs).shape)
    dx = layer.backward(dy)
    grads = {name: np.array(g) for name, g in layer.grads.items()}
    for i, (v, analytic) in enumerate(zip(xs, dx if layer.TAKES_LIST else [dx], strict=True)):
        if not layer.INPUT_IS_DIFFERENTIABLE:
            break
        check_gradient(op_scalar(lambda u: forward([*xs[:i], u, *xs[i + 1:]]), dy), v, analytic,
                       f"{layer.describe()}: input" + (f" {i}" if layer.TAKES_LIST else ""), tol)
    for name in layer.trainable_names:
        check_gradient(op_scalar(lambda _: forward(xs), dy), layer.params[name], grads[name],
                       f"{layer.describe()}: {name}", tol)


def check_loss(loss, y_true, y_pred, logits=False, tol=TOLERANCE):
    """Check a loss's gradient to ``y_pred`` (float64) against central differences."""
    y_pred = np.array(y_pred, dtype=np.float64)
    _, grad = loss.value_and_gradient(y_true, y_pred, logits)
    check_gradient(lambda p: loss.value_and_gradient(y_true, p, logits)[0], y_pred, grad, f"{loss.name}", tol)


def check_model(model, x, y, tol=TOLERANCE):
    """Check a compiled float64 model's training gradients (loss plus penalties) to every trainable weight.

    It runs in inference mode (Dropout off) with the loss the model trains with, fused softmax
    cross-entropy included.
    """
    if model.dtype != "float64":
        raise TypeError(f"model '{model.name}' is {model.dtype}: build every layer with dtype='float64'")
    model.require_compiled("check_model")
    x = np.array(x, dtype=np.float64)
    if not model.built:
        model.build((None, *x.shape[1:]))
    y = model.loss.prepare_targets(y, model.output_shape, model.dtype)
    model.compute_loss(x, y, training=False)
    grads = [np.array(g) for g in model.compute_gradients()]
    for weight, grad, name in zip(model.trainable_weights, grads, weight_names(model)):
        check_gradient(lambda _: model.compute_loss(x, y, training=False)[0], weight, grad, name, tol)


def weight_names(model):
    return [f"{layer.name}/{name}" for layer in model.layers for name in layer.trainable_names]
