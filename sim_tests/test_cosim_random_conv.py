"""Random image networks from hypothesis (``network_strategy(..., image_layers=True)``: conv2d,
pools, gap/flatten, residual blocks with delayed shortcuts), packed into one Verilog design per
simulator (:mod:`spikeforge.cosim.batch`) and checked bit-exact against the golden executor.

The drawn set is pinned by its image count and digest, as in test_cosim_random.py: a change to the
strategy changes it on purpose; then print the new ``networks_digest`` and update ``IMAGE_SET``."""

import time

import pytest

from spikeforge.cosim.batch import run_batch, write_batch
from spikeforge.hdl.network import SUPPORTED_ENCODINGS, SUPPORTED_NEURONS
from spikeforge.synthetic import draw_networks, network_strategy, networks_digest

SIMULATORS = ["verilator", "icarus"]
# Images, not pre-encoded event frames (events input: test_cosim_events.py).
DRAWN_ENCODINGS = tuple(encoding for encoding in SUPPORTED_ENCODINGS if encoding != "events")
NETWORKS, SEED = 10, 4242
IMAGE_SET = (24, "0944714998903808")  # images, digest of the 10 networks (hypothesis pinned)


def _networks():
    return draw_networks(network_strategy(SUPPORTED_NEURONS, DRAWN_ENCODINGS, image_layers=True),
                         NETWORKS, SEED)


def test_image_set_is_the_same_every_run():
    networks = _networks()
    drawn = (sum(len(n.images) for n in networks), networks_digest(networks))
    assert drawn == IMAGE_SET, f"the {NETWORKS} image networks changed: {drawn}; pinned {IMAGE_SET}"
    kinds = {layer.kind for n in networks for layer in n.spec.layers}
    assert {"conv2d", "residual", "linear"} <= kinds and kinds & {"sumpool", "avgpool", "orpool"}
    assert kinds & {"gap", "flatten"}


@pytest.fixture(scope="module")
def image_batch(tmp_path_factory):
    networks = _networks()
    return networks, write_batch(networks, tmp_path_factory.mktemp("random_conv"))


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_random_image_networks_are_bit_exact(image_batch, simulator, capsys):
    networks, design = image_batch
    start = time.perf_counter()
    result = run_batch(design, simulator)
    assert result.passed and len(result.networks) == NETWORKS
    assert result.images_checked == sum(len(n.images) for n in networks)
    with capsys.disabled():
        s = result.summary()
        print(f"\n[random_conv_{simulator}] {s['networks']} random image networks, {s['images']} "
              f"images, {s['counts']} spike counts compared, {s['mismatches']} mismatches (set "
              f"{networks_digest(networks)}; {time.perf_counter() - start:.1f} s)")
