"""A small 8N1 UART: a receiver and a transmitter with :mod:`amaranth.lib.stream` interfaces.

Both run in the ``sync`` domain and time bits with a counter of ``divisor`` cycles per bit, where
``divisor = round(clock_hz / baud)`` (see :func:`divisor_for`): 104 for 115200 baud at 12 MHz.
A frame is one start bit (0), eight data bits least significant first, one stop bit (1); the line
idles high.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

#: Smallest divisor the receiver supports: it samples at the middle of a bit, ``divisor // 2``
#: cycles after the start edge, and needs the synchronizer's 2 cycles of delay to fit in it.
MIN_DIVISOR = 4

#: Largest relative baud error between the two ends that 8N1 framing tolerates comfortably.
MAX_BAUD_ERROR = 0.02


def divisor_for(clock_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clock_hz``.

    Raises
    ------
    ValueError
        If the rounded divisor is below :data:`MIN_DIVISOR` or misses the baud rate by more than
        :data:`MAX_BAUD_ERROR` (2 %), beyond which the far end misreads the last bits of a frame.
    """
    if baud <= 0 or clock_hz <= 0:
        raise ValueError(f"clock and baud must be positive, got clock {clock_hz} Hz, baud {baud}")
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock: "
                         f"{clock_hz / baud:.2f} cycles per bit, at least {MIN_DIVISOR} needed")
    error = abs(clock_hz / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"baud {baud} at {clock_hz / 1e6:g} MHz: divisor {divisor} gives "
                         f"{clock_hz / divisor:.0f} baud, {error:.1%} off (at most "
                         f"{MAX_BAUD_ERROR:.0%} allowed)")
    return divisor


def _check_divisor(divisor: int) -> int:
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor must be an integer >= {MIN_DIVISOR} (clock cycles per bit), "
                         f"got {divisor!r}")
    return divisor


class UARTReceiver(wiring.Component):
    """8N1 receiver: each good frame becomes one byte on ``stream``.

    The byte waits in an output register until taken; it has one whole frame time
    (``10 * divisor`` cycles) to leave before the next byte is complete, else that next byte is
    dropped and ``overrun`` pulses. A frame whose stop bit is 0 is dropped with an ``error``
    pulse, and the receiver waits for the line to return high (a break) before it looks for the
    next start bit.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (``>= 4``).

    Attributes
    ----------
    rx : In(1)
        The serial line (asynchronous; synchronized inside). Idles high.
    stream : Out(stream.Signature(8))
        Received bytes.
    error : Out(1)
        One-cycle pulse: framing error (stop bit was 0).
    overrun : Out(1)
        One-cycle pulse: a byte was dropped because the previous one was not taken.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "stream": Out(stream.Signature(8)),
            "error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor

        line = Signal(init=1)
        # init=1: the line idles high, so leaving reset must not look like a start bit.
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)

        # Counts down past 0 to -1: the sign bit says the wait is over, one gate instead of a
        # comparison of every bit (on the path to the received byte's register).
        timer = Signal(range(-1, divisor))
        expired = timer[-1]
        bit = Signal(range(8))
        shift = Signal(8)

        with m.If(self.stream.valid & self.stream.ready):
            m.d.sync += self.stream.valid.eq(0)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(~line):
                    # Sample in the middle of each bit: half a bit from the start edge, less
                    # the ~3 cycles the synchronizer and this state took to see it.
                    m.d.sync += timer.eq(max(divisor // 2 - 3, 0) - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(~expired):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(divisor - 2), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(~expired):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), timer.eq(divisor - 2),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(~expired):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    with m.If(~(self.stream.valid & ~self.stream.ready)):
                        m.d.sync += [self.stream.payload.eq(shift), self.stream.valid.eq(1)]
                    # Back to IDLE at mid stop bit, so the next start edge is seen in time.
                    m.next = "IDLE"
                with m.Else():
                    m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        # Outputs as plain expressions (continuous assigns in Verilog): a comb output assigned
        # inside an FSM branch becomes an always @* block that Icarus may leave at X until an
        # input changes.
        stop_sample = fsm.ongoing("STOP") & expired
        m.d.comb += [self.error.eq(stop_sample & ~line),
                     self.overrun.eq(stop_sample & line & self.stream.valid & ~self.stream.ready)]
        return m


class UARTTransmitter(wiring.Component):
    """8N1 transmitter: sends each byte taken from ``stream`` as one frame.

    ``stream.ready`` is high while the transmitter is idle; a byte is taken in one cycle and
    its frame lasts ``10 * divisor`` cycles. ``tx`` comes straight from a register (no glitches
    on the pin).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (``>= 4``).

    Attributes
    ----------
    stream : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial line. Idles high.
    busy : Out(1)
        High while a frame is being sent.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "stream": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor

        # Frame bits still to send, LSB first; shifting in ones leaves the line idle high.
        frame = Signal(10, init=(1 << 10) - 1)
        remaining = Signal(range(11))
        timer = Signal(range(divisor))

        # ready is a plain expression (see UARTReceiver: no comb outputs inside branches).
        m.d.comb += [self.tx.eq(frame[0]), self.busy.eq(remaining != 0),
                     self.stream.ready.eq(remaining == 0)]
        with m.If(remaining == 0):
            with m.If(self.stream.valid):
                m.d.sync += [frame.eq(Cat(Const(0, 1), self.stream.payload, Const(1, 1))),
                             remaining.eq(10), timer.eq(divisor - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [frame.eq(Cat(frame[1:], Const(1, 1))), remaining.eq(remaining - 1),
                         timer.eq(divisor - 1)]
        return m
