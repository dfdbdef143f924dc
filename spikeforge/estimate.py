"""Resource estimate of the generated hardware from a NetSpec and lanes alone, without synthesis.

A structural model of what :class:`spikeforge.hdl.network.NetworkTop` builds, per component:

* **memories**: every ``lib.memory.Memory`` of the design (input store, and per layer weights,
  biases, membranes, adaptive tables), with the depth and width the generator allocates
  (:func:`memory_shapes`, kept equal to ``hdl`` by a test). Each is mapped as yosys'
  ``memory_libmap`` maps it on the family (:func:`map_memory`): its cost rule (soft logic costs a
  bit per RAM bit and 1/16 per ROM bit; a block RAM 64 (iCE40 EBR) or 128 (ECP5 DP16KD/PDPW16KD,
  Gowin BSRAM); a LUT RAM 4 per 16x4 cell; plus address muxing and emulated transparency) and the
  geometries of each primitive (iCE40 256x16..2048x2, ECP5 and Gowin 512x36..16384x1, 16x4 LUT
  RAM). The winner gives the block RAMs exactly, LUT RAM cells, and the flip-flops of memories
  left to logic.
* **flip-flops**: every register the generator declares (counters, pipeline stage, spike mask
  and values, emitter base, read-data registers of memories not in block RAM, memories in FFs),
  counted from the widths in :mod:`spikeforge.bounds`.
* **LUTs**: per-component terms (adder and comparator bits, mux inputs × width, multiplier
  partial products, ROM and RAM-in-logic bits, readout counters) times a few coefficients per
  family, fitted by least squares on random networks (:data:`COEFFICIENTS_FILE`).
* **DSPs**: the signal × signal multipliers that yosys' ``mul2dsp`` maps (both operands at
  least 2 bits; on iCE40 a product of at least 11 bits, with ``-dsp`` as the board build uses).

What is estimated is yosys' post-synthesis count of the network alone (no UART board top):
iCE40 ``SB_LUT4`` (logic cells before packing), ECP5 ``LUT4`` plus two per ``CCU2C``, Gowin
``LUT1..4`` plus ``ALU``; flip-flops; block RAMs. Per-layer rows let a report show where the
resources go. A network of linear layers is estimated without importing amaranth or torch, in
milliseconds.

**Image layers** (conv2d, sum/avg/or pools, gap, flatten, residual) are modelled on the generator's
own shapes and constants: the memories come from ``spikeforge.hdl.network.network_memory_shapes``
(the residual FIFO's memory is ``SyncFIFOBuffered``'s ``depth − 1`` words, not transparent), the
lanes and refusals from its ``check_buildable``, the event value widths from
``stream_value_bits``, the conv windows and tap tables from ``hdl.geometry`` and the constant
divisions from ``hdl.arith.reciprocal``. So an image network's estimate imports amaranth (about
0.5 s once). Per engine: conv2d is the linear datapath over ``OH·OW·G`` membrane words plus its
address generator (registers: channel, taps, outputs, tap counts, position; LUT terms: constant
divisions, tap tables, address products, counters); a pool or gap engine its count memory, event
and walk registers, window arithmetic, merge and emit; a residual engine the identity-weight
neurons, the shortcut FIFO (pointers, level) and the merge; flatten nothing. Three LUT groups
(``image_addr``, ``image_table``, ``image_control``) are fitted on image networks with the
linear groups held fixed. Constant products that ``mul2dsp`` takes count as DSPs.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .bounds import LayerBounds, adaptive_sum_range, analyse, count_bits, signed_bits
from .errors import SpikeforgeError
from .netspec import LayerSpec, NetSpec

#: Coefficients of the LUT terms per family: fitted by ``python bench/estimator.py --fit`` (non-
#: negative least squares on the relative error, over random calibration networks that the
#: evaluation never uses); the file records the yosys version and the networks.
COEFFICIENTS_FILE = Path(__file__).with_name("estimate_coefficients.json")

FAMILIES = ("ice40", "ecp5", "gowin")
#: What the generator builds (equal to ``spikeforge.hdl.network``'s, checked by a test; not
#: imported, so that an estimate never loads amaranth).
SUPPORTED_LAYERS = ("linear", "conv2d", "sumpool", "avgpool", "orpool", "flatten", "gap",
                    "residual")
SUPPORTED_NEURONS = ("if", "lif", "mtlif", "bistable", "adaptive")
SUPPORTED_ENCODINGS = ("direct", "rate", "latency", "hybrid")
DEFAULT_MAX_LANES = 8
CYCLE_COUNTER_BITS = 32
LFSR_BITS = 16

# ---- widths and memory shapes, as hdl/ allocates them ---------------------------------------------


def _bits(n: int) -> int:
    """Width of ``Signal(range(n))`` for ``n >= 2``."""
    return max(1, (n - 1).bit_length())


def index_bits(count: int) -> int:
    """Width of an event index into ``count`` items (``hdl.events.index_bits``)."""
    return max(1, (count - 1).bit_length())


def groups(n_out: int, lanes: int) -> int:
    """Lane groups ``ceil(n_out / lanes)``."""
    return -(-n_out // lanes)


def spike_bits(layer: LayerSpec) -> int:
    return max(1, layer.neuron.spike_max.bit_length())


def bias_bits(layer: LayerSpec) -> int:
    from .bounds import signed_bits
    return signed_bits(min(0, int(layer.bias.min())), max(0, int(layer.bias.max())))


def table_bits(layer: LayerSpec) -> tuple[int, int]:
    neuron = layer.neuron
    return (max(1, max(neuron.decay_table).bit_length()), max(1, max(neuron.gain_table).bit_length()))


def lane_word_bits(layer: LayerSpec, bounds: LayerBounds) -> int:
    if layer.neuron.kind == "adaptive":
        return bounds.acc_bits + layer.neuron.state_bits
    return bounds.sum_bits


def memory_shapes(layer: LayerSpec, bounds: LayerBounds, lanes: int) -> dict[str, tuple[int, int]]:
    """Depth and width of a layer engine's memories (``hdl.layer_engine.memory_shapes``)."""
    g = groups(layer.n_out, lanes)
    shapes = {"weights": (max(layer.n_in * g, 2), lanes * layer.weight_bits),
              "biases": (max(g, 2), lanes * bias_bits(layer)),
              "membranes": (max(g, 2), lanes * lane_word_bits(layer, bounds))}
    if layer.neuron.kind == "adaptive":
        shapes["tables"] = (max(len(layer.neuron.decay_table), 2), sum(table_bits(layer)))
    return shapes


def store_shape(spec: NetSpec) -> tuple[int, int]:
    """Depth and width of the input buffer's store (``hdl.input_buffer.store_shape``)."""
    return max(spec.input.size, 2), index_bits(spec.input.size) + spec.input.bits


def event_value_bits(spec: NetSpec) -> int:
    return spec.input.bits if spec.input.encoding in ("direct", "hybrid") else 1


# ---- memory mapping: yosys memory_libmap's choice ------------------------------------------------


@dataclass(frozen=True)
class _Primitive:
    """One RAM primitive of a family's yosys library (share/<family>/*.txt)."""

    name: str
    kind: str            # "block" or "lutram"
    abits: int
    dbits: tuple         # data widths, the depth being 2 ** (abits - index)
    cost: int
    widthscale: int = 0
    byte: int = 0        # write-enable granularity (0: the whole word)
    rom_widths: tuple = ()   # indices of dbits usable by a ROM (empty: no ROM, "prune_rom")
    ram_widths: tuple = ()   # indices usable by a RAM with a separate write port
    read_ports: int = 1      # read ports of one cell (a ROM with more is duplicated)


_LIBRARIES = {
    # $__ICE40_RAM4K_: 256x16 .. 2048x2; the HAS_BE variant writes 16 bits with bit enables, so
    # every width serves a RAM too.
    "ice40": (_Primitive("SB_RAM40_4K", "block", 11, (2, 4, 8, 16), 64, byte=1,
                         rom_widths=(0, 1, 2, 3), ram_widths=(0, 1, 2, 3)),),
    # DP16KD (true dual port, up to 18 bits), PDPW16KD (36-bit write port), DPR16X4 LUT RAM.
    "ecp5": (_Primitive("DP16KD", "block", 14, (1, 2, 4, 9, 18), 128, byte=9,
                        rom_widths=(0, 1, 2, 3, 4), ram_widths=(0, 1, 2, 3, 4), read_ports=2),
             _Primitive("PDPW16KD", "block", 14, (1, 2, 4, 9, 18, 36), 128, byte=9,
                        rom_widths=(0, 1, 2, 3, 4, 5), ram_widths=(3, 4, 5)),
             _Primitive("TRELLIS_DPR16X4", "lutram", 4, (4,), 4, ram_widths=(0,))),
    # Gowin BSRAM as SP (ROM), DP and SDP; RAM16SDP4 LUT RAM (cost scales with width).
    "gowin": (_Primitive("SP", "block", 14, (1, 2, 4, 9, 18, 36), 128, byte=9,
                         rom_widths=(0, 1, 2, 3, 4, 5)),
              _Primitive("DP", "block", 14, (1, 2, 4, 9, 18), 128, byte=9,
                         rom_widths=(0, 1, 2, 3, 4), ram_widths=(0, 1, 2, 3, 4), read_ports=2),
              _Primitive("SDP", "block", 14, (1, 2, 4, 9, 18, 36), 128, byte=9,
                         rom_widths=(0, 1, 2, 3, 4, 5), ram_widths=(0, 1, 2, 3, 4, 5)),
              _Primitive("RAM16SDP4", "lutram", 4, (4,), 4, widthscale=4, ram_widths=(0,))),
}

# memory_libmap's weights: a mux input bit and a demux bit cost 0.5, an emulation point 2.
_FACTOR_MUX, _FACTOR_DEMUX, _FACTOR_EMU = 0.5, 0.5, 2
# Emulation points of our ports: every read port not shared with the write port 1; a read port
# transparent to the write port (membranes, input store) 3 more.
_EMU_ROM, _EMU_RAM = 1, 4


@dataclass
class MemoryMapping:
    """How one memory ends up after synthesis.

    Attributes
    ----------
    name : str
        ``input_buffer.store`` or ``layer_<name>.<memory>``.
    depth, width : int
        As allocated.
    rom : bool
        No write port (weights, biases, tables).
    style : str
        ``"block"``, ``"lutram"`` or ``"logic"`` (flip-flops and LUTs).
    primitive : str
        The cell (``SB_RAM40_4K``, ``DP16KD``, ...) or ``""`` for logic.
    cells : int
        Block RAMs or LUT RAM cells used (every copy: a ROM with more read ports than its
        primitive has is duplicated).
    read_ports : int
        Read ports (2 for the weights of a paired engine).
    """

    name: str
    depth: int
    width: int
    rom: bool
    style: str = "logic"
    primitive: str = ""
    cells: int = 0
    transparent: bool = True
    read_ports: int = 1


def _geometry_cost(prim: _Primitive, depth: int, width: int, rom: bool,
                   transparent: bool = True, read_ports: int = 1) -> tuple[float, int] | None:
    """memory_libmap's cheapest geometry of ``prim`` for the memory: (cost, cells). A ROM with
    more read ports than the primitive has is duplicated: cost and cells per copy."""
    copies = -(-read_ports // prim.read_ports)
    widths = prim.rom_widths if rom else prim.ram_widths
    best = None
    for index in widths:
        unit = prim.dbits[index]
        if rom:
            byte = 1
        else:
            byte = prim.byte if 0 < prim.byte <= unit else unit
        swizzle = -(-width // byte) * byte          # the word padded to whole write bytes
        mult_a = -(-depth // (1 << (prim.abits - index)))
        cells = -(-(mult_a * swizzle) // unit)
        cost = (prim.cost - prim.widthscale) * cells
        cost += prim.widthscale * mult_a * width // unit
        cost += _FACTOR_MUX * (mult_a - 1) * width
        if not rom and mult_a != 1:
            cost += _FACTOR_DEMUX * mult_a
        cost += _FACTOR_EMU * (_EMU_ROM if rom or not transparent else _EMU_RAM)
        cost, cells = cost * copies, cells * copies
        if best is None or cost < best[0]:
            best = (cost, cells)
    return best


def map_memory(family: str, name: str, depth: int, width: int, rom: bool,
               transparent: bool = True, read_ports: int = 1) -> MemoryMapping:
    """Where yosys puts a memory on ``family``: the cheapest of logic and each primitive.

    Logic costs ``depth · width`` for a RAM and 1/16 of that for a ROM (memory_libmap's defaults,
    truncated to an integer as it does), however many read ports; a primitive wins only if
    strictly cheaper. ``read_ports`` > 1 (a ROM only): a primitive with fewer ports is duplicated,
    at the cost of every copy.
    """
    best_cost = int(depth * width * (1 / 16 if rom else 1.0))
    mapping = MemoryMapping(name, depth, width, rom, transparent=transparent,
                            read_ports=read_ports)
    for prim in _LIBRARIES[family]:
        found = _geometry_cost(prim, depth, width, rom, transparent, read_ports)
        if found is not None and found[0] < best_cost:
            best_cost = found[0]
            mapping = MemoryMapping(name, depth, width, rom, prim.kind, prim.name, found[1],
                                    transparent, read_ports)
    return mapping


# ---- the estimate ------------------------------------------------------------------------------


@dataclass
class ComponentEstimate:
    """Resources of one row: a layer engine, the input buffer, the readout or the top's counters.

    Attributes
    ----------
    name : str
        ``input_buffer``, ``input_queue``, ``layer_<name>``, ``readout`` or ``top``.
    luts, ffs, brams, lutrams, dsps : int
        Estimated LUT4s (LCs on iCE40), flip-flops, block RAMs, LUT RAM cells, DSP blocks.
    memories : list of MemoryMapping
        The memories of the row and how they map.
    terms : dict of str to float
        The LUT model's terms (what the coefficients multiply), for explanation.
    """

    name: str
    luts: int = 0
    ffs: int = 0
    brams: int = 0
    lutrams: int = 0
    dsps: int = 0
    memories: list = field(default_factory=list)
    terms: dict = field(default_factory=dict)


@dataclass
class ResourceEstimate:
    """An estimate of a whole network on one family.

    Attributes
    ----------
    family : str
        ``ice40``, ``ecp5`` or ``gowin``.
    lanes : list of int
        Lanes per layer used.
    rows : list of ComponentEstimate
        ``input_buffer``, ``input_queue``, one ``layer_<name>`` per layer, ``readout``, ``top``.
    luts, ffs, brams, lutrams, dsps : int
        Totals over the rows.
    seconds : float
        Time the estimate took.
    coefficients : dict
        Where the LUT coefficients came from (fit script, yosys version, networks).
    luts_fitted : bool
        False when the family has no fitted LUT coefficients yet: its LUT figures are then 0
        and mean "unknown" (FFs, block RAMs, LUT RAMs and DSPs do not need coefficients).
    pair_events : list of str
        Layers estimated with paired events (two per pass).
    accuracy : dict
        How well the model did against yosys on held-out networks of the same kind
        (:func:`recorded_accuracy`); empty when none is recorded.
    """

    family: str
    lanes: list
    rows: list
    seconds: float = 0.0
    coefficients: dict = field(default_factory=dict)
    luts_fitted: bool = True
    pair_events: list = field(default_factory=list)
    accuracy: dict = field(default_factory=dict)

    def _total(self, key: str) -> int:
        return int(sum(getattr(row, key) for row in self.rows))

    @property
    def luts(self) -> int:
        return self._total("luts")

    @property
    def ffs(self) -> int:
        return self._total("ffs")

    @property
    def brams(self) -> int:
        return self._total("brams")

    @property
    def lutrams(self) -> int:
        return self._total("lutrams")

    @property
    def dsps(self) -> int:
        return self._total("dsps")

    def layer(self, name: str) -> ComponentEstimate:
        """The row of layer ``name`` (or of ``input_buffer``, ``readout``, ``top``)."""
        for row in self.rows:
            if row.name in (name, f"layer_{name}"):
                return row
        raise KeyError(name)

    def as_dict(self) -> dict:
        """JSON-ready: totals, rows (with memories and LUT terms) and provenance."""
        return {"family": self.family, "lanes": list(self.lanes),
                "total": {key: getattr(self, key) for key in ("luts", "ffs", "brams", "lutrams", "dsps")},
                "rows": [asdict(row) for row in self.rows], "seconds": self.seconds,
                "what": "yosys post-synthesis cells of the network top alone (no board UART), "
                        "estimated by a structural model (spikeforge.estimate)",
                "coefficients": self.coefficients, "luts_fitted": self.luts_fitted,
                "pair_events": list(self.pair_events), "accuracy": dict(self.accuracy)}


@lru_cache(maxsize=1)
def load_coefficients() -> dict:
    """The fitted LUT coefficients per family (and their provenance) from :data:`COEFFICIENTS_FILE`."""
    return json.loads(COEFFICIENTS_FILE.read_text())


def accuracy_kind(spec: NetSpec, pair_events: Sequence[str] = ()) -> str:
    """Which held-out set speaks for an estimate of ``spec``: ``image`` (any layer besides
    linear ones), ``paired`` (a layer pairs its events) or ``linear``."""
    if any(layer.kind != "linear" for layer in spec.layers):
        return "image"
    return "paired" if pair_events else "linear"


def recorded_accuracy(family: str, kind: str) -> dict:
    """The model's recorded error on held-out networks of ``kind`` (:func:`accuracy_kind`) on
    ``family``, written by ``python bench/estimator.py --record``: networks, LUT mean, max and
    worst network, LUTs and FFs within 15 %, FF max, block RAMs exact, the command; for linear
    networks also ``cross_validation`` (``--fit``'s k-fold LUT errors on the calibration
    networks). Without the per-network errors; empty if nothing is recorded."""
    table = load_coefficients()
    entry = table.get("accuracy", {}).get(family, {}).get(kind)
    if not entry:
        return {}
    accuracy = {"kind": kind, **{key: value for key, value in entry.items() if key != "errors"}}
    # For linear networks also the cross-validation over the whole calibration set (each
    # network estimated with coefficients fitted without it): the larger sample.
    cv = table.get("calibration", {}).get(family, {}).get("cross_validation")
    if kind == "linear" and cv:
        accuracy["cross_validation"] = cv
    return accuracy


def check_lanes(spec: NetSpec, lanes) -> list[int]:
    """Lanes to use for ``spec`` (default: the generator's), or a SpikeforgeError naming the problem.

    The rules of ``spikeforge.hdl.network.check_buildable``; what the estimator does not model
    is refused as "not modelled by the estimator".
    """
    if spec.input.encoding not in SUPPORTED_ENCODINGS:
        raise SpikeforgeError("input encoding not modelled by the estimator",
                              "input.encoding", f"one of {SUPPORTED_ENCODINGS}", repr(spec.input.encoding))
    for layer in spec.layers:
        if layer.kind not in SUPPORTED_LAYERS:
            raise SpikeforgeError("layer kind not modelled by the estimator",
                                  f"layer {layer.name}", f"one of {SUPPORTED_LAYERS}", repr(layer.kind))
        if layer.neuron.kind not in SUPPORTED_NEURONS:
            raise SpikeforgeError("neuron kind not supported by the hardware generator",
                                  f"layer {layer.name}", f"one of {SUPPORTED_NEURONS}",
                                  repr(layer.neuron.kind))
    if lanes is None:
        return [layer.n_out if layer.n_out <= 16 else DEFAULT_MAX_LANES for layer in spec.layers]
    if isinstance(lanes, (str, bytes)) or not hasattr(lanes, "__iter__"):
        raise SpikeforgeError("lanes must be a sequence of integers", "lanes",
                              f"{len(spec.layers)} integers, one per layer", repr(lanes))
    lanes = list(lanes)
    if len(lanes) != len(spec.layers):
        raise SpikeforgeError("wrong number of lanes", "lanes", f"{len(spec.layers)} values, one per "
                              "layer", f"{len(lanes)} values")
    for layer, p in zip(spec.layers, lanes):
        if not isinstance(p, numbers.Integral) or isinstance(p, bool):
            raise SpikeforgeError("lanes value is not an integer", f"layer {layer.name}",
                                  f"an integer in 1..{layer.n_out}", repr(p))
        if not 1 <= p <= layer.n_out:
            raise SpikeforgeError("lanes out of range", f"layer {layer.name}",
                                  f"1 <= lanes <= {layer.n_out} (its neurons)", str(p))
    return [int(p) for p in lanes]


def _memory_ffs(mapping: MemoryMapping) -> int:
    """Flip-flops a memory costs: its read register unless in block RAM, its words if RAM in logic."""
    if mapping.style == "block":
        # Emulated transparency keeps the written word and an address match in registers.
        return 0 if mapping.rom or not mapping.transparent else mapping.width + 1
    if mapping.style == "lutram":
        return mapping.width * mapping.read_ports
    words = 0 if mapping.rom else mapping.depth * mapping.width
    return mapping.width * mapping.read_ports + words


def _memory_terms(mapping: MemoryMapping, family: str) -> dict[str, float]:
    """LUT terms of a memory: ROM/RAM bits left to logic, read muxes of LUT RAM, transparency."""
    terms = {}
    a = _bits(mapping.depth)
    if mapping.style == "logic":
        if mapping.rom:
            # One a-input function per output bit: 2^(a-4) LUT4s beyond 4 inputs (plus muxes).
            terms["rom_lut_bits"] = mapping.width * max(1.0, 2.0 ** (a - 4))
        else:
            terms["ram_mux_bits"] = mapping.width * (mapping.depth - 1)
            terms["ram_words"] = mapping.depth
    elif mapping.style == "lutram":
        terms["lutram_mux_bits"] = (mapping.width * (-(-mapping.depth // 16) - 1)
                                    * mapping.read_ports)
        terms["transparency_bits"] = mapping.width if mapping.transparent else 0
    elif not mapping.rom and mapping.transparent:
        terms["transparency_bits"] = mapping.width
    return terms


def _dsp_mul(a: int, b: int, family: str) -> int:
    """DSP blocks yosys' mul2dsp uses for an ``a × b``-bit signal product (0: soft logic)."""
    if a < 2 or b < 2:
        return 0
    if family == "ice40":
        if a + b < 11:
            return 0
        return -(-a // 16) * -(-b // 16)
    if family == "ecp5":
        return -(-a // 18) * -(-b // 18)
    # synth_gowin (yosys 0.70): MUL18X18 where one operand has 10 bits or more, MUL9X9 where
    # both have 4..9; an operand under 4 bits stays in logic (its mul2dsp DSP_*_MINWIDTH).
    if min(a, b) < 4:
        return 0
    return -(-a // 18) * -(-b // 18) if max(a, b) >= 10 else 1


def _odd_part_bits(n: int) -> int:
    """Bits of a constant factor once its trailing zeros are a shift (0 for 0)."""
    return (n >> ((n & -n).bit_length() - 1)).bit_length() if n > 0 else 0


def _leak_product_dsps(layer: LayerSpec, bound: LayerBounds, family: str) -> int:
    """DSPs of one lane's ``factor`` leak ``V × λ`` (0: none, or soft logic)."""
    neuron = layer.neuron
    if neuron.kind not in ("lif", "mtlif") or neuron.leak != "factor":
        return 0
    return _dsp_mul(bound.sum_bits, _odd_part_bits(neuron.leak_factor), family)


def _constant_product_dsps(layer: LayerSpec, bound: LayerBounds, lanes: int, family: str) -> int:
    """DSPs that synthesis spends on a linear engine's products by a constant.

    The products: the weight row ``index × G`` (an address, or a paired engine's row register),
    the lane-0 neuron ``group × lanes`` of stage 2 (stage 3 keeps a "last group" flag, no
    product), and a ``factor`` leak's ``V × λ`` per lane, each under the family's operand-width
    rule (:func:`_dsp_mul`), a constant counting the bits of its odd part (its trailing zeros
    become a shift; a power of two is no product at all). Read against the cached syntheses:
    DSPs exact on 22, 19 and 22 of the 25 evaluation networks (iCE40, ECP5, Gowin).
    """
    g = groups(layer.n_out, lanes)
    dsps = lanes * _leak_product_dsps(layer, bound, family)
    if g >= 3:
        dsps += _dsp_mul(index_bits(layer.n_in), _odd_part_bits(g), family)
    if g >= 2:
        dsps += _dsp_mul(_bits(g), _odd_part_bits(lanes), family)
    return dsps


def _add(terms: dict, more: dict) -> None:
    for key, value in more.items():
        terms[key] = terms.get(key, 0.0) + value


def never_fires(layer: LayerSpec, bounds: LayerBounds) -> bool:
    """True when the layer's clamp makes firing impossible: a constant synthesis can prove.

    A saturating layer clamps ``V`` to ``state_high``; if the threshold is above it (``>=``
    neurons) or not below it (adaptive neurons fire on ``V > θ``), no spike is ever emitted.
    ABC folds the comparison to 0, after the flip-flops are mapped: the fire and reset logic goes,
    but the datapath and memories stay (stage 3's registered sums keep the membrane loop alive),
    as do the emitter's registers (not proven constant) and the next layer's accumulate path.
    """
    if not bounds.saturates:
        return False
    threshold = layer.neuron.threshold
    if layer.neuron.kind == "adaptive":
        return threshold >= bounds.state_high
    return threshold > bounds.state_high


def _rom_data_columns(values, bits: int, depth: int) -> int:
    """Non-constant bit columns of a ROM whose words hold ``values`` (an array
    ``(lanes, words)`` of two's-complement ``bits``-wide fields), padded with zero words to
    ``depth``."""
    import numpy as np

    values = np.asarray(values, dtype=np.int64)
    lanes, words = values.shape
    if depth > words:
        values = np.concatenate([values, np.zeros((lanes, depth - words), np.int64)], axis=1)
    columns = ((values[:, None, :] >> np.arange(bits)[None, :, None]) & 1).reshape(lanes * bits, -1)
    columns = columns[columns.min(axis=1) != columns.max(axis=1)]
    # Identical columns are not merged: yosys merges some of them (opt_merge), but counting them
    # all was the better rule on the cached syntheses (FF max 13 % vs 19 %, random-1).
    return int(len(columns))


def _pipeline_ffs(layer, bounds: LayerBounds, lanes: int, value_bits: int, g: int,
                  positions: int, shapes: dict, mapped: dict, fed: bool,
                  silent: bool = False, paired: bool = False) -> int:
    """Registers of the engine's pipeline after the reads (``hdl/layer_engine.py``).

    Stage 2: its valid and phase flags and group; copies of the membrane word, of the weight
    word (or the lanes' products, with multi-bit weights and values) and of the bias word (a ROM
    left to logic: its non-constant columns only, as its read register); ``bias − θ`` per lane
    for IF and LIF neurons (its non-constant columns); ``± scale · value`` of binary weights; the
    event value of multi-bit weights. Stage 3: valid flag, word address, base index, a "last
    group" flag where the last group is partial, an accumulate's flag (its word shares the update
    sum's registers, but for adaptive neurons), and per lane an update's sums
    (:func:`_stage3_lane_ffs`). A paired engine registers the second row too, and its
    ``± scale`` registers take three values (0, one or two events).
    """
    import numpy as np

    neuron = layer.neuron
    wbits = layer.weight_bits
    ffs = 2 + (_bits(max(g, 2)) if g > 1 else 0)
    ffs += lanes * lane_word_bits(layer, bounds)
    if fed:
        weights = mapped.get("weights")
        rows = 2 if paired else 1
        if wbits > 1 and value_bits > 1:
            ffs += lanes * (wbits + value_bits)
        elif weights is not None and weights.style == "logic" and weights.rom:
            ffs += rows * _rom_columns(layer, "weights", lanes, *shapes["weights"])
        else:
            ffs += rows * shapes["weights"][1]
        if paired:
            ffs += 4
        elif wbits == 1:
            ffs += 1 if value_bits == 1 else 2 * (layer.scale * ((1 << value_bits) - 1)).bit_length() + 3
        elif value_bits == 1:
            ffs += value_bits
    biases = mapped.get("biases")
    if biases is not None and biases.style == "logic":
        ffs += _rom_columns(layer, "biases", lanes, *shapes["biases"])
    else:
        ffs += shapes["biases"][1]
    if neuron.kind in ("if", "lif") and layer.kind != "residual":
        depth = shapes["biases"][0]
        padded = g * lanes
        b = np.concatenate([np.asarray(layer.bias, np.int64),
                            np.zeros(padded - layer.n_out, np.int64)]).reshape(g, lanes).T
        obits = max(bias_bits(layer), neuron.threshold.bit_length() + 1) + 1
        ffs += _rom_data_columns(b - neuron.threshold, obits, depth)
    ffs += 1 + (g * lanes * positions).bit_length() + _bits(max(g * positions, 2))
    ffs += 1 if layer.n_out % lanes else 0  # "last group", where it has lanes without a neuron
    if fed:
        # An accumulate's word, written back from stage 3, and its flag. The word is the low
        # bits of ``V + addend``, which stage 3 registers for an update anyway (yosys merges the
        # two), except for adaptive neurons, whose update sum is another one.
        ffs += 1 + (lanes * lane_word_bits(layer, bounds) if neuron.kind == "adaptive" else 0)
    return ffs + lanes * _stage3_lane_ffs(layer, bounds, silent)


def _stage3_lane_ffs(layer, bounds: LayerBounds, silent: bool = False) -> int:
    """Registers per lane between an update's adders and its clamp, fire and reset (stage 3).

    ``V + bias`` (the bits the clamp keeps, and its sign where it can saturate), the fits flag
    where it can saturate, and for fire-at-θ neurons ``V + (bias − θ)``: all its bits for a
    subtractive reset (the reset keeps it), only its sign for a reset to zero; none where the
    layer never fires (``silent``: the fire test is constant). Yosys drops the bits nothing reads.
    """
    neuron = layer.neuron
    saturates = bounds.saturates
    width = (neuron.state_bits if neuron.kind == "adaptive" else bounds.sum_bits) + saturates
    width += saturates  # the fits flag
    if neuron.kind in ("if", "lif", "bistable") and not silent:
        width += bounds.sum_bits + 1 if neuron.reset == "subtract" else 1
    return width


def _rom_columns(layer, memory: str, lanes: int, depth: int, width: int) -> int:
    """Read-register flip-flops of a ROM left to logic: its non-constant data columns
    (weights, biases, adaptive tables, a residual's one-hot rows), from the values the
    generator stores (lane ``l`` of group ``g`` is neuron or channel ``g·P + l``, 0 past the end)."""
    import numpy as np

    if layer.kind == "residual":
        return lanes if memory == "weights" else 0   # one-hot rows; zero biases
    g = groups(layer.n_out, lanes)
    padded = g * lanes
    if memory == "weights":
        w = np.asarray(layer.weights).reshape(layer.n_out, -1)
        if layer.weight_bits == 1:
            w = (w > 0).astype(np.int64)
        w = np.concatenate([w, np.zeros((padded - layer.n_out, w.shape[1]), np.int64)])
        # lane l's field over the words (row, g): neuron g·P + l at every row.
        values = w.reshape(g, lanes, -1).transpose(1, 0, 2).reshape(lanes, -1)
        return _rom_data_columns(values, max(1, layer.weight_bits), depth)
    if memory == "biases":
        b = np.concatenate([np.asarray(layer.bias, np.int64),
                            np.zeros(padded - layer.n_out, np.int64)]).reshape(g, lanes).T
        return _rom_data_columns(b, bias_bits(layer), depth)
    if memory == "tables":
        neuron = layer.neuron
        decay_bits, _ = table_bits(layer)
        words = [d | (gn << decay_bits) for d, gn in zip(neuron.decay_table, neuron.gain_table)]
        return _rom_data_columns([words], width, depth)
    return width


def _clamp_widths(layer: LayerSpec, bounds: LayerBounds) -> tuple[int, int]:
    """Width of the sum an update clamps and of the clamped value, as the engine builds them:
    ``V + bias`` (``sum_bits + 1``) kept to ``sum_bits``, or an adaptive neuron's
    ``(λ·V + γ·I) >> F``, as wide as its range (:func:`~spikeforge.bounds.adaptive_sum_range`),
    kept whole."""
    if layer.neuron.kind != "adaptive":
        return bounds.sum_bits + 1, bounds.sum_bits
    width = signed_bits(*adaptive_sum_range(layer, bounds))
    return width, width


def _layer_row(layer: LayerSpec, bounds: LayerBounds, lanes: int, value_bits: int,
               timesteps: int, family: str, fed: bool = True,
               silent: bool = False, shapes: dict | None = None, ibits: int | None = None,
               positions: int = 1, forwards: int | None = None,
               paired: bool = False) -> ComponentEstimate:
    """One layer engine. ``fed``: the layer upstream can emit spikes (else only end-of-step
    markers arrive and the accumulate path is removed); ``silent``: :func:`never_fires`;
    ``paired``: two events per pass (a second weight read port, the rows' address counters and
    the staging register instead of the event index, a wider addend select per lane).
    ``shapes``: the engine's memories as built (default :func:`memory_shapes`, a linear layer's);
    ``ibits``: width of the latched event index (0: not latched); ``positions``: membrane words
    per group (conv2d: output positions); ``forwards``: the membrane word's forwards into stage
    1 (default: one per distance 1, 2 at least ``G``, as the linear and conv engines build)."""
    neuron = layer.neuron
    g = groups(layer.n_out, lanes)
    sbits = bounds.sum_bits
    wbits = layer.weight_bits
    nbits = neuron.state_bits
    sp_bits = spike_bits(layer)
    row = ComponentEstimate(f"layer_{layer.name}")
    terms: dict[str, float] = {}
    gbits = _bits(max(g, 2))
    # A layer that never fires (``silent``) keeps its datapath and memories: stage 3's
    # registered sums close the membrane loop, which yosys cannot prove unobservable. Only its
    # fire and reset logic becomes constant (inside ABC), and the fire-test sums then lose their
    # readers (:func:`_stage3_lane_ffs`).
    # Memories.
    shapes = memory_shapes(layer, bounds, lanes) if shapes is None else shapes
    mapped = {}
    for memory, (depth, width) in shapes.items():
        if memory == "weights" and not fed:
            continue  # nothing reads it: removed
        if memory == "shortcut":
            continue  # the residual engine's FIFO: its own row terms (_residual_row)
        mapping = map_memory(family, f"layer_{layer.name}.{memory}", depth, width,
                             rom=memory != "membranes",
                             read_ports=2 if paired and memory == "weights" else 1)
        mapped[memory] = mapping
        row.memories.append(mapping)
        row.brams += mapping.cells if mapping.style == "block" else 0
        row.lutrams += mapping.cells if mapping.style == "lutram" else 0
        if mapping.style == "logic" and mapping.rom:
            # A ROM in logic keeps a read register per data column, but yosys drops the columns
            # that are constant over all words (zero padding, equal biases, unused sign bits).
            row.ffs += _rom_columns(layer, memory, lanes, depth, width) * mapping.read_ports
        else:
            row.ffs += _memory_ffs(mapping)
        _add(terms, _memory_terms(mapping, family))

    # Registers of the control and the emitter.
    gbits = _bits(max(g, 2))
    ibits = index_bits(layer.n_in) if ibits is None else ibits
    ffs = (1 + ibits + value_bits + gbits + 1 + 1 + 1 + gbits + value_bits
           + _bits(max(timesteps, 2)) + lanes + (lanes * sp_bits if sp_bits > 1 else 0)
           + (g * lanes * positions).bit_length() + 1)
    if neuron.kind == "bistable":
        ffs += 1 + _bits(max(neuron.phase, 2))
    if not fed:  # holding, the event's index and value, stage 1's value: constant
        ffs -= 1 + ibits + 2 * value_bits
    row_bits = _bits(max(shapes["weights"][0], 2))
    counting = g & (g - 1) != 0  # a paired engine's rows count with the group unless G is 2^k
    if paired:
        # The two rows (``index·G``) and the staged row replace the event index; with G = 2^k
        # their low bits are constant 0 (removed). Flags: staged, staged marker, the pass's and
        # stage 1's "two events".
        ffs += 3 * (row_bits if counting else row_bits - (g.bit_length() - 1)) + 4 - ibits
    row.ffs += ffs
    row.ffs += _pipeline_ffs(layer, bounds, lanes, value_bits, g, positions, shapes, mapped, fed,
                             silent, paired)

    # LUT terms, per lane: accumulate, bias add, clamp, fire, reset, leak, write-back muxes.
    adaptive = neuron.kind == "adaptive"
    if not fed:
        pass                                          # no accumulate path
    elif wbits == 1:
        product_bits = (layer.scale * ((1 << value_bits) - 1)).bit_length() + 1
        terms["addsub_bits"] = lanes * sbits          # V ± scale·x
    elif value_bits == 1:
        product_bits = wbits
        terms["add_bits"] = lanes * sbits             # V + (x ? w : 0)
        terms["select_bits"] = lanes * wbits
    else:
        product_bits = wbits + value_bits
        # Graded spikes multiply by shift-add in logic (hdl.arith); wider values may use DSPs.
        from spikeforge.hdl.arith import SHIFT_ADD_MAX_BITS
        dsp = 0 if value_bits <= SHIFT_ADD_MAX_BITS else _dsp_mul(wbits, value_bits, family)
        row.dsps += lanes * dsp
        if value_bits <= SHIFT_ADD_MAX_BITS:
            # hdl.arith.shift_add: a weight select per value bit, an adder per bit after the first.
            terms["select_bits"] = lanes * wbits * value_bits
            terms["add_bits"] = lanes * (value_bits - 1) * product_bits
        elif not dsp:
            terms["mul_bits"] = lanes * wbits * value_bits
        terms["add_bits"] = terms.get("add_bits", 0) + lanes * sbits
    terms["bias_add_bits"] = lanes * (sbits + 1)
    if not fed and adaptive:
        terms["add_bits"] = 0.0                       # the accumulate field stays 0
    if bounds.saturates:
        # The clamp (hdl/layer_engine.py ``_fits``): whether the update's sum fits state_bits is
        # a gate tree over its bits from state_bits − 1 up, registered in stage 2; then per bit
        # a select of the sum or the bound (whose bits are the sign or its inverse). No
        # comparator. Its own group ("clamp"), chosen on the 8-fold CV.
        width, kept = _clamp_widths(layer, bounds)
        terms["clamp_bits"] = lanes * (max(1, width - nbits + 1) + kept)
    levels = neuron.levels if neuron.kind == "mtlif" else 1
    if silent:
        pass                                          # fire, reset: constant 0
    elif neuron.reset == "subtract":
        terms["compare_bits"] = terms.get("compare_bits", 0) + lanes * levels * sbits
        # V − s·θ: one subtractor; s·θ of a graded spike is a table of K + 1 constants over
        # the spike's few bits (a LUT per bit), not a multiplier.
        terms["sub_bits"] = lanes * sbits
        if levels > 1:
            terms["select_bits"] = (terms.get("select_bits", 0)
                                    + lanes * (levels * neuron.threshold).bit_length())
    else:
        terms["compare_bits"] = terms.get("compare_bits", 0) + lanes * levels * sbits
        if bounds.saturates:
            # The reset to zero is one more input of the clamp's LUT per bit (V, too high, too
            # low, fired): folded into it, a select like the write-back's.
            terms["mux_bits"] = terms.get("mux_bits", 0) + lanes * sbits
        else:
            # Without a clamp it is a gate of its own per bit (V and not fired).
            terms["reset_gate_bits"] = lanes * sbits
    if neuron.kind in ("lif", "mtlif") and neuron.leak == "shift":
        terms["sub_bits"] = terms.get("sub_bits", 0) + lanes * sbits
    # A factor leak's V × λ: soft logic unless it has a DSP (counted by _constant_product_dsps).
    if (neuron.kind in ("lif", "mtlif") and neuron.leak == "factor"
            and not _leak_product_dsps(layer, bounds, family)):
        # Shift-and-add: one adder per set bit after the first (a power of two is a shift).
        adders = max(0, bin(neuron.leak_factor).count("1") - 1)
        if adders:
            terms["const_mul_bits"] = lanes * sbits * adders
    if adaptive:
        decay_bits, gain_bits = table_bits(layer)
        for a, b in ((nbits, decay_bits), (bounds.acc_bits + 1, gain_bits)):
            dsp = _dsp_mul(a, b, family)
            row.dsps += lanes * dsp
            if not dsp:
                terms["mul_bits"] = terms.get("mul_bits", 0) + lanes * a * b
        terms["add_bits"] = terms.get("add_bits", 0) + lanes * (bounds.acc_bits + nbits)
    # Write-back: update or accumulate, cleared after the last step; the forwards of an
    # accumulated word to stage 1 (from stage 2's sum, from stage 3's register).
    if forwards is None:
        forwards = (g <= 1) + (g <= 2)
    word_bits = lane_word_bits(layer, bounds)
    terms["mux_bits"] = terms.get("mux_bits", 0) + lanes * (2 if fed else 1) * word_bits
    if fed and forwards:
        terms["forward_bits"] = lanes * forwards * word_bits
    # Emitter: priority encoder and value select over the lanes, clear-lowest, index adder.
    if not silent:
        terms["lane_bits"] = lanes * (1 + sp_bits + _bits(max(lanes, 2)))
    terms["control"] = 1.0
    terms["address_bits"] = ((ibits if fed else 0) + gbits
                             + (0 if silent else (g * lanes * positions).bit_length()))
    if paired:
        # Per lane one more input to the addend's select (two weight bits); the rows' loads
        # (staged or offered row) and, unless G = 2^k (the address is then ``row | group``),
        # their counters (two incrementers) instead of the adder of ``index·G + g``.
        terms["paired_select_bits"] = lanes * (product_bits + 1)
        terms["paired_address_bits"] = 5 * row_bits - ibits if counting else 2 * ibits
        terms["paired_control"] = 1.0
    row.terms = terms
    return row


def _input_row(spec: NetSpec, family: str) -> ComponentEstimate:
    row = ComponentEstimate("input_buffer")
    depth, width = store_shape(spec)
    encoding = spec.input.encoding
    replay = encoding != "events"  # the one-value-per-word replay
    mapping = map_memory(family, "input_buffer.store", depth, width, rom=False)
    row.memories.append(mapping)
    row.brams += mapping.cells if mapping.style == "block" else 0
    row.lutrams += mapping.cells if mapping.style == "lutram" else 0
    row.ffs += _memory_ffs(mapping)
    size_bits = _bits(max(spec.input.size, 2))
    count = (spec.input.size + 1).bit_length()
    row.ffs += size_bits + 2 * count + _bits(max(spec.timesteps, 2)) + 1
    terms = _memory_terms(mapping, family)
    terms["counter_bits"] = size_bits + 2 * count + _bits(max(spec.timesteps, 2))
    if replay:
        # "At the marker", as a register, and the newest entry's index it is compared with.
        row.ffs += 1 + size_bits
        terms["compare_bits"] = size_bits
    if encoding == "rate":
        # The LFSR's next state (a tap XOR and the reload of the seed per bit), like a counter;
        # the draw compared with the value.
        row.ffs += LFSR_BITS
        terms["counter_bits"] += LFSR_BITS
        terms["compare_bits"] = terms.get("compare_bits", 0) + spec.input.bits
    elif encoding in ("latency", "hybrid"):
        # fires_at: a select over every input value of the step it fires at.
        terms["mux_bits"] = (terms.get("mux_bits", 0)
                             + (spec.input.value_max + 1) * _bits(max(spec.timesteps, 2)))
        terms["compare_bits"] = terms.get("compare_bits", 0) + _bits(max(spec.timesteps, 2))
    terms["control"] = 1.0
    row.terms = terms
    return row


def _queue_row(spec: NetSpec, family: str) -> ComponentEstimate:
    """The two-event queue after the input buffer (``SyncFIFO`` of depth 2, asynchronous read):
    its two words in LUT RAM where the family has it (one cell per 4 bits), else in flip-flops
    with a read multiplexer; its pointers and level (4 flip-flops)."""
    row = ComponentEstimate("input_queue")
    width = index_bits(spec.input.size) + event_value_bits(spec) + 1  # hdl.events.event_layout
    row.ffs = 4
    lutram = next((prim for prim in _LIBRARIES[family] if prim.kind == "lutram"), None)
    if lutram is None:
        row.ffs += 2 * width
        row.terms = {"ram_mux_bits": width, "ram_words": 2, "control": 1.0}
    else:
        row.lutrams = -(-width // max(lutram.dbits))
        row.terms = {"control": 1.0}
    return row


def _readout_row(spec: NetSpec, value_bits: int, fed: bool = True,
                 lanes: int = 1) -> ComponentEstimate:
    """Spike counters, step counter, output select, the registered input event; ``fed`` False:
    the counters stay 0.

    The membrane readout (:class:`~spikeforge.hdl.readout.MembraneReadout`) has no counters: one
    ``state_bits`` register per neuron, loaded (an enable, no adder) from a fixed lane of the
    last engine when its group's ``first`` matches (one comparison per group), a second bank for
    ``T = 1``, and the output select over the bank it sends from.
    """
    if spec.readout == "membrane":
        return _membrane_readout_row(spec, lanes)
    row = ComponentEstimate("readout")
    n_out, cbits = spec.n_out, count_bits(spec)
    counters = n_out * cbits if fed else 0
    row.ffs = counters + _bits(max(spec.timesteps, 2)) + 1 + _bits(max(n_out, 2))
    # The registered input event (taken flag, index, value, end-of-step) and busy.
    row.ffs += (3 + index_bits(n_out) + value_bits) if fed else 2
    row.terms = {"counter_bits": counters, "decode_bits": n_out * index_bits(n_out) if fed else 0,
                 "mux_bits": counters, "control": 1.0}
    return row


def _membrane_readout_row(spec: NetSpec, lanes: int) -> ComponentEstimate:
    row = ComponentEstimate("readout")
    n_out, sbits = spec.n_out, spec.layers[-1].neuron.state_bits
    banks = 2 if spec.timesteps == 1 else 1
    registers = banks * n_out * sbits
    n_groups = -(-n_out // lanes)
    row.ffs = registers + _bits(max(spec.timesteps, 2)) + 1 + _bits(max(n_out, 2))
    row.terms = {"counter_bits": 0, "decode_bits": n_groups * _bits(max(n_groups * lanes, 2)),
                 "mux_bits": n_out * sbits, "control": 1.0}
    return row


def _top_row() -> ComponentEstimate:
    # Cycle counter, two start times, the latency register, images in flight.
    return ComponentEstimate("top", ffs=4 * CYCLE_COUNTER_BITS + 2,
                             terms={"counter_bits": 3 * CYCLE_COUNTER_BITS, "control": 1.0})


# ---- image layers: conv2d, pools, gap, flatten, residual ----------------------------------------
# These rows read the generator's own shapes and constants (spikeforge.hdl: network_memory_shapes,
# stream_value_bits, check_buildable, the conv windows and tap tables, the constant divisions, the
# residual FIFO depth), so an estimate of an image network loads amaranth (about 0.5 s); a network
# of linear layers only does not.


def _const_product(row: ComponentEstimate, terms: dict, operand_bits: int, constant: int,
                   family: str) -> None:
    """``signal × constant``: a shift for a power of two (free), else a DSP where yosys'
    ``mul2dsp`` takes it (the constant as wide as its value), else shift-and-add adder bits."""
    if constant <= 1 or constant & (constant - 1) == 0:
        return
    dsp = _dsp_mul(operand_bits, constant.bit_length(), family)
    if dsp:
        row.dsps += dsp
        return
    ones = bin(constant).count("1")
    terms["image_addr_bits"] = (terms.get("image_addr_bits", 0.0)
                                + (ones - 1) * (operand_bits + constant.bit_length()))


@lru_cache(maxsize=256)
def _reciprocal(divisor: int, max_value: int) -> tuple[int, int]:
    from spikeforge.hdl.arith import reciprocal
    return reciprocal(divisor, max_value)


def _divmod(row: ComponentEstimate, terms: dict, max_value: int, divisor: int, family: str) -> None:
    """``hdl.arith.divmod_const``: bit slices for a power of two, else ``(n·M) >> s`` and
    ``n − q·d``."""
    if divisor <= 1 or divisor & (divisor - 1) == 0 or max_value < divisor:
        return
    factor, _ = _reciprocal(divisor, max_value)
    _const_product(row, terms, max(1, max_value.bit_length()), factor, family)
    qbits = max(1, (max_value // divisor).bit_length())
    _const_product(row, terms, qbits, divisor, family)
    _add(terms, {"image_addr_bits": max(1, (divisor - 1).bit_length())})   # the subtraction


def _window_axis(row, terms, geo, size: int, out_size: int, family: str) -> None:
    """``conv_engine.window_axis``: ``n = c + p − tap``, ``n / s`` exactly, range checks."""
    low, high = geo.padding - (geo.kernel - 1), size - 1 + geo.padding
    _add(terms, {"image_addr_bits": max(1, high.bit_length()) + 1})
    _divmod(row, terms, high, geo.stride, family)
    compare = (1 if low < 0 else 0) + (_bits(geo.stride) if geo.stride > 1 else 0)
    if high // geo.stride >= out_size:
        compare += _bits(max(out_size, 2))
    _add(terms, {"compare_bits": compare})


def _conv_row(layer, bounds, lanes, value_bits, timesteps, family, fed, silent, shapes,
              in_shape) -> ComponentEstimate:
    """A conv2d engine: the linear datapath over ``OH·OW·G`` membrane words, plus its address
    generator (``hdl/conv_engine.py``): the event split by constant division, per-row and
    per-column tap tables, the tap, output and position counters and the address products."""
    from spikeforge.hdl.geometry import window, window_taps

    geo = window(layer, in_shape)
    positions = geo.positions
    row = _layer_row(layer, bounds, lanes, value_bits, timesteps, family, fed, silent,
                     shapes=shapes, ibits=0, positions=positions)
    terms = row.terms
    # The membranes' LUT RAM read muxes: deep in a conv engine (OH·OW·G words), which the
    # linear fit (shallow membranes) never saw: an image group of their own.
    terms["image_lutram_bits"] = terms.pop("lutram_mux_bits", 0.0)
    g = groups(layer.n_out, lanes)
    words = positions * g
    rows, columns = window_taps(geo)
    most = max(max(t.count for t in rows), max(t.count for t in columns))
    kb, ohb, owb = _bits(max(geo.kernel, 2)), _bits(max(geo.out_height, 2)), _bits(max(geo.out_width, 2))
    lb, pb, wb = _bits(max(most, 2)), _bits(max(positions, 2)), _bits(max(words, 2))
    cb = _bits(max(geo.channels, 2))
    empty = any(t.count == 0 for t in rows + columns)
    # Registers: channel, ky, kx, kx_first, oy, ox, ox_first, rows/columns left and last, the
    # position counter and stage-1 and stage-2 copies of position and address; no-tap flags.
    row.ffs += (cb + 3 * kb + ohb + 2 * owb + 3 * lb + 3 * pb + 2 * wb + (3 if empty else 0))
    plane = geo.height * geo.width
    _divmod(row, terms, geo.inputs - 1, plane, family)
    _divmod(row, terms, plane - 1, geo.width, family)
    for taps, out_bits in ((rows, ohb), (columns, owb)):
        # The constant table (first tap, first output, count − 1, none) over the coordinate.
        width = kb + out_bits + lb + 1
        terms["image_table_bits"] = (terms.get("image_table_bits", 0.0)
                                     + width * max(1.0, 2.0 ** (_bits(max(len(taps), 2)) - 4)))
    # Addresses: ((oy·OW + ox)·G + group), the membrane address mux, the weight address
    # channel·k²G + ky·kG + kx·G + group.
    _const_product(row, terms, ohb, geo.out_width, family)
    _const_product(row, terms, pb, g, family)
    _const_product(row, terms, cb, geo.kernel ** 2 * g, family)
    _const_product(row, terms, kb, geo.kernel * g, family)
    _const_product(row, terms, kb, g, family)
    weight_words = shapes["weights"][0]
    _add(terms, {"image_addr_bits": 2 * wb + 3 * _bits(weight_words)
                 + 2 * kb + ohb + owb + 2 * lb + pb,            # tap, output, count steps
                 "compare_bits": 2 * lb + pb,
                 "mux_bits": wb + 2 * (kb + owb + lb),
                 "image_control": 1.0})
    return row


def _pool_row(layer, bounds, value_bits, family, shapes, in_shape) -> ComponentEstimate:
    """A pool or gap engine (``hdl/pool_engine.py``): count memory, event and walk registers,
    window taps (pools) or the channel only (gap), merge (add or max), shift, emit."""
    from spikeforge.bounds import unsigned_bits
    from spikeforge.hdl.geometry import window
    from spikeforge.hdl.pool_engine import pool_outputs

    row = ComponentEstimate(f"layer_{layer.name}")
    depth, cbits = shapes["counts"]
    mapping = map_memory(family, f"layer_{layer.name}.counts", depth, cbits, rom=False)
    row.memories.append(mapping)
    row.brams += mapping.cells if mapping.style == "block" else 0
    row.lutrams += mapping.cells if mapping.style == "lutram" else 0
    row.ffs += _memory_ffs(mapping)
    terms = _memory_terms(mapping, family)
    channels, height, width = (int(d) for d in in_shape)
    n_out = pool_outputs(layer, in_shape)
    nb, ib = _bits(max(n_out, 2)), index_bits(channels * height * width)
    out_bits = unsigned_bits(bounds.output_max)
    # holding, event index and value, walking, walk, marker, stage-1 flags, value and address.
    row.ffs += 1 + ib + value_bits + 1 + nb + 1 + 3 + value_bits + nb
    plane = height * width
    _divmod(row, terms, channels * plane - 1, plane, family)
    if layer.kind != "gap":
        geo = window(layer, in_shape)
        kb = _bits(max(geo.kernel, 2))
        row.ffs += 2 * kb
        _divmod(row, terms, plane - 1, width, family)
        _window_axis(row, terms, geo, height, geo.out_height, family)
        _window_axis(row, terms, geo, width, geo.out_width, family)
        _const_product(row, terms, _bits(max(channels, 2)), geo.positions, family)
        _const_product(row, terms, _bits(max(geo.out_height, 2)), geo.out_width, family)
        _add(terms, {"image_addr_bits": 2 * nb + 2 * kb, "compare_bits": 2 * kb,
                     "mux_bits": nb})
    _add(terms, {"image_addr_bits": nb,                           # the walk
                 ("compare_bits" if layer.kind == "orpool" else "add_bits"): cbits,
                 "mux_bits": cbits + 2 * nb + out_bits,
                 "image_control": 1.0})
    _add(terms, {"compare_bits": out_bits + nb})                   # result != 0, last word
    row.terms = terms
    return row


def _residual_row(layer, bounds, lanes, value_bits, shortcut_bits, timesteps, family, fed,
                  silent, shapes, n) -> ComponentEstimate:
    """A residual engine (``hdl/residual_engine.py``): identity-weight neurons (the linear
    datapath over ``N`` neurons), the shortcut FIFO (``SyncFIFOBuffered``: a memory of
    ``depth − 1`` words, not transparent, and an output register) and the merge."""
    from spikeforge.hdl.residual_engine import IdentityLayer

    identity = IdentityLayer(layer, n)
    merged = max(value_bits, shortcut_bits)
    row = _layer_row(identity, bounds, lanes, merged, timesteps, family, fed, silent,
                     shapes=shapes, ibits=index_bits(n), forwards=2)
    terms = row.terms
    g = groups(n, lanes)
    row.ffs += 2 * _bits(max(g, 2))                               # stage-1, stage-2 address
    _divmod(row, terms, n - 1, lanes, family)                     # word and lane of an event
    tb = _bits(max(timesteps, 2))
    if "shortcut" in shapes:
        depth, width = shapes["shortcut"]
        inner = depth - 1
        mapping = map_memory(family, f"layer_{layer.name}.shortcut", inner, width, rom=False,
                             transparent=False)
        row.memories.append(mapping)
        row.brams += mapping.cells if mapping.style == "block" else 0
        row.lutrams += mapping.cells if mapping.style == "lutram" else 0
        # Read data: in the block RAM; else the FIFO's read register (and words in logic).
        row.ffs += (0 if mapping.style == "block" else
                    width + (inner * width if mapping.style == "logic" else 0))
        _add(terms, _memory_terms(mapping, family))
        pb, levelb = _bits(max(inner, 2)), _bits(inner + 1)
        # produce, consume, level, output valid; source step (delay > 0); merge flag and step.
        row.ffs += 2 * pb + levelb + 1 + (tb if layer.delay else 0) + 1 + tb
        _add(terms, {"image_addr_bits": 2 * pb + levelb + 2 * tb,
                     "compare_bits": 2 * levelb + 2 * pb + 3 * tb,
                     "mux_bits": 2 * (index_bits(n) + merged + 1),
                     "image_control": 1.0})
    return row


def _image_rows(spec: NetSpec, lanes, family: str,
                pair_events: Sequence[str] = ()) -> tuple[list[int], list]:
    """Lanes and rows of a network with image layers, on the generator's own shapes."""
    import numpy as np

    from spikeforge.hdl import network as hdl_network
    from spikeforge.hdl.pool_engine import POOL_KINDS
    from spikeforge.netspec import layer_shapes

    lanes = hdl_network.check_buildable(spec, lanes)
    pair_events = hdl_network.check_pair_events(spec, lanes, pair_events)
    bounds = analyse(spec)
    shapes = hdl_network.network_memory_shapes(spec, lanes)
    out_bits = hdl_network.stream_value_bits(spec, bounds)
    index_of = {layer.name: index for index, layer in enumerate(spec.layers)}
    rows = [_input_row(spec, family), _queue_row(spec, family)]
    value_bits, fed = event_value_bits(spec), True
    emits = {}
    for index, (layer, bound, p, (in_shape, _), shape) in enumerate(
            zip(spec.layers, bounds, lanes, layer_shapes(spec), shapes)):
        if layer.kind == "flatten":
            rows.append(ComponentEstimate(f"layer_{layer.name}"))    # no hardware
        elif layer.kind in POOL_KINDS:
            rows.append(_pool_row(layer, bound, value_bits, family, shape, in_shape))
        else:
            silent = never_fires(layer, bound)
            if layer.kind == "conv2d":
                row = _conv_row(layer, bound, p, value_bits, spec.timesteps, family, fed, silent,
                                shape, in_shape)
            elif layer.kind == "residual":
                source = index_of[layer.source]
                row = _residual_row(layer, bound, p, value_bits, out_bits[source], spec.timesteps,
                                    family, fed or emits[layer.source], silent, shape,
                                    int(np.prod(in_shape)))
            else:
                row = _layer_row(layer, bound, p, value_bits, spec.timesteps, family, fed, silent,
                                 shapes=shape, paired=layer.name in pair_events)
            rows.append(row)
            # A silent layer's spike registers stay (see _layer_row): the next engine is fed.
        emits[layer.name] = fed
        value_bits = out_bits[index]
    rows.append(_readout_row(spec, value_bits, fed, lanes[-1]))
    rows.append(_top_row())
    return lanes, rows


#: The LUT model's coefficient groups: each term of a row adds to one group, and each group has
#: one fitted coefficient per family (LUT4s per adder bit, per mux input bit, ...). Few groups, so
#: that the 120 calibration networks determine them (their cross-validation is recorded).
TERM_GROUPS = {
    "add_bits": "arith", "addsub_bits": "arith", "bias_add_bits": "arith", "sub_bits": "arith",
    "counter_bits": "arith", "address_bits": "arith",
    "compare_bits": "compare", "decode_bits": "compare", "reset_gate_bits": "compare",
    "clamp_bits": "clamp",
    "mux_bits": "mux", "select_bits": "mux", "lane_bits": "mux", "transparency_bits": "mux",
    "mul_bits": "mul", "const_mul_bits": "mul",
    "rom_lut_bits": "rom", "forward_bits": "fwd",
    "paired_select_bits": "paired_select", "paired_address_bits": "paired_address",
    "paired_control": "paired_control",
    "ram_mux_bits": "ram", "ram_words": "ram", "lutram_mux_bits": "ram",
    "control": "control",
    "image_addr_bits": "image_addr", "image_table_bits": "image_table",
    "image_control": "image_control", "image_lutram_bits": "image_lutram",
}
#: The groups fitted on random linear networks (``bench/estimator.py --fit``).
LINEAR_GROUPS = ("arith", "compare", "clamp", "mux", "mul", "rom", "ram", "control", "fwd")
#: The groups of a paired engine's own logic (``--pair-events``), fitted on random paired
#: networks with the linear groups held fixed.
PAIRED_GROUPS = ("paired_select", "paired_address", "paired_control")
#: The groups of the image engines' own logic, fitted on image networks with the others fixed.
IMAGE_GROUPS = ("image_addr", "image_table", "image_control", "image_lutram")
GROUPS = LINEAR_GROUPS + PAIRED_GROUPS + IMAGE_GROUPS


def lut_features(row: ComponentEstimate) -> dict[str, float]:
    """The row's LUT terms summed per coefficient group (:data:`TERM_GROUPS`)."""
    features = dict.fromkeys(GROUPS, 0.0)
    for term, value in row.terms.items():
        features[TERM_GROUPS[term]] += value
    return features


def structural_rows(spec: NetSpec, lanes=None, family: str = "ice40",
                    pair_events: Sequence[str] = ()) -> tuple[list[int], list]:
    """Lanes and the rows with memories, FFs, BRAMs, DSPs and LUT terms (no coefficients yet).
    ``pair_events``: layers whose engine adds two events per pass (``--pair-events``)."""
    if family not in FAMILIES:
        raise SpikeforgeError("unknown device family", "family", f"one of {', '.join(FAMILIES)}",
                              repr(family))
    for layer in spec.layers:
        if layer.kind not in SUPPORTED_LAYERS:
            raise SpikeforgeError("layer kind not modelled by the estimator", f"layer {layer.name}",
                                  f"one of {SUPPORTED_LAYERS}", repr(layer.kind))
    if any(layer.kind != "linear" for layer in spec.layers):
        return _image_rows(spec, lanes, family, pair_events)
    lanes = check_lanes(spec, lanes)
    if pair_events:  # refused as the generator refuses it (imports amaranth: only when asked)
        from spikeforge.hdl.network import check_pair_events

        pair_events = check_pair_events(spec, lanes, pair_events)
    bounds = analyse(spec)
    rows = [_input_row(spec, family), _queue_row(spec, family)]
    value_bits = event_value_bits(spec)
    fed = True  # the upstream stage can emit events (the input buffer can)
    for layer, bound, p in zip(spec.layers, bounds, lanes):
        silent = never_fires(layer, bound)
        row = _layer_row(layer, bound, p, value_bits, spec.timesteps, family, fed, silent,
                         paired=layer.name in pair_events)
        row.dsps += _constant_product_dsps(layer, bound, p, family)
        rows.append(row)
        value_bits = spike_bits(layer)
        # Downstream of a layer that never fires the event path stays: its spike registers are
        # not proven constant (see _layer_row), so ``fed`` remains true.
    rows.append(_readout_row(spec, value_bits, fed, lanes[-1]))
    rows.append(_top_row())
    return lanes, rows


def estimate_resources(spec: NetSpec, lanes: Sequence[int] | None = None,
                       family: str = "ice40", pair_events: Sequence[str] = ()) -> ResourceEstimate:
    """Estimate LUTs, FFs, block RAMs and DSPs of the network's hardware on a device family.

    Parameters
    ----------
    spec : NetSpec
        A validated NetSpec the generator can build.
    lanes : sequence of int, optional
        Lanes per layer (default: the generator's, ``n_out`` up to 16 else 8).
    family : str
        ``"ice40"`` (iCE40UP5K), ``"ecp5"`` or ``"gowin"`` (GW1N).
    pair_events : sequence of str
        Layers whose engine adds two events per pass (``--pair-events``), checked as the
        generator checks them.

    Returns
    -------
    ResourceEstimate
        Per-row (input buffer, each layer, readout, top) and total figures.

    Raises
    ------
    SpikeforgeError
        Unknown family; lanes that are not one integer in ``1..n_out`` per layer; a layer,
        neuron or encoding the generator cannot build (the messages name the field).
    """
    import time

    start = time.perf_counter()
    if isinstance(pair_events, str):  # "fc1,fc2", as --pair-events takes it
        pair_events = [name for name in pair_events.split(",") if name]
    lanes, rows = structural_rows(spec, lanes, family, pair_events)
    table = load_coefficients()
    coefficients = table["families"].get(family, {})
    for row in rows:
        luts = sum(coefficients.get(name, 0.0) * value for name, value in lut_features(row).items())
        row.luts = max(0, int(round(luts)))
    provenance = {key: value for key, value in table.items()
                  if key not in ("families", "accuracy")}
    return ResourceEstimate(family, lanes, rows, seconds=time.perf_counter() - start,
                            coefficients=provenance, luts_fitted=bool(coefficients),
                            pair_events=list(pair_events),
                            accuracy=recorded_accuracy(family, accuracy_kind(spec, pair_events)))


