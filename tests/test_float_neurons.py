"""The float training neuron equals the integer step on integer values, and has a gradient."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.golden.float_neurons import if_step_float
from spikeforge.golden.neurons import IFParams, if_step


@settings(max_examples=200, deadline=None)
@given(currents=st.lists(st.integers(-300, 300), min_size=1, max_size=12),
       threshold=st.integers(1, 200), reset=st.sampled_from(["subtract", "zero"]))
def test_float_step_matches_integer_step(currents, threshold, reset):
    v_int = torch.zeros(1, dtype=torch.int64)
    v_float = torch.zeros(1, dtype=torch.float32)
    for current in currents:
        s_int, v_int = if_step(torch.tensor([current]), v_int, IFParams(threshold, reset))
        s_float, v_float = if_step_float(torch.tensor([float(current)]), v_float,
                                         torch.tensor(float(threshold)), reset)
        assert int(s_float) == int(s_int)
        assert float(v_float) == float(v_int)


def test_exactly_at_threshold_fires():
    s, v = if_step_float(torch.tensor([5.0]), torch.tensor([0.0]), torch.tensor(5.0))
    assert float(s) == 1.0 and float(v) == 0.0


def test_surrogate_gradient_reaches_current_and_threshold():
    current = torch.tensor([4.0], requires_grad=True)
    threshold = torch.tensor(5.0, requires_grad=True)
    s, _ = if_step_float(current, torch.zeros(1), threshold)
    s.sum().backward()
    assert float(s.detach()) == 0.0
    assert current.grad is not None and float(current.grad) > 0
    assert threshold.grad is not None and float(threshold.grad) < 0


# ---- leaky, multi-threshold and adaptive neurons: float == integer on integer values ----------

import pytest  # noqa: E402

from spikeforge.golden.float_neurons import (SURROGATES, adaptive_step_float,  # noqa: E402
                                             if_step_float as _if, lif_step_float,
                                             mtlif_step_float, shift_leak_float)
from spikeforge.golden.neurons import (LeakParams, adaptive_step, lif_step,  # noqa: E402
                                       mtlif_step)

CURRENTS = st.lists(st.integers(-300, 300), min_size=1, max_size=10)


@settings(max_examples=150, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 200), factor=st.integers(0, 16))
def test_lif_factor_leak_float_matches_integer(currents, threshold, factor):
    params = IFParams(threshold)
    v_int = torch.zeros(1, dtype=torch.int64)
    v_f = torch.zeros(1, dtype=torch.float64)
    for current in currents:
        s_int, v_int = lif_step(torch.tensor([current]), v_int, params, LeakParams("factor", factor=factor, frac_bits=4))
        s_f, v_f = lif_step_float(torch.tensor([float(current)], dtype=torch.float64), v_f,
                                  torch.tensor(float(threshold), dtype=torch.float64), factor / 16)
        assert (int(s_f), float(v_f)) == (int(s_int), float(v_int))


@settings(max_examples=150, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 200), shift=st.integers(1, 6))
def test_lif_shift_leak_float_matches_integer(currents, threshold, shift):
    params = IFParams(threshold)
    v_int = torch.zeros(1, dtype=torch.int64)
    v_f = torch.zeros(1, dtype=torch.float64)
    for current in currents:
        s_int, v_int = lif_step(torch.tensor([current]), v_int, params, LeakParams("shift", shift=shift))
        s_f, v_f = _if(torch.tensor([float(current)], dtype=torch.float64), shift_leak_float(v_f, shift),
                       torch.tensor(float(threshold), dtype=torch.float64))
        assert (int(s_f), float(v_f)) == (int(s_int), float(v_int))


@settings(max_examples=150, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 60), levels=st.integers(1, 7),
       surrogate=st.sampled_from(SURROGATES), reset=st.sampled_from(["subtract", "zero"]))
def test_mtlif_float_matches_integer(currents, threshold, levels, surrogate, reset):
    params = IFParams(threshold, reset)
    v_int = torch.zeros(1, dtype=torch.int64)
    v_f = torch.zeros(1, dtype=torch.float64)
    for current in currents:
        s_int, v_int = mtlif_step(torch.tensor([current]), v_int, params, LeakParams(), levels)
        s_f, v_f = mtlif_step_float(torch.tensor([float(current)], dtype=torch.float64), v_f,
                                    float(threshold), levels, reset=reset, surrogate=surrogate)
        assert (int(s_f), float(v_f)) == (int(s_int), float(v_int))


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(-300, 300), st.integers(0, 8), st.integers(0, 32)),
                      min_size=1, max_size=10), threshold=st.integers(1, 200))
def test_adaptive_float_matches_integer(steps, threshold):
    params = IFParams(threshold)
    v_int = torch.zeros(1, dtype=torch.int64)
    v_f = torch.zeros(1, dtype=torch.float64)
    for current, decay, gain in steps:
        s_int, v_int = adaptive_step(torch.tensor([current]), v_int, params, decay, gain, 3)
        s_f, v_f = adaptive_step_float(torch.tensor([float(current)], dtype=torch.float64), v_f,
                                       float(threshold), decay / 8, gain / 8)
        assert (int(s_f), float(v_f)) == (int(s_int), float(v_int))


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


@settings(max_examples=100, deadline=None)
@given(currents=CURRENTS, threshold=st.integers(1, 100), phase=st.integers(1, 3))
def test_bistable_float_matches_integer(currents, threshold, phase):
    from spikeforge.golden.float_neurons import bistable_step_float
    from spikeforge.golden.neurons import bistable_fire, bistable_integrate
    from spikeforge.schedule import INTEGRATE, bistable_mode

    params = IFParams(threshold)
    v_int = torch.zeros(1, dtype=torch.int64)
    v_f = torch.zeros(1, dtype=torch.float64)
    for t, current in enumerate(currents):
        integrate = bistable_mode(0, t, phase) == INTEGRATE
        if integrate:
            s_int, v_int = bistable_integrate(torch.tensor([current]), v_int, params)
        else:
            s_int, v_int = bistable_fire(v_int, params)
        s_f, v_f = bistable_step_float(torch.tensor([float(current)], dtype=torch.float64), v_f,
                                       torch.tensor(float(threshold), dtype=torch.float64), integrate)
        assert (int(s_f), float(v_f)) == (int(s_int), float(v_int))


def test_trained_decay_quantizes_to_factor_and_shift():
    from spikeforge.golden.float_neurons import decay_to_factor, decay_to_shift
    assert decay_to_factor(0.75, 4) == 12
    assert decay_to_shift(0.75) == 2 and decay_to_shift(0.9) == 3
    with pytest.raises(ValueError, match=r"decay: expected a value in \[0, 1\], found 1.5"):
        decay_to_factor(1.5, 4)
