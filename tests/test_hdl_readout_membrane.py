"""The membrane readout in hardware: NetworkTop in Amaranth's simulator against the golden executor."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from amaranth.hdl import signed, unsigned

from spikeforge.bounds import analyse
from spikeforge.errors import SpikeforgeError
from spikeforge.golden import run
from spikeforge.hdl.network import SUPPORTED_NEURONS, NetworkTop, output_shape
from spikeforge.netspec import LayerSpec, NetSpec, NONE_NEURON
from spikeforge.synthetic import network_strategy, random_netspec

from hdl_harness import check_network
from test_hdl_network import stream_network


def membrane(spec: NetSpec) -> NetSpec:
    return dataclasses.replace(spec, readout="membrane").validate()


def _check(spec, lanes, images):
    return check_network(spec, lanes, images)[0]


def test_output_is_signed_state_bits():
    spec = random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, state_bits=(12, 9))
    assert output_shape(spec) == unsigned(3)
    assert output_shape(membrane(spec)) == signed(9)
    top = NetworkTop(membrane(spec))
    top._MustUse__silence = True  # only its ports are looked at
    assert top.output.payload.shape() == signed(9)


@pytest.mark.parametrize("lanes", [[4, 5], [3, 2], [12, 1]])
def test_membranes_match_golden(lanes):
    spec = membrane(random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, 6),
                                   state_bits=(12, 10)))
    images = np.random.default_rng(7).integers(0, 17, (3, 16))
    images[1] = 0
    expected = _check(spec, lanes, images)
    assert any(v < 0 for row in expected for v in row)  # negative membranes come out signed


def test_saturating_membranes_match_golden():
    spec = membrane(random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 4), timesteps=6,
                                   thresholds=(20, 2), state_bits=(10, 5)))
    assert analyse(spec)[-1].saturates
    images = np.random.default_rng(4).integers(0, 17, (3, 8))
    expected = _check(spec, [2, 2], images)
    assert {15, -16} & {v for row in expected for v in row}  # clamped at the state range


@pytest.mark.parametrize("timesteps", [1, 2])
def test_streamed_images_with_backpressure(timesteps):
    # T = 1: every step is the last, the next image's update lands while the values still go out.
    spec = membrane(random_netspec(seed=8, sizes=(20, 12, 5), timesteps=timesteps,
                                   thresholds=(30, 5), state_bits=(12, 8)))
    images = np.random.default_rng(8).integers(0, 17, (6, 20))
    images[2] = 0
    results = stream_network(spec, [4, 2], images, seed=8, backpressure=True)
    expected = run(spec, images).counts.tolist()
    for index, result in enumerate(results):
        assert result["counts"] == expected[index], f"image {index}"
        assert result["cycles"] == result["measured"], f"image {index}: {result}"


def test_last_layer_must_be_linear_names_the_readout():
    spec = random_netspec(seed=1, sizes=(8, 4, 3))
    flat = LayerSpec("flat", "flatten", None, 1, None, NONE_NEURON)
    spec = membrane(dataclasses.replace(spec, layers=(*spec.layers[:-1], flat, spec.layers[-1])))
    res = LayerSpec("res", "residual", None, 1, None, spec.layers[-1].neuron,
                    source=spec.layers[-1].name)
    bad = membrane(dataclasses.replace(spec, layers=(*spec.layers, res)))
    with pytest.raises(SpikeforgeError, match=r"last layer must be linear for the hardware "
                                              r"membrane readout at layer res: expected kind "
                                              r"'linear'.*found 'residual'"):
        NetworkTop(bad)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(network_strategy(SUPPORTED_NEURONS, max_layers=2, max_inputs=10, max_neurons=6,
                        max_outputs=4, max_timesteps=5, max_images=2))
def test_every_neuron_kind(network):
    """Random linear networks of every neuron kind (bistable included), lanes and saturation."""
    spec = membrane(network.spec)
    _check(spec, list(network.lanes), network.images)
