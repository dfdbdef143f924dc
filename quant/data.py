"""Data sets: scikit-learn's digits (shipped inside the package: the embedded default) and user .npz files."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIGITS_MAX_VALUE = 16  # digits pixels are integers 0..16
DIGITS_INPUT_BITS = 5


@dataclass(frozen=True)
class Split:
    """A train/test split of integer-valued inputs.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray
        int64, shape ``(n, features)``.
    y_train, y_test : numpy.ndarray
        int64 class labels.
    max_value : int
        Largest input value the data can hold (the NetSpec's ``input.max_value``).
    shape : tuple of int
        Shape of one image before flattening, ``(channels, height, width)``, or ``(features,)``
        for data with no image layout; convolutional methods need the former.
    class_names : tuple of str
        Names of the classes in label order (empty when the data set has none).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    max_value: int
    shape: tuple = ()
    class_names: tuple = ()

    @property
    def image_shape(self) -> tuple:
        """``shape``, or ``(features,)`` when it was not given."""
        return tuple(self.shape) or (int(self.x_train.shape[1]),)

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def split_arrays(x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float, max_value: int,
                 shape: tuple = (), class_names: tuple = ()) -> Split:
    """Stratified split with a fixed seed (scikit-learn's ``train_test_split``).

    Parameters
    ----------
    x, y : numpy.ndarray
        Integer inputs ``(n, features)`` and labels ``(n,)``.
    seed : int
        ``random_state`` of the split: the same seed gives the same split.
    test_fraction : float
        Share of the images held out, in ``(0, 1)``.
    max_value : int
        Largest input value (kept in the result for the NetSpec's input range).
    shape, class_names : tuple
        Kept in the result (see :class:`Split`).

    Returns
    -------
    Split
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), found {test_fraction!r}")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), max_value,
                 tuple(shape), tuple(class_names))


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> Split:
    """scikit-learn's 8×8 digits as integers 0..16: 1,437 training and 360 held-out images.

    The split is stratified and fixed by ``seed``; nothing is downloaded (the data ship inside
    scikit-learn).

    Parameters
    ----------
    seed : int
        Seed of the split.
    test_fraction : float
        Share held out (0.2: 360 of the 1,797 images).

    Returns
    -------
    Split
        ``x`` int64 of shape ``(n, 64)`` with values 0..16, ``y`` int64 labels 0..9,
        ``max_value`` 16.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data.astype(np.int64)
    return split_arrays(x, digits.target.astype(np.int64), seed, test_fraction, DIGITS_MAX_VALUE,
                        shape=(1, 8, 8), class_names=tuple(str(n) for n in digits.target_names))


def load_npz_dataset(path: str | Path, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """A user data set from a ``.npz`` with integer arrays ``x`` and ``y`` (n,).

    ``x`` is ``(n, features)`` or ``(n, channels, height, width)`` (for convolutional networks).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.npz`` file (``numpy.savez``); read without pickles.
    seed, test_fraction
        As :func:`load_digits_split`: the split is stratified, so every class needs two images.

    Returns
    -------
    Split
        ``max_value`` is the largest value found in ``x``; ``shape`` is ``x``'s shape after the
        image axis (``(features,)`` or ``(channels, height, width)``), and ``x`` is flattened.

    Raises
    ------
    ValueError
        Naming the file, the array, what was expected and what was found: a missing or unreadable
        file, a missing array, a wrong shape, non-integer values, negative inputs, no images.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data set {path}: file not found: expected an .npz file with arrays "
                         f"'x' and 'y'")
    if not zipfile.is_zipfile(path):  # numpy would try to unpickle it and say so, confusingly
        raise ValueError(f"data set {path}: not an .npz archive: expected a zip of arrays 'x' and "
                         f"'y' (numpy.savez), found a file that is not a zip archive")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    arrays[key] = archive[key]
                except ValueError as exc:  # object arrays need pickles: refused
                    raise ValueError(f"data set {path}: array '{key}': expected integers, found an "
                                     f"unreadable array ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"data set {path}: not a readable .npz archive: expected arrays 'x' and "
                         f"'y', found {type(exc).__name__}: {exc}") from None
    for key in ("x", "y"):
        if key not in arrays:
            raise ValueError(f"data set {path}: array '{key}' missing: expected arrays 'x' and 'y', "
                             f"found {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if x.ndim not in (2, 4):
        raise ValueError(f"data set {path}: array 'x': expected 2 dimensions (n, features) or 4 "
                         f"(n, channels, height, width), found shape {x.shape}")
    if 0 in x.shape:
        raise ValueError(f"data set {path}: array 'x': expected at least one image and one feature, "
                         f"found shape {x.shape}")
    shape = tuple(int(n) for n in x.shape[1:])
    x = x.reshape(x.shape[0], -1)
    if y.shape != (x.shape[0],):
        raise ValueError(f"data set {path}: array 'y': expected shape ({x.shape[0]},), found {y.shape}")
    for key, array in (("x", x), ("y", y)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"data set {path}: array '{key}': expected integers, found {array.dtype}")
    for key, array in (("x", x), ("y", y)):
        if array.min() < 0:
            raise ValueError(f"data set {path}: array '{key}': expected values >= 0, "
                             f"found {array.min()}")
    counts = np.bincount(y)
    rare = np.flatnonzero((counts > 0) & (counts < 2))
    if rare.size:  # a stratified split needs every class on both sides
        raise ValueError(f"data set {path}: array 'y': expected at least 2 images per class, found "
                         f"class {int(rare[0])} with {int(counts[rare[0]])}")
    return split_arrays(x.astype(np.int64), y.astype(np.int64), seed, test_fraction, int(x.max()),
                        shape=shape)



IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".bmp", ".jpg", ".jpeg", ".gif", ".tif", ".tiff")


def load_image_folder(path: str | Path, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """A user data set from an ImageFolder-style directory: one sub-folder of images per class.

    Classes are the sub-folder names in sorted order (label 0 is the first), as torchvision's
    ``ImageFolder``. Images are read with Pillow as 8-bit integers 0..255, grey (``L``) if every
    image is single-channel, else ``RGB``; all must have the same size (nothing is resized, so
    nothing is silently changed).

    Parameters
    ----------
    path : str or pathlib.Path
        The root folder.
    seed, test_fraction
        As :func:`load_digits_split` (stratified: every class needs two images).

    Returns
    -------
    Split
        ``x`` flattened ``(n, channels*height*width)``, ``shape`` ``(channels, height, width)``,
        ``max_value`` 255, ``class_names`` the folder names.

    Raises
    ------
    ValueError
        Naming the folder or file: no class folders, a class with fewer than two images, an
        unreadable image, or an image whose size differs from the first one's.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"data set {root}: folder not found: expected a directory with one "
                         f"sub-folder of images per class")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir())
    if not classes:
        raise ValueError(f"data set {root}: expected one sub-folder of images per class, found none")
    files, labels = [], []
    for label, name in enumerate(classes):
        images = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(images) < 2:  # a stratified split needs every class on both sides
            raise ValueError(f"data set {root}: class folder '{name}': expected at least 2 images "
                             f"({', '.join(IMAGE_SUFFIXES)}), found {len(images)}")
        files += images
        labels += [label] * len(images)
    decoded = []
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
                decoded.append(image.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"data set {root}: image {file.relative_to(root)}: not a readable "
                             f"image ({exc})") from None
    # Grey only when every image is: one colour image makes the whole set RGB.
    mode = "L" if all(image.mode in ("1", "L") for image in decoded) else "RGB"
    arrays = []
    for file, image in zip(files, decoded):
        array = np.asarray(image.convert(mode), dtype=np.int64)
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
        if arrays and array.shape != arrays[0].shape:
            raise ValueError(f"data set {root}: image {file.relative_to(root)}: expected size "
                             f"{arrays[0].shape[2]}x{arrays[0].shape[1]} like "
                             f"{files[0].relative_to(root)}, found {array.shape[2]}x{array.shape[1]}")
        arrays.append(array)
    x = np.stack(arrays)
    return split_arrays(x.reshape(len(x), -1), np.asarray(labels, np.int64), seed, test_fraction,
                        255, shape=x.shape[1:], class_names=tuple(classes))


def load_dataset(path: str | Path | None = None, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """The data set at ``path``: a ``.npz`` file or an ImageFolder directory; digits when None.

    Raises
    ------
    ValueError
        If ``path`` is neither an existing ``.npz`` file nor a directory (and as the loaders).
    """
    if path is None:
        return load_digits_split(seed=seed, test_fraction=test_fraction)
    path = Path(path)
    if path.is_dir():
        return load_image_folder(path, seed=seed, test_fraction=test_fraction)
    return load_npz_dataset(path, seed=seed, test_fraction=test_fraction)
