"""Data sets: scikit-learn's digits (shipped inside the package: the embedded default) and user .npz files."""

from __future__ import annotations

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
    """Stratified split with a fixed seed (scikit-learn's ``train_test_split``)."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return Split(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), max_value)


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> Split:
    """scikit-learn's 8×8 digits as integers 0..16: 1,437 training and 360 held-out images.

    The split is stratified and fixed by ``seed``; nothing is downloaded.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data.astype(np.int64)
    return split_arrays(x, digits.target.astype(np.int64), seed, test_fraction, DIGITS_MAX_VALUE)


def load_npz_dataset(path: str | Path, seed: int = 0, test_fraction: float = 0.2) -> Split:
    """A user data set from a ``.npz`` with integer arrays ``x`` (n, features) and ``y`` (n,).

    Raises
    ------
    ValueError
        Naming the file, the array and what was expected and found.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data set {path}: file not found")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key in ("x", "y"):
        if key not in arrays:
            raise ValueError(f"data set {path}: array '{key}' missing: expected arrays 'x' and 'y', "
                             f"found {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if x.ndim != 2:
        raise ValueError(f"data set {path}: array 'x': expected 2 dimensions (n, features), "
                         f"found shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"data set {path}: array 'y': expected shape ({x.shape[0]},), found {y.shape}")
    for key, array in (("x", x), ("y", y)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"data set {path}: array '{key}': expected integers, found {array.dtype}")
    if x.min() < 0:
        raise ValueError(f"data set {path}: array 'x': expected values >= 0, found {x.min()}")
    return split_arrays(x.astype(np.int64), y.astype(np.int64), seed, test_fraction, int(x.max()))
