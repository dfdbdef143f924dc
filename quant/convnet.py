"""Brevitas building blocks for spiking conv nets, whose quantized forward pass is exactly integer,
and their exact export to a NetSpec.

A network is a :class:`SpikingConvNet`: a sequence of blocks run over T direct-coded steps.

- :class:`QuantConvIF` / :class:`QuantLinearIF`: a Brevitas ``QuantConv2d`` / ``QuantLinear`` followed
  by integrate-and-fire neurons (``V >= θ``, reset by subtraction);
- :class:`GlobalSumPool`: global average pooling as the NetSpec's ``gap`` computes it,
  ``floor(sum over height and width / 2**shift)``;
- :class:`SumPool`: window sums (``sumpool``); ``nn.Flatten``: ``flatten``.

Exactness (as :mod:`spikeforge.quant.model`): every weighted layer computes in one *unit*, a power of
two. int-k layers (k = 2..8) use Brevitas's power-of-two per-tensor fixed-point scale; binary layers
use ±``unit`` with a constant power-of-two unit (Brevitas ``SignedBinaryWeightPerTensorConst``).
Biases and thresholds are rounded to whole units (straight-through), inputs are integers (pixels) or
0/1 spikes and pooled values are integers. So every quantity is an integer times a power of two,
float64 computes it exactly, and the export divides by the unit with no rounding.

Binary scale. The NetSpec's binary layer is ±1 times a per-layer integer ``scale``; here it is always
1 because the layer's float scale is folded into its threshold and bias: an IF neuron only compares
``V`` with ``θ``, so scaling weights, bias and threshold together changes no spike. The float model
keeps the scale as its unit (a power of two close to the mean absolute weight) only so that a layer
binarized after training keeps the magnitudes its optimiser was tuned for. A *per-channel* scale
``α_c`` would need per-channel thresholds ``θ / α_c``, which a NetSpec layer (one threshold) cannot
hold, so binary layers have one scale per layer.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn

from spikeforge.bounds import analyse
from spikeforge.golden.float_neurons import floor_ste, if_step_float
from spikeforge.netspec import (MAX_STATE_BITS, NONE_NEURON, InputSpec, LayerSpec, NetSpec,
                                NeuronSpec)

from .export import smallest_state_bits
from .model import BinaryWeight, UnitQuantized, check_weight_bits, int_weight

SUPPORTED_MODULES = ("QuantConvIF", "QuantLinearIF", "GlobalSumPool", "SumPool", "Flatten")
"""Module types :func:`export_convnet` maps to NetSpec layers (in :attr:`SpikingConvNet.features`)."""


def power_of_two_near(value: float) -> float:
    """The power of two nearest ``value`` on a log scale (``value > 0``)."""
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"binary unit: expected a positive finite mean weight, found {value!r}")
    return 2.0 ** round(math.log2(value))


class SpikingBlock(UnitQuantized, nn.Module):
    """A quantized synaptic operator followed by IF neurons; base of the conv and linear blocks.

    Subclasses set ``self.op`` (a Brevitas layer without bias) and implement :meth:`synapse`.

    Parameters
    ----------
    weight_bits : int
        1 for binary ±unit weights, 2..8 for int-k.
    threshold : float
        Initial threshold in float units.
    binary_unit : float, optional
        Binary layers: their constant power-of-two unit (default 1).
    """

    def _setup(self, op_class, op_args: tuple, op_kwargs: dict, n_out: int, weight_bits: int,
               threshold: float, binary_unit: float | None) -> None:
        check_weight_bits(weight_bits)
        self.weight_bits = int(weight_bits)
        if weight_bits == 1:
            unit = 1.0 if binary_unit is None else float(binary_unit)
            if power_of_two_near(unit) != unit:
                raise ValueError(f"binary_unit: expected a power of two, found {binary_unit!r}")
            quant = BinaryWeight.let(scaling_const=unit)
        else:
            quant = int_weight(weight_bits)
        self.op = op_class(*op_args, bias=False, weight_quant=quant, **op_kwargs)
        if weight_bits == 1:
            # Brevitas clamps binary latent weights to ±unit: start spread inside that range.
            nn.init.uniform_(self.op.weight, -unit, unit)
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def synapse(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def current(self, x: torch.Tensor):
        """Synaptic current of input ``x`` and the threshold, both in ``x``'s dtype."""
        weight, bias, threshold = self.quantized()
        return self.synapse(x, weight.to(x.dtype), bias.to(x.dtype)), threshold.to(x.dtype)

    @property
    def n_weights(self) -> int:
        return int(self.op.weight.numel())

    def binarized(self) -> "SpikingBlock":
        """A binary copy approximating this layer's current with one per-layer scale.

        The L2-optimal binary approximation of weights ``W`` is ``α·sign(W)`` with ``α = mean|W|``.
        The copy's unit is the power of two ``u`` nearest ``α``; bias and threshold are multiplied
        by ``u / α`` so that the copy computes ``u/α`` times the approximate current, which fires
        the same spikes (IF neurons are invariant to a common scale).

        Raises
        ------
        ValueError
            If every weight is zero (no sign to keep).
        """
        with torch.no_grad():
            weight, bias, threshold = self.quantized()
            alpha = float(weight.abs().mean())
            if alpha == 0.0:
                raise ValueError("cannot binarize a layer whose weights are all zero")
            unit = power_of_two_near(alpha)
            copy = self._like(1, unit)
            # Latent weights keep the signs and the relative magnitudes (within Brevitas's clamp
            # to ±unit): fine-tuning flips the small ones first. Zeros become small positives.
            signs = torch.where(weight >= 0, 1.0, -1.0)
            magnitude = torch.clamp(weight.abs() / alpha, 1 / 8, 2.0) * (unit / 2)
            copy.op.weight.copy_((signs * magnitude).to(copy.op.weight.dtype))
            copy.bias.copy_(bias * unit / alpha)
            copy.threshold.copy_(threshold * unit / alpha)
        return copy

    def _like(self, weight_bits: int, binary_unit: float | None) -> "SpikingBlock":
        raise NotImplementedError


class QuantConvIF(SpikingBlock):
    """A Brevitas ``QuantConv2d`` (square kernel, zero padding) followed by IF neurons.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
        Geometry (a ``kernel_size``² kernel).
    stride, padding : int
        As ``torch.nn.Conv2d`` (zero padding).
    weight_bits : int
        1 for binary ±unit weights, 2..8 for int-k.
    threshold : float
        Initial threshold.
    binary_unit : float, optional
        The power-of-two unit of a binary layer (default 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, weight_bits: int = 4, threshold: float = 1.0,
                 binary_unit: float | None = None):
        super().__init__()
        self.geometry = (int(in_channels), int(out_channels), int(kernel_size), int(stride),
                         int(padding))
        self.stride, self.padding = int(stride), int(padding)
        self._setup(QuantConv2d, (in_channels, out_channels, kernel_size),
                    {"stride": stride, "padding": padding}, out_channels, weight_bits, threshold,
                    binary_unit)

    def synapse(self, x, weight, bias):
        return F.conv2d(x, weight, bias, stride=self.stride, padding=self.padding)

    def _like(self, weight_bits, binary_unit):
        c_in, c_out, k, stride, padding = self.geometry
        return QuantConvIF(c_in, c_out, k, stride, padding, weight_bits, float(self.threshold),
                           binary_unit)


class QuantLinearIF(SpikingBlock):
    """A Brevitas ``QuantLinear`` followed by IF neurons.

    Parameters
    ----------
    in_features, out_features : int
        Fan-in and neurons.
    weight_bits, threshold, binary_unit
        As :class:`QuantConvIF`.
    """

    def __init__(self, in_features: int, out_features: int, weight_bits: int = 4,
                 threshold: float = 1.0, binary_unit: float | None = None):
        super().__init__()
        self.geometry = (int(in_features), int(out_features))
        self._setup(QuantLinear, (in_features, out_features), {}, out_features, weight_bits,
                    threshold, binary_unit)

    def synapse(self, x, weight, bias):
        return x @ weight.t() + bias

    def _like(self, weight_bits, binary_unit):
        return QuantLinearIF(*self.geometry, weight_bits, float(self.threshold), binary_unit)


class GlobalSumPool(nn.Module):
    """Global average pooling as the NetSpec's ``gap``: ``floor(Σ_{h,w} x / 2**shift)``.

    With ``shift = 0`` it is a global sum; any ``1 / (height·width)`` factor of a true average is
    folded into the next layer's threshold instead (IF neurons are scale-invariant).
    """

    def __init__(self, shift: int = 0):
        super().__init__()
        if isinstance(shift, bool) or not isinstance(shift, numbers.Integral) or not 0 <= shift <= 16:
            raise ValueError(f"gap shift: expected an integer in [0, 16], found {shift!r}")
        self.shift = int(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = x.sum(dim=(2, 3))
        # floor_ste: the exact integer shift forward, a straight-through gradient backward.
        return floor_ste(total / (1 << self.shift)) if self.shift else total


class SumPool(nn.Module):
    """Sum over ``kernel``² windows with ``stride`` (the NetSpec's ``sumpool``)."""

    def __init__(self, kernel: int, stride: int | None = None):
        super().__init__()
        self.kernel, self.stride = int(kernel), int(stride if stride is not None else kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)


class SpikingConvNet(nn.Module):
    """Blocks run over T direct-coded steps (the same image every step); spike-count readout.

    Parameters
    ----------
    features : sequence of nn.Module
        The layers in order (kept as ``self.features``, an ``nn.Sequential``). The last one must be
        a :class:`SpikingBlock` (its spikes are counted). Other modules run as given, but only the
        types in :data:`SUPPORTED_MODULES` export.
    timesteps : int
        T.
    input_shape : tuple of int
        ``(channels, height, width)`` of one image; flat inputs are reshaped to it.
    """

    def __init__(self, features, timesteps: int, input_shape: tuple):
        super().__init__()
        self.features = features if isinstance(features, nn.Sequential) else nn.Sequential(*features)
        if not len(self.features) or not isinstance(self.features[-1], SpikingBlock):
            last = type(self.features[-1]).__name__ if len(self.features) else "nothing"
            raise ValueError(f"features: expected a spiking block (QuantConvIF or QuantLinearIF) "
                             f"last, whose spikes are counted, found {last}")
        if isinstance(timesteps, bool) or not isinstance(timesteps, numbers.Integral) or timesteps < 1:
            raise ValueError(f"timesteps: expected a positive integer, found {timesteps!r}")
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"input_shape: expected (channels, height, width), found {input_shape!r}")
        self.timesteps = int(timesteps)
        self.input_shape = shape

    def blocks(self) -> list[tuple[str, SpikingBlock]]:
        """``(module path, block)`` of every weighted layer, in order."""
        return [(f"features.{index}", module) for index, module in enumerate(self.features)
                if isinstance(module, SpikingBlock)]

    def forward(self, x: torch.Tensor, margins: bool = False):
        """Run T steps.

        Parameters
        ----------
        x : torch.Tensor
            ``(batch, C·H·W)`` or ``(batch, C, H, W)`` integer-valued inputs (float dtype: float32
            to train, float64 to evaluate exactly).
        margins : bool
            Also return the last layer's ``(V − θ) / θ`` before firing at every step (the training
            loss uses it: at T = 1 a count is 0 or 1 and carries no gradient of its own).

        Returns
        -------
        torch.Tensor or (torch.Tensor, torch.Tensor)
            Spike counts ``(batch, n_out)``; with ``margins`` also ``(T, batch, n_out)``.
        """
        x = x.reshape(x.shape[0], *self.input_shape)
        membranes = [None] * len(self.features)
        counts, steps = 0, []
        first = None
        for _ in range(self.timesteps):
            activity = x
            for index, module in enumerate(self.features):
                if not isinstance(module, SpikingBlock):
                    activity = module(activity)
                    continue
                if index == 0 and first is not None:  # direct coding: same input, same current
                    current, threshold = first
                else:
                    current, threshold = module.current(activity)
                    if index == 0:
                        first = (current, threshold)
                if membranes[index] is None:
                    membranes[index] = torch.zeros_like(current)
                if margins and index == len(self.features) - 1:
                    steps.append((membranes[index] + current - threshold) / threshold)
                activity, membranes[index] = if_step_float(current, membranes[index], threshold)
            counts = counts + activity
        return (counts, torch.stack(steps)) if margins else counts


def _module_error(path: str, module: nn.Module, why: str = "not supported") -> ValueError:
    return ValueError(f"layer {path} ({type(module).__name__}): {why}; expected one of "
                      f"{', '.join(SUPPORTED_MODULES)}")


def check_exportable(model: SpikingConvNet) -> None:
    """Raise a ValueError naming the first module :func:`export_convnet` cannot map.

    Raises
    ------
    ValueError
        ``layer features.3 (MaxPool2d): not supported; expected one of ...``.
    """
    for index, module in enumerate(model.features):
        path = f"features.{index}"
        if isinstance(module, (SpikingBlock, GlobalSumPool, SumPool)):
            continue
        if isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise _module_error(path, module, f"flattens dims {module.start_dim}..{module.end_dim}, "
                                                  "only 1..-1 is supported")
            continue
        raise _module_error(path, module)


def export_convnet(model: SpikingConvNet, input_bits: int, input_max: int,
                   name: str = "digits-convnet", metadata: dict | None = None) -> NetSpec:
    """The model's integer NetSpec, exact (validated).

    Parameters
    ----------
    model : SpikingConvNet
        A trained model.
    input_bits, input_max : int
        Width and largest value of the direct-coded input (5 and 16 for digits).
    name : str
        The NetSpec's name.
    metadata : dict, optional
        JSON-serialisable information kept in the header; ``units`` (each weighted layer's float
        unit) and ``module_paths`` are added.

    Returns
    -------
    NetSpec
        Layers ``conv1``, ``conv2``, ..., ``gap``, ``fc1``, ... with IF neurons (``>=``, reset by
        subtraction) and the smallest membrane widths that never saturate.

    Raises
    ------
    ValueError
        For a module that cannot be exported (named with its path, see :func:`check_exportable`),
        a quantity that is not a whole number of units, or no membrane width that fits.
    spikeforge.errors.NetSpecError
        If the result does not validate (e.g. ``input_max`` beyond ``input_bits``).
    """
    check_exportable(model)
    counters: dict[str, int] = {}

    def next_name(prefix: str) -> str:
        counters[prefix] = counters.get(prefix, 0) + 1
        return f"{prefix}{counters[prefix]}"

    drafts, units, paths = [], [], []
    for index, module in enumerate(model.features):
        paths.append(f"features.{index}")
        if isinstance(module, SpikingBlock):
            ints = module.integers()
            units.append(ints["unit"])
            neuron = NeuronSpec("if", ints["threshold"], "subtract", MAX_STATE_BITS)
            common = dict(weights=ints["weights"].numpy(), weight_bits=module.weight_bits,
                          bias=ints["bias"].numpy(), neuron=neuron, scale=1)
            if isinstance(module, QuantConvIF):
                drafts.append(LayerSpec(next_name("conv"), "conv2d", stride=module.stride,
                                        padding=module.padding, **common))
            else:
                drafts.append(LayerSpec(next_name("fc"), "linear", **common))
        elif isinstance(module, GlobalSumPool):
            drafts.append(LayerSpec(next_name("gap"), "gap", None, 0, None, NONE_NEURON,
                                    shift=module.shift))
        elif isinstance(module, SumPool):
            drafts.append(LayerSpec(next_name("pool"), "sumpool", None, 0, None, NONE_NEURON,
                                    kernel=module.kernel, stride=module.stride))
        else:  # nn.Flatten (checked above)
            drafts.append(LayerSpec(next_name("flatten"), "flatten", None, 0, None, NONE_NEURON))
    size = int(np.prod(model.input_shape))
    spec_input = InputSpec(size=size, encoding="direct", bits=input_bits, max_value=input_max,
                           shape=model.input_shape)
    meta = {**(metadata or {}), "units": units, "module_paths": paths}
    draft = NetSpec(spec_input, tuple(drafts), model.timesteps, name=name, metadata=meta).validate()
    # Each layer's input range (pixels, spikes, pooled sums) does not depend on the widths.
    bounds = analyse(draft)
    layers = []
    for layer, bound in zip(draft.layers, bounds):
        if not layer.stateless:
            bits = smallest_state_bits(layer, bound.input_max, model.timesteps)
            layer = LayerSpec(layer.name, layer.kind, layer.weights, layer.weight_bits, layer.bias,
                              NeuronSpec("if", layer.neuron.threshold, "subtract", bits), 1,
                              stride=layer.stride, padding=layer.padding)
        layers.append(layer)
    return NetSpec(spec_input, tuple(layers), model.timesteps, name=name, metadata=meta).validate()


def evaluate_counts(model: SpikingConvNet, x: np.ndarray, dtype: torch.dtype = torch.float64,
                    batch_size: int = 512) -> np.ndarray:
    """Spike counts of the quantized model as int64 (float64: exact; see the module docstring).

    A copy is converted to ``dtype``, so ``model`` keeps its own.
    """
    import copy

    evaluated = copy.deepcopy(model).to(dtype).eval()
    x = np.asarray(x)
    out = []
    with torch.no_grad():
        for begin in range(0, len(x), batch_size):
            batch = torch.from_numpy(x[begin:begin + batch_size]).to(dtype)
            out.append(evaluated(batch).round().to(torch.int64).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.int64)
