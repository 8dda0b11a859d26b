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
            ("Dense", (16,), {"activation": "relu", "kernel_regularizer": ("l2", 0.01)}),
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
}


def case_data(case, n=64):
    """Inputs and labels from a fixed generator (the same on every machine)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, *case["input"])).astype(np.float32)
    units = case["layers"][-1][1][0]
    classes = rng.integers(0, max(units, 2), n)
    if case["loss"] == "categorical_crossentropy":
        y = np.eye(units, dtype=np.float32)[classes]
    elif case["loss"] == "binary_crossentropy":
        y = classes[:, None].astype(np.float32)
    else:
        y = classes
    return x, y


def with_regularizer(kwargs, l2_class):
    """``kwargs`` with a ``("l2", factor)`` regularizer spec made into ``l2_class(factor)``."""
    spec = kwargs.get("kernel_regularizer")
    return {**kwargs, "kernel_regularizer": l2_class(spec[1])} if spec else kwargs
