"""A stand-in network with the NetworkTop signature, for board bring-up and tests.

It does no spiking: count ``j`` is the sum of the inputs whose index is ``j`` modulo ``n_out``,
clipped to ``timesteps``. That is enough to check the UART protocol end to end on a board (the
host can predict every byte with :func:`standin_counts`) and to exercise a full build quickly,
without the real network.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..bounds import count_bits
from ..netspec import NetSpec

CYCLE_BITS = 32


def standin_counts(spec: NetSpec, values: Sequence[int]) -> list[int]:
    """The counts :class:`SumNetwork` answers for one image of ``values`` (reference model)."""
    mask = (1 << spec.input.bits) - 1
    sums = [0] * spec.n_out
    for index, value in enumerate(values):
        sums[index % spec.n_out] += int(value) & mask
    return [min(s, spec.timesteps) for s in sums]


class SumNetwork(wiring.Component):
    """Stand-in for ``spikeforge.hdl.network.NetworkTop(spec, lanes)``: same ports, trivial logic.

    Parameters
    ----------
    spec : NetSpec
        Gives the image size, the number of counts, the input and count widths.

    Attributes
    ----------
    input : In(stream.Signature(unsigned(spec.input.bits)))
        The image's values, index 0 first; ready whenever it is not answering.
    output : Out(stream.Signature(unsigned(count_bits(spec))))
        The ``n_out`` counts (see :func:`standin_counts`), neuron 0 first.
    done : Out(1)
        Pulse with the transfer of the last count.
    cycles : Out(32)
        Cycles from the first accepted value to the last transferred count, both included;
        updated the cycle after ``done`` (as NetworkTop does).
    """

    def __init__(self, spec: NetSpec):
        self.spec = spec
        super().__init__({
            "input": In(stream.Signature(unsigned(spec.input.bits))),
            "output": Out(stream.Signature(unsigned(count_bits(spec)))),
            "done": Out(1),
            "cycles": Out(CYCLE_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        n_in, n_out, steps = spec.input.size, spec.n_out, spec.timesteps
        per_sum = -(-n_in // n_out)
        sums = Array(Signal(range(per_sum * ((1 << spec.input.bits) - 1) + 1), name=f"sum{j}")
                     for j in range(n_out))
        received = Signal(range(n_in + 1))
        lane = Signal(range(n_out))  # received modulo n_out
        sent = Signal(range(n_out))
        counter = Signal(CYCLE_BITS)
        running = Signal()

        with m.If(running):
            m.d.sync += counter.eq(counter + 1)

        value = sums[sent]
        with m.FSM() as fsm:
            with m.State("LOAD"):
                with m.If(self.input.valid):
                    m.d.sync += [sums[lane].eq(sums[lane] + self.input.payload),
                                 lane.eq(Mux(lane == n_out - 1, 0, lane + 1)),
                                 received.eq(received + 1)]
                    with m.If(~running):
                        m.d.sync += [running.eq(1), counter.eq(1)]
                    with m.If(received == n_in - 1):
                        m.d.sync += sent.eq(0)
                        m.next = "SEND"
            with m.State("SEND"):
                with m.If(self.output.ready):
                    m.d.sync += sent.eq(sent + 1)
                    with m.If(sent == n_out - 1):
                        m.d.sync += [self.cycles.eq(counter + 1), running.eq(0), received.eq(0),
                                     lane.eq(0)]
                        m.d.sync += [s.eq(0) for s in sums]
                        m.next = "LOAD"
        # Outputs as plain expressions (Verilog continuous assigns; see boards.uart).
        m.d.comb += [
            self.input.ready.eq(fsm.ongoing("LOAD")),
            self.output.valid.eq(fsm.ongoing("SEND")),
            self.output.payload.eq(Mux(value > steps, steps, value)),
            self.done.eq(fsm.ongoing("SEND") & self.output.ready & (sent == n_out - 1)),
        ]
        return m
