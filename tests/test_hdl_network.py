"""Whole NetworkTop in Amaranth's simulator against the golden executor, on random networks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.golden import run
from spikeforge.hdl.network import predicted_cycles
from spikeforge.synthetic import random_netspec

from hdl_harness import simulate_network


def _check(spec, lanes, images):
    counts, cycles = simulate_network(spec, lanes, images)
    expected = run(spec, images).counts.tolist()
    for index, (want, got) in enumerate(zip(expected, counts)):
        assert got == want, f"image {index}: golden {want}, RTL {got}"
    return cycles


@pytest.mark.parametrize("lanes", [[4, 5], [3, 2], [12, 5], [1, 1]])
def test_lanes_dividing_or_not(lanes):
    spec = random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8))
    images = np.random.default_rng(7).integers(0, 17, (3, 16))
    images[1] = 0
    _check(spec, lanes, images)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_modes_and_int_weights_first(reset):
    spec = random_netspec(seed=2, sizes=(10, 9, 4), weight_bits=(3, 1), timesteps=5,
                          thresholds=(12, 3), state_bits=(10, 8), reset=reset)
    images = np.random.default_rng(2).integers(0, 17, (3, 10))
    _check(spec, [3, 4], images)


def test_saturating_layer():
    spec = random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                          thresholds=(60, 2), state_bits=(7, 4))
    from spikeforge.bounds import analyse
    assert analyse(spec)[0].saturates
    images = np.random.default_rng(4).integers(0, 17, (3, 8))
    _check(spec, [2, 3], images)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 12), n_hidden=st.integers(1, 10),
       n_out=st.integers(1, 6), bits=st.sampled_from([(1, 4), (4, 1), (2, 8), (1, 1)]),
       timesteps=st.integers(1, 5), data=st.data())
def test_random_networks_match_golden(seed, n_in, n_hidden, n_out, bits, timesteps, data):
    theta1 = data.draw(st.integers(1, 40))
    theta2 = data.draw(st.integers(1, 8))
    spec = random_netspec(seed=seed, sizes=(n_in, n_hidden, n_out), weight_bits=bits,
                          timesteps=timesteps, thresholds=(theta1, theta2), state_bits=(12, 9),
                          reset=data.draw(st.sampled_from(["subtract", "zero"])))
    lanes = [data.draw(st.integers(1, n_hidden)), data.draw(st.integers(1, n_out))]
    images = np.random.default_rng(seed).integers(0, 17, (2, n_in))
    _check(spec, lanes, images)


def test_cycles_follow_the_cost_model():
    spec = random_netspec(seed=5, sizes=(64, 32, 10), timesteps=4, thresholds=(40, 10))
    images = np.random.default_rng(5).integers(0, 17, (2, 64))
    images[images < 8] = 0
    cycles = _check(spec, [8, 10], images)
    golden = run(spec, images[:1])
    spikes = golden.layer_spikes[:, :].mean(axis=1)
    model = predicted_cycles(spec, [8, 10], int((images[0] != 0).sum()), spikes)
    # The layers overlap in time, so the measured latency stays at or under the serial model
    # plus a few cycles of pipeline per step and layer.
    assert cycles[0] <= model["total"] + 8 * spec.timesteps * len(spec.layers)
    assert cycles[0] >= 0.5 * model["total"]


# ---- every neuron kind and encoding the generator builds ---------------------------------------

import dataclasses  # noqa: E402

from spikeforge.netspec import NetSpec, NeuronSpec  # noqa: E402


def _neuron(kind, threshold, rng, state_bits=12):
    if kind == "lif":
        leak = rng.choice(["shift", "factor"])
        if leak == "shift":
            return NeuronSpec("lif", threshold, state_bits=state_bits, leak="shift",
                              leak_shift=int(rng.integers(1, 4)))
        return NeuronSpec("lif", threshold, state_bits=state_bits, leak="factor",
                          leak_factor=int(rng.integers(0, 17)), frac_bits=4)
    if kind == "mtlif":
        return NeuronSpec("mtlif", threshold, state_bits=state_bits, levels=int(rng.integers(1, 5)),
                          leak="shift", leak_shift=2, reset=str(rng.choice(["subtract", "zero"])))
    if kind == "bistable":
        return NeuronSpec("bistable", threshold, state_bits=state_bits, phase=2)
    return NeuronSpec("if", threshold, state_bits=state_bits)


def kind_netspec(seed, kind, encoding, sizes=(12, 9, 5), timesteps=6):
    rng = np.random.default_rng(seed)
    base = random_netspec(seed=seed, sizes=sizes, timesteps=timesteps, thresholds=(25, 4),
                          state_bits=(12, 10), weight_bits=(1, 4) if seed % 2 else (3, 1))
    inp = dataclasses.replace(base.input, encoding=encoding)
    if encoding in ("rate", "latency"):
        base = random_netspec(seed=seed, sizes=sizes, timesteps=timesteps, thresholds=(3, 4),
                              state_bits=(12, 10), weight_bits=(4, 2))
    layers = tuple(dataclasses.replace(layer, neuron=_neuron(kind, layer.neuron.threshold, rng))
                   for layer in base.layers)
    return NetSpec(inp, layers, timesteps).validate()


@pytest.mark.parametrize("kind", ["if", "lif", "mtlif", "bistable"])
@pytest.mark.parametrize("encoding", ["direct", "rate", "latency", "hybrid"])
def test_every_kind_and_encoding_matches_golden(kind, encoding):
    spec = kind_netspec(3, kind, encoding)
    images = np.random.default_rng(3).integers(0, 17, (2, 12))
    _check(spec, [4, 5], images)
    # The first layer alone: its counts show every spike (and graded value) it sent.
    first = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    assert run(first, images).counts.sum() > 0, "the test network must be active"
    _check(first, [4], images)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["if", "lif", "mtlif", "bistable"]),
       encoding=st.sampled_from(["direct", "rate", "latency", "hybrid"]), data=st.data())
def test_random_kinds_match_golden(seed, kind, encoding, data):
    spec = kind_netspec(seed, kind, encoding, timesteps=data.draw(st.integers(1, 6)))
    if data.draw(st.booleans()):  # one layer: every spike of it reaches the readout
        spec = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    lanes = [data.draw(st.integers(1, 9)), data.draw(st.integers(1, 5))][:len(spec.layers)]
    images = np.random.default_rng(seed).integers(0, 17, (2, 12))
    _check(spec, lanes, images)
