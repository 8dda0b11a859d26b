"""The models and data of the Keras reference runs, shared by the generator and the test.

Layers are ``(class name, args, kwargs)`` with the same names in Keras and cnn_gpu.
"""

import numpy as np

CASES = {
    "rmsprop_l2": {
        "input": (12, 12, 1),
        "layers": [
            ("Conv2D", (4, (3, 3)), {"activation": "relu"}),
            ("MaxPooling2D", ((2, 2),), {}),
            ("Flatten", (), {}),
            ("Dense", (16,), {"activation": "relu", "kernel_regularizer": ("L2", {"l2": 0.01})}),
            ("Dense", (4,), {"activation": "softmax"}),
        ],
        "optimizer": ("RMSprop", {"learning_rate": 0.003}),
        "loss": "categorical_crossentropy",
    },
    "adam_sparse": {
        "input": (9, 7, 2),
        "layers": [
            ("Conv2D", (3, 3), {"strides": 2, "padding": "same", "activation": "tanh"}),
            ("AveragePooling2D", (2,), {"padding": "same"}),
            ("Flatten", (), {}),
            ("Dense", (4,), {"activation": "softmax"}),
        ],
        "optimizer": ("Adam", {"learning_rate": 0.01}),
        "loss": "sparse_categorical_crossentropy",
    },
    "sgd_nesterov_binary": {
        "input": (6,),
        "layers": [
            ("Dense", (5,), {"activation": "sigmoid"}),
            ("Dense", (1,), {"activation": "sigmoid"}),
        ],
        "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
        "loss": "binary_crossentropy",
    },
    # Batch normalization after a convolution and after a Dense layer (training by the batch's
    # statistics, the validation by the moving ones), global average pooling between them. SGD: the
    # gradients a normalization makes zero but for rounding stay small steps (Adam would make them
    # full ones, of either sign).
    "sgd_batchnorm": {
        "input": (10, 10, 2),
        "layers": [
            ("Conv2D", (4, (3, 3)), {"use_bias": False}),
            ("BatchNormalization", (), {}),
            ("Activation", ("relu",), {}),
            ("GlobalAveragePooling2D", (), {}),
            ("Dense", (6,), {"use_bias": False}),
            ("BatchNormalization", (), {"momentum": 0.9, "epsilon": 0.01}),
            ("Dense", (3,), {"activation": "softmax"}),
        ],
        "optimizer": ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
        "loss": "categorical_crossentropy",
    },
    "adamw_weight_decay": {
        "input": (7,),
        "layers": [
            ("Dense", (8,), {"activation": "tanh"}),
            ("Dense", (3,), {"activation": "softmax"}),
        ],
        "optimizer": ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.5}),
        "loss": "categorical_crossentropy",
    },
    # Keras's other activations, each in a layer's epilogue (Conv2D, Dense) or on its own.
    "sgd_activations": {
        "input": (6, 6, 2),
        "layers": [
            ("Conv2D", (3, (3, 3)), {"activation": "elu"}),
            ("Activation", ("softsign",), {}),
            ("Flatten", (), {}),
            ("Dense", (8,), {"activation": "selu"}),
            ("Dense", (6,), {"activation": "leaky_relu"}),
            ("Dense", (5,), {"activation": "softplus"}),
            ("Dense", (5,), {"activation": "gelu"}),
            ("Activation", ("silu",), {}),
            ("Dense", (5,), {}),
            ("LeakyReLU", (), {"negative_slope": 0.1}),
            ("Dense", (3,), {"activation": "softmax"}),
        ],
        "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.5}),
        "loss": "categorical_crossentropy",
    },
    "rmsprop_reshape": {
        "input": (36,),
        "layers": [
            ("Reshape", ((6, 6, 1),), {}),
            ("Conv2D", (2, (3, 3)), {}),
            ("ReLU", (), {}),
            ("Dense", (3,), {"activation": "tanh"}),  # at every position, as a 1 x 1 convolution
            ("Reshape", ((-1,),), {}),
            ("Dense", (4,), {}),
            ("ELU", (), {}),
            ("Dense", (3,), {}),
            ("Softmax", (), {}),
        ],
        "optimizer": ("RMSprop", {"learning_rate": 0.01}),
        "loss": "categorical_crossentropy",
    },
    "adam_global_max": {
        "input": (8, 9, 3),
        "layers": [
            ("Conv2D", (5, (3, 3)), {"activation": "relu"}),
            ("GlobalMaxPooling2D", (), {}),
            ("Dense", (4,), {"activation": "softmax"}),
        ],
        "optimizer": ("Adam", {"learning_rate": 0.01}),
        "loss": "sparse_categorical_crossentropy",
    },
    # The depthwise convolutions: a multiplier, 'same' padding and the fused ReLU; a separable one at
    # stride 2 (its pointwise step a matrix product); a dilated one without a bias.
    "adam_depthwise_separable": {
        "input": (10, 9, 3),
        "layers": [
            ("DepthwiseConv2D", ((3, 3),), {"depth_multiplier": 2, "padding": "same", "activation": "relu"}),
            ("SeparableConv2D", (8, (3, 3)), {"strides": 2, "activation": "relu"}),
            ("DepthwiseConv2D", ((2, 2),), {"dilation_rate": 2, "use_bias": False}),
            ("GlobalAveragePooling2D", (), {}),
            ("Dense", (4,), {"activation": "softmax"}),
        ],
        "optimizer": ("Adam", {"learning_rate": 0.01}),
        "loss": "categorical_crossentropy",
    },
    # Transposed convolutions back up from a strided convolution: 'same' at stride 2 with the fused
    # ReLU, and 'valid' with a stride wider than the window (the last columns get the bias alone).
    "rmsprop_conv_transpose": {
        "input": (7, 6, 2),
        "layers": [
            ("Conv2D", (4, (3, 3)), {"strides": 2, "activation": "tanh"}),
            ("Conv2DTranspose", (3, (3, 3)), {"strides": 2, "padding": "same", "activation": "relu"}),
            ("Conv2DTranspose", (2, (2, 2)), {"strides": (1, 3)}),
            ("GlobalAveragePooling2D", (), {}),
            ("Dense", (3,), {"activation": "softmax"}),
        ],
        "optimizer": ("RMSprop", {"learning_rate": 0.01}),
        "loss": "categorical_crossentropy",
    },
    # A class for every pixel: a softmax over the last axis of a (batch, H, W, classes) output, integer
    # labels (batch, H, W); the loss and the accuracy averaged over every pixel, as Keras does.
    "rmsprop_per_pixel": {
        "input": (6, 5, 2),
        "layers": [
            ("Conv2D", (4, (3, 3)), {"padding": "same", "activation": "relu"}),
            ("Conv2D", (3, (1, 1)), {"activation": "softmax"}),
        ],
        "label_shape": (6, 5),
        "optimizer": ("RMSprop", {"learning_rate": 0.01}),
        "loss": "sparse_categorical_crossentropy",
    },
    # The ReLU, ELU and Softmax layers at other arguments than Keras's defaults: a slope below a
    # threshold, a softmax over the image's height, a cap of 6 (Keras's relu6 path; these values stay
    # under it) and one they reach (0.1, with a slope), an alpha of 0.5.
    "sgd_activation_arguments": {
        "input": (6, 5, 2),
        "layers": [
            ("Conv2D", (4, (3, 3)), {}),
            ("ReLU", (), {"negative_slope": 0.1, "threshold": 0.5}),
            ("Softmax", (), {"axis": 1}),
            ("Flatten", (), {}),
            ("Dense", (8,), {}),
            ("ReLU", (), {"max_value": 6.0}),
            ("Dense", (6,), {}),
            ("ELU", (), {"alpha": 0.5}),
            ("Dense", (5,), {}),
            ("ReLU", (), {"max_value": 0.1, "negative_slope": 0.2}),
            ("Dense", (3,), {"activation": "softmax"}),
        ],
        "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.5}),
        "loss": "categorical_crossentropy",
    },
}


# The functional API: a graph of named layers, each (name, class name, args, kwargs, the names of the
# layers it reads; "input" is the Input, or "inputs" names several). The last is the output.
GRAPH_CASES = {
    # A residual block (a convolution and a normalization beside the shortcut, then Add) and a 1 x 1
    # convolution of the input concatenated to it: the input's gradient from two layers, the stem's
    # from two.
    "adam_residual_graph": {
        "input": (8, 8, 2),
        "graph": [
            ("stem", "Conv2D", (6, (3, 3)), {"padding": "same", "activation": "relu"}, ["input"]),
            ("branch", "Conv2D", (6, (3, 3)), {"padding": "same", "use_bias": False}, ["stem"]),
            ("norm", "BatchNormalization", (), {}, ["branch"]),
            ("add", "Add", (), {}, ["stem", "norm"]),
            ("relu", "Activation", ("relu",), {}, ["add"]),
            ("side", "Conv2D", (3, (1, 1)), {}, ["input"]),
            ("concatenate", "Concatenate", (), {}, ["relu", "side"]),
            ("pool", "GlobalAveragePooling2D", (), {}, ["concatenate"]),
            ("dense", "Dense", (4,), {"activation": "softmax"}, ["pool"]),
        ],
        "optimizer": ("Adam", {"learning_rate": 0.005}),
        "loss": "categorical_crossentropy",
    },
    # An encoder-decoder's way back up: pooled features convolved, upsampled and concatenated with the
    # encoder's, then padded and cropped unevenly.
    "adam_upsampling_graph": {
        "input": (8, 8, 2),
        "graph": [
            ("encoder", "Conv2D", (4, (3, 3)), {"padding": "same", "activation": "relu"}, ["input"]),
            ("pool", "MaxPooling2D", ((2, 2),), {}, ["encoder"]),
            ("middle", "Conv2D", (3, (3, 3)), {"padding": "same", "activation": "tanh"}, ["pool"]),
            ("up", "UpSampling2D", ((2, 2),), {}, ["middle"]),
            ("concatenate", "Concatenate", (), {}, ["encoder", "up"]),
            ("pad", "ZeroPadding2D", (((1, 0), (2, 1)),), {}, ["concatenate"]),
            ("crop", "Cropping2D", (((0, 2), (1, 1)),), {}, ["pad"]),
            ("decoder", "Conv2D", (2, (3, 3)), {"activation": "relu"}, ["crop"]),
            ("flat", "Flatten", (), {}, ["decoder"]),
            ("dense", "Dense", (3,), {"activation": "softmax"}, ["flat"]),
        ],
        "optimizer": ("Adam", {"learning_rate": 0.005}),
        "loss": "categorical_crossentropy",
    },
}
CASES.update(GRAPH_CASES)
# Gradient clipping, each kind below the gradients' size, so that it clips every step.
for name, optimizer_name, clipping in (("sgd_clipnorm", "SGD", {"learning_rate": 0.5, "clipnorm": 0.05}),
                                       ("adam_global_clipnorm", "Adam", {"learning_rate": 0.02, "global_clipnorm": 0.1}),
                                       ("rmsprop_clipvalue", "RMSprop", {"learning_rate": 0.01, "clipvalue": 0.002})):
    CASES[name] = {
        "input": (5,),
        "layers": [("Dense", (6,), {"activation": "relu"}), ("Dense", (3,), {"activation": "softmax"})],
        "optimizer": (optimizer_name, clipping),
        "loss": "categorical_crossentropy",
    }
# The other penalties: L1, and L1 with L2.
CASES["sgd_l1_l1l2"] = {
    "input": (6,),
    "layers": [("Dense", (8,), {"activation": "tanh", "kernel_regularizer": ("L1", {"l1": 0.01})}),
               ("Dense", (3,), {"activation": "softmax", "kernel_regularizer": ("L1L2", {"l1": 0.005, "l2": 0.02})})],
    "optimizer": ("SGD", {"learning_rate": 0.2}),
    "loss": "categorical_crossentropy",
}
# The top-k accuracies, by name (k = 5) and as an object (k = 2), on 10 classes.
CASES["adam_top_k"] = {
    "input": (6,),
    "layers": [("Dense", (12,), {"activation": "relu"}), ("Dense", (10,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["sparse_top_k_categorical_accuracy", ("SparseTopKCategoricalAccuracy", {"k": 2, "name": "top_2"})],
}
# Rescaling first, by one factor and then by one per channel with an offset.
CASES["adam_rescaling"] = {
    "input": (5, 5, 2),
    "layers": [("Rescaling", (1 / 255,), {}), ("Rescaling", ([200.0, -100.0],), {"offset": [0.5, -0.25]}),
               ("Conv2D", (3, (3, 3)), {"activation": "relu"}), ("Flatten", (), {}),
               ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# A schedule in training: the rate of each step is the schedule's at the steps taken before it.
CASES["sgd_cosine_warmup_schedule"] = {
    "input": (7,),
    "layers": [("Dense", (6,), {"activation": "tanh"}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 4,
                                                            "warmup_target": 0.5, "warmup_steps": 3}),
                          "momentum": 0.5}),
    "loss": "categorical_crossentropy",
}


# Learning-rate schedules (class name, arguments), each recorded at steps 0 to SCHEDULE_STEPS - 1.
SCHEDULE_CASES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5}),
    "exponential_staircase": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5,
                                                   "staircase": True}),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.3}),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [5, 12], "values": [0.1, 0.05, 0.01]}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 25, "end_learning_rate": 0.01,
                                       "power": 2.0}),
    "polynomial_cycle": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 9, "cycle": True}),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1}),
    "cosine_warmup": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 15, "warmup_target": 0.1,
                                      "warmup_steps": 5}),
    # Restarts at steps 5, 15 and 35 (t_mul 2), and every 6 steps (t_mul 1), each lower by m_mul.
    "cosine_restarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 5, "alpha": 0.05,
                                                "m_mul": 0.8}),
    "cosine_restarts_even": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 6,
                                                     "t_mul": 1.0, "m_mul": 0.5}),
}
SCHEDULE_STEPS = 40


def optimizer(case, optimizers):
    """The case's optimizer from a library's optimizers module; an argument given as (class name,
    arguments) is a schedule of its ``schedules``."""
    name, arguments = case["optimizer"]
    return getattr(optimizers, name)(**{key: getattr(optimizers.schedules, value[0])(**value[1])
                                        if isinstance(value, tuple) else value for key, value in arguments.items()})


def metrics(case, module):
    """The case's metrics (["accuracy"] unless it names others), a (class name, arguments) entry made
    into that class of the library's metrics ``module``."""
    return [m if isinstance(m, str) else getattr(module, m[0])(**m[1]) for m in case.get("metrics", ["accuracy"])]


def loss(case, module):
    """The case's loss: a name, or a (class name, arguments) entry made into that class of the library's
    losses ``module``."""
    spec = case["loss"]
    return spec if isinstance(spec, str) else getattr(module, spec[0])(**spec[1])


LOSS_NAMES = {"BinaryCrossentropy": "binary_crossentropy", "CategoricalCrossentropy": "categorical_crossentropy",
              "BinaryFocalCrossentropy": "binary_focal_crossentropy"}


def loss_name(case):
    """The case's loss by Keras's name ('binary_crossentropy' for a BinaryCrossentropy entry)."""
    spec = case["loss"]
    return spec if isinstance(spec, str) else LOSS_NAMES[spec[0]]


def fit_arguments(case, n):
    """The case's class_weight, or a sample_weight of ``n`` weights rising from 0.2 to 2, for fit."""
    if "class_weight" in case:
        return {"class_weight": case["class_weight"]}
    if case.get("sample_weight"):
        return {"sample_weight": np.linspace(0.2, 2.0, n).astype(np.float32)}
    return {}


def layer_specs(case):
    """(class name, args, kwargs) of every layer of the case, in order."""
    return case["layers"] if "layers" in case else [spec[1:4] for spec in case["graph"]]


def build_model(case, layers, sequential, functional, regularizers, constraints):
    """The case's model from a module of layers (keras.layers or cnn_gpu.layers), the Sequential and
    Model classes and the regularizers and constraints modules of the same library."""
    def make(kind, args, kwargs):
        return getattr(layers, kind)(*args, **with_objects(kwargs, regularizers, constraints))

    if "graph" not in case:
        return sequential([layers.Input(case["input"])] + [make(*spec) for spec in case["layers"]])
    inputs = {name: layers.Input(shape) for name, shape in input_shapes(case).items()}
    tensors = dict(inputs)
    for name, kind, args, kwargs, inbound in case["graph"]:
        sources = [tensors[source] for source in inbound]
        tensors[name] = make(kind, args, kwargs)(sources if len(sources) > 1 else sources[0])
    return functional(list(inputs.values()) if len(inputs) > 1 else inputs["input"], tensors[name])


def input_shapes(case):
    """The case's inputs by name: "input" alone, or a graph case's several ("inputs", in order)."""
    return case.get("inputs", {"input": case.get("input")})


REGRESSION_LOSSES = ("mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "log_cosh", "poisson",
                     "mape", "msle")
# The losses whose labels are as binary cross-entropy's (a 0/1 label each) or as categorical's (one-hot).
BINARY_LABELS = ("binary_crossentropy", "hinge", "squared_hinge", "binary_focal_crossentropy")
ONE_HOT_LABELS = ("categorical_crossentropy", "kl_divergence")


def case_data(case, n=64):
    """Inputs and labels from a fixed generator (the same on every machine)."""
    rng = np.random.default_rng(0)
    # Inputs in [-1, 1], or (a case with "ids") integer ids below that count, as an Embedding reads them.
    xs = [(rng.integers(0, case["ids"], (n, *shape)) if "ids" in case else rng.uniform(-1, 1, (n, *shape)))
          .astype(np.float32) for shape in input_shapes(case).values()]
    x = xs if len(xs) > 1 else xs[0]
    # The classes: the last layer's units or filters; a label each, or one a pixel (label_shape).
    units = next(args[0] for kind, args, _ in reversed(layer_specs(case)) if kind in ("Dense", "Conv2D"))
    if loss_name(case) in REGRESSION_LOSSES:  # targets: a value for each of the last layer's units
        y = rng.uniform(-2, 2, (n, units)).astype(np.float32)
        return x, abs(y) if loss_name(case) in ("poisson", "msle") else y  # counts, and logarithms' arguments
    classes = rng.integers(0, max(units, 2), (n, *case.get("label_shape", ())))
    if loss_name(case) in ONE_HOT_LABELS:
        y = np.eye(units, dtype=np.float32)[classes]
    elif loss_name(case) in BINARY_LABELS:
        y = classes[:, None].astype(np.float32)
    else:
        y = classes
    return x, y


def with_objects(kwargs, regularizers, constraints):
    """``kwargs`` with each regularizer or constraint spec, (class name, arguments), made into that class of
    the library's ``regularizers`` or ``constraints`` module."""
    modules = {"kernel_regularizer": regularizers, **{f"{weight}_constraint": constraints
                                                      for weight in ("kernel", "bias", "depthwise", "pointwise",
                                                                     "alpha")}}
    return {key: getattr(modules[key], value[0])(**value[1]) if key in modules and value else value
            for key, value in kwargs.items()}


# Keras 3's other activations, each in a layer's epilogue (Conv2D, Dense) or on its own: relu6,
# hard_sigmoid (relu6(x + 3) / 6), hard_silu and its alias hard_swish, mish, exponential.
CASES["sgd_more_activations"] = {
    "input": (6, 6, 2),
    "layers": [
        ("Conv2D", (3, (3, 3)), {"activation": "relu6"}),
        ("Activation", ("hard_sigmoid",), {}),
        ("Flatten", (), {}),
        ("Dense", (8,), {"activation": "hard_silu"}),
        ("Dense", (6,), {"activation": "mish"}),
        ("Dense", (5,), {}),
        ("Activation", ("hard_swish",), {}),
        ("Dense", (5,), {"activation": "exponential"}),
        ("Dense", (3,), {"activation": "softmax"}),
    ],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.5}),
    "loss": "categorical_crossentropy",
}
# Layer normalization over a Dense layer's features and over a convolution's channels at each pixel.
CASES["adam_layer_normalization"] = {
    "input": (6, 5, 2),
    "layers": [("Conv2D", (4, (3, 3)), {}), ("LayerNormalization", (), {"epsilon": 0.01}),
               ("Activation", ("relu",), {}), ("Flatten", (), {}), ("Dense", (8,), {}),
               ("LayerNormalization", (), {"center": False}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# Sequences: the 1-D convolutions and poolings, run as their 2-D twins on one image row.
CASES["adam_conv1d"] = {
    "input": (20, 3),
    "layers": [("Conv1D", (4, 3), {"padding": "same", "activation": "relu"}), ("MaxPooling1D", (2,), {}),
               ("Conv1D", (5, 2), {"dilation_rate": 2}), ("AveragePooling1D", (3,), {"strides": 2, "padding": "same"}),
               ("GlobalMaxPooling1D", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
CASES["sgd_conv1d_strided"] = {
    "input": (12, 2),
    "layers": [("Conv1D", (3, 3), {"strides": 2, "padding": "same", "activation": "tanh"}),
               ("GlobalAveragePooling1D", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "loss": "categorical_crossentropy",
}
# Weighted losses: class weights (one class left out: weight 1), and a weight a sample (the validation
# split keeping its share of them, as Keras's does).
CASES["adam_class_weight"] = {
    "input": (6,),
    "layers": [("Dense", (8,), {"activation": "relu"}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.02}),
    "loss": "sparse_categorical_crossentropy",
    "class_weight": {0: 0.25, 2: 4.0},
}
CASES["sgd_sample_weight"] = {
    "input": (6,),
    "layers": [("Dense", (5,), {"activation": "tanh"}), ("Dense", (1,), {"activation": "sigmoid"})],
    "optimizer": ("SGD", {"learning_rate": 0.5}),
    "loss": "binary_crossentropy",
    "sample_weight": True,
}
# Images resampled through affine maps: shifted and zoomed at the input, turned after a convolution
# (its gradient goes back through the turn) and upsampled bilinearly. Each random layer's range is a
# single value, so that Keras's draws and ours agree; every fill mode once.
CASES["sgd_affine_augmentation"] = {
    "input": (9, 8, 2),
    "layers": [("RandomTranslation", ((0.15, 0.15), (-0.1, -0.1)), {}),
               ("RandomZoom", ((-0.2, -0.2), (0.1, 0.1)), {"fill_mode": "constant", "fill_value": 0.5}),
               ("Conv2D", (3, (3, 3)), {"activation": "relu"}),
               ("RandomRotation", ((0.04, 0.04),), {"fill_mode": "wrap"}),
               ("UpSampling2D", ((2, 2),), {"interpolation": "bilinear"}),
               ("RandomZoom", ((0.3, 0.3),), {"fill_mode": "nearest"}),
               ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "loss": "categorical_crossentropy",
}
# Resizing, padded to the target's aspect ratio with a value, then a convolution, CenterCrop of a larger
# image (a slice), and Resizing cropped to the aspect ratio: the gradient goes back through the last
# two, and the padding reaches the output (the crops keep the image's left and right edges).
CASES["adam_resizing"] = {
    "input": (10, 9, 2),
    "layers": [("Resizing", (8, 12), {"pad_to_aspect_ratio": True, "fill_value": 0.25}),
               ("Conv2D", (3, (3, 3)), {"activation": "relu"}),
               ("CenterCrop", (5, 9), {}),
               ("Resizing", (3, 6), {"crop_to_aspect_ratio": True}),
               ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# Causal 1-D convolutions (a WaveNet-like stack: dilations 1 and 2, then strided).
CASES["adam_conv1d_causal"] = {
    "input": (16, 2),
    "layers": [("Conv1D", (4, 2), {"padding": "causal", "activation": "relu"}),
               ("Conv1D", (4, 2), {"padding": "causal", "dilation_rate": 2, "activation": "tanh"}),
               ("Conv1D", (3, 3), {"padding": "causal", "strides": 2}),
               ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# Regression: the mean absolute error, and Huber's loss (its square and its line both reached: targets
# up to 2 away), with the regression metrics by short and long name.
CASES["adam_mae_regression"] = {
    "input": (5, 4, 2),
    "layers": [("Conv2D", (3, (2, 2)), {"activation": "relu"}), ("Flatten", (), {}), ("Dense", (2,), {})],
    "optimizer": ("Adam", {"learning_rate": 0.02}),
    "loss": "mae",
    "metrics": ["mse", "mean_absolute_error"],
}
CASES["sgd_huber_regression"] = {
    "input": (6,),
    "layers": [("Dense", (8,), {"activation": "tanh"}), ("Dense", (3,), {})],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "loss": "huber",
    "metrics": ["mae", "mean_squared_error"],
}
# Colour: brightness at the input (images in [-1, 1], shifted 0.4 and clipped at 1), contrast after a
# convolution (its gradient through the channel means and the clip at 1.2). The single-valued ranges
# make Keras's draws and ours agree: brightness (0.2, 0.2) of the range's 2, contrast 1 + 0.3.
CASES["sgd_colour_augmentation"] = {
    "input": (7, 6, 3),
    "layers": [("RandomBrightness", ((0.2, 0.2),), {"value_range": (-1, 1)}),
               ("Conv2D", (4, (3, 3)), {"activation": "relu"}),
               ("RandomContrast", ((-0.3, 0.3),), {"value_range": (0, 1.2)}),
               ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "loss": "categorical_crossentropy",
}
# Two inputs: an image through a convolution and pooling, a feature vector through a Dense layer, the
# two concatenated; the inputs' order is the Model's (x a list of two arrays).
CASES["adam_two_inputs_graph"] = {
    "inputs": {"image": (6, 6, 2), "features": (5,)},
    "graph": [
        ("conv", "Conv2D", (4, (3, 3)), {"activation": "relu"}, ["image"]),
        ("pool", "GlobalAveragePooling2D", (), {}, ["conv"]),
        ("hidden", "Dense", (4,), {"activation": "tanh"}, ["features"]),
        ("concatenate", "Concatenate", (), {}, ["pool", "hidden"]),
        ("dense", "Dense", (3,), {"activation": "softmax"}, ["concatenate"]),
    ],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# The element-wise merges: a squeeze-and-excitation gate (Multiply of a channel's weight, broadcast over
# the pixels), then the features less their pooled average (Subtract, broadcast), Maximum and Minimum
# of two branches and their Average.
CASES["adam_merges_graph"] = {
    "input": (6, 6, 3),
    "graph": [
        ("conv", "Conv2D", (4, (3, 3)), {"activation": "relu"}, ["input"]),
        ("squeeze", "GlobalAveragePooling2D", (), {"keepdims": True}, ["conv"]),
        ("excite", "Dense", (4,), {"activation": "sigmoid"}, ["squeeze"]),
        ("gate", "Multiply", (), {}, ["conv", "excite"]),
        ("centred", "Subtract", (), {}, ["gate", "squeeze"]),
        ("left", "Conv2D", (3, (1, 1)), {}, ["centred"]),
        ("right", "Conv2D", (3, (1, 1)), {"activation": "tanh"}, ["centred"]),
        ("high", "Maximum", (), {}, ["left", "right"]),
        ("low", "Minimum", (), {}, ["left", "right"]),
        ("mean", "Average", (), {}, ["high", "low", "left"]),
        ("flat", "Flatten", (), {}, ["mean"]),
        ("dense", "Dense", (3,), {"activation": "softmax"}, ["flat"]),
    ],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# The 1-D twins of the depthwise, separable and transposed convolutions, on one image row.
CASES["sgd_conv1d_twins"] = {
    "input": (14, 3),
    "layers": [("DepthwiseConv1D", (3,), {"depth_multiplier": 2, "activation": "relu"}),
               ("SeparableConv1D", (4, 3), {"strides": 2, "padding": "same", "activation": "tanh"}),
               ("Conv1DTranspose", (3, 3), {"strides": 2}),
               ("GlobalAveragePooling1D", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "loss": "categorical_crossentropy",
}
# Resizing by nearest pixels: 6 rows to 9, where jax's source rows are whole quotients (ops/reshaping.py),
# after a convolution, so the gradient goes back through the repeated pixels.
CASES["adam_resizing_nearest"] = {
    "input": (8, 7, 2),
    "layers": [("Conv2D", (3, (3, 3)), {"activation": "relu"}),
               ("Resizing", (9, 4), {"interpolation": "nearest"}),
               ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# The 1-D reshaping layers around a convolution: padding, upsampling and cropping of the steps.
CASES["adam_reshaping_1d"] = {
    "input": (9, 2),
    "layers": [("ZeroPadding1D", ((1, 2),), {}), ("Conv1D", (3, 3), {"activation": "relu"}),
               ("UpSampling1D", (2,), {}), ("Cropping1D", ((3, 1),), {}),
               ("Conv1D", (2, 2), {"strides": 2}), ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# Permute (a sequence's steps and channels swapped), RepeatVector and Identity between Dense layers.
CASES["sgd_permute_repeat"] = {
    "input": (6, 4),
    "layers": [("Permute", ((2, 1),), {}), ("Conv1D", (3, 2), {"activation": "relu"}), ("Flatten", (), {}),
               ("Dense", (5,), {"activation": "tanh"}), ("RepeatVector", (3,), {}), ("Identity", (), {}),
               ("Conv1D", (2, 2), {}), ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    "loss": "categorical_crossentropy",
}
# Normalization with a given mean and variance at the input (a value a feature), and its inverse.
CASES["adam_normalization_given"] = {
    "input": (5,),
    "layers": [("Normalization", (), {"mean": [0.1, -0.2, 0.0, 0.3, 0.5], "variance": [0.3, 0.2, 0.5, 0.1, 0.4]}),
               ("Dense", (4,), {"activation": "tanh"}),
               ("Normalization", (), {"mean": 0.2, "variance": 2.0, "invert": True}),
               ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.02}),
    "loss": "categorical_crossentropy",
}
# The binary cross-entropy on logits (a Dense(1) without a sigmoid), its labels smoothed, counted by
# BinaryAccuracy at threshold 0 and by 'accuracy' at Keras's 0.5 on the logits; and the categorical one,
# smoothed, on a softmax the loss fuses.
CASES["adam_binary_logits_smoothed"] = {
    "input": (6, 5, 2),
    "layers": [("Conv2D", (3, (3, 3)), {"activation": "relu"}), ("Flatten", (), {}),
               ("Dense", (6,), {"activation": "tanh"}), ("Dense", (1,), {})],
    "optimizer": ("Adam", {"learning_rate": 0.02}),
    "loss": ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.2}),
    "metrics": [("BinaryAccuracy", {"threshold": 0.0}), "accuracy"],
}
CASES["sgd_categorical_smoothed"] = {
    "input": (7,),
    "layers": [("Dense", (8,), {"activation": "relu"}), ("Dense", (4,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.2, "momentum": 0.5}),
    "loss": ("CategoricalCrossentropy", {"label_smoothing": 0.15}),
}
# The rest of Keras's optimizers, each on a convolution and a Dense layer: Adagrad (its accumulator from
# 0.1), Adamax, Nadam (its momentum schedule over the eight steps), Lion, RMSprop centered with
# momentum, Adam's AMSGrad, and Adadelta at Zeiler's rate of 1; the weight decay on two of them.
for name, optimizer_spec in (
        ("adagrad", ("Adagrad", {"learning_rate": 0.1})),
        ("adamax", ("Adamax", {"learning_rate": 0.02, "weight_decay": 0.1})),
        ("nadam", ("Nadam", {"learning_rate": 0.01})),
        ("lion", ("Lion", {"learning_rate": 0.003, "weight_decay": 0.5})),
        ("rmsprop_centered_momentum", ("RMSprop", {"learning_rate": 0.005, "momentum": 0.8, "centered": True})),
        ("adam_amsgrad", ("Adam", {"learning_rate": 0.02, "amsgrad": True})),
        ("adadelta", ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}))):
    CASES[f"{name}_optimizer"] = {
        "input": (6, 6, 2),
        "layers": [("Conv2D", (3, (3, 3)), {"activation": "relu"}), ("Flatten", (), {}),
                   ("Dense", (3,), {"activation": "softmax"})],
        "optimizer": optimizer_spec,
        "loss": "categorical_crossentropy",
    }
# Precision and recall by name and with a threshold of their own, on a sigmoid's probabilities.
CASES["adam_precision_recall"] = {
    "input": (5,),
    "layers": [("Dense", (6,), {"activation": "tanh"}), ("Dense", (1,), {"activation": "sigmoid"})],
    "optimizer": ("Adam", {"learning_rate": 0.05}),
    "loss": "binary_crossentropy",
    "metrics": ["precision", "recall", ("Recall", {"thresholds": 0.6, "name": "recall_at_60"})],
}
# Keras's other element-wise losses: the hinges on a tanh's output with 0/1 labels (taken as -1/1), log-cosh
# on regression targets, Poisson's on a softplus's rates, the KL divergence on a softmax's probabilities.
for loss_name_, last_units, last_activation in (("hinge", 1, "tanh"), ("squared_hinge", 1, "tanh"),
                                                 ("log_cosh", 2, None), ("poisson", 2, "softplus"),
                                                 ("kl_divergence", 3, "softmax")):
    CASES[f"sgd_{loss_name_}_loss"] = {
        "input": (6,),
        "layers": [("Dense", (5,), {"activation": "tanh"}), ("Dense", (last_units,), {"activation": last_activation})],
        "optimizer": ("SGD", {"learning_rate": 0.1, "momentum": 0.5}),
        "loss": loss_name_,
        "metrics": [],
    }
# The percentage and logarithmic errors, each loss and metric by its short name.
CASES["adam_mape_msle"] = {
    "input": (6,),
    "layers": [("Dense", (5,), {"activation": "tanh"}), ("Dense", (2,), {})],
    "optimizer": ("Adam", {"learning_rate": 0.02}),
    "loss": "mape",
    "metrics": ["msle", "mean_absolute_percentage_error"],
}
CASES["sgd_msle_softplus"] = {
    "input": (6,),
    "layers": [("Dense", (5,), {"activation": "tanh"}), ("Dense", (2,), {"activation": "softplus"})],
    "optimizer": ("SGD", {"learning_rate": 0.2}),
    "loss": "msle",
    "metrics": ["mape"],
}
# The area under the ROC curve by name, the precision-recall one (Davis and Goadrich's interpolation),
# and rectangles over 20 thresholds.
CASES["adam_auc"] = {
    "input": (5,),
    "layers": [("Dense", (6,), {"activation": "tanh"}), ("Dense", (1,), {"activation": "sigmoid"})],
    "optimizer": ("Adam", {"learning_rate": 0.05}),
    "loss": "binary_crossentropy",
    "metrics": ["auc", ("AUC", {"curve": "PR", "name": "pr_auc"}),
                ("AUC", {"num_thresholds": 20, "summation_method": "majoring", "name": "auc_majoring"})],
}
# The binary focal cross-entropy: at Keras's defaults on a sigmoid, and balanced on logits.
CASES["adam_binary_focal"] = {
    "input": (5,),
    "layers": [("Dense", (6,), {"activation": "tanh"}), ("Dense", (1,), {"activation": "sigmoid"})],
    "optimizer": ("Adam", {"learning_rate": 0.05}),
    "loss": "binary_focal_crossentropy",
}
CASES["sgd_binary_focal_logits_balanced"] = {
    "input": (5,),
    "layers": [("Dense", (6,), {"activation": "tanh"}), ("Dense", (1,), {})],
    "optimizer": ("SGD", {"learning_rate": 0.5}),
    "loss": ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5,
                                         "from_logits": True, "label_smoothing": 0.1}),
    "metrics": [],
}
# GroupNormalization after a convolution (two groups of three channels) and on a Dense layer's features
# (each its own group: instance normalization of a vector is zero, so three groups of two).
CASES["adam_group_normalization"] = {
    "input": (6, 5, 2),
    "layers": [("Conv2D", (6, (3, 3)), {}), ("GroupNormalization", (), {"groups": 2}), ("Activation", ("relu",), {}),
               ("Flatten", (), {}), ("Dense", (6,), {}), ("GroupNormalization", (), {"groups": 3, "epsilon": 0.01}),
               ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.01}),
    "loss": "categorical_crossentropy",
}
# Constraints after each step: a max-norm on each Dense unit's weights (binding: the norms start above
# it), non-negative convolution filters, each filter's norm held in [0.5, 1] (halfway there a step),
# a unit-norm bias.
CASES["sgd_constraints"] = {
    "input": (6, 6, 2),
    "layers": [("Conv2D", (3, (3, 3)), {"kernel_constraint": ("NonNeg", {}), "activation": "relu"}),
               ("Conv2D", (4, (2, 2)), {"kernel_constraint": ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.0,
                                                                              "rate": 0.5, "axis": [0, 1, 2]})}),
               ("Flatten", (), {}),
               ("Dense", (5,), {"activation": "tanh", "kernel_constraint": ("MaxNorm", {"max_value": 0.3}),
                                "bias_constraint": ("UnitNorm", {})}),
               ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.2, "momentum": 0.5}),
    "loss": "categorical_crossentropy",
}
# The separable convolution's two kernels constrained apart, and the depthwise one's.
CASES["adam_separable_constraints"] = {
    "input": (7, 7, 2),
    "layers": [("DepthwiseConv2D", (3,), {"depthwise_constraint": ("MaxNorm", {"max_value": 0.4, "axis": [0, 1]})}),
               ("SeparableConv2D", (3, 3), {"depthwise_constraint": ("NonNeg", {}),
                                            "pointwise_constraint": ("UnitNorm", {"axis": [0, 1, 2]}),
                                            "activation": "relu"}),
               ("Flatten", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.05}),
    "loss": "categorical_crossentropy",
}
# PReLU: one alpha a channel after a convolution (shared along the image's rows and columns), one an
# element after a Dense layer, its alpha (from Keras's 0) held non-negative. SGD, not Adam: with alpha 0 at
# first, a feature the PReLU zeroes in every sample leaves its weights' gradient exactly 0, then tiny, and
# Adam's step m / sqrt(v) turns a rounding-sized gradient into a full-sized step.
CASES["sgd_prelu"] = {
    "input": (6, 5, 2),
    "layers": [("Conv2D", (3, (3, 3)), {}), ("PReLU", (), {"shared_axes": [1, 2]}), ("Flatten", (), {}),
               ("Dense", (5,), {}), ("PReLU", (), {"alpha_constraint": ("NonNeg", {})}),
               ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("SGD", {"learning_rate": 0.2, "momentum": 0.5}),
    "loss": "categorical_crossentropy",
}
# A text classifier's shape (Keras's IMDB convolution example, small): ids through an Embedding, a Conv1D
# and global max pooling; 12 ids of a vocabulary of 20, each id several times in a batch.
CASES["adam_embedding_conv1d"] = {
    "input": (12,),
    "ids": 20,
    "layers": [("Embedding", (20, 4), {}), ("Conv1D", (5, 3), {"activation": "relu"}),
               ("GlobalMaxPooling1D", (), {}), ("Dense", (3,), {"activation": "softmax"})],
    "optimizer": ("Adam", {"learning_rate": 0.02}),
    "loss": "categorical_crossentropy",
}
