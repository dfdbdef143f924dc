"""The layer engine that adds two input events per pass (``paired``), against the golden steps.

A pass over the ``G`` groups adds two events' weight rows at once, so a step with ``e`` events
costs about ``ceil(e / 2) · G`` accumulate cycles instead of ``e · G``; the spikes and membranes
must stay those of the golden step, whatever the events' timing (stalls on both streams, odd
event counts, a marker that arrives while a pass runs).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.bounds import analyse
from spikeforge.errors import SpikeforgeError
from spikeforge.hdl.cost import groups
from spikeforge.hdl.layer_engine import LayerEngine
from spikeforge.netspec import NeuronSpec

from test_hdl_layer_engine import adaptive_neuron, check, engine_steps, one_layer, random_images


def spike_images(seed, count, n_in, activity=0.5):
    """Images of 0/1 values: the events a spike-coded layer receives."""
    return random_images(seed, count, n_in, high=1, zero_fraction=1 - activity)


@pytest.mark.parametrize("lanes, n_out", [(4, 12), (5, 12), (3, 16), (1, 3)])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_paired_spikes_and_membranes_match_golden(lanes, n_out, reset):
    spec = one_layer(seed=lanes + n_out, n_in=11, n_out=n_out, weight_bits=1, threshold=4,
                     state_bits=10, reset=reset, input_bits=1, timesteps=4)
    images = spike_images(lanes, 3, 11)
    check(spec, lanes, images, paired=True)


@pytest.mark.parametrize("lanes", [2, 4])
def test_paired_with_stalls_on_both_streams(lanes):
    spec = one_layer(seed=7, n_in=13, n_out=8, weight_bits=1, threshold=3, state_bits=8,
                     input_bits=1, timesteps=5, scale=3)
    check(spec, lanes, spike_images(7, 3, 13), seed=lanes, stall=True, paired=True)


def test_paired_saturating_layer_clamps_like_golden():
    # 5-bit membranes and scale 4: a pair adds ±8, so V + I leaves [-16, 15].
    spec = one_layer(seed=5, n_in=12, n_out=6, weight_bits=1, threshold=9, state_bits=5,
                     input_bits=1, timesteps=6, scale=4, bias_range=3)
    assert analyse(spec)[0].saturates
    check(spec, 3, spike_images(5, 3, 12, activity=0.8), paired=True)


def test_paired_adaptive_neurons_match_golden():
    # Adaptive lanes accumulate into their own field: a pair's ±2·scale goes there too.
    neuron = adaptive_neuron(3, threshold=6, state_bits=10, timesteps=4)
    spec = one_layer(seed=3, n_in=10, n_out=9, weight_bits=1, threshold=6, state_bits=10,
                     input_bits=1, timesteps=4, neuron=neuron)
    check(spec, 4, spike_images(3, 2, 10, activity=0.7), paired=True)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 12), n_out=st.integers(2, 12),
       threshold=st.integers(1, 20), reset=st.sampled_from(["subtract", "zero"]),
       state_bits=st.integers(5, 12), timesteps=st.integers(1, 4), data=st.data())
def test_random_paired_layers_match_golden(seed, n_in, n_out, threshold, reset, state_bits,
                                           timesteps, data):
    threshold = min(threshold, (1 << (state_bits - 1)) - 1)
    lanes = data.draw(st.integers(1, -(-n_out // 2)))  # at least two groups
    spec = one_layer(seed, n_in, n_out, 1, threshold, state_bits, reset,
                     scale=data.draw(st.integers(1, 4)), input_bits=1, timesteps=timesteps,
                     bias_range=min(4, (1 << (state_bits - 1)) - 1))
    images = spike_images(seed, 2, n_in, activity=data.draw(st.floats(0.1, 1.0)))
    check(spec, lanes, images, seed=seed, stall=data.draw(st.booleans()), paired=True)


def test_pairing_halves_the_accumulate_cycles():
    # A silent layer (threshold out of reach): cycles are accumulate, update and overhead only.
    spec = one_layer(seed=3, n_in=16, n_out=32, weight_bits=1, threshold=500, state_bits=12,
                     input_bits=1, timesteps=3)
    image = np.zeros(16, dtype=np.int64)
    image[:10] = 1  # ten events per step
    G = groups(32, 4)
    _, single = engine_steps(spec, 4, [image])
    _, paired = engine_steps(spec, 4, [image], paired=True)
    # Unpaired: 10 events · G per step; paired: the first event starts alone (nothing is staged
    # yet), then pairs: 1 + ceil(9 / 2) = 6 passes of G per step.
    assert single - paired == spec.timesteps * (10 - 6) * G


@pytest.mark.parametrize("change, message", [
    (dict(weight_bits=3), "binary weights (found 3-bit weights)"),
    (dict(input_bits=4), "spike inputs of value 1 (found 4-bit input values)"),
    (dict(lanes=12), "at least 2 lane groups (found 1: 12 neurons on 12 lanes)"),
    (dict(neuron=NeuronSpec("bistable", 4, "zero", 8, phase=2)), "found bistable"),
])
def test_pairing_refuses_what_it_cannot_pair(change, message):
    lanes = change.pop("lanes", 4)
    options = dict(weight_bits=1, input_bits=1) | change
    spec = one_layer(seed=1, n_in=6, n_out=12, threshold=4, state_bits=8, **options)
    with pytest.raises(SpikeforgeError, match="cannot pair events at layer fc") as error:
        LayerEngine(spec.layers[0], analyse(spec)[0], lanes, spec.input.bits, spec.timesteps,
                    paired=True)
    assert message in str(error.value)
