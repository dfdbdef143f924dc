"""The host driver of ``spikeforge run``, checked against the board's UART bridge in co-simulation.

:class:`spikeforge.boards.host.BoardClient`, the same class that drives a real serial port, runs
in a cocotb bridge thread. Its transport is a simulated UART (cocotbext-uart) on the bridge's
``rx``/``tx`` pins, and every count it reads is compared with the golden model. This file is both
the pytest test and the cocotb test module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

TOPLEVEL = "host_bridge_top"
DIVISOR = 8  # clock cycles per UART bit
CLOCK_NS = 10
BAUD = 1_000_000_000 // (DIVISOR * CLOCK_NS)
JOB_ENV = "SPIKEFORGE_HOST_DRIVER_JOB"
SIMULATORS = ["verilator", "icarus"]

import cocotb  # noqa: E402
from cocotb.task import bridge, resume  # noqa: E402
from cocotb.triggers import SimTimeoutError, with_timeout  # noqa: E402


class SimulatedUart:
    """A :class:`~spikeforge.boards.host.Transport` over cocotbext-uart, callable from a bridge thread."""

    def __init__(self, source, sink, timeout_ns: int):
        self.source, self.sink, self.timeout_ns = source, sink, timeout_ns

    async def _write(self, data: bytes) -> None:
        await self.source.write(data)
        await self.source.wait()

    async def _read(self, size: int) -> bytes:
        # UartSink.read(n) returns once anything arrived and fails if fewer than n bytes are
        # queued: take one byte at a time; a timeout ends the read short, as a serial port does.
        data = bytearray()
        try:
            while len(data) < size:
                data += await with_timeout(self.sink.read(1), self.timeout_ns, "ns")
        except SimTimeoutError:
            pass
        return bytes(data)

    def write(self, data: bytes) -> None:
        resume(self._write)(data)

    def read(self, size: int) -> bytes:
        return resume(self._read)(size)


@cocotb.test()
async def host_driver_matches_golden(dut):
    import numpy as np
    from cocotbext.uart import UartSink, UartSource

    from spikeforge import netspec as netspec_io
    from spikeforge.boards.host import BoardClient

    job = json.loads(Path(os.environ[JOB_ENV]).read_text())
    spec = netspec_io.load(job["netspec"])
    from bridge_harness import start_bridge

    await start_bridge(dut, CLOCK_NS)
    transport = SimulatedUart(UartSource(dut.rx, baud=BAUD), UartSink(dut.tx, baud=BAUD),
                              job["timeout_ns"])
    client = BoardClient(spec, transport)
    result = await bridge(client.run)(np.array(job["images"]))
    Path(job["results"]).write_text(json.dumps({"counts": result.counts, "cycles": result.cycles,
                                                "mismatches": result.mismatches}))
    assert not result.mismatches, "\n".join(result.mismatches)


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("readout", ["spike_count", "membrane"])
def test_host_driver_through_simulated_uart(tmp_path, simulator, readout):
    import dataclasses

    import numpy as np
    from bridge_harness import run_bridge_cosim

    from spikeforge.golden import run as golden_run
    from spikeforge.synthetic import random_netspec

    spec = random_netspec(seed=5, sizes=(10, 8, 4), weight_bits=(4, 1), timesteps=4,
                          input_bits=5, input_max=31, thresholds=(18, 3), state_bits=(12, 10))
    spec = dataclasses.replace(spec, readout=readout).validate()
    images = np.random.default_rng(5).integers(0, 32, (3, spec.input.size))
    results = tmp_path / "results.json"
    run_bridge_cosim(tmp_path, simulator, spec, DIVISOR, TOPLEVEL, "test_host_driver", JOB_ENV,
                     {"netspec": str(spec.save(tmp_path / "net.npz")), "images": images.tolist(),
                      "results": str(results), "timeout_ns": 200_000 * CLOCK_NS})
    assert results.exists(), f"no verdict; see {tmp_path / 'sim.log'}"
    verdict = json.loads(results.read_text())
    expected = golden_run(spec, images).counts.tolist()
    assert verdict["counts"] == expected
    if readout == "membrane":  # signed values through the two-byte framing
        assert min(min(row) for row in expected) < 0
    assert verdict["mismatches"] == [] and all(c > 0 for c in verdict["cycles"])
