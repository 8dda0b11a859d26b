"""The ``numpy`` backend: each method is one call into the reference ops of ``cnn_gpu.ops``.

The ops take their array module from their inputs, so a subclass that sets ``xp`` to CuPy (the
``cuda`` backend) runs every method it does not override on the GPU unchanged.
"""

from __future__ import annotations

import numpy

from cnn_gpu.backend.base import Backend
from cnn_gpu.backend.host_memory import keep_freed_memory
from cnn_gpu.ops import (activation, affine_transform, augment, batchnorm, conv2d, conv2d_transpose, depthwise_conv2d,
                         dropout, embedding, gemm, layernorm, loss, metric, optim, pool, regularizer, reshaping)


class NumpyBackend(Backend):
    name = "numpy"

    def __init__(self, xp=numpy):
        self.xp = xp
        if xp is numpy:
            keep_freed_memory()  # a 3x faster training step on the CPU; see host_memory

    # --- arrays ------------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a):
        return a.get() if hasattr(a, "get") and not isinstance(a, numpy.ndarray) else numpy.asarray(a)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=dtype)

    # --- dense ---------------------------------------------------------------------------------
    def dense_forward(self, x, w, b, relu=False):
        y = gemm.dense_forward(x, w, b)
        return activation.relu(y) if relu else y

    def dense_backward(self, x, w, dy, need_dx=True, need_db=True):
        dx = gemm.dense_backward_data(dy, w) if need_dx else None
        dw, db = gemm.dense_backward_weights(x, dy)
        return dx, dw, db if need_db else None

    # --- convolution ---------------------------------------------------------------------------
    def conv2d_forward(self, x, w, b, strides, padding, dilation, relu=False):
        y = conv2d.conv2d_forward(x, w, b, strides, padding, dilation)
        return activation.relu(y) if relu else y

    def conv2d_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        dx = conv2d.conv2d_backward_data(dy, w, x.shape, strides, padding, dilation) if need_dx else None
        dw, db = conv2d.conv2d_backward_filter(x, dy, w.shape, strides, padding, dilation)
        return dx, dw, db if need_db else None

    def conv2d_transpose_forward(self, x, w, b, strides, padding, dilation, relu=False):
        y = conv2d_transpose.conv2d_transpose_forward(x, w, b, strides, padding, dilation)
        return activation.relu(y) if relu else y

    def conv2d_transpose_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        dx, dw, db = conv2d_transpose.conv2d_transpose_backward(x, w, dy, strides, padding, dilation, need_dx)
        return dx, dw, db if need_db else None

    def depthwise_conv2d_forward(self, x, w, b, strides, padding, dilation, relu=False):
        y = depthwise_conv2d.depthwise_conv2d_forward(x, w, b, strides, padding, dilation)
        return activation.relu(y) if relu else y

    def depthwise_conv2d_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        dx = (depthwise_conv2d.depthwise_conv2d_backward_data(dy, w, x.shape, strides, padding, dilation)
              if need_dx else None)
        dw, db = depthwise_conv2d.depthwise_conv2d_backward_filter(x, dy, w.shape, strides, padding, dilation)
        return dx, dw, db if need_db else None

    # --- reshaping images: array operations on either module (ops/reshaping.py) ----------------------
    def upsampling2d_forward(self, x, size):
        return reshaping.upsampling2d_forward(x, size)

    def upsampling2d_backward(self, dy, size):
        return reshaping.upsampling2d_backward(dy, size)

    def resize_nearest_forward(self, x, out_hw):
        return reshaping.resize_nearest(x, out_hw)

    def resize_nearest_backward(self, dy, x_shape):
        return reshaping.resize_nearest_backward(dy, x_shape)

    def pad2d(self, x, pads):
        return reshaping.pad2d(x, pads)

    def crop2d(self, x, crops):
        return reshaping.crop2d(x, crops)

    # --- pooling -------------------------------------------------------------------------------
    def max_pool2d_forward(self, x, pool_size, strides, padding):
        return pool.max_pool2d_forward(x, pool_size, strides, padding)

    def max_pool2d_backward(self, dy, argmax, x_shape, pool_size, strides, padding):
        return pool.max_pool2d_backward(dy, argmax, x_shape, pool_size, strides, padding)

    def avg_pool2d_forward(self, x, pool_size, strides, padding):
        return pool.avg_pool2d_forward(x, pool_size, strides, padding)

    def avg_pool2d_backward(self, dy, x_shape, pool_size, strides, padding):
        return pool.avg_pool2d_backward(dy, x_shape, pool_size, strides, padding)

    # --- normalization -------------------------------------------------------------------------
    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance, momentum, epsilon, training):
        return batchnorm.batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, momentum, epsilon,
                                            training)

    def batch_norm_backward(self, x, dy, gamma, statistics):
        return batchnorm.batch_norm_backward(x, dy, gamma, statistics)

    def layer_norm_forward(self, x, gamma, beta, epsilon):
        return layernorm.layer_norm_forward(x, gamma, beta, epsilon)

    def layer_norm_backward(self, dy, gamma, statistics):
        return layernorm.layer_norm_backward(dy, gamma, statistics)

    # --- augmentation ------------------------------------------------------------------------------
    def rescale(self, x, scale, offset):
        return augment.rescale(x, scale, offset)

    def adjust_contrast(self, x, factors, value_range):
        return augment.adjust_contrast(x, factors, value_range)

    def adjust_contrast_backward(self, dy, saved):
        return augment.adjust_contrast_backward(dy, saved)

    def adjust_brightness(self, x, deltas, value_range):
        return augment.adjust_brightness(x, deltas, value_range)

    def adjust_brightness_backward(self, dy, saved):
        return augment.adjust_brightness_backward(dy, saved)

    def flip_images(self, x, flips):
        return augment.flip_images(x, flips)

    def affine_transform(self, x, transforms, interpolation, fill_mode, fill_value, out_shape=None):
        return affine_transform.affine_transform(x, transforms, interpolation, fill_mode, fill_value, out_shape)

    def affine_transform_backward(self, dy, transforms, x_shape, interpolation, fill_mode):
        return affine_transform.affine_transform_backward(dy, transforms, x_shape, interpolation, fill_mode)

    # --- activations and dropout -----------------------------------------------------------------
    def activation_forward(self, name, x):
        return activation.activation_forward(name, x)

    def activation_backward(self, name, x, y, dy):
        return activation.activation_backward(name, x, y, dy)

    def leaky_relu_forward(self, x, slope):
        return activation.leaky_relu(x, slope)

    def leaky_relu_backward(self, x, dy, slope):
        return activation.leaky_relu_backward(x, None, dy, slope)

    def embedding_forward(self, x, table):
        ids = embedding.embedding_ids(x, table.shape[0])
        return embedding.embedding_forward(ids, table), ids

    def embedding_backward(self, ids, dy, input_dim):
        return embedding.embedding_backward(ids, dy, input_dim)

    def prelu_forward(self, x, alpha):
        return activation.prelu(x, alpha)

    def prelu_backward(self, x, alpha, dy):
        return activation.prelu_backward(x, alpha, dy)

    def relu_forward(self, x, arguments):
        return activation.relu_with_arguments(x, arguments)

    def relu_backward(self, x, dy, arguments):
        return activation.relu_with_arguments_backward(x, dy, arguments)

    def elu_forward(self, x, alpha):
        return activation.elu_with_alpha(x, alpha)

    def elu_backward(self, x, dy, alpha):
        return activation.elu_with_alpha_backward(x, dy, alpha)

    def softmax_forward(self, x, axis):
        return activation.softmax(x, activation.softmax_axes(axis, x.ndim))

    def softmax_backward(self, y, dy, axis):
        return activation.softmax_backward(None, y, dy, activation.softmax_axes(axis, y.ndim))

    def dropout_forward(self, x, rate, rng, noise_shape=None):
        return dropout.dropout_forward(x, rate, rng, noise_shape)

    def dropout_backward(self, dy, mask):
        return dropout.dropout_backward(dy, mask)

    def gaussian_noise_forward(self, x, stddev, rng, multiply=False):
        return dropout.gaussian_noise(x, stddev, rng, multiply)

    def gaussian_noise_backward(self, dy, saved):
        return dy if saved is None else dy * saved

    # --- losses --------------------------------------------------------------------------------
    def softmax_cross_entropy(self, logits, labels, sparse):
        return loss.softmax_cross_entropy(logits, labels, sparse)

    def categorical_cross_entropy(self, probs, labels, sparse):
        return loss.categorical_cross_entropy(probs, labels, sparse)

    def binary_cross_entropy(self, probs, labels, from_logits=False):
        return loss.binary_cross_entropy(probs, labels, from_logits)

    def mean_squared_error(self, pred, target):
        return loss.mean_squared_error(pred, target)

    def mean_absolute_error(self, pred, target):
        return loss.mean_absolute_error(pred, target)

    def huber(self, pred, target, delta):
        return loss.huber(pred, target, delta)

    def binary_focal_cross_entropy(self, pred, labels, gamma, positive_weight, negative_weight, from_logits=False):
        return loss.binary_focal_cross_entropy(pred, labels, gamma, positive_weight, negative_weight, from_logits)

    def elementwise_loss(self, kind, pred, target):
        return loss.elementwise_loss(kind, pred, target)

    # --- regularization and metrics ---------------------------------------------------------------
    def sample_losses(self, kind, pred, labels, logits=False, sparse=False, delta=1.0, focal=None):
        return loss.sample_losses(kind, pred, labels, logits, sparse, delta, focal)

    def l1_penalty(self, w, factor, grad=None):
        return regularizer.l1_penalty(w, factor, grad)

    def l2_penalty(self, w, factor, grad=None):
        return regularizer.l2_penalty(w, factor, grad)

    def count_in_top_k(self, pred, labels, k, sparse):
        return metric.count_in_top_k(pred, labels, k, sparse)

    def confusion_counts(self, pred, labels, threshold):
        return metric.confusion_counts(pred, labels, threshold)

    def threshold_counts(self, pred, labels, thresholds, from_logits=False):
        return metric.threshold_counts(pred, labels, thresholds, from_logits)

    def count_correct(self, pred, labels, kind, threshold=0.5):
        return metric.count_correct(pred, labels, kind, threshold)

    # --- optimizers ----------------------------------------------------------------------------
    def clip_gradients(self, grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
        return optim.clip_gradients(grads, clipnorm, clipvalue, global_clipnorm)

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov, decay=0.0):
        optim.sgd_update(param, grad, velocity, lr, momentum, nesterov, decay)

    def adam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, decay=0.0, v_max=None):
        optim.adam_update(param, grad, m, v, lr, beta_1, beta_2, epsilon, step, decay, v_max)

    def adam_update_many(self, params, grads, ms, vs, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        for param, grad, m, v in zip(params, grads, ms, vs):
            self.adam_update(param, grad, m, v, lr, beta_1, beta_2, epsilon, step, decay)

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon, decay=0.0, average_grad=None, momentum=0.0,
                       momentum_slot=None):
        optim.rmsprop_update(param, grad, velocity, lr, rho, epsilon, decay, average_grad, momentum, momentum_slot)

    def adagrad_update(self, param, grad, accumulator, lr, epsilon, decay=0.0):
        optim.adagrad_update(param, grad, accumulator, lr, epsilon, decay)

    def adamax_update(self, param, grad, m, norm, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        optim.adamax_update(param, grad, m, norm, lr, beta_1, beta_2, epsilon, step, decay)

    def nadam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay=0.0):
        optim.nadam_update(param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay)

    def lion_update(self, param, grad, m, lr, beta_1, beta_2, decay=0.0):
        optim.lion_update(param, grad, m, lr, beta_1, beta_2, decay)

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay=0.0):
        optim.adadelta_update(param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay)
