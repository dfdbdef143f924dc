"""Whole NetworkTop in Amaranth's simulator against the golden executor, on random networks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amaranth.sim import Simulator

from spikeforge.golden import run
from spikeforge.hdl.cost import predicted_cycles
from spikeforge.hdl.network import NetworkTop
from spikeforge.synthetic import random_netspec

from hdl_harness import check_network, send_values, simulate_network


def _check(spec, lanes, images):
    return check_network(spec, lanes, images)[1]


@pytest.mark.parametrize("lanes", [[4, 5], [3, 2], [12, 5], [1, 1]])
def test_lanes_dividing_or_not(lanes):
    spec = random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                          state_bits=(12, 8))
    images = np.random.default_rng(7).integers(0, 17, (3, 16))
    images[1] = 0
    _check(spec, lanes, images)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_modes_and_int_weights_first(reset):
    spec = random_netspec(seed=2, sizes=(10, 9, 4), weight_bits=(3, 1), timesteps=5,
                          thresholds=(12, 3), state_bits=(10, 8), reset=reset)
    images = np.random.default_rng(2).integers(0, 17, (3, 10))
    _check(spec, [3, 4], images)


def test_saturating_layer():
    spec = random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                          thresholds=(60, 2), state_bits=(7, 4))
    from spikeforge.bounds import analyse
    assert analyse(spec)[0].saturates
    images = np.random.default_rng(4).integers(0, 17, (3, 8))
    _check(spec, [2, 3], images)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 12), n_hidden=st.integers(1, 10),
       n_out=st.integers(1, 6), bits=st.sampled_from([(1, 4), (4, 1), (2, 8), (1, 1)]),
       timesteps=st.integers(1, 5), data=st.data())
def test_random_networks_match_golden(seed, n_in, n_hidden, n_out, bits, timesteps, data):
    theta1 = data.draw(st.integers(1, 40))
    theta2 = data.draw(st.integers(1, 8))
    spec = random_netspec(seed=seed, sizes=(n_in, n_hidden, n_out), weight_bits=bits,
                          timesteps=timesteps, thresholds=(theta1, theta2), state_bits=(12, 9),
                          reset=data.draw(st.sampled_from(["subtract", "zero"])))
    lanes = [data.draw(st.integers(1, n_hidden)), data.draw(st.integers(1, n_out))]
    images = np.random.default_rng(seed).integers(0, 17, (2, n_in))
    _check(spec, lanes, images)


def stream_network(spec, lanes, images, seed=0, backpressure=False, max_cycles=400_000):
    """Push all images without pause (the next loads while the previous drains) and collect.

    Returns per image: the counts, the ``cycles`` port after its ``done`` pulse, and the latency
    measured here (clock edges from its first accepted value to its last count, both included).
    """
    dut = NetworkTop(spec, lanes)
    rng = np.random.default_rng(seed)
    first_accept: list[int] = []
    results: list[dict] = []

    async def drive(ctx):
        edge = 0
        for image in images:
            for position, value in enumerate(image):
                ctx.set(dut.input.payload, int(value))
                ctx.set(dut.input.valid, 1)
                while True:
                    _, _, ready = await ctx.tick().sample(dut.input.ready)
                    edge += 1
                    if ready:
                        break
                if position == 0:
                    first_accept.append(edge)
        ctx.set(dut.input.valid, 0)

    async def monitor(ctx):
        edge, counts, pending = 0, [], None
        while len(results) < len(images):
            ready = not (backpressure and rng.random() < 0.3)
            ctx.set(dut.output.ready, ready)
            _, _, valid, payload, done, cycles = await ctx.tick().sample(
                dut.output.valid, dut.output.payload, dut.done, dut.cycles)
            edge += 1
            assert edge < max_cycles, f"no counts after {max_cycles} cycles"
            if pending is not None:  # `cycles` is updated in the cycle after `done`
                pending["cycles"] = int(cycles)
                results.append(pending)
                pending = None
            last = valid and ready and len(counts) == spec.n_out - 1
            assert bool(done) == bool(last), f"edge {edge}: done {done}, last count {last}"
            if valid and ready:
                counts.append(int(payload))
            if last:
                image = len(results)
                pending = {"counts": counts, "measured": edge - first_accept[image] + 1}
                counts = []
        _, _, cycles = await ctx.tick().sample(dut.cycles)
        if pending is not None:
            pending["cycles"] = int(cycles)
            results.append(pending)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(monitor)
    sim.run()
    return results


def check_streamed(spec, lanes, images, seed):
    """Stream ``images`` back to back with output backpressure: every image's counts equal the
    golden executor's, and its ``cycles`` port the latency measured by the testbench."""
    results = stream_network(spec, lanes, images, seed=seed, backpressure=True)
    expected = run(spec, images).counts.tolist()
    for index, result in enumerate(results):
        assert result["counts"] == expected[index], (
            f"image {index}: golden {expected[index]}, RTL {result['counts']}")
        assert result["cycles"] == result["measured"], (
            f"image {index}: cycles port {result['cycles']}, measured {result['measured']}")


def test_streamed_images_overlap_and_cycles_port_is_exact():
    spec = random_netspec(seed=8, sizes=(20, 12, 5), timesteps=3, thresholds=(30, 5),
                          state_bits=(12, 8))
    images = np.random.default_rng(8).integers(0, 17, (6, 20))
    images[2] = 0  # an empty image: only end-of-step markers
    check_streamed(spec, [4, 5], images, seed=8)


@pytest.mark.parametrize("lanes", [[8, 10], [4, 5], [32, 1]])
def test_cycles_follow_the_cost_model(lanes):
    """One image alone: its latency lies between the slowest layer and the serial cost model."""
    spec = random_netspec(seed=5, sizes=(64, 32, 10), timesteps=4, thresholds=(40, 10))
    images = np.random.default_rng(5).integers(0, 17, (1, 64))
    images[images < 8] = 0
    result = stream_network(spec, lanes, images)[0]
    golden = run(spec, images)
    assert result["counts"] == golden.counts[0].tolist()
    assert result["cycles"] == result["measured"]
    model = predicted_cycles(spec, lanes, int((images[0] != 0).sum()),
                             golden.layer_spikes.mean(axis=1))
    slowest = max(entry["cycles_per_step"] for entry in model["per_layer"]) * spec.timesteps
    # Stated factor: the layers overlap, so the latency is at most the serial model plus a few
    # cycles of pipeline per step, and at least the slowest layer's own work.
    assert slowest <= result["cycles"] <= model["total"] + 2 * spec.timesteps, (result, model)


# ---- every neuron kind and encoding the generator builds ---------------------------------------

import dataclasses  # noqa: E402

from spikeforge.netspec import NetSpec, NeuronSpec  # noqa: E402


def _neuron(kind, threshold, rng, state_bits=12, timesteps=6):
    if kind == "adaptive":
        # λ_t a leak in 0.5..1.0, γ_t a gain in 0.5..2.0 (Q3), a new pair every step.
        return NeuronSpec("adaptive", threshold, state_bits=state_bits, frac_bits=3,
                          decay_table=tuple(int(x) for x in rng.integers(4, 9, timesteps)),
                          gain_table=tuple(int(x) for x in rng.integers(4, 17, timesteps)),
                          reset=str(rng.choice(["subtract", "zero"])))
    if kind == "lif":
        leak = rng.choice(["shift", "factor"])
        if leak == "shift":
            return NeuronSpec("lif", threshold, state_bits=state_bits, leak="shift",
                              leak_shift=int(rng.integers(1, 4)))
        return NeuronSpec("lif", threshold, state_bits=state_bits, leak="factor",
                          leak_factor=int(rng.integers(0, 17)), frac_bits=4)
    if kind == "mtlif":
        return NeuronSpec("mtlif", threshold, state_bits=state_bits, levels=int(rng.integers(1, 5)),
                          leak="shift", leak_shift=2, reset=str(rng.choice(["subtract", "zero"])))
    if kind == "bistable":
        return NeuronSpec("bistable", threshold, state_bits=state_bits, phase=2)
    return NeuronSpec("if", threshold, state_bits=state_bits)


def kind_netspec(seed, kind, encoding, sizes=(12, 9, 5), timesteps=6):
    rng = np.random.default_rng(seed)
    base = random_netspec(seed=seed, sizes=sizes, timesteps=timesteps, thresholds=(25, 4),
                          state_bits=(12, 10), weight_bits=(1, 4) if seed % 2 else (3, 1))
    inp = dataclasses.replace(base.input, encoding=encoding)
    if encoding in ("rate", "latency"):
        base = random_netspec(seed=seed, sizes=sizes, timesteps=timesteps, thresholds=(3, 4),
                              state_bits=(12, 10), weight_bits=(4, 2))
    layers = tuple(dataclasses.replace(layer, neuron=_neuron(kind, layer.neuron.threshold, rng,
                                                             timesteps=timesteps))
                   for layer in base.layers)
    return NetSpec(inp, layers, timesteps).validate()


KINDS = ["if", "lif", "mtlif", "bistable", "adaptive"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("encoding", ["direct", "rate", "latency", "hybrid"])
def test_every_kind_and_encoding_matches_golden(kind, encoding):
    spec = kind_netspec(3, kind, encoding)
    images = np.random.default_rng(3).integers(0, 17, (2, 12))
    _check(spec, [4, 5], images)
    # The first layer alone: its counts show every spike (and graded value) it sent.
    first = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    assert run(first, images).counts.sum() > 0, "the test network must be active"
    _check(first, [4], images)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(KINDS),
       encoding=st.sampled_from(["direct", "rate", "latency", "hybrid"]), data=st.data())
def test_random_kinds_match_golden(seed, kind, encoding, data):
    spec = kind_netspec(seed, kind, encoding, timesteps=data.draw(st.integers(1, 6)))
    if data.draw(st.booleans()):  # one layer: every spike of it reaches the readout
        spec = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    lanes = [data.draw(st.integers(1, 9)), data.draw(st.integers(1, 5))][:len(spec.layers)]
    images = np.random.default_rng(seed).integers(0, 17, (2, 12))
    _check(spec, lanes, images)


# ---- the debug view: every layer's membranes after every step -----------------------------------

def simulate_debug_membranes(spec, lanes, images):
    """Run ``NetworkTop(debug=True)``; return per layer the membranes ``(T, images, n_out)``.

    Each layer's update pulses ``membranes_<index>.valid`` once per lane group and step, groups in
    order, so the k-th pulse of a layer belongs to step ``(k // G) % T`` of image ``k // (G·T)``.
    """
    from spikeforge.hdl.cost import groups

    dut = NetworkTop(spec, lanes, debug=True)
    ports = [getattr(dut, f"membranes_{index}") for index in range(len(spec.layers))]
    T = spec.timesteps
    seen = [np.full((T, len(images), layer.n_out), np.iinfo(np.int64).min)
            for layer in spec.layers]
    pulses = [0] * len(spec.layers)

    async def drive(ctx):
        ctx.set(dut.output.ready, 1)
        await send_values(ctx, dut.input, (value for image in images for value in image))

    async def watch(ctx):
        done = 0
        for _ in range(200_000):
            sampled = await ctx.tick().sample(dut.done, *(member for port in ports
                                                          for member in (port.valid, port.first,
                                                                         port.values)))
            done += sampled[2]
            for index, (layer, p) in enumerate(zip(spec.layers, lanes)):
                valid, first, values = sampled[3 + 3 * index:6 + 3 * index]
                if not valid:
                    continue
                g = groups(layer.n_out, p)
                image, step = divmod(pulses[index] // g, T)
                bits = layer.neuron.state_bits
                for lane in range(p):
                    if first + lane < layer.n_out:
                        raw = (values >> (lane * bits)) & ((1 << bits) - 1)
                        seen[index][step, image, first + lane] = raw - (raw >> (bits - 1) << bits)
                pulses[index] += 1
            if done == len(images):
                return
        raise AssertionError("no counts after 200000 cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(watch)
    sim.run()
    return seen


@pytest.mark.parametrize("kind, encoding, lanes", [("if", "direct", [4, 5]),
                                                   ("adaptive", "hybrid", [2, 5]),
                                                   ("lif", "rate", [9, 2]),
                                                   ("bistable", "latency", [4, 3])])
def test_debug_outputs_show_the_golden_membranes_of_every_step(kind, encoding, lanes):
    spec = kind_netspec(5, kind, encoding)
    images = np.random.default_rng(5).integers(0, 17, (2, 12))
    golden = run(spec, images, record=True)
    seen = simulate_debug_membranes(spec, lanes, images)
    for layer, want, got in zip(spec.layers, golden.membranes, seen):
        assert np.any(want != 0), f"layer {layer.name}: the test needs nonzero membranes"
        mismatch = np.argwhere(want != got)
        assert mismatch.size == 0, (f"layer {layer.name}: first (step, image, neuron) "
                                    f"{tuple(mismatch[0])}: golden {want[tuple(mismatch[0])]}, "
                                    f"RTL {got[tuple(mismatch[0])]}")


def test_debug_outputs_exist_only_when_asked():
    spec = kind_netspec(5, "if", "direct")
    plain, debug = NetworkTop(spec, [4, 5]), NetworkTop(spec, [4, 5], debug=True)
    for top in (plain, debug):
        top._MustUse__silence = True  # only the signatures are inspected here
    assert not any(name.startswith("membranes") for name in plain.signature.members)
    assert len(debug.membranes_1.values) == 5 * spec.layers[1].neuron.state_bits
    assert len(debug.membranes_0.values) == 4 * spec.layers[0].neuron.state_bits


@pytest.mark.parametrize("phase, timesteps", [(1, 4), (2, 10)])
def test_deep_bistable_layers_stay_idle_until_their_first_input(phase, timesteps):
    from spikeforge.netspec import InputSpec, LayerSpec

    """Layers 2 and 3 have a bias but no input yet in the first phases: they must neither
    integrate it nor fire (spikeforge.schedule IDLE), exactly as the golden model."""
    neuron = NeuronSpec("bistable", threshold=1, state_bits=6, phase=phase)
    layers = tuple(LayerSpec(f"l{index}", "linear", np.array([[1]]), 2, np.array([bias]), neuron)
                   for index, bias in enumerate((0, 0, 1, 1)))
    spec = NetSpec(InputSpec(1, "direct", 1, 1), layers, timesteps).validate()
    images = np.array([[0], [1]])
    counts, _ = simulate_network(spec, [1] * 4, images)
    assert counts == run(spec, images).counts.tolist()


# ---- pre-encoded events: T frames of counts per image on the input stream ----------------------

from spikeforge.golden.events import bin_events, synthetic_events  # noqa: E402
from spikeforge.hdl.verilog import describe, generate_verilog  # noqa: E402


def events_netspec(seed, kind="if", height=2, width=3, timesteps=6):
    # the spike encodings' low thresholds: counts of a few events must make layers fire
    spec = kind_netspec(seed, kind, "rate", sizes=(2 * height * width, 9, 5), timesteps=timesteps)
    # OFF and ON planes of a height x width sensor, flat (a linear first layer)
    inp = dataclasses.replace(spec.input, encoding="events", bits=3, max_value=7)
    return NetSpec(inp, spec.layers, timesteps).validate()


def events_inputs(count, height=2, width=3, timesteps=6, seed=0):
    duration = 1000 * timesteps
    return np.stack([bin_events(synthetic_events(height, width, duration, 60, seed=seed + i),
                                height, width, timesteps, duration, 7).counts
                     for i in range(count)])


@pytest.mark.parametrize("kind", KINDS)
def test_events_encoding_matches_golden(kind):
    spec = events_netspec(3, kind)
    frames = events_inputs(3)
    frames[1] = 0  # no events: every step only its marker
    assert frames.shape == (3, 6, 12)
    cycles = _check(spec, [4, 5], frames)
    # The first layer alone: its counts show every spike (and graded value) it sent.
    first = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    assert run(first, frames).counts.sum() > 0, "the test network must be active"
    _check(first, [4], frames)
    # The empty image loads its T·size values, then runs every step on markers alone.
    assert cycles[1] < cycles[0]


def test_events_input_side_is_described_and_lints_clean(tmp_path):
    from test_hdl_verilog import _verilator

    spec = events_netspec(4)
    design = describe(spec, [4, 5])
    assert design["input_encoding"] == "events"
    assert design["input_values_per_image"] == 6 * 12
    store = design["memories"][0]
    # 72 words (every count nonzero) of index 4 + count 3 + step 3 bits
    assert (store["name"], store["depth"], store["width"]) == ("input_buffer.store", 72, 10)
    path = tmp_path / "spikeforge_top.v"  # Verilator -Wall: file named as its module
    path.write_text(generate_verilog(spec, [4, 5]))
    assert _verilator(path) == []


@pytest.mark.parametrize("sizes, lanes, timesteps", [((1, 4, 12), [4, 1], 1),
                                                     ((1, 2, 16), [2, 1], 1),
                                                     ((2, 3, 16), [3, 1], 2)])
def test_a_third_image_waits_and_every_latency_is_exact(sizes, lanes, timesteps):
    """Tiny images behind a slow last layer: the input buffer is free again while two images
    are still in flight, so a third one's first value must wait (the top's two start slots,
    kept through registered start and finish flags, would be overrun). Without that wait these
    latencies come out wrong."""
    spec = random_netspec(seed=3, sizes=sizes, timesteps=timesteps, thresholds=(1, 1),
                          state_bits=(8, 6))
    images = np.random.default_rng(3).integers(0, 17, (8, sizes[0]))
    check_streamed(spec, lanes, images, seed=3)
