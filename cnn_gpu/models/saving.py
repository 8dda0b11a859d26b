"""Saving and loading models: one zip file holding ``config.json``, ``weights.npz`` and, once the
model has trained, ``optimizer.npz``.

- ``config.json``: the format name and version, the architecture (``Sequential.get_config()``: every
  layer's class and constructor arguments) and the compile config (optimizer, loss, metrics).
- ``weights.npz``: one array per weight, named by position and class (``layer_3_Dense/kernel``), so
  weights load into any model of the same structure whatever its layers are named (as in Keras).
- ``optimizer.npz``: the optimizer's state, its step count (``iterations``) and each slot by the
  position of its trainable weight (``variable_0/momentum``): a model loaded with ``compile`` trains on
  where it stopped, its moments and its place in a learning-rate schedule kept, as Keras's does.
  Without the member (a model saved before training), the optimizer starts fresh.

The file is written by ``cnn_gpu.utils.files.atomic_write`` (a temporary file beside the target,
moved over it), so a crash never leaves a half-written model. Loading never unpickles
(``allow_pickle=False``) and builds only registered classes; a file that is not ours, is truncated or
corrupt, or does not match its architecture fails with a ``ModelFileError`` that says what is wrong.
``save_weights`` writes the weights' ``.npz`` alone. The file is not readable by Keras, whatever its
extension.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

import cnn_gpu
from cnn_gpu.backend import get_backend
from cnn_gpu.utils.files import atomic_write

FORMAT = "cnn_gpu.model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.npz"
OPTIMIZER_NAME = "optimizer.npz"


class ModelFileError(ValueError):
    """A model or weights file that cannot be loaded: the message says which file and what is wrong."""


def weight_key(index, layer, name):
    return f"layer_{index}_{type(layer).__name__}/{name}"


def weight_arrays(model):
    """``{key: array}`` for every weight, in the model's order."""
    model.require_built("be saved")
    return {weight_key(i, layer, name): array
            for i, layer in enumerate(model.layers) for name, array in zip(layer.params, layer.get_weights())}


def optimizer_arrays(model):
    """``{key: array}`` of the optimizer's state, or None before it has taken a step (nothing to keep)."""
    optimizer = model.optimizer
    if optimizer is None or not optimizer.built:
        return None
    to_numpy = get_backend().to_numpy
    return {"iterations": np.array(optimizer.iterations, dtype=np.int64),
            **{f"variable_{i}/{name}": np.asarray(to_numpy(slot))
               for i, slots in enumerate(optimizer.slots) for name, slot in slots.items()}}


def assign_optimizer_state(model, arrays, where):
    """Build the optimizer's slots for the model's trainable weights and copy the saved state in, after
    checking that it is exactly that state."""
    optimizer = model.optimizer
    optimizer.build(model.trainable_weights)
    expected = {f"variable_{i}/{name}": slot for i, slots in enumerate(optimizer.slots) for name, slot in slots.items()}
    names = set(arrays) - {"iterations"}
    if names != set(expected) or "iterations" not in arrays:
        missing, unexpected = sorted(set(expected) - names), sorted(names - set(expected))
        raise ModelFileError(f"{where}: the optimizer's state does not match {optimizer.name} on this model: missing "
                             f"{missing or 'none'}, unexpected {unexpected or 'none'}"
                             + ("" if "iterations" in arrays else ", and no iterations"))
    iterations = arrays["iterations"]
    if iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
        raise ModelFileError(f"{where}: iterations must be a count, got {iterations.dtype} {iterations.shape}")
    for name, slot in expected.items():
        if arrays[name].shape != slot.shape or arrays[name].dtype.kind != "f":
            raise ModelFileError(f"{where}: {name} is {arrays[name].dtype} {arrays[name].shape}, the optimizer "
                                 f"needs a float array of shape {tuple(slot.shape)}")
        slot[...] = get_backend().asarray(arrays[name], dtype=slot.dtype)
    optimizer.iterations = int(iterations)


def npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def check_overwrite(filepath, overwrite):
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False")


def save_model(model, filepath, overwrite=True):
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cnn_gpu_version": cnn_gpu.__version__,
        "model": {"class_name": type(model).__name__, "config": model.get_config()},
        "compile_config": model.get_compile_config(),
    }
    weights = npz_bytes(weight_arrays(model))
    state = optimizer_arrays(model)
    check_overwrite(filepath, overwrite)
    with atomic_write(filepath) as file, zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CONFIG_NAME, json.dumps(config, indent=2))
        archive.writestr(WEIGHTS_NAME, weights)
        if state is not None:
            archive.writestr(OPTIMIZER_NAME, npz_bytes(state))


def save_weights(model, filepath, overwrite=True):
    weights = npz_bytes(weight_arrays(model))
    check_overwrite(filepath, overwrite)
    with atomic_write(filepath) as file:
        file.write(weights)


def read_npz(source, where):
    """``{name: array}`` from an .npz (path or bytes), never unpickling; any damage -> ModelFileError."""
    try:
        with np.load(source, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ModelFileError(f"{where}: not a readable .npz weights file ({error})") from error


def assign_weights(model, arrays, where):
    """Check that ``arrays`` hold exactly the model's weights with their shapes, then copy them in."""
    expected = {weight_key(i, layer, name): tuple(w.shape)
                for i, layer in enumerate(model.layers) for name, w in layer.params.items()}
    missing = [name for name in expected if name not in arrays]
    unexpected = [name for name in arrays if name not in expected]
    if missing or unexpected:
        raise ModelFileError(f"{where}: weights do not match the model: missing {missing or 'none'}, "
                             f"unexpected {unexpected or 'none'}")
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != shape or arrays[name].dtype.kind != "f":
            raise ModelFileError(f"{where}: weight {name} is {arrays[name].dtype} {tuple(arrays[name].shape)}, "
                                 f"the model needs a float array of shape {shape}")
    model.set_weights([arrays[name] for name in expected])


def load_weights(model, filepath):
    model.require_built("load weights")
    assign_weights(model, read_npz(os.fspath(filepath), filepath), filepath)


def read_archive(filepath):
    """``(config dict, weights bytes, optimizer state bytes or None)`` from a model file, with a clear
    error for every kind of damage."""
    try:
        with zipfile.ZipFile(filepath) as archive:
            names = set(archive.namelist())
            if not {CONFIG_NAME, WEIGHTS_NAME} <= names:
                raise ModelFileError(f"{filepath}: not a cnn_gpu model file: it lacks "
                                     f"{sorted({CONFIG_NAME, WEIGHTS_NAME} - names)}")
            config_bytes = archive.read(CONFIG_NAME)
            weights = archive.read(WEIGHTS_NAME)
            state = archive.read(OPTIMIZER_NAME) if OPTIMIZER_NAME in names else None
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ModelFileError(f"{filepath}: not a cnn_gpu model file, or truncated or corrupt ({error})") from error
    try:
        config = json.loads(config_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{filepath}: {CONFIG_NAME} is not valid JSON ({error})") from error
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{filepath}: {CONFIG_NAME} does not describe a cnn_gpu model")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{filepath}: format version {config.get('format_version')!r} is not supported "
                             f"(this cnn_gpu reads version {FORMAT_VERSION})")
    return config, weights, state


def load_model(filepath, compile=True):
    """The model saved at ``filepath`` by ``model.save``: same architecture, weights and (with
    ``compile``) the same optimizer, in the state it was saved in, loss and metrics."""
    from cnn_gpu.models import Model, Sequential  # here: they import this module

    config, weights, state = read_archive(filepath)
    entry = config.get("model")
    classes = {"Sequential": Sequential, "Model": Model}
    if not isinstance(entry, dict) or entry.get("class_name") not in classes:
        raise ModelFileError(f"{filepath}: the model must be a Sequential or a Model, got "
                             f"{entry and entry.get('class_name')!r}")
    try:
        model = classes[entry["class_name"]].from_config(entry.get("config", {}))
        if compile and config.get("compile_config"):
            model.compile(**config["compile_config"])
    except (TypeError, ValueError, KeyError) as error:
        raise ModelFileError(f"{filepath}: the architecture in {CONFIG_NAME} cannot be rebuilt: {error}") from error
    if not model.built:
        raise ModelFileError(f"{filepath}: the architecture has no input shape")
    assign_weights(model, read_npz(io.BytesIO(weights), f"{filepath} ({WEIGHTS_NAME})"), filepath)
    if state is not None and model.compiled:
        where = f"{filepath} ({OPTIMIZER_NAME})"
        assign_optimizer_state(model, read_npz(io.BytesIO(state), where), where)
    return model
