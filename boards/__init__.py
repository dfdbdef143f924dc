"""Boards: UART board tops around a network, yosys/nextpnr builds and their reports.

- :mod:`.uart`: 8N1 UART receiver and transmitter with stream interfaces;
- :mod:`.board_top`: the host protocol (:class:`UARTBridge`, and :func:`image_bytes`,
  :func:`parse_answer` for the host side) and the board top (:class:`BoardTop`);
- :mod:`.registry`: known boards (iCE40, ECP5, Gowin) and their devices, :func:`board_table`;
- :mod:`.build`: ``build()``, synthesis, place and route and bitstream with the YoWASP tools;
- :mod:`.gowin`: Gowin platforms placed and routed by nextpnr-himbaechel;
- :mod:`.dfu`: the DFU file suffix (the OrangeCrab's bitstream carries one);
- :mod:`.report`: parsing of the tools' reports into a :class:`BuildReport`;
- :mod:`.standin`: a trivial network with the NetworkTop signature, for bring-up and tests.
"""

from .board_top import BoardTop, UARTBridge, answer_length, image_bytes, parse_answer
# build() is not re-exported: spikeforge.boards.build must stay the module.
from .build import check_tools
from .registry import BOARDS, board_table, get_board, known_boards
from .report import BuildReport

__all__ = ["BOARDS", "BoardTop", "BuildReport", "UARTBridge", "answer_length", "board_table",
           "check_tools", "get_board", "image_bytes", "known_boards", "parse_answer"]
