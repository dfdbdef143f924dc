"""ALBSNN-style layer-selective binarization of a small spiking conv net (``--method albsnn``).

After ALBSNN (Pei et al., 2023: an *accuracy loss estimator* decides which layers of a spiking net
to binarize), on a digits conv net whose head is global average pooling and one small linear layer:

1. train every weighted layer at int-k (``weight_bits``, default 4) with Brevitas QAT;
2. *estimate* each layer's cost of binarization: the relative binarization error of its weights,
   ``‖W − α·sign W‖² / ‖W‖²`` with the L2-optimal per-layer scale ``α = mean|W|``, and the measured
   increase of the loss (and drop of accuracy) on a validation part of the *training* split when only
   that layer is binarized, without retraining. The estimated loss is that loss increase;
3. binarize layers greedily, cheapest estimate first: binarize, fine-tune briefly, measure the
   validation accuracy; keep the layer binary while the budget holds, otherwise undo it. The budget
   is either a largest accuracy drop in points (``max_drop``, against the int-k network) or a weight
   storage target in bits (``target_bits``: binarize in order until storage is at most the target);
4. export the result exactly (:mod:`spikeforge.quant.convnet`) and check it against the golden
   executor on the test split, which no step above has looked at.

The report's ``details`` hold a per-layer table (chosen width, binarization error, estimated and
measured loss and accuracy drop, bits stored) and the storage before and after.
"""

from __future__ import annotations

import copy
import numbers
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .convnet import (GlobalSumPool, QuantConvIF, QuantLinearIF, SpikingBlock, SpikingConvNet,
                      check_exportable, evaluate_counts, export_convnet)
from .data import DIGITS_INPUT_BITS, Split, load_digits_split
from .methods import MethodResult, accuracy, method_report
from .model import MAX_WEIGHT_BITS
from .train import fit_epochs, seeded_training

MAX_TIMESTEPS = 8
# Loss shape, from a small sweep on digits at T = 1 (positive weight 1, 3, 5, 9; gain 2, 4, 8):
# weighting the label's neuron up makes "no neuron fires" (read out as class 0) rarer.
POS_WEIGHT = 5.0
GAIN = 4.0


@dataclass
class AlbsnnConfig:
    """Hyper-parameters of :func:`train_albsnn`.

    Attributes
    ----------
    seed : int
        Seeds the splits, the initial weights and the batch order.
    timesteps : int
        T, 1..8 (direct coding: the image every step).
    channels : tuple of int
        Output channels of the 3×3 conv layers: the first keeps the image size, the second has
        stride 2, the others stride 1; then global average pooling and a linear layer to the classes.
    weight_bits : int
        Starting width of every layer, int-k with k in 2..8.
    gap_shift : int
        The pooling computes ``floor(sum / 2**gap_shift)``.
    epochs, finetune_epochs : int
        Epochs of the int-k training and of the fine-tuning after each binarization.
    batch_size, finetune_batch_size : int
        Minibatch sizes of the int-k training and of the fine-tuning.
    lr, finetune_lr : float
        Adam learning rates (cosine decay within each run).
    max_drop : float
        Budget: largest validation accuracy drop in points (0..100) the binarization may cost.
    target_bits : int or None
        Budget instead of ``max_drop``: binarize until the weights take at most this many bits.
    validation_fraction : float
        Share of the training split held out for the estimator and the budget check.
    train_subset : int or None
        Use only the first N training images (quick tests).
    threads : int
        ``torch.set_num_threads`` during training (restored afterwards).
    """

    seed: int = 0
    timesteps: int = 1
    channels: tuple = (16, 32, 64)
    weight_bits: int = 4
    gap_shift: int = 0
    epochs: int = 40
    finetune_epochs: int = 6
    batch_size: int = 64
    finetune_batch_size: int = 32
    lr: float = 5e-3
    finetune_lr: float = 1e-3
    max_drop: float = 1.0
    target_bits: int | None = None
    validation_fraction: float = 0.2
    train_subset: int | None = None
    threads: int = 1

    def validate(self) -> "AlbsnnConfig":
        """Check every field; return ``self``.

        Raises
        ------
        ValueError
            Naming the field, what was expected and what was found.
        """
        def integer(name, value, low, high=None):
            ok = not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= low
            if not ok or (high is not None and value > high):
                span = f"in [{low}, {high}]" if high is not None else f">= {low}"
                raise ValueError(f"{name}: expected an integer {span}, found {value!r}")

        integer("seed", self.seed, 0)
        integer("timesteps", self.timesteps, 1, MAX_TIMESTEPS)
        integer("weight_bits", self.weight_bits, 2, MAX_WEIGHT_BITS)
        integer("gap_shift", self.gap_shift, 0, 16)
        for name in ("epochs", "batch_size", "finetune_batch_size", "threads"):
            integer(name, getattr(self, name), 1)
        integer("finetune_epochs", self.finetune_epochs, 0)
        channels = tuple(self.channels) if isinstance(self.channels, (tuple, list)) else None
        if not channels or len(channels) < 2 or any(
                isinstance(c, bool) or not isinstance(c, numbers.Integral) or c < 1 for c in channels):
            raise ValueError(f"channels: expected at least 2 positive integers (conv widths), "
                             f"found {self.channels!r}")
        for name in ("lr", "finetune_lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
                raise ValueError(f"{name}: expected a positive number, found {value!r}")
        drop = self.max_drop
        if isinstance(drop, bool) or not isinstance(drop, numbers.Real) or not 0 <= drop <= 100:
            raise ValueError(f"max_drop: expected accuracy points in [0, 100] (an impossible budget "
                             f"otherwise), found {drop!r}")
        if self.target_bits is not None:
            integer("target_bits", self.target_bits, 1)
        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"validation_fraction: expected a number in (0, 1), found {fraction!r}")
        if self.train_subset is not None:
            integer("train_subset", self.train_subset, 20)
        return self


def build_convnet(config: AlbsnnConfig, input_shape: tuple, n_classes: int) -> SpikingConvNet:
    """The config's conv net, every layer at ``config.weight_bits`` (thresholds set by calibration).

    3×3 convs with zero padding 1 (the second with stride 2), IF neurons, global average pooling,
    then a linear layer of IF neurons, one per class.
    """
    layers: list[nn.Module] = []
    c_in = input_shape[0]
    for index, c_out in enumerate(config.channels):
        layers.append(QuantConvIF(c_in, c_out, 3, 2 if index == 1 else 1, 1, config.weight_bits))
        c_in = c_out
    layers += [GlobalSumPool(config.gap_shift), QuantLinearIF(c_in, n_classes, config.weight_bits)]
    return SpikingConvNet(layers, config.timesteps, input_shape)


def storage_bits(model: SpikingConvNet) -> int:
    """Bits the weights take: Σ weights × width (biases and thresholds are per neuron, not counted)."""
    return int(sum(block.n_weights * block.weight_bits for _, block in model.blocks()))


def binary_storage_bits(model: SpikingConvNet) -> int:
    """The smallest storage binarization can reach: every weighted layer binary (1 bit a weight)."""
    return int(sum(block.n_weights for _, block in model.blocks()))


def check_budget(config: AlbsnnConfig, model: SpikingConvNet) -> None:
    """Raise a ValueError if the storage target is below what an all-binary network takes.

    Raises
    ------
    ValueError
        ``target_bits: impossible budget: expected at least <limit> bits ...``.
    """
    if config.target_bits is None:
        return
    limit = binary_storage_bits(model)
    if config.target_bits < limit:
        raise ValueError(f"target_bits: impossible budget: expected at least {limit} bits (every "
                         f"weighted layer binary), found {config.target_bits}")


def margin_loss(counts: torch.Tensor, margins: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-step binary cross-entropy of the output neurons' firing: the label's fires, no other.

    ``margins`` is ``(V − θ) / θ`` of the output layer before firing, ``(T, batch, classes)``.
    With T = 1 a spike count is 0 or 1 and its readout (argmax, lowest index on ties) is right only
    when the label's neuron alone fires; the loss asks exactly that at every step, so it also makes
    the label's count the largest for any T. :data:`GAIN` sharpens the logistic around θ and
    :data:`POS_WEIGHT` weighs the label's neuron against the other classes'.
    """
    target = torch.nn.functional.one_hot(labels, margins.shape[-1]).to(margins.dtype)
    target = target.unsqueeze(0).expand_as(margins)
    weight = torch.tensor(float(POS_WEIGHT), dtype=margins.dtype)
    return nn.functional.binary_cross_entropy_with_logits(GAIN * margins, target, pos_weight=weight)


def calibrate_thresholds(model: SpikingConvNet, x: np.ndarray, hidden_rate: float = 0.25) -> None:
    """Set each layer's threshold so a fraction of its neurons fire at the start of training.

    Layer by layer, on the first step: ``θ`` = the ``1 − rate`` quantile of the layer's currents,
    with ``rate`` = ``hidden_rate`` for hidden layers and ``1 / classes`` for the output layer.
    Deterministic (no randomness beyond the initial weights).
    """
    with torch.no_grad():
        activity = torch.from_numpy(np.asarray(x)).float().reshape(len(x), *model.input_shape)
        last = len(model.features) - 1
        for index, module in enumerate(model.features):
            if not isinstance(module, SpikingBlock):
                activity = module(activity)
                continue
            current, _ = module.current(activity)
            rate = 1.0 / current.shape[1] if index == last else hidden_rate
            theta = torch.quantile(current.flatten()[:200_000], 1.0 - rate)
            module.threshold.fill_(max(float(theta), float(module.unit())))
            _, threshold = module.current(activity[:1])
            activity = (current >= threshold).float()


def fit(model: SpikingConvNet, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,
        batch_size: int, generator: torch.Generator, progress: bool, desc: str) -> float:
    """Adam (cosine decay) on :func:`margin_loss`; returns the seconds spent."""
    def batch_loss(net, xb, yb):
        counts, margins = net(xb, margins=True)
        return margin_loss(counts, margins, yb)

    return fit_epochs(model, batch_loss, x, y, epochs=epochs, lr=lr, batch_size=batch_size,
                      generator=generator, progress=progress, desc=desc, leave=False)


def score(model: SpikingConvNet, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(loss, accuracy)`` of the quantized model on ``(x, y)``, evaluated exactly in float64."""
    evaluated = copy.deepcopy(model).to(torch.float64).eval()
    with torch.no_grad():
        counts, margins = evaluated(torch.from_numpy(np.asarray(x)).to(torch.float64), margins=True)
        loss = float(margin_loss(counts, margins, torch.from_numpy(np.asarray(y))))
    return loss, accuracy(counts.numpy(), y)


def binarization_error(block: SpikingBlock) -> float:
    """``‖W − α·sign W‖² / ‖W‖²`` with ``α = mean|W|`` (0: already binary; 1: all zero).

    The L2-optimal per-layer binary approximation of the layer's quantized weights, as a share of
    their energy (XNOR-Net's scale; it equals ``1 − mean(|W|)² / mean(W²)``).
    """
    with torch.no_grad():
        weight = block.quantized()[0].double()
        energy = float((weight ** 2).mean())
        if energy == 0.0:
            return 1.0
        return max(0.0, 1.0 - float(weight.abs().mean()) ** 2 / energy)


def with_binary(model: SpikingConvNet, path: str) -> SpikingConvNet:
    """A copy of ``model`` with the block at ``path`` (e.g. ``features.2``) binarized."""
    result = copy.deepcopy(model)
    index = int(path.rsplit(".", 1)[1])
    result.features[index] = result.features[index].binarized()
    return result


@dataclass
class LayerEstimate:
    """The estimator's view of one weighted layer.

    Attributes
    ----------
    path : str
        Module path in the model (``features.<i>``).
    name : str
        NetSpec layer name (``conv1``, ``fc1``, ...).
    weight_bits : int
        Current width.
    weights : int
        Number of weights.
    binarization_error : float
        Relative L2 error of the best per-layer binary approximation (:func:`binarization_error`).
    estimated_loss : float
        Validation loss increase when only this layer is binarized (no retraining).
    estimated_drop : float
        Validation accuracy drop in points in the same probe.
    bits_saved : int
        Storage the binarization saves: weights × (width − 1).
    """

    path: str
    name: str
    weight_bits: int
    weights: int
    binarization_error: float
    estimated_loss: float
    estimated_drop: float
    bits_saved: int


def layer_names(model: SpikingConvNet) -> dict[str, str]:
    """Module path -> NetSpec layer name (``conv<n>`` / ``fc<n>``), as :func:`export_convnet` names."""
    names, counts = {}, {"conv": 0, "fc": 0}
    for path, block in model.blocks():
        prefix = "conv" if isinstance(block, QuantConvIF) else "fc"
        counts[prefix] += 1
        names[path] = f"{prefix}{counts[prefix]}"
    return names


def estimate_layers(model: SpikingConvNet, x_val: np.ndarray, y_val: np.ndarray
                    ) -> list[LayerEstimate]:
    """Score every weighted layer that is not binary yet, ordered cheapest first.

    The order is by estimated loss, then by binarization error, then by larger saving.

    Parameters
    ----------
    model : SpikingConvNet
        The trained model (not modified).
    x_val, y_val : numpy.ndarray
        Held-out part of the training split (never the test split).

    Returns
    -------
    list of LayerEstimate
    """
    base_loss, base_acc = score(model, x_val, y_val)
    names = layer_names(model)
    estimates = []
    for path, block in model.blocks():
        if block.weight_bits == 1:
            continue
        loss, acc = score(with_binary(model, path), x_val, y_val)
        estimates.append(LayerEstimate(
            path=path, name=names[path], weight_bits=block.weight_bits, weights=block.n_weights,
            binarization_error=binarization_error(block), estimated_loss=loss - base_loss,
            estimated_drop=100.0 * (base_acc - acc),
            bits_saved=block.n_weights * (block.weight_bits - 1)))
    estimates.sort(key=lambda e: (e.estimated_loss, e.binarization_error, -e.bits_saved))
    return estimates


def select_layers(model: SpikingConvNet, config: AlbsnnConfig, x_fit, y_fit, x_val, y_val,
                  generator: torch.Generator, progress: bool = True):
    """Greedy binarization under the budget; returns ``(model, rows, baseline)``.

    Each row is a dict per weighted layer: ``name``, ``path``, ``weights``, ``initial_bits``,
    ``chosen_bits``, ``binarization_error``, ``estimated_loss``, ``estimated_drop`` (the probe:
    only this layer binarized, no fine-tuning), ``measured_loss`` and ``measured_drop`` (after this
    layer's binarization and fine-tuning, with the layers kept binary before it; None when the layer
    was not tried), ``decision``, ``bits_stored`` and ``order`` (rank in the estimator's order).
    Losses are increases and drops are in accuracy points, both on the validation split and
    against the int-k network. ``baseline`` has the int-k validation loss and accuracy.
    """
    base_loss, base_acc = score(model, x_val, y_val)
    estimates = estimate_layers(model, x_val, y_val)
    current = model
    bits = storage_bits(model)
    tried: dict[str, dict] = {}
    for estimate in estimates:
        if config.target_bits is not None and bits <= config.target_bits:
            tried[estimate.path] = {"decision": "not needed (storage target met)"}
            continue
        candidate = with_binary(current, estimate.path)
        fit(candidate, x_fit, y_fit, config.finetune_epochs, config.finetune_lr,
            config.finetune_batch_size, generator, progress, f"finetune {estimate.name}")
        loss, acc = score(candidate, x_val, y_val)
        drop = 100.0 * (base_acc - acc)
        if config.target_bits is not None:
            keep, reason = True, "binary (towards storage target)"
        else:
            # A tiny tolerance: the drop is a difference of image counts over the validation set.
            keep = drop <= config.max_drop + 1e-9
            reason = "binary (within max_drop)" if keep else "kept int (max_drop exceeded)"
        tried[estimate.path] = {"measured_loss": loss - base_loss, "measured_drop": drop,
                                "decision": reason}
        if keep:
            current = candidate
            bits = storage_bits(current)
    by_path = {e.path: e for e in estimates}
    names = layer_names(model)
    rows = []
    for (path, block), (_, initial) in zip(current.blocks(), model.blocks()):
        estimate = by_path.get(path)
        outcome = tried.get(path, {"decision": "already binary"})
        rows.append({
            "name": names[path], "path": path, "weights": block.n_weights,
            "initial_bits": initial.weight_bits, "chosen_bits": block.weight_bits,
            "binarization_error": _round(estimate.binarization_error if estimate else 0.0),
            "estimated_loss": _round(estimate.estimated_loss) if estimate else None,
            "estimated_drop": _round(estimate.estimated_drop) if estimate else None,
            "measured_loss": _round(outcome.get("measured_loss")),
            "measured_drop": _round(outcome.get("measured_drop")),
            "decision": outcome["decision"],
            "bits_stored": block.n_weights * block.weight_bits,
            "order": estimates.index(estimate) + 1 if estimate else None,
        })
    return current, rows, {"validation_loss": base_loss, "validation_accuracy": base_acc}


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def train_albsnn(config: AlbsnnConfig | None = None, data: Split | None = None,
                 progress: bool = True) -> MethodResult:
    """Train the int-k conv net, binarize layers under the budget, export, check against golden.

    Parameters
    ----------
    config : AlbsnnConfig, optional
        Hyper-parameters and budget (defaults: channels 16-32-64, int4, T = 1, max drop 1 point).
    data : Split, optional
        Image data with ``shape`` ``(channels, height, width)``; default the digits split with the
        config's seed.
    progress : bool
        tqdm progress bars per epoch (only on a terminal).

    Returns
    -------
    MethodResult
        ``report`` has the core fields of :func:`~spikeforge.quant.methods.method_report` and
        ``layer_selection`` (the per-layer table), ``storage`` (bits before and after, saving in
        percent), ``baseline`` (the int-k network's validation and test accuracy) and
        ``accuracy_drop_points`` (test, int-k network minus the result).

    Raises
    ------
    ValueError
        For an invalid config field, flat (non-image) data, or an impossible budget (a storage
        target below the all-binary storage), each naming the field and the limit.
    """
    from sklearn.model_selection import train_test_split

    config = (config or AlbsnnConfig()).validate()
    data = data or load_digits_split(seed=config.seed)
    shape = tuple(data.image_shape)
    if len(shape) != 3:
        raise ValueError(f"data: expected images of shape (channels, height, width) for a conv net, "
                         f"found shape {shape}")
    start = time.perf_counter()
    with seeded_training(config.seed, config.threads) as generator:
        x_train, y_train = data.x_train, data.y_train
        if config.train_subset:
            x_train, y_train = x_train[:config.train_subset], y_train[:config.train_subset]
        # The estimator and the budget see a held-out part of the training split only.
        x_fit, x_val, y_fit, y_val = train_test_split(
            x_train, y_train, test_size=config.validation_fraction, random_state=config.seed,
            stratify=y_train if np.bincount(y_train).min() >= 2 else None)
        model = build_convnet(config, shape, data.n_classes)
        check_exportable(model)
        check_budget(config, model)
        calibrate_thresholds(model, x_fit[:256])
        fit(model, x_fit, y_fit, config.epochs, config.lr, config.batch_size, generator, progress,
            "train int-k")
        baseline_counts = evaluate_counts(model, data.x_test)
        bits_before = storage_bits(model)
        final, rows, baseline = select_layers(model, config, x_fit, y_fit, x_val, y_val, generator,
                                              progress)
        seconds = time.perf_counter() - start
        float_counts = evaluate_counts(final, data.x_test, torch.float32)
        quantized_counts = evaluate_counts(final, data.x_test)
        input_bits = DIGITS_INPUT_BITS if data.max_value <= 31 else int(data.max_value).bit_length()
        spec = export_convnet(final, input_bits, data.max_value, name="digits-albsnn", metadata={
            "trainer": "spikeforge.quant.albsnn.train_albsnn", "seed": config.seed,
            "weight_bits": [block.weight_bits for _, block in final.blocks()]})
        bits_after = storage_bits(final)
        final_val_loss, final_val_acc = score(final, x_val, y_val)
        baseline_test = accuracy(baseline_counts, data.y_test)
        report = method_report(
            "albsnn", spec, data.x_test, data.y_test, float_counts=float_counts,
            quantized_counts=quantized_counts, train_seconds=seconds,
            config={k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
            budget=({"target_bits": config.target_bits} if config.target_bits is not None
                    else {"max_drop_points": config.max_drop}),
            layer_selection=rows,
            storage={"bits_before": bits_before, "bits_after": bits_after,
                     "all_binary_bits": binary_storage_bits(final),
                     "saving_percent": round(100.0 * (bits_before - bits_after) / bits_before, 2)},
            baseline={"validation_accuracy": baseline["validation_accuracy"],
                      "validation_loss": _round(baseline["validation_loss"]),
                      "test_accuracy": baseline_test},
            validation={"images": int(len(y_val)), "accuracy": final_val_acc,
                        "loss": _round(final_val_loss)},
            accuracy_drop_points=round(100.0 * (baseline_test - accuracy(quantized_counts,
                                                                         data.y_test)), 2))
    return MethodResult(method="albsnn", netspec=spec, report=report, model=final)


__all__ = ["AlbsnnConfig", "LayerEstimate", "binarization_error", "binary_storage_bits",
           "build_convnet", "calibrate_thresholds", "check_budget", "estimate_layers", "fit",
           "margin_loss", "score", "select_layers", "storage_bits", "train_albsnn", "with_binary"]
