"""Export a trained :class:`~spikeforge.quant.model.SpikingMLP` to a NetSpec, exactly.

Each layer's weights, bias and threshold are whole numbers of the layer's unit (its weight scale),
so dividing by the unit gives integers with no rounding. Binary layers keep ``scale = 1``: their
per-layer scale is the unit and is folded into the threshold and bias. Membrane widths are the
smallest for which the compiler's bounds show no saturation.
"""

from __future__ import annotations

from spikeforge.bounds import layer_bounds
from spikeforge.netspec import MAX_STATE_BITS, InputSpec, LayerSpec, NetSpec, NeuronSpec

from .model import SpikingMLP


def smallest_state_bits(layer: LayerSpec, input_max: int, timesteps: int) -> int:
    """Smallest membrane width that holds the threshold and never saturates."""
    for bits in range(max(2, layer.neuron.threshold.bit_length() + 1), MAX_STATE_BITS + 1):
        trial = LayerSpec(layer.name, layer.kind, layer.weights, layer.weight_bits, layer.bias,
                          NeuronSpec(layer.neuron.kind, layer.neuron.threshold, layer.neuron.reset,
                                     bits), layer.scale)
        if not layer_bounds(trial, input_max, timesteps).saturates:
            return bits
    return MAX_STATE_BITS


def export_netspec(model: SpikingMLP, input_bits: int, input_max: int, name: str = "digits-mlp",
                   metadata: dict | None = None) -> NetSpec:
    """The model's integer NetSpec (validated).

    Parameters
    ----------
    model : SpikingMLP
        A trained model.
    input_bits, input_max : int
        Width and largest value of the direct-coded input.
    """
    layers = []
    layer_input_max = input_max
    for index, layer in enumerate(model.layers):
        ints = layer.integers()
        weights = ints["weights"].numpy()
        bias = ints["bias"].numpy()
        draft = LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                          weight_bits=layer.weight_bits, bias=bias, scale=1,
                          neuron=NeuronSpec("if", ints["threshold"], "subtract", MAX_STATE_BITS))
        bits = smallest_state_bits(draft, layer_input_max, model.timesteps)
        layers.append(LayerSpec(draft.name, draft.kind, weights, draft.weight_bits, bias,
                                NeuronSpec("if", ints["threshold"], "subtract", bits), 1))
        layer_input_max = 1
    spec = NetSpec(input=InputSpec(size=model.sizes[0], encoding="direct", bits=input_bits,
                                   max_value=input_max),
                   layers=tuple(layers), timesteps=model.timesteps, name=name,
                   metadata=dict(metadata or {}))
    return spec.validate()
