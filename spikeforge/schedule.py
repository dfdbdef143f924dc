"""The bistable (BSNN) time schedule, shared by the golden model and the hardware.

Time is cut into phases of ``P`` steps (phase ``φ = t // P``). Layer ``l`` (0-based) integrates in
the phases where ``φ - l`` is even and fires where it is odd, so layer ``l`` integrates exactly
while layer ``l - 1`` fires. One pass through ``L`` layers takes ``(L + 1) · P`` steps.
"""

from __future__ import annotations

INTEGRATE = "integrate"
FIRE = "fire"


def bistable_mode(layer_index: int, step: int, phase: int) -> str:
    """``"integrate"`` or ``"fire"`` for 0-based ``layer_index`` at time ``step``."""
    return INTEGRATE if ((step // phase) - layer_index) % 2 == 0 else FIRE


def bistable_latency(layers: int, phase: int) -> int:
    """Steps until the last of ``layers`` layers has fired once: ``(L + 1) · P``."""
    return (layers + 1) * phase
