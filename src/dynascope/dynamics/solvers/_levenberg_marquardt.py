"""Levenberg–Marquardt on q(y) = ½‖r(y)‖² with its exact Hessian: finds minima of q, roots or not."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynascope.dynamics._precision import zero_floor
from dynascope.dynamics.solvers._base import AbstractSolver, Fn
from dynascope.dynamics.solvers._linear import cholesky_solve
from dynascope.dynamics.solvers._result import Result


class LevenbergMarquardtState(NamedTuple):
    """step: iterations done; y: the iterate [S]; q: q(y); damping: λ; max_steps, tol: the budget and the
    q below which the point is done."""

    step: jax.Array
    y: jax.Array
    q: jax.Array
    damping: jax.Array
    max_steps: jax.Array
    tol: jax.Array


def half_squared_norm(fn: Fn, y: jax.Array) -> jax.Array:
    """q(y) = ½‖fn(y)‖²."""
    r = fn(y)
    return 0.5 * jnp.sum(r * r)


@dataclasses.dataclass(frozen=True)
class LevenbergMarquardt(AbstractSolver[LevenbergMarquardtState]):
    """Damped Newton on q with the exact Hessian H = J_rᵀJ_r + Σ r_i ∇²r_i: (H + λ·‖H‖_F/√S·I) δ = −∇q,
    accepted when q falls (λ ÷ 10), else rejected (λ × 10, at least `reject`). It converges quadratically
    to minima of q with q > 0 too (slow points, ghosts), where Gauss–Newton (J_rᵀJ_r alone) cannot.

    Damping is relative to the curvature scale ‖H‖_F/√S: it starts at `start` and past `max_damping` no
    step can lower q any more (a minimum to working precision). Its floor is 100·eps of the dtype, below
    which H + λ adds nothing and float32 Cholesky fails on J_rᵀJ_r. Result: CONVERGED once q < tol (or zero
    to working precision), STALLED at a minimum, else MAX_STEPS or INTERRUPTED.
    References: Levenberg 1944; Marquardt 1963.
    """

    start: float = 1e-3
    reject: float = 1e-2
    max_damping: float = 1e6

    def init(self, fn: Fn, y0: jax.Array, *, max_steps: jax.Array, tol: jax.Array) -> LevenbergMarquardtState:
        return LevenbergMarquardtState(
            jnp.asarray(0, jnp.int32), y0, half_squared_norm(fn, y0), jnp.asarray(self.start, y0.dtype),
            jnp.asarray(max_steps, jnp.int32), jnp.asarray(tol, y0.dtype),
        )

    def going(self, state: LevenbergMarquardtState) -> jax.Array:
        s = state
        return (s.step < s.max_steps) & (s.damping < self.max_damping) & (s.q > zero_floor(s.y)) & (s.q >= s.tol)

    def step(self, fn: Fn, state: LevenbergMarquardtState) -> LevenbergMarquardtState:
        s = state
        x, lam = s.y, s.damping
        eps = jnp.finfo(x.dtype).eps

        def q(y: jax.Array) -> jax.Array:
            return half_squared_norm(fn, y)

        g, h = jax.grad(q)(x), jax.hessian(q)(x)
        # RMS eigenvalue size of H: positive even where H is indefinite, so λ·scale can always restore
        # positive definiteness (at λ ≥ √S at the latest) and the step tends to a short gradient step.
        scale = jnp.maximum(jnp.sqrt(jnp.sum(h * h) / x.shape[0]), eps)
        # A failed Cholesky (H + λ not positive definite) gives NaN: the step is rejected, λ grows.
        x_new = x - cholesky_solve(h + (lam * scale) * jnp.eye(x.shape[0], dtype=x.dtype), g)
        q_new = q(x_new)
        ok = jnp.all(jnp.isfinite(x_new)) & jnp.isfinite(q_new) & (q_new < s.q)
        lam = jnp.where(ok, jnp.maximum(lam / 10.0, 100.0 * eps), jnp.maximum(lam * 10.0, self.reject))
        return s._replace(step=s.step + 1, y=jnp.where(ok, x_new, x), q=jnp.where(ok, q_new, s.q), damping=lam)

    def result(self, fn: Fn, state: LevenbergMarquardtState) -> tuple[jax.Array, jax.Array]:
        s = state
        code = Result.where(
            (s.q < s.tol) | (s.q <= zero_floor(s.y)), Result.CONVERGED, Result.where(
                s.damping >= self.max_damping, Result.STALLED,
                Result.where(s.step >= s.max_steps, Result.MAX_STEPS, Result.INTERRUPTED),
            ),
        )
        return s.y, code
