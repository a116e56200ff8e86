"""Helpers shared by several tasks: epoch lengths in steps, the epochs-fit-the-trial rule, the sign-accuracy metric."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from dynascope.errors import ConfigError
from dynascope.tasks._base import Trials


def ms_to_steps(ms: float, dt: float) -> int:
    """Number of `dt`-millisecond steps closest to `ms` milliseconds."""
    return int(round(ms / dt))


def check_epochs(task_name: str, n_time: int, dt: float, epochs: dict[str, float]) -> None:
    """Raise ConfigError unless every epoch (name -> ms) lasts ≥ 1 step and a response epoch fits after them.

    The response epoch is whatever remains of `n_time` after the listed epochs, so it needs ≥ 1 step.
    A rule between options (an epoch's length against `dt` and `n_time`), so tasks call it from `validate`;
    each value's type was checked by `tasks.get`.
    """
    used = 0
    for name, ms in epochs.items():
        if ms_to_steps(ms, dt) < 1:
            raise ConfigError(
                f"{name} must last at least one step of dt={dt} ms, got {ms!r}; "
                f"pass {name} >= {dt / 2:g} or a smaller dt."
            )
        used += ms_to_steps(ms, dt)
    if used >= n_time:
        raise ConfigError(
            f"n_time={n_time} steps leaves no response epoch for {task_name}: its epochs "
            f"({', '.join(epochs)}) take {used} steps of dt={dt} ms; pass n_time >= {used + 1}."
        )


def sign_accuracy(outputs: jax.Array, trials: Trials) -> jax.Array:
    """Fraction of response-epoch steps whose output has the sign of the ±1 target, per trial `[B]`.

    The response epoch is where the target is nonzero and scored; a fixation epoch scored at 0 is ignored.
    """
    scored = (trials.mask > 0) & (trials.targets != 0)
    hit = scored & (jnp.sign(outputs) == trials.targets)
    n = jnp.maximum(scored.sum(axis=(1, 2)), 1)
    return (hit.sum(axis=(1, 2)) / n).astype(jnp.float32)
