"""The rate encoder's pseudo-random numbers: a 16-bit Galois LFSR that hardware reproduces exactly.

Polynomial x^16 + x^14 + x^13 + x^11 + 1 (Galois taps mask ``0xB400``), maximal length 65,535. The
register starts from the NetSpec's ``rate_seed`` for every image and advances once per input value
and step, in the order the values stream (index 0 first, step 0 first). After each advance its
low ``bits`` bits are the random number ``r``; the input value ``x`` spikes when ``r < x``, so its
firing probability is ``x / 2**bits``.
"""

from __future__ import annotations

import numpy as np

TAPS = 0xB400
WIDTH = 16


def lfsr_next(state: int) -> int:
    """One Galois step: shift right, and XOR the taps in when the bit shifted out was 1."""
    out = state & 1
    state >>= 1
    return state ^ TAPS if out else state


def lfsr_sequence(seed: int, count: int) -> np.ndarray:
    """The ``count`` states after ``seed`` (the seed itself excluded), as uint16."""
    if not 1 <= seed <= 0xFFFF:
        raise ValueError(f"LFSR seed: expected 1..65535, found {seed}")
    states = np.empty(count, dtype=np.uint16)
    state = seed
    for position in range(count):
        state = lfsr_next(state)
        states[position] = state
    return states


def rate_thresholds(seed: int, timesteps: int, size: int, bits: int) -> np.ndarray:
    """The random numbers ``r[t, i]`` of one image, shape ``(timesteps, size)``, in ``[0, 2**bits)``."""
    states = lfsr_sequence(seed, timesteps * size).astype(np.int64)
    return (states & ((1 << bits) - 1)).reshape(timesteps, size)
