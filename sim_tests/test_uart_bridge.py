"""cocotb: the board's UART bridge around the real network, as Verilog, on Verilator and Icarus.

The host side speaks the serial protocol of :mod:`spikeforge.boards.board_top` bit by bit (Python
wakes once per bit, not per cycle) and checks every answer byte against the golden model. This file
is both the pytest test (which builds and runs the simulators) and the cocotb test module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

TOPLEVEL = "uart_bridge_top"
DIVISOR = 8  # clock cycles per UART bit: small, so a simulated image takes few cycles
CLOCK_NS = 10
JOB_ENV = "SPIKEFORGE_UART_BRIDGE_JOB"
SIMULATORS = ["verilator", "icarus"]

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, with_timeout
except ImportError:  # pytest side without cocotb: the tests below skip
    cocotb = None


# ---- cocotb side ------------------------------------------------------------------------------

async def _send_byte(dut, byte: int) -> None:
    for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
        dut.rx.value = bit
        await ClockCycles(dut.clk, DIVISOR)


async def _recv_byte(dut) -> int:
    await FallingEdge(dut.tx)  # start bit
    await ClockCycles(dut.clk, DIVISOR // 2)
    assert int(dut.tx.value) == 0, "start bit too short"
    value = 0
    for i in range(8):
        await ClockCycles(dut.clk, DIVISOR)
        value |= int(dut.tx.value) << i
    await ClockCycles(dut.clk, DIVISOR)
    assert int(dut.tx.value) == 1, "stop bit is 0"
    return value


async def _answer(dut, length: int) -> list[int]:
    return [await _recv_byte(dut) for _ in range(length)]


if cocotb is not None:
    @cocotb.test()
    async def uart_bridge_answers_like_golden(dut):
        job = json.loads(Path(os.environ[JOB_ENV]).read_text())
        n_out = job["n_out"]
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        dut.rx.value = 1
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 3)
        results = []
        for image, expected in zip(job["images"], job["expected"]):
            receiving = cocotb.start_soon(with_timeout(_answer(dut, n_out + 4), job["timeout_ns"], "ns"))
            for value in image:
                await _send_byte(dut, value)
            answer = await receiving
            counts = answer[:n_out]
            latency = int.from_bytes(bytes(answer[n_out:]), "little")
            assert counts == expected, f"counts {counts}, golden {expected}"
            assert latency == int(dut.network.cycles.value), "latency differs from the network's"
            results.append({"counts": counts, "latency": latency})
            await RisingEdge(dut.clk)
        Path(job["results"]).write_text(json.dumps(results))


# ---- pytest side ------------------------------------------------------------------------------

@pytest.mark.parametrize("simulator", SIMULATORS)
def test_uart_bridge_verilog_matches_golden(tmp_path, simulator):
    pytest.importorskip("cocotb_tools.runner")
    np = pytest.importorskip("numpy")
    from amaranth.back import verilog

    from spikeforge import toolchain
    from spikeforge.boards.board_top import UARTBridge
    from spikeforge.golden.executor import run as golden_run
    from spikeforge.hdl.network import NetworkTop
    from spikeforge.synthetic import random_netspec

    try:
        toolchain.require("cocotb", "verilator" if simulator == "verilator" else "iverilog")
    except Exception as exc:
        pytest.skip(str(exc))
    toolchain.activate()
    from cocotb_tools.runner import get_runner

    spec = random_netspec(seed=11, sizes=(12, 8, 4), weight_bits=(4, 1), timesteps=5,
                          input_bits=5, input_max=31, thresholds=(20, 4), state_bits=(12, 10))
    images = np.random.default_rng(11).integers(0, 32, (3, spec.input.size))
    images[1] = 0
    expected = golden_run(spec, images).counts.tolist()

    source = tmp_path / "uart_bridge.v"
    source.write_text(verilog.convert(UARTBridge(NetworkTop(spec), spec, DIVISOR), name=TOPLEVEL,
                                      emit_src=False))
    results = tmp_path / "results.json"
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"images": images.tolist(), "expected": expected, "n_out": spec.n_out,
                               "results": str(results),
                               "timeout_ns": 200_000 * CLOCK_NS}))
    runner = get_runner(simulator)
    # CASEINCOMPLETE: Amaranth writes each m.FSM as a case over the states only, without a default.
    build_args = (["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE"]
                  if simulator == "verilator" else [])
    runner.build(sources=[str(source)], hdl_toplevel=TOPLEVEL, build_dir=str(tmp_path / "build"),
                 build_args=build_args, always=True, timescale=("1ns", "1ps"),
                 log_file=str(tmp_path / "build.log"))
    runner.test(hdl_toplevel=TOPLEVEL, test_module="test_uart_bridge",
                test_dir=str(Path(__file__).parent), build_dir=str(tmp_path / "build"),
                extra_env={JOB_ENV: str(job)}, results_xml=str(tmp_path / "results.xml"),
                log_file=str(tmp_path / "sim.log"))
    assert results.exists(), f"no verdict; see {tmp_path / 'sim.log'}"
    verdict = json.loads(results.read_text())
    assert [r["counts"] for r in verdict] == expected
    assert all(r["latency"] > 0 for r in verdict)
