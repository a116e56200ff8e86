"""Name -> model class registry; `get` validates hyperparameters at the boundary."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

from dynascope.errors import ConfigError, unknown_name
from dynascope.models._base import Model
from dynascope.tasks._fields import check_option_types

_MODELS: dict[str, type[Model]] = {}
M = TypeVar("M", bound=type[Model])


def register(name: str) -> Callable[[M], M]:
    """Class decorator that makes a Model subclass available as `models.get(name, ...)`."""

    def deco(cls: M) -> M:
        if name in _MODELS:
            raise RuntimeError(f"model {name!r} registered twice")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return deco


def names() -> list[str]:
    """Sorted names of the registered models."""
    return sorted(_MODELS)


def get(name: str, *, n_inputs: int, n_hidden: int, n_outputs: int, **options: Any) -> Model:
    """Build the model registered as `name` with the given sizes and hyperparameters `options`.

    Each option's value is checked against its field's annotation first (ConfigError naming the option, the
    value and the type expected), then the model's own `validate`.
    """
    if not isinstance(name, str) or name not in _MODELS:
        raise unknown_name("model", str(name), names())
    cls = _MODELS[name]
    fields = {f.name for f in dataclasses.fields(cls) if f.init} - {"n_inputs", "n_hidden", "n_outputs"}
    bad = sorted(set(options) - fields)
    if bad:
        raise ConfigError(
            f"model {name!r} has no option {', '.join(map(repr, bad))}; "
            f"its options are: {', '.join(sorted(fields)) or '(none)'}."
        )
    options = check_option_types(f"model {name!r}", cls, options)
    model = cls(n_inputs=n_inputs, n_hidden=n_hidden, n_outputs=n_outputs, **options)
    model.validate()
    return model
