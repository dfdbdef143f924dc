"""torch modules that hold neuron state around the pure step functions.

The step functions (:mod:`golden.neurons`, :mod:`golden.float_neurons`) keep no state; a network
that runs step by step wraps each layer's step in a :class:`StatefulNeuron`, which owns the
membrane, resets it per input sequence, and counts the time step for per-step parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class StatefulNeuron(nn.Module):
    """A neuron array with its membrane, around ``step(t, current, membrane) -> (spikes, membrane)``.

    Parameters
    ----------
    step : callable
        A pure step with the time step first (bind parameters with a lambda or functools.partial).

    Examples
    --------
    >>> from spikeforge.golden.neurons import IFParams, if_step
    >>> neuron = StatefulNeuron(lambda t, i, v: if_step(i, v, IFParams(threshold=5)))
    >>> [int(neuron(torch.tensor([3]))) for _ in range(3)]
    [0, 1, 0]
    """

    def __init__(self, step: Callable):
        super().__init__()
        self.step = step
        self.membrane: torch.Tensor | None = None
        self.time = 0

    def reset(self) -> None:
        """Forget the membrane and restart at time step 0 (call before every new input)."""
        self.membrane = None
        self.time = 0

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if self.membrane is None:
            self.membrane = torch.zeros_like(current)
        spikes, self.membrane = self.step(self.time, current, self.membrane)
        self.time += 1
        return spikes
