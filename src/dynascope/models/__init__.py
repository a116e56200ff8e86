"""Model zoo: pure step functions of rate, gated and constrained recurrent networks."""

from dynascope.models._base import Model, Params
from dynascope.models._registry import get, names, register
from dynascope.models import vanilla  # noqa: F401  (registers)

__all__ = ["Model", "Params", "get", "names", "register"]
