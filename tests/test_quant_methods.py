"""The method registry behind ``spikeforge train --method``: configs, errors, the common report."""

import json

import numpy as np
import pytest

from spikeforge.cli import main
from spikeforge.quant.data import load_digits_split
from spikeforge.quant.methods import CORE_FIELDS, METHODS, method_config, train_method


def test_every_method_has_a_validating_config():
    for method in METHODS:
        config = method_config(method, seed=3)
        assert config.seed == 3
        assert config.validate() is config


def test_unknown_method_and_option_are_named():
    with pytest.raises(ValueError, match=r"--method: expected one of qat, albsnn, convert, mtlif, "
                                         r"asnn, found 'bogus'"):
        method_config("bogus")
    with pytest.raises(ValueError, match=r"unknown option\(s\) colour: expected some of .*epochs"):
        method_config("qat", colour="red")


def test_qat_method_reports_the_core_fields_and_exact_agreement():
    data = load_digits_split()
    config = method_config("qat", epochs=2, train_subset=200, hidden=16, timesteps=2)
    result = train_method("qat", config, data, progress=False)
    report = result.report
    assert set(CORE_FIELDS) <= set(report)
    assert report["method"] == "qat" and report["neuron"] == "if" and report["timesteps"] == 2
    assert report["count_agreement"] == report["test_images"] == len(data.y_test)
    assert report["weight_bits_stored"] == 64 * 16 * 1 + 16 * 10 * 4
    assert [row["threshold"] for row in report["layers"]] == \
        [layer.neuron.threshold for layer in result.netspec.layers]
    assert result.netspec.metadata["method"] == "qat"
    json.dumps(report)  # serialisable as it is written


def test_cli_train_writes_netspec_and_report_for_a_user_npz(tmp_path, capsys):
    digits = load_digits_split()
    path = tmp_path / "data.npz"
    np.savez(path, x=digits.x_train[:300].reshape(-1, 1, 8, 8), y=digits.y_train[:300])
    out = tmp_path / "out"
    assert main(["train", "--data", str(path), "--out", str(out), "--epochs", "1",
                 "--hidden", "8", "--timesteps", "2", "--option", "batch_size=32"]) == 0
    report = json.loads((out / "train_report.json").read_text())
    assert report["data"] == str(path) and report["test_images"] == 60
    assert report["count_agreement"] == 60
    assert (out / "netspec.npz").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "error: train --method qat: epochs: expected a positive integer, found 0"),
    (["--option", "colour=red"], "error: train --method qat: unknown option(s) colour: expected"),
    (["--option", "novalue"], "error: malformed option at --option: expected key=value, found "
                              "'novalue'"),
    (["--data", "missing.npz"], "error: train --method qat: data set missing.npz: file not found"),
])
def test_cli_train_errors_are_one_line_with_exit_2(tmp_path, capsys, argv, message):
    assert main(["train", "--out", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
