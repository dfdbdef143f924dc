"""Quantization-aware training of the digits spiking MLP, deterministic for a seed.

The default (:class:`TrainConfig`) is the demo network: 64-128-10 IF neurons over T = 8 direct-coded
steps, binary ±1 weights in ``fc1`` and int4 weights in ``fc2``, 40 epochs of Adam with cosine decay
on the 1,437 training digits. It trains in a few seconds on one CPU thread. After training the model
is exported to a NetSpec and run by the integer golden executor on the 360 held-out images; the
report says how many images give exactly the same spike counts in both (it must be all of them).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
import numbers
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from spikeforge.netspec import NetSpec

from .data import DIGITS_INPUT_BITS, Split, load_digits_split
from .export import export_netspec
from .model import SpikingMLP, check_weight_bits, initial_thresholds

MAX_DEMO_TIMESTEPS = 8


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_digits`.

    Attributes
    ----------
    seed : int
        Seeds the split, the initial weights and the batch order.
    epochs, batch_size, lr : int, int, float
        Training schedule (Adam, cosine decay of the learning rate over the epochs).
    hidden : int
        Hidden neurons.
    timesteps : int
        T, 1..8 (direct coding presents the image T times).
    weight_bits : tuple of int
        Per layer (``fc1``, ``fc2``): 1 binary ±1, 2..8 int-k.
    train_subset : int or None
        Train on the first N training images only (for quick tests).
    threads : int
        ``torch.set_num_threads`` during training (restored afterwards).
    """

    seed: int = 0
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-2
    hidden: int = 128
    timesteps: int = 8
    weight_bits: tuple = (1, 4)
    train_subset: int | None = None
    # One thread: the batches are tiny (64×128 products), and with 2 OpenMP threads on a busy
    # 2-core machine every parallel region waits for a descheduled thread. Measured with other jobs
    # running: 3 s with 1 thread, 15-70 s with 2 (same weights either way).
    threads: int = 1

    def validate(self) -> "TrainConfig":
        """Check every field; return ``self``.

        Raises
        ------
        ValueError
            Naming the field, what was expected and what was found.
        """
        def positive_int(name, value):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, found {value!r}")

        for name in ("epochs", "batch_size", "hidden", "threads"):
            positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, found {self.seed!r}")
        if not isinstance(self.lr, numbers.Real) or not self.lr > 0:
            raise ValueError(f"lr: expected a positive number, found {self.lr!r}")
        if (isinstance(self.timesteps, bool) or not isinstance(self.timesteps, numbers.Integral)
                or not 1 <= self.timesteps <= MAX_DEMO_TIMESTEPS):
            raise ValueError(f"timesteps: expected 1..{MAX_DEMO_TIMESTEPS} for the digits demo, "
                             f"found {self.timesteps}")
        bits = tuple(self.weight_bits)
        if len(bits) != 2:
            raise ValueError(f"weight_bits: expected 2 values (fc1, fc2), found {len(bits)}: {bits}")
        for index, value in enumerate(bits):
            check_weight_bits(value, f"weight_bits[{index}]")
        if self.train_subset is not None:
            positive_int("train_subset", self.train_subset)
        return self


@dataclass
class TrainResult:
    """What training produced.

    Attributes
    ----------
    model : SpikingMLP
        The trained Brevitas model (float32 parameters).
    netspec : NetSpec
        Its exact integer export (validated).
    report : dict
        JSON-serialisable figures on the held-out split: ``float_accuracy`` (the model's float32
        forward pass, the one trained), ``quantized_accuracy`` (float64 forward: exact integer
        arithmetic in the layers' units), ``golden_accuracy`` (the golden executor on the NetSpec),
        ``count_agreement`` (images whose golden spike counts equal the float64 model's, all
        ``test_images`` of them when the export is exact), ``train_seconds``, and per layer
        ``threshold``, ``state_bits``, ``unit`` and ``weight_bits_stored``.
    """

    model: SpikingMLP
    netspec: NetSpec
    report: dict = field(default_factory=dict)
    float_counts: np.ndarray | None = None
    quantized_counts: np.ndarray | None = None


def _evaluate(model: SpikingMLP, x: np.ndarray, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Spike counts of the quantized model as int64.

    In float64 (the default) every sum of the forward pass is an integer times a power of two well
    inside the 53-bit mantissa, so the counts are exact. A copy is converted: ``model`` keeps its
    dtype even if the forward pass raises.
    """
    evaluated = copy.deepcopy(model).to(dtype).eval()
    with torch.no_grad():
        counts = evaluated(torch.from_numpy(np.asarray(x)).to(dtype))
    return counts.round().to(torch.int64).numpy()


def _accuracy(counts: np.ndarray, labels: np.ndarray) -> float:
    # argmax: lowest index on ties, as the golden readout.
    return float((np.argmax(counts, axis=1) == labels).mean())


def train_digits(config: TrainConfig | None = None, progress: bool = True, *,
                 data: Split | None = None) -> TrainResult:
    """Train with Brevitas QAT, export the NetSpec, check it against the golden executor.

    Parameters
    ----------
    config : TrainConfig, optional
        Hyper-parameters (defaults: 64-128-10, binary fc1, int4 fc2, T = 8, 40 epochs).
    progress : bool
        Show a tqdm progress bar over the epochs (only on a terminal).
    data : Split, optional
        Defaults to scikit-learn digits split with the config's seed.

    Returns
    -------
    TrainResult
        The model, its NetSpec (metadata: seed, epochs, accuracies, units) and the report.

    Raises
    ------
    ValueError
        If a configuration field is invalid (see :meth:`TrainConfig.validate`).
    """
    from spikeforge.golden import run

    config = (config or TrainConfig()).validate()
    data = data or load_digits_split(seed=config.seed)
    # Fixed threads and seeds: the same config gives the same weights, bit for bit.
    with seeded_training(config.seed, config.threads) as generator:
        x_train, y_train = data.x_train, data.y_train
        if config.train_subset:
            x_train, y_train = x_train[:config.train_subset], y_train[:config.train_subset]
        sizes = (int(x_train.shape[1]), int(config.hidden), data.n_classes)
        model = SpikingMLP(sizes, tuple(config.weight_bits), int(config.timesteps),
                           initial_thresholds(sizes, data.max_value))
        seconds = _fit(model, config, x_train, y_train, generator, progress)

        float_counts = _evaluate(model, data.x_test, torch.float32)
        quantized_counts = _evaluate(model, data.x_test)
        input_bits = DIGITS_INPUT_BITS if data.max_value <= 31 else int(data.max_value).bit_length()
        units = [layer.integers()["unit"] for layer in model.layers]
        accuracies = {"float_accuracy": _accuracy(float_counts, data.y_test),
                      "quantized_accuracy": _accuracy(quantized_counts, data.y_test)}
        spec = export_netspec(model, input_bits, data.max_value, metadata={
            "trainer": "spikeforge.quant.train_digits", "seed": config.seed,
            "epochs": config.epochs, "hidden": config.hidden,
            "weight_bits": list(config.weight_bits), "train_images": int(len(x_train)),
            "units": units, **accuracies})
        golden = run(spec, data.x_test)
    agreement = int((golden.counts == quantized_counts).all(axis=1).sum())
    golden_accuracy = float((golden.predictions == data.y_test).mean())
    spec.metadata.update(golden_accuracy=golden_accuracy, count_agreement=agreement)
    report = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "sizes": list(sizes),
        "test_images": int(len(data.y_test)),
        **accuracies,
        "golden_accuracy": golden_accuracy,
        "count_agreement": agreement,
        "train_seconds": round(seconds, 1),
        "layers": [{"name": layer.name, "weight_bits": layer.weight_bits,
                    "threshold": layer.neuron.threshold, "state_bits": layer.neuron.state_bits,
                    "unit": unit, "weight_bits_stored": int(layer.weights.size * layer.weight_bits)}
                   for layer, unit in zip(spec.layers, units)],
    }
    return TrainResult(model=model, netspec=spec, report=report, float_counts=float_counts,
                       quantized_counts=quantized_counts)


def train_qat(config: TrainConfig | None = None, data: Split | None = None, progress: bool = True):
    """``--method qat``: :func:`train_digits` with the common method report.

    Returns
    -------
    spikeforge.quant.methods.MethodResult
        The core fields of :func:`~spikeforge.quant.methods.method_report` (golden executor on the
        test split) plus ``config``, ``sizes`` and per-layer ``unit`` from the training report.
    """
    from .methods import MethodResult, method_report

    config = (config or TrainConfig()).validate()
    data = data or load_digits_split(seed=config.seed)
    result = train_digits(config, progress=progress, data=data)
    units = [row["unit"] for row in result.report["layers"]]
    report = method_report("qat", result.netspec, data.x_test, data.y_test,
                           float_counts=result.float_counts,
                           quantized_counts=result.quantized_counts,
                           train_seconds=result.report["train_seconds"],
                           config=result.report["config"], sizes=result.report["sizes"],
                           units=units)
    return MethodResult("qat", result.netspec, report, result.model)


@contextmanager
def seeded_training(seed: int, threads: int):
    """Fixed seeds and thread count while a method trains: the same config, the same weights.

    Seeds torch's global generator (initial weights) and yields a ``torch.Generator`` for the
    batch order; ``torch.set_num_threads(threads)`` holds inside and is restored on exit.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(model: SpikingMLP, config: TrainConfig, x_train: np.ndarray, y_train: np.ndarray,
         generator: torch.Generator, progress: bool) -> float:
    """Adam on the cross-entropy of the spike counts; returns the seconds spent."""
    loss_fn = nn.CrossEntropyLoss()
    return fit_epochs(model, lambda m, xb, yb: loss_fn(m(xb), yb), x_train, y_train,
                      epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                      generator=generator, progress=progress)


def fit_epochs(model: nn.Module, batch_loss, x: np.ndarray, y: np.ndarray, *, epochs: int,
               lr: float, batch_size: int, generator: torch.Generator, progress: bool,
               desc: str = "train", leave: bool = True) -> float:
    """The training loop every method shares: Adam with cosine decay, deterministic batch order.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place (``model.train()`` each epoch).
    batch_loss : callable
        ``batch_loss(model, x_batch, y_batch) -> loss`` (a scalar tensor).
    x, y : numpy.ndarray
        Inputs (converted to float32) and integer labels.
    epochs, lr, batch_size : int, float, int
        The schedule; ``epochs == 0`` trains nothing.
    generator : torch.Generator
        Seeds the batch order, so a seed gives the same weights.
    progress : bool
        A tqdm bar per epoch on a terminal (none in CI logs).
    desc, leave : str, bool
        The bar's label, and whether it stays on screen when done.

    Returns
    -------
    float
        Seconds spent.
    """
    start = time.perf_counter()
    if epochs == 0:
        return 0.0
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    xt, yt = torch.from_numpy(np.asarray(x)).float(), torch.from_numpy(np.asarray(y))
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: a bar on a terminal, nothing in CI logs (training takes seconds).
        bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=None, leave=leave)
    try:
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(xt), generator=generator)  # deterministic data order
            total = 0.0
            for begin in range(0, len(xt), batch_size):
                batch = order[begin:begin + batch_size]
                loss = batch_loss(model, xt[batch], yt[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            schedule.step()
            if bar is not None:
                bar.set_postfix(loss=f"{total / len(xt):.3f}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return time.perf_counter() - start
