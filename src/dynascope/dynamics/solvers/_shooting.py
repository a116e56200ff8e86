"""Shooting for a closed orbit: Newton on (s, T) for Φ_T(s) = s on a Poincaré section."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynascope.dynamics.solvers._base import AbstractSolver
from dynascope.dynamics.solvers._linear import least_squares, norm
from dynascope.dynamics.solvers._result import Result

#: `return_map(s [S], T []) -> (Φ_T(s) [S], ∂Φ_T/∂T [S], ∂Φ_T/∂s [S, S])`: the state T steps after s.
ReturnMap = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


class ShootingState(NamedTuple):
    """step: evaluations of the return map so far; y: the point s [S]; period: T; anchor: s₀ [S] and normal
    [S], the section normal·(s − s₀) = 0; jacobian: ∂Φ_T/∂s [S, S] and residual_norm: ‖Φ_T(s) − s‖ at the
    last evaluation; converged: it met the tolerance there; max_steps: most evaluations; tol: relative."""

    step: jax.Array
    y: jax.Array
    period: jax.Array
    anchor: jax.Array
    normal: jax.Array
    jacobian: jax.Array
    residual_norm: jax.Array
    converged: jax.Array
    max_steps: jax.Array
    tol: jax.Array


@dataclasses.dataclass(frozen=True)
class Shooting(AbstractSolver[ShootingState]):
    """Newton on the unknowns (s, T) for Φ_T(s) = s and normal·(s − s₀) = 0, solved by least squares (the
    bordered system is singular along the orbit when the section is tangent to it). A step in T is held
    within ±1 (longer ones jump to another branch of a piecewise Φ_T such as an interpolated return).
    Converged when ‖Φ_T(s) − s‖ < tol·(1 + ‖s‖), where the jacobian kept is the monodromy matrix.
    Result: CONVERGED, MAX_STEPS, or DIVERGED where the return map stopped being finite.
    References: Keller 1968; Parker & Chua 1989, Practical Numerical Algorithms for Chaotic Systems, ch. 6.
    """

    def init(self, fn: ReturnMap, y0: jax.Array, *, period: jax.Array, normal: jax.Array, max_steps: jax.Array,
             tol: jax.Array) -> ShootingState:
        n = y0.shape[0]
        return ShootingState(
            jnp.asarray(0, jnp.int32), y0, jnp.asarray(period, y0.dtype), y0, normal,
            jnp.full((n, n), jnp.nan, y0.dtype), jnp.asarray(jnp.inf, y0.dtype), jnp.asarray(False),
            jnp.asarray(max_steps, jnp.int32), jnp.asarray(tol, y0.dtype),
        )

    def going(self, state: ShootingState) -> jax.Array:
        return (state.step < state.max_steps) & ~state.converged & jnp.all(jnp.isfinite(state.y))

    def step(self, fn: ReturnMap, state: ShootingState) -> ShootingState:
        s, period, size = state.y, state.period, state.y.shape[0]
        out, d_t, jac = fn(s, period)
        res = out - s
        res_norm = norm(res)
        done = res_norm < state.tol * (1.0 + norm(s))
        top = jnp.concatenate([jac - jnp.eye(size, dtype=s.dtype), d_t[:, None]], axis=1)
        bottom = jnp.concatenate([state.normal, jnp.zeros(1, s.dtype)])[None, :]
        rhs = -jnp.concatenate([res, (state.normal @ (s - state.anchor))[None]])
        delta = least_squares(jnp.concatenate([top, bottom]), rhs)
        # A step in T of more than one step would jump to another branch of the piecewise Φ_T.
        new_period = jnp.clip(period + delta[size], period - 1.0, period + 1.0)
        return state._replace(
            step=state.step + 1, y=jnp.where(done, s, s + delta[:size]), period=jnp.where(done, period, new_period),
            jacobian=jac, residual_norm=res_norm, converged=done,
        )

    def result(self, fn: ReturnMap, state: ShootingState) -> tuple[jax.Array, jax.Array]:
        finite = jnp.all(jnp.isfinite(state.y)) & jnp.isfinite(state.residual_norm)
        code = Result.where(state.converged, Result.CONVERGED, Result.where(finite, Result.MAX_STEPS, Result.DIVERGED))
        return state.y, code
