"""Slow: real synthesis, place and route and bitstream with the YoWASP tools: the iCEBreaker
(iCE40), the ULX3S and OrangeCrab (ECP5) and the Tang Nano 9K (Gowin), and the iCEBreaker
build's reproducibility (two builds, two processes, the same bytes).

Run with ``pytest -m slow tests/test_boards_build.py``; 15 to 30 s per build once the YoWASP
tools are compiled (the first run of each compiles it, about a minute more).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spikeforge.boards.build import build, check_tools
from spikeforge.boards.dfu import has_suffix
from spikeforge.boards.registry import get_board
from spikeforge.boards.standin import SumNetwork
from spikeforge.errors import ToolchainError
from spikeforge.synthetic import random_netspec

pytestmark = pytest.mark.slow

UP5K_BITSTREAM_BYTES = 104090  # every iCE40UP5K .bin has this size


def family_tools(family: str) -> dict:
    try:
        return check_tools(family)
    except ToolchainError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tools():
    return family_tools("ice40")


def small_network():
    """The small network of the multi-board tests: 16 inputs, 8 and 4 IF neurons."""
    network = pytest.importorskip("spikeforge.hdl.network")
    spec = random_netspec(seed=1, sizes=(16, 8, 4))
    return network.NetworkTop(spec), spec


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


@pytest.mark.parametrize("board", ["ulx3s-85f", "orangecrab-25f", "tang-nano-9k"])
def test_build_small_network_for_ecp5_and_gowin(board, tmp_path):
    info = get_board(board)
    family_tools(info.family)
    network, spec = small_network()
    out = tmp_path / "build"
    report = build(network, spec, board=board, out_dir=out, seed=1)
    print(report.to_json())
    assert (report.board, report.device, report.family) == (board, info.device, info.family)
    assert report.available == {**report.available, **info.resources}  # nextpnr's own counts
    assert 0 < report.lcs <= info.lcs and 0 < report.ffs <= info.ffs
    assert report.brams <= info.brams and report.dsps <= info.dsps
    assert report.ios == 5  # clock, UART rx and tx, two LEDs
    assert report.target_mhz == info.clock_hz / 1e6 and report.timing_met
    assert report.fmax_mhz >= report.target_mhz
    bitstream = Path(report.bitstream)
    assert bitstream.parent == out and bitstream.suffix == info.bitstream_suffix
    data = bitstream.read_bytes()
    if info.family == "ecp5":
        assert data[:2] == b"\xff\x00"  # ecppack's comment header, then the preamble
        assert has_suffix(data) == (board == "orangecrab-25f")
    else:
        assert set(data.splitlines()[0]) <= set(b"01")  # Gowin .fs: lines of 0/1 text
    saved = json.loads((out / "build_report.json").read_text())
    assert saved == json.loads(report.to_json())
    nextpnr = {"ecp5": "nextpnr-ecp5", "gowin": "nextpnr-himbaechel"}[info.family]
    assert report.tools[nextpnr].startswith("nextpnr-")
    assert report.seconds < 180


_SECOND_BUILD = textwrap.dedent("""
    import sys
    from spikeforge.boards.build import build
    from spikeforge.hdl.network import NetworkTop
    from spikeforge.synthetic import random_netspec
    spec = random_netspec(seed=1, sizes=(16, 8, 4))
    build(NetworkTop(spec), spec, board="icebreaker", out_dir=sys.argv[1], seed=1)
""")


def test_icebreaker_build_is_reproducible(tools, tmp_path):
    """Same NetSpec, options and seed: the same bitstream, byte for byte, from another process
    (another Python hash seed) into another folder."""
    network, spec = small_network()
    first = build(network, spec, board="icebreaker", out_dir=tmp_path / "a", seed=1)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", _SECOND_BUILD, str(tmp_path / "elsewhere" / "b")],
                   check=True, env=env, timeout=600)
    second = json.loads((tmp_path / "elsewhere" / "b" / "build_report.json").read_text())
    assert Path(second["bitstream"]).read_bytes() == Path(first.bitstream).read_bytes()
    assert second["bitstream_sha256"] == first.bitstream_sha256
    assert second["design_sha256"] == first.design_sha256
    assert (second["lcs"], second["ffs"], second["brams"], second["fmax_mhz"]) == \
           (first.lcs, first.ffs, first.brams, first.fmax_mhz)
    # The placed and routed design too, not only the packed bits. (The RTLIL and yosys' JSON
    # may differ in their src attributes, file:line of the Python source, when someone edits
    # the source between the two builds; design_sha256 leaves those out.)
    stem = "spikeforge_icebreaker.asc"
    assert (tmp_path / "a" / "work" / stem).read_bytes() == \
           (tmp_path / "elsewhere" / "b" / "work" / stem).read_bytes()
