"""Drive a NetworkTop in Amaranth's simulator: images in, counts and cycles out."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from spikeforge.hdl.network import NetworkTop


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
            for value in np.asarray(image).reshape(-1):
                ctx.set(dut.input.payload, int(value))
                ctx.set(dut.input.valid, 1)
                await ctx.tick().until(dut.input.ready)
            ctx.set(dut.input.valid, 0)
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
