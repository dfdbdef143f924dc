"""Hand-worked sequences for every neuron kind, and the executor on networks of each kind."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.bounds import analyse
from spikeforge.errors import NetSpecError
from spikeforge.golden import run
from spikeforge.golden.neurons import (IFParams, LeakParams, adaptive_step, leak, lif_step,
                                       mtlif_step)
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec
from spikeforge.schedule import bistable_latency, bistable_mode

WIDE = IFParams(threshold=10, state_low=-1000, state_high=1000)


def _run_steps(step, currents):
    v = torch.zeros(1, dtype=torch.int64)
    out = []
    for current in currents:
        s, v = step(torch.tensor([current]), v)
        out.append((int(s), int(v)))
    return out


def test_shift_leak_floors_toward_minus_infinity():
    v = torch.tensor([8, 7, 1, 0, -1, -8, -9])
    assert leak(v, LeakParams("shift", shift=2)).tolist() == [6, 6, 1, 0, 0, -6, -6]


def test_factor_leak_is_q_format_with_floor():
    v = torch.tensor([10, -10, 3])
    # λ = 0.75 in Q2: (3·V) >> 2.
    assert leak(v, LeakParams("factor", factor=3, frac_bits=2)).tolist() == [7, -8, 2]


def test_lif_shift_sequence():
    step = lambda i, v: lif_step(i, v, WIDE, LeakParams("shift", shift=1))
    # V: 0→6; 6-3+6=9; 9-4+6=11 fires → 1; 1-0+0=1
    assert _run_steps(step, [6, 6, 6, 0]) == [(0, 6), (0, 9), (1, 1), (0, 1)]


def test_mtlif_graded_spikes_and_clipping_at_k():
    step = lambda i, v: mtlif_step(i, v, WIDE, LeakParams(), levels=3)
    # 25 → s=2, keeps 5; 5+50=55 → floor 5 clipped to K=3, keeps 25; 25 → 2, keeps 5; -7 → -2, s=0
    assert _run_steps(step, [25, 50, 0, -7]) == [(2, 5), (3, 25), (2, 5), (0, -2)]


def test_mtlif_exactly_at_threshold_levels():
    step = lambda i, v: mtlif_step(i, v, WIDE, LeakParams(), levels=4)
    assert _run_steps(step, [10, 20, 9]) == [(1, 0), (2, 0), (0, 9)]


def test_adaptive_is_strict_and_uses_the_step_tables():
    decay, gain = [4, 2, 4], [4, 8, 4]  # Q2: λ = 1, 0.5, 1; γ = 1, 2, 1
    v = torch.zeros(1, dtype=torch.int64)
    out = []
    for t, current in enumerate([10, 3, 7]):
        s, v = adaptive_step(torch.tensor([current]), v, WIDE, decay[t], gain[t], 2)
        out.append((int(s), int(v)))
    # t0: V=10, not > 10; t1: 10·0.5 + 3·2 = 11 > 10 fires → 1; t2: 1 + 7 = 8
    assert out == [(0, 10), (1, 1), (0, 8)]


def test_bistable_schedule_staggers_layers():
    P = 2
    modes = [[bistable_mode(layer, t, P)[0] for t in range(8)] for layer in range(3)]
    # "i"dle shares its letter with "i"ntegrate: compare whole names where a layer waits.
    assert modes == [list("iiffiiff"), list("iiiiffii"), list("iiiiiiff")]
    assert [bistable_mode(2, t, P) for t in range(6)] == ["idle"] * 4 + ["integrate"] * 2
    assert bistable_mode(1, 1, P) == "idle" and bistable_mode(1, 2, P) == "integrate"
    assert bistable_latency(2, 3) == 9


def _one_layer(neuron, weights, bias, timesteps, encoding="direct", bits=5, max_value=16):
    layer = LayerSpec("l1", "linear", np.asarray(weights), 4, np.asarray(bias), neuron)
    return NetSpec(InputSpec(len(weights[0]), encoding, bits, max_value), (layer,), timesteps).validate()


def test_bistable_network_integrates_then_fires_and_never_fires_on_negative_input():
    neuron = NeuronSpec("bistable", threshold=10, state_bits=10, phase=2)
    spec = _one_layer(neuron, [[1], [-1]], [0, 0], timesteps=6)
    result = run(spec, np.array([[7]]), record=True)
    # Steps 0,1 integrate 7+7=14; 2,3 fire once (14 → 4); 4,5 integrate to 18; neuron 1 stays negative.
    assert result.trains[0][:, 0, 0].tolist() == [0, 0, 1, 0, 0, 0]
    assert result.membranes[0][:, 0, 0].tolist() == [7, 14, 4, 4, 11, 18]
    assert result.trains[0][:, 0, 1].sum() == 0
    # Accumulates happen only in integrate phases: one input event × 2 neurons × 4 steps.
    assert result.accumulates.tolist() == [8]


def test_a_deep_bistable_layer_waits_for_its_first_input_phase():
    """Layer 1's bias alone must not make it fire before layer 0 has fired once."""
    neuron = NeuronSpec("bistable", threshold=4, state_bits=8, phase=2)
    first = LayerSpec("a", "linear", np.array([[1]]), 4, np.array([0]), neuron)
    second = LayerSpec("b", "linear", np.array([[0]]), 4, np.array([2]), neuron)
    spec = NetSpec(InputSpec(1, "direct", 5, 16), (first, second), 6).validate()
    result = run(spec, np.array([[0]]), record=True)
    # Phase 0 (steps 0,1): idle, V stays 0. Phase 1: integrates the bias 2+2 = 4. Phase 2: fires.
    assert result.membranes[1][:, 0, 0].tolist() == [0, 0, 2, 4, 0, 0]
    assert result.trains[1][:, 0, 0].tolist() == [0, 0, 0, 0, 1, 0]
    assert analyse(spec)[1].membrane_high == 4


def test_mtlif_layer_feeds_graded_values_to_the_next():
    hidden = LayerSpec("h", "linear", np.array([[2]]), 4, np.array([0]),
                       NeuronSpec("mtlif", threshold=5, state_bits=10, levels=3))
    out = LayerSpec("o", "linear", np.array([[3]]), 4, np.array([0]), NeuronSpec("if", threshold=4, state_bits=10))
    spec = NetSpec(InputSpec(1, "direct", 5, 16), (hidden, out), 2).validate()
    result = run(spec, np.array([[8]]), record=True)
    assert result.trains[0][:, 0, 0].tolist() == [3, 3]  # 16 → 3 (keeps 1), 17 → 3 (keeps 2)
    assert result.trains[1][:, 0, 0].tolist() == [1, 1]  # current 3·3 = 9: fires, keeps 5; 14 → keeps 10
    assert analyse(spec)[1].input_max == 3


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["lif", "mtlif", "adaptive", "bistable"]), seed=st.integers(0, 999),
       timesteps=st.integers(1, 6))
def test_no_value_leaves_the_computed_bounds(kind, seed, timesteps):
    rng = np.random.default_rng(seed)
    extra = {"lif": dict(leak="shift", leak_shift=2), "mtlif": dict(leak="factor", leak_factor=3,
             frac_bits=2, levels=3), "bistable": dict(phase=2),
             "adaptive": dict(frac_bits=2, decay_table=tuple(rng.integers(0, 5, timesteps).tolist()),
                              gain_table=tuple(rng.integers(0, 9, timesteps).tolist()))}[kind]
    neuron = NeuronSpec(kind, threshold=int(rng.integers(1, 30)), state_bits=14, **extra)
    spec = _one_layer(neuron, rng.integers(-8, 8, (5, 6)).tolist(), rng.integers(-4, 5, 5), timesteps)
    (bound,) = analyse(spec)
    result = run(spec, rng.integers(0, 17, (20, 6)), record=True)
    assert not bound.saturates
    assert result.membranes[0].min() >= bound.membrane_low
    assert result.membranes[0].max() <= bound.membrane_high


@pytest.mark.parametrize("neuron, message", [
    (NeuronSpec("mtlif", threshold=5, state_bits=8, levels=0), r"spike levels K out of range .*levels: expected an integer in \[1, 255\], found 0"),
    (NeuronSpec("bistable", threshold=5, state_bits=8, phase=0), r"phase length P out of range .*phase: expected an integer in \[1, 255\], found 0"),
    (NeuronSpec("lif", threshold=5, state_bits=8, leak="exp"), r"unknown leak .*leak: expected one of \('none', 'shift', 'factor'\), found 'exp'"),
    (NeuronSpec("lif", threshold=5, state_bits=8, leak="shift", leak_shift=9), r"leak shift out of range .*expected an integer in \[1, 7\], found 9"),
    (NeuronSpec("adaptive", threshold=5, state_bits=8, frac_bits=2, decay_table=(4, 4), gain_table=(4, 4, 4)),
     r"adaptive table has the wrong length at netspec:layers\[0\]\.neuron\.decay_table: expected one value per time step \(3\), found 2 values"),
    (NeuronSpec("adaptive", threshold=5, state_bits=8, frac_bits=2, decay_table=(4, 5, 4), gain_table=(4, 4, 4)),
     r"adaptive table value out of range .*decay_table\[1\]: expected an integer in \[0, 4\], found 5"),
])
def test_bad_neuron_parameters_are_named(neuron, message):
    with pytest.raises(NetSpecError, match=message):
        _one_layer(neuron, [[1]], [0], timesteps=3)


def test_bistable_layers_must_share_one_phase():
    a = LayerSpec("a", "linear", np.array([[1]]), 4, np.array([0]), NeuronSpec("bistable", 5, state_bits=8, phase=2))
    b = LayerSpec("b", "linear", np.array([[1]]), 4, np.array([0]), NeuronSpec("bistable", 5, state_bits=8, phase=3))
    with pytest.raises(NetSpecError, match=r"bistable layers disagree on the phase length .*found P values \[2, 3\]"):
        NetSpec(InputSpec(1, "direct", 5, 16), (a, b), 4).validate()
    c = LayerSpec("c", "linear", np.array([[1]]), 4, np.array([0]), NeuronSpec("if", 5, state_bits=8))
    with pytest.raises(NetSpecError, match=r"bistable network mixes neuron kinds at netspec:layers\[1\]\.neuron\.kind"):
        NetSpec(InputSpec(1, "direct", 5, 16), (a, c), 4).validate()


def test_new_kinds_round_trip_through_a_file(tmp_path):
    from spikeforge import netspec as netspec_io
    neuron = NeuronSpec("adaptive", threshold=5, state_bits=8, frac_bits=2, decay_table=(4, 3, 2),
                        gain_table=(4, 8, 12))
    spec = _one_layer(neuron, [[1, -2]], [0], timesteps=3, encoding="rate")
    again = netspec_io.load(spec.save(tmp_path / "a.npz"))
    assert again.layers[0].neuron == neuron
    assert again.input.rate_seed == spec.input.rate_seed


def test_missing_kind_specific_parameter_is_named(tmp_path):
    import json
    from spikeforge import netspec as netspec_io
    spec = _one_layer(NeuronSpec("mtlif", threshold=5, state_bits=8, levels=2), [[1]], [0], timesteps=2)
    path = spec.save(tmp_path / "m.npz")
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays["header"]))
    del header["layers"][0]["neuron"]["levels"]
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    with pytest.raises(NetSpecError, match=r"required field missing at .*layers\[0\]\.neuron\.levels: expected a int, found nothing"):
        netspec_io.load(path)


def test_firing_rates_per_layer_and_step():
    spec = _one_layer(NeuronSpec("if", threshold=1, state_bits=8), [[1], [1]], [0, 0], timesteps=3)
    result = run(spec, np.array([[1], [0]]))
    # Image 0 makes both neurons fire every step, image 1 none: rate 0.5.
    assert result.firing_rates.tolist() == [[0.5, 0.5, 0.5]]


def test_bounds_of_a_range_wholly_above_the_state_range_collapse_onto_the_limit():
    """V + γI above the state maximum at every value: the clamp gives [max, max], not an inverted
    range (which used to crash ``analyse`` for this adaptive layer)."""
    neuron = NeuronSpec("adaptive", threshold=7, state_bits=4, frac_bits=0, decay_table=(1,),
                        gain_table=(2,))
    layer = LayerSpec("a", "linear", np.array([[0]]), 2, np.array([4]), neuron)
    spec = NetSpec(InputSpec(1, "direct", 1, 1), (layer,), 1).validate()
    bound = analyse(spec)[0]
    assert bound.saturates and bound.membrane_high == 8
    result = run(spec, np.array([[0]]), record=True)
    assert result.membranes[0].ravel().tolist() == [7]  # 8 saturates to 7, and 7 > 7 is false
    assert result.counts.tolist() == [[0]]
