"""Input encoders: an image of unsigned integers becomes per-step input values for the first layer.

Each encoder returns an int64 tensor of shape ``(T, batch, size)``; the equations are in
``docs/semantics.md`` and the hardware encoders reproduce them bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from spikeforge.lfsr import rate_thresholds
from spikeforge.netspec import InputSpec


def direct(images: torch.Tensor, timesteps: int) -> torch.Tensor:
    """The same values every step."""
    return images.unsqueeze(0).expand(timesteps, *images.shape)


def rate(images: torch.Tensor, timesteps: int, bits: int, seed: int) -> torch.Tensor:
    """0/1 spikes: value ``x`` spikes at step ``t`` when the LFSR number ``r[t, i] < x``."""
    r = torch.from_numpy(rate_thresholds(seed, timesteps, images.shape[1], bits))
    return (r.unsqueeze(1) < images.unsqueeze(0)).to(torch.int64)


def latency_step(images: torch.Tensor, first: int, steps: int, max_value: int) -> torch.Tensor:
    """Step at which each nonzero value fires once: ``first + ((max − x)·(steps − 1)) // max``."""
    span = max(steps - 1, 0)
    return first + torch.div((max_value - images) * span, max_value, rounding_mode="floor")


def latency(images: torch.Tensor, timesteps: int, max_value: int) -> torch.Tensor:
    """Each nonzero value fires once; the brightest (``max_value``) at step 0, dimmer ones later."""
    when = latency_step(images, 0, timesteps, max_value)
    steps = torch.arange(timesteps).view(timesteps, 1, 1)
    return ((steps == when.unsqueeze(0)) & (images.unsqueeze(0) > 0)).to(torch.int64)


def hybrid(images: torch.Tensor, timesteps: int, max_value: int) -> torch.Tensor:
    """Step 0 direct (multi-bit values), steps 1..T−1 latency-coded spikes (as in ASNN)."""
    out = torch.zeros(timesteps, *images.shape, dtype=torch.int64)
    out[0] = images
    if timesteps > 1:
        when = latency_step(images, 1, timesteps - 1, max_value)
        steps = torch.arange(1, timesteps).view(timesteps - 1, 1, 1)
        out[1:] = ((steps == when.unsqueeze(0)) & (images.unsqueeze(0) > 0)).to(torch.int64)
    return out


def encode(spec_input: InputSpec, inputs, timesteps: int) -> torch.Tensor:
    """Per-step input values, shape ``(T, batch, size)``, for any encoding of the NetSpec.

    Parameters
    ----------
    spec_input : InputSpec
        Encoding and its parameters.
    inputs : array-like of int
        ``(batch, size)`` images, or for ``"events"`` ``(batch, T, size)`` binned event counts.

    Raises
    ------
    ValueError
        Wrong shape, non-integers, or values outside ``[0, max_value]``.
    """
    x = np.asarray(inputs)
    events = spec_input.encoding == "events"
    ok_shape = (x.ndim == 3 and x.shape[1] == timesteps and x.shape[2] == spec_input.size) if events \
        else (x.ndim == 2 and x.shape[1] == spec_input.size)
    if not ok_shape:
        expected = f"(batch, {timesteps}, {spec_input.size})" if events else f"(batch, {spec_input.size})"
        raise ValueError(f"golden inputs for encoding {spec_input.encoding!r}: expected shape "
                         f"{expected}, found {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"golden inputs: expected integers, found dtype {x.dtype}")
    if x.size and (x.min() < 0 or x.max() > spec_input.value_max):
        raise ValueError(f"golden inputs: expected values in [0, {spec_input.value_max}], "
                         f"found [{x.min()}, {x.max()}]")
    images = torch.from_numpy(x.astype(np.int64))
    if spec_input.encoding == "direct":
        return direct(images, timesteps)
    if spec_input.encoding == "rate":
        return rate(images, timesteps, spec_input.bits, spec_input.rate_seed)
    if spec_input.encoding == "latency":
        return latency(images, timesteps, spec_input.value_max)
    if spec_input.encoding == "hybrid":
        return hybrid(images, timesteps, spec_input.value_max)
    if events:
        return images.permute(1, 0, 2)
    raise ValueError(f"unknown encoding {spec_input.encoding!r}")
