"""The job file that passes a co-simulation's inputs from the launcher to the cocotb testbench.

The testbench runs inside the simulator's embedded Python, so it receives its work through one file
named by the ``SPIKEFORGE_COSIM_JOB`` environment variable, and answers through ``results.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

ENV_VAR = "SPIKEFORGE_COSIM_JOB"


@dataclass
class CosimJob:
    """What one co-simulation run does.

    Attributes
    ----------
    netspec : str
        Path of the NetSpec the Verilog was generated from (the reference model runs it).
    images : str
        Path of an ``.npy`` file with the encoded inputs, shape ``(n, input.size)``.
    results : str
        Path where the testbench writes its observed counts, cycles and mismatches (JSON).
    cycle_budget : int
        Cycles allowed per image before the testbench reports a hang.
    image_ids : list of int
        The data set index of each image, for messages.
    debug : bool
        Also record every layer's spikes and report the first diverging layer, step and neuron.
    """

    netspec: str
    images: str
    results: str
    cycle_budget: int
    image_ids: list
    debug: bool = False

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "CosimJob":
        return cls(**json.loads(Path(path).read_text()))
