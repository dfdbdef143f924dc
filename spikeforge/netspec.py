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

ENCODINGS = ("direct",)
LAYER_KINDS = ("linear",)
NEURON_KINDS = ("if",)
RESET_MODES = ("subtract", "zero")
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
        ``"direct"``: every time step presents the same unsigned integer values to the first layer.
    bits : int
        Unsigned bit width of one input value.
    max_value : int
        Largest input value that can occur (``<= 2**bits - 1``); the compiler bounds widths from it.
    """

    size: int
    encoding: str = "direct"
    bits: int = 8
    max_value: int | None = None

    @property
    def value_max(self) -> int:
        return (1 << self.bits) - 1 if self.max_value is None else self.max_value


@dataclass(frozen=True)
class NeuronSpec:
    """Integer parameters of a layer's neurons.

    Parameters
    ----------
    kind : str
        ``"if"``: integrate-and-fire.
    threshold : int
        Firing threshold θ (``>= 1``); a neuron fires when ``V >= θ``.
    reset : str
        ``"subtract"`` (V ← V − θ on a spike) or ``"zero"`` (V ← 0 on a spike).
    state_bits : int
        Signed width of the membrane V. Where the compiler's bound exceeds it, V saturates.
    """

    kind: str = "if"
    threshold: int = 1
    reset: str = "subtract"
    state_bits: int = 16


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
                      "bits": self.input.bits, "max_value": self.input.value_max},
            "layers": [
                {"name": layer.name, "kind": layer.kind, "weight_bits": layer.weight_bits,
                 "scale": layer.scale,
                 "neuron": {"kind": layer.neuron.kind, "threshold": layer.neuron.threshold,
                            "reset": layer.neuron.reset, "state_bits": layer.neuron.state_bits}}
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
                           max_value=_get(inp, "max_value", int, f"{where}:input"))
    layer_headers = _get(header, "layers", list, where)
    layers = []
    for index, lh in enumerate(layer_headers):
        lwhere = f"{where}:layers[{index}]"
        _expect_type(lh, dict, lwhere, "layer")
        nh = _get(lh, "neuron", dict, lwhere)
        nwhere = f"{lwhere}.neuron"
        neuron = NeuronSpec(kind=_get(nh, "kind", str, nwhere),
                            threshold=_get(nh, "threshold", int, nwhere),
                            reset=_get(nh, "reset", str, nwhere),
                            state_bits=_get(nh, "state_bits", int, nwhere))
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


# ---- validation ------------------------------------------------------------------------------

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
    if not spec.layers:
        raise NetSpecError("network has no layers", f"{where}:layers", "at least one layer", "0")
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
        bias_bad = np.argwhere(np.abs(bias) > state_max)
        if bias_bad.size:
            pos = int(bias_bad[0][0])
            raise NetSpecError("bias does not fit the membrane width", f"{lwhere}.bias[{pos}]",
                               f"|bias| <= {state_max} for state_bits {neuron.state_bits}",
                               str(int(bias[pos])))
        fan_in = weights.shape[0]
