"""ANN→SNN conversion (BSNN): a Brevitas quantized-ReLU network becomes an IF or bistable-IF NetSpec.

The method has three stages, deterministic for a seed:

1. **Train an ANN** with Brevitas: int-k weights with a power-of-two per-tensor scale
   (:func:`spikeforge.quant.model.int_weight`), float biases and ``QuantReLU`` activations. Three
   architectures: an MLP (``64-128-64-10``), a small ResNet (``conv → residual block (conv, conv,
   + identity shortcut) → flatten (or global average pool) → linear``) and a deep MLP
   (``depth`` hidden layers of ``width``, the deep regime the BSNN paper's claim is about). Every
   layer has a bias.
2. **Threshold balancing** (:func:`activation_scales`): per neuron layer, ``λ`` = the largest
   value of its ``QuantReLU`` (``balance="clip"``, the default) or a percentile (default 99.9) of
   the layer's positive activations on the training data; the output layer's ``λ`` is calibrated
   per readout resolution on the training data (:func:`calibrate_readout`).
3. **Conversion** (:func:`convert`): every weighted layer plus its ReLU becomes a layer of IF (or
   bistable IF) neurons, written directly as NetSpec integers.

Units (why the export is integer). Direct coding presents the integer pixels every step; a spike
of layer ``l`` stands for the activation value ``v_l`` (≈ ``λ_l``). A weighted layer with integer
weights ``W`` and power-of-two scale ``s`` therefore computes, per step, ``W·x`` in the unit
``U = s · v_in`` (``v_in`` = 1 for pixels, ``v_{l-1}`` for spikes, divided by ``H·W`` after a
global average pool, which the NetSpec writes as a sum). In that unit the threshold is
``Θ = round(λ / U)`` and the bias ``round(b / U)`` (plus, with ``round_half``, ``Θ / (2·window)`` so
that the spike count rounds instead of flooring the activation). A spike of the layer then stands for
``v_l = Θ · U``. Only these two roundings approximate the ANN; the NetSpec is exact integers.

Neurons. Plain IF with reset by subtraction fires at rate ≈ ``activation / v_l`` (clipped to 1) over
``T`` steps. Bistable IF (``spikeforge.schedule``) integrates a whole phase of ``P`` steps before it
fires, so layer ``l`` sends ``clamp(floor(V / Θ), 0, P)`` spikes, where ``V`` is the full window's
input: a ``P``-level quantized ReLU with no transient errors, and neurons whose window input is
negative send nothing. With ``λ`` the ``QuantReLU``'s clip and ``P`` a multiple of its
``2**bits − 1`` levels, a hidden layer's count is the ANN's quantized activation up to the integer
roundings of Θ and the bias. A layer is idle until its input can arrive (no bias integrated
alone). With ``L`` neuron layers one pass takes ``T = (L + 1) · P`` steps, the only ``T`` a
bistable conversion uses. The output layer sends at most ``P`` spikes, so the count readout has
``P + 1`` levels and close logits tie (``tied_images`` in the sweep).

Residual shortcuts. The NetSpec ``residual`` layer adds an earlier layer's spikes to the previous
layer's spikes and feeds new neurons, so the ResNet block computes
``relu(relu(conv2(relu(conv1(x)))) + x)``, exactly as :class:`ResidualBlock` does. Both addends count
spikes with weight 1, so the shortcut's source and the branch's last layer share one ``λ`` (the
branch's last ``QuantReLU`` shares the block input's quantizer). The block's output ReLU does not
clip: the residual neurons' threshold is two addend spikes (``λ_add = 2·λ``), so their count is
``floor((c_branch + c_shortcut) / 2)`` per window, never clipped; a bistable phase
``P = 2·k·(2**bits − 1)`` represents every level of the sum exactly. In a bistable network the shortcut is delayed by ``P`` steps per layer
of the branch (synchronous neurons) so that it arrives in the residual neurons' integrate phase; plain
IF needs no delay.

Exactness of the export is checked, not assumed: :func:`simulate_snn` re-implements the converted
network's dynamics in float64 torch from the Brevitas modules' integer weights (independently of the
NetSpec and the golden executor) and its spike counts must equal the golden executor's on every
image (``count_agreement`` in the report).
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv2d, QuantLinear, QuantReLU
from torch import nn

from spikeforge.bounds import analyse, signed_bits
from spikeforge.netspec import (MAX_STATE_BITS, MAX_TIMESTEPS, NONE_NEURON, InputSpec, LayerSpec,
                                NetSpec, NeuronSpec)

from .data import DIGITS_INPUT_BITS, Split, load_digits_split
from .methods import MethodResult, accuracy, method_report
from .model import int_weight

ARCHITECTURES = ("mlp", "resnet", "deep-mlp")
NEURONS = ("if", "bistable")
SUPPORTED_LAYERS = ("QuantLinear, QuantConv2d (zero padding, dilation 1, groups 1), each followed "
                    "by QuantReLU or nn.ReLU (except the output layer), nn.Flatten, GlobalAvgPool, "
                    "ResidualBlock, nested nn.Sequential")
IF_SWEEP = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64)
# A deep net's rate-coding errors compound layer after layer, so its IF sweep goes on to the
# NetSpec's longest T (otherwise "IF never within 1 point" could just mean "not yet at 64").
DEEP_IF_SWEEP = IF_SWEEP + (96, 128, 192, 255)
DEEP_LAYERS = 6  # L from which bsnn_claim calls a net deep (the shallow ones here have L <= 5)
BISTABLE_PHASES = (1, 2, 3, 4, 5, 6, 8, 9, 12)

# Why these types get a specific hint: they are the usual layers of a CNN that have no spiking
# counterpart here.
_HINTS = {
    nn.BatchNorm1d: "fold batch normalisation into the preceding layer's weights and bias first",
    nn.BatchNorm2d: "fold batch normalisation into the preceding convolution first",
    nn.MaxPool2d: "the maximum of spike rates has no IF equivalent: use GlobalAvgPool or a strided "
                  "convolution",
    nn.Sigmoid: "only ReLU activations become IF firing rates",
    nn.Tanh: "only ReLU activations become IF firing rates",
    nn.Dropout: "remove dropout (it is the identity at inference)",
}


# ---- the ANN ---------------------------------------------------------------------------------

class GlobalAvgPool(nn.Module):
    """Mean over height and width: ``(N, C, H, W) -> (N, C)`` (a NetSpec ``gap`` layer)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class ResidualBlock(nn.Module):
    """``relu(relu(conv2(relu(conv1(x)))) + x)`` with 3×3 same-size Brevitas convolutions.

    The branch ends in its own ReLU because the NetSpec's residual layer adds *spikes* (outputs of
    neurons) of the branch and of the shortcut; the sum then feeds the block's output neurons.

    Parameters
    ----------
    channels : int
        Input and output channels.
    weight_bits : int
        Int-k weights (2..8) with a power-of-two scale.
    act_bits : int
        Bit width of the ``QuantReLU`` activations.
    input_act : QuantReLU, optional
        The activation that produces the block's input. The branch's last ReLU then shares its
        quantizer (same scale and clip), so the two addends have the same value per level, as the
        SNN's unweighted spike sum needs.

    The block's output activation is a plain ReLU: the sum of two non-negative addends is never
    clipped (at most twice the shared clip), and the converted residual neurons get a threshold of
    two addend spikes, so they never clip it either (see :func:`convert`).
    """

    def __init__(self, channels: int, weight_bits: int, act_bits: int,
                 input_act: QuantReLU | None = None):
        super().__init__()
        self.conv1 = QuantConv2d(channels, channels, 3, padding=1, bias=True,
                                 weight_quant=int_weight(weight_bits))
        self.act1 = QuantReLU(bit_width=act_bits)
        self.conv2 = QuantConv2d(channels, channels, 3, padding=1, bias=True,
                                 weight_quant=int_weight(weight_bits))
        self.act2 = (QuantReLU(act_quant=input_act.act_quant) if input_act is not None
                     else QuantReLU(bit_width=act_bits))
        self.act_out = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act_out(self.act2(self.conv2(self.act1(self.conv1(x)))) + x)


class ConvertNet(nn.Module):
    """A convertible ANN: flat integer inputs reshaped to ``input_shape``, then ``body``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(features,)`` or ``(channels, height, width)``.
    body : torch.nn.Sequential
        Layers among :data:`SUPPORTED_LAYERS`; returns logits.
    """

    def __init__(self, input_shape: tuple, body: nn.Sequential):
        super().__init__()
        self.input_shape = tuple(int(d) for d in input_shape)
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(x.shape[0], *self.input_shape))


def build_mlp(n_in: int, hidden, n_out: int, weight_bits: int = 8, act_bits: int = 4) -> ConvertNet:
    """``n_in → hidden... → n_out`` with ``QuantReLU`` after every hidden layer (logits out)."""
    sizes = (int(n_in), *(int(h) for h in hidden), int(n_out))
    layers = []
    for index, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(QuantLinear(a, b, bias=True, weight_quant=int_weight(weight_bits)))
        if index < len(sizes) - 2:
            layers.append(QuantReLU(bit_width=act_bits))
    return ConvertNet((sizes[0],), nn.Sequential(*layers))


HEADS = ("gap", "flatten")


def build_resnet(input_shape: tuple, channels: int, n_out: int, weight_bits: int = 8,
                 act_bits: int = 4, head: str = "flatten") -> ConvertNet:
    """``conv 3×3 stride 2 → ReLU → ResidualBlock → head → linear`` (logits out).

    ``head`` is ``"gap"`` (global average pooling) or ``"flatten"`` (keeps where a stroke is).
    """
    if head not in HEADS:
        raise ValueError(f"head: expected one of {HEADS}, found {head!r}")
    c_in, height, width = (int(d) for d in input_shape)
    stem_act = QuantReLU(bit_width=act_bits)
    side = lambda n: (n + 2 - 3) // 2 + 1
    features = channels * side(height) * side(width) if head == "flatten" else channels
    body = nn.Sequential(
        QuantConv2d(c_in, channels, 3, stride=2, padding=1, bias=True,
                    weight_quant=int_weight(weight_bits)),
        stem_act,
        ResidualBlock(channels, weight_bits, act_bits, input_act=stem_act),
        nn.Flatten() if head == "flatten" else GlobalAvgPool(),
        QuantLinear(features, n_out, bias=True, weight_quant=int_weight(weight_bits)))
    return ConvertNet(input_shape, body)


# ---- the plan: which module becomes which SNN layer --------------------------------------------

@dataclass
class _Step:
    """One SNN layer to be: its NetSpec name and kind, the torch modules it comes from."""

    name: str
    kind: str  # linear, conv2d, flatten, gap, residual
    module: nn.Module | None = None
    activation: nn.Module | None = None  # the ReLU whose output is balanced (None: output layer)
    source: str = ""  # residual: the shortcut's source layer
    branch: int = 0  # residual: neuron layers in the branch


def _flatten_children(module: nn.Sequential, prefix: str) -> list[tuple[str, nn.Module]]:
    items = []
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if type(child) is nn.Sequential:
            items.extend(_flatten_children(child, path))
        else:
            items.append((path, child))
    return items


def _unsupported(path: str, module: nn.Module, why: str = "") -> ValueError:
    hint = next((text for kind, text in _HINTS.items() if isinstance(module, kind)), why)
    return ValueError(f"layer {path} ({type(module).__name__}) is not supported by ANN→SNN "
                      f"conversion{': ' + hint if hint else ''}; expected {SUPPORTED_LAYERS}")


def _check_weighted(path: str, module: nn.Module) -> None:
    if isinstance(module, QuantConv2d):
        if (module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros"
                or isinstance(module.padding, str) or module.kernel_size[0] != module.kernel_size[1]
                or module.stride[0] != module.stride[1] or module.padding[0] != module.padding[1]):
            raise _unsupported(path, module, "only square kernels, equal strides and paddings, "
                                             "zero padding, dilation 1 and groups 1 convert")
    bits = module.quant_weight().bit_width
    if bits is None or not 2 <= int(bits) <= 8:
        raise _unsupported(path, module, f"weights must be int-k (2..8 bits), found bit width {bits}")


def plan(model: nn.Module) -> tuple[tuple, list[_Step]]:
    """The SNN layers the ANN ``model`` converts to, in order.

    Parameters
    ----------
    model : ConvertNet or torch.nn.Sequential
        The ANN (a Sequential takes flat inputs).

    Returns
    -------
    input_shape : tuple
        The shape the first layer sees.
    steps : list
        One entry per SNN layer (named by module path).

    Raises
    ------
    ValueError
        For a module that does not convert, naming its path (``body.2``), its type and what is
        supported; for a hidden weighted layer without a ReLU; for a model that does not end in a
        weighted layer.
    """
    if isinstance(model, ConvertNet):
        items, input_shape = _flatten_children(model.body, "body"), model.input_shape
    elif type(model) is nn.Sequential:
        items, input_shape = _flatten_children(model, ""), None
    else:
        raise ValueError(f"model ({type(model).__name__}): expected a ConvertNet or an "
                         f"nn.Sequential of {SUPPORTED_LAYERS}")
    steps: list[_Step] = []
    index = 0
    while index < len(items):
        path, module = items[index]
        following = items[index + 1] if index + 1 < len(items) else None
        if isinstance(module, (QuantLinear, QuantConv2d)):
            _check_weighted(path, module)
            kind = "linear" if isinstance(module, QuantLinear) else "conv2d"
            if following is not None and isinstance(following[1], (QuantReLU, nn.ReLU)):
                steps.append(_Step(path, kind, module, following[1]))
                index += 2
                continue
            if following is not None and not isinstance(
                    following[1], (QuantLinear, QuantConv2d, ResidualBlock, nn.Flatten,
                                   GlobalAvgPool)):
                raise _unsupported(*following)
            if following is not None:
                raise ValueError(f"layer {following[0]} ({type(following[1]).__name__}): expected "
                                 f"QuantReLU or nn.ReLU after the hidden layer {path} (its outputs "
                                 f"become firing rates); only the output layer has no ReLU")
            steps.append(_Step(path, kind, module, None))
        elif isinstance(module, ResidualBlock):
            if not steps or steps[-1].kind not in ("linear", "conv2d", "residual"):
                raise ValueError(f"layer {path} (ResidualBlock): expected a layer of neurons before "
                                 f"it (its shortcut adds their spikes), found "
                                 f"{steps[-1].kind if steps else 'the network input'}")
            for conv in (module.conv1, module.conv2):
                _check_weighted(path, conv)
            source = steps[-1].name
            steps.append(_Step(f"{path}.conv1", "conv2d", module.conv1, module.act1))
            steps.append(_Step(f"{path}.conv2", "conv2d", module.conv2, module.act2))
            steps.append(_Step(f"{path}.add", "residual", None, module.act_out, source=source,
                               branch=2))
        elif isinstance(module, nn.Flatten):
            steps.append(_Step(path, "flatten", module))
        elif isinstance(module, GlobalAvgPool):
            steps.append(_Step(path, "gap", module))
        elif isinstance(module, (QuantReLU, nn.ReLU)):
            raise ValueError(f"layer {path} ({type(module).__name__}): expected a QuantLinear or "
                             f"QuantConv2d before this ReLU, found "
                             f"{type(items[index - 1][1]).__name__ if index else 'the input'}")
        else:
            raise _unsupported(path, module)
        index += 1
    if not steps or steps[-1].kind not in ("linear", "conv2d") or steps[-1].activation is not None:
        raise ValueError("model: expected a QuantLinear or QuantConv2d output layer (logits, no "
                         f"ReLU) last, found {steps[-1].kind if steps else 'no layers'}")
    return input_shape, steps


# ---- threshold balancing -----------------------------------------------------------------------

BALANCES = ("clip", "percentile")


def _clip_value(activation: nn.Module) -> float | None:
    """The largest output of a ``QuantReLU`` (scale · (2**bits − 1)); None for a plain ReLU."""
    if not isinstance(activation, QuantReLU):
        return None
    with torch.no_grad():
        scale = float(activation.act_quant.scale().reshape(-1)[0])
        bits = int(activation.act_quant.bit_width())
    return scale * ((1 << bits) - 1)


def activation_scales(model: nn.Module, x: np.ndarray, percentile: float = 99.9,
                      output_percentile: float = 100.0, balance: str = "percentile"
                      ) -> dict[str, float]:
    """Threshold balancing: the activation value ``λ`` each neuron layer's threshold stands for.

    Parameters
    ----------
    model : ConvertNet or torch.nn.Sequential
        The trained ANN (evaluated in float32, eval mode, on a copy).
    x : numpy.ndarray
        ``(n, features)`` integer inputs (the training images).
    percentile : float
        Of the positive ReLU outputs of each hidden layer, in (0, 100].
    output_percentile : float
        Of the positive logits of the output layer (default the maximum: a saturated readout
        makes ties).
    balance : str
        ``"percentile"``: every hidden layer's λ is the percentile; ``"clip"``: a layer ending in a
        ``QuantReLU`` takes its quantizer's largest value instead (its levels are then whole
        fractions of a spike, which a bistable phase of ``P = k·(2**bits − 1)`` reproduces
        exactly); plain ReLUs still use the percentile.

    Returns
    -------
    dict
        Layer name (as in :func:`plan`) to ``λ > 0``. The shortcut source and the last branch layer
        of a residual block get the larger of their two values (their spikes are added with
        weight 1). A residual layer whose activation is a plain ReLU (no clip) gets twice that
        value: its neurons' threshold is two addend spikes, so the sum is never clipped. A layer
        with no positive activation gets 1.0.
    """
    if balance not in BALANCES:
        raise ValueError(f"balance: expected one of {BALANCES}, found {balance!r}")
    _, steps = plan(model)
    evaluated = copy.deepcopy(model).float().eval()
    _, steps_copy = plan(evaluated)
    captured: dict[str, list] = {}
    hooks = []
    for step in steps_copy:
        target = step.activation if step.activation is not None else step.module
        if step.kind in ("linear", "conv2d", "residual"):
            def keep(_, __, output, name=step.name):
                captured.setdefault(name, []).append(output.detach().reshape(-1).numpy().copy())
            hooks.append(target.register_forward_hook(keep))
    try:
        with torch.no_grad():
            inputs = torch.from_numpy(np.asarray(x)).float()
            for begin in range(0, len(inputs), 512):
                evaluated(inputs[begin:begin + 512])
    finally:
        for hook in hooks:
            hook.remove()
    scales = {}
    for step in steps:
        if step.name not in captured:
            continue
        clip = _clip_value(step.activation) if balance == "clip" else None
        if clip is not None and clip > 0:
            scales[step.name] = clip
            continue
        values = np.concatenate(captured[step.name])
        values = values[values > 0]
        p = percentile if step.activation is not None else output_percentile
        scales[step.name] = float(np.percentile(values, p)) if values.size else 1.0
    for index, step in enumerate(steps):
        if step.kind == "residual":  # the shortcut and the branch's end share one spike value
            branch_end = steps[index - 1].name
            shared = max(scales[step.source], scales[branch_end])
            scales[step.source] = scales[branch_end] = shared
            if _clip_value(step.activation) is None:  # an unclipped sum: two addend spikes
                scales[step.name] = 2 * shared
    return scales


# ---- conversion -------------------------------------------------------------------------------

@dataclass
class ConvertedLayer:
    """One layer of the converted SNN, with the torch module it came from.

    Attributes
    ----------
    name, kind : str
        As in the NetSpec.
    module : torch.nn.Module or None
        The Brevitas layer (geometry for :func:`simulate_snn`), None for residual layers.
    weights, bias : numpy.ndarray or None
        Integer weights (the module's Brevitas integers) and integer bias in the unit ``unit``.
    threshold : int
        Θ in ``unit``.
    unit : float
        Float value of one unit of the layer's current.
    spike_value : float
        The activation one spike stands for, ``Θ · unit``.
    stage : int
        0-based index among the layers with neurons (the bistable schedule's layer index).
    source : str
        Residual: the shortcut's source.
    delay : int
        Residual: steps the shortcut is delayed.
    """

    name: str
    kind: str
    module: nn.Module | None
    weights: np.ndarray | None = None
    bias: np.ndarray | None = None
    weight_bits: int = 0
    threshold: int = 0
    unit: float = 0.0
    spike_value: float = 0.0
    stage: int = -1
    source: str = ""
    delay: int = 0


@dataclass
class Conversion:
    """A converted SNN: its layers (with their torch modules) and the exact NetSpec."""

    layers: list
    netspec: NetSpec
    neuron: str
    phase: int
    timesteps: int


def neuron_layers(model: nn.Module) -> int:
    """L: layers with neurons the ANN converts to (a bistable pass takes ``(L + 1) · P`` steps)."""
    return sum(1 for step in plan(model)[1] if step.kind in ("linear", "conv2d", "residual"))


def convert(model: nn.Module, scales: dict, *, neuron: str = "bistable", timesteps: int,
            input_bits: int = DIGITS_INPUT_BITS, input_max: int = 16, round_half: bool = True,
            name: str = "converted", metadata: dict | None = None) -> Conversion:
    """Convert a trained ANN into an exact integer NetSpec of IF or bistable-IF neurons.

    Parameters
    ----------
    model : ConvertNet or torch.nn.Sequential
        The ANN (see :func:`plan` for what converts).
    scales : dict
        ``λ`` per neuron layer, from :func:`activation_scales`.
    neuron : str
        ``"if"`` (reset by subtraction, ``V >= Θ``) or ``"bistable"`` (integrate/fire phases).
    timesteps : int
        T. Bistable: ``(L + 1) · P`` for a phase ``P >= 1`` (L = :func:`neuron_layers`).
    input_bits, input_max : int
        The direct-coded input's width and largest value.
    round_half : bool
        Add ``Θ / (2·window)`` to each bias (window = P or T) so that counts round the activation
        instead of flooring it.
    name : str
        The NetSpec's name.
    metadata : dict, optional
        Kept in the NetSpec header (plus ``units`` and ``lambdas`` per layer).

    Returns
    -------
    Conversion
        Layers and the validated NetSpec (membrane widths the smallest without saturation).

    Raises
    ------
    ValueError
        Unsupported layers (see :func:`plan`), a missing scale, a bad neuron or T.
    """
    if neuron not in NEURONS:
        raise ValueError(f"neuron: expected one of {NEURONS}, found {neuron!r}")
    input_shape, steps = plan(model)
    if input_shape is None:
        first = steps[0].module
        input_shape = (first.in_features,) if isinstance(first, QuantLinear) else None
        if input_shape is None:
            raise ValueError("model: an nn.Sequential starting with a convolution has no input "
                             "shape: wrap it in a ConvertNet(input_shape, body)")
    n_neuron_layers = sum(1 for s in steps if s.kind in ("linear", "conv2d", "residual"))
    if isinstance(timesteps, bool) or not isinstance(timesteps, numbers.Integral) \
            or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise ValueError(f"timesteps: expected an integer in [1, {MAX_TIMESTEPS}], found {timesteps!r}")
    phase = 0
    if neuron == "bistable":
        if timesteps % (n_neuron_layers + 1):
            raise ValueError(f"timesteps: expected a multiple of L + 1 = {n_neuron_layers + 1} for "
                             f"a bistable network of {n_neuron_layers} neuron layers "
                             f"(T = (L + 1)·P), found {timesteps}")
        phase = timesteps // (n_neuron_layers + 1)
    window = phase if neuron == "bistable" else timesteps

    converted: list[ConvertedLayer] = []
    value = 1.0  # float value of one unit of the next layer's input (integer pixels: 1)
    spike_values: dict[str, float] = {}
    shape = tuple(input_shape)
    stage = 0
    with torch.no_grad():
        for step in steps:
            if step.kind in ("linear", "conv2d"):
                if step.name not in scales:
                    raise ValueError(f"scales: expected a λ for layer {step.name}, found none")
                quant = step.module.quant_weight()
                scale = float(quant.scale.reshape(-1)[0])
                weights = torch.round(quant.value / quant.scale).to(torch.int64).numpy()
                bits = int(quant.bit_width)
                unit = scale * value
                threshold = max(1, int(round(scales[step.name] / unit)))
                bias_float = (step.module.bias.detach().double().numpy()
                              if step.module.bias is not None else np.zeros(weights.shape[0]))
                offset = threshold / (2 * window) if round_half else 0.0
                bias = np.round(bias_float / unit + offset).astype(np.int64)
                layer = ConvertedLayer(step.name, step.kind, step.module, weights, bias, bits,
                                       threshold, unit, threshold * unit, stage)
                if step.kind == "conv2d":
                    k, stride, pad = weights.shape[2], step.module.stride[0], step.module.padding[0]
                    shape = (weights.shape[0], (shape[1] + 2 * pad - k) // stride + 1,
                             (shape[2] + 2 * pad - k) // stride + 1)
                else:
                    shape = (weights.shape[0],)
            elif step.kind == "residual":
                # Current = branch spikes + shortcut spikes, each worth about the shared λ.
                unit = 0.5 * (value + spike_values[step.source])
                threshold = max(1, int(round(scales[step.name] / unit)))
                delay = phase * step.branch if neuron == "bistable" else 0
                layer = ConvertedLayer(step.name, "residual", None, threshold=threshold, unit=unit,
                                       spike_value=threshold * unit, stage=stage,
                                       source=step.source, delay=delay)
            elif step.kind == "flatten":
                layer = ConvertedLayer(step.name, "flatten", step.module)
                shape = (int(np.prod(shape)),)
            else:  # gap: the NetSpec sums (shift 0), the ANN averages
                layer = ConvertedLayer(step.name, "gap", step.module)
                value = value / (shape[1] * shape[2])
                shape = (shape[0],)
            if layer.stage >= 0:
                stage += 1
                value = layer.spike_value
                spike_values[layer.name] = layer.spike_value
            converted.append(layer)
    spec = _netspec(converted, input_shape, input_bits, input_max, timesteps, neuron, phase, name,
                    {**(metadata or {}), "units": {l.name: l.unit for l in converted if l.stage >= 0},
                     "lambdas": {k: float(v) for k, v in scales.items()}})
    return Conversion(converted, spec, neuron, phase, timesteps)


def _netspec(layers, input_shape, input_bits, input_max, timesteps, neuron, phase, name,
             metadata) -> NetSpec:
    """The NetSpec, first with 32-bit membranes, then each at the smallest width its bounds allow."""
    def build(widths):
        specs = []
        for layer in layers:
            if layer.stage < 0:
                specs.append(LayerSpec(layer.name, layer.kind, None, 0, None, NONE_NEURON))
                continue
            cell = NeuronSpec(neuron, layer.threshold, "subtract", widths[layer.name],
                              phase=phase)
            if layer.kind == "residual":
                specs.append(LayerSpec(layer.name, "residual", None, 0, None, cell,
                                       source=layer.source, delay=layer.delay))
            else:
                module = layer.module
                conv = layer.kind == "conv2d"
                specs.append(LayerSpec(layer.name, layer.kind, layer.weights, layer.weight_bits,
                                       layer.bias, cell, 1,
                                       stride=module.stride[0] if conv else 1,
                                       padding=module.padding[0] if conv else 0))
        size = int(np.prod(input_shape))
        return NetSpec(InputSpec(size, "direct", input_bits, input_max,
                                 shape=tuple(input_shape) if len(input_shape) == 3 else ()),
                       tuple(specs), timesteps, name=name, metadata=metadata).validate()

    wide = build({layer.name: MAX_STATE_BITS for layer in layers})
    widths = {}
    for layer, bound in zip(wide.layers, analyse(wide)):
        if layer.stateless:
            continue
        if bound.saturates:
            raise ValueError(f"layer {layer.name}: state_bits: expected a membrane width <= "
                             f"{MAX_STATE_BITS} without saturation, found none")
        widths[layer.name] = max(2, layer.neuron.threshold.bit_length() + 1,
                                 signed_bits(bound.membrane_low, bound.membrane_high))
    return build(widths)


# ---- the SNN in float64 torch (the export's check) -----------------------------------------------

def simulate_snn(conversion: Conversion, x: np.ndarray, integrated: bool = False):
    """Spike counts of the converted SNN, computed in float64 torch from the converted layers.

    An independent implementation of the integer dynamics (direct input, IF with reset by
    subtraction or bistable phases, delayed residual shortcuts), using the torch modules' geometry
    and the converted integers; it reads nothing from the NetSpec. Every value is an integer far
    below 2**53, so float64 is exact and the counts must equal the golden executor's.

    Parameters
    ----------
    conversion : Conversion
        From :func:`convert`.
    x : numpy.ndarray
        ``(n, features)`` integer images.
    integrated : bool
        Also return the output layer's total integrated current (what a non-spiking output layer's
        membrane would hold at the end: no readout clip, no ties between close logits). A
        diagnostic of the spike-count readout; the NetSpec has no membrane readout.

    Returns
    -------
    numpy.ndarray
        ``(n, classes)`` int64 spike counts of the output layer (and, with ``integrated``, the
        ``(n, classes)`` float64 integrated current).
    """
    layers = conversion.layers
    output = [l for l in layers if l.stage >= 0][-1].name
    total = 0.0
    spec_shape = conversion.netspec.input.dims
    images = torch.from_numpy(np.asarray(x)).to(torch.float64).reshape(len(x), *spec_shape)
    tensors = {l.name: (torch.from_numpy(l.weights).double(), torch.from_numpy(l.bias).double())
               for l in layers if l.weights is not None}
    membranes: dict[str, torch.Tensor] = {}
    history: dict[str, list] = {l.source: [] for l in layers if l.kind == "residual"}
    counts = None
    for t in range(conversion.timesteps):
        activity = images
        for layer in layers:
            if layer.kind == "flatten":
                activity = activity.reshape(activity.shape[0], -1)
                continue
            if layer.kind == "gap":
                activity = activity.sum(dim=(2, 3))
                continue
            if layer.kind == "linear":
                weights, bias = tensors[layer.name]
                current = activity @ weights.T + bias
            elif layer.kind == "conv2d":
                weights, bias = tensors[layer.name]
                current = F.conv2d(activity, weights, bias, stride=layer.module.stride,
                                   padding=layer.module.padding)
            else:  # residual: the source's output `delay` steps ago (0 before)
                past = history[layer.source]
                current = activity + (past[-1 - layer.delay] if len(past) > layer.delay else 0.0)
            v = membranes.get(layer.name, torch.zeros_like(current))
            if conversion.neuron == "bistable" and t // conversion.phase < layer.stage:
                spikes = torch.zeros_like(current)  # before its first input: idle
            elif conversion.neuron == "bistable" and ((t // conversion.phase) - layer.stage) % 2:
                spikes = (v >= layer.threshold).double()  # fire phase: input ignored
            elif conversion.neuron == "bistable":
                v, spikes = v + current, torch.zeros_like(current)  # integrate phase
                if layer.name == output:
                    total = total + current
            else:
                v = v + current
                spikes = (v >= layer.threshold).double()
                if layer.name == output:
                    total = total + current
            membranes[layer.name] = v - spikes * layer.threshold
            if layer.name in history:
                history[layer.name].append(spikes)
            activity = spikes
        counts = activity if counts is None else counts + activity
    counts = counts.round().to(torch.int64).numpy()
    if integrated:
        return counts, (total.numpy() if isinstance(total, torch.Tensor)
                        else np.zeros(counts.shape))
    return counts


# ---- the method ---------------------------------------------------------------------------------

@dataclass
class ConvertConfig:
    """Hyper-parameters of :func:`train_convert`.

    Attributes
    ----------
    seed : int
        Seeds the split, the initial weights and the batch order.
    architecture : str
        ``"mlp"`` (``features-hidden...-classes``), ``"resnet"`` (conv, residual block, head,
        linear; square single-channel images) or ``"deep-mlp"`` (``depth`` hidden layers of
        ``width``: the deep regime of the BSNN claim, where IF's rate errors compound).
    neuron : str
        ``"if"`` or ``"bistable"``: the neuron of the exported NetSpec.
    timesteps : int or None
        T of the exported NetSpec. None: 32 for IF; for bistable ``(L + 1)·P`` with P = 4
        for the MLP, P = 6 for the ResNet (the levels of its residual sum) and P = 2**act_bits − 1
        for the deep MLP (one phase per quantized level). A bistable T must be a multiple of
        ``L + 1`` (L = 3 neuron layers for the MLP, 5 for the ResNet, ``depth + 1`` for the deep
        MLP).
    epochs, batch_size, lr : int, int, float
        ANN training (Adam, cosine decay).
    hidden : tuple of int
        MLP hidden layer sizes (``"mlp"`` only).
    depth, width : int
        ``"deep-mlp"`` only: its number of hidden layers and their size. Default 6 × 64: at 8 × 64
        (or 8 × 128) the shared default ``lr = 1e-2`` does not train the 2-bit net (training
        accuracy far below the shallow nets'); 8 × 64 trains with ``lr = 3e-3``.
    channels : int
        ResNet channels.
    weight_bits : int
        Int-k weights (2..8) with a power-of-two scale, every layer.
    act_bits : int
        ``QuantReLU`` bit width (2..8).
    head : str
        ResNet head: ``"flatten"`` (default: on 8×8 digits with 8 channels the GAP ANN reached
        only about 83 %) or ``"gap"``.
    balance : str
        ``"clip"`` (λ of a ``QuantReLU`` layer = its largest value) or ``"percentile"`` (see
        :func:`activation_scales`).
    percentile : float
        Threshold balancing percentile of the hidden layers' positive activations, in (0, 100].
    output_percentile : float or None
        The same for the output layer's positive logits; None calibrates it per T on the
        training data (:func:`calibrate_readout`).
    round_half : bool
        Bias offset so that counts round the activation (see :func:`convert`).
    sweep : bool
        Also measure the accuracy against T of both neuron kinds (``details.accuracy_vs_T``).
    train_subset : int or None
        Train on the first N training images only (quick tests).
    threads : int
        ``torch.set_num_threads`` while training and converting (restored afterwards).
    """

    seed: int = 0
    architecture: str = "mlp"
    neuron: str = "bistable"
    timesteps: int | None = None
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-2
    hidden: tuple = (128, 64)
    depth: int = 6
    width: int = 64
    channels: int = 8
    weight_bits: int = 8
    act_bits: int = 2
    head: str = "flatten"
    balance: str = "clip"
    percentile: float = 99.9
    output_percentile: float | None = None
    round_half: bool = True
    sweep: bool = True
    train_subset: int | None = None
    threads: int = 1

    @property
    def neuron_layers(self) -> int:
        """L of the architecture: the MLP's layers, or the ResNet's 5 (conv, 2 convs, add, fc)."""
        if self.architecture == "deep-mlp":
            return self.depth + 1
        return len(tuple(self.hidden)) + 1 if self.architecture == "mlp" else 5

    def resolved_timesteps(self) -> int:
        """``timesteps``, or its default for the neuron kind."""
        if self.timesteps is not None:
            return int(self.timesteps)
        if self.neuron == "if":
            return 32
        if self.architecture == "deep-mlp":  # one phase step per level of the QuantReLUs
            return (self.neuron_layers + 1) * ((1 << self.act_bits) - 1)
        # The ResNet's residual sum has 2·(2**2 − 1) = 6 levels at the default 2-bit activations.
        return (self.neuron_layers + 1) * (4 if self.architecture == "mlp" else 6)

    def validate(self) -> "ConvertConfig":
        """Check every field; return ``self``.

        Raises
        ------
        ValueError
            Naming the field, what was expected and what was found.
        """
        def integer(name, value, low, high=None):
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low
                    or (high is not None and value > high)):
                expected = f"an integer in [{low}, {high}]" if high is not None else \
                    f"an integer >= {low}"
                raise ValueError(f"{name}: expected {expected}, found {value!r}")

        integer("seed", self.seed, 0)
        for name in ("epochs", "batch_size", "channels", "threads", "depth", "width"):
            integer(name, getattr(self, name), 1)
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture: expected one of {ARCHITECTURES}, found "
                             f"{self.architecture!r}")
        if self.neuron not in NEURONS:
            raise ValueError(f"neuron: expected one of {NEURONS}, found {self.neuron!r}")
        hidden = tuple(self.hidden) if isinstance(self.hidden, (tuple, list)) else None
        if not hidden:
            raise ValueError(f"hidden: expected a non-empty tuple of layer sizes, found {self.hidden!r}")
        for index, size in enumerate(hidden):
            integer(f"hidden[{index}]", size, 1)
        integer("weight_bits", self.weight_bits, 2, 8)
        integer("act_bits", self.act_bits, 2, 8)
        if self.head not in HEADS:
            raise ValueError(f"head: expected one of {HEADS}, found {self.head!r}")
        if self.balance not in BALANCES:
            raise ValueError(f"balance: expected one of {BALANCES}, found {self.balance!r}")
        if not isinstance(self.lr, numbers.Real) or isinstance(self.lr, bool) or not self.lr > 0:
            raise ValueError(f"lr: expected a positive number, found {self.lr!r}")
        for name in ("percentile", "output_percentile"):
            value = getattr(self, name)
            if name == "output_percentile" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 100:
                raise ValueError(f"{name}: expected a number in (0, 100], found {value!r}")
        if (self.architecture == "deep-mlp" and self.neuron == "bistable" and self.timesteps is None
                and self.resolved_timesteps() > MAX_TIMESTEPS):
            raise ValueError(f"depth: expected a deep-mlp whose bistable pass (L + 1)·P = "
                             f"{self.resolved_timesteps()} fits in {MAX_TIMESTEPS} timesteps, "
                             f"found depth {self.depth} with {self.act_bits}-bit activations")
        if self.timesteps is not None:
            integer("timesteps", self.timesteps, 1, MAX_TIMESTEPS)
            if self.neuron == "bistable" and self.timesteps % (self.neuron_layers + 1):
                raise ValueError(f"timesteps: expected a multiple of L + 1 = "
                                 f"{self.neuron_layers + 1} for a bistable {self.architecture} "
                                 f"(T = (L + 1)·P), found {self.timesteps}")
        if self.train_subset is not None:
            integer("train_subset", self.train_subset, 1)
        return self


def _ann_logits(model: nn.Module, x: np.ndarray, quantized: bool = True) -> np.ndarray:
    """Float32 logits of the ANN; ``quantized=False`` disables Brevitas's weight and act quant."""
    from brevitas.graph.calibrate import quantization_status_manager

    model.eval()
    inputs = torch.from_numpy(np.asarray(x)).float()
    with torch.no_grad():
        if quantized:
            return model(inputs).numpy()
        with quantization_status_manager(model, disable_act_quant=True, disable_weight_quant=True):
            return model(inputs).numpy()


def within_one_point(rows: list, ann_accuracy: float) -> int | None:
    """Smallest ``timesteps`` of a sweep whose accuracy is within 1 point of the ANN's, or None."""
    hits = [row["timesteps"] for row in rows if row["golden_accuracy"] >= ann_accuracy - 0.01]
    return min(hits) if hits else None


def within_one_point_membrane(rows: list, ann_accuracy: float) -> int | None:
    """As :func:`within_one_point`, scored by ``membrane_readout_accuracy`` (no readout ties)."""
    hits = [row["timesteps"] for row in rows
            if row.get("membrane_readout_accuracy", -1.0) >= ann_accuracy - 0.01]
    return min(hits) if hits else None


def bsnn_claim(sweep: dict, ann_accuracy: float, layers: int) -> dict:
    """The BSNN claim checked on a sweep: does bistable IF reach 1 point of the ANN in fewer steps?

    Parameters
    ----------
    sweep : dict
        ``{"if": rows, "bistable": rows}`` from :func:`sweep_timesteps`.
    ann_accuracy : float
        The quantized ANN's test accuracy (the reference).
    layers : int
        L, the neuron layers (a bistable pass takes ``(L + 1)·P`` steps).

    Returns
    -------
    dict
        ``reproduced`` (bistable within 1 point at strictly fewer steps than IF, or IF never),
        ``if_steps``, ``bistable_steps``, ``bistable_phase``, the same two step counts under a
        membrane readout, and ``text``: the conclusion with both step counts and the reason
        (``details.claim`` of the report).
    """
    rows_if, rows_b = sweep.get("if", []), sweep.get("bistable", [])
    t_if, t_b = within_one_point(rows_if, ann_accuracy), within_one_point(rows_b, ann_accuracy)
    m_if = within_one_point_membrane(rows_if, ann_accuracy)
    m_b = within_one_point_membrane(rows_b, ann_accuracy)
    phase = t_b // (layers + 1) if t_b else None
    reproduced = t_b is not None and (t_if is None or t_b < t_if)
    def steps(t, kind):
        if t is None:
            return f"{kind} never within 1 point in the sweep"
        return (f"{kind} T = {t} (P = {t // (layers + 1)})" if kind == "bistable"
                else f"{kind} T = {t}")
    def row_at(rows, t):
        return next((row for row in rows if row["timesteps"] == t), None)
    ties = ""
    at = row_at(rows_b, t_b) if t_b else None
    if at is not None:
        ties = (f" At that P the count readout (0..P per class) ties on {at['tied_images']} "
                f"images (lowest index wins); a membrane readout would score "
                f"{100 * at['membrane_readout_accuracy']:.1f} %.")
    text = (f"BSNN claim {'reproduced' if reproduced else 'NOT reproduced'} at this scale: to come "
            f"within 1 point of the quantized ANN ({100 * ann_accuracy:.1f} %) {steps(t_b, 'bistable')} "
            f"vs {steps(t_if, 'plain IF')}. With a membrane readout instead of spike counts: "
            f"bistable T = {m_b}, IF T = {m_if}.{ties} ")
    if reproduced:
        text += (f"Reason: IF's rate-coding errors compound over the L = {layers} neuron layers "
                 f"and need a long T, while one bistable phase of P steps transfers each layer's "
                 f"quantized activation, a pass costing (L + 1)·P = {layers + 1}·P steps.")
    else:
        depth = (f"even at this depth (L = {layers} neuron layers) its rate errors did not "
                 f"compound enough to need a long T" if layers >= DEEP_LAYERS else
                 f"the net is shallow (L = {layers})")
        text += (f"Reason: in this executor an IF spike crosses all layers within one step (no "
                 f"pipeline delay), so IF's T steps give every layer T + 1 rate levels at once, "
                 f"while one bistable pass costs (L + 1)·P = {layers + 1}·P steps for P + 1 levels "
                 f"per layer; with few-bit quantized activations IF's transient errors are small "
                 f"and vanish within a few steps, and {depth}.")
    return {"reproduced": reproduced, "if_steps": t_if, "bistable_steps": t_b,
            "bistable_phase": phase, "if_steps_membrane_readout": m_if,
            "bistable_steps_membrane_readout": m_b, "text": text}


READOUT_PERCENTILES = (100.0, 99.9, 99.5, 99.0, 98.0, 95.0, 90.0, 85.0, 80.0, 75.0, 70.0)


def calibrate_readout(logits: np.ndarray, labels: np.ndarray, levels: int,
                      candidates=READOUT_PERCENTILES) -> float:
    """The output layer's ``λ`` for a readout of ``levels`` spikes at most, chosen on training data.

    A spike-count readout has ``levels + 1`` values (P for bistable, T for IF) and clips at
    ``λ``: a large ``λ`` merges close logits, a small one saturates several classes, and both make
    ties. Each candidate percentile of the positive training logits is scored by the training
    accuracy of ``clamp(round(levels · logit / λ), 0, levels)``; the best (the highest percentile on
    equal scores) wins.

    Parameters
    ----------
    logits : numpy.ndarray
        ``(n, classes)`` ANN logits of the training images.
    labels : numpy.ndarray
        Their labels.
    levels : int
        Largest count of one output neuron.
    candidates : sequence of float
        Percentiles tried.

    Returns
    -------
    float
        ``λ > 0`` (1.0 if no logit is positive).
    """
    positive = logits[logits > 0]
    if not positive.size:
        return 1.0
    best_score, best = -1.0, 1.0
    for p in candidates:
        lam = float(np.percentile(positive, p))
        counts = np.clip(np.floor(levels * logits / lam + 0.5), 0, levels)
        score = accuracy(counts, labels)
        if score > best_score:
            best_score, best = score, lam
    return best


def _readout_scales(model, scales, neuron, timesteps, calibration) -> dict:
    """``scales`` with the output layer's λ calibrated for this T (when ``calibration`` is given)."""
    if calibration is None:
        return scales
    levels = timesteps // (neuron_layers(model) + 1) if neuron == "bistable" else timesteps
    output = plan(model)[1][-1].name
    return {**scales, output: calibrate_readout(*calibration, levels)}


def sweep_timesteps(model: nn.Module, scales: dict, x: np.ndarray, y: np.ndarray, *,
                    neuron: str, timesteps, input_bits: int, input_max: int,
                    round_half: bool = True, calibration=None) -> list[dict]:
    """Accuracy against T: convert at each T, run the golden executor and the float64 SNN.

    ``calibration``: ``(train_logits, train_labels)`` to calibrate the readout's λ per T
    (:func:`calibrate_readout`), or None to keep ``scales``.

    Returns
    -------
    list of dict
        Per T: ``timesteps``, ``phase`` (bistable), ``golden_accuracy``, ``count_agreement``
        (images whose golden counts equal :func:`simulate_snn`'s), ``synaptic_ops_per_image``,
        ``tied_images`` (images whose largest count is shared by several classes: the readout
        picks the lowest index) and ``membrane_readout_accuracy`` (argmax of the output layer's
        integrated current instead of its spike count: what a non-spiking output layer would
        give, a diagnostic only).
    """
    from spikeforge.golden import run

    rows = []
    for steps in timesteps:
        conversion = convert(model, _readout_scales(model, scales, neuron, steps, calibration),
                             neuron=neuron, timesteps=steps, input_bits=input_bits,
                             input_max=input_max, round_half=round_half)
        golden = run(conversion.netspec, x)
        simulated, integrated = simulate_snn(conversion, x, integrated=True)
        top = golden.counts.max(axis=1, keepdims=True)
        rows.append({"timesteps": int(steps), "phase": conversion.phase or None,
                     "golden_accuracy": float((golden.predictions == y).mean()),
                     "count_agreement": int((golden.counts == simulated).all(axis=1).sum()),
                     "synaptic_ops_per_image": round(golden.synaptic_ops_per_image, 1),
                     "tied_images": int(((golden.counts == top).sum(axis=1) > 1).sum()),
                     "membrane_readout_accuracy": accuracy(integrated, y)})
    return rows


def train_convert(config: ConvertConfig | None = None, data: Split | None = None,
                  progress: bool = True) -> MethodResult:
    """Train the quantized-ReLU ANN, balance thresholds, convert to IF or bistable IF, check.

    Parameters
    ----------
    config : ConvertConfig, optional
        Hyper-parameters (default: MLP 64-128-64-10, int8 weights, 2-bit ReLUs, bistable, P = 4).
    data : Split, optional
        Default: scikit-learn digits split with the config's seed.
    progress : bool
        A tqdm bar over the epochs (on a terminal only).

    Returns
    -------
    MethodResult
        ``netspec`` at the config's neuron and T; ``report``: the core fields, where
        ``float_accuracy`` is the ANN with Brevitas quantization disabled, ``quantized_accuracy``
        the quantized ANN (the reference of the conversion), ``golden_accuracy`` the SNN on the
        golden executor and ``count_agreement`` the images whose golden counts equal
        :func:`simulate_snn`'s; details: per-layer ``λ``, Θ and widths, ``accuracy_vs_T`` for IF and
        bistable, and ``steps_within_1_point`` for each.

    Raises
    ------
    ValueError
        An invalid config field, or a ResNet on inputs that are not square images.
    """
    from .train import _fit, seeded_training  # the QAT loop (Adam, cosine decay) and seeding

    config = (config or ConvertConfig()).validate()
    data = data or load_digits_split(seed=config.seed)
    timesteps = config.resolved_timesteps()
    with seeded_training(config.seed, config.threads) as generator:
        x_train, y_train = data.x_train, data.y_train
        if config.train_subset:
            x_train, y_train = x_train[:config.train_subset], y_train[:config.train_subset]
        features = int(x_train.shape[1])
        if config.architecture == "mlp":
            model = build_mlp(features, config.hidden, data.n_classes, config.weight_bits,
                              config.act_bits)
        elif config.architecture == "deep-mlp":
            model = build_mlp(features, (config.width,) * config.depth, data.n_classes,
                              config.weight_bits, config.act_bits)
        else:
            side = math.isqrt(features)
            if side * side != features:
                raise ValueError(f"architecture: expected square single-channel images for "
                                 f"'resnet', found {features} features per image")
            model = build_resnet((1, side, side), config.channels, data.n_classes,
                                 config.weight_bits, config.act_bits, config.head)
        seconds = _fit(model, config, x_train, y_train, generator, progress)
        start = time.perf_counter()
        model.eval()
        float_logits = _ann_logits(model, data.x_test, quantized=False)
        ann_logits = _ann_logits(model, data.x_test)
        ann_accuracy = accuracy(ann_logits, data.y_test)
        scales = activation_scales(model, x_train, config.percentile,
                                   config.output_percentile or 100.0, config.balance)
        calibration = None
        if config.output_percentile is None:
            calibration = (_ann_logits(model, x_train), y_train)
        input_bits = DIGITS_INPUT_BITS if data.max_value <= 31 else int(data.max_value).bit_length()
        conversion = convert(model, _readout_scales(model, scales, config.neuron, timesteps,
                                                    calibration),
                             neuron=config.neuron, timesteps=timesteps,
                             input_bits=input_bits, input_max=data.max_value,
                             round_half=config.round_half,
                             name=f"digits-{config.architecture}-{config.neuron}",
                             metadata={"trainer": "spikeforge.quant.convert.train_convert",
                                       "seed": config.seed, "epochs": config.epochs,
                                       "architecture": config.architecture,
                                       **({"depth": config.depth, "width": config.width}
                                          if config.architecture == "deep-mlp" else {})})
        snn_counts = simulate_snn(conversion, data.x_test)
        sweep = {}
        if config.sweep:
            for kind in NEURONS:
                if_points = DEEP_IF_SWEEP if config.architecture == "deep-mlp" else IF_SWEEP
                points = if_points if kind == "if" else tuple(
                    (neuron_layers(model) + 1) * p for p in BISTABLE_PHASES)
                sweep[kind] = sweep_timesteps(model, scales, data.x_test, data.y_test, neuron=kind,
                                              timesteps=[t for t in points if t <= MAX_TIMESTEPS],
                                              input_bits=input_bits, input_max=data.max_value,
                                              round_half=config.round_half,
                                              calibration=calibration)
        convert_seconds = time.perf_counter() - start

    spec = conversion.netspec
    claim = {}
    if sweep:
        check = bsnn_claim(sweep, ann_accuracy, neuron_layers(model))
        claim = {"claim": check["text"], "claim_check": check}
    report = method_report(
        "convert", spec, data.x_test, data.y_test, float_counts=float_logits,
        quantized_counts=snn_counts, train_seconds=seconds,
        config={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        architecture=config.architecture, phase=conversion.phase or None,
        count_agreement_compares="golden executor counts vs simulate_snn (float64 torch SNN built "
                                 "from the Brevitas modules' integers)",
        snn_simulation_accuracy=accuracy(snn_counts, data.y_test),
        convert_seconds=round(convert_seconds, 1),
        conversion=[{"name": l.name, "kind": l.kind, "threshold": l.threshold,
                     "lambda": spec.metadata["lambdas"].get(l.name), "unit": l.unit,
                     "state_bits": s.neuron.state_bits, "delay": l.delay if l.kind == "residual"
                     else None}
                    for l, s in zip(conversion.layers, spec.layers) if l.stage >= 0],
        details={"accuracy_vs_T": sweep,
                 "ann_accuracy": ann_accuracy,
                 "steps_within_1_point": {kind: within_one_point(rows, ann_accuracy)
                                          for kind, rows in sweep.items()},
                 **claim})
    # The core "quantized" accuracy of a conversion is the quantized ANN it approximates; the
    # counts handed to method_report above are the SNN simulation's (for count_agreement).
    report["quantized_accuracy"] = ann_accuracy
    spec.metadata["quantized_accuracy"] = ann_accuracy
    return MethodResult("convert", spec, report, model)

