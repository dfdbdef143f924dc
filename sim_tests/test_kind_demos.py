"""Each neuron kind's demo network, trained on digits by its method, co-simulated on all 360
held-out images on Verilator through the user's commands (train, compile, sim): bit-exact.
Two image networks too: the ALBSNN conv net (IF; conv, stride 2, gap) and the converted ResNet
(bistable; conv, residual with the synchronous-neuron delay, flatten).

Slow (training plus one Verilator build per kind): it runs in CI's slow step.
"""

import json

import pytest

from spikeforge.cli import main

# demo -> its neuron kind and the `spikeforge train` arguments. Plain LIF has no trainer of its
# own; the random networks cover it.
KIND_DEMOS = {
    "if": ("if", ["--method", "qat"]),
    "mtlif": ("mtlif", ["--method", "mtlif"]),
    "adaptive": ("adaptive", ["--method", "asnn"]),
    "bistable": ("bistable", ["--method", "convert", "--option", "architecture=mlp",
                              "--option", "neuron=bistable", "--option", "sweep=false"]),
    "if-conv": ("if", ["--method", "albsnn"]),
    "bistable-resnet": ("bistable", ["--method", "convert", "--option", "architecture=resnet",
                                     "--option", "neuron=bistable", "--option", "sweep=false"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KIND_DEMOS))
def test_kind_demo_is_bit_exact_on_all_test_images(tmp_path, kind, capsys):
    out = tmp_path / kind
    neuron, arguments = KIND_DEMOS[kind]
    assert main(["train", "--out", str(out), *arguments]) == 0
    train = json.loads((out / "train_report.json").read_text())
    assert neuron in train["neuron"].split("+")
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
