"""Event-driven engine of one linear layer of neurons (IF, and the LIF, MT-LIF, bistable, adaptive variants).

Per time step the engine runs two phases over its ``G = ceil(N / P)`` groups of ``P`` lanes:

* accumulate: for every input event ``(index, value)``, one group per cycle adds the weight row
  ``W[group, index]`` times ``value`` into the ``P`` lanes of the group (``events * G`` cycles;
  binary weights are one bit, 1 for ``+scale`` and 0 for ``-scale``);
* update (on the end-of-step event): one group per cycle computes ``V + bias``, clamps it where
  :func:`spikeforge.bounds.analyse` says the layer can saturate, fires where ``V >= threshold``,
  resets (subtract or zero), and hands the spike mask to an emitter that sends one output event per
  spike, lowest neuron first (``G`` cycles, plus one per extra spike in a group); then it forwards
  the end-of-step event. :mod:`spikeforge.hdl.cost` models the cycles.

The accumulator and the membrane share one memory, ``sum_bits`` wide: between steps a word holds
``V``, during a step ``V`` plus the running accumulate, which the bounds prove never leaves that
width. Since nothing wraps, adding the bias and clamping at the update gives the golden
``clamp(V + (W·x + b))`` exactly, with one memory fewer and no pass to clear accumulators.

Adaptive (ASNN) neurons scale ``V`` and ``I`` separately, ``(λ_t·V) >> F + (γ_t·I) >> F``, so
their lane word keeps the two apart: the low ``acc_bits`` hold the running accumulate ``W·x``
(cleared by the update), the high ``state_bits`` hold ``V``. λ_t and γ_t come from a ROM of T
words addressed by the engine's own step counter (the one that clears the membranes after the
last step); its one-cycle read latency is hidden because an update starts at least two cycles
after that counter advances. The cycle cost is the same as for the other kinds.

Pipeline. The engine issues one group per cycle through four stages:

* stage 0 addresses the weight, bias and membrane words (synchronous read ports);
* stage 1 registers the words as read, with nothing between a block RAM's output and its
  register but, for the membrane word, the forwarding multiplexer below; it also registers
  ``bias − θ`` per lane and the ``± scale × value`` of binary weights;
* stage 2 computes from registers. One adder per lane serves both phases (``V + W·x``, or
  ``V + bias`` at the update); beside it (not after it) a second one gives ``V + (bias − θ)``,
  whose sign is the fire test and whose value the subtractive reset keeps. An accumulate writes
  its word into a register for stage 3; an update registers its sums, with a flag of whether
  ``V + bias`` fits ``state_bits`` (its top bits all equal) where the layer can saturate;
* stage 3 writes an accumulate's registered word back, or finishes an update from its
  registers: the clamp (the flag turns both sums into constants), fire, reset, the leak of the
  next step; it writes the word back and hands the spike mask to the emitter, whose flags
  (``mask != 0``, at most one spike) are a few gates from registers, not from the adders. An
  update's adders and its clamp-fire-reset logic are thus in different cycles (each is one long
  path on a slow device such as the iCE40), at the cost of these registers; likewise an
  accumulate's adder and the memory's write port. Every write comes from stage 3's registers,
  so the write port has one address and no arbitration: stage 3 holds one issue, an accumulate
  or an update.

An accumulated word is read three cycles before it is written, so an issue can meet a word still
in flight: the membrane read port is transparent to its write port (a read in the cycle of the
write to its word returns the new value), and stage 1 takes the newer word instead of the one it
read (forwarding): the sum stage 2 computes now (the issue one cycle before), else the word stage
3 writes now (two cycles before). Only an accumulate is ever forwarded: an update is followed by
no issue to its word before the end-of-step marker has gone, which waits for the update to leave
stage 3. Each forward is built only where issues that far apart can address one word: a word is
issued again at the earliest ``G`` cycles later (the groups go round in order), except in the
residual engine, whose consecutive events may add into one word. Spikes in stage
3 that the emitter cannot take yet hold every stage (all updates then: the accumulate of the next
step starts after the end-of-step marker, which waits for stage 3 and the emitter to be empty).
After the last step of an image the membranes are cleared for the next image.

Paired events (``paired``, ``--pair-events``): a pass over the groups adds two events. The weight
memory has a second read port for the second event's row, and per lane the binary weights
select ``+2·scale`` (both +1), ``−2·scale`` (both −1) or 0 (they differ); a pass with one
event reads its row on both ports, and the scale is then single. The next event waits in a staging
register while a pass runs; the pass that follows takes it and the event offered in the cycle the
previous pass issues its last group. Accumulates never leave ``sum_bits``, so adding two at once
gives the golden result. Only for binary weights, spike inputs and ``G >= 2``
(:func:`check_pairing`); :mod:`spikeforge.hdl.cost` charges ``G / 2`` per event at best.

For debugging, the ``membranes`` output shows, in every update cycle, the membranes of the group
just updated in stage 3 (after firing and reset, before any leak of the next step: the golden
executor's recorded ``V``). Nothing reads it in a normal build, so Yosys removes it; the network top exposes
it only when asked (``NetworkTop(..., debug=True)``).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.bounds import LayerBounds, adaptive_sum_range, signed_bits
from spikeforge.errors import SpikeforgeError
from spikeforge.netspec import LayerSpec

from .arith import SHIFT_ADD_MAX_BITS, shift_add
from .cost import groups
from .events import event_stream
from .geometry import Window
from .select import at_most_one, at_most_two, lowest_set, select


def spike_bits(layer: LayerSpec) -> int:
    """Width of the layer's output spike value: ``ceil(log2(K + 1))`` for MT-LIF, else 1."""
    return max(1, layer.neuron.spike_max.bit_length())


def bias_bits(layer: LayerSpec) -> int:
    """Signed width of the layer's biases (the bias ROM stores no more)."""
    return signed_bits(min(0, int(layer.bias.min())), max(0, int(layer.bias.max())))


def table_bits(layer: LayerSpec) -> tuple[int, int]:
    """Unsigned widths of an adaptive layer's λ and γ table entries (at least 1 bit each)."""
    neuron = layer.neuron
    return (max(1, max(neuron.decay_table).bit_length()),
            max(1, max(neuron.gain_table).bit_length()))


def lane_word_bits(layer: LayerSpec, bounds: LayerBounds) -> int:
    """Bits of one lane in the membrane memory.

    ``sum_bits`` (``V`` plus the running accumulate), or for adaptive neurons ``acc_bits`` for
    the accumulate next to ``state_bits`` for ``V``.
    """
    if layer.neuron.kind == "adaptive":
        return bounds.acc_bits + layer.neuron.state_bits
    return bounds.sum_bits


def memory_shapes(layer: LayerSpec, bounds: LayerBounds, lanes: int,
                  geometry: Window | None = None) -> dict[str, tuple[int, int]]:
    """Depth and width of the engine's memories as built: weight rows, bias ROM, membranes.

    A conv2d layer (``geometry`` its window) has one weight word per ``(c_in, ky, kx, group)`` and
    one membrane word per ``(position, group)``. Adaptive layers also have ``tables``: one word
    ``γ_t, λ_t`` per time step. Depths are at least 2: a one-word memory has a zero-width address,
    which Verilog cannot declare.
    """
    g = groups(layer.n_out, lanes)
    rows, positions = layer.n_in, 1
    if geometry is not None:
        rows, positions = layer.n_in * geometry.kernel ** 2, geometry.positions
    shapes = {"weights": (max(rows * g, 2), lanes * layer.weight_bits),
              "biases": (max(g, 2), lanes * bias_bits(layer)),
              "membranes": (max(positions * g, 2), lanes * lane_word_bits(layer, bounds))}
    if layer.neuron.kind == "adaptive":
        shapes["tables"] = (max(len(layer.neuron.decay_table), 2), sum(table_bits(layer)))
    return shapes


def check_pairing(layer: LayerSpec, lanes: int, value_bits: int,
                  engine: str = "LayerEngine") -> None:
    """Raise unless the engine can add two events per pass (``paired``), naming what stops it.

    Pairing needs a linear engine (``engine`` is the class that would build the layer), binary
    weights (a pair adds ``±2·scale`` or 0: one select per lane, no second adder), events of
    value 1 (spikes: both events add the same ``scale``), a neuron that takes every event (not
    the bistable one, whose fire phases drop their input) and at least two groups (with one, a
    pass lasts one cycle and no second event can wait for it).
    """
    where = f"layer {layer.name}"
    if engine != "LayerEngine" or layer.kind != "linear":
        raise SpikeforgeError("cannot pair events", where, "a linear layer",
                              f"a {layer.kind} layer" if layer.kind != "linear" else engine,
                              hint="leave this layer out of --pair-events")
    problems = []
    if layer.weight_bits != 1:
        problems.append(f"binary weights (found {layer.weight_bits}-bit weights)")
    if value_bits != 1:
        problems.append(f"spike inputs of value 1 (found {value_bits}-bit input values)")
    if layer.neuron.kind == "bistable":
        problems.append("a neuron that takes every event (found bistable, whose fire phases "
                        "drop their input)")
    n_groups = groups(layer.n_out, lanes)
    if n_groups < 2:
        problems.append(f"at least 2 lane groups (found {n_groups}: {layer.n_out} neurons "
                        f"on {lanes} lanes)")
    if problems:
        raise SpikeforgeError("cannot pair events", where, "; ".join(problems),
                              hint="leave this layer out of --pair-events")


def membrane_signature(layer: LayerSpec, lanes: int, positions: int = 1) -> wiring.Signature:
    """Debug view of the membranes, one group per update cycle.

    Members (all outputs): ``valid`` (a group was updated this cycle), ``first`` (the neuron of its
    lane 0: ``group * lanes``, or for a conv2d layer with ``positions`` output positions per
    channel the NCHW index ``group * lanes * positions + position``, its lane ``i`` at
    ``first + i * positions``) and ``values`` (``lanes`` signed ``state_bits`` membranes after
    firing and reset, lane 0 in the low bits; lanes past ``n_out`` hold no neuron).
    """
    return membrane_port(layer.n_out, lanes, layer.neuron.state_bits, positions)


def membrane_port(n_out: int, lanes: int, state_bits: int, positions: int = 1) -> wiring.Signature:
    """:func:`membrane_signature` from the sizes alone (what a membrane readout connects to)."""
    g = groups(n_out, lanes)
    return wiring.Signature({"valid": Out(1), "first": Out(range(max(g * lanes * positions, 2))),
                             "values": Out(lanes * state_bits)})


def pack(values, bits: int) -> int:
    """Pack integers into one word, element 0 in the low bits, two's complement ``bits`` each."""
    word = 0
    for position, value in enumerate(values):
        word |= (int(value) & ((1 << bits) - 1)) << (position * bits)
    return word


class LayerEngine(wiring.Component):
    """One layer: accumulate events, update IF neurons, emit spike events.

    Parameters
    ----------
    layer : LayerSpec
        Weights, bias, scale and neuron parameters.
    bounds : LayerBounds
        Widths and the saturation flag of the layer, from :func:`spikeforge.bounds.analyse`.
    lanes : int
        Neurons updated per cycle (P), ``1 <= lanes <= n_out``.
    value_bits : int
        Width of the input events' value (1 for spikes).
    timesteps : int
        T; the membranes are cleared after the last step of every image.
    fires : bool
        False for the non-spiking last layer of a membrane readout: no neuron ever fires or
        resets (the spike level is forced to 0), so it emits only end-of-step events and its
        ``membranes`` view shows the integrated (leaked, clamped) ``V``.
    paired : bool
        Add two input events per pass over the groups instead of one (see "Paired events" in the
        module docstring): a second read port on the weight memory, about half the accumulate
        cycles. Only for binary weights, spike inputs and at least two groups
        (:func:`check_pairing`).

    Attributes
    ----------
    events_in : stream of events over ``n_in`` sources
    events_out : stream of spike events over ``n_out`` neurons (value 1), one end-of-step per step
    membranes : see :func:`membrane_signature` (debug view; unused in a normal build)
    """

    def __init__(self, layer: LayerSpec, bounds: LayerBounds, lanes: int, value_bits: int,
                 timesteps: int, stage: int = 0, *, fires: bool = True, paired: bool = False):
        self.fires = fires
        self.paired = paired
        self.layer = layer
        self.bounds = bounds
        self.lanes = lanes
        self.value_bits = value_bits
        self.timesteps = timesteps
        self.stage = stage
        self.n_groups = groups(layer.n_out, lanes)
        self.spike_bits = spike_bits(layer)
        if paired:
            try:
                check_pairing(layer, lanes, value_bits, type(self).__name__)
            except SpikeforgeError:
                self._MustUse__silence = True  # a refused engine is not an unused one
                raise
        super().__init__({
            "events_in": In(event_stream(self.n_inputs, value_bits)),
            "events_out": Out(event_stream(self.n_outputs, self.spike_bits)),
            "membranes": Out(membrane_signature(layer, lanes, self.positions)),
        })

    # ---- addressing: what a conv2d engine (spikeforge.hdl.conv_engine) overrides ---------------
    positions = 1  # membrane words per group: one position for a linear layer
    geometry: Window | None = None  # a conv2d layer's window

    @property
    def n_inputs(self) -> int:
        """Sources an input event can address."""
        return self.layer.n_in

    @property
    def n_outputs(self) -> int:
        """Neurons (output event indices)."""
        return self.layer.n_out

    def _declare_addressing(self, m, s):
        """Extra address counters (none: the group counter is the whole address)."""

    def _read_addresses(self, m, s):
        """Stage-0 addresses of the weight, bias and membrane words: ``index * G + group``, ``group``."""
        return s.event_index * self.n_groups + s.group, s.group, s.group

    def _latch_stage1(self, m, s):
        """Copy more stage-0 state to stage 1 (nothing: the group and the membrane address are
        already copied)."""

    def _latch_stage2(self, m, s):
        """Copy more stage-1 state to stage 2 (nothing: the group and the address are copied)."""

    def _write_address(self, s):
        """Membrane word of the issue in stage 2 (an accumulate writes it there, an update in
        stage 3)."""
        return s.stage2_address

    def _write_enable(self, s):
        """Whether an accumulate in stage 2 writes its word (always: every word read is a neuron
        group)."""
        return 1

    def _first_neuron(self, s):
        """Output index of lane 0 of the word in stage 2 (registered into stage 3 for the
        emitter)."""
        return s.stage2_group * self.lanes

    def _same_word_within(self, distance: int) -> bool:
        """Whether two issues ``distance`` cycles apart can address one membrane word (then stage
        1 takes the newer word, see the module docstring). Here only with at most ``distance``
        groups: the groups are issued in order, so a word comes back after ``G`` cycles at the
        earliest."""
        return self.n_groups <= distance

    def _spike_index(self, base, lane):
        """Output index of ``lane`` of a word whose lane 0 is ``base``."""
        return base + lane

    def _last_issue(self, s):
        """True in the cycle stage 0 issues its last word of an event or of the update pass
        (always with one group: a constant, not a compare of a counter that stays 0, since it
        is on the path from this engine's ``ready`` back to the upstream emitter)."""
        return Const(1) if self.n_groups == 1 else s.group == self.n_groups - 1

    def _step_counters(self, m, s, issue_accumulate, issue_update):
        """Advance the group; at the last, release the event or finish the update pass."""
        G, group = self.n_groups, s.group
        with m.If(issue_accumulate | issue_update):
            with m.If(group == G - 1):
                m.d.sync += group.eq(0)
                with m.If(issue_accumulate):
                    m.d.sync += s.holding.eq(0)
                with m.Else():
                    m.d.sync += s.marker_pending.eq(1)
            with m.Else():
                m.d.sync += group.eq(group + 1)

    # ---- memory images ---------------------------------------------------------------------
    def weight_words(self) -> list[int]:
        """Weight memory image: word ``index * G + g`` holds the lanes of group ``g`` for input ``index``."""
        layer, lanes, bits = self.layer, self.lanes, self.layer.weight_bits
        words = []
        for source in range(layer.n_in):
            for group in range(self.n_groups):
                lane_values = []
                for lane in range(lanes):
                    neuron = group * lanes + lane
                    weight = int(layer.weights[neuron, source]) if neuron < layer.n_out else 0
                    # Binary weights are one bit: 1 stands for +1, 0 for -1.
                    lane_values.append((1 if weight > 0 else 0) if bits == 1 else weight)
                words.append(pack(lane_values, bits))
        return words

    def bias_words(self) -> list[int]:
        """Bias ROM image: word ``g`` holds the biases of group ``g``'s lanes."""
        layer, lanes = self.layer, self.lanes
        return [pack([int(layer.bias[g * lanes + lane]) if g * lanes + lane < layer.n_out else 0
                      for lane in range(lanes)], bias_bits(layer))
                for g in range(self.n_groups)]

    def memory_shapes(self) -> dict[str, tuple[int, int]]:
        """See :func:`memory_shapes`."""
        return memory_shapes(self.layer, self.bounds, self.lanes, self.geometry)

    def table_words(self) -> list[int]:
        """Adaptive tables' ROM image: word ``t`` holds λ_t in the low bits, γ_t above it."""
        neuron = self.layer.neuron
        decay_bits, _ = table_bits(self.layer)
        words = [decay | (gain << decay_bits)
                 for decay, gain in zip(neuron.decay_table, neuron.gain_table)]
        return words + [0] * (2 - len(words)) if len(words) < 2 else words

    def elaborate(self, platform):
        m = Module()
        layer, bounds, lanes, G = self.layer, self.bounds, self.lanes, self.n_groups
        wbits, sbits = layer.weight_bits, bounds.sum_bits
        threshold = layer.neuron.threshold

        shapes = self.memory_shapes()
        weights = Memory(shape=unsigned(shapes["weights"][1]), depth=shapes["weights"][0],
                         init=self.weight_words())
        biases = Memory(shape=unsigned(shapes["biases"][1]), depth=shapes["biases"][0],
                        init=self.bias_words())
        membranes = Memory(shape=unsigned(shapes["membranes"][1]), depth=shapes["membranes"][0],
                           init=[])
        m.submodules.weights, m.submodules.biases, m.submodules.membranes = weights, biases, membranes
        w_rd = weights.read_port()
        # Paired events: the second event's weight row, from the block RAM's other port.
        w_rd_pair = weights.read_port() if self.paired else None
        b_rd = biases.read_port()
        v_wr = membranes.write_port()
        # A read in the cycle of a write to its word returns the new value (the older of the two
        # words in flight: see "Pipeline" in the module docstring). (A plain port is no cheaper:
        # Yosys then emulates the iCE40 block RAM's read-before-write with the same bypass
        # register and multiplexer, and more flip-flops.)
        v_rd = membranes.read_port(transparent_for=(v_wr,))

        # ---- control state -------------------------------------------------------------------
        holding = Signal()                      # an accumulate event is being processed
        event_index = Signal.like(self.events_in.payload.index)
        event_value = Signal.like(self.events_in.payload.value)
        group = Signal(range(max(G, 2)))        # group issued this cycle
        updating = Signal()                     # in the update phase
        stage1 = Signal()                       # a read was issued last cycle: register its words
        stage1_update = Signal()                # ... and it belongs to the update phase
        stage1_group = Signal.like(group)
        stage1_value = Signal.like(event_value)  # the next event may be latched while this computes
        stage2 = Signal()                       # stage 2 holds registered words: compute, write
        stage2_update = Signal()
        stage2_group = Signal.like(group)
        words = shapes["membranes"][0]
        stage1_address = Signal(range(words))   # membrane word of stage 1, of stage 2
        stage2_address = Signal(range(words))
        step = Signal(range(max(self.timesteps, 2)))
        spike_mask = Signal(lanes)
        spike_values = [Signal(self.spike_bits, name=f"spike_value_{lane}") for lane in range(lanes)]
        spike_base = Signal(range(G * lanes * self.positions + 1))
        # Stage 3: an update's sums, registered; it finishes the update (clamp, fire, reset, leak),
        # writes the word back and hands the spikes to the emitter.
        stage3 = Signal()
        # Only the last group can have lanes without a neuron: a flag, not the group number, so
        # that the fire bits (and the emitter's flags after them) need no comparison.
        tail_lanes = layer.n_out - (G - 1) * lanes  # lanes of the last group that hold neurons
        stage3_last_group = Signal()
        stage3_accumulate = Signal()  # stage 3 holds an accumulate: it writes stage3_word
        stage3_word = Signal(shapes["membranes"][1])
        stage3_address = Signal(range(words))
        stage3_base = Signal.like(spike_base)
        marker_pending = Signal()               # end-of-step event still to send
        neuron = layer.neuron
        # The state the address hooks (_read_addresses, _step_counters, ...) work on.
        s = SimpleNamespace(holding=holding, event_index=event_index, group=group,
                            updating=updating, stage1_group=stage1_group,
                            stage1_update=stage1_update, stage2_group=stage2_group,
                            stage2_update=stage2_update, stage1_address=stage1_address,
                            stage2_address=stage2_address, marker_pending=marker_pending)
        self._declare_addressing(m, s)
        bistable = neuron.kind == "bistable"
        # Bistable schedule (spikeforge.schedule): this layer fires in the phases where
        # (t // P) - stage is odd. Counters instead of a division: position in the phase, parity.
        first_phase_fires = self.stage % 2 == 1
        fire_phase = Signal(init=first_phase_fires)
        phase_step = Signal(range(max(neuron.phase, 2)))
        # ... and is idle (no input, no bias, no spike) in its first `stage` phases, before
        # anything can reach it: a saturating count of the phases seen.
        phases_seen = Signal(range(max(self.stage + 1, 2)))  # never 0 bits wide: [-1:0] in Verilog
        waiting = Signal()
        if self.stage:  # the first stage never waits (and `< 0` would be a constant comparison)
            m.d.comb += waiting.eq(phases_seen < self.stage)
        quiet = fire_phase | waiting  # no input and no bias in this phase

        # ---- emitter: one spike event per set bit of the mask, lowest lane first --------------
        # Trees, not chains (hdl/select.py): the emitter is on the stall path (``advance``).
        lowest = Signal(range(max(lanes, 2)))
        m.d.comb += lowest.eq(lowest_set(spike_mask)[1])
        lowest_value = Signal(self.spike_bits)
        if self.spike_bits == 1:
            m.d.comb += lowest_value.eq(1)  # the lowest set bit of the mask is a spike of 1
        else:
            m.d.comb += lowest_value.eq(select(lowest, spike_values))
        out = self.events_out
        # Registered flags of the mask, kept beside it: ``spike_mask != 0`` and "at most one bit
        # set" (so ``remaining == 0``), which the stall path (``emitter_free`` -> ``advance`` ->
        # every enable of the engine) would otherwise compute from the mask every cycle.
        emitting = Signal()
        last_spike = Signal(init=1)
        # The end-of-step event follows the spikes of the last group, once they are all out.
        marker_now = (marker_pending & ~emitting & ~(stage1 & stage1_update)
                      & ~(stage2 & stage2_update) & ~stage3)
        m.d.comb += [
            out.valid.eq(emitting | marker_now),
            out.payload.index.eq(Mux(emitting, self._spike_index(spike_base, lowest), 0)),
            out.payload.value.eq(Mux(emitting, lowest_value, 0)),
            out.payload.last.eq(~emitting),
        ]
        out_transfer = out.valid & out.ready
        remaining = spike_mask & (spike_mask - 1)
        with m.If(out_transfer & emitting):
            # One spike left after this one if the mask holds at most two (a tree on the mask,
            # not one after the carry chain of ``remaining``).
            m.d.sync += [spike_mask.eq(remaining), emitting.eq(~last_spike),
                         last_spike.eq(at_most_two(spike_mask))]
        # The emitter can take a new mask this cycle if it is empty or sends its last spike now.
        emitter_free = ~emitting | (last_spike & out.ready)

        # ---- adaptive tables: λ_t and γ_t of the current step, from a ROM ----------------------
        adaptive = neuron.kind == "adaptive"
        nbits = neuron.state_bits
        if adaptive:
            tables = Memory(shape=unsigned(shapes["tables"][1]), depth=shapes["tables"][0],
                            init=self.table_words())
            m.submodules.tables = tables
            t_rd = tables.read_port()
            # The step counter moves on the end-of-step transfer; the next update reads the
            # tables two or more cycles later, after the read port has caught up.
            m.d.comb += t_rd.addr.eq(step)
            decay_bits, _ = table_bits(layer)
            decay, gain = t_rd.data[:decay_bits], t_rd.data[decay_bits:]

        # Every stage moves on together; only spikes in stage 3 that the emitter cannot take yet
        # hold the pipeline.
        advance = ~stage3 | emitter_free
        lane_bits = lane_word_bits(layer, bounds)
        bbits = bias_bits(layer)
        single = neuron.kind in ("if", "lif", "bistable")  # fire iff V >= θ
        # bias − θ, for the fire test's one adder after V (not needed by bistable neurons: they
        # fire only in a phase without bias).
        fire_offset = single and not bistable
        obits = max(bbits, threshold.bit_length() + 1) + 1

        # ---- stage 1: register the words read last cycle -----------------------------------
        # Nothing but a register after a block RAM's output (ECP5's has no output register: its
        # clock-to-output delay alone is most of a fast cycle). The membrane word alone passes a
        # multiplexer: the forwarding of the word stage 2 writes now (see the module docstring).
        v2 = Signal(shapes["membranes"][1], name="stage2_membranes")
        b2 = Signal(shapes["biases"][1], name="stage2_biases")
        # Registers are unsigned and read back .as_signed(): a signed register's declaration
        # with its initial value trips Verilator's PROCASSINIT lint.
        offsets = [Signal(obits, name=f"stage2_offset_{lane}") for lane in range(lanes)]
        value_products = self.value_bits > 1 and wbits > 1  # a multiplier: kept in stage 1
        if value_products:
            pbits = len(self._times_value(Signal(signed(wbits)), stage1_value))
            w2 = [Signal(pbits, name=f"stage2_product_{lane}") for lane in range(lanes)]
        else:
            w2 = Signal(shapes["weights"][1], name="stage2_weights")
        if wbits == 1:
            # Binary weights: every lane adds or subtracts the same scale × value, computed once
            # (twice that for a pass with two events, whose values are both 1).
            largest = layer.scale * ((1 << self.value_bits) - 1) * (2 if self.paired else 1)
            magnitude = Signal(signed(largest.bit_length() + 1), name="scaled_value")
            plus = Signal(len(magnitude), name="stage2_plus")
            minus = Signal(len(magnitude) + 1, name="stage2_minus")
            if self.paired:
                stage1_paired = Signal()  # the pass in stage 1 adds two events
                w2_pair = Signal(shapes["weights"][1], name="stage2_pair_weights")
                m.d.comb += magnitude.eq(Mux(stage1_paired, layer.scale * 2, layer.scale))
            else:
                m.d.comb += magnitude.eq(self._times_value(layer.scale, stage1_value))
        stage2_value = Signal.like(stage1_value)
        # Stage 2 adds one addend: the bias at an update, the weight times the value at an
        # accumulate. Each register holds 0 when its addend is not the one (a synchronous reset,
        # no gate after the block RAM), so stage 2 ORs them: one LUT before the adder's carry
        # chain, not a product's multiplexer and then the phase's.
        with m.If(advance):
            m.d.sync += [stage2.eq(stage1), stage2_update.eq(stage1_update),
                         stage2_group.eq(stage1_group), stage2_address.eq(stage1_address),
                         b2.eq(Mux(stage1_update, b_rd.data, 0)),
                         stage2_value.eq(stage1_value)]
            if value_products:
                for lane in range(lanes):
                    weight = w_rd.data[lane * wbits:(lane + 1) * wbits].as_signed()
                    m.d.sync += w2[lane].eq(Mux(stage1_update, 0,
                                                self._times_value(weight, stage1_value)))
            elif wbits == 1:
                m.d.sync += w2.eq(w_rd.data)  # selects between plus and minus, which are 0
                if self.paired:
                    m.d.sync += w2_pair.eq(w_rd_pair.data)
            else:
                m.d.sync += w2.eq(Mux(stage1_update, 0, w_rd.data))
            if wbits == 1:
                m.d.sync += [plus.eq(Mux(stage1_update, 0, magnitude)),
                             minus.eq(Mux(stage1_update, 0, -magnitude))]
            if fire_offset:
                for lane in range(lanes):
                    bias = b_rd.data[lane * bbits:(lane + 1) * bbits].as_signed()
                    m.d.sync += offsets[lane].eq(bias - threshold)
            self._latch_stage2(m, s)

        # ---- stage 2: the sums from the registered words; an accumulate writes back -------------
        last_step = step == self.timesteps - 1
        stage3_lanes = []          # per lane: the update's sums, registered for stage 3
        accumulated_word = []
        for lane in range(lanes):
            word = v2[lane * lane_bits:(lane + 1) * lane_bits]
            if self.paired:
                # ±2·scale where the two weights agree, 0 where they differ; a pass with one
                # event reads its row twice (the weights agree) and plus, minus are ±scale.
                first, second = w2[lane], w2_pair[lane]
                product = Mux(first & second, plus.as_signed(),
                              Mux(first | second, 0, minus.as_signed()))
            elif wbits == 1:
                product = Mux(w2[lane], plus.as_signed(), minus.as_signed())
            elif value_products:
                product = w2[lane].as_signed()
            else:
                weight = w2[lane * wbits:(lane + 1) * wbits].as_signed()
                product = self._times_value(weight, stage2_value)
            bias = b2[lane * bbits:(lane + 1) * bbits].as_signed()
            if bistable:
                bias = Mux(quiet, 0, bias)  # a bistable fire phase takes no input
            # One adder serves both phases: V + W·x while accumulating, V + bias at the update
            # (the other addend is 0, see stage 1).
            addend = product | bias
            if adaptive:
                # Accumulate into the low field only; V waits for the update, which scales both.
                abits = bounds.acc_bits
                acc, v = word[:abits].as_signed(), word[abits:].as_signed()
                current = Signal(signed(max(abits, len(addend)) + 1), name=f"sum_{lane}")
                m.d.comb += current.eq(acc + addend)
                acc_next = Signal(signed(abits), name=f"acc_{lane}")
                m.d.comb += acc_next.eq(current)
                accumulated = Cat(acc_next, v)
                total = self._adaptive_sum(m, current, v, decay, gain, lane)
            else:
                v = word.as_signed()
                total = Signal(signed(max(sbits, len(addend)) + 1), name=f"sum_{lane}")
                m.d.comb += total.eq(v + addend)
                accumulated = Signal(signed(sbits), name=f"acc_{lane}")
                m.d.comb += accumulated.eq(total)
            accumulated_word.append(accumulated)
            # The update's sums go to stage 3 through registers (unsigned, read back signed:
            # see ``offsets``): ``V + bias``, whether it fits the state range where the layer
            # can saturate, and for fire-at-θ neurons ``V + (bias − θ)``, computed beside it.
            regs = SimpleNamespace(total=Signal(len(total), name=f"stage3_sum_{lane}"))
            stage3_lanes.append(regs)
            fits = self._fits(total)
            if fits is not None:
                regs.fits = Signal(name=f"stage3_fits_{lane}")
            with m.If(advance):
                m.d.sync += regs.total.eq(total)
                if fits is not None:
                    m.d.sync += regs.fits.eq(fits)
            if single:
                offset = -threshold if bistable else offsets[lane].as_signed()
                above = Signal(signed(max(sbits, obits) + 1), name=f"above_{lane}")
                m.d.comb += above.eq(v + offset)
                regs.above = Signal(len(above), name=f"stage3_above_{lane}")
                with m.If(advance):
                    m.d.sync += regs.above.eq(above)

        # ---- stage 3: an update finishes from its registered sums, writes back, fires ----------
        new_word, spikes, levels, debug_values = [], [], [], []
        for lane, regs in enumerate(stage3_lanes):
            total = regs.total.as_signed()
            # Clamp where the bounds allow saturation; the registered fits flag says when.
            clamped = Signal(signed(len(total) if adaptive else sbits), name=f"v_{lane}")
            fits = getattr(regs, "fits", None)
            if fits is None:
                m.d.comb += clamped.eq(total)
            else:
                m.d.comb += clamped.eq(Mux(fits, total,
                                           Mux(total[-1], bounds.state_low, bounds.state_high)))
            neuron_exists = 1 if lane < tail_lanes else ~stage3_last_group
            level = Signal(self.spike_bits, name=f"level_{lane}")
            # V after firing and reset: within the state range (clamped, or proven to fit), so
            # the adaptive field and the debug view keep state_bits of it without loss.
            membrane = Signal(signed(nbits if adaptive else sbits), name=f"membrane_{lane}")
            if single:
                # The fire test and the subtractive reset share one sum, V + (bias − θ), which
                # saturation makes a constant.
                above = regs.above.as_signed()
                fire = ~above[-1]
                if fits is not None:
                    low, high = bounds.state_low, bounds.state_high
                    fire = Mux(fits, fire, Mux(total[-1], int(low >= threshold),
                                               int(high >= threshold)))
                    above = Mux(fits, above, Mux(total[-1], low - threshold, high - threshold))
                if bistable:
                    fire = fire & fire_phase & ~waiting
                m.d.comb += level.eq(Mux(neuron_exists, fire, 0))
            else:
                m.d.comb += level.eq(Mux(neuron_exists,
                                         self._fire(clamped, fire_phase & ~waiting), 0))
            if not self.fires:  # a membrane readout's last layer: never fires nor resets
                level = Const(0, self.spike_bits)
            fired = level != 0
            if single and neuron.reset == "subtract":
                m.d.comb += membrane.eq(Mux(level[0], above, clamped))
            elif neuron.reset == "subtract":
                m.d.comb += membrane.eq(clamped - level * threshold)
            else:
                m.d.comb += membrane.eq(Mux(fired, 0, clamped))
            if adaptive:
                updated = Mux(last_step, 0, Cat(Const(0, bounds.acc_bits), membrane))
            else:
                updated = Signal(signed(sbits), name=f"next_{lane}")
                m.d.comb += updated.eq(Mux(last_step, 0, self._leak(m, membrane, lane)))
            new_word.append(updated)
            spikes.append(fired)
            levels.append(level)
            debug_values.append(membrane[:nbits])
        # One write port, fed by stage 3 alone: an accumulate's registered word, or an update's.
        stage2_writes = stage2 & ~stage2_update & self._write_enable(s)
        m.d.comb += [
            v_wr.addr.eq(stage3_address),
            v_wr.data.eq(Mux(stage3, Cat(*new_word), stage3_word)),
            v_wr.en.eq(advance & (stage3 | stage3_accumulate)),
        ]
        with m.If(advance):
            m.d.sync += [stage3.eq(stage2 & stage2_update),
                         stage3_accumulate.eq(stage2_writes),
                         stage3_word.eq(Cat(*accumulated_word)),
                         stage3_last_group.eq(stage2_group == G - 1),
                         stage3_address.eq(self._write_address(s)),
                         stage3_base.eq(self._first_neuron(s))]
        # Stage 3 -> emitter: the mask's flags come from the fire bits, which come from
        # registers through a few gates (no adder).
        mask = Cat(*spikes)
        with m.If(stage3 & advance):
            m.d.sync += [spike_mask.eq(mask), spike_base.eq(stage3_base),
                         emitting.eq(mask.any()), last_spike.eq(at_most_one(mask))]
            if self.spike_bits > 1:
                m.d.sync += [spike_values[lane].eq(levels[lane]) for lane in range(lanes)]
        m.d.comb += [self.membranes.valid.eq(stage3 & advance),
                     self.membranes.first.eq(stage3_base),
                     self.membranes.values.eq(Cat(*debug_values))]

        # Stage 1's membrane word, forwarded: an accumulate in stage 2 or stage 3 writes the word
        # stage 1 read too early (read and write are three cycles apart). Only engines whose
        # issues that close can address one word get each forward (module docstring); the
        # newer word wins.
        word_read = v_rd.data
        if self._same_word_within(2):
            from_stage3 = stage3_accumulate & (stage1_address == stage3_address)
            word_read = Mux(from_stage3, stage3_word, word_read)
        if self._same_word_within(1):
            from_stage2 = stage2_writes & (stage1_address == stage2_address)
            word_read = Mux(from_stage2, Cat(*accumulated_word), word_read)
        with m.If(advance):
            m.d.sync += v2.eq(word_read)

        # ---- stage 0: issue reads ----------------------------------------------------------
        w_addr, b_addr, v_addr = self._read_addresses(m, s)
        m.d.comb += [w_rd.en.eq(advance), b_rd.en.eq(advance), v_rd.en.eq(advance),
                     w_rd.addr.eq(w_addr), b_rd.addr.eq(b_addr), v_rd.addr.eq(v_addr)]
        if self.paired:
            # The two rows ``index·G`` are registers, the product taken when an event arrives,
            # not between a register and the block RAM's address (with G not a power of two it
            # is a DSP and an adder). With G a power of two, ``row | group`` is the address (the
            # row's low bits are 0: no adder); otherwise the rows count with the group.
            row = Signal(range(max(shapes["weights"][0], 2)))
            pair_row = Signal.like(row)  # the pass's second event (its first's again if none)
            pass_paired = Signal()       # the pass adds two events
            counting = G & (G - 1) != 0
            m.d.comb += [w_rd_pair.en.eq(advance),
                         w_rd.addr.eq(row if counting else row | group),  # replaces w_addr
                         w_rd_pair.addr.eq(pair_row if counting else pair_row | group)]
        issue_accumulate = holding & ~updating
        issue_update = updating & ~marker_pending
        m.d.sync += stage1.eq(Mux(advance, issue_accumulate | issue_update, stage1))
        with m.If(advance):
            m.d.sync += [stage1_update.eq(updating), stage1_group.eq(group),
                         stage1_value.eq(event_value), stage1_address.eq(v_addr)]
            if self.paired:
                m.d.sync += stage1_paired.eq(pass_paired)
                if counting:
                    with m.If(issue_accumulate):
                        m.d.sync += [row.eq(row + 1), pair_row.eq(pair_row + 1)]
            self._latch_stage1(m, s)
            self._step_counters(m, s, issue_accumulate, issue_update)

        with m.If(marker_now & out.ready):
            m.d.sync += [marker_pending.eq(0), updating.eq(0),
                         step.eq(Mux(last_step, 0, step + 1))]
            if bistable:
                with m.If(last_step):
                    m.d.sync += [phase_step.eq(0), fire_phase.eq(first_phase_fires),
                                 phases_seen.eq(0)]
                with m.Elif(phase_step == neuron.phase - 1):
                    m.d.sync += [phase_step.eq(0), fire_phase.eq(~fire_phase)]
                    with m.If(waiting):
                        m.d.sync += phases_seen.eq(phases_seen + 1)
                with m.Else():
                    m.d.sync += phase_step.eq(phase_step + 1)

        # ---- input: take a new event when the current one issues its last group --------------
        inp = self.events_in
        # ``advance`` is always true outside the update phase (stage 1 holds an update only
        # while ``updating``; the end-of-step marker, which clears ``updating``, waits for it),
        # so it is left out: the upstream's ``ready`` then depends on this engine's registers
        # only, not combinationally on the downstream engine's ``ready`` through the emitter.
        if self.paired:
            self._accept_pairs(m, s, row, pair_row, pass_paired)
            return m
        accepting = ~updating & (~holding | self._last_issue(s))
        m.d.comb += inp.ready.eq(accepting)
        with m.If(inp.valid & inp.ready):
            with m.If(inp.payload.last):
                m.d.sync += [updating.eq(1), group.eq(0)]
            with m.Elif(~quiet if bistable else 1):  # fire and idle phases ignore their input
                m.d.sync += [holding.eq(1), group.eq(0), event_index.eq(inp.payload.index),
                             event_value.eq(inp.payload.value)]
        return m

    def _accept_pairs(self, m, s, row, pair_row, pass_paired):
        """Input of a paired engine: a pass over the groups adds up to two events.

        While a pass runs, the next event waits in a staging register (its weight row
        ``index·G``, or an end-of-step marker). When the pass issues its last group, the staged
        event starts the next pass and the event offered in that cycle joins it as the second;
        with nothing staged, the event offered then starts a pass alone (its row is read twice,
        see stage 2). A staged marker starts the update once its pass is done, as an unstaged
        one would. The events' values are 1 (spikes), so none is kept.
        """
        inp = self.events_in
        holding, updating, group = s.holding, s.updating, s.group
        staged = Signal()        # an event waits for the next pass
        staged_last = Signal()   # ... and it is the end-of-step marker
        staged_row = Signal.like(row)
        offered_row = Signal.like(row)
        m.d.comb += offered_row.eq(inp.payload.index * self.n_groups)
        ending = holding & self._last_issue(s)  # the pass issues its last group now
        # Registers only (staged ⇒ holding): the upstream's ready does not wait on this engine's
        # downstream, as in the unpaired engine.
        m.d.comb += inp.ready.eq(~updating & (~staged | (self._last_issue(s) & ~staged_last)))
        offered = inp.valid & inp.ready
        event, marker = offered & ~inp.payload.last, offered & inp.payload.last

        def start_pass(first, second, paired):
            m.d.sync += [holding.eq(1), group.eq(0), row.eq(first), pair_row.eq(second),
                         pass_paired.eq(paired)]

        def start_update():
            m.d.sync += [updating.eq(1), group.eq(0)]

        with m.If(ending & staged):
            m.d.sync += staged.eq(0)
            with m.If(staged_last):
                start_update()
            with m.Elif(event):
                start_pass(staged_row, offered_row, 1)
            with m.Else():
                start_pass(staged_row, staged_row, 0)
                with m.If(marker):  # waits behind the pass it cannot join
                    m.d.sync += [staged.eq(1), staged_last.eq(1)]
        with m.Elif(holding & ~ending):
            with m.If(offered):
                m.d.sync += [staged.eq(1), staged_last.eq(inp.payload.last),
                             staged_row.eq(offered_row)]
        with m.Else():  # idle, or the pass ends with nothing staged
            with m.If(marker):
                start_update()
            with m.Elif(event):
                start_pass(offered_row, offered_row, 0)

    # ---- neuron arithmetic -----------------------------------------------------------------
    def _fits(self, total):
        """Where the layer can saturate: whether ``total`` lies in the state range, else None.

        The range is that of ``state_bits`` signed bits, so ``total`` fits when its bits from
        ``state_bits - 1`` up are all equal: a tree of gates, no comparator's carry chain.
        """
        bounds, nbits = self.bounds, self.layer.neuron.state_bits
        if not bounds.saturates or len(total) <= nbits:
            return None
        assert (bounds.state_low, bounds.state_high) == (-(1 << (nbits - 1)), (1 << (nbits - 1)) - 1)
        top = total[nbits - 1:]
        return top.all() | ~top.any()

    def _times_value(self, operand, value):
        """``operand · value``: a select for spikes, shift-add for graded values, else a multiply.

        A 1-bit value (a spike) selects. Graded spikes (MT-LIF levels, pooled counts: at most
        :data:`~spikeforge.hdl.arith.SHIFT_ADD_MAX_BITS` bits) use :func:`~spikeforge.hdl.arith.shift_add`,
        a few adders in logic; wider values (a direct-coded first layer's pixels) multiply, which
        Yosys maps to the device's DSPs where it has them.
        """
        if self.value_bits == 1:
            return Mux(value[0], operand, 0)
        if self.value_bits <= SHIFT_ADD_MAX_BITS:
            return shift_add(operand, value)
        return operand * value

    def _fire(self, v, fire_phase):
        """Spike value for membrane ``v``: 0/1, or 0..K for MT-LIF (``v >= kθ`` for k = 1..K)."""
        neuron = self.layer.neuron
        theta = neuron.threshold
        if neuron.kind == "mtlif":
            # floor(v/θ) clamped to K, as a sum of K comparisons (no divider).
            return sum((v >= k * theta).as_unsigned() for k in range(1, neuron.levels + 1))
        if neuron.kind == "bistable":
            return (v >= theta) & fire_phase
        if neuron.kind == "adaptive":
            return v > theta  # strict, as the golden adaptive_step
        return v >= theta

    def _adaptive_sum(self, m, current, v, decay, gain, lane: int):
        """``(λ_t·V) >> F + (γ_t·I) >> F``, floor shifts, in a signal wide enough for any step
        (:func:`~spikeforge.bounds.adaptive_sum_range`)."""
        frac = self.layer.neuron.frac_bits
        low, high = adaptive_sum_range(self.layer, self.bounds)
        # The floor shifts drop the products' fraction bits on purpose ("unused": see _leak).
        decayed = Signal(signed(len(v) + len(decay) + 1), name=f"decay_{lane}_fraction_unused")
        gained = Signal(signed(len(current) + len(gain) + 1), name=f"gain_{lane}_fraction_unused")
        total = Signal(signed(signed_bits(low, high)), name=f"sum_{lane}")
        m.d.comb += [decayed.eq(v * decay), gained.eq(current * gain),
                     total.eq((decayed >> frac) + (gained >> frac))]
        return total

    def _leak(self, m, v, lane: int):
        """The leak applied before the next step's input: stored now, since nothing reads V between."""
        neuron = self.layer.neuron
        if neuron.kind not in ("lif", "mtlif") or neuron.leak == "none":
            return v
        if neuron.leak == "shift":
            return v - (v >> neuron.leak_shift)
        # The floor shift drops the product's fraction bits on purpose; Verilator's convention for
        # that is a name containing "unused" (its UNUSEDSIGNAL check skips such signals).
        product = Signal(signed(len(v) + neuron.leak_factor.bit_length() + 1),
                         name=f"decay_{lane}_fraction_unused")
        m.d.comb += product.eq(v * neuron.leak_factor)
        return product >> neuron.frac_bits
