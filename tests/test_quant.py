"""Data, Brevitas QAT and the exact export to NetSpec."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge import netspec as netspec_io
from spikeforge.golden import run
from spikeforge.quant.data import load_digits_split, load_npz_dataset
from spikeforge.bounds import analyse, layer_bounds
from spikeforge.quant.model import SpikingMLP
from spikeforge.quant.train import TrainConfig, _evaluate, train_digits

DIGITS = load_digits_split(seed=0)


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
     r"array 'x': expected 2 dimensions \(n, features\) or 4 \(n, channels, height, width\), found shape \(3, 4, 2\)"),
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


def test_netspec_round_trip_keeps_every_integer(tiny, tmp_path):
    spec = tiny.netspec
    loaded = netspec_io.load(spec.save(tmp_path / "tiny.npz"))
    assert loaded.timesteps == spec.timesteps == 4 and loaded.input.dims == spec.input.dims == (64,)
    assert (loaded.input.bits, loaded.input.max_value) == (spec.input.bits, spec.input.max_value) == (5, 16)
    assert loaded.input.encoding == "direct" and loaded.input.size == 64
    for a, b in zip(spec.layers, loaded.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert a.neuron == b.neuron and a.scale == b.scale == 1 and a.weight_bits == b.weight_bits
        assert a.neuron.kind == "if" and a.neuron.reset == "subtract"
    for key in ("seed", "epochs", "float_accuracy", "quantized_accuracy", "golden_accuracy", "units"):
        assert loaded.metadata[key] == spec.metadata[key]


def test_units_are_powers_of_two_and_widths_minimal(tiny):
    fc1_unit, fc2_unit = tiny.netspec.metadata["units"]
    assert fc1_unit == 1.0  # binary: ±1 in units of 1
    assert fc2_unit == 2.0 ** round(np.log2(fc2_unit))
    input_max = 16
    for layer, bound in zip(tiny.netspec.layers, analyse(tiny.netspec)):
        assert not bound.saturates
        neuron = layer.neuron
        narrower = netspec_io.LayerSpec(layer.name, "linear", layer.weights, layer.weight_bits,
                                        layer.bias, netspec_io.NeuronSpec(
                                            "if", neuron.threshold, "subtract", neuron.state_bits - 1))
        # One bit less either cannot hold the threshold or may saturate.
        assert (neuron.state_bits - 1 <= neuron.threshold.bit_length()
                or layer_bounds(narrower, input_max, 4).saturates)
        input_max = 1


def test_report_figures(tiny):
    report = tiny.report
    assert report["test_images"] == 360 and report["sizes"] == [64, 24, 10]
    for key in ("float_accuracy", "quantized_accuracy", "golden_accuracy"):
        assert 0.0 <= report[key] <= 1.0
    assert [layer["weight_bits_stored"] for layer in report["layers"]] == [64 * 24 * 1, 24 * 10 * 4]
    assert report["train_seconds"] >= 0


def test_evaluate_leaves_the_model_float32(tiny):
    _evaluate(tiny.model, DIGITS.x_test[:5])
    assert all(p.dtype == torch.float32 for p in tiny.model.parameters())


@settings(max_examples=6, deadline=None)
@given(bits=st.tuples(st.integers(1, 8), st.integers(1, 8)), seed=st.integers(0, 2**16),
       timesteps=st.integers(1, 8))
def test_any_weight_widths_export_exactly(bits, seed, timesteps):
    result = train_digits(TrainConfig(seed=seed, epochs=1, hidden=12, timesteps=timesteps,
                                      weight_bits=bits, train_subset=160), progress=False,
                          data=DIGITS)
    golden = run(result.netspec, DIGITS.x_test)
    np.testing.assert_array_equal(golden.counts, _evaluate(result.model, DIGITS.x_test))
    for layer, k in zip(result.netspec.layers, bits):
        assert layer.weight_bits == k and layer.scale == 1
        if k == 1:
            assert set(np.unique(layer.weights)) <= {-1, 1}
        else:  # narrow range: -(2**(k-1) - 1) .. 2**(k-1) - 1
            assert np.abs(layer.weights).max() <= 2 ** (k - 1) - 1


@pytest.mark.parametrize("overrides, message", [
    ({"weight_bits": (1, 9)}, r"weight_bits\[1\]: expected an integer in \[1, 8\] \(1 = binary ±1, k = int-k\), found 9"),
    ({"weight_bits": (0, 4)}, r"weight_bits\[0\]: expected an integer in \[1, 8\].*found 0"),
    ({"weight_bits": (1,)}, r"weight_bits: expected 2 values \(fc1, fc2\), found 1: \(1,\)"),
    ({"timesteps": 0}, r"timesteps: expected 1..8 for the digits demo, found 0"),
    ({"epochs": 0}, r"epochs: expected a positive integer, found 0"),
    ({"hidden": 2.5}, r"hidden: expected a positive integer, found 2.5"),
    ({"lr": -1.0}, r"lr: expected a positive number, found -1.0"),
    ({"train_subset": 0}, r"train_subset: expected a positive integer, found 0"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        train_digits(TrainConfig(**overrides), progress=False)


def test_model_shape_errors():
    with pytest.raises(ValueError, match=r"thresholds: expected one value per layer \(2\), found 1"):
        SpikingMLP((64, 16, 10), (1, 4), 4, (1.0,))


def _write_image_folder(root, sizes=None, mode="L"):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for index in range(3):
            size = (sizes or {}).get((name, index), (4, 3))
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(
                root / name / f"{index}.png")


def test_image_folder_loads_classes_in_sorted_order_as_integers(tmp_path):
    from spikeforge.quant.data import load_dataset

    _write_image_folder(tmp_path / "data")
    split = load_dataset(tmp_path / "data", test_fraction=0.34)
    assert split.class_names == ("cat", "dog")
    assert split.shape == (1, 3, 4) and split.x_train.shape[1] == 12
    assert split.max_value == 255 and split.x_train.dtype == np.int64
    assert len(split.y_train) + len(split.y_test) == 6


def test_image_folder_rgb_images_keep_three_channels(tmp_path):
    from spikeforge.quant.data import load_image_folder

    _write_image_folder(tmp_path / "data", mode="RGB")
    assert load_image_folder(tmp_path / "data", test_fraction=0.34).shape == (3, 3, 4)


@pytest.mark.parametrize("problem, message", [
    ("size", r"image dog/1.png: expected size 4x3 like cat/0.png, found 5x3"),
    ("empty", r"data set .*: expected one sub-folder of images per class, found none"),
    ("few", r"class folder 'cat': expected at least 2 images"),
    ("corrupt", r"image cat/0.png: not a readable image"),
])
def test_image_folder_errors_name_the_file(tmp_path, problem, message):
    from spikeforge.quant.data import load_image_folder

    root = tmp_path / "data"
    if problem == "empty":
        root.mkdir()
    else:
        _write_image_folder(root, sizes={("dog", 1): (5, 3)} if problem == "size" else None)
    if problem == "few":
        for extra in ("1.png", "2.png"):
            (root / "cat" / extra).unlink()
    if problem == "corrupt":
        (root / "cat" / "0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=message):
        load_image_folder(root)


def test_npz_images_keep_their_shape(tmp_path):
    path = tmp_path / "images.npz"
    np.savez(path, x=np.arange(6 * 2 * 3 * 3).reshape(6, 2, 3, 3) % 7, y=np.array([0, 1] * 3))
    split = load_npz_dataset(path, test_fraction=0.34)
    assert split.shape == (2, 3, 3) and split.x_train.shape[1] == 18
