"""The corrector of continuation: Newton onto G(u) = 0 within a hyperplane through its start."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynascope.dynamics.solvers._base import AbstractSolver, Fn
from dynascope.dynamics.solvers._linear import norm, solve
from dynascope.dynamics.solvers._result import Result


class CorrectorState(NamedTuple):
    """step: evaluations of G so far; y: u [M]; anchor: the start [M] and normal [M] of the hyperplane
    normal·(u − anchor) = 0 (unused when not bordered); residual: G(u) and jacobian: ∂G/∂u at the last
    evaluation; converged / failed: the last evaluation met the tolerance / was not finite; max_steps: most
    evaluations; tol: relative."""

    step: jax.Array
    y: jax.Array
    anchor: jax.Array
    normal: jax.Array
    residual: jax.Array
    jacobian: jax.Array
    converged: jax.Array
    failed: jax.Array
    max_steps: jax.Array
    tol: jax.Array


@dataclasses.dataclass(frozen=True)
class Corrector(AbstractSolver[CorrectorState]):
    """Undamped Newton on G with the exact Jacobian: with `bordered` (continuation: G maps (s, p) [S+1] to
    [S]) each step solves [∂G/∂u; normal] δ = −[G(u); normal·(u − anchor)], which keeps u in the hyperplane
    through the start normal to the tangent (Keller's pseudo-arclength corrector); without it G is square
    and the step is −(∂G/∂u)⁻¹G (plain Newton). Converged when ‖G(u)‖ < tol·(1 + ‖u‖); the last
    evaluation's G and ∂G/∂u are kept for the tangent and the spectrum there. Result: CONVERGED,
    DIVERGED (G not finite, or a singular system) or NOT_CONVERGED within max_steps evaluations.
    References: Keller 1977; Kuznetsov 2004, Elements of Applied Bifurcation Theory, ch. 10.
    """

    bordered: bool = True

    def init(self, fn: Fn, y0: jax.Array, *, normal: jax.Array, max_steps: jax.Array, tol: jax.Array) -> CorrectorState:
        r = jax.eval_shape(fn, y0)
        return CorrectorState(
            jnp.asarray(0, jnp.int32), y0, y0, normal, jnp.zeros(r.shape, y0.dtype),
            jnp.zeros(r.shape + y0.shape, y0.dtype), jnp.asarray(False), jnp.asarray(False),
            jnp.asarray(max_steps, jnp.int32), jnp.asarray(tol, y0.dtype),
        )

    def going(self, state: CorrectorState) -> jax.Array:
        return (state.step < state.max_steps) & ~state.converged & ~state.failed

    def step(self, fn: Fn, state: CorrectorState) -> CorrectorState:
        u = state.y

        def with_aux(y: jax.Array) -> tuple[jax.Array, jax.Array]:
            r = fn(y)
            return r, r

        jac, r = jax.jacfwd(with_aux, has_aux=True)(u)
        failed = ~jnp.all(jnp.isfinite(r))
        converged = ~failed & (norm(r) < state.tol * (1.0 + norm(u)))
        if self.bordered:
            matrix = jnp.concatenate([jac, state.normal[None, :]])
            rhs = -jnp.concatenate([r, (state.normal @ (u - state.anchor))[None]])
        else:
            matrix, rhs = jac, -r
        # The last evaluation only tests: its step would go unchecked.
        move = ~converged & ~failed & (state.step + 1 < state.max_steps)
        u_new = jnp.where(move, u + solve(matrix, rhs), u)
        return state._replace(
            step=state.step + 1, y=u_new, residual=r, jacobian=jac, converged=converged,
            failed=failed | ~jnp.all(jnp.isfinite(u_new)),
        )

    def result(self, fn: Fn, state: CorrectorState) -> tuple[jax.Array, jax.Array]:
        code = Result.where(
            state.converged, Result.CONVERGED, Result.where(state.failed, Result.DIVERGED, Result.NOT_CONVERGED)
        )
        return state.y, code
