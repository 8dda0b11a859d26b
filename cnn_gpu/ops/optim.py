"""Parameter updates of Keras 3's SGD, Adam, RMSprop, Adagrad, Adamax, Nadam, Lion and Adadelta, in place,
in the parameter's dtype.

The formulas follow ``keras/src/optimizers/{sgd,adam,rmsprop,adagrad,adamax,nadam,lion,adadelta}.py``
term for term (where epsilon sits matters: Adam adds it to sqrt(v) after folding both bias
corrections into the step size; RMSprop and Adagrad add it under the square root). Each takes
``decay``, Keras's weight decay before the step (``w -= w decay`` with decay = weight_decay * lr, as
AdamW and any optimizer's ``weight_decay`` do; 0 for none).

The kernels of ``kernels/optim.cu`` run each update in one pass; their wrappers are at the bottom.
"""

from __future__ import annotations

import math

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, resolve_backend
from cnn_gpu.ops.common import C_TYPES, array_module, ceil_div, check_shape, cpp_bool, dtype_name, grid_stride_launch


def clip_gradients(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Keras's clipping of an optimizer's gradients, before its step (at most one of the three given):
    ``clipnorm``, each gradient scaled down to that L2 norm if above it; ``global_clipnorm``, all of them
    by one factor, to that norm of all together (a non-finite norm makes every gradient NaN, as Keras's
    does); ``clipvalue``, each element clamped to [-clipvalue, clipvalue]. New arrays; none given, the
    same list."""
    if clipnorm:
        clipped = []
        for grad in grads:
            xp = array_module(grad)
            norm = xp.sqrt(xp.sum(grad * grad))
            clipped.append(grad * clipnorm / xp.maximum(norm, clipnorm))
        return clipped
    if global_clipnorm:
        xp = array_module(grads[0])
        norm = xp.sqrt(sum(xp.sum(grad * grad) for grad in grads))
        scale = global_clipnorm * xp.minimum(1.0 / norm, 1.0 / global_clipnorm) + xp.where(xp.isfinite(norm), 0, xp.nan)
        return [grad * scale.astype(grad.dtype) for grad in grads]
    if clipvalue:
        return [array_module(grad).clip(grad, -clipvalue, clipvalue) for grad in grads]
    return grads


def check_step(step):
    """The bias-corrected updates (Adam, Adamax, Nadam) count their steps from 1."""
    if step < 1:
        raise ValueError(f"step counts from 1, got {step}")


def decay_weights(param, decay):
    """Keras's weight decay, in place, before an optimizer's step: ``w -= w decay`` (decay 0: nothing)."""
    if decay:
        param -= param * decay


def sgd_update(param, grad, velocity, lr, momentum=0.0, nesterov=False, decay=0.0):
    """``v = momentum v - lr g``; then ``w += v``, or ``w += momentum v - lr g`` with Nesterov.

    With ``momentum == 0`` Keras keeps no velocity (pass None) and the step is ``w -= lr g``.
    """
    decay_weights(param, decay)
    if momentum == 0:
        param -= lr * grad
        return
    velocity *= momentum
    velocity -= lr * grad
    if nesterov:
        param += momentum * velocity - lr * grad
    else:
        param += velocity


def adam_step_size(lr, beta_1, beta_2, step):
    """``alpha = lr sqrt(1 - beta_2^step) / (1 - beta_1^step)``: both bias corrections in one factor."""
    return lr * math.sqrt(1 - beta_2**step) / (1 - beta_1**step)


def adam_update(param, grad, m, v, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, decay=0.0, v_max=None):
    """One Adam step; ``step`` counts from 1. ``w -= alpha m / (sqrt(v) + epsilon)`` with
    ``alpha = lr sqrt(1 - beta_2^step) / (1 - beta_1^step)``. AMSGrad (a ``v_max`` given, Keras's
    velocity_hat): ``v_max = max(v_max, v)`` in place of v under the root."""
    check_step(step)
    decay_weights(param, decay)
    xp = array_module(param)
    alpha = adam_step_size(lr, beta_1, beta_2, step)
    # One scratch buffer for every intermediate: a Dense kernel's update touches megabytes.
    scratch = grad - m
    scratch *= 1 - beta_1
    m += scratch
    xp.multiply(grad, grad, out=scratch)
    scratch -= v
    scratch *= 1 - beta_2
    v += scratch
    if v_max is not None:
        xp.maximum(v_max, v, out=v_max)
    xp.sqrt(v if v_max is None else v_max, out=scratch)
    scratch += epsilon
    xp.divide(m, scratch, out=scratch)
    scratch *= alpha
    param -= scratch


def rmsprop_update(param, grad, velocity, lr, rho=0.9, epsilon=1e-7, decay=0.0, average_grad=None, momentum=0.0,
                   momentum_slot=None):
    """``v = rho v + (1 - rho) g^2``; ``w -= lr g / sqrt(v + epsilon)``. Centered (an ``average_grad``
    given): ``a = rho a + (1 - rho) g`` and ``v - a^2 + epsilon`` under the root. With ``momentum``
    (and its ``momentum_slot``): ``u = momentum u + lr g / sqrt(...)``, ``w -= u``."""
    decay_weights(param, decay)
    xp = array_module(param)
    velocity *= rho
    velocity += (1 - rho) * grad * grad
    denominator = velocity + epsilon
    if average_grad is not None:
        average_grad *= rho
        average_grad += (1 - rho) * grad
        denominator = velocity - average_grad * average_grad + epsilon
    increment = lr * grad / xp.sqrt(denominator)
    if momentum:
        momentum_slot *= momentum
        momentum_slot += increment
        increment = momentum_slot
    param -= increment


def adagrad_update(param, grad, accumulator, lr, epsilon=1e-7, decay=0.0):
    """``s += g^2``; ``w -= lr g / sqrt(s + epsilon)`` (Keras starts s at initial_accumulator_value)."""
    decay_weights(param, decay)
    accumulator += grad * grad
    param -= lr * grad / array_module(param).sqrt(accumulator + epsilon)


def adamax_update(param, grad, m, norm, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, decay=0.0):
    """``m += (g - m)(1 - beta_1)``; ``u = max(beta_2 u, |g|)``; ``w -= lr m / ((1 - beta_1^step)(u +
    epsilon))``; ``step`` counts from 1."""
    check_step(step)
    decay_weights(param, decay)
    xp = array_module(param)
    m += (grad - m) * (1 - beta_1)
    xp.maximum(beta_2 * norm, abs(grad), out=norm)
    param -= lr * m / ((1 - beta_1**step) * (norm + epsilon))


NADAM_DECAY = 0.96  # Dozat's momentum schedule: u_t = beta_1 (1 - NADAM_DECAY^t / 2), as Keras has it


def nadam_momentum(beta_1, step):
    """u_step, Nadam's momentum at ``step`` (counting from 1)."""
    return beta_1 * (1 - 0.5 * NADAM_DECAY**step)


def nadam_momentum_product(beta_1, step):
    """u_1 u_2 ... u_step, which Keras keeps as the variable ``u_product`` (1 before the first step)."""
    return math.prod(nadam_momentum(beta_1, k) for k in range(1, step + 1))


def nadam_coefficients(beta_1, beta_2, step, u_product):
    """``(c_m, c_g, v_scale)`` of step ``step`` given ``u_product`` = u_1 ... u_step: Keras's
    m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product) as c_m m + c_g g, and
    v_hat = v v_scale, v_scale = 1 / (1 - beta_2^t); the same for every element of every parameter."""
    u_next = nadam_momentum(beta_1, step + 1)
    return (u_next / (1 - u_product * u_next), (1 - nadam_momentum(beta_1, step)) / (1 - u_product),
            1 / (1 - beta_2**step))


def nadam_update(param, grad, m, v, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, u_product=None, decay=0.0):
    """One Nadam step: Adam's m and v, then ``w -= lr (c_m m + c_g g) / (sqrt(v v_scale) + epsilon)``
    (nadam_coefficients). ``u_product``: nadam_momentum_product(beta_1, step), computed if not given
    (the optimizer keeps it step to step, as Keras does)."""
    check_step(step)
    if u_product is None:
        u_product = nadam_momentum_product(beta_1, step)
    momentum_scale, gradient_scale, v_scale = nadam_coefficients(beta_1, beta_2, step, u_product)
    decay_weights(param, decay)
    xp = array_module(param)
    m += (grad - m) * (1 - beta_1)
    v += (grad * grad - v) * (1 - beta_2)
    m_hat = momentum_scale * m + gradient_scale * grad
    param -= m_hat * lr / (xp.sqrt(v * v_scale) + epsilon)


def adadelta_update(param, grad, accumulated_grad, accumulated_delta, lr, rho=0.95, epsilon=1e-7, decay=0.0):
    """``s = rho s + (1 - rho) g^2``; ``d = -sqrt(x + epsilon) g / sqrt(s + epsilon)``; ``x = rho x +
    (1 - rho) d^2``; ``w += lr d`` (s: accumulated_grad, x: accumulated_delta)."""
    decay_weights(param, decay)
    xp = array_module(param)
    accumulated_grad *= rho
    accumulated_grad += (1 - rho) * (grad * grad)
    step = -(xp.sqrt(accumulated_delta + epsilon) * grad / xp.sqrt(accumulated_grad + epsilon))
    accumulated_delta *= rho
    accumulated_delta += (1 - rho) * (step * step)
    param += lr * step


def lion_update(param, grad, m, lr, beta_1=0.9, beta_2=0.99, decay=0.0):
    """``w -= lr sign(beta_1 m + (1 - beta_1) g)``, then ``m = beta_2 m + (1 - beta_2) g``."""
    decay_weights(param, decay)
    param -= lr * array_module(param).sign(m * beta_1 + grad * (1 - beta_1))
    m *= beta_2
    m += grad * (1 - beta_2)



# --- kernels: kernels/optim.cu ----------------------------------------------------------------------
# One kernel per update and dtype, over the parameter's elements as a flat vector; every state array
# has the parameter's shape and dtype and is updated in place, so each must be C-contiguous (a copy
# would take the update instead).

_THREADS = 256


def _step_params(dtype, states, scalars):
    return [Array("w", dtype), Array("g", dtype), *(Array(name, dtype) for name in states), Scalar("n", "int32"),
            *(Scalar(name, dtype) for name in scalars)]


SGD_KERNELS = {
    (dtype, momentum, nesterov): Kernel("optim.cu", f"sgd_step<{ctype}, {cpp_bool(momentum)}, {cpp_bool(nesterov)}>",
                                        _step_params(dtype, ["velocity"], ["lr", "momentum", "decay"]))
    for dtype, ctype in C_TYPES.items() for momentum, nesterov in ((False, False), (True, False), (True, True))
}
ADAM_KERNELS = {(dtype, amsgrad): Kernel("optim.cu", f"adam_step<{ctype}, {cpp_bool(amsgrad)}>",
                                         _step_params(dtype, ["m", "v", "v_max"],
                                                      ["alpha", "one_minus_beta_1", "one_minus_beta_2", "epsilon",
                                                       "decay"]))
                for dtype, ctype in C_TYPES.items() for amsgrad in (False, True)}
RMSPROP_KERNELS = {
    (dtype, centered, momentum): Kernel(
        "optim.cu", f"rmsprop_step<{ctype}, {cpp_bool(centered)}, {cpp_bool(momentum)}>",
        _step_params(dtype, ["velocity", "average_grad", "momentum_slot"],
                     ["lr", "rho", "one_minus_rho", "epsilon", "momentum", "decay"]))
    for dtype, ctype in C_TYPES.items() for centered in (False, True) for momentum in (False, True)
}
ADAGRAD_KERNELS = {dtype: Kernel("optim.cu", f"adagrad_step<{ctype}>",
                                 _step_params(dtype, ["accumulator"], ["lr", "epsilon", "decay"]))
                   for dtype, ctype in C_TYPES.items()}
ADAMAX_KERNELS = {dtype: Kernel("optim.cu", f"adamax_step<{ctype}>",
                                _step_params(dtype, ["m", "norm"], ["lr", "one_minus_beta_1", "beta_2", "epsilon",
                                                                    "one_minus_beta_1_power", "decay"]))
                  for dtype, ctype in C_TYPES.items()}
NADAM_KERNELS = {dtype: Kernel("optim.cu", f"nadam_step<{ctype}>",
                               _step_params(dtype, ["m", "v"],
                                            ["lr", "one_minus_beta_1", "one_minus_beta_2", "epsilon", "momentum_scale",
                                             "gradient_scale", "v_scale", "decay"]))
                 for dtype, ctype in C_TYPES.items()}
ADADELTA_KERNELS = {dtype: Kernel("optim.cu", f"adadelta_step<{ctype}>",
                                  _step_params(dtype, ["accumulated_grad", "accumulated_delta"],
                                               ["lr", "rho", "one_minus_rho", "epsilon", "decay"]))
                    for dtype, ctype in C_TYPES.items()}
LION_KERNELS = {dtype: Kernel("optim.cu", f"lion_step<{ctype}>",
                              _step_params(dtype, ["m"], ["lr", "beta_1", "one_minus_beta_1", "beta_2",
                                                          "one_minus_beta_2", "decay"]))
                for dtype, ctype in C_TYPES.items()}


# The most elements an int index reaches (np.iinfo takes microseconds to build, at every update).
_INT_MAX = int(np.iinfo(np.int32).max)


def _checked_states(param, grad, *states):
    """``param``'s dtype name, once grad and every state match its shape and dtype."""
    dtype = dtype_name(param)
    if dtype not in C_TYPES:
        raise ValueError(f"the optimizer kernels update float32 or float64 parameters, got {param.dtype}")
    for name, a in (("grad", grad), *states):
        check_shape(a, param.shape, name, "the parameter's shape")
        if a.dtype != param.dtype:
            raise ValueError(f"{name} must have the parameter's dtype {param.dtype}, got {a.dtype}")
    if param.size > _INT_MAX:
        raise ValueError(f"the optimizer kernels index with int: {param.size} elements are too many")
    return dtype


def _launch(kernel, param, arrays, scalars, backend):
    kernel(*grid_stride_launch(param.size), (*arrays, param.size, *scalars), backend=resolve_backend(backend))


def sgd_update_kernel(param, grad, velocity, lr, momentum=0.0, nesterov=False, decay=0.0, backend=None):
    """``sgd_update`` by kernel ``sgd_step``, in place (velocity None when momentum is 0)."""
    states = (("velocity", velocity),) if momentum != 0 else ()
    dtype = _checked_states(param, grad, *states)
    with_momentum = momentum != 0
    kernel = SGD_KERNELS[dtype, with_momentum, bool(nesterov) and with_momentum]
    # Without momentum the kernel never reads the velocity: the parameter fills the slot.
    _launch(kernel, param, (param, grad, velocity if with_momentum else param), (lr, momentum, decay), backend)


def adam_update_kernel(param, grad, m, v, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, decay=0.0,
                       v_max=None, backend=None):
    """``adam_update`` by kernel ``adam_step``, in place; ``step`` counts from 1 (AMSGrad with ``v_max``)."""
    check_step(step)
    amsgrad = v_max is not None
    dtype = _checked_states(param, grad, ("m", m), ("v", v), *[("v_max", v_max)] * amsgrad)
    # Without AMSGrad the kernel never touches v_max: the parameter fills its place.
    _launch(ADAM_KERNELS[dtype, amsgrad], param, (param, grad, m, v, v_max if amsgrad else param),
            (adam_step_size(lr, beta_1, beta_2, step), 1 - beta_1, 1 - beta_2, epsilon, decay), backend)


# adam_step_multi: MULTI_TENSORS slots of (w, g, m, v, n) as the launch's arguments, then the scalars.
MULTI_TENSORS = 8  # MULTI_TENSORS of optim.cu
ADAM_CHUNK = 4096  # ADAM_CHUNK of optim.cu: elements a block takes
_SLOT_ARRAYS = ("w", "g", "m", "v")


def _slot_params(dtype, slot):
    """adam_step_multi's parameters of slot ``slot``: its w, g, m, v and n."""
    return [*(Array(f"{name}{slot}", dtype) for name in _SLOT_ARRAYS), Scalar(f"n{slot}", "int32")]


ADAM_MULTI_KERNELS = {
    dtype: Kernel("optim.cu", f"adam_step_multi<{ctype}>",
                  [param for slot in range(MULTI_TENSORS) for param in _slot_params(dtype, slot)]
                  + [Scalar(name, dtype)
                     for name in ("alpha", "one_minus_beta_1", "one_minus_beta_2", "epsilon", "decay")])
    for dtype, ctype in C_TYPES.items()
}


def adam_update_many_kernel(params, grads, ms, vs, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, decay=0.0,
                            backend=None):
    """``adam_update`` of every parameter in ``params`` (and its gradient and states, in the lists'
    order), in place, by kernel ``adam_step_multi``: one launch per MULTI_TENSORS parameters. Every
    array must be of one dtype; each parameter's result is adam_update_kernel's, bit for bit."""
    check_step(step)
    if not len(params) == len(grads) == len(ms) == len(vs):
        raise ValueError(f"one gradient and two states per parameter: got {len(params)} parameters, "
                         f"{len(grads)} gradients, {len(ms)} and {len(vs)} states")
    dtypes = {_checked_states(*tensor) for tensor in zip(params, grads, (("m", m) for m in ms), (("v", v) for v in vs))}
    if len(dtypes) > 1:
        raise ValueError(f"one launch updates parameters of one dtype, got {sorted(dtypes)}")
    kernel = ADAM_MULTI_KERNELS[dtypes.pop()] if dtypes else None
    scalars = (adam_step_size(lr, beta_1, beta_2, step), 1 - beta_1, 1 - beta_2, epsilon, decay)
    tensors = [t for t in zip(params, grads, ms, vs) if t[0].size]  # an empty parameter has nothing to update
    backend = resolve_backend(backend)
    for first in range(0, len(tensors), MULTI_TENSORS):
        group = tensors[first:first + MULTI_TENSORS]
        # Empty slots: the first tensor's arrays with n = 0, never read.
        slots = group + [group[0]] * (MULTI_TENSORS - len(group))
        sizes = [w.size for w, *_ in group] + [0] * (MULTI_TENSORS - len(group))
        blocks = sum(ceil_div(n, ADAM_CHUNK) for n in sizes)
        kernel((blocks,), (_THREADS,), (*(a for arrays, n in zip(slots, sizes) for a in (*arrays, n)), *scalars),
               backend=backend)


def rmsprop_update_kernel(param, grad, velocity, lr, rho=0.9, epsilon=1e-7, decay=0.0, average_grad=None,
                          momentum=0.0, momentum_slot=None, backend=None):
    """``rmsprop_update`` by kernel ``rmsprop_step``, in place (centered when ``average_grad`` is given)."""
    centered, with_momentum = average_grad is not None, momentum != 0
    states = [("velocity", velocity)] + [("average_grad", average_grad)] * centered
    states += [("momentum_slot", momentum_slot)] * with_momentum
    dtype = _checked_states(param, grad, *states)
    # A slot the kernel never touches (its flag off) is filled by the parameter.
    _launch(RMSPROP_KERNELS[dtype, centered, with_momentum], param,
            (param, grad, velocity, average_grad if centered else param, momentum_slot if with_momentum else param),
            (lr, rho, 1 - rho, epsilon, momentum, decay), backend)


def adagrad_update_kernel(param, grad, accumulator, lr, epsilon=1e-7, decay=0.0, backend=None):
    """``adagrad_update`` by kernel ``adagrad_step``, in place."""
    dtype = _checked_states(param, grad, ("accumulator", accumulator))
    _launch(ADAGRAD_KERNELS[dtype], param, (param, grad, accumulator), (lr, epsilon, decay), backend)


def adamax_update_kernel(param, grad, m, norm, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, decay=0.0,
                         backend=None):
    """``adamax_update`` by kernel ``adamax_step``, in place; ``step`` counts from 1."""
    check_step(step)
    dtype = _checked_states(param, grad, ("m", m), ("norm", norm))
    _launch(ADAMAX_KERNELS[dtype], param, (param, grad, m, norm),
            (lr, 1 - beta_1, beta_2, epsilon, 1 - beta_1**step, decay), backend)


def nadam_update_kernel(param, grad, m, v, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=1, u_product=None,
                        decay=0.0, backend=None):
    """``nadam_update`` by kernel ``nadam_step``, in place; ``step`` counts from 1."""
    check_step(step)
    if u_product is None:
        u_product = nadam_momentum_product(beta_1, step)
    dtype = _checked_states(param, grad, ("m", m), ("v", v))
    _launch(NADAM_KERNELS[dtype], param, (param, grad, m, v),
            (lr, 1 - beta_1, 1 - beta_2, epsilon, *nadam_coefficients(beta_1, beta_2, step, u_product), decay),
            backend)


def lion_update_kernel(param, grad, m, lr, beta_1=0.9, beta_2=0.99, decay=0.0, backend=None):
    """``lion_update`` by kernel ``lion_step``, in place."""
    dtype = _checked_states(param, grad, ("m", m))
    _launch(LION_KERNELS[dtype], param, (param, grad, m), (lr, beta_1, 1 - beta_1, beta_2, 1 - beta_2, decay),
            backend)


def adadelta_update_kernel(param, grad, accumulated_grad, accumulated_delta, lr, rho=0.95, epsilon=1e-7, decay=0.0,
                           backend=None):
    """``adadelta_update`` by kernel ``adadelta_step``, in place."""
    dtype = _checked_states(param, grad, ("accumulated_grad", accumulated_grad),
                            ("accumulated_delta", accumulated_delta))
    _launch(ADADELTA_KERNELS[dtype], param, (param, grad, accumulated_grad, accumulated_delta),
            (lr, rho, 1 - rho, epsilon, decay), backend)
