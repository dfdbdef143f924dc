"""One layer engine in Amaranth's simulator: its spike trains, step by step, equal the golden ones."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikeforge.bounds import analyse
from spikeforge.golden import run
from spikeforge.hdl.layer_engine import LayerEngine
from spikeforge.netspec import NetSpec
from spikeforge.synthetic import random_netspec


def _engine_trains(spec, lanes, image):
    """Feed one image's events T times; return the spike indices emitted per step and the cycles."""
    layer, bound = spec.layers[0], analyse(spec)[0]
    dut = LayerEngine(layer, bound, lanes, spec.input.bits, spec.timesteps)
    steps: list[list[int]] = []
    cycle_count = [0]

    async def drive(ctx):
        for _ in range(spec.timesteps):
            for index, value in enumerate(image):
                if value:
                    ctx.set(dut.events_in.payload, {"index": index, "value": int(value), "last": 0})
                    ctx.set(dut.events_in.valid, 1)
                    await ctx.tick().until(dut.events_in.ready)
            ctx.set(dut.events_in.payload, {"index": 0, "value": 0, "last": 1})
            ctx.set(dut.events_in.valid, 1)
            await ctx.tick().until(dut.events_in.ready)
        ctx.set(dut.events_in.valid, 0)

    async def collect(ctx):
        ctx.set(dut.events_out.ready, 1)
        current: list[int] = []
        while len(steps) < spec.timesteps:
            _, _, valid, payload = await ctx.tick().sample(dut.events_out.valid,
                                                           dut.events_out.payload)
            cycle_count[0] += 1
            if valid:
                if payload.last:
                    steps.append(current)
                    current = []
                else:
                    current.append(int(payload.index))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(collect)
    sim.run()
    return steps, cycle_count[0]


@pytest.mark.parametrize("lanes", [1, 3, 4, 12])
@pytest.mark.parametrize("weight_bits", [1, 4])
def test_spike_trains_match_golden_step_by_step(lanes, weight_bits):
    spec = random_netspec(seed=11, sizes=(10, 12, 3), weight_bits=(weight_bits, 2), timesteps=5,
                          thresholds=(20, 2), state_bits=(11, 6))
    one = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    image = np.random.default_rng(11).integers(0, 17, 10)
    image[::3] = 0
    steps, _ = _engine_trains(one, lanes, image)
    trains = run(one, image[None, :], record=True).trains[0][:, 0, :]
    for t in range(one.timesteps):
        expected = [int(i) for i in np.flatnonzero(trains[t])]
        assert sorted(steps[t]) == expected, f"layer fc1, step {t}: golden {expected}, RTL {steps[t]}"
        assert steps[t] == sorted(steps[t]), "spikes leave in neuron order within a step"


def test_accumulate_costs_one_cycle_per_event_and_group():
    spec = random_netspec(seed=3, sizes=(16, 32, 2), timesteps=2, thresholds=(400, 2),
                          state_bits=(14, 6))
    one = NetSpec(spec.input, spec.layers[:1], spec.timesteps).validate()
    image = np.zeros(16, dtype=np.int64)
    image[:10] = 1  # ten events per step; the high threshold keeps the layer silent
    steps, cycles = _engine_trains(one, 8, image)
    assert steps == [[], []]
    groups = 4
    model = one.timesteps * (10 * groups + groups)
    assert model <= cycles <= model + 4 * one.timesteps
