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
                                            ("lif", "latency")])
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


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_debug_mode_names_the_first_diverging_layer_step_and_neuron(tmp_path, simulator):
    spec = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8))
    _, verilog_path = _prepare(tmp_path, spec, [4, 5], hierarchy=True)  # monitors probe inside
    # The reference differs from the hardware in one threshold of the first layer.
    other = random_netspec(seed=3, sizes=(16, 12, 5), timesteps=4, thresholds=(29, 6),
                           state_bits=(12, 8))
    images = np.random.default_rng(3).integers(0, 17, (4, 16))
    from spikeforge.golden import run
    golden = run(other, images, record=True).trains[0]
    hardware = run(spec, images, record=True).trains[0]
    image, step, neuron = (int(i) for i in np.argwhere(golden.transpose(1, 0, 2) != hardware.transpose(1, 0, 2))[0])
    result = run_cosim(other.save(tmp_path / "other.npz"), verilog_path, images, tmp_path / "run",
                       simulator=simulator, raise_on_mismatch=False, debug=True)
    assert result.images[image]["first_divergence"] == (
        f"first divergence: layer fc1, step {step}, neuron {neuron}: golden spike "
        f"{golden[step, image, neuron]}, RTL spike {hardware[step, image, neuron]}")
    # A network that matches reports no divergence in debug mode.
    clean = run_cosim(spec.save(tmp_path / "same.npz"), verilog_path, images, tmp_path / "run2",
                      simulator=simulator, debug=True)
    assert all(record["first_divergence"] is None for record in clean.images)
