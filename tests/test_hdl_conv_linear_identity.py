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
layer; the input buffer keeps "at the marker" as a register and writes every value it loads;
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
                  "055ab2907cdf7519e59113bee9384229b83b03d0e94221ce89ca1e014a3156b1"),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                        state_bits=(12, 8)), [1, 1], False,
                 "cccaab9f8e3ccaf33e66c3fe7edbf81a892ac041561d7c733be6885edc67578d"),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3], False,
                   "487e586b9f960133858b8dc799ec51c4fbb940238e041cbad905416e6a143a23"),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5], False,
                     "1c0dcc2f3c05196e9e5333db64101dc20828d09994194e3be9f6944eaebd7f63"),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5], False,
                        "6d3e660b005171dad69b47ed7f657c56b24803cf76d60338b6fd70541df44d9a"),
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5], False,
                         "6e827874f1068de1846d8a7edede2fbdca4aaa2ea01fe94fb071d06d263502f3"),
    "lif-rate-hierarchy": (lambda: kind_netspec(3, "lif", "rate"), [4, 5], True,
                           "4aae6d115a0a043578cd26414b7a7e2ff9086cdadbc80a8bd5907961c6a45bb6"),
}


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_linear_network_verilog_is_unchanged(case):
    make, lanes, hierarchy, digest = DIGESTS[case]
    text = generate_verilog(make(), lanes, hierarchy=hierarchy)
    assert hashlib.sha256(text.encode()).hexdigest() == digest
