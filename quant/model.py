"""Brevitas quantization-aware spiking MLP whose quantized forward pass is exactly integer.

Every layer computes in one integer *unit*: its weight scale. Binary layers use Brevitas's
``SignedBinaryWeightPerTensorConst`` with a constant scale of 1, so weights are ±1 and the unit is 1;
int-k layers use a power-of-two per-tensor scale ``2**e`` (Brevitas fixed point). Biases and
thresholds are rounded to whole units during training (straight-through), and the inputs are
integers (direct-coded pixel values) or 0/1 spikes. Hence every quantity of the quantized forward
pass is an integer times ``2**e`` and floating point computes it exactly: exporting divides by the
unit and gives the NetSpec's integers with no rounding at all (see :mod:`spikeforge.quant.export`).

Why a binary layer needs no learned scale: an IF neuron only compares ``V`` with ``θ``, so scaling
weights, bias and threshold together changes nothing. With integer inputs and ±1 weights every
current is already an integer, the finest resolution a hardware accumulator can have; a per-layer
scale ``α`` would only rescale the learnable threshold and bias (``θ/α``, ``b/α``), which training
learns directly in units of 1.

Exactness needs float64 when a layer's sums may exceed 2**24 units (float32's integer range); the
trainer evaluates in float64 and checks every count against the golden executor.
"""

from __future__ import annotations

import math
import numbers

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


MAX_WEIGHT_BITS = 8


def check_weight_bits(bits, where: str = "weight_bits") -> int:
    """``bits`` if it is a supported weight width (1 = binary ±1, 2..8 = int-k), else ValueError."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_WEIGHT_BITS:
        raise ValueError(f"{where}: expected an integer in [1, {MAX_WEIGHT_BITS}] (1 = binary ±1, "
                         f"k = int-k), found {bits!r}")
    return bits


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer forward, identity backward (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


class UnitQuantized:
    """Unit, quantized values and exact integers of a layer computing in one power-of-two unit.

    The layer has ``op`` (a Brevitas QuantLinear/QuantConv2d without bias, whose weight scale is the
    unit), and float parameters ``bias`` and ``threshold`` rounded to whole units on the fly.
    """

    def unit(self) -> torch.Tensor:
        """The layer's integer unit: its weight scale (a power of two; 1 for binary layers)."""
        return self.op.quant_weight().scale.detach().reshape(())

    def quantized(self):
        """Weights, bias and threshold as used by the forward pass (integers times the unit)."""
        unit = self.unit()
        weight = self.op.quant_weight().value
        bias = round_ste(self.bias / unit) * unit
        threshold = torch.clamp(round_ste(self.threshold / unit), min=1.0) * unit
        return weight, bias, threshold

    def integers(self) -> dict:
        """The layer as integers in its unit (exact; used by the export).

        Returns
        -------
        dict
            ``weights`` and ``bias`` (int64 tensors), ``threshold`` (int >= 1) and ``unit`` (float,
            a power of two): the forward pass uses ``value * unit`` for each of them.

        Raises
        ------
        ValueError
            If a quantity is not a whole number of units (cannot happen with the quantizers here).
        """
        with torch.no_grad():
            unit = self.unit()
            weight, bias, threshold = self.quantized()
            as_int = lambda t: torch.round(t / unit).to(torch.int64)  # exact: t is k * unit
            for name, tensor in (("weights", weight), ("bias", bias), ("threshold", threshold)):
                if not torch.equal(torch.round(tensor / unit) * unit, tensor):
                    raise ValueError(f"layer {name} is not a whole number of units {float(unit)}")
            return {"weights": as_int(weight), "bias": as_int(bias),
                    "threshold": int(as_int(threshold)), "unit": float(unit)}


class QuantIFLayer(UnitQuantized, nn.Module):
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
        check_weight_bits(weight_bits)
        self.weight_bits = weight_bits
        quant = BinaryWeight if weight_bits == 1 else int_weight(weight_bits)
        self.linear = QuantLinear(n_in, n_out, bias=False, weight_quant=quant)
        if weight_bits == 1:
            nn.init.uniform_(self.linear.weight, -1.0, 1.0)
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    @property
    def op(self):
        """The Brevitas layer (the unit is its weight scale)."""
        return self.linear


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
        sizes, weight_bits, thresholds = tuple(sizes), tuple(weight_bits), tuple(thresholds)
        if len(sizes) < 2 or any(not isinstance(n, numbers.Integral) or n < 1 for n in sizes):
            raise ValueError(f"sizes: expected the input size then at least one layer size, all "
                             f"positive integers, found {sizes}")
        for name, values in (("weight_bits", weight_bits), ("thresholds", thresholds)):
            if len(values) != len(sizes) - 1:
                raise ValueError(f"{name}: expected one value per layer ({len(sizes) - 1}), found "
                                 f"{len(values)}: {values}")
        for index, bits in enumerate(weight_bits):
            check_weight_bits(bits, f"weight_bits[{index}]")
        if not isinstance(timesteps, numbers.Integral) or timesteps < 1:
            raise ValueError(f"timesteps: expected a positive integer, found {timesteps!r}")
        self.sizes = tuple(int(n) for n in sizes)
        self.timesteps = int(timesteps)
        self.layers = nn.ModuleList(
            QuantIFLayer(n_in, n_out, bits, theta)
            for n_in, n_out, bits, theta in zip(sizes[:-1], sizes[1:], weight_bits, thresholds))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run T steps of direct coding: the same input every step.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, sizes[0])`` integer-valued inputs (float dtype: float32 to train, float64 to
            evaluate exactly).

        Returns
        -------
        torch.Tensor
            Spike counts of the last layer, ``(batch, n_out)``, in ``x``'s dtype.
        """
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
