"""Each neuron kind's demo network, trained on digits by its method, co-simulated on all 360
held-out images on Verilator through the user's commands (train, compile, sim): bit-exact.

Slow (training plus one Verilator build per kind): it runs in CI's slow step.
"""

import json

import pytest

from spikeforge.cli import main

# neuron kind -> the `spikeforge train` arguments of its demo network (linear layers: the
# hardware builds those). Plain LIF has no trainer of its own; the random networks cover it.
KIND_DEMOS = {
    "if": ["--method", "qat"],
    "mtlif": ["--method", "mtlif"],
    "adaptive": ["--method", "asnn"],
    "bistable": ["--method", "convert", "--option", "architecture=mlp", "--option", "neuron=bistable",
                 "--option", "sweep=false"],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KIND_DEMOS))
def test_kind_demo_is_bit_exact_on_all_test_images(tmp_path, kind, capsys):
    out = tmp_path / kind
    assert main(["train", "--out", str(out), *KIND_DEMOS[kind]]) == 0
    train = json.loads((out / "train_report.json").read_text())
    assert kind in train["neuron"].split("+")
    assert train["count_agreement"] == train["test_images"] == 360
    netspec = str(out / "netspec.npz")
    assert main(["compile", netspec, "--out", str(out)]) == 0
    assert main(["sim", netspec, "--out", str(out), "--images", "360",
                 "--simulator", "verilator"]) == 0
    cosim = json.loads((out / "cosim_report.json").read_text())
    assert cosim["images"] == 360 and cosim["bit_exact"] is True and cosim["mismatches"] == 0
    assert all(record["observed"] == record["expected"] for record in cosim["per_image"])
    print(f"[{kind}] {train['method']}: golden {train['golden_accuracy'] * 100:.1f} %, 360/360 "
          f"images bit-exact on Verilator, {cosim['cycles_mean']:.0f} cycles/image")
