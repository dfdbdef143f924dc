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
                  "2c268a436f302f6a9bf7d2b135251472ded1d011407d0b4668cf0191e6c32919"),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                        state_bits=(12, 8)), [1, 1], False,
                 "9baf79c80066306004333e75400f74fd448124f6bd6fdf10d3ecd83164e59d66"),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3], False,
                   "cac950bbdeb35f4af62ff145e99ea77a330b455c965d69642daddc1b289d5f8c"),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5], False,
                     "a580d0cbc46e6a84d385faa286551dc9f45d335162918bf22db446d767cc423e"),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5], False,
                        "0ff6da495108b07b2c959d67dc7324ae4c4efdb8c9338546c360f6e82a8881be"),
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5], False,
                         "5290aba7fd4ff23988fe96f0b2e89d4207c4d43cea1b3bf991875ef1bfac46b5"),
    "lif-rate-hierarchy": (lambda: kind_netspec(3, "lif", "rate"), [4, 5], True,
                           "4f0e3385d1510970e481d330fe4b40f76fef97099d092300219ff0ce7dbd49f7"),
}


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_linear_network_verilog_is_unchanged(case):
    make, lanes, hierarchy, digest = DIGESTS[case]
    text = generate_verilog(make(), lanes, hierarchy=hierarchy)
    assert hashlib.sha256(text.encode()).hexdigest() == digest
