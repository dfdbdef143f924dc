"""Paired events (``--pair-events``: the first layer adds two input events per pass over its
groups), co-simulated through the fast path: bit-exact against the golden executor on Verilator
and Icarus, in fewer cycles than the unpaired engine."""

import dataclasses

import numpy as np
import pytest

from spikeforge.cosim.fast import run_fast_cosim
from spikeforge.golden import run
from spikeforge.hdl.verilog import generate_verilog
from spikeforge.netspec import InputSpec
from spikeforge.synthetic import random_netspec

SIZE = 29


def _spec():
    # fc1: binary weights (scale 2), 16 neurons on 4 lanes (G = 4); fc2: int4, not paired.
    spec = random_netspec(seed=5, sizes=(SIZE, 16, 5), timesteps=5, thresholds=(8, 3),
                          state_bits=(8, 8))
    rate = InputSpec(SIZE, "rate", 5, 31, rate_seed=0xACE1)
    return dataclasses.replace(spec, input=rate).validate()


def _images():
    images = np.random.default_rng(5).integers(0, 32, (6, SIZE))
    images[1] = 0   # no events at all
    images[2] = 31  # nearly every input spikes every step: long runs of pairs
    images[4, 1:] = 0  # one input: a pass that never finds a second event
    return images


@pytest.mark.parametrize("simulator, draws", [("verilator", 1), ("verilator", 4), ("icarus", 2)])
def test_paired_events_bit_exact_and_faster(tmp_path, simulator, draws):
    spec = _spec()
    spec_path = spec.save(tmp_path / "net.npz")
    golden = run(spec, _images())
    assert golden.counts.sum() > 0
    cycles = {}
    for pairs in ((), ("fc1",)):
        verilog = tmp_path / f"top_{len(pairs)}.v"
        verilog.write_text(generate_verilog(spec, [4, 5], draws_per_cycle=draws, pair_events=pairs))
        result = run_fast_cosim(spec_path, verilog, _images(), tmp_path / f"run_{len(pairs)}",
                                simulator=simulator)
        assert result.passed, result.mismatches
        assert [r["observed"] for r in result.images] == golden.counts.tolist()
        cycles[pairs] = result.cycles
    # The busy image pairs nearly every event; the empty one costs the same either way.
    assert cycles[("fc1",)][2] < cycles[()][2]
    assert cycles[("fc1",)][1] == cycles[()][1]
