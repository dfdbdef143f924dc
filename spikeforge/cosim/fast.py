"""Fast co-simulation: a Verilog stimulus wrapper, so no Python runs on the per-cycle path.

The per-cycle testbench (:mod:`spikeforge.cosim.testbench`) drives the input stream and reads the
output stream from Python, and its clock is a Python coroutine: Python wakes at least twice per
clock cycle. Here everything that happens per cycle is Verilog instead:

* :func:`stimulus_verilog` writes ``spikeforge_stim``, a module around ``spikeforge_top`` that reads
  the encoded images from a ``$readmemh`` file, feeds the input stream one image at a time (the
  next image starts after the previous one's ``done``, so ``cycles`` is each image's latency alone,
  as in the per-cycle testbench), stores every output count, the ``cycles`` of every image and the
  number of output transfers in a result memory, stops with ``timed_out`` when an image exceeds its
  cycle budget, and writes the result memory with ``$writememh`` before it raises ``finished``;
* on Verilator the wrapper itself is cocotb's top level, clocked from C++ by spikeforge's own
  Verilator main (``verilator_main.cpp``): two evals per cycle as in a plain harness, and cocotb's
  callbacks only at the times cocotb asked for (start-up, its one timer). The clock stops once the
  wrapper has finished. cocotb's stock main would need the clock from Python or from a Verilog
  delay (``--timing``), which made the run 3x slower per cycle than the plain harness;
* on Icarus :func:`testbench_verilog` writes ``spikeforge_stim_tb``, the top level for cocotb: the
  wrapper with a clock and reset written in Verilog. Its clock rises with a blocking write and
  falls in the same time step's NBA region (one simulator step per cycle, not two), and stops
  once the wrapper has finished;
* the cocotb test :func:`network_matches_golden_fast` awaits one timer, which the simulator reaches
  as soon as the clock has stopped; then it reads the result file and compares every integer with
  the golden executor's counts (the lines name image, layer, neuron and both values, worded as
  the per-cycle testbench's).

For Verilator, :func:`build_verilator_cocotb` builds the model with that main, and without the
``--public-flat-rw`` cocotb's runner would add. Python thus runs at start-up and at the end, never per cycle: on the demo
network the 360-image check ran 14 to 21 times faster than the per-cycle testbench
(``bench/cosim_speed.py``). The per-cycle testbench stays for ``--debug``, which probes inside the
design, and for the UART bridge.

A plain C++ harness (``bench/cpp/stim_main.cpp``) clocks the same ``spikeforge_stim`` with the same
stimulus file and writes the same result file; ``bench/cosim_speed.py`` times the two.

The golden counts are computed by the launcher (:func:`run_fast_cosim`) while the simulator builds,
and handed to the test in a JSON file: the simulator process never imports torch, and this module
imports numpy only in the launcher's functions (start-up time counts in a short run).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from spikeforge.errors import SpikeforgeError, ToolchainError

WRAPPER = "spikeforge_stim"
TESTBENCH_TOP = "spikeforge_stim_tb"
TEST_MODULE = "spikeforge.cosim.fast"
ENV_VAR = "SPIKEFORGE_FAST_COSIM_JOB"
STIM_PLUSARG = "spikeforge_stim"
RESULTS_PLUSARG = "spikeforge_results"
RESULT_BITS = 32
CLOCK_PERIOD_NS = 10
RESET_CYCLES = 3
#: Verilator main that clocks ``spikeforge_stim`` from C++ and hosts cocotb (see the module doc).
VERILATOR_MAIN = Path(__file__).with_name("verilator_main.cpp")


@dataclass(frozen=True)
class Layout:
    """Sizes the wrapper is generated for, and where each integer sits in the result memory.

    Per image ``i`` the result memory holds ``stride = n_out + 2`` words from ``i * stride``: the
    ``n_out`` counts, the image's ``cycles``, and the number of output transfers seen. The word
    at ``images * stride`` is the status: bit 31 ``timed_out``, bits 30..0 the images completed.

    ``input_size`` is the number of values per image on the input stream: ``input.size``, or
    ``T·input.size`` for the pre-encoded ``events`` frames (:func:`input_values`). ``count_bits``
    is the width of one output value (:func:`~spikeforge.bounds.readout_bits`); with ``signed``
    (the membrane readout) it is two's complement, zero-padded in its word and sign-extended when
    read back.
    """

    images: int
    input_size: int
    input_bits: int
    n_out: int
    count_bits: int
    signed: bool = False

    @property
    def stride(self) -> int:
        return self.n_out + 2

    @property
    def result_words(self) -> int:
        return self.images * self.stride + 1

    @classmethod
    def of(cls, spec, images: int) -> "Layout":
        from spikeforge.bounds import readout_bits, readout_signed

        from spikeforge.hdl.input_buffer import values_per_image

        return cls(int(images), values_per_image(spec.input, spec.timesteps), spec.input.bits,
                   spec.n_out, readout_bits(spec), readout_signed(spec))


def input_values(spec, image):
    """The ``input`` stream values of one image, in order (a 1-D int64 array).

    For ``events`` the golden input of one image is ``(T, input.size)`` frames: the stream is
    frame 0 first, index 0 first (C order, ``T·input.size`` values). For the other encodings it
    is the image itself (``input.size`` values).

    Raises
    ------
    SpikeforgeError
        If the image does not have the shape the golden executor takes for one image.
    """
    import numpy as np

    image = np.asarray(image, dtype=np.int64)
    events = spec.input.encoding == "events"
    shape = (spec.timesteps, spec.input.size) if events else (spec.input.size,)
    if image.shape != shape:
        raise SpikeforgeError("image has the wrong shape", "images",
                              f"shape {shape} per image for encoding {spec.input.encoding!r}",
                              f"shape {image.shape}")
    return image.reshape(-1)


def stream_values(spec, images):
    """:func:`input_values` of every image, an int64 array ``(n, values per image)``."""
    import numpy as np

    images = np.asarray(images, dtype=np.int64)
    if images.ndim == 0 or len(images) == 0:
        raise SpikeforgeError("no images to simulate", "images", "at least one image",
                              f"shape {images.shape}")
    return np.stack([input_values(spec, image) for image in images])


def _bits(n: int) -> int:
    """Bits of an unsigned register that holds 0..n."""
    return max(1, int(n).bit_length())


def stimulus_verilog(layout: Layout, cycle_budget: int, top: str = "spikeforge_top") -> str:
    """Verilog of ``spikeforge_stim``, the stimulus wrapper shared by the cocotb and C++ harnesses.

    Parameters
    ----------
    layout : Layout
        Image count and the network's port widths.
    cycle_budget : int
        Cycles one image may take (from its start) before the wrapper stops with ``timed_out``.
    top : str
        Module name of the network top (``spikeforge_top`` as generated).

    Returns
    -------
    str
        One module with ports ``clk``, ``rst`` (in), ``finished``, ``timed_out``,
        ``images_done`` (out). The stimulus file is named by the plusarg ``+spikeforge_stim=PATH`` (default
        ``stim.hex``), the result file by ``+spikeforge_results=PATH`` (default ``results.hex``).
    """
    if not 1 <= cycle_budget < 2 ** 31:
        raise SpikeforgeError("cycle budget out of range", "cycle_budget", "1 <= budget < 2**31",
                              str(cycle_budget))
    if layout.count_bits > RESULT_BITS:
        raise SpikeforgeError("readout values too wide for the result memory", "count_bits",
                              f"at most {RESULT_BITS} bits", str(layout.count_bits))
    n, size, n_out, stride = layout.images, layout.input_size, layout.n_out, layout.stride
    pad = RESULT_BITS - layout.count_bits
    count_word = f"{{{pad}'d0, out_payload}}" if pad else "out_payload"
    addr_bits = _bits(n * size)
    pos_bits = _bits(size - 1)
    base_bits = _bits(n * stride)
    last_pos = f"{pos_bits}'d{size - 1}"
    return f"""\
// Generated by spikeforge.cosim.fast: {n} images of {size} values through {top}.
// spikeforge_stim feeds the images from a $readmemh file, one image at a time, and keeps every
// count, the cycles and the number of output transfers of each image in a result memory, written
// with $writememh before `finished` rises.
`default_nettype none
module {WRAPPER} (
    input  wire        clk,
    input  wire        rst,
    // public_flat_rd: cocotb reads these on Verilator, where this module is its top level.
    output reg         finished /*verilator public_flat_rd*/,
    output reg         timed_out /*verilator public_flat_rd*/,
    output reg  [30:0] images_done /*verilator public_flat_rd*/
);
    localparam integer N_IMAGES = {n};
    localparam integer N_OUT = {n_out};
    localparam integer STRIDE = {stride};
    localparam [31:0] CYCLE_BUDGET = 32'd{cycle_budget};

    reg [{layout.input_bits - 1}:0] stim [0:{n * size - 1}];
    reg [{RESULT_BITS - 1}:0] res [0:{layout.result_words - 1}];
    reg [8*4096-1:0] stim_file;
    reg [8*4096-1:0] result_file;
    integer i;
    initial begin
        if (!$value$plusargs("{STIM_PLUSARG}=%s", stim_file)) stim_file = "stim.hex";
        if (!$value$plusargs("{RESULTS_PLUSARG}=%s", result_file)) result_file = "results.hex";
        // Words never written read back as this marker, not as a count of 0.
        for (i = 0; i < {layout.result_words}; i = i + 1) res[i] = 32'hffffffff;
        $readmemh(stim_file, stim);
    end

    reg [{addr_bits - 1}:0] addr;    // next stimulus word
    reg [{pos_bits - 1}:0] pos;      // its index within the image
    reg [{base_bits - 1}:0] base;    // first result word of the current image
    reg [31:0] xfers;                // output transfers of the current image
    reg [31:0] waited;               // cycles since the current image started
    reg feeding, busy, done_d, closing, write_now;

    wire in_ready, out_valid, done;
    wire [{layout.count_bits - 1}:0] out_payload;
    wire [31:0] cycles;
    wire [{layout.input_bits - 1}:0] in_payload = stim[addr[{addr_bits - 1}:0]];

    {top} network (
        .clk(clk), .rst(rst),
        .input__payload(in_payload), .input__valid(feeding), .input__ready(in_ready),
        .output__payload(out_payload), .output__valid(out_valid), .output__ready(1'b1),
        .done(done), .cycles(cycles)
    );

    always @(posedge clk) begin
        if (rst) begin
            addr <= 0; pos <= 0; base <= 0; xfers <= 0; waited <= 0;
            feeding <= 1'b0; busy <= 1'b0; done_d <= 1'b0; closing <= 1'b0; write_now <= 1'b0;
            finished <= 1'b0; timed_out <= 1'b0; images_done <= 0;
        end else if (!finished) begin
            done_d <= done;
            if (busy) waited <= waited + 1;
            if (!busy && !closing && !write_now) begin
                if (images_done == N_IMAGES) closing <= 1'b1;
                else begin busy <= 1'b1; feeding <= 1'b1; pos <= 0; waited <= 0; end
            end
            if (feeding && in_ready) begin
                addr <= addr + 1'b1;
                pos <= (pos == {last_pos}) ? 0 : pos + 1'b1;
                if (pos == {last_pos}) feeding <= 1'b0;
            end
            if (out_valid) begin
                if (xfers < N_OUT) res[base + xfers] <= {count_word};
                xfers <= xfers + 1;
            end
            if (done_d) begin  // `cycles` holds this image's latency from the cycle after `done`
                res[base + N_OUT] <= cycles;
                res[base + N_OUT + 1] <= xfers;
                base <= base + STRIDE;
                xfers <= out_valid ? 32'd1 : 32'd0;  // a stray transfer counts against the next image
                busy <= 1'b0;
                images_done <= images_done + 1'b1;
            end else if (busy && waited == CYCLE_BUDGET) begin
                timed_out <= 1'b1; closing <= 1'b1; busy <= 1'b0; feeding <= 1'b0;
            end
            if (closing) begin  // the status word, then the file, then `finished`
                res[N_IMAGES * STRIDE] <= {{timed_out, images_done}};
                closing <= 1'b0;
                write_now <= 1'b1;
            end
            if (write_now) begin
                $writememh(result_file, res);
                finished <= 1'b1;
            end
        end
    end
endmodule

`default_nettype wire
"""


def testbench_verilog() -> str:
    """Verilog of ``spikeforge_stim_tb``: the cocotb top level on Icarus, ``spikeforge_stim`` with a
    clock and reset written in Verilog, so Python only awaits ``finished`` (on Verilator the
    wrapper is the top level and :data:`VERILATOR_MAIN` clocks it).

    The first rising edge is at 10 ns, reset is released at 35 ns (after 3 rising edges, as the C++
    harness does).

    Kept out of :func:`stimulus_verilog`'s file so that the C++ harness, which clocks
    ``spikeforge_stim`` itself, compiles exactly the same wrapper without timing support.
    """
    return f"""\
`default_nettype none
// The top level for cocotb: clock and reset from Verilog, so Python only awaits `finished`.
// The public_flat_rd comments make these ports visible to cocotb without --public-flat-rw, which
// would make every signal of the design public and slow Verilator's model down.
module {TESTBENCH_TOP} (
    output reg         clk,
    output reg         rst,
    output wire        finished /*verilator public_flat_rd*/,
    output wire        timed_out /*verilator public_flat_rd*/,
    output wire [30:0] images_done /*verilator public_flat_rd*/
);
    initial begin
        clk = 1'b0;
        rst = 1'b1;
        #{RESET_CYCLES * CLOCK_PERIOD_NS + CLOCK_PERIOD_NS // 2} rst = 1'b0;  // between edges
    end
    // One time step per cycle: the rising edge is a blocking write, the falling edge lands in the
    // same step's NBA region, after every `posedge clk` block has run (the design has no negedge
    // logic: `prepare` checks). Half the simulator loop iterations of `always #5 clk = ~clk`.
    // The clock stops once the wrapper has finished: with no event left, the simulator jumps
    // straight to the test's one timer, so Python needs no per-step value-change callback.
    always begin
        wait (finished !== 1'b1);  // blocks for good once the run is over: no event left
        #{CLOCK_PERIOD_NS} clk = 1'b1;
        clk <= 1'b0;
    end
    {WRAPPER} stim (.clk(clk), .rst(rst), .finished(finished), .timed_out(timed_out),
                   .images_done(images_done));
endmodule
`default_nettype wire
"""


def write_stimulus(images, layout: Layout, path: str | Path) -> Path:
    """Write the encoded images as a ``$readmemh`` file, one input value per line, image 0 first.

    ``images`` holds each image's input stream values, shape ``(images, layout.input_size)``
    (:func:`stream_values`: for ``events`` the ``T`` frames of an image, flattened).

    Raises
    ------
    SpikeforgeError
        If the images do not have the layout's shape or a value does not fit the input width.
    """
    import numpy as np

    images = np.asarray(images, dtype=np.int64)
    expected = (layout.images, layout.input_size)
    if images.shape != expected:
        raise SpikeforgeError("images have the wrong shape", "images", f"shape {expected}",
                              f"shape {images.shape}")
    high = (1 << layout.input_bits) - 1
    bad = np.argwhere((images < 0) | (images > high))
    if len(bad):
        image, index = (int(v) for v in bad[0])
        raise SpikeforgeError("input value does not fit the input width",
                              f"images[{image}, {index}]",
                              f"a value in [0, {high}] for input.bits {layout.input_bits}",
                              str(int(images[image, index])))
    digits = max(1, (layout.input_bits + 3) // 4)
    path = Path(path)
    path.write_text("".join(f"{int(v):0{digits}x}\n" for v in images.ravel()))
    return path


def read_results(path: str | Path, layout: Layout) -> dict:
    """Parse the wrapper's ``$writememh`` result file.

    Returns
    -------
    dict
        ``counts`` (list per completed image of ``n_out`` ints, or the word's text if it holds
        X/Z bits, or None if never written), ``cycles``, ``transfers`` (per completed image),
        ``completed`` and ``timed_out``.
    """
    words = []
    for line in Path(path).read_text().splitlines():
        line = line.split("//")[0].strip()
        if not line or line.startswith("@"):  # comments and address markers
            continue
        words.extend(line.split())
    if len(words) != layout.result_words:
        raise ToolchainError("result file has the wrong length", str(path),
                             f"{layout.result_words} words", f"{len(words)} words")

    def value(word: str):
        try:
            number = int(word, 16)
        except ValueError:
            return word  # X or Z bits: a mismatch to report, not a crash
        return None if number == (1 << RESULT_BITS) - 1 else number

    status = value(words[-1])
    if not isinstance(status, int):
        raise ToolchainError("result file has no status word", str(path), "a hex status word",
                             repr(words[-1]))
    completed, timed_out = status & ((1 << 31) - 1), bool(status >> 31)
    def readout_value(word: str):
        if not layout.signed:
            return value(word)
        try:  # every bit pattern is a membrane: the transfers word tells a missing one
            return signed_value(int(word, 16), layout.count_bits)
        except ValueError:
            return word

    counts, cycles, transfers = [], [], []
    for image in range(completed):
        row = [value(w) for w in words[image * layout.stride:(image + 1) * layout.stride]]
        counts.append([readout_value(w) for w in
                       words[image * layout.stride:image * layout.stride + layout.n_out]])
        cycles.append(row[layout.n_out])
        transfers.append(row[layout.n_out + 1])
    return {"counts": counts, "cycles": cycles, "transfers": transfers, "completed": completed,
            "timed_out": timed_out}


def signed_value(raw: int, bits: int) -> int:
    """Two's complement value of the low ``bits`` bits of ``raw``."""
    raw &= (1 << bits) - 1
    return raw - (1 << bits) if raw >> (bits - 1) else raw


def readout_mismatch(image_id, layer_name: str, neuron: int, timesteps: int, readout: str,
                     golden, rtl) -> str:
    """One checker line: image, layer, neuron, what the value is (a spike count over the steps,
    or the membrane after the last step) and both values."""
    what = (f"membrane after step {timesteps - 1}" if readout == "membrane"
            else f"spike count over time steps 0..{timesteps - 1}")
    return (f"image {image_id}: layer {layer_name}, neuron {neuron}, {what}: golden {golden}, "
            f"RTL {rtl}")


def compare(results: dict, expected, image_ids, layer_name: str, timesteps: int,
            cycle_budget: int, readout: str = "spike_count") -> tuple[list, list]:
    """Per-image records and mismatch lines, comparing exact integers with the golden values.

    The lines have the per-cycle testbench's wording: image, layer, neuron, golden and RTL values
    (:func:`readout_mismatch`).
    """
    records, mismatches = [], []
    for index, observed in enumerate(results["counts"]):
        image_id = int(image_ids[index])
        want = [int(c) for c in expected[index]]
        match = True
        for neuron, (w, got) in enumerate(zip(want, observed)):
            if w != got:
                match = False
                mismatches.append(readout_mismatch(image_id, layer_name, neuron, timesteps,
                                                   readout, w, got))
        transfers = results["transfers"][index]
        if transfers != len(want):
            match = False
            mismatches.append(f"image {image_id}: layer {layer_name}: {transfers} output "
                              f"transfers, expected {len(want)} (one value per neuron)")
        records.append({"image": image_id, "expected": want, "observed": observed,
                        "cycles": results["cycles"][index], "match": match})
    if results["timed_out"]:
        image_id = int(image_ids[results["completed"]])
        mismatches.append(
            f"image {image_id}: no complete output after {cycle_budget} cycles (layer "
            f"{layer_name}); the design hangs or is far slower than its cost model")
    elif results["completed"] != len(expected):
        mismatches.append(f"only {results['completed']} of {len(expected)} images completed")
    return records, mismatches


@dataclass
class FastJob:
    """What one fast co-simulation run does (passed to the cocotb test through a JSON file).

    Attributes
    ----------
    expected : str
        JSON file with the golden counts, one list of ``n_out`` integers per image.
    layout : dict
        :class:`Layout` fields.
    stimulus, results, verdict : str
        The ``$readmemh`` stimulus file, the wrapper's ``$writememh`` result file, and the JSON
        verdict the test writes (``images``, ``mismatches``, like ``results.json``).
    image_ids : list of int
        Data set index of each image, for messages.
    layer_name : str
        Name of the last layer (the readout), for messages.
    timesteps : int
        Time steps T, for messages.
    cycle_budget : int
        Cycles per image before the wrapper reports a hang.
    readout : str
        The NetSpec's readout (``"spike_count"`` or ``"membrane"``), for messages.
    """

    expected: str
    layout: dict
    stimulus: str
    results: str
    verdict: str
    image_ids: list
    layer_name: str
    timesteps: int
    cycle_budget: int
    readout: str = "spike_count"

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FastJob":
        return cls(**json.loads(Path(path).read_text()))


try:  # the cocotb test; the launcher half of this module also works without cocotb
    import cocotb
    from cocotb.triggers import Timer
except ImportError:  # pragma: no cover - cocotb is a dependency, this only guards odd installs
    cocotb = None

if cocotb is not None:

    @cocotb.test()
    async def network_matches_golden_fast(dut):
        """Every output count of every image equals the golden executor's (wrapper-driven)."""
        job = FastJob.load(os.environ[ENV_VAR])
        layout = Layout(**job.layout)
        expected = json.loads(Path(job.expected).read_text())
        # One wake-up for the whole run: the clock stops when the wrapper finishes, so the
        # simulator then skips to this timer. Its length is a safety net for the wrapper itself,
        # whose own watchdog stops a hanging image after `cycle_budget` cycles.
        total_ns = (layout.images * (job.cycle_budget + layout.input_size + 8) + 16) * CLOCK_PERIOD_NS
        await Timer(total_ns, "ns")
        mismatches: list[str] = []
        if str(dut.finished.value) != "1" or not Path(job.results).exists():
            records = []
            mismatches.append(f"the stimulus wrapper did not finish within {total_ns} ns")
        else:
            results = read_results(job.results, layout)
            records, mismatches = compare(results, expected, job.image_ids, job.layer_name,
                                          job.timesteps, job.cycle_budget, job.readout)
        with open(job.verdict, "w") as handle:
            json.dump({"images": records, "mismatches": mismatches}, handle)
        assert not mismatches, "\n".join(mismatches[:20])


def golden_counts(netspec_path: str | Path, images):
    """The golden executor's spike counts, an int64 array ``(n, n_out)`` (imports torch)."""
    import numpy as np

    from spikeforge import netspec as netspec_io
    from spikeforge.golden import run

    return np.asarray(run(netspec_io.load(netspec_path), np.asarray(images, np.int64)).counts,
                      dtype=np.int64)


def verilator_args() -> list[str]:
    """Verilator arguments shared by the cocotb build and the C++ harness (waivers, ``-O3``)."""
    from .runner import VERILATOR_WAIVERS

    return list(VERILATOR_WAIVERS) + ["-O3"]


def build_verilator_cocotb(sources, build_dir: Path, log_path: Path) -> None:
    """Build ``spikeforge_stim`` for cocotb with Verilator, clocked by :data:`VERILATOR_MAIN`.

    The command is cocotb runner's, with two changes: spikeforge's main instead of cocotb's (the
    clock from C++, see the module doc), and no ``--public-flat-rw``, which would make every signal
    of the design public, so that Verilator keeps and exposes all of them and the model runs
    slower; the wrapper marks the ports cocotb reads public itself.

    Raises
    ------
    ToolchainError
        If Verilator or the C++ build fails (the log is named).
    """
    import subprocess

    import cocotb_tools.config as cocotb_config

    from spikeforge import toolchain

    build_dir.mkdir(parents=True, exist_ok=True)
    libs = cocotb_config.libs_dir
    commands = [
        ["verilator", "-cc", "--exe", "-Mdir", str(build_dir), "--top-module", WRAPPER,
         "--vpi", "--prefix", "Vtop", "-o", WRAPPER,
         "-LDFLAGS", f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
         "-CFLAGS", f"-DSPIKEFORGE_PERIOD_NS={CLOCK_PERIOD_NS}",
         *verilator_args(), "--timescale", "1ns/1ps", str(VERILATOR_MAIN),
         *[str(source) for source in sources]],
        ["make", "-j", str(max(1, min(4, os.cpu_count() or 1))), "-C", str(build_dir), "-f",
         "Vtop.mk", "VM_TRACE=0"],
    ]
    env = toolchain.tool_environment()
    with open(log_path, "w") as log:
        for command in commands:
            log.write(" ".join(command) + "\n")
            log.flush()
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            if done.returncode != 0:
                raise ToolchainError("simulator build failed", f"verilator on {sources[0]}",
                                     "a compiled model", f"exit code {done.returncode} from "
                                     f"{command[0]}", hint=f"see {log_path}")


def prepare(netspec_path: str | Path, verilog_path: str | Path, images, work_dir: Path,
            cycle_budget: int) -> tuple[Layout, Path, Path]:
    """Write the wrapper, the cocotb top and the stimulus for ``images`` into ``work_dir``.

    Returns
    -------
    tuple
        The :class:`Layout`, the wrapper's path (``spikeforge_stim.v``, next to it
        ``spikeforge_stim_tb.v``) and the stimulus file's path (``stim.hex``).
    """
    import numpy as np

    from spikeforge import netspec as netspec_io

    spec = netspec_io.load(netspec_path)
    if "negedge" in Path(verilog_path).read_text():
        raise SpikeforgeError("network Verilog has falling-edge logic", str(verilog_path),
                              "only posedge clk logic (the wrapper's clock falls in the NBA region)",
                              "'negedge' in the source", hint="use the per-cycle testbench (run_cosim)")
    images = np.asarray(images, dtype=np.int64)
    layout = Layout.of(spec, len(images))
    wrapper = work_dir / f"{WRAPPER}.v"
    wrapper.write_text(stimulus_verilog(layout, cycle_budget))
    (work_dir / f"{TESTBENCH_TOP}.v").write_text(testbench_verilog())
    stimulus = write_stimulus(stream_values(spec, images), layout, work_dir / "stim.hex")
    return layout, wrapper, stimulus


def run_fast_cosim(netspec_path: str | Path, verilog_path: str | Path, images, work_dir: str | Path,
                   simulator: str = "verilator", image_ids=None, cycle_budget: int = 1_000_000,
                   raise_on_mismatch: bool = True, expected=None, rebuild: bool = True):
    """Co-simulate ``images`` with the stimulus wrapper; compare every count with the golden model.

    Same parameters and result as :func:`spikeforge.cosim.runner.run_cosim` (without ``debug``:
    the per-cycle testbench is the one that looks inside the design).

    Parameters
    ----------
    netspec_path, verilog_path, images, work_dir, simulator, image_ids, cycle_budget, raise_on_mismatch
        As for :func:`~spikeforge.cosim.runner.run_cosim`.
    expected : array-like of int, optional
        Golden counts ``(n, n_out)`` already computed by the caller; by default the golden
        executor runs here, while the simulator builds.
    rebuild : bool
        False reuses the simulator build already in ``work_dir`` (made for the same Verilog and
        number of images; ``bench/cosim_speed.py`` uses it for repeats).

    Returns
    -------
    CosimResult
        ``build_seconds`` is the simulator build, ``run_seconds`` the cocotb run (simulation and
        check); ``golden_seconds`` is set as an extra attribute.
    """
    import numpy as np

    from spikeforge import netspec as netspec_io, toolchain

    from .runner import CosimResult, raise_mismatches, read_verdict, require_simulator

    require_simulator(simulator)
    toolchain.activate()
    from cocotb_tools.runner import get_runner  # after activate(): the runner looks up PATH

    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    images = np.asarray(images, dtype=np.int64)
    spec = netspec_io.load(netspec_path)
    ndim = 3 if spec.input.encoding == "events" else 2
    if images.ndim != ndim or len(images) == 0:
        expected = "(n >= 1, T, input.size)" if ndim == 3 else "(n >= 1, input.size)"
        raise SpikeforgeError("no images to simulate", "images", f"shape {expected}",
                              f"shape {images.shape}")
    ids = list(range(len(images))) if image_ids is None else [int(i) for i in image_ids]
    layout, wrapper, stimulus = prepare(netspec_path, verilog_path, images, work_dir,
                                         cycle_budget)
    results_path, verdict_path = work_dir / "results.hex", work_dir / "results.json"
    results_path.unlink(missing_ok=True)
    verdict_path.unlink(missing_ok=True)

    runner = get_runner(simulator)
    build_dir = work_dir / f"build_{simulator}"
    build_log = work_dir / f"{simulator}_build.log"
    log_path = work_dir / f"{simulator}.log"
    result = CosimResult(simulator=simulator)

    # Verilator: the wrapper is the top level, clocked by VERILATOR_MAIN; Icarus: the Verilog-clocked top.
    top_level = WRAPPER if simulator == "verilator" else TESTBENCH_TOP
    sources = [Path(verilog_path).resolve(), wrapper]
    if simulator != "verilator":
        sources.append(work_dir / f"{TESTBENCH_TOP}.v")

    def build() -> float:
        start = time.perf_counter()
        built = build_dir / (WRAPPER if simulator == "verilator" else "sim.vvp")
        if not rebuild and built.exists():
            return 0.0
        if simulator == "verilator":
            build_verilator_cocotb(sources, build_dir, build_log)
        else:
            runner.build(sources=[str(source) for source in sources], hdl_toplevel=top_level,
                         build_dir=str(build_dir), always=True, timescale=("1ns", "1ps"),
                         log_file=str(build_log))
        return time.perf_counter() - start

    def golden() -> tuple:
        start = time.perf_counter()
        counts = golden_counts(netspec_path, images) if expected is None else np.asarray(expected)
        return counts, time.perf_counter() - start

    # The golden model (torch) runs while the simulator compiles: neither waits for the other.
    with ThreadPoolExecutor(max_workers=1) as pool:
        reference = pool.submit(golden)
        try:
            result.build_seconds = build()
        except ToolchainError:
            raise
        except (SystemExit, Exception) as exc:
            raise ToolchainError("simulator build failed", f"{simulator} on {verilog_path}",
                                 "a compiled model", f"{type(exc).__name__}: {exc}",
                                 hint=f"see {build_log}") from None
        counts, golden_seconds = reference.result()
    if counts.shape != (len(images), spec.n_out):
        raise SpikeforgeError("golden counts have the wrong shape", "expected",
                              f"shape {(len(images), spec.n_out)}", f"shape {counts.shape}")
    (work_dir / "expected.json").write_text(json.dumps(np.asarray(counts, np.int64).tolist()))
    job = FastJob(expected=str(work_dir / "expected.json"), layout=asdict(layout),
                  stimulus=str(stimulus), results=str(results_path), verdict=str(verdict_path),
                  image_ids=ids, layer_name=spec.layers[-1].name, timesteps=spec.timesteps,
                  cycle_budget=int(cycle_budget), readout=spec.readout)
    job_path = job.save(work_dir / "fast_job.json")

    start = time.perf_counter()
    try:
        # No pytest assertion rewriting: the checker writes its own messages, and the rewriting
        # hook (it loads pytest's plugins) costs a noticeable part of a short run's start-up.
        runner.test(hdl_toplevel=top_level, hdl_toplevel_lang="verilog", test_module=TEST_MODULE,
                    build_dir=str(build_dir), test_dir=str(work_dir),
                    extra_env={ENV_VAR: str(job_path), "COCOTB_REWRITE_ASSERTION_FILES": "",
                               # numpy's BLAS threads would spin on the cores the model needs
                               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
                    plusargs=[f"+{STIM_PLUSARG}={stimulus}", f"+{RESULTS_PLUSARG}={results_path}"],
                    results_xml=str(work_dir / f"{simulator}_results.xml"), log_file=str(log_path))
    except SystemExit:
        pass  # under pytest the runner exits on a failed test; the verdict is read below
    result.run_seconds = time.perf_counter() - start
    result.golden_seconds = golden_seconds
    result.log = str(log_path)
    verdict = read_verdict(verdict_path, f"{simulator} run in {work_dir}", log_path)
    result.images, result.mismatches = verdict["images"], verdict["mismatches"]
    if raise_on_mismatch:
        raise_mismatches(result.mismatches, f"{simulator} co-simulation", f"log: {log_path}")
    return result
