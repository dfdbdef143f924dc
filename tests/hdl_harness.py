"""Drive a NetworkTop in Amaranth's simulator: images in, counts and cycles out."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from spikeforge.golden import run
from spikeforge.hdl.network import NetworkTop


async def send_values(ctx, stream, values) -> None:
    """Offer ``values`` on an Amaranth stream (``payload``/``valid``/``ready``), one per transfer
    in order, each held until it is taken; ``valid`` is low again afterwards."""
    for value in values:
        ctx.set(stream.payload, int(value))
        ctx.set(stream.valid, 1)
        await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


def simulate_network(spec, lanes, images, max_cycles: int = 200_000):
    """Run ``images`` one after the other through a NetworkTop.

    Each image is sent as its input stream values in C order: an ``(input.size,)`` image, or for
    ``events`` the golden ``(T, input.size)`` frames, frame 0 first (``T·input.size`` values).

    Returns
    -------
    counts : list of list of int
        The output counts of each image.
    cycles : list of int
        The ``cycles`` port after each image (its latency).
    """
    dut = NetworkTop(spec, lanes)
    counts_per_image: list[list[int]] = []
    cycles: list[int] = []

    async def bench(ctx):
        ctx.set(dut.output.ready, 1)
        for image in images:
            await send_values(ctx, dut.input, np.asarray(image).reshape(-1))
            counts: list[int] = []
            waited = 0
            while len(counts) < spec.n_out:
                _, _, valid, payload = await ctx.tick().sample(dut.output.valid, dut.output.payload)
                if valid:
                    counts.append(int(payload))
                waited += 1
                assert waited < max_cycles, f"no counts after {max_cycles} cycles"
            await ctx.tick()
            cycles.append(ctx.get(dut.cycles))
            counts_per_image.append(counts)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return counts_per_image, cycles


def check_network(spec, lanes, images):
    """Simulate ``images`` and assert each image's readout equals the golden executor's.

    Returns
    -------
    expected : list of list of int
        The golden readout of each image (counts, or membranes for ``readout="membrane"``).
    cycles : list of int
        The latency of each image.
    """
    values, cycles = simulate_network(spec, lanes, images)
    expected = run(spec, images).counts.tolist()
    for index, (want, got) in enumerate(zip(expected, values)):
        assert got == want, f"image {index}: golden {want}, RTL {got}"
    return expected, cycles
