"""cocotb testbench of the network top: driver, monitor, reference model and checker.

Python stays at transaction level: the driver hands over one image (``input.size`` stream transfers,
``T·input.size`` for the pre-encoded ``events`` frames),
the monitor wakes on ``output.valid`` and takes the ``n_out`` counts, and nothing in Python waits on
the clock while the network computes. In debug mode a :class:`LayerMonitor` per layer also records
every spike and every membrane (after each step, the last one being the final membrane) inside the
design, and the checker names the first layer, step and neuron whose spike or membrane diverges,
with both values. The reference model is the golden executor; the checker
compares exact integers and names the image, layer, neuron and both values of every mismatch.
"""

from __future__ import annotations

import json
import os

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, with_timeout

from spikeforge import netspec as netspec_io
from spikeforge.cosim.fast import input_values, readout_mismatch, signed_value
from spikeforge.cosim.job import ENV_VAR, CosimJob

CLOCK_NS = 10


class ImageDriver:
    """Drives the ``input`` stream with the values of one image, index 0 first (``events``: the
    image's T frames, frame 0 first; :func:`~spikeforge.cosim.fast.input_values`)."""

    def __init__(self, dut):
        self.dut = dut
        dut.input__valid.value = 0

    async def send(self, values) -> None:
        dut = self.dut
        for value in values:
            dut.input__payload.value = int(value)
            dut.input__valid.value = 1
            await ReadOnly()
            while not dut.input__ready.value:
                await RisingEdge(dut.clk)
                await ReadOnly()
            await RisingEdge(dut.clk)
        dut.input__valid.value = 0


class CountMonitor:
    """Collects the ``n_out`` readout values of one image from the ``output`` stream.

    Spike counts are unsigned; with ``signed_bits`` (the membrane readout: the last layer's
    ``state_bits``) each value is read as a two's complement integer of that width.
    """

    def __init__(self, dut, n_out: int, signed_bits: int | None = None):
        self.dut = dut
        self.n_out = n_out
        self.signed_bits = signed_bits
        dut.output__ready.value = 1

    @classmethod
    def of(cls, dut, spec) -> "CountMonitor":
        """The monitor of ``spec``'s readout (signed membranes or unsigned counts)."""
        from spikeforge.bounds import readout_bits, readout_signed

        return cls(dut, spec.n_out, readout_bits(spec) if readout_signed(spec) else None)

    async def receive(self) -> list[int]:
        dut = self.dut
        counts: list[int] = []
        await ReadOnly()
        if not dut.output__valid.value:
            await RisingEdge(dut.output__valid)  # no per-cycle wake-ups while the network computes
        while len(counts) < self.n_out:
            await ReadOnly()
            if dut.output__valid.value and dut.output__ready.value:
                payload = dut.output__payload.value
                # An X or Z count is a mismatch to report, not a crash of the testbench.
                if not payload.is_resolvable:
                    counts.append(str(payload))
                elif self.signed_bits:
                    counts.append(signed_value(int(payload), self.signed_bits))
                else:
                    counts.append(int(payload))
            await RisingEdge(dut.clk)
        return counts


_signed = signed_value


class LayerMonitor:
    """Debug mode: records one layer's output events and membranes, step by step, inside the design.

    Spikes come from the engine's ``events_out`` stream (instance ``layer_<name>``), membranes from
    the debug outputs ``membranes_<index>__valid/first/values`` that the hierarchical Verilog has:
    in each update cycle they carry one lane group's membranes after firing and reset. It wakes on
    every clock edge, so it is for diagnosing a mismatch, not for long runs.

    Parameters
    ----------
    dut : cocotb handle of the network top
    layer : LayerSpec
    n_out : int
        The layer's outputs (NCHW-flat for image layers).
    value_bits : int
        Width of the values its events carry (spike levels, or a pool's sums).
    index : int
        The layer's position in the NetSpec (names its ``membranes_<index>`` port).
    lane_stride : int
        Distance between the neurons of neighbouring lanes: 1, or a conv2d layer's output
        positions per channel (its lanes are output channels).
    membranes : bool
        Whether the layer has neurons, hence a membranes port (pools and gap have none).
    """

    def __init__(self, dut, layer, n_out: int, value_bits: int, index: int = 0,
                 lane_stride: int = 1, membranes: bool = True):
        instance = f"layer_{layer.name}"
        port = f"membranes_{index}"
        if not hasattr(dut, instance) or (membranes and not hasattr(dut, f"{port}__valid")):
            raise RuntimeError(f"debug mode: no instance {instance} or no output {port}__valid in "
                               "the design: generate the Verilog with its hierarchy "
                               "(generate_verilog(..., hierarchy=True); spikeforge sim --debug does)")
        self.engine = getattr(dut, instance)
        self.membrane_valid = getattr(dut, f"{port}__valid") if membranes else None
        self.membrane_first = getattr(dut, f"{port}__first") if membranes else None
        self.membrane_values = getattr(dut, f"{port}__values") if membranes else None
        self.clk = dut.clk
        self.n_out = n_out
        self.index_bits = max(1, (n_out - 1).bit_length())
        self.value_bits = value_bits
        self.lane_stride = lane_stride
        self.state_bits = layer.neuron.state_bits
        self.lanes = len(self.membrane_values) // self.state_bits if membranes else 0
        self.steps: list[dict[int, int]] = []
        self.membrane_steps: list[dict[int, int | str]] = []
        self._current: dict[int, int] = {}
        self._membranes: dict[int, int | str] = {}

    def take(self) -> list[dict[int, int]]:
        """The steps recorded since the last call (one dict neuron -> spike value per step)."""
        steps, self.steps = self.steps, []
        return steps

    def take_membranes(self) -> list[dict[int, int | str]]:
        """The membranes after each step recorded since the last call (dicts neuron -> V).

        A membrane the simulator shows as X or Z is kept as its text, a mismatch to report.
        """
        steps, self.membrane_steps = self.membrane_steps, []
        return steps

    def _sample_membranes(self) -> None:
        first = int(self.membrane_first.value)
        values = self.membrane_values.value
        word = int(values) if values.is_resolvable else None
        for lane in range(self.lanes):
            neuron = first + lane * self.lane_stride
            if neuron < self.n_out:  # the last group's spare lanes hold no neuron
                self._membranes[neuron] = (str(values) if word is None else
                                           _signed(word >> (lane * self.state_bits), self.state_bits))

    async def run(self) -> None:
        valid, ready = self.engine.events_out__valid, self.engine.events_out__ready
        payload = self.engine.events_out__payload
        while True:
            await ReadOnly()
            # The update of a step's last group comes before its end-of-step event.
            if (self.membrane_valid is not None and self.membrane_valid.value.is_resolvable
                    and self.membrane_valid.value):
                self._sample_membranes()
            if valid.value and ready.value:
                word = int(payload.value)
                index = word & ((1 << self.index_bits) - 1)
                value = (word >> self.index_bits) & ((1 << self.value_bits) - 1)
                if word >> (self.index_bits + self.value_bits) & 1:  # end of step
                    self.steps.append(self._current)
                    self.membrane_steps.append(self._membranes)
                    self._current, self._membranes = {}, {}
                else:
                    self._current[index] = value
            await RisingEdge(self.clk)


class ReferenceModel:
    """The golden executor, run once on all images of the job."""

    def __init__(self, spec, images, record: bool = False):
        from spikeforge.golden import run  # the testbench may import torch; hdl never does

        self.spec = spec
        self.result = run(spec, images, record=record)

    def expected(self, index: int) -> list[int]:
        return [int(c) for c in self.result.counts[index]]

    def first_divergence(self, index: int, observed_layers, observed_membranes=None) -> str | None:
        """The first layer, step and neuron whose spike or membrane differs from golden, or None.

        Layers are checked in order (the first layer that differs at all is where the fault is:
        its inputs matched), and within a layer step by step; at one step a spike difference is
        named before a membrane difference. Membranes are compared after firing and reset, as
        ``run(record=True).membranes``; the last step is labelled final.

        Parameters
        ----------
        index : int
            Position of the image in the job.
        observed_layers : sequence of list of dict
            Per layer, per step: neuron -> spike value (absent means no spike); None for a layer
            without hardware (flatten), which is skipped.
        observed_membranes : sequence of list of dict, optional
            Per layer, per step: neuron -> membrane (every neuron expected). None skips them, for
            all layers or (an entry None) for one without neurons.
        """
        T = self.spec.timesteps
        if observed_membranes is None:
            observed_membranes = [None] * len(self.spec.layers)
        for layer, trains, membranes, steps, mem_steps in zip(
                self.spec.layers, self.result.trains, self.result.membranes, observed_layers,
                observed_membranes):
            if steps is None:
                continue
            for t in range(T):
                got = steps[t] if t < len(steps) else {}
                want = {int(n): int(trains[t, index, n]) for n in np.flatnonzero(trains[t, index])}
                if got != want:
                    neuron = min(set(got) ^ set(want) or {n for n in got if got[n] != want.get(n)})
                    return (f"first divergence: layer {layer.name}, step {t}, neuron {neuron}: "
                            f"golden spike {want.get(neuron, 0)}, RTL spike {got.get(neuron, 0)}")
                if mem_steps is None:
                    continue
                seen = mem_steps[t] if t < len(mem_steps) else {}
                for neuron in range(trains.shape[2]):
                    golden = int(membranes[t, index, neuron])
                    rtl = seen.get(neuron, "none")
                    if rtl != golden:
                        when = f"step {t} (final)" if t == T - 1 else f"step {t}"
                        return (f"first divergence: layer {layer.name}, {when}, neuron {neuron}: "
                                f"golden membrane {golden}, RTL membrane {rtl}")
        return None


class Checker:
    """Compares exact integers and keeps a readable line for every mismatch (spike counts, or
    with ``readout="membrane"`` the membranes after the last step)."""

    def __init__(self, layer_name: str, timesteps: int, readout: str = "spike_count"):
        self.layer_name = layer_name
        self.timesteps = timesteps
        self.readout = readout
        self.mismatches: list[str] = []

    def check(self, image_id: int, expected: list[int], observed: list[int]) -> bool:
        ok = True
        for neuron, (want, got) in enumerate(zip(expected, observed)):
            if want != got:
                ok = False
                self.mismatches.append(readout_mismatch(image_id, self.layer_name, neuron,
                                                        self.timesteps, self.readout, want, got))
        return ok


@cocotb.test()
async def network_matches_golden(dut):
    """Every output neuron's spike count of every image equals the golden executor's."""
    job = CosimJob.load(os.environ[ENV_VAR])
    spec = netspec_io.load(job.netspec)
    images = np.load(job.images)
    model = ReferenceModel(spec, images, record=job.debug)
    driver, monitor = ImageDriver(dut), CountMonitor.of(dut, spec)
    checker = Checker(spec.layers[-1].name, spec.timesteps, spec.readout)
    layer_monitors = []
    if job.debug:
        from spikeforge.hdl.network import stream_value_bits

        shapes = netspec_io.layer_shapes(spec)
        for index, (layer, bits) in enumerate(zip(spec.layers, stream_value_bits(spec))):
            if layer.kind == "flatten":  # no hardware: its events are its input's
                layer_monitors.append(None)
                continue
            out_shape = shapes[index][1]
            positions = int(np.prod(out_shape[1:])) if layer.kind == "conv2d" else 1
            layer_monitors.append(LayerMonitor(dut, layer, int(np.prod(out_shape)), bits, index,
                                               lane_stride=positions,
                                               membranes=not layer.stateless))
            cocotb.start_soon(layer_monitors[-1].run())

    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    records = []
    for index, image in enumerate(images):
        image_id = job.image_ids[index]
        cocotb.start_soon(driver.send(input_values(spec, image)))
        try:
            observed = await with_timeout(monitor.receive(), job.cycle_budget * CLOCK_NS, "ns")
        except TimeoutError:
            checker.mismatches.append(
                f"image {image_id}: no complete output after {job.cycle_budget} cycles "
                f"(layer {checker.layer_name}); the design hangs or is far slower than its cost model")
            break
        await ReadOnly()
        # `done` pulses with the last count; `cycles` is then stable until the next image starts.
        await RisingEdge(dut.clk)
        cycles = int(dut.cycles.value)
        expected = model.expected(index)
        match = checker.check(image_id, expected, observed)
        record = {"image": image_id, "expected": expected, "observed": observed,
                  "cycles": cycles, "match": match}
        if job.debug:
            membranes = [m.take_membranes() if m is not None and m.lanes else None
                         for m in layer_monitors]
            divergence = model.first_divergence(
                index, [m.take() if m is not None else None for m in layer_monitors], membranes)
            record["first_divergence"] = divergence
            # The membranes each layer with neurons ended the image with, as the RTL showed them.
            record["final_membranes"] = {
                layer.name: [steps[-1].get(n) if steps else None for n in range(monitor.n_out)]
                for layer, steps, monitor in zip(spec.layers, membranes, layer_monitors)
                if steps is not None}
            if divergence is not None:
                checker.mismatches.append(f"image {image_id}: {divergence}")
        records.append(record)

    with open(job.results, "w") as handle:
        json.dump({"images": records, "mismatches": checker.mismatches}, handle)
    assert not checker.mismatches, "\n".join(checker.mismatches[:20])
