"""Event streams between the stages of the network: one active input (index, value) per transfer.

An event with ``last`` set carries no synapse: it marks the end of a time step. A layer's spike
events have ``value`` 1; the first layer receives the direct-coded input values.
"""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out


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


class EventFork(wiring.Component):
    """One event stream to two consumers, each event transferred to both in the same cycle.

    ``a`` and ``b`` see an event as valid only while the other one is ready, and the input is
    ready only when both are: nothing is dropped, duplicated or reordered, and neither consumer
    runs ahead of the other. Every path is combinational (no cycle added); no ``ready`` of either
    side depends on its ``valid``, so there is no combinational loop. A consumer's ``valid`` drops
    only after a transfer: the other's ``ready`` falls only by a transfer of its own, which is one
    of both.
    """

    def __init__(self, count: int, value_bits: int):
        signature = event_stream(count, value_bits)
        super().__init__({"events_in": In(signature), "a": Out(signature), "b": Out(signature)})

    def elaborate(self, platform):
        m = Module()
        inp, a, b = self.events_in, self.a, self.b
        m.d.comb += [a.payload.eq(inp.payload), b.payload.eq(inp.payload),
                     a.valid.eq(inp.valid & b.ready), b.valid.eq(inp.valid & a.ready),
                     inp.ready.eq(a.ready & b.ready)]
        return m


class EventQueue(wiring.Component):
    """A two-event queue that registers both directions of an event stream.

    Between a producer and a consumer whose handshake logic is deep, such as the input buffer's
    replay and the first layer's stall logic, the queue splits the path: the producer sees a
    ``ready`` decoded from the queue's own fill level, and the consumer a ``valid`` and payload
    read from its registers. An event costs one cycle more on its way (latency 1); two entries
    keep the throughput at one event per cycle. It is :class:`amaranth.lib.fifo.SyncFIFO` of
    depth 2 with event payloads.
    """

    DEPTH = 2

    def __init__(self, count: int, value_bits: int):
        signature = event_stream(count, value_bits)
        self._layout = event_layout(count, value_bits)
        super().__init__({"events_in": In(signature), "events_out": Out(signature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFO(width=self._layout.size, depth=self.DEPTH)
        m.d.comb += [fifo.w_data.eq(self.events_in.payload.as_value()),
                     fifo.w_en.eq(self.events_in.valid),
                     self.events_in.ready.eq(fifo.w_rdy),
                     self.events_out.payload.eq(fifo.r_data),
                     self.events_out.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.events_out.ready)]
        return m
