"""Direct training of MT-LIF and ASNN adaptive spiking MLPs with Brevitas, exported exactly.

Two methods of :mod:`spikeforge.quant.methods` live here:

``mtlif``
    Multi-threshold LIF neurons (graded spikes ``0..K``) trained over 1-2 steps with one of the
    three surrogate derivatives of :mod:`spikeforge.golden.float_neurons` (``rectangular``,
    ``triangular``, ``sigmoid``; :attr:`MtlifConfig.surrogate`). The leak is the NetSpec's: a
    shift ``V − (V >> k)`` or a Q-format factor ``(λ·V) >> F``, quantized before training from
    :attr:`MtlifConfig.decay` exactly as the export writes it.
``asnn``
    Adaptive neurons ``V ← (λ_t·V) >> F + (γ_t·I) >> F``, strict ``V > θ``, with per-layer,
    per-step tables learned in Q``F`` (straight-through rounding) and hybrid coding (step 0
    direct, later steps latency) by default.

Exactness. Both models build on :class:`~spikeforge.quant.model.QuantIFLayer`: Brevitas
``QuantLinear`` weights (binary ±1 or int-k with a power-of-two unit), bias and threshold rounded to
whole units with straight-through estimators. Unlike :class:`~spikeforge.quant.model.SpikingMLP`,
the forward pass runs *in units* (every quantity divided by the layer's unit, an exact power-of-two
division): the leaks and gains floor the integer membrane, and ``floor(β·V)`` is only the integer
``(λ·V) >> F`` when ``V`` is that integer, not ``V·unit``. So the float membranes *are* the golden
executor's integers, and the inputs are encoded by the golden encoders themselves
(:func:`spikeforge.golden.encoders.encode`, rate coding with the NetSpec's LFSR seed). Evaluated in
float64 the model gives the golden spike counts on every image; no rounding rule is involved.

The readout is the spike count of the last layer: the sum of its (graded) spikes over the ``T``
steps, the logits of the cross-entropy loss while training.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from spikeforge.golden.encoders import encode
from spikeforge.golden.float_neurons import (SURROGATES, adaptive_step_float, decay_to_factor,
                                             decay_to_shift, leak_float, mtlif_step_float,
                                             shift_leak_float)
from spikeforge.netspec import (LEAK_KINDS, MAX_FRAC_BITS, MAX_LEVELS, MAX_STATE_BITS, InputSpec,
                                LayerSpec, NetSpec, NeuronSpec)

from .data import DIGITS_INPUT_BITS, Split, load_digits_split
from .export import smallest_state_bits
from .methods import MethodResult, method_report
from .model import QuantIFLayer, check_weight_bits, round_ste

TRAINABLE_ENCODINGS = ("direct", "rate", "latency", "hybrid")
"""Input encodings the direct-training models accept (``events`` needs event data, not images)."""

MAX_DIRECT_TIMESTEPS = 16
MAX_GAIN = 256.0  # the NetSpec's bound on γ_t: 2**(F + 8) in Q``F``


# ---- configuration ---------------------------------------------------------------------------

def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, found {value!r}")


def _number_in(name: str, value, low: float, high: float, *, open_low: bool = False,
               open_high: bool = False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if open_low else low <= value)
    ok = ok and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"{name}: expected a number in {interval}, found {value!r}")


def _check_timesteps(name: str, value) -> None:
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 1 <= value <= MAX_DIRECT_TIMESTEPS):
        raise ValueError(f"{name}: expected an integer in [1, {MAX_DIRECT_TIMESTEPS}], "
                         f"found {value!r}")


def _check_encoding(name: str, value) -> None:
    if value not in TRAINABLE_ENCODINGS:
        raise ValueError(f"{name}: expected one of {', '.join(TRAINABLE_ENCODINGS)}, "
                         f"found {value!r}")


def _validate_common(config) -> None:
    """The fields both configs share (schedule, sizes, input, sweeps)."""
    seed = config.seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, found {config.seed!r}")
    for name in ("epochs", "batch_size", "hidden", "threads"):
        _positive_int(name, getattr(config, name))
    _number_in("lr", config.lr, 0.0, math.inf, open_low=True, open_high=True)
    _check_timesteps("timesteps", config.timesteps)
    _check_encoding("encoding", config.encoding)
    bits = tuple(config.weight_bits)
    if len(bits) != 2:
        raise ValueError(f"weight_bits: expected 2 values (fc1, fc2), found {len(bits)}: {bits}")
    for index, value in enumerate(bits):
        check_weight_bits(value, f"weight_bits[{index}]")
    if config.train_subset is not None:
        _positive_int("train_subset", config.train_subset)
    if (isinstance(config.rate_seed, bool) or not isinstance(config.rate_seed, numbers.Integral)
            or not 1 <= config.rate_seed <= 0xFFFF):
        raise ValueError(f"rate_seed: expected an integer in [1, 65535] (the LFSR seed), "
                         f"found {config.rate_seed!r}")
    for index, value in enumerate(tuple(config.sweep_timesteps)):
        _check_timesteps(f"sweep_timesteps[{index}]", value)
    for index, value in enumerate(tuple(config.sweep_encodings)):
        _check_encoding(f"sweep_encodings[{index}]", value)


@dataclass
class MtlifConfig:
    """Hyper-parameters of :func:`train_mtlif` (defaults: 64-64-10, T = 2, direct coding).

    Attributes
    ----------
    seed : int
        Seeds the split, the initial weights and the batch order.
    epochs, batch_size, lr : int, int, float
        Adam with cosine decay of the learning rate over the epochs.
    hidden : int
        Hidden neurons.
    timesteps : int
        T (1..16; MT-LIF is meant for 1-2 steps).
    levels : tuple of int
        K per layer (``fc1``, ``fc2``): a spike carries ``0..K``. The readout counts ``0..T·K``,
        so the output layer gets more levels than the hidden one.
    encoding : str
        ``direct``, ``rate``, ``latency`` or ``hybrid`` (:mod:`spikeforge.golden.encoders`).
    weight_bits : tuple of int
        Per layer: 1 binary ±1, 2..8 int-k.
    surrogate : str
        ``rectangular``, ``triangular`` or ``sigmoid``: the derivative placed around every level
        ``θ, 2θ, ..., Kθ`` (:func:`spikeforge.golden.float_neurons.mtlif_step_float`).
    surrogate_width : float
        Width of each surrogate bump, in units of θ.
    leak : str
        ``shift`` (``V − (V >> k)``), ``factor`` (``(λ·V) >> F``) or ``none``.
    decay : float
        The leak's β, quantized once before training: ``k = decay_to_shift(β)`` or
        ``λ = decay_to_factor(β, F)``. The forward pass uses the quantized leak.
    frac_bits : int
        F of the factor leak.
    train_subset : int or None
        Train on the first N training images only (quick tests).
    threads : int
        ``torch.set_num_threads`` during training (restored afterwards).
    rate_seed : int
        LFSR seed of rate coding (the NetSpec's ``input.rate_seed``).
    sweep_timesteps, sweep_encodings : tuple
        When non-empty, :func:`train_mtlif` also trains one net per value (see
        :func:`sweep_direct`) and reports ``accuracy_vs_timesteps`` / ``accuracy_vs_encoding``.
    """

    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3
    hidden: int = 64
    timesteps: int = 2
    levels: tuple = (3, 7)
    encoding: str = "direct"
    weight_bits: tuple = (4, 4)
    surrogate: str = "sigmoid"
    surrogate_width: float = 1.0
    leak: str = "shift"
    decay: float = 0.5
    frac_bits: int = 8
    train_subset: int | None = None
    threads: int = 1
    rate_seed: int = 0xACE1
    sweep_timesteps: tuple = ()
    sweep_encodings: tuple = ()

    def validate(self) -> "MtlifConfig":
        """Check every field; return ``self``.

        Raises
        ------
        ValueError
            Naming the field, what was expected and what was found.
        """
        _validate_common(self)
        levels = tuple(self.levels)
        if len(levels) != 2:
            raise ValueError(f"levels: expected 2 values (fc1, fc2), found {len(levels)}: {levels}")
        for index, value in enumerate(levels):
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                    or not 1 <= value <= MAX_LEVELS):
                raise ValueError(f"levels[{index}]: expected an integer in [1, {MAX_LEVELS}], "
                                 f"found {value!r}")
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate: expected one of {', '.join(SURROGATES)}, "
                             f"found {self.surrogate!r}")
        _number_in("surrogate_width", self.surrogate_width, 0.0, math.inf, open_low=True,
                   open_high=True)
        if self.leak not in LEAK_KINDS:
            raise ValueError(f"leak: expected one of {', '.join(LEAK_KINDS)}, found {self.leak!r}")
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, numbers.Integral) \
                or not 1 <= self.frac_bits <= MAX_FRAC_BITS:
            raise ValueError(f"frac_bits: expected an integer in [1, {MAX_FRAC_BITS}], "
                             f"found {self.frac_bits!r}")
        if self.leak == "shift":  # V − (V >> k) keeps 1 − 2**−k: β = 0 or 1 has no shift
            _number_in("decay", self.decay, 0.0, 1.0, open_low=True, open_high=True)
        else:
            _number_in("decay", self.decay, 0.0, 1.0)
        return self


@dataclass
class AsnnConfig:
    """Hyper-parameters of :func:`train_asnn` (defaults: 64-64-10, T = 4, hybrid coding).

    Attributes
    ----------
    seed, epochs, batch_size, lr, hidden, weight_bits, train_subset, threads, rate_seed
        As :class:`MtlifConfig`.
    timesteps : int
        T (1..16); the tables have one entry per step.
    encoding : str
        ``hybrid`` (step 0 direct, later steps latency, as in ASNN), ``direct``, ``rate`` or
        ``latency``.
    frac_bits : int
        F of the tables λ_t and γ_t.
    decay, gain : float
        Initial λ_t (in [0, 1]) and γ_t (in [0, 256]) of every layer and step.
    learn_tables : bool
        Learn λ_t and γ_t (rounded to Q``F`` with straight-through estimators); False keeps the
        initial values.
    sweep_timesteps, sweep_encodings : tuple
        As :class:`MtlifConfig`.
    """

    seed: int = 0
    epochs: int = 25
    batch_size: int = 64
    lr: float = 5e-3
    hidden: int = 64
    timesteps: int = 4
    encoding: str = "hybrid"
    weight_bits: tuple = (4, 4)
    frac_bits: int = 8
    decay: float = 0.75
    gain: float = 1.0
    learn_tables: bool = True
    train_subset: int | None = None
    threads: int = 1
    rate_seed: int = 0xACE1
    sweep_timesteps: tuple = ()
    sweep_encodings: tuple = ()

    def validate(self) -> "AsnnConfig":
        """Check every field; return ``self``.

        Raises
        ------
        ValueError
            Naming the field, what was expected and what was found.
        """
        _validate_common(self)
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, numbers.Integral) \
                or not 1 <= self.frac_bits <= MAX_FRAC_BITS:
            raise ValueError(f"frac_bits: expected an integer in [1, {MAX_FRAC_BITS}], "
                             f"found {self.frac_bits!r}")
        _number_in("decay", self.decay, 0.0, 1.0)
        _number_in("gain", self.gain, 0.0, MAX_GAIN)
        if not isinstance(self.learn_tables, bool):
            raise ValueError(f"learn_tables: expected True or False, found {self.learn_tables!r}")
        return self


# ---- layers and model ------------------------------------------------------------------------

def _q_format(value: torch.Tensor, frac_bits: int, high: float) -> torch.Tensor:
    """``value`` clamped to ``[0, high]`` and rounded to Q``frac_bits`` (straight-through)."""
    scale = float(1 << frac_bits)
    return round_ste(torch.clamp(value, 0.0, high) * scale) / scale


class _UnitLayer(QuantIFLayer):
    """A :class:`QuantIFLayer` whose forward pass runs in its unit: integer-valued tensors."""

    def in_units(self, dtype: torch.dtype = torch.float32):
        """Weights, bias and threshold divided by the unit (exact: the unit is a power of two).

        Returns integer-valued tensors of ``dtype`` that keep the straight-through gradients.
        """
        unit = self.unit()
        return tuple((value / unit).to(dtype) for value in self.quantized())

    @staticmethod
    def current(activity: torch.Tensor, params) -> torch.Tensor:
        """The integer current ``W·x + b`` (in units) for ``params`` from :meth:`in_units`."""
        weight, bias, _ = params
        return activity @ weight.t() + bias


class QuantMtlifLayer(_UnitLayer):
    """Quantized linear layer followed by MT-LIF neurons (graded spikes ``0..K``).

    Parameters
    ----------
    n_in, n_out, weight_bits, threshold
        As :class:`~spikeforge.quant.model.QuantIFLayer`.
    levels : int
        K.
    leak : str
        ``"none"``, ``"shift"`` or ``"factor"``.
    leak_shift : int
        k of the shift leak.
    leak_factor, frac_bits : int
        λ and F of the factor leak (``λ / 2**F`` is the decay the forward pass uses).
    surrogate : str
        One of :data:`spikeforge.golden.float_neurons.SURROGATES`.
    width : float
        Surrogate bump width in units of θ.
    """

    def __init__(self, n_in: int, n_out: int, weight_bits: int, threshold: float, levels: int,
                 leak: str = "none", leak_shift: int = 0, leak_factor: int = 0, frac_bits: int = 0,
                 surrogate: str = "sigmoid", width: float = 1.0):
        super().__init__(n_in, n_out, weight_bits, threshold)
        self.levels, self.leak, self.leak_shift = int(levels), leak, int(leak_shift)
        self.leak_factor, self.frac_bits = int(leak_factor), int(frac_bits)
        self.surrogate, self.width = surrogate, float(width)

    def leaked(self, membrane: torch.Tensor) -> torch.Tensor:
        """The integer leak of the NetSpec on an integer-valued membrane (floor, STE backward)."""
        if self.leak == "shift":
            return shift_leak_float(membrane, self.leak_shift)
        if self.leak == "factor":
            return leak_float(membrane, self.leak_factor / (1 << self.frac_bits))
        return membrane

    def step(self, t: int, current: torch.Tensor, membrane: torch.Tensor, theta: torch.Tensor):
        """One step: ``(graded spikes, membrane)`` from the integer current at step ``t``."""
        # golden's multi-level spike passes no gradient to θ. Multiplying the membrane by
        # θ.detach()/θ (exactly 1.0 forward) gives it d s/dθ = d s/dV · (−V/θ), the derivative of
        # floor(V/θ), so binary layers, whose only gain is θ, can still learn it.
        ratio = theta.detach() / theta
        return mtlif_step_float(current * ratio, self.leaked(membrane) * ratio, theta, self.levels,
                                decay=1.0, surrogate=self.surrogate, width=self.width)

    def neuron(self, threshold: int, state_bits: int) -> NeuronSpec:
        """The layer's NetSpec neuron for an exported threshold and width."""
        return NeuronSpec("mtlif", threshold, "subtract", state_bits, leak=self.leak,
                          leak_shift=self.leak_shift if self.leak == "shift" else 0,
                          leak_factor=self.leak_factor if self.leak == "factor" else 0,
                          frac_bits=self.frac_bits if self.leak == "factor" else 0,
                          levels=self.levels)


class QuantAdaptiveLayer(_UnitLayer):
    """Quantized linear layer followed by ASNN adaptive neurons (strict ``V > θ``).

    Parameters
    ----------
    n_in, n_out, weight_bits, threshold
        As :class:`~spikeforge.quant.model.QuantIFLayer`.
    timesteps : int
        T: one λ_t and γ_t per step.
    frac_bits : int
        F of the tables.
    decay, gain : float
        Initial λ_t and γ_t.
    learn_tables : bool
        Whether the tables are trained.
    """

    def __init__(self, n_in: int, n_out: int, weight_bits: int, threshold: float, timesteps: int,
                 frac_bits: int, decay: float, gain: float, learn_tables: bool = True):
        super().__init__(n_in, n_out, weight_bits, threshold)
        self.frac_bits = int(frac_bits)
        self.decay = nn.Parameter(torch.full((timesteps,), float(decay)),
                                  requires_grad=learn_tables)
        self.gain = nn.Parameter(torch.full((timesteps,), float(gain)), requires_grad=learn_tables)

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """λ_t and γ_t as the forward pass uses them: multiples of ``2**-F``, STE gradients."""
        return (_q_format(self.decay, self.frac_bits, 1.0),
                _q_format(self.gain, self.frac_bits, MAX_GAIN))

    def table_integers(self) -> tuple[tuple, tuple]:
        """The tables in Q``F`` as the NetSpec stores them (exact: they are multiples of 2**-F)."""
        with torch.no_grad():
            scale = float(1 << self.frac_bits)
            decay, gain = self.tables()
            return (tuple(int(v) for v in torch.round(decay * scale).tolist()),
                    tuple(int(v) for v in torch.round(gain * scale).tolist()))

    def step(self, t: int, current: torch.Tensor, membrane: torch.Tensor, theta: torch.Tensor):
        """One step: ``V ← floor(λ_t·V) + floor(γ_t·I)``, spike where ``V > θ``, subtract θ."""
        decay, gain = self.tables()
        return adaptive_step_float(current, membrane, theta, decay[t].to(current.dtype),
                                   gain[t].to(current.dtype))

    def neuron(self, threshold: int, state_bits: int) -> NeuronSpec:
        """The layer's NetSpec neuron for an exported threshold and width."""
        decay, gain = self.table_integers()
        return NeuronSpec("adaptive", threshold, "subtract", state_bits, frac_bits=self.frac_bits,
                          decay_table=decay, gain_table=gain)


class DirectSNN(nn.Module):
    """A directly trained spiking MLP whose input is encoded by the golden encoders.

    Parameters
    ----------
    input_spec : InputSpec
        Size, encoding, bits, ``max_value`` and rate seed: exactly the exported NetSpec's input.
    layers : sequence of QuantMtlifLayer or QuantAdaptiveLayer
        First to last; the last layer's spikes are counted.
    timesteps : int
        T.
    """

    def __init__(self, input_spec: InputSpec, layers, timesteps: int):
        super().__init__()
        self.input_spec = input_spec
        self.layers = nn.ModuleList(layers)
        self.timesteps = int(timesteps)
        self.sizes = (input_spec.size, *(layer.linear.out_features for layer in self.layers))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Per-step inputs ``(T, batch, size)`` from :func:`spikeforge.golden.encoders.encode`.

        The same function the golden executor calls, so training sees bit-identical inputs.
        """
        ints = torch.round(images.detach()).to(torch.int64).cpu().numpy()
        return encode(self.input_spec, ints, self.timesteps).to(images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Spike counts of the last layer (graded spikes summed over the T steps).

        Parameters
        ----------
        images : torch.Tensor
            ``(batch, size)`` integer-valued images in ``[0, max_value]`` (float dtype: float32 to
            train, float64 to evaluate exactly).

        Returns
        -------
        torch.Tensor
            ``(batch, n_out)`` counts in ``images``' dtype.
        """
        steps = self.encode(images)
        params = [layer.in_units(images.dtype) for layer in self.layers]  # once, not per step
        membranes = [torch.zeros(images.shape[0], layer.linear.out_features, dtype=images.dtype)
                     for layer in self.layers]
        counts = 0
        for t in range(self.timesteps):
            activity = steps[t]
            for index, (layer, param) in enumerate(zip(self.layers, params)):
                activity, membranes[index] = layer.step(t, layer.current(activity, param),
                                                        membranes[index], param[2])
            counts = counts + activity
        return counts


# ---- export ----------------------------------------------------------------------------------

def export_direct(model: DirectSNN, name: str, metadata: dict | None = None) -> NetSpec:
    """The model's integer NetSpec, exact (validated).

    Parameters
    ----------
    model : DirectSNN
        A trained model.
    name : str
        The NetSpec's name.
    metadata : dict, optional
        JSON-serialisable training information kept in the header.

    Returns
    -------
    NetSpec
        Linear layers ``fc1``, ``fc2``, ... with the model's neurons (their leak, levels or tables
        as the forward pass used them), each membrane as narrow as the bounds allow without
        saturation; ``metadata["units"]`` holds each layer's float unit.

    Raises
    ------
    ValueError
        If a quantity is not a whole number of units, or no membrane width fits.
    """
    layers, units = [], []
    input_max = model.input_spec.first_layer_max
    for index, layer in enumerate(model.layers):
        ints = layer.integers()
        units.append(ints["unit"])
        weights, bias = ints["weights"].numpy(), ints["bias"].numpy()
        draft = LayerSpec(f"fc{index + 1}", "linear", weights, layer.weight_bits, bias,
                          layer.neuron(ints["threshold"], MAX_STATE_BITS))
        bits = smallest_state_bits(draft, input_max, model.timesteps)
        layers.append(replace(draft, neuron=layer.neuron(ints["threshold"], bits)))
        input_max = layers[-1].neuron.spike_max  # K after MT-LIF, 1 after adaptive
    spec = NetSpec(input=model.input_spec, layers=tuple(layers), timesteps=model.timesteps,
                   name=name, metadata={**(metadata or {}), "units": units})
    return spec.validate()


# ---- training --------------------------------------------------------------------------------

def _input_spec(data: Split, config) -> InputSpec:
    bits = DIGITS_INPUT_BITS if data.max_value <= 31 else int(data.max_value).bit_length()
    return InputSpec(size=int(data.x_train.shape[1]), encoding=config.encoding, bits=bits,
                     max_value=int(data.max_value), rate_seed=int(config.rate_seed))


def _build_mtlif(config: MtlifConfig, input_spec: InputSpec, n_classes: int) -> DirectSNN:
    sizes = (input_spec.size, int(config.hidden), n_classes)
    thresholds = (1.0, 1.0)  # placeholders: _calibrate_thresholds sets them from the data
    leak_shift = decay_to_shift(config.decay) if config.leak == "shift" else 0
    leak_factor = decay_to_factor(config.decay, config.frac_bits) if config.leak == "factor" else 0
    layers = [QuantMtlifLayer(n_in, n_out, bits, theta, levels, config.leak, leak_shift,
                              leak_factor, config.frac_bits, config.surrogate,
                              config.surrogate_width)
              for n_in, n_out, bits, theta, levels in zip(sizes[:-1], sizes[1:],
                                                          config.weight_bits, thresholds,
                                                          config.levels)]
    return DirectSNN(input_spec, layers, config.timesteps)


def _build_asnn(config: AsnnConfig, input_spec: InputSpec, n_classes: int) -> DirectSNN:
    sizes = (input_spec.size, int(config.hidden), n_classes)
    thresholds = (1.0, 1.0)  # placeholders: _calibrate_thresholds sets them from the data
    layers = [QuantAdaptiveLayer(n_in, n_out, bits, theta, config.timesteps, config.frac_bits,
                                 config.decay, config.gain, config.learn_tables)
              for n_in, n_out, bits, theta in zip(sizes[:-1], sizes[1:], config.weight_bits,
                                                  thresholds)]
    return DirectSNN(input_spec, layers, config.timesteps)


def _calibrate_thresholds(model: DirectSNN, images: np.ndarray) -> None:
    """Set each layer's initial threshold to the spread of its step-0 current on ``images``.

    A fixed guess (:func:`~spikeforge.quant.model.initial_thresholds`) assumes ±1 weights; int-k
    weights start at a fraction of a unit, the rate and latency codes send 0/1 and MT-LIF layers
    pass 0..K on, so the same guess is off by orders of magnitude for some configurations (int4
    fc1 started silent and never learned). One standard deviation of the current makes every
    layer start firing a moderate share of its (graded) spikes.
    """
    with torch.no_grad():
        activity = model.encode(torch.from_numpy(images).float())[0]
        for layer in model.layers:
            params = layer.in_units()
            current = layer.current(activity, params)
            spread = float(current.std()) * float(layer.unit())  # back to float units
            layer.threshold.fill_(max(spread, float(layer.unit())))
            theta = layer.in_units()[2]
            activity, _ = layer.step(0, current, torch.zeros_like(current), theta)


def _train_loss(model: DirectSNN, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of the spike counts over ``x`` (float32, no gradient)."""
    with torch.no_grad():
        counts = model(torch.from_numpy(x).float())
        return float(nn.functional.cross_entropy(counts, torch.from_numpy(y)))


def _train_direct(method: str, config, data: Split | None, progress: bool, build) -> MethodResult:
    """Shared body of :func:`train_mtlif` and :func:`train_asnn`."""
    from .train import _evaluate, _fit, seeded_training  # the QAT loop, exact evaluation, seeding

    data = data or load_digits_split(seed=config.seed)
    with seeded_training(config.seed, config.threads) as generator:
        x_train, y_train = data.x_train, data.y_train
        if config.train_subset:
            x_train, y_train = x_train[:config.train_subset], y_train[:config.train_subset]
        input_spec = _input_spec(data, config)
        model = build(config, input_spec, data.n_classes)
        _calibrate_thresholds(model, x_train[:256])
        loss_before = _train_loss(model, x_train, y_train)
        seconds = _fit(model, config, x_train, y_train, generator, progress)
        loss_after = _train_loss(model.eval(), x_train, y_train)
        float_counts = _evaluate(model, data.x_test, torch.float32)
        quantized_counts = _evaluate(model, data.x_test)  # float64: exact integers
        config_fields = {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in asdict(config).items()}
        spec = export_direct(model, f"digits-{method}", metadata={
            "trainer": f"spikeforge.quant.direct.train_{method}", "config": config_fields,
            "train_images": int(len(x_train))})
        details = {"config": config_fields, "sizes": list(model.sizes),
                   "train_loss_initial": round(loss_before, 4),
                   "train_loss_final": round(loss_after, 4)}
        if method == "mtlif":
            details["surrogate"] = config.surrogate
        report = method_report(method, spec, data.x_test, data.y_test, float_counts=float_counts,
                               quantized_counts=quantized_counts, train_seconds=seconds, **details)
        report["layers"] = [{**row, **_neuron_row(layer.neuron), "unit": unit}
                            for row, layer, unit in zip(report["layers"], spec.layers,
                                                        spec.metadata["units"])]
    sweeps = sweep_direct(method, replace(config, sweep_timesteps=(), sweep_encodings=()),
                          timesteps=tuple(config.sweep_timesteps),
                          encodings=tuple(config.sweep_encodings), data=data, progress=progress)
    report.update(sweeps)
    return MethodResult(method=method, netspec=spec, report=report, model=model)


def _neuron_row(neuron: NeuronSpec) -> dict:
    """The exported integer neuron parameters worth a report column."""
    row = {"threshold": neuron.threshold, "state_bits": neuron.state_bits}
    if neuron.kind == "mtlif":
        row.update(levels=neuron.levels, leak=neuron.leak, leak_shift=neuron.leak_shift,
                   leak_factor=neuron.leak_factor, frac_bits=neuron.frac_bits)
    if neuron.kind == "adaptive":
        row.update(frac_bits=neuron.frac_bits, decay_table=list(neuron.decay_table),
                   gain_table=list(neuron.gain_table))
    return row


def train_mtlif(config: MtlifConfig | None = None, data: Split | None = None,
                progress: bool = True) -> MethodResult:
    """Train the MT-LIF spiking MLP directly, export it, check it against the golden executor.

    Parameters
    ----------
    config : MtlifConfig, optional
        Hyper-parameters (defaults: 64-64-10, int4 weights, K = 3 and 7, T = 2, shift leak,
        sigmoid surrogate, direct coding).
    data : Split, optional
        Defaults to the scikit-learn digits split with the config's seed.
    progress : bool
        A tqdm bar over the epochs (only on a terminal).

    Returns
    -------
    MethodResult
        The validated NetSpec and the report: the core fields of
        :func:`~spikeforge.quant.methods.method_report` plus ``surrogate``, ``train_loss_initial``
        and ``train_loss_final``, per-layer integer parameters, and the sweeps
        ``accuracy_vs_timesteps`` and ``accuracy_vs_encoding`` (empty unless the config asks).

    Raises
    ------
    ValueError
        If a configuration field is invalid (see :meth:`MtlifConfig.validate`).
    """
    config = (config or MtlifConfig()).validate()
    return _train_direct("mtlif", config, data, progress, _build_mtlif)


def train_asnn(config: AsnnConfig | None = None, data: Split | None = None,
               progress: bool = True) -> MethodResult:
    """Train the ASNN adaptive spiking MLP directly, export it, check it against the golden model.

    Parameters
    ----------
    config : AsnnConfig, optional
        Hyper-parameters (defaults: 64-64-10, int4 weights, T = 4, hybrid coding, learned
        λ_t and γ_t in Q8).
    data : Split, optional
        Defaults to the scikit-learn digits split with the config's seed.
    progress : bool
        A tqdm bar over the epochs (only on a terminal).

    Returns
    -------
    MethodResult
        As :func:`train_mtlif`; the per-layer rows hold the exported tables.

    Raises
    ------
    ValueError
        If a configuration field is invalid (see :meth:`AsnnConfig.validate`).
    """
    config = (config or AsnnConfig()).validate()
    return _train_direct("asnn", config, data, progress, _build_asnn)


SWEEP_FIELDS = ("timesteps", "encoding", "float_accuracy", "quantized_accuracy", "golden_accuracy",
                "count_agreement", "test_images", "synaptic_ops_per_image", "train_seconds")
"""The columns of a sweep row."""


def sweep_direct(method: str, config=None, timesteps=(), encodings=(), data: Split | None = None,
                 progress: bool = False) -> dict:
    """Accuracy versus T and versus input encoding: one short training per row.

    Parameters
    ----------
    method : str
        ``"mtlif"`` or ``"asnn"``.
    config : MtlifConfig or AsnnConfig, optional
        The base configuration (its own sweep fields are ignored); default: the method's default.
    timesteps : sequence of int
        T values, trained with the config's encoding (e.g. 1, 2, 4 for MT-LIF; 2, 4, 8 for ASNN).
    encodings : sequence of str
        Encodings, trained with the config's T (e.g. direct, rate, latency, hybrid).
    data : Split, optional
        Default: the digits split with the config's seed.
    progress : bool
        A progress bar per training.

    Returns
    -------
    dict
        ``accuracy_vs_timesteps`` and ``accuracy_vs_encoding``: lists of rows with the
        :data:`SWEEP_FIELDS`.

    Raises
    ------
    ValueError
        For an unknown method or an invalid T or encoding (named ``sweep_timesteps[i]`` or
        ``sweep_encodings[i]``).
    """
    trainers = {"mtlif": (MtlifConfig, train_mtlif), "asnn": (AsnnConfig, train_asnn)}
    if method not in trainers:
        raise ValueError(f"method: expected one of {', '.join(trainers)}, found {method!r}")
    config_class, train = trainers[method]
    base = replace(config or config_class(), sweep_timesteps=tuple(timesteps),
                   sweep_encodings=tuple(encodings)).validate()
    base = replace(base, sweep_timesteps=(), sweep_encodings=())
    if (timesteps or encodings) and data is None:
        data = load_digits_split(seed=base.seed)

    def row(**changes) -> dict:
        report = train(replace(base, **changes), data=data, progress=progress).report
        return {key: report[key] for key in SWEEP_FIELDS}

    return {"accuracy_vs_timesteps": [row(timesteps=int(t)) for t in timesteps],
            "accuracy_vs_encoding": [row(encoding=e) for e in encodings]}
