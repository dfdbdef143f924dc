"""The network top: input buffer, one engine per layer, readout, all joined by streams."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikeforge.bounds import analyse, count_bits, readout_bits, unsigned_bits
from spikeforge.errors import SpikeforgeError
from spikeforge.netspec import NetSpec, layer_shapes

from .input_buffer import InputBuffer, event_value_bits, values_per_image
from .conv_engine import ConvEngine
from .cost import predicted_cycles  # noqa: F401  (re-exported: the cost model's home was here)
from .geometry import window
from .events import EventFork, EventQueue
from .layer_engine import (LayerEngine, check_pairing, memory_shapes, membrane_signature,
                           spike_bits)
from .pool_engine import POOL_KINDS, PoolEngine, pool_memory_shapes
from .readout import MembraneReadout, SpikeCountReadout
from .residual_engine import IdentityLayer, ResidualEngine, residual_memory_shapes

SUPPORTED_LAYERS = ("linear", "conv2d", "sumpool", "avgpool", "orpool", "flatten", "gap",
                    "residual")
SUPPORTED_NEURONS = ("if", "lif", "mtlif", "bistable", "adaptive")
SUPPORTED_ENCODINGS = ("direct", "rate", "latency", "hybrid", "events")
DEFAULT_MAX_LANES = 8
CYCLE_COUNTER_BITS = 32
# Words per engine memory: beyond this a layer needs more block RAM than any supported board has,
# and its addresses more bits than the engines are checked for.
MAX_MEMORY_WORDS = 1 << 20


def layer_neurons(layer, in_shape) -> int:
    """Neurons of a layer with neurons as its engine counts them: ``n_out`` (linear), output
    channels (conv2d), or every value of its shape (residual, whose neurons are ``C·H·W``)."""
    return int(np.prod(in_shape)) if layer.kind == "residual" else layer.n_out


def default_lanes(spec: NetSpec) -> list[int]:
    """Lanes per layer: all neurons (output channels) for layers of up to 16, else 8; 1 for
    stateless layers (pools, flatten, gap), which have no lanes."""
    lanes = []
    for layer, (in_shape, _) in zip(spec.layers, layer_shapes(spec)):
        n = 1 if layer.stateless else layer_neurons(layer, in_shape)
        lanes.append(n if n <= 16 else DEFAULT_MAX_LANES)
    return lanes


def lane_limit(layer, in_shape=None) -> int:
    """Largest lanes value of a layer: its neurons (linear, residual: ``in_shape`` needed),
    output channels (conv2d), else 1."""
    return 1 if layer.stateless else layer_neurons(layer, in_shape)


def stream_value_bits(spec: NetSpec, bounds=None) -> list[int]:
    """Width of the event values each layer sends (flatten: its input's), as NetworkTop builds."""
    bounds = analyse(spec) if bounds is None else bounds
    bits, result = event_value_bits(spec.input), []
    for layer, bound in zip(spec.layers, bounds):
        if layer.kind in POOL_KINDS:
            bits = unsigned_bits(bound.output_max)
        elif not layer.stateless:
            bits = spike_bits(layer)
        result.append(bits)
    return result


def engine_memory_shapes(layer, bound, lanes: int, in_shape, *, shortcut_bits: int = 1,
                         timesteps: int = 1) -> dict[str, tuple[int, int]]:
    """The memories of the engine built for ``layer`` (none for flatten). A residual layer needs
    its shortcut's value width and T (:func:`network_memory_shapes` gives them)."""
    if layer.kind in POOL_KINDS:
        return pool_memory_shapes(layer, bound, in_shape)
    if layer.kind == "flatten":
        return {}
    if layer.kind == "residual":
        return residual_memory_shapes(layer, bound, lanes, layer_neurons(layer, in_shape),
                                      shortcut_bits, timesteps)
    return memory_shapes(layer, bound, lanes,
                         window(layer, in_shape) if layer.kind == "conv2d" else None)


def network_memory_shapes(spec: NetSpec, lanes: Sequence[int]) -> list[dict[str, tuple[int, int]]]:
    """:func:`engine_memory_shapes` of every layer, first to last."""
    bounds = analyse(spec)
    bits = stream_value_bits(spec, bounds)
    index_of = {layer.name: index for index, layer in enumerate(spec.layers)}
    return [engine_memory_shapes(layer, bound, p, in_shape, timesteps=spec.timesteps,
                                 shortcut_bits=bits[index_of[layer.source]]
                                 if layer.kind == "residual" else 1)
            for layer, bound, p, (in_shape, _) in zip(spec.layers, bounds, lanes,
                                                      layer_shapes(spec))]


def _check_engines(spec: NetSpec, lanes: list[int]) -> None:
    """Limits of the built engines: the readout's flat last layer, and memory depths."""
    last = spec.layers[-1]
    if last.kind != "linear":
        readout = "membrane" if spec.readout == "membrane" else "spike-count"
        raise SpikeforgeError(f"last layer must be linear for the hardware {readout} readout",
                              f"layer {last.name}", "kind 'linear' (add flatten and a linear layer)",
                              repr(last.kind))
    for layer, shapes in zip(spec.layers, network_memory_shapes(spec, lanes)):
        for memory, (depth, _) in shapes.items():
            if depth > MAX_MEMORY_WORDS:
                raise SpikeforgeError("layer memory too deep for the engine", f"layer {layer.name}",
                                      f"{memory} of at most {MAX_MEMORY_WORDS} words",
                                      f"{depth} words")


def check_buildable(spec: NetSpec, lanes: Sequence[int] | None) -> list[int]:
    """Return the lanes to use, or raise naming the layer and the limit it breaks.

    Raises
    ------
    SpikeforgeError
        For a layer kind, neuron or encoding the generator cannot build, a lanes argument that is
        not one integer per layer, lanes outside ``1..n_out`` of their layer (``1..C_out`` for
        conv2d, ``1..C·H·W`` for residual, exactly 1 for stateless layers), a layer that is the
        source of two residual layers, a last layer that is not linear, or an engine
        memory deeper than :data:`MAX_MEMORY_WORDS`. Raised before any hardware is elaborated,
        naming the layer and the limit. An invalid geometry (a kernel larger than the padded
        input) is a :class:`~spikeforge.errors.NetSpecError` naming the layer.
    """
    if spec.input.encoding not in SUPPORTED_ENCODINGS:
        raise SpikeforgeError("input encoding not supported by the hardware generator",
                              "input.encoding", f"one of {SUPPORTED_ENCODINGS}", repr(spec.input.encoding))
    layer_shapes(spec)  # geometry first: a window larger than its padded input names its layer
    shortcut_of: dict[str, str] = {}
    for layer in spec.layers:
        if layer.kind == "residual":
            # One fork per source: a second shortcut from one layer would need a three-way fork
            # and a FIFO per delay (and the golden executor keeps one history length per source).
            if layer.source in shortcut_of:
                raise SpikeforgeError("a layer feeds more than one residual shortcut",
                                      f"layer {layer.name}",
                                      f"a source no other residual layer uses (layer "
                                      f"{shortcut_of[layer.source]} already adds {layer.source})",
                                      f"source {layer.source!r}")
            shortcut_of[layer.source] = layer.name
        if layer.kind not in SUPPORTED_LAYERS:
            raise SpikeforgeError("layer kind not supported by the hardware generator",
                                  f"layer {layer.name}", f"one of {SUPPORTED_LAYERS}", repr(layer.kind))
        if not layer.stateless and layer.neuron.kind not in SUPPORTED_NEURONS:
            raise SpikeforgeError("neuron kind not supported by the hardware generator",
                                  f"layer {layer.name}", f"one of {SUPPORTED_NEURONS}",
                                  repr(layer.neuron.kind))
    if lanes is None:
        lanes = default_lanes(spec)
        _check_engines(spec, lanes)
        return lanes
    try:  # lists, tuples and numpy arrays; not a string, nor one bare number
        if isinstance(lanes, (str, bytes)):
            raise TypeError
        lanes = list(lanes)
    except TypeError:
        raise SpikeforgeError("lanes must be a sequence of integers", "lanes",
                              f"{len(spec.layers)} integers, one per layer", repr(lanes)) from None
    if len(lanes) != len(spec.layers):
        raise SpikeforgeError("wrong number of lanes", "lanes", f"{len(spec.layers)} values, one per "
                              "layer", f"{len(lanes)} values")
    checked = []
    for layer, p, (in_shape, _) in zip(spec.layers, lanes, layer_shapes(spec)):
        # numbers.Integral admits numpy integers; bool is an int but never a lane count.
        limit = lane_limit(layer, in_shape)
        if not isinstance(p, numbers.Integral) or isinstance(p, bool):
            raise SpikeforgeError("lanes value is not an integer", f"layer {layer.name}",
                                  f"an integer in 1..{limit}", repr(p))
        if not 1 <= p <= limit:
            what = {"linear": "its neurons", "conv2d": "its output channels",
                    "residual": "its neurons, C*H*W"}.get(
                layer.kind, f"a {layer.kind} layer has no lanes")
            raise SpikeforgeError("lanes out of range", f"layer {layer.name}",
                                  f"1 <= lanes <= {limit} ({what})", str(p))
        checked.append(int(p))
    _check_engines(spec, checked)
    return checked


def output_shape(spec: NetSpec):
    """Shape of one value of the top's ``output`` stream: ``unsigned(count_bits)`` for spike
    counts, ``signed(state_bits)`` of the last layer for membranes."""
    return signed(readout_bits(spec)) if spec.readout == "membrane" else unsigned(readout_bits(spec))


def input_value_bits(spec: NetSpec) -> list[int]:
    """Width of the event values each layer receives: the input encoder's for the first layer
    (through any flatten), then the previous layer's output (spikes, MT-LIF levels, pool sums)."""
    bits, widths = event_value_bits(spec.input), []
    for layer, bound in zip(spec.layers, analyse(spec)):
        widths.append(bits)
        if layer.kind != "flatten":
            bits = unsigned_bits(bound.output_max)
    return widths


def check_pair_events(spec: NetSpec, lanes: Sequence[int], names) -> tuple[str, ...]:
    """Return the layers named in ``names`` (``--pair-events``) as a tuple, or raise naming the
    unknown layer or what stops its engine from adding two events per pass
    (:func:`~spikeforge.hdl.layer_engine.check_pairing`)."""
    if isinstance(names, str):
        names = [name for name in names.split(",") if name]
    names = tuple(names)
    by_name = {layer.name: index for index, layer in enumerate(spec.layers)}
    value_bits = input_value_bits(spec)
    for name in names:
        if name not in by_name:
            raise SpikeforgeError("unknown layer", "--pair-events",
                                  f"names of layers ({', '.join(by_name)})", repr(name))
        if names.count(name) > 1:
            raise SpikeforgeError("layer named twice", "--pair-events", "each layer once",
                                  repr(name))
        index = by_name[name]
        check_pairing(spec.layers[index], lanes[index], value_bits[index])
    return names


class NetworkTop(wiring.Component):
    """The whole network as one component with stream I/O.

    Parameters
    ----------
    spec : NetSpec
        A validated NetSpec.
    lanes : sequence of int, optional
        Neurons updated per cycle, one value per layer (default :func:`default_lanes`).
    debug : bool
        Also expose every layer's membranes as outputs ``membranes_<index>`` (see
        :func:`~spikeforge.hdl.layer_engine.membrane_signature`), for co-simulation debugging.
        Off by default: the ports then do not exist and the logic behind them is removed.
    draws_per_cycle : int
        The rate encoder's LFSR draws per cycle (:class:`~spikeforge.hdl.input_buffer.InputBuffer`).
    pair_events : sequence of str
        Names of the layers whose engine adds two input events per pass over its groups
        (:class:`~spikeforge.hdl.layer_engine.LayerEngine` ``paired``; :func:`check_pair_events`).

    Attributes
    ----------
    input : stream of ``unsigned(spec.input.bits)``, in
        The ``input.size`` values of one image, index 0 first. For the pre-encoded ``events``
        encoding an image is its ``T`` frames of event counts, frame 0 first, each ``input.size``
        values index 0 first: ``T·input.size`` values per image (the golden executor's
        ``(T, input.size)`` input in C order; :func:`~spikeforge.hdl.input_buffer.values_per_image`).
    output : stream of ``unsigned(count_bits(spec))`` or ``signed(state_bits)``, out
        The readout values, neuron 0 first: the last layer's ``n_out`` spike counts, or with the
        ``"membrane"`` readout its ``n_out`` membranes after step ``T - 1`` (signed, the last
        layer's ``state_bits`` wide; :func:`~spikeforge.bounds.readout_bits`).
    done : Signal, out
        One-cycle pulse when the last value of an image is transferred.
    cycles : Signal(32), out
        Cycles from the first accepted input value to the last transferred count of the latest
        image, both included; updated in the cycle after ``done`` and held until the next
        image's ``done``. At most two images are in flight: the first value of a third waits.
    membranes_<index> : out, only with ``debug``
        Layer ``index``'s (0-based) membranes after each update of a group: ``valid``, ``first``, ``values``.
    """

    def __init__(self, spec: NetSpec, lanes: Sequence[int] | None = None, debug: bool = False, *,
                 draws_per_cycle: int = 1, pair_events: Sequence[str] = ()):
        self.spec = spec
        self.debug = debug
        try:
            self.lanes = check_buildable(spec, lanes)
            # Rate encoder's LFSR draws per cycle (hdl/input_buffer.py); checked here, not at elaborate.
            self.draws_per_cycle = InputBuffer.check_draws(spec.input, draws_per_cycle)
            self.pair_events = check_pair_events(spec, self.lanes, pair_events)
        except SpikeforgeError:
            # Amaranth's must-use check would warn later that this refused top was never used.
            self._MustUse__silence = True
            raise
        self.bounds = analyse(spec)
        members = {
            "input": In(stream.Signature(unsigned(spec.input.bits))),
            "output": Out(stream.Signature(output_shape(spec))),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_BITS),
        }
        self.shapes = layer_shapes(spec)
        if debug:
            # Named by layer index: layer names need not be identifiers. Stateless layers have none.
            for index, (layer, p, (in_shape, _)) in enumerate(zip(spec.layers, self.lanes,
                                                                  self.shapes)):
                if layer.stateless:
                    continue
                positions = window(layer, in_shape).positions if layer.kind == "conv2d" else 1
                view = (IdentityLayer(layer, layer_neurons(layer, in_shape))
                        if layer.kind == "residual" else layer)
                members[f"membranes_{index}"] = Out(membrane_signature(view, p, positions))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        m.submodules.input_buffer = buffer = InputBuffer(spec.input, spec.timesteps,
                                                         draws_per_cycle=self.draws_per_cycle)
        # The replay's read address and the first layer's stall logic would otherwise form one
        # long path (the iCE40's critical one): a registered queue splits it, for one cycle per
        # image.
        m.submodules.input_queue = queue = EventQueue(spec.input.size, buffer.event_value_bits)
        wiring.connect(m, buffer.events, queue.events_in)
        upstream, value_bits = queue.events_out, buffer.event_value_bits
        stage = 0  # position among the layers with neurons (the bistable schedule's stage)
        # Residual shortcuts: the source's stream is forked, its copy waits here for the residual.
        tapped = {layer.source: layer.name for layer in spec.layers if layer.kind == "residual"}
        shortcuts: dict[str, tuple] = {}
        for index, (layer, bound, lanes, (in_shape, out_shape)) in enumerate(
                zip(spec.layers, self.bounds, self.lanes, self.shapes)):
            if layer.kind == "flatten":
                # NCHW indices are already flat: no hardware
                upstream = self._tap(m, tapped, shortcuts, layer, upstream, value_bits, out_shape)
                continue
            if layer.kind == "residual":
                shortcut, shortcut_bits = shortcuts[layer.name]
                engine = ResidualEngine(layer, bound, lanes, layer_neurons(layer, in_shape),
                                        value_bits, shortcut_bits, spec.timesteps, stage)
                wiring.connect(m, shortcut, engine.shortcut_in)
            elif layer.kind in POOL_KINDS:
                engine = PoolEngine(layer, bound, value_bits, in_shape)
            elif layer.kind == "conv2d":
                engine = ConvEngine(layer, bound, lanes, value_bits, spec.timesteps, stage, in_shape)
            else:
                engine = LayerEngine(layer, bound, lanes, value_bits, spec.timesteps, stage,
                                     fires=spec.fires(index),
                                     paired=layer.name in self.pair_events)
            m.submodules[f"layer_{layer.name}"] = engine
            wiring.connect(m, upstream, engine.events_in)
            if self.debug and not layer.stateless:
                wiring.connect(m, engine.membranes,
                               wiring.flipped(getattr(self, f"membranes_{index}")))
            upstream, value_bits = engine.events_out, engine.spike_bits
            upstream = self._tap(m, tapped, shortcuts, layer, upstream, value_bits, out_shape)
            stage += 0 if layer.stateless else 1
        if spec.readout == "membrane":
            m.submodules.readout = readout = MembraneReadout(
                spec.n_out, spec.layers[-1].neuron.state_bits, spec.timesteps, self.lanes[-1],
                value_bits)
            view = engine.membranes  # the last engine's, which also feeds the debug port
            m.d.comb += [readout.membranes.valid.eq(view.valid),
                         readout.membranes.first.eq(view.first),
                         readout.membranes.values.eq(view.values)]
            values, last_value = readout.values, readout.last_value
        else:
            m.submodules.readout = readout = SpikeCountReadout(spec.n_out, count_bits(spec),
                                                               spec.timesteps, value_bits)
            values, last_value = readout.counts, readout.last_count
        wiring.connect(m, upstream, readout.events)
        wiring.connect(m, values, wiring.flipped(self.output))
        m.d.comb += self.done.eq(last_value)

        # Latency: a start time per image in flight. Images overlap (the next one loads while the
        # previous one drains), so one counter is not enough; two slots are, because a third image
        # may not start before the oldest one's counts are out.
        now = Signal(CYCLE_COUNTER_BITS)
        m.d.sync += now.eq(now + 1)
        starts = [Signal(CYCLE_COUNTER_BITS, name=f"start_{slot}") for slot in range(2)]
        in_flight = Signal(range(3))
        per_image = values_per_image(spec.input, spec.timesteps)  # T·size for events, else size
        position = Signal(range(max(per_image, 2)))  # index of the next input value
        # An image's start and finish reach the bookkeeping (``starts``, ``in_flight``) through
        # registers, a cycle late: the input handshake and the readout's sit at opposite ends of
        # the design, and nothing but these two flags then joins them. ``starts`` hold the cycle
        # after the first value's; ``in_flight`` is brought up to date with the two flags.
        started, finished = Signal(), Signal()
        # ``position == 0``, and "the next value is a third image's first", as registered bits:
        # ``input.ready`` depends on them, and the bridge's handshake logic follows it within the
        # same cycle.
        at_first = Signal(init=1)  # position == 0
        blocked = Signal()
        m.d.comb += [buffer.input.payload.eq(self.input.payload),
                     buffer.input.valid.eq(self.input.valid & ~blocked),
                     self.input.ready.eq(buffer.input.ready & ~blocked)]
        accepted = self.input.valid & self.input.ready
        next_at_first = Mux(accepted, position == per_image - 1, at_first)
        # Images in flight next cycle: the bookkeeping's count brought up to date with the flags
        # (started, finished) and this cycle's start and finish.
        next_images = Signal(range(4))
        m.d.comb += next_images.eq(in_flight + started - finished + (accepted & at_first) - last_value)
        m.d.sync += [at_first.eq(next_at_first), blocked.eq(next_at_first & (next_images == 2))]
        with m.If(accepted):
            m.d.sync += position.eq(Mux(position == per_image - 1, 0, position + 1))
        m.d.sync += [started.eq(accepted & at_first), finished.eq(last_value)]
        with m.If(last_value):
            # Both cycles counted: first value accepted (``starts[0]`` - 1) and last count sent.
            # An image finishes long after it starts and after the previous one's finish, so
            # ``starts[0]`` is already this image's.
            m.d.sync += self.cycles.eq(now - starts[0] + 2)
        with m.If(started & finished):  # one image leaves (so one was in flight), the next arrives
            m.d.sync += starts[0].eq(now)
        with m.Elif(finished):
            m.d.sync += [starts[0].eq(starts[1]), in_flight.eq(in_flight - 1)]
        with m.Elif(started):
            m.d.sync += [starts[0].eq(Mux(in_flight == 0, now, starts[0])),
                         starts[1].eq(now), in_flight.eq(in_flight + 1)]
        return m

    @staticmethod
    def _tap(m, tapped, shortcuts, layer, upstream, value_bits, out_shape):
        """Fork ``upstream`` if ``layer`` is a residual's source: return the copy that goes on,
        keep the other (and its value width) in ``shortcuts`` under the residual's name."""
        if layer.name not in tapped:
            return upstream
        residual = tapped[layer.name]
        fork = EventFork(int(np.prod(out_shape)), value_bits)
        m.submodules[f"shortcut_fork_{residual}"] = fork
        wiring.connect(m, upstream, fork.events_in)
        shortcuts[residual] = (fork.b, value_bits)
        return fork.a
