"""The integer-exact executor of a NetSpec.

The synaptic operators (:mod:`golden.operators`) use float64 matrix products and convolutions,
which are exact because every partial sum is an integer whose magnitude the compiler's bounds keep
below 2**53 (checked per layer; int64 kernels otherwise). Everything after them is int64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from spikeforge.bounds import analyse
from spikeforge.netspec import NetSpec, layer_shapes

from spikeforge.schedule import FIRE, IDLE, INTEGRATE, bistable_mode

from .encoders import encode
from .operators import make_operator
from .neurons import (IFParams, LeakParams, _clamp, adaptive_step, bistable_fire,
                      bistable_integrate, if_step, leak, lif_step, mtlif_step)



@dataclass
class GoldenResult:
    """What the executor computed for a batch.

    Attributes
    ----------
    counts : numpy.ndarray
        The readout values, shape ``(batch, n_out)``, int64: the last layer's spike counts for the
        ``"spike_count"`` readout, its (signed) membranes after step ``T - 1`` for ``"membrane"``
        (also reachable as :attr:`values`; :attr:`readout` says which).
    predictions : numpy.ndarray
        Class per image: the index of the largest readout value, the lowest index on ties.
    layer_spikes : numpy.ndarray
        Total spike values per layer and time step over the batch, shape ``(layers, T)`` (graded
        MT-LIF spikes count with their value).
    accumulates : numpy.ndarray
        Synaptic operations per layer over the batch: one per (active input, target neuron) pair.
    multiply_accumulates : numpy.ndarray
        The part of ``accumulates`` in layers whose inputs are multi-bit (a direct, hybrid or event
        coded first layer, a layer after MT-LIF or sum pooling): multiply-accumulates, not adds.
    trains : list of numpy.ndarray or None
        With ``record=True``: per layer, spikes of shape ``(T, batch, n_out)`` (0..K).
    membranes : list of numpy.ndarray or None
        With ``record=True``: per layer, membranes after each step, shape ``(T, batch, n_out)``.
    """

    counts: np.ndarray
    predictions: np.ndarray
    layer_spikes: np.ndarray
    accumulates: np.ndarray
    multiply_accumulates: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    trains: list | None = None
    membranes: list | None = None
    layer_names: list = field(default_factory=list)

    layer_sizes: list = field(default_factory=list)
    readout: str = "spike_count"

    @property
    def values(self) -> np.ndarray:
        """The readout values (the same array as :attr:`counts`)."""
        return self.counts

    @property
    def synaptic_ops_per_image(self) -> float:
        return float(self.accumulates.sum()) / max(1, len(self.counts))

    @property
    def firing_rates(self) -> np.ndarray:
        """Mean spike value per neuron, image and step, shape ``(layers, T)``."""
        sizes = np.asarray(self.layer_sizes, dtype=np.float64).reshape(-1, 1)
        return self.layer_spikes / (sizes * max(1, len(self.counts)))


def predict(counts: np.ndarray) -> np.ndarray:
    """Class per image from readout values (counts or membranes): argmax, lowest index on ties."""
    return np.argmax(counts, axis=1)


def _step_function(layer, bounds, layer_index: int, fires: bool = True):
    """The layer's integer neuron step as ``f(t, current, membrane) -> (spikes, membrane, integrated)``.

    ``integrated`` is False in a bistable fire or idle phase, where the layer takes no input (and so
    does no synaptic operation). With ``fires`` False (a membrane readout's last layer) the neurons
    integrate as their kind says but never fire nor reset (:func:`_silent_step_function`).
    """
    neuron = layer.neuron
    # Without possible saturation the clamp is the identity: skip it.
    low, high = (bounds.state_low, bounds.state_high) if bounds.saturates else (None, None)
    params = IFParams(neuron.threshold, neuron.reset, low, high)
    leak_params = LeakParams(neuron.leak, neuron.leak_shift, neuron.leak_factor, neuron.frac_bits)
    if not fires:
        return _silent_step_function(layer, params, leak_params, layer_index)
    if neuron.kind == "if":
        return lambda t, i, v: (*if_step(i, v, params), True)
    if neuron.kind == "lif":
        return lambda t, i, v: (*lif_step(i, v, params, leak_params), True)
    if neuron.kind == "mtlif":
        return lambda t, i, v: (*mtlif_step(i, v, params, leak_params, neuron.levels), True)
    if neuron.kind == "adaptive":
        return lambda t, i, v: (*adaptive_step(i, v, params, neuron.decay_table[t],
                                               neuron.gain_table[t], neuron.frac_bits), True)
    if neuron.kind == "bistable":
        def bistable(t, i, v):
            mode = bistable_mode(layer_index, t, neuron.phase)
            if mode == IDLE:  # before its first input: V stays, no bias, no spike
                return torch.zeros_like(v), v, False
            if mode == FIRE:
                return (*bistable_fire(v, params), False)
            return (*bistable_integrate(i, v, params), True)
        return bistable
    raise ValueError(f"layer {layer.name}: unknown neuron kind {neuron.kind!r}")


def _silent_step_function(layer, params: IFParams, leak_params: LeakParams, layer_index: int):
    """A non-spiking layer's step: ``V ← clamp(leak(V) + I)`` (adaptive: ``clamp((λ_t·V) >> F +
    (γ_t·I) >> F)``; bistable: integrate phases only, fire and idle phases keep ``V``); no spikes."""
    neuron = layer.neuron

    def silent(t, i, v):
        none = torch.zeros_like(v)
        if neuron.kind == "adaptive":
            frac = neuron.frac_bits
            return none, _clamp(((neuron.decay_table[t] * v) >> frac)
                                + ((neuron.gain_table[t] * i) >> frac), params), True
        if neuron.kind == "bistable" and bistable_mode(layer_index, t, neuron.phase) != INTEGRATE:
            return none, v, False
        if neuron.kind in ("lif", "mtlif"):
            v = leak(v, leak_params)
        return none, _clamp(v + i, params), True
    return silent


def _register_bits(layer, bound) -> int:
    """Widest intermediate of the layer's integer step, products of leaks and gains included."""
    bits = max(bound.sum_bits, bound.acc_bits + 1)
    neuron = layer.neuron
    if neuron.kind in ("lif", "mtlif") and neuron.leak == "factor":
        bits += neuron.frac_bits + 1  # λ·V with λ <= 2**F
    if neuron.kind == "adaptive":
        bits += neuron.frac_bits + 9  # γ_t·I with γ_t <= 2**(F + 8)
    return bits


def run(spec: NetSpec, inputs, record: bool = False) -> GoldenResult:
    """Run ``spec`` on a batch of inputs, exactly.

    Parameters
    ----------
    spec : NetSpec
        A validated NetSpec.
    inputs : array-like of int
        ``(batch, input.size)`` images with values in ``[0, input.max_value]``, encoded per the
        NetSpec's encoding; for ``"events"`` already binned counts ``(batch, T, input.size)``.
    record : bool
        Also return every layer's spike trains and membranes (for debugging mismatches).

    Raises
    ------
    ValueError
        If the inputs have the wrong shape or values outside the declared input range.
    """
    steps_in = encode(spec.input, inputs, spec.timesteps)
    bounds = analyse(spec)
    shapes = layer_shapes(spec)
    batch, steps = steps_in.shape[1], spec.timesteps
    layers = spec.layers
    # int32 arithmetic where every register of every layer provably fits (it is faster), else int64.
    widest = max(_register_bits(layer, bound) for layer, bound in zip(layers, bounds))
    state_dtype = torch.int32 if widest <= 31 else torch.int64
    operators = [make_operator(layer, bound, state_dtype) for layer, bound in zip(layers, bounds)]
    # Bistable schedules count layers with neurons only: pools between them take no phase.
    stage = np.cumsum([0] + [0 if layer.stateless else 1 for layer in layers])[:-1]
    step_functions = [None if layer.stateless else _step_function(layer, bound, int(stage[index]),
                                                                  spec.fires(index))
                      for index, (layer, bound) in enumerate(zip(layers, bounds))]
    sizes = [int(np.prod(out_shape)) for _, out_shape in shapes]
    membranes = [torch.zeros(batch, *out_shape, dtype=state_dtype) for _, out_shape in shapes]
    # Outputs of residual sources, newest last, as many steps back as the largest delay needs.
    sources: dict[str, int] = {}  # source -> the longest delay any residual reads it with
    for layer in layers:
        if layer.kind == "residual":
            sources[layer.source] = max(layer.delay, sources.get(layer.source, 0))
    history = {name: [] for name in sources}
    counts = torch.zeros(batch, sizes[-1], dtype=torch.int64)
    layer_spikes = np.zeros((len(layers), steps), dtype=np.int64)
    accumulates = np.zeros(len(layers), dtype=np.int64)
    trains = [np.zeros((steps, batch, n), np.int64) for n in sizes] if record else None
    mem_rec = [np.zeros((steps, batch, n), np.int64) for n in sizes] if record else None
    in_shape = spec.input.dims
    # Direct coding presents the same input every step: the first operator's result is reused.
    first_cached = spec.input.encoding == "direct" and layers[0].kind != "residual"
    cached = operators[0](steps_in[0].reshape(batch, *in_shape), None) if first_cached else None
    for t in range(steps):
        activity = steps_in[t].reshape(batch, *in_shape)
        active = None  # nonzero inputs of the next layer, when already known
        for index, layer in enumerate(layers):
            shortcut = None
            if layer.kind == "residual":
                past = history[layer.source]
                lag = layer.delay
                shortcut = past[-1 - lag] if len(past) > lag else torch.zeros_like(activity)
            if index == 0 and cached is not None:
                current, operations = cached
            elif layer.kind == "linear":
                current, operations = operators[index](activity, shortcut, active)
            else:
                current, operations = operators[index](activity, shortcut)
            current = current.to(state_dtype)  # a no-op for linear layers
            if layer.stateless:
                spikes, integrated = current, False
            else:
                spikes, membranes[index], integrated = step_functions[index](
                    t, current, membranes[index])
            if integrated:
                accumulates[index] += operations
            layer_spikes[index, t] = int(spikes.sum()) if spikes.numel() else 0
            # 0/1 spikes: their sum is the next layer's number of active inputs.
            active = int(layer_spikes[index, t]) if layer.neuron.spike_max == 1 and not layer.stateless else None
            if record:
                trains[index][t] = spikes.reshape(batch, -1).numpy()
                mem_rec[index][t] = membranes[index].reshape(batch, -1).numpy()
            if layer.name in history:
                history[layer.name] = (history[layer.name] + [spikes])[-(sources[layer.name] + 1):]
            activity = spikes
        counts += activity.reshape(batch, -1)
    if spec.readout == "membrane":  # the last layer's V after the update of step T - 1
        counts = membranes[-1].reshape(batch, -1).to(torch.int64)
    counts_np = counts.numpy()
    multibit = np.array([bound.input_max > 1 for bound in bounds])
    return GoldenResult(counts=counts_np, predictions=predict(counts_np), layer_spikes=layer_spikes,
                        accumulates=accumulates,
                        multiply_accumulates=np.where(multibit, accumulates, 0),
                        trains=trains, membranes=mem_rec,
                        layer_names=[layer.name for layer in layers], layer_sizes=sizes,
                        readout=spec.readout)
