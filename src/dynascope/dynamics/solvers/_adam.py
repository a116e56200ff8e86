"""Adam on q(y) = ½‖r(y)‖², FixedPointFinder's descent, kept as an alternative first phase."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from dynascope.dynamics.solvers._base import AbstractSolver, Fn
from dynascope.dynamics.solvers._levenberg_marquardt import half_squared_norm
from dynascope.dynamics.solvers._result import Result


class AdamState(NamedTuple):
    """step: iterations done; y: the iterate [S]; optimizer: Adam's moments; done: q fell below tol (or is
    not finite); max_steps, tol: the budget and the q tolerance."""

    step: jax.Array
    y: jax.Array
    optimizer: Any
    done: jax.Array
    max_steps: jax.Array
    tol: jax.Array


@dataclasses.dataclass(frozen=True)
class Adam(AbstractSolver[AdamState]):
    """Adam on q with a learning rate that decays by cosine to 1 % over `steps`; a point stops once q < tol
    (or q is not finite), or after `steps` iterations. Adam is per coordinate, so batching points changes
    nothing: each moves on its own q. Result: CONVERGED once q < tol, else MAX_STEPS (DIVERGED where q is
    not finite).
    References: Kingma & Ba 2015 (Adam); Golub & Sussillo 2018 (FixedPointFinder); Sussillo & Barak 2013.
    """

    learning_rate: float
    steps: int

    def _optimizer(self) -> optax.GradientTransformation:
        return optax.adam(optax.cosine_decay_schedule(self.learning_rate, self.steps, alpha=1e-2))

    def init(self, fn: Fn, y0: jax.Array, *, tol: jax.Array) -> AdamState:
        return AdamState(
            jnp.asarray(0, jnp.int32), y0, self._optimizer().init(y0), jnp.asarray(False),
            jnp.asarray(self.steps, jnp.int32), jnp.asarray(tol, y0.dtype),
        )

    def going(self, state: AdamState) -> jax.Array:
        return (state.step < state.max_steps) & ~state.done

    def step(self, fn: Fn, state: AdamState) -> AdamState:
        s = state
        q, g = jax.value_and_grad(lambda y: half_squared_norm(fn, y))(s.y)
        done = s.done | (q < s.tol) | ~jnp.isfinite(q)
        # optax mixes its int32 step count with Python floats, which strict promotion rejects.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = self._optimizer().update(g, s.optimizer, s.y)
        y_new = s.y + updates
        keep = done | ~jnp.isfinite(y_new)
        return s._replace(step=s.step + 1, y=jnp.where(keep, s.y, y_new), optimizer=opt_state, done=done)

    def result(self, fn: Fn, state: AdamState) -> tuple[jax.Array, jax.Array]:
        q = half_squared_norm(fn, state.y)
        return state.y, Result.where(
            q < state.tol, Result.CONVERGED, Result.where(jnp.isfinite(q), Result.MAX_STEPS, Result.DIVERGED)
        )
