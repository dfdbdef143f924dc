"""Co-simulation of generated Verilog against the golden executor with cocotb (Verilator, Icarus)."""

from .runner import CosimResult, run_cosim

__all__ = ["CosimResult", "run_cosim"]
