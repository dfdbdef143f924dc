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
        size = job.get("value_bytes", 1)  # bytes per value: 1 per count, more per membrane
        from bridge_harness import start_bridge

        await start_bridge(dut, CLOCK_NS)
        results = []
        for image, expected in zip(job["images"], job["expected"]):
            receiving = cocotb.start_soon(with_timeout(_answer(dut, n_out * size + 4),
                                                       job["timeout_ns"], "ns"))
            for value in image:
                await _send_byte(dut, value)
            answer = bytes(await receiving)
            counts = [int.from_bytes(answer[i * size:(i + 1) * size], "little",
                                     signed=job.get("signed", False)) for i in range(n_out)]
            latency = int.from_bytes(answer[n_out * size:], "little")
            assert counts == expected, f"counts {counts}, golden {expected}"
            assert latency == int(dut.network.cycles.value), "latency differs from the network's"
            results.append({"counts": counts, "latency": latency})
            await RisingEdge(dut.clk)
        Path(job["results"]).write_text(json.dumps(results))


# ---- pytest side ------------------------------------------------------------------------------

@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
def test_uart_bridge_verilog_matches_golden(tmp_path, simulator, readout):
    """Counts are one byte each; 10-bit membranes two bytes each, sign-extended, little-endian."""
    import dataclasses

    import numpy as np
    from bridge_harness import run_bridge_cosim

    from spikeforge.boards.board_top import value_bytes
    from spikeforge.golden.executor import run as golden_run
    from spikeforge.synthetic import random_netspec

    spec = random_netspec(seed=11, sizes=(12, 8, 4), weight_bits=(4, 1), timesteps=5,
                          input_bits=5, input_max=31, thresholds=(20, 4), state_bits=(12, 10))
    spec = dataclasses.replace(spec, readout=readout).validate()
    images = np.random.default_rng(11).integers(0, 32, (3, spec.input.size))
    images[1] = 0
    expected = golden_run(spec, images).counts.tolist()
    if readout == "membrane":  # negative membranes test the sign extension
        assert value_bytes(spec) == 2 and min(min(row) for row in expected) < 0

    results = tmp_path / "results.json"
    run_bridge_cosim(tmp_path, simulator, spec, DIVISOR, TOPLEVEL, "test_uart_bridge", JOB_ENV,
                     {"images": images.tolist(), "expected": expected, "n_out": spec.n_out,
                      "value_bytes": value_bytes(spec), "signed": readout == "membrane",
                      "results": str(results), "timeout_ns": 200_000 * CLOCK_NS})
    assert results.exists(), f"no verdict; see {tmp_path / 'sim.log'}"
    verdict = json.loads(results.read_text())
    assert [r["counts"] for r in verdict] == expected
    assert all(r["latency"] > 0 for r in verdict)
