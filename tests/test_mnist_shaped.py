"""bench/mnist_shaped.py builds the 784-256-10 network of issue 6: shape, binary hidden weights,
rate encoding, and a golden input activity of 20 % ± 2 % (no synthesis, no simulator)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scripts import load_bench  # noqa: E402


def _bench():
    return load_bench("mnist_shaped")


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def spec(bench):
    return bench.mnist_shaped_netspec()


def test_shape_is_784_256_10(spec):
    assert spec.input.size == 784
    assert [(layer.n_in, layer.n_out) for layer in spec.layers] == [(784, 256), (256, 10)]
    assert all(layer.kind == "linear" and layer.neuron.kind == "if" for layer in spec.layers)
    assert spec.timesteps == 8


def test_hidden_weights_are_binary_with_a_scale_and_output_weights_int4(spec):
    hidden, output = spec.layers
    assert hidden.weight_bits == 1 and hidden.scale == 2
    assert set(np.unique(hidden.weights).tolist()) == {-1, 1}
    assert output.weight_bits == 4 and output.scale == 1
    assert output.weights.min() >= -8 and output.weights.max() <= 7


def test_rate_encoding(spec):
    assert spec.input.encoding == "rate"
    assert spec.input.bits == 8 and spec.input.value_max == 255
    assert 1 <= spec.input.rate_seed <= 0xFFFF


def test_netspec_is_seeded_and_digest_stable(bench, spec):
    again = bench.mnist_shaped_netspec()
    assert bench.netspec_digest(again) == bench.netspec_digest(spec)
    assert bench.netspec_digest(bench.mnist_shaped_netspec(seed=7)) != bench.netspec_digest(spec)


def test_golden_input_activity_is_20_percent(bench, spec):
    images = bench.random_images(4, seed=1)
    activity = bench.input_activity(spec, images)
    assert activity.shape == (4,)
    assert np.all(np.abs(activity - 0.20) <= 0.02), activity
    assert abs(activity.mean() - 0.20) <= 0.01


def test_golden_hidden_layer_fires_at_a_realistic_rate(spec, bench):
    from spikeforge.golden import run

    result = run(spec, bench.random_images(4, seed=1))
    rates = np.asarray(result.firing_rates).mean(axis=1)
    assert 0.02 <= rates[0] <= 0.4 and 0.02 <= rates[1] <= 0.6, rates


def test_settings_name_lanes_and_input_draws(bench):
    assert bench.parse_setting("16,10") == ([16, 10], 1, ())
    assert bench.parse_setting("64,10:4") == ([64, 10], 4, ())
    assert bench.parse_setting("32,10:4:p") == ([32, 10], 4, ("fc1",))
    assert bench.parse_setting("32,10:p") == ([32, 10], 1, ("fc1",))
    with pytest.raises(ValueError, match="expected 'fc1,fc2"):
        bench.parse_setting("32,10:4:2")
    # One-draw keys are the keys the cache had before draws existed; others carry ":d<k>".
    assert bench.cache_key("abc", [16, 10], 1) == "abc:16,10"
    assert bench.cache_key("abc", [64, 10], 4) == "abc:64,10:d4"
    assert bench.cache_key("abc", [32, 10], 4, ("fc1",)) == "abc:32,10:d4:p"


def test_cycle_floors(bench, spec):
    events = 0.2 * 784 * 8
    one = bench.cycle_floors(spec, [16, 10], 1, events)
    assert one["encoder_floor_cycles"] == 784 + 8 * 785
    assert one["fc1_groups"] == 16 and one["bound_by"].startswith("fc1")
    four = bench.cycle_floors(spec, [128, 10], 4, events)
    assert four["encoder_floor_cycles"] == 784 + 8 * 197
    assert four["fc1_floor_cycles"] == round(784 + events * 2 + 8 * 2)
    assert bench.cycle_floors(spec, [128, 10], 1, events)["bound_by"] == "encoder"
    paired = bench.cycle_floors(spec, [32, 10], 4, events, ("fc1",))
    assert paired["fc1_floor_cycles"] == round(784 + events / 2 * 8 + 8 * 8)


def test_cache_entries_are_well_formed(bench):
    """Every cached setting names its lanes, draws and design; co-simulated ones were bit-exact."""
    import json

    cache = json.loads((ROOT / "bench" / "mnist_shaped_cache.json").read_text())
    assert cache
    for key, entry in cache.items():
        draws = entry.get("draws_per_cycle", 1)
        assert key == bench.cache_key(entry["netspec_digest"], entry["lanes"], draws,
                                      tuple(entry.get("pair_events", ())))
        assert len(entry["design_digest"]) == 64
        if entry.get("cosim"):
            assert entry["cosim"]["bit_exact"], key
        if entry.get("cosim") and entry.get("limits"):
            # The encoder's floor is a lower bound of every measured latency.
            assert entry["cosim"]["cycles_per_image_min"] >= entry["limits"]["encoder_floor_cycles"]


def test_a_build_made_with_another_synthesis_command_is_stale(bench):
    """The ULX3S synthesises with ``-nowidelut``: builds cached from plain ``synth_ecp5`` (no
    ``synth`` recorded) are measured again, and ``--no-build`` flags them."""
    assert bench.synth_command() == "synth_ecp5 -nowidelut"
    assert not bench.build_is_current(None)
    assert not bench.build_is_current({"luts": 1})
    assert bench.build_is_current({"luts": 1, "synth": "synth_ecp5 -nowidelut"})
    entry = {"lanes": [8, 10], "build": {"luts": 1, "fmax_mhz": 50.0}}
    assert "synth_ecp5" in bench.figures(entry)["build_stale"]
    entry["build"]["synth"] = bench.synth_command()
    assert "build_stale" not in bench.figures(entry)
