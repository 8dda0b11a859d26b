"""Keras's ``keras.utils`` subset: labels to one-hot, the global seed, session names, the progress bar,
PyDataset (data a batch at a time), image_dataset_from_directory (a folder of images as one)."""

from cnn_gpu.utils.dataset import PyDataset
from cnn_gpu.utils.naming import clear_session
from cnn_gpu.utils.numerical import to_categorical
from cnn_gpu.utils.progbar import Progbar
from cnn_gpu.utils.rng import set_random_seed

__all__ = ["Progbar", "PyDataset", "clear_session", "image_dataset_from_directory", "set_random_seed", "to_categorical"]


def __getattr__(name):
    """image_dataset_from_directory on first use: its module reaches the layers, which use this package."""
    if name == "image_dataset_from_directory":
        from cnn_gpu.utils.image_dataset import image_dataset_from_directory

        return image_dataset_from_directory
    raise AttributeError(f"module 'cnn_gpu.utils' has no attribute {name!r}")
