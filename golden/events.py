"""Event streams (x, y, t, polarity), a synthetic generator, and their compression into T bins.

Event cameras emit sparse (x, y, t, p) tuples. The ``"events"`` encoding bins them
spatio-temporally: step ``t`` of the network receives, for every pixel and polarity, the number of
events that fell in the ``t``-th of ``T`` equal time windows. That count is the synaptic input
current value of the step. Counts above the NetSpec's ``max_value`` saturate. :func:`bin_events`
returns how many values did so, and never clips in silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVENT_DTYPE = np.dtype([("x", np.int32), ("y", np.int32), ("t", np.int64), ("p", np.int8)])


def synthetic_events(height: int, width: int, duration: int, count: int, seed: int = 0) -> np.ndarray:
    """A moving bright bar with background noise: ``count`` events sorted by time (µs).

    ON events (p = 1) lead the bar and OFF events (p = 0) trail it; a tenth of the events are
    uniform noise. Deterministic for a seed; no data set is needed.
    """
    rng = np.random.default_rng(seed)
    events = np.zeros(count, dtype=EVENT_DTYPE)
    t = np.sort(rng.integers(0, duration, count))
    position = (t * width) // max(duration, 1)
    noise = rng.random(count) < 0.1
    polarity = rng.integers(0, 2, count)
    x = np.where(noise, rng.integers(0, width, count), np.clip(position + polarity - 1, 0, width - 1))
    events["x"], events["y"], events["t"] = x, rng.integers(0, height, count), t
    events["p"] = polarity
    return events


@dataclass
class BinnedEvents:
    """Binned counts ``(T, 2·height·width)`` (OFF plane, then ON plane) and how many saturated."""

    counts: np.ndarray
    saturated: int


def bin_events(events: np.ndarray, height: int, width: int, timesteps: int, duration: int,
               max_value: int) -> BinnedEvents:
    """Spatio-temporal compression of one event stream into ``timesteps`` bins.

    Bin of an event: ``t · T // duration``. Input index: ``p·H·W + y·W + x``.

    Raises
    ------
    ValueError
        For an event outside the sensor, the time window or with a polarity other than 0/1.
    """
    for field, limit in (("x", width), ("y", height), ("t", duration)):
        bad = np.flatnonzero((events[field] < 0) | (events[field] >= limit))
        if bad.size:
            raise ValueError(f"event {bad[0]}: field '{field}' = {events[field][bad[0]]}, "
                             f"expected 0..{limit - 1}")
    bad = np.flatnonzero((events["p"] != 0) & (events["p"] != 1))
    if bad.size:
        raise ValueError(f"event {bad[0]}: polarity {events['p'][bad[0]]}, expected 0 or 1")
    bins = (events["t"] * timesteps) // duration
    index = events["p"].astype(np.int64) * height * width + events["y"] * width + events["x"]
    counts = np.zeros((timesteps, 2 * height * width), dtype=np.int64)
    np.add.at(counts, (bins, index), 1)
    saturated = int((counts > max_value).sum())
    return BinnedEvents(np.minimum(counts, max_value), saturated)
