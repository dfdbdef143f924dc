"""The integer-exact executor of a NetSpec.

Accumulates use float64 matrix products, which are exact because every partial sum is an integer
whose magnitude the compiler's bounds keep below 2**53 (checked per layer; int64 kernels otherwise).
Everything after the accumulate is int64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from spikeforge.bounds import analyse
from spikeforge.netspec import NetSpec

from .neurons import IFParams, if_step

_FLOAT64_EXACT = 1 << 53


@dataclass
class GoldenResult:
    """What the executor computed for a batch.

    Attributes
    ----------
    counts : numpy.ndarray
        Spike counts of the last layer, shape ``(batch, n_out)``, int64: the readout.
    predictions : numpy.ndarray
        Class per image: the index of the largest count, the lowest index on ties.
    layer_spikes : numpy.ndarray
        Total spikes per layer and time step over the batch, shape ``(layers, T)``.
    accumulates : numpy.ndarray
        Synaptic accumulate operations per layer over the batch (one per active input event and
        target neuron); for a direct-coded first layer these are multiply-accumulates.
    trains : list of numpy.ndarray or None
        With ``record=True``: per layer, spikes of shape ``(T, batch, n_out)`` (uint8).
    membranes : list of numpy.ndarray or None
        With ``record=True``: per layer, membranes after each step, shape ``(T, batch, n_out)``.
    """

    counts: np.ndarray
    predictions: np.ndarray
    layer_spikes: np.ndarray
    accumulates: np.ndarray
    trains: list | None = None
    membranes: list | None = None
    layer_names: list = field(default_factory=list)

    @property
    def synaptic_ops_per_image(self) -> float:
        return float(self.accumulates.sum()) / max(1, len(self.counts))


def predict(counts: np.ndarray) -> np.ndarray:
    """Class per image from spike counts: argmax, lowest index on ties."""
    return np.argmax(counts, axis=1)


def run(spec: NetSpec, inputs, record: bool = False) -> GoldenResult:
    """Run ``spec`` on a batch of encoded inputs, exactly.

    Parameters
    ----------
    spec : NetSpec
        A validated NetSpec.
    inputs : array-like of int
        Shape ``(batch, input.size)``, values in ``[0, input.max_value]``.
    record : bool
        Also return every layer's spike trains and membranes (for debugging mismatches).

    Raises
    ------
    ValueError
        If the inputs have the wrong shape or values outside the declared input range.
    """
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != spec.input.size:
        raise ValueError(f"golden inputs: expected shape (batch, {spec.input.size}), found {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"golden inputs: expected integers, found dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > spec.input.value_max):
        raise ValueError(f"golden inputs: expected values in [0, {spec.input.value_max}], "
                         f"found [{x.min()}, {x.max()}]")
    bounds = analyse(spec)
    batch, steps = x.shape[0], spec.timesteps
    layers = spec.layers
    weights, exact_float = [], []
    for layer, bound in zip(layers, bounds):
        magnitude = max(abs(bound.acc_low), abs(bound.acc_high))
        exact_float.append(magnitude < _FLOAT64_EXACT)
        w = torch.from_numpy(layer.effective_weights.T.copy())
        weights.append(w.to(torch.float64) if exact_float[-1] else w)
    params = [IFParams(layer.neuron.threshold, layer.neuron.reset, b.state_low, b.state_high)
              for layer, b in zip(layers, bounds)]
    biases = [torch.from_numpy(layer.bias.astype(np.int64)) for layer in layers]
    membranes = [torch.zeros(batch, layer.n_out, dtype=torch.int64) for layer in layers]
    counts = torch.zeros(batch, layers[-1].n_out, dtype=torch.int64)
    layer_spikes = np.zeros((len(layers), steps), dtype=np.int64)
    accumulates = np.zeros(len(layers), dtype=np.int64)
    trains = [np.zeros((steps, batch, layer.n_out), np.uint8) for layer in layers] if record else None
    mem_rec = [np.zeros((steps, batch, layer.n_out), np.int64) for layer in layers] if record else None
    direct = torch.from_numpy(x.astype(np.int64))
    for t in range(steps):
        activity = direct  # direct encoding: the same values every step
        for index, layer in enumerate(layers):
            accumulates[index] += int((activity != 0).sum()) * layer.n_out
            if exact_float[index]:
                acc = torch.round(activity.to(torch.float64) @ weights[index]).to(torch.int64)
            else:
                acc = activity @ weights[index]
            spikes, membranes[index] = if_step(acc + biases[index], membranes[index], params[index])
            layer_spikes[index, t] = int(spikes.sum())
            if record:
                trains[index][t] = spikes.numpy()
                mem_rec[index][t] = membranes[index].numpy()
            activity = spikes
        counts += activity
    counts_np = counts.numpy()
    return GoldenResult(counts=counts_np, predictions=predict(counts_np), layer_spikes=layer_spikes,
                        accumulates=accumulates, trains=trains, membranes=mem_rec,
                        layer_names=[layer.name for layer in layers])
