"""Many networks in one simulator build: a wrapper top, a batch launcher and its cocotb testbench.

One Verilator build costs 10-30 s, so co-simulating hundreds of random networks one build each would
take most of an hour. Here N networks share one build: :func:`write_batch` generates each network's
Verilog as its own flat module (``net<i>``, from :func:`spikeforge.hdl.verilog.generate_verilog` with
``name=``; the flat module keeps its memories inside, so nothing else is global) and a wrapper top
``spikeforge_batch`` that instantiates them side by side. They share ``clk`` and ``rst``; every other
port of network ``i`` appears on the wrapper as ``n<i>_<port>``.

:func:`run_batch` runs the golden executor on every network's images (the reference model, in the
launcher: see :func:`reference_counts`), builds the wrapper on one simulator and runs
:func:`batch_matches_golden`. That drives all networks at once, one coroutine each, reusing the
single-network testbench's :class:`~spikeforge.cosim.testbench.ImageDriver`,
:class:`~spikeforge.cosim.testbench.CountMonitor` and :class:`~spikeforge.cosim.testbench.Checker`
through a port-prefixing view, so simulated time is that of the slowest network, not the sum.
Every count is compared exactly; a mismatch names the network (index and label), the image, the
neuron and both values.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, with_timeout

from spikeforge.errors import SpikeforgeError, ToolchainError

WRAPPER_TOP = "spikeforge_batch"
TESTBENCH_MODULE = "spikeforge.cosim.batch"
ENV_VAR = "SPIKEFORGE_BATCH_JOB"
SHARED_PORTS = ("clk", "rst")
VERILATOR_FAST_BUILD = ("-CFLAGS", "-O0")

# `input [4:0] input__payload;` as Yosys writes a port declaration (`output signed [9:0] ...` for
# a membrane readout's signed output).
_PORT = re.compile(r"^\s*(?P<dir>input|output)\s+(?:signed\s+)?(?:\[(?P<msb>\d+):(?P<lsb>\d+)\]\s+)?"
                   r"(?P<name>\w+)\s*;",
                   re.MULTILINE)


def module_name(index: int) -> str:
    """Verilog module name of network ``index`` in a batch."""
    return f"net{index}"


def port_prefix(index: int) -> str:
    """Prefix of network ``index``'s ports on the wrapper top."""
    return f"n{index}_"


def module_ports(verilog: str) -> list[tuple[str, str, int]]:
    """``(direction, name, width)`` of every port declared in Yosys-written Verilog of one module.

    Raises
    ------
    SpikeforgeError
        If no port, or not ``clk`` and ``rst``, is found.
    """
    ports = [(m["dir"], m["name"], 1 if m["msb"] is None else abs(int(m["msb"]) - int(m["lsb"])) + 1)
             for m in _PORT.finditer(verilog)]
    names = {name for _, name, _ in ports}
    if not set(SHARED_PORTS) <= names:
        raise SpikeforgeError("generated module lacks its clock or reset port", "batch wrapper",
                              f"ports {SHARED_PORTS}", f"ports {sorted(names)}")
    return ports


def wrapper_verilog(modules: Sequence[tuple[str, list]], name: str = WRAPPER_TOP) -> str:
    """A top that instantiates each ``(module, ports)`` once, with shared clock and reset.

    Parameters
    ----------
    modules : sequence of (str, list)
        Module name and its :func:`module_ports`, in network order (index = position).
    name : str
        Name of the wrapper module.

    Returns
    -------
    str
        Verilog of the wrapper alone (the network modules go in their own files).
    """
    declarations = ["  input clk", "  input rst"]
    instances = []
    for index, (module, ports) in enumerate(modules):
        prefix = port_prefix(index)
        connections = []
        for direction, port, width in ports:
            if port in SHARED_PORTS:
                connections.append(f".{port}({port})")
                continue
            vector = f"[{width - 1}:0] " if width > 1 else ""
            declarations.append(f"  {direction} wire {vector}{prefix}{port}")
            connections.append(f".{port}({prefix}{port})")
        instances.append(f"  {module} u_{module} (\n    " + ",\n    ".join(connections) + "\n  );")
    return (f"// {len(modules)} independent networks of a spikeforge batch co-simulation.\n"
            f"module {name} (\n" + ",\n".join(declarations) + "\n);\n"
            + "\n".join(instances) + "\nendmodule\n")


@dataclass
class BatchNetwork:
    """One network of a batch, as the testbench receives it.

    Attributes
    ----------
    index : int
        Position in the batch (module ``net<index>``, ports ``n<index>_*``).
    label : str
        How messages name it (e.g. the seed and shape of a random network).
    netspec : str
        Path of the NetSpec the reference model runs (the one the Verilog was made from, unless a
        test swaps it on purpose).
    images : str
        Path of an ``.npy`` of shape ``(n, input.size)``.
    verilog : str
        Path of the network's module.
    """

    index: int
    label: str
    netspec: str
    images: str
    verilog: str


@dataclass
class BatchDesign:
    """Files of one batch: a Verilog module per network, the wrapper, NetSpecs and images.

    Attributes
    ----------
    directory : str
        Where :func:`write_batch` wrote them.
    wrapper : str
        Path of the wrapper top's Verilog.
    networks : list of BatchNetwork
        In index order.
    generate_seconds : float
        Wall time of the Verilog generation.
    """

    directory: str
    wrapper: str
    networks: list
    generate_seconds: float = 0.0

    @property
    def sources(self) -> list[str]:
        """Verilog files to compile: every network module, then the wrapper."""
        return [network.verilog for network in self.networks] + [self.wrapper]


def write_batch(networks, work_dir: str | Path) -> BatchDesign:
    """Generate the Verilog of every network and the wrapper top that holds them all.

    Parameters
    ----------
    networks : sequence
        Objects with ``spec`` (a validated NetSpec), ``lanes`` (one int per layer) and ``images``
        (array ``(n, input.size)``), and optionally ``describe()`` for the label, such as
        :class:`spikeforge.synthetic.RandomNetwork`.
    work_dir : path
        Folder for the files (created).

    Returns
    -------
    BatchDesign
        Reusable by :func:`run_batch` on each simulator.

    Raises
    ------
    SpikeforgeError
        If a network cannot be built (naming the network and the hardware generator's reason).
    """
    from spikeforge.hdl.verilog import generate_verilog  # the launcher side only

    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entries, modules = [], []
    for index, network in enumerate(networks):
        label = network.describe() if hasattr(network, "describe") else f"network {index}"
        name = module_name(index)
        try:
            text = generate_verilog(network.spec, list(network.lanes), name=name)
        except SpikeforgeError as exc:
            raise SpikeforgeError("network of the batch cannot be built", f"network {index} ({label})",
                                  "a NetSpec the hardware generator supports", str(exc)) from None
        verilog_path = work_dir / f"{name}.v"
        verilog_path.write_text(text)
        images_path = work_dir / f"{name}_images.npy"
        np.save(images_path, np.asarray(network.images, dtype=np.int64))
        netspec_path = network.spec.save(work_dir / f"{name}.npz")
        modules.append((name, module_ports(text)))
        entries.append(BatchNetwork(index, label, str(netspec_path), str(images_path),
                                    str(verilog_path)))
    wrapper = work_dir / f"{WRAPPER_TOP}.v"
    wrapper.write_text(wrapper_verilog(modules))
    return BatchDesign(str(work_dir), str(wrapper), entries, time.perf_counter() - start)


@dataclass
class BatchResult:
    """Verdict of one batch on one simulator.

    Attributes
    ----------
    simulator : str
        ``"verilator"`` or ``"icarus"``.
    networks : list of dict
        Per network: index, label, and per image the expected and observed counts and cycles.
    mismatches : list of str
        One line per differing integer or hang, naming network, image, neuron and both values.
    build_seconds, run_seconds : float
        Wall time of the simulator build and of the run.
    """

    simulator: str
    networks: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    build_seconds: float = 0.0
    run_seconds: float = 0.0
    log: str = ""

    @property
    def images_checked(self) -> int:
        return sum(len(network["images"]) for network in self.networks)

    @property
    def counts_checked(self) -> int:
        """Integers compared: one spike count per output neuron and image."""
        return sum(len(image["expected"]) for network in self.networks for image in network["images"])

    @property
    def passed(self) -> bool:
        return not self.mismatches and bool(self.networks)

    def summary(self) -> dict:
        return {"simulator": self.simulator, "networks": len(self.networks),
                "images": self.images_checked, "counts": self.counts_checked,
                "mismatches": len(self.mismatches), "bit_exact": self.passed,
                "build_seconds": round(self.build_seconds, 2),
                "run_seconds": round(self.run_seconds, 2)}


def reference_counts(network: BatchNetwork) -> list:
    """The golden executor's counts of one network's images, from its NetSpec file.

    The reference model runs here, in the launcher, not in the simulator: importing torch inside
    the simulator's embedded Python took ~30 s per run on a loaded 2-core machine (outside, ~4 s,
    and the launcher has usually imported it already), more than simulating a whole batch.
    """
    from spikeforge import netspec as netspec_io
    from spikeforge.golden import run

    spec = netspec_io.load(network.netspec)
    return run(spec, np.load(network.images)).counts.astype(np.int64).tolist()


def run_batch(design: BatchDesign, simulator: str = "verilator", work_dir: str | Path | None = None,
              cycle_budget: int = 200_000, raise_on_mismatch: bool = True) -> BatchResult:
    """Build the batch's wrapper on ``simulator`` and check every network against the golden model.

    Parameters
    ----------
    design : BatchDesign
        From :func:`write_batch`.
    simulator : str
        ``"verilator"`` or ``"icarus"``.
    work_dir : path, optional
        Build and run folder (default ``<design.directory>/<simulator>``).
    cycle_budget : int
        Cycles per image before a network is declared hung.
    raise_on_mismatch : bool
        Raise :class:`MismatchError` listing the first mismatches (default), or return them.

    Returns
    -------
    BatchResult
    """
    from spikeforge import toolchain

    from .runner import VERILATOR_WAIVERS, raise_mismatches, read_verdict, require_simulator

    require_simulator(simulator)
    toolchain.activate()
    from cocotb_tools.runner import get_runner  # after activate(): the runner looks up PATH

    work_dir = Path(work_dir or Path(design.directory) / simulator).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    results_path = work_dir / "results.json"
    results_path.unlink(missing_ok=True)
    job_path = work_dir / "job.json"
    networks = [dict(asdict(network), expected=reference_counts(network))
                for network in design.networks]
    job_path.write_text(json.dumps({"networks": networks,
                                    "results": str(results_path), "cycle_budget": int(cycle_budget)},
                                   indent=1))
    runner = get_runner(simulator)
    # The C++ compile of many networks dominates a Verilator build (25 small ones: ~13 MB of C++,
    # nearly all public for cocotb), while their run takes seconds: compile it without optimizing.
    # A -O0 in CFLAGS comes after Verilator's own -Os on the compiler's command line, so it wins.
    build_args = list(VERILATOR_WAIVERS) + list(VERILATOR_FAST_BUILD) if simulator == "verilator" else []
    build_dir = work_dir / f"build_{simulator}"
    log_path = work_dir / f"{simulator}.log"
    result = BatchResult(simulator=simulator, log=str(log_path))
    start = time.perf_counter()
    try:
        runner.build(sources=design.sources, hdl_toplevel=WRAPPER_TOP, build_dir=str(build_dir),
                     build_args=build_args, always=True, timescale=("1ns", "1ps"),
                     log_file=str(work_dir / f"{simulator}_build.log"))
    except (SystemExit, Exception) as exc:
        raise ToolchainError("simulator build failed", f"{simulator} on {design.wrapper}",
                             "a compiled model", f"{type(exc).__name__}: {exc}",
                             hint=f"see {work_dir / f'{simulator}_build.log'}") from None
    result.build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    try:
        runner.test(hdl_toplevel=WRAPPER_TOP, test_module=TESTBENCH_MODULE, build_dir=str(build_dir),
                    test_dir=str(work_dir), extra_env={ENV_VAR: str(job_path)},
                    results_xml=str(work_dir / f"{simulator}_results.xml"), log_file=str(log_path))
    except SystemExit:
        pass  # under pytest the runner exits on a failed test; the verdict is read below
    result.run_seconds = time.perf_counter() - start
    verdict = read_verdict(results_path, f"{simulator} run in {work_dir}", log_path)
    result.networks, result.mismatches = verdict["networks"], verdict["mismatches"]
    if len(result.networks) != len(design.networks):
        result.mismatches.append(f"{len(result.networks)} of {len(design.networks)} networks reported")
    if raise_on_mismatch:
        raise_mismatches(result.mismatches, f"{simulator} batch co-simulation",
                         f"files: {design.directory}; log: {log_path}")
    return result


# ---- the cocotb side (runs inside the simulator) ----------------------------------------------

class PrefixedView:
    """The ports of one network of the wrapper, under their own names (``input__valid`` for
    ``n3_input__valid``), so the single-network driver and monitor work unchanged."""

    def __init__(self, dut, prefix: str):
        self._dut = dut
        self._prefix = prefix

    def __getattr__(self, name: str):
        if name in SHARED_PORTS:
            return getattr(self._dut, name)
        return getattr(self._dut, self._prefix + name)


class NetworkBench:
    """Driver, monitor, reference model and checker of one network of the wrapper.

    Built before the clock starts: the driver and monitor set ``input__valid = 0`` and
    ``output__ready = 1`` at once, so no network's input is X while the reset runs (an X ready
    would otherwise leave X in its registers).
    """

    def __init__(self, dut, entry: dict):
        from spikeforge import netspec as netspec_io

        from .testbench import Checker, CountMonitor, ImageDriver

        self.entry = entry
        self.clk = dut.clk
        spec = netspec_io.load(entry["netspec"])
        self.images = np.load(entry["images"])
        self.view = PrefixedView(dut, port_prefix(entry["index"]))
        self.expected = entry["expected"]
        self.driver, self.monitor = ImageDriver(self.view), CountMonitor.of(self.view, spec)
        self.checker = Checker(spec.layers[-1].name, spec.timesteps, spec.readout)
        self.name = f"network {entry['index']} ({entry['label']})"

    async def run(self, cycle_budget: int, clock_ns: int) -> tuple[dict, list]:
        """Drive the images one at a time and compare each image's counts."""
        records = []
        for index, image in enumerate(self.images):
            cocotb.start_soon(self.driver.send(image))
            try:
                observed = await with_timeout(self.monitor.receive(), cycle_budget * clock_ns, "ns")
            except TimeoutError:
                self.checker.mismatches.append(
                    f"image {index}: no complete output after {cycle_budget} cycles (the design "
                    "hangs or is far slower than its cost model)")
                break
            await RisingEdge(self.clk)  # `cycles` is updated in the cycle after `done`
            expected = self.expected[index]
            match = self.checker.check(index, expected, observed)
            cycles = self.view.cycles.value
            records.append({"image": index, "expected": expected, "observed": observed,
                            "cycles": int(cycles) if cycles.is_resolvable else str(cycles),
                            "match": match})
        mismatches = [f"{self.name}: {line}" for line in self.checker.mismatches]
        record = {"index": self.entry["index"], "label": self.entry["label"], "images": records}
        return record, mismatches


@cocotb.test()
async def batch_matches_golden(dut):
    """Every output count of every image of every network in the batch equals the golden one."""
    from .testbench import CLOCK_NS

    job = json.loads(Path(os.environ[ENV_VAR]).read_text())
    benches = [NetworkBench(dut, entry) for entry in job["networks"]]
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    # All networks at once: simulated time is the slowest network's, not the sum of all.
    tasks = [cocotb.start_soon(bench.run(job["cycle_budget"], CLOCK_NS)) for bench in benches]
    networks, mismatches = [], []
    for task in tasks:
        record, lines = await task
        networks.append(record)
        mismatches.extend(lines)
    with open(job["results"], "w") as handle:
        json.dump({"networks": networks, "mismatches": mismatches}, handle)
    assert not mismatches, "\n".join(mismatches[:20])
