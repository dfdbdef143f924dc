"""The DFU file suffix (USB DFU 1.1, appendix B), as ``dfu-suffix -a`` from dfu-util adds it.

The OrangeCrab's amaranth-boards platform ends its build with ``dfu-suffix -v 1209 -p 5af0 -a
<name>.bit`` so that ``dfu-util`` accepts the file for the board's USB bootloader. dfu-util is
not on PyPI; :func:`main` does the same from Python, and :mod:`spikeforge.boards.build` points
the build script's ``DFU_SUFFIX`` at it (unless the user set ``DFU_SUFFIX`` to a real
dfu-suffix).

The suffix is 16 bytes: bcdDevice, idProduct, idVendor, bcdDFU (0x0100), ``"UFD"``, its length
(16), all little-endian, then dwCRC: the CRC-32 of the file and the first 12 suffix bytes,
without the final inversion (``zlib.crc32(data) ^ 0xFFFFFFFF``).
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

SUFFIX_LENGTH = 16
SIGNATURE = b"UFD"
BCD_DFU = 0x0100
WILDCARD = 0xFFFF


def dfu_crc(data: bytes) -> int:
    """dfu-util's CRC: CRC-32 started at 0xFFFFFFFF and not inverted at the end."""
    return zlib.crc32(data) ^ 0xFFFFFFFF


def has_suffix(data: bytes) -> bool:
    """Whether ``data`` ends with a DFU suffix whose signature and CRC are valid."""
    if len(data) < SUFFIX_LENGTH or data[-8:-5] != SIGNATURE:
        return False
    return struct.unpack("<I", data[-4:])[0] == dfu_crc(data[:-4])


def add_suffix(data: bytes, vendor: int, product: int, device: int = WILDCARD) -> bytes:
    """``data`` with a DFU suffix for USB ``vendor``:``product`` (release ``device``).

    Raises
    ------
    ValueError
        If ``data`` already has a valid suffix (as dfu-suffix refuses to add a second one), or
        an id does not fit 16 bits.
    """
    for label, value in (("vendor", vendor), ("product", product), ("device", device)):
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"{label} id {value:#x} does not fit 16 bits")
    if has_suffix(data):
        raise ValueError("the file already has a DFU suffix")
    head = struct.pack("<HHHH3sB", device, product, vendor, BCD_DFU, SIGNATURE, SUFFIX_LENGTH)
    return data + head + struct.pack("<I", dfu_crc(data + head))


def main(argv: list[str] | None = None) -> int:
    """``dfu-suffix -v VID -p PID [-d DID] -a FILE``: add a suffix to FILE in place."""
    parser = argparse.ArgumentParser(prog="dfu-suffix", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--vid", type=lambda text: int(text, 16), default=WILDCARD)
    parser.add_argument("-p", "--pid", type=lambda text: int(text, 16), default=WILDCARD)
    parser.add_argument("-d", "--did", type=lambda text: int(text, 16), default=WILDCARD)
    parser.add_argument("-a", "--add", metavar="FILE", required=True)
    args = parser.parse_args(argv)
    path = Path(args.add)
    try:
        path.write_bytes(add_suffix(path.read_bytes(), args.vid, args.pid, args.did))
    except (OSError, ValueError) as exc:
        print(f"dfu-suffix: {path}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
