"""The report: Markdown and HTML with plots from a run folder's artefacts, sources stated."""

import pytest

from spikeforge.errors import SpikeforgeError
from spikeforge.flow import compile_stage, golden_stage
from spikeforge.quant.train import TrainConfig, train_digits
from spikeforge.report import build_report


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train_digits(TrainConfig(epochs=2, hidden=16, timesteps=4, train_subset=300),
                          progress=False)
    path = result.netspec.save(out / "netspec.npz")
    golden_stage(path, out)
    compile_stage(path, out, lint=False)
    return out


def test_report_has_figures_with_their_sources(run_folder):
    paths = build_report(run_folder)
    markdown = (run_folder / "report.md").read_text()
    assert "| golden integer accuracy |" in markdown and "measured on 360 held-out images" in markdown
    assert "MODEL: 45 nm per-operation table" in markdown
    assert ("Not in this folder, so not reported: train_report.json, cosim_report.json, "
            "build_report.json, estimate_report.json, power_report.json, layer_resources.json") in markdown
    assert "Accuracy against T is not known for this run" in markdown
    page = (run_folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # memory, firing rates, energy
    for plot in paths["plots"]:
        assert open(plot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SpikeforgeError, match=r"no artefacts to report on at .*: expected one of train_report.json"):
        build_report(tmp_path)


def test_report_plots_accuracy_against_t_and_estimated_resources_per_layer(run_folder, tmp_path):
    import json
    import shutil

    from spikeforge.cli import main

    out = tmp_path / "run"
    shutil.copytree(run_folder, out)
    train = {"method": "convert", "neuron": "bistable", "quantized_accuracy": 0.95, "test_images": 360,
             "details": {"accuracy_vs_T": {
                 "if": [{"timesteps": 4, "golden_accuracy": 0.9}, {"timesteps": 1, "golden_accuracy": 0.5}],
                 "bistable": [{"timesteps": 12, "golden_accuracy": 0.96}]}}}
    (out / "train_report.json").write_text(json.dumps(train))
    assert main(["estimate", str(out / "netspec.npz"), "--out", str(out)]) == 0
    assert main(["power", str(out / "netspec.npz"), "--out", str(out), "--images", "1"]) == 0
    paths = build_report(out)
    markdown = (out / "report.md").read_text()
    assert "## Accuracy against T (golden model, measured)" in markdown
    assert "## Resources per layer (estimate, model)" in markdown
    assert "| resources (estimate) |" in markdown and "MODEL: spikeforge estimate, ice40" in markdown
    assert "LUT error on " in markdown and "held-out linear networks: mean " in markdown
    assert "Accuracy against T is not known" not in markdown
    assert "| dynamic energy per image (FPGA) |" in markdown
    assert "MODEL from MEASURED switching activity (1 images, Icarus VCD)" in markdown
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 5
    assert len(paths["plots"]) == 5


def test_report_compares_synthesised_and_estimated_resources_per_layer(run_folder, tmp_path):
    import json
    import shutil

    from spikeforge import netspec as netspec_io
    from spikeforge.boards.layer_resources import layer_resources
    from spikeforge.cli import main
    from spikeforge.hdl.network import NetworkTop

    out = tmp_path / "run"
    shutil.copytree(run_folder, out)
    spec = netspec_io.load(out / "netspec.npz")
    layers = layer_resources(NetworkTop(spec), spec, "ice40", "-dsp")
    (out / "layer_resources.json").write_text(json.dumps(layers))
    assert main(["estimate", str(out / "netspec.npz"), "--out", str(out)]) == 0
    build_report(out)
    markdown = (out / "report.md").read_text()
    assert "## Resources per layer: synthesis (measured) and estimate (model)" in markdown
    assert "| resources per module (LUTs/FFs/BRAMs) | input_buffer " in markdown
    assert f"the modules total {layers['total']['luts']} LUTs" in markdown
