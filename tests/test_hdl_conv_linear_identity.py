"""Networks of linear layers only keep their Verilog byte for byte (the conv engines changed
nothing for them): the resource estimator is fitted on it and the slow co-simulations ran on it.

The digests were taken from ``generate_verilog`` before the conv2d and pooling engines existed.
A legitimate change to the linear engine's hardware must update them, and say so.
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
                  "dc9a9ea9aa632d8cefb072c94d067d32f55748ffc18ae782960d16dee4c33af4"),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                        state_bits=(12, 8)), [1, 1], False,
                 "1e7706903c7b1714a314a1fbbc9d48d8c77002651385dd1374acfd1665e26261"),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3], False,
                   "d2041143be505d7029323f8f6db8b9cbb70b172c798c7d19d51d0ccb96735057"),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5], False,
                     "051192815602bd4ed0d869cefc3359c247c4293f04cf1a1b19678c5e0b669bf7"),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5], False,
                        "473ea11d91d8f7be3001d2ccd7f09c159c9e70667c7e39d75e0915e8fe050db5"),
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5], False,
                         "98e0bab8b0fbca3fc7b40d5a1f0e97a5b8aa68a1566ef096ab859fd9ddec501b"),
    "lif-rate-hierarchy": (lambda: kind_netspec(3, "lif", "rate"), [4, 5], True,
                           "94edb61b9872ee16b874b520207ef79b85212daf17859fa91db2006e53648a6d"),
}


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_linear_network_verilog_is_unchanged(case):
    make, lanes, hierarchy, digest = DIGESTS[case]
    text = generate_verilog(make(), lanes, hierarchy=hierarchy)
    assert hashlib.sha256(text.encode()).hexdigest() == digest
