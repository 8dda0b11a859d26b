"""image_dataset_from_directory (utils/image_dataset.py): Keras's order of classes and files, its
shuffle and split, the label modes, the images decoded, resized as Resizing resizes them and in
[0, 255], and training on the batches."""

import numpy as np
import pytest

from cnn_gpu.layers import Conv2D, Dense, Flatten, Input, Rescaling, Resizing
from cnn_gpu.models import Sequential
from cnn_gpu.utils import image_dataset_from_directory

PIL = pytest.importorskip("PIL.Image")


@pytest.fixture
def photos(tmp_path):
    """Two classes: 'cat' with five images of varied sizes and formats, 'dog' with four, one of them in a
    nested folder; and a file that is no image. Each image's pixels hold its class and number."""
    rng = np.random.default_rng(0)
    made = {}
    for name, count in (("cat", 5), ("dog", 4)):
        for i in range(count):
            folder = tmp_path / name / ("nested" if name == "dog" and i == 3 else "")
            folder.mkdir(parents=True, exist_ok=True)
            size = (7 + i, 5 + 2 * i)
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            path = folder / f"{name}{i}.{('png', 'bmp', 'jpg', 'png', 'gif')[i]}"
            PIL.fromarray(pixels).save(path)
            made[str(path)] = pixels
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path, made


def test_classes_files_and_labels_come_in_keras_order(photos):
    directory, _ = photos
    data = image_dataset_from_directory(directory, shuffle=False, image_size=(6, 6), batch_size=4, verbose=False)
    assert data.class_names == ["cat", "dog"] and len(data) == 3
    assert [p.rsplit("/", 1)[1] for p in data.paths] == [f"cat{i}.{e}" for i, e in enumerate(
        ("png", "bmp", "jpg", "png", "gif"))] + ["dog0.png", "dog1.bmp", "dog2.jpg", "dog3.png"]
    images, labels = data[2]
    assert images.shape == (1, 6, 6, 3) and images.dtype == np.float32 and labels.tolist() == [1]
    assert images.min() >= 0 and images.max() <= 255
    categorical = image_dataset_from_directory(directory, label_mode="categorical", shuffle=False, batch_size=9,
                                               image_size=(4, 4), verbose=False)[0][1]
    np.testing.assert_array_equal(categorical, np.eye(2)[[0] * 5 + [1] * 4])
    binary = image_dataset_from_directory(directory, label_mode="binary", class_names=["dog", "cat"], shuffle=False,
                                          batch_size=9, image_size=(4, 4), verbose=False)[0][1]
    np.testing.assert_array_equal(binary[:, 0], [0] * 4 + [1] * 5)  # dog first, as class_names says
    unlabelled = image_dataset_from_directory(directory, labels=None, shuffle=False, image_size=(4, 4), verbose=False)
    assert unlabelled[0].shape == (9, 4, 4, 3)


def test_an_image_is_resized_as_the_resizing_layer_resizes_it(photos):
    directory, made = photos
    for options in ({}, {"crop_to_aspect_ratio": True}, {"pad_to_aspect_ratio": True}, {"interpolation": "nearest"}):
        data = image_dataset_from_directory(directory, shuffle=False, image_size=(8, 6), batch_size=1, verbose=False,
                                            **options)
        for index in (0, 3):  # lossless files: the decoded pixels are the saved ones
            layer = Resizing(8, 6, **options)
            pixels = made[data.paths[index]].astype(np.float32)[None]
            layer.build((None, *pixels.shape[1:]))
            np.testing.assert_allclose(data[index][0], layer.forward(pixels, training=False), rtol=1e-6, atol=1e-4)


def test_the_split_sets_aside_the_last_share_of_one_shuffle(photos):
    directory, _ = photos
    train, validation = image_dataset_from_directory(directory, validation_split=0.34, subset="both", seed=4,
                                                     image_size=(4, 4), verbose=False)
    assert len(train.paths) == 6 and len(validation.paths) == 3  # int(0.34 * 9) held out
    assert sorted(train.paths + validation.paths) == sorted(
        image_dataset_from_directory(directory, shuffle=False, image_size=(4, 4), verbose=False).paths)
    again = image_dataset_from_directory(directory, validation_split=0.34, subset="validation", seed=4,
                                         image_size=(4, 4), verbose=False)
    assert again.paths == validation.paths
    before = train.order.copy()
    train.on_epoch_end()  # a shuffled dataset's next epoch comes in another order (this seed's, not the first)
    assert sorted(train.order) == list(range(6)) and not np.array_equal(train.order, before)
    unshuffled = image_dataset_from_directory(directory, shuffle=False, image_size=(4, 4), verbose=False)
    unshuffled.on_epoch_end()
    np.testing.assert_array_equal(unshuffled.order, np.arange(9))


def test_a_model_trains_on_the_batches(photos):
    directory, _ = photos
    data = image_dataset_from_directory(directory, seed=1, image_size=(8, 8), batch_size=4, verbose=False)
    model = Sequential([Input((8, 8, 3)), Rescaling(1 / 255), Conv2D(2, 3, activation="relu"), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(data, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()


@pytest.mark.parametrize("options, message", [
    (dict(validation_split=0.2, subset="training"), "give a seed"),
    (dict(validation_split=0.2), "give validation_split and subset together"),
    (dict(label_mode="binary", class_names=None, labels="inferred", directory_classes=3), "needs 2 classes"),
    (dict(interpolation="area"), "interpolation must be 'bilinear' or 'nearest', got 'area'"),
    (dict(class_names=["cat", "bird"]), "class_names ['bird'] have no subfolder"),
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "exclude each other"),
])
def test_bad_arguments_are_named(photos, options, message):
    directory, _ = photos
    if options.pop("directory_classes", None):
        (directory / "bird").mkdir()
        PIL.fromarray(np.zeros((3, 3, 3), np.uint8)).save(directory / "bird" / "b.png")
    with pytest.raises(ValueError) as raised:
        image_dataset_from_directory(directory, verbose=False, **options)
    assert message in str(raised.value)


def test_a_folder_without_images_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        image_dataset_from_directory(tmp_path, verbose=False)
