"""Integer-exact synaptic operators of each layer kind: ``activity -> (current, operations)``.

Matrix products run in float32 or float64 and convolutions in float64, which is exact because the
compiler's bounds keep every partial sum an integer below 2**24 (float32) or 2**53 (float64); int64
kernels otherwise. Pooling uses sums and
maxima of integers. ``operations`` counts synaptic accumulates: one per (active input, target) pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spikeforge.bounds import LayerBounds
from spikeforge.netspec import LayerSpec

FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53


def _exact(bound: LayerBounds) -> bool:
    return max(abs(bound.acc_low), abs(bound.acc_high)) < FLOAT64_EXACT


def exact_float_dtype(bound: LayerBounds):
    """The narrowest float type whose products are exact for this layer, or None (use int64).

    Every partial sum of the accumulate is an integer in ``[acc_low, acc_high]``; a float type
    represents all integers below ``2**mantissa`` exactly, so its sums and products of integer
    operands are exact too.
    """
    magnitude = max(abs(bound.acc_low), abs(bound.acc_high))
    if magnitude < FLOAT32_EXACT:
        return torch.float32
    if magnitude < FLOAT64_EXACT:
        return torch.float64
    return None


class Linear:
    """``W·x + b`` over a flat input (float32 or float64 products where provably exact)."""

    def __init__(self, layer: LayerSpec, bound: LayerBounds, state_dtype=torch.int64):
        self.dtype = exact_float_dtype(bound)
        self.state_dtype = state_dtype
        weights = torch.from_numpy(layer.effective_weights.T.copy())
        self.weights = weights.to(self.dtype) if self.dtype is not None else weights
        self.bias = torch.from_numpy(layer.bias.astype(np.int64)).to(state_dtype)
        self.n_out = layer.weights.shape[0]

    def __call__(self, x: torch.Tensor, shortcut=None, active: int | None = None):
        """``active``: the number of nonzero inputs when the caller knows it (saves a count)."""
        if self.dtype is not None:
            # The float result is an exact integer: converting needs no rounding.
            acc = (x.to(self.dtype) @ self.weights).to(self.state_dtype)
        else:
            acc = (x.to(torch.int64) @ self.weights).to(self.state_dtype)
        if active is None:
            active = int(torch.count_nonzero(x))
        return acc.add_(self.bias), active * self.n_out


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


def make_operator(layer: LayerSpec, bound: LayerBounds, state_dtype=torch.int64):
    """The operator of ``layer``; linear layers produce ``state_dtype`` currents directly."""
    if layer.kind == "linear":
        return Linear(layer, bound, state_dtype)
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
