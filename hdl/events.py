"""Event streams between the stages of the network: one active input (index, value) per transfer.

An event with ``last`` set carries no synapse: it marks the end of a time step. A layer's spike
events have ``value`` 1; the first layer receives the direct-coded input values.
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data, stream


def index_bits(count: int) -> int:
    """Width of an index into ``count`` items (at least 1 bit)."""
    return max(1, (count - 1).bit_length())


def event_layout(count: int, value_bits: int) -> data.StructLayout:
    """Payload of an event addressing one of ``count`` sources with a ``value_bits``-wide value."""
    return data.StructLayout({
        "index": unsigned(index_bits(count)),
        "value": unsigned(value_bits),
        "last": unsigned(1),
    })


def event_stream(count: int, value_bits: int) -> stream.Signature:
    """A stream of events of :func:`event_layout`."""
    return stream.Signature(event_layout(count, value_bits))
