"""Energy model: hand-computed cases, per-step floor, add/MAC split, ANN reference, errors."""

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.bounds import analyse
from spikeforge.energy import (HOROWITZ_45NM, Cost, EnergyError, EnergyTable, default_lanes,
                               estimate_energy)
from spikeforge.golden import run
from spikeforge.netspec import InputSpec, LayerSpec, NetSpec, NeuronSpec
from spikeforge.synthetic import random_netspec

READ_BIT = 10.0 / 64  # Horowitz: 64-bit read of an 8 KB SRAM, 10 pJ


def _tiny() -> NetSpec:
    """2 inputs (direct, 2 bits, max 3) -> 3 IF (int3 weights) -> 2 IF (binary, scale 1), T = 2."""
    fc1 = LayerSpec("fc1", "linear", np.array([[1, 1], [-1, 2], [2, -2]]), 3, np.zeros(3, np.int64),
                    NeuronSpec("if", 2, "subtract", 8))
    fc2 = LayerSpec("fc2", "linear", np.array([[1, -1, 1], [-1, 1, 1]]), 1, np.zeros(2, np.int64),
                    NeuronSpec("if", 1, "subtract", 8))
    return NetSpec(InputSpec(2, "direct", 2, 3), (fc1, fc2), 2, name="tiny").validate()


def _unit_table() -> EnergyTable:
    """Round numbers: add(b) = 1 + (b - 8) / 8 pJ, mult(a, b) = a*b pJ, 1 pJ per SRAM bit."""
    costs = {"int_add_8": 1.0, "int_add_32": 4.0, "int_mult_8": 64.0, "int_mult_32": 1024.0,
             "fp32_add": 1.0, "fp32_mult": 1.0, "sram_read_8kb_64bit": 64.0,
             "sram_write_8kb_64bit": 64.0}
    return EnergyTable("unit", {key: Cost(value, "test") for key, value in costs.items()})


def test_tiny_network_by_hand():
    spec = _tiny()
    # Preconditions the hand computation below rests on: 8-bit membrane registers, no saturation.
    assert [(b.sum_bits, b.saturates) for b in analyse(spec)] == [(8, False), (8, False)]
    result = run(spec, np.array([[3, 0], [0, 0]]))
    # Image 0: x = (3, 0): fc1 gets 1 event per step, I = (3, -3, 6): neurons 0 and 2 fire at both
    # steps; fc2 gets 2 events per step. Image 1 is all zero: no events anywhere.
    assert result.accumulates.tolist() == [6, 8]
    assert result.multiply_accumulates.tolist() == [6, 0]
    report = estimate_energy(spec, result, lanes=[2, 2], table=_unit_table())
    fc1, fc2 = report.layers
    # fc1, per image: 1 event, 3 MACs (3x2-bit multiply 6 pJ + 8-bit add 1 pJ), G = 2 groups of
    # P = 2 lanes. Weight reads: 2 x (2 x 3 bits); membrane RMW per (event, group): 2 x 16 bits x 2;
    # per step (T = 2): 4 group-steps of membrane RMW (16 bits x 2) and bias read (16 bits), and
    # 8 lane-steps of 3 adds (bias, compare, subtract).
    assert fc1["counts"]["events"] == 1 and fc1["counts"]["macs"] == 3 and fc1["groups"] == 2
    assert fc1["snn_pj"] == {"adds": 0.0, "macs": 21.0, "neuron": 24.0, "memory": 268.0,
                             "total": 313.0}
    assert fc1["snn_memory_pj"] == {"weight_reads": 12.0, "membrane_accumulate": 64.0,
                                    "membrane_update": 128.0, "bias_reads": 64.0}
    assert fc1["snn_split_pj"] == {"event_driven": 97.0, "per_step": 216.0}
    # fc2, per image: 2 events, 4 adds of 1 pJ, G = 1. Weight reads 2 x 2 bits; membrane RMW
    # 2 x 16 x 2; per step: 2 x (16 x 2 + 16) memory, 4 lane-steps x 3 adds.
    assert fc2["snn_pj"] == {"adds": 4.0, "macs": 0.0, "neuron": 12.0, "memory": 164.0,
                             "total": 180.0}
    assert fc2["snn_memory_pj"] == {"weight_reads": 4.0, "membrane_accumulate": 64.0,
                                    "membrane_update": 64.0, "bias_reads": 32.0}
    assert report.snn["total"] == 493.0
    assert report.snn["per_step"] == 216.0 + 108.0


def test_tiny_network_horowitz_by_hand():
    spec = _tiny()
    report = estimate_energy(spec, run(spec, np.array([[3, 0], [0, 0]])), lanes=[2, 2])
    add8, mult_3x2 = 0.03, 0.2 + 2.9 * (6 - 64) / 960
    # Memory in bits: weight reads 12, membrane RMW (accumulate) 32 read + 32 written,
    # membrane update 64 read + 64 written, bias 64 read; read and write cost the same per bit.
    # MACs, then neuron updates (8 lane-steps x 3 adds), then the memory bits.
    fc1 = 3 * (mult_3x2 + add8) + 8 * 3 * add8 + (12 + 64 + 128 + 64) * READ_BIT
    fc2 = 4 * add8 + 4 * 3 * add8 + (4 + 64 + 64 + 32) * READ_BIT
    assert report.layers[0]["snn_pj"]["total"] == pytest.approx(fc1, rel=1e-12)
    assert report.layers[1]["snn_pj"]["total"] == pytest.approx(fc2, rel=1e-12)
    assert report.snn["total"] == pytest.approx(fc1 + fc2, rel=1e-12)


def test_interpolation_hits_the_table_points():
    table = HOROWITZ_45NM
    assert table.int_add(8) == pytest.approx(0.03) and table.int_add(32) == pytest.approx(0.1)
    assert table.int_add(20) == pytest.approx(0.065)          # linear in the width
    assert table.int_mult(8, 8) == pytest.approx(0.2) and table.int_mult(32, 32) == pytest.approx(3.1)
    assert table.int_mult(16, 16) == pytest.approx(0.2 + 2.9 * 192 / 960)  # quadratic in the width
    assert table.int_mult(4, 16) == pytest.approx(table.int_mult(8, 8))   # product of the widths
    assert table.int_add(1) > 0 and table.int_mult(1, 1) > 0
    assert table.sram_read_bit == pytest.approx(READ_BIT)
    for key, cost in table.costs.items():
        assert "Horowitz" in cost.source and "ISSCC 2014" in cost.source, key
    assert "assumption" in table.costs["sram_write_8kb_64bit"].source


def test_zero_activity_costs_only_the_per_step_update():
    spec = random_netspec(seed=3, sizes=(20, 12, 5), weight_bits=(4, 1), timesteps=5)
    report = estimate_energy(spec, run(spec, np.zeros((3, 20), np.int64)))
    lanes = default_lanes(spec)
    expected_total = 0.0
    for layer, entry, bound, p in zip(spec.layers, report.layers, analyse(spec), lanes):
        g = -(-layer.n_out // p)
        width = bound.sum_bits
        adds = 3 + (2 if bound.saturates else 0)
        per_step = spec.timesteps * g * (p * width * (2 * READ_BIT + READ_BIT)
                                         + p * adds * HOROWITZ_45NM.int_add(width))
        assert entry["snn_pj"]["adds"] == 0 and entry["snn_pj"]["macs"] == 0
        assert entry["snn_memory_pj"]["weight_reads"] == 0
        assert entry["snn_memory_pj"]["membrane_accumulate"] == 0
        assert entry["snn_split_pj"]["event_driven"] == pytest.approx(0, abs=1e-9)
        assert entry["snn_pj"]["total"] == pytest.approx(per_step, rel=1e-12)
        expected_total += per_step
    assert report.snn["total"] == pytest.approx(expected_total, rel=1e-12)
    assert report.snn["per_step"] == pytest.approx(expected_total, rel=1e-12)


def test_mac_and_add_split_follows_multiply_accumulates():
    spec = random_netspec(seed=5, sizes=(16, 8, 4), weight_bits=(4, 4), timesteps=4)
    images = np.random.default_rng(0).integers(0, 17, (6, 16))
    result = run(spec, images)
    assert result.multiply_accumulates[0] == result.accumulates[0] > 0  # direct input: MACs
    assert result.multiply_accumulates[1] == 0 < result.accumulates[1]  # spikes: adds
    report = estimate_energy(spec, result)
    bounds = analyse(spec)
    table = HOROWITZ_45NM
    fc1, fc2 = report.layers
    add1, add2 = table.int_add(bounds[0].sum_bits), table.int_add(bounds[1].sum_bits)
    macs = result.multiply_accumulates[0] / 6
    assert fc1["snn_pj"]["macs"] == pytest.approx(macs * (table.int_mult(4, 5) + add1), rel=1e-12)
    assert fc1["snn_pj"]["adds"] == 0
    assert fc2["snn_pj"]["adds"] == pytest.approx(result.accumulates[1] / 6 * add2, rel=1e-12)
    assert fc2["snn_pj"]["macs"] == 0
    # The same accumulates declared as plain adds: the multiplies disappear, nothing else changes.
    as_adds = dataclasses.replace(result, multiply_accumulates=np.zeros(2, np.int64))
    plain = estimate_energy(spec, as_adds).layers[0]
    assert plain["snn_pj"]["macs"] == 0
    assert plain["snn_pj"]["adds"] == pytest.approx(macs * add1, rel=1e-12)
    assert fc1["snn_pj"]["total"] - plain["snn_pj"]["total"] == pytest.approx(
        macs * table.int_mult(4, 5), rel=1e-9)
    assert plain["snn_memory_pj"] == fc1["snn_memory_pj"]


def test_binary_weights_share_one_product_per_event_and_group():
    spec = random_netspec(seed=2, sizes=(10, 6, 3), weight_bits=(1, 4), timesteps=3, binary_scale=3)
    result = run(spec, np.random.default_rng(1).integers(0, 17, (2, 10)))
    entry = estimate_energy(spec, result, lanes=[2, 3]).layers[0]
    events = result.accumulates[0] / 6 / 2
    add = HOROWITZ_45NM.int_add(analyse(spec)[0].sum_bits)
    # Per (event, group): one 5-bit value x 2-bit scale product; per synapse an add/subtract.
    expected = events * 6 * add + events * 3 * HOROWITZ_45NM.int_mult(5, 2)
    assert entry["snn_pj"]["macs"] == pytest.approx(expected, rel=1e-12)
    # A power-of-two scale is a shift: no multiply at all.
    spec2 = random_netspec(seed=2, sizes=(10, 6, 3), weight_bits=(1, 4), timesteps=3, binary_scale=2)
    result2 = run(spec2, np.random.default_rng(1).integers(0, 17, (2, 10)))
    entry2 = estimate_energy(spec2, result2).layers[0]
    assert entry2["counts"]["multiplies"] == 0
    assert entry2["snn_pj"]["macs"] == pytest.approx(
        result2.accumulates[0] / 2 * HOROWITZ_45NM.int_add(analyse(spec2)[0].sum_bits), rel=1e-12)


def test_ann_reference_computed_independently():
    spec = random_netspec(seed=1, sizes=(30, 20, 7), weight_bits=(1, 4), timesteps=6)
    report = estimate_energy(spec, run(spec, np.full((2, 30), 9)))
    synapses = 30 * 20 + 20 * 7
    fp32 = synapses * (3.7 + 0.9) + synapses * 32 * READ_BIT
    int8 = synapses * (0.2 + 0.1) + synapses * 8 * READ_BIT
    assert report.ann["fp32"]["total"] == pytest.approx(fp32, rel=1e-12)
    assert report.ann["int8"]["total"] == pytest.approx(int8, rel=1e-12)
    assert report.ann["fp32"]["macs"] == pytest.approx(synapses * 4.6, rel=1e-12)
    # Once per inference, whatever T and the activity: the same for another T and other images.
    other = random_netspec(seed=1, sizes=(30, 20, 7), weight_bits=(1, 4), timesteps=2)
    assert estimate_energy(other, run(other, np.zeros((1, 30), np.int64))).ann == report.ann
    ratios = report.ratios
    assert ratios["ann_fp32_over_snn"]["total"] == pytest.approx(fp32 / report.snn["total"])
    assert ratios["ann_int8_over_snn"]["total"] == pytest.approx(int8 / report.snn["total"])


def test_per_inference_is_averaged_over_the_batch():
    spec = random_netspec(seed=4, sizes=(12, 8, 3), timesteps=4)
    image = np.random.default_rng(2).integers(0, 17, (1, 12))
    one = estimate_energy(spec, run(spec, image))
    three = estimate_energy(spec, run(spec, np.repeat(image, 3, axis=0)))
    assert three.images == 3
    assert three.snn["total"] == pytest.approx(one.snn["total"], rel=1e-12)
    assert three.layers[1]["counts"] == pytest.approx(one.layers[1]["counts"])


def test_report_is_json_and_says_it_is_a_model():
    spec = _tiny()
    report = estimate_energy(spec, run(spec, np.array([[3, 1]])))
    data = json.loads(report.to_json())
    assert data["kind"] == "model"
    assert data["provenance"]["measured"] == []
    assert data["table"]["entries"]["int_add_8"]["pj"] == 0.03
    assert set(data["snn_pj"]) >= {"adds", "macs", "neuron", "memory", "total"}
    assert set(data["ann_pj"]) == {"fp32", "int8"}
    assert [layer["name"] for layer in data["layers"]] == ["fc1", "fc2"]
    assert math.isclose(data["snn_pj"]["total"], sum(layer["snn_pj"]["total"]
                                                     for layer in data["layers"]))
    text = report.summary()
    assert "MODEL" in text and "nothing measured" in text and "fc2" in text


def test_default_lanes_match_the_hardware_generator():
    from spikeforge.hdl.network import default_lanes as hdl_default_lanes

    for sizes in [(64, 128, 10), (8, 16, 17), (5, 3, 2)]:
        spec = random_netspec(seed=0, sizes=sizes)
        assert default_lanes(spec) == hdl_default_lanes(spec)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 4), p1=st.integers(1, 12),
       p2=st.integers(1, 5))
def test_totals_add_up_on_random_networks(seed, batch, p1, p2):
    spec = random_netspec(seed=seed, sizes=(16, 12, 5), timesteps=4)
    images = np.random.default_rng(seed).integers(0, 17, (batch, 16))
    report = estimate_energy(spec, run(spec, images), lanes=[p1, p2])
    for entry in report.layers:
        snn = entry["snn_pj"]
        parts = snn["adds"] + snn["macs"] + snn["neuron"] + snn["memory"]
        assert snn["total"] == pytest.approx(parts, rel=1e-12)
        assert sum(entry["snn_memory_pj"].values()) == pytest.approx(snn["memory"], rel=1e-12)
        assert sum(entry["snn_split_pj"].values()) == pytest.approx(snn["total"], rel=1e-12)
        counts = entry["counts"]
        assert counts["weight_reads"] == pytest.approx(counts["events"] * entry["groups"])
    assert report.snn["total"] == pytest.approx(sum(e["snn_pj"]["total"] for e in report.layers))


# ---- errors --------------------------------------------------------------------------------

def _result():
    spec = _tiny()
    return spec, run(spec, np.array([[3, 0], [1, 2]]))


def test_negative_counts_are_refused():
    spec, result = _result()
    bad = dataclasses.replace(result, accumulates=np.array([-3, 8]))
    with pytest.raises(EnergyError, match=r"negative operation count at result.accumulates\[0\]"):
        estimate_energy(spec, bad)
    bad = dataclasses.replace(result, multiply_accumulates=np.array([6, -1]))
    with pytest.raises(EnergyError,
                       match=r"negative operation count at result.multiply_accumulates\[1\]"):
        estimate_energy(spec, bad)
    spikes = result.layer_spikes.copy()
    spikes[1, 0] = -2
    with pytest.raises(EnergyError, match=r"negative spike count at result.layer_spikes\[1, 0\]"):
        estimate_energy(spec, dataclasses.replace(result, layer_spikes=spikes))


def test_result_of_another_network_is_refused():
    spec, _ = _result()
    other = random_netspec(seed=0, sizes=(2, 4, 3, 2), weight_bits=(4, 4, 4), thresholds=(5, 5, 5),
                           state_bits=(12, 12, 12), input_bits=2, input_max=3, timesteps=2)
    foreign = run(other, np.array([[3, 0]]))
    with pytest.raises(EnergyError, match=r"does not match the NetSpec at result.layer_names: "
                                          r"expected \['fc1', 'fc2'\], found \['fc1', 'fc2', 'fc3'\]"):
        estimate_energy(spec, foreign)
    renamed = dataclasses.replace(run(spec, np.array([[3, 0]])), layer_names=["a", "b"])
    with pytest.raises(EnergyError, match=r"result.layer_names: expected \['fc1', 'fc2'\]"):
        estimate_energy(spec, renamed)
    short = dataclasses.replace(run(spec, np.array([[3, 0]])), layer_names=[],
                                accumulates=np.array([6]))
    with pytest.raises(EnergyError, match=r"result.accumulates: expected 2 integers"):
        estimate_energy(spec, short)
    longer_t = dataclasses.replace(run(spec, np.array([[3, 0]])),
                                   layer_spikes=np.zeros((2, 5), np.int64))
    with pytest.raises(EnergyError, match=r"layer_spikes: expected shape \(2, 2\)"):
        estimate_energy(spec, longer_t)
    with pytest.raises(EnergyError, match="not a golden result"):
        estimate_energy(spec, object())


def test_impossible_counts_are_refused():
    spec, result = _result()
    with pytest.raises(EnergyError, match=r"not a whole number of input events.*multiple of "
                                          r"the layer's 3 neurons.*found 7"):
        estimate_energy(spec, dataclasses.replace(result, accumulates=np.array([7, 8]),
                                                  multiply_accumulates=np.array([7, 0])))
    with pytest.raises(EnergyError, match=r"more accumulates than the layer can do.*at most .* = 24"):
        estimate_energy(spec, dataclasses.replace(result, accumulates=np.array([27, 8]),
                                                  multiply_accumulates=np.array([27, 0])))
    with pytest.raises(EnergyError, match="more multiply-accumulates than accumulates"):
        estimate_energy(spec, dataclasses.replace(result, multiply_accumulates=np.array(
            [result.accumulates[0] + 3, 0])))
    with pytest.raises(EnergyError, match=r"multiply-accumulates in a layer with 1-bit inputs.*fc2"):
        estimate_energy(spec, dataclasses.replace(result, multiply_accumulates=np.array(
            [result.accumulates[0], 2])))


def test_bad_lanes_tables_and_layers_are_refused():
    spec, result = _result()
    with pytest.raises(EnergyError, match="wrong number of lanes at lanes: expected 2 values"):
        estimate_energy(spec, result, lanes=[1])
    with pytest.raises(EnergyError, match=r"lanes out of range at lanes of layer fc1: "
                                          r"expected an integer 1 <= lanes <= 3"):
        estimate_energy(spec, result, lanes=[4, 1])
    with pytest.raises(EnergyError, match="lacks entries the model needs.*missing \\['fp32_add'"):
        EnergyTable("partial", {k: v for k, v in HOROWITZ_45NM.costs.items() if k != "fp32_add"})
    with pytest.raises(EnergyError, match="not a positive energy at table t, entry int_add_8"):
        EnergyTable("t", {**HOROWITZ_45NM.costs, "int_add_8": Cost(-1.0, "x")})
    with pytest.raises(EnergyError, match="add width is not a positive integer"):
        HOROWITZ_45NM.int_add(0)
    conv = NetSpec(InputSpec(4, "direct", 2, 3, shape=(1, 2, 2)),
                   (LayerSpec("c", "conv2d", np.ones((1, 1, 1, 1), np.int64), 2, np.zeros(1, np.int64),
                              NeuronSpec("if", 1)),), 1).validate()
    with pytest.raises(EnergyError, match=r"layer kind not covered by the energy model.*'conv2d'"):
        estimate_energy(conv, run(conv, np.ones((1, 4), np.int64)))
