"""The golden executor: hand-worked IF sequences and a plain-Python reference on random networks."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.bounds import analyse
from spikeforge.golden import run
from spikeforge.golden.neurons import IFParams, if_step
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec

from spikeforge.synthetic import random_netspec


def _sequence(currents, threshold, reset="subtract", low=-128, high=127):
    v = torch.zeros(1, dtype=torch.int64)
    spikes, membranes = [], []
    for current in currents:
        s, v = if_step(torch.tensor([current]), v, IFParams(threshold, reset, low, high))
        spikes.append(int(s))
        membranes.append(int(v))
    return spikes, membranes


def test_fires_exactly_at_threshold_and_subtracts():
    assert _sequence([3, 2, 5, 0], threshold=5) == ([0, 1, 1, 0], [3, 0, 0, 0])


def test_one_spike_per_step_even_far_above_threshold():
    # V = 12 -> fires once, keeps 7; then 7 + 0 -> fires, keeps 2.
    assert _sequence([12, 0, 0], threshold=5) == ([1, 1, 0], [7, 2, 2])


def test_negative_input_never_fires_and_goes_below_zero():
    assert _sequence([-3, -4, 2], threshold=5) == ([0, 0, 0], [-3, -7, -5])


def test_hard_reset_goes_to_zero():
    assert _sequence([12, 4, 1], threshold=5, reset="zero") == ([1, 0, 1], [0, 4, 0])


def test_saturation_clamps_to_the_state_range():
    assert _sequence([100, 100, -300, -10], threshold=120, low=-128, high=127) == \
        ([0, 1, 0, 0], [100, 7, -128, -128])


def _reference(spec, images):
    """Plain-Python integers, loop by loop: the semantics as written in DESIGN.md."""
    bounds = analyse(spec)
    counts = []
    for image in images:
        membranes = [[0] * layer.n_out for layer in spec.layers]
        count = [0] * spec.n_out
        for _ in range(spec.timesteps):
            x = [int(v) for v in image]
            for index, layer in enumerate(spec.layers):
                w = layer.effective_weights
                out = []
                for j in range(layer.n_out):
                    current = sum(int(w[j, i]) * x[i] for i in range(layer.n_in)) + int(layer.bias[j])
                    v = min(max(membranes[index][j] + current, bounds[index].state_low),
                            bounds[index].state_high)
                    s = 1 if v >= layer.neuron.threshold else 0
                    if s:
                        v = v - layer.neuron.threshold if layer.neuron.reset == "subtract" else 0
                    membranes[index][j] = v
                    out.append(s)
                x = out
            count = [c + s for c, s in zip(count, x)]
        counts.append(count)
    return np.array(counts)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), reset=st.sampled_from(["subtract", "zero"]),
       timesteps=st.integers(1, 8), theta1=st.integers(1, 60), theta2=st.integers(1, 20),
       state1=st.integers(7, 16))
def test_executor_matches_plain_python(seed, reset, timesteps, theta1, theta2, state1):
    state1 = max(state1, theta1.bit_length() + 1)
    spec = random_netspec(seed=seed % 1000, sizes=(12, 9, 5), timesteps=timesteps,
                          thresholds=(theta1, theta2), state_bits=(state1, 8), reset=reset)
    images = np.random.default_rng(seed).integers(0, 17, (4, 12))
    np.testing.assert_array_equal(run(spec, images).counts, _reference(spec, images))


def test_records_trains_membranes_and_operation_counts():
    spec = random_netspec(seed=1)
    images = np.random.default_rng(1).integers(0, 17, (6, 64))
    result = run(spec, images, record=True)
    assert result.counts.shape == (6, 10)
    np.testing.assert_array_equal(result.trains[-1].sum(axis=0), result.counts)
    assert result.layer_spikes[1].sum() == result.counts.sum()
    # Layer 1 accumulates once per nonzero pixel, per neuron, per step.
    assert result.accumulates[0] == (images != 0).sum() * 32 * spec.timesteps
    assert result.accumulates[1] == result.layer_spikes[0].sum() * 10
    # The direct-coded first layer multiplies; the spiking second only adds.
    assert result.multiply_accumulates.tolist() == [result.accumulates[0], 0]
    np.testing.assert_array_equal(result.predictions, np.argmax(result.counts, axis=1))


def test_ties_go_to_the_lowest_index():
    from spikeforge.golden.executor import predict
    assert list(predict(np.array([[3, 5, 5], [0, 0, 0]]))) == [1, 0]


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 63), dtype=np.int64), r"expected shape \(batch, 64\), found \(2, 63\)"),
    (np.full((2, 64), 17), r"expected values in \[0, 16\], found \[17, 17\]"),
    (np.zeros((2, 64), dtype=np.float32), "expected integers, found dtype float32"),
])
def test_bad_inputs_are_named(images, message):
    with pytest.raises(ValueError, match=message):
        run(random_netspec(), images)


def test_saturating_layer_is_reported_and_applied():
    weights = np.full((1, 4), 7)
    layer = LayerSpec("big", "linear", weights, 4, np.zeros(1, np.int64), NeuronSpec("if", 100, "subtract", 8))
    spec = NetSpec(InputSpec(4, "direct", 4, 15), (layer,), 4).validate()
    (bound,) = analyse(spec)
    # Worst case V + I: a membrane just under threshold (99) plus the largest current (420).
    assert bound.saturates and bound.membrane_high == 99 + 420 and bound.state_high == 127
    # 4 inputs of 15 with weight 7: I = 420 per step; V clamps to 127, fires, keeps 27, ...
    assert run(spec, np.full((1, 4), 15)).counts.tolist() == [[4]]
    assert _reference(spec, np.full((1, 4), 15)).tolist() == [[4]]
