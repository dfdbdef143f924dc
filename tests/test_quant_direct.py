"""Direct training of MT-LIF and ASNN adaptive networks (quant/direct.py): exact export, surrogates,
encodings, configuration errors. Every model here is tiny (a few hundred images, 1-3 epochs)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from spikeforge import netspec as netspec_io
from spikeforge.bounds import analyse
from spikeforge.golden import run
from spikeforge.golden.encoders import encode
from spikeforge.golden.float_neurons import SURROGATES, decay_to_factor, decay_to_shift
from spikeforge.quant.data import load_digits_split
from spikeforge.quant.direct import (TRAINABLE_ENCODINGS, AsnnConfig, MtlifConfig, _build_asnn,
                                     _build_mtlif, _calibrate_thresholds, _input_spec,
                                     export_direct, sweep_direct, train_asnn, train_mtlif)
from spikeforge.quant.methods import CORE_FIELDS, method_config, train_method
from spikeforge.quant.train import _evaluate

DIGITS = load_digits_split(seed=0)
TINY = dict(epochs=2, hidden=16, train_subset=200)


@pytest.fixture(scope="module")
def tiny_mtlif():
    return train_mtlif(MtlifConfig(**TINY), data=DIGITS, progress=False)


@pytest.fixture(scope="module")
def tiny_asnn():
    return train_asnn(AsnnConfig(**TINY), data=DIGITS, progress=False)


@pytest.mark.parametrize("fixture", ["tiny_mtlif", "tiny_asnn"])
def test_export_is_exact_on_every_test_image(fixture, request, tmp_path):
    result = request.getfixturevalue(fixture)
    spec = netspec_io.load(result.netspec.save(tmp_path / "net.npz"))  # through the file format
    golden = run(spec, DIGITS.x_test)
    np.testing.assert_array_equal(golden.counts, _evaluate(result.model, DIGITS.x_test))
    report = result.report
    assert report["count_agreement"] == report["test_images"] == 360  # 360/360: no rounding rule
    assert report["golden_accuracy"] == report["quantized_accuracy"]
    assert set(CORE_FIELDS) <= set(report)
    assert not any(bound.saturates for bound in analyse(spec))  # minimal widths never clamp
    assert golden.counts.max() > 0  # the comparison is not between two silent networks


def test_mtlif_export_carries_levels_and_quantized_leak(tiny_mtlif):
    fc1, fc2 = tiny_mtlif.netspec.layers
    config = MtlifConfig()
    assert (fc1.neuron.kind, fc1.neuron.levels, fc2.neuron.levels) == ("mtlif", 3, 7)
    assert fc1.neuron.leak == "shift" and fc1.neuron.leak_shift == decay_to_shift(config.decay)
    assert tiny_mtlif.report["surrogate"] == "sigmoid" and tiny_mtlif.report["neuron"] == "mtlif"
    assert tiny_mtlif.netspec.timesteps == 2 and tiny_mtlif.netspec.input.encoding == "direct"


def test_asnn_export_carries_learned_tables(tiny_asnn):
    spec = tiny_asnn.netspec
    assert spec.input.encoding == "hybrid" and spec.timesteps == 4
    initial_gain = round(AsnnConfig().gain * 256)
    for layer, model_layer in zip(spec.layers, tiny_asnn.model.layers):
        assert layer.neuron.kind == "adaptive" and layer.neuron.frac_bits == 8
        assert (layer.neuron.decay_table, layer.neuron.gain_table) == model_layer.table_integers()
        assert len(layer.neuron.gain_table) == 4
    # learned: training moved the gains away from their initial Q8 value
    assert any(g != initial_gain for layer in spec.layers for g in layer.neuron.gain_table)


@pytest.mark.parametrize("leak, decay", [("shift", 0.75), ("factor", 0.8), ("none", 0.5)])
@pytest.mark.parametrize("encoding", TRAINABLE_ENCODINGS)
def test_untrained_mtlif_is_exact_for_every_leak_and_encoding(leak, decay, encoding):
    # Calibrated random networks: exactness does not depend on training having tamed the values.
    torch.manual_seed(1)
    config = MtlifConfig(timesteps=3, leak=leak, decay=decay, encoding=encoding, hidden=24,
                         weight_bits=(3, 5), levels=(2, 5), frac_bits=6).validate()
    model = _build_mtlif(config, _input_spec(DIGITS, config), 10)
    _calibrate_thresholds(model, DIGITS.x_train[:128])
    spec = export_direct(model, "t")
    if leak == "factor":
        assert spec.layers[0].neuron.leak_factor == decay_to_factor(decay, 6)
    golden = run(spec, DIGITS.x_test)
    np.testing.assert_array_equal(golden.counts, _evaluate(model, DIGITS.x_test))
    assert golden.layer_spikes[0].sum() > 0


@pytest.mark.parametrize("encoding", TRAINABLE_ENCODINGS)
def test_untrained_asnn_is_exact_with_uneven_tables(encoding):
    torch.manual_seed(2)
    config = AsnnConfig(timesteps=5, encoding=encoding, hidden=24, weight_bits=(1, 4),
                        frac_bits=5).validate()
    model = _build_asnn(config, _input_spec(DIGITS, config), 10)
    with torch.no_grad():  # tables off the Q5 grid and above 1: the forward pass must round them
        for layer in model.layers:
            layer.decay.copy_(torch.tensor([0.9, 0.37, 0.61, 1.3, 0.05]))
            layer.gain.copy_(torch.tensor([0.3, 1.77, 2.49, 0.91, 300.0]))
    _calibrate_thresholds(model, DIGITS.x_train[:128])
    spec = export_direct(model, "t")
    assert spec.layers[0].neuron.decay_table == (29, 12, 20, 32, 2)
    assert spec.layers[0].neuron.gain_table == (10, 57, 80, 29, 256 * 32)
    golden = run(spec, DIGITS.x_test)
    np.testing.assert_array_equal(golden.counts, _evaluate(model, DIGITS.x_test))


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_each_surrogate_trains(surrogate):
    result = train_mtlif(MtlifConfig(epochs=3, hidden=16, train_subset=300, surrogate=surrogate),
                         data=DIGITS, progress=False)
    report = result.report
    assert report["surrogate"] == surrogate
    assert report["train_loss_final"] < report["train_loss_initial"] - 0.1
    assert report["count_agreement"] == 360


def test_surrogates_give_different_gradients():
    torch.manual_seed(0)
    grads = []
    for surrogate in SURROGATES:
        # T = 1: no reset feeds a later step, so θ learns only through the spike derivative
        config = MtlifConfig(hidden=8, timesteps=1, surrogate=surrogate).validate()
        torch.manual_seed(0)
        model = _build_mtlif(config, _input_spec(DIGITS, config), 10)
        _calibrate_thresholds(model, DIGITS.x_train[:64])
        counts = model(torch.from_numpy(DIGITS.x_train[:64]).float())
        torch.nn.functional.cross_entropy(counts, torch.from_numpy(DIGITS.y_train[:64])).backward()
        layer = model.layers[0]
        assert layer.threshold.grad is not None and layer.threshold.grad != 0  # θ learns too
        grads.append(layer.linear.weight.grad.clone())
    assert not torch.equal(grads[0], grads[1]) and not torch.equal(grads[1], grads[2])


@pytest.mark.parametrize("encoding", TRAINABLE_ENCODINGS)
def test_encoding_round_trip(encoding, tmp_path):
    # The model encodes with the golden encoders, and the NetSpec file keeps the encoding's
    # parameters (rate seed, bits, max value): both sides see the same per-step inputs.
    config = MtlifConfig(encoding=encoding, timesteps=4, rate_seed=0x1234, hidden=8).validate()
    model = _build_mtlif(config, _input_spec(DIGITS, config), 10)
    _calibrate_thresholds(model, DIGITS.x_train[:64])
    spec = netspec_io.load(export_direct(model, "t").save(tmp_path / "t.npz"))
    assert (spec.input.encoding, spec.input.rate_seed, spec.input.bits, spec.input.max_value) == \
        (encoding, 0x1234, 5, 16)
    images = DIGITS.x_test[:20]
    steps = model.encode(torch.from_numpy(images).double())
    np.testing.assert_array_equal(steps.to(torch.int64).numpy(),
                                  encode(spec.input, images, 4).numpy())
    if encoding != "direct":  # the steps differ from presenting the image every step
        assert not np.array_equal(steps.numpy(), np.broadcast_to(images, (4, *images.shape)))


def test_training_is_deterministic():
    config = AsnnConfig(epochs=1, hidden=8, timesteps=2, train_subset=100)
    a = train_asnn(config, data=DIGITS, progress=False).netspec
    b = train_asnn(config, data=DIGITS, progress=False).netspec
    for la, lb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(la.weights, lb.weights)
        np.testing.assert_array_equal(la.bias, lb.bias)
        assert la.neuron == lb.neuron


def test_sweep_rows_and_registry():
    base = MtlifConfig(epochs=1, hidden=8, train_subset=100)
    sweeps = sweep_direct("mtlif", base, timesteps=(1, 2), encodings=("rate",), data=DIGITS)
    assert [row["timesteps"] for row in sweeps["accuracy_vs_timesteps"]] == [1, 2]
    assert [(row["encoding"], row["timesteps"]) for row in sweeps["accuracy_vs_encoding"]] == \
        [("rate", 2)]
    for row in sweeps["accuracy_vs_timesteps"] + sweeps["accuracy_vs_encoding"]:
        assert row["count_agreement"] == row["test_images"] == 360
    # the registry builds the config from named options and trains one net (no sweep rows)
    config = method_config("asnn", epochs=1, hidden=8, timesteps=2, train_subset=100)
    result = train_method("asnn", config, data=DIGITS, progress=False)
    assert result.report["method"] == "asnn" and result.report["accuracy_vs_timesteps"] == []
    with pytest.raises(ValueError, match=r"sweep_encodings\[1\]: expected one of direct, rate, "
                                         r"latency, hybrid, found 'events'"):
        sweep_direct("asnn", encodings=("rate", "events"))


@pytest.mark.parametrize("overrides, message", [
    ({"timesteps": 0}, r"timesteps: expected an integer in \[1, 16\], found 0"),
    ({"encoding": "events"},
     r"encoding: expected one of direct, rate, latency, hybrid, found 'events'"),
    ({"levels": (3,)}, r"levels: expected 2 values \(fc1, fc2\), found 1"),
    ({"levels": (3, 0)}, r"levels\[1\]: expected an integer in \[1, 255\], found 0"),
    ({"surrogate": "gaussian"},
     r"surrogate: expected one of rectangular, triangular, sigmoid, found 'gaussian'"),
    ({"surrogate_width": 0.0}, r"surrogate_width: expected a number in \(0.0, inf\), found 0.0"),
    ({"leak": "exp"}, r"leak: expected one of none, shift, factor, found 'exp'"),
    ({"decay": 1.0}, r"decay: expected a number in \(0.0, 1.0\), found 1.0"),
    ({"leak": "factor", "decay": 1.5}, r"decay: expected a number in \[0.0, 1.0\], found 1.5"),
    ({"weight_bits": (4, 9)}, r"weight_bits\[1\]: expected an integer in \[1, 8\]"),
    ({"rate_seed": 0}, r"rate_seed: expected an integer in \[1, 65535\]"),
    ({"hidden": 0}, r"hidden: expected a positive integer, found 0"),
    ({"lr": -1.0}, r"lr: expected a number in \(0.0, inf\), found -1.0"),
    ({"train_subset": 0}, r"train_subset: expected a positive integer, found 0"),
    ({"sweep_timesteps": (2, 40)},
     r"sweep_timesteps\[1\]: expected an integer in \[1, 16\], found 40"),
])
def test_mtlif_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        train_mtlif(replace(MtlifConfig(), **overrides), data=DIGITS, progress=False)


@pytest.mark.parametrize("overrides, message", [
    ({"gain": 300.0}, r"gain: expected a number in \[0.0, 256.0\], found 300.0"),
    ({"decay": -0.1}, r"decay: expected a number in \[0.0, 1.0\], found -0.1"),
    ({"frac_bits": 0}, r"frac_bits: expected an integer in \[1, 16\], found 0"),
    ({"learn_tables": 1}, r"learn_tables: expected True or False, found 1"),
    ({"seed": -1}, r"seed: expected a non-negative integer, found -1"),
])
def test_asnn_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        train_asnn(replace(AsnnConfig(), **overrides), data=DIGITS, progress=False)
    with pytest.raises(ValueError, match=message):  # the same message through the CLI's path
        method_config("asnn", **overrides)
