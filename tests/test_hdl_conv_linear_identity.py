"""Networks of linear layers only keep their Verilog byte for byte (the conv engines changed
nothing for them): the resource estimator is fitted on it and the slow co-simulations ran on it.

The digests were taken from ``generate_verilog`` before the conv2d and pooling engines existed.
A legitimate change to the linear engine's hardware must update them, and say so.
Updated for issue 6 (Fmax): select() and the emitter's priority encoder became trees, the
emitter keeps ``spike_mask != 0`` and "one spike left" as registers, the update fires on the sign
of the same ``V - θ`` it resets with, and the top registers ``position == 0``.
Updated again for issue 6: the engines register the words they read (stage 2 computes from
registers, with forwarding where one word can be issued twice in a row), fire on
``V + (bias - θ)`` beside ``V + bias``, clamp by the sum's top bits, register the spike mask in a
stage 3 before the emitter, and the readout registers its input event.
Updated for issue 5: graded spikes (here MT-LIF's) multiply by shift-add, not a multiplier.
Updated for issue 6 (iCE40 Fmax): an update registers its sums in stage 3, which clamps, fires,
resets and writes back (an accumulate still writes in stage 2); the top's image bookkeeping
takes the start and finish through registers and keeps "input blocked" as a register.
"""

import hashlib
import sys
from pathlib import Path

import pytest

from spikeforge.hdl.verilog import generate_verilog
from spikeforge.synthetic import random_netspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_hdl_network import kind_netspec  # noqa: E402

DIGESTS = {
    "64-128-10": (lambda: random_netspec(seed=1, sizes=(64, 128, 10), weight_bits=(1, 4),
                                         timesteps=8), [8, 10], False,
                  "ac7e6fe52e31cebf1ad90f7efff0eef48262cb8716d5cc896eda730e5f325aae"),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                        state_bits=(12, 8)), [1, 1], False,
                 "9b9500e2a58d46c0f7932ac46a626867a260d2d9b2e8a2d112335fca22b42bbd"),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3], False,
                   "bc8eeddef2c33e52817bf2a290f1f74f31275f23834f8e39037e591302ffa0e5"),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5], False,
                     "6472d335ba836709d1615c1d0dc259ccc407cc299d054dc2e6f297f6951373bc"),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5], False,
                        "e84b62ab82a786013db6e2d98f842dad4998846487e4603cf360220c032c56d7"),
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5], False,
                         "099a5c7a3b0ed7c8baff166da3ae055ed174ec0da6b5705905e894376a1fd24e"),
    "lif-rate-hierarchy": (lambda: kind_netspec(3, "lif", "rate"), [4, 5], True,
                           "f685f0da9b954e5ac6eccbf30a6a807e6bf785748339e6d4910ac98b108a97c2"),
}


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_linear_network_verilog_is_unchanged(case):
    make, lanes, hierarchy, digest = DIGESTS[case]
    text = generate_verilog(make(), lanes, hierarchy=hierarchy)
    assert hashlib.sha256(text.encode()).hexdigest() == digest
