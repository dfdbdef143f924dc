"""A convolutional network (conv - orpool - conv - gap - linear) co-simulated on Verilator and
Icarus through the fast path: bit-exact against the golden counts on 20 images."""

import sys
from pathlib import Path

import pytest

from spikeforge.cosim.fast import run_fast_cosim
from spikeforge.golden import run
from spikeforge.hdl.verilog import generate_verilog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conv_harness import images_for  # noqa: E402
from test_hdl_conv_network import conv_net  # noqa: E402


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_conv_network_is_bit_exact(tmp_path, simulator):
    spec = conv_net("direct")
    images = images_for(spec, 20, 11, sparsity=0.3)
    verilog = tmp_path / "spikeforge_top.v"
    verilog.write_text(generate_verilog(spec, [3, 1, 2, 1, 4]))
    result = run_fast_cosim(spec.save(tmp_path / "net.npz"), verilog, images, tmp_path / "run",
                            simulator=simulator)
    golden = run(spec, images).counts
    assert result.passed, result.mismatches
    assert [r["observed"] for r in result.images] == golden.tolist()
    assert golden.sum() > 0
