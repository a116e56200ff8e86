"""Name -> task class registry (the generic `dynascope._registry.Registry`); `get` checks options at the boundary."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from dynascope._registry import OptionSpec, Registry
from dynascope.tasks._base import Task

_TASKS: Registry[type[Task]] = Registry("task")
T = TypeVar("T", bound=type[Task])


def register(name: str) -> Callable[[T], T]:
    """Class decorator that makes a Task subclass available as `tasks.get(name)`."""
    return _TASKS.register(name)  # type: ignore[return-value]


def names() -> list[str]:
    """Sorted names of the registered tasks (`neurogym:<EnvName>` is also accepted by `get`)."""
    return sorted(_TASKS.names())


def get(name: str, **options: Any) -> Task:
    """Build the task registered as `name` with `options` (the dataclass fields of that task).

    Each option is checked once, here: an unknown option is refused with the list of options; a value of
    the wrong type or outside its declared constraint with a ConfigError naming the option, the value and
    what is expected (a list is accepted for a tuple field); then the task's `validate` checks the rules
    that relate several options.

    `neurogym:<EnvName>` wraps a NeuroGym environment (needs the `neurogym` extra).
    """
    if isinstance(name, str) and name.startswith("neurogym:"):
        from dynascope.tasks.neurogym import NeuroGymTask

        return NeuroGymTask.from_env_name(name.split(":", 1)[1], **options)
    return _TASKS.get(name, **options)


def options(name: str) -> list[OptionSpec]:
    """The options of the task registered as `name`: name, what it must be, default and meaning."""
    return _TASKS.option_specs(name)
