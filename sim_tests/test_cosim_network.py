"""cocotb co-simulation of whole networks on Verilator and Icarus, bit-exact against the golden model."""

import numpy as np
import pytest

from spikeforge.cosim import run_cosim
from spikeforge.errors import MismatchError
from spikeforge.hdl.verilog import generate_verilog
from spikeforge.synthetic import random_netspec

SIMULATORS = ["verilator", "icarus"]


def _prepare(tmp_path, spec, lanes, hierarchy=False):
    netspec_path = spec.save(tmp_path / "net.npz")
    verilog_path = tmp_path / "spikeforge_top.v"
    verilog_path.write_text(generate_verilog(spec, lanes, hierarchy=hierarchy))
    return netspec_path, verilog_path


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_network_is_bit_exact(tmp_path, simulator):
    spec = random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8))
    netspec_path, verilog_path = _prepare(tmp_path, spec, [4, 5])
    images = np.random.default_rng(7).integers(0, 17, (6, 16))
    images[1] = 0  # an all-zero image: no input events at all
    result = run_cosim(netspec_path, verilog_path, images, tmp_path / "run", simulator=simulator)
    assert result.passed, result.mismatches
    assert len(result.images) == 6
    assert all(record["observed"] == record["expected"] for record in result.images)
    assert all(record["cycles"] > 0 for record in result.images)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("kind, encoding", [("mtlif", "rate"), ("bistable", "hybrid"),
                                            ("lif", "latency"), ("adaptive", "hybrid"),
                                            ("adaptive", "rate")])
def test_other_neurons_and_encodings_are_bit_exact(tmp_path, simulator, kind, encoding):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_hdl_network import kind_netspec

    spec = kind_netspec(3, kind, encoding)
    netspec_path, verilog_path = _prepare(tmp_path, spec, [4, 5])
    images = np.random.default_rng(3).integers(0, 17, (4, 12))
    result = run_cosim(netspec_path, verilog_path, images, tmp_path / "run", simulator=simulator)
    assert result.passed, result.mismatches


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_mismatch_names_image_layer_neuron_and_values(tmp_path, simulator):
    """Verilog of one network checked against a NetSpec that differs in one threshold must fail."""
    spec = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8))
    _, verilog_path = _prepare(tmp_path, spec, [4, 5])
    other = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 2),
                           state_bits=(12, 8))
    other_path = other.save(tmp_path / "other.npz")
    images = np.random.default_rng(3).integers(0, 17, (4, 16))
    with pytest.raises(MismatchError) as info:
        run_cosim(other_path, verilog_path, images, tmp_path / "run", simulator=simulator)
    message = str(info.value)
    assert "RTL differs from the golden model" in message
    assert "layer fc2, neuron" in message and "golden" in message and "RTL" in message


def _first_divergence(reference, hardware, image, layers):
    """The debug message expected when the RTL computes ``hardware`` and golden ``reference``.

    Both are ``run(record=True)`` results. Layers in order, steps in order; at one step a spike
    difference comes before a membrane difference; the lowest differing neuron is named.
    """
    T = reference.trains[0].shape[0]
    for layer, want_s, got_s, want_v, got_v in zip(layers, reference.trains, hardware.trains,
                                                    reference.membranes, hardware.membranes):
        for t in range(T):
            for what, want, got in (("spike", want_s, got_s), ("membrane", want_v, got_v)):
                differ = np.flatnonzero(want[t, image] != got[t, image])
                if differ.size:
                    n = int(differ[0])
                    when = f"step {t} (final)" if what == "membrane" and t == T - 1 else f"step {t}"
                    return (f"first divergence: layer {layer.name}, {when}, neuron {n}: golden "
                            f"{what} {want[t, image, n]}, RTL {what} {got[t, image, n]}")
    return None


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_debug_mode_names_the_first_diverging_layer_step_and_neuron(tmp_path, simulator):
    spec = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8), reset="zero")
    _, verilog_path = _prepare(tmp_path, spec, [4, 5], hierarchy=True)  # monitors probe inside
    # The reference differs from the hardware in one threshold of the first layer. With reset to
    # zero the membranes part only where the spikes do: the spike is named first.
    other = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(22, 6),
                           state_bits=(12, 8), reset="zero")
    images = np.random.default_rng(3).integers(0, 17, (4, 16))
    from spikeforge.golden import run
    golden, hardware = run(other, images, record=True), run(spec, images, record=True)
    spikes_differ = golden.trains[0] != hardware.trains[0]
    image, step, neuron = (int(i) for i in np.argwhere(spikes_differ.transpose(1, 0, 2))[0])
    expected = (f"first divergence: layer fc1, step {step}, neuron {neuron}: golden spike "
                f"{golden.trains[0][step, image, neuron]}, RTL spike "
                f"{hardware.trains[0][step, image, neuron]}")
    assert _first_divergence(golden, hardware, image, spec.layers) == expected
    result = run_cosim(other.save(tmp_path / "other.npz"), verilog_path, images, tmp_path / "run",
                       simulator=simulator, raise_on_mismatch=False, debug=True)
    assert [record["first_divergence"] for record in result.images] == [
        _first_divergence(golden, hardware, i, spec.layers) for i in range(len(images))]
    assert result.images[image]["first_divergence"] == expected
    # A network that matches reports no divergence in debug mode, and the membranes it ended
    # each image with are the golden final membranes.
    clean = run_cosim(spec.save(tmp_path / "same.npz"), verilog_path, images, tmp_path / "run2",
                      simulator=simulator, debug=True)
    assert all(record["first_divergence"] is None for record in clean.images)
    for index, record in enumerate(clean.images):
        for layer, membranes in zip(spec.layers, hardware.membranes):
            assert record["final_membranes"][layer.name] == membranes[-1, index].tolist()
    assert any(v != 0 for record in clean.images for v in record["final_membranes"]["fc2"])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_debug_mode_reports_a_membrane_divergence_without_any_spike_difference(tmp_path, simulator):
    """The reference differs in one bias of the last layer by 1: same spikes, other membranes."""
    import dataclasses

    from spikeforge.golden import run
    from spikeforge.netspec import NetSpec

    spec = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8))
    images = np.random.default_rng(3).integers(0, 17, (3, 16))
    hardware = run(spec, images, record=True)
    other = None
    for neuron in range(spec.layers[1].n_out):  # the first bias change the spikes do not see
        for delta in (1, -1):
            bias = spec.layers[1].bias.copy()
            bias[neuron] += delta
            layers = (spec.layers[0], dataclasses.replace(spec.layers[1], bias=bias))
            candidate = NetSpec(spec.input, layers, spec.timesteps).validate()
            golden = run(candidate, images, record=True)
            if all(np.array_equal(a, b) for a, b in zip(golden.trains, hardware.trains)):
                other = candidate
                break
        if other is not None:
            break
    assert other is not None, "the test needs a bias change that leaves every spike alone"
    assert not np.array_equal(golden.membranes[1], hardware.membranes[1])
    _, verilog_path = _prepare(tmp_path, spec, [4, 5], hierarchy=True)
    result = run_cosim(other.save(tmp_path / "other.npz"), verilog_path, images, tmp_path / "run",
                       simulator=simulator, raise_on_mismatch=False, debug=True)
    for index, record in enumerate(result.images):
        assert record["match"], "equal spikes give equal counts"
        expected = _first_divergence(golden, hardware, index, spec.layers)
        assert expected is not None and "membrane" in expected and "layer fc2" in expected
        assert record["first_divergence"] == expected
    assert result.mismatches == [f"image {i}: {_first_divergence(golden, hardware, i, spec.layers)}"
                                 for i in range(len(images))]


# Icarus in the default run; the Verilator build of a hierarchical design takes a minute more.
@pytest.mark.parametrize("simulator", [pytest.param("verilator", marks=pytest.mark.slow), "icarus"])
def test_debug_mode_follows_image_layers(tmp_path, simulator):
    """Debug mode on conv, pool, residual and flatten layers: final membranes in NCHW order, and a
    divergence in a conv layer's membranes named at that layer."""
    import dataclasses
    import sys
    from pathlib import Path

    from spikeforge.golden import run
    from spikeforge.netspec import NetSpec

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conv_harness import conv_residual_net, images_for

    spec = conv_residual_net(1, source_pool=True, timesteps=4, seed=2)  # c1 p0 c2 res flat out
    images = images_for(spec, 3, 2)
    hardware = run(spec, images, record=True)
    _, verilog_path = _prepare(tmp_path, spec, [2, 1, 3, 5, 1, 16], hierarchy=True)
    clean = run_cosim(spec.save(tmp_path / "same.npz"), verilog_path, images, tmp_path / "run",
                      simulator=simulator, debug=True)
    assert all(record["first_divergence"] is None for record in clean.images)
    for index, record in enumerate(clean.images):
        for layer, membranes in zip(spec.layers, hardware.membranes):
            if not layer.stateless:
                assert record["final_membranes"][layer.name] == membranes[-1, index].tolist()
    assert any(v != 0 for record in clean.images for v in record["final_membranes"]["c1"])

    # The reference's stem differs in one channel's bias: named at c1 (spike or membrane).
    bias = spec.layers[0].bias.copy()
    bias[1] += 1
    other = NetSpec(spec.input, (dataclasses.replace(spec.layers[0], bias=bias),)
                    + spec.layers[1:], spec.timesteps).validate()
    golden = run(other, images, record=True)
    result = run_cosim(other.save(tmp_path / "other.npz"), verilog_path, images, tmp_path / "run2",
                       simulator=simulator, raise_on_mismatch=False, debug=True)
    expected = [_first_divergence(golden, hardware, i, spec.layers) for i in range(len(images))]
    assert all(line is not None and "layer c1," in line for line in expected)
    assert [record["first_divergence"] for record in result.images] == expected
