"""Cycles and lane utilization per layer, measured, against the cost model (issue 5).

    python bench/lane_utilization.py [--netspec PATH ...] [--lanes L1,L2,...] [--images N]
                                     [--no-cosim] [--work DIR]

For each network (default: the digits demo, ``train_digits(TrainConfig())``; ``--netspec`` any
others, e.g. a trained ALBSNN conv net) and its lanes (``--lanes``, else the generator's default):

* **per layer** (linear and conv2d engines, the ones with lanes), in Amaranth's simulator: the
  layer's engine alone gets, step by step, exactly the events the golden executor says reach it
  (``record=True``), back to back, with an always-ready output. Measured per step: the
  *accumulate* cycles (from the cycle the step's first event is offered to the cycle its
  end-of-step marker is taken: every input event has then issued all its groups), and the step's
  cycles (to the cycle the engine's own end-of-step marker leaves). Reported over all steps of
  all images:

  - ``utilization_accumulate`` = synaptic operations (golden's count: one per active input and
    target neuron) / (accumulate cycles × lanes): how full the lanes are while accumulating;
  - ``cycles_measured`` against ``cycles_model`` (:func:`spikeforge.hdl.cost.layer_cost` for the
    same events, plus the emitter term :func:`spikeforge.hdl.cost.emitter_cycles` for the spikes
    golden says the layer fires, reported as ``cycles_model_emitter``), and their ratio (also
    without the emitter term);

* **whole network** (unless ``--no-cosim``): cycles per image measured by co-simulation on
  Verilator (:func:`spikeforge.cosim.fast.run_fast_cosim`, bit-exact against golden) against the
  cost model's serial bound :func:`spikeforge.hdl.cost.predicted_cycles` for that image's
  activity (with each layer's emitter term). The layers run on different steps at once, so a measured latency at or below the
  bound is expected; the issue asks for at most 1.25× the bound.

Prints ONE JSON object; exits with status 1 if a utilization is below 0.8 or a ratio (a layer's
or the whole network's) above 1.25 (the issue's targets), so a regression shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_UTILIZATION = 0.8
TARGET_RATIO = 1.25
MEASURED_KINDS = ("linear", "conv2d")


def load_network(path: str | None):
    """The NetSpec at ``path``, or the digits demo trained with the default config."""
    from spikeforge import netspec as netspec_io

    if path:
        return netspec_io.load(path), path
    from spikeforge.quant.train import TrainConfig, train_digits

    return train_digits(TrainConfig(), progress=False).netspec, "train_digits(TrainConfig())"


def test_images(spec, count: int):
    """The first ``count`` held-out digits images for a digits-shaped input, else random ones."""
    from spikeforge.quant.data import load_digits_split

    if spec.input.size == 64:
        return load_digits_split().x_test[:count].astype(np.int64)
    rng = np.random.default_rng(0)
    images = rng.integers(0, spec.input.value_max + 1, (count, spec.input.size))
    images[rng.random(images.shape) < 0.5] = 0
    return images


def layer_inputs(spec, images, result):
    """Per layer, the events reaching it at each (image, step): lists of ``(index, value)``."""
    from spikeforge.golden.encoders import encode

    encoded = np.asarray(encode(spec.input, images, spec.timesteps))  # (T, batch, size)
    per_layer = []
    for index in range(len(spec.layers)):
        steps = []
        for b in range(len(images)):
            for t in range(spec.timesteps):
                source = encoded[t][b] if index == 0 else np.asarray(result.trains[index - 1][t][b])
                source = source.reshape(-1)
                steps.append([(int(i), int(source[i])) for i in np.nonzero(source)[0]])
        per_layer.append(steps)
    return per_layer


def build_engine(spec, index: int, lanes: int, bounds, value_bits: int, stage: int, in_shape):
    from spikeforge.hdl.conv_engine import ConvEngine
    from spikeforge.hdl.layer_engine import LayerEngine

    layer = spec.layers[index]
    if layer.kind == "conv2d":
        return ConvEngine(layer, bounds[index], lanes, value_bits, spec.timesteps, stage, in_shape)
    return LayerEngine(layer, bounds[index], lanes, value_bits, spec.timesteps, stage)


def measure_engine(engine, steps_events, max_cycles: int = 5_000_000):
    """Drive ``steps_events`` through ``engine``; per step ``(accumulate cycles, step cycles)``."""
    from amaranth.sim import Simulator

    timing: list[tuple[int, int]] = []
    now = [0]
    first_taken_at: list[int] = []   # the cycle each step's first event (or its marker) is taken
    marker_taken_at: list[int] = []
    marker_out_at = [-1]             # the previous step's marker leaving (-1: before cycle 0)

    async def clock(ctx):
        while len(timing) < len(steps_events):
            await ctx.tick()
            now[0] += 1
            assert now[0] < max_cycles, "the engine hangs"

    async def drive(ctx):
        for events in steps_events:
            for position, (index, value) in enumerate(list(events) + [(0, None)]):
                last = value is None
                ctx.set(engine.events_in.payload, {"index": index, "value": 0 if last else value,
                                                   "last": int(last)})
                ctx.set(engine.events_in.valid, 1)
                await ctx.tick().until(engine.events_in.ready)
                if position == 0:
                    first_taken_at.append(now[0])
            marker_taken_at.append(now[0])
        ctx.set(engine.events_in.valid, 0)

    async def collect(ctx):
        ctx.set(engine.events_out.ready, 1)
        while len(timing) < len(steps_events):
            _, _, valid, payload = await ctx.tick().sample(engine.events_out.valid,
                                                           engine.events_out.payload)
            if valid and payload.last:
                step = len(timing)
                # Accumulate: from the first event taken to the marker taken (an event is taken
                # when the previous one issues its last group). The step: the time between two
                # markers leaving, i.e. what the engine costs per step when fed back to back.
                timing.append((marker_taken_at[step] - first_taken_at[step],
                               now[0] - marker_out_at[0]))
                marker_out_at[0] = now[0]

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_process(clock)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run()
    return timing


def per_layer_figures(spec, lanes, images, result) -> list[dict]:
    from spikeforge.bounds import analyse
    from spikeforge.hdl.cost import layer_cost
    from spikeforge.hdl.network import stream_value_bits
    from spikeforge.netspec import layer_shapes

    bounds = analyse(spec)
    inputs = layer_inputs(spec, images, result)
    value_bits = stream_value_bits(spec, bounds)
    shapes = layer_shapes(spec)
    figures, stage = [], 0
    for index, layer in enumerate(spec.layers):
        bits_in = spec_input_bits(spec) if index == 0 else value_bits[index - 1]
        if layer.kind not in MEASURED_KINDS:
            figures.append({"layer": layer.name, "kind": layer.kind, "measured": False,
                            "why": "no lanes (stateless or residual engine)"})
            stage += 0 if layer.stateless else 1
            continue
        in_shape = shapes[index][0]
        engine = build_engine(spec, index, lanes[index], bounds, bits_in, stage, in_shape)
        start = time.perf_counter()
        timing = measure_engine(engine, inputs[index])
        per_event, walk, overhead = layer_cost(layer, in_shape, lanes[index])
        model_without_emitter = sum(len(events) * per_event + walk + overhead
                                    for events in inputs[index])
        emitter = emitter_totals(spec, result, index, lanes[index], in_shape)
        model = model_without_emitter + emitter
        accumulate = sum(a for a, _ in timing)
        measured = sum(s for _, s in timing)
        operations = int(result.accumulates[index])
        figures.append({
            "layer": layer.name, "kind": layer.kind, "measured": True, "lanes": lanes[index],
            "outputs": int(np.prod(shapes[index][1])),
            "events_per_step": round(sum(len(e) for e in inputs[index]) / len(inputs[index]), 2),
            "synaptic_ops": operations,
            "cycles_accumulate": accumulate,
            "utilization_accumulate": round(operations / max(1, accumulate * lanes[index]), 4),
            "utilization_all": round(operations / max(1, measured * lanes[index]), 4),
            "cycles_measured": measured, "cycles_model": int(model),
            "cycles_model_emitter": emitter,
            "ratio_measured_over_model": round(measured / max(1, model), 4),
            "ratio_measured_over_model_without_emitter":
                round(measured / max(1, model_without_emitter), 4),
            "simulated_s": round(time.perf_counter() - start, 1),
        })
        stage += 1
    return figures


def emitter_totals(spec, result, index: int, lanes: int, in_shape) -> int:
    """The cost model's emitter term of layer ``index`` summed over every step of every image."""
    from spikeforge.hdl.cost import emitter_cycles

    train = np.asarray(result.trains[index])  # (T, batch, outputs)
    return sum(emitter_cycles(spec.layers[index], in_shape, lanes, train[t, b])
               for b in range(train.shape[1]) for t in range(train.shape[0]))


def spec_input_bits(spec) -> int:
    from spikeforge.hdl.input_buffer import event_value_bits

    return event_value_bits(spec.input)


def network_figures(spec, lanes, images, result, netspec_path: Path, work: Path) -> dict:
    """Cycles per image by Verilator co-simulation against the cost model's serial bound."""
    from spikeforge.cosim.fast import run_fast_cosim
    from spikeforge.golden.encoders import encode
    from spikeforge.hdl.cost import emitter_cycles, predicted_cycles
    from spikeforge.hdl.verilog import generate_verilog
    from spikeforge.netspec import layer_shapes

    verilog = work / "spikeforge_top.v"
    verilog.write_text(generate_verilog(spec, lanes))
    cosim = run_fast_cosim(netspec_path, verilog, images, work / "cosim", simulator="verilator")
    encoded = np.asarray(encode(spec.input, images, spec.timesteps))
    shapes = layer_shapes(spec)
    ratios, measured_all, bound_all = [], [], []
    for b, record in enumerate(cosim.images):
        active = float(np.count_nonzero(encoded[:, b]) / spec.timesteps)
        spikes = [float(np.count_nonzero(train[:, b]) / spec.timesteps) for train in result.trains]
        emitter = [sum(emitter_cycles(layer, shapes[index][0], lanes[index], train[t, b])
                       for t in range(spec.timesteps)) / spec.timesteps
                   for index, (layer, train) in enumerate(zip(spec.layers, result.trains))]
        bound = predicted_cycles(spec, lanes, active, spikes, emitter)["total"]
        measured_all.append(int(record["cycles"]))
        bound_all.append(bound)
        ratios.append(int(record["cycles"]) / bound)
    return {"images": len(images), "bit_exact": cosim.passed,
            "cycles_mean": round(float(np.mean(measured_all)), 1),
            "bound_mean": round(float(np.mean(bound_all)), 1),
            "ratio_max": round(max(ratios), 4), "ratio_mean": round(float(np.mean(ratios)), 4)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--netspec", action="append", default=None,
                        help="NetSpec to measure (repeatable; default: the digits demo)")
    parser.add_argument("--lanes", default=None, help="lanes per layer, e.g. 8,10 (one network)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--no-cosim", action="store_true", help="skip the whole-network run")
    parser.add_argument("--work", default=None)
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images: expected >= 1, found {args.images}")
    from spikeforge.golden import run
    from spikeforge.hdl.network import check_buildable

    work_root = Path(args.work or tempfile.mkdtemp(prefix="lane_util_"))
    networks = []
    failed = False
    for number, path in enumerate(args.netspec or [None]):
        spec, source = load_network(path)
        lanes = check_buildable(spec, [int(x) for x in args.lanes.split(",")] if args.lanes else None)
        images = test_images(spec, args.images)
        result = run(spec, images, record=True)
        work = work_root / f"net{number}"
        work.mkdir(parents=True, exist_ok=True)
        netspec_path = Path(path) if path else spec.save(work / "netspec.npz")
        layers = per_layer_figures(spec, lanes, images, result)
        entry = {"network": source, "sizes": [layer.name for layer in spec.layers],
                 "lanes": lanes, "timesteps": spec.timesteps, "encoding": spec.input.encoding,
                 "images": len(images), "layers": layers}
        if not args.no_cosim:
            entry["whole_network"] = network_figures(spec, lanes, images, result, netspec_path, work)
            failed |= entry["whole_network"]["ratio_max"] > TARGET_RATIO
            failed |= not entry["whole_network"]["bit_exact"]
        failed |= any(layer["measured"] and (layer["utilization_accumulate"] < TARGET_UTILIZATION
                                             or layer["ratio_measured_over_model"] > TARGET_RATIO)
                      for layer in layers)
        networks.append(entry)
    report = {"benchmark": "lane_utilization", "targets": {
        "utilization_accumulate_min": TARGET_UTILIZATION, "cycles_over_bound_max": TARGET_RATIO},
        "networks": networks, "within_targets": not failed}
    print(json.dumps(report, indent=1))
    if failed:
        sys.exit(1)
    return report


if __name__ == "__main__":
    main()
