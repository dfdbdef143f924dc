"""The flow: each stage of the pipeline as one function, and the demo that chains them.

Every stage reads its inputs from files and writes its artefacts under one output folder, atomically,
plus a JSON report. The CLI (:mod:`spikeforge.cli`) is a thin layer over these functions.

    out/
      netspec.npz          train      the integer network
      train_report.json    train      accuracies (float, quantized, golden integer), agreement
      golden_report.json   golden     accuracy and synaptic operations on the test split
      energy_report.json   golden     energy per inference: a 45 nm model, SNN vs the equivalent ANN
      spikeforge_top.v     compile    Verilog of the network top
      design.json          compile    ports, memories, lanes, cost model, lint results
      cosim/               sim        simulator build, logs, per-image results
      cosim_report.json    sim        bit-exact verdict and cycles per image
      build/               build      amaranth-boards build folder and tool logs, bitstream
      build_report.json    build      LCs, FFs, EBRs, DSPs, Fmax from the tools' reports
      summary.json         demo       the summary table
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console

from . import netspec as netspec_io
from .artefacts import write_json_atomic, write_text_atomic
from .errors import InputError, SpikeforgeError

console = Console(stderr=True)
if not console.is_terminal:  # logs and pipes: do not wrap messages at 80 columns
    console = Console(stderr=True, width=140)

DEFAULT_OUT = Path("out/demo")
VERILOG_NAME = "spikeforge_top.v"


@contextmanager
def stage(title: str):
    """Show a spinner with elapsed time while a long step runs, then its duration."""
    start = time.perf_counter()
    with console.status(f"[bold]{title}[/bold] ...", spinner="dots"):
        yield
    console.log(f"{title}: done in {time.perf_counter() - start:.1f} s")


def parse_lanes(text: str | None, spec) -> list[int] | None:
    """``"8,10"`` -> ``[8, 10]``; None keeps the generator's default lanes."""
    if text is None:
        return None
    try:
        lanes = [int(part) for part in text.split(",")]
    except ValueError:
        raise SpikeforgeError("lanes are not integers", "--lanes", "comma-separated integers, one per "
                              "layer", repr(text)) from None
    if len(lanes) != len(spec.layers):
        raise SpikeforgeError("wrong number of lanes", "--lanes",
                              f"{len(spec.layers)} values (one per layer: "
                              f"{', '.join(layer.name for layer in spec.layers)})", f"{len(lanes)} values")
    return lanes


def parse_pair_events(text: str | None, spec, lanes: list[int] | None) -> tuple[str, ...]:
    """``--pair-events fc1[,fc2...]``: the layers whose engine adds two events per pass, checked
    against the NetSpec and the lanes (:func:`spikeforge.hdl.network.check_pair_events`); none by
    default."""
    from .hdl.network import check_buildable, check_pair_events

    if not text:
        return ()
    return check_pair_events(spec, check_buildable(spec, lanes), text)


def parse_input_draws(draws, spec) -> int:
    """``--input-draws K``: the rate encoder's LFSR draws per cycle, checked against the NetSpec.

    1 (the default) keeps the one-draw encoder; above 1 only for rate-coded inputs, at most
    ``min(16, input size)`` (:func:`spikeforge.hdl.input_buffer.check_draws`).
    """
    from .hdl.input_buffer import check_draws

    if draws is None:
        return 1
    return check_draws(spec.input, draws, option="--input-draws", label="input draws")


# ---- stages ----------------------------------------------------------------------------------

def train_stage(out: Path, method: str = "qat", seed: int = 0, epochs: int | None = None,
                timesteps: int | None = None, hidden: int | None = None, data: str | None = None,
                options: dict | None = None, progress: bool = True,
                readout: str = "spike_count") -> dict:
    """Train with ``method`` (see :mod:`spikeforge.quant.methods`) and export ``netspec.npz``.

    Parameters
    ----------
    out : pathlib.Path
        Folder for ``netspec.npz`` and ``train_report.json``.
    method : str
        ``qat``, ``albsnn``, ``convert``, ``mtlif`` or ``asnn``.
    seed, epochs, timesteps, hidden : int, optional
        Common options; None keeps the method's default.
    data : str, optional
        A ``.npz`` file or an ImageFolder directory; default the embedded digits.
    options : dict, optional
        Further fields of the method's config (``--option key=value``).
    progress : bool
        A progress bar per epoch on a terminal.
    readout : str
        ``"spike_count"`` (default) or ``"membrane"``: the exported last layer becomes
        non-spiking and the readout is its membranes after the last step
        (:func:`spikeforge.bounds.with_membrane_readout`, which widens its ``state_bits`` to the
        non-spiking range). The methods train on spike counts either way; the report then gives
        ``golden_accuracy`` of the membrane readout and ``spike_count_golden_accuracy`` of the
        trained network as it was (its ``count_agreement`` refers to that one).

    Raises
    ------
    spikeforge.errors.InputError
        For an unknown method or option, a bad value or data set, or a budget the method cannot
        meet, with the library's message.
    """
    from .quant.data import load_dataset
    from .quant.methods import method_config, train_method

    where = f"train --method {method}"
    if readout not in netspec_io.READOUTS:
        raise InputError(where, f"readout: expected one of {netspec_io.READOUTS}, found {readout!r}")
    try:
        config = method_config(method, seed=seed, epochs=epochs, timesteps=timesteps, hidden=hidden,
                               **(options or {}))
        split = load_dataset(data, seed=seed)
        result = train_method(method, config, split, progress=progress)
    except ValueError as exc:  # the quant modules phrase their errors as "field: expected, found"
        raise InputError(where, str(exc)) from None
    result.netspec.metadata["data"] = str(data) if data else "digits"
    result.report["data"] = result.netspec.metadata["data"]
    spec = result.netspec
    result.report["readout"] = readout
    if readout == "membrane":
        from .bounds import with_membrane_readout
        from .golden import run

        spec = with_membrane_readout(spec)
        predictions = run(spec, split.x_test).predictions
        result.report["spike_count_golden_accuracy"] = result.report.get("golden_accuracy")
        result.report["golden_accuracy"] = float((predictions == split.y_test).mean())
        result.report["membrane_state_bits"] = spec.layers[-1].neuron.state_bits
        spec.metadata["golden_accuracy"] = result.report["golden_accuracy"]
    spec.save(out / "netspec.npz")
    write_json_atomic(out / "train_report.json", result.report)
    return result.report


def golden_stage(netspec_path: Path, out: Path, seed: int = 0, data: str | None = None) -> dict:
    """Run the integer golden executor on the held-out split; accuracy and synaptic operations.

    ``data`` is the data set the network was trained on (default: the embedded digits).
    """
    from .golden import run
    from .quant.data import load_dataset

    spec = netspec_io.load(netspec_path)
    try:
        data = load_dataset(data, seed=seed)
    except ValueError as exc:
        raise InputError("golden --data", str(exc)) from None
    start = time.perf_counter()
    result = run(spec, data.x_test)
    seconds = time.perf_counter() - start
    accuracy = float((result.predictions == data.y_test).mean())
    report = {
        "netspec": str(netspec_path), "images": int(len(data.y_test)), "accuracy": accuracy,
        "correct": int((result.predictions == data.y_test).sum()),
        "synaptic_ops_per_image": result.synaptic_ops_per_image,
        "multiply_accumulates_per_image": float(result.multiply_accumulates.sum()) / len(data.y_test),
        "accumulates_per_layer_per_image": {
            name: float(ops) / len(data.y_test) for name, ops in zip(result.layer_names,
                                                                      result.accumulates)},
        "firing_rate_per_layer": {name: float(rate) for name, rate in
                                  zip(result.layer_names, result.firing_rates.mean(axis=1))},
        "spikes_per_layer_per_image": {
            name: float(spikes) / len(data.y_test)
            for name, spikes in zip(result.layer_names, result.layer_spikes.sum(axis=1))},
        "seconds": round(seconds, 3),
    }
    from .energy import estimate_energy

    energy = estimate_energy(spec, result)  # a model (45 nm table), nothing measured
    report["energy_model_pj_per_image"] = {"snn": energy.snn["total"],
                                           "ann_fp32": energy.ann["fp32"]["total"],
                                           "ann_int8": energy.ann["int8"]["total"]}
    write_json_atomic(out / "golden_report.json", report)
    write_json_atomic(out / "energy_report.json", energy.to_dict())
    return report


def compile_stage(netspec_path: Path, out: Path, lanes: str | None = None, lint: bool = True,
                  hierarchy: bool = False, input_draws: int | None = None,
                  pair_events: str | None = None) -> dict:
    """Generate the Verilog of the network top, describe it, and lint it.

    ``hierarchy`` keeps one Verilog module per stage (for waveforms and ``sim --debug``, whose
    monitors probe inside the layers); the default is one flat, lint-clean module.
    ``input_draws`` is the rate encoder's LFSR draws per cycle (``--input-draws``, default 1),
    recorded in ``design.json`` as ``input_draws_per_cycle``. ``pair_events`` (``--pair-events``,
    comma-separated layer names) are the layers whose engine adds two events per pass, recorded
    as ``pair_events``.
    """
    from .hdl.verilog import describe, generate_verilog
    from .lint import verilator_lint

    spec = netspec_io.load(netspec_path)
    lane_list = parse_lanes(lanes, spec)
    draws = parse_input_draws(input_draws, spec)
    pairs = parse_pair_events(pair_events, spec, lane_list)
    verilog = generate_verilog(spec, lane_list, hierarchy=hierarchy, draws_per_cycle=draws,
                               pair_events=pairs)  # raises before writing
    verilog_path = write_text_atomic(out / VERILOG_NAME, verilog)
    design = describe(spec, lane_list, draws_per_cycle=draws, pair_events=pairs)
    design["verilog"] = str(verilog_path)
    if lint:
        design["lint"] = verilator_lint(verilog_path).as_dict()
    write_json_atomic(out / "design.json", design)
    return design


def estimate_stage(netspec_path: Path, out: Path, lanes: str | None = None,
                   family: str = "ice40", pair_events: str | None = None) -> dict:
    """Estimate resources per layer without synthesis (a model) into ``estimate_report.json``;
    ``pair_events`` as ``--pair-events``."""
    from .estimate import estimate_resources

    spec = netspec_io.load(netspec_path)
    report = estimate_resources(spec, parse_lanes(lanes, spec), family=family,
                                pair_events=pair_events or ()).as_dict()  # "fc1,fc2" is split there
    write_json_atomic(out / "estimate_report.json", report)
    return report


def held_out_images(count: int, seed: int = 0):
    """The first ``count`` images of the held-out digits split and their data set indices."""
    from .quant.data import load_digits_split

    data = load_digits_split(seed=seed)
    if not 1 <= count <= len(data.x_test):
        raise SpikeforgeError("image count out of range", "--images",
                              f"an integer in [1, {len(data.x_test)}]", str(count))
    return data.x_test[:count], np.arange(count)


EVENTS_DURATION_PER_STEP = 1000  # µs of synthetic event stream per time step


def held_out_events(spec, count: int, seed: int = 0):
    """``count`` synthetic event streams binned for an ``events``-coded NetSpec, and their seeds.

    No event data set ships with spikeforge: each input is :func:`~spikeforge.golden.events.
    synthetic_events` (a moving bar with noise, seed ``seed + i``) binned by
    :func:`~spikeforge.golden.events.bin_events` into ``(T, input.size)`` counts, the golden
    executor's input. The sensor is ``H×W`` from an input shape ``(2, H, W)`` (OFF and ON
    planes), else ``1×(size / 2)``.

    Raises
    ------
    SpikeforgeError
        If the input size is odd (no OFF/ON planes) or ``count`` is below 1.
    """
    from .golden.events import bin_events, synthetic_events

    shape = spec.input.dims
    if len(shape) == 3 and shape[0] == 2:
        height, width = int(shape[1]), int(shape[2])
    elif spec.input.size % 2 == 0:
        height, width = 1, spec.input.size // 2
    else:
        raise SpikeforgeError("events input has no OFF/ON planes", "input.size",
                              "an even size (2·H·W) or shape (2, H, W)", str(spec.input.size))
    if count < 1:
        raise SpikeforgeError("image count out of range", "--images", "an integer >= 1", str(count))
    duration = EVENTS_DURATION_PER_STEP * spec.timesteps
    inputs = np.stack([
        bin_events(synthetic_events(height, width, duration, 4 * spec.input.size, seed=seed + i),
                   height, width, spec.timesteps, duration, spec.input.value_max).counts
        for i in range(count)])
    return inputs, np.arange(seed, seed + count)


def sim_stage(netspec_path: Path, out: Path, images: int = 50, simulator: str = "verilator",
              lanes: str | None = None, seed: int = 0, verilog: Path | None = None,
              debug: bool = False, input_draws: int | None = None,
              pair_events: str | None = None) -> dict:
    """Co-simulate held-out images on Verilog of the NetSpec; every count must equal the golden one.

    Without ``verilog`` the Verilog is generated afresh from the NetSpec and lanes (as ``compile``
    does), so a stale file from other lanes can never be checked by mistake.

    The check runs on the stimulus wrapper (:mod:`spikeforge.cosim.fast`: images fed and counts
    captured in Verilog, Python awaits only the end of the run). ``debug`` uses the per-cycle
    testbench instead, which probes inside the design and names the first diverging layer, step
    and neuron.

    For an ``events``-coded NetSpec the inputs are binned synthetic event streams
    (:func:`held_out_events`, shape ``(n, T, input.size)`` as the golden executor takes them),
    fed as ``T·input.size`` values per image.
    """
    from .cosim import run_cosim
    from .cosim.fast import run_fast_cosim
    from .cosim.runner import require_simulator

    require_simulator(simulator)  # fail before any work when the simulator is missing
    spec = netspec_io.load(netspec_path)
    if spec.input.encoding == "events":
        x, ids = held_out_events(spec, images, seed)
    else:
        x, ids = held_out_images(images, seed)
    if verilog is None:
        verilog_path = Path(compile_stage(netspec_path, out, lanes, lint=False,
                                          hierarchy=debug, input_draws=input_draws,
                                          pair_events=pair_events)["verilog"])
    else:
        verilog_path = Path(verilog)
        if not verilog_path.is_file():
            raise SpikeforgeError("Verilog file not found", "--verilog", "an existing file",
                                  str(verilog_path))
    from .hdl.verilog import describe

    draws = parse_input_draws(input_draws, spec)
    lane_list = parse_lanes(lanes, spec)
    predicted = describe(spec, lane_list, draws_per_cycle=draws,
                         pair_events=parse_pair_events(pair_events, spec, lane_list)
                         ).get("predicted_cycles_max")
    budget = int(predicted * 4) if predicted else 2_000_000
    if debug:
        result = run_cosim(netspec_path, verilog_path, x, out / "cosim", simulator=simulator,
                           image_ids=ids, cycle_budget=budget, raise_on_mismatch=False, debug=True)
    else:
        result = run_fast_cosim(netspec_path, verilog_path, x, out / "cosim", simulator=simulator,
                                image_ids=ids, cycle_budget=budget, raise_on_mismatch=False)
    report = result.summary()
    report["testbench"] = "per-cycle (debug)" if debug else "stimulus wrapper"
    report["per_image"] = result.images  # image, expected, observed, cycles, match
    report["mismatch_lines"] = result.mismatches[:50]
    report["log"] = result.log
    write_json_atomic(out / "cosim_report.json", report)
    if result.mismatches:
        from .errors import MismatchError

        raise MismatchError("RTL differs from the golden model", f"{simulator} co-simulation",
                            "identical integers", f"{len(result.mismatches)} mismatches, first: "
                            f"{result.mismatches[0]}", hint=f"all in {out / 'cosim_report.json'}")
    return report


def build_stage(netspec_path: Path, out: Path, board: str = "icebreaker", lanes: str | None = None,
                seed: int = 1, input_draws: int | None = None, per_layer: bool = True,
                pair_events: str | None = None) -> dict:
    """Synthesize, place and route for a board; report resources and Fmax from the tools.

    ``input_draws`` (``--input-draws``): the rate encoder's LFSR draws per cycle, recorded in
    ``build_report.json`` as ``input_draws_per_cycle``; ``pair_events`` (``--pair-events``) as
    ``pair_events``. With ``per_layer`` the network is also
    synthesised with its hierarchy kept (:mod:`spikeforge.boards.layer_resources`), for the
    resources of each layer: ``layer_resources.json``, and ``per_layer`` in the returned dict.
    """
    from .boards.build import build
    from .boards.layer_resources import layer_resources
    from .boards.registry import get_board
    from .hdl.network import NetworkTop

    spec = netspec_io.load(netspec_path)
    draws = parse_input_draws(input_draws, spec)
    lane_list = parse_lanes(lanes, spec)
    pairs = parse_pair_events(pair_events, spec, lane_list)
    network = NetworkTop(spec, lane_list, draws_per_cycle=draws, pair_events=pairs)
    report = build(network, spec, board=board, out_dir=out / "build", seed=seed)
    data = report.as_dict() if hasattr(report, "as_dict") else dict(report)
    data["input_draws_per_cycle"] = draws
    data["pair_events"] = list(pairs)
    write_json_atomic(out / "build_report.json", data)
    if per_layer:
        info = get_board(board)
        layers = layer_resources(NetworkTop(spec, lane_list, draws_per_cycle=draws,
                                            pair_events=pairs), spec,
                                 info.family, info.synth_opts)
        layers["board"] = info.name
        write_json_atomic(out / "layer_resources.json", layers)
        data = dict(data, per_layer=layers["rows"])
    return data
