"""Amaranth generators of the network hardware: input buffer, layer engines, readout, network top.

The contract other stages code against is :class:`~spikeforge.hdl.network.NetworkTop` (and its
Verilog from :func:`~spikeforge.hdl.verilog.generate_verilog`). This package never imports torch.
"""

from .cost import predicted_cycles
from .network import NetworkTop, check_buildable, default_lanes
from .verilog import describe, generate_verilog

__all__ = ["NetworkTop", "check_buildable", "default_lanes", "describe", "generate_verilog",
           "predicted_cycles"]
