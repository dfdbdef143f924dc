"""Launch a co-simulation: build the Verilog with cocotb's runner, run the testbench, read its verdict."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikeforge import toolchain
from spikeforge.errors import MismatchError, SpikeforgeError, ToolchainError

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "spikeforge_top"
TESTBENCH_MODULE = "spikeforge.cosim.testbench"
# Amaranth's Verilog widens and narrows on purpose; these two lint classes, and only these, are waived.
VERILATOR_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC")


@dataclass
class CosimResult:
    """Verdict of one co-simulation run.

    Attributes
    ----------
    simulator : str
        ``"verilator"`` or ``"icarus"``.
    images : list of dict
        Per image: data set index, expected and observed counts, cycles, match; in debug mode
        also ``first_divergence`` (None when every spike and membrane matched) and
        ``final_membranes``.
    mismatches : list of str
        One readable line per differing integer (empty when bit-exact).
    build_seconds, run_seconds : float
        Wall time of the simulator build and of the test run.
    """

    simulator: str
    images: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    log: str = ""

    @property
    def passed(self) -> bool:
        return not self.mismatches and bool(self.images)

    @property
    def cycles(self) -> list[int]:
        return [record["cycles"] for record in self.images]

    def summary(self) -> dict:
        cycles = self.cycles
        return {"simulator": self.simulator, "images": len(self.images),
                "bit_exact": self.passed, "mismatches": len(self.mismatches),
                "cycles_mean": float(np.mean(cycles)) if cycles else None,
                "cycles_max": int(max(cycles)) if cycles else None,
                "build_seconds": round(self.build_seconds, 2),
                "run_seconds": round(self.run_seconds, 2)}


def require_simulator(simulator: str) -> None:
    """Raise a clear error if ``simulator`` is unknown or not installed (with cocotb)."""
    if simulator not in SIMULATORS:
        raise SpikeforgeError("unknown simulator", "--simulator", f"one of {SIMULATORS}", repr(simulator))
    toolchain.require("cocotb", "verilator" if simulator == "verilator" else "iverilog")


def run_cosim(netspec_path: str | Path, verilog_path: str | Path, images, work_dir: str | Path,
              simulator: str = "verilator", image_ids=None, cycle_budget: int = 1_000_000,
              raise_on_mismatch: bool = True, debug: bool = False) -> CosimResult:
    """Co-simulate ``images`` through the Verilog and compare every count with the golden executor.

    Parameters
    ----------
    netspec_path : path
        The NetSpec the Verilog was generated from.
    verilog_path : path
        Verilog whose top module is ``spikeforge_top`` (see :mod:`spikeforge.hdl.verilog`).
    images : array-like of int
        Encoded inputs, shape ``(n, input.size)``.
    work_dir : path
        Build and run folder (simulator objects, logs, ``results.json``).
    simulator : str
        ``"verilator"`` (fast) or ``"icarus"``.
    image_ids : sequence of int, optional
        Data set indices of the images, used in messages (default ``0..n-1``).
    cycle_budget : int
        Cycles per image before the testbench declares a hang.
    raise_on_mismatch : bool
        Raise :class:`MismatchError` listing the first mismatches (default), or just return them.
    debug : bool
        Record every layer's spikes and membranes inside the design (slow: Python wakes every
        cycle) and report the first diverging layer, step (or final membrane) and neuron of each
        image, with the golden and RTL values; each image's record also gets ``first_divergence``
        and ``final_membranes`` (per layer, the RTL's membranes after the last step). Needs the
        hierarchical Verilog (``generate_verilog(..., hierarchy=True)``), which has the probes.

    Returns
    -------
    CosimResult
    """
    require_simulator(simulator)
    toolchain.activate()
    from cocotb_tools.runner import get_runner  # after activate(): the runner looks up PATH

    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    images = np.asarray(images, dtype=np.int64)
    ids = list(range(len(images))) if image_ids is None else [int(i) for i in image_ids]
    np.save(work_dir / "images.npy", images)
    results_path = work_dir / "results.json"
    results_path.unlink(missing_ok=True)
    from .job import ENV_VAR, CosimJob

    job = CosimJob(netspec=str(Path(netspec_path).resolve()), images=str(work_dir / "images.npy"),
                   results=str(results_path), cycle_budget=int(cycle_budget), image_ids=ids,
                   debug=debug)
    job_path = job.save(work_dir / "job.json")

    runner = get_runner(simulator)
    build_args = list(VERILATOR_WAIVERS) + ["-O3"] if simulator == "verilator" else []
    build_dir = work_dir / f"build_{simulator}"
    log_path = work_dir / f"{simulator}.log"
    result = CosimResult(simulator=simulator)
    start = time.perf_counter()
    try:
        runner.build(sources=[str(Path(verilog_path).resolve())], hdl_toplevel=TOPLEVEL,
                     build_dir=str(build_dir), build_args=build_args, always=True,
                     timescale=("1ns", "1ps"), log_file=str(work_dir / f"{simulator}_build.log"))
    except (SystemExit, Exception) as exc:
        raise ToolchainError("simulator build failed", f"{simulator} on {verilog_path}",
                             "a compiled model", f"{type(exc).__name__}: {exc}",
                             hint=f"see {work_dir / f'{simulator}_build.log'}") from None
    result.build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    try:
        runner.test(hdl_toplevel=TOPLEVEL, test_module=TESTBENCH_MODULE, build_dir=str(build_dir),
                    test_dir=str(work_dir), extra_env={ENV_VAR: str(job_path)},
                    results_xml=str(work_dir / f"{simulator}_results.xml"), log_file=str(log_path))
    except SystemExit:
        pass  # under pytest the runner exits on a failed test; the verdict is read below
    result.run_seconds = time.perf_counter() - start
    result.log = str(log_path)
    verdict = read_verdict(results_path, f"{simulator} run in {work_dir}", log_path)
    result.images, result.mismatches = verdict["images"], verdict["mismatches"]
    if raise_on_mismatch:
        raise_mismatches(result.mismatches, f"{simulator} co-simulation", f"log: {log_path}")
    return result


def read_verdict(results_path: Path, where: str, log_path: Path) -> dict:
    """The JSON verdict a cocotb testbench wrote, or a ToolchainError if it wrote none."""
    if not Path(results_path).exists():
        raise ToolchainError("co-simulation ended without a verdict", where,
                             "results.json written by the testbench", "no file",
                             hint=f"see {log_path}")
    return json.loads(Path(results_path).read_text())


def raise_mismatches(mismatches: list, where: str, hint: str) -> None:
    """Raise a MismatchError listing the first ten mismatch lines, if there are any."""
    if not mismatches:
        return
    shown = "\n  ".join(mismatches[:10])
    more = len(mismatches) - 10
    raise MismatchError("RTL differs from the golden model", where, "identical integers",
                        f"{len(mismatches)} mismatches:\n  {shown}"
                        + (f"\n  ... and {more} more" if more > 0 else ""), hint=hint)
