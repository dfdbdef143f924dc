"""The rate encoder with several LFSR draws per cycle, co-simulated through the fast path (cocotb
stimulus wrapper): bit-exact against the golden executor on Verilator and Icarus, in fewer cycles
than the one-draw encoder."""

import dataclasses

import numpy as np
import pytest

from spikeforge.cosim.fast import run_fast_cosim
from spikeforge.golden import run
from spikeforge.hdl.verilog import generate_verilog
from spikeforge.netspec import InputSpec
from spikeforge.synthetic import random_netspec

SIZE = 23  # divisible by none of the draws below


def _spec():
    spec = random_netspec(seed=11, sizes=(SIZE, 12, 5), timesteps=4, thresholds=(6, 3),
                          state_bits=(12, 8))
    return dataclasses.replace(spec, input=InputSpec(SIZE, "rate", 5, 31, rate_seed=0xACE1)).validate()


def _images():
    images = np.random.default_rng(11).integers(0, 32, (5, SIZE))
    images[1] = 0  # no input spikes: the LFSR still advances over every value
    images[3] = 31  # nearly every value fires: words with several spikes
    return images


@pytest.mark.parametrize("simulator, draws", [("verilator", 3), ("verilator", 8), ("icarus", 4)])
def test_draws_per_cycle_bit_exact(tmp_path, simulator, draws):
    spec = _spec()
    spec_path = spec.save(tmp_path / "net.npz")
    golden = run(spec, _images()).counts.tolist()
    assert any(any(row) for row in golden)
    cycles = {}
    for k in (1, draws):
        verilog = tmp_path / f"top_{k}.v"
        verilog.write_text(generate_verilog(spec, [4, 5], draws_per_cycle=k))
        result = run_fast_cosim(spec_path, verilog, _images(), tmp_path / f"run_{k}",
                                simulator=simulator)
        assert result.passed, result.mismatches
        assert [r["observed"] for r in result.images] == golden
        cycles[k] = result.cycles
    # The empty image is bound by the encoder: ceil(23 / k) words per step instead of 23 values.
    assert cycles[draws][1] < cycles[1][1]
