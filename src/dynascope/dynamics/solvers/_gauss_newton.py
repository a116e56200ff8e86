"""Levenberg-damped Gauss–Newton on a residual r(y) = 0 (J_rᵀJ_r for the Hessian): periodic orbits."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynascope.dynamics.solvers._base import AbstractSolver, Fn
from dynascope.dynamics.solvers._linear import solve
from dynascope.dynamics.solvers._result import Result


class GaussNewtonState(NamedTuple):
    """step: iterations done; y: the iterate [S]; damping: λ; max_steps: the budget; tol: the q = ½‖r‖²
    below which the point counts as converged."""

    step: jax.Array
    y: jax.Array
    damping: jax.Array
    max_steps: jax.Array
    tol: jax.Array


@dataclasses.dataclass(frozen=True)
class GaussNewton(AbstractSolver[GaussNewtonState]):
    """(J_rᵀJ_r + λ·tr(J_rᵀJ_r)/S·I) δ = −J_rᵀr with the exact Jacobian; a step is taken where it lowers
    ‖r‖ (λ ÷ 3, at least 1e-12), else λ × 4. It runs its whole budget (later iterations only polish a
    converged point, to rounding), which keeps its cost and its answer independent of the batch. For a
    period-k orbit of a map F, r(s) = F^k(s) − s. Result: CONVERGED where q = ½‖r‖² < tol, else MAX_STEPS.
    References: Levenberg 1944; Marquardt 1963.
    """

    start: float = 1e-3

    def init(self, fn: Fn, y0: jax.Array, *, max_steps: jax.Array, tol: jax.Array) -> GaussNewtonState:
        return GaussNewtonState(
            jnp.asarray(0, jnp.int32), y0, jnp.asarray(self.start, y0.dtype), jnp.asarray(max_steps, jnp.int32),
            jnp.asarray(tol, y0.dtype),
        )

    def going(self, state: GaussNewtonState) -> jax.Array:
        return state.step < state.max_steps

    def step(self, fn: Fn, state: GaussNewtonState) -> GaussNewtonState:
        s, lam = state.y, state.damping
        n = s.shape[0]

        def with_aux(y: jax.Array) -> tuple[jax.Array, jax.Array]:
            r = fn(y)
            return r, r

        jac, r = jax.jacfwd(with_aux, has_aux=True)(s)
        hess = jac.T @ jac
        scale = jnp.maximum(jnp.trace(hess) / n, 1e-12)
        s_try = s + solve(hess + lam * scale * jnp.eye(n, dtype=s.dtype), -(jac.T @ r))
        r_try = fn(s_try)
        better = r_try @ r_try < r @ r  # False for NaN, so a blown-up trial step is rejected
        return state._replace(
            step=state.step + 1, y=jnp.where(better, s_try, s),
            damping=jnp.where(better, jnp.maximum(lam / 3.0, 1e-12), lam * 4.0),
        )

    def result(self, fn: Fn, state: GaussNewtonState) -> tuple[jax.Array, jax.Array]:
        r = fn(state.y)
        q = 0.5 * (r @ r)
        return state.y, Result.where(jnp.isfinite(q) & (q < state.tol), Result.CONVERGED, Result.MAX_STEPS)
