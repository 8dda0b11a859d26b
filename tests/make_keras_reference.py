"""Writes data/keras_reference.npz: Keras 3 training runs that test_keras_reference.py repeats.

Run by hand where Keras 3 is installed (it is not a dependency):
    KERAS_BACKEND=jax python tests/make_keras_reference.py
Each case trains a small model from recorded initial weights for two epochs without shuffling, and
records the weights after training and the history.
"""

import os
import zlib

import keras
import numpy as np
from keras import layers

from keras_reference_cases import (CASES, SCHEDULE_CASES, SCHEDULE_STEPS, build_model, case_data, fit_arguments, loss,
                                   metrics, optimizer)


def build(case):
    model = build_model(case, layers, keras.Sequential, keras.Model, keras.regularizers, keras.constraints)
    model.compile(optimizer=optimizer(case, keras.optimizers), loss=loss(case, keras.losses),
                  metrics=metrics(case, keras.metrics))
    return model


def main():
    arrays = {"keras_version": np.array(keras.__version__)}
    for name, case in CASES.items():
        # Seeded by the case's name: a case's initial weights do not depend on the cases before it,
        # so adding one leaves the others' records as they were.
        keras.utils.set_random_seed(zlib.crc32(name.encode()))
        x, y = case_data(case)
        model = build(case)
        for i, w in enumerate(model.get_weights()):
            arrays[f"{name}/initial/{i}"] = w
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, validation_split=0.25, verbose=0,
                            **fit_arguments(case, len(x)))
        for i, w in enumerate(model.get_weights()):
            arrays[f"{name}/final/{i}"] = w
        for key, values in history.history.items():
            arrays[f"{name}/history/{key}"] = np.array(values)
    for name, (kind, arguments) in SCHEDULE_CASES.items():
        schedule = getattr(keras.optimizers.schedules, kind)(**arguments)
        arrays[f"schedule/{name}"] = np.array([float(schedule(step)) for step in range(SCHEDULE_STEPS)])
    np.savez_compressed(os.path.join(os.path.dirname(__file__), "data", "keras_reference.npz"), **arrays)


if __name__ == "__main__":
    main()
