"""Energy estimate of one inference on the event-driven hardware, and of the equivalent ANN.

Everything here is a **model**: operation and memory-access counts multiplied by per-operation
energies from a published table (:data:`HOROWITZ_45NM`, Horowitz, ISSCC 2014, 45 nm). Nothing is
measured. The counts themselves are exact: they come from the golden executor's run of the
NetSpec on the given inputs (:class:`spikeforge.golden.GoldenResult`) and from the hardware
architecture (lanes and groups of :mod:`spikeforge.hdl.layer_engine`).

The model of one linear layer with ``N`` neurons, ``P`` lanes and ``G = ceil(N / P)`` groups, per
inference (all counts averaged over the images of the batch):

* synaptic part, per input event (a nonzero input value in a step the layer integrates;
  ``events = accumulates / N``):

  - ``events * G`` weight-row reads of ``P * weight_bits`` bits;
  - ``events * G`` membrane read-modify-writes of ``P * sum_bits`` bits (the engine accumulates
    into its membrane memory);
  - ``accumulates - multiply_accumulates`` adds of ``sum_bits`` bits;
  - ``multiply_accumulates`` MACs: a ``weight_bits x value_bits`` multiply and a ``sum_bits`` add;
    binary (±1) weights instead share one ``value x scale`` product per (event, group) across the
    lanes, free when ``scale`` is a power of two (a shift);

* per-step part, whatever the activity: ``T * G`` membrane read+writes and bias reads of
  ``P * sum_bits`` bits, and the neuron update of every lane (``T * G * P`` lane-steps): bias add,
  threshold compare(s), reset subtract, clamp, leak, each an add (a multiply for a factor leak) of
  ``sum_bits`` bits.

Integer energies are interpolated between the table's 8- and 32-bit points: **linearly in the
width for adds**, **quadratically for multiplies** (in the product of the operand widths, the
partial-product count of an array multiplier; ``b**2`` for equal widths), and extrapolated the same
way outside 8..32 bits. SRAM energy is the table's 64-bit read of an 8 KB array scaled per bit;
a write costs the same as a read (an assumption: the source lists reads only).

The equivalent ANN has the same layer sizes and does every synapse as a MAC once per inference
(not ``T`` times) and reads every weight once, in 32-bit float (fp32 multiply + fp32 add) and in
8-bit integer (int8 multiply + 32-bit accumulate add). Its biases, activations and activation
memory are not counted, nor are the SNN's input encoder, readout, control, clock tree and static
power: the model compares datapaths and weight/state memories only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .bounds import analyse, unsigned_bits
from .errors import SpikeforgeError
from .netspec import NetSpec

HOROWITZ_SOURCE = ("M. Horowitz, \"1.1 Computing's energy problem (and what we can do about it)\", "
                   "ISSCC 2014 Digest of Technical Papers, pp. 10-14, doi:10.1109/ISSCC.2014.6757323; "
                   "Fig. 1.1.9, rough energy per operation, 45 nm, 0.9 V")

#: Neuron kinds the layer-engine model describes (those :mod:`spikeforge.hdl` builds).
MODELLED_NEURONS = ("if", "lif", "mtlif", "bistable")
#: Layer kinds the layer-engine model describes.
MODELLED_LAYERS = ("linear",)
#: Lanes the hardware generator uses when none are given (``spikeforge.hdl.network.default_lanes``).
DEFAULT_MAX_LANES = 8

PROVENANCE = {
    "modelled": "every energy in this report: operation and memory-access counts times "
                "per-operation energies of a published 45 nm ASIC table (not of an FPGA)",
    "measured": [],
    "counts": "exact: from the golden executor's run on these inputs and the hardware's lanes "
              "and groups (simulation, not a hardware measurement)",
}


class EnergyError(SpikeforgeError, ValueError):
    """The energy estimate cannot be made: bad counts, a result of another network, bad lanes."""


@dataclass(frozen=True)
class Cost:
    """One entry of an energy table.

    Attributes
    ----------
    picojoules : float
        Energy of one operation or access, in pJ.
    source : str
        Where the figure comes from (publication, figure), or the assumption it rests on.
    """

    picojoules: float
    source: str


@dataclass(frozen=True)
class EnergyTable:
    """Per-operation energies, each with its source.

    The model uses the keys ``int_add_8``, ``int_add_32``, ``int_mult_8``, ``int_mult_32``
    (integer add and multiply at 8 and 32 bits), ``fp32_add``, ``fp32_mult``,
    ``sram_read_8kb_64bit`` and ``sram_write_8kb_64bit`` (one 64-bit access of an 8 KB SRAM).
    Other keys are listed for reference.

    Attributes
    ----------
    name : str
        Short name of the table, repeated in reports.
    costs : mapping of str to Cost
        The entries.
    """

    name: str
    costs: Mapping[str, Cost] = field(default_factory=dict)

    REQUIRED = ("int_add_8", "int_add_32", "int_mult_8", "int_mult_32", "fp32_add", "fp32_mult",
                "sram_read_8kb_64bit", "sram_write_8kb_64bit")

    def __post_init__(self):
        missing = [key for key in self.REQUIRED if key not in self.costs]
        if missing:
            raise EnergyError("energy table lacks entries the model needs", f"table {self.name}",
                              f"keys {list(self.REQUIRED)}", f"missing {missing}")
        for key, cost in self.costs.items():
            if not (isinstance(cost, Cost) and math.isfinite(cost.picojoules) and cost.picojoules > 0):
                raise EnergyError("energy table entry is not a positive energy",
                                  f"table {self.name}, entry {key}", "Cost(picojoules > 0, source)",
                                  repr(cost))

    def pj(self, key: str) -> float:
        """Energy of entry ``key`` in pJ."""
        return self.costs[key].picojoules

    def int_add(self, bits: int) -> float:
        """Energy of a ``bits``-bit integer add (or subtract, or compare), in pJ.

        Linear in the width through the 8- and 32-bit points of the table, extrapolated linearly
        outside them: ``E(b) = E8 + (E32 - E8) * (b - 8) / 24``.
        """
        bits = _width(bits, "add width")
        low, high = self.pj("int_add_8"), self.pj("int_add_32")
        return _positive(low + (high - low) * (bits - 8) / 24, f"{bits}-bit add", self.name)

    def int_mult(self, bits_a: int, bits_b: int) -> float:
        """Energy of a ``bits_a x bits_b`` integer multiply, in pJ.

        Quadratic: linear in the product of the widths (the number of partial-product bits of an
        array multiplier) through the 8x8 and 32x32 points of the table, extrapolated the same way
        outside them: ``E(a, b) = E8 + (E32 - E8) * (a*b - 64) / (1024 - 64)``.
        """
        bits_a, bits_b = _width(bits_a, "multiplier width"), _width(bits_b, "multiplier width")
        low, high = self.pj("int_mult_8"), self.pj("int_mult_32")
        return _positive(low + (high - low) * (bits_a * bits_b - 64) / 960,
                         f"{bits_a}x{bits_b}-bit multiply", self.name)

    @property
    def sram_read_bit(self) -> float:
        """Energy of reading one bit of on-chip SRAM: the 64-bit 8 KB read divided by 64."""
        return self.pj("sram_read_8kb_64bit") / 64

    @property
    def sram_write_bit(self) -> float:
        """Energy of writing one bit of on-chip SRAM: the 64-bit 8 KB write divided by 64."""
        return self.pj("sram_write_8kb_64bit") / 64

    def to_dict(self) -> dict:
        """``{"name": ..., "entries": {key: {"pj": ..., "source": ...}}}``."""
        return {"name": self.name,
                "entries": {key: {"pj": cost.picojoules, "source": cost.source}
                            for key, cost in self.costs.items()}}


def _width(bits, what: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
        raise EnergyError(f"{what} is not a positive integer", "energy table", "an int >= 1",
                          repr(bits))
    return int(bits)


def _positive(value: float, what: str, table: str) -> float:
    if value <= 0:
        raise EnergyError("interpolated energy is not positive", f"table {table}, {what}",
                          "a table whose 8- and 32-bit points extrapolate to a positive energy",
                          f"{value} pJ")
    return value


def _horowitz(pj: float, what: str) -> Cost:
    return Cost(pj, f"{HOROWITZ_SOURCE}: {what}")


HOROWITZ_45NM = EnergyTable("horowitz-isscc2014-45nm", {
    "int_add_8": _horowitz(0.03, "8b integer add 0.03 pJ"),
    "int_add_32": _horowitz(0.1, "32b integer add 0.1 pJ"),
    "int_mult_8": _horowitz(0.2, "8b integer multiply 0.2 pJ"),
    "int_mult_32": _horowitz(3.1, "32b integer multiply 3.1 pJ"),
    "fp16_add": _horowitz(0.4, "16b floating-point add 0.4 pJ"),
    "fp32_add": _horowitz(0.9, "32b floating-point add 0.9 pJ"),
    "fp16_mult": _horowitz(1.1, "16b floating-point multiply 1.1 pJ"),
    "fp32_mult": _horowitz(3.7, "32b floating-point multiply 3.7 pJ"),
    "sram_read_8kb_64bit": _horowitz(10.0, "64-bit cache (SRAM) read, 8 KB, 10 pJ"),
    "sram_read_32kb_64bit": _horowitz(20.0, "64-bit cache (SRAM) read, 32 KB, 20 pJ"),
    "sram_read_1mb_64bit": _horowitz(100.0, "64-bit cache (SRAM) read, 1 MB, 100 pJ"),
    "dram_read_64bit": _horowitz(1300.0, "64-bit DRAM read, 1.3-2.6 nJ (low end)"),
    "sram_write_8kb_64bit": Cost(10.0, "assumption: equal to the 8 KB 64-bit read (Horowitz, ISSCC "
                                       "2014, lists reads only)"),
})
"""Horowitz, ISSCC 2014, 45 nm: the default table of :func:`estimate_energy`."""


def default_lanes(spec: NetSpec) -> list[int]:
    """Lanes per layer as the hardware generator chooses them: ``n_out`` up to 16, else 8.

    The same rule as ``spikeforge.hdl.network.default_lanes`` (repeated here so the core does not
    import the Amaranth side).
    """
    return [layer.n_out if layer.n_out <= 16 else DEFAULT_MAX_LANES for layer in spec.layers]


def _groups(n_out: int, lanes: int) -> int:
    return -(-n_out // lanes)


def _counts_array(result, attribute: str, layers: int) -> np.ndarray:
    values = getattr(result, attribute, None)
    if values is None:
        raise EnergyError("golden result lacks a count", f"result.{attribute}",
                          f"an integer array with one value per layer ({layers})", "nothing")
    array = np.asarray(values)
    if array.shape != (layers,) or not np.issubdtype(array.dtype, np.integer):
        raise EnergyError("golden result does not match the NetSpec", f"result.{attribute}",
                          f"{layers} integers, one per layer of the NetSpec",
                          f"shape {array.shape}, dtype {array.dtype}")
    negative = np.flatnonzero(array < 0)
    if negative.size:
        raise EnergyError("negative operation count", f"result.{attribute}[{int(negative[0])}]",
                          "a count >= 0", str(int(array[negative[0]])))
    return array.astype(np.int64)


def _check_spec(spec: NetSpec) -> None:
    for index, layer in enumerate(spec.layers):
        if layer.kind not in MODELLED_LAYERS:
            raise EnergyError("layer kind not covered by the energy model (the layer-engine "
                              "architecture)", f"layers[{index}] ({layer.name})",
                              f"one of {MODELLED_LAYERS}", repr(layer.kind))
        if layer.neuron.kind not in MODELLED_NEURONS:
            raise EnergyError("neuron kind not covered by the energy model",
                              f"layers[{index}] ({layer.name}).neuron.kind",
                              f"one of {MODELLED_NEURONS}", repr(layer.neuron.kind))


def _check_lanes(spec: NetSpec, lanes) -> list[int]:
    if lanes is None:
        return default_lanes(spec)
    lanes = list(lanes)
    if len(lanes) != len(spec.layers):
        raise EnergyError("wrong number of lanes", "lanes",
                          f"{len(spec.layers)} values, one per layer", f"{len(lanes)} values")
    checked = []
    for layer, p in zip(spec.layers, lanes):
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or not 1 <= p <= layer.n_out:
            raise EnergyError("lanes out of range", f"lanes of layer {layer.name}",
                              f"an integer 1 <= lanes <= {layer.n_out} (its neurons)", repr(p))
        checked.append(int(p))
    return checked


def _check_result(spec: NetSpec, result, bounds) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Images, accumulates, multiply-accumulates and layer spikes of a result of ``spec``."""
    layers = len(spec.layers)
    counts = getattr(result, "counts", None)
    if counts is None or np.ndim(counts) != 2:
        raise EnergyError("not a golden result", "result.counts",
                          "a GoldenResult of spikeforge.golden.run (counts of shape (images, n_out))",
                          type(result).__name__ if counts is None else f"shape {np.shape(counts)}")
    images = int(np.shape(counts)[0])
    if images < 1:
        raise EnergyError("golden result of no images", "result.counts", "at least one image", "0")
    if np.shape(counts)[1] != spec.n_out:
        raise EnergyError("golden result does not match the NetSpec", "result.counts",
                          f"{spec.n_out} counts per image (the last layer's neurons)",
                          f"{np.shape(counts)[1]}")
    names = list(getattr(result, "layer_names", []) or [])
    expected = [layer.name for layer in spec.layers]
    if names and names != expected:
        raise EnergyError("golden result does not match the NetSpec", "result.layer_names",
                          str(expected), str(names))
    accumulates = _counts_array(result, "accumulates", layers)
    macs = _counts_array(result, "multiply_accumulates", layers)
    spikes = np.asarray(getattr(result, "layer_spikes", np.zeros((layers, spec.timesteps), np.int64)))
    if spikes.shape != (layers, spec.timesteps):
        raise EnergyError("golden result does not match the NetSpec", "result.layer_spikes",
                          f"shape ({layers}, {spec.timesteps}) (layers, time steps)",
                          f"shape {spikes.shape}")
    if (spikes < 0).any():
        where = tuple(int(i) for i in np.argwhere(spikes < 0)[0])
        raise EnergyError("negative spike count", f"result.layer_spikes{list(where)}", "a count >= 0",
                          str(int(spikes[where])))
    for index, (layer, bound) in enumerate(zip(spec.layers, bounds)):
        where = f"layers[{index}] ({layer.name})"
        if accumulates[index] % layer.n_out:
            raise EnergyError("accumulates are not a whole number of input events",
                              f"result.accumulates[{index}], {where}",
                              f"a multiple of the layer's {layer.n_out} neurons (events x neurons)",
                              str(int(accumulates[index])))
        most = images * spec.timesteps * layer.n_in * layer.n_out
        if accumulates[index] > most:
            raise EnergyError("more accumulates than the layer can do", f"result.accumulates[{index}], "
                              f"{where}", f"at most images x T x n_in x n_out = {most}",
                              str(int(accumulates[index])))
        if macs[index] > accumulates[index]:
            raise EnergyError("more multiply-accumulates than accumulates",
                              f"result.multiply_accumulates[{index}], {where}",
                              f"at most accumulates = {int(accumulates[index])}", str(int(macs[index])))
        if macs[index] and bound.input_max <= 1:
            raise EnergyError("multiply-accumulates in a layer with 1-bit inputs",
                              f"result.multiply_accumulates[{index}], {where}",
                              "0 (spike inputs make adds)", str(int(macs[index])))
    return images, accumulates, macs, spikes


def _neuron_ops(layer, bound) -> tuple[int, int]:
    """Adds (and compares) and multiplies of one lane's neuron update in one step."""
    neuron = layer.neuron
    adds = 1                                            # V + bias
    adds += neuron.levels if neuron.kind == "mtlif" else 1  # threshold compare(s)
    adds += 1 if neuron.reset == "subtract" else 0        # V - s*theta
    adds += 2 if bound.saturates else 0                   # clamp: two compares
    mults = 0
    if neuron.kind in ("lif", "mtlif") and neuron.leak == "shift":
        adds += 1                                         # V - (V >> k)
    if neuron.kind in ("lif", "mtlif") and neuron.leak == "factor":
        mults += 1                                        # (lambda * V) >> F
    return adds, mults


def estimate_energy(spec: NetSpec, golden_result, lanes: Sequence[int] | None = None,
                    table: EnergyTable = HOROWITZ_45NM) -> "EnergyReport":
    """Modelled energy of one inference (per image, averaged over the batch), SNN and ANN.

    Parameters
    ----------
    spec : NetSpec
        The network (linear layers with IF, LIF, MT-LIF or bistable neurons, as the hardware
        generator builds them).
    golden_result : spikeforge.golden.GoldenResult
        ``spikeforge.golden.run(spec, images)``: its ``accumulates`` and ``multiply_accumulates``
        per layer are the synaptic operation counts; its batch size divides every count.
    lanes : sequence of int, optional
        Lanes ``P`` per layer, as given to the hardware generator (default: its default,
        :func:`default_lanes`).
    table : EnergyTable
        Per-operation energies (default :data:`HOROWITZ_45NM`).

    Returns
    -------
    EnergyReport
        Per-layer and total pJ of the SNN (adds, MACs, neuron updates, memory) and of the
        equivalent ANN in fp32 and int8, and their ratios. Every energy is a model; none is measured.

    Raises
    ------
    EnergyError
        For negative counts, a result whose layers, sizes, steps or counts do not fit ``spec``,
        lanes out of range, or layer and neuron kinds the model does not cover; the message names
        the field, what was expected and what was found.

    Notes
    -----
    Integer add energy is linear in the operand width and multiply energy quadratic (in the product
    of the operand widths), both interpolated between the table's 8- and 32-bit points; SRAM energy
    is per bit, from the 64-bit access of an 8 KB array. See the module docstring and
    ``docs/energy.md`` for every term.
    """
    if not isinstance(spec, NetSpec):
        raise EnergyError("not a NetSpec", "spec", "a spikeforge.netspec.NetSpec", type(spec).__name__)
    if not isinstance(table, EnergyTable):
        raise EnergyError("not an energy table", "table", "an EnergyTable", type(table).__name__)
    spec.validate()
    _check_spec(spec)
    lanes = _check_lanes(spec, lanes)
    bounds = analyse(spec)
    images, accumulates, macs, spikes = _check_result(spec, golden_result, bounds)
    steps = spec.timesteps
    read_bit, write_bit = table.sram_read_bit, table.sram_write_bit
    ann_fp32_mac = table.pj("fp32_mult") + table.pj("fp32_add")
    ann_int8_mac = table.int_mult(8, 8) + table.int_add(32)

    layers = []
    for index, (layer, bound, p) in enumerate(zip(spec.layers, bounds, lanes)):
        g = _groups(layer.n_out, p)
        width = bound.sum_bits
        value_bits = (spec.input.bits if index == 0 else unsigned_bits(bound.input_max))
        events = float(accumulates[index]) / layer.n_out / images
        n_macs = float(macs[index]) / images
        n_adds = float(accumulates[index] - macs[index]) / images
        add_pj = table.int_add(width)
        if layer.weight_bits == 1:
            # One value x scale product per (event, group), shared by the lanes; a shift when the
            # scale is a power of two. Each lane then adds or subtracts it.
            shared = 0.0 if (layer.scale & (layer.scale - 1)) == 0 else n_macs / layer.n_out * g
            multiply_bits = (value_bits, unsigned_bits(layer.scale))
            mac_pj = n_macs * add_pj + shared * table.int_mult(*multiply_bits)
            multiplies = shared
        else:
            multiply_bits = (layer.weight_bits, value_bits)
            multiplies = n_macs
            mac_pj = n_macs * (table.int_mult(*multiply_bits) + add_pj)
        group_reads = events * g                      # (event, group) cycles
        group_steps = steps * g                       # neuron-update cycles
        lane_steps = group_steps * p
        word = p * width                              # one membrane or bias word
        memory = {
            "weight_reads": group_reads * p * layer.weight_bits * read_bit,
            "membrane_accumulate": group_reads * word * (read_bit + write_bit),
            "membrane_update": group_steps * word * (read_bit + write_bit),
            "bias_reads": group_steps * word * read_bit,
        }
        neuron_adds, neuron_mults = _neuron_ops(layer, bound)
        neuron_pj = lane_steps * neuron_adds * add_pj
        if neuron_mults:
            neuron_pj += lane_steps * neuron_mults * table.int_mult(width, layer.neuron.frac_bits + 1)
        snn = {"adds": n_adds * add_pj, "macs": mac_pj, "neuron": neuron_pj,
               "memory": sum(memory.values())}
        snn["total"] = sum(snn.values())
        per_step = neuron_pj + memory["membrane_update"] + memory["bias_reads"]
        synapses = layer.n_in * layer.n_out
        ann = {"fp32": {"macs": synapses * ann_fp32_mac, "memory": synapses * 32 * read_bit},
               "int8": {"macs": synapses * ann_int8_mac, "memory": synapses * 8 * read_bit}}
        for precision in ann.values():
            precision["total"] = precision["macs"] + precision["memory"]
        layers.append({
            "name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out, "lanes": p, "groups": g,
            "weight_bits": layer.weight_bits, "value_bits": value_bits, "sum_bits": width,
            "multiply_bits": list(multiply_bits) if n_macs else None,
            "counts": {"events": events, "adds": n_adds, "macs": n_macs, "multiplies": multiplies,
                       "weight_reads": group_reads, "weight_read_bits": p * layer.weight_bits,
                       "membrane_accumulate_rmw": group_reads, "group_steps": group_steps,
                       "lane_steps": lane_steps, "neuron_adds_per_lane_step": neuron_adds,
                       "neuron_multiplies_per_lane_step": neuron_mults,
                       "spikes": float(spikes[index].sum()) / images,
                       "ann_synapses": synapses},
            "snn_pj": snn, "snn_memory_pj": memory,
            "snn_split_pj": {"event_driven": snn["total"] - per_step, "per_step": per_step},
            "ann_pj": ann,
        })
    return EnergyReport(network=spec.name, images=images, timesteps=steps, lanes=lanes,
                        table=table, layers=layers)


def _sum(layers: list, *path: str) -> float:
    total = 0.0
    for layer in layers:
        value = layer
        for key in path:
            value = value[key]
        total += value
    return total


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


@dataclass(frozen=True)
class EnergyReport:
    """Modelled energy of one inference, per layer and in total (pJ).

    Attributes
    ----------
    network : str
        The NetSpec's name.
    images : int
        Images the counts were averaged over.
    timesteps : int
        T.
    lanes : list of int
        Lanes per layer of the modelled hardware.
    table : EnergyTable
        The per-operation energies used.
    layers : list of dict
        Per layer: sizes, widths, ``counts`` per inference, ``snn_pj`` (``adds``, ``macs``,
        ``neuron``, ``memory``, ``total``), ``snn_memory_pj`` (``weight_reads``,
        ``membrane_accumulate``, ``membrane_update``, ``bias_reads``), ``snn_split_pj``
        (``event_driven``, ``per_step``) and ``ann_pj`` (``fp32``/``int8``: ``macs``, ``memory``,
        ``total``).
    """

    network: str
    images: int
    timesteps: int
    lanes: list
    table: EnergyTable
    layers: list

    @property
    def snn(self) -> dict:
        """Totals of the SNN over the layers: ``adds``, ``macs``, ``neuron``, ``memory``, ``total``."""
        keys = ("adds", "macs", "neuron", "memory", "total")
        totals = {key: _sum(self.layers, "snn_pj", key) for key in keys}
        totals["memory_detail"] = {key: _sum(self.layers, "snn_memory_pj", key)
                                   for key in self.layers[0]["snn_memory_pj"]}
        totals["event_driven"] = _sum(self.layers, "snn_split_pj", "event_driven")
        totals["per_step"] = _sum(self.layers, "snn_split_pj", "per_step")
        return totals

    @property
    def ann(self) -> dict:
        """Totals of the equivalent ANN: ``fp32`` and ``int8``, each ``macs``, ``memory``, ``total``."""
        return {precision: {key: _sum(self.layers, "ann_pj", precision, key)
                            for key in ("macs", "memory", "total")}
                for precision in ("fp32", "int8")}

    @property
    def ratios(self) -> dict:
        """ANN energy divided by SNN energy (above 1: the SNN is estimated to use less).

        ``total``: everything modelled; ``compute``: arithmetic only (SNN adds, MACs and neuron
        updates against the ANN's MACs). None where the SNN's energy is 0.
        """
        snn, ann = self.snn, self.ann
        compute = snn["adds"] + snn["macs"] + snn["neuron"]
        return {f"ann_{precision}_over_snn": {"total": _ratio(ann[precision]["total"], snn["total"]),
                                              "compute": _ratio(ann[precision]["macs"], compute)}
                for precision in ("fp32", "int8")}

    def to_dict(self) -> dict:
        """Everything as plain JSON-serialisable values (pJ per inference)."""
        return {
            "kind": "model",
            "provenance": PROVENANCE,
            "unit": "pJ per inference (per image, averaged over the batch)",
            "network": self.network, "images": self.images, "timesteps": self.timesteps,
            "lanes": list(self.lanes),
            "table": self.table.to_dict(),
            "model": {
                "int_add": "linear in width between the table's 8- and 32-bit points",
                "int_mult": "linear in (width_a x width_b) between the 8x8 and 32x32 points "
                            "(quadratic in the width)",
                "sram": "per bit: the 64-bit 8 KB access / 64; write = read (assumption)",
                "ann": "every synapse one MAC per inference (not T times), every weight read once; "
                       "fp32: fp32 mult + fp32 add; int8: 8x8 mult + 32-bit add",
                "not_counted": "SNN input encoder, readout, control, clock, static power; "
                               "ANN biases, activations and activation memory",
            },
            "layers": self.layers,
            "snn_pj": self.snn,
            "ann_pj": self.ann,
            "ratios": self.ratios,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """A plain-text table of the per-layer and total energies (pJ per inference)."""
        head = (f"energy per inference (MODEL, table {self.table.name}; nothing measured), "
                f"{self.network}, T={self.timesteps}, {self.images} images")
        columns = ("layer", "adds", "macs", "neuron", "memory", "SNN total", "ANN fp32", "ANN int8")
        rows = [columns]
        for layer in self.layers:
            snn, ann = layer["snn_pj"], layer["ann_pj"]
            rows.append((layer["name"], *(f"{snn[key]:.1f}" for key in ("adds", "macs", "neuron",
                                                                        "memory", "total")),
                         f"{ann['fp32']['total']:.1f}", f"{ann['int8']['total']:.1f}"))
        snn, ann = self.snn, self.ann
        rows.append(("total", *(f"{snn[key]:.1f}" for key in ("adds", "macs", "neuron", "memory",
                                                              "total")),
                     f"{ann['fp32']['total']:.1f}", f"{ann['int8']['total']:.1f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
        lines = [head] + ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                    for i, (cell, w) in enumerate(zip(row, widths)))
                          for row in rows]
        memory = snn["memory_detail"]
        lines.append("SNN memory: " + ", ".join(f"{key} {value:.1f}" for key, value in memory.items()))
        lines.append(f"SNN event-driven {snn['event_driven']:.1f}, per-step {snn['per_step']:.1f}")
        for name, ratio in self.ratios.items():
            total = "n/a" if ratio["total"] is None else f"{ratio['total']:.2f}"
            compute = "n/a" if ratio["compute"] is None else f"{ratio['compute']:.2f}"
            lines.append(f"{name}: total {total}x, compute only {compute}x")
        return "\n".join(lines)
