"""Selecting one of several values by an index, as a plain expression.

A ``Switch`` inside ``m.d.comb`` becomes an ``always @*`` block in Verilog, which Icarus Verilog
does not evaluate at time 0 when none of its inputs ever changes: the output stays X. A chain of
``Mux`` expressions becomes continuous assignments, which every simulator evaluates.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Value


def select(index: Value, values, default=0):
    """``values[index]``, or ``default`` when ``index`` is out of range."""
    result = default
    for position in reversed(range(len(values))):
        result = Mux(index == position, values[position], result)
    return result
