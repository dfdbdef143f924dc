"""ANN→SNN conversion (BSNN): exactness on a hand-built net, unsupported layers, tiny trainings."""

import dataclasses

import numpy as np
import pytest
import torch
from brevitas.nn import QuantConv2d, QuantLinear, QuantReLU
from torch import nn

from spikeforge.golden import run
from spikeforge.quant.convert import (ConvertConfig, ConvertNet, GlobalAvgPool, ResidualBlock,
                                      activation_scales, bsnn_claim, build_mlp, build_resnet,
                                      calibrate_readout, convert, neuron_layers, plan,
                                      simulate_snn, train_convert)
from spikeforge.quant.data import load_digits_split
from spikeforge.quant.methods import CORE_FIELDS
from spikeforge.quant.model import int_weight

DIGITS = load_digits_split(seed=0)

# Hand-built net with int4 weights of scale 1 (largest |w| = 7): hidden h = relu(W1 x) = 7·h0 with
# h0 in 0..2 (λ1 = 14 at percentile 100), outputs z = W2 h = 49·z0 with z0 in 2..4 (λ2 = 196).
# W2 >= 0, so no membrane ever goes negative after a spike.
X = np.array([[1, 2], [2, 1], [0, 2], [2, 2]])
W1 = [[7.0, 0.0], [0.0, 7.0], [7.0, -7.0]]
W2 = [[7.0, 7.0, 0.0], [0.0, 7.0, 7.0]]


def _tiny_net():
    first = QuantLinear(2, 3, bias=True, weight_quant=int_weight(4))
    second = QuantLinear(3, 2, bias=True, weight_quant=int_weight(4))
    with torch.no_grad():
        first.weight.copy_(torch.tensor(W1))
        second.weight.copy_(torch.tensor(W2))
        first.bias.zero_()
        second.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), second).eval()


def test_tiny_net_counts_equal_the_ann_activation_exactly():
    model = _tiny_net()
    z = np.maximum(model(torch.tensor(X, dtype=torch.float32)).detach().numpy(), 0)
    z0 = z / 49
    assert z0.tolist() == [[3, 2], [3, 2], [2, 2], [4, 2]]
    scales = activation_scales(model, X, percentile=100.0, output_percentile=100.0)
    assert list(scales.values()) == [14.0, 196.0]
    # IF, reset by subtraction: the first layer (constant current) fires floor(T·h/λ1) times and
    # the second floor(W2·c1/Θ2) = floor(T·z0/4) when T is even. For T a multiple of 4 no floor
    # drops anything: count = T·z/λ2 exactly.
    for T in (4, 8, 64, 252):
        conversion = convert(model, scales, neuron="if", timesteps=T, input_max=4, round_half=False)
        golden = run(conversion.netspec, X)
        np.testing.assert_array_equal(golden.counts, (T * z / 196).astype(np.int64))
        np.testing.assert_array_equal(simulate_snn(conversion, X), golden.counts)
    # Off the multiples the floors lose part of a spike: T = 6 gives floor(1.5·z0), not 1.5·z0.
    off = run(convert(model, scales, neuron="if", timesteps=6, input_max=4,
                      round_half=False).netspec, X).counts
    assert off.tolist() == [[4, 3], [4, 3], [3, 3], [6, 3]]
    # Bistable, P = 4 (T = (L + 1)·P = 12): one window integrates the whole input, so the output
    # layer sends P·z/λ2 = z0 spikes, the ANN's activation in its own units.
    conversion = convert(model, scales, neuron="bistable", timesteps=12, input_max=4,
                         round_half=False)
    assert conversion.phase == 4
    np.testing.assert_array_equal(run(conversion.netspec, X).counts, z0.astype(np.int64))


def test_conversion_writes_integer_thresholds_in_the_layer_units():
    model = _tiny_net()
    scales = activation_scales(model, X, 100.0, 100.0)
    spec = convert(model, scales, neuron="if", timesteps=8, input_max=4, round_half=False).netspec
    # fc1: weight unit 1, λ1 = 14 -> Θ = 14; fc2: unit 1 · λ1 = 14, λ2 = 196 -> Θ = 14.
    assert [layer.neuron.threshold for layer in spec.layers] == [14, 14]
    assert spec.layers[0].weights.tolist() == [[7, 0], [0, 7], [7, -7]]
    assert spec.layers[1].weights.tolist() == [[7, 7, 0], [0, 7, 7]]
    assert all(layer.neuron.kind == "if" and layer.neuron.reset == "subtract" for layer in spec.layers)


@pytest.mark.parametrize("bad, message", [
    (nn.BatchNorm2d(4), r"layer body\.1 \(BatchNorm2d\) is not supported by ANN→SNN conversion: "
                        r"fold batch normalisation .*expected QuantLinear, QuantConv2d"),
    (nn.MaxPool2d(2), r"layer body\.1 \(MaxPool2d\) is not supported .*use GlobalAvgPool"),
    (nn.Sigmoid(), r"layer body\.1 \(Sigmoid\) is not supported .*only ReLU activations"),
    (nn.Dropout(), r"layer body\.1 \(Dropout\) is not supported .*remove dropout"),
    (nn.LeakyReLU(), r"layer body\.1 \(LeakyReLU\) is not supported by ANN→SNN conversion; "
                     r"expected QuantLinear"),
])
def test_unsupported_layers_are_named_with_their_path(bad, message):
    body = nn.Sequential(QuantConv2d(1, 4, 3, padding=1, weight_quant=int_weight(4)), bad,
                         GlobalAvgPool(), QuantLinear(4, 2, weight_quant=int_weight(4)))
    with pytest.raises(ValueError, match=message):
        plan(ConvertNet((1, 8, 8), body))


def test_nested_and_structural_errors_name_the_layer():
    inner = nn.Sequential(QuantLinear(4, 4, weight_quant=int_weight(4)), nn.Flatten())
    with pytest.raises(ValueError, match=r"layer 0\.1 \(Flatten\): expected QuantReLU or nn\.ReLU "
                                         r"after the hidden layer 0\.0"):
        plan(nn.Sequential(inner, QuantLinear(4, 2, weight_quant=int_weight(4))))
    with pytest.raises(ValueError, match=r"layer 1 \(Tanh\) is not supported .*only ReLU"):
        plan(nn.Sequential(QuantLinear(4, 4, weight_quant=int_weight(4)), nn.Tanh()))
    with pytest.raises(ValueError, match=r"layer body\.0 \(ResidualBlock\): expected a layer of "
                                         r"neurons before it .*found the network input"):
        plan(ConvertNet((2, 4, 4), nn.Sequential(ResidualBlock(2, 4, 2), nn.Flatten(),
                                                 QuantLinear(32, 2, weight_quant=int_weight(4)))))
    with pytest.raises(ValueError, match=r"model: expected a QuantLinear or QuantConv2d output "
                                         r"layer \(logits, no ReLU\) last"):
        plan(nn.Sequential(QuantLinear(4, 4, weight_quant=int_weight(4)), nn.ReLU()))
    with pytest.raises(ValueError, match=r"model \(Linear\): expected a ConvertNet or an "
                                         r"nn\.Sequential"):
        plan(nn.Linear(4, 2))
    dilated = QuantConv2d(1, 2, 3, dilation=2, weight_quant=int_weight(4))
    with pytest.raises(ValueError, match=r"layer body\.0 \(QuantConv2d\) is not supported .*"
                                         r"dilation 1"):
        plan(ConvertNet((1, 8, 8), nn.Sequential(dilated, nn.ReLU(), nn.Flatten(),
                                                 QuantLinear(32, 2, weight_quant=int_weight(4)))))


def test_resnet_plan_and_synchronous_shortcut_delay():
    torch.manual_seed(0)
    model = build_resnet((1, 8, 8), 2, 3, weight_bits=4, act_bits=2, head="gap").eval()
    names = [(step.name, step.kind) for step in plan(model)[1]]
    assert names == [("body.0", "conv2d"), ("body.2.conv1", "conv2d"), ("body.2.conv2", "conv2d"),
                     ("body.2.add", "residual"), ("body.3", "gap"), ("body.4", "linear")]
    assert neuron_layers(model) == 5
    x = DIGITS.x_train[:40]
    scales = activation_scales(model, x)
    assert scales["body.0"] == scales["body.2.conv2"]  # the two addends share one spike value
    # The block's output ReLU does not clip the sum: its neurons' threshold is two addend spikes.
    assert scales["body.2.add"] == 2 * scales["body.0"]
    for neuron, T, delay in (("bistable", 18, 6), ("if", 7, 0)):
        conversion = convert(model, scales, neuron=neuron, timesteps=T)
        residual = conversion.netspec.layers[3]
        # Bistable: the branch has 2 neuron layers, so the shortcut waits 2 phases of P = 3.
        assert (residual.source, residual.delay) == ("body.0", delay)
        assert residual.neuron.threshold == 2
        # Every weighted layer has a bias (the bistable schedule keeps deep layers idle).
        assert all(np.any(layer.bias != 0) for layer in conversion.netspec.layers
                   if layer.kind in ("conv2d", "linear"))
        np.testing.assert_array_equal(simulate_snn(conversion, x),
                                      run(conversion.netspec, x).counts)
    with pytest.raises(ValueError, match=r"timesteps: expected a multiple of L \+ 1 = 6 for a "
                                         r"bistable network of 5 neuron layers"):
        convert(model, scales, neuron="bistable", timesteps=20)


def test_residual_sum_is_not_clipped():
    """Both addends at their largest (P spikes each): the residual neurons send P, not P/2 or a clip."""
    torch.manual_seed(0)
    model = build_resnet((1, 8, 8), 2, 3, weight_bits=4, act_bits=2).eval()
    with torch.no_grad():  # an active branch: its addend often meets an active shortcut
        model.body[2].conv2.bias.fill_(0.5)
    x = DIGITS.x_train[:40]
    scales = activation_scales(model, x)
    conversion = convert(model, scales, neuron="bistable", timesteps=36)  # P = 6 = 2·(2²−1)
    golden = run(conversion.netspec, x, record=True)
    P = conversion.phase
    # The stem fires in phase 1 (its spikes delayed 2 phases), conv2 in phase 3; the residual
    # neurons integrate both in phase 3 and fire in phase 4.
    stem = golden.trains[0][P:2 * P].sum(axis=0)
    branch = golden.trains[2][3 * P:4 * P].sum(axis=0)
    out = golden.trains[3][4 * P:5 * P].sum(axis=0)
    np.testing.assert_array_equal(out, (stem + branch) // 2)
    assert ((stem + branch) > P).any()  # sums above one addend's largest value pass unclipped


def test_deep_bistable_layer_with_bias_waits_for_its_input():
    """A stage-2 layer with a positive bias and silent inputs integrates it in one window only."""
    layers = [QuantLinear(2, 2, bias=True, weight_quant=int_weight(4)) for _ in range(3)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(7 * torch.eye(2))
            layer.bias.zero_()
        layers[2].bias.fill_(5 * 49.0)  # 5 in the output layer's unit (1 × spike value 49)
    model = nn.Sequential(layers[0], nn.ReLU(), layers[1], nn.ReLU(), layers[2]).eval()
    scales = {"0": 7.0, "2": 49.0, "4": 49.0 * 7}
    x = np.zeros((1, 2), dtype=np.int64)
    conversion = convert(model, scales, neuron="bistable", timesteps=4 * 4, input_max=4,
                         round_half=False)
    out = conversion.layers[-1]  # integrates P·bias once (phase 2), fires in phase 3
    assert (out.threshold, int(out.bias[0])) == (7, 5)
    expected = (4 * 5) // 7  # one window of P = 4 steps; integrating the bias in phase 0 too gave 3
    counts = run(conversion.netspec, x).counts
    assert counts.tolist() == [[expected, expected]]
    np.testing.assert_array_equal(simulate_snn(conversion, x), counts)


def test_simulation_detects_a_wrong_shortcut_delay():
    torch.manual_seed(1)
    model = build_resnet((1, 8, 8), 2, 3, weight_bits=4, act_bits=2).eval()
    x = DIGITS.x_train[:40]
    conversion = convert(model, activation_scales(model, x), neuron="bistable", timesteps=24)
    spec = conversion.netspec
    layers = list(spec.layers)
    layers[3] = dataclasses.replace(layers[3], delay=0)  # shortcut lands in the fire phase
    wrong = dataclasses.replace(spec, layers=tuple(layers)).validate()
    assert not np.array_equal(run(wrong, x).counts, simulate_snn(conversion, x))


def test_calibrate_readout_prefers_a_resolvable_scale():
    # One large logit (image 0) makes the maximum a scale at which 2 levels merge the close
    # logits of images 1 and 2 into ties.
    logits = np.array([[10.0, 0, 0], [0, 1.2, 0.9], [0, 0.9, 1.2], [0, 0, 2.0]])
    labels = np.array([0, 1, 2, 2])

    def readout_accuracy(lam):
        counts = np.clip(np.floor(2 * logits / lam + 0.5), 0, 2)
        return float((np.argmax(counts, axis=1) == labels).mean())

    assert readout_accuracy(10.0) == 0.25
    assert readout_accuracy(calibrate_readout(logits, labels, levels=2)) == 1.0
    assert calibrate_readout(-np.ones((2, 2)), np.array([0, 1]), 4) == 1.0


@pytest.mark.parametrize("fields, message", [
    ({"architecture": "vgg"},
     r"architecture: expected one of \('mlp', 'resnet', 'deep-mlp'\), found 'vgg'"),
    ({"architecture": "deep-mlp", "depth": 0}, r"depth: expected an integer >= 1, found 0"),
    ({"architecture": "deep-mlp", "width": 2.5}, r"width: expected an integer >= 1, found 2\.5"),
    ({"architecture": "deep-mlp", "depth": 6, "timesteps": 30},
     r"multiple of L \+ 1 = 8 for a bistable deep-mlp"),
    ({"architecture": "deep-mlp", "depth": 90},
     r"depth: expected a deep-mlp whose bistable pass \(L \+ 1\)·P = 276 fits in 255 timesteps"),
    ({"neuron": "lif"}, r"neuron: expected one of \('if', 'bistable'\), found 'lif'"),
    ({"weight_bits": 1}, r"weight_bits: expected an integer in \[2, 8\], found 1"),
    ({"act_bits": 9}, r"act_bits: expected an integer in \[2, 8\], found 9"),
    ({"percentile": 0}, r"percentile: expected a number in \(0, 100\], found 0"),
    ({"output_percentile": 101.0}, r"output_percentile: expected a number in \(0, 100\], found 101"),
    ({"timesteps": 0}, r"timesteps: expected an integer in \[1, 255\], found 0"),
    ({"neuron": "bistable", "timesteps": 10},
     r"timesteps: expected a multiple of L \+ 1 = 4 for a bistable mlp \(T = \(L \+ 1\)·P\), found 10"),
    ({"architecture": "resnet", "neuron": "bistable", "timesteps": 16},
     r"multiple of L \+ 1 = 6 for a bistable resnet"),
    ({"head": "avg"}, r"head: expected one of \('gap', 'flatten'\), found 'avg'"),
    ({"balance": "max"}, r"balance: expected one of \('clip', 'percentile'\), found 'max'"),
    ({"hidden": ()}, r"hidden: expected a non-empty tuple of layer sizes, found \(\)"),
    ({"epochs": True}, r"epochs: expected an integer >= 1, found True"),
    ({"lr": -1.0}, r"lr: expected a positive number, found -1.0"),
])
def test_config_errors_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        ConvertConfig(**fields).validate()


def test_tiny_mlp_conversion_is_exact_and_deterministic():
    config = ConvertConfig(architecture="mlp", neuron="if", timesteps=8, hidden=(16,), epochs=6,
                           train_subset=600, sweep=False)
    first = train_convert(config, progress=False)
    report = first.report
    assert set(CORE_FIELDS) <= set(report)
    assert report["method"] == "convert" and report["neuron"] == "if" and report["timesteps"] == 8
    assert report["count_agreement"] == report["test_images"] == 360
    assert report["golden_accuracy"] == report["snn_simulation_accuracy"]
    assert report["quantized_accuracy"] > 0.5  # the ANN learned something in 6 epochs
    again = train_convert(config, progress=False)
    for a, b in zip(first.netspec.layers, again.netspec.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.neuron == b.neuron


def test_tiny_bistable_resnet_with_sweep_agrees_with_the_golden_model():
    config = ConvertConfig(architecture="resnet", neuron="bistable", channels=2, epochs=1,
                           train_subset=200, timesteps=12)
    result = train_convert(config, data=dataclasses.replace(
        DIGITS, x_test=DIGITS.x_test[:60], y_test=DIGITS.y_test[:60]), progress=False)
    report = result.report
    assert report["count_agreement"] == report["test_images"] == 60
    assert report["phase"] == 2 and result.netspec.layers[3].delay == 4
    details = report["details"]
    sweep = details["accuracy_vs_T"]
    assert [row["timesteps"] for row in sweep["bistable"]] == [6, 12, 18, 24, 30, 36, 48, 54, 72]
    assert [row["timesteps"] for row in sweep["if"]] == [1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32,
                                                         48, 64]
    assert all(row["count_agreement"] == 60 for rows in sweep.values() for row in rows)
    assert all(0 <= row["tied_images"] <= 60 and 0 <= row["membrane_readout_accuracy"] <= 1
               for rows in sweep.values() for row in rows)
    assert set(details["steps_within_1_point"]) == {"if", "bistable"}
    check = details["claim_check"]
    assert (check["if_steps"], check["bistable_steps"]) == (details["steps_within_1_point"]["if"],
                                                            details["steps_within_1_point"]["bistable"])
    assert details["claim"] == check["text"] and "BSNN claim" in details["claim"]


def _rows(points):
    return [{"timesteps": t, "phase": None, "golden_accuracy": a, "tied_images": ties,
             "membrane_readout_accuracy": m} for t, a, ties, m in points]


def test_bsnn_claim_states_both_step_counts():
    sweep = {"if": _rows([(2, 0.80, 50, 0.965), (4, 0.96, 9, 0.97)]),
             "bistable": _rows([(8, 0.90, 30, 0.965), (12, 0.965, 13, 0.97)])}
    check = bsnn_claim(sweep, ann_accuracy=0.97, layers=3)
    assert not check["reproduced"]
    assert (check["if_steps"], check["bistable_steps"], check["bistable_phase"]) == (4, 12, 3)
    assert (check["if_steps_membrane_readout"], check["bistable_steps_membrane_readout"]) == (2, 8)
    assert "NOT reproduced" in check["text"] and "bistable T = 12 (P = 3)" in check["text"]
    assert "plain IF T = 4" in check["text"] and "ties on 13 images" in check["text"]
    sweep["if"] = _rows([(4, 0.90, 0, 0.9)])
    check = bsnn_claim(sweep, ann_accuracy=0.97, layers=3)
    assert check["reproduced"] and "plain IF never within 1 point" in check["text"]


def test_integrated_current_is_the_count_plus_the_remainder():
    """IF, W2 >= 0: the output layer's integrated current is Θ·count plus what is left in V."""
    model = _tiny_net()
    scales = activation_scales(model, X, 100.0, 100.0)
    conversion = convert(model, scales, neuron="if", timesteps=6, input_max=4, round_half=False)
    counts, integrated = simulate_snn(conversion, X, integrated=True)
    theta = conversion.layers[-1].threshold
    remainder = integrated - theta * counts
    assert (remainder >= 0).all() and (remainder < theta).all()


def test_mlp_has_a_bias_in_every_layer():
    model = build_mlp(64, (16, 8), 10)
    assert all(step.module.bias is not None for step in plan(model)[1])


def test_tiny_deep_mlp_is_exact_and_sweeps_if_to_the_longest_t():
    config = ConvertConfig(architecture="deep-mlp", depth=4, width=8, epochs=1, train_subset=200)
    # L = depth + 1 neuron layers; the default bistable phase is one step per 2-bit level (P = 3).
    assert (config.neuron_layers, config.resolved_timesteps()) == (5, 18)
    assert ConvertConfig(architecture="mlp").resolved_timesteps() == 16  # defaults unchanged
    result = train_convert(config, data=dataclasses.replace(
        DIGITS, x_test=DIGITS.x_test[:40], y_test=DIGITS.y_test[:40]), progress=False)
    report = result.report
    assert report["count_agreement"] == report["test_images"] == 40
    assert report["phase"] == 3 and report["timesteps"] == 18
    assert [layer.weights.shape for layer in result.netspec.layers] == \
        [(8, 64), (8, 8), (8, 8), (8, 8), (10, 8)]
    assert result.netspec.metadata["depth"] == 4 and result.netspec.metadata["width"] == 8
    sweep = report["details"]["accuracy_vs_T"]
    assert [row["timesteps"] for row in sweep["if"]][-4:] == [96, 128, 192, 255]
    assert [row["timesteps"] for row in sweep["bistable"]] == [6 * p for p in
                                                               (1, 2, 3, 4, 5, 6, 8, 9, 12)]
    assert all(row["count_agreement"] == 40 for rows in sweep.values() for row in rows)
    assert "BSNN claim" in report["details"]["claim"]
