"""Known boards: the amaranth-boards platform, the device and what it holds.

The resource figures are the device's, as nextpnr-ice40 reports them as "available" in its
device utilisation section (one ICESTORM_LC is a LUT4 plus a flip-flop, so LCs and FFs are
equal on iCE40). The build compares the used figures against nextpnr's own, these are for
planning and for messages before a build.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import BuildError, ToolchainError


@dataclass(frozen=True)
class Board:
    """One supported board.

    Attributes
    ----------
    name : str
        The name users pass (``--board``).
    platform : str
        ``"module:Class"`` of its amaranth-boards platform, imported on demand.
    device, package : str
        FPGA device and package, as the platform names them.
    family : str
        Toolchain family (``"ice40"``): which place-and-route tool builds it.
    lcs, brams, dsps, ffs : int
        Logic cells, block RAMs (4 kbit EBRs on iCE40), DSP blocks (SB_MAC16) and flip-flops.
    clock_hz : float
        The platform's default clock, which the board top runs on.
    synth_opts : str
        Extra options for yosys' ``synth_<family>`` (``-dsp`` maps multipliers to the DSPs of
        devices that have them).
    """

    name: str
    platform: str
    device: str
    package: str
    family: str
    lcs: int
    brams: int
    dsps: int
    ffs: int
    clock_hz: float
    synth_opts: str = ""

    @property
    def resources(self) -> dict[str, int]:
        """``{"lcs": ..., "brams": ..., "dsps": ..., "ffs": ...}``."""
        return {"lcs": self.lcs, "brams": self.brams, "dsps": self.dsps, "ffs": self.ffs}

    def platform_class(self) -> type:
        """Import and return the amaranth-boards platform class.

        Raises
        ------
        ToolchainError
            If amaranth-boards (or this board's module) is not installed.
        """
        module_name, class_name = self.platform.split(":")
        try:
            return getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ToolchainError("amaranth-boards platform not available", f"board {self.name}",
                                 f"{self.platform}", f"{type(exc).__name__}: {exc}",
                                 hint="install it with: pip install amaranth-boards==0.0.21") from None


BOARDS: dict[str, Board] = {
    board.name: board for board in (
        Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "iCE40UP5K", "SG48",
              "ice40", lcs=5280, brams=30, dsps=8, ffs=5280, clock_hz=12e6, synth_opts="-dsp"),
        Board("icesugar", "amaranth_boards.icesugar:ICESugarPlatform", "iCE40UP5K", "SG48",
              "ice40", lcs=5280, brams=30, dsps=8, ffs=5280, clock_hz=12e6, synth_opts="-dsp"),
        Board("icestick", "amaranth_boards.icestick:ICEStickPlatform", "iCE40HX1K", "TQ144",
              "ice40", lcs=1280, brams=16, dsps=0, ffs=1280, clock_hz=12e6),
        Board("ice40-hx8k-b-evn", "amaranth_boards.ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform",
              "iCE40HX8K", "CT256", "ice40", lcs=7680, brams=32, dsps=0, ffs=7680, clock_hz=12e6),
    )
}

DEFAULT_BOARD = "icebreaker"


def known_boards() -> list[str]:
    """Names of the supported boards, sorted."""
    return sorted(BOARDS)


def get_board(name: str) -> Board:
    """The board called ``name`` (case-insensitive; ``_`` and ``-`` are the same).

    Raises
    ------
    BuildError
        If no board has that name; the message lists the known ones.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in BOARDS:
        raise BuildError(f"unknown board {name!r}", "board name",
                         f"one of {', '.join(known_boards())}", repr(name))
    return BOARDS[key]
