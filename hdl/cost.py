"""The cycle cost model of the generated hardware (DESIGN.md), to predict and to check latency.

One image costs, in cycles::

    n_in                                         load: one input value per cycle
  + INPUT_QUEUE                                  the queue between input buffer and first layer
  + Σ_t Σ_l (events_l,t · G_l + G_l + STEP_OVERHEAD)   accumulate, update, end-of-step marker
  + n_out                                        stream the counts out

with ``G_l = ceil(N_l / P_l)`` lane groups of layer ``l`` and ``events_l,t`` the active inputs of
layer ``l`` at step ``t`` (nonzero pixels for the first layer, the previous layer's spikes after
it). The sum is serial: the layers really work on different steps at once, so a measured latency
lies between this sum and the cost of the slowest layer alone. Every neuron kind costs the same:
leaks, bistable phases and the adaptive tables' ROM (read while the step's events arrive) add
logic to the update, not cycles.

The emitter term: the update hands each word's spikes to an emitter that sends one event per
cycle, so a word (``P`` lanes) that fires ``k > 1`` neurons holds the update ``k − 1`` extra
cycles, and the last word's first spike one more (the end-of-step marker follows it, with no
next word's update to overlap). It depends on *which* neurons fire, not only how many, so it is a
separate term, :func:`emitter_cycles`, computed from a step's spikes (the golden executor's
record); given only mean spike counts (:func:`predicted_cycles` without ``emitter_per_step``) it
is left out, which is small next to the accumulate unless many neurons of one word fire together.

Other layer kinds replace ``events · G + G`` by ``events · per_event + walk`` (:func:`layer_cost`):

* conv2d (``k × k`` kernel, stride ``s``, ``OH × OW`` outputs): an event visits only its valid
  taps, ``n_y(y) · n_x(x)`` of them (``n(c)`` per axis, :func:`spikeforge.hdl.geometry.axis_taps`),
  each for ``G`` groups; an event with no valid tap costs one cycle. The model takes event
  counts, not positions, so it charges the most any event costs, ``per_event = max n_y · max n_x
  · G`` (``<= ceil(k / s)² · G``, equal to it unless the map is smaller than the kernel): an upper
  bound, exact for events away from the border; ``walk = OH · OW · G``;
* sumpool, avgpool, orpool: ``per_event = k²`` and ``walk = C · OH · OW`` (every output is read,
  sent if nonzero and cleared); gap: ``per_event = 1`` and ``walk = C``;
* flatten: no hardware, no cycles;
* residual (``N = C·H·W`` neurons, ``G = ceil(N / P)``): ``per_event = 1`` (an event adds into one
  lane of one word) and ``walk = G``; its events are the branch's plus the shortcut's (the source's
  spikes ``delay`` steps earlier), and from step ``delay`` on the branch's end-of-step marker
  costs one more cycle (it hands over to the shortcut FIFO): ``STEP_OVERHEAD + 1`` per step.

The engines with neurons (linear, conv2d, residual) have ``STEP_OVERHEAD`` per step (measured
with the linear one); the pool engines, whose pipeline is two stages shorter (they read a count
and write it back, no registered words nor stage 3), ``POOL_STEP_OVERHEAD``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spikeforge.netspec import NetSpec, layer_shapes

# Cycles per layer and step besides events · G + G (measured, and pinned by the tests): the
# pipeline after the reads (registered words, sums, stage 3's finish) before the last group's
# spikes reach the emitter, the end-of-step marker's transfer, and taking the next step's first
# event.
STEP_OVERHEAD = 5
# The pool engines' (sum, average, OR pools, gap): read latency, marker, next event.
POOL_STEP_OVERHEAD = 3
# Cycles per image of the registered queue between the input buffer and the first layer
# (:class:`~spikeforge.hdl.events.EventQueue`): its latency; its two entries keep the rate.
INPUT_QUEUE = 1


def groups(n_out: int, lanes: int) -> int:
    """Number of lane groups ``ceil(n_out / lanes)``: cycles per input event."""
    return -(-n_out // lanes)


def layer_step_cycles(events: float, n_out: int, lanes: int) -> float:
    """Cycles one layer spends on one time step with ``events`` active inputs."""
    g = groups(n_out, lanes)
    return events * g + g + STEP_OVERHEAD


def layer_cost(layer, in_shape, lanes: int, paired: bool = False) -> tuple[float, int, int]:
    """``(per_event, walk, overhead)``: a step costs ``events · per_event + walk + overhead``.

    ``in_shape`` is the layer's input shape (:func:`spikeforge.netspec.layer_shapes`); ``lanes``
    is ignored for stateless layers. ``paired`` (a linear engine that adds two events per pass,
    ``--pair-events``) halves ``per_event`` to ``G / 2``: the best case, when the next event is
    always there before a pass ends (the engine is the slower side); a pass that finds no second
    event costs the whole ``G``, so a measured step lies between this and ``events · G``.
    """
    if layer.kind == "flatten":
        return 0, 0, 0
    if layer.kind == "gap":
        return 1, int(in_shape[0]), POOL_STEP_OVERHEAD
    if layer.kind in ("sumpool", "avgpool", "orpool"):
        from .geometry import window  # geometry imports the NetSpec only

        geo = window(layer, in_shape)
        return layer.kernel ** 2, geo.channels * geo.positions, POOL_STEP_OVERHEAD
    if layer.kind == "residual":
        return 1, groups(int(np.prod(in_shape)), lanes), STEP_OVERHEAD + 1
    g = groups(layer.n_out, lanes)
    if layer.kind == "conv2d":
        from .geometry import max_taps, window

        geo = window(layer, in_shape)
        # A bound: events near the border (or off the stride grid) have fewer valid taps.
        return max(1, max_taps(geo)) * g, geo.positions * g, STEP_OVERHEAD
    return (g / 2 if paired else g), g, STEP_OVERHEAD


def emitter_cycles(layer, in_shape, lanes: int, spikes) -> int:
    """Extra update cycles of one step: ``Σ_words max(0, k − 1)`` for a word firing ``k`` neurons,
    plus one if the last word updated fires at all (no next word's update hides its first spike).

    Parameters
    ----------
    layer : LayerSpec
        A layer with neurons (stateless layers send at most one event per word: 0).
    in_shape : tuple of int
        The layer's input shape.
    lanes : int
        Lanes ``P`` of the layer.
    spikes : array_like
        The layer's output spikes of one step, flat (NCHW for image layers), nonzero = fired.

    Notes
    -----
    A word holds ``P`` lanes: neurons ``g·P .. g·P + P − 1`` of a linear or residual layer; of a
    conv2d layer, output channels ``g·P .. g·P + P − 1`` at one output position.
    """
    if layer.stateless:
        return 0
    fired = np.asarray(spikes).reshape(-1) != 0
    if layer.kind == "conv2d":
        channels = layer.n_out  # a conv2d layer's output channels
        positions = fired.size // channels
        per_word = fired.reshape(channels, positions)  # (channel, position)
        padded = groups(channels, lanes) * lanes
        per_word = np.pad(per_word, ((0, padded - channels), (0, 0)))
        # (group, position); the update walks groups fastest, so the last word is [-1, -1].
        counts = per_word.reshape(-1, lanes, positions).sum(axis=1)
        last = counts[-1, -1]
    else:
        padded = groups(fired.size, lanes) * lanes
        counts = np.pad(fired, (0, padded - fired.size)).reshape(-1, lanes).sum(axis=1)
        last = counts[-1]
    return int(np.maximum(counts - 1, 0).sum()) + int(last > 0)


def _outputs(layer, out_shape) -> int:
    return int(np.prod(out_shape))


def _groups_of(layer, in_shape, lanes: int) -> int:
    """Lane groups of a layer with neurons (0 for stateless layers)."""
    if layer.stateless:
        return 0
    if layer.kind == "residual":
        return groups(int(np.prod(in_shape)), lanes)
    return groups(layer.n_out, lanes)


def predicted_cycles(spec: NetSpec, lanes: Sequence[int], active_inputs: int,
                     spikes_per_step: Sequence[float],
                     emitter_per_step: Sequence[float] | None = None,
                     pair_events: Sequence[str] = ()) -> dict:
    """Predicted latency of one image, from its activity.

    Parameters
    ----------
    spec : NetSpec
        The network.
    lanes : sequence of int
        Lanes per layer.
    active_inputs : int
        Input events per step of the first layer (nonzero pixels, for direct encoding).
    spikes_per_step : sequence of float
        Mean spikes per step of each layer (the events of the next layer); the last entry is unused.
    emitter_per_step : sequence of float, optional
        Mean :func:`emitter_cycles` per step of each layer; without it the emitter term is left out.
    pair_events : sequence of str
        Layers whose engine adds two events per pass (:func:`layer_cost` ``paired``).

    Returns
    -------
    dict
        ``per_layer`` (groups, events and cycles per step), ``load``, ``readout`` and ``total``.
    """
    per_layer = []
    events = float(active_inputs)
    index_of = {layer.name: index for index, layer in enumerate(spec.layers)}
    for index, (layer, p, (in_shape, _)) in enumerate(zip(spec.layers, lanes, layer_shapes(spec))):
        per_event, walk, overhead = layer_cost(layer, in_shape, p, layer.name in pair_events)
        if layer.kind == "residual":  # the shortcut's events too (a mean: the delay shifts them)
            events += float(spikes_per_step[index_of[layer.source]])
        per_step = events * per_event + walk + overhead
        if emitter_per_step is not None:
            per_step += float(emitter_per_step[index])
        per_layer.append({"layer": layer.name, "lanes": p,
                          "groups": _groups_of(layer, in_shape, p),
                          "events_per_step": events, "cycles_per_step": per_step})
        if layer.kind != "flatten":  # flatten passes its input's events on
            events = float(spikes_per_step[index])
    compute = spec.timesteps * sum(entry["cycles_per_step"] for entry in per_layer)
    return {"per_layer": per_layer, "load": spec.input.size, "readout": spec.n_out,
            "total": spec.input.size + INPUT_QUEUE + compute + spec.n_out}


def utilization(synaptic_ops: int, cycles: int, lanes: Sequence[int]) -> float:
    """Synaptic operations done per lane and cycle: ``ops / (cycles · Σ lanes)`` (DESIGN.md)."""
    return float(synaptic_ops) / (max(1, cycles) * sum(lanes))


def cost_formula(spec: NetSpec, lanes: Sequence[int], pair_events: Sequence[str] = ()) -> dict:
    """The cost model as text, per layer, and its worst case (every input and neuron active).

    The worst case charges a paired layer (``pair_events``) its whole ``G`` per event: a pass
    may find no second event.
    """
    per_layer = []
    worst_events = float(spec.input.size)
    worst_step = 0.0
    shapes = layer_shapes(spec)
    out_of = {layer.name: out_shape for layer, (_, out_shape) in zip(spec.layers, shapes)}
    for layer, p, (in_shape, out_shape) in zip(spec.layers, lanes, shapes):
        per_event, walk, overhead = layer_cost(layer, in_shape, p, layer.name in pair_events)
        g = _groups_of(layer, in_shape, p)
        if layer.kind == "residual":  # the branch's outputs and the shortcut's, every one active
            worst_events += float(_outputs(layer, out_of[layer.source]))
        per_layer.append({"layer": layer.name, "groups": g,
                          "cycles_per_step": f"events * {per_event:g} + {walk + overhead}"})
        # Worst case: every input active, and every neuron firing (k - 1 extra cycles per word:
        # outputs minus words, 0 for pools, which send at most one event per word anyway).
        extra = 0 if layer.stateless else _outputs(layer, out_shape) - walk
        worst_per_event = layer_cost(layer, in_shape, p)[0]  # unpaired: every pass alone
        worst_step += worst_events * worst_per_event + walk + overhead + extra
        worst_events = float(_outputs(layer, out_shape))
    return {
        "formula": f"cycles = input.size + {INPUT_QUEUE} + sum_t sum_l (events_l,t * G_l + G_l + "
                   f"{STEP_OVERHEAD}) + n_out, G_l = ceil(n_out_l / lanes_l)"
                   + (", G_l / 2 per event at best for the paired layers "
                      f"{', '.join(pair_events)}" if pair_events else ""),
        "per_layer": per_layer,
        "worst_case_cycles": int(spec.input.size + INPUT_QUEUE + spec.timesteps * worst_step
                                 + spec.n_out),
    }
