"""Shared by the conv tests: image-network NetSpecs, and one engine driven by golden input events."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from spikeforge.bounds import analyse
from spikeforge.golden import run
from spikeforge.golden.encoders import encode
from spikeforge.netspec import NONE_NEURON, InputSpec, LayerSpec, NetSpec, NeuronSpec


def conv_layer(rng, name, c_in, c_out, k, weight_bits, threshold, state_bits=12, stride=1,
               padding=0, neuron=None, scale=2, bias_range=3):
    """A conv2d layer with random weights (binary ±1 times ``scale``, or signed int-k)."""
    if weight_bits == 1:
        weights = rng.choice([-1, 1], (c_out, c_in, k, k))
    else:
        half = 1 << (weight_bits - 1)
        weights, scale = rng.integers(-half, half, (c_out, c_in, k, k)), 1
    return LayerSpec(name, "conv2d", weights, weight_bits, rng.integers(-bias_range, bias_range + 1, c_out),
                     neuron or NeuronSpec("if", threshold, "subtract", state_bits), scale=scale,
                     stride=stride, padding=padding)


def linear_layer(rng, name, n_in, n_out, threshold, weight_bits=2, state_bits=12):
    half = 1 << (weight_bits - 1)
    return LayerSpec(name, "linear", rng.integers(-half, half, (n_out, n_in)), weight_bits,
                     rng.integers(-2, 3, n_out), NeuronSpec("if", threshold, "subtract", state_bits))


def stateless(name, kind, kernel=0, stride=1, shift=0):
    return LayerSpec(name, kind, None, 0, None, NONE_NEURON, kernel=kernel, stride=stride, shift=shift)


def image_spec(shape, layers, timesteps=3, encoding="direct", bits=4, max_value=None):
    """A validated NetSpec over a ``(C, H, W)`` input."""
    size = int(np.prod(shape))
    return NetSpec(InputSpec(size, encoding, bits, max_value, shape=tuple(shape)), tuple(layers),
                   timesteps).validate()


def images_for(spec, count, seed, sparsity=0.4):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, spec.input.value_max + 1, (count, spec.input.size))
    images[rng.random(images.shape) < sparsity] = 0
    return images


def golden_layer_events(spec, images, index):
    """Per image and step: the nonzero ``{flat index: value}`` of layer ``index``'s output, and
    the events into it (the encoded input for layer 0)."""
    result = run(spec, images, record=True)
    steps_in = encode(spec.input, images, spec.timesteps)  # (T, batch, size)
    inputs, outputs = [], []
    for b in range(len(images)):
        for t in range(spec.timesteps):
            source = steps_in[t][b] if index == 0 else result.trains[index - 1][t][b]
            source = np.asarray(source).reshape(-1)
            inputs.append([(int(i), int(source[i])) for i in np.nonzero(source)[0]])
            train = result.trains[index][t][b]
            outputs.append({int(i): int(train[i]) for i in np.nonzero(train)[0]})
    return inputs, outputs


def drive_engine(dut, steps_events, seed=0, stall=False, max_cycles=200_000):
    """Send each step's events then an end-of-step marker; collect ``{index: value}`` per step.

    Returns the per-step dicts and the cycles from the first to the last marker out. With
    ``stall`` the input has gaps and the output random back-pressure. A repeated index in one
    step fails the test (an engine emits each output at most once per step).
    """
    rng = np.random.default_rng(seed)
    steps: list[dict] = []
    cycles = [0]

    async def drive(ctx):
        for events in steps_events:
            for index, value in list(events) + [(0, None)]:
                while stall and rng.random() < 0.3:
                    ctx.set(dut.events_in.valid, 0)
                    await ctx.tick()
                last = value is None
                ctx.set(dut.events_in.payload, {"index": index, "value": 0 if last else value,
                                                "last": int(last)})
                ctx.set(dut.events_in.valid, 1)
                await ctx.tick().until(dut.events_in.ready)
        ctx.set(dut.events_in.valid, 0)

    async def collect(ctx):
        current: dict = {}
        while len(steps) < len(steps_events):
            ready = not (stall and rng.random() < 0.4)
            ctx.set(dut.events_out.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.events_out.valid,
                                                           dut.events_out.payload)
            cycles[0] += 1
            if valid and ready:
                if payload.last:
                    steps.append(current)
                    current = {}
                else:
                    assert int(payload.index) not in current, "an output sent twice in one step"
                    current[int(payload.index)] = int(payload.value)
            assert cycles[0] < max_cycles, "the engine hangs"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect)
    sim.run()
    return steps, cycles[0]


def bounds_of(spec, index):
    return analyse(spec)[index]
