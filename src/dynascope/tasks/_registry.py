"""Name -> task class registry; `get` validates options at the boundary."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

from dynascope.errors import ConfigError, unknown_name
from dynascope.tasks._base import Task
from dynascope.tasks._fields import check_option_types

_TASKS: dict[str, type[Task]] = {}
T = TypeVar("T", bound=type[Task])


def register(name: str) -> Callable[[T], T]:
    """Class decorator that makes a Task subclass available as `tasks.get(name)`."""

    def deco(cls: T) -> T:
        if name in _TASKS:
            raise RuntimeError(f"task {name!r} registered twice")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return deco


def names() -> list[str]:
    """Sorted names of the registered tasks (`neurogym:<EnvName>` is also accepted by `get`)."""
    return sorted(_TASKS)


def get(name: str, **options: Any) -> Task:
    """Build the task registered as `name` with `options` (the dataclass fields of that task).

    Each option's value is checked against its field's annotation first (ConfigError naming the option, the
    value and the type expected; a list is accepted for a tuple field), then the task's own `validate`.

    `neurogym:<EnvName>` wraps a NeuroGym environment (needs the `neurogym` extra).
    """
    if not isinstance(name, str):
        raise ConfigError(f"task name must be a string, got {name!r}.")
    if name.startswith("neurogym:"):
        from dynascope.tasks.neurogym import NeuroGymTask

        return NeuroGymTask.from_env_name(name.split(":", 1)[1], **options)
    if name not in _TASKS:
        raise unknown_name("task", name, names())
    cls = _TASKS[name]
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    bad = sorted(set(options) - fields)
    if bad:
        raise ConfigError(
            f"task {name!r} has no option {', '.join(map(repr, bad))}; "
            f"its options are: {', '.join(sorted(fields)) or '(none)'}."
        )
    options = check_option_types(f"task {name!r}", cls, options)
    task = cls(**options)
    task.validate()
    return task
