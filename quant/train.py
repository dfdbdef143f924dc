"""Quantization-aware training of the digits spiking MLP, deterministic for a seed."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from spikeforge.netspec import NetSpec

from .data import DIGITS_INPUT_BITS, Split, load_digits_split
from .export import export_netspec
from .model import SpikingMLP, initial_thresholds


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_digits`.

    Attributes
    ----------
    seed : int
        Seeds the split, the initial weights and the batch order.
    epochs, batch_size, lr : training schedule (Adam, cosine decay).
    hidden : int
        Hidden neurons.
    timesteps : int
        T (direct coding presents the image T times).
    weight_bits : tuple of int
        Per layer: 1 binary ±1, 2..8 int-k.
    train_subset : int or None
        Train on the first N training images only (for quick tests).
    """

    seed: int = 0
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-2
    hidden: int = 128
    timesteps: int = 8
    weight_bits: tuple = (1, 4)
    train_subset: int | None = None
    threads: int = 2


@dataclass
class TrainResult:
    """What training produced: the model, its exact NetSpec, and a JSON-able report."""

    model: SpikingMLP
    netspec: NetSpec
    report: dict = field(default_factory=dict)


def _evaluate(model: SpikingMLP, x: np.ndarray) -> np.ndarray:
    """Spike counts of the quantized model, float64 (exact for these integer-valued tensors)."""
    model.eval()
    with torch.no_grad():
        counts = model.double()(torch.from_numpy(x).double())
    model.float()
    return counts.round().to(torch.int64).numpy()


def train_digits(config: TrainConfig | None = None, data: Split | None = None,
                 progress: bool = True) -> TrainResult:
    """Train with Brevitas QAT, export the NetSpec, check it against the golden executor.

    Parameters
    ----------
    config : TrainConfig
        Hyper-parameters (defaults: 64-128-10, binary fc1, int4 fc2, T = 8, 40 epochs).
    data : Split, optional
        Defaults to scikit-learn digits with the config's seed.
    progress : bool
        Show a progress bar per epoch.
    """
    from spikeforge.golden import run

    config = config or TrainConfig()
    if not 1 <= config.timesteps <= 8:
        raise ValueError(f"timesteps: expected 1..8 for the digits demo, found {config.timesteps}")
    data = data or load_digits_split(seed=config.seed)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    x_train, y_train = data.x_train, data.y_train
    if config.train_subset:
        x_train, y_train = x_train[:config.train_subset], y_train[:config.train_subset]
    sizes = (x_train.shape[1], config.hidden, data.n_classes)
    model = SpikingMLP(sizes, config.weight_bits, config.timesteps,
                       initial_thresholds(sizes, data.max_value))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(x_train).float()
    yt = torch.from_numpy(y_train)

    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        # disable=None: a bar on a terminal, nothing in CI logs (training takes seconds).
        bar = tqdm(total=config.epochs, desc="train", unit="epoch", disable=None)
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for begin in range(0, len(xt), config.batch_size):
            batch = order[begin:begin + config.batch_size]
            counts = model(xt[batch])
            loss = loss_fn(counts, yt[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        schedule.step()
        if bar is not None:
            bar.set_postfix(loss=f"{total / len(xt):.3f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start

    quantized_counts = _evaluate(model, data.x_test)
    quantized_pred = np.argmax(quantized_counts, axis=1)
    spec = export_netspec(model, DIGITS_INPUT_BITS if data.max_value <= 31 else
                          int(data.max_value).bit_length(), data.max_value,
                          metadata={"seed": config.seed, "epochs": config.epochs,
                                    "trainer": "spikeforge.quant.train_digits"})
    golden = run(spec, data.x_test)
    agreement = int((golden.counts == quantized_counts).all(axis=1).sum())
    report = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "sizes": list(sizes),
        "test_images": int(len(data.y_test)),
        "quantized_accuracy": float((quantized_pred == data.y_test).mean()),
        "golden_accuracy": float((golden.predictions == data.y_test).mean()),
        "count_agreement": agreement,
        "train_seconds": round(seconds, 1),
        "layers": [{"name": layer.name, "weight_bits": layer.weight_bits,
                    "threshold": layer.neuron.threshold, "state_bits": layer.neuron.state_bits,
                    "weight_bits_stored": int(layer.weights.size * layer.weight_bits)}
                   for layer in spec.layers],
    }
    spec.metadata.update({"quantized_accuracy": report["quantized_accuracy"]})
    return TrainResult(model=model, netspec=spec, report=report)
