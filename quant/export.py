"""Export a trained :class:`~spikeforge.quant.model.SpikingMLP` to a NetSpec, exactly.

Units. Each layer computes in one unit, its weight scale: weights, bias and threshold of the layer
are whole numbers of it (the quantizers and the straight-through rounding make them so), and the
layer's input is integer (pixels, input scale 1) or 0/1 spikes. Dividing by the unit therefore gives
the NetSpec's integers with no rounding, and since an IF neuron only compares ``V`` with ``θ``, the
integer layer fires exactly when the float layer does. Units differ between layers, which is fine:
spikes are 0/1 whatever the unit of the layer that sent them.

- int-k layers (``weight_bits`` 2..8): the unit is the power-of-two scale ``2**e``;
  ``weights`` are signed k-bit integers (narrow range), ``scale = 1``.
- binary layers (``weight_bits`` 1): the unit is 1 (Brevitas constant scale), ``weights`` are ±1 and
  ``scale = 1``. The per-layer scale a binarized layer usually has is folded into the threshold and
  bias, which are learned in units of 1 (see :mod:`spikeforge.quant.model` for why nothing is lost).

Membrane widths (``state_bits``) are the smallest for which the compiler's bounds
(:func:`spikeforge.bounds.layer_bounds`) show no saturation, so the saturating clamp of the integer
semantics never bites and the float model (which has no clamp) stays exact.
"""

from __future__ import annotations

from dataclasses import replace

from spikeforge.bounds import layer_bounds
from spikeforge.netspec import MAX_STATE_BITS, InputSpec, LayerSpec, NetSpec, NeuronSpec

from .model import SpikingMLP


def smallest_state_bits(layer: LayerSpec, input_max: int, timesteps: int) -> int:
    """Smallest membrane width that holds the threshold and never saturates.

    Parameters
    ----------
    layer : LayerSpec
        The layer, any neuron kind (its ``neuron.state_bits`` is ignored; leak, levels and tables
        are kept).
    input_max : int
        Largest value one input of the layer takes in a step (16 for digits pixels, 1 for spikes,
        K after an MT-LIF layer).
    timesteps : int
        T.

    Returns
    -------
    int
        The width, tried upwards from the threshold's signed width.

    Raises
    ------
    ValueError
        If even ``MAX_STATE_BITS`` would saturate.
    """
    for bits in range(max(2, layer.neuron.threshold.bit_length() + 1), MAX_STATE_BITS + 1):
        # replace(): every other neuron field (leak, levels, adaptive tables) is kept, so the bounds
        # see the layer's own dynamics.
        trial = replace(layer, neuron=replace(layer.neuron, state_bits=bits))
        if not layer_bounds(trial, input_max, timesteps).saturates:
            return bits
    raise ValueError(f"layer {layer.name}: state_bits: expected a width <= {MAX_STATE_BITS} without "
                     f"saturation, found none (weights or bias too large)")


def export_netspec(model: SpikingMLP, input_bits: int, input_max: int, name: str = "digits-mlp",
                   metadata: dict | None = None) -> NetSpec:
    """The model's integer NetSpec, exact (validated).

    Parameters
    ----------
    model : SpikingMLP
        A trained model.
    input_bits, input_max : int
        Width and largest value of the direct-coded input (5 and 16 for digits).
    name : str
        The NetSpec's name.
    metadata : dict, optional
        JSON-serialisable training information (seed, epochs, accuracies) kept in the header.

    Returns
    -------
    NetSpec
        Linear layers ``fc1``, ``fc2``, ... with IF neurons (``>=``, reset by subtraction), the
        model's T and direct input coding; ``metadata["units"]`` holds each layer's float unit.

    Raises
    ------
    ValueError
        If a layer's quantities are not whole numbers of its unit, or no membrane width fits.
    spikeforge.errors.NetSpecError
        If the result does not validate (e.g. ``input_max`` beyond ``input_bits``).
    """
    layers = []
    units = []
    layer_input_max = input_max
    for index, layer in enumerate(model.layers):
        ints = layer.integers()
        units.append(ints["unit"])
        weights = ints["weights"].numpy()
        bias = ints["bias"].numpy()
        draft = LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                          weight_bits=layer.weight_bits, bias=bias, scale=1,
                          neuron=NeuronSpec("if", ints["threshold"], "subtract", MAX_STATE_BITS))
        bits = smallest_state_bits(draft, layer_input_max, model.timesteps)
        layers.append(LayerSpec(draft.name, draft.kind, weights, draft.weight_bits, bias,
                                NeuronSpec("if", ints["threshold"], "subtract", bits), 1))
        layer_input_max = 1  # later layers take 0/1 spikes
    spec = NetSpec(input=InputSpec(size=model.sizes[0], encoding="direct", bits=input_bits,
                                   max_value=input_max),
                   layers=tuple(layers), timesteps=model.timesteps, name=name,
                   metadata={**(metadata or {}), "units": units})
    return spec.validate()
