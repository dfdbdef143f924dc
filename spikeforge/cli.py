"""The ``spikeforge`` command: one subcommand per stage, ``demo`` to chain them, ``doctor`` for tools."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.table import Table

from . import __version__
from .errors import SpikeforgeError
from .quant.methods import METHODS


def _out(args) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def cmd_train(args) -> int:
    from .flow import console, train_stage

    out = _out(args)
    report = train_stage(out, method=args.method, seed=args.seed, epochs=args.epochs,
                         timesteps=args.timesteps, hidden=args.hidden, data=args.data,
                         options=_parse_options(args.option), readout=args.readout)
    console.print(f"NetSpec written to {out / 'netspec.npz'}; report in {out / 'train_report.json'}")
    _print_mapping("train", {key: value for key, value in report.items()
                             if not isinstance(value, (list, dict))})
    return 0


def _parse_options(pairs) -> dict:
    """``["budget_drop=0.5", "weight_bits=[1,4]"]`` -> ``{"budget_drop": 0.5, "weight_bits": (1, 4)}``.

    Values are read as JSON (numbers, lists, true/false, null), else kept as text; lists become
    tuples, as the configs hold them.
    """
    import json

    options = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise SpikeforgeError("malformed option", "--option", "key=value", repr(pair))
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options[key.strip()] = tuple(value) if isinstance(value, list) else value
    return options


def cmd_golden(args) -> int:
    from .flow import golden_stage

    report = golden_stage(Path(args.netspec), _out(args), seed=args.seed, data=args.data)
    _print_mapping("golden", report)
    return 0


def cmd_compile(args) -> int:
    from .flow import compile_stage, console, stage

    out = _out(args)
    with stage("generate Verilog"):
        design = compile_stage(Path(args.netspec), out, args.lanes, lint=not args.no_lint,
                               input_draws=args.input_draws, pair_events=args.pair_events)
    console.print(f"Verilog written to {design['verilog']}; description in {out / 'design.json'}")
    lint = design.get("lint")
    if lint is not None:
        console.print(f"verilator lint ({lint['command']}): "
                      + ("clean" if lint["passed"] else "\n  " + "\n  ".join(lint["messages"])))
    return 0


def cmd_sim(args) -> int:
    from .flow import console, sim_stage, stage

    with stage(f"co-simulate {args.images} images on {args.simulator}"):
        report = sim_stage(Path(args.netspec), _out(args), images=args.images,
                           simulator=args.simulator, lanes=args.lanes, seed=args.seed,
                           verilog=args.verilog, debug=args.debug, input_draws=args.input_draws,
                           pair_events=args.pair_events)
    console.print(f"{report['images']} images bit-exact against the golden model on "
                  f"{report['simulator']}; mean {report['cycles_mean']:.0f} cycles per image")
    return 0


def cmd_build(args) -> int:
    from .flow import build_stage, console, stage

    with stage(f"synthesize, place and route for {args.board}"):
        report = build_stage(Path(args.netspec), _out(args), board=args.board, lanes=args.lanes,
                             seed=args.seed, input_draws=args.input_draws,
                             pair_events=args.pair_events)
    keys = ("board", "device", "lcs", "ffs", "brams", "dsps", "ios", "fmax_mhz", "target_mhz",
            "timing_met", "bitstream", "seconds")
    _print_mapping("build", {key: report.get(key) for key in keys})
    if report.get("per_layer"):
        table = Table(title="per layer (synthesised with the hierarchy kept)")
        for column in ("module", "LUTs", "FFs", "BRAMs", "DSPs"):
            table.add_column(column, justify="left" if column == "module" else "right")
        for row in report["per_layer"]:
            table.add_row(row["name"], *(str(row[key]) for key in ("luts", "ffs", "brams", "dsps")))
        _wide_console().print(table)
    console.print(f"full report: {Path(args.out) / 'build_report.json'}"
                  + (f", per layer: {Path(args.out) / 'layer_resources.json'}"
                     if report.get("per_layer") else ""))
    return 0


def cmd_run(args) -> int:
    from . import netspec as netspec_io
    from .boards.host import BoardClient, SerialTransport
    from .flow import console, held_out_images

    spec = netspec_io.load(args.netspec)
    images, ids = held_out_images(args.images, args.seed)
    transport = SerialTransport(args.port, args.baud, args.timeout)
    try:
        result = BoardClient(spec, transport).run(images, ids)
    finally:
        transport.close()
    summary = result.summary()
    _print_mapping("board run", summary)
    for line in result.mismatches[:20]:
        console.print(line, highlight=False, soft_wrap=True)
    return 0 if not result.mismatches else 1


def cmd_report(args) -> int:
    from .flow import console
    from .report import build_report

    paths = build_report(Path(args.folder))
    console.print(f"report written: {paths['markdown']} and {paths['html']}")
    return 0


def cmd_demo(args) -> int:
    from .boards.registry import get_board
    from .flow import (build_stage, compile_stage, console, estimate_stage, golden_stage, sim_stage,
                       stage, train_stage)
    from .artefacts import write_json_atomic

    out = _out(args)
    netspec_path = out / "netspec.npz"
    start = time.perf_counter()
    console.rule("1/5 train (Brevitas QAT on scikit-learn digits)")
    train = train_stage(out, seed=args.seed)
    console.rule("2/5 golden integer executor on the 360 held-out images")
    golden = golden_stage(netspec_path, out, seed=args.seed)
    console.rule("3/5 compile to Verilog with Amaranth")
    with stage("generate and lint Verilog"):
        design = compile_stage(netspec_path, out, args.lanes)
    estimate_stage(netspec_path, out, args.lanes, family=get_board(args.board).family)
    console.rule(f"4/5 co-simulate {args.images} images on Verilator (cocotb)")
    with stage("co-simulation"):
        cosim = sim_stage(netspec_path, out, images=args.images, lanes=args.lanes, seed=args.seed,
                          verilog=Path(design["verilog"]))
    build = None
    if not args.skip_build:
        console.rule(f"5/5 build for {args.board} (yosys + nextpnr)")
        with stage("synthesis, place and route"):
            build = build_stage(netspec_path, out, board=args.board, lanes=args.lanes)
    summary = {
        "golden_accuracy": golden["accuracy"], "test_images": golden["images"],
        "quantized_accuracy": train["quantized_accuracy"], "count_agreement": train["count_agreement"],
        "synaptic_ops_per_image": golden["synaptic_ops_per_image"],
        "energy_model_pj_per_image": golden["energy_model_pj_per_image"],
        "verilog": design["verilog"], "lint_clean": design.get("lint", {}).get("passed"),
        "cosim_images": cosim["images"], "cosim_bit_exact": cosim["bit_exact"],
        "cycles_per_image": cosim["cycles_mean"],
        "build": build, "seconds": round(time.perf_counter() - start, 1), "out": str(out),
    }
    write_json_atomic(out / "summary.json", summary)
    from .report import build_report

    report = build_report(out)
    console.print(_summary_table(summary))
    console.print(f"report: {report['html']}")
    return 0


def _summary_table(summary: dict) -> Table:
    table = Table(title="spikeforge demo", show_header=True)
    table.add_column("stage")
    table.add_column("result")
    table.add_row("train", f"quantized model {summary['quantized_accuracy'] * 100:.1f} %, "
                  f"spike counts equal to the golden model's on {summary['count_agreement']}/"
                  f"{summary['test_images']} images")
    table.add_row("golden", f"{summary['golden_accuracy'] * 100:.1f} % on "
                  f"{summary['test_images']} held-out images (integer executor)")
    table.add_row("synaptic ops", f"{summary['synaptic_ops_per_image']:.0f} per image")
    energy = summary["energy_model_pj_per_image"]
    table.add_row("energy (model)", f"SNN {energy['snn'] / 1000:.1f} nJ per image, ANN fp32 "
                  f"{energy['ann_fp32'] / 1000:.1f} nJ, ANN int8 {energy['ann_int8'] / 1000:.1f} nJ "
                  "(45 nm table, not measured)")
    table.add_row("compile", f"{summary['verilog']} (lint clean: {summary['lint_clean']})")
    table.add_row("co-simulation", f"{summary['cosim_images']} images, bit-exact: "
                  f"{summary['cosim_bit_exact']}, {summary['cycles_per_image']:.0f} cycles/image")
    build = summary.get("build")
    if build:
        table.add_row("build", f"{build.get('board')}: {build.get('lcs')} LCs, {build.get('ffs')} FFs, "
                      f"{build.get('brams')} EBRs, {build.get('dsps')} DSPs, "
                      f"Fmax {build.get('fmax_mhz')} MHz")
    table.add_row("artefacts", f"{summary['out']} ({summary['seconds']} s)")
    return table


def cmd_boards(args) -> int:
    from .boards.registry import board_table

    table = Table(title="boards spikeforge builds for")
    columns = ("name", "device", "package", "lcs", "ffs", "brams", "dsps", "clock_mhz", "toolchain")
    for column in columns:
        table.add_column(column)
    for row in board_table():
        table.add_row(*(str(row[column]) for column in columns))
    _wide_console().print(table)
    return 0


def cmd_estimate(args) -> int:
    from .flow import estimate_stage

    out = _out(args)
    estimate = estimate_stage(Path(args.netspec), out, args.lanes, family=args.family,
                              pair_events=args.pair_events)
    table = Table(title=f"resource estimate, {args.family} (yosys post-synthesis cells, a model; "
                        f"{estimate['seconds'] * 1000:.1f} ms)")
    columns = ("luts", "ffs", "brams", "lutrams", "dsps")
    for column in ("part", *columns, "memories"):
        table.add_column(column)
    for row in estimate["rows"]:
        memories = ", ".join(f"{m['name'].split('.')[-1]} {m['depth']}x{m['width']}: "
                             + (f"{m['cells']} {m['primitive']}" if m["cells"] else "logic")
                             for m in row["memories"])
        table.add_row(row["name"], *(str(row[column]) for column in columns), memories)
    table.add_row("total", *(str(estimate["total"][column]) for column in columns), "",
                  style="bold")
    _wide_console().print(table)
    if not estimate["luts_fitted"]:
        print(f"note: no LUT coefficients fitted for {args.family} yet (python bench/estimator.py "
              "--fit): its LUTs read 0")
    accuracy = estimate["accuracy"]
    if accuracy:
        n, pct = accuracy["networks"], lambda key: f"{accuracy[key] * 100:.1f} %"
        print(f"model error against yosys on {n} held-out {accuracy['kind']} networks "
              f"({args.family}): LUTs mean {pct('luts_mean_abs_error')}, max "
              f"{pct('luts_max_abs_error')} ({accuracy['luts_worst']}), "
              f"{accuracy['luts_within_15pct']}/{n} within 15 %; "
              f"FFs max {pct('ffs_max_abs_error')}; "
              f"block RAMs exact on {accuracy['brams_exact']}/{n}")
        cv = accuracy.get("cross_validation")
        if cv:
            print(f"and {cv['folds']}-fold cross-validated on {cv['networks']} random calibration "
                  f"networks: LUTs mean {cv['luts_mean_abs_error'] * 100:.1f} %, max "
                  f"{cv['luts_max_abs_error'] * 100:.1f} %, {cv['luts_within_15pct']}/"
                  f"{cv['networks']} within 15 %")
    else:
        print(f"note: no accuracy recorded for this kind of network on {args.family} "
              "(python bench/estimator.py --record)")
    print(f"estimate written to {out / 'estimate_report.json'}")
    return 0


def cmd_power(args) -> int:
    from .flow import stage
    from .power import power_stage

    out = _out(args)
    with stage(f"simulate {args.images} images on Icarus with a VCD dump, count toggles"):
        report = power_stage(Path(args.netspec), out, images=args.images, family=args.family,
                             mhz=args.mhz, lanes=args.lanes, seed=args.seed)
    energy, power, activity = report["energy_nj_per_image"], report["power_mw"], report["activity"]
    _print_mapping(f"dynamic power, {args.family} (MODEL from MEASURED switching activity)", {
        "images (bit-exact)": f"{report['images']} ({report.get('bit_exact')})",
        "cycles per image": activity["cycles_per_image"],
        "FF toggle rate": activity["ff"]["toggle_rate"],
        "logic toggle rate": activity["logic"]["toggle_rate"],
        **{f"energy {key} (nJ/image)": energy[key]
           for key in ("ff", "logic", "memory", "clock", "total")},
        f"power at {report['clock_mhz']:g} MHz (mW)": power["total"],
    })
    print(f"report written to {out / 'power_report.json'}")
    return 0


def cmd_doctor(args) -> int:
    from .toolchain import doctor

    rows = doctor()
    table = Table(title="spikeforge toolchain")
    for column in ("tool", "stage", "status", "version", "install"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["tool"], row["stage"], "ok" if row["ok"] else "[red]missing[/red]",
                      row["version"] or "-", "" if row["ok"] else row["install"])
    _wide_console().print(table)
    missing = [row["tool"] for row in rows if not row["ok"]]
    return 1 if missing else 0


def _wide_console():
    """A console that never cuts a table when the output is a pipe or a log file."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=140)


def _print_mapping(title: str, mapping: dict) -> None:
    table = Table(title=title, show_header=False)
    for key, value in mapping.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        table.add_row(str(key), str(value))
    _wide_console().print(table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeforge", description="Quantized spiking neural networks to verified FPGA hardware.")
    parser.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def add_out(p, default="out"):
        p.add_argument("--out", default=default, help=f"output folder (default: {default})")

    def add_lanes(p):
        p.add_argument("--lanes", help="neurons updated in parallel per layer, e.g. 8,10 "
                                       "(default: chosen by the generator)")

    def add_input_draws(p):
        p.add_argument("--input-draws", type=int, metavar="K",
                       help="rate encoder: LFSR draws (inputs compared) per cycle, 1..16 and at most "
                            "the input size; above 1 only for rate-coded inputs (default: 1)")
        add_pair_events(p)

    def add_pair_events(p):
        p.add_argument("--pair-events", metavar="LAYERS",
                       help="comma-separated linear layers whose engine adds two input events per "
                            "pass over its lane groups (about half the accumulate cycles, a second "
                            "weight read port): binary weights, spike inputs, >= 2 groups "
                            "(default: none)")

    p = add("train", cmd_train, "train a quantized SNN (QAT, ALBSNN, conversion, MT-LIF, ASNN) "
                                "and export a NetSpec")
    add_out(p)
    p.add_argument("--method", default="qat", choices=METHODS,
                   help="qat: Brevitas QAT MLP (the demo); albsnn: layer-selective binarization of "
                        "a conv net; convert: ANN->SNN conversion (IF or bistable); mtlif: "
                        "multi-threshold LIF; asnn: adaptive neurons, hybrid coding (default: qat)")
    p.add_argument("--data", help="a .npz (arrays x, y) or an ImageFolder directory "
                                  "(default: the embedded scikit-learn digits)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int)
    p.add_argument("--timesteps", type=int, help="time steps T")
    p.add_argument("--hidden", type=int, help="hidden neurons (MLP methods)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="any other field of the method's config, e.g. --option max_drop=1.0 "
                        "(repeatable; values read as JSON)")
    p.add_argument("--readout", default="spike_count", choices=("spike_count", "membrane"),
                   help="spike_count: class = most spikes of the last layer; membrane: the exported "
                        "last layer is non-spiking and the class is its largest membrane after the "
                        "last step (default: spike_count)")

    p = add("golden", cmd_golden, "run the integer golden executor on the held-out digits")
    p.add_argument("netspec")
    add_out(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="the data set the network was trained on (default: digits)")

    p = add("compile", cmd_compile, "generate the network's Verilog with Amaranth and lint it")
    p.add_argument("netspec")
    add_out(p)
    add_lanes(p)
    add_input_draws(p)
    p.add_argument("--no-lint", action="store_true", help="skip verilator --lint-only")

    p = add("sim", cmd_sim, "co-simulate test images with cocotb, bit-exact against the golden model")
    p.add_argument("netspec")
    add_out(p)
    add_lanes(p)
    add_input_draws(p)
    p.add_argument("--images", type=int, default=50, help="held-out images to simulate (default 50)")
    p.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"])
    p.add_argument("--verilog", help="Verilog to check (default: generate it from the NetSpec)")
    p.add_argument("--debug", action="store_true",
                   help="also record every layer's spikes and membranes and name the first diverging "
                        "layer, step and neuron (per-cycle testbench, slower)")
    p.add_argument("--seed", type=int, default=0)

    p = add("build", cmd_build, "synthesize, place and route for a board; report resources and Fmax")
    p.add_argument("netspec")
    add_out(p)
    add_lanes(p)
    add_input_draws(p)
    p.add_argument("--board", default="icebreaker", help="target board (default: icebreaker)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")

    p = add("run", cmd_run, "run held-out images on a board over its serial port, checked "
                            "against the golden model")
    p.add_argument("netspec", help="the NetSpec the board's bitstream was built from")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)

    p = add("report", cmd_report, "write report.md and report.html with plots from a run folder")
    p.add_argument("folder", help="a folder the stages wrote into (e.g. out/demo)")

    p = add("demo", cmd_demo, "run every stage on the embedded digits data set")
    add_out(p, default="out/demo")
    add_lanes(p)
    p.add_argument("--images", type=int, default=50, help="test images to co-simulate (default 50)")
    p.add_argument("--board", default="icebreaker")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-build", action="store_true", help="stop after co-simulation")

    p = add("estimate", cmd_estimate, "estimate LUTs, FFs, block RAMs and DSPs per layer "
                                      "without synthesis")
    p.add_argument("netspec")
    add_out(p)
    add_lanes(p)
    p.add_argument("--family", default="ice40", choices=["ice40", "ecp5", "gowin"],
                   help="device family (default: ice40)")
    add_pair_events(p)

    p = add("power", cmd_power, "dynamic power from the switching activity of an Icarus "
                                "co-simulation (a model driven by measured toggles)")
    p.add_argument("netspec")
    add_out(p)
    add_lanes(p)
    p.add_argument("--images", type=int, default=3, help="held-out images to simulate (default 3)")
    p.add_argument("--family", default="ice40",
                   help="device family whose coefficients apply: ice40 or ecp5 (default: ice40)")
    p.add_argument("--mhz", type=float, help="clock frequency for the power figure "
                                             "(default: 12 for ice40, 25 for ecp5)")
    p.add_argument("--seed", type=int, default=0)

    add("boards", cmd_boards, "list the boards, their devices and resources")
    add("doctor", cmd_doctor, "list each tool of the chain, its version, and how to install it")
    return parser


def main(argv=None) -> int:
    """Entry point of the ``spikeforge`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SpikeforgeError as exc:
        from .flow import console

        from rich.markup import escape

        # soft_wrap: one line however long, so the message can be grepped and pasted whole.
        console.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False,
                      soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
