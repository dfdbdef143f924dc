"""Networks of linear layers only keep their Verilog byte for byte (the conv engines changed
nothing for them): the resource estimator is fitted on it and the slow co-simulations ran on it.

The digests were taken from ``generate_verilog`` before the conv2d and pooling engines existed.
A legitimate change to the linear engine's hardware must update them, and say so.
Updated for issue 6 (Fmax): select() and the emitter's priority encoder became trees, the
emitter keeps ``spike_mask != 0`` and "one spike left" as registers, the update fires on the sign
of the same ``V - θ`` it resets with, and the top registers ``position == 0``.
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
                  "935028b3fbc7d34794b1e921f52952019792a20fd8ef61242fe0e6d782590e43"),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                        state_bits=(12, 8)), [1, 1], False,
                 "b8a97a3ac3fc67e0b93bf3f6c1b322db754dd90f09764aca446c027e6a09062d"),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3], False,
                   "f50123d1964105d312d024342ec87a3df11e0458e2bf11981b4ca1abedfdf193"),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5], False,
                     "b898bfca7a79bf4a50a982eea4f9f90a6c366dfa1f2f49a4c4f6da670878dd68"),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5], False,
                        "9888fcbb08d496c053254a28b575d4a4655e7ff61a79435662fc5546a3ff5f58"),
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5], False,
                         "f8c2c6cbedcb8f9ed59479183aa590a2a57a8b06b9db0f465777a9f4255c4250"),
    "lif-rate-hierarchy": (lambda: kind_netspec(3, "lif", "rate"), [4, 5], True,
                           "2b1c6d8301d4caeb406245a68cc538e5a1afac547064f314ee1dbad9007a60bb"),
}


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_linear_network_verilog_is_unchanged(case):
    make, lanes, hierarchy, digest = DIGESTS[case]
    text = generate_verilog(make(), lanes, hierarchy=hierarchy)
    assert hashlib.sha256(text.encode()).hexdigest() == digest
