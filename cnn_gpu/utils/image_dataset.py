"""Keras's ``image_dataset_from_directory``: a folder of images, one subfolder a class, as a PyDataset
of ``(images, labels)`` batches for ``fit``, ``evaluate`` and ``predict``.

    train, validation = image_dataset_from_directory("photos", validation_split=0.2, subset="both",
                                                     seed=1, image_size=(64, 64), batch_size=32)
    model.fit(train, validation_data=validation, epochs=10)

As Keras lists them: the class subfolders in sorted order (or ``class_names``'), each one's images
(.bmp, .gif, .jpeg, .jpg, .png, found by walking it) in sorted order, all of them shuffled once by
``seed`` before the last ``validation_split`` of them is set aside. Images are decoded by Pillow
(installed with ``pip install pillow``, or the package's ``images`` extra) as they are batched,
resized as Keras's Resizing does (bilinear, or nearest; the NumPy references of ops/, on the host),
and come as float32 values in [0, 255]. A shuffled dataset's order changes every epoch.
"""

from __future__ import annotations

import math
import os

import numpy as np

from cnn_gpu.layers.reshaping import resize_steps
from cnn_gpu.ops.affine_transform import affine_transform
from cnn_gpu.ops.reshaping import resize_nearest
from cnn_gpu.utils.dataset import PyDataset

FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
COLOR_MODES = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}  # Keras's names: Pillow's
LABEL_MODES = ("int", "categorical", "binary", None)


def index_directory(directory, class_names=None, follow_links=False):
    """``(paths, labels, class_names)``: every image under each class subfolder, class by class in
    Keras's order, and each one's class index."""
    subfolders = sorted(entry for entry in os.listdir(directory) if os.path.isdir(os.path.join(directory, entry)))
    if class_names is not None:
        missing = sorted(set(class_names) - set(subfolders))
        if missing:
            raise ValueError(f"class_names {missing} have no subfolder in {directory} (it has {subfolders})")
        subfolders = list(class_names)
    paths, labels = [], []
    for index, name in enumerate(subfolders):
        walk = sorted(os.walk(os.path.join(directory, name), followlinks=follow_links), key=lambda entry: entry[0])
        for root, _, files in walk:
            found = [os.path.join(root, file) for file in sorted(files) if file.lower().endswith(FORMATS)]
            paths += found
            labels += [index] * len(found)
    return paths, np.array(labels, dtype=np.int32), subfolders


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """The images under ``directory`` as an ImageDataset, or (training, validation) with
    ``subset="both"``; Keras's arguments and defaults (``labels`` 'inferred' or None; bilinear
    or nearest interpolation; channels last)."""
    checks = [(labels in ("inferred", None), f"labels must be 'inferred' or None, got {labels!r}"),
              (label_mode in LABEL_MODES, f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}"),
              (color_mode in COLOR_MODES, f"color_mode must be one of {sorted(COLOR_MODES)}, got {color_mode!r}"),
              (interpolation in ("bilinear", "nearest"),
               f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"),
              (data_format in (None, "channels_last"), "only data_format='channels_last' is supported"),
              (subset in (None, "training", "validation", "both"),
               f"subset must be 'training', 'validation', 'both' or None, got {subset!r}"),
              ((validation_split is None) == (subset is None),
               "give validation_split and subset together (or neither)"),
              (validation_split is None or 0 < validation_split < 1,
               f"validation_split must be in (0, 1), got {validation_split!r}"),
              (not (validation_split and shuffle and seed is None),
               "with validation_split and shuffle, give a seed: the split must set aside the same files each time"),
              (not (crop_to_aspect_ratio and pad_to_aspect_ratio),
               "crop_to_aspect_ratio and pad_to_aspect_ratio exclude each other")]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"image_dataset_from_directory: {message}")
    paths, classes, names = index_directory(directory, class_names, follow_links)
    if not paths:
        raise ValueError(f"image_dataset_from_directory: no images ({', '.join(FORMATS)}) in the subfolders of "
                         f"{directory}")
    if labels is None:
        label_mode, names = None, None
    elif label_mode == "binary" and len(names) != 2:
        raise ValueError(f"image_dataset_from_directory: label_mode='binary' needs 2 classes, found {len(names)}")
    if verbose:
        print(f"Found {len(paths)} files" + (f" belonging to {len(names)} classes." if names else "."))
    if shuffle:  # once, as Keras: the split below then sets aside a random share
        seed = int(np.random.randint(1_000_000)) if seed is None else seed
        order = np.random.RandomState(seed).permutation(len(paths))
        paths, classes = [paths[i] for i in order], classes[order]
    options = dict(class_names=names, label_mode=label_mode, color_mode=color_mode, batch_size=batch_size,
                   image_size=tuple(image_size), shuffle=shuffle, seed=seed, interpolation=interpolation,
                   crop_to_aspect_ratio=crop_to_aspect_ratio, pad_to_aspect_ratio=pad_to_aspect_ratio)
    if validation_split is None:
        return ImageDataset(paths, classes, **options)
    held = int(validation_split * len(paths))
    if held == 0 or held == len(paths):
        raise ValueError(f"image_dataset_from_directory: validation_split={validation_split} of {len(paths)} files "
                         "leaves no training or no validation files")
    training = ImageDataset(paths[:-held], classes[:-held], **options)
    validation = ImageDataset(paths[-held:], classes[-held:], **options)
    if verbose and subset != "both":
        print(f"Using {len(validation.paths if subset == 'validation' else training.paths)} files for {subset}.")
    return {"training": training, "validation": validation, "both": (training, validation)}[subset]


class ImageDataset(PyDataset):
    """Image files and their class indices, decoded, resized and labelled a batch at a time
    (image_dataset_from_directory). ``class_names`` names the classes by index."""

    def __init__(self, paths, classes, class_names, label_mode, color_mode, batch_size, image_size, shuffle, seed,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio):
        super().__init__()
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"image_dataset_from_directory: batch_size must be a positive int, got {batch_size!r}")
        self.paths, self.classes, self.class_names, self.label_mode = paths, classes, class_names, label_mode
        self.mode, self.batch_size, self.image_size = COLOR_MODES[color_mode], batch_size, image_size
        self.interpolation = interpolation
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = crop_to_aspect_ratio, pad_to_aspect_ratio
        self.generator = np.random.default_rng(seed) if shuffle else None
        self.order = np.arange(len(paths))

    def __len__(self):
        return math.ceil(len(self.paths) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        chosen = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        images = np.stack([self.load(self.paths[i]) for i in chosen])
        if self.label_mode is None:
            return images
        return images, self.labels(self.classes[chosen])

    def on_epoch_end(self):
        if self.generator is not None:
            self.order = self.generator.permutation(len(self.paths))

    def labels(self, classes):
        if self.label_mode == "int":
            return classes
        if self.label_mode == "binary":
            return classes.astype(np.float32)[:, None]
        return np.eye(len(self.class_names), dtype=np.float32)[classes]

    def load(self, path):
        """One image as float32 (height, width, channels) at image_size."""
        from PIL import Image  # Pillow: only this needs it

        with Image.open(path) as image:
            pixels = np.asarray(image.convert(self.mode), dtype=np.float32)
        pixels = pixels[None, :, :, None] if pixels.ndim == 2 else pixels[None]
        bilinear = self.interpolation == "bilinear"
        for row, out_hw, fill_mode, fill_value in resize_steps(*pixels.shape[1:3], self.image_size,
                                                               self.crop_to_aspect_ratio, self.pad_to_aspect_ratio,
                                                               resize=bilinear):
            pixels = affine_transform(pixels, row[None], "bilinear", fill_mode, fill_value, out_hw)
        return (pixels if bilinear else resize_nearest(pixels, self.image_size))[0]
