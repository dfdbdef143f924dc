"""``spikeforge report``: one Markdown and one HTML page from the JSON artefacts of a run folder.

It reads what the stages wrote (``train_report.json``, ``golden_report.json``, ``energy_report.json``,
``design.json``, ``cosim_report.json``, ``build_report.json``), draws the plots with matplotlib, and
says for every figure whether it was measured (by a tool or a simulation) or comes from a model.
Missing artefacts leave their section out with a note; none is invented.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from .artefacts import write_bytes_atomic, write_text_atomic
from .errors import SpikeforgeError

ARTEFACTS = ("train_report", "golden_report", "energy_report", "design", "cosim_report", "build_report",
             "estimate_report", "power_report", "layer_resources")


def load_artefacts(out: Path) -> dict:
    """The JSON artefacts present in ``out`` (name without ``.json`` -> content)."""
    found = {}
    for name in ARTEFACTS:
        path = out / f"{name}.json"
        if path.is_file():
            try:
                found[name] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise SpikeforgeError("artefact is not valid JSON", str(path), "a JSON object",
                                      str(exc)) from None
    if not found:
        raise SpikeforgeError("no artefacts to report on", str(out),
                              f"one of {', '.join(a + '.json' for a in ARTEFACTS)}",
                              "none (run spikeforge demo, or the stages, with --out there)")
    return found


def _figure_png(draw) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    draw(axis)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _resources_plot(build: dict):
    names = [("lcs", "lcs", "logic cells"), ("ffs", "ffs", "flip-flops"),
             ("brams", "brams", "block RAMs"), ("dsps", "dsps", "DSPs")]
    rows = [(label, 100.0 * build[key] / build["available"][avail])
            for key, avail, label in names if build.get("available", {}).get(avail)]

    def draw(axis):
        axis.barh([label for label, _ in rows], [value for _, value in rows], color="#3b7dd8")
        axis.set_xlim(0, 100)
        axis.set_xlabel(f"% of {build['device']} (measured: yosys and nextpnr reports)")
        for y, (_, value) in enumerate(rows):
            axis.text(min(value + 1, 90), y, f"{value:.0f} %", va="center")
    return draw


def _memory_plot(design: dict):
    per_layer: dict[str, int] = {}
    for memory in design["memories"]:
        owner = memory["name"].split(".")[0]
        per_layer[owner] = per_layer.get(owner, 0) + memory["bits"]

    def draw(axis):
        axis.bar(list(per_layer), [bits / 1024 for bits in per_layer.values()], color="#6a9f58")
        axis.set_ylabel("memory, Kbit (design)")
        axis.set_title("memory per stage")
    return draw


def _firing_plot(golden: dict):
    rates = golden["firing_rate_per_layer"]

    def draw(axis):
        axis.bar(list(rates), list(rates.values()), color="#d8843b")
        axis.set_ylabel("spikes per neuron and step")
        axis.set_title(f"firing rates (golden model, {golden['images']} images)")
    return draw


def _energy_plot(energy: dict):
    snn = energy["snn_pj"]
    parts = [("adds", snn["adds"]), ("MACs", snn["macs"]), ("neuron", snn["neuron"]),
             ("memory", snn["memory"])]
    ann = energy["ann_pj"]

    def draw(axis):
        bottom = 0.0
        for label, value in parts:
            axis.bar(["SNN"], [value / 1000], bottom=[bottom / 1000], label=label)
            bottom += value
        axis.bar(["ANN fp32"], [ann["fp32"]["total"] / 1000], color="#888888")
        axis.bar(["ANN int8"], [ann["int8"]["total"] / 1000], color="#bbbbbb")
        axis.set_ylabel("nJ per inference (MODEL, 45 nm)")
        axis.legend(fontsize=7)
    return draw


def accuracy_curves(train: dict) -> dict[str, list[tuple[int, float]]]:
    """Golden accuracy against T from a training report's sweeps, per curve label.

    ``convert`` reports ``details.accuracy_vs_T`` (one sweep per neuron kind); ``mtlif``/``asnn``
    report ``accuracy_vs_timesteps`` (when trained with ``sweep_timesteps``). Empty if neither.
    """
    curves = {}
    by_kind = (train.get("details") or {}).get("accuracy_vs_T") or {}
    for kind, rows in by_kind.items():
        curves[f"{kind} (conversion)"] = [(row["timesteps"], row["golden_accuracy"]) for row in rows]
    rows = train.get("accuracy_vs_timesteps") or []
    if rows:
        curves[f"{train.get('neuron', train.get('method', ''))} ({rows[0].get('encoding', '')})"] = \
            [(row["timesteps"], row["golden_accuracy"]) for row in rows]
    return {label: sorted(points) for label, points in curves.items() if points}


def _accuracy_plot(curves: dict):
    def draw(axis):
        for label, points in curves.items():
            axis.plot([t for t, _ in points], [100 * a for _, a in points], marker="o", label=label)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("time steps T")
        axis.set_ylabel("golden accuracy (%), measured")
        axis.legend(fontsize=7)
    return draw


def _accuracy_note(accuracy: dict | None) -> str:
    """The estimator's recorded held-out LUT error, for the report's resources row."""
    if not accuracy:
        return ""
    return (f"; LUT error on {accuracy['networks']} held-out {accuracy['kind']} networks: mean "
            f"{accuracy['luts_mean_abs_error'] * 100:.1f} %, max "
            f"{accuracy['luts_max_abs_error'] * 100:.1f} %")


def _layer_resources_plot(estimate: dict | None, synthesis: dict | None = None):
    """LUTs and FFs per module: the estimate (model), the synthesis (measured), or both side by side."""
    if synthesis is not None:
        return _layer_comparison_plot(estimate, synthesis)
    rows = [row for row in estimate["rows"] if row["luts"] or row["ffs"]]

    def draw(axis):
        names = [row["name"] for row in rows]
        positions = range(len(rows))
        axis.bar([p - 0.2 for p in positions], [row["luts"] for row in rows], width=0.4, label="LUTs")
        axis.bar([p + 0.2 for p in positions], [row["ffs"] for row in rows], width=0.4, label="FFs")
        for position, row in zip(positions, rows):
            if row["brams"]:
                axis.annotate(f"{row['brams']} BRAM", (position, max(row["luts"], row["ffs"])),
                              ha="center", fontsize=7)
        axis.set_xticks(list(positions), names, fontsize=7)
        axis.set_ylabel(f"cells ({estimate['family']}, MODEL estimate)")
        axis.legend(fontsize=7)
    return draw


def _layer_comparison_plot(estimate: dict | None, synthesis: dict):
    measured = {row["name"]: row for row in synthesis["rows"]}
    modelled = {row["name"]: row for row in estimate["rows"]} if estimate else {}
    names = [name for name, row in measured.items() if row["luts"] or row["ffs"]]

    def draw(axis):
        positions = range(len(names))
        series = [("LUTs, synthesis", "luts", measured, "#3b6ea5")]
        series.append(("FFs, synthesis", "ffs", measured, "#c98b2b"))
        if modelled:
            series += [("LUTs, estimate", "luts", modelled, "#9dbbdc"),
                       ("FFs, estimate", "ffs", modelled, "#e8cc9a")]
        width = 0.8 / len(series)
        for number, (label, key, source, colour) in enumerate(series):
            offset = (number - (len(series) - 1) / 2) * width
            axis.bar([p + offset for p in positions],
                     [source.get(name, {}).get(key, 0) for name in names], width=width,
                     label=label, color=colour)
        for position, name in zip(positions, names):
            if measured[name]["brams"]:
                axis.annotate(f"{measured[name]['brams']} BRAM",
                              (position, max(measured[name]["luts"], measured[name]["ffs"])),
                              ha="center", fontsize=7)
        axis.set_xticks(list(positions), names, fontsize=7)
        axis.set_ylabel(f"cells ({synthesis['family']})")
        axis.legend(fontsize=7)
    return draw


def _latency_rows(cosim: dict | None, build: dict | None) -> list[tuple[str, str, str]]:
    rows = []
    if cosim and cosim.get("cycles_mean"):
        rows.append(("cycles per image", f"{cosim['cycles_mean']:.0f}",
                     f"measured ({cosim['simulator']} co-simulation, {cosim['images']} images)"))
        if build and build.get("fmax_mhz"):
            us = cosim["cycles_mean"] / build["fmax_mhz"]
            rows.append(("latency at Fmax", f"{us:.1f} µs per image",
                         "cycles (measured) / Fmax (nextpnr estimate)"))
            rows.append(("throughput at Fmax", f"{1e6 / us:,.0f} images/s",
                         "one image at a time"))
    return rows


def build_report(out: str | Path) -> dict:
    """Write ``report.md``, ``report.html`` and the plots into ``out``; return their paths."""
    out = Path(out)
    found = load_artefacts(out)
    train, golden = found.get("train_report"), found.get("golden_report")
    energy, design = found.get("energy_report"), found.get("design")
    cosim, build = found.get("cosim_report"), found.get("build_report")
    estimate, power = found.get("estimate_report"), found.get("power_report")
    layers = found.get("layer_resources")
    curves = accuracy_curves(train) if train else {}

    rows: list[tuple[str, str, str]] = []
    if train:
        rows.append(("quantized model accuracy", f"{train['quantized_accuracy'] * 100:.1f} %",
                     f"measured on {train['test_images']} held-out images"))
    if golden:
        rows.append(("golden integer accuracy", f"{golden['accuracy'] * 100:.1f} %",
                     f"measured on {golden['images']} held-out images"))
        rows.append(("synaptic operations", f"{golden['synaptic_ops_per_image']:,.0f} per image",
                     "counted by the golden executor"))
    if cosim:
        rows.append(("RTL vs golden", "bit-exact" if cosim["bit_exact"] else
                     f"{cosim['mismatches']} MISMATCHES", f"{cosim['images']} images, {cosim['simulator']}"))
    if estimate:
        total = estimate["total"]
        rows.append(("resources (estimate)", f"{total['luts']} LUTs, {total['ffs']} FFs, "
                     f"{total['brams']} BRAMs, {total['dsps']} DSPs",
                     f"MODEL: spikeforge estimate, {estimate['family']}, no synthesis"
                     + _accuracy_note(estimate.get("accuracy"))))
    if build:
        rows.append(("resources", f"{build['lcs']} LCs, {build['ffs']} FFs, {build['brams']} BRAMs, "
                     f"{build['dsps']} DSPs", f"measured (yosys/nextpnr, {build['board']})"))
        rows.append(("Fmax", f"{build['fmax_mhz']} MHz (target {build['target_mhz']} MHz)",
                     "nextpnr timing estimate after routing"))
    if layers:
        parts = ", ".join(f"{row.get('layer', row['name'])} {row['luts']}/{row['ffs']}/{row['brams']}"
                          for row in layers["rows"])
        rows.append(("resources per module (LUTs/FFs/BRAMs)", parts,
                     f"measured (yosys {layers['command']}, hierarchy kept; the modules total "
                     f"{layers['total']['luts']} LUTs)"))
    rows += _latency_rows(cosim, build)
    if energy:
        rows.append(("energy per inference", f"SNN {energy['snn_pj']['total'] / 1000:.1f} nJ, "
                     f"ANN fp32 {energy['ann_pj']['fp32']['total'] / 1000:.1f} nJ",
                     "MODEL: 45 nm per-operation table (Horowitz, ISSCC 2014)"))

    if power:
        energy_nj = power["energy_nj_per_image"]
        rows.append(("dynamic energy per image (FPGA)",
                     f"{energy_nj['total']:,.0f} nJ ({power['power_mw']['total']:.2f} mW at "
                     f"{power['clock_mhz']:g} MHz, {power['family']})",
                     f"MODEL from MEASURED switching activity ({power['images']} images, Icarus "
                     "VCD): per-toggle, per-memory-bit and per-cycle coefficients of "
                     "docs/energy.md"))

    plots = {}
    if build:
        plots["resources"] = ("Device utilisation", _resources_plot(build))
    if design:
        plots["memory"] = ("Memory per stage", _memory_plot(design))
    if golden:
        plots["firing"] = ("Firing rates per layer", _firing_plot(golden))
    if energy:
        plots["energy"] = ("Energy: SNN vs the equivalent ANN (model)", _energy_plot(energy))
    if layers:
        plots["layers"] = ("Resources per layer: synthesis (measured)"
                           + (" and estimate (model)" if estimate else ""),
                           _layer_resources_plot(estimate, layers))
    elif estimate:
        plots["layers"] = ("Resources per layer (estimate, model)", _layer_resources_plot(estimate))
    if curves:
        plots["accuracy"] = ("Accuracy against T (golden model, measured)", _accuracy_plot(curves))
    images = {key: _figure_png(draw) for key, (_, draw) in plots.items()}
    for key, png in images.items():
        write_bytes_atomic(out / f"report_{key}.png", png)

    missing = [name for name in ARTEFACTS if name not in found]
    notes = [f"Not in this folder, so not reported: {', '.join(m + '.json' for m in missing)}."] if missing else []
    if not curves:
        notes.append("Accuracy against T is not known for this run: train with a sweep (convert "
                     "sweeps by default; mtlif/asnn with --option sweep_timesteps=[1,2,4]).")

    md = ["# spikeforge report", "", f"Folder: `{out}`", "", "| figure | value | source |",
          "| --- | --- | --- |"]
    md += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    md.append("")
    for key, (title, _) in plots.items():
        md += [f"## {title}", "", f"![{title}](report_{key}.png)", ""]
    md += [f"_{note}_" for note in notes]
    md_path = write_text_atomic(out / "report.md", "\n".join(md) + "\n")

    table = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                    for a, b, c in rows)
    figures = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{base64.b64encode(images[key]).decode()}'>"
        for key, (title, _) in plots.items())
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>spikeforge report</title>"
            "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
            "img{max-width:100%}</style></head><body><h1>spikeforge report</h1>"
            f"<p>Folder: <code>{html.escape(str(out))}</code></p>"
            f"<table><tr><th>figure</th><th>value</th><th>source</th></tr>{table}</table>"
            f"{figures}" + "".join(f"<p><em>{html.escape(n)}</em></p>" for n in notes)
            + "</body></html>")
    html_path = write_text_atomic(out / "report.html", page)
    return {"markdown": str(md_path), "html": str(html_path),
            "plots": [str(out / f"report_{key}.png") for key in images]}
