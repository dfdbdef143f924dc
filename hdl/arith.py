"""Arithmetic without general dividers or multipliers: constant division, shift-add products.

Division by a constant: ``n // d`` and ``n % d`` for bounded ``n``.

The conv and pool engines split a flat NCHW event index into channel, row and column, and an
output row into quotient and remainder by the stride. A general divider would cost far more logic
than these small constants need: a power of two is a bit slice, any other ``d`` a multiplication by
a rounded reciprocal ``M = ceil(2**s / d)`` and a shift, ``(n · M) >> s``. The shift ``s`` is chosen
at elaboration time and checked exhaustively over ``0..max_value``, so the quotient is exact.

Products by a graded spike: ``W · s`` with ``s`` a few bits wide (an MT-LIF level, a pooled count)
is the sum of ``W << b`` over the set bits ``b`` of ``s`` (:func:`shift_add`), a couple of adders,
where a multiplier would take a DSP block or a generic multiplier's logic.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Mux, Signal, unsigned

#: Widest spike value :func:`shift_add` multiplies by (K <= 7): wider values use a multiplier.
SHIFT_ADD_MAX_BITS = 3


def reciprocal(divisor: int, max_value: int) -> tuple[int, int]:
    """The smallest ``(M, s)`` with ``(n · M) >> s == n // divisor`` for every ``n`` in ``0..max_value``."""
    values = np.arange(max_value + 1, dtype=object)
    for shift in range(max(1, max_value.bit_length()), 2 * max_value.bit_length() + 8):
        factor = -(-(1 << shift) // divisor)
        if all((values * factor) >> shift == values // divisor):
            return factor, shift
    raise AssertionError(f"no reciprocal for {divisor} up to {max_value}")  # cannot happen


def divmod_const(m, value, divisor: int, max_value: int, name: str):
    """``(value // divisor, value % divisor)`` as signals, for ``0 <= value <= max_value``.

    Parameters
    ----------
    m : Module
        Module that receives the combinational logic.
    value : Value
        Unsigned operand.
    divisor : int
        Positive constant.
    max_value : int
        Largest value ``value`` takes (the quotient is exact up to it).
    name : str
        Prefix of the signals' names.
    """
    quotient = Signal(unsigned(max(1, (max_value // divisor).bit_length())), name=f"{name}_q")
    remainder = Signal(unsigned(max(1, (divisor - 1).bit_length())), name=f"{name}_r")
    if divisor & (divisor - 1) == 0:  # a power of two: slices
        shift = divisor.bit_length() - 1
        m.d.comb += [quotient.eq(value >> shift), remainder.eq(value[:shift] if shift else 0)]
        return quotient, remainder
    factor, shift = reciprocal(divisor, max_value)
    # The product's low bits are dropped on purpose (Verilator's "unused" naming convention).
    product = Signal(unsigned(max_value.bit_length() + factor.bit_length()),
                     name=f"{name}_product_unused")
    m.d.comb += [product.eq(value * factor), quotient.eq(product >> shift),
                 remainder.eq(value - quotient * divisor)]
    return quotient, remainder


def shift_add(operand, value):
    """``operand · value`` as a sum of shifted copies of ``operand``, one per bit of ``value``.

    Parameters
    ----------
    operand : Value or int
        Signed or unsigned multiplicand (a weight, or a binary layer's scale).
    value : Value
        Unsigned multiplier, a few bits wide.
    """
    terms = [Mux(value[bit], operand << bit, 0) for bit in range(len(value))]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
