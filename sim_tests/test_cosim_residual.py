"""A residual network co-simulated on Verilator and Icarus through the fast path: bit-exact
against the golden counts on 20 images, one after the other through the same hardware (the
engines' step counters and the shortcut FIFO carry on from image to image).

The network (tests/conv_harness.py ``conv_residual_net``): conv - sumpool - conv - residual (the
sumpool's multi-bit sums, delayed 2 steps, plus the branch) - flatten - identity readout, so the
counts are the residual neurons' own spike counts, all 48 of them."""

import sys
from pathlib import Path

import pytest

from spikeforge.cosim.fast import run_fast_cosim
from spikeforge.golden import run
from spikeforge.hdl.verilog import generate_verilog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conv_harness import conv_residual_net, images_for  # noqa: E402


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_residual_network_is_bit_exact(tmp_path, simulator):
    spec = conv_residual_net(2, source_pool=True)
    images = images_for(spec, 20, 11, sparsity=0.3)
    verilog = tmp_path / "spikeforge_top.v"
    verilog.write_text(generate_verilog(spec, [2, 1, 3, 5, 1, 7]))
    result = run_fast_cosim(spec.save(tmp_path / "net.npz"), verilog, images, tmp_path / "run",
                            simulator=simulator)
    golden = run(spec, images).counts
    assert result.passed, result.mismatches
    assert [r["observed"] for r in result.images] == golden.tolist()
    assert golden.sum() > 0
