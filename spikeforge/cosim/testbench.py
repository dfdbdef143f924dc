"""cocotb testbench of the network top: driver, monitor, reference model and checker.

Python stays at transaction level: the driver hands over one image (``input.size`` stream transfers),
the monitor wakes on ``output.valid`` and takes the ``n_out`` counts, and nothing in Python waits on
the clock while the network computes. In debug mode a :class:`LayerMonitor` per layer also records
every spike inside the design, and the checker names the first layer, step and neuron that diverge. The reference model is the golden executor; the checker
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
from spikeforge.cosim.job import ENV_VAR, CosimJob

CLOCK_NS = 10


class ImageDriver:
    """Drives the ``input`` stream with the values of one image, index 0 first."""

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
    """Collects the ``n_out`` spike counts of one image from the ``output`` stream."""

    def __init__(self, dut, n_out: int):
        self.dut = dut
        self.n_out = n_out
        dut.output__ready.value = 1

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
                counts.append(int(payload) if payload.is_resolvable else str(payload))
            await RisingEdge(dut.clk)
        return counts


class LayerMonitor:
    """Debug mode: records one layer's output events, step by step, from inside the design.

    It wakes on every clock edge, so it is for diagnosing a mismatch, not for long runs.
    """

    def __init__(self, dut, layer, n_out: int, value_bits: int):
        instance = f"layer_{layer.name}"
        if not hasattr(dut, instance):
            raise RuntimeError(f"debug mode: no instance {instance} in the design: generate the "
                               "Verilog with its hierarchy (generate_verilog(..., hierarchy=True); "
                               "spikeforge sim --debug does)")
        self.engine = getattr(dut, instance)
        self.clk = dut.clk
        self.index_bits = max(1, (n_out - 1).bit_length())
        self.value_bits = value_bits
        self.steps: list[dict[int, int]] = []
        self._current: dict[int, int] = {}

    def take(self) -> list[dict[int, int]]:
        """The steps recorded since the last call (one dict neuron -> value per step)."""
        steps, self.steps = self.steps, []
        return steps

    async def run(self) -> None:
        valid, ready = self.engine.events_out__valid, self.engine.events_out__ready
        payload = self.engine.events_out__payload
        while True:
            await ReadOnly()
            if valid.value and ready.value:
                word = int(payload.value)
                index = word & ((1 << self.index_bits) - 1)
                value = (word >> self.index_bits) & ((1 << self.value_bits) - 1)
                if word >> (self.index_bits + self.value_bits) & 1:  # end of step
                    self.steps.append(self._current)
                    self._current = {}
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

    def first_divergence(self, index: int, observed_layers) -> str | None:
        """The first layer, step and neuron whose spike differs from the golden one, or None."""
        for layer, trains, steps in zip(self.spec.layers, self.result.trains, observed_layers):
            for t in range(self.spec.timesteps):
                got = steps[t] if t < len(steps) else {}
                want = {int(n): int(trains[t, index, n]) for n in np.flatnonzero(trains[t, index])}
                if got != want:
                    neuron = min(set(got) ^ set(want) or {n for n in got if got[n] != want.get(n)})
                    return (f"first divergence: layer {layer.name}, step {t}, neuron {neuron}: "
                            f"golden spike {want.get(neuron, 0)}, RTL spike {got.get(neuron, 0)}")
        return None


class Checker:
    """Compares exact integers and keeps a readable line for every mismatch."""

    def __init__(self, layer_name: str, timesteps: int):
        self.layer_name = layer_name
        self.timesteps = timesteps
        self.mismatches: list[str] = []

    def check(self, image_id: int, expected: list[int], observed: list[int]) -> bool:
        ok = True
        for neuron, (want, got) in enumerate(zip(expected, observed)):
            if want != got:
                ok = False
                self.mismatches.append(
                    f"image {image_id}: layer {self.layer_name}, neuron {neuron}, spike count over "
                    f"time steps 0..{self.timesteps - 1}: golden {want}, RTL {got}")
        return ok


@cocotb.test()
async def network_matches_golden(dut):
    """Every output neuron's spike count of every image equals the golden executor's."""
    job = CosimJob.load(os.environ[ENV_VAR])
    spec = netspec_io.load(job.netspec)
    images = np.load(job.images)
    model = ReferenceModel(spec, images, record=job.debug)
    driver, monitor = ImageDriver(dut), CountMonitor(dut, spec.n_out)
    checker = Checker(spec.layers[-1].name, spec.timesteps)
    layer_monitors = []
    if job.debug:
        for layer in spec.layers:
            value_bits = max(1, layer.neuron.spike_max.bit_length())
            layer_monitors.append(LayerMonitor(dut, layer, layer.n_out, value_bits))
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
        cocotb.start_soon(driver.send(image))
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
            divergence = model.first_divergence(index, [m.take() for m in layer_monitors])
            record["first_divergence"] = divergence
            if divergence is not None:
                checker.mismatches.append(f"image {image_id}: {divergence}")
        records.append(record)

    with open(job.results, "w") as handle:
        json.dump({"images": records, "mismatches": checker.mismatches}, handle)
    assert not checker.mismatches, "\n".join(checker.mismatches[:20])
