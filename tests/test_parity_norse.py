"""Parity with Norse's LIF (LIFBox) where the semantics coincide, and the settings that make them.

Norse's box LIF: ``v ← v + dt·τ⁻¹·(input + v_leak − v)``, spike when ``v − v_th > 0`` (strict),
hard reset to ``v_reset``. With ``dt = 1``, ``τ⁻¹ = 1 − β``, ``v_leak = 0`` and the input scaled
by ``1 / (1 − β)`` this is ``v ← β·v + I``: spikeforge's float LIF with ``quantized=False`` and
reset ``"zero"``. Our comparison is ``V >= θ`` and Norse's ``V > v_th``: for dyadic values with
at most ``F`` fractional bits they agree when ``v_th = θ − 2**-(F + 1)``. With ``β = 0`` (factor 0)
the same settings reproduce the *integer* LIF exactly.
"""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

# scripts/setup.sh installs Norse with --no-deps: its torchvision requirement would replace the
# CPU torch with a CUDA build, and the LIF code needs none of it.
import norse.torch.functional.lif_box as norse_lif_box

from spikeforge.golden.float_neurons import lif_step_float
from spikeforge.golden.neurons import IFParams, LeakParams, lif_step

MAX_STEPS = 8
EPS = 2.0 ** -(2 * MAX_STEPS + 2)  # below the finest fraction β = 1/4 can create in 8 steps


def _norse_params(beta: float, threshold: int):
    return norse_lif_box.LIFBoxParameters(
        tau_mem_inv=torch.tensor(1.0 - beta, dtype=torch.float64),
        v_leak=torch.tensor(0.0, dtype=torch.float64),
        v_th=torch.tensor(threshold - EPS, dtype=torch.float64),
        v_reset=torch.tensor(0.0, dtype=torch.float64),
        method="heaviside")


def _norse_run(currents, beta, threshold):
    state = norse_lif_box.LIFBoxFeedForwardState(v=torch.zeros(1, dtype=torch.float64))
    params = _norse_params(beta, threshold)
    out = []
    for current in currents:
        drive = torch.tensor([current / (1.0 - beta)], dtype=torch.float64)
        z, state = norse_lif_box.lif_box_feed_forward_step(drive, state, params, dt=1.0)
        out.append((int(z), float(state.v)))
    return out


@settings(max_examples=150, deadline=None)
@given(currents=st.lists(st.integers(-20, 20), min_size=1, max_size=MAX_STEPS),
       threshold=st.integers(1, 30), beta=st.sampled_from([0.5, 0.75]))
def test_float_lif_equals_norse_lif_box(currents, threshold, beta):
    ours = []
    v = torch.zeros(1, dtype=torch.float64)
    for current in currents:
        s, v = lif_step_float(torch.tensor([float(current)], dtype=torch.float64), v,
                              torch.tensor(float(threshold), dtype=torch.float64), beta,
                              reset="zero", quantized=False)
        ours.append((int(s), float(v)))
    assert ours == _norse_run(currents, beta, threshold)


@settings(max_examples=100, deadline=None)
@given(currents=st.lists(st.integers(-50, 50), min_size=1, max_size=MAX_STEPS),
       threshold=st.integers(1, 40))
def test_integer_lif_without_memory_equals_norse(currents, threshold):
    ours = []
    v = torch.zeros(1, dtype=torch.int64)
    for current in currents:
        s, v = lif_step(torch.tensor([current]), v, IFParams(threshold, "zero"),
                        LeakParams("factor", factor=0, frac_bits=4))
        ours.append((int(s), float(v)))
    assert ours == _norse_run(currents, 0.0, threshold)


def test_where_they_differ_norse_strict_threshold():
    """At exactly θ we fire and Norse (with v_th = θ) does not: hence the v_th offset."""
    state = norse_lif_box.LIFBoxFeedForwardState(v=torch.zeros(1, dtype=torch.float64))
    params = norse_lif_box.LIFBoxParameters(
        tau_mem_inv=torch.tensor(0.5, dtype=torch.float64), v_leak=torch.tensor(0.0, dtype=torch.float64),
        v_th=torch.tensor(5.0, dtype=torch.float64), v_reset=torch.tensor(0.0, dtype=torch.float64),
        method="heaviside")
    z, _ = norse_lif_box.lif_box_feed_forward_step(torch.tensor([10.0], dtype=torch.float64), state,
                                                   params, dt=1.0)
    s, _ = lif_step_float(torch.tensor([5.0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                          torch.tensor(5.0, dtype=torch.float64), 0.5, reset="zero", quantized=False)
    assert int(z) == 0 and int(s) == 1
