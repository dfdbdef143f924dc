"""Brevitas quantization-aware spiking MLP whose quantized forward pass is exactly integer.

Every layer computes in one integer *unit*: its weight scale. Binary layers use Brevitas's
``SignedBinaryWeightPerTensorConst`` with a constant scale of 1, so weights are ±1 and the unit is 1;
int-k layers use a power-of-two per-tensor scale ``2**e`` (Brevitas fixed point). Biases and
thresholds are rounded to whole units during training (straight-through), and the inputs are
integers (direct-coded pixel values) or 0/1 spikes. Hence every quantity of the quantized forward
pass is an integer times ``2**e`` and floating point computes it exactly: exporting divides by the
unit and gives the NetSpec's integers with no rounding at all (see :mod:`spikeforge.quant.export`).
"""

from __future__ import annotations

import math

import torch
from brevitas.nn import QuantLinear
from brevitas.quant import Int8WeightPerTensorFixedPoint, SignedBinaryWeightPerTensorConst
from torch import nn

from spikeforge.golden.float_neurons import if_step_float


class BinaryWeight(SignedBinaryWeightPerTensorConst):
    """±1 weights: the unit of a binary layer is 1, the scale is folded into the threshold."""

    scaling_const = 1.0


def int_weight(bits: int):
    """Narrow-range signed ``bits``-bit weights with a power-of-two per-tensor scale."""
    return Int8WeightPerTensorFixedPoint.let(bit_width=bits)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer forward, identity backward (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


class QuantIFLayer(nn.Module):
    """A quantized linear layer followed by IF neurons (reset by subtraction, ``V >= θ``).

    Parameters
    ----------
    n_in, n_out : int
        Fan-in and neurons.
    weight_bits : int
        1 for binary ±1 weights, 2..8 for int-k.
    threshold : float
        Initial threshold in the layer's float units.
    """

    def __init__(self, n_in: int, n_out: int, weight_bits: int, threshold: float):
        super().__init__()
        self.weight_bits = weight_bits
        quant = BinaryWeight if weight_bits == 1 else int_weight(weight_bits)
        self.linear = QuantLinear(n_in, n_out, bias=False, weight_quant=quant)
        if weight_bits == 1:
            nn.init.uniform_(self.linear.weight, -1.0, 1.0)
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def unit(self) -> torch.Tensor:
        """The layer's integer unit: its weight scale (1 for binary, 2**e otherwise)."""
        return self.linear.quant_weight().scale.detach().reshape(())

    def quantized(self):
        """Weights, bias and threshold as used by the forward pass (integers times the unit)."""
        unit = self.unit()
        weight = self.linear.quant_weight().value
        bias = round_ste(self.bias / unit) * unit
        threshold = torch.clamp(round_ste(self.threshold / unit), min=1.0) * unit
        return weight, bias, threshold

    def integers(self) -> dict:
        """The layer as integers: weights, bias, threshold (exact; used by the export)."""
        with torch.no_grad():
            unit = self.unit()
            weight, bias, threshold = self.quantized()
            as_int = lambda t: torch.round(t / unit).to(torch.int64)  # exact: t is k * unit
            for name, tensor in (("weights", weight), ("bias", bias), ("threshold", threshold)):
                if not torch.equal(torch.round(tensor / unit) * unit, tensor):
                    raise ValueError(f"layer {name} is not a whole number of units {float(unit)}")
            return {"weights": as_int(weight), "bias": as_int(bias),
                    "threshold": int(as_int(threshold)), "unit": float(unit)}


class SpikingMLP(nn.Module):
    """Direct-coded spiking MLP: the same integer input every step, spike-count readout.

    Parameters
    ----------
    sizes : sequence of int
        Input size, then neurons per layer (e.g. ``(64, 128, 10)``).
    weight_bits : sequence of int
        Per layer: 1 for binary, else int-k.
    timesteps : int
        T.
    thresholds : sequence of float
        Initial thresholds per layer.
    """

    def __init__(self, sizes, weight_bits, timesteps: int, thresholds):
        super().__init__()
        self.sizes = tuple(sizes)
        self.timesteps = timesteps
        self.layers = nn.ModuleList(
            QuantIFLayer(n_in, n_out, bits, theta)
            for n_in, n_out, bits, theta in zip(sizes[:-1], sizes[1:], weight_bits, thresholds))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spike counts of the last layer over the T steps, shape ``(batch, n_out)``."""
        params = [layer.quantized() for layer in self.layers]
        membranes = [torch.zeros(x.shape[0], layer.linear.out_features, dtype=x.dtype, device=x.device)
                     for layer in self.layers]
        counts = 0
        for _ in range(self.timesteps):
            activity = x
            for index, (weight, bias, threshold) in enumerate(params):
                current = activity @ weight.t().to(x.dtype) + bias.to(x.dtype)
                activity, membranes[index] = if_step_float(current, membranes[index],
                                                           threshold.to(x.dtype))
            counts = counts + activity
        return counts


def initial_thresholds(sizes, input_max: int) -> list[float]:
    """Thresholds that make a layer fire at moderate rates at the start of training."""
    thresholds = []
    for index, n_in in enumerate(sizes[:-1]):
        typical_input = input_max / 2 if index == 0 else 0.5
        thresholds.append(max(1.0, 0.5 * math.sqrt(n_in) * typical_input * (1.0 if index == 0 else 0.2)))
    return thresholds
