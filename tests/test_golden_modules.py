"""Stateful wrappers around the pure neuron steps."""

import doctest

import torch

from spikeforge.golden import modules
from spikeforge.golden.float_neurons import if_step_float
from spikeforge.golden.modules import StatefulNeuron
from spikeforge.golden.neurons import IFParams, adaptive_step


def test_docstring_example():
    assert doctest.testmod(modules).failed == 0


def test_reset_restarts_membrane_and_time():
    decay, gain = [4, 0], [4, 4]
    neuron = StatefulNeuron(lambda t, i, v: adaptive_step(i, v, IFParams(10), decay[t], gain[t], 2))
    assert [int(neuron(torch.tensor([6]))) for _ in range(2)] == [0, 0]  # λ_1 = 0 forgets
    assert int(neuron.membrane) == 6 and neuron.time == 2
    neuron.reset()
    assert neuron.membrane is None and neuron.time == 0


def test_float_steps_train_through_the_wrapper():
    weight = torch.tensor(2.0, requires_grad=True)
    neuron = StatefulNeuron(lambda t, i, v: if_step_float(i, v, torch.tensor(5.0)))
    total = sum(neuron(weight * torch.ones(1)) for _ in range(4))
    total.sum().backward()
    assert weight.grad is not None and float(weight.grad) != 0.0
