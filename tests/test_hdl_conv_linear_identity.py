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
Updated for issue 6 (iCE40 at 48 MHz): a two-entry queue between the input buffer and the first
layer; the input buffer keeps "at the marker" as a register and its store is not transparent;
accumulates also write back from stage 3 (forwarded where a word can come back within two
cycles); stage 2 ORs its addends (each zero when not its phase); stage 3 keeps "last group" as a
flag; one group's engine takes an event's last issue as a constant.
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
                  "acdd3a9f1f6c39237e0d619ddbec20c3e7fc9e5a7bff0fb84cc5498c143f73fa"),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                        state_bits=(12, 8)), [1, 1], False,
                 "af1b8f970a9c879d5a8dd3e3e56405f308e9d5df233a9f57fcca358bd5d15f62"),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3], False,
                   "b68965715cd0c539f535ba94e5aab6f8bc07161ac0013d9a4afc69c5cce6051a"),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5], False,
                     "7328531dafb96d3f707a491d3ca764b64d00c4597107d09dda41d34991b084fc"),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5], False,
                        "8a866dce43a25528df40af52f5e50890adb898fb3073cbd7f1f236534f5b34bf"),
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5], False,
                         "cf4f6e9d53b133b07452910a1883a192ecc3cf6a4dc4b6c8cdd1fdf58d61a233"),
    "lif-rate-hierarchy": (lambda: kind_netspec(3, "lif", "rate"), [4, 5], True,
                           "ee04e2170a03c5211711d7e4c223f0eea06edc41f31a101d09c944459d7a8b74"),
}


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_linear_network_verilog_is_unchanged(case):
    make, lanes, hierarchy, digest = DIGESTS[case]
    text = generate_verilog(make(), lanes, hierarchy=hierarchy)
    assert hashlib.sha256(text.encode()).hexdigest() == digest
