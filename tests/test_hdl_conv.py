"""The conv2d and pooling engines alone in Amaranth's simulator, against the golden executor.

Each engine receives the golden input events of its layer, step by step (several images, so the
clear after the last step is exercised), and must emit exactly the golden layer's nonzero outputs
per step: NCHW index and value, each once, then the end-of-step marker.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.hdl.conv_engine import ConvEngine
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
