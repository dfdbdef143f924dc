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
    assert "Not in this folder, so not reported: train_report.json, cosim_report.json, build_report.json" in markdown
    page = (run_folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # memory, firing rates, energy
    for plot in paths["plots"]:
        assert open(plot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SpikeforgeError, match=r"no artefacts to report on at .*: expected one of train_report.json"):
        build_report(tmp_path)
