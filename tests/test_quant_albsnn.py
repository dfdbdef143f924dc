"""Spiking conv building blocks (exact export) and ALBSNN layer-selective binarization.

Every model here is tiny (a few channels, a few epochs): each test takes seconds. The full default
run (digits, T = 1) is measured by hand and reported in the method's report, not here.
"""

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.golden import run
from spikeforge.quant.albsnn import (AlbsnnConfig, binarization_error, binary_storage_bits,
                                     build_convnet, calibrate_thresholds, estimate_layers, fit,
                                     storage_bits, train_albsnn, with_binary)
from spikeforge.quant.convnet import (GlobalSumPool, QuantConvIF, QuantLinearIF, SpikingConvNet,
                                      SumPool, evaluate_counts, export_convnet)
from spikeforge.quant.data import Split, load_digits_split
from spikeforge.quant.methods import CORE_FIELDS

torch.set_num_threads(1)
DIGITS = load_digits_split(seed=0)
TINY = dict(channels=(4, 8), epochs=2, finetune_epochs=1, train_subset=300, batch_size=64)


@pytest.fixture(scope="module")
def tiny_result():
    return train_albsnn(AlbsnnConfig(**TINY), progress=False)


def _random_net(seed: int, bits: tuple, timesteps: int, shift: int, pool: str) -> SpikingConvNet:
    """A mixed-width net with random weights, biases and calibrated thresholds."""
    torch.manual_seed(seed)
    head = [GlobalSumPool(shift), QuantLinearIF(6, 10, bits[2])] if pool == "gap" else \
        [SumPool(2), nn.Flatten(), QuantLinearIF(6 * 2 * 2, 10, bits[2])]
    net = SpikingConvNet([QuantConvIF(1, 5, 3, 1, 1, bits[0], binary_unit=0.5),
                          QuantConvIF(5, 6, 3, 2, 1, bits[1], binary_unit=0.25), *head],
                         timesteps, (1, 8, 8))
    with torch.no_grad():
        for _, block in net.blocks():
            block.bias.normal_(0.0, 0.5)
    calibrate_thresholds(net, DIGITS.x_train[:128], hidden_rate=0.3)
    return net


@pytest.mark.parametrize("bits, timesteps, shift, pool", [
    ((4, 1, 3), 1, 0, "gap"),
    ((1, 8, 1), 3, 2, "gap"),
    ((2, 4, 5), 2, 1, "sumpool"),
])
def test_export_agrees_with_the_quantized_model_on_every_test_image(bits, timesteps, shift, pool):
    net = _random_net(1, bits, timesteps, shift, pool)
    fit(net, DIGITS.x_train[:256], DIGITS.y_train[:256], 1, 1e-2, 64,
        torch.Generator().manual_seed(0), False, "test")  # trained weights, not only the init
    counts = evaluate_counts(net, DIGITS.x_test)
    spec = export_convnet(net, 5, 16)
    golden = run(spec, DIGITS.x_test)
    # The claim: 360/360 images give the very same spike counts, hence the same class.
    agreement = int((golden.counts == counts).all(axis=1).sum())
    assert agreement == len(DIGITS.x_test) == 360
    assert counts.sum() > 0  # the comparison is not between two silent networks
    kinds = [layer.kind for layer in spec.layers]
    assert kinds == (["conv2d", "conv2d", "gap", "linear"] if pool == "gap"
                     else ["conv2d", "conv2d", "sumpool", "flatten", "linear"])
    assert [layer.weight_bits for layer in spec.layers if layer.weights is not None] == list(bits)
    for layer in spec.layers:
        if layer.weights is not None:
            assert layer.scale == 1
            if layer.weight_bits == 1:
                assert set(np.unique(layer.weights)) <= {-1, 1}


def test_binarized_copy_of_a_binary_valued_layer_computes_the_same():
    torch.manual_seed(0)
    # int2 (narrow range: -1, 0, 1 units): latent weights ±0.1875 quantize to one unit, ±0.125 (a
    # power of two, so the binary unit is the same). The fixed-point scale is a power of two
    # rounded from max|W| / (2**(k-1) - 1), so at int-k, k > 2, no ±c quantizes to a power of two.
    net = SpikingConvNet([QuantConvIF(1, 4, 3, 1, 1, 2), GlobalSumPool(), QuantLinearIF(4, 10, 4)],
                         1, (1, 8, 8))
    with torch.no_grad():
        conv = net.features[0]
        conv.op.weight.copy_(torch.where(torch.rand_like(conv.op.weight) < 0.5, -0.1875, 0.1875))
    calibrate_thresholds(net, DIGITS.x_train[:64])
    with torch.no_grad():
        conv.threshold.fill_(1.0)  # whole numbers of the binary unit 0.125
        conv.bias.copy_(torch.tensor([0.125, -0.5, 0.0, 0.375]))
    binary = with_binary(net, "features.0")
    assert binary.features[0].weight_bits == 1 and float(binary.features[0].unit()) == 0.125
    assert binary.features[0].integers()["threshold"] == 8
    np.testing.assert_array_equal(evaluate_counts(binary, DIGITS.x_test[:100]),
                                  evaluate_counts(net, DIGITS.x_test[:100]))


def test_binarization_error_of_known_weights():
    layer = QuantLinearIF(2, 2, 8)
    with torch.no_grad():
        # Fixed point 8 bits: 3 and 1 are whole numbers of the power-of-two unit.
        layer.op.weight.copy_(torch.tensor([[1.0, -1.0], [3.0, -3.0]]))
    # mean|W| = 2, mean W² = 5: 1 − 4/5.
    assert binarization_error(layer) == pytest.approx(0.2)
    with torch.no_grad():
        layer.op.weight.copy_(torch.tensor([[2.0, -2.0], [2.0, 2.0]]))
    assert binarization_error(layer) == 0.0


def test_estimator_ranks_the_layer_binarization_cannot_hurt_first():
    """Constructed case: fc1's int2 weights are ±0.125 (binary-valued) and frozen; conv1 trains.

    Binarizing fc1 changes nothing, so its estimated loss is exactly 0 and it must come first;
    binarizing the trained conv1 loses its weights' magnitudes (a large binarization error) and
    costs loss.
    """
    torch.manual_seed(0)
    net = SpikingConvNet([QuantConvIF(1, 6, 3, 1, 1, 4), GlobalSumPool(), QuantLinearIF(6, 10, 2)],
                         1, (1, 8, 8))
    x, y = DIGITS.x_train[:300], DIGITS.y_train[:300]
    calibrate_thresholds(net, x)
    fc = net.features[2]
    with torch.no_grad():
        # One unit of int2's power-of-two scale: exactly ±0.125 after quantization.
        fc.op.weight.copy_(torch.where(torch.rand_like(fc.op.weight) < 0.5, -0.1875, 0.1875))
        fc.bias.zero_()
        fc.threshold.copy_(torch.clamp(torch.round(fc.threshold / 0.125), min=1) * 0.125)
    fc.requires_grad_(False)  # stays binary-valued, in whole binary units, while conv1 trains
    fit(net, x, y, 3, 1e-2, 32, torch.Generator().manual_seed(0), False, "test")
    estimates = estimate_layers(net, DIGITS.x_train[300:600], DIGITS.y_train[300:600])
    assert [e.name for e in estimates] == ["fc1", "conv1"]
    fc_estimate, conv_estimate = estimates
    assert fc_estimate.binarization_error == 0.0
    assert fc_estimate.estimated_loss == 0.0 and fc_estimate.estimated_drop == 0.0
    assert conv_estimate.binarization_error > 0.1
    assert conv_estimate.estimated_loss > 0.0
    assert fc_estimate.bits_saved == 60 * 1 and conv_estimate.bits_saved == 54 * 3


def test_tiny_albsnn_run_is_exact_and_reports_every_layer(tiny_result):
    report = tiny_result.report
    assert set(CORE_FIELDS) <= set(report)
    assert report["method"] == "albsnn" and report["neuron"] == "if" and report["timesteps"] == 1
    assert report["count_agreement"] == report["test_images"] == 360
    assert report["golden_accuracy"] == report["quantized_accuracy"]
    rows = report["layer_selection"]
    assert [row["name"] for row in rows] == ["conv1", "conv2", "fc1"]
    for row in rows:
        assert row["chosen_bits"] in (1, 4) and row["initial_bits"] == 4
        assert row["bits_stored"] == row["weights"] * row["chosen_bits"]
        assert row["estimated_loss"] is not None and row["measured_drop"] is not None
        assert row["decision"].startswith("binary" if row["chosen_bits"] == 1 else "kept int")
    assert sorted(row["order"] for row in rows) == [1, 2, 3]
    storage = report["storage"]
    assert storage["bits_before"] == sum(row["weights"] for row in rows) * 4
    assert storage["bits_after"] == sum(row["bits_stored"] for row in rows)
    assert storage["bits_after"] == report["weight_bits_stored"]
    assert storage["saving_percent"] == pytest.approx(
        100 * (storage["bits_before"] - storage["bits_after"]) / storage["bits_before"], abs=0.01)
    # The budget held on the validation split for every layer kept binary.
    for row in rows:
        if row["chosen_bits"] == 1:
            assert row["measured_drop"] <= 1.0
    spec_bits = [layer.weight_bits for layer in tiny_result.netspec.layers if layer.weights is not None]
    assert spec_bits == [row["chosen_bits"] for row in rows]


def test_training_is_deterministic(tiny_result):
    again = train_albsnn(AlbsnnConfig(**TINY), progress=False)
    for a, b in zip(tiny_result.netspec.layers, again.netspec.layers):
        if a.weights is not None:
            np.testing.assert_array_equal(a.weights, b.weights)
            np.testing.assert_array_equal(a.bias, b.bias)
            assert a.neuron.threshold == b.neuron.threshold
    assert again.report["layer_selection"] == tiny_result.report["layer_selection"]


def test_storage_target_binarizes_until_met():
    config = AlbsnnConfig(**{**TINY, "epochs": 1}, target_bits=1200)
    model = build_convnet(config, (1, 8, 8), 10)
    assert binary_storage_bits(model) == 36 + 288 + 80 and storage_bits(model) == 4 * 404
    result = train_albsnn(config, progress=False)
    storage = result.report["storage"]
    assert storage["bits_after"] <= 1200 < storage["bits_before"]
    assert result.report["budget"] == {"target_bits": 1200}
    assert result.report["count_agreement"] == 360


@pytest.mark.parametrize("budget, message", [
    ({"target_bits": 403}, r"target_bits: impossible budget: expected at least 404 bits \(every "
                           r"weighted layer binary\), found 403"),
    ({"max_drop": -1.0}, r"max_drop: expected accuracy points in \[0, 100\] \(an impossible "
                         r"budget otherwise\), found -1.0"),
    ({"max_drop": 101}, r"max_drop: expected accuracy points in \[0, 100\]"),
])
def test_impossible_budgets(budget, message):
    with pytest.raises(ValueError, match=message):
        train_albsnn(AlbsnnConfig(**TINY, **budget), progress=False)


@pytest.mark.parametrize("overrides, message", [
    ({"timesteps": 0}, r"timesteps: expected an integer in \[1, 8\], found 0"),
    ({"weight_bits": 1}, r"weight_bits: expected an integer in \[2, 8\], found 1"),
    ({"channels": (8,)}, r"channels: expected at least 2 positive integers"),
    ({"finetune_lr": 0}, r"finetune_lr: expected a positive number, found 0"),
    ({"target_bits": 0}, r"target_bits: expected an integer >= 1, found 0"),
    ({"validation_fraction": 1.0}, r"validation_fraction: expected a number in \(0, 1\)"),
    ({"gap_shift": 17}, r"gap_shift: expected an integer in \[0, 16\], found 17"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        AlbsnnConfig(**overrides).validate()


@pytest.mark.parametrize("module, name", [(nn.MaxPool2d(2), "MaxPool2d"),
                                          (nn.BatchNorm2d(4), "BatchNorm2d")])
def test_unsupported_layer_is_named_with_its_path(module, name):
    net = SpikingConvNet([QuantConvIF(1, 4, 3, 1, 1, 4), module, GlobalSumPool(),
                          QuantLinearIF(4, 10, 4)], 1, (1, 8, 8))
    net(torch.zeros(2, 64))  # it runs in torch ...
    with pytest.raises(ValueError, match=rf"layer features\.1 \({name}\): not supported; expected "
                                         r"one of QuantConvIF, QuantLinearIF, GlobalSumPool"):
        export_convnet(net, 5, 16)  # ... but has no NetSpec layer


def test_model_structure_errors():
    with pytest.raises(ValueError, match=r"layer features\.1 \(Flatten\): flattens dims 2\.\.-1"):
        export_convnet(SpikingConvNet([QuantConvIF(1, 2, 3), nn.Flatten(2), QuantLinearIF(36, 10)],
                                      1, (1, 8, 8)), 5, 16)
    with pytest.raises(ValueError, match=r"features: expected a spiking block .* last, whose "
                                         r"spikes are counted, found GlobalSumPool"):
        SpikingConvNet([QuantConvIF(1, 2, 3), GlobalSumPool()], 1, (1, 8, 8))
    with pytest.raises(ValueError, match=r"binary_unit: expected a power of two, found 0.3"):
        QuantConvIF(1, 2, 3, weight_bits=1, binary_unit=0.3)
    with pytest.raises(ValueError, match=r"weight_bits: expected an integer in \[1, 8\]"):
        QuantLinearIF(4, 2, weight_bits=9)


def test_flat_data_is_refused():
    flat = Split(DIGITS.x_train, DIGITS.y_train, DIGITS.x_test, DIGITS.y_test, 16)
    with pytest.raises(ValueError, match=r"data: expected images of shape \(channels, height, "
                                         r"width\) for a conv net, found shape \(64,\)"):
        train_albsnn(AlbsnnConfig(**TINY), data=flat, progress=False)
