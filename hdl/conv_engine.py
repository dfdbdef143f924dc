"""Event-driven engine of one conv2d layer: the linear engine's neurons, a kernel-window address generator.

Lanes are output channels. With ``G = ceil(C_out / P)`` groups of ``P`` lanes, ``k × k`` kernels,
stride ``s``, zero padding ``p`` and ``OH × OW`` output positions:

* membrane word ``position · G + group`` holds the ``P`` lanes (channels ``group·P ..``) at output
  position ``position = oy · OW + ox``;
* weight word ``((c_in · k + ky) · k + kx) · G + group`` holds ``W[group·P + lane, c_in, ky, kx]``
  of the ``P`` lanes: one copy of the kernel, reused at every position;
* bias word ``group``, as in the linear engine (one bias per output channel).

An input event with NCHW index ``c_in·H·W + y·W + x`` is split into ``(c_in, y, x)`` by constant
division (:mod:`spikeforge.hdl.arith`). It then takes ``k · k · G`` cycles, ``(ky, kx, group)`` with
``group`` fastest: the output row is ``oy = (y + p − ky) / s``, valid only where that is an integer
in ``0..OH−1`` (likewise ``ox``). A cycle whose position is not valid (outside the padded border,
or between strides) reads but writes nothing: every event costs the same ``k² · G`` cycles, which
keeps the control and the cost model (:mod:`spikeforge.hdl.cost`) exact and simple; skipping them
would save up to ``1 − 1/s²`` of the cycles at stride ``s`` and is a possible refinement.

The update pass walks all ``OH · OW · G`` words, position outer and group inner, with the neuron
arithmetic of :class:`~spikeforge.hdl.layer_engine.LayerEngine` unchanged; a spike of lane ``i``
in the word of ``(position, group)`` leaves as NCHW index ``(group·P + i) · OH·OW + position``.
Consecutive cycles may read the word the previous cycle writes (two events at one position): the
membrane read port is transparent to the write port, so it returns the new value.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Signal, signed

from spikeforge.bounds import LayerBounds, signed_bits, unsigned_bits
from spikeforge.netspec import LayerSpec

from .arith import divmod_const
from .geometry import Window, window
from .layer_engine import LayerEngine, pack


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
        s.ky = Signal(range(max(geo.kernel, 2)), name="ky")
        s.kx = Signal(range(max(geo.kernel, 2)), name="kx")
        s.position = Signal(range(max(self.positions, 2)), name="position")
        s.stage1_position = Signal.like(s.position, name="stage1_position")
        s.stage1_address = Signal(range(max(words, 2)), name="stage1_address")
        s.stage1_valid = Signal(name="stage1_valid")  # stage 1 holds a position inside the output

    def _read_addresses(self, m, s):
        geo, G, k = self.geometry, self.n_groups, self.geometry.kernel
        plane = geo.height * geo.width
        channel, rest = divmod_const(m, s.event_index, plane, geo.inputs - 1, "event_channel")
        y, x = divmod_const(m, rest, geo.width, plane - 1, "event_row")
        oy, valid_y = window_axis(m, geo, y, s.ky, geo.height, geo.out_height, "oy")
        ox, valid_x = window_axis(m, geo, x, s.kx, geo.width, geo.out_width, "ox")
        s.valid = Signal(name="position_valid")
        m.d.comb += s.valid.eq(valid_y & valid_x)
        words = self.positions * G
        target = Signal(range(max(words, 2)), name="accumulate_address")
        # An invalid position reads word 0 (never beyond the memory) and writes nothing.
        m.d.comb += target.eq(Mux(s.valid, (oy * geo.out_width + ox) * G + s.group, 0))
        s.v_addr = Signal(range(max(words, 2)), name="membrane_address")
        m.d.comb += s.v_addr.eq(Mux(s.updating, s.position * G + s.group, target))
        w_addr = channel * (k * k * G) + s.ky * (k * G) + s.kx * G + s.group
        return w_addr, s.group, s.v_addr

    def _latch_stage1(self, m, s):
        m.d.sync += [s.stage1_position.eq(s.position), s.stage1_address.eq(s.v_addr),
                     s.stage1_valid.eq(s.valid)]

    def _write_address(self, s):
        return s.stage1_address

    def _write_enable(self, s):
        return s.stage1_update | s.stage1_valid

    def _first_neuron(self, s):
        return s.stage1_group * (self.lanes * self.positions) + s.stage1_position

    def _spike_index(self, base, lane):
        return base + lane * self.positions

    def _last_issue(self, s):
        k = self.geometry.kernel
        return (s.group == self.n_groups - 1) & (s.ky == k - 1) & (s.kx == k - 1)

    def _step_counters(self, m, s, issue_accumulate, issue_update):
        """``group`` fastest; then ``kx``, ``ky`` for an event, ``position`` for the update pass."""
        G, k, group = self.n_groups, self.geometry.kernel, s.group
        with m.If(issue_accumulate | issue_update):
            with m.If(group == G - 1):
                m.d.sync += group.eq(0)
                with m.If(issue_accumulate):
                    with m.If(s.kx == k - 1):
                        m.d.sync += s.kx.eq(0)
                        with m.If(s.ky == k - 1):
                            m.d.sync += [s.ky.eq(0), s.holding.eq(0)]
                        with m.Else():
                            m.d.sync += s.ky.eq(s.ky + 1)
                    with m.Else():
                        m.d.sync += s.kx.eq(s.kx + 1)
                with m.Else():
                    with m.If(s.position == self.positions - 1):
                        m.d.sync += [s.position.eq(0), s.marker_pending.eq(1)]
                    with m.Else():
                        m.d.sync += s.position.eq(s.position + 1)
            with m.Else():
                m.d.sync += group.eq(group + 1)
