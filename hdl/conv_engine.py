"""Event-driven engine of one conv2d layer: the linear engine's neurons, a kernel-window address generator.

Lanes are output channels. With ``G = ceil(C_out / P)`` groups of ``P`` lanes, ``k × k`` kernels,
stride ``s``, zero padding ``p`` and ``OH × OW`` output positions:

* membrane word ``position · G + group`` holds the ``P`` lanes (channels ``group·P ..``) at output
  position ``position = oy · OW + ox``;
* weight word ``((c_in · k + ky) · k + kx) · G + group`` holds ``W[group·P + lane, c_in, ky, kx]``
  of the ``P`` lanes: one copy of the kernel, reused at every position;
* bias word ``group``, as in the linear engine (one bias per output channel).

An input event with NCHW index ``c_in·H·W + y·W + x`` is split into ``(c_in, y, x)`` by constant
division (:mod:`spikeforge.hdl.arith`) when it is taken. Along each axis its valid taps, those
whose output row ``oy = (y + p − ky) / s`` is an integer in ``0..OH−1``, are a progression
``ky0, ky0 + s, ...`` with outputs ``oy0, oy0 − 1, ...`` (:func:`spikeforge.hdl.geometry.axis_taps`):
per-row and per-column constant tables give ``ky0``, ``oy0`` and the count, latched with the
channel. The event then takes ``n_y · n_x · G`` cycles over just those taps, ``(ky, kx, group)``
with ``group`` fastest, every cycle writing; an event with no valid tap (stride larger than the
kernel, or an unpadded edge) takes one cycle and writes nothing. The cost model
(:mod:`spikeforge.hdl.cost`) charges every event the most one can cost (``<= ceil(k/s)² · G``).

The update pass walks all ``OH · OW · G`` words, position outer and group inner, with the neuron
arithmetic of :class:`~spikeforge.hdl.layer_engine.LayerEngine` unchanged; a spike of lane ``i``
in the word of ``(position, group)`` leaves as NCHW index ``(group·P + i) · OH·OW + position``.
With one group, consecutive cycles may address one word (two events at one position): the linear
engine's pipeline then forwards the word being written (its module docstring).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed

from spikeforge.bounds import LayerBounds, signed_bits, unsigned_bits
from spikeforge.netspec import LayerSpec

from .arith import divmod_const
from .geometry import Window, window, window_taps
from .layer_engine import LayerEngine, pack
from .select import select


def window_axis(m, geo: Window, coordinate, tap, size: int, out_size: int, name: str):
    """Output row (or column) ``(coordinate + p − tap) / s`` of a window tap, and whether it exists.

    ``coordinate`` is the input row, ``tap`` the kernel row ``0..k−1``; the result is valid when
    the division is exact and the quotient lies in ``0..out_size−1``.
    """
    low, high = geo.padding - (geo.kernel - 1), size - 1 + geo.padding
    n = Signal(signed(signed_bits(min(low, 0), high)), name=f"{name}_n")
    m.d.comb += n.eq(coordinate + geo.padding - tap)
    quotient, remainder = divmod_const(m, n.as_unsigned()[:unsigned_bits(high)], geo.stride,
                                       high, name)
    # Only the checks that can fail: a comparison that is constant trips Verilator's lint.
    valid = 1
    if low < 0:
        valid = valid & (n >= 0)
    if geo.stride > 1:
        valid = valid & (remainder == 0)
    if high // geo.stride >= out_size:
        valid = valid & (quotient < out_size)
    return quotient, valid


class ConvEngine(LayerEngine):
    """One conv2d layer: accumulate events over kernel windows, update neurons, emit spike events.

    Parameters
    ----------
    layer : LayerSpec
        A conv2d layer: weights ``(C_out, C_in, k, k)``, bias per output channel.
    bounds : LayerBounds
        Its widths, from :func:`spikeforge.bounds.analyse`.
    lanes : int
        Output channels updated per cycle, ``1 <= lanes <= C_out``.
    value_bits : int
        Width of the input events' value.
    timesteps : int
        T.
    stage : int
        Position among the layers with neurons (bistable schedule).
    in_shape : tuple of int
        The layer's input ``(C_in, H, W)``.

    Attributes
    ----------
    events_in : stream of events over ``C_in·H·W`` NCHW indices
    events_out : stream of spike events over ``C_out·OH·OW`` NCHW indices
    membranes : debug view (see :func:`~spikeforge.hdl.layer_engine.membrane_signature`)
    """

    def __init__(self, layer: LayerSpec, bounds: LayerBounds, lanes: int, value_bits: int,
                 timesteps: int, stage: int, in_shape):
        self.geometry = window(layer, in_shape)
        self.positions = self.geometry.positions
        super().__init__(layer, bounds, lanes, value_bits, timesteps, stage)

    @property
    def n_inputs(self) -> int:
        return self.geometry.inputs

    @property
    def n_outputs(self) -> int:
        return self.layer.n_out * self.positions

    def weight_words(self) -> list[int]:
        """Word ``((c_in·k + ky)·k + kx)·G + g``: the lanes of group ``g`` for that kernel tap."""
        layer, lanes, bits, k = self.layer, self.lanes, self.layer.weight_bits, self.geometry.kernel
        words = []
        for source in range(layer.n_in):
            for ky in range(k):
                for kx in range(k):
                    for group in range(self.n_groups):
                        lane_values = []
                        for lane in range(lanes):
                            channel = group * lanes + lane
                            weight = (int(layer.weights[channel, source, ky, kx])
                                      if channel < layer.n_out else 0)
                            lane_values.append((1 if weight > 0 else 0) if bits == 1 else weight)
                        words.append(pack(lane_values, bits))
        return words

    # ---- address generation --------------------------------------------------------------
    def _declare_addressing(self, m, s):
        geo, words = self.geometry, self.positions * self.n_groups
        rows, columns = window_taps(geo)
        s.row_taps, s.column_taps = rows, columns
        most = max(max(t.count for t in rows), max(t.count for t in columns))
        s.channel = Signal(range(max(geo.channels, 2)), name="channel")
        s.ky = Signal(range(max(geo.kernel, 2)), name="ky")
        s.kx = Signal(range(max(geo.kernel, 2)), name="kx")
        s.kx_first = Signal.like(s.kx, name="kx_first")
        s.oy = Signal(range(max(geo.out_height, 2)), name="oy")
        s.ox = Signal(range(max(geo.out_width, 2)), name="ox")
        s.ox_first = Signal.like(s.ox, name="ox_first")
        # Taps still to visit after the current one, per axis (the column count restarts per row).
        s.rows_left = Signal(range(max(most, 2)), name="rows_left")
        s.columns_left = Signal.like(s.rows_left, name="columns_left")
        s.columns_last = Signal.like(s.rows_left, name="columns_last")
        # An event with no valid tap (stride > kernel, or an unpadded edge): one cycle, no write.
        s.can_be_empty = any(t.count == 0 for t in rows + columns)
        s.empty = Signal(name="no_tap") if s.can_be_empty else None
        s.position = Signal(range(max(self.positions, 2)), name="position")
        s.stage1_position = Signal.like(s.position, name="stage1_position")
        s.stage2_position = Signal.like(s.position, name="stage2_position")
        if s.can_be_empty:
            s.stage1_valid = Signal(name="stage1_valid")  # the word writes (an event with a tap)
            s.stage2_valid = Signal(name="stage2_valid")
        self._take_event(m, s)

    def _take_event(self, m, s):
        """On every input transfer, latch the event's channel and its first valid tap and tap
        counts per axis (from per-row and per-column constant tables): the accumulate then visits
        only the valid taps. Nothing is read from these registers unless the engine holds an event."""
        geo = self.geometry
        plane = geo.height * geo.width
        index = self.events_in.payload.index
        channel, rest = divmod_const(m, index, plane, geo.inputs - 1, "event_channel")
        y, x = divmod_const(m, rest, geo.width, plane - 1, "event_row")
        take = self.events_in.valid & self.events_in.ready
        first = {}
        for axis, coordinate, taps, tap, out, left in (
                ("y", y, s.row_taps, s.ky, s.oy, s.rows_left),
                ("x", x, s.column_taps, s.kx, s.ox, s.columns_left)):
            first_tap = Signal.like(tap, name=f"first_k{axis}")
            first_out = Signal.like(out, name=f"first_o{axis}")
            last = Signal.like(left, name=f"last_{axis}_tap")
            none = Signal(name=f"no_{axis}_tap")
            # The table as constant words ``first_tap, first_out, count − 1, no tap`` chosen by a
            # Mux chain (hdl/select.py: Icarus evaluates it at time 0; Yosys folds the constants).
            fields = (len(first_tap), len(first_out), len(last), 1)
            words = []
            for entry in taps:
                word, offset = 0, 0
                for value, width in zip((entry.first_tap, entry.first_out,
                                         max(entry.count - 1, 0), int(entry.count == 0)), fields):
                    word |= value << offset
                    offset += width
                words.append(Const(word, sum(fields)))
            chosen = Signal(sum(fields), name=f"{axis}_taps")
            m.d.comb += [chosen.eq(select(coordinate, words)),
                         Cat(first_tap, first_out, last, none).eq(chosen)]
            first[axis] = first_tap, first_out, last, none
        with m.If(take):
            (ky, oy, last_y, none_y), (kx, ox, last_x, none_x) = first["y"], first["x"]
            m.d.sync += [s.channel.eq(channel), s.ky.eq(ky), s.oy.eq(oy), s.rows_left.eq(last_y),
                         s.kx.eq(kx), s.kx_first.eq(kx), s.ox.eq(ox), s.ox_first.eq(ox),
                         s.columns_left.eq(last_x), s.columns_last.eq(last_x)]
            if s.can_be_empty:
                m.d.sync += s.empty.eq(none_y | none_x)

    def _read_addresses(self, m, s):
        geo, G, k = self.geometry, self.n_groups, self.geometry.kernel
        words = self.positions * G
        # Every visited tap is valid: the output position needs no check (an event without a tap
        # reads the word its table entry points at, 0, and writes nothing).
        target = Signal(range(max(words, 2)), name="accumulate_address")
        m.d.comb += target.eq((s.oy * geo.out_width + s.ox) * G + s.group)
        s.v_addr = Signal(range(max(words, 2)), name="membrane_address")
        m.d.comb += s.v_addr.eq(Mux(s.updating, s.position * G + s.group, target))
        w_addr = s.channel * (k * k * G) + s.ky * (k * G) + s.kx * G + s.group
        return w_addr, s.group, s.v_addr

    def _latch_stage1(self, m, s):
        m.d.sync += s.stage1_position.eq(s.position)
        if s.can_be_empty:
            m.d.sync += s.stage1_valid.eq(~s.empty)

    def _latch_stage2(self, m, s):
        m.d.sync += s.stage2_position.eq(s.stage1_position)
        if s.can_be_empty:
            m.d.sync += s.stage2_valid.eq(s.stage1_valid)

    def _write_enable(self, s):
        return s.stage2_update | s.stage2_valid if s.can_be_empty else 1

    def _first_neuron(self, s):
        return s.stage2_group * (self.lanes * self.positions) + s.stage2_position

    def _same_word_within(self, distance: int) -> bool:
        """With at most ``distance`` groups: taps of nearby events can share an output position
        (and the update's first word can be one just accumulated); one position's words come
        round every ``G`` cycles at the earliest."""
        return self.n_groups <= distance

    def _spike_index(self, base, lane):
        return base + lane * self.positions

    def _last_issue(self, s):
        last = (s.group == self.n_groups - 1) & (s.rows_left == 0) & (s.columns_left == 0)
        return last | s.empty if s.can_be_empty else last

    def _step_counters(self, m, s, issue_accumulate, issue_update):
        """``group`` fastest; then the valid ``kx``, ``ky`` of an event (stride apart, their
        outputs one apart), or ``position`` for the update pass. The event's last issue changes
        no tap register: :meth:`_take_event` may load the next event's in the same cycle."""
        with m.If(issue_accumulate | issue_update):
            if s.can_be_empty:
                with m.If(issue_accumulate & s.empty):
                    m.d.sync += s.holding.eq(0)
                with m.Else():
                    self._advance_taps(m, s, issue_accumulate)
            else:
                self._advance_taps(m, s, issue_accumulate)

    def _advance_taps(self, m, s, issue_accumulate):
        G, stride, group = self.n_groups, self.geometry.stride, s.group
        with m.If(group == G - 1):
            m.d.sync += group.eq(0)
            with m.If(issue_accumulate):
                with m.If(s.columns_left == 0):
                    with m.If(s.rows_left == 0):
                        m.d.sync += s.holding.eq(0)
                    with m.Else():
                        m.d.sync += [s.rows_left.eq(s.rows_left - 1),
                                     s.ky.eq(s.ky + stride), s.oy.eq(s.oy - 1),
                                     s.columns_left.eq(s.columns_last),
                                     s.kx.eq(s.kx_first), s.ox.eq(s.ox_first)]
                with m.Else():
                    m.d.sync += [s.columns_left.eq(s.columns_left - 1),
                                 s.kx.eq(s.kx + stride), s.ox.eq(s.ox - 1)]
            with m.Else():
                with m.If(s.position == self.positions - 1):
                    m.d.sync += [s.position.eq(0), s.marker_pending.eq(1)]
                with m.Else():
                    m.d.sync += s.position.eq(s.position + 1)
        with m.Else():
            m.d.sync += group.eq(group + 1)
