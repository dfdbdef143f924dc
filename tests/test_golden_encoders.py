"""Encoders: the LFSR, rate, latency, hybrid and event binning, against hand-worked values."""

import numpy as np
import pytest
import torch

from spikeforge.golden import run
from spikeforge.golden.encoders import encode, hybrid, latency, rate
from spikeforge.golden.events import bin_events, synthetic_events
from spikeforge.lfsr import lfsr_next, lfsr_sequence, rate_thresholds
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec


def test_lfsr_first_states_by_hand():
    # 0xACE1 = 1010110011100001: lsb 1 -> shift to 0x5670, xor 0xB400 -> 0xE270
    assert lfsr_next(0xACE1) == 0xE270
    assert lfsr_next(0xE270) == 0x7138  # lsb 0: plain shift
    assert lfsr_sequence(0xACE1, 2).tolist() == [0xE270, 0x7138]


def test_lfsr_is_maximal_length():
    states = lfsr_sequence(1, 65535)
    assert len(set(states.tolist())) == 65535 and states[-1] == 1


def test_rate_spikes_where_the_random_number_is_below_the_value():
    r = rate_thresholds(0xACE1, 3, 4, 5)
    images = torch.tensor([[0, 31, 16, 5]])
    spikes = rate(images, 3, 5, 0xACE1)
    assert spikes.shape == (3, 1, 4)
    assert spikes[:, 0, 0].sum() == 0  # a zero never fires
    assert spikes[:, 0, 1].tolist() == (torch.from_numpy(r[:, 1]) < 31).to(torch.int64).tolist()
    # Over many steps the firing rate is x / 2**bits.
    many = rate(torch.tensor([[8]]), 4096, 5, 0xACE1).float().mean()
    assert abs(float(many) - 8 / 32) < 0.02


def test_latency_brighter_fires_earlier_and_once():
    spikes = latency(torch.tensor([[16, 8, 1, 0]]), 5, 16)
    when = [int(torch.nonzero(spikes[:, 0, i]).flatten()[0]) if spikes[:, 0, i].any() else None
            for i in range(4)]
    assert when == [0, 2, 3, None]  # (16-x)*4//16
    assert spikes.sum(axis=0)[0].tolist() == [1, 1, 1, 0]


def test_hybrid_is_direct_then_latency():
    out = hybrid(torch.tensor([[16, 4, 0]]), 4, 16)
    assert out[0, 0].tolist() == [16, 4, 0]
    assert out[1:, 0, 0].tolist() == [1, 0, 0]  # brightest at step 1
    assert out[1:, 0, 1].tolist() == [0, 1, 0]  # step 1 + ((16-4)*2)//16 = 2
    assert out[1:, 0, 2].sum() == 0


def test_event_binning_counts_and_reports_saturation():
    events = np.zeros(4, dtype=[("x", np.int32), ("y", np.int32), ("t", np.int64), ("p", np.int8)])
    events["x"], events["y"], events["t"], events["p"] = [0, 0, 0, 1], [0, 0, 0, 1], [0, 10, 60, 99], [1, 1, 1, 0]
    binned = bin_events(events, height=2, width=2, timesteps=2, duration=100, max_value=1)
    # ON plane starts at 4; index of (x0,y0,ON) = 4; (x1,y1,OFF) = 3.
    assert binned.counts[0, 4] == 1 and binned.saturated == 1  # two events clipped to max 1
    assert binned.counts[1, 4] == 1 and binned.counts[1, 3] == 1


def test_event_outside_the_sensor_is_named():
    events = synthetic_events(4, 4, 1000, 10, seed=1)
    events["x"][3] = 9
    with pytest.raises(ValueError, match=r"event 3: field 'x' = 9, expected 0..3"):
        bin_events(events, 4, 4, 4, 1000, 3)


def test_synthetic_events_run_through_a_network():
    events = synthetic_events(4, 6, 10_000, 500, seed=2)
    binned = bin_events(events, 4, 6, timesteps=5, duration=10_000, max_value=7)
    layer = LayerSpec("fc", "linear", np.ones((3, 48), dtype=np.int64), 2, np.zeros(3, np.int64),
                      NeuronSpec("if", threshold=20, state_bits=12))
    spec = NetSpec(InputSpec(48, "events", 3, 7), (layer,), 5).validate()
    result = run(spec, binned.counts[None])
    assert result.counts.shape == (1, 3) and result.counts.sum() > 0
    assert result.accumulates[0] == (binned.counts != 0).sum() * 3


def test_encode_checks_shapes_per_encoding():
    spec_input = InputSpec(4, "events", 3, 7)
    with pytest.raises(ValueError, match=r"encoding 'events': expected shape \(batch, 5, 4\), found \(2, 4\)"):
        encode(spec_input, np.zeros((2, 4), np.int64), 5)
