"""Width analysis: exact worst-case ranges of every accumulator and membrane of a NetSpec.

The hardware generator sizes its registers from these ranges and the golden executor uses the
same saturation flags, so both saturate (or not) identically. A membrane saturates only where its
declared ``state_bits`` cannot hold the worst-case value of ``V + I``; :func:`analyse` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .netspec import LayerSpec, NetSpec


def signed_bits(low: int, high: int) -> int:
    """Smallest two's-complement width holding every integer in ``[low, high]``."""
    bits = 1
    while not (-(1 << (bits - 1)) <= low and high <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def unsigned_bits(high: int) -> int:
    """Smallest unsigned width holding every integer in ``[0, high]`` (at least 1)."""
    return max(1, int(high).bit_length())


@dataclass(frozen=True)
class LayerBounds:
    """Worst-case ranges of one layer.

    Attributes
    ----------
    input_max : int
        Largest input value of the layer (input ``max_value`` for the first, 1 for spike inputs).
    acc_low, acc_high : int
        Range of the synaptic accumulate ``(weights * scale) @ x`` (bias excluded), over all neurons
        and every partial sum, since inputs are non-negative.
    acc_bits : int
        Signed width that holds it.
    current_low, current_high : int
        Range of ``I`` = accumulate + bias.
    membrane_low, membrane_high : int
        Range of ``V + I`` before the comparison, over all ``T`` steps, if nothing saturated.
    state_low, state_high : int
        Range the declared ``state_bits`` can hold.
    saturates : bool
        True when ``V + I`` can leave the declared range: the membrane is then clamped to it.
    sum_bits : int
        Signed width that holds ``V + I`` before clamping, and ``V`` plus any partial accumulate
        (the hardware accumulates into the membrane before adding the bias).
    """

    name: str
    input_max: int
    acc_low: int
    acc_high: int
    acc_bits: int
    current_low: int
    current_high: int
    membrane_low: int
    membrane_high: int
    state_low: int
    state_high: int
    saturates: bool
    sum_bits: int


def layer_bounds(layer: LayerSpec, input_max: int, timesteps: int) -> LayerBounds:
    """Worst-case ranges of one layer whose inputs lie in ``[0, input_max]``."""
    weights = layer.effective_weights
    positive = np.clip(weights, 0, None).sum(axis=1) * input_max
    negative = np.clip(weights, None, 0).sum(axis=1) * input_max
    bias = layer.bias.astype(np.int64)
    acc_low, acc_high = int(min(0, negative.min())), int(max(0, positive.max()))
    cur_low, cur_high = int((negative + bias).min()), int((positive + bias).max())
    theta = layer.neuron.threshold
    bits = layer.neuron.state_bits
    state_low, state_high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    # Iterate the reachable interval of V over T steps (V starts at 0).
    v_low = v_high = 0
    pre_low, pre_high = 0, 0
    run_low, run_high = 0, 0  # V plus a partial accumulate, before the bias (hardware order)
    for _ in range(timesteps):
        s_low, s_high = v_low + cur_low, v_high + cur_high
        pre_low, pre_high = min(pre_low, s_low), max(pre_high, s_high)
        run_low, run_high = min(run_low, v_low + acc_low), max(run_high, v_high + acc_high)
        s_low, s_high = max(s_low, state_low), min(s_high, state_high)
        lows, highs = [], []
        if s_low <= theta - 1:  # some values stay below threshold and are kept
            lows.append(s_low)
            highs.append(min(s_high, theta - 1))
        if s_high >= theta:  # some values fire and are reset
            fired_low = max(s_low, theta)
            if layer.neuron.reset == "subtract":
                lows.append(fired_low - theta)
                highs.append(s_high - theta)
            else:
                lows.append(0)
                highs.append(0)
        v_low, v_high = min(lows), max(highs)
    saturates = pre_low < state_low or pre_high > state_high
    # Without saturation V + I never leaves [pre_low, pre_high]; with it, the stored V spans the
    # whole state range and the adder must hold that plus any current.
    if saturates:
        sum_low = state_low + min(cur_low, acc_low, 0)
        sum_high = state_high + max(cur_high, acc_high, 0)
    else:
        sum_low, sum_high = min(pre_low, run_low), max(pre_high, run_high)
    sum_bits = max(bits, signed_bits(sum_low, sum_high))
    return LayerBounds(name=layer.name, input_max=input_max, acc_low=acc_low, acc_high=acc_high,
                       acc_bits=signed_bits(acc_low, acc_high), current_low=cur_low,
                       current_high=cur_high, membrane_low=pre_low, membrane_high=pre_high,
                       state_low=state_low, state_high=state_high, saturates=saturates,
                       sum_bits=sum_bits)


def analyse(spec: NetSpec) -> list[LayerBounds]:
    """Bounds of every layer of ``spec``, first to last."""
    result = []
    input_max = spec.input.value_max
    for layer in spec.layers:
        result.append(layer_bounds(layer, input_max, spec.timesteps))
        input_max = 1
    return result


def count_bits(spec: NetSpec) -> int:
    """Unsigned width of a readout spike count (0..T)."""
    return unsigned_bits(spec.timesteps)
