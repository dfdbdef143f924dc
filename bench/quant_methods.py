"""Results table of every training method on the embedded digits: accuracy, storage, operations.

Run::

    python bench/quant_methods.py [--quick] [--json PATH] [--markdown PATH]

Trains each configuration in :data:`RUNS` with ``spikeforge.quant.methods.train_method`` on the
scikit-learn digits split (seed 0: 1,437 training, 360 held-out images), exports it to a NetSpec and
runs the integer golden executor on the held-out images. For every run it prints, in ONE JSON object
on stdout, the method's core report fields: float / quantized / golden-integer accuracy, the count
agreement between the quantized model and the golden executor, weight bits stored and synaptic
operations per image. The float model (the network as trained, before its integer export) is the
peer every row is compared with.

It also writes the same figures as Markdown (default ``docs/results.md``) and as JSON (default
``bench/results.json``): the table in the docs is rendered from exactly what the script printed, and
``tests/test_bench_results.py`` checks that the two files still agree. ``--only METHOD ...
--update bench/results.json`` reruns some methods and replaces their rows (each row says when it
was measured). Method-specific tables the
reports carry (ALBSNN's per-layer choices, conversion accuracy vs T, sweeps over T and encodings) are
rendered below the main table.

``--quick`` trains with a few epochs on a subset (a smoke run, minutes → seconds); its figures are
not the documented ones and it writes nothing unless paths are given.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (label, method, config fields). Each is one trained network and one row of the main table.
RUNS = [
    ("QAT MLP (demo)", "qat", {}),
    ("ALBSNN conv+GAP", "albsnn", {}),
    # One sweep per architecture (it covers both neuron kinds): on the bistable runs.
    ("BSNN conversion, MLP, IF", "convert", {"architecture": "mlp", "neuron": "if", "sweep": False}),
    ("BSNN conversion, MLP, bistable IF", "convert", {"architecture": "mlp", "neuron": "bistable"}),
    ("BSNN conversion, ResNet, IF", "convert",
     {"architecture": "resnet", "neuron": "if", "sweep": False}),
    ("BSNN conversion, ResNet, bistable IF", "convert",
     {"architecture": "resnet", "neuron": "bistable"}),
    ("BSNN conversion, deep MLP (6x64), bistable IF", "convert",
     {"architecture": "deep-mlp", "neuron": "bistable"}),
    ("BSNN conversion, deep MLP (8x64, lr 3e-3), bistable IF", "convert",
     {"architecture": "deep-mlp", "neuron": "bistable", "depth": 8, "lr": 3e-3}),
    ("MT-LIF", "mtlif", {"sweep_timesteps": (1, 2, 4),
                         "sweep_encodings": ("direct", "rate", "latency", "hybrid")}),
    ("ASNN", "asnn", {"sweep_timesteps": (2, 4, 8),
                      "sweep_encodings": ("direct", "rate", "latency", "hybrid")}),
]

QUICK = {"epochs": 2, "train_subset": 300, "sweep_timesteps": (), "sweep_encodings": (),
         "sweep": False}  # smoke run: fields a config does not have are skipped

COLUMNS = [("run", "run"), ("method", "method"), ("neuron", "neuron"), ("T", "timesteps"),
           ("encoding", "encoding"), ("float acc.", "float_accuracy"),
           ("quantized acc.", "quantized_accuracy"), ("golden acc.", "golden_accuracy"),
           ("agreement", "count_agreement"), ("weight bits", "weight_bits_stored"),
           ("SOPs / image", "synaptic_ops_per_image"), ("train s", "train_seconds")]


def run_all(quick: bool = False, only: list[str] | None = None) -> dict:
    """Train every run of :data:`RUNS` (or those whose method is in ``only``) and collect reports."""
    from spikeforge.quant.data import load_digits_split
    from spikeforge.quant.methods import method_config, train_method

    data = load_digits_split(seed=0)
    rows = []
    for label, method, fields in RUNS:
        if only and method not in only:
            continue
        fields = dict(fields)
        if quick:
            known = method_config(method).__dataclass_fields__
            fields.update({key: value for key, value in QUICK.items() if key in known})
        config = method_config(method, **fields)
        start = time.perf_counter()
        result = train_method(method, config, data, progress=False)
        report = dict(result.report, run=label, wall_seconds=round(time.perf_counter() - start, 1),
                      measured=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        rows.append(report)
        print(f"{label}: golden {report['golden_accuracy'] * 100:.1f} %, agreement "
              f"{report['count_agreement']}/{report['test_images']}", file=sys.stderr)
    return {"benchmark": "quant_methods", "data": "scikit-learn digits, seed-0 split, 360 test images",
            "quick": quick, "python": platform.python_version(), "runs": rows}


def merge_results(earlier: dict, fresh: dict) -> dict:
    """``earlier`` with the runs of ``fresh`` replacing those of the same label, in RUNS order.

    Each row keeps the date it was measured (``measured``), so a merged table says which rows
    came from which run.
    """
    if earlier.get("quick") or fresh.get("quick"):
        raise SystemExit("--update: quick results cannot be merged with full ones")
    rows = {row["run"]: row for row in earlier["runs"]}
    rows.update({row["run"]: row for row in fresh["runs"]})
    order = [label for label, _, _ in RUNS]
    merged = dict(earlier, runs=[rows[label] for label in order if label in rows])
    return merged


def _cell(value, key: str = "") -> str:
    if isinstance(value, float):
        # Accuracies are fractions in the reports: shown in percent; other floats as they are.
        if "accuracy" in key:
            return f"{value * 100:.1f} %"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        cells = []
        for _, key in columns:
            value = row.get(key)
            if key == "count_agreement" and "test_images" in row:
                value = f"{value}/{row['test_images']}"
            cells.append(_cell(value, key))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _is_table(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _is_record(value) -> bool:
    return isinstance(value, dict) and bool(value) and \
        all(not isinstance(item, (list, dict)) for item in value.values())


def _detail_tables(title: str, mapping: dict, top: bool = True) -> list[str]:
    """Every list of records and every flat record in a report, as tables, depth first.

    The per-layer ``layers`` rows and the ``config`` (inputs, not results) are left out at the top.
    """
    lines = []
    for key, value in mapping.items():
        if top and key in ("layers", "config"):
            continue
        heading = f"{title}: {key.replace('_', ' ')}"
        if _is_table(value):
            columns = list(dict.fromkeys(name for item in value for name in item))
            lines += ["", f"## {heading}", ""] + _table(value, [(name, name) for name in columns])
        elif _is_record(value) and not top or (_is_record(value) and key != "config"):
            lines += ["", f"## {heading}", ""] + _table([value], [(name, name) for name in value])
        elif isinstance(value, dict):
            lines += _detail_tables(heading, value, top=False)
    return lines


def render_markdown(results: dict) -> str:
    """The Markdown of ``results`` (what :func:`run_all` returned): main table, then detail tables."""
    lines = ["# Training methods on digits: results", "",
             "Generated by `python bench/quant_methods.py` (do not edit: rerun it). Accuracies are on "
             f"the {results['data']}; *float* is the network as trained, *quantized* its "
             "quantized forward pass, *golden* the exported integer NetSpec run by the golden "
             "executor; *agreement* counts test images whose golden spike counts equal the "
             "quantized model's exactly; *weight bits* is the weight storage of the NetSpec; "
             "*SOPs* are synaptic operations (one per active input and target neuron).", ""]
    if results.get("quick"):
        lines += ["**Quick smoke run: not the documented figures.**", ""]
    lines += _table(results["runs"], COLUMNS)
    for row in results["runs"]:
        lines += _detail_tables(row["run"], row)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few epochs, a subset")
    parser.add_argument("--only", nargs="*", help="methods to run (default: all)")
    parser.add_argument("--json", help="where to write the JSON (default: bench/results.json; "
                                       "none with --quick)")
    parser.add_argument("--markdown", help="where to write the table (default: docs/results.md; "
                                           "none with --quick)")
    parser.add_argument("--update", metavar="JSON",
                        help="rerun only the --only methods and replace their rows in this earlier "
                             "results JSON (e.g. bench/results.json); the merged results are "
                             "printed and written")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    results = run_all(quick=args.quick, only=args.only)
    if args.update:
        results = merge_results(json.loads(Path(args.update).read_text()), results)
    text = json.dumps(results, indent=1)  # key order kept: it is the tables' column order
    print(text)
    partial = args.quick or (args.only and not args.update)
    json_path = args.json or (None if partial else ROOT / "bench" / "results.json")
    markdown_path = args.markdown or (None if partial else ROOT / "docs" / "results.md")
    if json_path:
        Path(json_path).write_text(text + "\n")
    if markdown_path:
        Path(markdown_path).write_text(render_markdown(results))
    disagreeing = [row["run"] for row in results["runs"]
                   if row["count_agreement"] != row["test_images"]]
    if disagreeing:
        print(f"count agreement below 100 % in: {disagreeing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
