"""Slow: real synthesis, place and route and bitstream for the iCEBreaker with the YoWASP tools.

Run with ``pytest -m slow tests/test_boards_build.py``; about 30 s once the YoWASP tools are
compiled (their first run compiles them, ~60 s more).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spikeforge.boards.build import build, check_tools
from spikeforge.boards.standin import SumNetwork
from spikeforge.errors import ToolchainError
from spikeforge.synthetic import random_netspec

pytestmark = pytest.mark.slow

UP5K_BITSTREAM_BYTES = 104090  # every iCE40UP5K .bin has this size


@pytest.fixture(scope="module")
def tools():
    try:
        return check_tools("ice40")
    except ToolchainError as exc:
        pytest.skip(str(exc))


def check_report(report, out: Path) -> None:
    assert report.board == "icebreaker" and report.device == "iCE40UP5K"
    assert 0 < report.lcs <= report.available["lcs"] == 5280
    assert 0 < report.ffs <= report.lcs
    assert report.ios == 5  # clock, UART rx and tx, two LEDs
    assert report.fmax_mhz > 0 and report.target_mhz == 12.0
    assert report.timing_met == (report.fmax_mhz >= 12.0)
    bitstream = Path(report.bitstream)
    assert bitstream.parent == out and bitstream.stat().st_size == UP5K_BITSTREAM_BYTES
    assert not list(out.glob("*.part")) and not list(out.glob(".*.part"))
    saved = json.loads((out / "build_report.json").read_text())
    assert saved == json.loads(report.to_json())
    for log in ("yosys", "nextpnr", "nextpnr_report", "tools"):
        assert Path(report.logs[log]).is_file()
    assert report.tools["nextpnr-ice40"].startswith("nextpnr-")
    assert report.tools["yosys"].startswith("Yosys ")


def test_build_standin_network_for_icebreaker(tools, tmp_path):
    spec = random_netspec(sizes=(64, 32, 10), input_bits=5, input_max=16)
    out = tmp_path / "build"
    report = build(SumNetwork(spec), spec, board="icebreaker", out_dir=out, seed=1)
    check_report(report, out)
    assert report.brams == 0 and report.dsps == 0
    print(report.to_json())


def test_build_real_network_for_icebreaker(tools, tmp_path):
    network = pytest.importorskip("spikeforge.hdl.network")
    spec = random_netspec(sizes=(64, 32, 10), input_bits=5, input_max=16)
    out = tmp_path / "build"
    report = build(network.NetworkTop(spec), spec, board="icebreaker", out_dir=out, seed=1)
    check_report(report, out)
    assert report.brams > 0  # weights and the input image live in block RAM
    assert report.timing_met
    print(report.to_json())
