"""Shapes of the image layers (conv2d, pools, gap) as the engines address them.

Values travel as NCHW flat indices: ``c·H·W + y·W + x``. These records hold the numbers the
address generators need, computed once from a layer and its input shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from spikeforge.netspec import LayerSpec


@dataclass(frozen=True)
class Window:
    """A ``kernel × kernel`` window with ``stride`` and zero ``padding`` over a ``(C, H, W)`` input.

    Attributes
    ----------
    channels, height, width : int
        Input shape.
    kernel, stride, padding : int
        Window geometry (``padding`` is 0 for pools).
    out_height, out_width : int
        Output positions per axis, ``(size + 2·padding − kernel) // stride + 1``.
    """

    channels: int
    height: int
    width: int
    kernel: int
    stride: int
    padding: int

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def positions(self) -> int:
        """Output positions per channel, ``OH · OW``."""
        return self.out_height * self.out_width

    @property
    def inputs(self) -> int:
        """Input values, ``C · H · W``."""
        return self.channels * self.height * self.width


def window(layer: LayerSpec, in_shape) -> Window:
    """The window of a conv2d layer (kernel from its weights) or a pool (its ``kernel``)."""
    channels, height, width = (int(d) for d in in_shape)
    if layer.kind == "conv2d":
        return Window(channels, height, width, int(layer.weights.shape[2]), layer.stride,
                      layer.padding)
    return Window(channels, height, width, layer.kernel, layer.stride, 0)


@dataclass(frozen=True)
class AxisTaps:
    """The kernel taps of one input row (or column) that land on an output.

    An input at coordinate ``c`` reaches output ``o`` through tap ``t = c + padding − o·stride``
    when ``0 <= t < kernel`` and ``0 <= o < out_size``. Those taps form the progression
    ``first_tap, first_tap + stride, ...`` (``count`` of them, at most ``ceil(kernel / stride)``),
    with outputs ``first_out, first_out − 1, ...``. ``count`` 0 (stride larger than the kernel,
    or an edge without padding): no tap, and ``first_tap = first_out = 0``.
    """

    first_tap: int
    first_out: int
    count: int


def axis_taps(size: int, kernel: int, stride: int, padding: int, out_size: int) -> list[AxisTaps]:
    """Per input coordinate ``0..size−1``, its valid taps along one axis (:class:`AxisTaps`)."""
    taps = []
    for c in range(size):
        shifted = c + padding
        high = min(shifted // stride, out_size - 1)              # the largest output reached
        low = max(-(-(shifted - kernel + 1) // stride), 0)       # the smallest
        if high < low:
            taps.append(AxisTaps(0, 0, 0))
        else:
            taps.append(AxisTaps(shifted - high * stride, high, high - low + 1))
    return taps


def window_taps(geo: Window) -> tuple[list[AxisTaps], list[AxisTaps]]:
    """The valid taps of every input row and every input column of a window."""
    return (axis_taps(geo.height, geo.kernel, geo.stride, geo.padding, geo.out_height),
            axis_taps(geo.width, geo.kernel, geo.stride, geo.padding, geo.out_width))


def max_taps(geo: Window) -> int:
    """The most valid taps one input event has: at most ``ceil(kernel / stride)²``."""
    rows, columns = window_taps(geo)
    return max(t.count for t in rows) * max(t.count for t in columns)
