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
