"""One layer engine in Amaranth's simulator against the golden neuron steps, time step by time step.

The reference is computed here from :func:`spikeforge.golden.neurons.if_step` (or
:func:`~spikeforge.golden.neurons.adaptive_step` with the step's λ_t, γ_t): per step the current
``I = (W·scale)·x + b`` and ``V, s = step(I, V)`` with the clamp exactly where
:func:`spikeforge.bounds.analyse` says the layer saturates. The engine must emit the indices of
the spiking neurons of each step, in neuron order, then one end-of-step marker; its debug
``membranes`` output must show every neuron's V after each step, as the golden step returns it.
"""

import numpy as np
import pytest
import torch
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.bounds import analyse
from spikeforge.golden.neurons import IFParams, adaptive_step, if_step
from spikeforge.hdl.cost import STEP_OVERHEAD, emitter_cycles, groups
from spikeforge.hdl.layer_engine import LayerEngine
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec


def one_layer(seed, n_in, n_out, weight_bits, threshold, state_bits, reset="subtract", scale=2,
              input_bits=5, timesteps=4, bias_range=4, neuron=None):
    """A validated one-layer NetSpec with random weights and biases (IF unless ``neuron``)."""
    rng = np.random.default_rng(seed)
    if weight_bits == 1:
        weights = rng.choice([-1, 1], (n_out, n_in))
    else:
        half = 1 << (weight_bits - 1)
        weights, scale = rng.integers(-half, half, (n_out, n_in)), 1
    layer = LayerSpec("fc", "linear", weights, weight_bits,
                      rng.integers(-bias_range, bias_range + 1, n_out),
                      neuron or NeuronSpec("if", threshold, reset, state_bits), scale=scale)
    return NetSpec(InputSpec(n_in, "direct", input_bits), (layer,), timesteps).validate()


def golden_run(spec, images):
    """Spiking neuron indices and all membranes per step of every image (cleared between images)."""
    layer, bound = spec.layers[0], analyse(spec)[0]
    neuron = layer.neuron
    low, high = (bound.state_low, bound.state_high) if bound.saturates else (None, None)
    params = IFParams(neuron.threshold, neuron.reset, low, high)
    steps, membranes = [], []
    for image in images:
        current = torch.from_numpy(layer.effective_weights @ image + layer.bias.astype(np.int64))
        membrane = torch.zeros(layer.n_out, dtype=torch.int64)
        for t in range(spec.timesteps):
            if neuron.kind == "adaptive":
                spikes, membrane = adaptive_step(current, membrane, params, neuron.decay_table[t],
                                                 neuron.gain_table[t], neuron.frac_bits)
            else:
                spikes, membrane = if_step(current, membrane, params)
            steps.append([int(i) for i in torch.nonzero(spikes).flatten()])
            membranes.append([int(v) for v in membrane])
    return steps, membranes


def golden_steps(spec, images):
    """Spiking neuron indices per step of every image (membranes cleared between images)."""
    return golden_run(spec, images)[0]


def engine_steps(spec, lanes, images, seed=0, stall=False, membranes_out=None, paired=False):
    """Feed each image's nonzero values as events T times; return spike indices per step, cycles.

    With ``stall`` the input has random gaps and the output random back-pressure. A list passed
    as ``membranes_out`` receives, per step, every neuron's membrane from the debug output.
    ``paired`` builds the engine that adds two events per pass.
    """
    layer, bound = spec.layers[0], analyse(spec)[0]
    dut = LayerEngine(layer, bound, lanes, spec.input.bits, spec.timesteps, paired=paired)
    rng = np.random.default_rng(seed)
    total_steps = spec.timesteps * len(images)
    steps: list[list[int]] = []
    cycles = [0]

    async def drive(ctx):
        for image in images:
            for _ in range(spec.timesteps):
                events = [{"index": i, "value": int(v), "last": 0} for i, v in enumerate(image) if v]
                for event in events + [{"index": 0, "value": 0, "last": 1}]:
                    while stall and rng.random() < 0.3:
                        ctx.set(dut.events_in.valid, 0)
                        await ctx.tick()
                    ctx.set(dut.events_in.payload, event)
                    ctx.set(dut.events_in.valid, 1)
                    await ctx.tick().until(dut.events_in.ready)
        ctx.set(dut.events_in.valid, 0)

    state_bits = layer.neuron.state_bits

    async def collect(ctx):
        current: list[int] = []
        membranes: dict[int, int] = {}
        while len(steps) < total_steps:
            ready = not (stall and rng.random() < 0.4)
            ctx.set(dut.events_out.ready, ready)
            _, _, valid, payload, m_valid, m_first, m_values = await ctx.tick().sample(
                dut.events_out.valid, dut.events_out.payload, dut.membranes.valid,
                dut.membranes.first, dut.membranes.values)
            cycles[0] += 1
            if m_valid:
                for lane in range(lanes):
                    raw = (m_values >> (lane * state_bits)) & ((1 << state_bits) - 1)
                    if m_first + lane < layer.n_out:
                        membranes[m_first + lane] = raw - (raw >> (state_bits - 1) << state_bits)
            if valid and ready:
                if payload.last:
                    steps.append(current)
                    current = []
                    if membranes_out is not None:
                        membranes_out.append([membranes.get(n) for n in range(layer.n_out)])
                    membranes = {}
                else:
                    current.append(int(payload.index))
            assert cycles[0] < 100_000, "the engine hangs"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(collect)
    sim.run()
    return steps, cycles[0]


def check(spec, lanes, images, **kwargs):
    """Spikes and membranes of every step equal the golden step's; returns the cycles."""
    got_membranes: list[list[int]] = []
    got, cycles = engine_steps(spec, lanes, images, membranes_out=got_membranes, **kwargs)
    want, want_membranes = golden_run(spec, images)
    assert len(got) == len(want) == len(got_membranes)
    for step, (g, w, gm, wm) in enumerate(zip(got, want, got_membranes, want_membranes)):
        image, t = divmod(step, spec.timesteps)
        assert g == w, f"image {image}, step {t}, lanes {lanes}: golden spikes {w}, RTL {g}"
        assert gm == wm, f"image {image}, step {t}, lanes {lanes}: golden V {wm}, RTL {gm}"
    return cycles


def random_images(seed, count, n_in, high=31, zero_fraction=0.3):
    rng = np.random.default_rng(seed)
    images = rng.integers(1, high + 1, (count, n_in))
    images[rng.random((count, n_in)) < zero_fraction] = 0
    return images


# N = 12 neurons: lanes that divide it (1, 4), that do not (5, 7), and P = N (one group).
@pytest.mark.parametrize("lanes", [1, 4, 5, 7, 12])
@pytest.mark.parametrize("weight_bits", [1, 3])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_spikes_match_golden_if_step(lanes, weight_bits, reset):
    spec = one_layer(seed=lanes * 10 + weight_bits, n_in=9, n_out=12, weight_bits=weight_bits,
                     threshold=25, state_bits=14, reset=reset)
    assert not analyse(spec)[0].saturates
    images = random_images(lanes, 2, 9)  # two images back to back: state cleared between them
    assert golden_steps(spec, images) != [[]] * (2 * spec.timesteps), "the layer must fire"
    check(spec, lanes, images)


@pytest.mark.parametrize("lanes", [2, 3, 6])
def test_saturating_layer_clamps_like_golden(lanes):
    # 5-bit membranes, int-4 weights and 5-bit inputs: V + I leaves [-16, 15] in both directions.
    spec = one_layer(seed=4, n_in=8, n_out=6, weight_bits=4, threshold=9, state_bits=5,
                     timesteps=6, bias_range=3)
    assert analyse(spec)[0].saturates
    images = random_images(4, 3, 8)
    check(spec, lanes, images)


@pytest.mark.parametrize("lanes, n_out", [(3, 3), (1, 2), (2, 3), (4, 10)])
def test_random_stalls_on_both_streams(lanes, n_out):
    # One or two groups exercise the transparent read (read-after-write); stalls the emitter's hold.
    spec = one_layer(seed=9, n_in=10, n_out=n_out, weight_bits=2, threshold=3,
                     state_bits=10, timesteps=5)
    images = random_images(9, 2, 10, high=7)
    check(spec, lanes, images, seed=lanes, stall=True)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 10), n_out=st.integers(1, 10),
       weight_bits=st.sampled_from([1, 2, 4, 8]), threshold=st.integers(1, 60),
       reset=st.sampled_from(["subtract", "zero"]), state_bits=st.integers(6, 14),
       timesteps=st.integers(1, 5), data=st.data())
def test_random_layers_match_golden(seed, n_in, n_out, weight_bits, threshold, reset, state_bits,
                                    timesteps, data):
    threshold = min(threshold, (1 << (state_bits - 1)) - 1)
    spec = one_layer(seed, n_in, n_out, weight_bits, threshold, state_bits, reset,
                     scale=data.draw(st.integers(1, 5)), timesteps=timesteps,
                     bias_range=min(4, (1 << (state_bits - 1)) - 1))
    lanes = data.draw(st.integers(1, n_out))
    check(spec, lanes, random_images(seed, 2, n_in), seed=seed, stall=data.draw(st.booleans()))


def test_step_costs_events_times_groups_plus_groups():
    # A high threshold keeps the layer silent, so the cycles are the accumulate and update alone.
    spec = one_layer(seed=3, n_in=16, n_out=32, weight_bits=1, threshold=2000, state_bits=14,
                     timesteps=3)
    image = np.zeros(16, dtype=np.int64)
    image[:10] = 5  # ten events per step; zero inputs send no events at all
    steps, cycles = engine_steps(spec, 8, [image])
    assert steps == [[]] * 3
    model = spec.timesteps * (10 * groups(32, 8) + groups(32, 8) + STEP_OVERHEAD)
    assert model <= cycles <= model + 1, (cycles, model)



@pytest.mark.parametrize("lanes", [4, 8, 32])
def test_step_costs_plus_one_cycle_per_extra_spike_of_a_word(lanes):
    # A low threshold: many neurons of one word fire together, and the emitter sends one per cycle.
    spec = one_layer(seed=5, n_in=16, n_out=32, weight_bits=1, threshold=3, state_bits=14,
                     timesteps=3)
    image = np.zeros(16, dtype=np.int64)
    image[:6] = 2
    steps, cycles = engine_steps(spec, lanes, [image])
    g = groups(32, lanes)
    emitter = [emitter_cycles(spec.layers[0], (16,), lanes, np.isin(np.arange(32), fired))
               for fired in steps]
    assert steps == golden_steps(spec, [image]) and sum(emitter) > 0
    model = sum(6 * g + g + STEP_OVERHEAD + extra for extra in emitter)
    assert model <= cycles <= model + 1, (cycles, model)

# ---- adaptive (ASNN) neurons: per-step λ_t, γ_t from the engine's ROM ---------------------------

def adaptive_neuron(seed, threshold, state_bits, timesteps, frac_bits=3, reset="subtract",
                    gain_high=None):
    """Random tables: λ_t in 0..2^F (a leak), γ_t up to ``gain_high`` (default 2.0 in Q F)."""
    rng = np.random.default_rng(seed)
    one = 1 << frac_bits
    gain_high = 2 * one if gain_high is None else gain_high
    return NeuronSpec("adaptive", threshold, reset, state_bits, frac_bits=frac_bits,
                      decay_table=tuple(int(x) for x in rng.integers(0, one + 1, timesteps)),
                      gain_table=tuple(int(x) for x in rng.integers(0, gain_high + 1, timesteps)))


@pytest.mark.parametrize("lanes", [1, 4, 5, 12])
@pytest.mark.parametrize("weight_bits", [1, 3])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_adaptive_matches_golden_adaptive_step(lanes, weight_bits, reset):
    neuron = adaptive_neuron(lanes + weight_bits, 20, 14, timesteps=5, reset=reset)
    spec = one_layer(seed=lanes * 10 + weight_bits, n_in=9, n_out=12, weight_bits=weight_bits,
                     threshold=20, state_bits=14, timesteps=5, neuron=neuron)
    images = random_images(lanes, 2, 9)
    assert golden_steps(spec, images) != [[]] * (2 * spec.timesteps), "the layer must fire"
    check(spec, lanes, images)


@pytest.mark.parametrize("frac_bits", [0, 1, 5])
def test_adaptive_tables_change_every_step(frac_bits):
    """Extreme tables (λ 0 and 2^F, γ 0 and 2^(F+8)) alternate: the ROM follows the step."""
    one = 1 << frac_bits
    neuron = NeuronSpec("adaptive", 9, "subtract", 16, frac_bits=frac_bits,
                        decay_table=(one, 0, one // 2 + 1, one, 0, 1),
                        gain_table=(one, 0, one << 8, 1, one + 1, one << 3))
    spec = one_layer(seed=5, n_in=6, n_out=5, weight_bits=2, threshold=9, state_bits=16,
                     timesteps=6, neuron=neuron)
    images = random_images(5, 2, 6, high=7)
    check(spec, 2, images)


def test_adaptive_fires_only_strictly_above_threshold():
    """V == θ exactly (λ = 0, γ = 1.0, I = θ) never fires; V == θ + 1 always does."""
    neuron = NeuronSpec("adaptive", 7, "subtract", 8, frac_bits=2, decay_table=(0,) * 3,
                        gain_table=(4,) * 3)
    layer = LayerSpec("fc", "linear", np.array([[1], [1]]), 2, np.array([0, 1]), neuron)
    spec = NetSpec(InputSpec(1, "direct", 3), (layer,), 3).validate()
    images = np.array([[7]])
    assert golden_steps(spec, images) == [[1]] * 3
    check(spec, 1, images)
    check(spec, 2, images)


@pytest.mark.parametrize("lanes", [2, 3])
def test_adaptive_saturating_layer_clamps_like_golden(lanes):
    # Gains up to 4.0 on 6-bit membranes: (γ·I) >> F leaves [-32, 31] in both directions.
    neuron = adaptive_neuron(7, 9, 6, timesteps=6, frac_bits=2, gain_high=16)
    spec = one_layer(seed=4, n_in=8, n_out=6, weight_bits=4, threshold=9, state_bits=6,
                     timesteps=6, bias_range=3, neuron=neuron)
    assert analyse(spec)[0].saturates
    check(spec, lanes, random_images(4, 3, 8))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 8), n_out=st.integers(1, 8),
       weight_bits=st.sampled_from([1, 2, 4]), threshold=st.integers(1, 40),
       reset=st.sampled_from(["subtract", "zero"]), state_bits=st.integers(6, 14),
       frac_bits=st.integers(0, 6), timesteps=st.integers(1, 5), data=st.data())
def test_random_adaptive_layers_match_golden(seed, n_in, n_out, weight_bits, threshold, reset,
                                            state_bits, frac_bits, timesteps, data):
    threshold = min(threshold, (1 << (state_bits - 1)) - 1)
    neuron = adaptive_neuron(seed, threshold, state_bits, timesteps, frac_bits, reset,
                             gain_high=data.draw(st.integers(0, 4 << frac_bits)))
    spec = one_layer(seed, n_in, n_out, weight_bits, threshold, state_bits, reset,
                     scale=data.draw(st.integers(1, 5)), timesteps=timesteps,
                     bias_range=min(4, (1 << (state_bits - 1)) - 1), neuron=neuron)
    lanes = data.draw(st.integers(1, n_out))
    check(spec, lanes, random_images(seed, 2, n_in), seed=seed, stall=data.draw(st.booleans()))


def test_adaptive_step_costs_the_same_as_if():
    """The table lookup adds no cycle: a silent adaptive layer costs events · G + G + overhead."""
    neuron = NeuronSpec("adaptive", 2000, "subtract", 14, frac_bits=2, decay_table=(4, 2, 3),
                        gain_table=(4, 1, 2))
    spec = one_layer(seed=3, n_in=16, n_out=32, weight_bits=1, threshold=2000, state_bits=14,
                     timesteps=3, neuron=neuron)
    image = np.zeros(16, dtype=np.int64)
    image[:10] = 5
    steps, cycles = engine_steps(spec, 8, [image])
    assert steps == [[]] * 3
    model = spec.timesteps * (10 * groups(32, 8) + groups(32, 8) + STEP_OVERHEAD)
    assert model <= cycles <= model + 1, (cycles, model)
