"""Name -> ground-truth system class (the generic `dynascope._registry.Registry`); options checked in `get_system`."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from dynascope._registry import Registry
from dynascope.data._base import GroundTruthSystem

_SYSTEMS: Registry[type[GroundTruthSystem]] = Registry("system")
S = TypeVar("S", bound=type[GroundTruthSystem])


def register_system(name: str) -> Callable[[S], S]:
    """Class decorator that makes a GroundTruthSystem subclass available as `get_system(name)`."""
    return _SYSTEMS.register(name)  # type: ignore[return-value]


def system_names() -> list[str]:
    """Sorted names of the registered ground-truth systems."""
    return sorted(_SYSTEMS.names())


def system_options(name: str) -> list[str]:
    """The options of the system registered as `name`."""
    return _SYSTEMS.options(name)


def get_system(name: str, **options: Any) -> GroundTruthSystem:
    """Build the ground-truth system registered as `name` with `options` (its dataclass fields).

    Args:
        name: a registered system name (see `dynascope.data.system_names()`).
        **options: values of the system's dataclass fields; the rest keep their defaults.

    Returns:
        The `GroundTruthSystem`.

    Raises:
        UnknownNameError: no system of that name; ConfigError: an unknown option, a value of the wrong
        type or outside its declared constraint (naming the option), or options the system's `validate`
        refuses together.
    """
    return _SYSTEMS.get(name, **options)
