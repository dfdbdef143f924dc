"""Data, Brevitas QAT and the exact export to NetSpec."""

import numpy as np
import pytest

from spikeforge import netspec as netspec_io
from spikeforge.golden import run
from spikeforge.quant.data import load_digits_split, load_npz_dataset
from spikeforge.quant.train import TrainConfig, _evaluate, train_digits


def test_digits_split_is_fixed_and_integer():
    a, b = load_digits_split(seed=0), load_digits_split(seed=0)
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    assert a.x_train.dtype == np.int64 and a.x_train.min() == 0 and a.x_train.max() == 16
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(load_digits_split(seed=1).y_test, a.y_test)


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 4), np.int64)}, r"array 'y' missing: expected arrays 'x' and 'y', found \['x'\]"),
    ({"x": np.zeros((3, 4, 2), np.int64), "y": np.zeros(3, np.int64)},
     r"array 'x': expected 2 dimensions \(n, features\), found shape \(3, 4, 2\)"),
    ({"x": np.zeros((3, 4), np.int64), "y": np.zeros(2, np.int64)},
     r"array 'y': expected shape \(3,\), found \(2,\)"),
    ({"x": np.zeros((3, 4), np.float32), "y": np.zeros(3, np.int64)},
     r"array 'x': expected integers, found float32"),
])
def test_npz_dataset_errors(tmp_path, arrays, message):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load_npz_dataset(path)


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 4), np.int64), "y": np.zeros(3, np.float64)},
     r"array 'y': expected integers, found float64"),
    ({"x": -np.ones((3, 4), np.int64), "y": np.zeros(3, np.int64)},
     r"array 'x': expected values >= 0, found -1"),
    ({"x": np.zeros((0, 4), np.int64), "y": np.zeros(0, np.int64)},
     r"array 'x': expected at least one image and one feature, found shape \(0, 4\)"),
    ({"x": np.zeros((3, 4), np.int64), "y": np.array([0, 0, 1])},
     r"array 'y': expected at least 2 images per class, found class 1 with 1"),
    ({"x": np.array([[1, "a"]], dtype=object), "y": np.zeros(1, np.int64)},
     r"array 'x': expected integers, found an unreadable array"),
])
def test_npz_dataset_more_errors(tmp_path, arrays, message):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        load_npz_dataset(path)
    assert str(path) in str(info.value)  # the message names the file


def test_npz_dataset_not_an_archive(tmp_path):
    path = tmp_path / "data.npz"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(ValueError, match=r"data.npz: not an .npz archive: expected a zip of arrays"):
        load_npz_dataset(path)
    with pytest.raises(ValueError, match=r"missing.npz: file not found"):
        load_npz_dataset(tmp_path / "missing.npz")


def test_npz_dataset_loads_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.integers(0, 9, (50, 6)).astype(np.int16), y=np.arange(50) % 5)
    split = load_npz_dataset(path, test_fraction=0.2)
    assert split.x_train.shape == (40, 6) and split.x_test.shape == (10, 6)
    assert split.x_train.dtype == np.int64 and split.max_value == 8 and split.n_classes == 5
    with pytest.raises(ValueError, match=r"test_fraction: expected a number in \(0, 1\), found 1.5"):
        load_npz_dataset(path, test_fraction=1.5)


@pytest.fixture(scope="module")
def tiny():
    return train_digits(TrainConfig(epochs=2, hidden=24, timesteps=4, train_subset=300), progress=False)


def test_export_is_exact_on_every_test_image(tiny, tmp_path):
    data = load_digits_split(seed=0)
    spec = netspec_io.load(tiny.netspec.save(tmp_path / "tiny.npz"))
    golden = run(spec, data.x_test)
    quantized = _evaluate(tiny.model, data.x_test)
    np.testing.assert_array_equal(golden.counts, quantized)  # counts, integer for integer
    assert tiny.report["count_agreement"] == 360


def test_exported_layers_respect_their_widths(tiny):
    fc1, fc2 = tiny.netspec.layers
    assert fc1.weight_bits == 1 and set(np.unique(fc1.weights)) <= {-1, 1}
    assert fc2.weight_bits == 4 and fc2.weights.min() >= -8 and fc2.weights.max() <= 7
    assert tiny.netspec.input.max_value == 16 and tiny.netspec.input.bits == 5
    from spikeforge.bounds import analyse
    assert not any(bound.saturates for bound in analyse(tiny.netspec))


def test_training_is_deterministic():
    config = TrainConfig(epochs=1, hidden=16, timesteps=2, train_subset=200)
    a = train_digits(config, progress=False).netspec
    b = train_digits(config, progress=False).netspec
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weights, lb.weights)
        assert la.neuron == lb.neuron


def test_timesteps_out_of_range():
    with pytest.raises(ValueError, match="timesteps: expected 1..8 for the digits demo, found 9"):
        train_digits(TrainConfig(timesteps=9), progress=False)
