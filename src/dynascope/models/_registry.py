"""Name -> model class registry (the generic `dynascope._registry.Registry`); `get` checks hyperparameters
at the boundary."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from dynascope._registry import OptionSpec, Registry
from dynascope.models._base import Model

#: The sizes every model takes; checked like options but not listed among a model's options.
SIZES = ("n_inputs", "n_hidden", "n_outputs")

_MODELS: Registry[type[Model]] = Registry("model", required=SIZES)
M = TypeVar("M", bound=type[Model])


def register(name: str) -> Callable[[M], M]:
    """Class decorator that makes a Model subclass available as `models.get(name, ...)`."""
    return _MODELS.register(name)  # type: ignore[return-value]


def names() -> list[str]:
    """Sorted names of the registered models."""
    return sorted(_MODELS.names())


def get(name: str, *, n_inputs: int, n_hidden: int, n_outputs: int, **options: Any) -> Model:
    """Build the model registered as `name` with the given sizes and hyperparameters `options`.

    Each value is checked once, here; then the model's `validate` checks the rules that relate several
    hyperparameters.

    Args:
        name: a registered model name (see `dynascope.models.names()`).
        n_inputs: input size I.
        n_hidden: hidden units H.
        n_outputs: output size.
        **options: the model's hyperparameters (its dataclass fields).

    Returns:
        The `Model`.

    Raises:
        UnknownNameError: no model of that name; ConfigError: an unknown option (listing the options), a
        value of the wrong type or outside its declared constraint (naming it, the value and what is
        expected), or hyperparameters the model's `validate` refuses together.
    """
    return _MODELS.get(name, n_inputs=n_inputs, n_hidden=n_hidden, n_outputs=n_outputs, **options)


def options(name: str) -> list[OptionSpec]:
    """The options of the model registered as `name`: name, what it must be, default and meaning."""
    return _MODELS.option_specs(name)
