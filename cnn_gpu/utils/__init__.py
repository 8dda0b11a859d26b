"""Keras's ``keras.utils`` subset: labels to one-hot, the global seed, session names, the progress bar,
PyDataset (data a batch at a time)."""

from cnn_gpu.utils.dataset import PyDataset
from cnn_gpu.utils.naming import clear_session
from cnn_gpu.utils.numerical import to_categorical
from cnn_gpu.utils.progbar import Progbar
from cnn_gpu.utils.rng import set_random_seed

__all__ = ["Progbar", "PyDataset", "clear_session", "set_random_seed", "to_categorical"]
