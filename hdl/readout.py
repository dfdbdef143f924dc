"""Readout: count the last layer's spikes per neuron over T steps, then stream the counts out."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .events import event_stream
from .select import select


class SpikeCountReadout(wiring.Component):
    """Sums spike values per neuron; after ``timesteps`` end-of-step events sends the counts.

    Parameters
    ----------
    n_out : int
        Neurons of the last layer.
    count_bits : int
        Width of a count (holds 0..T).
    timesteps : int
        T.
    value_bits : int
        Width of a spike's value (graded MT-LIF spikes add their value).

    Attributes
    ----------
    events : stream of spike events (input)
    counts : stream of ``unsigned(count_bits)``, neuron 0 first (output)
    last_count : Signal, out
        High in the cycle the last count of an image is transferred.
    """

    def __init__(self, n_out: int, count_bits: int, timesteps: int, value_bits: int = 1):
        self.n_out = n_out
        self.count_bits = count_bits
        self.timesteps = timesteps
        super().__init__({
            "events": In(event_stream(n_out, value_bits)),
            "counts": Out(stream.Signature(unsigned(count_bits))),
            "last_count": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        counters = [Signal(self.count_bits, name=f"count_{i}") for i in range(self.n_out)]
        step = Signal(range(max(self.timesteps, 2)))
        sending = Signal()
        position = Signal(range(max(self.n_out, 2)))

        # The event is registered before it is counted: the last engine's emitter (its priority
        # encoder and index adder) then ends in these registers, not in the counters' adders.
        # ``ready`` is a register too (the last engine's stall path starts there): ``busy`` from
        # the image's last end-of-step event until its counts are sent.
        busy = Signal()
        taken = Signal()
        taken_index = Signal.like(self.events.payload.index)
        taken_value = Signal.like(self.events.payload.value)
        taken_last = Signal()
        m.d.comb += self.events.ready.eq(~busy)
        accept = self.events.valid & self.events.ready
        m.d.sync += taken.eq(accept)
        with m.If(accept):
            m.d.sync += [taken_index.eq(self.events.payload.index),
                         taken_value.eq(self.events.payload.value),
                         taken_last.eq(self.events.payload.last)]
            with m.If(self.events.payload.last):
                with m.If(step == self.timesteps - 1):
                    m.d.sync += [step.eq(0), busy.eq(1)]
                with m.Else():
                    m.d.sync += step.eq(step + 1)
        with m.If(taken):
            with m.If(taken_last):
                with m.If(busy):  # the only end-of-step event taken while busy: the image's last
                    m.d.sync += [sending.eq(1), position.eq(0)]
            with m.Else():
                # Explicit comparisons: an Array index would leave Verilog cases uncovered.
                for neuron, counter in enumerate(counters):
                    with m.If(taken_index == neuron):
                        m.d.sync += counter.eq(counter + taken_value)

        m.d.comb += [self.counts.valid.eq(sending),
                     self.counts.payload.eq(select(position, counters))]
        with m.If(self.counts.valid & self.counts.ready):
            with m.If(position == self.n_out - 1):
                m.d.comb += self.last_count.eq(1)
                m.d.sync += [sending.eq(0), busy.eq(0)]
                m.d.sync += [counter.eq(0) for counter in counters]
            with m.Else():
                m.d.sync += position.eq(position + 1)
        return m
