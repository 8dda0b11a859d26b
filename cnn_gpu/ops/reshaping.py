"""Reshaping an image batch (NHWC): nearest-neighbour upsampling, zero padding and cropping, and
nearest-neighbour resizing to any size, each with its gradient. The Keras layers UpSampling2D,
ZeroPadding2D and Cropping2D run on these, and Resizing with interpolation='nearest'.

They move values and add nothing up but upsampling's gradient (each input pixel's gradient sums its
block of size_h x size_w outputs), so they are array operations on whichever module the arrays are
of: NumPy, or CuPy's own copy and reduction kernels on the cuda backend (no kernel of ours yet).
Padding and cropping are each other's gradients.
"""

from __future__ import annotations

from cnn_gpu.ops.common import array_module, check_float, check_ndim


def _check_image(x, name="x"):
    check_float(x, name)
    check_ndim(x, 4, name, "(N, H, W, C)")


def upsampling2d_forward(x, size):
    """Each pixel repeated into a size_h x size_w block: (N, H * size_h, W * size_w, C)."""
    _check_image(x)
    (n, h, w, c), (sh, sw) = x.shape, size
    blocks = array_module(x).broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
    return blocks.reshape(n, h * sh, w * sw, c)


def upsampling2d_backward(dy, size):
    """Each input pixel's gradient: the sum of its block of dy."""
    _check_image(dy, "dy")
    (n, hs, ws, c), (sh, sw) = dy.shape, size
    if hs % sh or ws % sw:
        raise ValueError(f"dy's height and width {(hs, ws)} must be multiples of the size {(sh, sw)}")
    return dy.reshape(n, hs // sh, sh, ws // sw, sw, c).sum(axis=(2, 4))


def pad2d(x, pads):
    """x with ((top, bottom), (left, right)) rows and columns of zeros around it."""
    _check_image(x)
    (top, bottom), (left, right) = pads
    n, h, w, c = x.shape
    out = array_module(x).zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    out[:, top:top + h, left:left + w] = x
    return out


def crop2d(x, crops):
    """x without ((top, bottom), (left, right)) rows and columns at its edges (a copy)."""
    _check_image(x)
    (top, bottom), (left, right) = crops
    n, h, w, c = x.shape
    if top + bottom >= h or left + right >= w:
        raise ValueError(f"cropping {crops} leaves nothing of an image of height x width {(h, w)}")
    return array_module(x).ascontiguousarray(x[:, top:h - bottom, left:w - right])


def nearest_sources(size, out_size):
    """The input index each of ``out_size`` outputs takes along an axis of ``size``: jax.image.resize's
    nearest, floor((out + 0.5) * size / out_size), in integers, (2 out + 1) size // (2 out_size),
    which float arithmetic can miss by one where the quotient is whole."""
    return [(2 * o + 1) * size // (2 * out_size) for o in range(out_size)]


def resize_nearest(x, out_hw):
    """Each image resized to ``out_hw`` by taking, for every output pixel, its nearest source pixel."""
    _check_image(x)
    xp = array_module(x)
    rows, cols = (xp.asarray(nearest_sources(n, m)) for n, m in zip(x.shape[1:3], out_hw))
    return x[:, rows][:, :, cols]


def resize_nearest_backward(dy, x_shape):
    """The gradient of resize_nearest: each source pixel's, the sum of dy over the outputs that took it
    (a one-hot (outputs, inputs) selection matrix along each axis)."""
    _check_image(dy, "dy")
    xp = array_module(dy)
    rows, cols = ((xp.asarray(nearest_sources(n, m))[:, None] == xp.arange(n)).astype(dy.dtype)
                  for n, m in zip(x_shape[1:3], dy.shape[1:3]))
    return xp.einsum("ow,nhoc->nhwc", cols, xp.einsum("oh,nowc->nhwc", rows, dy))
