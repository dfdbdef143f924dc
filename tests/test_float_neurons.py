"""The float training neurons equal the integer steps on integer values, and have gradients."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.golden.float_neurons import (SURROGATES, adaptive_step_float, bistable_step_float,
                                             decay_to_factor, decay_to_shift, if_step_float,
                                             lif_step_float, mtlif_step_float, shift_leak_float)
from spikeforge.golden.neurons import (IFParams, LeakParams, adaptive_step, bistable_fire,
                                       bistable_integrate, if_step, lif_step, mtlif_step)
from spikeforge.schedule import INTEGRATE, bistable_mode

CURRENTS = st.lists(st.integers(-300, 300), min_size=1, max_size=10)
F64 = torch.float64


def as_float(value) -> torch.Tensor:
    return torch.tensor(float(value), dtype=F64)


def assert_same_sequence(currents, integer_step, float_step):
    """Both steps from V = 0 over the currents: spikes and membranes equal at every step.

    ``integer_step(t, current, v)`` gets int64 tensors, ``float_step(t, current, v)`` float64 ones.
    """
    v_int = torch.zeros(1, dtype=torch.int64)
    v_float = torch.zeros(1, dtype=F64)
    for t, current in enumerate(currents):
        s_int, v_int = integer_step(t, torch.tensor([current]), v_int)
        s_float, v_float = float_step(t, torch.tensor([float(current)], dtype=F64), v_float)
        assert (int(s_float), float(v_float)) == (int(s_int), float(v_int)), f"step {t}"


@settings(max_examples=200, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 200), reset=st.sampled_from(["subtract", "zero"]))
def test_if_float_matches_integer(currents, threshold, reset):
    assert_same_sequence(
        currents,
        lambda t, i, v: if_step(i, v, IFParams(threshold, reset)),
        lambda t, i, v: if_step_float(i, v, as_float(threshold), reset))


@settings(max_examples=150, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 200), factor=st.integers(0, 16))
def test_lif_factor_leak_float_matches_integer(currents, threshold, factor):
    assert_same_sequence(
        currents,
        lambda t, i, v: lif_step(i, v, IFParams(threshold), LeakParams("factor", factor=factor, frac_bits=4)),
        lambda t, i, v: lif_step_float(i, v, as_float(threshold), factor / 16))


@settings(max_examples=150, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 200), shift=st.integers(1, 6))
def test_lif_shift_leak_float_matches_integer(currents, threshold, shift):
    assert_same_sequence(
        currents,
        lambda t, i, v: lif_step(i, v, IFParams(threshold), LeakParams("shift", shift=shift)),
        lambda t, i, v: if_step_float(i, shift_leak_float(v, shift), as_float(threshold)))


@settings(max_examples=150, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 60), levels=st.integers(1, 7),
       surrogate=st.sampled_from(SURROGATES), reset=st.sampled_from(["subtract", "zero"]))
def test_mtlif_float_matches_integer(currents, threshold, levels, surrogate, reset):
    assert_same_sequence(
        currents,
        lambda t, i, v: mtlif_step(i, v, IFParams(threshold, reset), LeakParams(), levels),
        lambda t, i, v: mtlif_step_float(i, v, float(threshold), levels, reset=reset,
                                         surrogate=surrogate))


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(-300, 300), st.integers(0, 8), st.integers(0, 32)),
                      min_size=1, max_size=10), threshold=st.integers(1, 200))
def test_adaptive_float_matches_integer(steps, threshold):
    currents = [current for current, _, _ in steps]
    decay = [d for _, d, _ in steps]
    gain = [g for _, _, g in steps]
    assert_same_sequence(
        currents,
        lambda t, i, v: adaptive_step(i, v, IFParams(threshold), decay[t], gain[t], 3),
        lambda t, i, v: adaptive_step_float(i, v, float(threshold), decay[t] / 8, gain[t] / 8))


@settings(max_examples=100, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 100), phase=st.integers(1, 3))
def test_bistable_float_matches_integer(currents, threshold, phase):
    integrating = lambda t: bistable_mode(0, t, phase) == INTEGRATE  # noqa: E731
    assert_same_sequence(
        currents,
        lambda t, i, v: (bistable_integrate(i, v, IFParams(threshold)) if integrating(t)
                         else bistable_fire(v, IFParams(threshold))),
        lambda t, i, v: bistable_step_float(i, v, as_float(threshold), integrating(t)))


def test_exactly_at_threshold_fires():
    s, v = if_step_float(torch.tensor([5.0]), torch.tensor([0.0]), torch.tensor(5.0))
    assert float(s) == 1.0 and float(v) == 0.0


@pytest.mark.parametrize("current, membrane, threshold, spike, after", [
    (4.0, 0.0, 5.0, 0.0, 4.0),     # one below threshold: no spike, V keeps the charge
    (1.0, 4.0, 5.0, 1.0, 0.0),     # reaches θ over two steps: fires, nothing left
    (12.0, 0.0, 5.0, 1.0, 7.0),    # far above θ: one spike per step, V − θ carried over
    (-3.0, 2.0, 5.0, 0.0, -1.0),   # negative input drives V below 0, no floor
    (-3.0, 8.0, 5.0, 1.0, 0.0),    # negative input, still at threshold: fires
    (-7.0, -1.0, 5.0, 0.0, -8.0),  # negative membrane, negative input
])
def test_hand_worked_steps(current, membrane, threshold, spike, after):
    params = IFParams(int(threshold), "subtract")
    s_int, v_int = if_step(torch.tensor([int(current)]), torch.tensor([int(membrane)]), params)
    s, v = if_step_float(torch.tensor([current], dtype=F64), torch.tensor([membrane], dtype=F64),
                         as_float(threshold))
    assert (float(s), float(v)) == (spike, after) == (float(s_int), float(v_int))


@settings(max_examples=100, deadline=None)
@given(currents=st.lists(st.integers(-64, 64), min_size=1, max_size=8),
       threshold=st.integers(1, 50), exponent=st.integers(-12, 4))
def test_if_float_exact_in_power_of_two_units(currents, threshold, exponent):
    """Integers times a unit 2**e (a layer's weight scale), in float32: still the integer step."""
    unit = 2.0 ** exponent
    v_int = torch.zeros(1, dtype=torch.int64)
    v_float = torch.zeros(1, dtype=torch.float32)
    for current in currents:
        s_int, v_int = if_step(torch.tensor([current]), v_int, IFParams(threshold))
        s_float, v_float = if_step_float(torch.tensor([current * unit], dtype=torch.float32), v_float,
                                         torch.tensor(threshold * unit, dtype=torch.float32))
        assert int(s_float) == int(s_int) and float(v_float) == float(v_int) * unit


def test_unknown_reset_is_named():
    with pytest.raises(ValueError, match=r"unknown reset mode 'hard': expected 'subtract' or 'zero'"):
        if_step_float(torch.zeros(1), torch.zeros(1), 1.0, reset="hard")


def test_surrogate_gradient_reaches_current_and_threshold():
    current = torch.tensor([4.0], requires_grad=True)
    threshold = torch.tensor(5.0, requires_grad=True)
    s, _ = if_step_float(current, torch.zeros(1), threshold)
    s.sum().backward()
    assert float(s.detach()) == 0.0
    assert current.grad is not None and float(current.grad) > 0
    assert threshold.grad is not None and float(threshold.grad) < 0


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_mtlif_surrogate_has_a_bump_at_every_level(surrogate):
    v = torch.tensor([10.0, 20.0, 30.0, 45.0], requires_grad=True)
    spikes, _ = mtlif_step_float(v, torch.zeros(4), 10.0, levels=3, surrogate=surrogate)
    spikes.sum().backward()
    grad = v.grad.tolist()
    assert grad[0] > 0 and grad[1] > 0 and grad[2] > 0  # at θ, 2θ, 3θ
    assert grad[3] < grad[2]  # between levels, above K: smaller


def test_unknown_surrogate_is_named():
    with pytest.raises(ValueError, match=r"unknown surrogate 'gauss': expected one of \('rectangular', 'triangular', 'sigmoid'\)"):
        mtlif_step_float(torch.zeros(1), torch.zeros(1), 1.0, 2, surrogate="gauss")


def test_learnable_decay_and_tables_get_gradients():
    w = torch.tensor(0.0, requires_grad=True)  # PLIF: β = sigmoid(w)
    gain = torch.tensor(1.0, requires_grad=True)
    v = torch.full((3,), 8.0)
    s, v2 = lif_step_float(torch.tensor([1.0, 2.0, 3.0]), v, 10.0, torch.sigmoid(w))
    (s.sum() + v2.sum()).backward()
    assert w.grad is not None and float(w.grad) != 0.0
    s, v3 = adaptive_step_float(torch.tensor([5.0]), torch.tensor([6.0]), 10.0, 0.5, gain)
    (s.sum() + v3.sum()).backward()
    assert gain.grad is not None


def test_trained_decay_quantizes_to_factor_and_shift():
    assert decay_to_factor(0.75, 4) == 12
    assert decay_to_shift(0.75) == 2 and decay_to_shift(0.9) == 3
    with pytest.raises(ValueError, match=r"decay: expected a value in \[0, 1\], found 1.5"):
        decay_to_factor(1.5, 4)
