"""Golden executor vs snnTorch on the same integer network: speed and exact agreement.

Run::

    python bench/golden_vs_snntorch.py [--repeats N] [--netspec PATH] [--threads N] [--profile]

Builds the digits demo network (``train_digits(TrainConfig())``, or the NetSpec given by
``--netspec``) and runs all 1,797 scikit-learn digits images, in one process with the same torch
thread count, through

(a) ``spikeforge.golden.run`` (integer-exact: float64 accumulate, int64 neurons), and
(b) snnTorch in float32: ``nn.Linear`` layers holding the NetSpec's effective integer weights
    (``weights * scale``) and bias, ``snntorch.Leaky`` neurons with ``beta=1.0`` (no leak), the
    direct input presented ``T`` times, spike-count readout.

snnTorch's ``Leaky`` fires on ``V > θ`` (``heaviside(mem - threshold)``, ``input_ > 0``) and, with
its default ``reset_delay=True``, subtracts the threshold at the *next* call (from the membrane it
returned), while ours fires on ``V >= θ`` and resets in the same step. The settings below make the
two coincide exactly on integer values (``SETTINGS`` says why; ``tests/test_parity_snntorch.py``
checks them and documents what goes wrong without them). The script checks that snnTorch's counts equal
the golden counts on every image, then prints ONE JSON object: samples per second of each (best of
``N`` repeats, warm-up excluded), the ratio golden/snnTorch, the agreement and the settings. With
``--profile``, or when the golden model is the slower one, it adds where the golden run spends its
time (torch operator profile, page faults).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

FLOAT32_HALF_EXACT = 1 << 23  # every multiple of 0.5 below 2**23 in magnitude is exact in float32

# How the NetSpec maps onto snnTorch, per reset mode of the NetSpec (integer IF neurons, no leak).
SETTINGS = {
    "subtract": {
        "snntorch_class": "snntorch.Leaky",
        "beta": 1.0,
        "threshold": "theta (the layer's integer threshold, unshifted)",
        "initial_membrane": 0.5,
        "reset_mechanism": "subtract",
        "reset_delay": True,
        "surrogate_disable": True,
        "dtype": "float32",
        "why": (
            "snnTorch fires on mem > threshold; starting the membrane at 0.5 instead of 0 keeps "
            "mem = V + 0.5 for integer V throughout (reset subtracts exactly theta), so "
            "mem > theta <=> V >= theta. A threshold of theta - 0.5 would also make '>' equal "
            "'>=', but snnTorch then subtracts theta - 0.5 on reset, so V drifts by 0.5 per "
            "spike. reset_delay=True (the default) fires in the same step as ours and only "
            "subtracts theta at the next call; the spikes are ours exactly (the membrane it "
            "returns is the pre-reset V + 0.5). reset_delay=False instead decides the spike on "
            "mem - theta whenever the carried membrane is already >= theta (after a step where "
            "V >= 2*theta), so it misses spikes we emit. surrogate_disable only affects "
            "gradients (a plain input > 0 step in the forward pass)."
        ),
    },
    "zero": {
        "snntorch_class": "snntorch.Leaky",
        "beta": 1.0,
        "threshold": "theta - 0.5",
        "initial_membrane": 0.0,
        "reset_mechanism": "zero",
        "reset_delay": True,
        "surrogate_disable": True,
        "dtype": "float32",
        "why": ("A reset to zero drops any offset of the membrane, so the half unit goes into "
                "the threshold instead: mem > theta - 0.5 <=> V >= theta; the reset never "
                "subtracts it."),
    },
}


def digits_images() -> np.ndarray:
    """All 1,797 scikit-learn digits images, int64 values 0..16 (shipped with scikit-learn)."""
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.int64)


def check_mappable(spec) -> None:
    """Raise ``ValueError`` unless snnTorch ``Leaky`` float32 reproduces ``spec`` exactly."""
    from spikeforge.bounds import analyse

    if spec.input.encoding != "direct":
        raise ValueError(f"input.encoding: expected 'direct' for this benchmark, found "
                         f"{spec.input.encoding!r}")
    for layer, bound in zip(spec.layers, analyse(spec)):
        neuron = layer.neuron
        where = f"layer {layer.name}"
        if layer.kind != "linear":
            raise ValueError(f"{where}: expected kind 'linear', found {layer.kind!r}")
        if not (neuron.kind == "if" or (neuron.kind == "lif" and neuron.leak == "none")):
            raise ValueError(f"{where}: expected IF neurons (or LIF without leak) for snnTorch "
                             f"Leaky(beta=1), found {neuron.kind!r}")
        if bound.saturates:
            raise ValueError(f"{where}: the membrane can saturate (state_bits "
                             f"{neuron.state_bits}); snnTorch does not clamp, so the two would "
                             "differ")
        # snnTorch holds V + 0.5 and computes V + 0.5 + I - theta before its comparison: every
        # value must be a half-integer exact in float32 (magnitude below 2**23).
        largest = (max(abs(bound.membrane_low), abs(bound.membrane_high))
                   + max(abs(bound.current_low), abs(bound.current_high), abs(bound.acc_low),
                         abs(bound.acc_high)) + neuron.threshold + 1)
        if largest >= FLOAT32_HALF_EXACT:
            raise ValueError(f"{where}: values up to {largest} are not exact in float32 "
                             f"(expected < 2**23)")


def leaky(threshold: int, reset: str = "subtract"):
    """``(snntorch.Leaky, initial_membrane)`` firing and resetting like our integer IF neuron.

    ``threshold`` is the integer θ (``V >= θ`` fires); ``reset`` is the NetSpec's reset mode. Feed
    it integer currents and start its membrane at ``initial_membrane`` (see ``SETTINGS``).
    """
    import snntorch

    settings = SETTINGS[reset]
    shifted = float(threshold) - 0.5 if reset == "zero" else float(threshold)
    neuron = snntorch.Leaky(beta=settings["beta"], threshold=shifted,
                            reset_mechanism=settings["reset_mechanism"],
                            reset_delay=settings["reset_delay"],
                            surrogate_disable=settings["surrogate_disable"])
    return neuron.eval(), settings["initial_membrane"]


def build_snntorch(spec) -> list:
    """``[(nn.Linear, snntorch.Leaky, initial_membrane), ...]`` reproducing ``spec`` exactly."""
    check_mappable(spec)
    layers = []
    for layer in spec.layers:
        linear = nn.Linear(layer.n_in, layer.n_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.effective_weights).to(torch.float32))
            linear.bias.copy_(torch.from_numpy(layer.bias.astype(np.int64)).to(torch.float32))
        layers.append((linear.eval(), *leaky(layer.neuron.threshold, layer.neuron.reset)))
    return layers


def run_snntorch(layers: list, timesteps: int, images: np.ndarray, record: bool = False):
    """Spike counts ``(batch, n_out)`` int64 (and, with ``record``, spike trains per layer)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32)
    trains = [[] for _ in layers]
    with torch.inference_mode():
        membranes = [None] * len(layers)
        counts = None
        for _ in range(timesteps):
            activity = x  # direct coding: the same input every step
            for index, (linear, neuron, initial) in enumerate(layers):
                current = linear(activity)
                if membranes[index] is None:
                    membranes[index] = torch.full_like(current, initial)
                activity, membranes[index] = neuron(current, membranes[index])
                if record:
                    trains[index].append(activity.to(torch.int64).numpy())
            counts = activity.clone() if counts is None else counts.add_(activity)
    counts = counts.to(torch.int64).numpy()
    if record:
        return counts, [np.stack(train) for train in trains]
    return counts


def _settings_tried(spec, images: np.ndarray, golden_counts: np.ndarray) -> list:
    """Images whose counts agree under other plausible settings (why the chosen ones matter)."""
    tried = []
    variants = [
        ("snnTorch defaults: threshold theta, membrane starts at 0, reset_delay=True",
         0.0, 0.0, True),
        ("threshold theta - 0.5, membrane starts at 0, reset_delay=True", -0.5, 0.0, True),
        ("threshold theta - 0.5, membrane starts at 0, reset_delay=False", -0.5, 0.0, False),
        ("threshold theta, membrane starts at 0.5, reset_delay=False", 0.0, 0.5, False),
        ("threshold theta, membrane starts at 0.5, reset_delay=True (chosen)", 0.0, 0.5, True),
    ]
    import snntorch

    if any(layer.neuron.reset != "subtract" for layer in spec.layers):
        return tried
    linears = [linear for linear, _, _ in build_snntorch(spec)]
    for label, shift, initial, delay in variants:
        layers = []
        for layer, linear in zip(spec.layers, linears):
            neuron = snntorch.Leaky(beta=1.0, threshold=float(layer.neuron.threshold) + shift,
                                    reset_mechanism="subtract", reset_delay=delay,
                                    surrogate_disable=True)
            layers.append((linear, neuron, initial))
        counts = run_snntorch(layers, spec.timesteps, images)
        tried.append({"settings": label,
                      "images_agreeing": int((counts == golden_counts).all(axis=1).sum())})
    return tried


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _minor_faults(function) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    function()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _profile_golden(golden_call, snntorch_call, runs: int = 5) -> dict:
    """Where one golden run spends its time: torch operators (self CPU), page faults."""
    from torch.profiler import ProfilerActivity, profile

    golden_call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            golden_call()
    rows = sorted(prof.key_averages(), key=lambda row: row.self_cpu_time_total, reverse=True)
    total = sum(row.self_cpu_time_total for row in rows) or 1
    operators = [{"op": row.key,
                  "self_ms_per_run": round(row.self_cpu_time_total / 1e3 / runs, 3),
                  "share": round(row.self_cpu_time_total / total, 3),
                  "calls_per_run": row.count // runs}
                 for row in rows[:10]]
    return {
        "torch_ops_self_cpu": operators,
        "minor_page_faults_per_run": {"golden": _minor_faults(golden_call),
                                      "snntorch": _minor_faults(snntorch_call)},
        "note": ("self CPU times under the profiler (which adds overhead); page faults are the "
                 "kernel zero-filling freshly mapped memory for large temporaries"),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each (best is kept)")
    parser.add_argument("--netspec", type=Path,
                        help="a NetSpec .npz (default: train the digits demo)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--profile", action="store_true",
                        help="add the golden profile even when golden is faster")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: expected >= 1, found {args.repeats}")

    import snntorch

    from spikeforge import golden
    from spikeforge.netspec import load

    if args.netspec is not None:
        spec = load(args.netspec)
        source = str(args.netspec)
    else:
        from spikeforge.quant.train import TrainConfig, train_digits

        spec = train_digits(TrainConfig(), progress=False).netspec
        source = "spikeforge.quant.train.train_digits(TrainConfig())"
    torch.set_num_threads(args.threads)

    images = digits_images()
    if images.shape[1] != spec.input.size:
        raise SystemExit(f"--netspec: expected input size {images.shape[1]} (8x8 digits), "
                         f"found {spec.input.size}")
    layers = build_snntorch(spec)
    timesteps = spec.timesteps

    def golden_call():
        return golden.run(spec, images)

    def snntorch_call():
        return run_snntorch(layers, timesteps, images)

    # Exactness first (outside the timing): counts per image and every layer's spike trains.
    reference = golden.run(spec, images, record=True)
    counts, trains = run_snntorch(layers, timesteps, images, record=True)
    agreeing = int((counts == reference.counts).all(axis=1).sum())
    trains_equal = all(np.array_equal(ours, theirs)
                       for ours, theirs in zip(reference.trains, trains))

    # Warm-up (excluded), then interleaved repeats so background load hits both alike.
    golden_times, snntorch_times = [], []
    golden_call()
    snntorch_call()
    for _ in range(args.repeats):
        golden_times.append(_timed(golden_call))
        snntorch_times.append(_timed(snntorch_call))
    n = len(images)
    golden_rate = n / min(golden_times)
    snntorch_rate = n / min(snntorch_times)
    ratio = golden_rate / snntorch_rate
    result = {
        "benchmark": "golden_vs_snntorch",
        "network": {"source": source,
                    "sizes": [spec.input.size] + [l.n_out for l in spec.layers],
                    "weight_bits": [l.weight_bits for l in spec.layers],
                    "thresholds": [l.neuron.threshold for l in spec.layers],
                    "reset": [l.neuron.reset for l in spec.layers],
                    "encoding": spec.input.encoding},
        "images": n,
        "timesteps": timesteps,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "timing": "best of repeats, one warm-up run of each excluded, repeats interleaved",
        "golden": {"samples_per_s": round(golden_rate, 1), "best_s": round(min(golden_times), 6),
                   "median_s": round(statistics.median(golden_times), 6),
                   "arithmetic": "exact float32 or float64 accumulate (bound-checked), int32 or int64 neurons"},
        "snntorch": {"samples_per_s": round(snntorch_rate, 1),
                     "best_s": round(min(snntorch_times), 6),
                     "median_s": round(statistics.median(snntorch_times), 6),
                     "version": snntorch.__version__, "arithmetic": "float32 throughout"},
        "ratio_golden_over_snntorch": round(ratio, 3),
        "agreement": {"images_with_equal_counts": agreeing, "images": n,
                      "exact": agreeing == n, "spike_trains_equal_every_layer": trains_equal},
        "snntorch_settings": {reset: SETTINGS[reset]
                              for reset in sorted({l.neuron.reset for l in spec.layers})},
        "settings_tried": _settings_tried(spec, images, reference.counts),
        "torch": torch.__version__,
        "norse": ("not run: pip install norse (1.1.0) would pull torch 2.14.1 with CUDA "
                  "(this project pins torch 2.13.0 CPU)"),
    }
    if args.profile or ratio < 1.0:
        result["golden_profile"] = _profile_golden(golden_call, snntorch_call)
    print(json.dumps(result, indent=2))
    if agreeing != n:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
