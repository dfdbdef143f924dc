"""The encoder: store an image once, replay it as input events every time step.

Encodings (``docs/semantics.md``), bit-exact with ``golden/encoders.py``:

* ``direct``: each nonzero value ``x`` at index ``i`` becomes the event ``(i, x)`` every step;
* ``latency``: each nonzero value fires once, ``(i, 1)`` at step ``((max − x)·(T − 1)) // max``;
* ``hybrid``: step 0 as ``direct``, then each nonzero value fires once at
  ``1 + ((max − x)·(T − 2)) // max``;
* ``rate``: every value is visited every step in index order; a 16-bit Galois LFSR
  (:mod:`spikeforge.lfsr`, restarted from the seed for each image) advances once per visit and the
  value fires ``(i, 1)`` when the LFSR's low ``bits`` bits are below ``x``.

Only nonzero values are stored for the first three, so zero inputs cost no cycles; ``rate`` stores
and visits all values since the LFSR advances for every one of them. The firing steps of
``latency``/``hybrid`` come from a small table indexed by the value (no divider). Each step ends
with an end-of-step event (``last`` set).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.lfsr import TAPS, WIDTH
from spikeforge.netspec import InputSpec

from .events import event_stream, index_bits
from .select import select


def fire_steps(spec_input: InputSpec, timesteps: int) -> list[int]:
    """Step at which a value ``x`` (the list index) fires, for ``latency`` and ``hybrid``."""
    maximum = spec_input.value_max
    if spec_input.encoding == "latency":
        first, steps = 0, timesteps
    else:
        first, steps = 1, timesteps - 1
    span = max(steps - 1, 0)
    return [first + ((maximum - x) * span) // maximum for x in range(maximum + 1)]


def event_value_bits(spec_input: InputSpec) -> int:
    """Width of the input events' value: ``bits`` for direct and hybrid, 1 for the spike encodings."""
    return spec_input.bits if spec_input.encoding in ("direct", "hybrid") else 1


def store_shape(spec_input: InputSpec) -> tuple[int, int]:
    """Depth and width of the image store: one (index, value) word per stored value (depth >= 2)."""
    return max(spec_input.size, 2), index_bits(spec_input.size) + spec_input.bits


class InputBuffer(wiring.Component):
    """Loads one image, then replays it as the first layer's events ``timesteps`` times.

    Parameters
    ----------
    spec_input : InputSpec
        Size, value width, maximum, encoding (and LFSR seed) of the input.
    timesteps : int
        T.

    Attributes
    ----------
    input : stream of ``unsigned(bits)``
        The image, index 0 first. Not ready while the previous image is replayed.
    events : stream of events
        The encoded values of each step, then an end-of-step event, T times.
    event_value_bits : int
        Width of the events' value: ``bits`` for direct and hybrid, 1 for the spike encodings.
    """

    def __init__(self, spec_input: InputSpec, timesteps: int):
        self.spec_input = spec_input
        self.size = spec_input.size
        self.value_bits = spec_input.bits
        self.timesteps = timesteps
        self.encoding = spec_input.encoding
        self.event_value_bits = event_value_bits(spec_input)
        super().__init__({
            "input": In(stream.Signature(unsigned(self.value_bits))),
            "events": Out(event_stream(self.size, self.event_value_bits)),
        })

    def store_shape(self) -> tuple[int, int]:
        """See :func:`store_shape`."""
        return store_shape(self.spec_input)

    def elaborate(self, platform):
        m = Module()
        ibits = index_bits(self.size)
        depth, width = self.store_shape()
        store = Memory(shape=unsigned(width), depth=depth, init=[])
        m.submodules.store = store
        wr = store.write_port()
        rd = store.read_port(transparent_for=(wr,))  # the last load and the first replay may meet

        load_index = Signal(range(max(self.size, 2)))  # never zero bits wide
        stored = Signal(range(self.size + 1))
        position = Signal(range(self.size + 1))  # stored entry presented now
        step = Signal(range(max(self.timesteps, 2)))
        replaying = Signal()
        rate = self.encoding == "rate"
        lfsr = Signal(WIDTH, init=self.spec_input.rate_seed if rate else 1)

        # Load: keep nonzero values only (all of them for rate: the LFSR visits every one).
        m.d.comb += self.input.ready.eq(~replaying)
        with m.If(self.input.valid & self.input.ready):
            with m.If((self.input.payload != 0) | rate):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(stored),
                             wr.data.eq(load_index | (self.input.payload << ibits))]
                m.d.sync += stored.eq(stored + 1)
            with m.If(load_index == self.size - 1):
                m.d.sync += [load_index.eq(0), replaying.eq(1)]
            with m.Else():
                m.d.sync += load_index.eq(load_index + 1)
            if rate:
                m.d.sync += lfsr.eq(self.spec_input.rate_seed)

        index, value = rd.data[:ibits], rd.data[ibits:]
        is_marker = position == stored
        emit = Signal()  # the entry at `position` produces an event this step
        event_value = Signal(self.event_value_bits)
        if self.encoding == "direct":
            m.d.comb += [emit.eq(1), event_value.eq(value)]
        elif self.encoding == "rate":
            shifted = lfsr >> 1
            lfsr_next = Mux(lfsr[0], shifted ^ TAPS, shifted)
            random = lfsr_next[:self.value_bits]
            m.d.comb += [emit.eq(random < value), event_value.eq(1)]
        else:
            fires_at = Signal(range(max(self.timesteps, 2)))
            m.d.comb += fires_at.eq(select(value, fire_steps(self.spec_input, self.timesteps)))
            if self.encoding == "latency":
                m.d.comb += [emit.eq(fires_at == step), event_value.eq(1)]
            else:
                m.d.comb += [emit.eq((step == 0) | (fires_at == step)),
                             event_value.eq(Mux(step == 0, value, 1))]

        # Replay: the read address runs one entry ahead so rd.data always holds `position`.
        transfer = self.events.valid & self.events.ready
        leave = ~is_marker & (transfer | ~emit)  # sent, or nothing to send for this entry
        m.d.comb += [
            self.events.valid.eq(replaying & (is_marker | emit)),
            self.events.payload.index.eq(Mux(is_marker, 0, index)),
            self.events.payload.value.eq(Mux(is_marker, 0, event_value)),
            self.events.payload.last.eq(is_marker),
            rd.addr.eq(position),
        ]
        with m.If(replaying & is_marker & transfer):
            m.d.comb += rd.addr.eq(0)
            m.d.sync += position.eq(0)
            with m.If(step == self.timesteps - 1):
                m.d.sync += [step.eq(0), replaying.eq(0), stored.eq(0)]
            with m.Else():
                m.d.sync += step.eq(step + 1)
        with m.Elif(replaying & leave):
            m.d.comb += rd.addr.eq(position + 1)
            m.d.sync += position.eq(position + 1)
            if rate:
                m.d.sync += lfsr.eq(lfsr_next)
        return m
