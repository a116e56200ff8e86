"""The compiled pieces of the periodic-orbit and limit-cycle searches, and their host-side checks."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._system import System
from dynascope.dynamics.solvers import Corrector, GaussNewton, Result, Shooting, solve


def iterate_map(system: System, params: Any, x: jax.Array, state: jax.Array, n: Any) -> jax.Array:
    """F^n(state) under the constant input x (n may be traced)."""
    return jax.lax.fori_loop(0, n, lambda _, s: system.step(params, s, x), state)


settle = jax.jit(iterate_map, static_argnames=("system",))


@functools.partial(jax.jit, static_argnames=("system", "length"))
def trajectories(system: System, params: Any, x: jax.Array, states: jax.Array, length: int) -> jax.Array:
    """[K, length, S]: s, F(s), …, F^{length−1}(s) from every state."""

    def run(s: jax.Array) -> jax.Array:
        def body(s: jax.Array, _: Any) -> tuple[jax.Array, jax.Array]:
            return system.step(params, s, x), s

        return jax.lax.scan(body, s, None, length=length)[1]

    return jax.vmap(run)(states)


@functools.partial(jax.jit, static_argnames=("system",))
def step_jacobians(system: System, params: Any, x: jax.Array, states: jax.Array) -> jax.Array:
    """[M, S, S]: ∂F/∂s at every state."""
    return jax.vmap(jax.jacfwd(lambda s: system.step(params, s, x)))(states)


@functools.partial(jax.jit, static_argnames=("system", "period"))
def period_points(
    system: System, params: Any, x: jax.Array, seeds: jax.Array, period: int, max_iter: jax.Array, tol: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`solvers.GaussNewton` on F^k(s) − s from every seed `[K, S]`: states [K, S], q [K], Result codes [K]."""

    def one(s0: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        def fn(s: jax.Array) -> jax.Array:
            return iterate_map(system, params, x, s, period) - s

        y, code, _ = solve(GaussNewton(), fn, s0, max_steps=max_iter, tol=tol)
        r = fn(y)
        return y, 0.5 * (r @ r), code

    return jax.vmap(one)(seeds)


def minimal_period(points: np.ndarray, k: int, tol: float) -> int:
    """Smallest divisor d of k with ‖F^d(s) − s‖ < tol; `points [k+1, S]` holds s … F^k(s)."""
    for d in range(1, k + 1):
        if k % d == 0 and np.linalg.norm(points[d] - points[0]) < tol:
            return d
    return k


def distinct_orbits(orbits: np.ndarray, q: np.ndarray, k: int, tol: float) -> list[tuple[np.ndarray, int, float]]:
    """(points [k, S], minimal period, q) of each distinct cycle among `orbits [M, k+1, S]`, each started
    at its lexicographically smallest point; shifted copies of a kept cycle are dropped."""
    kept: list[tuple[np.ndarray, int, float]] = []
    for pts, qi in zip(orbits, q):
        d = minimal_period(pts, k, tol)
        if any(dk == d and np.min(np.linalg.norm(pk[:d] - pts[0], axis=1)) < tol for pk, dk, _ in kept):
            continue
        start = np.lexsort(pts[:d].T[::-1])[0]
        kept.append((pts[(start + np.arange(k)) % d], d, float(qi)))
    return kept


def floquet(jacobians: np.ndarray) -> np.ndarray:
    """Eigenvalues of J_{d−1} ⋯ J_0 (the Jacobian of F^d along an orbit) `[S]`, by decreasing modulus."""
    mono = np.eye(jacobians.shape[-1])
    for jac in jacobians:
        mono = jac @ mono
    mu = np.linalg.eigvals(mono)
    return mu[np.argsort(-np.abs(mu), kind="stable")]


def first_return(traj: np.ndarray) -> float | None:
    """Steps (interpolated) until `traj [T, S]` next crosses, in the same direction and near its start,
    the hyperplane through traj[0] normal to the velocity traj[1] − traj[0]; None if it never does."""
    v = traj[1] - traj[0]
    g = (traj - traj[0]) @ v
    dist = np.linalg.norm(traj - traj[0], axis=1)
    radius = 0.25 * dist.max()
    for t in np.flatnonzero((g[1:-1] < 0.0) & (g[2:] >= 0.0)) + 1:
        theta = g[t] / (g[t] - g[t + 1])
        if np.linalg.norm((1 - theta) * traj[t] + theta * traj[t + 1] - traj[0]) < radius:
            return float(t + theta)
    return None


@functools.partial(jax.jit, static_argnames=("system",))
def shoot(
    system: System, params: Any, x: jax.Array, s0: jax.Array, normal: jax.Array, period: jax.Array,
    max_iter: jax.Array, tol: jax.Array,
) -> tuple[jax.Array, ...]:
    """`solvers.Shooting` on the interpolated return Φ_T(s) = (1−θ) F^n(s) + θ F^{n+1}(s), n = ⌊T⌋,
    θ = T − n, from s₀ and the period guess: (s, T, ∂Φ_T/∂s, ‖Φ_T(s) − s‖, Result code)."""

    def return_map(s: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        whole = jnp.floor(t)
        n, theta = whole.astype(jnp.int32), t - whole

        def phi(s: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            s_n = iterate_map(system, params, x, s, n)
            s_n1 = system.step(params, s_n, x)
            out = (1.0 - theta) * s_n + theta * s_n1
            return out, (out, s_n1 - s_n)

        jac, (out, d_theta) = jax.jacfwd(phi, has_aux=True)(s)
        return out, d_theta, jac

    y, code, state = solve(Shooting(), return_map, s0, period=period, normal=normal, max_steps=max_iter + 1, tol=tol)
    return y, state.period, state.jacobian, state.residual_norm, code


@functools.partial(jax.jit, static_argnames=("system",))
def newton_fixed_point(
    system: System, params: Any, x: jax.Array, s0: jax.Array, max_iter: jax.Array, tol: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """`solvers.Corrector` (plain Newton) on F(s) − s from s₀: (s, Result code)."""
    y, code, _ = solve(
        Corrector(bordered=False), lambda s: system.step(params, s, x) - s, s0, normal=jnp.zeros_like(s0),
        max_steps=max_iter + 1, tol=tol,
    )
    return y, code


#: A converged cycle's trivial multiplier must lie within this distance of 1 (the return map's
#: derivative along the orbit; for a discretised flow it differs from 1 by rounding and O(h²)).
TRIVIAL_TOL = 1e-3
#: A converged cycle's diameter must exceed this many times the shooting tolerance tol·(1 + ‖s‖).
MIN_SIZE = 1e3


def is_cycle(states: np.ndarray, trivial: complex, tol: float) -> bool:
    """Whether a converged shooting solution `states [P+1, S]` is a closed orbit and not a fixed point:
    its diameter is well above the solver's tolerance and its trivial multiplier is ≈ 1. Shooting from a
    focus still spiralling in converges onto the focus itself (Φ_T(s*) = s* for every T), where the
    'orbit' has size 0 and the trivial multiplier is the contraction over T steps (e.g. 0.78)."""
    centre = states.mean(axis=0)
    diameter = 2.0 * np.max(np.linalg.norm(states - centre, axis=1))
    big = diameter > MIN_SIZE * tol * (1.0 + np.linalg.norm(centre))
    return bool(big and abs(trivial - 1.0) <= TRIVIAL_TOL)


def approached_fixed_point(
    system: System, params: Any, x: jax.Array, traj: np.ndarray, max_iter: int, tol: float
) -> np.ndarray | None:
    """The fixed point `[S]` a trajectory `traj [T, S]` is converging to, or None: Newton on F(s) − s from
    the trajectory's mean (the centre of a spiral) converges to s*, and the distance to s* shrinks: its
    largest value over the last quarter of the trajectory is below 99% of that over the first quarter."""
    s, code = newton_fixed_point(system, params, x, jnp.asarray(traj.mean(axis=0)), max_iter, tol)
    if int(code) != Result.CONVERGED:
        return None
    s = np.asarray(s)
    dist = np.linalg.norm(traj - s, axis=1)
    quarter = max(1, dist.size // 4)
    return s if dist[-quarter:].max() < 0.99 * dist[:quarter].max() else None
