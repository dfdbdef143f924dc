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
    output_max : int
        Largest value the layer passes on: its spike maximum (K for MT-LIF, else 1), or for a
        stateless layer (pools, flatten, gap) the largest pooled value.
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
    output_max: int = 1


def _leak_interval(low: int, high: int, neuron, step: int) -> tuple[int, int]:
    """Image of ``[low, high]`` under the neuron's leak at ``step`` (every leak is monotone)."""
    if neuron.kind in ("lif", "mtlif") and neuron.leak == "shift":
        return low - (low >> neuron.leak_shift), high - (high >> neuron.leak_shift)
    if neuron.kind in ("lif", "mtlif") and neuron.leak == "factor":
        return (neuron.leak_factor * low) >> neuron.frac_bits, (neuron.leak_factor * high) >> neuron.frac_bits
    if neuron.kind == "adaptive":
        decay = neuron.decay_table[step]
        return (decay * low) >> neuron.frac_bits, (decay * high) >> neuron.frac_bits
    return low, high


def _fire_interval(low: int, high: int, neuron) -> tuple[int, int]:
    """Range of V after firing and reset, for V in ``[low, high]``."""
    theta = neuron.threshold
    fire_at = theta + 1 if neuron.kind == "adaptive" else theta  # adaptive compares with >
    lows, highs = [], []
    if low < fire_at:  # some values stay below threshold and are kept
        lows.append(low)
        highs.append(min(high, fire_at - 1))
    if high >= fire_at:  # some values fire and are reset
        if neuron.reset == "zero":
            lows.append(0)
            highs.append(0)
        elif neuron.kind == "mtlif" and neuron.levels > 1:
            # V − s·θ with s = min(floor(V/θ), K): in [0, θ − 1] unless V exceeds (K + 1)·θ.
            lows.append(0)
            highs.append(max(theta - 1, high - neuron.levels * theta))
        else:
            lows.append(max(low, fire_at) - theta)
            highs.append(high - theta)
    return min(lows), max(highs)


def _stateless_bounds(layer: LayerSpec, input_max: int, in_shape: tuple) -> LayerBounds:
    """Pools, flatten and gap pass values on: only their output range matters."""
    if layer.kind == "sumpool":
        out = layer.kernel ** 2 * input_max
    elif layer.kind == "avgpool":
        out = (layer.kernel ** 2 * input_max) >> layer.shift
    elif layer.kind == "gap":
        out = (in_shape[1] * in_shape[2] * input_max) >> layer.shift
    else:  # orpool, flatten
        out = input_max
    return LayerBounds(name=layer.name, input_max=input_max, acc_low=0, acc_high=out,
                       acc_bits=signed_bits(0, out), current_low=0, current_high=out,
                       membrane_low=0, membrane_high=0, state_low=0, state_high=0,
                       saturates=False, sum_bits=1, output_max=out)


def layer_bounds(layer: LayerSpec, input_max: int, timesteps: int, layer_index: int = 0,
                 in_shape: tuple = (), shortcut_max: int = 0, fires: bool = True) -> LayerBounds:
    """Worst-case ranges of one layer whose inputs lie in ``[0, input_max]``.

    The reachable interval of ``V`` is iterated over the ``T`` steps with the neuron's own leak,
    gain, firing rule and (for bistable layers) integrate/fire schedule. A residual layer's current
    is its input plus the shortcut (``[0, input_max + shortcut_max]``). With ``fires`` False (the
    non-spiking last layer of a membrane readout) nothing holds ``V`` below the threshold: the
    interval is iterated without firing, so it grows with every step until the declared state
    range clamps it, and ``saturates`` says where that can happen.
    """
    from .schedule import FIRE, IDLE, bistable_mode

    if layer.stateless:
        return _stateless_bounds(layer, input_max, in_shape)
    neuron = layer.neuron
    if layer.kind == "residual":
        positive = np.array([input_max + shortcut_max])
        negative = np.zeros(1, dtype=np.int64)
        bias = np.zeros(1, dtype=np.int64)
    else:
        weights = layer.effective_weights.reshape(layer.effective_weights.shape[0], -1)
        positive = np.clip(weights, 0, None).sum(axis=1) * input_max
        negative = np.clip(weights, None, 0).sum(axis=1) * input_max
        bias = layer.bias.astype(np.int64)
    acc_low, acc_high = int(min(0, negative.min())), int(max(0, positive.max()))
    cur_low, cur_high = int((negative + bias).min()), int((positive + bias).max())
    bits = neuron.state_bits
    state_low, state_high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    v_low = v_high = 0  # V starts at 0
    pre_low = pre_high = 0
    run_low = run_high = 0  # V plus a partial accumulate, before the bias (hardware order)
    for step in range(timesteps):
        mode = bistable_mode(layer_index, step, neuron.phase) if neuron.kind == "bistable" else None
        if mode == IDLE:  # V stays at 0 until the layer's first input phase
            continue
        if mode == FIRE:
            if fires:  # a non-spiking layer's fire phase leaves V as it is
                v_low, v_high = _fire_interval(v_low, v_high, neuron)
            continue
        lk_low, lk_high = _leak_interval(v_low, v_high, neuron, step)
        i_low, i_high = cur_low, cur_high
        if neuron.kind == "adaptive":
            gain = neuron.gain_table[step]
            i_low, i_high = (gain * cur_low) >> neuron.frac_bits, (gain * cur_high) >> neuron.frac_bits
        s_low, s_high = lk_low + i_low, lk_high + i_high
        pre_low, pre_high = min(pre_low, s_low), max(pre_high, s_high)
        run_low, run_high = min(run_low, lk_low + acc_low), max(run_high, lk_high + acc_high)
        # Saturation clamps each end into the state range (a range wholly above or below it
        # collapses onto the nearest limit; clamping the ends on their own would invert it).
        s_low = min(max(s_low, state_low), state_high)
        s_high = max(min(s_high, state_high), state_low)
        if neuron.kind == "bistable" or not fires:
            v_low, v_high = s_low, s_high  # integrate phase or non-spiking: never fire
        else:
            v_low, v_high = _fire_interval(s_low, s_high, neuron)
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
                       sum_bits=sum_bits, output_max=neuron.spike_max)


def adaptive_sum_range(layer: LayerSpec, bounds: LayerBounds) -> tuple[int, int]:
    """Range of an adaptive update's ``(λ_t·V) >> F + (γ_t·I) >> F`` before its clamp.

    λ_t <= 2^F keeps the first term in the state range; the second is bounded by the largest
    γ_t times the current's range. The engine's sum signal is this wide
    (``LayerEngine._adaptive_sum``), and the estimator counts its clamp over it.
    """
    neuron = layer.neuron
    gain_max = max(neuron.gain_table)
    low = bounds.state_low + min(0, (gain_max * bounds.current_low) >> neuron.frac_bits)
    high = bounds.state_high + max(0, (gain_max * bounds.current_high) >> neuron.frac_bits)
    return low, high


def analyse(spec: NetSpec) -> list[LayerBounds]:
    """Bounds of every layer of ``spec``, first to last."""
    from .netspec import layer_shapes

    shapes = layer_shapes(spec)
    result: list[LayerBounds] = []
    by_name: dict[str, LayerBounds] = {}
    input_max = spec.input.first_layer_max
    stage = 0  # bistable phases count layers with neurons only
    for index, (layer, (in_shape, _)) in enumerate(zip(spec.layers, shapes)):
        shortcut = by_name[layer.source].output_max if layer.kind == "residual" else 0
        bound = layer_bounds(layer, input_max, spec.timesteps, stage, in_shape, shortcut,
                             fires=spec.fires(index))
        stage += 0 if layer.stateless else 1
        result.append(bound)
        by_name[layer.name] = bound
        input_max = bound.output_max
    return result


def count_bits(spec: NetSpec) -> int:
    """Unsigned width of a readout count: the last layer's spikes summed over T (0..T·K)."""
    return unsigned_bits(spec.timesteps * spec.layers[-1].neuron.spike_max)


def readout_bits(spec: NetSpec) -> int:
    """Width of one readout value: :func:`count_bits` (unsigned) for ``"spike_count"``, the last
    layer's ``state_bits`` (signed two's complement) for ``"membrane"``."""
    if spec.readout == "membrane":
        return spec.layers[-1].neuron.state_bits
    return count_bits(spec)


def readout_signed(spec: NetSpec) -> bool:
    """Whether readout values are signed (membranes) or unsigned (spike counts)."""
    return spec.readout == "membrane"


def with_membrane_readout(spec: NetSpec) -> NetSpec:
    """The same network read out by its last layer's membranes (``readout = "membrane"``).

    The last layer keeps its weights, bias and neuron parameters but no longer fires, so its
    ``V`` can grow over the ``T`` steps: its ``state_bits`` are widened (never narrowed, at most
    :data:`~spikeforge.netspec.MAX_STATE_BITS`) to hold the non-spiking range the bounds give, so
    that it saturates only where even 32 bits cannot hold it (:func:`analyse` then says so).
    """
    from dataclasses import replace

    from .netspec import MAX_STATE_BITS

    wide = replace(spec.layers[-1], neuron=replace(spec.layers[-1].neuron,
                                                   state_bits=MAX_STATE_BITS))
    trial = replace(spec, layers=spec.layers[:-1] + (wide,), readout="membrane")
    bound = analyse(trial)[-1]
    bits = min(MAX_STATE_BITS, max(spec.layers[-1].neuron.state_bits,
                                   signed_bits(bound.membrane_low, bound.membrane_high)))
    last = replace(spec.layers[-1], neuron=replace(spec.layers[-1].neuron, state_bits=bits))
    return replace(spec, layers=spec.layers[:-1] + (last,), readout="membrane").validate()
