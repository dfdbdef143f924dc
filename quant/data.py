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
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    max_value: int

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def split_arrays(x: np.ndarray, y: np.ndarray, seed: int, test_fraction: float, max_value: int) -> Split:
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

    Returns
    -------
    Split
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in (0, 1), found {test_fraction!r}")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), max_value)


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
    return split_arrays(x, digits.target.astype(np.int64), seed, test_fraction, DIGITS_MAX_VALUE)


def load_npz_dataset(path: str | Path, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """A user data set from a ``.npz`` with integer arrays ``x`` (n, features) and ``y`` (n,).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.npz`` file (``numpy.savez``); read without pickles.
    seed, test_fraction
        As :func:`load_digits_split`: the split is stratified, so every class needs two images.

    Returns
    -------
    Split
        ``max_value`` is the largest value found in ``x``.

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
    if x.ndim != 2:
        raise ValueError(f"data set {path}: array 'x': expected 2 dimensions (n, features), "
                         f"found shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"data set {path}: array 'x': expected at least one image and one feature, "
                         f"found shape {x.shape}")
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
    return split_arrays(x.astype(np.int64), y.astype(np.int64), seed, test_fraction, int(x.max()))
