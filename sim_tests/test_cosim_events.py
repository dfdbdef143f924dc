"""Pre-encoded events input (T frames of counts per image) co-simulated through the fast path
(cocotb stimulus wrapper): bit-exact against the golden executor on Verilator and Icarus, on binned
synthetic event streams (golden.events)."""

import dataclasses

import numpy as np
import pytest

from spikeforge.cosim.fast import Layout, input_values, run_fast_cosim
from spikeforge.golden import run
from spikeforge.golden.events import bin_events, synthetic_events
from spikeforge.hdl.verilog import generate_verilog
from spikeforge.netspec import InputSpec
from spikeforge.synthetic import random_netspec

HEIGHT, WIDTH, T = 3, 4, 5
SIZE = 2 * HEIGHT * WIDTH  # OFF plane, then ON plane


def _spec():
    spec = random_netspec(seed=5, sizes=(SIZE, 12, 5), timesteps=T, thresholds=(6, 3),
                          state_bits=(12, 8))
    return dataclasses.replace(spec, input=InputSpec(SIZE, "events", 3, 7)).validate()


def _frames(count=10):
    duration = 1000 * T
    frames = np.stack([bin_events(synthetic_events(HEIGHT, WIDTH, duration, 120, seed=s),
                                  HEIGHT, WIDTH, T, duration, 7).counts for s in range(count)])
    frames[3] = 0  # no events at all
    return frames


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_events_bit_exact(tmp_path, simulator):
    spec = _spec()
    frames = _frames()
    assert frames.shape == (10, T, SIZE)
    assert Layout.of(spec, len(frames)).input_size == T * SIZE
    assert list(input_values(spec, frames[0])) == list(frames[0].reshape(-1))
    spec_path = spec.save(tmp_path / "net.npz")
    golden = run(spec, frames).counts.tolist()
    assert sum(map(sum, golden)) > 0, "the test network must be active"
    verilog = tmp_path / "top.v"
    verilog.write_text(generate_verilog(spec, [4, 5]))
    result = run_fast_cosim(spec_path, verilog, frames, tmp_path / "run", simulator=simulator)
    assert result.passed, result.mismatches
    assert [r["observed"] for r in result.images] == golden
    # The empty image loads its T·size values and then runs on markers alone: the fewest cycles.
    assert result.cycles[3] == min(result.cycles)
