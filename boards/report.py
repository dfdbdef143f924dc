"""Reading the tools' own reports: nextpnr's log and ``--report`` JSON, and yosys' ``stat``.

Every figure of a :class:`BuildReport` comes from what the tools printed, never from an estimate:

- used and available cells: nextpnr's "Device utilisation" section (or the ``utilization`` of its
  ``--report`` JSON), e.g. ``ICESTORM_LC:  43/ 5280  0%`` (iCE40), ``TRELLIS_COMB:  54/ 83640
  0%`` (ECP5), ``LUT4:  48/  8640  0%`` (Gowin); :data:`CELL_TYPES` says which cell types make
  each figure of a :class:`BuildReport` on each family;
- Fmax: nextpnr's last "Max frequency for clock" line of each clock, which comes after routing
  (the earlier ones are estimates after placement), or the ``fmax`` of its JSON;
- flip-flops: ECP5 and Gowin nextpnr count them (``TRELLIS_FF``, ``DFF``); iCE40 nextpnr packs
  a LUT and a FF in one logic cell and does not count the FFs apart, so there they are the
  ``SB_DFF*`` cells of yosys' final ``stat``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

#: nextpnr cell types behind each BuildReport figure, per family. A figure is the sum of the
#: used cells of its types; what the device has of it is the "available" of the first type
#: (the others share the same sites: a Gowin ALU takes a LUT4's place, a MULT9X9 half of a
#: MULT18X18, Gowin output buffers an IOB). A family without "ffs" here takes its flip-flops from
#: yosys (:data:`FF_CELL`). On Gowin, LUT RAM (RAM16SDP4) is not among the "lcs": nextpnr
#: reserves its slices while packing (the log's utilisation, printed then, counts those
#: placeholders as LUT4 and DFF) and removes the placeholders after routing (the JSON).
CELL_TYPES = {
    "ice40": {"lcs": ("ICESTORM_LC",), "brams": ("ICESTORM_RAM",), "dsps": ("ICESTORM_DSP",),
              "ios": ("SB_IO",), "sprams": ("ICESTORM_SPRAM",)},
    "ecp5": {"lcs": ("TRELLIS_COMB",), "ffs": ("TRELLIS_FF",), "brams": ("DP16KD",),
             "dsps": ("MULT18X18D",), "ios": ("TRELLIS_IO",), "lutrams": ("TRELLIS_RAMW",)},
    "gowin": {"lcs": ("LUT4", "ALU"), "ffs": ("DFF",), "brams": ("BSRAM",),
              "dsps": ("MULT18X18", "MULT9X9", "MULT36X36", "MULTALU18X18", "MULTALU36X18",
                       "MULTADDALU18X18"),
              "ios": ("IOB", "TBUF", "OBUF", "IOBUF"), "lutrams": ("RAM16SDP4",)},
}

#: Words a user understands, for error messages about a cell type.
RESOURCE_NAMES = {
    "ICESTORM_LC": "logic cells (LUT4 + FF)",
    "ICESTORM_RAM": "block RAMs (4 kbit EBR)",
    "ICESTORM_DSP": "DSP blocks (SB_MAC16)",
    "ICESTORM_SPRAM": "SPRAMs (256 kbit)",
    "SB_IO": "I/O pins",
    "SB_GB": "global buffers",
    "ICESTORM_PLL": "PLLs",
    "TRELLIS_COMB": "LUT4s (logic and carry)",
    "TRELLIS_FF": "flip-flops",
    "TRELLIS_RAMW": "distributed RAM write ports",
    "TRELLIS_IO": "I/O pins",
    "DP16KD": "block RAMs (18 kbit EBR)",
    "MULT18X18D": "DSP multipliers (18x18)",
    "ALU54B": "DSP accumulators (ALU54B)",
    "DCCA": "global clock buffers",
    "EHXPLLL": "PLLs",
    "LUT4": "LUT4s",
    "ALU": "carry cells (ALU, each in a LUT4's place)",
    "DFF": "flip-flops",
    "BSRAM": "block RAMs (18 kbit BSRAM)",
    "RAM16SDP4": "distributed RAMs",
    "MULT18X18": "DSP multipliers (18x18)",
    "MULT9X9": "DSP multipliers (9x9)",
    "IOB": "I/O pins",
    "rPLL": "PLLs",
}

#: Flip-flop cell names of yosys' iCE40 library (SB_DFF, SB_DFFE, SB_DFFSR, SB_DFFNESS, ...).
FF_CELL = re.compile(r"^SB_DFF\w*$")

_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%\s*$")
_FMAX_LINE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+)\s+MHz\s+"
                        r"\((PASS|FAIL) at ([\d.]+) MHz\)")
_UNPLACED = re.compile(r"Unable to place cell '([^']+)', no BELs remaining to implement cell type "
                       r"'(\w+)'")
_STAT_CELL = re.compile(r"^\s*(\d+)\s+(\$?[\w$]+)\s*$")


@dataclass(frozen=True)
class Utilisation:
    """Used and available cells of one type."""

    used: int
    available: int

    @property
    def percent(self) -> float:
        if not self.available:
            return 0.0 if not self.used else float("inf")
        return 100.0 * self.used / self.available

    @property
    def fits(self) -> bool:
        return self.used <= self.available


@dataclass(frozen=True)
class ClockTiming:
    """Post-route timing of one clock."""

    fmax_mhz: float
    target_mhz: float

    @property
    def met(self) -> bool:
        return self.fmax_mhz >= self.target_mhz


@dataclass
class NextpnrLog:
    """What a nextpnr log says.

    Attributes
    ----------
    utilisation : dict of str to Utilisation
        The "Device utilisation" section (its last one), by cell type.
    clocks : dict of str to ClockTiming
        The last "Max frequency for clock" line of each clock (after routing when nextpnr got
        that far).
    errors : list of str
        ``ERROR:`` lines, without the prefix.
    unplaced : tuple of (str, str) or None
        ``(cell, cell type)`` of an "Unable to place cell" error.
    finished : bool
        Whether nextpnr printed "Program finished normally".
    """

    utilisation: dict[str, Utilisation] = field(default_factory=dict)
    clocks: dict[str, ClockTiming] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    unplaced: tuple[str, str] | None = None
    finished: bool = False

    def overflows(self) -> list[tuple[str, Utilisation]]:
        """Cell types used beyond what the device has, worst first."""
        over = [(name, u) for name, u in self.utilisation.items() if not u.fits]
        return sorted(over, key=lambda item: -item[1].percent)


def parse_nextpnr_log(text: str) -> NextpnrLog:
    """Parse the text of a nextpnr(-ice40) log (``--log`` file or its console output)."""
    log = NextpnrLog()
    lines = text.splitlines()
    # The utilisation table: the lines after the last "Device utilisation:" header.
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("Info: Device utilisation")]
    if starts:
        for line in lines[starts[-1] + 1:]:
            match = _UTIL_LINE.match(line.strip())
            if not match:
                break
            log.utilisation[match.group(1)] = Utilisation(int(match.group(2)), int(match.group(3)))
    for line in lines:
        match = _FMAX_LINE.search(line)
        if match:  # later lines (after routing) replace earlier ones (after placement)
            log.clocks[match.group(1)] = ClockTiming(float(match.group(2)), float(match.group(4)))
        if line.startswith("ERROR:"):
            log.errors.append(line[len("ERROR:"):].strip())
        unplaced = _UNPLACED.search(line)
        if unplaced:
            log.unplaced = (unplaced.group(1), unplaced.group(2))
        if "Program finished normally" in line:
            log.finished = True
    return log


def parse_nextpnr_report(data: dict | str) -> tuple[dict[str, Utilisation], dict[str, ClockTiming]]:
    """Utilisation and clocks of nextpnr's ``--report`` JSON (a dict, or its text).

    The JSON has ``{"utilization": {type: {"used", "available"}}, "fmax": {clock: {"achieved",
    "constraint"}}, "critical_paths": [...]}``; its fmax is the post-route one.
    """
    if isinstance(data, str):
        data = json.loads(data)
    utilisation = {name: Utilisation(int(v["used"]), int(v["available"]))
                   for name, v in data.get("utilization", {}).items()}
    clocks = {name: ClockTiming(float(v["achieved"]), float(v["constraint"]))
              for name, v in data.get("fmax", {}).items()}
    return utilisation, clocks


def critical_paths(data: dict | str) -> dict[str, dict]:
    """The critical path of each clock in nextpnr's ``--report`` JSON: where it starts and ends.

    Returns
    -------
    dict
        Clock name -> ``{"from": cell, "to": cell, "delay_ns", "cells"}``: the path's first and
        last cell (netlist names, with the design hierarchy in them), its total delay and the
        number of cells it passes. Only paths from a clock to the same clock are kept (the ones
        that set its Fmax); paths to or from I/O pins are left out.
    """
    if isinstance(data, str):
        data = json.loads(data)
    paths = {}
    for path in data.get("critical_paths", []):
        start = path.get("from", "").split(" ", 1)[-1]
        end = path.get("to", "").split(" ", 1)[-1]
        steps = path.get("path", [])
        if start != end or start.startswith("<") or not steps or start in paths:
            continue
        cells = {step["from"]["cell"] for step in steps} | {step["to"]["cell"] for step in steps}
        paths[start] = {"from": steps[0]["from"]["cell"], "to": steps[-1]["to"]["cell"],
                        "delay_ns": round(sum(float(step["delay"]) for step in steps), 3),
                        "cells": len(cells)}
    return paths


def parse_yosys_stat(text: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` in a yosys log (whole design when it lists a hierarchy).

    Returns
    -------
    dict of str to int
        Cell type to count, e.g. ``{"SB_LUT4": 38, "SB_DFFE": 9, ...}``; empty if the log has
        no statistics.
    """
    marker = "Printing statistics."
    at = text.rfind(marker)
    if at < 0:
        return {}
    block = text[at:]
    hierarchy = block.find("=== design hierarchy ===")
    if hierarchy >= 0:
        block = block[hierarchy:]
    # The block ends at the next numbered pass ("2.51. Executing CHECK pass ...").
    end = re.search(r"^\d+(\.\d+)*\. ", block[len(marker):], flags=re.M)
    if end:
        block = block[:len(marker) + end.start()]
    cells: dict[str, int] = {}
    for line in block.splitlines():
        match = _STAT_CELL.match(line)
        if match and not match.group(2).startswith("$") and match.group(2) not in (
                "cells", "wires", "ports", "submodules", "memories", "processes"):
            cells[match.group(2)] = cells.get(match.group(2), 0) + int(match.group(1))
    return cells


def count_ffs(cells: dict[str, int]) -> int:
    """Flip-flops among yosys' iCE40 cell counts (``SB_DFF*``)."""
    return sum(count for name, count in cells.items() if FF_CELL.match(name))


def design_digest(rtlil: str) -> str:
    """SHA-256 of the RTLIL a build starts from, without its ``src`` attributes.

    Builds with the same digest, tools, options and seed give the same bitstream. The ``src``
    attributes (Python file paths and lines) are left out: they change with where the package is
    installed, not the circuit (a build from another checkout path gave the same bitstream).
    """
    kept = [line for line in rtlil.splitlines() if not line.lstrip().startswith("attribute \\src ")]
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()


def yosys_version(text: str) -> str | None:
    """``"Yosys 0.70 (git sha1 28ba3cb92)"`` from a yosys log, if it names its version."""
    match = re.search(r"^(Yosys \S+)(?: \(git sha1 (\w+))?", text, flags=re.M)
    if not match:
        return None
    return match.group(1) + (f" (git sha1 {match.group(2)})" if match.group(2) else "")


@dataclass
class BuildReport:
    """Figures of one build, as the tools reported them.

    Attributes
    ----------
    board, device, package : str
        Target.
    lcs, ffs, brams, dsps, ios : int
        Used logic cells, flip-flops, block RAMs, DSP blocks and I/O pins.
    available : dict of str to int
        What the device has of each (``{"lcs": 5280, ...}``), from nextpnr.
    fmax_mhz : float or None
        Post-route maximum frequency of the design's clock (the slowest, if several).
    target_mhz : float or None
        The clock constraint (the board clock).
    timing_met : bool
        ``fmax_mhz >= target_mhz`` for every clock.
    bitstream : str or None
        Path of the bitstream (``.bin``, ``.bit`` or ``.fs``); None when the build did not
        produce one.
    tools : dict of str to str
        Versions of the tools that ran.
    seconds : float
        Wall time of the build (synthesis, place and route, packing).
    seed : int
        nextpnr placement seed.
    clocks : dict
        Per clock: ``{"fmax_mhz", "target_mhz", "met"}``.
    utilisation : dict
        Every cell type nextpnr listed: ``{"used", "available"}``.
    logs : dict of str to str
        Paths of the captured tool logs.
    family : str
        Toolchain family (``"ice40"``, ``"ecp5"``, ``"gowin"``).
    design_sha256 : str or None
        :func:`design_digest` of the design's RTLIL.
    bitstream_sha256 : str or None
        SHA-256 of the bitstream file.
    critical_paths : dict
        Per clock, where its critical path starts and ends (:func:`critical_paths`).
    """

    board: str
    device: str
    package: str
    lcs: int
    ffs: int
    brams: int
    dsps: int
    ios: int
    available: dict[str, int]
    fmax_mhz: float | None
    target_mhz: float | None
    timing_met: bool
    bitstream: str | None
    tools: dict[str, str]
    seconds: float
    seed: int
    clocks: dict[str, dict] = field(default_factory=dict)
    utilisation: dict[str, dict] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    family: str = "ice40"
    design_sha256: str | None = None
    bitstream_sha256: str | None = None
    critical_paths: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """A JSON-serialisable dict of every field."""
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)


def make_report(*, board, family: str, utilisation: dict[str, Utilisation],
                clocks: dict[str, ClockTiming], yosys_cells: dict[str, int], bitstream: str | None,
                tools: dict[str, str], seconds: float, seed: int,
                logs: dict[str, str]) -> BuildReport:
    """Assemble a :class:`BuildReport` from the parsed reports of a build for ``board``.

    ``yosys_cells`` give the flip-flops of a family whose nextpnr does not count them (iCE40).
    """
    types = CELL_TYPES[family]

    def used(key: str) -> int:
        return sum(utilisation[t].used for t in types.get(key, ()) if t in utilisation)

    available = {key: utilisation[t[0]].available for key, t in types.items()
                 if t[0] in utilisation}
    for key, value in board.resources.items():  # types this device lacks (no DSPs on HX) or
        available.setdefault(key, value)        # nextpnr does not count (FFs) come from the registry
    ffs = used("ffs") if "ffs" in types else count_ffs(yosys_cells)
    slowest = min(clocks.values(), key=lambda c: c.fmax_mhz / c.target_mhz, default=None)
    return BuildReport(
        board=board.name, device=board.device, package=board.package,
        lcs=used("lcs"), ffs=ffs, brams=used("brams"), dsps=used("dsps"),
        ios=used("ios"), available=available,
        fmax_mhz=round(slowest.fmax_mhz, 2) if slowest else None,
        target_mhz=round(slowest.target_mhz, 2) if slowest else None,
        timing_met=bool(clocks) and all(c.met for c in clocks.values()),
        bitstream=bitstream, tools=tools, seconds=round(seconds, 1), seed=seed,
        clocks={name: {"fmax_mhz": round(c.fmax_mhz, 2), "target_mhz": round(c.target_mhz, 2),
                       "met": c.met} for name, c in clocks.items()},
        utilisation={name: {"used": u.used, "available": u.available}
                     for name, u in utilisation.items()},
        logs=logs, family=family,
    )
