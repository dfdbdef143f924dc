"""Dynamic power of the generated hardware from the switching activity of a co-simulation.

**What is measured and what is modelled.** The *activity* is measured: the network's Verilog runs
on Icarus Verilog through the stimulus wrapper of :mod:`spikeforge.cosim.fast` (the same images,
checked bit for bit against the golden executor), its signals are dumped to a VCD file, and every
bit toggle of every net and register, every clock cycle and every enabled memory port is counted
from that file. The *energy per event* is a **model**: per-family coefficients
(:data:`COEFFICIENTS`) turn the counts into picojoules, and ``P = Σ activity × coefficient × f``.
Nothing here measures a board, and the simulation is zero-delay RTL: it has no glitches, and its
nets are the RTL's, not the placed netlist's.

The resources the counts are mapped onto:

* **flip-flops** (``ff``): every register bit assigned in an ``always @(posedge clk)`` block of the
  network's Verilog (memory arrays and memory read-data registers excepted): their bit toggles;
* **logic** (``logic``): every other dumped net bit (wires, combinational ``reg``\\ s, the memories'
  read-data registers, which are the block RAMs' output nets): their bit toggles; each RTL net bit
  stands for one routed LUT (or carry) output; a net that is only another whole net under a
  second name (``assign a = b;``) is counted once;
* **memory** (``memory``): per memory of :func:`spikeforge.hdl.verilog.describe`, the cycles in
  which each read and write port is enabled (a probe wire equal to the port's enable is added to a
  copy of the Verilog), times the word's bits; memories that synthesis puts in logic
  (:func:`spikeforge.estimate.map_memory`) cost nothing here, their activity shows in ``logic``;
* **clock** (``clock``): one term per clock cycle for the clock network.

The coefficients, their units and where each comes from are in :data:`COEFFICIENTS` and in
``docs/energy.md`` ("Dynamic power from switching activity").
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import SpikeforgeError, ToolchainError

FAMILIES = ("ice40", "ecp5")
DEFAULT_MHZ = {"ice40": 12.0, "ecp5": 25.0}   # the iCEBreaker's and the ULX3S's oscillators
TB_TOP = "spikeforge_power_tb"
PROBE_PREFIX = "spikeforge_power_probe_"
CLOCK = "clk"
HALF_PERIOD_NS = 5
RESET_NS = 35            # reset released between the 3rd and 4th rising edge, as in cosim.fast


class PowerError(SpikeforgeError, ValueError):
    """A bad argument or input of the power estimate (what, where, expected, found)."""


# ---- coefficients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Coefficient:
    """One energy per event, its unit, whether it is fitted to a measurement or assumed, and why."""

    value: float
    unit: str
    basis: str       # "fitted to a board measurement" or "assumption"
    source: str


# iCE40UP5K board measurement (core rail, 1.219 V): tinyvision-ai-inc/ice40_power, README
# (https://github.com/tinyvision-ai-inc/ice40_power), Joulescope JS110 on the Lattice iCE40
# UltraPlus breakout board, designs built with icestorm. Core current:
#   external 12 MHz clock + 28-bit counter (32 LCs) 613.5 uA, 2 x 28-bit (60 LCs) 616.65 uA,
#   4 x (116 LCs) 624.2 uA, 8 x (228 LCs) 641.3 uA; clock halted + counter 92.1 uA.
_ICE40_V = 1.219
_ICE40_MHZ = 12.0
# Clock: (613.5 - 92.1) uA at 12 MHz is 52.97 pJ per cycle; less the one counter's toggles
# (0.40 pJ, below) leaves 52.6 pJ per cycle for the clock network of a small design.
_COUNTER_PJ = (641.3 - 613.5) * 1e-6 * _ICE40_V / (_ICE40_MHZ * 1e6) / 7 * 1e12  # 0.403 pJ
_ICE40_CLOCK_PJ = (613.5 - 92.1) * 1e-6 * _ICE40_V / (_ICE40_MHZ * 1e6) * 1e12 - _COUNTER_PJ
# One more 28-bit binary counter costs 0.403 pJ per cycle. Per cycle a binary counter toggles 2
# flip-flop outputs, 2 LUT (sum) outputs and about 2 carry outputs: 6 net toggles, assumed equal
# (in an FPGA the routed net dominates a toggle's energy): 0.067 pJ per net-bit toggle.
_ICE40_TOGGLE_PJ = _COUNTER_PJ / 6
# Memory: no per-access figure of the iCE40 EBR was found published; assumption: Horowitz's 45 nm
# SRAM read energy per bit (10 pJ per 64-bit read of an 8 KB array, ISSCC 2014; the table of
# spikeforge.energy) scaled by the square of the core voltage, (1.2 / 0.9)^2.
_HOROWITZ_BIT_PJ = 10.0 / 64
_ECP5_SCALE = (1.1 / _ICE40_V) ** 2  # ECP5 core 1.1 V (DS1044) against the measured 1.219 V

_ICE40_SOURCE = ("tinyvision-ai-inc/ice40_power README: iCE40UP5K core current at 1.219 V, "
                 "Joulescope JS110 (28-bit counters at an external 12 MHz clock: 1 to 8 counters "
                 "613.5 to 641.3 uA; clock halted 92.1 uA)")

COEFFICIENTS: dict[str, dict[str, Coefficient]] = {
    "ice40": {
        "ff_toggle": Coefficient(
            round(_ICE40_TOGGLE_PJ, 4), "pJ per flip-flop output bit toggle",
            "fitted to a board measurement",
            f"{_ICE40_SOURCE}; one more counter +0.403 pJ/cycle = 6 net toggles (2 FF, 2 LUT, "
            "2 carry), split equally (assumption)"),
        "logic_toggle": Coefficient(
            round(_ICE40_TOGGLE_PJ, 4), "pJ per logic net bit toggle",
            "fitted to a board measurement", f"as ff_toggle ({_ICE40_SOURCE})"),
        "memory_bit": Coefficient(
            round(_HOROWITZ_BIT_PJ * (1.2 / 0.9) ** 2, 4),
            "pJ per bit of a block-RAM port access (read or write)", "assumption",
            "Horowitz ISSCC 2014 45 nm SRAM, 10 pJ per 64-bit read (8 KB) per bit, scaled by "
            "(1.2 V / 0.9 V)^2 (iCE40 UltraPlus core 1.2 V, FPGA-DS-02008); no published iCE40 "
            "EBR figure used"),
        "clock_cycle": Coefficient(
            round(_ICE40_CLOCK_PJ, 2), "pJ per clock cycle (global clock network)",
            "fitted to a board measurement",
            f"{_ICE40_SOURCE}: (613.5 - 92.1) uA x 1.219 V / 12 MHz, less the counter's 0.40 pJ"),
    },
    "ecp5": {
        "ff_toggle": Coefficient(
            round(_ICE40_TOGGLE_PJ * _ECP5_SCALE, 4), "pJ per flip-flop output bit toggle",
            "assumption",
            "the iCE40 fit scaled by (1.1 V / 1.219 V)^2 (ECP5 core 1.1 V, DS1044; same "
            "switched capacitance assumed); no ECP5 board measurement used"),
        "logic_toggle": Coefficient(
            round(_ICE40_TOGGLE_PJ * _ECP5_SCALE, 4), "pJ per logic net bit toggle", "assumption",
            "as ff_toggle"),
        "memory_bit": Coefficient(
            round(_HOROWITZ_BIT_PJ * (1.1 / 0.9) ** 2, 4),
            "pJ per bit of a block-RAM or LUT-RAM port access (read or write)", "assumption",
            "Horowitz ISSCC 2014 45 nm SRAM per bit, scaled by (1.1 V / 0.9 V)^2"),
        "clock_cycle": Coefficient(
            round(_ICE40_CLOCK_PJ * _ECP5_SCALE, 2), "pJ per clock cycle (global clock network)",
            "assumption",
            "the iCE40 fit scaled by (1.1 V / 1.219 V)^2; the ECP5's larger clock tree likely "
            "costs more"),
    },
}


def coefficients(family: str) -> dict[str, Coefficient]:
    """The coefficients of ``family`` (``ice40`` or ``ecp5``).

    Raises
    ------
    PowerError
        For an unknown family.
    """
    if family not in COEFFICIENTS:
        raise PowerError("unknown device family", "--family", f"one of {', '.join(FAMILIES)}",
                         repr(family))
    return COEFFICIENTS[family]


# ---- toggle counting --------------------------------------------------------------------------


def _normal(name: str) -> str:
    """A signal name as the Verilog and the VCD both spell it: no escape backslash, no spaces."""
    return name.strip().lstrip("\\").strip()


@dataclass
class ToggleCounts:
    """Bit toggles counted from a VCD file.

    Attributes
    ----------
    signals : dict
        ``name -> {"width", "toggles", "kind"}`` (``kind`` the VCD var type, ``wire`` or ``reg``);
        names without their scope. Toggles are 0->1 and 1->0 changes of one bit between the
        settled values of consecutive time steps; changes from or to x/z do not count, nor do the
        initial values.
    rising_edges : int
        Rising edges of the clock signal (0 if none was named).
    enabled : dict
        ``name -> cycles``: for each signal named in ``sample``, the rising clock edges at which
        its value just before the edge was 1.
    stored : dict
        ``memory -> bit flips`` of the stored words, for the memories given as ``stores``.
    """

    signals: dict
    rising_edges: int = 0
    enabled: dict = field(default_factory=dict)
    stored: dict = field(default_factory=dict)


def _value(raw) -> tuple[int, int]:
    """A VCD value as ``(bits, known)``: the 0/1 bits, and a mask of the bits that are 0 or 1."""
    if isinstance(raw, int):
        return raw, -1
    text = str(raw).lower()
    bits = known = 0
    for char in text:
        bits <<= 1
        known <<= 1
        if char == "1":
            bits |= 1
            known |= 1
        elif char == "0":
            known |= 1
    return bits, known


def count_toggles(vcd_path: str | Path, clock: str | None = None, sample=(),
                  stores=()) -> ToggleCounts:
    """Count the bit toggles of every signal in a VCD file, streaming it line by line.

    A small parser of the four-state VCD that simulators write (``$var`` declarations, ``#time``,
    scalar ``0!`` and vector ``b0101 !`` changes; ``$dumpvars`` gives the initial values, which
    count no toggle). ``pyvcd``'s reader (``vcd.reader.tokenize``) parses the same files and
    agrees (``tests/test_power.py``), but it is about ten times slower on the megabytes of a run.

    Parameters
    ----------
    vcd_path : path
        The VCD file.
    clock : str, optional
        Name of the clock: its rising edges are counted and it samples ``sample`` and ``stores``.
    sample : iterable of str
        Signals whose value is sampled at each rising clock edge (the value before the edge).
    stores : iterable of (name, enable, address, data)
        Memories written at a rising edge where ``enable`` (sampled before the edge) is 1:
        ``data`` is stored at ``address``; the bits that change in the stored word are counted in
        ``ToggleCounts.stored`` (every word starts at 0).

    Returns
    -------
    ToggleCounts
    """
    ids: dict[str, list[str]] = defaultdict(list)      # id code -> names
    names: dict[str, tuple[int, str]] = {}              # name -> (width, var type)
    settled: dict[str, tuple[int, int]] = {}            # id code -> value at the end of the last step
    toggles: dict[str, int] = defaultdict(int)
    pending: dict[str, tuple[int, int]] = {}
    sample = {_normal(name) for name in sample}
    stores = [tuple(_normal(part) for part in store) for store in stores]
    wanted = sample | {part for store in stores for part in store[1:]}
    clock = _normal(clock) if clock else None
    clock_id = None
    code_of: dict[str, str] = {}
    enabled = {name: 0 for name in sample}
    stored = {store[0]: 0 for store in stores}
    contents: dict[str, dict[int, int]] = {store[0]: {} for store in stores}
    edges = 0
    in_dumpvars = False

    def now(code):
        return settled.get(code, (0, 0))

    def settle():
        nonlocal edges
        if not pending:
            return
        if clock_id is not None and clock_id in pending:
            old, new = now(clock_id), pending[clock_id]
            if (old[1] & 1) and not (old[0] & 1) and (new[1] & 1) and (new[0] & 1):
                edges += 1
                for name in sample:
                    bits, known = now(code_of[name])
                    if known & 1 and bits & 1:
                        enabled[name] += 1
                for name, enable, address, data in stores:
                    bits, known = now(code_of[enable])
                    if known & 1 and bits & 1:
                        where, value = now(code_of[address])[0], now(code_of[data])[0]
                        words = contents[name]
                        stored[name] += (words.get(where, 0) ^ value).bit_count()
                        words[where] = value
        for code, new in pending.items():
            old = settled.get(code)
            if old is not None:
                toggles[code] += ((old[0] ^ new[0]) & old[1] & new[1]).bit_count()
            settled[code] = new
        pending.clear()

    def change(code, bits, known):
        if in_dumpvars:
            settled[code] = (bits, known)   # initial values: no toggle
        else:
            pending[code] = (bits, known)

    with open(vcd_path, "r", encoding="ascii", errors="replace") as stream:
        for line in stream:
            head = line[:1]
            if head == "#":
                settle()
            elif head in "01":
                change(line[1:].strip(), int(head), 1)
            elif head in "xXzZ":
                change(line[1:].strip(), 0, 0)
            elif head in "bB":
                value, _, code = line[1:].strip().partition(" ")
                if value.isdigit() and set(value) <= {"0", "1"}:
                    change(code.strip(), int(value, 2), -1)
                else:
                    change(code.strip(), *_value(value))
            elif head == "$":
                words = line.split()
                if words[0] == "$var":
                    # $var <type> <size> <id> <reference> [<bit range>] $end
                    var_type, size, code = words[1], int(words[2]), words[3]
                    name = _normal(words[4])
                    ids[code].append(name)
                    names[name] = (size, var_type)
                    if name == clock:
                        clock_id = code
                    if name in wanted:
                        code_of[name] = code
                elif words[0] in ("$dumpvars", "$dumpoff", "$dumpon", "$dumpall"):
                    # Values listed here set the state without toggling (the initial dump, or
                    # the x's of $dumpoff and the values of $dumpon).
                    settle()
                    in_dumpvars = words[-1] != "$end"
                elif words[0] == "$end":
                    in_dumpvars = False
            elif head == "r":
                pass   # real values: no bits
    settle()
    signals = {}
    for code, members in ids.items():
        for position, name in enumerate(members):
            width, var_type = names[name]
            # Aliases (one id code, several names) toggle once: the first name carries the count.
            signals[name] = {"width": width, "kind": var_type,
                             "toggles": toggles.get(code, 0) if position == 0 else 0}
    missing = wanted - set(code_of)
    if missing:
        raise PowerError("sampled signal not in the VCD", str(vcd_path), "a $var for each probe",
                         f"missing {sorted(missing)[:5]}")
    return ToggleCounts(signals, edges, enabled, stored)


# ---- the network's Verilog: registers, memories and their ports -----------------------------

_IDENT = r"(?:\\\S+|[A-Za-z_][\w$]*)"
_MEMORY_DECL = re.compile(rf"^\s*reg\s+\[(\d+):(\d+)\]\s+({_IDENT})\s*\[(\d+):(\d+)\]\s*;", re.M)
_ALWAYS = re.compile(r"^\s*always\s*@\((.*)\)\s*(begin)?\s*$")
_NONBLOCKING = re.compile(rf"^\s*({_IDENT})\s*(\[[^\]]*\])?\s*(?:\[[^\]]*\]\s*)?<=\s*(.*);\s*$")
_IF = re.compile(r"^\s*if\s*\((.*)\)\s*(begin)?\s*$")
_ALIAS = re.compile(rf"^\s*assign\s+({_IDENT})\s*=\s*({_IDENT})\s*;\s*$", re.M)


@dataclass
class MemoryPorts:
    """One memory of the Verilog: its shape and the enable expression of each port."""

    name: str
    depth: int
    width: int
    reads: list = field(default_factory=list)    # enable expressions ("1'b1" when always on)
    writes: list = field(default_factory=list)
    read_data: list = field(default_factory=list)  # registers loaded from the memory
    write_targets: list = field(default_factory=list)  # (address, data) of each write port


@dataclass
class VerilogAnalysis:
    """What :func:`analyse_verilog` found: the memories, and the register names (flip-flops)."""

    memories: dict
    registers: set
    aliases: set = field(default_factory=set)   # nets that are another whole net (assign a = b;)


def _balanced(text: str) -> str:
    """The condition of an ``if (...)`` line, up to its matching parenthesis."""
    depth = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return text[:index]
            depth -= 1
    return text


def analyse_verilog(text: str) -> VerilogAnalysis:
    """Find the memories, their read and write ports with their enables, and the flip-flops.

    Works on the flat Verilog that :func:`spikeforge.hdl.verilog.generate_verilog` writes (Yosys'
    ``write_verilog``): memories are ``reg [w-1:0] name [d-1:0];``, their ports statements
    ``mem[addr] <= data;`` (write) and ``r <= mem[addr];`` (synchronous read) inside
    ``always @(posedge clk)`` blocks, under ``if (enable)``.
    """
    memories = {}
    for match in _MEMORY_DECL.finditer(text):
        high, low, name, first, last = match.groups()
        memories[_normal(name)] = MemoryPorts(_normal(name), abs(int(last) - int(first)) + 1,
                                              abs(int(high) - int(low)) + 1)
    mem_names = set(memories)
    registers: set[str] = set()
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        always = _ALWAYS.match(lines[index])
        if not always or "posedge" not in always.group(1):
            index += 1
            continue
        # Walk the block: a stack of (condition, has_begin); an `if` without `begin` covers the
        # next statement only.
        stack: list[tuple[str, bool]] = []
        depth = 1 if always.group(2) else 0
        single = always.group(2) is None
        index += 1
        while index < len(lines):
            line = lines[index].strip()
            index += 1
            if not line:
                continue
            cond = _IF.match(line)
            if cond:
                stack.append((_balanced(cond.group(1)), bool(cond.group(2))))
                if cond.group(2):
                    depth += 1
                continue
            if line in ("end", "end else begin") or line.startswith("end "):
                # pop the innermost `if ... begin`
                while stack and not stack[-1][1]:
                    stack.pop()
                if stack:
                    stack.pop()
                depth -= 1
                if line == "end else begin":
                    depth += 1   # an else branch: its condition is unknown, keep counting it open
                    stack.append(("1'b1", True))
                if depth <= 0:
                    break
                continue
            if line == "else" or line == "begin":
                if line == "begin":
                    depth += 1
                    stack.append(("1'b1", True))
                continue
            statement = _NONBLOCKING.match(line)
            if statement:
                target, address, source = statement.groups()
                target = _normal(target)
                enable = " && ".join(f"({c})" for c, _ in stack) or "1'b1"
                if target in mem_names:
                    memories[target].writes.append(enable)
                    memories[target].write_targets.append(((address or "[0]")[1:-1], source))
                else:
                    source_name = _normal(source.split("[")[0]) if "[" in source else None
                    if source_name in mem_names:
                        memories[source_name].reads.append(enable)
                        memories[source_name].read_data.append(target)
                    else:
                        registers.add(target)
            # an `if` without begin covers this one statement
            while stack and not stack[-1][1]:
                stack.pop()
            if single and not stack and depth == 0:
                break
    # Combinational reads (`assign x = mem[addr];`) are always on.
    for name in mem_names:
        pattern = re.compile(rf"assign\s+\S+\s*=\s*\\?{re.escape(name)}\s*\[")
        for _ in pattern.finditer(text):
            memories[name].reads.append("1'b1")
    read_data = {reg for memory in memories.values() for reg in memory.read_data}
    # `assign a = b;` of whole nets: one routed net under two names, counted once (as b).
    aliases = {_normal(match.group(1)) for match in _ALIAS.finditer(text)}
    return VerilogAnalysis(memories, registers - read_data - mem_names, aliases)


def instrument(text: str, analysis: VerilogAnalysis) -> tuple[str, dict]:
    """A copy of the Verilog with one probe wire per memory port, equal to the port's enable.

    Returns
    -------
    tuple
        The Verilog text and ``{probe name: (memory, "read" or "write")}``; a write port's probe
        ``p`` comes with ``p_addr`` and ``p_data`` (its address and data). The probes drive
        nothing: the design's behaviour and every other signal are unchanged.
    """
    probes = {}
    wires = []
    for memory in analysis.memories.values():
        for kind, enables in (("read", memory.reads), ("write", memory.writes)):
            for port, enable in enumerate(enables):
                name = f"{PROBE_PREFIX}{len(probes)}"
                probes[name] = (memory.name, kind)
                wires.append(f"  wire {name} = |({enable});  // {kind} port of {memory.name}\n")
                if kind == "write":
                    address, data = memory.write_targets[port]
                    wires.append(f"  wire [31:0] {name}_addr = {address};\n"
                                 f"  wire [{memory.width - 1}:0] {name}_data = {data};\n")
    position = text.rfind("endmodule")
    if position < 0:
        raise PowerError("no module in the Verilog", "verilog", "a module ... endmodule",
                         "no endmodule")
    return text[:position] + "".join(wires) + text[position:], probes


# ---- the simulation -------------------------------------------------------------------------


def testbench_verilog(timeout_ns: int) -> str:
    """``spikeforge_power_tb``: clock and reset for ``spikeforge_stim``, dumping only the network
    (after reset) and stopping when the wrapper has finished."""
    return f"""\
`timescale 1ns/1ps
`default_nettype none
module {TB_TOP};
    reg clk = 1'b0;
    reg rst = 1'b1;
    wire finished, timed_out;
    wire [30:0] images_done;
    reg [8*4096-1:0] vcd_file;
    spikeforge_stim stim (.clk(clk), .rst(rst), .finished(finished), .timed_out(timed_out),
                          .images_done(images_done));
    always #{HALF_PERIOD_NS} clk = ~clk;
    initial begin
        if (!$value$plusargs("spikeforge_vcd=%s", vcd_file)) vcd_file = "power.vcd";
        $dumpfile(vcd_file);
        #{RESET_NS} rst = 1'b0;
        $dumpvars(0, {TB_TOP}.stim.network);
    end
    always @(posedge clk) if (finished) begin
        $dumpflush;
        $finish;
    end
    initial begin
        #{timeout_ns};
        $display("spikeforge_power_tb: timeout");
        $finish;
    end
endmodule
`default_nettype wire
"""


def _run(command, cwd: Path, what: str, log: Path) -> None:
    with open(log, "a") as handle:
        handle.write(" ".join(str(part) for part in command) + "\n")
        handle.flush()
        try:
            done = subprocess.run([str(part) for part in command], cwd=cwd, stdout=handle,
                                  stderr=subprocess.STDOUT, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError(f"{what} could not run", str(command[0]), "a finished run",
                                 str(exc), hint=f"see {log}") from None
    if done.returncode != 0:
        raise ToolchainError(f"{what} failed", str(command[0]), "exit code 0",
                             f"exit code {done.returncode}", hint=f"see {log}")


@dataclass
class Activity:
    """Measured switching activity of one simulation run (everything counted, nothing modelled)."""

    images: int
    window_cycles: int             # rising clock edges while dumping (after reset to the end)
    latency_cycles: list           # per image, from the network's own `cycles` output
    counts: list                   # per image, the network's output counts
    ff: dict                       # name -> {width, toggles}
    logic: dict
    memories: dict                 # name -> {depth, width, reads, writes}
    vcd_bytes: int = 0
    seconds: dict = field(default_factory=dict)


def simulate_activity(spec, verilog: str, images, work_dir: str | Path,
                      cycle_budget: int | None = None, keep_vcd: bool = False) -> Activity:
    """Run ``images`` through the network's Verilog on Icarus with a VCD dump; count the activity.

    Parameters
    ----------
    spec : NetSpec
        The network the Verilog was generated from (sizes of the stimulus wrapper).
    verilog : str
        Flat Verilog of ``spikeforge_top`` (:func:`spikeforge.hdl.verilog.generate_verilog`).
    images : array-like of int
        Encoded inputs ``(n, input.size)``.
    work_dir : path
        Where the sources, the VCD and the logs go.
    cycle_budget : int, optional
        Cycles an image may take (default: 4 times :func:`describe`'s worst case).
    keep_vcd : bool
        Keep the VCD file (it is deleted after counting by default: it can be large).

    Raises
    ------
    ToolchainError
        If Icarus is missing or fails, or the run does not finish.
    """
    import numpy as np

    from . import toolchain
    from .cosim import fast

    toolchain.require("iverilog")
    vvp = shutil.which("vvp")
    if vvp is None:
        raise ToolchainError("vvp is missing", "power", "Icarus Verilog's vvp on PATH", "not found",
                             hint="apt-get install -y iverilog")
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    images = np.asarray(images, dtype=np.int64)
    if images.ndim != 2 or len(images) == 0:
        raise PowerError("no images to simulate", "images", "shape (n >= 1, input.size)",
                         f"shape {images.shape}")
    analysis = analyse_verilog(verilog)
    if not analysis.memories:
        raise PowerError("no memory found in the Verilog", "verilog",
                         "Yosys-style memories (reg [w:0] name [d:0];)", "none")
    text, probes = instrument(verilog, analysis)
    if cycle_budget is None:
        from .hdl.verilog import describe

        cycle_budget = int(describe(spec)["predicted_cycles_max"] * 4)
    layout = fast.Layout.of(spec, len(images))
    (work / "spikeforge_top.v").write_text(text)
    (work / f"{fast.WRAPPER}.v").write_text(fast.stimulus_verilog(layout, cycle_budget))
    timeout_ns = (len(images) * (cycle_budget + spec.input.size + 8) + 64) * 2 * HALF_PERIOD_NS
    (work / f"{TB_TOP}.v").write_text(testbench_verilog(timeout_ns))
    stimulus = fast.write_stimulus(images, layout, work / "stim.hex")
    results, vcd = work / "results.hex", work / "power.vcd"
    for path in (results, vcd):
        path.unlink(missing_ok=True)
    log = work / "icarus.log"
    log.write_text("")
    seconds = {}
    start = time.perf_counter()
    _run(["iverilog", "-g2012", "-o", "power.vvp", "-s", TB_TOP, f"{TB_TOP}.v",
          f"{fast.WRAPPER}.v", "spikeforge_top.v"], work, "iverilog", log)
    seconds["build"] = time.perf_counter() - start
    start = time.perf_counter()
    _run([vvp, "-n", "power.vvp", f"+{fast.STIM_PLUSARG}={stimulus}",
          f"+{fast.RESULTS_PLUSARG}={results}", f"+spikeforge_vcd={vcd}"], work, "vvp", log)
    seconds["simulate"] = time.perf_counter() - start
    if not results.exists():
        raise ToolchainError("the power simulation did not finish", str(work),
                             "the wrapper's result file", "no file", hint=f"see {log}")
    outcome = fast.read_results(results, layout)
    if outcome["timed_out"] or outcome["completed"] != len(images):
        raise ToolchainError("the power simulation did not complete every image", str(work),
                             f"{len(images)} images", f"{outcome['completed']} completed"
                             + (" (timed out)" if outcome["timed_out"] else ""), hint=f"see {log}")
    start = time.perf_counter()
    stores = [(memory, probe, f"{probe}_addr", f"{probe}_data")
              for probe, (memory, kind) in probes.items() if kind == "write"]
    toggles = count_toggles(vcd, clock=CLOCK, sample=probes, stores=stores)
    seconds["count"] = time.perf_counter() - start
    vcd_bytes = vcd.stat().st_size
    if not keep_vcd:
        vcd.unlink()
    ff, logic = {}, {}
    for name, signal in toggles.signals.items():
        if name == CLOCK or name.startswith(PROBE_PREFIX) or name in analysis.aliases:
            continue
        entry = {"width": signal["width"], "toggles": signal["toggles"]}
        (ff if name in analysis.registers else logic)[name] = entry
    memories = {}
    for name, memory in analysis.memories.items():
        memories[name] = {"depth": memory.depth, "width": memory.width, "reads": 0, "writes": 0,
                          "read_ports": len(memory.reads), "write_ports": len(memory.writes),
                          "stored_bit_flips": toggles.stored.get(name, 0)}
    for probe, (memory, kind) in probes.items():
        memories[memory][f"{kind}s"] += toggles.enabled[probe]
    return Activity(images=len(images), window_cycles=toggles.rising_edges,
                    latency_cycles=[int(c) for c in outcome["cycles"]],
                    counts=[[int(v) if isinstance(v, int) else v for v in row]
                            for row in outcome["counts"]],
                    ff=ff, logic=logic, memories=memories, vcd_bytes=vcd_bytes, seconds=seconds)


# ---- the model --------------------------------------------------------------------------------


def _group(name: str) -> str:
    """The part of the design a flat signal name belongs to (``layer_fc1``, ``input_buffer``, ...)."""
    return name.split(".")[0] if "." in name else "top (unnamed nets)"


def power_estimate(activity: Activity, family: str = "ice40", mhz: float | None = None) -> dict:
    """Dynamic energy per image and power at ``mhz`` from measured activity and modelled coefficients.

    Returns
    -------
    dict
        JSON-serialisable: ``kind`` ``"model from measured activity"``, ``provenance`` (what is
        measured, what is modelled), ``activity`` (the counts and toggle rates), ``coefficients``,
        ``energy_nj_per_image`` per category and in total, ``power_mw`` at ``mhz``, and per-part
        (layer) toggles.
    """
    from .estimate import map_memory

    table = coefficients(family)
    mhz = DEFAULT_MHZ[family] if mhz is None else float(mhz)
    if not mhz > 0:
        raise PowerError("clock frequency out of range", "--mhz", "a frequency > 0 MHz", str(mhz))
    n, cycles = activity.images, activity.window_cycles
    if cycles <= 0:
        raise PowerError("no clock cycle in the activity", "activity.window_cycles", "> 0",
                         str(cycles))

    def totals(signals: dict) -> dict:
        bits = sum(s["width"] for s in signals.values())
        flips = sum(s["toggles"] for s in signals.values())
        return {"signals": len(signals), "bits": bits, "toggles": flips,
                "toggles_per_image": flips / n, "toggles_per_cycle": flips / cycles,
                "toggle_rate": flips / (bits * cycles) if bits else 0.0}

    ff, logic = totals(activity.ff), totals(activity.logic)
    memory_rows = {}
    memory_pj = 0.0
    memory_ff_flips = 0
    for name, memory in activity.memories.items():
        mapping = map_memory(family, name, memory["depth"], memory["width"],
                             rom=memory["write_ports"] == 0)
        accesses = memory["reads"] + memory["writes"]
        bits = accesses * memory["width"]
        if mapping.style == "logic":
            # Flip-flops and LUTs: the stored bits that flip are flip-flop toggles (the read
            # multiplexer's output is in `logic` already).
            pj = memory["stored_bit_flips"] * table["ff_toggle"].value
            memory_ff_flips += memory["stored_bit_flips"]
        else:
            pj = bits * table["memory_bit"].value
        memory_pj += pj
        memory_rows[name] = {**memory, "reads_per_image": memory["reads"] / n,
                             "writes_per_image": memory["writes"] / n,
                             "read_rate": memory["reads"] / cycles,
                             "write_rate": memory["writes"] / cycles,
                             "mapped_to": mapping.primitive or "logic (flip-flops)",
                             "cells": mapping.cells, "accessed_bits": bits,
                             "energy_nj_per_image": pj / n / 1000}
    energy_pj = {"ff": ff["toggles"] * table["ff_toggle"].value,
                 "logic": logic["toggles"] * table["logic_toggle"].value,
                 "memory": memory_pj,
                 "clock": cycles * table["clock_cycle"].value}
    total_pj = sum(energy_pj.values())
    per_cycle_pj = total_pj / cycles
    parts = defaultdict(lambda: {"ff_toggles": 0, "logic_toggles": 0})
    for name, signal in activity.ff.items():
        parts[_group(name)]["ff_toggles"] += signal["toggles"]
    for name, signal in activity.logic.items():
        parts[_group(name)]["logic_toggles"] += signal["toggles"]
    busiest = sorted(({"name": name, **signal, "toggles_per_cycle": signal["toggles"] / cycles}
                      for name, signal in {**activity.ff, **activity.logic}.items()),
                     key=lambda row: -row["toggles"])[:15]
    return {
        "kind": "model from measured activity",
        "family": family,
        "clock_mhz": mhz,
        "provenance": {
            "measured": ["bit toggles of every net and register, counted in a zero-delay RTL "
                         "simulation (Icarus Verilog, VCD) of the network's Verilog",
                         "clock cycles and enabled memory-port cycles in that simulation",
                         "the images' output counts and latency (checked against nothing here; "
                         "`spikeforge sim` checks them bit for bit)"],
            "modelled": ["energy per toggle, per memory bit accessed and per clock cycle "
                         "(`coefficients`: each fitted to a board measurement or an assumption, "
                         "as labelled)",
                         "RTL nets standing for routed LUT outputs; no glitches, no placement",
                         "memory mapping (spikeforge.estimate.map_memory)"],
            "not_counted": ["static (leakage) power", "I/O", "PLL", "glitches"],
        },
        "images": n,
        "activity": {
            "window_cycles": cycles, "cycles_per_image": cycles / n,
            "latency_cycles": activity.latency_cycles,
            "ff": ff, "logic": logic, "memories": memory_rows,
            "logic_mapped_memory_bit_flips": memory_ff_flips,
            "parts": dict(sorted(parts.items())), "busiest_signals": busiest,
        },
        "coefficients": {key: asdict(value) for key, value in table.items()},
        "energy_nj_per_image": {**{key: value / n / 1000 for key, value in energy_pj.items()},
                                "total": total_pj / n / 1000,
                                "without_clock": (total_pj - energy_pj["clock"]) / n / 1000},
        "energy_pj_per_cycle": per_cycle_pj,
        "power_mw": {"total": per_cycle_pj * mhz * 1e-3,
                     "without_clock": (total_pj - energy_pj["clock"]) / cycles * mhz * 1e-3,
                     **{key: value / cycles * mhz * 1e-3 for key, value in energy_pj.items()}},
        "seconds": {key: round(value, 2) for key, value in activity.seconds.items()},
        "vcd_bytes": activity.vcd_bytes,
    }


def power_stage(netspec_path: str | Path, out: str | Path, images: int = 3, family: str = "ice40",
                mhz: float | None = None, lanes=None, seed: int = 0, golden_check: bool = True) -> dict:
    """``spikeforge power``: simulate held-out images with a VCD dump, write ``power_report.json``.

    The output counts of the simulated images are compared with the golden executor's; a mismatch
    stops with :class:`~spikeforge.errors.MismatchError` (activity of wrong hardware is no figure).
    """
    import numpy as np

    from . import netspec as netspec_io
    from .artefacts import write_json_atomic
    from .flow import held_out_images, parse_lanes
    from .hdl.verilog import generate_verilog

    coefficients(family)   # an unknown family fails before any work
    if mhz is not None and not mhz > 0:
        raise PowerError("clock frequency out of range", "--mhz", "a frequency > 0 MHz", str(mhz))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = netspec_io.load(netspec_path)
    lane_list = parse_lanes(lanes, spec) if isinstance(lanes, str) or lanes is None else list(lanes)
    x, _ = held_out_images(images, seed)
    if x.shape[1] != spec.input.size:
        raise PowerError("held-out images do not fit the network's input", str(netspec_path),
                         f"input.size {x.shape[1]} (the digits)", str(spec.input.size))
    verilog = generate_verilog(spec, lane_list)
    activity = simulate_activity(spec, verilog, x, out / "power")
    report = power_estimate(activity, family, mhz)
    if golden_check:
        from .golden import run

        expected = np.asarray(run(spec, x).counts, dtype=np.int64).tolist()
        report["bit_exact"] = expected == activity.counts
        if not report["bit_exact"]:
            from .errors import MismatchError

            raise MismatchError("RTL differs from the golden model", "power simulation (icarus)",
                                "identical counts", f"{activity.counts} vs golden {expected}")
    report["netspec"] = str(netspec_path)
    write_json_atomic(out / "power_report.json", report)
    return report
