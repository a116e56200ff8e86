"""Task collection: pure-JAX trial generators found by name."""

from dynascope.tasks._base import Task, Trials
from dynascope.tasks._registry import get, names, register
from dynascope.tasks import flipflop  # noqa: F401  (registers)

__all__ = ["Task", "Trials", "get", "names", "register"]
