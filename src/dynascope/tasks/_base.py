"""The Task contract: a frozen dataclass that samples batches of trials from a PRNG key."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from dynascope._registry import option


class Trials(NamedTuple):
    """A batch of trials (a pytree): `inputs [B,T,I]`, `targets [B,T,O]`, `mask [B,T,O]`, all float32.

    `mask` is 1 where the output is scored and 0 where it is free.
    """

    inputs: jax.Array
    targets: jax.Array
    mask: jax.Array


@dataclasses.dataclass(frozen=True)
class Task(abc.ABC):
    """A supervised neuroscience task. Subclasses are frozen dataclasses whose fields are the options.

    Every subclass has the fields `n_time` (steps per trial) and `dt` (milliseconds per step), and
    the properties `n_inputs` and `n_outputs`. `sample` is pure: the same key gives the same trials.
    """

    name: ClassVar[str] = ""
    #: score (see `metric`) at or above which a network counts as trained.
    criterion: ClassVar[float] = 0.9
    input_names: ClassVar[tuple[str, ...]] = ()
    output_names: ClassVar[tuple[str, ...]] = ()

    n_time: int = option(gt=0, doc="steps per trial")
    dt: float = option(gt=0, doc="milliseconds per step")

    @property
    @abc.abstractmethod
    def n_inputs(self) -> int:
        """Number of input channels I."""

    @property
    @abc.abstractmethod
    def n_outputs(self) -> int:
        """Number of output channels O."""

    @abc.abstractmethod
    def sample(self, key: jax.Array, batch_size: int) -> Trials:
        """Draw `batch_size` trials; arrays are `[batch_size, n_time, ·]` float32."""

    @abc.abstractmethod
    def analysis_inputs(self) -> jax.Array:
        """Constant inputs `[K, n_inputs]` under which the task's fixed-point structure is meaningful."""

    def loss(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """The training loss (a scalar) of `outputs [B,T,O]` on `trials`; default: mean squared error over
        the scored entries (mask = 1). A task whose targets are not Gaussian-like (spike counts) overrides it."""
        m = trials.mask
        return (m * (outputs - trials.targets) ** 2).sum() / jnp.maximum(m.sum(), 1.0)

    def outputs_for(self, targets: jax.Array) -> jax.Array:
        """The network outputs `[B,T,O]` that reproduce `targets` exactly, in the units the network outputs;
        default: the targets themselves. A task whose outputs are in other units (log expected counts for spike
        counts) overrides it; the contract tests score these outputs."""
        return targets

    def predicted_targets(self, outputs: jax.Array) -> jax.Array:
        """The targets the network's `outputs [B,T,O]` predict, in the targets' units (what a plot draws beside
        the targets); default: the outputs themselves. The inverse of `outputs_for`."""
        return outputs

    def metric(self, outputs: jax.Array, trials: Trials) -> jax.Array:
        """Score in [0, 1] per trial `[B]` (higher is better); default: 1 − masked MSE / masked target variance."""
        m = trials.mask
        n = jnp.maximum(m.sum(axis=(1, 2)), 1.0)
        err = (m * (outputs - trials.targets) ** 2).sum(axis=(1, 2)) / n
        mean = (m * trials.targets).sum(axis=(1, 2), keepdims=True) / n[:, None, None]
        var = (m * (trials.targets - mean) ** 2).sum(axis=(1, 2)) / n
        return jnp.clip(1.0 - err / jnp.maximum(var, 1e-6), 0.0, 1.0)

    def validate(self) -> None:
        """Check the rules that relate several options; raise ConfigError naming them.

        Each option's type and its own constraint are declared on its field (`option(..., gt=0)`) and
        checked by `tasks.get` before this runs; subclasses override this only for cross-option rules.
        """

    def options(self) -> dict[str, Any]:
        """The task's options as a plain dict (what `tasks.get(name, **options)` takes)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
