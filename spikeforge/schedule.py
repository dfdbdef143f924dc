"""The bistable (BSNN) time schedule, shared by the golden model and the hardware.

Time is cut into phases of ``P`` steps (phase ``φ = t // P``). Layer ``l`` (0-based) is idle in
the phases before its first input can arrive (``φ < l``: no input, no bias, no spike), then
integrates in the phases where ``φ - l`` is even and fires where it is odd, so layer ``l``
integrates exactly while layer ``l - 1`` fires. One pass through ``L`` layers takes ``(L + 1) · P``
steps.

Why idle: without it a deep layer would integrate its bias alone during the phases before any
spike reached it and could fire spikes no input caused (seen on converted ResNets as one spike too
many per neuron).
"""

from __future__ import annotations

INTEGRATE = "integrate"
FIRE = "fire"
IDLE = "idle"


def bistable_mode(layer_index: int, step: int, phase: int) -> str:
    """``"idle"``, ``"integrate"`` or ``"fire"`` for 0-based ``layer_index`` at time ``step``."""
    phase_index = step // phase
    if phase_index < layer_index:
        return IDLE
    return INTEGRATE if (phase_index - layer_index) % 2 == 0 else FIRE


def bistable_latency(layers: int, phase: int) -> int:
    """Steps until the last of ``layers`` layers has fired once: ``(L + 1) · P``."""
    return (layers + 1) * phase
