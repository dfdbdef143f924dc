"""NetSpec: the integer intermediate representation shared by the golden model and the hardware.

A NetSpec is saved as one ``.npz`` file: a JSON header (under the key ``header``) that holds every
scalar field and the schema version, and one integer array per layer tensor (``layers.<i>.weights``,
``layers.<i>.bias``). :func:`load` validates everything and raises :class:`NetSpecError` naming the
field, what was expected and what was found.

Semantics (see ``docs/semantics.md``): per time step ``t`` and layer ``l`` with input ``x`` (input
values for the first layer, 0/1 spikes after it)::

    I = (weights * scale) @ x + bias          # exact integer accumulate
    V = clamp(V + I, state range)            # the clamp never bites when the bounds allow it
    s = 1 if V >= threshold else 0           # ">=": firing exactly at threshold
    V = V - s * threshold  (reset "subtract")   or   V = 0 where s  (reset "zero")

The readout is the per-neuron spike count of the last layer over the ``timesteps`` steps.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import NetSpecError

SCHEMA_VERSION = 1
FORMAT_NAME = "spikeforge.netspec"

ENCODINGS = ("direct", "rate", "latency", "hybrid", "events")
LAYER_KINDS = ("linear",)
NEURON_KINDS = ("if", "lif", "mtlif", "bistable", "adaptive")
RESET_MODES = ("subtract", "zero")
LEAK_KINDS = ("none", "shift", "factor")
MAX_FRAC_BITS = 16
MAX_LEVELS = 255
READOUTS = ("spike_count",)

MAX_STATE_BITS = 32
MAX_WEIGHT_BITS = 8
MAX_INPUT_BITS = 16
MAX_TIMESTEPS = 255


@dataclass(frozen=True)
class InputSpec:
    """The network input.

    Parameters
    ----------
    size : int
        Number of input values per time step (the flattened image).
    encoding : str
        How an image becomes per-step input values (see ``docs/semantics.md``): ``"direct"`` (the
        same values every step), ``"rate"`` (0/1 from a 16-bit LFSR), ``"latency"`` (one spike per
        nonzero value, brighter earlier), ``"hybrid"`` (step 0 direct, later steps latency) or
        ``"events"`` (the input already holds one frame of event counts per step).
    bits : int
        Unsigned bit width of one input value.
    max_value : int
        Largest input value that can occur (``<= 2**bits - 1``); the compiler bounds widths from it.
    rate_seed : int
        Seed of the rate encoder's LFSR (1..65535), restarted for every image.
    """

    size: int
    encoding: str = "direct"
    bits: int = 8
    max_value: int | None = None
    rate_seed: int = 0xACE1

    @property
    def value_max(self) -> int:
        return (1 << self.bits) - 1 if self.max_value is None else self.max_value

    @property
    def first_layer_max(self) -> int:
        """Largest value the first layer receives in one step (1 for the spike encodings)."""
        return 1 if self.encoding in ("rate", "latency") else self.value_max


@dataclass(frozen=True)
class NeuronSpec:
    """Integer parameters of a layer's neurons.

    Parameters
    ----------
    kind : str
        ``"if"`` integrate-and-fire, ``"lif"`` leaky, ``"mtlif"`` multi-threshold leaky with graded
        spikes 0..``levels``, ``"bistable"`` integrate/fire phases of ``phase`` steps, ``"adaptive"``
        per-step leak and gain tables. Equations in ``docs/semantics.md``.
    threshold : int
        Firing threshold θ (``>= 1``). ``V >= θ`` fires, except ``"adaptive"``: ``V > θ``.
    reset : str
        ``"subtract"`` (V ← V − s·θ) or ``"zero"`` (V ← 0 where a spike was sent).
    state_bits : int
        Signed width of the membrane V. Where the compiler's bound exceeds it, V saturates.
    leak : str
        ``"lif"``/``"mtlif"``: ``"shift"`` (V − (V >> leak_shift)), ``"factor"``
        ((leak_factor · V) >> frac_bits) or ``"none"``.
    leak_shift : int
        k of the shift leak (``1 <= k < state_bits``).
    leak_factor : int
        λ of the factor leak, in Q``frac_bits`` (``0 <= λ <= 2**frac_bits``).
    frac_bits : int
        F of ``leak_factor`` and of the adaptive tables.
    levels : int
        K of ``"mtlif"``: a spike carries 0..K.
    phase : int
        P of ``"bistable"``: integrate and fire phases of P steps.
    decay_table, gain_table : tuple of int
        ``"adaptive"``: λ_t and γ_t for every step t (length T), in Q``frac_bits``.
    """

    kind: str = "if"
    threshold: int = 1
    reset: str = "subtract"
    state_bits: int = 16
    leak: str = "none"
    leak_shift: int = 0
    leak_factor: int = 0
    frac_bits: int = 0
    levels: int = 1
    phase: int = 0
    decay_table: tuple = ()
    gain_table: tuple = ()

    @property
    def spike_max(self) -> int:
        """Largest value one spike carries (K for MT-LIF, else 1)."""
        return self.levels if self.kind == "mtlif" else 1

    def header(self) -> dict:
        """The fields that matter for this kind, as written in a NetSpec header."""
        fields = {"kind": self.kind, "threshold": self.threshold, "reset": self.reset,
                  "state_bits": self.state_bits}
        if self.kind in ("lif", "mtlif"):
            fields.update(leak=self.leak, leak_shift=self.leak_shift, leak_factor=self.leak_factor,
                          frac_bits=self.frac_bits)
        if self.kind == "mtlif":
            fields["levels"] = self.levels
        if self.kind == "bistable":
            fields["phase"] = self.phase
        if self.kind == "adaptive":
            fields.update(frac_bits=self.frac_bits, decay_table=list(self.decay_table),
                          gain_table=list(self.gain_table))
        return fields


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One layer: an integer synaptic operator followed by a neuron array.

    Parameters
    ----------
    name : str
        Unique name used in reports and error messages.
    kind : str
        ``"linear"``: fully connected.
    weights : numpy.ndarray
        Integer weights, shape ``(n_out, n_in)``. For ``weight_bits == 1`` they are ±1.
    weight_bits : int
        1 for binary ±1 weights, otherwise signed ``weight_bits``-bit integers.
    scale : int
        Positive integer the binary weights are multiplied by (1 for multi-bit weights).
    bias : numpy.ndarray
        Integer bias, shape ``(n_out,)``, added once per time step.
    neuron : NeuronSpec
        The neurons of the layer.
    """

    name: str
    kind: str
    weights: np.ndarray
    weight_bits: int
    bias: np.ndarray
    neuron: NeuronSpec
    scale: int = 1

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def effective_weights(self) -> np.ndarray:
        """Weights as the accumulate sees them (binary weights times their scale), int64."""
        return self.weights.astype(np.int64) * self.scale


@dataclass(frozen=True, eq=False)
class NetSpec:
    """A whole network: input, layers, time steps and readout.

    Use :func:`load` / :meth:`save` for files and :meth:`validate` for objects built in code.
    """

    input: InputSpec
    layers: tuple[LayerSpec, ...]
    timesteps: int
    readout: str = "spike_count"
    name: str = "network"
    metadata: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def validate(self) -> "NetSpec":
        """Check every field and the consistency between layers; return ``self``.

        Raises
        ------
        NetSpecError
            Naming the first field that is wrong, what was expected and what was found.
        """
        _validate(self)
        return self

    # ---- files -------------------------------------------------------------------------------
    def header(self) -> dict:
        """The JSON-serialisable header (everything but the arrays)."""
        return {
            "format": FORMAT_NAME,
            "schema_version": self.schema_version,
            "name": self.name,
            "timesteps": self.timesteps,
            "readout": self.readout,
            "input": {"size": self.input.size, "encoding": self.input.encoding,
                      "bits": self.input.bits, "max_value": self.input.value_max,
                      "rate_seed": self.input.rate_seed},
            "layers": [
                {"name": layer.name, "kind": layer.kind, "weight_bits": layer.weight_bits,
                 "scale": layer.scale, "neuron": layer.neuron.header()}
                for layer in self.layers
            ],
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Validate and write the NetSpec atomically (temp name, then rename).

        Returns
        -------
        pathlib.Path
            The path written.
        """
        self.validate()
        path = Path(path)
        arrays = {"header": np.array(json.dumps(self.header(), sort_keys=True))}
        for index, layer in enumerate(self.layers):
            arrays[f"layers.{index}.weights"] = np.asarray(layer.weights, dtype=np.int64)
            arrays[f"layers.{index}.bias"] = np.asarray(layer.bias, dtype=np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        from .artefacts import write_bytes_atomic

        write_bytes_atomic(path, buffer.getvalue())
        return path


def load(path: str | os.PathLike) -> NetSpec:
    """Read and validate a NetSpec file.

    Raises
    ------
    NetSpecError
        If the file is missing, not a NetSpec, of another schema version, or any field is invalid.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise NetSpecError("NetSpec file not found", where, "an existing .npz file", "no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as exc:  # numpy raises several types for corrupt archives
        raise NetSpecError("NetSpec file is not a readable .npz archive", where,
                           "a zip archive of numpy arrays", f"{type(exc).__name__}: {exc}") from None
    if "header" not in arrays:
        raise NetSpecError("NetSpec header missing", f"{where}:header", "an array named 'header'",
                           f"arrays {sorted(arrays)}")
    try:
        header = json.loads(str(arrays["header"]))
    except json.JSONDecodeError as exc:
        raise NetSpecError("NetSpec header is not valid JSON", f"{where}:header", "a JSON object",
                           str(exc)) from None
    return from_header(header, arrays, where)


def from_header(header: dict, arrays: dict, where: str = "netspec") -> NetSpec:
    """Build and validate a NetSpec from a header dict and its named arrays."""
    _expect_type(header, dict, where, "header")
    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise NetSpecError("not a NetSpec", f"{where}:format", repr(FORMAT_NAME), repr(fmt))
    version = header.get("schema_version")
    if version != SCHEMA_VERSION:
        raise NetSpecError("unsupported NetSpec schema version", f"{where}:schema_version",
                           str(SCHEMA_VERSION), repr(version))
    inp = _get(header, "input", dict, where)
    input_spec = InputSpec(size=_get(inp, "size", int, f"{where}:input"),
                           encoding=_get(inp, "encoding", str, f"{where}:input"),
                           bits=_get(inp, "bits", int, f"{where}:input"),
                           max_value=_get(inp, "max_value", int, f"{where}:input"),
                           rate_seed=_optional(inp, "rate_seed", int, f"{where}:input", 0xACE1))
    layer_headers = _get(header, "layers", list, where)
    layers = []
    for index, lh in enumerate(layer_headers):
        lwhere = f"{where}:layers[{index}]"
        _expect_type(lh, dict, lwhere, "layer")
        nh = _get(lh, "neuron", dict, lwhere)
        nwhere = f"{lwhere}.neuron"
        neuron = _parse_neuron(nh, nwhere)
        tensors = {}
        for tensor in ("weights", "bias"):
            key = f"layers.{index}.{tensor}"
            if key not in arrays:
                raise NetSpecError("layer array missing", f"{lwhere}.{tensor}",
                                   f"an array named '{key}'", "none")
            array = arrays[key]
            if not np.issubdtype(array.dtype, np.integer):
                raise NetSpecError("layer array is not integer", f"{lwhere}.{tensor}",
                                   "an integer dtype", str(array.dtype))
            tensors[tensor] = array.astype(np.int64)
        layers.append(LayerSpec(name=_get(lh, "name", str, lwhere), kind=_get(lh, "kind", str, lwhere),
                                weights=tensors["weights"], bias=tensors["bias"],
                                weight_bits=_get(lh, "weight_bits", int, lwhere),
                                scale=_get(lh, "scale", int, lwhere), neuron=neuron))
    spec = NetSpec(input=input_spec, layers=tuple(layers),
                   timesteps=_get(header, "timesteps", int, where),
                   readout=_get(header, "readout", str, where),
                   name=_get(header, "name", str, where),
                   metadata=header.get("metadata", {}) or {})
    _validate(spec, where)
    return spec


def _parse_neuron(nh: dict, where: str) -> NeuronSpec:
    """A NeuronSpec from its header; the fields each kind needs are required for that kind."""
    kind = _get(nh, "kind", str, where)
    fields = dict(kind=kind, threshold=_get(nh, "threshold", int, where),
                  reset=_get(nh, "reset", str, where), state_bits=_get(nh, "state_bits", int, where))
    if kind in ("lif", "mtlif"):
        fields["leak"] = _get(nh, "leak", str, where)
        fields["leak_shift"] = _optional(nh, "leak_shift", int, where, 0)
        fields["leak_factor"] = _optional(nh, "leak_factor", int, where, 0)
        fields["frac_bits"] = _optional(nh, "frac_bits", int, where, 0)
    if kind == "mtlif":
        fields["levels"] = _get(nh, "levels", int, where)
    if kind == "bistable":
        fields["phase"] = _get(nh, "phase", int, where)
    if kind == "adaptive":
        fields["frac_bits"] = _get(nh, "frac_bits", int, where)
        for table in ("decay_table", "gain_table"):
            values = _get(nh, table, list, where)
            for position, value in enumerate(values):
                _expect_type(value, int, f"{where}.{table}[{position}]", "int")
            fields[table] = tuple(values)
    return NeuronSpec(**fields)


# ---- validation ------------------------------------------------------------------------------

def _optional(mapping: dict, key: str, kind: type, where: str, default):
    if key not in mapping:
        return default
    return _get(mapping, key, kind, where)


def _get(mapping: dict, key: str, kind: type, where: str):
    if key not in mapping:
        raise NetSpecError("required field missing", f"{where}.{key}", f"a {kind.__name__}", "nothing")
    value = mapping[key]
    _expect_type(value, kind, f"{where}.{key}", kind.__name__)
    return value


def _expect_type(value, kind: type, where: str, label: str) -> None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise NetSpecError("wrong type", where, f"a {label}", f"{type(value).__name__} {value!r}")


def _check_range(value: int, low: int, high: int, what: str, where: str) -> None:
    if not low <= value <= high:
        raise NetSpecError(what, where, f"an integer in [{low}, {high}]", str(value))


def _validate(spec: NetSpec, where: str = "netspec") -> None:
    _check_range(spec.timesteps, 1, MAX_TIMESTEPS, "time steps out of range", f"{where}:timesteps")
    if spec.readout not in READOUTS:
        raise NetSpecError("unknown readout", f"{where}:readout", f"one of {READOUTS}", repr(spec.readout))
    inp = spec.input
    iwhere = f"{where}:input"
    _check_range(inp.size, 1, 1 << 20, "input size out of range", f"{iwhere}.size")
    if inp.encoding not in ENCODINGS:
        raise NetSpecError("unknown input encoding", f"{iwhere}.encoding", f"one of {ENCODINGS}",
                           repr(inp.encoding))
    _check_range(inp.bits, 1, MAX_INPUT_BITS, "input width out of range", f"{iwhere}.bits")
    _check_range(inp.value_max, 1, (1 << inp.bits) - 1, "input max_value does not fit its width",
                 f"{iwhere}.max_value")
    if inp.encoding == "rate":
        _check_range(inp.rate_seed, 1, 0xFFFF, "rate encoder seed out of range", f"{iwhere}.rate_seed")
    if not spec.layers:
        raise NetSpecError("network has no layers", f"{where}:layers", "at least one layer", "0")
    _validate_bistable_schedule(spec, where)
    names = set()
    fan_in = inp.size
    for index, layer in enumerate(spec.layers):
        lwhere = f"{where}:layers[{index}]"
        if layer.name in names or not layer.name:
            raise NetSpecError("layer name empty or repeated", f"{lwhere}.name", "a unique name",
                               repr(layer.name))
        names.add(layer.name)
        if layer.kind not in LAYER_KINDS:
            raise NetSpecError("unknown layer kind", f"{lwhere}.kind", f"one of {LAYER_KINDS}",
                               repr(layer.kind))
        weights = np.asarray(layer.weights)
        if weights.ndim != 2 or weights.shape[1] != fan_in or weights.shape[0] < 1:
            raise NetSpecError("weight shape does not match the previous layer", f"{lwhere}.weights",
                               f"shape (n_out, {fan_in})", f"shape {tuple(weights.shape)}")
        _check_range(layer.weight_bits, 1, MAX_WEIGHT_BITS, "weight width out of range",
                     f"{lwhere}.weight_bits")
        if layer.weight_bits == 1:
            bad = np.argwhere((weights != 1) & (weights != -1))
            if bad.size:
                pos = tuple(int(i) for i in bad[0])
                raise NetSpecError("binary weight is not ±1", f"{lwhere}.weights{list(pos)}",
                                   "-1 or +1 for weight_bits 1", str(int(weights[pos])))
            _check_range(layer.scale, 1, 1 << 16, "binary weight scale out of range", f"{lwhere}.scale")
        else:
            low, high = -(1 << (layer.weight_bits - 1)), (1 << (layer.weight_bits - 1)) - 1
            bad = np.argwhere((weights < low) | (weights > high))
            if bad.size:
                pos = tuple(int(i) for i in bad[0])
                raise NetSpecError("weight does not fit its width", f"{lwhere}.weights{list(pos)}",
                                   f"a value in [{low}, {high}] for weight_bits {layer.weight_bits}",
                                   str(int(weights[pos])))
            if layer.scale != 1:
                raise NetSpecError("scale is only for binary weights", f"{lwhere}.scale",
                                   "1 for multi-bit weights", str(layer.scale))
        bias = np.asarray(layer.bias)
        if bias.shape != (weights.shape[0],):
            raise NetSpecError("bias shape does not match the layer", f"{lwhere}.bias",
                               f"shape ({weights.shape[0]},)", f"shape {tuple(bias.shape)}")
        neuron = layer.neuron
        nwhere = f"{lwhere}.neuron"
        if neuron.kind not in NEURON_KINDS:
            raise NetSpecError("unknown neuron kind", f"{nwhere}.kind", f"one of {NEURON_KINDS}",
                               repr(neuron.kind))
        if neuron.reset not in RESET_MODES:
            raise NetSpecError("unknown reset mode", f"{nwhere}.reset", f"one of {RESET_MODES}",
                               repr(neuron.reset))
        _check_range(neuron.state_bits, 2, MAX_STATE_BITS, "membrane width out of range",
                     f"{nwhere}.state_bits")
        state_max = (1 << (neuron.state_bits - 1)) - 1
        if not 1 <= neuron.threshold <= state_max:
            raise NetSpecError("threshold does not fit the membrane width", f"{nwhere}.threshold",
                               f"an integer in [1, {state_max}] for state_bits {neuron.state_bits}",
                               str(neuron.threshold))
        _validate_neuron(neuron, nwhere, spec.timesteps)
        bias_bad = np.argwhere(np.abs(bias) > state_max)
        if bias_bad.size:
            pos = int(bias_bad[0][0])
            raise NetSpecError("bias does not fit the membrane width", f"{lwhere}.bias[{pos}]",
                               f"|bias| <= {state_max} for state_bits {neuron.state_bits}",
                               str(int(bias[pos])))
        fan_in = weights.shape[0]


def _validate_neuron(neuron: NeuronSpec, where: str, timesteps: int) -> None:
    """The parameters each neuron kind needs, in range."""
    if neuron.kind in ("lif", "mtlif"):
        if neuron.leak not in LEAK_KINDS:
            raise NetSpecError("unknown leak", f"{where}.leak", f"one of {LEAK_KINDS}", repr(neuron.leak))
        if neuron.leak == "shift":
            _check_range(neuron.leak_shift, 1, neuron.state_bits - 1, "leak shift out of range",
                         f"{where}.leak_shift")
        if neuron.leak == "factor":
            _check_range(neuron.frac_bits, 1, MAX_FRAC_BITS, "leak fraction bits out of range",
                         f"{where}.frac_bits")
            _check_range(neuron.leak_factor, 0, 1 << neuron.frac_bits, "leak factor out of range",
                         f"{where}.leak_factor")
    if neuron.kind == "mtlif":
        _check_range(neuron.levels, 1, MAX_LEVELS, "spike levels K out of range", f"{where}.levels")
    if neuron.kind == "bistable":
        _check_range(neuron.phase, 1, MAX_TIMESTEPS, "phase length P out of range", f"{where}.phase")
    if neuron.kind == "adaptive":
        _check_range(neuron.frac_bits, 0, MAX_FRAC_BITS, "table fraction bits out of range",
                     f"{where}.frac_bits")
        # λ_t is a leak (at most 1.0); γ_t a gain of at most 256.
        limits = {"decay_table": 1 << neuron.frac_bits, "gain_table": 1 << (neuron.frac_bits + 8)}
        for name, limit in limits.items():
            table = getattr(neuron, name)
            if len(table) != timesteps:
                raise NetSpecError("adaptive table has the wrong length", f"{where}.{name}",
                                   f"one value per time step ({timesteps})", f"{len(table)} values")
            for step, value in enumerate(table):
                _check_range(value, 0, limit, "adaptive table value out of range",
                             f"{where}.{name}[{step}]")


def _validate_bistable_schedule(spec: NetSpec, where: str) -> None:
    """Bistable layers are staggered by whole phases: all layers bistable, with one P."""
    kinds = [layer.neuron.kind for layer in spec.layers]
    if "bistable" not in kinds:
        return
    for index, layer in enumerate(spec.layers):
        if layer.neuron.kind != "bistable":
            raise NetSpecError("bistable network mixes neuron kinds",
                               f"{where}:layers[{index}].neuron.kind",
                               "'bistable' in every layer (layers are staggered by phases)",
                               repr(layer.neuron.kind))
    phases = {layer.neuron.phase for layer in spec.layers}
    if len(phases) > 1:
        raise NetSpecError("bistable layers disagree on the phase length", f"{where}:layers",
                           "one P for every layer", f"P values {sorted(phases)}")
