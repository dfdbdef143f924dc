"""Integer-exact neuron steps: pure functions ``step(current, state, params) -> (spikes, state)``.

They operate on integer tensors (int64, or int32 where the bounds allow) and hold no state of their
own: they never modify their arguments; the executor (or a module) keeps the membrane between calls. The hardware neuron arrays must agree with them bit for bit. Shifts are
arithmetic (floor), as in the hardware; the equations are in ``docs/semantics.md``.
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
    state_low, state_high : int or None
        Range of the membrane register; ``V + I`` is clamped to it (saturation). None when the
        compiler's bounds show the range is never left (the clamp would be the identity).
    """

    threshold: int
    reset: str = "subtract"
    state_low: int | None = -(1 << 31)
    state_high: int | None = (1 << 31) - 1


@dataclass(frozen=True)
class LeakParams:
    """Leak of LIF and MT-LIF neurons.

    Attributes
    ----------
    kind : str
        ``"none"``, ``"shift"`` (V − (V >> shift)) or ``"factor"`` ((factor · V) >> frac_bits).
    """

    kind: str = "none"
    shift: int = 0
    factor: int = 0
    frac_bits: int = 0


def _reset(v: torch.Tensor, spikes: torch.Tensor, threshold: int, reset: str) -> torch.Tensor:
    """Reset ``v`` in place: callers pass a tensor they created, never the caller's membrane."""
    if reset == "subtract":
        return v.sub_(spikes * threshold)
    if reset == "zero":
        return v.masked_fill_(spikes > 0, 0)
    raise ValueError(f"unknown reset mode {reset!r}: expected 'subtract' or 'zero'")


def _clamp(v: torch.Tensor, params: IFParams) -> torch.Tensor:
    if params.state_low is None:  # the bounds prove V never leaves the state range
        return v
    return torch.clamp(v, params.state_low, params.state_high)


def leak(membrane: torch.Tensor, params: LeakParams) -> torch.Tensor:
    """The leaked membrane: ``V − (V >> k)``, ``(λ·V) >> F`` or ``V``; shifts floor."""
    if params.kind == "none":
        return membrane
    if params.kind == "shift":
        return membrane - (membrane >> params.shift)
    if params.kind == "factor":
        return (params.factor * membrane) >> params.frac_bits
    raise ValueError(f"unknown leak {params.kind!r}: expected 'none', 'shift' or 'factor'")


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
    v = _clamp(membrane + current, params)
    spikes = (v >= params.threshold).to(v.dtype)
    return spikes, _reset(v, spikes, params.threshold, params.reset)


def lif_step(current: torch.Tensor, membrane: torch.Tensor, params: IFParams,
             leak_params: LeakParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaky integrate-and-fire: ``V ← clamp(leak(V) + I)``, then fire and reset as IF."""
    return if_step(current, leak(membrane, leak_params), params)


def mtlif_step(current: torch.Tensor, membrane: torch.Tensor, params: IFParams,
               leak_params: LeakParams, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-threshold LIF: graded spike ``s = clamp(floor(V / θ), 0, K)``, ``V ← V − s·θ``.

    Returns spikes in ``0..levels`` (carried on ``ceil(log2(K + 1))`` bits in hardware). With reset
    ``"zero"`` a neuron that sent any spike restarts from 0.
    """
    v = _clamp(leak(membrane, leak_params) + current, params)
    spikes = torch.clamp(torch.div(v, params.threshold, rounding_mode="floor"), 0, levels)
    return spikes, _reset(v, spikes, params.threshold, params.reset)


def bistable_integrate(current: torch.Tensor, membrane: torch.Tensor, params: IFParams
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bistable IF in an integrate phase: accumulate, never fire."""
    return torch.zeros_like(membrane), _clamp(membrane + current, params)


def bistable_fire(membrane: torch.Tensor, params: IFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Bistable IF in a fire phase: no input; ``s = V >= θ``, reset."""
    spikes = (membrane >= params.threshold).to(membrane.dtype)
    return spikes, _reset(membrane.clone(), spikes, params.threshold, params.reset)


def adaptive_step(current: torch.Tensor, membrane: torch.Tensor, params: IFParams, decay: int,
                  gain: int, frac_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive neuron (ASNN): ``V ← clamp((λ_t·V) >> F + (γ_t·I) >> F)``; fires on ``V > θ`` (strict)."""
    v = _clamp(((decay * membrane) >> frac_bits) + ((gain * current) >> frac_bits), params)
    spikes = (v > params.threshold).to(v.dtype)
    return spikes, _reset(v, spikes, params.threshold, params.reset)
