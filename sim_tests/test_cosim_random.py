"""Random networks from hypothesis, many per simulator build, bit-exact against the golden executor.

Hypothesis draws each network (layer count and sizes, weight widths and binary scales, every neuron
kind the hardware generator supports, resets, leaks, K, P, adaptive tables, state widths down to
saturation, thresholds, T, encodings, lanes, images); :mod:`spikeforge.cosim.batch` packs a batch
of them into one Verilog design so one simulator build checks them all. The default run checks 20
networks per simulator; the slow run (CI's ``make test-slow``) 200 per simulator, in 4 builds.
Each test prints how many networks, images and counts it compared, so the CI log shows the figure.
"""

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from spikeforge.bounds import analyse
from spikeforge.cosim.batch import module_ports, run_batch, wrapper_verilog, write_batch
from spikeforge.errors import MismatchError
from spikeforge.golden import run
from spikeforge.hdl.network import SUPPORTED_ENCODINGS, SUPPORTED_NEURONS

# The strategy draws images, not pre-encoded event frames: every other encoding the generator
# builds joins the draws by itself; `events` input has its own co-simulation (test_cosim_events.py).
DRAWN_ENCODINGS = tuple(encoding for encoding in SUPPORTED_ENCODINGS if encoding != "events")
from spikeforge.synthetic import draw_networks, network_strategy, networks_digest

SIMULATORS = ["verilator", "icarus"]
FAST_NETWORKS, FAST_SEED = 20, 20250
SLOW_BATCHES, SLOW_BATCH_SIZE, SLOW_SEED = 4, 50, 1000  # 200 distinct networks, 4 builds
# The drawn sets, pinned: every run checks the same networks and images (hypothesis is pinned in
# pyproject.toml, and draw_networks keeps the constants of loaded modules out of the draws, so a
# full pytest session draws what one test alone does). A change to the strategy or the supported
# kinds changes them on purpose: then print networks_digest of the new sets and update these.
FAST_SET = (38, "efbc47f493eb03f7")    # images, digest of the 20 default networks
SLOW_SET = (499, "8954c53a188ccff0")   # images, digest of the 200 slow networks


def _networks(count, seed):
    # Read the supported kinds at run time: a kind the generator learns joins the draws by itself.
    return draw_networks(network_strategy(SUPPORTED_NEURONS, DRAWN_ENCODINGS), count, seed)


def _report(capsys, tmp_dir, name, results, seconds, networks):
    """Print the figures (shown even under pytest's capture) and keep them as JSON."""
    digest = networks_digest(networks)
    figures = {"test": name, "wall_seconds": round(seconds, 1), "set_digest": digest,
               "simulators": {r.simulator: r.summary() for r in results}}
    path = tmp_dir / f"{name}.json"
    path.write_text(json.dumps(figures, indent=1))
    with capsys.disabled():
        for r in results:
            s = r.summary()
            print(f"\n[{name}] {s['simulator']}: {s['networks']} random networks, {s['images']} "
                  f"images, {s['counts']} spike counts compared, {s['mismatches']} mismatches "
                  f"(set {digest}; build {s['build_seconds']} s, run {s['run_seconds']} s); {path}")


@pytest.fixture(scope="module")
def fast_batch(tmp_path_factory):
    """The default run's batch: Verilog generated once, simulated on both simulators."""
    networks = _networks(FAST_NETWORKS, FAST_SEED)
    return networks, write_batch(networks, tmp_path_factory.mktemp("random_fast"))


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_networks_are_bit_exact(fast_batch, simulator, capsys):
    networks, design = fast_batch
    start = time.perf_counter()
    result = run_batch(design, simulator)
    assert result.passed and len(result.networks) == FAST_NETWORKS
    assert result.images_checked == sum(len(n.images) for n in networks)
    _report(capsys, Path(design.directory), f"random_fast_{simulator}",
            [result], time.perf_counter() - start, networks)


def _changed_reference(networks):
    """The first network (index, altered NetSpec) whose counts change with its last threshold."""
    for index, network in enumerate(networks):
        spec, last = network.spec, network.spec.layers[-1]
        wanted = run(spec, network.images).counts
        state_max = (1 << (last.neuron.state_bits - 1)) - 1
        for threshold in (last.neuron.threshold * 4, last.neuron.threshold + 1,
                          last.neuron.threshold - 1):
            if not 1 <= threshold <= state_max:
                continue
            neuron = dataclasses.replace(last.neuron, threshold=threshold)
            wrong = dataclasses.replace(spec, layers=spec.layers[:-1] + (
                dataclasses.replace(last, neuron=neuron),)).validate()
            if not np.array_equal(run(wrong, network.images).counts, wanted):
                return index, wrong
    pytest.fail("no threshold change alters the counts of any network")


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_wrong_netspec_for_one_packed_network_is_named(fast_batch, simulator):
    """The checker of a batch catches one network whose reference differs, and names only it."""
    networks, design = fast_batch
    target, wrong = _changed_reference(networks)
    spec = networks[target].spec
    wrong_path = wrong.save(Path(design.directory) / "wrong.npz")
    entries = list(design.networks)
    entries[target] = dataclasses.replace(entries[target], netspec=str(wrong_path))
    swapped = dataclasses.replace(design, networks=entries)

    result = run_batch(swapped, simulator, raise_on_mismatch=False)
    assert result.mismatches, "a wrong reference must be caught"
    prefix = f"network {target} (seed {networks[target].seed}:"
    assert all(line.startswith(prefix) for line in result.mismatches), result.mismatches[:3]
    assert f"layer {spec.layers[-1].name}, neuron" in result.mismatches[0]
    assert "golden" in result.mismatches[0] and "RTL" in result.mismatches[0]
    # The other networks of the same build still match.
    assert all(image["match"] for network in result.networks if network["index"] != target
               for image in network["images"])
    with pytest.raises(MismatchError, match=f"network {target} "):
        run_batch(swapped, simulator)


def test_wrapper_gives_every_network_its_own_ports():
    text = ("module net0(clk, rst, a, b);\n  input clk;\n  input rst;\n  input [4:0] a;\n"
            "  output b;\nendmodule\n")
    ports = module_ports(text)
    assert ports == [("input", "clk", 1), ("input", "rst", 1), ("input", "a", 5), ("output", "b", 1)]
    wrapper = wrapper_verilog([("net0", ports), ("net1", ports)])
    assert "input wire [4:0] n0_a" in wrapper and "output wire n1_b" in wrapper
    assert "net1 u_net1 (\n    .clk(clk),\n    .rst(rst),\n    .a(n1_a),\n    .b(n1_b)\n  );" in wrapper


def _slow_networks():
    return _networks(SLOW_BATCHES * SLOW_BATCH_SIZE, SLOW_SEED)


@pytest.mark.parametrize("count, seed, pinned", [(FAST_NETWORKS, FAST_SEED, FAST_SET),
                                                 (SLOW_BATCHES * SLOW_BATCH_SIZE, SLOW_SEED, SLOW_SET)])
def test_random_sets_are_the_same_every_run(count, seed, pinned):
    """Each run draws the very networks the pinned digest names (no simulator needed)."""
    networks = _networks(count, seed)
    drawn = (sum(len(n.images) for n in networks), networks_digest(networks))
    assert drawn == pinned, (f"the {count} networks of seed {seed} changed: {drawn[0]} images, "
                             f"digest {drawn[1]}; pinned {pinned}")


def test_slow_networks_cover_every_supported_feature():
    """The slow run's 200 networks cover what the hardware supports (no simulator needed)."""
    networks = _slow_networks()
    assert len(networks) == SLOW_BATCHES * SLOW_BATCH_SIZE
    assert len({(n.describe(), n.images.tobytes()) for n in networks}) == len(networks)
    layers = [layer for n in networks for layer in n.spec.layers]
    assert {layer.neuron.kind for layer in layers} == set(SUPPORTED_NEURONS)
    assert {n.spec.input.encoding for n in networks} == set(DRAWN_ENCODINGS)
    assert {len(n.spec.layers) for n in networks} == {1, 2, 3}
    assert {layer.weight_bits for layer in layers} == set(range(1, 9))
    assert {layer.neuron.reset for layer in layers} == {"subtract", "zero"}
    assert {layer.neuron.leak for layer in layers if layer.neuron.kind in ("lif", "mtlif")} == {
        "none", "shift", "factor"}
    assert any(layer.neuron.kind == "mtlif" and layer.neuron.levels > 1 for layer in layers)
    assert len({layer.neuron.phase for layer in layers if layer.neuron.kind == "bistable"}) > 1
    assert any(lane < layer.n_out and layer.n_out % lane for n in networks
               for lane, layer in zip(n.lanes, n.spec.layers))  # lanes that do not divide
    assert sum(any(b.saturates for b in analyse(n.spec)) for n in networks) >= 20
    assert {n.spec.timesteps for n in networks} >= set(range(1, 9))
    # Not a run of silent networks: most send output spikes.
    active = sum(run(n.spec, n.images).counts.sum() > 0 for n in networks)
    assert active >= 0.6 * len(networks), f"only {active} of {len(networks)} networks spike"


@pytest.fixture(scope="module")
def slow_batches(tmp_path_factory):
    """The slow run's batches: Verilog generated once for both simulators."""
    root = tmp_path_factory.mktemp("random_slow")
    networks = _slow_networks()
    return [write_batch(networks[b * SLOW_BATCH_SIZE:(b + 1) * SLOW_BATCH_SIZE], root / f"batch{b}")
            for b in range(SLOW_BATCHES)]


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_200_random_networks_are_bit_exact(slow_batches, simulator, capsys):
    networks = _slow_networks()
    start = time.perf_counter()
    results = [run_batch(design, simulator) for design in slow_batches]
    assert all(result.passed for result in results)
    total = dataclasses.replace(results[0], networks=[n for r in results for n in r.networks],
                                build_seconds=sum(r.build_seconds for r in results),
                                run_seconds=sum(r.run_seconds for r in results))
    assert len(total.networks) == SLOW_BATCHES * SLOW_BATCH_SIZE
    _report(capsys, Path(slow_batches[0].directory).parent,
            f"random_slow_{simulator}", [total], time.perf_counter() - start, networks)
