"""Build the board's UART bridge around a network as Verilog and run a cocotb module on it.

Shared by the co-simulations of the bridge (``test_uart_bridge.py``) and of the host driver
(``test_host_driver.py``): both are pytest tests and cocotb modules in this folder.
"""

from __future__ import annotations

import json
from pathlib import Path


def run_bridge_cosim(tmp_path: Path, simulator: str, spec, divisor: int, toplevel: str,
                     test_module: str, job_env: str, job: dict) -> None:
    """Generate ``UARTBridge(NetworkTop(spec))``, build it, run ``test_module`` with ``job``.

    The job (a JSON file named by the ``job_env`` variable) tells the cocotb module what to do;
    the module writes its own verdict where the job says.
    """
    from amaranth.back import verilog

    from spikeforge import toolchain
    from spikeforge.boards.board_top import UARTBridge
    from spikeforge.hdl.network import NetworkTop

    toolchain.require("cocotb", "verilator" if simulator == "verilator" else "iverilog")
    toolchain.activate()
    from cocotb_tools.runner import get_runner

    source = tmp_path / f"{toplevel}.v"
    source.write_text(verilog.convert(UARTBridge(NetworkTop(spec), spec, divisor), name=toplevel,
                                      emit_src=False))
    job_path = tmp_path / "job.json"
    job_path.write_text(json.dumps(job))
    runner = get_runner(simulator)
    # CASEINCOMPLETE: Amaranth writes each m.FSM as a case over the states only, without a default.
    build_args = (["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE"]
                  if simulator == "verilator" else [])
    runner.build(sources=[str(source)], hdl_toplevel=toplevel, build_dir=str(tmp_path / "build"),
                 build_args=build_args, always=True, timescale=("1ns", "1ps"),
                 log_file=str(tmp_path / "build.log"))
    runner.test(hdl_toplevel=toplevel, test_module=test_module,
                test_dir=str(Path(__file__).parent), build_dir=str(tmp_path / "build"),
                extra_env={job_env: str(job_path)}, results_xml=str(tmp_path / "results.xml"),
                log_file=str(tmp_path / "sim.log"))


async def start_bridge(dut, clock_ns: int) -> None:
    """cocotb side: start the clock, hold the serial line idle (high), and reset the bridge."""
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles

    Clock(dut.clk, clock_ns, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 3)
