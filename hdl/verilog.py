"""Verilog output of the network top, and a JSON description of what was generated."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.back import verilog

from spikeforge.bounds import analyse, count_bits
from spikeforge.netspec import NetSpec

from .events import index_bits
from .layer_engine import groups
from .network import CYCLE_COUNTER_BITS, NetworkTop, check_buildable

TOP_NAME = "spikeforge_top"


def generate_verilog(spec: NetSpec, lanes: Sequence[int] | None = None, name: str = TOP_NAME) -> str:
    """Verilog of :class:`~spikeforge.hdl.network.NetworkTop` for ``spec``.

    The ports are ``clk``, ``rst`` and the signature's members flattened by Amaranth:
    ``input__payload/valid/ready``, ``output__payload/valid/ready``, ``done`` and ``cycles``.

    Raises
    ------
    SpikeforgeError
        If the NetSpec or the lanes cannot be built (checked before any Verilog exists).
    """
    top = NetworkTop(spec, lanes)
    return verilog.convert(top, name=name, emit_src=False)


def describe(spec: NetSpec, lanes: Sequence[int] | None = None) -> dict:
    """Ports, memories, lanes, widths and the cost model of the generated hardware."""
    lanes = check_buildable(spec, lanes)
    bounds = analyse(spec)
    ports = {
        "clk": 1, "rst": 1,
        "input__payload": spec.input.bits, "input__valid": 1, "input__ready": 1,
        "output__payload": count_bits(spec), "output__valid": 1, "output__ready": 1,
        "done": 1, "cycles": CYCLE_COUNTER_BITS,
    }
    memories = [{"name": "input_buffer.store", "depth": spec.input.size,
                 "width": index_bits(spec.input.size) + spec.input.bits}]
    layers = []
    for layer, bound, p in zip(spec.layers, bounds, lanes):
        g = groups(layer.n_out, p)
        memories += [
            {"name": f"layer_{layer.name}.weights", "depth": layer.n_in * g, "width": p * layer.weight_bits},
            {"name": f"layer_{layer.name}.biases", "depth": g, "width": p * bound.sum_bits},
            {"name": f"layer_{layer.name}.membranes", "depth": g, "width": p * bound.sum_bits},
        ]
        layers.append({"name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "lanes": p,
                       "groups": g, "weight_bits": layer.weight_bits, "acc_bits": bound.acc_bits,
                       "state_bits": layer.neuron.state_bits, "register_bits": bound.sum_bits,
                       "saturates": bound.saturates, "threshold": layer.neuron.threshold})
    for memory in memories:
        memory["bits"] = memory["depth"] * memory["width"]
    # Worst case: every input active and every neuron spiking in every step.
    worst_events = [spec.input.size] + [layer.n_out for layer in spec.layers[:-1]]
    worst_step = sum(e * groups(layer.n_out, p) + groups(layer.n_out, p) + layer.n_out
                     for e, layer, p in zip(worst_events, spec.layers, lanes))
    return {
        "top": TOP_NAME, "ports": ports, "memories": memories, "layers": layers,
        "timesteps": spec.timesteps,
        "cost_model": "cycles ~ input.size + sum_t sum_l (events_l,t * G_l + G_l) + n_out, "
                      "G_l = ceil(n_out_l / lanes_l)",
        "predicted_cycles_max": spec.input.size + spec.timesteps * worst_step + spec.n_out,
    }
