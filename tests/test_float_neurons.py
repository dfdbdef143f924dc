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
