"""Random, valid NetSpecs for tests and benchmarks (no training needed)."""

from __future__ import annotations

import numpy as np

from .netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec


def random_netspec(seed: int = 0, sizes=(64, 32, 10), weight_bits=(1, 4), timesteps: int = 8,
                   input_bits: int = 5, input_max: int = 16, thresholds=(40, 10),
                   state_bits=(16, 12), reset: str = "subtract", binary_scale: int = 2) -> NetSpec:
    """A random, valid NetSpec of linear layers with IF neurons.

    Parameters
    ----------
    seed : int
        Seed of the weights and biases.
    sizes : sequence of int
        Input size, then the neurons of each layer.
    weight_bits : sequence of int
        Per layer: 1 for binary ±1 weights (times ``binary_scale``), else signed int-k.
    timesteps, input_bits, input_max : int
        T, and the width and largest value of the direct-coded input.
    thresholds, state_bits : sequence of int
        Per layer: IF threshold and membrane width.
    reset : str
        ``"subtract"`` or ``"zero"`` for every layer.
    """
    rng = np.random.default_rng(seed)
    layers = []
    for index, bits in enumerate(weight_bits):
        n_in, n_out = sizes[index], sizes[index + 1]
        if bits == 1:
            weights, scale = rng.choice([-1, 1], (n_out, n_in)), binary_scale
        else:
            half = 1 << (bits - 1)
            weights, scale = rng.integers(-half, half, (n_out, n_in)), 1
        layers.append(LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                                weight_bits=bits, scale=scale, bias=rng.integers(-4, 5, n_out),
                                neuron=NeuronSpec("if", thresholds[index], reset, state_bits[index])))
    return NetSpec(InputSpec(sizes[0], "direct", input_bits, input_max), tuple(layers),
                   timesteps).validate()
