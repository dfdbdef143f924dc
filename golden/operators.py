"""Integer-exact synaptic operators of each layer kind: ``activity -> (current, operations)``.

Matrix products and convolutions run in float64, which is exact because the compiler's bounds keep
every partial sum an integer below 2**53 (checked; int64 kernels otherwise). Pooling uses sums and
maxima of integers. ``operations`` counts synaptic accumulates: one per (active input, target) pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.bounds import LayerBounds
from spikeforge.netspec import LayerSpec

FLOAT64_EXACT = 1 << 53


def _exact(bound: LayerBounds) -> bool:
    return max(abs(bound.acc_low), abs(bound.acc_high)) < FLOAT64_EXACT


class Linear:
    """``W·x + b`` over a flat input."""

    def __init__(self, layer: LayerSpec, bound: LayerBounds):
        self.float = _exact(bound)
        weights = torch.from_numpy(layer.effective_weights.T.copy())
        self.weights = weights.to(torch.float64) if self.float else weights
        self.bias = torch.from_numpy(layer.bias.astype(np.int64))
        self.n_out = layer.weights.shape[0]

    def __call__(self, x: torch.Tensor, shortcut=None):
        if self.float:
            acc = torch.round(x.to(torch.float64) @ self.weights).to(torch.int64)
        else:
            acc = x @ self.weights
        return acc + self.bias, int((x != 0).sum()) * self.n_out


class Conv2d:
    """2-D convolution with stride and zero padding, bias per output channel."""

    def __init__(self, layer: LayerSpec, bound: LayerBounds):
        if not _exact(bound):
            raise ValueError(f"layer {layer.name}: accumulate bound {bound.acc_high} exceeds what "
                             "float64 convolution computes exactly (2**53)")
        self.weights = torch.from_numpy(layer.effective_weights).to(torch.float64)
        self.fanout = torch.ones_like(self.weights)
        self.bias = torch.from_numpy(layer.bias.astype(np.int64)).view(1, -1, 1, 1)
        self.stride, self.padding = layer.stride, layer.padding

    def __call__(self, x: torch.Tensor, shortcut=None):
        xf = x.to(torch.float64)
        acc = F.conv2d(xf, self.weights, stride=self.stride, padding=self.padding)
        # Synaptic operations: every (active input, output it reaches) pair, counted exactly.
        ops = F.conv2d((xf != 0).to(torch.float64), self.fanout, stride=self.stride,
                       padding=self.padding).sum()
        return torch.round(acc).to(torch.int64) + self.bias, int(ops)


class Pool:
    """Sum, average (sum >> shift) or OR (max of spikes) pooling; no state, no neurons."""

    def __init__(self, layer: LayerSpec):
        self.kind, self.kernel, self.stride, self.shift = layer.kind, layer.kernel, layer.stride, layer.shift

    def __call__(self, x: torch.Tensor, shortcut=None):
        xf = x.to(torch.float64)
        if self.kind == "orpool":
            return F.max_pool2d(xf, self.kernel, self.stride).to(torch.int64), 0
        total = F.avg_pool2d(xf, self.kernel, self.stride, divisor_override=1)
        total = torch.round(total).to(torch.int64)
        return (total >> self.shift if self.kind == "avgpool" else total), 0


class Flatten:
    def __init__(self, layer: LayerSpec):
        pass

    def __call__(self, x: torch.Tensor, shortcut=None):
        return x.reshape(x.shape[0], -1), 0


class GlobalAveragePool:
    """Sum over height and width, then an arithmetic right shift."""

    def __init__(self, layer: LayerSpec):
        self.shift = layer.shift

    def __call__(self, x: torch.Tensor, shortcut=None):
        return x.sum(dim=(2, 3)) >> self.shift, 0


class Residual:
    """The previous layer's output plus the (delayed) shortcut, as the current of new neurons."""

    def __init__(self, layer: LayerSpec):
        self.source, self.delay = layer.source, layer.delay

    def __call__(self, x: torch.Tensor, shortcut: torch.Tensor):
        return x + shortcut, int((x != 0).sum() + (shortcut != 0).sum())


def make_operator(layer: LayerSpec, bound: LayerBounds):
    """The operator of ``layer``."""
    if layer.kind == "linear":
        return Linear(layer, bound)
    if layer.kind == "conv2d":
        return Conv2d(layer, bound)
    if layer.kind in ("sumpool", "avgpool", "orpool"):
        return Pool(layer)
    if layer.kind == "flatten":
        return Flatten(layer)
    if layer.kind == "gap":
        return GlobalAveragePool(layer)
    if layer.kind == "residual":
        return Residual(layer)
    raise ValueError(f"layer {layer.name}: unknown kind {layer.kind!r}")
