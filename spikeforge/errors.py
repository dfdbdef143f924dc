"""Errors of spikeforge: each says what is wrong, where, what was expected and what was found."""

from __future__ import annotations


class SpikeforgeError(Exception):
    """Base of every error spikeforge reports to a user.

    Parameters
    ----------
    what : str
        What is wrong, in a few words.
    where : str
        Where it is wrong (a field path, a layer name, a file, a tool).
    expected : str, optional
        What was expected there.
    found : str, optional
        What was found instead.
    hint : str, optional
        What the user can do about it.
    """

    def __init__(self, what: str, where: str, expected: str | None = None,
                 found: str | None = None, hint: str | None = None):
        self.what = what
        self.where = where
        self.expected = expected
        self.found = found
        self.hint = hint
        parts = [f"{what} at {where}"]
        if expected is not None:
            parts.append(f"expected {expected}")
        if found is not None:
            parts.append(f"found {found}")
        message = ": ".join(parts[:1]) + ("" if len(parts) == 1 else ": " + ", ".join(parts[1:]))
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class NetSpecError(SpikeforgeError):
    """A NetSpec file or object is malformed or inconsistent."""


class ToolchainError(SpikeforgeError):
    """A tool of the chain (simulator, synthesizer, place-and-route) is missing or failed."""


class BuildError(SpikeforgeError):
    """A hardware build failed: unknown board, design does not fit, timing not met."""


class MismatchError(SpikeforgeError):
    """RTL and golden model disagree on an exact integer."""


class InputError(SpikeforgeError):
    """Bad user input whose message a library already phrased as "field: expected X, found Y".

    Parameters
    ----------
    where : str
        The command or file the input came from (e.g. ``"train --method albsnn"``).
    message : str
        The phrased message; the error reads ``"{where}: {message}"``.
    """

    def __init__(self, where: str, message: str):
        self.what, self.where, self.expected, self.found, self.hint = message, where, None, None, None
        Exception.__init__(self, f"{where}: {message}")
