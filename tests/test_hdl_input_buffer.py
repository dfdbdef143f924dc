"""The input buffer: nonzero values only, replayed T times with end-of-step markers, no idle cycles."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikeforge.hdl.input_buffer import InputBuffer
from spikeforge.netspec import InputSpec


def replay(spec_input, timesteps, images):
    """Load each image and collect its replay; return per image its steps and the replay cycles."""
    dut = InputBuffer(spec_input, timesteps)
    out: list[dict] = []

    async def load(ctx):
        for image in images:
            for value in image:
                ctx.set(dut.input.payload, int(value))
                ctx.set(dut.input.valid, 1)
                await ctx.tick().until(dut.input.ready)
        ctx.set(dut.input.valid, 0)

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
