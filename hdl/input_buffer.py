"""The encoder: store an image once, replay it as input events every time step.

Encodings (``docs/semantics.md``), bit-exact with ``golden/encoders.py``:

* ``direct``: each nonzero value ``x`` at index ``i`` becomes the event ``(i, x)`` every step;
* ``latency``: each nonzero value fires once, ``(i, 1)`` at step ``((max − x)·(T − 1)) // max``;
* ``hybrid``: step 0 as ``direct``, then each nonzero value fires once at
  ``1 + ((max − x)·(T − 2)) // max``;
* ``rate``: every value is visited every step in index order; a 16-bit Galois LFSR
  (:mod:`spikeforge.lfsr`, restarted from the seed for each image) advances once per visit and the
  value fires ``(i, 1)`` when the LFSR's low ``bits`` bits are below ``x``;
* ``events`` (pre-encoded): the input already holds one frame of event counts per step, so an
  image is ``T`` frames of ``size`` values, frame 0 first (``T·size`` input transfers, the golden
  executor's ``(T, size)`` input in C order). Each nonzero count ``x`` at index ``i`` of frame
  ``t`` is stored once as a word ``(i, x, t)`` and becomes the event ``(i, x)`` (``bits`` wide) at
  step ``t`` only. The words are stored in arrival order, so step by step: step ``t`` sends the
  words whose step field is ``t``, then its marker, and continues at the next word. The store is
  ``T·size`` words deep (every count nonzero, the worst case) and
  ``index_bits(size) + bits + bits(T - 1)`` wide, one write port and one synchronous read port
  like the other encoders' store: yosys maps it to block RAM (iCE40 ``SB_RAM40_4K``, ECP5 DP16KD,
  Gowin BSRAM) when it is large enough for the board's memory inference, else to LUT RAM or
  flip-flops.

Only nonzero values are stored for all but ``rate``, so zero inputs cost no cycles; ``rate`` stores
and visits all values since the LFSR advances for every one of them. The firing steps of
``latency``/``hybrid`` come from a small table indexed by the value (no divider). Each step ends
with an end-of-step event (``last`` set).

``draws_per_cycle`` (``k``, rate only; default 1): with ``k > 1`` the store holds ``k`` values per
word (``ceil(size / k)`` words, value ``i`` in lane ``i mod k`` of word ``i // k``, unused lanes of
the last word 0) and each cycle compares a whole word against the next ``k`` LFSR states, computed
combinationally from the current state (the Galois step is linear over GF(2), so ``k`` steps are a
fixed XOR network). The sequence is the golden one: the LFSR advances by ``k`` per word, and by the
number of real values in the last word. The comparison's result is registered (a
second stage) before the events leave, one per cycle, lowest index first: a word with several
firing values is held for as many cycles; a word with none costs one cycle. So a step takes
``sum over words of max(1, fired)`` cycles plus the marker, instead of ``size + 1`` (plus one
cycle per image to fill the register); loading stays one value per cycle. Other encodings refuse
``k > 1`` (:class:`~spikeforge.errors.SpikeforgeError`): they only store nonzero values and already
skip zeros. With ``k = 1`` the generated hardware is exactly the one-draw encoder (same Verilog).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.errors import SpikeforgeError
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
    """Width of the input events' value: ``bits`` for direct, hybrid and events (the counts), 1 for
    the spike encodings."""
    return spec_input.bits if spec_input.encoding in ("direct", "hybrid", "events") else 1


def values_per_image(spec_input: InputSpec, timesteps: int) -> int:
    """Input stream transfers per image: ``T·size`` for ``events`` (T frames), else ``size``."""
    return timesteps * spec_input.size if spec_input.encoding == "events" else spec_input.size


MAX_DRAWS_PER_CYCLE = 16


def check_draws(spec_input: InputSpec, draws_per_cycle, *, option: str = "draws_per_cycle",
                label: str = "draws per cycle") -> int:
    """Return ``draws_per_cycle`` as an int, or raise naming the limit it breaks.

    Valid: an integer in ``1..min(16, size)``; above 1 only for ``rate`` encoding. ``option``
    and ``label`` name the value in the messages (``--input-draws`` and "input draws" for the
    command line).
    """
    limit = min(MAX_DRAWS_PER_CYCLE, spec_input.size)
    if isinstance(draws_per_cycle, bool) or not isinstance(draws_per_cycle, int):
        raise SpikeforgeError(f"{label} is not an integer", option, f"an integer in 1..{limit}",
                              repr(draws_per_cycle))
    if not 1 <= draws_per_cycle <= limit:
        raise SpikeforgeError(f"{label} out of range", option,
                              f"an integer in 1..{limit} (at most {MAX_DRAWS_PER_CYCLE} and at most "
                              f"the input size {spec_input.size})", str(draws_per_cycle))
    if draws_per_cycle > 1 and spec_input.encoding != "rate":
        raise SpikeforgeError(f"{label} above 1 needs rate encoding", option,
                              f"1 for encoding {spec_input.encoding!r}", str(draws_per_cycle),
                              hint="the other encodings replay only nonzero values, one per cycle")
    return draws_per_cycle


def store_shape(spec_input: InputSpec, draws_per_cycle: int = 1,
                timesteps: int | None = None) -> tuple[int, int]:
    """Depth and width of the image store (depth >= 2).

    One (index, value) word per stored value; with ``draws_per_cycle = k > 1`` (rate),
    ``ceil(size / k)`` words of ``k`` values; for ``events`` (``timesteps`` needed) one
    (index, value, step) word per nonzero count, ``T·size`` words.
    """
    if spec_input.encoding == "events":
        if timesteps is None:
            raise ValueError("store_shape: events encoding needs timesteps")
        step_bits = max(1, (timesteps - 1).bit_length())
        return (max(timesteps * spec_input.size, 2),
                index_bits(spec_input.size) + spec_input.bits + step_bits)
    if draws_per_cycle > 1:
        return max(-(-spec_input.size // draws_per_cycle), 2), draws_per_cycle * spec_input.bits
    return max(spec_input.size, 2), index_bits(spec_input.size) + spec_input.bits


def lfsr_unrolled(steps: int) -> list[list[list[int]]]:
    """The LFSR state after 1..``steps`` Galois steps as GF(2) sums of the current state's bits.

    Entry ``[s][b]`` lists the current bits whose XOR is bit ``b`` after ``s + 1`` steps.
    """
    bits = [{b} for b in range(WIDTH)]
    out = []
    for _ in range(steps):
        low = bits[0]
        bits = bits[1:] + [set()]
        bits = [bit ^ low if TAPS >> b & 1 else bit for b, bit in enumerate(bits)]
        out.append([sorted(bit) for bit in bits])
    return out


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
        The image, index 0 first (``events``: its T frames, frame 0 first, ``T·size`` values).
        Not ready while the previous image is replayed.
    events : stream of events
        The encoded values of each step, then an end-of-step event, T times.
    draws_per_cycle : int
        LFSR draws (values compared) per cycle for rate encoding, ``1..min(16, size)``; must be 1
        for the other encodings (see the module docstring).

    Attributes
    ----------
    event_value_bits : int
        Width of the events' value: ``bits`` for direct, hybrid and events, 1 for the spike
        encodings.

    Raises
    ------
    SpikeforgeError
        ``draws_per_cycle`` out of range, or above 1 for an encoding other than rate.
    """

    def __init__(self, spec_input: InputSpec, timesteps: int, draws_per_cycle: int = 1):
        try:
            self.draws_per_cycle = check_draws(spec_input, draws_per_cycle)
        except SpikeforgeError:
            self._MustUse__silence = True  # a refused buffer is never elaborated: no warning
            raise
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

    check_draws = staticmethod(check_draws)  # for NetworkTop, which imports only the class

    def store_shape(self) -> tuple[int, int]:
        """See :func:`store_shape`."""
        return store_shape(self.spec_input, self.draws_per_cycle, self.timesteps)

    def elaborate(self, platform):
        if self.draws_per_cycle > 1:
            return self._elaborate_parallel_rate()
        if self.encoding == "events":
            return self._elaborate_events()
        m = Module()
        ibits = index_bits(self.size)
        depth, width = self.store_shape()
        store = Memory(shape=unsigned(width), depth=depth, init=[])
        m.submodules.store = store
        wr = store.write_port()
        rd = store.read_port(transparent_for=(wr,))  # the last load and the first replay may meet

        load_index = Signal(range(max(self.size, 2)))  # never zero bits wide
        stored = Signal(range(self.size + 1))
        newest = Signal(range(max(self.size, 2)))  # stored - 1, when anything is stored
        position = Signal(range(self.size + 1))  # stored entry presented now
        at_marker = Signal(init=1)  # position == stored (all entries sent): registered, since
        # the replay's read address and the stream's valid both depend on it
        step = Signal(range(max(self.timesteps, 2)))
        replaying = Signal()
        rate = self.encoding == "rate"
        lfsr = Signal(WIDTH, init=self.spec_input.rate_seed if rate else 1)

        # Load: keep nonzero values only (all of them for rate: the LFSR visits every one).
        m.d.comb += self.input.ready.eq(~replaying)
        # Every value is written at `stored`, which only a kept one (nonzero, or any for rate)
        # advances past: a zero is overwritten by the next kept value or lies beyond the end.
        # The write enable is then the handshake alone, not a test of the value, for the read
        # port's transparency logic, which compares the two ports in the same cycle.
        m.d.comb += [wr.en.eq(self.input.valid & self.input.ready), wr.addr.eq(stored),
                     wr.data.eq(load_index | (self.input.payload << ibits))]
        with m.If(self.input.valid & self.input.ready):
            kept = (self.input.payload != 0) | rate
            with m.If(kept):
                m.d.sync += [stored.eq(stored + 1), newest.eq(stored)]
            # The replay starts at entry 0: a marker at once if nothing was stored.
            m.d.sync += at_marker.eq((stored == 0) & ~kept)
            with m.If(load_index == self.size - 1):
                m.d.sync += [load_index.eq(0), replaying.eq(1)]
            with m.Else():
                m.d.sync += load_index.eq(load_index + 1)
            if rate:
                m.d.sync += lfsr.eq(self.spec_input.rate_seed)

        index, value = rd.data[:ibits], rd.data[ibits:]
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
        # Two registers compared (no adder), and kept: yosys' ABC otherwise folds the handshake
        # into the comparison, as a chain of LUTs on the critical path.
        next_is_marker = Signal(attrs={"keep": 1})
        m.d.comb += next_is_marker.eq(position == newest)
        leave = ~at_marker & (transfer | ~emit)  # sent, or nothing to send for this entry
        m.d.comb += [
            self.events.valid.eq(replaying & (at_marker | emit)),
            self.events.payload.index.eq(Mux(at_marker, 0, index)),
            self.events.payload.value.eq(Mux(at_marker, 0, event_value)),
            self.events.payload.last.eq(at_marker),
            rd.addr.eq(position),
        ]
        with m.If(replaying & at_marker & transfer):
            m.d.comb += rd.addr.eq(0)
            m.d.sync += [position.eq(0), at_marker.eq(stored == 0)]
            with m.If(step == self.timesteps - 1):
                m.d.sync += [step.eq(0), replaying.eq(0), stored.eq(0)]
            with m.Else():
                m.d.sync += step.eq(step + 1)
        with m.Elif(replaying & leave):
            m.d.comb += rd.addr.eq(position + 1)
            m.d.sync += [position.eq(position + 1), at_marker.eq(next_is_marker)]
            if rate:
                m.d.sync += lfsr.eq(lfsr_next)
        return m

    def _elaborate_events(self):
        """Pre-encoded frames: store each nonzero count with its index and step, replay step by step.

        The words arrive (and are stored) in step order, so the replay walks the store once per
        image: at step ``t`` the word at ``position`` is sent while its step field is ``t``; a word
        of a later step, or the end of the stored words, is where step ``t``'s marker goes. After
        the marker the replay continues at the same word with step ``t + 1``.
        """
        m = Module()
        ibits, vbits = index_bits(self.size), self.value_bits
        depth, width = self.store_shape()
        store = Memory(shape=unsigned(width), depth=depth, init=[])
        m.submodules.store = store
        wr = store.write_port()
        rd = store.read_port(transparent_for=(wr,))  # the last load and the first replay may meet

        load_index = Signal(range(max(self.size, 2)))
        load_step = Signal(range(max(self.timesteps, 2)))
        stored = Signal(range(depth + 1))
        position = Signal(range(depth + 1))  # stored word presented now
        step = Signal(range(max(self.timesteps, 2)))
        replaying = Signal()

        m.d.comb += self.input.ready.eq(~replaying)
        with m.If(self.input.valid & self.input.ready):
            with m.If(self.input.payload != 0):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(stored),
                             wr.data.eq(Cat(load_index, self.input.payload, load_step))]
                m.d.sync += stored.eq(stored + 1)
            with m.If(load_index == self.size - 1):
                m.d.sync += load_index.eq(0)
                with m.If(load_step == self.timesteps - 1):
                    m.d.sync += [load_step.eq(0), replaying.eq(1)]
                with m.Else():
                    m.d.sync += load_step.eq(load_step + 1)
            with m.Else():
                m.d.sync += load_index.eq(load_index + 1)

        index = rd.data[:ibits]
        value = rd.data[ibits:ibits + vbits]
        word_step = rd.data[ibits + vbits:]
        is_marker = (position == stored) | (word_step != step)
        transfer = self.events.valid & self.events.ready
        m.d.comb += [
            self.events.valid.eq(replaying),
            self.events.payload.index.eq(Mux(is_marker, 0, index)),
            self.events.payload.value.eq(Mux(is_marker, 0, value)),
            self.events.payload.last.eq(is_marker),
            rd.addr.eq(position),
        ]
        with m.If(replaying & transfer):
            with m.If(is_marker):
                with m.If(step == self.timesteps - 1):
                    m.d.comb += rd.addr.eq(0)
                    m.d.sync += [step.eq(0), replaying.eq(0), stored.eq(0), position.eq(0)]
                with m.Else():
                    m.d.sync += step.eq(step + 1)
            with m.Else():
                m.d.comb += rd.addr.eq(position + 1)
                m.d.sync += position.eq(position + 1)
        return m

    def _elaborate_parallel_rate(self):
        """Rate encoding with ``k = draws_per_cycle > 1`` values compared per cycle.

        Two stages: the fetch stage compares the word on the store's read port with the next k LFSR
        states and, when the output stage is free (or frees this cycle), registers the firing
        lanes; the output stage sends them one per cycle, lowest lane first. The register keeps
        the block RAM's slow clock-to-output and the comparators out of the handshake path.
        """
        m = Module()
        k, n, bits = self.draws_per_cycle, self.size, self.value_bits
        ibits = index_bits(n)
        words = -(-n // k)
        last_lanes = n - (words - 1) * k  # real values in the last word, 1..k
        depth, width = self.store_shape()
        store = Memory(shape=unsigned(width), depth=depth, init=[])
        m.submodules.store = store
        wr = store.write_port()
        rd = store.read_port(transparent_for=(wr,))

        load_index = Signal(range(max(n, 2)))
        load_lane = Signal(range(k))
        load_word = Signal(range(max(words, 2)))
        pack = Signal(width)  # the word being loaded; lanes not yet loaded are 0
        replaying = Signal()  # from the end of the load until the last marker has left
        fetching = Signal()  # from the end of the load until the last marker is fetched
        lfsr = Signal(WIDTH, init=self.spec_input.rate_seed)

        # Load: gather k values, write the word when it is full or the image ends.
        m.d.comb += self.input.ready.eq(~replaying)
        lanes_in = [Mux(load_lane == j, self.input.payload, pack[j * bits:(j + 1) * bits])
                    for j in range(k)]
        with m.If(self.input.valid & self.input.ready):
            end = load_index == n - 1
            with m.If((load_lane == k - 1) | end):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(load_word), wr.data.eq(Cat(*lanes_in))]
                m.d.sync += [pack.eq(0), load_lane.eq(0), load_word.eq(load_word + 1)]
            with m.Else():
                m.d.sync += [pack.eq(Cat(*lanes_in)), load_lane.eq(load_lane + 1)]
            with m.If(end):
                m.d.sync += [load_index.eq(0), load_word.eq(0), replaying.eq(1), fetching.eq(1)]
            with m.Else():
                m.d.sync += load_index.eq(load_index + 1)
            m.d.sync += lfsr.eq(self.spec_input.rate_seed)

        # Fetch stage: the read port holds word `word` (== words: the end-of-step marker).
        word = Signal(range(words + 1))
        base = Signal(range(n + k))  # index of its lane 0
        step = Signal(range(max(self.timesteps, 2)))
        states = []  # the next k LFSR states, each bit a fixed XOR of the current state's bits
        for s, sources in enumerate(lfsr_unrolled(k)):
            state = Signal(WIDTH, name=f"lfsr_{s + 1}")
            m.d.comb += state.eq(Cat(*[_xor(lfsr, src) for src in sources]))
            states.append(state)
        fire = Signal(k)
        m.d.comb += fire.eq(Cat(*[states[j][:bits] < rd.data[j * bits:(j + 1) * bits]
                                  for j in range(k)]))

        # Output stage: the lanes of one word still to send (or a marker), one event per cycle.
        out_valid = Signal()
        out_marker = Signal()
        out_lanes = Signal(k)
        out_base = Signal(range(n + k))
        lowest = Signal(range(k))
        for j in reversed(range(k)):
            with m.If(out_lanes[j]):
                m.d.comb += lowest.eq(j)
        rest = Signal(k)  # lanes left after the lowest one is sent
        m.d.comb += rest.eq(out_lanes & (out_lanes - 1))
        transfer = self.events.valid & self.events.ready
        out_done = out_valid & Mux(out_marker, transfer,
                                   ~out_lanes.any() | (transfer & ~rest.any()))
        m.d.comb += [
            self.events.valid.eq(out_valid & (out_marker | out_lanes.any())),
            self.events.payload.index.eq(Mux(out_marker, 0, (out_base + lowest)[:ibits])),
            self.events.payload.value.eq(~out_marker),
            self.events.payload.last.eq(out_marker),
        ]
        with m.If(out_valid & ~out_marker & transfer):
            m.d.sync += out_lanes.eq(rest)
        with m.If(out_done):
            m.d.sync += out_valid.eq(0)
        with m.If(out_marker & transfer & ~fetching):  # the last marker of the image
            m.d.sync += replaying.eq(0)

        take = fetching & (~out_valid | out_done)
        m.d.comb += rd.addr.eq(word)
        with m.If(take):
            m.d.sync += [out_valid.eq(1), out_marker.eq(word == words), out_lanes.eq(fire),
                         out_base.eq(base)]
            with m.If(word == words):
                m.d.comb += rd.addr.eq(0)
                m.d.sync += [word.eq(0), base.eq(0)]
                with m.If(step == self.timesteps - 1):
                    m.d.sync += [step.eq(0), fetching.eq(0)]
                with m.Else():
                    m.d.sync += step.eq(step + 1)
            with m.Else():
                m.d.comb += rd.addr.eq(word + 1)
                m.d.sync += [word.eq(word + 1), base.eq(base + k)]
                if last_lanes == k:
                    m.d.sync += lfsr.eq(states[k - 1])
                else:
                    m.d.sync += lfsr.eq(Mux(word == words - 1, states[last_lanes - 1],
                                            states[k - 1]))
        return m


def _xor(value, sources):
    """XOR of the bits ``sources`` of ``value`` (0 when empty)."""
    if not sources:
        return Const(0, 1)
    result = value[sources[0]]
    for source in sources[1:]:
        result = result ^ value[source]
    return result
