"""Stateless image layers in hardware: sum, average and OR pooling, and global average pooling.

Per time step the engine adds the value of every input event into a count memory with one word per
output (OR pooling keeps the maximum instead: the OR of 0/1 spikes, and the golden ``max_pool2d``
for graded inputs). On the end-of-step event it walks all outputs in index order, one per cycle,
sends each nonzero result as an event with a multi-bit value (the sum, ``sum >> shift`` for average
pools and gap, or the maximum), writes the word back to zero, and forwards the end-of-step event.
An average that the shift makes 0 sends nothing, as the golden next layer then receives 0.

Count word of output ``c·OH·OW + oy·OW + ox`` (or ``c`` for gap) sits at that very address, the NCHW
index the next layer expects. An input event ``(c, y, x)`` of a ``k × k`` pool with stride ``s``
takes ``k²`` cycles, one per window tap ``(ky, kx)``: the output ``((y − ky)/s, (x − kx)/s)``
is updated where the division is exact and in range (taps outside write nothing), as the conv
engine does. A gap event takes one cycle. Reads are synchronous and the read port is transparent
to the write port, so back-to-back updates of one word see each other. :mod:`spikeforge.hdl.cost`
models the cycles.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.bounds import LayerBounds, unsigned_bits
from spikeforge.netspec import LayerSpec

from .arith import divmod_const
from .conv_engine import window_axis
from .events import event_stream
from .geometry import window

POOL_KINDS = ("sumpool", "avgpool", "orpool", "gap")


def pool_count_max(layer: LayerSpec, bounds: LayerBounds, in_shape) -> int:
    """Largest value a count word holds: the window (or plane) sum before any shift, or the max."""
    if layer.kind == "orpool":
        return bounds.input_max
    taps = in_shape[1] * in_shape[2] if layer.kind == "gap" else layer.kernel ** 2
    return taps * bounds.input_max


def pool_outputs(layer: LayerSpec, in_shape) -> int:
    """Outputs of the layer: ``C·OH·OW``, or ``C`` for gap."""
    if layer.kind == "gap":
        return int(in_shape[0])
    return int(in_shape[0]) * window(layer, in_shape).positions


def pool_memory_shapes(layer: LayerSpec, bounds: LayerBounds, in_shape) -> dict[str, tuple[int, int]]:
    """Depth and width of the count memory (depth at least 2, as for every memory)."""
    return {"counts": (max(pool_outputs(layer, in_shape), 2),
                       unsigned_bits(pool_count_max(layer, bounds, in_shape)))}


def pool_taps(layer: LayerSpec) -> int:
    """Cycles per input event: ``k²`` for a pool, 1 for gap."""
    return 1 if layer.kind == "gap" else layer.kernel ** 2


class PoolEngine(wiring.Component):
    """A sumpool, avgpool, orpool or gap layer between event streams.

    Parameters
    ----------
    layer : LayerSpec
        The pooling layer (kind in :data:`POOL_KINDS`).
    bounds : LayerBounds
        Its bounds (input and output maxima).
    value_bits : int
        Width of the input events' value.
    in_shape : tuple of int
        Input ``(C, H, W)``.

    Attributes
    ----------
    events_in : stream of events over ``C·H·W`` NCHW indices
    events_out : stream of events over the outputs, value ``unsigned_bits(bounds.output_max)`` wide
    """

    def __init__(self, layer: LayerSpec, bounds: LayerBounds, value_bits: int, in_shape):
        assert layer.kind in POOL_KINDS, layer.kind
        self.layer, self.bounds, self.in_shape = layer, bounds, tuple(int(d) for d in in_shape)
        self.value_bits = value_bits
        self.n_outputs = pool_outputs(layer, in_shape)
        self.spike_bits = unsigned_bits(bounds.output_max)  # the next layer's value width
        inputs = self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
        super().__init__({
            "events_in": In(event_stream(inputs, value_bits)),
            "events_out": Out(event_stream(self.n_outputs, self.spike_bits)),
        })

    def memory_shapes(self) -> dict[str, tuple[int, int]]:
        """See :func:`pool_memory_shapes`."""
        return pool_memory_shapes(self.layer, self.bounds, self.in_shape)

    def elaborate(self, platform):
        m = Module()
        layer, n_out = self.layer, self.n_outputs
        channels, height, width = self.in_shape
        depth, cbits = self.memory_shapes()["counts"]
        counts = Memory(shape=unsigned(cbits), depth=depth, init=[])
        m.submodules.counts = counts
        wr = counts.write_port()
        rd = counts.read_port(transparent_for=(wr,))  # back-to-back updates of one word

        holding = Signal()                       # an input event is being spread over its taps
        event_index = Signal.like(self.events_in.payload.index)
        event_value = Signal.like(self.events_in.payload.value)
        walking = Signal()                       # end of step: sending and clearing the counts
        walk = Signal(range(max(n_out, 2)))
        marker_pending = Signal()
        stage1 = Signal()
        stage1_walk = Signal()
        stage1_valid = Signal()
        stage1_value = Signal.like(event_value)
        stage1_address = Signal(range(max(n_out, 2)))

        # ---- stage 1: merge the event into its count, or send and clear a count -------------
        count = rd.data
        if layer.kind == "orpool":
            merged = Mux(stage1_value > count, stage1_value, count)
        else:
            merged = count + stage1_value
        result = Signal(self.spike_bits)
        shift = layer.shift if layer.kind in ("avgpool", "gap") else 0
        m.d.comb += result.eq(count >> shift)
        out = self.events_out
        emit = stage1 & stage1_walk & (result != 0)
        marker_now = marker_pending & ~(stage1 & stage1_walk)
        m.d.comb += [out.valid.eq(emit | marker_now),
                     out.payload.index.eq(Mux(emit, stage1_address, 0)),
                     out.payload.value.eq(Mux(emit, result, 0)),
                     out.payload.last.eq(~emit)]
        advance = ~emit | out.ready
        m.d.comb += [wr.addr.eq(stage1_address), wr.data.eq(Mux(stage1_walk, 0, merged)),
                     wr.en.eq(stage1 & advance & (stage1_walk | stage1_valid))]

        # ---- stage 0: the address of this cycle's count -------------------------------------
        plane = height * width
        channel, rest = divmod_const(m, event_index, plane, channels * plane - 1, "event_channel")
        valid = Signal()
        target = Signal(range(max(n_out, 2)))
        if layer.kind == "gap":
            m.d.comb += [valid.eq(1), target.eq(channel)]
            last_tap = 1
        else:
            geo = window(layer, self.in_shape)
            k = geo.kernel
            ky, kx = Signal(range(max(k, 2)), name="ky"), Signal(range(max(k, 2)), name="kx")
            y, x = divmod_const(m, rest, width, plane - 1, "event_row")
            oy, valid_y = window_axis(m, geo, y, ky, height, geo.out_height, "oy")
            ox, valid_x = window_axis(m, geo, x, kx, width, geo.out_width, "ox")
            m.d.comb += [valid.eq(valid_y & valid_x),
                         target.eq(Mux(valid, channel * geo.positions + oy * geo.out_width + ox, 0))]
            last_tap = (ky == k - 1) & (kx == k - 1)
        address = Signal(range(max(n_out, 2)))
        m.d.comb += [address.eq(Mux(walking, walk, target)), rd.addr.eq(address),
                     rd.en.eq(advance)]
        issue_event = holding & ~walking
        issue_walk = walking & ~marker_pending
        with m.If(advance):
            m.d.sync += [stage1.eq(issue_event | issue_walk), stage1_walk.eq(walking),
                         stage1_valid.eq(valid), stage1_value.eq(event_value),
                         stage1_address.eq(address)]
            with m.If(issue_event):
                if layer.kind == "gap":
                    m.d.sync += holding.eq(0)
                else:
                    with m.If(kx == k - 1):
                        m.d.sync += kx.eq(0)
                        with m.If(ky == k - 1):
                            m.d.sync += [ky.eq(0), holding.eq(0)]
                        with m.Else():
                            m.d.sync += ky.eq(ky + 1)
                    with m.Else():
                        m.d.sync += kx.eq(kx + 1)
            with m.If(issue_walk):
                with m.If(walk == n_out - 1):
                    m.d.sync += [walk.eq(0), marker_pending.eq(1)]
                with m.Else():
                    m.d.sync += walk.eq(walk + 1)
        with m.If(marker_now & out.ready):
            m.d.sync += [marker_pending.eq(0), walking.eq(0)]

        # ---- input: take the next event when this one issues its last tap --------------------
        inp = self.events_in
        m.d.comb += inp.ready.eq(~walking & (~holding | (advance & last_tap)))
        with m.If(inp.valid & inp.ready):
            with m.If(inp.payload.last):
                m.d.sync += walking.eq(1)
            with m.Else():
                m.d.sync += [holding.eq(1), event_index.eq(inp.payload.index),
                             event_value.eq(inp.payload.value)]
        return m
