"""Post-synthesis resources per layer (the network synthesised with its hierarchy kept)."""

import pytest

from spikeforge.boards.layer_resources import classify_cells, layer_resources, module_cells
from spikeforge.hdl.network import NetworkTop
from spikeforge.synthetic import random_netspec

STAT = """
=== spikeforge_top ===

   Number of cells:                 12
          4   SB_DFFSR
          8   SB_LUT4

=== spikeforge_top.layer_fc1 ===

   Number of cells:                 30
         10   SB_DFFE
         17   SB_LUT4
          3   SB_RAM40_4K

=== spikeforge_top.layer_fc1.fifo ===

          5   SB_LUT4

=== design hierarchy ===

         30   SB_LUT4
"""


def test_stat_is_split_per_module_without_the_hierarchy_total():
    modules = module_cells(STAT)
    assert modules == {"spikeforge_top": {"SB_DFFSR": 4, "SB_LUT4": 8},
                       "spikeforge_top.layer_fc1": {"SB_DFFE": 10, "SB_LUT4": 17, "SB_RAM40_4K": 3},
                       "spikeforge_top.layer_fc1.fifo": {"SB_LUT4": 5}}


def test_cells_are_counted_as_the_estimator_counts_them():
    assert classify_cells("ice40", {"SB_LUT4": 7, "SB_DFFE": 2, "SB_DFF": 1, "SB_RAM40_4K": 2,
                                    "SB_MAC16": 1, "SB_CARRY": 9}) == {
        "luts": 7, "ffs": 3, "brams": 2, "lutrams": 0, "dsps": 1, "carries": 9}
    ecp5 = classify_cells("ecp5", {"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 4, "DP16KD": 1,
                                   "TRELLIS_DPR16X4": 2, "MULT18X18D": 1})
    assert ecp5 == {"luts": 16, "ffs": 4, "brams": 1, "lutrams": 2, "dsps": 1, "carries": 3}
    gowin = classify_cells("gowin", {"LUT2": 3, "LUT4": 5, "ALU": 4, "DFFRE": 6, "SDPB": 1,
                                     "SDP": 2, "DPX9B": 1, "RAM16SDP4": 1})
    assert gowin == {"luts": 12, "ffs": 6, "brams": 4, "lutrams": 1, "dsps": 0, "carries": 4}
    with pytest.raises(ValueError, match="unknown family 'xilinx'"):
        classify_cells("xilinx", {})


def test_a_network_synthesised_per_layer():
    spec = random_netspec(0, sizes=(16, 12, 4), thresholds=(12, 6))
    result = layer_resources(NetworkTop(spec, [4, 4]), spec, "ice40", "-dsp")
    names = [row["name"] for row in result["rows"]]
    assert names == ["input_buffer", "input_queue", "layer_fc1", "layer_fc2", "readout", "top"]
    assert [row.get("layer") for row in result["rows"]] == [None, None, "fc1", "fc2", None, None]
    assert result["command"] == "synth_ice40 -dsp -noflatten -top spikeforge_top"
    for key in ("luts", "ffs", "brams"):
        assert result["total"][key] == sum(row[key] for row in result["rows"])
    fc1 = result["rows"][1]
    assert fc1["luts"] > 0 and fc1["ffs"] > 0 and fc1["cells"]["SB_LUT4"] == fc1["luts"]
