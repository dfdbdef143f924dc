"""Float neurons for training (IF, LIF/PLIF, MT-LIF, adaptive), with surrogate gradients.

The forward pass is the integer semantics of ``golden/neurons.py`` evaluated in floating point: with
integer-valued (or integer × power-of-two) currents, membranes and thresholds it gives exactly the
same spikes and membranes. Only the backward pass differs: the Heaviside step's derivative is
replaced by a fast-sigmoid surrogate ``1 / (1 + slope·|u|)²`` of the distance to threshold
``u = (V - θ) / θ`` (Zenke & Ganguli's SuperSpike shape, normalised by θ so it does not depend on the
layer's integer unit). Floors in the leaks pass gradients straight through, so the
quantized float modules train and still equal the integer steps.
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


# ---- leaky, multi-threshold and adaptive neurons ---------------------------------------------

SURROGATES = ("rectangular", "triangular", "sigmoid")


def floor_ste(x: torch.Tensor) -> torch.Tensor:
    """Floor forward, identity backward: keeps integer-exact leaks trainable."""
    return x + (torch.floor(x) - x).detach()


def leak_float(membrane: torch.Tensor, decay, quantized: bool = True) -> torch.Tensor:
    """``floor(β·V)`` (the integer leak ``(λ·V) >> F`` when ``β = λ / 2**F``) or plain ``β·V``."""
    leaked = decay * membrane
    return floor_ste(leaked) if quantized else leaked


def lif_step_float(current: torch.Tensor, membrane: torch.Tensor, threshold, decay,
                   reset: str = "subtract", quantized: bool = True, slope: float = DEFAULT_SLOPE
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Float LIF: ``V ← floor(β·V) + I`` then as IF. ``β`` may be learnable (PLIF: ``sigmoid(w)``).

    With ``β = λ / 2**F`` and integer values this is the integer factor leak exactly; the shift
    leak ``V − (V >> k)`` is :func:`shift_leak_float`.
    """
    return if_step_float(current, leak_float(membrane, decay, quantized), threshold, reset, slope)


def shift_leak_float(membrane: torch.Tensor, shift: int) -> torch.Tensor:
    """``V − floor(V / 2**k)``: the integer shift leak, differentiable through the STE."""
    return membrane - floor_ste(membrane / (1 << shift))


class _MultiLevelSpike(torch.autograd.Function):
    """``clamp(floor(V/θ), 0, K)`` forward; a surrogate bump around every level ``kθ`` backward."""

    @staticmethod
    def forward(ctx, v, threshold, levels, surrogate, width):
        ctx.save_for_backward(v, threshold)
        ctx.levels, ctx.surrogate, ctx.width = levels, surrogate, width
        return torch.clamp(torch.floor(v / threshold), 0, levels)

    @staticmethod
    def backward(ctx, grad_output):
        v, threshold = ctx.saved_tensors
        grad = torch.zeros_like(v)
        for level in range(1, ctx.levels + 1):
            u = (v - level * threshold) / (threshold * ctx.width)
            if ctx.surrogate == "rectangular":
                grad = grad + (u.abs() < 0.5).to(v.dtype)
            elif ctx.surrogate == "triangular":
                grad = grad + torch.clamp(1.0 - u.abs(), min=0.0)
            else:  # derivative of a sigmoid, peak 1
                sig = torch.sigmoid(4.0 * u)
                grad = grad + 4.0 * sig * (1.0 - sig)
        grad_v = grad_output * grad / (threshold * ctx.width)
        return grad_v, None, None, None, None


def mtlif_step_float(current: torch.Tensor, membrane: torch.Tensor, threshold, levels: int,
                     decay=1.0, reset: str = "subtract", surrogate: str = "triangular",
                     width: float = 1.0, quantized: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Float MT-LIF: graded spikes ``clamp(floor(V/θ), 0, K)``, ``V ← V − s·θ``.

    Parameters
    ----------
    surrogate : str
        ``"rectangular"``, ``"triangular"`` or ``"sigmoid"``: the derivative placed around every
        threshold level ``θ, 2θ, ..., Kθ``.
    width : float
        Width of each bump, in units of θ.
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"unknown surrogate {surrogate!r}: expected one of {SURROGATES}")
    v = leak_float(membrane, decay, quantized) + current
    theta = torch.as_tensor(threshold, dtype=v.dtype)
    spikes = _MultiLevelSpike.apply(v, theta, levels, surrogate, width)
    if reset == "subtract":
        v = v - spikes.detach() * theta
    elif reset == "zero":
        v = torch.where(spikes.detach() > 0, torch.zeros_like(v), v)
    else:
        raise ValueError(f"unknown reset mode {reset!r}: expected 'subtract' or 'zero'")
    return spikes, v


class _StrictSpike(torch.autograd.Function):
    """Heaviside ``u > 0`` (strict, as the adaptive neuron), fast-sigmoid derivative."""

    @staticmethod
    def forward(ctx, u, slope):
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (u,) = ctx.saved_tensors
        return grad_output / (1.0 + ctx.slope * u.abs()) ** 2, None


def adaptive_step_float(current: torch.Tensor, membrane: torch.Tensor, threshold, decay, gain,
                        reset: str = "subtract", quantized: bool = True,
                        slope: float = DEFAULT_SLOPE) -> tuple[torch.Tensor, torch.Tensor]:
    """Float adaptive neuron: ``V ← floor(λ_t·V) + floor(γ_t·I)``, fires on ``V > θ``.

    ``decay`` and ``gain`` are this step's λ_t and γ_t (learnable per layer and step); with
    ``λ_t = a / 2**F`` and ``γ_t = b / 2**F`` and integer values it equals the integer step.
    """
    v = leak_float(membrane, decay, quantized) + leak_float(current, gain, quantized)
    theta = torch.as_tensor(threshold, dtype=v.dtype)
    spikes = _StrictSpike.apply((v - theta) / theta, slope)
    if reset == "subtract":
        v = v - spikes.detach() * theta
    else:
        v = v * (1.0 - spikes.detach())
    return spikes, v


def bistable_step_float(current: torch.Tensor, membrane: torch.Tensor, threshold, integrate: bool,
                        reset: str = "subtract", slope: float = DEFAULT_SLOPE
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Float bistable IF: accumulate without firing in an integrate phase, fire without input in a
    fire phase (see :mod:`spikeforge.schedule` for which phase a layer is in)."""
    if integrate:
        return torch.zeros_like(membrane), membrane + current
    return if_step_float(torch.zeros_like(membrane), membrane, threshold, reset, slope)


def decay_to_factor(decay: float, frac_bits: int) -> int:
    """A float decay β (e.g. a trained PLIF ``sigmoid(w)``) as the integer factor ``round(β·2**F)``."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay: expected a value in [0, 1], found {decay}")
    return int(round(decay * (1 << frac_bits)))


def decay_to_shift(decay: float) -> int:
    """The shift leak ``V − (V >> k)`` closest to ``β·V``: ``k`` minimising ``|1 − 2**−k − β|``."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"decay: expected a value in (0, 1) for a shift leak, found {decay}")
    return min(range(1, 31), key=lambda k: abs(1.0 - 2.0 ** -k - decay))
