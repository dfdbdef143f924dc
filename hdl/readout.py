"""Readouts: count the last layer's spikes per neuron over T steps (:class:`SpikeCountReadout`), or
capture its non-spiking neurons' membranes at the last step (:class:`MembraneReadout`); then
stream the values out, neuron 0 first."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .cost import groups
from .events import event_stream
from .layer_engine import membrane_port
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


class MembraneReadout(wiring.Component):
    """Captures a non-spiking last layer's membranes at step ``T - 1``, then sends them.

    The engine's ``membranes`` view carries, in each update cycle, one group of ``lanes``
    membranes after the update (``first`` is the group's lane-0 neuron). The readout counts the
    end-of-step events of the engine's event stream (a non-spiking engine sends nothing else) to
    know the step, keeps the groups updated while the step is ``T - 1``, and on that step's
    end-of-step event streams the ``n_out`` membranes, neuron 0 first, with ``last_value`` on the
    last one (the count readout's ``last_count``). While it sends, the end-of-step events of the
    next image wait. With ``T >= 2`` nothing of the next image reaches step ``T - 1`` meanwhile;
    with ``T == 1`` every step is the last, so the captured values are first copied into a second
    bank of registers that the stream reads (``n_out · state_bits`` more flip-flops).

    Parameters
    ----------
    n_out : int
        Neurons of the last layer.
    state_bits : int
        Signed width of a membrane.
    timesteps : int
        T.
    lanes : int
        Lanes of the last engine (membranes per update cycle).
    value_bits : int
        Width of the engine's event values (its events carry none but end-of-step markers).

    Attributes
    ----------
    events : stream of the engine's events (input)
    membranes : the engine's membranes view (input; see :func:`membrane_port`)
    values : stream of ``signed(state_bits)``, neuron 0 first (output)
    last_value : Signal, out
        High in the cycle the last membrane of an image is transferred.
    """

    def __init__(self, n_out: int, state_bits: int, timesteps: int, lanes: int,
                 value_bits: int = 1):
        self.n_out = n_out
        self.state_bits = state_bits
        self.timesteps = timesteps
        self.lanes = lanes
        self.double_buffered = timesteps == 1
        super().__init__({
            "events": In(event_stream(n_out, value_bits)),
            "membranes": In(membrane_port(n_out, lanes, state_bits)),
            "values": Out(stream.Signature(signed(state_bits))),
            "last_value": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bits, lanes = self.state_bits, self.lanes
        captured = [Signal(signed(bits), name=f"membrane_{i}") for i in range(self.n_out)]
        held = ([Signal(signed(bits), name=f"held_{i}") for i in range(self.n_out)]
                if self.double_buffered else captured)
        step = Signal(range(max(self.timesteps, 2)))
        sending = Signal()
        position = Signal(range(max(self.n_out, 2)))
        at_last_step = step == self.timesteps - 1

        view = self.membranes
        with m.If(view.valid & at_last_step):
            # Explicit comparisons per group: an Array index would leave Verilog cases uncovered.
            for group in range(groups(self.n_out, lanes)):
                with m.If(view.first == group * lanes):
                    for lane in range(lanes):
                        neuron = group * lanes + lane
                        if neuron < self.n_out:  # the last group's spare lanes hold no neuron
                            m.d.sync += captured[neuron].eq(
                                view.values[lane * bits:(lane + 1) * bits].as_signed())

        m.d.comb += self.events.ready.eq(~sending)
        with m.If(self.events.valid & self.events.ready & self.events.payload.last):
            with m.If(at_last_step):
                m.d.sync += [step.eq(0), sending.eq(1), position.eq(0)]
                if self.double_buffered:
                    m.d.sync += [h.eq(c) for h, c in zip(held, captured)]
            with m.Else():
                m.d.sync += step.eq(step + 1)

        m.d.comb += [self.values.valid.eq(sending),
                     self.values.payload.eq(select(position, held))]
        with m.If(self.values.valid & self.values.ready):
            with m.If(position == self.n_out - 1):
                m.d.comb += self.last_value.eq(1)
                m.d.sync += sending.eq(0)
            with m.Else():
                m.d.sync += position.eq(position + 1)
        return m
