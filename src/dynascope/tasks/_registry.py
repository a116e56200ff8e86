"""Name -> task class registry (the generic `dynascope._registry.Registry`); `get` checks options at the boundary."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from dynascope._registry import OptionSpec, Registry
from dynascope.tasks._base import Task

# Tasks of higher layers or other packages come in through entry points (pyproject.toml): `recording`
# (fitting a recording) lives in dynascope.data, which this layer must not import.
_TASKS: Registry[type[Task]] = Registry("task", plugins="dynascope.tasks")
T = TypeVar("T", bound=type[Task])


def register(name: str) -> Callable[[T], T]:
    """Class decorator that makes a Task subclass available as `tasks.get(name)`."""
    return _TASKS.register(name)  # type: ignore[return-value]


def names() -> list[str]:
    """Sorted names of the registered tasks (`neurogym:<EnvName>` is also accepted by `get`)."""
    return sorted(_TASKS.names())


def get(name: str, **options: Any) -> Task:
    """Build the task registered as `name` with `options` (the dataclass fields of that task).

    Each option is checked once, here; then the task's `validate` checks the rules that relate several
    options.

    Args:
        name: a registered task name (see `dynascope.tasks.names()`), or `neurogym:<EnvName>` to wrap a
            NeuroGym environment (needs the `neurogym` extra).
        **options: values of the task's dataclass fields (a list is accepted for a tuple field).

    Returns:
        The `Task`.

    Raises:
        UnknownNameError: no task of that name; ConfigError: an unknown option (listing the options), a
        value of the wrong type or outside its declared constraint (naming the option, the value and
        what is expected), or options the task's `validate` refuses together.
    """
    if isinstance(name, str) and name.startswith("neurogym:"):
        from dynascope.tasks.neurogym import NeuroGymTask

        return NeuroGymTask.from_env_name(name.split(":", 1)[1], **options)
    return _TASKS.get(name, **options)


def options(name: str) -> list[OptionSpec]:
    """The options of the task registered as `name`: name, what it must be, default and meaning."""
    return _TASKS.option_specs(name)
