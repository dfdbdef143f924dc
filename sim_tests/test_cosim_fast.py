"""The fast co-simulation path (Verilog stimulus wrapper, Python awaits only `finished`): bit-exact on
Verilator and Icarus, and a wrong reference is caught with image, layer, neuron and both values."""

import numpy as np
import pytest

from spikeforge.cosim.fast import Layout, run_fast_cosim, write_stimulus
from spikeforge.errors import MismatchError, SpikeforgeError
from spikeforge.golden import run
from spikeforge.hdl.verilog import generate_verilog
from spikeforge.synthetic import random_netspec

SIMULATORS = ["verilator", "icarus"]


def _spec(threshold2=6):
    return random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, thresholds=(30, threshold2),
                          state_bits=(12, 8))


def _images():
    images = np.random.default_rng(7).integers(0, 17, (6, 16))
    images[1] = 0  # no input events at all
    images[4] = 16  # every input at its largest value
    return images


@pytest.fixture
def verilog(tmp_path):
    path = tmp_path / "spikeforge_top.v"
    path.write_text(generate_verilog(_spec(), [4, 5]))
    return path


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_fast_path_is_bit_exact(tmp_path, verilog, simulator):
    spec = _spec()
    images = _images()
    result = run_fast_cosim(spec.save(tmp_path / "net.npz"), verilog, images, tmp_path / "run",
                            simulator=simulator, image_ids=[10, 11, 12, 13, 14, 15])
    golden = run(spec, images).counts
    assert result.passed, result.mismatches
    assert [r["image"] for r in result.images] == [10, 11, 12, 13, 14, 15]
    assert [r["observed"] for r in result.images] == golden.tolist()
    assert all(isinstance(c, int) and c > 0 for c in result.cycles)


def test_fast_path_cycles_equal_the_per_cycle_testbench(tmp_path, verilog):
    """Images run one at a time, so each image's latency is the per-cycle testbench's."""
    from spikeforge.cosim import run_cosim

    spec_path = _spec().save(tmp_path / "net.npz")
    fast = run_fast_cosim(spec_path, verilog, _images(), tmp_path / "fast", simulator="icarus")
    slow = run_cosim(spec_path, verilog, _images(), tmp_path / "slow", simulator="icarus")
    assert fast.cycles == slow.cycles
    assert [r["observed"] for r in fast.images] == [r["observed"] for r in slow.images]


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_wrong_netspec_is_caught_with_image_neuron_and_values(tmp_path, verilog, simulator):
    """The hardware is built from one NetSpec, the check runs against one with another threshold."""
    hardware, other = _spec(6), _spec(2)
    images = _images()
    ids = [100 + i for i in range(len(images))]
    with pytest.raises(MismatchError) as info:
        run_fast_cosim(other.save(tmp_path / "other.npz"), verilog, images, tmp_path / "run",
                       simulator=simulator, image_ids=ids)
    want, got = run(other, images).counts, run(hardware, images).counts
    image, neuron = (int(v) for v in np.argwhere(want != got)[0])
    message = str(info.value)
    assert "RTL differs from the golden model" in message
    assert (f"image {ids[image]}: layer fc2, neuron {neuron}, spike count over time steps 0..3: "
            f"golden {want[image, neuron]}, RTL {got[image, neuron]}") in message


def test_a_hang_is_reported_with_its_image(tmp_path, verilog):
    result = run_fast_cosim(_spec().save(tmp_path / "net.npz"), verilog, _images(),
                            tmp_path / "run", simulator="icarus", cycle_budget=20,
                            raise_on_mismatch=False, image_ids=[5, 6, 7, 8, 9, 10])
    assert not result.passed
    assert result.mismatches[-1].startswith("image 5: no complete output after 20 cycles")


def test_stimulus_value_out_of_range_is_named(tmp_path):
    layout = Layout(images=2, input_size=3, input_bits=5, n_out=4, count_bits=3)
    with pytest.raises(SpikeforgeError) as info:
        write_stimulus([[0, 1, 2], [3, 32, 4]], layout, tmp_path / "stim.hex")
    assert "images[1, 1]" in str(info.value) and "[0, 31]" in str(info.value)
    assert "32" in str(info.value)
    path = write_stimulus([[0, 1, 31], [3, 30, 4]], layout, tmp_path / "stim.hex")
    assert path.read_text().split() == ["00", "01", "1f", "03", "1e", "04"]
