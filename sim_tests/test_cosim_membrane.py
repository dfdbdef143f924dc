"""The membrane readout co-simulated on Verilator and Icarus: signed membranes bit-exact against the
golden executor through the batch, the fast and the per-cycle testbenches; a wrong reference is
caught naming image, layer, neuron, step and both values.

The networks are a handful of explicit ones and a few hypothesis draws of their own seed turned
into membrane readouts; the pinned random sets (test_cosim_random.py) keep counting spikes.
"""

import dataclasses

import numpy as np
import pytest

from spikeforge.bounds import analyse
from spikeforge.cosim import run_cosim
from spikeforge.cosim.batch import run_batch, write_batch
from spikeforge.cosim.fast import run_fast_cosim
from spikeforge.errors import MismatchError
from spikeforge.golden import run
from spikeforge.hdl.network import SUPPORTED_NEURONS
from spikeforge.hdl.verilog import generate_verilog
from spikeforge.synthetic import RandomNetwork, draw_networks, network_strategy, random_netspec

SIMULATORS = ["verilator", "icarus"]
DRAWN, DRAW_SEED = 8, 5  # draws with every neuron kind as the last layer


def membrane(spec):
    return dataclasses.replace(spec, readout="membrane").validate()


def _explicit():
    """IF with signed results, a saturating last layer, T = 1, and every neuron kind's recipe."""
    rng = np.random.default_rng(11)
    nets = [
        (random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                        state_bits=(12, 10)), (4, 2)),
        (random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 4), timesteps=6,
                        thresholds=(20, 2), state_bits=(10, 5)), (2, 3)),
        (random_netspec(seed=8, sizes=(20, 12, 5), timesteps=1, thresholds=(30, 5),
                        state_bits=(12, 8)), (4, 5)),
    ]
    networks = []
    for index, (spec, lanes) in enumerate(nets):
        images = rng.integers(0, spec.input.value_max + 1, (3, spec.input.size))
        networks.append(RandomNetwork(membrane(spec), lanes, images, index))
    return networks


@pytest.fixture(scope="module")
def membrane_batch(tmp_path_factory):
    drawn = draw_networks(network_strategy(SUPPORTED_NEURONS), DRAWN, DRAW_SEED)
    networks = _explicit() + [dataclasses.replace(n, spec=membrane(n.spec)) for n in drawn]
    return networks, write_batch(networks, tmp_path_factory.mktemp("membrane_batch"))


def test_the_batch_covers_signs_saturation_and_kinds(membrane_batch):
    networks, _ = membrane_batch
    values = np.concatenate([run(n.spec, n.images).counts.ravel() for n in networks])
    assert (values < 0).any() and (values > 0).any()
    assert any(analyse(n.spec)[-1].saturates for n in networks)
    assert set(SUPPORTED_NEURONS) <= {n.spec.layers[-1].neuron.kind for n in networks}


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_membrane_networks_are_bit_exact(membrane_batch, simulator):
    networks, design = membrane_batch
    result = run_batch(design, simulator)
    assert result.passed and len(result.networks) == len(networks)
    observed = [image["observed"] for network in result.networks for image in network["images"]]
    expected = [row for n in networks for row in run(n.spec, n.images).counts.tolist()]
    assert observed == expected


def _spec(bias_shift=0):
    spec = membrane(random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                   state_bits=(12, 10)))
    if bias_shift:
        last = spec.layers[-1]
        bias = last.bias.copy()
        bias[2] += bias_shift
        spec = dataclasses.replace(spec, layers=(spec.layers[0],
                                                 dataclasses.replace(last, bias=bias)))
    return spec


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_fast_path_reads_signed_membranes(tmp_path, simulator):
    spec = _spec()
    verilog = tmp_path / "spikeforge_top.v"
    verilog.write_text(generate_verilog(spec, [4, 2]))
    images = np.random.default_rng(7).integers(0, 17, (4, 16))
    result = run_fast_cosim(spec.save(tmp_path / "net.npz"), verilog, images, tmp_path / "run",
                            simulator=simulator)
    golden = run(spec, images).counts
    assert (golden < 0).any()
    assert result.passed and [r["observed"] for r in result.images] == golden.tolist()


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_mismatch_names_image_layer_neuron_step_and_values(tmp_path, simulator):
    """Hardware of one network, checked (per-cycle testbench) against one whose last bias differs."""
    hardware, other = _spec(), _spec(bias_shift=-3)
    verilog = tmp_path / "spikeforge_top.v"
    verilog.write_text(generate_verilog(hardware, [4, 2]))
    images = np.random.default_rng(7).integers(0, 17, (2, 16))
    with pytest.raises(MismatchError) as info:
        run_cosim(other.save(tmp_path / "other.npz"), verilog, images, tmp_path / "run",
                  simulator=simulator)
    want, got = run(other, images).counts, run(hardware, images).counts
    assert (want[:, 2] != got[:, 2]).all()
    assert (f"image 0: layer fc2, neuron 2, membrane after step 3: golden {want[0, 2]}, "
            f"RTL {got[0, 2]}") in str(info.value)
