"""The extension point for solvers: an abstract per-point iterative solver, and the loops that run one."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp

#: The function a solver works on, of one point: a residual `y [S] -> r`, closed over params and input.
Fn = Callable[[jax.Array], Any]
State = TypeVar("State")


class AbstractSolver(abc.ABC, Generic[State]):
    """An iterative solver for one point; `jax.vmap` batches it over points and networks.

    Subclasses are frozen dataclasses (hashable: a static argument of `jax.jit`) holding only settings;
    everything an iteration needs is in the solver's `State`, a NamedTuple whose first field `step`
    counts iterations. So a scheduler can stop the loop after a few iterations, set the points that are
    done aside and go on with the rest (see `dynamics._scheduler.schedule`).
    """

    @abc.abstractmethod
    def init(self, fn: Fn, y0: jax.Array, **options: Any) -> State:
        """The state before the first iteration, at `y0` (per-point budgets and tolerances in `options`)."""

    @abc.abstractmethod
    def step(self, fn: Fn, state: State) -> State:
        """One iteration."""

    @abc.abstractmethod
    def going(self, state: State) -> jax.Array:
        """Whether the solver would iterate again (False once its own test is met or its budget spent)."""

    @abc.abstractmethod
    def result(self, fn: Fn, state: State) -> tuple[jax.Array, jax.Array]:
        """The solution `y` and its `Result` code (int32) at `state`."""


def iterate(
    solver: AbstractSolver, fn: Fn, state: Any, until: Any = None, going: Callable[[Any], jax.Array] | None = None
) -> Any:
    """Iterate `solver` from `state` while it is going, its step count is below `until` (None: no bound)
    and `going(state)` (an extra condition of the caller's, e.g. a search region) holds."""

    def cond(s: Any) -> jax.Array:
        ok = solver.going(s)
        if until is not None:
            ok = ok & (s.step < until)
        return ok if going is None else ok & going(s)

    return jax.lax.while_loop(cond, lambda s: solver.step(fn, s), state)


def solve(solver: AbstractSolver, fn: Fn, y0: jax.Array, **options: Any) -> tuple[jax.Array, jax.Array, Any]:
    """Run `solver` from `y0` to the end: (solution, Result code, final state)."""
    state = iterate(solver, fn, solver.init(fn, y0, **options))
    y, code = solver.result(fn, state)
    return y, jnp.asarray(code, jnp.int32), state
