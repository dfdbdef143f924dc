"""snnTorch reproduces the golden executor exactly with the settings of bench/golden_vs_snntorch.py.

Our IF neuron fires on ``V >= θ`` and resets in the same step; snnTorch's ``Leaky`` fires on
``mem > threshold`` and (``reset_delay=True``, its default) subtracts the threshold at its next
call. With ``beta=1``, the membrane started at 0.5 (reset "subtract") or the threshold lowered by
0.5 (reset "zero"), the spikes coincide on integer currents. The last tests show, on hand-worked
sequences, what goes wrong with snnTorch's defaults and with the other tempting settings.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import snntorch
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.golden import run
from spikeforge.golden.neurons import IFParams, if_step
from spikeforge.synthetic import random_netspec

_BENCH = Path(__file__).resolve().parents[1] / "bench" / "golden_vs_snntorch.py"
_spec = importlib.util.spec_from_file_location("golden_vs_snntorch", _BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _golden_neuron(currents, threshold, reset="subtract"):
    """Spikes and post-reset membranes of our integer IF neuron."""
    v = torch.zeros(1, dtype=torch.int64)
    spikes, membranes = [], []
    for current in currents:
        s, v = if_step(torch.tensor([current]), v, IFParams(threshold, reset))
        spikes.append(int(s))
        membranes.append(int(v))
    return spikes, membranes


def _snntorch_neuron(neuron, initial, currents):
    """Spikes of one snnTorch neuron and the membranes it returns, fed one current per call."""
    mem = torch.full((1,), float(initial))
    spikes, membranes = [], []
    with torch.no_grad():
        for current in currents:
            spk, mem = neuron(torch.tensor([float(current)]), mem)
            spikes.append(int(spk.item()))
            membranes.append(float(mem.item()))
    return spikes, membranes


def _leaky(threshold, reset="subtract", reset_delay=True):
    return snntorch.Leaky(beta=1.0, threshold=float(threshold), reset_mechanism=reset,
                          reset_delay=reset_delay, surrogate_disable=True)


# ---- the coinciding settings ------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(threshold=st.integers(1, 60), reset=st.sampled_from(["subtract", "zero"]),
       data=st.data())
def test_single_neuron_spike_trains_and_membranes_coincide(threshold, reset, data):
    currents = data.draw(st.lists(st.integers(-3 * threshold, 3 * threshold), min_size=1,
                                  max_size=40), label="currents")
    ours, our_membranes = _golden_neuron(currents, threshold, reset)
    neuron, initial = bench.leaky(threshold, reset)
    theirs, their_membranes = _snntorch_neuron(neuron, initial, currents)
    assert theirs == ours
    # snnTorch returns the membrane before its (delayed) reset, plus the 0.5 offset for "subtract".
    if reset == "subtract":
        expected = [v + s * threshold + 0.5 for v, s in zip(our_membranes, ours)]
    else:
        expected = [float(v) if not s else None for v, s in zip(our_membranes, ours)]
        their_membranes = [m if not s else None for m, s in zip(their_membranes, theirs)]
    assert their_membranes == expected


_NETWORKS = [
    dict(seed=0),
    dict(seed=1, sizes=(20, 16, 6), timesteps=12, thresholds=(25, 6)),
    dict(seed=2, sizes=(32, 24, 16, 5), weight_bits=(2, 1, 3), thresholds=(20, 8, 5),
         state_bits=(14, 12, 10), timesteps=10),
    dict(seed=3, sizes=(16, 12, 4), weight_bits=(1, 1), thresholds=(7, 3), timesteps=16,
         binary_scale=3),
    dict(seed=4, sizes=(24, 16, 8), reset="zero", thresholds=(30, 5)),
]


@pytest.mark.parametrize("kwargs", _NETWORKS, ids=[f"net{n}" for n in range(len(_NETWORKS))])
def test_random_networks_same_spike_trains_every_layer(kwargs):
    spec = random_netspec(**kwargs)
    rng = np.random.default_rng(100 + kwargs["seed"])
    images = rng.integers(0, spec.input.value_max + 1, (200, spec.input.size))
    reference = run(spec, images, record=True)
    counts, trains = bench.run_snntorch(bench.build_snntorch(spec), spec.timesteps, images,
                                        record=True)
    np.testing.assert_array_equal(counts, reference.counts)
    for layer, ours, theirs in zip(spec.layers, reference.trains, trains):
        np.testing.assert_array_equal(theirs, ours, err_msg=f"layer {layer.name}")
    assert reference.layer_spikes.sum() > 0  # the comparison saw spikes


def test_digits_images_on_a_random_network():
    from sklearn.datasets import load_digits

    images = load_digits().data.astype(np.int64)[:400]
    spec = random_netspec(seed=7)  # 64-32-10, input 0..16 like the digits
    counts = bench.run_snntorch(bench.build_snntorch(spec), spec.timesteps, images)
    np.testing.assert_array_equal(counts, run(spec, images).counts)


def test_networks_snntorch_cannot_reproduce_are_refused():
    saturating = random_netspec(seed=0, state_bits=(9, 12))
    with pytest.raises(ValueError, match="saturate"):
        bench.build_snntorch(saturating)


# ---- why the settings matter: where snnTorch differs otherwise -------------------------------

def test_defaults_miss_a_membrane_exactly_at_threshold():
    # θ = 5: V = 3, then V = 5 == θ. We fire (V >= θ); snnTorch's default compares mem > θ.
    currents = [3, 2, 0]
    assert _golden_neuron(currents, 5)[0] == [0, 1, 0]
    assert _snntorch_neuron(_leaky(5), 0.0, currents)[0] == [0, 0, 0]


def test_threshold_lowered_by_half_drifts_with_reset_by_subtraction():
    # θ − 0.5 turns '>' into '>=', but snnTorch's reset then subtracts θ − 0.5, so every spike
    # leaves 0.5 too much in the membrane: after two spikes V = 2 passes θ = 3.
    currents = [3, 3, 2]
    assert _golden_neuron(currents, 3) == ([1, 1, 0], [0, 0, 2])
    assert _snntorch_neuron(_leaky(2.5), 0.0, currents)[0] == [1, 1, 1]


def test_reset_delay_false_misses_spikes_when_the_residue_is_above_threshold():
    # θ = 2, I = 5: V = 5 fires and keeps 3, still >= θ, so we fire again with no input.
    # With reset_delay=False snnTorch sees its carried membrane above threshold, subtracts θ once
    # more before comparing (its guard against a double reset) and stays silent.
    currents = [5, 0, 0]
    assert _golden_neuron(currents, 2) == ([1, 1, 0], [3, 1, 1])
    assert _snntorch_neuron(_leaky(2, reset_delay=False), 0.5, currents)[0] == [1, 0, 0]
    # The chosen settings (reset_delay=True, membrane from 0.5) fire both times.
    assert _snntorch_neuron(*bench.leaky(2), currents)[0] == [1, 1, 0]


def test_offset_membrane_is_lost_by_reset_to_zero():
    # For reset "zero" the half unit must go into the threshold: a reset to 0 drops a 0.5 offset,
    # so the next exact-threshold membrane is missed.
    currents = [4, 4]
    assert _golden_neuron(currents, 4, "zero")[0] == [1, 1]
    assert _snntorch_neuron(_leaky(4, "zero"), 0.5, currents)[0] == [1, 0]
    assert _snntorch_neuron(*bench.leaky(4, "zero"), currents)[0] == [1, 1]
