"""The ``cuda`` and ``emulate`` backends: the numpy backend's ops, with our kernels where they exist.

``KernelBackend(xp=cupy)`` is the ``cuda`` backend; ``KernelBackend(xp=numpy)`` is ``emulate``,
which runs the very same kernels through the CPU emulator. Every op inherited from
``NumpyBackend`` is array-module generic, so before a family's kernels land it runs the reference
on CuPy (cuda) or NumPy (emulate); an override below replaces it once they have.
"""

from __future__ import annotations

import numpy

from cnn_gpu.backend.numpy_backend import NumpyBackend
from cnn_gpu.ops import (activation, affine_transform, augment, batchnorm, conv2d, conv2d_transpose, depthwise_conv2d,
                         dropout, gemm, loss, metric, optim, pool, reduce, regularizer)
from cnn_gpu.ops.common import C_TYPES, dtype_name


class KernelBackend(NumpyBackend):
    def __init__(self, xp):
        super().__init__(xp)
        self.name = "emulate" if xp is numpy else "cuda"

    def _bias_gradient(self, dy):
        """dy (C-contiguous, channels last) summed over every axis but the last: kernels/reduce.cu's column sum."""
        return reduce.column_sum(dy.reshape(-1, dy.shape[-1]), backend=self.name)

    # --- dense: kernels/gemm_simt.cu and gemm_tensorcore.cu, the bias gradient reduce.cu's (float32;
    # float64 stays on the reference) ---------------------------------------------------------------
    def dense_forward(self, x, w, b, relu=False):
        gemm.check_dense(x, w, b)
        if x.dtype != self.xp.float32:
            return super().dense_forward(x, w, b, relu)
        contiguous = self.xp.ascontiguousarray
        return gemm.gemm(contiguous(x), contiguous(w), bias=None if b is None else contiguous(b), relu=relu,
                         backend=self.name)

    def dense_backward(self, x, w, dy, need_dx=True, need_db=True):
        if dy.dtype != self.xp.float32:
            return super().dense_backward(x, w, dy, need_dx, need_db)
        contiguous = self.xp.ascontiguousarray
        x, w, dy = contiguous(x), contiguous(w), contiguous(dy)
        dx = gemm.gemm(dy, w, trans_b=True, backend=self.name) if need_dx else None
        return dx, gemm.gemm(x, dy, trans_a=True, backend=self.name), self._bias_gradient(dy) if need_db else None

    # --- convolution: kernels/conv2d.cu, the bias gradient reduce.cu's (float32; float64 stays on the
    # reference) ------------------------------------------------------------------------------------
    def conv2d_forward(self, x, w, b, strides, padding, dilation, relu=False):
        conv2d.check_conv2d(x, w, b)
        if x.dtype != self.xp.float32:
            return super().conv2d_forward(x, w, b, strides, padding, dilation, relu)
        contiguous = self.xp.ascontiguousarray
        return conv2d.conv2d_forward_kernel(contiguous(x), contiguous(w), None if b is None else contiguous(b),
                                            strides, padding, dilation, relu=relu, backend=self.name)

    def conv2d_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        if dy.dtype != self.xp.float32:
            return super().conv2d_backward(x, w, dy, strides, padding, dilation, need_dx, need_db)
        contiguous = self.xp.ascontiguousarray
        x, w, dy = contiguous(x), contiguous(w), contiguous(dy)
        dx = (conv2d.conv2d_backward_data_kernel(dy, w, x.shape, strides, padding, dilation, backend=self.name)
              if need_dx else None)
        dw = conv2d.conv2d_backward_filter_kernel(x, dy, w.shape, strides, padding, dilation, backend=self.name)
        return dx, dw, self._bias_gradient(dy) if need_db else None

    # --- transposed convolution: conv2d.cu's passes in other roles (ops/conv2d_transpose.py), the bias
    # and ReLU activation.cu's, the bias gradient reduce.cu's (float32; float64 stays on the reference) --
    def conv2d_transpose_forward(self, x, w, b, strides, padding, dilation, relu=False):
        conv2d_transpose.check_conv2d_transpose(x, w, b)
        if x.dtype != self.xp.float32:
            return super().conv2d_transpose_forward(x, w, b, strides, padding, dilation, relu)
        contiguous = self.xp.ascontiguousarray
        y_shape = conv2d_transpose.conv2d_transpose_output_shape(x.shape, w.shape, strides, padding, dilation)
        y = conv2d.conv2d_backward_data_kernel(contiguous(x), contiguous(w), y_shape, strides, padding, dilation,
                                               backend=self.name)
        if b is not None or relu:
            activation.bias_activation_forward(y, None if b is None else contiguous(b), "relu" if relu else "linear",
                                               out=y, backend=self.name)
        return y

    def conv2d_transpose_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        if dy.dtype != self.xp.float32:
            return super().conv2d_transpose_backward(x, w, dy, strides, padding, dilation, need_dx, need_db)
        contiguous = self.xp.ascontiguousarray
        x, w, dy = contiguous(x), contiguous(w), contiguous(dy)
        dx = (conv2d.conv2d_forward_kernel(dy, w, None, strides, padding, dilation, backend=self.name)
              if need_dx else None)
        dw = conv2d.conv2d_backward_filter_kernel(dy, x, w.shape, strides, padding, dilation, backend=self.name)
        return dx, dw, self._bias_gradient(dy) if need_db else None

    # --- depthwise convolution: kernels/depthwise_conv2d.cu, the bias gradient reduce.cu's (float32;
    # float64 stays on the reference) --------------------------------------------------------------
    def depthwise_conv2d_forward(self, x, w, b, strides, padding, dilation, relu=False):
        depthwise_conv2d.check_depthwise_conv2d(x, w, b)
        if x.dtype != self.xp.float32:
            return super().depthwise_conv2d_forward(x, w, b, strides, padding, dilation, relu)
        contiguous = self.xp.ascontiguousarray
        return depthwise_conv2d.depthwise_conv2d_forward_kernel(
            contiguous(x), contiguous(w), None if b is None else contiguous(b), strides, padding, dilation,
            relu=relu, backend=self.name)

    def depthwise_conv2d_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        if dy.dtype != self.xp.float32:
            return super().depthwise_conv2d_backward(x, w, dy, strides, padding, dilation, need_dx, need_db)
        contiguous = self.xp.ascontiguousarray
        x, w, dy = contiguous(x), contiguous(w), contiguous(dy)
        dx = (depthwise_conv2d.depthwise_conv2d_backward_data_kernel(dy, w, x.shape, strides, padding, dilation,
                                                                     backend=self.name) if need_dx else None)
        dw = depthwise_conv2d.depthwise_conv2d_backward_filter_kernel(x, dy, w.shape, strides, padding, dilation,
                                                                      backend=self.name)
        return dx, dw, self._bias_gradient(dy) if need_db else None

    # --- pooling: kernels/pool.cu (float32 and float64; argmax is the kernels' int32) -----------------
    def max_pool2d_forward(self, x, pool_size, strides, padding):
        return pool.max_pool2d_forward_kernel(self.xp.ascontiguousarray(x), pool_size, strides, padding,
                                              backend=self.name)

    def max_pool2d_backward(self, dy, argmax, x_shape, pool_size, strides, padding):
        return pool.max_pool2d_backward_kernel(self.xp.ascontiguousarray(dy), argmax, x_shape, pool_size, strides,
                                               padding, backend=self.name)

    def avg_pool2d_forward(self, x, pool_size, strides, padding):
        return pool.avg_pool2d_forward_kernel(self.xp.ascontiguousarray(x), pool_size, strides, padding,
                                              backend=self.name)

    def avg_pool2d_backward(self, dy, x_shape, pool_size, strides, padding):
        return pool.avg_pool2d_backward_kernel(self.xp.ascontiguousarray(dy), x_shape, pool_size, strides, padding,
                                               backend=self.name)

    # --- normalization: kernels/batchnorm.cu; moving statistics that are not C-contiguous, or an empty
    # batch, take the reference ---------------------------------------------------------------------
    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance, momentum, epsilon, training):
        if (dtype_name(x) not in C_TYPES or x.size == 0
                or not (moving_mean.flags.c_contiguous and moving_variance.flags.c_contiguous)):
            return super().batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, momentum, epsilon,
                                              training)
        contiguous = self.xp.ascontiguousarray
        return batchnorm.batch_norm_forward_kernel(
            contiguous(x), None if gamma is None else contiguous(gamma), None if beta is None else contiguous(beta),
            moving_mean, moving_variance, momentum, epsilon, training, backend=self.name)

    def batch_norm_backward(self, x, dy, gamma, statistics):
        if dtype_name(x) not in C_TYPES or x.size == 0:
            return super().batch_norm_backward(x, dy, gamma, statistics)
        contiguous = self.xp.ascontiguousarray
        statistics = batchnorm.NormStatistics(contiguous(statistics.mean), contiguous(statistics.inv_std),
                                              statistics.batch)
        return batchnorm.batch_norm_backward_kernel(contiguous(x), contiguous(dy),
                                                    None if gamma is None else contiguous(gamma), statistics,
                                                    backend=self.name)

    # --- augmentation: kernels/augment.cu ---------------------------------------------------------------
    def flip_images(self, x, flips):
        if dtype_name(x) not in C_TYPES:
            return super().flip_images(x, flips)
        contiguous = self.xp.ascontiguousarray
        return augment.flip_images_kernel(contiguous(x), contiguous(flips), backend=self.name)

    # --- resampling through affine maps: kernels/affine_transform.cu (float32 and float64) -------------
    def affine_transform(self, x, transforms, interpolation, fill_mode, fill_value, out_shape=None):
        contiguous = self.xp.ascontiguousarray
        return affine_transform.affine_transform_kernel(contiguous(x), contiguous(transforms), interpolation,
                                                        fill_mode, fill_value, out_shape, backend=self.name)

    def affine_transform_backward(self, dy, transforms, x_shape, interpolation, fill_mode):
        contiguous = self.xp.ascontiguousarray
        return affine_transform.affine_transform_backward_kernel(contiguous(dy), contiguous(transforms), x_shape,
                                                                 interpolation, fill_mode, backend=self.name)

    # --- activations: kernels/activation.cu, softmax kernels/softmax.cu -------------------------------
    def activation_forward(self, name, x):
        contiguous = self.xp.ascontiguousarray
        if name == "softmax" and dtype_name(x) in C_TYPES and x.size:
            return activation.softmax_forward_kernel(contiguous(x), backend=self.name)
        if name not in activation.KERNEL_ACTIVATIONS:
            return super().activation_forward(name, x)
        return activation.bias_activation_forward(contiguous(x), None, name, backend=self.name)

    def activation_backward(self, name, x, y, dy):
        contiguous = self.xp.ascontiguousarray
        if name == "softmax" and dtype_name(y) in C_TYPES and dy.dtype == y.dtype and y.size:
            return activation.softmax_backward_kernel(contiguous(y), contiguous(dy), backend=self.name)
        if name not in activation.KERNEL_ACTIVATIONS:
            return super().activation_backward(name, x, y, dy)
        if name in activation.INPUT_BACKWARD_ACTIVATIONS:
            return activation.activation_backward_from_input_kernel(contiguous(x), contiguous(dy), name,
                                                                    backend=self.name)
        dx, _ = activation.bias_activation_backward(contiguous(y), contiguous(dy), name, with_bias=False,
                                                    backend=self.name)
        return dx

    # The activations with arguments (the LeakyReLU, ReLU, ELU and Softmax layers): activation.cu's
    # rungs 5 and 6, softmax.cu's kernels over any axes; an empty array, another dtype, or a dy of
    # another dtype than x takes the reference.
    def _takes_kernel(self, x, dy=None):
        return dtype_name(x) in C_TYPES and x.size > 0 and (dy is None or dy.dtype == x.dtype)

    def leaky_relu_forward(self, x, slope):
        return self.relu_forward(x, activation.ReluArguments.leaky(slope))

    def leaky_relu_backward(self, x, dy, slope):
        return self.relu_backward(x, dy, activation.ReluArguments.leaky(slope))

    def relu_forward(self, x, arguments):
        if not self._takes_kernel(x):
            return super().relu_forward(x, arguments)
        return activation.relu_with_arguments_kernel(self.xp.ascontiguousarray(x), arguments, backend=self.name)

    def relu_backward(self, x, dy, arguments):
        if not self._takes_kernel(x, dy):
            return super().relu_backward(x, dy, arguments)
        contiguous = self.xp.ascontiguousarray
        return activation.relu_with_arguments_backward_kernel(contiguous(x), contiguous(dy), arguments,
                                                              backend=self.name)

    def elu_forward(self, x, alpha):
        if not self._takes_kernel(x):
            return super().elu_forward(x, alpha)
        return activation.elu_with_alpha_kernel(self.xp.ascontiguousarray(x), alpha, backend=self.name)

    def elu_backward(self, x, dy, alpha):
        if not self._takes_kernel(x, dy):
            return super().elu_backward(x, dy, alpha)
        contiguous = self.xp.ascontiguousarray
        return activation.elu_with_alpha_backward_kernel(contiguous(x), contiguous(dy), alpha, backend=self.name)

    def softmax_forward(self, x, axis):
        if not self._takes_kernel(x):
            return super().softmax_forward(x, axis)
        return activation.softmax_over_axes_kernel(x, axis, backend=self.name)

    def softmax_backward(self, y, dy, axis):
        if not self._takes_kernel(y, dy):
            return super().softmax_backward(y, dy, axis)
        return activation.softmax_over_axes_backward_kernel(y, dy, axis, backend=self.name)

    # --- dropout: kernels/dropout.cu, the mask drawn on the device (Philox, a key per call from the
    # layer's generator) and drawn again by the backward, never stored -------------------------------
    def dropout_forward(self, x, rate, rng, noise_shape=None):
        if dtype_name(x) not in C_TYPES or rate == 0:
            return super().dropout_forward(x, rate, rng, noise_shape)
        if noise_shape is not None:
            # The kernel draws the mask of noise_shape (its values are the dropout of ones), and the array
            # module broadcasts it over x; the backward multiplies by it as the reference's does.
            mask, _ = dropout.dropout_forward_kernel(self.xp.ones(noise_shape, dtype=x.dtype), rate,
                                                     dropout.draw_key(rng), backend=self.name)
            return x * mask, mask
        return dropout.dropout_forward_kernel(self.xp.ascontiguousarray(x), rate, dropout.draw_key(rng),
                                              backend=self.name)

    def dropout_backward(self, dy, mask):
        if not isinstance(mask, dropout.DrawnMask):  # the reference's mask, from a forward it ran
            return super().dropout_backward(dy, mask)
        return dropout.dropout_backward_kernel(self.xp.ascontiguousarray(dy), mask, backend=self.name)

    def gaussian_noise_forward(self, x, stddev, rng, multiply=False):
        if dtype_name(x) not in C_TYPES:
            return super().gaussian_noise_forward(x, stddev, rng, multiply)
        return dropout.gaussian_noise_kernel(self.xp.ascontiguousarray(x), stddev, dropout.draw_key(rng), multiply,
                                             backend=self.name)

    def gaussian_noise_backward(self, dy, saved):
        if saved is not None and not isinstance(saved, dropout.DrawnNoise):  # the reference's multiplier
            return super().gaussian_noise_backward(dy, saved)
        return dropout.gaussian_noise_backward_kernel(self.xp.ascontiguousarray(dy), saved, backend=self.name)

    # --- losses: kernels/loss.cu ------------------------------------------------------------------------
    def _cross_entropy(self, kernel, pred, labels, sparse):
        contiguous = self.xp.ascontiguousarray
        if not sparse:  # one-hot labels in the predictions' dtype, as the reference takes them
            labels = contiguous(labels.astype(pred.dtype, copy=False))
        return kernel(contiguous(pred), labels, sparse, backend=self.name)

    def softmax_cross_entropy(self, logits, labels, sparse):
        return self._cross_entropy(loss.softmax_cross_entropy_kernel, logits, labels, sparse)

    def categorical_cross_entropy(self, probs, labels, sparse):
        if probs.size == 0:  # an empty batch: the reference's NaN (the kernel refuses it)
            return super().categorical_cross_entropy(probs, labels, sparse)
        return self._cross_entropy(loss.categorical_cross_entropy_kernel, probs, labels, sparse)

    def binary_cross_entropy(self, probs, labels, from_logits=False):
        if dtype_name(probs) not in C_TYPES or probs.ndim == 0 or probs.size == 0:
            return super().binary_cross_entropy(probs, labels, from_logits)
        return loss.binary_cross_entropy_kernel(self.xp.ascontiguousarray(probs), labels, from_logits,
                                                backend=self.name)

    def mean_squared_error(self, pred, target):
        if dtype_name(pred) not in C_TYPES or pred.ndim == 0 or pred.size == 0:
            return super().mean_squared_error(pred, target)
        return loss.mean_squared_error_kernel(self.xp.ascontiguousarray(pred), target, backend=self.name)

    def mean_absolute_error(self, pred, target):
        if dtype_name(pred) not in C_TYPES or pred.ndim == 0 or pred.size == 0:
            return super().mean_absolute_error(pred, target)
        return loss.mean_absolute_error_kernel(self.xp.ascontiguousarray(pred), target, backend=self.name)

    def huber(self, pred, target, delta):
        if dtype_name(pred) not in C_TYPES or pred.ndim == 0 or pred.size == 0:
            return super().huber(pred, target, delta)
        return loss.huber_kernel(self.xp.ascontiguousarray(pred), target, delta, backend=self.name)

    def binary_focal_cross_entropy(self, pred, labels, gamma, positive_weight, negative_weight, from_logits=False):
        if dtype_name(pred) not in C_TYPES or pred.ndim == 0 or pred.size == 0:
            return super().binary_focal_cross_entropy(pred, labels, gamma, positive_weight, negative_weight,
                                                      from_logits)
        return loss.binary_focal_cross_entropy_kernel(self.xp.ascontiguousarray(pred), labels, gamma, positive_weight,
                                                      negative_weight, from_logits, backend=self.name)

    def elementwise_loss(self, kind, pred, target):
        if dtype_name(pred) not in C_TYPES or pred.ndim == 0 or pred.size == 0:
            return super().elementwise_loss(kind, pred, target)
        return loss.elementwise_loss_kernel(kind, self.xp.ascontiguousarray(pred), target, backend=self.name)

    # --- regularization: kernels/regularizer.cu; a gradient that is not C-contiguous takes the reference
    # (the kernel would update a copy) ------------------------------------------------------------------
    def l2_penalty(self, w, factor, grad=None):
        if (dtype_name(w) not in C_TYPES or w.ndim == 0
                or grad is not None and (grad.dtype != w.dtype or not grad.flags.c_contiguous)):
            return super().l2_penalty(w, factor, grad)
        return regularizer.l2_penalty_kernel(self.xp.ascontiguousarray(w), factor, grad, backend=self.name)

    # --- metrics: kernels/metric.cu, one launch and one int32 count a batch ----------------------------
    def count_correct(self, pred, labels, kind, threshold=0.5):
        contiguous = self.xp.ascontiguousarray
        if kind != "sparse":  # one-hot or binary labels, which the wrapper compares in their own dtype
            labels = contiguous(labels)
        return metric.count_correct_kernel(contiguous(pred), labels, kind, threshold, backend=self.name)

    # --- optimizers: kernels/optim.cu, in place; a state that is not C-contiguous takes the reference
    # (the kernels would have to update a copy) --------------------------------------------------------
    def _in_place(self, param, grad, *states):
        """Whether the kernels can update ``param`` and ``states`` where they are: C-contiguous, all of
        one float dtype the kernels take, the gradient's too (anything else goes to the reference)."""
        arrays = [param, *(a for a in states if a is not None)]
        return (dtype_name(param) in C_TYPES and grad.dtype == param.dtype
                and all(a.flags.c_contiguous and a.dtype == param.dtype for a in arrays))

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov, decay=0.0):
        if not self._in_place(param, grad, velocity):
            return super().sgd_update(param, grad, velocity, lr, momentum, nesterov, decay)
        optim.sgd_update_kernel(param, self.xp.ascontiguousarray(grad), velocity, lr, momentum, nesterov, decay,
                                backend=self.name)

    def adam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, decay=0.0, v_max=None):
        if not self._in_place(param, grad, m, v, v_max):
            return super().adam_update(param, grad, m, v, lr, beta_1, beta_2, epsilon, step, decay, v_max)
        optim.adam_update_kernel(param, self.xp.ascontiguousarray(grad), m, v, lr, beta_1, beta_2, epsilon, step,
                                 decay, v_max, backend=self.name)

    def adam_update_many(self, params, grads, ms, vs, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        # One launch per eight parameters (adam_step_multi), when every one can be updated in place
        # and all share one dtype; else each on its own.
        if len({p.dtype for p in params}) > 1 or not all(map(self._in_place, params, grads, ms, vs)):
            return super().adam_update_many(params, grads, ms, vs, lr, beta_1, beta_2, epsilon, step, decay)
        contiguous = self.xp.ascontiguousarray
        optim.adam_update_many_kernel(params, [contiguous(g) for g in grads], ms, vs, lr, beta_1, beta_2, epsilon,
                                      step, decay, backend=self.name)

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon, decay=0.0, average_grad=None, momentum=0.0,
                       momentum_slot=None):
        if not self._in_place(param, grad, velocity, average_grad, momentum_slot):
            return super().rmsprop_update(param, grad, velocity, lr, rho, epsilon, decay, average_grad, momentum,
                                          momentum_slot)
        optim.rmsprop_update_kernel(param, self.xp.ascontiguousarray(grad), velocity, lr, rho, epsilon, decay,
                                    average_grad, momentum, momentum_slot, backend=self.name)

    def adagrad_update(self, param, grad, accumulator, lr, epsilon, decay=0.0):
        if not self._in_place(param, grad, accumulator):
            return super().adagrad_update(param, grad, accumulator, lr, epsilon, decay)
        optim.adagrad_update_kernel(param, self.xp.ascontiguousarray(grad), accumulator, lr, epsilon, decay,
                                    backend=self.name)

    def adamax_update(self, param, grad, m, norm, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        if not self._in_place(param, grad, m, norm):
            return super().adamax_update(param, grad, m, norm, lr, beta_1, beta_2, epsilon, step, decay)
        optim.adamax_update_kernel(param, self.xp.ascontiguousarray(grad), m, norm, lr, beta_1, beta_2, epsilon, step,
                                   decay, backend=self.name)

    def nadam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay=0.0):
        if not self._in_place(param, grad, m, v):
            return super().nadam_update(param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay)
        optim.nadam_update_kernel(param, self.xp.ascontiguousarray(grad), m, v, lr, beta_1, beta_2, epsilon, step,
                                  u_product, decay, backend=self.name)

    def lion_update(self, param, grad, m, lr, beta_1, beta_2, decay=0.0):
        if not self._in_place(param, grad, m):
            return super().lion_update(param, grad, m, lr, beta_1, beta_2, decay)
        optim.lion_update_kernel(param, self.xp.ascontiguousarray(grad), m, lr, beta_1, beta_2, decay,
                                 backend=self.name)

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay=0.0):
        if not self._in_place(param, grad, accumulated_grad, accumulated_delta):
            return super().adadelta_update(param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay)
        optim.adadelta_update_kernel(param, self.xp.ascontiguousarray(grad), accumulated_grad, accumulated_delta, lr,
                                     rho, epsilon, decay, backend=self.name)
