"""Direct-coded input: store an image's nonzero values once, replay them as events every time step."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .events import event_stream, index_bits


class InputBuffer(wiring.Component):
    """Loads one image, then replays its active inputs ``timesteps`` times.

    Only nonzero values are stored (as index, value pairs), so zero inputs cost no cycles in any
    later stage. Each replay ends with an end-of-step event (``last`` set).

    Parameters
    ----------
    size : int
        Input values per image.
    value_bits : int
        Unsigned width of one value.
    timesteps : int
        Replays per image (T).

    Attributes
    ----------
    input : stream of ``unsigned(value_bits)``
        The image, index 0 first. Not ready while the previous image is replayed.
    events : stream of events
        ``(index, value, last=0)`` per nonzero input, then ``last=1``, T times.
    """

    def __init__(self, size: int, value_bits: int, timesteps: int):
        self.size = size
        self.value_bits = value_bits
        self.timesteps = timesteps
        super().__init__({
            "input": In(stream.Signature(unsigned(value_bits))),
            "events": Out(event_stream(size, value_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        ibits = index_bits(self.size)
        store = Memory(shape=unsigned(ibits + self.value_bits), depth=max(self.size, 2), init=[])
        m.submodules.store = store
        wr = store.write_port()
        rd = store.read_port(transparent_for=(wr,))  # the last load and the first replay may meet

        load_index = Signal(range(max(self.size, 2)))  # never zero bits wide
        stored = Signal(range(self.size + 1))
        position = Signal(range(self.size + 1))  # next stored event to present
        step = Signal(range(self.timesteps))
        replaying = Signal()

        # Load: keep nonzero values only.
        m.d.comb += self.input.ready.eq(~replaying)
        with m.If(self.input.valid & self.input.ready):
            with m.If(self.input.payload != 0):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(stored),
                             wr.data.eq(load_index | (self.input.payload << ibits))]
                m.d.sync += stored.eq(stored + 1)
            with m.If(load_index == self.size - 1):
                m.d.sync += [load_index.eq(0), replaying.eq(1)]
            with m.Else():
                m.d.sync += load_index.eq(load_index + 1)

        # Replay: the read address runs one transfer ahead so rd.data always holds `position`.
        is_marker = position == stored
        transfer = self.events.valid & self.events.ready
        m.d.comb += [
            self.events.valid.eq(replaying),
            self.events.payload.index.eq(rd.data[:ibits]),
            self.events.payload.value.eq(rd.data[ibits:]),
            self.events.payload.last.eq(is_marker),
            rd.addr.eq(position),
        ]
        with m.If(transfer):
            with m.If(is_marker):
                m.d.comb += rd.addr.eq(0)
                m.d.sync += position.eq(0)
                with m.If(step == self.timesteps - 1):
                    m.d.sync += [step.eq(0), replaying.eq(0), stored.eq(0)]
                with m.Else():
                    m.d.sync += step.eq(step + 1)
            with m.Else():
                m.d.comb += rd.addr.eq(position + 1)
                m.d.sync += position.eq(position + 1)
        with m.If(is_marker):
            m.d.comb += [self.events.payload.index.eq(0), self.events.payload.value.eq(0)]
        return m
