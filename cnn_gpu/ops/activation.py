"""Activations, forward and backward: relu, sigmoid, tanh, softmax (last axis), linear, and Keras's
elu, selu, leaky_relu (its activation's slope, 0.2), softplus, softsign, gelu (exact), swish (silu),
relu6, hard_sigmoid, hard_silu (hard_swish), mish and exponential; and the layers' forms with
arguments: Keras's relu at any slope, threshold and cap (the ReLU and LeakyReLU layers), elu at any
alpha (ELU), softmax over any axes (Softmax).

Every backward takes the forward's input ``x``, its output ``y`` and the upstream gradient ``dy`` and
uses whichever of ``x`` and ``y`` gives the cheaper formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnn_gpu.cuda.kernel import Array, Kernel, Scalar, backend_xp, current_device, resolve_backend
from cnn_gpu.ops import gemm_plans, reduce
from cnn_gpu.ops.common import (C_TYPES, WARP, array_module, ceil_div, check_shape, cpp_bool, dtype_name,
                                grid_stride_launch, output_array, quads_fit)


def relu(x):
    # A zero of x's own type: with a Python 0 NumPy takes a slower mixed-type path (2x on float32).
    return array_module(x).maximum(x, x.dtype.type(0))


def relu_backward(x, y, dy):
    return dy * (x > 0)


def sigmoid(x):
    """1 / (1 + e^-x), written with e^-|x| so that no exponential overflows for large |x|."""
    xp = array_module(x)
    z = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, z) / (1 + z)


def sigmoid_backward(x, y, dy):
    return dy * y * (1 - y)


def tanh(x):
    return array_module(x).tanh(x)


def tanh_backward(x, y, dy):
    return dy * (1 - y * y)


def softmax(x, axis=-1):
    """Softmax over ``axis`` (the last by default; an int or a tuple of ints, a tuple normalising over
    those axes together, as Keras's Softmax layer); subtracting the maximum keeps every exponent <= 0."""
    xp = array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(x, y, dy, axis=-1):
    # The Jacobian is diag(y) - y y^T; applied to dy without forming it.
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def elu(x):
    """x above 0, e^x - 1 below (Keras's alpha of 1); expm1 keeps the digits near 0."""
    xp = array_module(x)
    return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)))


def elu_backward(x, y, dy):
    return array_module(y).where(y > 0, dy, dy * (y + 1))


def elu_with_alpha(x, alpha):
    """The ELU layer's elu: x above 0, alpha (e^x - 1) below, alpha rounded to x's dtype (as Keras's)."""
    xp = array_module(x)
    return xp.where(x > 0, x, x.dtype.type(alpha) * xp.expm1(xp.minimum(x, 0)))


def elu_with_alpha_backward(x, dy, alpha):
    # From x: at alpha <= 0, y says nothing of x's sign. At 0, alpha (Keras on JAX: alpha e^0).
    xp = array_module(x)
    return xp.where(x > 0, dy, dy * (x.dtype.type(alpha) * xp.exp(xp.minimum(x, 0))))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(x):
    xp = array_module(x)
    return SELU_SCALE * xp.where(x > 0, x, SELU_ALPHA * xp.expm1(xp.minimum(x, 0)))


def selu_backward(x, y, dy):
    return array_module(y).where(y > 0, dy * SELU_SCALE, dy * (y + SELU_SCALE * SELU_ALPHA))


LEAKY_RELU_SLOPE = 0.2  # keras.activations.leaky_relu's negative_slope


def leaky_relu(x, slope=LEAKY_RELU_SLOPE):
    """x at or above 0, slope x below: the activation string's slope 0.2, the LeakyReLU layer's its own."""
    return array_module(x).where(x >= 0, x, slope * x)


def leaky_relu_backward(x, y, dy, slope=LEAKY_RELU_SLOPE):
    # From x, not y: at slope 0, y is 0 on both sides of x = 0.
    return array_module(x).where(x >= 0, dy, dy * slope)


def prelu(x, alpha):
    """Keras's PReLU: x where x > 0, alpha x elsewhere, alpha (a learned weight) broadcast over x's leading
    axes and over its shared ones (where alpha's size is 1); formed as Keras forms it, relu(x) - alpha
    relu(-x)."""
    xp = array_module(x)
    return xp.maximum(x, 0) - alpha * xp.maximum(-x, 0)


def prelu_backward(x, alpha, dy):
    """``(dx, dalpha)`` of prelu: dy where x > 0, alpha dy where x < 0 (0 at x = 0, as relu's derivative
    there); dalpha the sum of dy min(x, 0) over every axis alpha is broadcast along."""
    xp = array_module(x)
    dx = xp.where(x > 0, dy, xp.where(x < 0, alpha * dy, 0))
    terms = dy * xp.minimum(x, 0)
    spread = terms.ndim - alpha.ndim
    shared = tuple(range(spread)) + tuple(spread + i for i, size in enumerate(alpha.shape) if size == 1)
    return dx, terms.sum(axis=shared, keepdims=True).reshape(alpha.shape)


@dataclass(frozen=True)
class ReluArguments:
    """Keras's relu at any arguments, and the derivative it takes at its two kinks.

    y = min(x, max_value) above ``threshold``, ``negative_slope`` (x - threshold) at or below it (0 at
    the threshold itself: a jump there, where threshold > 0). ``max_value`` +inf is Keras's None.
    The derivative is 1 between the kinks, 0 above max_value, negative_slope below the threshold; at
    them Keras on JAX (3.15.1, measured) gives, by the path its relu takes:
    - x == threshold: 0 (its where(x > threshold) and relu(threshold - x) both give 0 there), but 1
      where the arguments make it jax.nn.leaky_relu (a slope, threshold 0, no max_value): x >= 0;
    - x == max_value: 0.5, jnp.clip's tie split in half, but 0 where the arguments make it
      jax.nn.relu6 (max_value 6, threshold 0), whose derivative is 0 at 6 (and 1 at +inf without a
      max_value: no clip).
    (Keras on TensorFlow differs: its clip passes the whole gradient at the tie.) The LeakyReLU layer
    is ``leaky(slope)``: its x >= 0 at every slope, 0 included."""

    negative_slope: float = 0.0
    threshold: float = 0.0
    max_value: float = math.inf
    gradient_at_threshold: float = 0.0
    gradient_at_max: float = 0.5

    @classmethod
    def keras(cls, negative_slope=0.0, max_value=None, threshold=0.0):
        """The arguments of ``keras.activations.relu`` (and the ReLU layer), with Keras's kinks."""
        if max_value is None:  # no cap: the derivative 1 up to +inf
            return cls(float(negative_slope), float(threshold), math.inf,
                       1.0 if negative_slope != 0 and threshold == 0 else 0.0, 1.0)
        return cls(float(negative_slope), float(threshold), float(max_value), 0.0,
                   0.0 if threshold == 0 and max_value == 6 else 0.5)

    @classmethod
    def leaky(cls, slope):
        """The LeakyReLU layer's leaky_relu: x >= 0 ? x : slope x, the derivative 1 at 0."""
        return cls(float(slope), 0.0, math.inf, 1.0, 1.0)


def relu_with_arguments(x, arguments):
    """Keras's relu at ``arguments`` (a ReluArguments), every scalar rounded to x's dtype first."""
    xp = array_module(x)
    slope, threshold, max_value = (x.dtype.type(v) for v in
                                   (arguments.negative_slope, arguments.threshold, arguments.max_value))
    return xp.where(x > threshold, xp.minimum(x, max_value), slope * (x - threshold))


def relu_with_arguments_backward(x, dy, arguments):
    """Its gradient to x, from the forward's input x (at slope 0, y says nothing of x below the
    threshold); at the kinks the derivatives ``arguments`` name."""
    xp = array_module(x)
    at_threshold, at_max = (x.dtype.type(v) for v in (arguments.gradient_at_threshold, arguments.gradient_at_max))
    threshold, max_value = x.dtype.type(arguments.threshold), x.dtype.type(arguments.max_value)
    above = xp.where(x < max_value, dy, xp.where(x == max_value, at_max * dy, 0))
    below = xp.where(x == threshold, at_threshold * dy, x.dtype.type(arguments.negative_slope) * dy)
    return xp.where(x > threshold, above, below).astype(dy.dtype, copy=False)


def softplus(x):
    """log(1 + e^x) as max(x, 0) + log(1 + e^-|x|): no exponential overflows."""
    xp = array_module(x)
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def softplus_backward(x, y, dy):
    return -dy * array_module(y).expm1(-y)  # sigmoid(x) = 1 - e^-y


def softsign(x):
    return x / (array_module(x).abs(x) + 1)


def softsign_backward(x, y, dy):
    return dy * (1 - array_module(y).abs(y)) ** 2


def _normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt(2)) / 2 in x's dtype: erfc keeps the digits far below 0 that 1 + erf
    loses. NumPy has no erfc: math.erfc element by element (exact, but a Python call an element: slow
    on large arrays); CuPy's from cupyx."""
    xp = array_module(x)
    if xp is np:
        return (0.5 * np.asarray(np.frompyfunc(math.erfc, 1, 1)(-x / math.sqrt(2)), dtype=np.float64)).astype(x.dtype)
    from cupyx.scipy.special import erfc

    return (0.5 * erfc(-x / math.sqrt(2))).astype(x.dtype, copy=False)


def gelu(x):
    """Keras's exact gelu (approximate=False): x Phi(x)."""
    return x * _normal_cdf(x)


def gelu_backward(x, y, dy):
    density = array_module(x).exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return dy * (_normal_cdf(x) + x * density)


def swish(x):
    """x sigmoid(x): Keras's swish, also named silu."""
    return x * sigmoid(x)


def swish_backward(x, y, dy):
    s = sigmoid(x)
    return dy * (s + x * s * (1 - s))


# Keras 3's relu6, hard_sigmoid and hard_silu are jax.nn's, computed in x's dtype as written (a true
# division by 6, where XLA multiplies by 1/6 rounded, at times an ulp away). At their kinks (relu6's
# 0 and 6, the others' -3 and 3) Keras on JAX takes the derivative of jax.nn.relu6's custom rule, 1
# for 0 < x < 6 only (3.15.1, measured with jax.grad): relu6' 0 at 0 and 6; hard_sigmoid' 0 at -3
# and 3; hard_silu' = hard_sigmoid alone there, 0 at -3 and 1 at 3.

def relu6(x):
    """min(max(x, 0), 6); a NaN stays NaN."""
    xp = array_module(x)
    return xp.minimum(xp.maximum(x, x.dtype.type(0)), x.dtype.type(6))


def relu6_backward(x, y, dy):
    return dy * ((y > 0) & (y < 6))  # 0 < y < 6 is 0 < x < 6


def hard_sigmoid(x):
    """Keras 3's relu6(x + 3) / 6 (not Keras 2's 0.2 x + 0.5), in x's dtype."""
    return relu6(x + x.dtype.type(3)) / x.dtype.type(6)


def hard_sigmoid_backward(x, y, dy):
    # 0 < y < 1 is 0 < x + 3 < 6: relu6(x + 3) / 6 rounds to neither 0 nor 1 between the kinks.
    return (dy / 6) * ((y > 0) & (y < 1))


def hard_silu(x):
    """x hard_sigmoid(x): Keras's hard_silu, also named hard_swish."""
    return x * hard_sigmoid(x)


def hard_silu_backward(x, y, dy):
    # Keras on JAX's terms: dy h, plus (x dy) / 6 between the kinks (a where(), not a product: an
    # infinite x outside them adds 0, not NaN).
    h = hard_sigmoid(x)
    return dy * h + array_module(x).where((h > 0) & (h < 1), x * dy / 6, dy.dtype.type(0))


def mish(x):
    """x tanh(softplus(x)), softplus's form without overflow."""
    return x * array_module(x).tanh(softplus(x))


def mish_backward(x, y, dy):
    t = array_module(x).tanh(softplus(x))
    return dy * (t + x * sigmoid(x) * ((1 - t) * (1 + t)))  # 1 - t^2, 1 - t exact for t near 1


def exponential(x):
    return array_module(x).exp(x)


def exponential_backward(x, y, dy):
    return dy * y


def linear(x):
    return x


def linear_backward(x, y, dy):
    return dy


FORWARD = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "linear": linear, "elu": elu,
           "selu": selu, "leaky_relu": leaky_relu, "softplus": softplus, "softsign": softsign, "gelu": gelu,
           "swish": swish, "silu": swish, "relu6": relu6, "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu,
           "hard_swish": hard_silu, "mish": mish, "exponential": exponential}
BACKWARD = {
    "relu": relu_backward,
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "softmax": softmax_backward,
    "linear": linear_backward,
    "elu": elu_backward,
    "selu": selu_backward,
    "leaky_relu": leaky_relu_backward,
    "softplus": softplus_backward,
    "softsign": softsign_backward,
    "gelu": gelu_backward,
    "swish": swish_backward,
    "silu": swish_backward,
    "relu6": relu6_backward,
    "hard_sigmoid": hard_sigmoid_backward,
    "hard_silu": hard_silu_backward,
    "hard_swish": hard_silu_backward,
    "mish": mish_backward,
    "exponential": exponential_backward,
}


def check_activation(name):
    """``name`` if it is a known activation, else a ValueError listing the known ones."""
    if name not in FORWARD:
        raise ValueError(f"activation must be one of {sorted(FORWARD)}, got {name!r}")
    return name


def activation_forward(name, x):
    return FORWARD[check_activation(name)](x)


def activation_backward(name, x, y, dy):
    return BACKWARD[check_activation(name)](x, y, dy)


# --- kernels: bias + activation in kernels/activation.cu ------------------------------------------
# Every array is seen as a rows x cols matrix whose last axis (the channel) is the bias axis.

KERNEL_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "elu", "selu", "leaky_relu", "softplus", "softsign",
                      "gelu", "swish", "silu", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "mish",
                      "exponential")
# Those whose derivative y does not give: their backward is act_backward_from_input's, from x.
INPUT_BACKWARD_ACTIVATIONS = ("gelu", "swish", "silu", "hard_silu", "hard_swish", "mish")
OUTPUT_BACKWARD_ACTIVATIONS = tuple(a for a in KERNEL_ACTIVATIONS if a not in INPUT_BACKWARD_ACTIVATIONS)
ACT_NAMES = {"silu": "swish", "hard_swish": "hard_silu"}  # activation.cu's Act of each name, where the two differ
FORWARD_VARIANTS = ("grid_stride", "float4")


def _matrix_params(dtype, *arrays):
    return [Array(name, dtype) for name in arrays] + [Scalar("rows", "int32"), Scalar("cols", "int32")]


def _act(name):
    return f"Act::{ACT_NAMES.get(name, name)}"


FORWARD_KERNELS = {
    ("grid_stride", act, dtype, bias): Kernel(
        "activation.cu", f"bias_act_forward<{ctype}, {_act(act)}, {cpp_bool(bias)}>",
        _matrix_params(dtype, "x", "bias", "y"))
    for act in KERNEL_ACTIVATIONS for dtype, ctype in C_TYPES.items() for bias in (True, False)
} | {
    ("float4", act, "float32", bias): Kernel(
        "activation.cu", f"bias_act_forward_float4<{_act(act)}, {cpp_bool(bias)}>",
        _matrix_params("float32", "x", "bias", "y"))
    for act in KERNEL_ACTIVATIONS for bias in (True, False)
}
BACKWARD_KERNELS = {
    (act, dtype, bias): Kernel(
        "activation.cu", f"bias_act_backward<{ctype}, {_act(act)}, {cpp_bool(bias)}>",
        _matrix_params(dtype, "y", "dy", "dx", "partial"))
    for act in OUTPUT_BACKWARD_ACTIVATIONS for dtype, ctype in C_TYPES.items() for bias in (True, False)
}
INPUT_BACKWARD_KERNELS = {
    (act, dtype): Kernel("activation.cu", f"act_backward_from_input<{ctype}, {_act(act)}>",
                         [Array("z", dtype), Array("dy", dtype), Array("dx", dtype), Scalar("n", "int64")])
    for act in INPUT_BACKWARD_ACTIVATIONS for dtype, ctype in C_TYPES.items()
}


def _as_matrix(x, what):
    """(rows, cols) of ``x`` seen as a matrix over its last axis, after the checks a kernel needs."""
    # dtype_name, not str(x.dtype): NumPy builds that string in Python, microseconds per call.
    if not hasattr(x, "dtype") or dtype_name(x) not in C_TYPES or x.ndim == 0 or x.size == 0:
        raise ValueError(f"{what} must be a non-empty float32 or float64 array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)} of shape {getattr(x, 'shape', None)}")
    return x.size // x.shape[-1], x.shape[-1]


def _check_kernel_activation(name):
    if name not in KERNEL_ACTIVATIONS:
        raise ValueError(f"the activation kernels compute {KERNEL_ACTIVATIONS}, got {name!r}")


def _unused_pointer(backend, dtype):
    """What fills a pointer parameter the kernel never reads (BIAS = false): one element, never touched,
    made once per device and dtype (an allocation per launch cost microseconds of host time in CuPy)."""
    return gemm_plans.placeholder_vector(backend, current_device(backend), dtype)



def _float4_fits(cols, *arrays):
    """float4 needs whole float4s per row and 16-byte-aligned arrays (a sliced view may not be)."""
    return all(a.dtype == "float32" for a in arrays) and quads_fit(cols, *arrays)


def bias_activation_forward(x, bias, name, variant="auto", out=None, backend=None):
    """``act(x + bias)`` by kernel, bias over the last axis (or None); ``variant`` auto picks float4 where it fits."""
    _check_kernel_activation(name)
    rows, cols = _as_matrix(x, "x")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    if bias is not None:
        check_shape(bias, (cols,), "bias")
    out = output_array(out, x.shape, x.dtype, "out", xp)
    present = [a for a in (x, bias, out) if a is not None]
    if variant == "auto":
        variant = "float4" if _float4_fits(cols, *present) else "grid_stride"
    if variant not in FORWARD_VARIANTS or (variant == "float4" and not _float4_fits(cols, *present)):
        raise ValueError(f"variant must be 'auto' or one of {FORWARD_VARIANTS} (float4 needs float32, cols % 4 == 0 "
                         f"and 16-byte-aligned arrays), got {variant!r} for {x.dtype} with {cols} columns")
    elements = rows * cols // (4 if variant == "float4" else 1)
    kernel = FORWARD_KERNELS[variant, name, dtype_name(x), bias is not None]
    bias_arg = bias if bias is not None else _unused_pointer(backend, dtype_name(x))
    kernel(*grid_stride_launch(elements), (x, bias_arg, out, rows, cols), backend=backend)
    return out


def bias_activation_backward(y, dy, name, with_bias=True, dx=None, backend=None):
    """``(dx, dbias)`` from the forward output ``y`` and upstream ``dy``; dbias is None without bias."""
    _check_kernel_activation(name)
    if name in INPUT_BACKWARD_ACTIVATIONS:
        raise ValueError(f"{name}'s derivative needs the forward's input, not its output: "
                         "use activation_backward_from_input_kernel")
    rows, cols = _as_matrix(y, "y")
    check_shape(dy, y.shape, "dy")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    dx = output_array(dx, y.shape, y.dtype, "dx", xp)
    # The bias gradient is a column sum, computed as reduce.column_sum's partial variant computes it.
    grid = reduce.column_partial_grid(rows, cols)
    # The partial sums live until finish_column_sum's launch: a workspace, as column_sum's are.
    if with_bias:
        partial = gemm_plans.split_k_workspace(backend, current_device(backend), (grid[1], cols), dtype_name(y),
                                               owner="column sums")
    else:
        partial = _unused_pointer(backend, dtype_name(y))
    kernel = BACKWARD_KERNELS[name, dtype_name(y), with_bias]
    kernel(grid, (WARP, reduce.COLUMN_BLOCK_ROWS), (y, dy, dx, partial, rows, cols), backend=backend)
    if not with_bias:
        return dx, None
    return dx, reduce.finish_column_sum(partial, xp.empty(cols, dtype=y.dtype), backend)


def activation_backward_from_input_kernel(z, dy, name, dx=None, backend=None):
    """dx of gelu, swish, hard_silu or mish (INPUT_BACKWARD_ACTIVATIONS) from the forward's input ``z``
    and ``dy``, by act_backward_from_input (rung 4 of activation.cu); no bias gradient."""
    if name not in INPUT_BACKWARD_ACTIVATIONS:
        raise ValueError(f"act_backward_from_input computes {INPUT_BACKWARD_ACTIVATIONS}, got {name!r}")
    _as_matrix(z, "z")
    check_shape(dy, z.shape, "dy")
    backend = resolve_backend(backend)
    dx = output_array(dx, z.shape, z.dtype, "dx", backend_xp(backend))
    INPUT_BACKWARD_KERNELS[name, dtype_name(z)](*grid_stride_launch(z.size), (z, dy, dx, z.size), backend=backend)
    return dx


RELU_KERNELS = {
    dtype: Kernel("activation.cu", f"relu_with_slope_threshold_max<{ctype}>",
                  [Array("z", dtype), Array("y", dtype), Scalar("n", "int64"), Scalar("slope", dtype),
                   Scalar("threshold", dtype), Scalar("max_value", dtype)])
    for dtype, ctype in C_TYPES.items()
}
RELU_BACKWARD_KERNELS = {
    dtype: Kernel("activation.cu", f"relu_with_slope_threshold_max_backward<{ctype}>",
                  [Array("z", dtype), Array("dy", dtype), Array("dx", dtype), Scalar("n", "int64"),
                   Scalar("slope", dtype), Scalar("threshold", dtype), Scalar("max_value", dtype),
                   Scalar("gradient_at_threshold", dtype), Scalar("gradient_at_max", dtype)])
    for dtype, ctype in C_TYPES.items()
}
ELU_KERNELS = {
    dtype: Kernel("activation.cu", f"elu_with_alpha<{ctype}>",
                  [Array("z", dtype), Array("y", dtype), Scalar("n", "int64"), Scalar("alpha", dtype)])
    for dtype, ctype in C_TYPES.items()
}
ELU_BACKWARD_KERNELS = {
    dtype: Kernel("activation.cu", f"elu_with_alpha_backward<{ctype}>",
                  [Array("z", dtype), Array("dy", dtype), Array("dx", dtype), Scalar("n", "int64"),
                   Scalar("alpha", dtype)])
    for dtype, ctype in C_TYPES.items()
}


def _elementwise_launch(kernels, z, others, out, name, scalars, backend):
    """One of rungs 5 and 6 over every element of ``z`` (any rank): ``others`` (dy) must match z, the
    output ``out`` (made if None) too; ``scalars`` follow n, each cast to z's dtype by the Kernel."""
    _as_matrix(z, "z")
    for array, array_name in others:
        check_shape(array, z.shape, array_name)
    backend = resolve_backend(backend)
    out = output_array(out, z.shape, z.dtype, name, backend_xp(backend))
    kernels[dtype_name(z)](*grid_stride_launch(z.size), (z, *(a for a, _ in others), out, z.size, *scalars),
                           backend=backend)
    return out


def relu_with_arguments_kernel(z, arguments, y=None, backend=None):
    """``relu_with_arguments(z, arguments)`` by relu_with_slope_threshold_max (rung 5 of activation.cu),
    into ``y`` if given."""
    return _elementwise_launch(RELU_KERNELS, z, (), y, "y",
                               (arguments.negative_slope, arguments.threshold, arguments.max_value), backend)


def relu_with_arguments_backward_kernel(z, dy, arguments, dx=None, backend=None):
    """``relu_with_arguments_backward`` from the forward's input ``z`` by its backward kernel."""
    scalars = (arguments.negative_slope, arguments.threshold, arguments.max_value, arguments.gradient_at_threshold,
               arguments.gradient_at_max)
    return _elementwise_launch(RELU_BACKWARD_KERNELS, z, ((dy, "dy"),), dx, "dx", scalars, backend)


def leaky_relu_kernel(z, slope, y=None, backend=None):
    """``leaky_relu(z, slope)``: rung 5 at threshold 0 and no max_value, into ``y`` if given."""
    return relu_with_arguments_kernel(z, ReluArguments.leaky(slope), y, backend)


def leaky_relu_backward_kernel(z, dy, slope, dx=None, backend=None):
    """``leaky_relu_backward`` from the forward's input ``z``: rung 5's backward, the derivative 1 at 0."""
    return relu_with_arguments_backward_kernel(z, dy, ReluArguments.leaky(slope), dx, backend)


def elu_with_alpha_kernel(z, alpha, y=None, backend=None):
    """``elu_with_alpha(z, alpha)`` by elu_with_alpha (rung 6 of activation.cu), into ``y`` if given."""
    return _elementwise_launch(ELU_KERNELS, z, (), y, "y", (alpha,), backend)


def elu_with_alpha_backward_kernel(z, dy, alpha, dx=None, backend=None):
    """``elu_with_alpha_backward`` from the forward's input ``z`` by elu_with_alpha_backward."""
    return _elementwise_launch(ELU_BACKWARD_KERNELS, z, ((dy, "dy"),), dx, "dx", (alpha,), backend)


# --- kernels: softmax over the last axis in kernels/softmax.cu --------------------------------------
# Every array is seen as a rows x cols matrix over its last axis; each row is one softmax.

SOFTMAX_VARIANTS = ("row_per_thread", "warp_per_row", "warp_per_row_registers")
_SOFTMAX_BLOCK = 256  # SOFTMAX_BLOCK of softmax.cu: every kernel runs 256-thread blocks
# The kernels index rows and columns with int, as far as a block past the last row.
_SOFTMAX_LARGEST_INDEX = 2**31 - 1 - _SOFTMAX_BLOCK

SOFTMAX_FORWARD_KERNELS = {
    (variant, dtype): Kernel("softmax.cu", f"softmax_forward_{variant}<{ctype}>", _matrix_params(dtype, "x", "y"))
    for variant in SOFTMAX_VARIANTS for dtype, ctype in C_TYPES.items()
}
SOFTMAX_BACKWARD_KERNELS = {
    (variant, dtype): Kernel("softmax.cu", f"softmax_backward_{variant}<{ctype}>",
                             _matrix_params(dtype, "y", "dy", "dx"))
    for variant in SOFTMAX_VARIANTS for dtype, ctype in C_TYPES.items()
}


def _softmax_matrix(x, what, variant):
    """(rows, cols) of ``x`` for a softmax kernel, once ``variant`` is known and ``x`` fits the kernels."""
    if variant not in SOFTMAX_VARIANTS:
        raise ValueError(f"variant must be one of {SOFTMAX_VARIANTS}, got {variant!r}")
    rows, cols = _as_matrix(x, what)
    if not x.flags.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous, got strides {x.strides} for shape {x.shape}")
    if max(rows, cols) > _SOFTMAX_LARGEST_INDEX:
        raise ValueError(f"the softmax kernels index rows and columns with int: {what} seen as {rows} rows x {cols} "
                         f"columns has more than {_SOFTMAX_LARGEST_INDEX} of one")
    return rows, cols


def _check_like(a, name, like, like_name):
    """``a`` if it has the shape and dtype of ``like`` and is C-contiguous, else a ValueError naming ``name``."""
    check_shape(a, like.shape, name, f"{like_name}'s shape")
    if a.dtype != like.dtype:
        raise ValueError(f"{name} must have {like_name}'s dtype {like.dtype}, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {a.strides} for shape {a.shape}")
    return a


def _softmax_launch(kernel, variant, rows, cols, arrays, backend):
    rows_per_block = _SOFTMAX_BLOCK if variant == "row_per_thread" else _SOFTMAX_BLOCK // WARP
    kernel((ceil_div(rows, rows_per_block),), (_SOFTMAX_BLOCK,), (*arrays, rows, cols), backend=backend)


def softmax_forward_kernel(x, variant="warp_per_row", out=None, backend=None):
    """``softmax(x)`` over the last axis by kernel ``softmax_forward_<variant>``, into ``out`` if given.

    ``x`` is a non-empty C-contiguous float32 or float64 array of any rank; ``out`` must match it.
    """
    rows, cols = _softmax_matrix(x, "x", variant)
    backend = resolve_backend(backend)
    if out is None:
        out = backend_xp(backend).empty(x.shape, dtype=x.dtype)
    _check_like(out, "out", x, "x")
    _softmax_launch(SOFTMAX_FORWARD_KERNELS[variant, dtype_name(x)], variant, rows, cols, (x, out), backend)
    return out


def softmax_backward_kernel(y, dy, variant="warp_per_row", dx=None, backend=None):
    """``softmax_backward`` from the forward output ``y`` and upstream ``dy`` by kernel
    ``softmax_backward_<variant>``, into ``dx`` if given; ``dy`` and ``dx`` must match ``y``."""
    rows, cols = _softmax_matrix(y, "y", variant)
    _check_like(dy, "dy", y, "y")
    backend = resolve_backend(backend)
    if dx is None:
        dx = backend_xp(backend).empty(y.shape, dtype=y.dtype)
    _check_like(dx, "dx", y, "y")
    _softmax_launch(SOFTMAX_BACKWARD_KERNELS[variant, dtype_name(y)], variant, rows, cols, (y, dy, dx), backend)
    return dx


# --- softmax over any axes (Keras's Softmax layer): the axes moved last, the kernels above --------
# Where the axes are not the last ones, each call copies its inputs into a C-contiguous array with
# those axes last (one transpose: CuPy's copy on the GPU, NumPy's in the emulator), runs the
# last-axis kernels on it seen as rows of the axes' product, and copies the result back. Over the
# trailing axes (the last alone included) every move is a view and nothing is copied.

def check_softmax_axis(axis):
    """``axis`` as a tuple of ints if it is an int or a non-empty tuple or list of ints (softmax over
    those axes together; negative ones count from the end), else a ValueError."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in axes):
        raise ValueError(f"axis must be an int or a non-empty tuple of ints, got {axis!r}")
    return axes


def softmax_axes(axis, ndim):
    """``axis`` (``check_softmax_axis``'s) as a sorted tuple of distinct axes of an ``ndim``-D array."""
    axes = check_softmax_axis(axis)
    if not all(-ndim <= a < ndim for a in axes):
        raise ValueError(f"axis {axis!r} is out of range for an input of {ndim} axes")
    normalised = sorted(int(a) % ndim for a in axes)
    if len(set(normalised)) != len(normalised):
        raise ValueError(f"axis must not name an axis twice, got {axis!r}")
    return tuple(normalised)


def _axes_last(xp, a, axes):
    """``a`` with ``axes`` moved last and merged into one: C-contiguous, of a.ndim - len(axes) + 1 axes."""
    kept = [d for d in range(a.ndim) if d not in axes]
    moved = xp.ascontiguousarray(a.transpose(*kept, *axes))
    return moved.reshape(*moved.shape[:len(kept)], -1)


def _axes_back(xp, m, shape, axes):
    """The inverse of ``_axes_last`` for an array of ``shape``: C-contiguous again."""
    order = [d for d in range(len(shape)) if d not in axes] + list(axes)
    unmerged = m.reshape([shape[d] for d in order])
    return xp.ascontiguousarray(unmerged.transpose(*(int(d) for d in np.argsort(order))))


def softmax_over_axes_kernel(x, axis, backend=None):
    """``softmax(x, axis)`` (any axes, ``softmax_axes``'s) by softmax_forward_warp_per_row."""
    axes = softmax_axes(axis, x.ndim)
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    return _axes_back(xp, softmax_forward_kernel(_axes_last(xp, x, axes), backend=backend), x.shape, axes)


def softmax_over_axes_backward_kernel(y, dy, axis, backend=None):
    """``softmax_backward`` over ``axis`` from the forward output ``y`` and ``dy`` by
    softmax_backward_warp_per_row."""
    axes = softmax_axes(axis, y.ndim)
    check_shape(dy, y.shape, "dy")
    backend = resolve_backend(backend)
    xp = backend_xp(backend)
    dx = softmax_backward_kernel(_axes_last(xp, y, axes), _axes_last(xp, dy, axes), backend=backend)
    return _axes_back(xp, dx, y.shape, axes)
