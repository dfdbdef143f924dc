"""Board top: a UART bridge around a network component, for amaranth-boards platforms.

Protocol (8N1, ``baud`` default 115200, host first)
----------------------------------------------------

1. The host sends one image: ``spec.input.size`` bytes, one byte per input value, index 0
   first. Only the low ``spec.input.bits`` bits of each byte are used (values must be below
   ``2 ** spec.input.bits``; the hardware does not check ``spec.input.max_value``).
2. The board answers with ``spec.n_out`` readout values, neuron 0 first, then 4 bytes: the
   latency of that image in clock cycles (the network's ``cycles``), little-endian. A spike count
   is one byte (it is at most ``spec.timesteps`` <= 255). A membrane (``readout = "membrane"``) is
   ``ceil(state_bits / 8)`` bytes (:func:`value_bytes`), little-endian two's complement, sign-
   extended from the last layer's ``state_bits`` by the board.
3. The host waits for the whole answer (:func:`answer_length` bytes: ``n_out`` values and the
   latency word) before it sends the next image.

There is no framing byte and no checksum: the host resynchronizes by resetting the board (or
by sending nothing for a while and counting bytes again). Bytes that the network does not take
within one UART character time are dropped (the receiver holds a single byte while the next one
arrives); the network accepts a whole image while it is idle, so rule 3 keeps this from happening.

The network is any :class:`amaranth.lib.wiring.Component` with this signature (that of
``spikeforge.hdl.network.NetworkTop``):

- ``input``: ``In(stream.Signature(unsigned(spec.input.bits)))``, the image's values;
- ``output``: ``Out(stream.Signature(unsigned(count_bits(spec))))``, the counts, or for the
  membrane readout ``Out(stream.Signature(signed(state_bits)))``, the membranes;
- ``done``: ``Out(1)``, a one-cycle pulse with or after the last count of an image;
- ``cycles``: ``Out(n)``, ``n <= 32``, the latency of the latest image, valid from the cycle
  after ``done`` until the next image starts.

LEDs (where the board has them): LED 0 is lit from the first byte of an image until the last
byte of its answer has been sent; LED 1 toggles at every ``done``.
"""

from __future__ import annotations

from amaranth.build import ResourceError
from amaranth.hdl import Const, Elaboratable, Module, Mux, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from ..bounds import count_bits, readout_bits
from ..errors import BuildError
from ..netspec import NetSpec
from .uart import UARTReceiver, UARTTransmitter, divisor_for

#: Bytes of the latency word sent after the counts.
CYCLES_BYTES = 4

#: Default UART speed of the board bridge.
DEFAULT_BAUD = 115200


def _member(network, name: str, flow, where: str):
    members = network.signature.members
    if name not in members:
        raise BuildError("network component lacks a port", f"{where}.{name}",
                         f"a member '{name}' ({flow.name}put)", f"members {sorted(members)}")
    member = members[name]
    if member.flow != flow:
        raise BuildError("network port has the wrong direction", f"{where}.{name}",
                         f"{flow.name}", f"{member.flow.name}")
    return getattr(network, name)


def value_bytes(spec: NetSpec) -> int:
    """Bytes per readout value in the answer: 1 for a spike count, ``ceil(state_bits / 8)`` of
    the last layer for a membrane."""
    return 1 if spec.readout != "membrane" else -(-readout_bits(spec) // 8)


def check_network(network, spec: NetSpec) -> None:
    """Check that ``network`` has the stream signature the bridge drives, for ``spec``.

    Raises
    ------
    BuildError
        Naming the port or NetSpec field that does not fit a byte-wide UART bridge: input values
        wider than 8 bits, counts wider than 8 bits, a missing or mistyped port.
    """
    where = f"network {type(network).__name__}"
    if spec.input.bits > 8:
        raise BuildError("input values do not fit one UART byte", "netspec:input.bits",
                         "at most 8 bits (one byte per input value)", f"{spec.input.bits} bits",
                         hint="quantize the input to 8 bits or fewer")
    if spec.readout != "membrane" and count_bits(spec) > 8:
        raise BuildError("spike counts do not fit one UART byte", "netspec:timesteps",
                         "at most 255 time steps", str(spec.timesteps))
    if not isinstance(network, wiring.Component):
        raise BuildError("network is not an Amaranth component", where,
                         "an amaranth.lib.wiring.Component", type(network).__name__)
    inp = _member(network, "input", In, where)
    out = _member(network, "output", Out, where)
    done = _member(network, "done", Out, where)
    cycles = _member(network, "cycles", Out, where)
    for name, port in (("input", inp), ("output", out)):
        if not all(hasattr(port, attr) for attr in ("payload", "valid", "ready")):
            raise BuildError("network port is not a stream", f"{where}.{name}",
                             "payload, valid and ready", f"{port!r}")
    if inp.payload.shape().width != spec.input.bits:
        raise BuildError("network input width differs from the NetSpec", f"{where}.input.payload",
                         f"{spec.input.bits} bits (netspec:input.bits)",
                         f"{inp.payload.shape().width} bits")
    if spec.readout == "membrane":
        if out.payload.shape().width != readout_bits(spec):
            raise BuildError("network output width differs from the NetSpec",
                             f"{where}.output.payload",
                             f"{readout_bits(spec)} bits (the last layer's state_bits: membrane "
                             "readout)", f"{out.payload.shape().width} bits")
    elif out.payload.shape().width > 8:
        raise BuildError("network counts do not fit one UART byte", f"{where}.output.payload",
                         "at most 8 bits", f"{out.payload.shape().width} bits")
    if len(done) != 1:
        raise BuildError("network done is not one bit", f"{where}.done", "1 bit", f"{len(done)} bits")
    if not 1 <= len(cycles) <= 8 * CYCLES_BYTES:
        raise BuildError("network cycle counter does not fit the answer", f"{where}.cycles",
                         f"1 to {8 * CYCLES_BYTES} bits", f"{len(cycles)} bits")


class UARTBridge(wiring.Component):
    """The protocol of this module between a serial line and a network, board-independent.

    Parameters
    ----------
    network : wiring.Component
        The network (see the module docstring for its signature); it becomes a submodule.
    spec : NetSpec
        Its NetSpec: image size, number of counts, widths.
    divisor : int
        Clock cycles per UART bit (see :func:`spikeforge.boards.uart.divisor_for`).

    Attributes
    ----------
    rx : In(1)
        Serial line from the host.
    tx : Out(1)
        Serial line to the host.
    busy : Out(1)
        High from the first byte of an image to the end of its answer's last frame.
    done : Out(1)
        The network's ``done`` pulse.
    rx_error : Out(1)
        Pulse on a UART framing error or overrun (a byte was lost).

    Raises
    ------
    BuildError
        From :func:`check_network`.
    """

    def __init__(self, network, spec: NetSpec, divisor: int):
        check_network(network, spec)
        self.network = network
        self.spec = spec
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "busy": Out(1),
            "done": Out(1),
            "rx_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        net = self.network
        n_out = self.spec.n_out
        m.submodules.network = net
        m.submodules.uart_rx = rx = UARTReceiver(self.divisor)
        m.submodules.uart_tx = tx = UARTTransmitter(self.divisor)

        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx), self.done.eq(net.done),
                     self.rx_error.eq(rx.error | rx.overrun)]

        # Input: one byte per value, low bits only, through a register: the network's input
        # handshake (its ready) and the receiver's then meet in no common path (the receiver
        # sits by its pin, the network anywhere). A byte per two cycles at most: far above any
        # baud rate.
        held = Signal()
        held_value = Signal(self.spec.input.bits)
        m.d.comb += [net.input.payload.eq(held_value), net.input.valid.eq(held),
                     rx.stream.ready.eq(~held)]
        with m.If(net.input.valid & net.input.ready):
            m.d.sync += held.eq(0)
        with m.If(rx.stream.valid & rx.stream.ready):
            m.d.sync += [held.eq(1), held_value.eq(rx.stream.payload[:self.spec.input.bits])]

        # Output: the n_out values, then the latency word. Counting the values (rather than
        # trusting when done comes) keeps the order right whether done comes with the last
        # value or later. A value of several bytes (a membrane) is taken into ``word``,
        # sign-extended, and sent from there, low byte first.
        sent_counts = Signal(range(n_out + 1))
        nbytes = value_bytes(self.spec)
        done_seen = Signal()
        latency = Signal(8 * CYCLES_BYTES)
        byte_index = Signal(range(CYCLES_BYTES))
        sending_latency = Signal()
        answering = Signal()

        # The transmitter's inputs are plain expressions, not assignments inside branches: those
        # become Verilog always @* blocks that Icarus may leave at X at time 0 (a duplicated byte).
        counts_open = sent_counts != n_out
        if nbytes == 1:
            m.d.comb += [
                tx.stream.payload.eq(Mux(sending_latency, latency.word_select(byte_index, 8),
                                         net.output.payload)),
                tx.stream.valid.eq(Mux(sending_latency, 1, net.output.valid & counts_open)),
                net.output.ready.eq(~sending_latency & tx.stream.ready & counts_open),
            ]
            value_pending = Const(0, 1)
        else:
            word = Signal(8 * nbytes)
            word_byte = Signal(range(nbytes))
            holding = Signal()  # word holds a value whose bytes are not all sent
            value_pending = holding
            m.d.comb += [
                tx.stream.payload.eq(Mux(sending_latency, latency.word_select(byte_index, 8),
                                         word.word_select(word_byte, 8))),
                tx.stream.valid.eq(Mux(sending_latency, 1, holding)),
                net.output.ready.eq(~sending_latency & ~holding & counts_open),
            ]
            with m.If(net.output.valid & net.output.ready):
                m.d.sync += [word.eq(net.output.payload.as_signed()), word_byte.eq(0),
                             holding.eq(1)]
            with m.If(holding & tx.stream.ready):
                m.d.sync += word_byte.eq(word_byte + 1)
                with m.If(word_byte == nbytes - 1):
                    m.d.sync += holding.eq(0)
        with m.If(~sending_latency):
            with m.If(net.output.valid & net.output.ready):
                m.d.sync += sent_counts.eq(sent_counts + 1)
            with m.If(done_seen & ~counts_open & ~value_pending):
                # At least one cycle after done: the network's cycles is up to date.
                m.d.sync += [latency.eq(net.cycles), byte_index.eq(0), sent_counts.eq(0),
                             done_seen.eq(0), sending_latency.eq(1)]
        with m.Elif(tx.stream.ready):
            m.d.sync += byte_index.eq(byte_index + 1)
            with m.If(byte_index == CYCLES_BYTES - 1):
                m.d.sync += [answering.eq(0), sending_latency.eq(0)]
        # After the clear above, so a done is never lost.
        with m.If(net.done):
            m.d.sync += done_seen.eq(1)
        with m.If(rx.stream.valid & rx.stream.ready):
            m.d.sync += answering.eq(1)
        m.d.comb += self.busy.eq(answering | tx.busy)
        return m


class BoardTop(Elaboratable):
    """Top level for an amaranth-boards platform: UART pins, LEDs, default clock.

    Parameters
    ----------
    network : wiring.Component
        The network (see the module docstring for the signature it must have).
    spec : NetSpec
        Its NetSpec.
    baud : int
        UART speed; the divisor comes from the platform's default clock (12 MHz on iCEBreaker:
        104 cycles per bit at 115200 baud).

    Raises
    ------
    BuildError
        If the network does not fit the bridge (:func:`check_network`), or, at elaboration, the
        platform has no ``uart`` resource or its clock cannot make ``baud``.
    """

    def __init__(self, network, spec: NetSpec, baud: int = DEFAULT_BAUD):
        check_network(network, spec)
        if not isinstance(baud, int) or baud <= 0:
            raise BuildError("UART baud rate is not a positive integer", "BoardTop(baud=...)",
                             "e.g. 115200", repr(baud))
        self.network = network
        self.spec = spec
        self.baud = baud
        self.divisor = None  # known once elaborated on a platform

    def elaborate(self, platform):
        if platform is None:
            raise BuildError("BoardTop needs a board platform", "BoardTop.elaborate",
                             "an amaranth-boards platform", "None",
                             hint="simulate UARTBridge instead")
        board = type(platform).__name__
        try:
            self.divisor = divisor_for(platform.default_clk_frequency, self.baud)
        except ValueError as exc:
            raise BuildError("UART baud rate not reachable", f"{board} default clock",
                             "a clock within 2 % of a multiple of the baud rate", str(exc)) from None
        try:
            uart = platform.request("uart", 0, dir="-")
        except ResourceError as exc:
            raise BuildError("board has no UART resource", board, "a resource 'uart' 0",
                             str(exc)) from None

        m = Module()
        m.submodules.bridge = bridge = UARTBridge(self.network, self.spec, self.divisor)
        m.submodules.rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.d.comb += [bridge.rx.eq(rx_buffer.i), tx_buffer.o.eq(bridge.tx)]

        toggle = Signal()
        with m.If(bridge.done):
            m.d.sync += toggle.eq(~toggle)
        for index, value in enumerate((bridge.busy, toggle)):
            try:
                led = platform.request("led", index, dir="-")
            except ResourceError:  # fewer LEDs: show what we can
                break
            m.submodules[f"led_{index}_buffer"] = buffer = io.Buffer("o", led)
            m.d.comb += buffer.o.eq(value)
        return m


# ---- host side of the protocol ----------------------------------------------------------------

def image_bytes(spec: NetSpec, values) -> bytes:
    """The bytes a host sends for one image (one byte per value, index 0 first).

    Raises
    ------
    BuildError
        If the image has the wrong length or a value does not fit ``spec.input.bits``.
    """
    values = [int(v) for v in values]
    if len(values) != spec.input.size:
        raise BuildError("image has the wrong number of values", "host image",
                         f"{spec.input.size} values (netspec:input.size)", f"{len(values)} values")
    limit = (1 << min(spec.input.bits, 8)) - 1
    for index, value in enumerate(values):
        if not 0 <= value <= limit:
            raise BuildError("input value does not fit its width", f"host image[{index}]",
                             f"an integer in [0, {limit}]", str(value))
    return bytes(values)


def answer_length(spec: NetSpec) -> int:
    """Bytes of the board's answer to one image: the readout values, then the latency word."""
    return spec.n_out * value_bytes(spec) + CYCLES_BYTES


def parse_answer(spec: NetSpec, data: bytes) -> tuple[list[int], int]:
    """Split the board's answer into ``(values, cycles)``: spike counts, or signed membranes.

    Raises
    ------
    BuildError
        If ``data`` is not exactly :func:`answer_length` bytes.
    """
    data = bytes(data)
    if len(data) != answer_length(spec):
        raise BuildError("board answer has the wrong length", "host answer",
                         f"{answer_length(spec)} bytes ({spec.n_out} {values_label(spec)} + "
                         f"{CYCLES_BYTES})", f"{len(data)} bytes")
    size = value_bytes(spec)
    signed = spec.readout == "membrane"
    values = [int.from_bytes(data[i * size:(i + 1) * size], "little", signed=signed)
              for i in range(spec.n_out)]
    return values, int.from_bytes(data[spec.n_out * size:], "little")


def values_label(spec: NetSpec) -> str:
    """What the answer's values are, for messages."""
    if spec.readout == "membrane":
        return f"membranes of {value_bytes(spec)} bytes"
    return "counts"
