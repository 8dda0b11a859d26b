"""The backend interface: every piece of math a layer, loss or optimizer needs, and nothing else.

Layers hold parameters and shapes; they call these methods and never touch NumPy or CuPy math
themselves. Three backends implement it:

- ``numpy``: the reference ops of ``cnn_gpu.ops.*`` on NumPy arrays (the CPU path).
- ``cuda``: the same methods on CuPy arrays; each op runs our CUDA kernels where a kernel family
  has landed, else the array-module-generic reference running on CuPy.
- ``emulate``: the ``cuda`` backend's kernels on NumPy arrays, through the CPU emulator.

Conventions (Keras's): images are channels-last ``(N, H, W, C)``; a Conv2D kernel is
``(kernel_h, kernel_w, in_channels, filters)``; a Dense kernel is ``(in_features, units)``.
``padding`` is ``"valid"`` or ``"same"`` (TensorFlow's: ceil(H / stride) outputs, the odd padding
element on the bottom/right); ``strides``, ``dilation`` and ``pool_size`` are ints or ``(h, w)``
tuples. Every method keeps its inputs' dtype (float32 or float64) and rejects bad arguments with an
error that names the argument. Shapes and checks a layer needs before it has data
(``conv2d_output_shape``, ``pool2d_output_shape``, ``check_activation``) live in ``cnn_gpu.ops``.
"""

from __future__ import annotations


class Backend:
    """Abstract backend. Subclasses set ``name`` and ``xp`` (the array module) and implement the ops."""

    name: str = "abstract"
    xp = None
    # Why this backend is the one in use ("numpy: no usable GPU (...)"), set by cnn_gpu.backend when
    # it chooses one; `cnn-gpu info` prints it.
    reason: str = ""

    # --- arrays ------------------------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """``a`` as an array of this backend (copied to the device if needed)."""
        raise NotImplementedError

    def to_numpy(self, a):
        """``a`` as a NumPy array on the host."""
        raise NotImplementedError

    def zeros(self, shape, dtype):
        """A zero-filled array of this backend (optimizer slots, accumulators)."""
        raise NotImplementedError

    # --- dense ---------------------------------------------------------------------------------
    def dense_forward(self, x, w, b, relu=False):
        """``x @ w + b`` for x (N, I), w (I, O), b (O,) or None; with ``relu``, its ReLU (one pass where the
        product's epilogue applies it)."""
        raise NotImplementedError

    def dense_backward(self, x, w, dy, need_dx=True, need_db=True):
        """Gradients ``(dx, dw, db)`` of ``dense_forward`` given dy (N, O); dx is None unless ``need_dx``,
        db None unless ``need_db`` (a layer without a bias)."""
        raise NotImplementedError

    # --- convolution ---------------------------------------------------------------------------
    def conv2d_forward(self, x, w, b, strides, padding, dilation, relu=False):
        """Cross-correlation (as every framework computes it) of NHWC x with (R, S, C, K) w, plus b (K,) or None;
        with ``relu``, its ReLU."""
        raise NotImplementedError

    def conv2d_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        """Gradients ``(dx, dw, db)`` of ``conv2d_forward`` given dy (N, P, Q, K).

        dx is None unless ``need_dx``: a model's first layer skips the backward-data pass; db None
        unless ``need_db`` (a layer without a bias).
        """
        raise NotImplementedError

    def conv2d_transpose_forward(self, x, w, b, strides, padding, dilation, relu=False):
        """The transposed convolution of NHWC x by (R, S, filters, C) w (conv2d's data gradient), plus b
        (filters,) or None; with ``relu``, its ReLU."""
        raise NotImplementedError

    def conv2d_transpose_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        """Gradients ``(dx, dw, db)`` of ``conv2d_transpose_forward``, as conv2d_backward's."""
        raise NotImplementedError

    def depthwise_conv2d_forward(self, x, w, b, strides, padding, dilation, relu=False):
        """Depthwise convolution of NHWC x with (R, S, C, M) w: output channel c*M + m is filter m of
        channel c; plus b (C*M,) or None; with ``relu``, its ReLU."""
        raise NotImplementedError

    def depthwise_conv2d_backward(self, x, w, dy, strides, padding, dilation, need_dx=True, need_db=True):
        """Gradients ``(dx, dw, db)`` of ``depthwise_conv2d_forward`` given dy (N, P, Q, C*M), as conv2d_backward's."""
        raise NotImplementedError

    # --- reshaping images ---------------------------------------------------------------------------
    def upsampling2d_forward(self, x, size):
        """Each NHWC pixel repeated into a (size_h, size_w) block."""
        raise NotImplementedError

    def upsampling2d_backward(self, dy, size):
        """Its gradient: each block of dy summed."""
        raise NotImplementedError

    def resize_nearest_forward(self, x, out_hw):
        """Each NHWC image resized to ``out_hw``, every output pixel its nearest source pixel's value
        (``ops.reshaping.resize_nearest``)."""
        raise NotImplementedError

    def resize_nearest_backward(self, dy, x_shape):
        raise NotImplementedError

    def pad2d(self, x, pads):
        """x with ((top, bottom), (left, right)) rows and columns of zeros around it (crop2d's gradient)."""
        raise NotImplementedError

    def crop2d(self, x, crops):
        """x without ((top, bottom), (left, right)) rows and columns at its edges (pad2d's gradient)."""
        raise NotImplementedError

    # --- pooling -------------------------------------------------------------------------------
    def max_pool2d_forward(self, x, pool_size, strides, padding):
        """``(y, argmax)``: the pooled output and what the backward pass needs to route gradients.

        ``argmax`` is opaque to the layer: it hands it back to ``max_pool2d_backward`` unchanged.
        ``strides`` None means the pool size.
        """
        raise NotImplementedError

    def max_pool2d_backward(self, dy, argmax, x_shape, pool_size, strides, padding):
        """Gradient to the input: each dy goes to its window's first maximum (row-major order)."""
        raise NotImplementedError

    def avg_pool2d_forward(self, x, pool_size, strides, padding):
        """Window means, each over the real (unpadded) elements of its window."""
        raise NotImplementedError

    def avg_pool2d_backward(self, dy, x_shape, pool_size, strides, padding):
        raise NotImplementedError

    # --- normalization -------------------------------------------------------------------------
    def batch_norm_forward(self, x, gamma, beta, moving_mean, moving_variance, momentum, epsilon, training):
        """Keras's batch normalization over the last axis: ``(y, statistics)``. In training the batch's
        mean and biased variance normalise x and the moving statistics follow them in place; otherwise
        the moving ones normalise it. gamma or beta may be None (``scale`` or ``center`` False);
        ``statistics`` (``ops.batchnorm.NormStatistics``) is what ``batch_norm_backward`` takes."""
        raise NotImplementedError

    def batch_norm_backward(self, x, dy, gamma, statistics):
        """``(dx, dgamma, dbeta)`` of ``batch_norm_forward`` given dy (x's shape)."""
        raise NotImplementedError

    # --- augmentation ------------------------------------------------------------------------------
    def rescale(self, x, scale, offset):
        """``x * scale + offset`` in x's dtype; scale and offset numbers, or lists over the last axis."""
        raise NotImplementedError

    def adjust_contrast(self, x, factors, value_range):
        """``(y, saved)``: each NHWC image's contrast scaled by its factor and clipped (``ops.augment``);
        ``saved`` is what adjust_contrast_backward takes."""
        raise NotImplementedError

    def adjust_contrast_backward(self, dy, saved):
        raise NotImplementedError

    def adjust_brightness(self, x, deltas, value_range):
        """``(y, saved)``: each NHWC image shifted by its delta and clipped (``ops.augment``)."""
        raise NotImplementedError

    def adjust_brightness_backward(self, dy, saved):
        raise NotImplementedError

    def layer_norm_forward(self, x, gamma, beta, epsilon):
        """``(y, statistics)``: x normalised over its last axis by each row's mean and variance, scaled by
        gamma and shifted by beta (either None); ``statistics`` is what layer_norm_backward takes."""
        raise NotImplementedError

    def layer_norm_backward(self, dy, gamma, statistics):
        """``(dx, dgamma, dbeta)`` of layer_norm_forward."""
        raise NotImplementedError

    def flip_images(self, x, flips):
        """Each image of NHWC x mirrored as its int32 entry of ``flips`` (a backend array) says
        (``ops.augment``'s bits: left-right, upside down); its own inverse, so the backward too."""
        raise NotImplementedError

    def affine_transform(self, x, transforms, interpolation, fill_mode, fill_value, out_shape=None):
        """Each image of NHWC x resampled through its float32 row of ``transforms`` (a backend array of
        (N, 6)) into (N, *out_shape, C), x's size by default (``ops.affine_transform``)."""
        raise NotImplementedError

    def affine_transform_backward(self, dy, transforms, x_shape, interpolation, fill_mode):
        """Its gradient to x (of ``x_shape``), given dy."""
        raise NotImplementedError

    # --- activations and dropout -----------------------------------------------------------------
    def activation_forward(self, name, x):
        """``name`` one of ``ops.activation.FORWARD``'s: relu, sigmoid, tanh, softmax (over the last axis),
        linear, elu, selu, leaky_relu, softplus, softsign, gelu, swish, silu, relu6, hard_sigmoid,
        hard_silu (hard_swish), mish, exponential."""
        raise NotImplementedError

    def leaky_relu_forward(self, x, slope):
        """leaky_relu with its slope an argument (the LeakyReLU layer's): x at or above 0, slope x below."""
        raise NotImplementedError

    def leaky_relu_backward(self, x, dy, slope):
        """Its gradient to x, from the forward's input x."""
        raise NotImplementedError

    def embedding_forward(self, x, table):
        """``(y, ids)``: each id's row of ``table`` (``ops.embedding``), and the ids the backward needs."""
        raise NotImplementedError

    def embedding_backward(self, ids, dy, input_dim):
        """The table's gradient: each id's rows of dy summed into its row."""
        raise NotImplementedError

    def prelu_forward(self, x, alpha):
        """Keras's PReLU (``ops.activation.prelu``): x above 0, alpha x below, alpha broadcast."""
        raise NotImplementedError

    def prelu_backward(self, x, alpha, dy):
        """``(dx, dalpha)`` of prelu_forward, from its input x."""
        raise NotImplementedError

    def relu_forward(self, x, arguments):
        """Keras's relu at ``arguments`` (``ops.activation.ReluArguments``: the ReLU layer's slope,
        threshold and max_value)."""
        raise NotImplementedError

    def relu_backward(self, x, dy, arguments):
        """Its gradient to x, from the forward's input x."""
        raise NotImplementedError

    def elu_forward(self, x, alpha):
        """elu with its alpha an argument (the ELU layer's): x above 0, alpha (e^x - 1) below."""
        raise NotImplementedError

    def elu_backward(self, x, dy, alpha):
        """Its gradient to x, from the forward's input x."""
        raise NotImplementedError

    def softmax_forward(self, x, axis):
        """Softmax over ``axis`` (the Softmax layer's: an int or a tuple of ints, normalised together)."""
        raise NotImplementedError

    def softmax_backward(self, y, dy, axis):
        """Its gradient to x, from the forward's output y."""
        raise NotImplementedError

    def activation_backward(self, name, x, y, dy):
        """Gradient to x given the forward's input x, output y and the upstream dy."""
        raise NotImplementedError

    def dropout_forward(self, x, rate, rng, noise_shape=None):
        """Inverted dropout: ``(y, mask)`` with kept units scaled by 1 / (1 - rate); with ``noise_shape``
        (x's shape with some axes 1) one mask of that shape, broadcast over x.

        ``rng`` is the layer's ``numpy.random.Generator``: the same seed gives the same masks on one
        backend. (The numpy backend draws them with the generator itself; the kernel backends draw a
        key from it and the mask on the device, so their masks differ from the numpy backend's.)
        ``mask`` is whatever ``dropout_backward`` of the same backend takes.
        """
        raise NotImplementedError

    def dropout_backward(self, dy, mask):
        raise NotImplementedError

    def gaussian_noise_forward(self, x, stddev, rng, multiply=False):
        """``(y, saved)``: x plus stddev times standard normal draws, or with ``multiply`` x times one
        plus them (GaussianNoise, GaussianDropout); drawn as dropout_forward draws its masks, from the
        layer's generator on the numpy backend, on the device under a key from it on the kernel ones.
        ``saved`` is whatever gaussian_noise_backward of the same backend takes."""
        raise NotImplementedError

    def gaussian_noise_backward(self, dy, saved):
        raise NotImplementedError

    # --- losses: each returns (loss, gradient to the prediction), the loss a 0-d array ------------
    def softmax_cross_entropy(self, logits, labels, sparse):
        """Mean softmax cross-entropy over the batch, computed stably, and its gradient to logits.

        ``labels`` are one-hot (N, classes) or, with ``sparse``, integer class ids (N,).
        """
        raise NotImplementedError

    def categorical_cross_entropy(self, probs, labels, sparse):
        """Keras's categorical cross-entropy on probabilities (for a last activation other than softmax)."""
        raise NotImplementedError

    def binary_cross_entropy(self, probs, labels, from_logits=False):
        """Keras's binary cross-entropy on probabilities (or logits), the mean over every element."""
        raise NotImplementedError

    def mean_squared_error(self, pred, target):
        """The mean over every element of (pred - target)^2."""
        raise NotImplementedError

    def mean_absolute_error(self, pred, target):
        """The mean over every element of |pred - target|."""
        raise NotImplementedError

    def huber(self, pred, target, delta):
        """Keras's Huber loss, the mean over every element (``ops.loss.huber``)."""
        raise NotImplementedError

    def binary_focal_cross_entropy(self, pred, labels, gamma, positive_weight, negative_weight, from_logits=False):
        """Keras's binary focal cross-entropy, the mean over every element (``ops.loss``'s)."""
        raise NotImplementedError

    def elementwise_loss(self, kind, pred, target):
        """``(loss, grad)`` of one of ``ops.loss.ELEMENTWISE_KINDS`` (hinge, squared_hinge, log_cosh,
        poisson, kl_divergence), as ``ops.loss.elementwise_loss``."""
        raise NotImplementedError

    # --- regularization and metrics ---------------------------------------------------------------
    def sample_losses(self, kind, pred, labels, logits=False, sparse=False, delta=1.0, focal=None):
        """Each sample's loss (N,) of a 2-D prediction, for a weighted mean and the regression metrics
        (``ops.loss.sample_losses``)."""
        raise NotImplementedError

    def l1_penalty(self, w, factor, grad=None):
        """``factor * sum(|w|)`` as a 0-d array; with ``grad``, adds ``factor sign(w)`` into it in place."""
        raise NotImplementedError

    def l2_penalty(self, w, factor, grad=None):
        """``factor * sum(w^2)`` as a 0-d array; with ``grad``, adds ``2 factor w`` into it in place."""
        raise NotImplementedError

    def count_in_top_k(self, pred, labels, k, sparse):
        """How many rows' true class (one-hot ``labels``, or class ids if ``sparse``) is among their ``k``
        highest scores (Keras's in_top_k), as a 0-d integer array."""
        raise NotImplementedError

    def confusion_counts(self, pred, labels, threshold):
        """``[true positives, predicted positives, actual positives]`` of every element, a 3-element int64
        array (ops.metric.confusion_counts)."""
        raise NotImplementedError

    def threshold_counts(self, pred, labels, thresholds, from_logits=False):
        """``[true positives, false positives]`` at Keras's AUC's ``thresholds`` evenly spaced thresholds,
        an int64 array (2, thresholds) (ops.metric.threshold_counts)."""
        raise NotImplementedError

    def count_correct(self, pred, labels, kind, threshold=0.5):
        """How many predictions match their labels, as a 0-d integer array.

        ``kind`` is Keras's accuracy: ``categorical`` (argmax of pred == argmax of one-hot labels),
        ``sparse`` (argmax of pred == integer label) or ``binary`` (each element of
        ``pred > threshold`` == label, counted elementwise).
        """
        raise NotImplementedError

    # --- optimizers: each step first applies Keras's weight decay, ``param -= param * decay`` (decay =
    # weight_decay * lr; 0 for none) --------------------------------------------------------------
    def clip_gradients(self, grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
        """Keras's gradient clipping before an optimizer's step (ops.optim.clip_gradients): new arrays."""
        raise NotImplementedError

    def sgd_update(self, param, grad, velocity, lr, momentum, nesterov, decay=0.0):
        """Keras's SGD step, in place on ``param`` and ``velocity`` (None when momentum is 0)."""
        raise NotImplementedError

    def adam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, decay=0.0, v_max=None):
        """Keras's Adam step (``step`` counts from 1), in place on ``param``, ``m`` and ``v`` (and AMSGrad's
        ``v_max``, when given)."""
        raise NotImplementedError

    def adam_update_many(self, params, grads, ms, vs, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        """``adam_update`` of every parameter (with its gradient and states, in the lists' order); a
        backend may take them together."""
        raise NotImplementedError

    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon, decay=0.0, average_grad=None, momentum=0.0,
                       momentum_slot=None):
        """Keras's RMSprop step, in place; centered when ``average_grad`` is given, with momentum when
        ``momentum`` is not 0 (its slot ``momentum_slot``)."""
        raise NotImplementedError

    def adagrad_update(self, param, grad, accumulator, lr, epsilon, decay=0.0):
        """Keras's Adagrad step, in place on ``param`` and ``accumulator``."""
        raise NotImplementedError

    def adamax_update(self, param, grad, m, norm, lr, beta_1, beta_2, epsilon, step, decay=0.0):
        """Keras's Adamax step (``step`` counts from 1), in place on ``param``, ``m`` and ``norm``."""
        raise NotImplementedError

    def nadam_update(self, param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay=0.0):
        """Keras's Nadam step (``step`` counts from 1; ``u_product``, ops.optim.nadam_momentum_product of
        it), in place on ``param``, ``m`` and ``v``."""
        raise NotImplementedError

    def lion_update(self, param, grad, m, lr, beta_1, beta_2, decay=0.0):
        """Keras's Lion step, in place on ``param`` and ``m``."""
        raise NotImplementedError

    def adadelta_update(self, param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay=0.0):
        """Keras's Adadelta step, in place on ``param`` and its two running means."""
        raise NotImplementedError
