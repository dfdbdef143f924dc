"""Integer-exact neuron steps: pure functions ``step(current, state, params) -> (spikes, state)``.

They operate on int64 tensors and hold no state of their own; the executor (or a module) keeps the
membrane between calls. The hardware neuron arrays must agree with them bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class IFParams:
    """Integer parameters of an integrate-and-fire neuron array.

    Attributes
    ----------
    threshold : int
        θ; a neuron fires when ``V >= θ`` (the comparison is ``>=``).
    reset : str
        ``"subtract"``: V ← V − θ on a spike; ``"zero"``: V ← 0 on a spike.
    state_low, state_high : int
        Range of the membrane register; ``V + I`` is clamped to it (saturation). When the compiler's
        bounds show the range is never left, the clamp is the identity.
    """

    threshold: int
    reset: str = "subtract"
    state_low: int = -(1 << 31)
    state_high: int = (1 << 31) - 1


def if_step(current: torch.Tensor, membrane: torch.Tensor, params: IFParams
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """One time step of integrate-and-fire neurons.

    Parameters
    ----------
    current : torch.Tensor
        Integer input current ``I`` (int64), any shape.
    membrane : torch.Tensor
        Membrane ``V`` before the step (int64), same shape.
    params : IFParams
        Threshold, reset mode and saturation range.

    Returns
    -------
    spikes : torch.Tensor
        0/1 spikes (int64).
    membrane : torch.Tensor
        Membrane after integration, firing and reset.
    """
    v = torch.clamp(membrane + current, params.state_low, params.state_high)
    spikes = (v >= params.threshold).to(torch.int64)
    if params.reset == "subtract":
        v = v - spikes * params.threshold
    elif params.reset == "zero":
        v = v * (1 - spikes)
    else:
        raise ValueError(f"unknown reset mode {params.reset!r}: expected 'subtract' or 'zero'")
    return spikes, v
