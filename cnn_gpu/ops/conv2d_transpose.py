"""Transposed 2-D convolution (Keras's Conv2DTranspose): the adjoint of a convolution, which maps its
output back to its input's shape. NHWC input (N, H, W, C), kernel (R, S, filters, C) as Keras keeps
it, output (N, Ho, Wo, filters).

A lesson in reuse: the transposed convolution *is* conv2d's data gradient, with the kernel read as
a convolution's from ``filters`` channels to C. So no kernel of its own is needed, and its three
passes are conv2d's three, in other roles:

- forward:         y  = conv2d_backward_data(x, w) to the (Ho, Wo) image, plus the bias
- backward data:   dx = conv2d_forward(dy, w): the convolution maps (Ho, Wo) back to (H, W)
- backward filter: dw = conv2d_backward_filter with dy as the convolution's input and x as its
                   output gradient

The output size is Keras's: (H - 1) * stride + max(extent, stride) for 'valid' (the rows past the
last window's reach get the bias alone) and H * stride for 'same', extent the dilated window's;
the convolution's geometry from (Ho, Wo) gives back (H, W) in both cases, with the same padding.
Keras's output_padding is not supported.
"""

from __future__ import annotations

from cnn_gpu.ops import conv2d
from cnn_gpu.ops.common import check_shape
from cnn_gpu.ops.window import as_pair, check_padding

KERNEL_LAYOUT = "(R, S, filters, C)"


def conv2d_transpose_output_shape(x_shape, w_shape, strides=1, padding="valid", dilation=1):
    """(N, Ho, Wo, filters) of a transposed convolution of x (N, H, W, C) by w (R, S, filters, C)."""
    if len(x_shape) != 4:
        raise ValueError(f"x must be 4-D (N, H, W, C), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w must be 4-D {KERNEL_LAYOUT}, got shape {tuple(w_shape)}")
    if x_shape[3] != w_shape[3]:
        raise ValueError(f"x has {x_shape[3]} channels but w expects {w_shape[3]} (w is {tuple(w_shape)})")
    strides, dilation, padding = as_pair(strides, "strides"), as_pair(dilation, "dilation"), check_padding(padding)
    out_hw = []
    for size, window, stride, dilate in zip(x_shape[1:3], w_shape[:2], strides, dilation):
        extent = (window - 1) * dilate + 1
        out_hw.append(size * stride if padding == "same" else (size - 1) * stride + max(extent, stride))
    y_shape = (x_shape[0], *out_hw, w_shape[2])
    # The convolution this one transposes must map y's shape back onto x's (it always does for the
    # sizes above; the check guards them).
    assert conv2d.conv2d_output_shape(y_shape, w_shape, strides, padding, dilation) == tuple(x_shape)
    return y_shape


def check_conv2d_transpose(x, w, b=None):
    """Fail unless x, w (and b) are float arrays of one dtype with a bias of shape (filters,)."""
    conv2d.check_conv_operands(x, w, KERNEL_LAYOUT)
    if b is not None:
        check_shape(b, (w.shape[2],), "b")


def conv2d_transpose_forward(x, w, b=None, strides=1, padding="valid", dilation=1):
    """The transposed convolution of x by w, plus b: conv2d's data gradient of x."""
    check_conv2d_transpose(x, w, b)
    y_shape = conv2d_transpose_output_shape(x.shape, w.shape, strides, padding, dilation)
    y = conv2d.conv2d_backward_data(x, w, y_shape, strides, padding, dilation)
    return y + b if b is not None else y


def conv2d_transpose_backward(x, w, dy, strides=1, padding="valid", dilation=1, need_dx=True):
    """Gradients ``(dx, dw, db)`` given dy (N, Ho, Wo, filters): conv2d's forward and filter gradient
    (dx None unless ``need_dx``)."""
    check_shape(dy, conv2d_transpose_output_shape(x.shape, w.shape, strides, padding, dilation), "dy",
                "the forward output's shape")
    dx = conv2d.conv2d_forward(dy, w, None, strides, padding, dilation) if need_dx else None
    dw, _ = conv2d.conv2d_backward_filter(dy, x, w.shape, strides, padding, dilation)
    return dx, dw, dy.sum(axis=(0, 1, 2))
