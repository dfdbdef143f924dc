"""bench/lane_utilization.py: per-layer accumulate cycles and lane utilization, measured."""

import sys
from pathlib import Path

import numpy as np
import pytest

from spikeforge.golden import run
from spikeforge.hdl.cost import groups, layer_cost
from spikeforge.synthetic import random_netspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scripts import load_bench  # noqa: E402
from conv_harness import conv_layer, image_spec, images_for, linear_layer, stateless  # noqa: E402


@pytest.fixture(scope="module")
def bench():
    return load_bench("lane_utilization")


def test_linear_lanes_that_do_not_divide_show_their_idle_lanes(bench):
    # 12 neurons on 5 lanes: 3 groups, 15 lane slots per event for 12 synapses, so 0.8 exactly.
    spec = random_netspec(0, sizes=(16, 12, 4), thresholds=(12, 6), input_max=16)
    images = images_for(spec, 2, 3)
    result = run(spec, images, record=True)
    figures = bench.per_layer_figures(spec, [5, 4], images, result)
    events = [int(np.count_nonzero(images[b])) for b in range(2)]  # direct: the same every step
    first = figures[0]
    assert first["cycles_accumulate"] == sum(events) * spec.timesteps * groups(12, 5)
    assert first["synaptic_ops"] == sum(events) * spec.timesteps * 12
    assert first["utilization_accumulate"] == pytest.approx(0.8)
    assert figures[1]["utilization_accumulate"] == pytest.approx(1.0)  # 4 of 4 lanes
    for layer in figures:
        # With the emitter term the model is close; without it, fc1 (many spikes per word) is off.
        assert 1.0 <= layer["ratio_measured_over_model"] <= 1.1
    assert figures[0]["ratio_measured_over_model_without_emitter"] > 1.15


def test_conv_layer_is_measured_against_its_cost(bench):
    rng = np.random.default_rng(4)
    spec = image_spec((2, 6, 6), [conv_layer(rng, "conv", 2, 4, 3, 2, 6, padding=1),
                                  stateless("flat", "flatten"),
                                  linear_layer(rng, "out", 144, 3, 8)])
    images = images_for(spec, 2, 5)
    result = run(spec, images, record=True)
    figures = bench.per_layer_figures(spec, [4, 1, 3], images, result)
    conv = figures[0]
    assert conv["measured"] and not figures[1]["measured"]
    # No more than P synaptic operations per cycle, and no more cycles than the model allows.
    assert 0 < conv["utilization_accumulate"] <= 1
    per_event, _, _ = layer_cost(spec.layers[0], (2, 6, 6), 4)
    events = sum(int(np.count_nonzero(image)) for image in images) * spec.timesteps
    assert conv["cycles_accumulate"] <= events * per_event
    assert conv["synaptic_ops"] == int(result.accumulates[0])
    # The model is a bound per event (taps at the border may cost less): at most 1.25x over it.
    assert 0 < conv["ratio_measured_over_model"] <= 1.25


def test_emitter_cycles_count_extra_spikes_per_word_and_the_last_word():
    from types import SimpleNamespace

    from spikeforge.hdl.cost import emitter_cycles

    linear = SimpleNamespace(kind="linear", stateless=False, n_out=7)
    # Words of 3 lanes: {0,1,2} fires 3 (2 extra), {6} is the last word and fires (1 more).
    assert emitter_cycles(linear, (4,), 3, np.isin(np.arange(7), [0, 1, 2, 6])) == 3
    assert emitter_cycles(linear, (4,), 3, np.isin(np.arange(7), [0, 1, 2, 4])) == 2
    conv = SimpleNamespace(kind="conv2d", stateless=False, n_out=5)
    spikes = np.zeros((5, 3), dtype=int)  # (channel, position), flattened as NCHW
    spikes[[0, 1], 0] = 1  # one word: channels 0-1 at position 0 -> 1 extra
    spikes[2, 1] = spikes[0, 2] = 1  # alone in their words
    assert emitter_cycles(conv, (1, 3, 3), 2, spikes.reshape(-1)) == 1
    spikes[4, 2] = 1  # channel 4 at the last position: the last word the update walks
    assert emitter_cycles(conv, (1, 3, 3), 2, spikes.reshape(-1)) == 2
    spikes[3, 2] = 1  # not the last word (channels 2-3), alone in it
    assert emitter_cycles(conv, (1, 3, 3), 2, spikes.reshape(-1)) == 2
    assert emitter_cycles(SimpleNamespace(kind="orpool", stateless=True), (5, 2, 2), 1,
                          np.ones(5)) == 0
