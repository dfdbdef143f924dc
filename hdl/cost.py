"""The cycle cost model of the generated hardware (DESIGN.md), to predict and to check latency.

One image costs, in cycles::

    n_in                                         load: one input value per cycle
  + Σ_t Σ_l (events_l,t · G_l + G_l + STEP_OVERHEAD)   accumulate, update, end-of-step marker
  + n_out                                        stream the counts out

with ``G_l = ceil(N_l / P_l)`` lane groups of layer ``l`` and ``events_l,t`` the active inputs of
layer ``l`` at step ``t`` (nonzero pixels for the first layer, the previous layer's spikes after
it). The sum is serial: the layers really work on different steps at once, so a measured latency
lies between this sum and the cost of the slowest layer alone. A group that fires ``k > 1``
neurons holds the update ``k − 1`` extra cycles while its spikes leave one per cycle; the model
ignores that (it is small next to the accumulate unless nearly every neuron fires). Every neuron
kind costs the same: leaks, bistable phases and the adaptive tables' ROM (read while the step's
events arrive) add logic to the update, not cycles.
"""

from __future__ import annotations

from collections.abc import Sequence

from spikeforge.netspec import NetSpec

# Cycles per layer and step besides events · G + G (measured, and pinned by the tests): the
# memories' one-cycle read latency before the last group's spikes are known, the end-of-step
# marker's transfer, and taking the next step's first event.
STEP_OVERHEAD = 3


def groups(n_out: int, lanes: int) -> int:
    """Number of lane groups ``ceil(n_out / lanes)``: cycles per input event."""
    return -(-n_out // lanes)


def layer_step_cycles(events: float, n_out: int, lanes: int) -> float:
    """Cycles one layer spends on one time step with ``events`` active inputs."""
    g = groups(n_out, lanes)
    return events * g + g + STEP_OVERHEAD


def predicted_cycles(spec: NetSpec, lanes: Sequence[int], active_inputs: int,
                     spikes_per_step: Sequence[float]) -> dict:
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

    Returns
    -------
    dict
        ``per_layer`` (groups, events and cycles per step), ``load``, ``readout`` and ``total``.
    """
    per_layer = []
    events = float(active_inputs)
    for index, (layer, p) in enumerate(zip(spec.layers, lanes)):
        per_step = layer_step_cycles(events, layer.n_out, p)
        per_layer.append({"layer": layer.name, "lanes": p, "groups": groups(layer.n_out, p),
                          "events_per_step": events, "cycles_per_step": per_step})
        events = float(spikes_per_step[index])
    compute = spec.timesteps * sum(entry["cycles_per_step"] for entry in per_layer)
    return {"per_layer": per_layer, "load": spec.input.size, "readout": spec.n_out,
            "total": spec.input.size + compute + spec.n_out}


def utilization(synaptic_ops: int, cycles: int, lanes: Sequence[int]) -> float:
    """Synaptic operations done per lane and cycle: ``ops / (cycles · Σ lanes)`` (DESIGN.md)."""
    return float(synaptic_ops) / (max(1, cycles) * sum(lanes))


def cost_formula(spec: NetSpec, lanes: Sequence[int]) -> dict:
    """The cost model as text, per layer, and its worst case (every input and neuron active)."""
    per_layer = []
    worst_events = float(spec.input.size)
    worst_step = 0.0
    for layer, p in zip(spec.layers, lanes):
        g = groups(layer.n_out, p)
        per_layer.append({"layer": layer.name, "groups": g,
                          "cycles_per_step": f"events * {g} + {g + STEP_OVERHEAD}"})
        # Worst case: every input active, and every neuron firing (k - 1 extra cycles per group).
        worst_step += layer_step_cycles(worst_events, layer.n_out, p) + layer.n_out - g
        worst_events = float(layer.n_out)
    return {
        "formula": "cycles = input.size + sum_t sum_l (events_l,t * G_l + G_l + "
                   f"{STEP_OVERHEAD}) + n_out, G_l = ceil(n_out_l / lanes_l)",
        "per_layer": per_layer,
        "worst_case_cycles": int(spec.input.size + spec.timesteps * worst_step + spec.n_out),
    }
