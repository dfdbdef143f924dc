"""Convolution, pooling, flatten, global average pooling and residual layers of the executor."""

import numpy as np
import pytest

from spikeforge import netspec as netspec_io
from spikeforge.bounds import analyse
from spikeforge.errors import NetSpecError
from spikeforge.golden import run
from spikeforge.netspec import NONE_NEURON, InputSpec, LayerSpec, NetSpec, NeuronSpec


def conv(name, weights, bias, threshold, stride=1, padding=0, bits=4, neuron=None):
    neuron = neuron or NeuronSpec("if", threshold, state_bits=14)
    return LayerSpec(name, "conv2d", np.asarray(weights), bits, np.asarray(bias), neuron,
                     stride=stride, padding=padding)


def stateless(name, kind, **geometry):
    return LayerSpec(name, kind, None, 0, None, NONE_NEURON, **geometry)


def linear(name, weights, bias, threshold):
    return LayerSpec(name, "linear", np.asarray(weights), 4, np.asarray(bias),
                     NeuronSpec("if", threshold, state_bits=14))


def test_conv2d_equals_plain_python_loops():
    rng = np.random.default_rng(0)
    w = rng.integers(-8, 8, (3, 2, 3, 3))
    b = rng.integers(-3, 4, 3)
    layer = conv("c", w, b, threshold=1000, stride=2, padding=1)
    spec = NetSpec(InputSpec(2 * 5 * 5, "direct", 5, 16, shape=(2, 5, 5)), (layer,), 1).validate()
    image = rng.integers(0, 17, (2, 5, 5))
    result = run(spec, image.reshape(1, -1), record=True)
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))
    expected = np.zeros((3, 3, 3), dtype=np.int64)
    for o in range(3):
        for y in range(3):
            for x in range(3):
                window = padded[:, 2 * y:2 * y + 3, 2 * x:2 * x + 3]
                expected[o, y, x] = (window * w[o]).sum() + b[o]
    np.testing.assert_array_equal(result.membranes[0][0, 0], expected.reshape(-1))
    # Synaptic operations: every (active input, output it reaches) pair.
    brute = 0
    for o in range(3):
        for y in range(3):
            for x in range(3):
                brute += int((padded[:, 2 * y:2 * y + 3, 2 * x:2 * x + 3] != 0).sum())
    assert result.accumulates[0] == brute


def _pool_net(kind, **geometry):
    layers = (stateless("p", kind, **geometry), stateless("f", "flatten"),
              linear("out", np.eye(4, dtype=np.int64), np.zeros(4, np.int64), threshold=1))
    return NetSpec(InputSpec(16, "direct", 5, 16, shape=(1, 4, 4)), layers, 1).validate()


IMAGE = np.array([[1, 2, 0, 0], [3, 4, 0, 5], [0, 0, 16, 0], [0, 1, 0, 0]])


@pytest.mark.parametrize("kind, extra, expected", [
    ("sumpool", {}, [10, 5, 1, 16]),
    ("avgpool", {"shift": 2}, [2, 1, 0, 4]),  # sums >> 2, floored
    ("orpool", {}, [4, 5, 1, 16]),  # max (OR for 0/1 spikes)
])
def test_pooling_by_hand(kind, extra, expected):
    spec = _pool_net(kind, kernel=2, stride=2, **extra)
    result = run(spec, IMAGE.reshape(1, -1), record=True)
    assert result.trains[0][0, 0].tolist() == expected
    assert analyse(spec)[0].output_max == {"sumpool": 64, "avgpool": 16, "orpool": 16}[kind]


def test_global_average_pool_sums_and_shifts():
    layers = (stateless("g", "gap", shift=3), linear("out", [[1]], [0], threshold=1))
    spec = NetSpec(InputSpec(16, "direct", 5, 16, shape=(1, 4, 4)), layers, 1).validate()
    result = run(spec, IMAGE.reshape(1, -1), record=True)
    assert result.trains[0][0, 0].tolist() == [IMAGE.sum() >> 3]


def _residual_net(delay, timesteps=4):
    a = linear("a", [[2], [1]], [0, 0], threshold=2)
    b = linear("b", [[1, 0], [0, 1]], [0, 0], threshold=1)
    r = LayerSpec("r", "residual", None, 0, None, NeuronSpec("if", 2, state_bits=8),
                  source="a", delay=delay)
    return NetSpec(InputSpec(1, "direct", 5, 16), (a, b, r), timesteps).validate()


def test_residual_adds_the_shortcut_in_the_same_step():
    result = run(_residual_net(0), np.array([[1]]), record=True)
    # a: neuron 0 fires every step (2 >= 2), neuron 1 every other step (1, 2, ...).
    assert result.trains[0][:, 0].tolist() == [[1, 0], [1, 1], [1, 0], [1, 1]]
    assert result.trains[1][:, 0].tolist() == [[1, 0], [1, 1], [1, 0], [1, 1]]
    # r gets a + b = 2·a each step: fires whenever a did.
    assert result.trains[2][:, 0].tolist() == [[1, 0], [1, 1], [1, 0], [1, 1]]
    assert result.accumulates[2] == 2 * result.trains[0].sum()


def test_residual_delay_shifts_the_shortcut_by_whole_steps():
    result = run(_residual_net(2), np.array([[1]]), record=True)
    # Shortcut from a arrives two steps late: r's current is b(t) + a(t-2).
    assert result.membranes[2][:, 0, 0].tolist() == [1, 0, 0, 0]
    assert result.trains[2][:, 0, 0].tolist() == [0, 1, 1, 1]


def test_two_residuals_of_one_source_each_get_their_own_delay():
    """One source, two shortcuts (delays 2 and 0): the first residual's input must not depend on
    the second's delay (the history keeps as many steps as the longest delay needs)."""
    def net(second_delay):
        spec = _residual_net(2, timesteps=5)
        r2 = LayerSpec("r2", "residual", None, 0, None, NeuronSpec("if", 2, state_bits=8),
                       source="a", delay=second_delay)
        return NetSpec(spec.input, spec.layers + (r2,), spec.timesteps).validate()

    alone = run(_residual_net(2, timesteps=5), np.array([[1]]), record=True)
    for second_delay in (0, 1, 2, 3):
        both = run(net(second_delay), np.array([[1]]), record=True)
        assert both.membranes[2].tolist() == alone.membranes[2].tolist(), second_delay
        assert both.trains[2].tolist() == alone.trains[2].tolist(), second_delay
    # And the second integrates r(t) + a(t - delay): IF, threshold 2, reset by subtraction.
    for second_delay in (0, 3):
        result = run(net(second_delay), np.array([[1]]), record=True)
        a, r = result.trains[0][:, 0], result.trains[2][:, 0]
        v = np.zeros(2, np.int64)
        for t in range(5):
            v = v + r[t] + (a[t - second_delay] if t >= second_delay else 0)
            fired = (v >= 2).astype(np.int64)
            v = v - 2 * fired
            assert result.trains[3][t, 0].tolist() == fired.tolist(), (second_delay, t)
            assert result.membranes[3][t, 0].tolist() == v.tolist(), (second_delay, t)


def test_synchronous_neurons_bring_the_bistable_shortcut_into_the_integrate_phase():
    P = 2

    def net(delay):
        bi = lambda: NeuronSpec("bistable", 1, state_bits=8, phase=P)
        a = LayerSpec("a", "linear", np.array([[1]]), 4, np.array([0]), bi())
        b = LayerSpec("b", "linear", np.array([[1]]), 4, np.array([0]), bi())
        r = LayerSpec("r", "residual", None, 0, None, bi(), source="a", delay=delay)
        return NetSpec(InputSpec(1, "direct", 5, 16), (a, b, r), 4 * P).validate()

    plain = run(net(0), np.array([[1]]), record=True)
    synced = run(net(P), np.array([[1]]), record=True)
    # Without the delay, a's spikes (fire phase 1) reach r in r's own fire phase and are ignored.
    assert synced.membranes[2][:, 0, 0].max() > plain.membranes[2][:, 0, 0].max()
    assert synced.accumulates[2] > plain.accumulates[2]


def test_conv_network_round_trips_and_stays_within_bounds(tmp_path):
    rng = np.random.default_rng(5)
    layers = (conv("c1", rng.integers(-4, 4, (4, 1, 3, 3)), rng.integers(-2, 3, 4), threshold=12,
                   padding=1),
              stateless("pool", "sumpool", kernel=2, stride=2),
              conv("c2", rng.choice([-1, 1], (6, 4, 2, 2)), rng.integers(-2, 3, 6), threshold=3, bits=1),
              stateless("gap", "gap", shift=1),
              linear("fc", rng.integers(-8, 8, (3, 6)), rng.integers(-2, 3, 3), threshold=4))
    spec = NetSpec(InputSpec(36, "rate", 4, 15, shape=(1, 6, 6)), layers, 3).validate()
    again = netspec_io.load(spec.save(tmp_path / "conv.npz"))
    images = rng.integers(0, 16, (8, 36))
    a, b = run(spec, images, record=True), run(again, images)
    np.testing.assert_array_equal(a.counts, b.counts)
    for bound, membranes, layer in zip(analyse(spec), a.membranes, spec.layers):
        if not layer.stateless:
            assert bound.membrane_low <= membranes.min() and membranes.max() <= bound.membrane_high


@pytest.mark.parametrize("layers, message", [
    (lambda: (conv("c", np.ones((2, 1, 3, 3), np.int64), [0, 0], 5), linear("fc", np.ones((1, 8)), [0], 1)),
     r"linear layer needs a flat input at netspec:layers\[1\]\.kind: expected a 1-dimensional input \(add a flatten or gap layer before it\), found shape \(2, 2, 2\)"),
    (lambda: (conv("c", np.ones((2, 3, 3, 3), np.int64), [0, 0], 5),),
     r"weight shape does not match the previous layer at netspec:layers\[0\]\.weights: expected shape \(C_out, 1, k, k\), found shape \(2, 3, 3, 3\)"),
    (lambda: (conv("c", np.ones((2, 1, 5, 5), np.int64), [0, 0], 5),),
     r"window does not fit the input at netspec:layers\[0\]: expected kernel >= 1, stride >= 1, padding >= 0 and kernel <= 4"),
    (lambda: (stateless("p", "sumpool", kernel=2, stride=2), stateless("f", "flatten")),
     r"last layer has no neurons to count spikes of at netspec:layers\[1\]\.kind"),
    (lambda: (conv("c", np.ones((1, 1, 3, 3), np.int64), [0], 5),
              LayerSpec("r", "residual", None, 0, None, NeuronSpec("if", 1, state_bits=8), source="x")),
     r"residual source is not an earlier layer at netspec:layers\[1\]\.source: expected one of \['c'\], found 'x'"),
    (lambda: (conv("c", np.ones((1, 1, 3, 3), np.int64), [0], 5),
              LayerSpec("p", "sumpool", None, 0, None, NeuronSpec("if", 1, state_bits=8), kernel=2, stride=2)),
     r"stateless layer has a neuron at netspec:layers\[1\]\.neuron\.kind: expected 'none' for a sumpool layer, found 'if'"),
])
def test_shape_and_kind_errors_name_the_layer(layers, message):
    with pytest.raises(NetSpecError, match=message):
        NetSpec(InputSpec(16, "direct", 5, 16, shape=(1, 4, 4)), layers(), 2).validate()


def test_residual_shape_mismatch():
    a = linear("a", np.ones((3, 2)), np.zeros(3), 1)
    b = linear("b", np.ones((2, 3)), np.zeros(2), 1)
    r = LayerSpec("r", "residual", None, 0, None, NeuronSpec("if", 1, state_bits=8), source="a")
    with pytest.raises(NetSpecError, match=r"residual shapes differ .*expected an output of shape \(2,\) .*found a with shape \(3,\)"):
        NetSpec(InputSpec(2, "direct", 5, 16), (a, b, r), 2).validate()
