"""Dynamic power from switching activity (spikeforge.power): toggle counting, resource mapping, CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from spikeforge import power
from spikeforge.cli import main

# Toggles by hand: clk rises at 10, 30, 50 (3 edges); `v` (4 bits) goes 0000 -> 0011 at 5 (2),
# changes twice in the step at 20 (0011 then 0101: only the settled 0101 counts, 2 bits from
# 0011), and 0101 -> 0000 at 40 (2); `x` goes x -> 1 (no toggle) -> 0 (1); `alias` shares v's id
# code.
HAND_VCD = """\
$date today $end
$timescale 1ps $end
$scope module tb $end
$scope module dut $end
$var wire 1 ! clk $end
$var wire 1 " en $end
$var reg 4 # v [3:0] $end
$var wire 4 # alias [3:0] $end
$var wire 1 $ x $end
$var wire 4 % d [3:0] $end
$var wire 32 & a [31:0] $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
0!
0"
b0 #
x$
b0 %
b0 &
$end
#5
b11 #
1"
b1010 %
#10
1!
#15
0!
1$
#20
b11 #
b101 #
b1 &
b1111 %
#30
1!
0"
#35
0!
0$
#40
1"
b0 #
#50
1!
"""


def test_count_toggles_on_a_hand_written_vcd(tmp_path):
    path = tmp_path / "hand.vcd"
    path.write_text(HAND_VCD)
    counts = power.count_toggles(path, clock="clk", sample=["en"],
                                 stores=[("mem", "en", "a", "d")])
    signals = counts.signals
    assert counts.rising_edges == 3
    assert signals["clk"]["toggles"] == 5           # 0->1 at 10, 30, 50; 1->0 at 15, 35
    assert signals["en"]["toggles"] == 3            # 1 at 5, 0 at 30, 1 at 40
    assert signals["v"]["toggles"] == 2 + 2 + 2     # 0000->0011, 0011->0101, 0101->0000
    assert signals["alias"]["toggles"] == 0         # same id code: counted once, on `v`
    assert signals["x"]["toggles"] == 1             # x->1 does not count, 1->0 does
    assert signals["v"]["width"] == 4 and signals["v"]["kind"] == "reg"
    # en just before each edge: 1 at 10 (set at 5), 1 at 30 (it falls in that very step, after
    # the edge), 1 at 50 (set again at 40).
    assert counts.enabled == {"en": 3}
    # Stores: edge 10 writes d=1010 at a=0 (2 flips from 0); edge 30 writes 1111 at a=1 (4);
    # edge 50 writes 1111 at a=1 again (0).
    assert counts.stored == {"mem": 6}


def test_count_toggles_agrees_with_pyvcd(tmp_path):
    reader = pytest.importorskip("vcd.reader")
    path = tmp_path / "hand.vcd"
    path.write_text(HAND_VCD)
    ours = power.count_toggles(path).signals
    settled, pending, toggles, first = {}, {}, {}, {}
    in_dump = False

    def value(raw):
        if isinstance(raw, int):
            return raw, -1
        return power._value(raw)

    def settle():
        for code, new in pending.items():
            if code in settled:
                old = settled[code]
                toggles[code] = toggles.get(code, 0) + ((old[0] ^ new[0]) & old[1] & new[1]).bit_count()
            settled[code] = new
        pending.clear()

    with open(path, "rb") as stream:
        for token in reader.tokenize(stream):
            if token.kind is reader.TokenKind.VAR:
                first.setdefault(token.data.id_code, token.data.reference)
            elif token.kind is reader.TokenKind.DUMPVARS:
                in_dump = True
            elif token.kind is reader.TokenKind.END:
                in_dump = False
            elif token.kind is reader.TokenKind.CHANGE_TIME:
                settle()
            elif token.kind in (reader.TokenKind.CHANGE_SCALAR, reader.TokenKind.CHANGE_VECTOR):
                (settled if in_dump else pending)[token.data.id_code] = value(token.data.value)
    settle()
    for code, name in first.items():
        assert ours[name]["toggles"] == toggles.get(code, 0), name


YOSYS_STYLE = r"""
module spikeforge_top(clk, rst);
  input clk; input rst;
  reg [3:0] count;
  reg [7:0] \layer_a.mem  [15:0];
  reg [7:0] _07_;
  wire \layer_a.en ;
  always @(posedge clk)
    count <= count + 1;
  always @(posedge clk) begin
    if (\layer_a.en )
      \layer_a.mem [count] <= 8'h01;
  end
  always @(posedge clk) begin
    if (\layer_a.en  && rst) begin
      _07_ <= \layer_a.mem [count];
    end
  end
endmodule
"""


def test_analyse_and_instrument_a_yosys_style_module():
    analysis = power.analyse_verilog(YOSYS_STYLE)
    memory = analysis.memories["layer_a.mem"]
    assert (memory.depth, memory.width) == (16, 8)
    assert memory.writes == ["(\\layer_a.en )"]
    assert memory.reads == ["(\\layer_a.en  && rst)"]
    assert memory.read_data == ["_07_"]
    assert analysis.registers == {"count"}         # the read-data register is the RAM's output
    text, probes = power.instrument(YOSYS_STYLE, analysis)
    assert set(probes.values()) == {("layer_a.mem", "read"), ("layer_a.mem", "write")}
    assert text.rstrip().endswith("endmodule")


def test_unknown_family_is_refused():
    with pytest.raises(power.PowerError, match="unknown device family"):
        power.coefficients("stratix")
    assert set(power.COEFFICIENTS) == {"ice40", "ecp5"}
    for table in power.COEFFICIENTS.values():
        for coefficient in table.values():
            assert coefficient.value > 0 and coefficient.source
            assert coefficient.basis in ("fitted to a board measurement", "assumption")


def test_cli_unknown_family(tmp_path, capsys):
    status = main(["power", str(tmp_path / "missing.npz"), "--out", str(tmp_path),
                   "--family", "stratix"])
    assert status == 2
    assert "unknown device family at --family: expected one of ice40, ecp5, found 'stratix'" \
        in "".join(capsys.readouterr()).replace("\n", "")


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
def test_memory_accesses_equal_the_golden_events(tmp_path):
    """On a small network, the measured memory port activity equals what the design implies.

    Exact by the engine's design (hdl/layer_engine.py, DESIGN.md): the membrane memory of a layer
    with G groups is written once per (input event, group) and once per (step, group) at the
    update, so writes = events * G + images * T * G, with events = accumulates / n_out from the
    golden executor; the input store is written once per loaded input value (direct coding: every
    value is written, and only a nonzero one advances the store's fill level).
    """
    from spikeforge.golden import run
    from spikeforge.hdl.verilog import describe, generate_verilog
    from spikeforge.synthetic import random_netspec

    spec = random_netspec(seed=3, sizes=(12, 6, 3), weight_bits=(1, 4), timesteps=3,
                          thresholds=(6, 3), state_bits=(10, 8))
    lanes = [3, 3]
    rng = np.random.default_rng(0)
    images = rng.integers(0, spec.input.value_max + 1, (3, spec.input.size))
    images[:, ::3] = 0                                  # some zero inputs: written, not kept
    activity = power.simulate_activity(spec, generate_verilog(spec, lanes), images, tmp_path)
    golden = run(spec, images)
    assert activity.counts == np.asarray(golden.counts).tolist()   # the hardware is right
    n, steps = len(images), spec.timesteps
    design = describe(spec, lanes)
    for layer, index in zip(design["layers"], range(len(spec.layers))):
        events, rest = divmod(int(golden.accumulates[index]), layer["n_out"])
        assert rest == 0
        groups = layer["groups"]
        writes = activity.memories[f"layer_{layer['name']}.membranes"]["writes"]
        assert writes == events * groups + n * steps * groups, layer["name"]
        # ROMs are never written; every port is read at most once per cycle
        assert activity.memories[f"layer_{layer['name']}.weights"]["writes"] == 0
        assert activity.memories[f"layer_{layer['name']}.weights"]["reads"] <= activity.window_cycles
    assert activity.memories["input_buffer.store"]["writes"] == images.size
    assert activity.window_cycles >= sum(activity.latency_cycles)
    assert set(activity.memories) == {memory["name"] for memory in design["memories"]}

    report = power.power_estimate(activity, "ice40", mhz=12)
    energy = report["energy_nj_per_image"]
    assert report["kind"] == "model from measured activity"
    assert report["provenance"]["measured"] and report["provenance"]["modelled"]
    assert energy["total"] == pytest.approx(sum(energy[key] for key in
                                                ("ff", "logic", "memory", "clock")))
    table = power.COEFFICIENTS["ice40"]
    assert energy["clock"] == pytest.approx(activity.window_cycles * table["clock_cycle"].value
                                            / n / 1000)
    ff = report["activity"]["ff"]
    assert energy["ff"] == pytest.approx(ff["toggles"] * table["ff_toggle"].value / n / 1000)
    assert 0 < ff["toggle_rate"] < 1 and ff["toggles"] > 0
    # P = E per cycle x f
    assert report["power_mw"]["total"] == pytest.approx(report["energy_pj_per_cycle"] * 12e-3)
    ecp5 = power.power_estimate(activity, "ecp5")
    assert ecp5["family"] == "ecp5" and ecp5["clock_mhz"] == power.DEFAULT_MHZ["ecp5"]
    assert ecp5["activity"]["ff"] == ff                  # same measured activity, other coefficients
