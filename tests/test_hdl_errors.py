"""The hardware generator refuses what it cannot build, naming the layer, before any Verilog."""

import dataclasses

import numpy as np
import pytest

from spikeforge.errors import SpikeforgeError
from spikeforge.hdl.network import NetworkTop
from spikeforge.hdl.verilog import describe, generate_verilog
from spikeforge.netspec import NetSpec, NeuronSpec
from spikeforge.synthetic import random_netspec


def test_lanes_out_of_range_name_the_layer_and_limit():
    spec = random_netspec()
    with pytest.raises(SpikeforgeError, match=r"lanes out of range at layer fc2: expected 1 <= lanes <= 10 \(its neurons\), found 11"):
        generate_verilog(spec, [8, 11])
    with pytest.raises(SpikeforgeError, match=r"lanes out of range at layer fc1: expected 1 <= lanes <= 32 \(its neurons\), found 0"):
        generate_verilog(spec, [0, 10])


@pytest.mark.parametrize("lanes, message", [
    ([8], r"wrong number of lanes at lanes: expected 2 values, one per layer, found 1 values"),
    (8, r"lanes must be a sequence of integers at lanes: expected 2 integers, one per layer, found 8"),
    ("8,10", r"lanes must be a sequence of integers at lanes: expected 2 integers, one per layer, "
             r"found '8,10'"),
    ([8.0, 10], r"lanes value is not an integer at layer fc1: expected an integer in 1\.\.32, "
                r"found 8\.0"),
    ([8, True], r"lanes value is not an integer at layer fc2: expected an integer in 1\.\.10, "
                r"found True"),
])
def test_malformed_lanes_are_refused(lanes, message):
    with pytest.raises(SpikeforgeError, match=message):
        generate_verilog(random_netspec(), lanes)


def test_refusal_comes_before_any_hardware(tmp_path):
    """describe, NetworkTop and generate_verilog all check the lanes first and write nothing."""
    spec = random_netspec()
    for call in (lambda: describe(spec, [33, 10]), lambda: NetworkTop(spec, [33, 10]),
                 lambda: generate_verilog(spec, [33, 10])):
        with pytest.raises(SpikeforgeError, match="lanes out of range at layer fc1"):
            call()
    assert list(tmp_path.iterdir()) == []
    # numpy integers are integers
    assert describe(spec, np.array([8, 10]))["lanes"] == [8, 10]


def test_every_neuron_kind_of_the_netspec_has_hardware():
    from spikeforge.hdl.network import SUPPORTED_NEURONS
    from spikeforge.netspec import NEURON_KINDS

    assert set(SUPPORTED_NEURONS) == set(NEURON_KINDS)


def test_neuron_kind_without_hardware_is_refused(monkeypatch):
    """A kind the generator lacks (here adaptive, taken out of the list) is refused by name."""
    import spikeforge.hdl.network as network

    monkeypatch.setattr(network, "SUPPORTED_NEURONS", ("if", "lif", "mtlif", "bistable"))
    spec = random_netspec()
    adaptive = dataclasses.replace(spec.layers[1], neuron=NeuronSpec(
        "adaptive", 10, state_bits=12, frac_bits=2, decay_table=(4,) * 8, gain_table=(4,) * 8))
    spec = NetSpec(spec.input, (spec.layers[0], adaptive), spec.timesteps).validate()
    with pytest.raises(SpikeforgeError, match=r"neuron kind not supported by the hardware generator at layer fc2: expected one of \('if', 'lif', 'mtlif', 'bistable'\), found 'adaptive'"):
        generate_verilog(spec)


def test_encoding_without_hardware_is_refused(monkeypatch):
    # Every NetSpec encoding has hardware now (events since issue 5); the refusal stays for a
    # generator that lacks one. (Layer kinds without an engine are pinned in
    # test_hdl_conv_network.py.)
    from spikeforge.hdl import network

    monkeypatch.setattr(network, "SUPPORTED_ENCODINGS", ("direct", "rate", "latency", "hybrid"))
    events = dataclasses.replace(random_netspec().input, encoding="events")
    spec = NetSpec(events, random_netspec().layers, 8).validate()
    with pytest.raises(SpikeforgeError, match=r"input encoding not supported by the hardware generator at input.encoding: expected one of \('direct', 'rate', 'latency', 'hybrid'\), found 'events'"):
        generate_verilog(spec)


def test_events_encoding_is_built():
    events = dataclasses.replace(random_netspec().input, encoding="events")
    spec = NetSpec(events, random_netspec().layers, 8).validate()
    assert "module spikeforge_top" in generate_verilog(spec)
    assert describe(spec)["input_values_per_image"] == 8 * spec.input.size
