"""The network top: input buffer, one engine per layer, readout, all joined by streams."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikeforge.bounds import analyse, count_bits
from spikeforge.errors import SpikeforgeError
from spikeforge.netspec import NetSpec, layer_shapes

from .input_buffer import InputBuffer
from .conv_engine import ConvEngine
from .cost import predicted_cycles  # noqa: F401  (re-exported: the cost model's home was here)
from .geometry import window
from .layer_engine import LayerEngine, memory_shapes, membrane_signature
from .pool_engine import POOL_KINDS, PoolEngine, pool_memory_shapes
from .readout import SpikeCountReadout

SUPPORTED_LAYERS = ("linear", "conv2d", "sumpool", "avgpool", "orpool", "flatten", "gap")
SUPPORTED_NEURONS = ("if", "lif", "mtlif", "bistable", "adaptive")
SUPPORTED_ENCODINGS = ("direct", "rate", "latency", "hybrid")
DEFAULT_MAX_LANES = 8
CYCLE_COUNTER_BITS = 32
# Words per engine memory: beyond this a layer needs more block RAM than any supported board has,
# and its addresses more bits than the engines are checked for.
MAX_MEMORY_WORDS = 1 << 20


def default_lanes(spec: NetSpec) -> list[int]:
    """Lanes per layer: all neurons (output channels) for layers of up to 16, else 8; 1 for
    stateless layers (pools, flatten, gap), which have no lanes."""
    return [1 if layer.stateless else layer.n_out if layer.n_out <= 16 else DEFAULT_MAX_LANES
            for layer in spec.layers]


def lane_limit(layer) -> int:
    """Largest lanes value of a layer: its neurons (linear), output channels (conv2d), else 1."""
    return 1 if layer.stateless else layer.n_out


def engine_memory_shapes(layer, bound, lanes: int, in_shape) -> dict[str, tuple[int, int]]:
    """The memories of the engine built for ``layer`` (none for flatten)."""
    if layer.kind in POOL_KINDS:
        return pool_memory_shapes(layer, bound, in_shape)
    if layer.kind == "flatten":
        return {}
    return memory_shapes(layer, bound, lanes,
                         window(layer, in_shape) if layer.kind == "conv2d" else None)


def _check_engines(spec: NetSpec, lanes: list[int]) -> None:
    """Limits of the built engines: the readout's flat last layer, and memory depths."""
    last = spec.layers[-1]
    if last.kind != "linear":
        raise SpikeforgeError("last layer must be linear for the hardware spike-count readout",
                              f"layer {last.name}", "kind 'linear' (add flatten and a linear layer)",
                              repr(last.kind))
    from spikeforge.bounds import analyse as bounds_of

    for layer, bound, p, (in_shape, _) in zip(spec.layers, bounds_of(spec), lanes,
                                              layer_shapes(spec)):
        for memory, (depth, _) in engine_memory_shapes(layer, bound, p, in_shape).items():
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
        conv2d, exactly 1 for stateless layers), a last layer that is not linear, or an engine
        memory deeper than :data:`MAX_MEMORY_WORDS`. Raised before any hardware is elaborated,
        naming the layer and the limit. An invalid geometry (a kernel larger than the padded
        input) is a :class:`~spikeforge.errors.NetSpecError` naming the layer.
    """
    if spec.input.encoding not in SUPPORTED_ENCODINGS:
        raise SpikeforgeError("input encoding not supported by the hardware generator",
                              "input.encoding", f"one of {SUPPORTED_ENCODINGS}", repr(spec.input.encoding))
    layer_shapes(spec)  # geometry first: a window larger than its padded input names its layer
    for layer in spec.layers:
        if layer.kind == "residual":
            raise SpikeforgeError("residual layers (delayed shortcuts) have no hardware engine yet",
                                  f"layer {layer.name}", f"one of {SUPPORTED_LAYERS}",
                                  repr(layer.kind))
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
    for layer, p in zip(spec.layers, lanes):
        # numbers.Integral admits numpy integers; bool is an int but never a lane count.
        limit = lane_limit(layer)
        if not isinstance(p, numbers.Integral) or isinstance(p, bool):
            raise SpikeforgeError("lanes value is not an integer", f"layer {layer.name}",
                                  f"an integer in 1..{limit}", repr(p))
        if not 1 <= p <= limit:
            what = {"linear": "its neurons", "conv2d": "its output channels"}.get(
                layer.kind, f"a {layer.kind} layer has no lanes")
            raise SpikeforgeError("lanes out of range", f"layer {layer.name}",
                                  f"1 <= lanes <= {limit} ({what})", str(p))
        checked.append(int(p))
    _check_engines(spec, checked)
    return checked


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

    Attributes
    ----------
    input : stream of ``unsigned(spec.input.bits)``, in
        The ``input.size`` values of one image, index 0 first.
    output : stream of ``unsigned(count_bits(spec))``, out
        The last layer's ``n_out`` spike counts, neuron 0 first.
    done : Signal, out
        One-cycle pulse when the last count of an image is transferred.
    cycles : Signal(32), out
        Cycles from the first accepted input value to the last transferred count of the latest
        image, both included; updated in the cycle after ``done`` and held until the next
        image's ``done``. At most two images are in flight: the first value of a third waits.
    membranes_<index> : out, only with ``debug``
        Layer ``index``'s (0-based) membranes after each update of a group: ``valid``, ``first``, ``values``.
    """

    def __init__(self, spec: NetSpec, lanes: Sequence[int] | None = None, debug: bool = False, *,
                 draws_per_cycle: int = 1):
        self.spec = spec
        self.debug = debug
        try:
            self.lanes = check_buildable(spec, lanes)
            # Rate encoder's LFSR draws per cycle (hdl/input_buffer.py); checked here, not at elaborate.
            self.draws_per_cycle = InputBuffer.check_draws(spec.input, draws_per_cycle)
        except SpikeforgeError:
            # Amaranth's must-use check would warn later that this refused top was never used.
            self._MustUse__silence = True
            raise
        self.bounds = analyse(spec)
        members = {
            "input": In(stream.Signature(unsigned(spec.input.bits))),
            "output": Out(stream.Signature(unsigned(count_bits(spec)))),
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
                members[f"membranes_{index}"] = Out(membrane_signature(layer, p, positions))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        m.submodules.input_buffer = buffer = InputBuffer(spec.input, spec.timesteps,
                                                         draws_per_cycle=self.draws_per_cycle)
        upstream, value_bits = buffer.events, buffer.event_value_bits
        stage = 0  # position among the layers with neurons (the bistable schedule's stage)
        for index, (layer, bound, lanes, (in_shape, _)) in enumerate(
                zip(spec.layers, self.bounds, self.lanes, self.shapes)):
            if layer.kind == "flatten":
                continue  # NCHW indices are already flat: no hardware
            if layer.kind in POOL_KINDS:
                engine = PoolEngine(layer, bound, value_bits, in_shape)
            elif layer.kind == "conv2d":
                engine = ConvEngine(layer, bound, lanes, value_bits, spec.timesteps, stage, in_shape)
            else:
                engine = LayerEngine(layer, bound, lanes, value_bits, spec.timesteps, stage)
            m.submodules[f"layer_{layer.name}"] = engine
            wiring.connect(m, upstream, engine.events_in)
            if self.debug and not layer.stateless:
                wiring.connect(m, engine.membranes,
                               wiring.flipped(getattr(self, f"membranes_{index}")))
            upstream, value_bits = engine.events_out, engine.spike_bits
            stage += 0 if layer.stateless else 1
        m.submodules.readout = readout = SpikeCountReadout(spec.n_out, count_bits(spec),
                                                           spec.timesteps, value_bits)
        wiring.connect(m, upstream, readout.events)
        wiring.connect(m, readout.counts, wiring.flipped(self.output))
        m.d.comb += self.done.eq(readout.last_count)

        # Latency: a start time per image in flight. Images overlap (the next one loads while the
        # previous one drains), so one counter is not enough; two slots are, because a third image
        # may not start before the oldest one's counts are out.
        now = Signal(CYCLE_COUNTER_BITS)
        m.d.sync += now.eq(now + 1)
        starts = [Signal(CYCLE_COUNTER_BITS, name=f"start_{slot}") for slot in range(2)]
        in_flight = Signal(range(3))
        position = Signal(range(max(spec.input.size, 2)))  # index of the next input value
        blocked = (position == 0) & (in_flight == 2)
        m.d.comb += [buffer.input.payload.eq(self.input.payload),
                     buffer.input.valid.eq(self.input.valid & ~blocked),
                     self.input.ready.eq(buffer.input.ready & ~blocked)]
        accepted = self.input.valid & self.input.ready
        with m.If(accepted):
            m.d.sync += position.eq(Mux(position == spec.input.size - 1, 0, position + 1))
        start = accepted & (position == 0)
        finish = readout.last_count
        with m.If(finish):
            # Both cycles counted: first value accepted and last count sent.
            m.d.sync += self.cycles.eq(now - starts[0] + 1)
        with m.If(start & finish):  # one image leaves (so one was in flight), the next arrives
            m.d.sync += starts[0].eq(now)
        with m.Elif(finish):
            m.d.sync += [starts[0].eq(starts[1]), in_flight.eq(in_flight - 1)]
        with m.Elif(start):
            m.d.sync += [starts[0].eq(Mux(in_flight == 0, now, starts[0])),
                         starts[1].eq(now), in_flight.eq(in_flight + 1)]
        return m
