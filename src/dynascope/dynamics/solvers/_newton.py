"""Error-oriented damped Newton on a residual r(y) = 0: Deuflhard's NLEQ-ERR, affine covariant."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dynascope.dynamics._precision import zero_floor
from dynascope.dynamics.solvers._base import AbstractSolver, Fn
from dynascope.dynamics.solvers._linear import finite_or, lu_correction, lu_resolve, norm
from dynascope.dynamics.solvers._result import Result


class NewtonState(NamedTuple):
    """step: iterations done; y: the iterate [S]; anchor: the start [S] (centre of the leash); damping: λ;
    correction: the last simplified correction [S]; correction_norm: the last ‖δ‖; accepted: the last
    step was; at_root: the last iteration found y at a root; max_steps, tol: the budget and q tolerance."""

    step: jax.Array
    y: jax.Array
    anchor: jax.Array
    damping: jax.Array
    correction: jax.Array
    correction_norm: jax.Array
    accepted: jax.Array
    at_root: jax.Array
    max_steps: jax.Array
    tol: jax.Array


def linearize(fn: Fn, y: jax.Array) -> tuple[jax.Array, jax.Array, tuple, jax.Array]:
    """r(y) [S], its Jacobian J_r(y) [S, S], the LU factors of J_r, and the Newton correction −J_r⁻¹r [S]
    (NaN where r or J_r is not finite)."""
    r = fn(y)
    jac = jax.jacfwd(fn)(y)
    lu, dx = lu_correction(jac, r)
    return r, jac, lu, dx


def at_root(y: jax.Array, q: jax.Array, n_dx: jax.Array, tol: jax.Array) -> jax.Array:
    """Newton on r is done at y: q < tol, q zero to working precision, or the Newton correction ‖dx‖ at
    working precision (a root as exact as rounding allows; False where dx is NaN)."""
    eps = jnp.finfo(y.dtype).eps
    return (q < tol) | (q <= zero_floor(y)) | (n_dx <= 4.0 * eps * (1.0 + norm(y)))


@dataclasses.dataclass(frozen=True)
class Newton(AbstractSolver[NewtonState]):
    """Damped Newton on r with error-oriented (affine covariant) damping, Deuflhard's NLEQ-ERR.

    δ = −J_r⁻¹r, and a damping factor λ is accepted when the simplified correction ‖J_r(y)⁻¹r(y + λδ)‖
    falls below (1 − λ/4)‖δ‖ (the restricted monotonicity test), λ predicted from the nonlinearity the
    last step showed. The test is affine invariant, so the long steps along a nearly flat valley to its
    root are taken at once, where a decrease of ‖r‖ (the Levenberg–Marquardt acceptance) forces hundreds
    of short ones. An iterate may not leave the ball of radius `leash`·(1 + ‖y₀‖) around its start, so a
    near-singular Jacobian (by a ghost, say) cannot fling a point to an unrelated root far away; the
    solver stops when λ falls below `min_damping`, or when it is heading for a root beyond the leash.
    Result: CONVERGED at a root (see `at_root`), else STALLED, MAX_STEPS or INTERRUPTED.
    References: Deuflhard 2004, Newton Methods for Nonlinear Problems, §3.3 (NLEQ-ERR).
    """

    # Deuflhard 2004 suggests 1e-8 for highly nonlinear problems; 1e-6 gives up sooner at no loss here.
    min_damping: float = 1e-6
    leash: float = 1.0

    def init(self, fn: Fn, y0: jax.Array, *, max_steps: jax.Array, tol: jax.Array, skip: jax.Array = False) -> NewtonState:
        """The state at y0; a point to `skip` starts done (it runs no iteration and ends where it starts)."""
        one = jnp.ones((), y0.dtype)
        return NewtonState(
            jnp.asarray(0, jnp.int32), y0, y0, one, jnp.zeros_like(y0), one, jnp.asarray(False),
            jnp.asarray(skip, bool), jnp.asarray(max_steps, jnp.int32), jnp.asarray(tol, y0.dtype),
        )

    def going(self, state: NewtonState) -> jax.Array:
        return (state.step < state.max_steps) & ~state.at_root & (state.damping >= self.min_damping)

    def step(self, fn: Fn, state: NewtonState) -> NewtonState:
        s = state
        x, lam = s.y, s.damping
        # One linearization per iteration, at the current point (after a rejected step: again at the same x).
        r, _, lu, dx = linearize(fn, x)
        n_dx = norm(dx)
        done = at_root(x, 0.5 * jnp.sum(r * r), n_dx, s.tol)
        stuck = ~jnp.all(jnp.isfinite(dx))  # J − I singular here: Newton on r cannot go on
        # Damping predicted from the nonlinearity the last accepted step showed (Deuflhard's a-priori estimate).
        mu = s.correction_norm * norm(s.correction) / (norm(s.correction - dx) * n_dx) * lam
        lam = jnp.where(s.accepted, jnp.where(jnp.isfinite(mu), jnp.minimum(1.0, mu), 1.0), lam)
        x_t = finite_or(x + lam * dx, x)
        r_t = finite_or(fn(x_t), r)
        # The simplified Newton correction J(x)⁻¹ r(x_t) measures progress in the "natural" metric of the
        # linearization: the stiff directions count little, the slow ones a lot. Requiring ‖r‖ itself to fall
        # (LM's test) rejects the long steps along a slow valley that a root lies at the end of. It reuses the
        # LU above, and depends on it through x_t: the LAPACK calls of the body run one after the other
        # (see _linear.after).
        bar = lu_resolve(lu, r_t)
        theta = norm(bar) / n_dx
        radius = self.leash * (1.0 + norm(s.anchor))
        inside = norm(x_t - s.anchor) <= radius
        # A point that has gone half way to the leash and whose linearization still puts the root beyond it
        # is heading for a root outside: damping would only press it against the leash for the rest of the
        # budget (seen on trained tanh networks: 8 % of noisy seeds, each for ~90 iterations), so it stops.
        stuck = stuck | ((norm(x - s.anchor) > 0.5 * radius) & (norm(x + dx - s.anchor) > radius))
        ok = jnp.all(jnp.isfinite(bar)) & (theta < 1.0 - 0.25 * lam) & inside & ~done & ~stuck
        # After a rejection: the a-posteriori estimate, at most half the last factor.
        mu_back = 0.5 * n_dx * lam * lam / norm(bar - (1.0 - lam) * dx)
        lam_bad = jnp.where(jnp.isfinite(mu_back), jnp.minimum(mu_back, 0.5 * lam), 0.5 * lam)
        lam = jnp.where(ok, lam, jnp.where(stuck, 0.0, lam_bad)).astype(x.dtype)
        return s._replace(
            step=s.step + 1, y=jnp.where(ok, x_t, x), damping=lam, correction=bar, correction_norm=n_dx,
            accepted=ok, at_root=done,
        )

    def result(self, fn: Fn, state: NewtonState) -> tuple[jax.Array, jax.Array]:
        # The last accepted step is checked here, by the loop's own test (which runs at the start of an
        # iteration): a point whose last allowed step reached a root to rounding is at a root too.
        r, _, _, dx = linearize(fn, state.y)
        rooted = state.at_root | at_root(state.y, 0.5 * jnp.sum(r * r), norm(dx), state.tol)
        code = Result.where(
            rooted, Result.CONVERGED, Result.where(
                state.damping < self.min_damping, Result.STALLED,
                Result.where(state.step >= state.max_steps, Result.MAX_STEPS, Result.INTERRUPTED),
            ),
        )
        return state.y, code
