"""Known boards: the amaranth-boards platform, the device and what it holds.

The resource figures are the device's, as nextpnr reports them as "available" in its device
utilisation section (checked against nextpnr 0.11.1 from YoWASP):

- iCE40 (nextpnr-ice40): ``ICESTORM_LC`` logic cells (one LUT4 and one flip-flop each, so LCs
  and FFs are equal), ``ICESTORM_RAM`` 4 kbit EBRs, ``ICESTORM_DSP`` (SB_MAC16);
- ECP5 (nextpnr-ecp5): ``TRELLIS_COMB`` LUT4s (a carry cell counts as its LUT4s),
  ``TRELLIS_FF`` flip-flops, ``DP16KD`` 18 kbit EBRs, ``MULT18X18D`` multipliers;
- Gowin GW1N (nextpnr-himbaechel-gowin): ``LUT4`` (an ``ALU`` cell takes a LUT4's place),
  ``DFF`` flip-flops, ``BSRAM`` 18 kbit block RAMs, ``MULT18X18`` multipliers.

The build compares the used figures against nextpnr's own; these are for planning, for
``spikeforge boards`` and for messages before a build.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from amaranth.build import Attrs, Pins, PinsN, Resource, Subsignal

from ..errors import BuildError, ToolchainError

#: Per family: (nextpnr, bitstream packer) as the build runs them, and the bitstream's suffix.
FAMILY_TOOLS = {
    "ice40": ("yosys", "nextpnr-ice40", "icepack"),
    "ecp5": ("yosys", "nextpnr-ecp5", "ecppack"),
    "gowin": ("yosys", "nextpnr-himbaechel (gowin)", "gowin_pack (Apicula)"),
}
BITSTREAM_SUFFIX = {"ice40": ".bin", "ecp5": ".bit", "gowin": ".fs"}


@dataclass(frozen=True)
class Board:
    """One supported board.

    Attributes
    ----------
    name : str
        The name users pass (``--board``).
    platform : str
        ``"module:Class"`` of its amaranth-boards platform (or of a subclass in this package),
        imported on demand.
    vendor : str
        FPGA vendor (``"Lattice"``, ``"Gowin"``).
    device, package : str
        FPGA device and package, as the platform names them.
    family : str
        Toolchain family (``"ice40"``, ``"ecp5"``, ``"gowin"``): which place-and-route tool
        builds it (see :data:`FAMILY_TOOLS`).
    lcs, ffs, brams, dsps : int
        LUT4 logic cells, flip-flops, block RAMs and DSP multipliers (see the module docstring
        for what each is on each family).
    clock_hz : float
        The platform's default clock, which the board top runs on.
    synth_opts : str
        Extra options for yosys' ``synth_<family>`` (``-dsp`` maps multipliers to the DSPs of
        iCE40 devices that have them; ECP5 and Gowin synthesis infers DSPs by default;
        ``-nowidelut`` keeps ECP5's and Gowin's abc9 to LUT4s: their wide LUTs (ECP5
        ``PFUMX``/``L6MUX21``, Gowin ``MUX2_LUT5..8``) spend up to four LUT4s on a function
        of five to eight inputs, up to 40 % more LUT4s on some networks, and make the count
        erratic; see docs/estimator.md).
    extra_resources : tuple of amaranth.build.Resource
        Resources this package adds to the platform (a UART where the board has no USB-serial
        bridge, LEDs where it names them otherwise).
    note : str
        What a user should know (where the added UART is).
    """

    name: str
    platform: str
    vendor: str
    device: str
    package: str
    family: str
    lcs: int
    brams: int
    dsps: int
    ffs: int
    clock_hz: float
    synth_opts: str = ""
    extra_resources: tuple = ()
    note: str = ""

    @property
    def resources(self) -> dict[str, int]:
        """``{"lcs": ..., "brams": ..., "dsps": ..., "ffs": ...}``."""
        return {"lcs": self.lcs, "brams": self.brams, "dsps": self.dsps, "ffs": self.ffs}

    @property
    def bitstream_suffix(self) -> str:
        """``".bin"`` (iCE40), ``".bit"`` (ECP5) or ``".fs"`` (Gowin)."""
        return BITSTREAM_SUFFIX[self.family]

    @property
    def synth_command(self) -> str:
        """The yosys synthesis command the build runs, without ``-top``: e.g.
        ``"synth_ecp5 -nowidelut"`` (what the estimator is calibrated on, and what a cached
        benchmark build records)."""
        return " ".join(filter(None, (f"synth_{self.family}", self.synth_opts)))

    @property
    def toolchain(self) -> str:
        """The tools that build it, e.g. ``"yosys + nextpnr-ecp5 + ecppack"``."""
        return " + ".join(FAMILY_TOOLS[self.family])

    def platform_class(self) -> type:
        """Import and return the platform class.

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

    def make_platform(self):
        """An instance of the platform, with this package's :attr:`extra_resources` added."""
        platform = self.platform_class()()
        if self.extra_resources:
            platform.add_resources(list(self.extra_resources))
        return platform

    def as_row(self) -> dict:
        """This board as one row of :func:`board_table`."""
        return {"name": self.name, "vendor": self.vendor, "family": self.family,
                "device": self.device, "package": self.package, "lcs": self.lcs,
                "ffs": self.ffs, "brams": self.brams, "dsps": self.dsps,
                "clock_mhz": round(self.clock_hz / 1e6, 3), "toolchain": self.toolchain,
                "bitstream": self.bitstream_suffix, "note": self.note}


# The OrangeCrab has no USB-serial bridge (its USB goes straight to the FPGA): the board top's
# UART sits on the Feather header's serial pins, as in LiteX (GPIO 0 = RX at N17, GPIO 1 = TX
# at M18), for a 3.3 V USB-serial adapter. Its RGB LED (active low) shows LED 0 in red and
# LED 1 in green.
_ORANGECRAB_EXTRAS = (
    Resource("uart", 0,
             Subsignal("rx", Pins("0", dir="i", conn=("io", 0))),
             Subsignal("tx", Pins("1", dir="o", conn=("io", 0))),
             Attrs(IO_TYPE="LVCMOS33")),
    Resource("led", 0, PinsN("K4", dir="o"), Attrs(IO_TYPE="LVCMOS33")),
    Resource("led", 1, PinsN("M3", dir="o"), Attrs(IO_TYPE="LVCMOS33")),
)

BOARDS: dict[str, Board] = {
    board.name: board for board in (
        Board("icebreaker", "amaranth_boards.icebreaker:ICEBreakerPlatform", "Lattice",
              "iCE40UP5K", "SG48", "ice40", lcs=5280, brams=30, dsps=8, ffs=5280, clock_hz=12e6,
              synth_opts="-dsp"),
        Board("icesugar", "amaranth_boards.icesugar:ICESugarPlatform", "Lattice", "iCE40UP5K",
              "SG48", "ice40", lcs=5280, brams=30, dsps=8, ffs=5280, clock_hz=12e6,
              synth_opts="-dsp"),
        Board("icestick", "amaranth_boards.icestick:ICEStickPlatform", "Lattice", "iCE40HX1K",
              "TQ144", "ice40", lcs=1280, brams=16, dsps=0, ffs=1280, clock_hz=12e6),
        Board("ice40-hx8k-b-evn", "amaranth_boards.ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform",
              "Lattice", "iCE40HX8K", "CT256", "ice40", lcs=7680, brams=32, dsps=0, ffs=7680,
              clock_hz=12e6),
        Board("ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "Lattice", "LFE5U-85F",
              "BG381", "ecp5", lcs=83640, brams=208, dsps=156, ffs=83640, clock_hz=25e6,
              synth_opts="-nowidelut"),
        Board("orangecrab-25f", "amaranth_boards.orangecrab_r0_2:OrangeCrabR0_2_25FPlatform",
              "Lattice", "LFE5U-25F", "MG285", "ecp5", lcs=24288, brams=56, dsps=28, ffs=24288,
              clock_hz=48e6, synth_opts="-nowidelut", extra_resources=_ORANGECRAB_EXTRAS,
              note="UART on the Feather pins 0 (RX, N17) and 1 (TX, M18); the .bit carries a "
                   "DFU suffix for dfu-util"),
        Board("tang-nano-9k", "spikeforge.boards.gowin:TangNano9kPlatform", "Gowin",
              "GW1NR-9C", "QN88P", "gowin", lcs=8640, brams=26, dsps=20, ffs=6480,
              clock_hz=27e6, synth_opts="-nowidelut"),
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


def board_table() -> list[dict]:
    """Every supported board as a dict, sorted by name, for ``spikeforge boards``.

    Each row has ``name``, ``vendor``, ``family``, ``device``, ``package``, ``lcs`` (LUT4 logic
    cells), ``ffs``, ``brams``, ``dsps``, ``clock_mhz`` (the board clock the design runs on),
    ``toolchain`` (e.g. ``"yosys + nextpnr-ecp5 + ecppack"``), ``bitstream`` (its file suffix)
    and ``note`` (empty, or what a user should know, such as where an added UART is).
    """
    return [BOARDS[name].as_row() for name in known_boards()]
