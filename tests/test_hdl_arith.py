"""Shift-add products (hdl/arith.py): exact for every operand and value, and used for graded spikes."""

import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from spikeforge.bounds import analyse
from spikeforge.hdl.arith import SHIFT_ADD_MAX_BITS, shift_add
from spikeforge.hdl.layer_engine import LayerEngine

from test_hdl_layer_engine import check, one_layer, random_images


@pytest.mark.parametrize("value_bits", range(1, SHIFT_ADD_MAX_BITS + 1))
def test_shift_add_equals_the_product_for_every_operand_and_value(value_bits):
    operand, value = Signal(signed(6)), Signal(unsigned(value_bits))
    product = Signal(signed(6 + value_bits + 1))
    m = Module()
    m.d.comb += product.eq(shift_add(operand, value))
    wrong = []

    async def bench(ctx):
        for w in range(-32, 32):
            for v in range(1 << value_bits):
                ctx.set(operand, w)
                ctx.set(value, v)
                if ctx.get(product) != w * v:
                    wrong.append((w, v, ctx.get(product)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not wrong, f"operand, value, shift-add result: {wrong[:5]}"


def multiplier_cells(input_bits: int, weight_bits: int) -> int:
    """Multipliers of two signals (not by a constant) in a one-layer IF engine's RTLIL.

    The engine is fed ``input_bits``-wide values; products by constants (addresses) don't count.
    """
    spec = one_layer(seed=1, n_in=4, n_out=3, weight_bits=weight_bits, threshold=9, state_bits=12,
                     input_bits=input_bits)
    engine = LayerEngine(spec.layers[0], analyse(spec)[0], 3, input_bits, spec.timesteps)
    cells = rtlil.convert(engine).split("cell $mul ")[1:]
    operands = [re.findall(r"connect \\[AB] (\S+)", cell.split("\n  end")[0]) for cell in cells]
    return sum(not any(re.match(r"\d+'", operand) for operand in pair) for pair in operands)


def test_graded_values_use_shift_add_and_wide_values_a_multiplier():
    assert multiplier_cells(SHIFT_ADD_MAX_BITS, weight_bits=4) == 0
    assert multiplier_cells(SHIFT_ADD_MAX_BITS + 1, weight_bits=4) > 0
    # Binary weights multiply the layer's constant scale by the value: never a multiplier.
    assert multiplier_cells(SHIFT_ADD_MAX_BITS + 1, weight_bits=1) == 0


@pytest.mark.parametrize("input_bits", [2, 3])
@pytest.mark.parametrize("weight_bits", [1, 3])
@pytest.mark.parametrize("lanes", [1, 4])
def test_graded_inputs_match_golden(input_bits, weight_bits, lanes):
    spec = one_layer(seed=input_bits * 7 + weight_bits, n_in=9, n_out=8, weight_bits=weight_bits,
                     threshold=12, state_bits=12, input_bits=input_bits)
    images = random_images(input_bits, 2, 9, high=(1 << input_bits) - 1)
    check(spec, lanes, images)
