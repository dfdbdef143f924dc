"""The membrane readout: NetSpec field, bounds of a non-spiking last layer, golden executor."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from spikeforge import netspec
from spikeforge.bounds import analyse, readout_bits, readout_signed
from spikeforge.errors import NetSpecError
from spikeforge.golden import run
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec
from spikeforge.hdl.network import SUPPORTED_NEURONS  # every kind the hardware builds
from spikeforge.synthetic import network_strategy, random_netspec


def membrane(spec: NetSpec) -> NetSpec:
    """The same network with a membrane readout (its last layer non-spiking)."""
    return dataclasses.replace(spec, readout="membrane").validate()


def one_layer(weights, bias, neuron, timesteps=4, readout="membrane", size=2):
    return NetSpec(InputSpec(size=size, encoding="direct", bits=4, max_value=1),
                   (LayerSpec("out", "linear", np.array(weights), 4, np.array(bias), neuron),),
                   timesteps, readout=readout).validate()


def test_round_trip_keeps_the_readout(tmp_path):
    spec = membrane(random_netspec())
    loaded = netspec.load(spec.save(tmp_path / "net.npz"))
    assert loaded.readout == "membrane" and loaded.fires(0) and not loaded.fires(-1)


def test_unknown_readout_is_named(tmp_path):
    spec = dataclasses.replace(random_netspec(), readout="logits")
    with pytest.raises(NetSpecError, match=r"unknown readout at netspec:readout: expected one of "
                                           r"\('spike_count', 'membrane'\), found 'logits'"):
        spec.validate()


def test_membrane_readout_needs_neurons_in_the_last_layer():
    spec = random_netspec()
    flat = LayerSpec("flat", "flatten", None, 1, None, netspec.NONE_NEURON)
    bad = dataclasses.replace(spec, layers=spec.layers + (flat,), readout="membrane")
    with pytest.raises(NetSpecError, match=r"last layer has no membranes to read out at "
                                           r"netspec:layers\[2\]\.kind: expected a layer with "
                                           r"neurons \(membrane readout\), found 'flatten'"):
        bad.validate()


def test_non_spiking_if_layer_integrates_past_the_threshold():
    # I = 3·1 + 2·1 + 1 = 6 per step, threshold 5: counts would fire; membranes just add up.
    spec = one_layer([[3, 2], [1, -2]], [1, 0], NeuronSpec("if", threshold=5, state_bits=8))
    result = run(spec, np.array([[1, 1]]), record=True)
    assert result.counts.tolist() == [[24, -4]] and result.values is result.counts
    assert result.predictions.tolist() == [0] and result.readout == "membrane"
    assert result.trains[0].sum() == 0  # never fires
    assert result.membranes[0][:, 0, 0].tolist() == [6, 12, 18, 24]
    assert readout_bits(spec) == 8 and readout_signed(spec)
    counting = dataclasses.replace(spec, readout="spike_count")
    assert run(counting, np.array([[1, 1]])).counts.tolist() == [[4, 0]]
    assert readout_bits(counting) == 3 and not readout_signed(counting)


def test_non_spiking_layer_saturates_identically_in_bounds_and_golden():
    # +6 per step on 5-bit membranes: 6, 12, 15 (clamped), 15; -1 per step: -1, -2, -3, -4.
    spec = one_layer([[3, 2], [1, -2]], [1, 0], NeuronSpec("if", threshold=5, state_bits=5))
    bound = analyse(spec)[0]
    assert bound.saturates and (bound.membrane_low, bound.membrane_high) == (-8, 21)
    result = run(spec, np.array([[1, 1]]), record=True)
    assert result.membranes[0][:, 0, 0].tolist() == [6, 12, 15, 15]
    assert result.counts.tolist() == [[15, -4]]
    # The same layer firing stays below the threshold: no saturation.
    assert not analyse(dataclasses.replace(spec, readout="spike_count"))[0].saturates


def test_lif_leaks_and_ties_go_to_the_lowest_index():
    # V ← V − (V >> 1) + 4: 4, 6, 7, 8 for both neurons (identical rows): prediction 0.
    neuron = NeuronSpec("lif", threshold=3, state_bits=8, leak="shift", leak_shift=1)
    spec = one_layer([[2, 2], [2, 2]], [0, 0], neuron)
    result = run(spec, np.array([[1, 1]]))
    assert result.counts.tolist() == [[8, 8]] and result.predictions.tolist() == [0]


def test_adaptive_and_mtlif_last_layers_never_fire():
    adaptive = NeuronSpec("adaptive", threshold=2, state_bits=10, frac_bits=1,
                          decay_table=(2, 1, 2), gain_table=(2, 4, 2))
    # V: (0 + 2·3)>>1 = 3; (1·3)>>1 + (4·3)>>1 = 1 + 6 = 7; (2·7)>>1 + 3 = 10.
    spec = one_layer([[3, 0]], [0], adaptive, timesteps=3)
    assert run(spec, np.array([[1, 0]])).counts.tolist() == [[10]]
    mtlif = NeuronSpec("mtlif", threshold=2, state_bits=10, levels=3)
    spec = one_layer([[3, 0]], [0], mtlif, timesteps=3)
    assert run(spec, np.array([[1, 0]])).counts.tolist() == [[9]]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(network_strategy(SUPPORTED_NEURONS))
def test_only_the_last_layer_changes(network):
    """Earlier layers spike as with counts; the readout is the last layer's recorded V at T - 1,
    which a plain-Python loop over that layer's input spikes reproduces for IF layers."""
    spec = membrane(network.spec)
    counting = run(network.spec, network.images, record=True)
    result = run(spec, network.images, record=True)
    T = spec.timesteps
    for before, after in zip(counting.trains[:-1], result.trains[:-1]):
        assert np.array_equal(before, after)
    assert result.trains[-1].sum() == 0
    assert np.array_equal(result.counts, result.membranes[-1][T - 1])
    assert np.array_equal(result.predictions, np.argmax(result.counts, axis=1))
    last, bound = spec.layers[-1], analyse(spec)[-1]
    assert (result.counts >= bound.state_low).all() and (result.counts <= bound.state_high).all()
    if last.neuron.kind == "if" and len(spec.layers) > 1:
        spikes = counting.trains[-2]  # (T, batch, n_in)
        v = np.zeros((len(network.images), last.n_out), np.int64)
        for t in range(T):
            v = v + spikes[t] @ last.effective_weights.T + last.bias
            if bound.saturates:
                v = np.clip(v, bound.state_low, bound.state_high)
        assert np.array_equal(v, result.counts)


def test_with_membrane_readout_widens_the_last_layer_to_its_range():
    from spikeforge.bounds import with_membrane_readout

    # +6 per step over 4 steps reaches 24: 5 bits saturate, the export takes 6 and keeps the rest.
    spec = one_layer([[3, 2], [1, -2]], [1, 0], NeuronSpec("if", threshold=5, state_bits=5),
                     readout="spike_count")
    wide = with_membrane_readout(spec)
    assert wide.readout == "membrane" and wide.layers[-1].neuron.state_bits == 6
    assert not analyse(wide)[-1].saturates
    assert run(wide, np.array([[1, 1]])).counts.tolist() == [[24, -4]]
    assert wide.layers[-1].neuron.threshold == 5 and spec.layers[-1].neuron.state_bits == 5
