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

The readout (``NetSpec.readout``) is one of:

* ``"spike_count"``: the per-neuron spike count of the last layer over the ``timesteps`` steps
  (graded MT-LIF spikes add their value), unsigned;
* ``"membrane"``: the last layer is non-spiking. Its neurons integrate, leak, gain (adaptive) and
  saturate exactly as their kind says, but never fire and never reset (a bistable last layer's
  fire phases leave ``V`` unchanged). The readout is each last-layer neuron's membrane ``V`` after
  the update of the last step ``T - 1`` (the value the golden executor records as that layer's
  membrane at step ``T - 1``), a signed ``state_bits``-wide integer. Since firing no longer holds
  ``V`` below the threshold, :func:`spikeforge.bounds.analyse` bounds ``V`` over the ``T`` steps
  without firing and clamps it to the declared state range where it can leave it (golden and
  hardware identically).

Either way the predicted class is the index of the largest readout value (lowest index on ties).
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
LAYER_KINDS = ("linear", "conv2d", "sumpool", "avgpool", "orpool", "flatten", "gap", "residual")
WEIGHTED_KINDS = ("linear", "conv2d")
STATELESS_KINDS = ("sumpool", "avgpool", "orpool", "flatten", "gap")  # neuron kind "none"
NEURON_KINDS = ("if", "lif", "mtlif", "bistable", "adaptive")
RESET_MODES = ("subtract", "zero")
LEAK_KINDS = ("none", "shift", "factor")
MAX_FRAC_BITS = 16
MAX_LEVELS = 255
READOUTS = ("spike_count", "membrane")

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
    shape : tuple of int
        ``(size,)`` for flat inputs or ``(channels, height, width)`` for convolutions; values are
        streamed and indexed in C order (the product must equal ``size``).
    """

    size: int
    encoding: str = "direct"
    bits: int = 8
    max_value: int | None = None
    rate_seed: int = 0xACE1
    shape: tuple = ()

    @property
    def dims(self) -> tuple:
        """The input shape, ``(size,)`` when none is declared."""
        return tuple(self.shape) if self.shape else (self.size,)

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
        if self.kind == "none":
            return {"kind": "none"}
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


NONE_NEURON = NeuronSpec(kind="none")
"""The neuron of stateless layers (pools, flatten, gap): values pass through unchanged."""


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One layer: an integer operator, followed by a neuron array unless the layer is stateless.

    Parameters
    ----------
    name : str
        Unique name used in reports and error messages.
    kind : str
        ``"linear"`` (fully connected), ``"conv2d"`` (weights ``(C_out, C_in, k, k)``, ``stride``,
        ``padding``), ``"sumpool"``/``"avgpool"`` (``kernel``, ``stride``; average = sum >> ``shift``),
        ``"orpool"`` (max of 0/1 spikes), ``"flatten"``, ``"gap"`` (global sum over height and width
        >> ``shift``), ``"residual"`` (adds the output of layer ``source``, delayed by ``delay``
        steps, to the previous layer's output). Stateless kinds (pools, flatten, gap) have neuron
        kind ``"none"`` and pass their values on; the others feed a neuron array.
    weights : numpy.ndarray or None
        Integer weights of linear (``(n_out, n_in)``) and conv2d layers; ±1 when ``weight_bits``
        is 1. None for the other kinds.
    weight_bits : int
        1 for binary ±1 weights, otherwise signed ``weight_bits``-bit integers.
    scale : int
        Positive integer the binary weights are multiplied by (1 for multi-bit weights).
    bias : numpy.ndarray or None
        Integer bias added once per time step: per neuron (linear) or per output channel (conv2d).
    neuron : NeuronSpec
        The neurons of the layer (kind ``"none"`` for stateless layers).
    stride, padding, kernel, shift : int
        Geometry of conv2d and pooling layers, and the right shift of average pools.
    source : str
        Residual: the name of the earlier layer whose output is added (the shortcut).
    delay : int
        Residual: steps the shortcut is delayed (synchronous neurons: as many phases of P steps as
        the residual branch has layers, so both arrive in the same integrate phase).
    """

    name: str
    kind: str
    weights: np.ndarray | None
    weight_bits: int
    bias: np.ndarray | None
    neuron: NeuronSpec
    scale: int = 1
    stride: int = 1
    padding: int = 0
    kernel: int = 0
    shift: int = 0
    source: str = ""
    delay: int = 0

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

    @property
    def stateless(self) -> bool:
        return self.kind in STATELESS_KINDS

    def header(self) -> dict:
        """The layer's scalar fields as written in a NetSpec header."""
        fields = {"name": self.name, "kind": self.kind, "neuron": self.neuron.header()}
        if self.kind in WEIGHTED_KINDS:
            fields.update(weight_bits=self.weight_bits, scale=self.scale)
        if self.kind in ("conv2d", "sumpool", "avgpool", "orpool"):
            fields.update(stride=self.stride)
        if self.kind == "conv2d":
            fields.update(padding=self.padding)
        if self.kind in ("sumpool", "avgpool", "orpool"):
            fields.update(kernel=self.kernel)
        if self.kind in ("avgpool", "gap"):
            fields.update(shift=self.shift)
        if self.kind == "residual":
            fields.update(source=self.source, delay=self.delay)
        return fields


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

    def fires(self, index: int) -> bool:
        """Whether layer ``index`` fires: all do but the last one of a ``"membrane"`` readout."""
        return not (self.readout == "membrane" and index in (-1, len(self.layers) - 1))

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
                      "rate_seed": self.input.rate_seed, "shape": list(self.input.dims)},
            "layers": [layer.header() for layer in self.layers],
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
            if layer.kind in WEIGHTED_KINDS:
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
                           rate_seed=_optional(inp, "rate_seed", int, f"{where}:input", 0xACE1),
                           shape=tuple(_optional(inp, "shape", list, f"{where}:input", [])))
    layer_headers = _get(header, "layers", list, where)
    layers = []
    for index, lh in enumerate(layer_headers):
        lwhere = f"{where}:layers[{index}]"
        _expect_type(lh, dict, lwhere, "layer")
        nh = _get(lh, "neuron", dict, lwhere)
        nwhere = f"{lwhere}.neuron"
        neuron = _parse_neuron(nh, nwhere)
        kind = _get(lh, "kind", str, lwhere)
        tensors = {"weights": None, "bias": None}
        if kind in WEIGHTED_KINDS:
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
        weighted = kind in WEIGHTED_KINDS
        layers.append(LayerSpec(
            name=_get(lh, "name", str, lwhere), kind=kind, weights=tensors["weights"],
            bias=tensors["bias"], neuron=neuron,
            weight_bits=_get(lh, "weight_bits", int, lwhere) if weighted else 0,
            scale=_get(lh, "scale", int, lwhere) if weighted else 1,
            stride=_optional(lh, "stride", int, lwhere, 1),
            padding=_optional(lh, "padding", int, lwhere, 0),
            kernel=_optional(lh, "kernel", int, lwhere, 0),
            shift=_optional(lh, "shift", int, lwhere, 0),
            source=_optional(lh, "source", str, lwhere, ""),
            delay=_optional(lh, "delay", int, lwhere, 0)))
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
    if kind == "none":
        return NONE_NEURON
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
    layer_shapes(spec, where)


def _check_weights(layer: LayerSpec, expected: tuple, where: str) -> None:
    weights = np.asarray(layer.weights) if layer.weights is not None else None
    if weights is None or weights.shape != expected:
        found = "no weights" if weights is None else f"shape {tuple(weights.shape)}"
        wanted = "(n_out, " + str(expected[1]) + ")" if layer.kind == "linear" else str(expected)
        raise NetSpecError("weight shape does not match the previous layer", f"{where}.weights",
                           f"shape {wanted}", found)
    _check_range(layer.weight_bits, 1, MAX_WEIGHT_BITS, "weight width out of range",
                 f"{where}.weight_bits")
    if layer.weight_bits == 1:
        bad = np.argwhere((weights != 1) & (weights != -1))
        if bad.size:
            pos = tuple(int(i) for i in bad[0])
            raise NetSpecError("binary weight is not ±1", f"{where}.weights{list(pos)}",
                               "-1 or +1 for weight_bits 1", str(int(weights[pos])))
        _check_range(layer.scale, 1, 1 << 16, "binary weight scale out of range", f"{where}.scale")
    else:
        low, high = -(1 << (layer.weight_bits - 1)), (1 << (layer.weight_bits - 1)) - 1
        bad = np.argwhere((weights < low) | (weights > high))
        if bad.size:
            pos = tuple(int(i) for i in bad[0])
            raise NetSpecError("weight does not fit its width", f"{where}.weights{list(pos)}",
                               f"a value in [{low}, {high}] for weight_bits {layer.weight_bits}",
                               str(int(weights[pos])))
        if layer.scale != 1:
            raise NetSpecError("scale is only for binary weights", f"{where}.scale",
                               "1 for multi-bit weights", str(layer.scale))


def _check_neuron(layer: LayerSpec, channels: int, where: str, timesteps: int) -> None:
    neuron = layer.neuron
    nwhere = f"{where}.neuron"
    if layer.stateless:
        if neuron.kind != "none":
            raise NetSpecError("stateless layer has a neuron", f"{nwhere}.kind",
                               f"'none' for a {layer.kind} layer", repr(neuron.kind))
        return
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
    _validate_neuron(neuron, nwhere, timesteps)
    if layer.kind in WEIGHTED_KINDS:
        bias = np.asarray(layer.bias) if layer.bias is not None else np.zeros(0)
        if bias.shape != (channels,):
            raise NetSpecError("bias shape does not match the layer", f"{where}.bias",
                               f"shape ({channels},)", f"shape {tuple(bias.shape)}")
        bias_bad = np.argwhere(np.abs(bias) > state_max)
        if bias_bad.size:
            pos = int(bias_bad[0][0])
            raise NetSpecError("bias does not fit the membrane width", f"{where}.bias[{pos}]",
                               f"|bias| <= {state_max} for state_bits {neuron.state_bits}",
                               str(int(bias[pos])))


def _need_image(shape: tuple, layer: LayerSpec, where: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise NetSpecError(f"{layer.kind} layer needs a (channels, height, width) input",
                           f"{where}.kind", "a 3-dimensional input shape", f"shape {shape}")
    return shape


def _window(size: int, kernel: int, stride: int, padding: int, layer: LayerSpec, where: str) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if kernel < 1 or stride < 1 or padding < 0 or out < 1:
        raise NetSpecError("window does not fit the input", f"{where}",
                           f"kernel >= 1, stride >= 1, padding >= 0 and kernel <= {size + 2 * padding}",
                           f"kernel {kernel}, stride {stride}, padding {padding} on size {size}")
    return out


def layer_shapes(spec: NetSpec, where: str = "netspec") -> list[tuple[tuple, tuple]]:
    """Input and output shape of every layer; validates each layer against its input.

    Raises
    ------
    NetSpecError
        Naming the layer (``layers[i]``) and the field whose shape, geometry or value is wrong.
    """
    dims = spec.input.dims
    if len(dims) not in (1, 3) or any(d < 1 for d in dims) or int(np.prod(dims)) != spec.input.size:
        raise NetSpecError("input shape does not match its size", f"{where}:input.shape",
                           f"(size,) or (channels, height, width) with product {spec.input.size}",
                           str(list(dims)))
    shapes: list[tuple[tuple, tuple]] = []
    outputs: dict[str, tuple] = {}
    shape = tuple(dims)
    for index, layer in enumerate(spec.layers):
        lwhere = f"{where}:layers[{index}]"
        if layer.name in outputs or not layer.name:
            raise NetSpecError("layer name empty or repeated", f"{lwhere}.name", "a unique name",
                               repr(layer.name))
        if layer.kind not in LAYER_KINDS:
            raise NetSpecError("unknown layer kind", f"{lwhere}.kind", f"one of {LAYER_KINDS}",
                               repr(layer.kind))
        if layer.kind == "linear":
            if len(shape) != 1:
                raise NetSpecError("linear layer needs a flat input", f"{lwhere}.kind",
                                   "a 1-dimensional input (add a flatten or gap layer before it)",
                                   f"shape {shape}")
            weights = np.asarray(layer.weights) if layer.weights is not None else np.zeros(())
            n_out = weights.shape[0] if weights.ndim >= 1 else 0
            _check_weights(layer, (max(n_out, 1), shape[0]), lwhere)
            out = (n_out,)
        elif layer.kind == "conv2d":
            c, h, w = _need_image(shape, layer, lwhere)
            weights = np.asarray(layer.weights) if layer.weights is not None else np.zeros((0,))
            if weights.ndim != 4 or weights.shape[1] != c or weights.shape[2] != weights.shape[3]:
                raise NetSpecError("weight shape does not match the previous layer", f"{lwhere}.weights",
                                   f"shape (C_out, {c}, k, k)", f"shape {tuple(weights.shape)}")
            _check_weights(layer, tuple(weights.shape), lwhere)
            k = weights.shape[2]
            out = (weights.shape[0], _window(h, k, layer.stride, layer.padding, layer, lwhere),
                   _window(w, k, layer.stride, layer.padding, layer, lwhere))
        elif layer.kind in ("sumpool", "avgpool", "orpool"):
            c, h, w = _need_image(shape, layer, lwhere)
            out = (c, _window(h, layer.kernel, layer.stride, 0, layer, lwhere),
                   _window(w, layer.kernel, layer.stride, 0, layer, lwhere))
            if layer.kind == "avgpool":
                _check_range(layer.shift, 0, 16, "average shift out of range", f"{lwhere}.shift")
        elif layer.kind == "flatten":
            out = (int(np.prod(shape)),)
        elif layer.kind == "gap":
            c, _, _ = _need_image(shape, layer, lwhere)
            _check_range(layer.shift, 0, 16, "average shift out of range", f"{lwhere}.shift")
            out = (c,)
        else:  # residual
            if layer.source not in outputs:
                raise NetSpecError("residual source is not an earlier layer", f"{lwhere}.source",
                                   f"one of {sorted(outputs)}", repr(layer.source))
            if outputs[layer.source] != shape:
                raise NetSpecError("residual shapes differ", f"{lwhere}.source",
                                   f"an output of shape {shape} (the previous layer's)",
                                   f"{layer.source} with shape {outputs[layer.source]}")
            _check_range(layer.delay, 0, spec.timesteps, "residual delay out of range",
                         f"{lwhere}.delay")
            out = shape
        _check_neuron(layer, out[0], lwhere, spec.timesteps)
        shapes.append((shape, out))
        outputs[layer.name] = out
        shape = out
    if spec.layers[-1].stateless:
        if spec.readout == "membrane":
            raise NetSpecError("last layer has no membranes to read out",
                               f"{where}:layers[{len(spec.layers) - 1}].kind",
                               "a layer with neurons (membrane readout)", repr(spec.layers[-1].kind))
        raise NetSpecError("last layer has no neurons to count spikes of",
                           f"{where}:layers[{len(spec.layers) - 1}].kind",
                           "a layer with neurons (spike-count readout)", repr(spec.layers[-1].kind))
    return shapes


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
        if layer.neuron.kind not in ("bistable", "none"):
            raise NetSpecError("bistable network mixes neuron kinds",
                               f"{where}:layers[{index}].neuron.kind",
                               "'bistable' in every layer (layers are staggered by phases)",
                               repr(layer.neuron.kind))
    phases = {layer.neuron.phase for layer in spec.layers if layer.neuron.kind == "bistable"}
    if len(phases) > 1:
        raise NetSpecError("bistable layers disagree on the phase length", f"{where}:layers",
                           "one P for every layer", f"P values {sorted(phases)}")
