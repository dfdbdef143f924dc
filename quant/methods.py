"""The training methods behind ``spikeforge train --method``: one registry, one result, one report.

Every method turns a data :class:`~spikeforge.quant.data.Split` into a validated, exact integer
NetSpec plus a JSON-serialisable report with the same core fields, so the CLI, the bench table and
the tests treat all methods alike:

==========  =========================================================================================
``qat``     Brevitas QAT of the spiking MLP (:mod:`.train`, the demo network)
``albsnn``  ALBSNN layer-selective binarization of a small conv net with GAP (:mod:`.albsnn`)
``convert`` ANN→SNN conversion of a quantized-ReLU network into IF or bistable IF (:mod:`.convert`)
``mtlif``   direct training of multi-threshold LIF neurons, 1-2 steps (:mod:`.direct`)
``asnn``    direct training of adaptive neurons with hybrid coding (:mod:`.direct`)
==========  =========================================================================================

A method module exposes a config dataclass with ``validate()`` (named ``ValueError`` messages) and
``train_<method>(config, data, progress) -> MethodResult``. :func:`method_report` fills the core
fields from the golden executor, so every method states the same figures the same way.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from spikeforge.netspec import NetSpec

METHODS = ("qat", "albsnn", "convert", "mtlif", "asnn")
"""Method names, in the order the CLI lists them."""

# method -> (module, config class, train function); imported on use (torch, Brevitas are heavy).
_REGISTRY = {
    "qat": ("spikeforge.quant.train", "TrainConfig", "train_qat"),
    "albsnn": ("spikeforge.quant.albsnn", "AlbsnnConfig", "train_albsnn"),
    "convert": ("spikeforge.quant.convert", "ConvertConfig", "train_convert"),
    "mtlif": ("spikeforge.quant.direct", "MtlifConfig", "train_mtlif"),
    "asnn": ("spikeforge.quant.direct", "AsnnConfig", "train_asnn"),
}

CORE_FIELDS = ("method", "neuron", "timesteps", "encoding", "float_accuracy", "quantized_accuracy",
               "golden_accuracy", "count_agreement", "test_images", "weight_bits_stored",
               "synaptic_ops_per_image", "train_seconds")
"""Fields every method's report has (the columns of the bench results table)."""


@dataclass
class MethodResult:
    """What a training method produced.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    netspec : NetSpec
        The exact integer export (validated).
    report : dict
        JSON-serialisable: the :data:`CORE_FIELDS` plus method-specific details (per-layer tables,
        accuracy-vs-T sweeps, ...).
    model : object
        The trained torch model (not serialised).
    """

    method: str
    netspec: NetSpec
    report: dict = field(default_factory=dict)
    model: object = None


def method_config(method: str, **fields):
    """The method's config dataclass built from ``fields`` (None values keep the defaults).

    Raises
    ------
    ValueError
        For an unknown method or field, naming the method and the accepted names.
    """
    module, config_name, _ = _lookup(method)
    config_class = getattr(importlib.import_module(module), config_name)
    known = set(config_class.__dataclass_fields__)
    given = {key: value for key, value in fields.items() if value is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}: expected some of "
                         f"{', '.join(sorted(known))}")
    return config_class(**given).validate()


def train_method(method: str, config=None, data=None, progress: bool = True) -> MethodResult:
    """Train with ``method`` and return its :class:`MethodResult`.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    config : dataclass, optional
        The method's config (default: its defaults); see :func:`method_config`.
    data : Split, optional
        Default: the scikit-learn digits split with the config's seed.
    progress : bool
        A progress bar per epoch on a terminal.
    """
    module, config_name, function = _lookup(method)
    loaded = importlib.import_module(module)
    config = config if config is not None else getattr(loaded, config_name)().validate()
    return getattr(loaded, function)(config, data=data, progress=progress)


def _lookup(method: str):
    if method not in _REGISTRY:
        raise ValueError(f"--method: expected one of {', '.join(METHODS)}, found {method!r}")
    return _REGISTRY[method]


def accuracy(counts: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose largest count (lowest index on ties, as the readout) is the label."""
    return float((np.argmax(np.asarray(counts), axis=1) == np.asarray(labels)).mean())


def method_report(method: str, spec: NetSpec, x_test: np.ndarray, y_test: np.ndarray, *,
                  float_counts: np.ndarray, quantized_counts: np.ndarray, train_seconds: float,
                  **details) -> dict:
    """The core report of a trained method, with the golden executor run on the test split.

    Parameters
    ----------
    method : str
        The method's name.
    spec : NetSpec
        The exported network (its ``metadata`` gets the accuracies and the agreement).
    x_test, y_test : numpy.ndarray
        Held-out inputs (integers) and labels.
    float_counts, quantized_counts : numpy.ndarray
        Readout of the float model as trained and of the quantized model evaluated exactly
        (``(images, classes)``); the golden counts are compared with ``quantized_counts``.
    train_seconds : float
        Wall time of training.
    **details
        Method-specific JSON-serialisable fields, merged in.

    Returns
    -------
    dict
        :data:`CORE_FIELDS` (``neuron``: the kinds of the neuron layers joined by ``+``;
        ``count_agreement``: images whose golden counts equal ``quantized_counts`` exactly) plus
        ``layers`` (per layer: name, kind, neuron, weight bits, bits stored, and for neuron layers
        threshold and membrane width) and ``details``.
    """
    from spikeforge.golden import run

    golden = run(spec, x_test)
    agreement = int((golden.counts == np.asarray(quantized_counts)).all(axis=1).sum())
    kinds = []
    for layer in spec.layers:
        if layer.neuron.kind != "none" and layer.neuron.kind not in kinds:
            kinds.append(layer.neuron.kind)
    layers = [_layer_row(layer) for layer in spec.layers]
    report = {
        "method": method,
        "neuron": "+".join(kinds),
        "timesteps": spec.timesteps,
        "encoding": spec.input.encoding,
        "float_accuracy": accuracy(float_counts, y_test),
        "quantized_accuracy": accuracy(quantized_counts, y_test),
        "golden_accuracy": float((golden.predictions == np.asarray(y_test)).mean()),
        "count_agreement": agreement,
        "test_images": int(len(y_test)),
        "weight_bits_stored": int(sum(row["weight_bits_stored"] for row in layers)),
        "synaptic_ops_per_image": round(golden.synaptic_ops_per_image, 1),
        "train_seconds": round(float(train_seconds), 1),
        "layers": layers,
        **details,
    }
    spec.metadata.update({key: report[key] for key in
                          ("method", "float_accuracy", "quantized_accuracy", "golden_accuracy",
                           "count_agreement")})
    return report


def _layer_row(layer) -> dict:
    row = {"name": layer.name, "kind": layer.kind, "neuron": layer.neuron.kind,
           "weight_bits": layer.weight_bits if layer.weights is not None else None,
           "weight_bits_stored": int(layer.weights.size * layer.weight_bits)
           if layer.weights is not None else 0}
    if layer.neuron.kind != "none":
        row.update(threshold=layer.neuron.threshold, state_bits=layer.neuron.state_bits)
    return row
