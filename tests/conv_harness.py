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


# ---- residual networks -----------------------------------------------------------------------

def residual_layer(name, source, delay, threshold, state_bits=10, neuron=None):
    """A residual layer adding ``source``'s output, ``delay`` steps late, to the previous layer's."""
    return LayerSpec(name, "residual", None, 0, None,
                     neuron or NeuronSpec("if", threshold, "subtract", state_bits),
                     source=source, delay=delay)


def identity_readout(name, n):
    """A linear readout that repeats its input spikes: weight 1 on the diagonal, threshold 1, no
    bias. Its counts are the previous layer's spike counts per neuron, so a network test checks
    that layer exactly (the residual layer, here)."""
    return LayerSpec(name, "linear", np.eye(n, dtype=np.int64), 2, np.zeros(n, dtype=np.int64),
                     NeuronSpec("if", 1, "subtract", 4))


def linear_residual_net(delay, encoding="direct", timesteps=6, seed=0):
    """linear(10->8) - linear(8->8) - residual(+ the first, delayed, threshold 2) - identity
    readout: the counts are the residual neurons' spikes. One spike of either addend alone does
    not fire them, so a wrong delay or a lost event changes counts."""
    rng = np.random.default_rng(seed)
    spike_input = encoding in ("rate", "latency")
    h1 = linear_layer(rng, "h1", 10, 8, threshold=2 if spike_input else 6)
    h2 = linear_layer(rng, "h2", 8, 8, threshold=2)
    return NetSpec(InputSpec(10, encoding, 4, None),
                   (h1, h2, residual_layer("res", "h1", delay, 2), identity_readout("out", 8)),
                   timesteps).validate()


def conv_residual_net(delay, encoding="direct", timesteps=5, seed=0, source_pool=False):
    """conv(1->3, 3x3, pad 1) - conv(3->3, 3x3, pad 1) - residual(+ conv 1) - flatten - identity
    readout(48) on 1x4x4. With ``source_pool`` a 1x8x8 input, the stem followed by a sumpool 2
    whose multi-bit sums (0..4) are the shortcut (residual threshold 3)."""
    rng = np.random.default_rng(seed)
    spike_input = encoding in ("rate", "latency")
    stem = conv_layer(rng, "c1", 1, 3, 3, 1, threshold=2 if spike_input else 8, padding=1, scale=1)
    branch = conv_layer(rng, "c2", 3, 3, 3, 1, threshold=2, padding=1, scale=1, bias_range=1)
    tail = [stateless("flat", "flatten"), identity_readout("out", 48)]
    if source_pool:
        layers = [stem, stateless("p0", "sumpool", 2, 2), branch,
                  residual_layer("res", "p0", delay, 3)] + tail
        return image_spec((1, 8, 8), layers, timesteps=timesteps, encoding=encoding)
    layers = [stem, branch, residual_layer("res", "c1", delay, 2)] + tail
    return image_spec((1, 4, 4), layers, timesteps=timesteps, encoding=encoding)


def resnet_spec(neuron="if", head="gap", seed=0):
    """quant/convert.py's ResNet (conv stride 2 - residual block (conv, conv, + stem) - head -
    linear) on 8x8 digits, untrained, converted with synchronous-neuron delays (bistable: the
    shortcut waits 2 phases). Returns the NetSpec and the digit images it was calibrated on."""
    import torch

    from spikeforge.quant.convert import activation_scales, build_resnet, convert
    from spikeforge.quant.data import load_digits_split

    torch.manual_seed(seed)
    model = build_resnet((1, 8, 8), 2, 3, weight_bits=4, act_bits=2, head=head).eval()
    x = load_digits_split(seed=0).x_train[:40]
    scales = activation_scales(model, x)
    timesteps = 18 if neuron == "bistable" else 7
    return convert(model, scales, neuron=neuron, timesteps=timesteps).netspec, x
