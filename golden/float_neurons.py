"""Float integrate-and-fire neurons for training, with a surrogate gradient.

The forward pass is the integer semantics of ``golden/neurons.py`` evaluated in floating point: with
integer-valued (or integer × power-of-two) currents, membranes and thresholds it gives exactly the
same spikes and membranes. Only the backward pass differs: the Heaviside step's derivative is
replaced by a fast-sigmoid surrogate ``1 / (1 + slope·|u|)²`` of the distance to threshold
``u = (V - θ) / θ`` (Zenke & Ganguli's SuperSpike shape, normalised by θ so it does not depend on the
layer's integer unit).
"""

from __future__ import annotations

import torch

DEFAULT_SLOPE = 5.0


class SpikeFunction(torch.autograd.Function):
    """Heaviside ``u >= 0`` forward, fast-sigmoid derivative backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (u,) = ctx.saved_tensors
        return grad_output / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike(u: torch.Tensor, slope: float = DEFAULT_SLOPE) -> torch.Tensor:
    """0/1 spikes where ``u >= 0``, with the surrogate gradient."""
    return SpikeFunction.apply(u, slope)


def if_step_float(current: torch.Tensor, membrane: torch.Tensor, threshold: torch.Tensor,
                  reset: str = "subtract", slope: float = DEFAULT_SLOPE
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of float IF neurons: ``V += I; s = V >= θ; V -= s·θ`` (or ``V = 0`` where s).

    Parameters
    ----------
    current, membrane : torch.Tensor
        Input current and membrane before the step.
    threshold : torch.Tensor or float
        θ (> 0); may be a learnable tensor.
    reset : str
        ``"subtract"`` or ``"zero"``. The reset term is detached from the graph, as in snnTorch.

    Returns
    -------
    spikes, membrane : torch.Tensor
    """
    v = membrane + current
    s = spike((v - threshold) / threshold, slope)
    if reset == "subtract":
        v = v - s.detach() * threshold
    elif reset == "zero":
        v = v * (1.0 - s.detach())
    else:
        raise ValueError(f"unknown reset mode {reset!r}: expected 'subtract' or 'zero'")
    return s, v
