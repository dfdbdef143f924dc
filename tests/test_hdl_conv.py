"""The conv2d and pooling engines alone in Amaranth's simulator, against the golden executor.

Each engine receives the golden input events of its layer, step by step (several images, so the
clear after the last step is exercised), and must emit exactly the golden layer's nonzero outputs
per step: NCHW index and value, each once, then the end-of-step marker.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.hdl.conv_engine import ConvEngine
from spikeforge.hdl.cost import groups, layer_cost
from spikeforge.hdl.geometry import axis_taps
from spikeforge.hdl.pool_engine import PoolEngine
from spikeforge.netspec import NeuronSpec, layer_shapes

from conv_harness import (bounds_of, conv_layer, drive_engine, golden_layer_events, image_spec,
                          images_for, linear_layer, stateless)


def _check_conv(conv, shape, lanes, timesteps=3, encoding="direct", images=2, seed=0, stall=False):
    spec = image_spec(shape, [conv], timesteps=timesteps, encoding=encoding)
    pictures = images_for(spec, images, seed)
    inputs, expected = golden_layer_events(spec, pictures, 0)
    value_bits = 1 if encoding in ("rate", "latency") else spec.input.bits
    dut = ConvEngine(conv, bounds_of(spec, 0), lanes, value_bits, spec.timesteps, 0,
                     layer_shapes(spec)[0][0])
    got, cycles = drive_engine(dut, inputs, seed=seed, stall=stall)
    for step, (want, have) in enumerate(zip(expected, got)):
        assert have == want, f"step {step}: golden {sorted(want.items())}, RTL {sorted(have.items())}"
    assert sum(len(step) for step in expected) > 0, "a test whose layer never spikes checks little"
    return spec, inputs, cycles


# (kernel, stride, padding, weight_bits, lanes, C_in, C_out); lanes that do not divide C_out too.
GEOMETRIES = [
    (3, 1, 0, 1, 2, 2, 3),
    (3, 1, 1, 4, 3, 2, 4),
    (3, 2, 1, 1, 2, 1, 5),
    (3, 2, 0, 3, 4, 3, 4),
    (1, 1, 0, 2, 1, 2, 2),
    (1, 2, 0, 1, 3, 3, 3),
    (2, 2, 1, 2, 5, 2, 5),
]


@pytest.mark.parametrize("kernel, stride, padding, bits, lanes, c_in, c_out", GEOMETRIES)
def test_conv_geometries_match_golden(kernel, stride, padding, bits, lanes, c_in, c_out):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + padding)
    conv = conv_layer(rng, "conv", c_in, c_out, kernel, bits, threshold=5 if bits == 1 else 4,
                      stride=stride, padding=padding)
    _check_conv(conv, (c_in, 5, 6), lanes)


def test_conv_with_stalls_and_rate_input():
    rng = np.random.default_rng(3)
    conv = conv_layer(rng, "conv", 2, 3, 3, 1, threshold=2, padding=1, scale=1)
    _check_conv(conv, (2, 4, 4), 2, timesteps=4, encoding="rate", stall=True)


@pytest.mark.parametrize("kernel, stride, lanes", [(2, 3, 1), (3, 2, 2), (1, 2, 3)])
def test_conv_skipping_taps_with_stalls(kernel, stride, lanes):
    """Events without a tap, or with one, next to full ones, under input gaps and back-pressure."""
    rng = np.random.default_rng(kernel + stride)
    conv = conv_layer(rng, "conv", 2, 3, kernel, 1, threshold=1, stride=stride, scale=1)
    _check_conv(conv, (2, 7, 8), lanes, timesteps=3, encoding="rate", stall=True)


@pytest.mark.parametrize("neuron", [
    NeuronSpec("lif", 6, "zero", 10, leak="shift", leak_shift=2),
    NeuronSpec("mtlif", 3, "subtract", 10, leak="factor", leak_factor=3, frac_bits=2, levels=3),
    NeuronSpec("adaptive", 5, "subtract", 12, frac_bits=2, decay_table=(4, 3, 2),
               gain_table=(4, 6, 3)),
    NeuronSpec("bistable", 4, "subtract", 10, phase=1),
    NeuronSpec("if", 30, "subtract", 6),  # saturates
], ids=["lif", "mtlif", "adaptive", "bistable", "saturating"])
def test_conv_reuses_every_neuron_kind(neuron):
    rng = np.random.default_rng(5)
    conv = conv_layer(rng, "conv", 2, 3, 3, 2, threshold=0, padding=1, neuron=neuron)
    spec, _, _ = _check_conv(conv, (2, 4, 5), 2)
    if neuron.threshold == 30:
        assert bounds_of(spec, 0).saturates


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), kernel=st.integers(1, 3), stride=st.integers(1, 3),
       padding=st.integers(0, 2), bits=st.sampled_from([1, 2, 5]), c_in=st.integers(1, 3),
       c_out=st.integers(1, 5), height=st.integers(3, 6), width=st.integers(3, 6), data=st.data())
def test_random_conv_geometries(seed, kernel, stride, padding, bits, c_in, c_out, height, width,
                                data):
    rng = np.random.default_rng(seed)
    conv = conv_layer(rng, "conv", c_in, c_out, kernel, bits, threshold=data.draw(st.integers(1, 8)),
                      stride=stride, padding=padding)
    spec = image_spec((c_in, height, width), [conv], timesteps=2)
    pictures = images_for(spec, 2, seed)
    inputs, expected = golden_layer_events(spec, pictures, 0)
    lanes = data.draw(st.integers(1, c_out))
    dut = ConvEngine(conv, bounds_of(spec, 0), lanes, spec.input.bits, spec.timesteps, 0,
                     (c_in, height, width))
    got, _ = drive_engine(dut, inputs, seed=seed)
    assert got == expected


def _valid_taps(coordinate, kernel, stride, padding, out_size):
    """The taps of one axis that reach an output, by brute force (independent of the engine)."""
    return [tap for tap in range(kernel) if (coordinate + padding - tap) % stride == 0
            and 0 <= (coordinate + padding - tap) // stride < out_size]


def accumulate_cycles(dut, steps_events, max_cycles=100_000):
    """Per step: the cycles from its first event taken to its end-of-step marker taken (an event
    is taken in the cycle the previous one issues its last word), the output always ready."""
    taken: list[list[int]] = []
    now = [0]

    async def clock(ctx):
        while len(taken) < len(steps_events) or now[0] < 2:
            await ctx.tick()
            now[0] += 1
            assert now[0] < max_cycles, "the engine hangs"

    async def drive(ctx):
        ctx.set(dut.events_out.ready, 1)
        for events in steps_events:
            times = []
            for index, value in list(events) + [(0, None)]:
                last = value is None
                ctx.set(dut.events_in.payload, {"index": index, "value": 0 if last else value,
                                                "last": int(last)})
                ctx.set(dut.events_in.valid, 1)
                await ctx.tick().until(dut.events_in.ready)
                times.append(now[0])
            taken.append(times)
        ctx.set(dut.events_in.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(clock)
    sim.add_testbench(drive)
    sim.run()
    return [times[-1] - times[0] for times in taken]


# (kernel, stride, padding, C_out, lanes, H, W): stride 1 and 2, padding 0 and 1, kernels 1..3,
# and strides past the kernel (events with no tap at all: one cycle each).
CYCLE_GEOMETRIES = [
    (3, 1, 1, 4, 2, 5, 6),
    (3, 1, 0, 3, 2, 5, 5),
    (3, 2, 1, 5, 2, 8, 7),
    (3, 2, 0, 2, 1, 7, 6),
    (1, 1, 0, 3, 3, 4, 4),
    (1, 2, 0, 4, 3, 5, 5),
    (2, 3, 0, 2, 1, 7, 8),
    (2, 2, 1, 6, 4, 5, 6),
]


@pytest.mark.parametrize("kernel, stride, padding, c_out, lanes, height, width", CYCLE_GEOMETRIES)
def test_an_event_costs_its_valid_taps_times_groups(kernel, stride, padding, c_out, lanes, height,
                                                    width):
    """One event alone in a step: exactly (valid ky) × (valid kx) × G accumulate cycles, or 1
    when it has no valid tap; and the cost model's per-event charge bounds every position."""
    rng = np.random.default_rng(kernel * 7 + stride)
    c_in = 2
    conv = conv_layer(rng, "conv", c_in, c_out, kernel, 2, threshold=3, stride=stride,
                      padding=padding)
    spec = image_spec((c_in, height, width), [conv], timesteps=2)
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    G = groups(c_out, lanes)
    dut = ConvEngine(conv, bounds_of(spec, 0), lanes, spec.input.bits, spec.timesteps, 0,
                     (c_in, height, width))
    positions = [(c, y, x) for c in range(c_in) for y in range(height) for x in range(width)]
    steps = [[(c * height * width + y * width + x, 3)] for c, y, x in positions]
    # Two events in one step cost the sum of theirs; an empty step costs nothing.
    steps += [[(0, 1), (height * width - 1, 2)], []]
    cycles = accumulate_cycles(dut, steps)
    per_event, _, _ = layer_cost(conv, (c_in, height, width), lanes)
    expected = []
    for _, y, x in positions:
        taps = (len(_valid_taps(y, kernel, stride, padding, out_h))
                * len(_valid_taps(x, kernel, stride, padding, out_w)))
        expected.append(max(1, taps * G))
        assert expected[-1] <= per_event <= (-(-kernel // stride)) ** 2 * G
    assert max(expected) == per_event  # the bound is reached (these maps exceed the kernel)
    expected += [expected[0] + expected[-1], 0]
    assert cycles == expected


def test_stride_two_visits_a_quarter_of_the_taps():
    """The ALBSNN conv2 shape (16->32, 3x3, stride 2, pad 1, 8x8): (11/8)² ≈ 1.89 taps per event
    on average (was 9), at most 4."""
    rows = axis_taps(8, 3, 2, 1, 4)
    assert [t.count for t in rows] == [1, 2, 1, 2, 1, 2, 1, 1]
    assert [t.first_tap for t in rows] == [1, 0, 1, 0, 1, 0, 1, 2]
    assert [t.first_out for t in rows] == [0, 1, 1, 2, 2, 3, 3, 3]
    assert sum(t.count for t in rows) == 11


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 12), kernel=st.integers(1, 5), stride=st.integers(1, 4),
       padding=st.integers(0, 3))
def test_axis_taps_are_the_valid_taps(size, kernel, stride, padding):
    if size + 2 * padding < kernel:
        return
    out = (size + 2 * padding - kernel) // stride + 1
    for coordinate, entry in enumerate(axis_taps(size, kernel, stride, padding, out)):
        got = [entry.first_tap + i * stride for i in range(entry.count)]
        assert got == _valid_taps(coordinate, kernel, stride, padding, out)
        assert [entry.first_out - i for i in range(entry.count)] == [
            (coordinate + padding - tap) // stride for tap in got]


def _pool_spec(kind, shape, kernel=0, stride=1, shift=0, encoding="direct", seed=0):
    rng = np.random.default_rng(seed)
    pool = stateless("pool", kind, kernel, stride, shift)
    c, h, w = shape
    n = c if kind == "gap" else c * ((h - kernel) // stride + 1) * ((w - kernel) // stride + 1)
    return image_spec(shape, [pool, stateless("flat", "flatten"), linear_layer(rng, "out", n, 3, 4)],
                      timesteps=3, encoding=encoding)


@pytest.mark.parametrize("kind, kernel, stride, shift, encoding", [
    ("sumpool", 2, 2, 0, "direct"),
    ("sumpool", 3, 1, 0, "rate"),      # overlapping windows: one event reaches several outputs
    ("avgpool", 2, 2, 2, "direct"),    # averages the shift makes 0 send nothing
    ("avgpool", 3, 2, 1, "rate"),
    ("orpool", 2, 2, 0, "rate"),
    ("orpool", 2, 1, 0, "direct"),     # graded input: the maximum
    ("gap", 0, 1, 3, "direct"),
    ("gap", 0, 1, 0, "latency"),
])
def test_pool_kinds_match_golden(kind, kernel, stride, shift, encoding):
    shape = (2, 5, 6)
    spec = _pool_spec(kind, shape, kernel, stride, shift, encoding)
    pictures = images_for(spec, 2, 1)
    inputs, expected = golden_layer_events(spec, pictures, 0)
    value_bits = 1 if encoding in ("rate", "latency") else spec.input.bits
    dut = PoolEngine(spec.layers[0], bounds_of(spec, 0), value_bits, shape)
    got, _ = drive_engine(dut, inputs, stall=True)
    assert got == expected
    assert any(expected)


@pytest.mark.parametrize("kernel, stride, padding", [(1, 2, 0), (2, 3, 0)],
                         ids=["k1-s2", "k2-s3"])
def test_conv_with_tapless_events_is_lint_clean(tmp_path, kernel, stride, padding):
    """Strides past the kernel give events with no tap (the engine's one-cycle ``no_tap`` path):
    its Verilog is Verilator -Wall clean too (the two waived width warnings only)."""
    from spikeforge.hdl.verilog import generate_verilog
    from test_hdl_verilog import _verilator

    rng = np.random.default_rng(2)
    conv = conv_layer(rng, "c1", 2, 3, kernel, 2, threshold=2, stride=stride, padding=padding)
    out = (7 - kernel) // stride + 1
    spec = image_spec((2, 7, 7), [conv, stateless("flat", "flatten"),
                                  linear_layer(rng, "out", 3 * out * out, 3, 3)])
    path = tmp_path / "spikeforge_top.v"
    path.write_text(generate_verilog(spec, [2, 1, 3]))
    assert _verilator(path) == []
