"""The input buffer: nonzero values only, replayed T times with end-of-step markers, no idle cycles."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikeforge.hdl.input_buffer import InputBuffer
from spikeforge.netspec import InputSpec

from hdl_harness import send_values


def replay(spec_input, timesteps, images):
    """Load each image and collect its replay; return per image its steps and the replay cycles."""
    dut = InputBuffer(spec_input, timesteps)
    out: list[dict] = []

    async def load(ctx):
        await send_values(ctx, dut.input, (value for image in images for value in image))

    async def collect(ctx):
        ctx.set(dut.events.ready, 1)
        for _ in images:
            steps, current, busy = [], [], 0
            while len(steps) < timesteps:
                _, _, valid, payload = await ctx.tick().sample(dut.events.valid, dut.events.payload)
                if not valid:
                    assert not steps and not current, "a gap in the middle of a replay"
                    continue
                busy += 1
                if payload.last:
                    steps.append(current)
                    current = []
                else:
                    current.append((int(payload.index), int(payload.value)))
            out.append({"steps": steps, "cycles": busy})

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(load, background=True)
    sim.add_testbench(collect)
    sim.run()
    return out


@pytest.mark.parametrize("size", [1, 2, 7, 64])
def test_direct_replays_nonzero_values_every_step(size):
    rng = np.random.default_rng(size)
    images = rng.integers(0, 32, (3, size))
    images[rng.random((3, size)) < 0.4] = 0
    images[1] = 0  # an empty image: markers only
    timesteps = 3
    for image, result in zip(images, replay(InputSpec(size, "direct", 5), timesteps, images)):
        expected = [(i, int(v)) for i, v in enumerate(image) if v]
        assert result["steps"] == [expected] * timesteps
        # Zero pixels cost nothing: one cycle per nonzero value and one per marker, no gaps.
        assert result["cycles"] == timesteps * (len(expected) + 1)


@pytest.mark.parametrize("size", [1, 2, 7])
def test_direct_replays_a_first_entry_written_in_the_loads_last_cycle(size):
    """When the last value is the image's only nonzero one, its word is written in the cycle the
    replay's first read is issued: the replay must see it (the read port is transparent), not
    the previous image's entry 0; and the zeros written before it must not count."""
    images = np.zeros((3, size), dtype=np.int64)
    images[0] = np.arange(1, size + 1)  # entry 0 holds 1 afterwards
    images[1, -1] = 9  # the only nonzero value, stored in entry 0 in the load's last cycle
    images[2, -1] = 3
    timesteps = 2
    for image, result in zip(images, replay(InputSpec(size, "direct", 5), timesteps, images)):
        expected = [(i, int(v)) for i, v in enumerate(image) if v]
        assert result["steps"] == [expected] * timesteps, (image.tolist(), result["steps"])


# ---- rate encoding with several LFSR draws per cycle ------------------------------------------

import hashlib  # noqa: E402

from amaranth.back import verilog  # noqa: E402

from spikeforge.errors import SpikeforgeError  # noqa: E402
from spikeforge.golden.encoders import encode  # noqa: E402
from spikeforge.hdl.input_buffer import check_draws, lfsr_unrolled, store_shape  # noqa: E402
from spikeforge.lfsr import lfsr_next  # noqa: E402


def replay_draws(spec_input, timesteps, images, draws, ready=None):
    """Like :func:`replay` with ``draws_per_cycle``; ``ready(cycle)`` may stall the consumer."""
    dut = InputBuffer(spec_input, timesteps, draws_per_cycle=draws)
    out: list[dict] = []

    async def load(ctx):
        await send_values(ctx, dut.input, (value for image in images for value in image))

    async def collect(ctx):
        cycle = 0
        for _ in images:
            steps, current, busy = [], [], 0
            while len(steps) < timesteps:
                go = 1 if ready is None else ready(cycle)
                ctx.set(dut.events.ready, go)
                _, _, valid, payload, loading = await ctx.tick().sample(
                    dut.events.valid, dut.events.payload, dut.input.ready)
                cycle += 1
                busy += not loading  # replay cycles: the input is not ready while replaying
                if not (valid and go):
                    continue
                if payload.last:
                    steps.append(current)
                    current = []
                else:
                    current.append((int(payload.index), int(payload.value)))
            out.append({"steps": steps, "cycles": busy})

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(load, background=True)
    sim.add_testbench(collect)
    sim.run()
    return out


def golden_rate_events(spec_input, timesteps, image):
    spikes = encode(spec_input, np.asarray([image], np.int64), timesteps).numpy()[:, 0, :]
    return [[(int(i), 1) for i in np.flatnonzero(row)] for row in spikes]


@pytest.mark.parametrize("draws", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("size", [13, 16])
def test_rate_draws_per_cycle_match_golden(size, draws):
    """k draws per cycle: exactly the golden rate events of every step, k dividing the size or not."""
    spec_input = InputSpec(size, "rate", 4, 15, rate_seed=0xACE1)
    rng = np.random.default_rng(100 * size + draws)
    images = rng.integers(0, 16, (3, size))
    images[1, : size // 2] = 15  # dense: several firing values in one word
    images[2] = 0  # nothing fires, the LFSR still advances
    timesteps = 3
    results = replay_draws(spec_input, timesteps, images, draws)
    words = -(-size // draws)
    for image, result in zip(images, results):
        golden = golden_rate_events(spec_input, timesteps, image)
        assert result["steps"] == golden
        if draws > 1:
            # One cycle per word, one more per extra firing value of a word, one per marker, and
            # one per image to fill the output register.
            lanes = np.zeros(words * draws, bool)
            expected = 1
            for events in golden:
                lanes[:] = False
                lanes[[i for i, _ in events]] = True
                expected += int(np.maximum(lanes.reshape(words, draws).sum(axis=1), 1).sum()) + 1
            assert result["cycles"] == expected


@pytest.mark.parametrize("draws", [3, 4])
def test_rate_draws_per_cycle_with_backpressure(draws):
    """A consumer that stalls (as a layer engine does, G cycles per event) loses no event."""
    spec_input = InputSpec(11, "rate", 3, 7, rate_seed=0x1234)
    rng = np.random.default_rng(draws)
    images = rng.integers(0, 8, (2, 11))
    results = replay_draws(spec_input, 2, images, draws, ready=lambda cycle: cycle % 3 == 0)
    for image, result in zip(images, results):
        assert result["steps"] == golden_rate_events(spec_input, 2, image)


def test_lfsr_unrolled_matches_steps():
    state = 0xACE1
    for _ in range(50):
        expected, s = [], state
        for _ in range(16):
            s = lfsr_next(s)
            expected.append(s)
        got = [sum((bin(state & sum(1 << b for b in src)).count("1") & 1) << bit
                   for bit, src in enumerate(sources)) for sources in lfsr_unrolled(16)]
        assert got == expected
        state = expected[0]


def test_draws_per_cycle_store_shape():
    spec_input = InputSpec(784, "rate", 8, 255, rate_seed=0xACE1)
    assert store_shape(spec_input) == (784, 18)
    assert store_shape(spec_input, 4) == (196, 32)
    assert store_shape(spec_input, 3) == (262, 24)
    assert store_shape(spec_input, 8) == (98, 64)


@pytest.mark.parametrize("draws, message", [
    (0, "an integer in 1..16 (at most 16"), (-2, "an integer in 1..16 (at most 16"),
    (17, "an integer in 1..16 (at most 16"), (2.0, "an integer in 1..16"), (True, "an integer"),
])
def test_draws_per_cycle_refused(draws, message):
    with pytest.raises(SpikeforgeError, match="draws_per_cycle") as info:
        InputBuffer(InputSpec(784, "rate", 8, 255, rate_seed=1), 8, draws_per_cycle=draws)
    assert message in str(info.value)


def test_draws_per_cycle_above_input_size_refused():
    with pytest.raises(SpikeforgeError, match=r"an integer in 1..5 .*input size 5"):
        check_draws(InputSpec(5, "rate", 4, 15, rate_seed=1), 6)
    assert check_draws(InputSpec(5, "rate", 4, 15, rate_seed=1), 5) == 5


@pytest.mark.parametrize("encoding", ["direct", "latency", "hybrid"])
def test_draws_per_cycle_needs_rate(encoding):
    spec_input = InputSpec(16, encoding, 4, 15)
    with pytest.raises(SpikeforgeError, match=f"needs rate encoding.*1 for encoding '{encoding}'"):
        InputBuffer(spec_input, 4, draws_per_cycle=2)
    assert check_draws(spec_input, 1) == 1  # the default is accepted


# The Verilog of the one-draw encoder, pinned: a resource estimator was fitted on it, so
# draws_per_cycle=1 must build exactly what it built before the parameter existed.
# latency and hybrid updated for issue 6: select() over the fire-step table is a tree, not a chain.
# All updated for issue 6 (iCE40 at 48 MHz): "at the marker" is a register, and every loaded value
# is written (only kept ones advance), so the write enable is the handshake alone.
ONE_DRAW_DIGESTS = {
    "rate": "675a550accc4f4b9c9ba7b4c0b717d5b2df05344662af6dbbc79036a56602d22",
    "direct": "471734ebb84d623e36b14c8678afcb51f85748d445d84cd7ce093b09416f22de",
    "latency": "4fa8610b14ce4d519245f116f94f38854c656b6d46d6efb8cb6e99dd69514790",
    "hybrid": "3266a42f7cefe55c696dd1513c8067ecbe2659c00496ee1b2a142794f42e0ace",
}


@pytest.mark.parametrize("encoding", sorted(ONE_DRAW_DIGESTS))
def test_one_draw_verilog_unchanged(encoding):
    spec_input = {"rate": InputSpec(784, "rate", 8, 255, rate_seed=0xACE1),
                  "direct": InputSpec(784, "direct", 8, 255),
                  "latency": InputSpec(10, "latency", 4, 15),
                  "hybrid": InputSpec(10, "hybrid", 4, 15)}[encoding]
    for top in (InputBuffer(spec_input, 8), InputBuffer(spec_input, 8, draws_per_cycle=1)):
        text = verilog.convert(top, name="ib", emit_src=False)
        assert hashlib.sha256(text.encode()).hexdigest() == ONE_DRAW_DIGESTS[encoding]


def _rate_network(size=21, timesteps=5):
    import dataclasses

    from spikeforge.synthetic import random_netspec

    spec = random_netspec(seed=3, sizes=(size, 12, 4), timesteps=timesteps, thresholds=(6, 3))
    return dataclasses.replace(spec, input=InputSpec(size, "rate", 5, 31, rate_seed=0xBEEF)).validate()


def _simulate_network(spec, lanes, draws, images):
    from spikeforge.hdl.network import NetworkTop

    dut = NetworkTop(spec, lanes, draws_per_cycle=draws)
    results = []

    async def bench(ctx):
        ctx.set(dut.output.ready, 1)
        for image in images:
            await send_values(ctx, dut.input, image)
            counts = []
            for _ in range(20_000):
                _, _, valid, payload = await ctx.tick().sample(dut.output.valid, dut.output.payload)
                if valid:
                    counts.append(int(payload))
                if len(counts) == spec.n_out:
                    break
            await ctx.tick()
            results.append((counts, ctx.get(dut.cycles)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results


@pytest.mark.parametrize("draws", [2, 4])
def test_network_with_draws_per_cycle_matches_golden_counts(draws):
    """The whole NetworkTop with k draws per cycle: the golden executor's counts, fewer cycles."""
    from spikeforge.golden import run

    spec = _rate_network()
    images = np.random.default_rng(draws).integers(0, 32, (3, spec.input.size))
    golden = np.asarray(run(spec, images).counts).tolist()
    assert any(any(row) for row in golden)  # the check is not vacuous
    many = _simulate_network(spec, [4, 2], draws, images)
    one = _simulate_network(spec, [4, 2], 1, images)
    assert [counts for counts, _ in many] == golden == [counts for counts, _ in one]
    assert sum(c for _, c in many) < sum(c for _, c in one)


def test_network_refuses_draws_for_direct_input():
    from spikeforge.hdl.network import NetworkTop
    from spikeforge.synthetic import random_netspec

    with pytest.raises(SpikeforgeError, match="needs rate encoding"):
        NetworkTop(random_netspec(), draws_per_cycle=2)


# ---- pre-encoded events: T frames per image, each step replays its own frame -------------------

from spikeforge.golden.events import bin_events, synthetic_events  # noqa: E402
from spikeforge.hdl.input_buffer import values_per_image  # noqa: E402


@pytest.mark.parametrize("size, timesteps", [(1, 1), (2, 3), (12, 5), (40, 4)])
def test_events_replay_each_frame_at_its_step(size, timesteps):
    rng = np.random.default_rng(size * 10 + timesteps)
    spec_input = InputSpec(size, "events", 3, 7)
    frames = rng.integers(0, 8, (4, timesteps, size))
    frames[rng.random(frames.shape) < 0.6] = 0
    frames[1] = 0  # no events at all: markers only
    frames[2, 0] = 0  # an empty first step
    frames[3] = 7  # every count nonzero: the store's worst case, T·size words
    assert values_per_image(spec_input, timesteps) == timesteps * size
    assert store_shape(spec_input, 1, timesteps)[0] == max(timesteps * size, 2)
    streams = [image.reshape(-1) for image in frames]  # frame 0 first, index fastest
    for image, result in zip(frames, replay(spec_input, timesteps, streams)):
        expected = [[(i, int(v)) for i, v in enumerate(frame) if v] for frame in image]
        assert result["steps"] == expected
        # Zero counts cost nothing: one cycle per nonzero count and one per marker, no gaps.
        assert result["cycles"] == int((image != 0).sum()) + timesteps


def test_events_replay_matches_golden_encoder_on_synthetic_streams():
    timesteps, height, width = 6, 3, 4
    spec_input = InputSpec(2 * height * width, "events", 2, 3)
    frames = np.stack([bin_events(synthetic_events(height, width, 6000, 80, seed=s), height, width,
                                  timesteps, 6000, 3).counts for s in range(3)])
    encoded = encode(spec_input, frames, timesteps).numpy()  # (T, batch, size)
    results = replay(spec_input, timesteps, [image.reshape(-1) for image in frames])
    for b, result in enumerate(results):
        for t in range(timesteps):
            assert result["steps"][t] == [(int(i), int(encoded[t, b, i]))
                                          for i in np.flatnonzero(encoded[t, b])]


def test_events_replay_waits_for_a_stalled_consumer():
    spec_input, timesteps = InputSpec(5, "events", 2, 3), 3
    image = np.array([[0, 2, 0, 1, 3], [0, 0, 0, 0, 0], [1, 0, 0, 0, 2]])
    dut = InputBuffer(spec_input, timesteps)
    steps: list = []

    async def load(ctx):
        await send_values(ctx, dut.input, image.reshape(-1))

    async def collect(ctx):
        current, cycle = [], 0
        while len(steps) < timesteps:
            ctx.set(dut.events.ready, cycle % 3 == 1)
            cycle += 1
            _, _, valid, ready, payload = await ctx.tick().sample(
                dut.events.valid, dut.events.ready, dut.events.payload)
            if valid and ready:
                if payload.last:
                    steps.append(current)
                    current = []
                else:
                    current.append((int(payload.index), int(payload.value)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(load, background=True)
    sim.add_testbench(collect)
    sim.run()
    assert steps == [[(1, 2), (3, 1), (4, 3)], [], [(0, 1), (4, 2)]]
