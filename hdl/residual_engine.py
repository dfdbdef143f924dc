"""Event-driven engine of one residual layer: the branch's events plus the delayed shortcut's.

A residual layer's neurons integrate ``I = x + y_source[t − delay]`` (0 before step ``delay``;
docs/semantics.md): the previous layer's output ``x`` (the branch) plus the output of the earlier
layer ``source`` (the shortcut), both with weight 1 and no bias (the golden ``Residual`` operator
has neither). Both have the residual layer's own shape, ``N`` values in NCHW order.

The network top forks the source's event stream (:class:`~spikeforge.hdl.events.EventFork`): one
copy goes on down the branch, the other into this engine's ``shortcut_in``. The engine holds:

* a shortcut FIFO (``amaranth.lib.fifo.SyncFIFOBuffered``, block RAM) of the source's events,
  end-of-step markers included. Source steps ``t >= T − delay`` are used by no step of the image:
  they are accepted and dropped, never stored;
* a merge: for step ``t`` it forwards the branch's events, and on the branch's end-of-step marker
  it forwards, if ``t >= delay``, the FIFO's oldest step (the source's step ``t − delay``) up to and
  including its marker, which becomes the step's marker; before ``delay`` the branch's marker ends
  the step. The neurons receive one marker per step, so their step counter stays the golden one;
* the neurons: :class:`~spikeforge.hdl.layer_engine.LayerEngine`'s datapath over ``G = ceil(N/P)``
  words of ``P`` lanes, neuron ``n`` in word ``n // P``, lane ``n % P``. An event ``(n, v)``
  takes one cycle: it reads word ``n // P`` and adds ``v`` to lane ``n % P`` (the weight row is
  a one-hot ROM of ``P`` words, indexed by the lane). The update pass and the spike emitter are
  the linear engine's; a spike of lane ``i`` of word ``g`` leaves as index ``g·P + i``.

Deadlock and the FIFO depth. Branch step ``t`` ends only after the source has sent all of its step
``t`` (the marker goes down the branch last), and the merge reads the FIFO's step ``t − delay``
only after that. So while the merge waits for branch step ``t``, the FIFO must hold, next to every
unread step from ``t − delay`` on, the whole of the source's step ``t``: steps ``t − delay .. t``,
``delay + 1`` of them, of which only those below ``T − delay`` are stored, so
``min(delay + 1, T − delay)`` steps. A step is at most ``N`` events (every engine sends an output at
most once per step) plus its marker. With that depth the fork never waits on a full FIFO while the
merge waits on the branch, so the source always finishes the step the merge needs: no deadlock.
When the source is ahead of the merge (a full FIFO stops it), the merge has its shortcut step
already and runs. :func:`shortcut_depth` is that bound, exactly; the FIFO being
first-in-first-out and the fork transferring to both sides at once, nothing is dropped or
reordered across steps or images.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from spikeforge.bounds import LayerBounds
from spikeforge.netspec import LayerSpec

from .arith import divmod_const
from .cost import groups
from .events import event_layout, event_stream
from .layer_engine import LayerEngine, bias_bits, lane_word_bits, membrane_signature, pack, table_bits

#: Weight bits of the identity rows: signed 2-bit, 1 for the addressed lane and 0 elsewhere.
IDENTITY_WEIGHT_BITS = 2


def shortcut_steps(delay: int, timesteps: int) -> int:
    """Source steps the shortcut FIFO holds at most: ``min(delay + 1, T − delay)`` (0 if none is used)."""
    return max(0, min(delay + 1, timesteps - delay))


def shortcut_depth(n: int, delay: int, timesteps: int) -> int:
    """Entries of the shortcut FIFO: ``N`` events and one marker per held step (module docstring).

    At least 3: ``SyncFIFOBuffered`` keeps one entry in its output register and the rest in a
    memory, which needs two words for a nonzero address width.
    """
    steps = shortcut_steps(delay, timesteps)
    return max(3, steps * (n + 1)) if steps else 0


class IdentityLayer:
    """The parts of a :class:`~spikeforge.netspec.LayerSpec` the neuron datapath reads, for a
    residual layer of ``n`` neurons: identity weights, zero bias, the layer's own neurons."""

    kind = "residual"
    stateless = False
    weight_bits = IDENTITY_WEIGHT_BITS
    scale = 1
    weights = None

    def __init__(self, layer: LayerSpec, n: int):
        self.name, self.neuron, self.source, self.delay = (layer.name, layer.neuron, layer.source,
                                                           layer.delay)
        self.n_in = self.n_out = int(n)
        self.bias = np.zeros(self.n_out, dtype=np.int64)


def residual_memory_shapes(layer: LayerSpec, bounds: LayerBounds, lanes: int, n: int,
                           shortcut_bits: int, timesteps: int) -> dict[str, tuple[int, int]]:
    """Depth and width of the residual engine's memories: the one-hot ``weights`` ROM (one word
    per lane), the (zero) ``biases``, the ``membranes`` (one word per group), ``tables`` for
    adaptive neurons, and the ``shortcut`` FIFO (index, value and marker bit of a source event;
    absent when the delay leaves no step to carry). Depths are at least 2, as for every memory."""
    identity = IdentityLayer(layer, n)
    g = groups(n, lanes)
    shapes = {"weights": (max(lanes, 2), lanes * IDENTITY_WEIGHT_BITS),
              "biases": (max(g, 2), lanes * bias_bits(identity)),
              "membranes": (max(g, 2), lanes * lane_word_bits(identity, bounds))}
    if layer.neuron.kind == "adaptive":
        shapes["tables"] = (max(len(layer.neuron.decay_table), 2), sum(table_bits(identity)))
    depth = shortcut_depth(n, layer.delay, timesteps)
    if depth:
        shapes["shortcut"] = (depth, event_layout(n, shortcut_bits).size)
    return shapes


class _IdentityNeurons(LayerEngine):
    """The neuron datapath with identity weights: one cycle per event, into one lane of one word."""

    def weight_words(self) -> list[int]:
        """Word ``i``: lane ``i`` holds weight 1, every other lane 0."""
        return [pack([int(lane == i) for lane in range(self.lanes)], IDENTITY_WEIGHT_BITS)
                for i in range(max(self.lanes, 2))]

    def memory_shapes(self) -> dict[str, tuple[int, int]]:
        shapes = {"weights": (max(self.lanes, 2), self.lanes * IDENTITY_WEIGHT_BITS),
                  "biases": (max(self.n_groups, 2), self.lanes * bias_bits(self.layer)),
                  "membranes": (max(self.n_groups, 2),
                                self.lanes * lane_word_bits(self.layer, self.bounds))}
        if self.layer.neuron.kind == "adaptive":
            shapes["tables"] = (max(len(self.layer.neuron.decay_table), 2),
                                sum(table_bits(self.layer)))
        return shapes

    def _read_addresses(self, m, s):
        n = self.layer.n_out
        word, lane = divmod_const(m, s.event_index, self.lanes, n - 1, "event_word")
        s.v_addr = Signal(range(max(self.n_groups, 2)), name="membrane_address")
        m.d.comb += s.v_addr.eq(Mux(s.updating, s.group, word))
        return lane, s.group, s.v_addr

    def _same_word_within(self, distance: int) -> bool:
        return True  # events one or two cycles apart may add into one word

    def _last_issue(self, s):
        return Const(1)  # an event is one word: released in the cycle it issues

    def _step_counters(self, m, s, issue_accumulate, issue_update):
        G, group = self.n_groups, s.group
        with m.If(issue_accumulate):
            m.d.sync += s.holding.eq(0)
        with m.If(issue_update):
            with m.If(group == G - 1):
                m.d.sync += [group.eq(0), s.marker_pending.eq(1)]
            with m.Else():
                m.d.sync += group.eq(group + 1)


class ResidualEngine(wiring.Component):
    """One residual layer: branch events and delayed shortcut events into ``N`` neurons.

    Parameters
    ----------
    layer : LayerSpec
        The residual layer (``source``, ``delay``, neurons).
    bounds : LayerBounds
        Its bounds (current ``0..input_max + shortcut_max``).
    lanes : int
        Neurons updated per cycle, ``1 <= lanes <= N``.
    n : int
        Neurons ``N``: the product of the layer's shape.
    value_bits, shortcut_bits : int
        Width of the branch's and of the shortcut's event values.
    timesteps : int
        T.
    stage : int
        Position among the layers with neurons (bistable schedule).

    Attributes
    ----------
    events_in : stream of the branch's events over ``N`` indices
    shortcut_in : stream of the source's events over ``N`` indices (every step; the engine drops
        the steps no residual step uses)
    events_out : stream of spike events over ``N`` neurons
    membranes : debug view (see :func:`~spikeforge.hdl.layer_engine.membrane_signature`)
    """

    def __init__(self, layer: LayerSpec, bounds: LayerBounds, lanes: int, n: int, value_bits: int,
                 shortcut_bits: int, timesteps: int, stage: int = 0):
        self.layer, self.identity = layer, IdentityLayer(layer, n)
        self.n, self.lanes, self.timesteps, self.stage = int(n), lanes, timesteps, stage
        self.value_bits, self.shortcut_bits = value_bits, shortcut_bits
        self.merged_bits = max(value_bits, shortcut_bits)
        self.neurons = _IdentityNeurons(self.identity, bounds, lanes, self.merged_bits, timesteps,
                                        stage)
        self.spike_bits = self.neurons.spike_bits
        self.depth = shortcut_depth(self.n, layer.delay, timesteps)
        super().__init__({
            "events_in": In(event_stream(self.n, value_bits)),
            "shortcut_in": In(event_stream(self.n, shortcut_bits)),
            "events_out": Out(event_stream(self.n, self.spike_bits)),
            "membranes": Out(membrane_signature(self.identity, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        T, delay = self.timesteps, self.layer.delay
        m.submodules.neurons = neurons = self.neurons
        wiring.connect(m, neurons.events_out, wiring.flipped(self.events_out))
        wiring.connect(m, neurons.membranes, wiring.flipped(self.membranes))
        core = neurons.events_in
        short_in = self.shortcut_in
        used = T - delay  # source steps 0 .. used-1 of an image reach a residual step

        # ---- shortcut FIFO: store the source's steps below T - delay, drop the others ---------
        if self.depth:
            m.submodules.shortcut = fifo = SyncFIFOBuffered(
                width=event_layout(self.n, self.shortcut_bits).size, depth=self.depth)
            if delay:  # with delay 0 every source step is used: no counter
                source_step = Signal(range(max(T, 2)))
                keep = Signal()
                m.d.comb += keep.eq(source_step < used)
                with m.If(short_in.valid & short_in.ready & short_in.payload.last):
                    m.d.sync += source_step.eq(Mux(source_step == T - 1, 0, source_step + 1))
            else:
                keep = Const(1)
            m.d.comb += [fifo.w_data.eq(short_in.payload), fifo.w_en.eq(short_in.valid & keep),
                         short_in.ready.eq(~keep | fifo.w_rdy)]
            shortcut = event_stream(self.n, self.shortcut_bits).create()
            m.d.comb += [shortcut.payload.eq(fifo.r_data), shortcut.valid.eq(fifo.r_rdy),
                         fifo.r_en.eq(shortcut.ready)]
        else:  # delay T: the shortcut never reaches a step; drain the source's copy
            m.d.comb += short_in.ready.eq(1)
            shortcut = None

        # ---- merge: branch events, then (from step `delay` on) one step of the shortcut ---------
        main = self.events_in
        if shortcut is None:
            m.d.comb += [core.payload.index.eq(main.payload.index),
                         core.payload.value.eq(main.payload.value),
                         core.payload.last.eq(main.payload.last),
                         core.valid.eq(main.valid), main.ready.eq(core.ready)]
            return m
        reading_shortcut = Signal()
        step = Signal(range(max(T, 2)))
        if delay == 0:
            uses_shortcut = Const(1)
        else:
            uses_shortcut = Signal()
            m.d.comb += uses_shortcut.eq(step >= delay)
        next_step = Mux(step == T - 1, 0, step + 1)
        swallow = main.payload.last & uses_shortcut  # the branch's marker hands over to the shortcut
        with m.If(reading_shortcut):
            m.d.comb += [core.payload.index.eq(shortcut.payload.index),
                         core.payload.value.eq(shortcut.payload.value),
                         core.payload.last.eq(shortcut.payload.last),
                         core.valid.eq(shortcut.valid), shortcut.ready.eq(core.ready)]
            with m.If(core.valid & core.ready & core.payload.last):
                m.d.sync += [reading_shortcut.eq(0), step.eq(next_step)]
        with m.Else():
            m.d.comb += [core.payload.index.eq(main.payload.index),
                         core.payload.value.eq(main.payload.value),
                         core.payload.last.eq(main.payload.last),
                         core.valid.eq(main.valid & ~swallow),
                         main.ready.eq(Mux(swallow, 1, core.ready))]
            with m.If(main.valid & main.ready & main.payload.last):
                with m.If(swallow):
                    m.d.sync += reading_shortcut.eq(1)
                with m.Else():
                    m.d.sync += step.eq(next_step)
        return m
