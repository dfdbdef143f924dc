"""Host side of the board's UART protocol: send images, read counts and latency, check them.

The protocol is :mod:`spikeforge.boards.board_top`'s. :class:`BoardClient` speaks it over any
byte transport: a serial port for a real board (:class:`SerialTransport`, pyserial), or a
simulated UART in co-simulation (``sim_tests/test_host_driver.py``). So the driver that
``spikeforge run`` uses is the one the tests check against the Verilog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import MismatchError, ToolchainError
from ..netspec import NetSpec
from .board_top import DEFAULT_BAUD, answer_length, image_bytes, parse_answer, values_label


class Transport(Protocol):
    """A byte pipe to the board."""

    def write(self, data: bytes) -> None:
        """Send all of ``data``."""

    def read(self, size: int) -> bytes:
        """Receive up to ``size`` bytes; fewer only when the transport's timeout ran out."""


class SerialTransport:
    """A serial port (pyserial), 8N1.

    Parameters
    ----------
    port : str
        E.g. ``/dev/ttyUSB1`` (the iCEBreaker's second FTDI channel).
    baud : int
        The board top's baud rate.
    timeout : float
        Seconds to wait for an answer before giving up.
    """

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, timeout: float = 5.0):
        try:
            import serial
        except ImportError:
            raise ToolchainError("pyserial is missing", "spikeforge run", "an installed package",
                                 "no module 'serial'", hint="pip install pyserial") from None
        try:
            self.port = serial.Serial(port, baudrate=baud, timeout=timeout)
        except (serial.SerialException, OSError) as exc:
            raise ToolchainError("serial port cannot be opened", f"--port {port}",
                                 "a connected board's serial port", str(exc)) from None

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def read(self, size: int) -> bytes:
        return self.port.read(size)

    def close(self) -> None:
        self.port.close()


@dataclass
class BoardRun:
    """What the board answered for a batch of images, and how it compares with the golden model."""

    counts: list = field(default_factory=list)
    cycles: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)

    def summary(self) -> dict:
        return {"images": len(self.counts), "bit_exact": not self.mismatches,
                "mismatches": len(self.mismatches),
                "cycles_mean": float(np.mean(self.cycles)) if self.cycles else None}


class BoardClient:
    """Runs images on a board (or a simulated one) through ``transport``.

    Parameters
    ----------
    spec : NetSpec
        The NetSpec the board's bitstream was built from.
    transport : Transport
        The byte pipe.
    """

    def __init__(self, spec: NetSpec, transport: Transport):
        self.spec = spec
        self.transport = transport

    def infer(self, image) -> tuple[list[int], int]:
        """Send one image; return its readout values (spike counts or signed membranes) and its
        latency in cycles.

        Raises
        ------
        ToolchainError
            When the board sends fewer bytes than the protocol's answer before the timeout.
        """
        self.transport.write(image_bytes(self.spec, image))
        expected = answer_length(self.spec)
        answer = self.transport.read(expected)
        if len(answer) != expected:
            raise ToolchainError("board did not answer in time", "serial link",
                                 f"{expected} bytes ({self.spec.n_out} "
                                 f"{values_label(self.spec)} + 4 latency bytes)",
                                 f"{len(answer)} bytes",
                                 hint="check the port, the baud rate and that the bitstream matches "
                                      "the NetSpec")
        return parse_answer(self.spec, answer)

    def run(self, images, image_ids=None, check: bool = True) -> BoardRun:
        """Run ``images`` one after the other; with ``check``, compare with the golden model.

        Every differing value (spike count, or membrane after the last step) becomes one line
        naming the image, the last layer, the neuron and both values.
        """
        images = np.asarray(images, dtype=np.int64)
        ids = list(range(len(images))) if image_ids is None else [int(i) for i in image_ids]
        result = BoardRun()
        for image in images:
            counts, cycles = self.infer(image)
            result.counts.append(counts)
            result.cycles.append(cycles)
        if check:
            from ..golden import run as golden_run

            expected = golden_run(self.spec, images).counts
            layer = self.spec.layers[-1].name
            for row, (want, got) in enumerate(zip(expected.tolist(), result.counts)):
                for neuron, (a, b) in enumerate(zip(want, got)):
                    if a != b:
                        what = (f"membrane after step {self.spec.timesteps - 1}"
                                if self.spec.readout == "membrane" else
                                f"spike count over time steps 0..{self.spec.timesteps - 1}")
                        result.mismatches.append(f"image {ids[row]}: layer {layer}, neuron "
                                                 f"{neuron}, {what}: golden {a}, board {b}")
        return result

    def run_checked(self, images, image_ids=None) -> BoardRun:
        """:meth:`run`, raising :class:`MismatchError` on any difference."""
        result = self.run(images, image_ids)
        if result.mismatches:
            raise MismatchError("board differs from the golden model", "serial link",
                                "identical integers", f"{len(result.mismatches)} mismatches, first: "
                                f"{result.mismatches[0]}")
        return result
