"""The golden model: the integer-exact reference every piece of hardware is checked against."""

from .executor import GoldenResult, run

__all__ = ["GoldenResult", "run"]
