"""Against Keras itself: the same models from the same initial weights train to the same weights.

``data/keras_reference.npz`` holds Keras 3 runs (``make_keras_reference.py`` writes it): two epochs,
no shuffling, a validation split, an l2 penalty, and each optimizer. Agreement to float32 rounding
checks the layers, the fused loss, the penalties, the optimizers and the training loop together, on
the numpy backend and on our kernels (emulated here, on the GPU where there is one).
"""

import os

import numpy as np
import pytest

from cnn_gpu import backend, constraints, layers, losses, optimizers, regularizers
from cnn_gpu import metrics as cnn_metrics
from cnn_gpu.models import Model, Sequential
from cnn_gpu.ops import conv2d, gemm
from keras_reference_cases import (CASES, SCHEDULE_CASES, SCHEDULE_STEPS, build_model, case_data, fit_arguments, loss,
                                   metrics, optimizer)

REFERENCE = np.load(os.path.join(os.path.dirname(__file__), "data", "keras_reference.npz"), allow_pickle=False)


def recorded(prefix):
    keys = sorted((k for k in REFERENCE.files if k.startswith(prefix)), key=lambda k: int(k.rsplit("/", 1)[1]))
    return [REFERENCE[k] for k in keys]


@pytest.fixture(params=["numpy", "emulate", pytest.param("cuda", marks=pytest.mark.gpu)])
def each_backend(request, monkeypatch):
    monkeypatch.setattr(backend, "_current", None)
    backend.set_backend(request.param)
    if request.param == "cuda":
        # The emulator's GEMM and convolution variants on the GPU too: what these cases check is Keras's
        # arithmetic, not the autotuner, which would otherwise time every candidate for each of their
        # few dozen small problems, in gpu_check.sh's time budget.
        monkeypatch.setenv(gemm.VARIANT_ENV, gemm.EMULATE_DEFAULT)
        monkeypatch.setenv(conv2d.VARIANT_ENV, conv2d.EMULATE_DEFAULT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_matches_keras(each_backend, name):
    case = CASES[name]
    model = build_model(case, layers, Sequential, Model, regularizers, constraints)
    model.compile(optimizer=optimizer(case, optimizers), loss=loss(case, losses), metrics=metrics(case, cnn_metrics))
    model.set_weights(recorded(f"{name}/initial/"))
    x, y = case_data(case)
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, validation_split=0.25, verbose=0,
                        **fit_arguments(case, len(x))).history
    for ours, theirs in zip(model.get_weights(), recorded(f"{name}/final/"), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    for key, values in history.items():
        np.testing.assert_allclose(values, REFERENCE[f"{name}/history/{key}"], rtol=1e-4, atol=1e-6)
    assert sorted(history) == sorted(k.rsplit("/", 1)[1] for k in REFERENCE.files if k.startswith(f"{name}/history/"))


@pytest.mark.parametrize("name", sorted(SCHEDULE_CASES))
def test_schedules_match_keras(name):
    kind, arguments = SCHEDULE_CASES[name]
    schedule = getattr(optimizers.schedules, kind)(**arguments)
    ours = [schedule(step) for step in range(SCHEDULE_STEPS)]
    np.testing.assert_allclose(ours, REFERENCE[f"schedule/{name}"], rtol=1e-6, atol=1e-9)  # Keras's are float32
