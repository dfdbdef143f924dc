"""Co-simulation of generated Verilog against the golden executor with cocotb (Verilator, Icarus).

The names are imported on first use (PEP 562): the simulator process imports
:mod:`spikeforge.cosim.fast`, and keeping numpy and the runner out of it saves a tenth of the
co-simulation's CPU time.
"""

__all__ = ["CosimResult", "run_cosim"]


def __getattr__(name):
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
