"""The whole demo, as a user runs it: train, golden, compile, co-simulate 50 images, build."""

import json

import pytest

from spikeforge.cli import main


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--images", "50"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["golden_accuracy"] >= 0.90
    assert summary["test_images"] == 360
    assert summary["cosim_images"] == 50 and summary["cosim_bit_exact"] is True
    assert summary["lint_clean"] is True
    build = summary["build"]
    assert build["lcs"] > 0 and build["fmax_mhz"] > 0
    for name in ("netspec.npz", "train_report.json", "golden_report.json", "spikeforge_top.v",
                 "design.json", "cosim_report.json", "build_report.json", "summary.json"):
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.part")), "a temporary file was left behind"
