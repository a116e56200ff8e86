"""Periodic orbits of maps and limit cycles of discretised flows, with their Floquet multipliers."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics import _orbits
from dynascope.dynamics._precision import cast
from dynascope.dynamics._scheduler import bucket, pad_rows
from dynascope.dynamics._system import ModelLike, as_system
from dynascope.dynamics._validation import check_float64_step, constant_input, state_array
from dynascope.dynamics.stability import mode_stability
from dynascope.dynamics.solvers import Result
from dynascope.errors import check_positive_int

StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class PeriodicOrbits:
    """Distinct periodic orbits of a map F found from a set of seeds (NumPy float64 arrays).

    `points [N, k, S]`: s, F(s), …, F^{k−1}(s) for each orbit, started at its lexicographically smallest
    point; an orbit whose minimal period d divides k repeats after d points. `period [N]`: the minimal
    period d (1 for fixed points of F). `multipliers [N, S]` (complex): Floquet multipliers, the
    eigenvalues of D(F^d) at the orbit, by decreasing modulus. `is_stable [N]`: every |multiplier| < 1
    (`linearization.mode_stability` of the map).
    `q [N]`: ½‖F^k(s) − s‖². `seed_converged [K]`: which seeds reached a period-k point.
    """

    points: np.ndarray
    period: np.ndarray
    multipliers: np.ndarray
    is_stable: np.ndarray
    q: np.ndarray
    seed_converged: np.ndarray


@dataclasses.dataclass(frozen=True)
class LimitCycle:
    """A closed orbit of a discretised flow (or an invariant closed curve of a map).

    `status` (the `label` of a `solvers.Result`): 'converged' (a closed orbit of non-zero size — diameter above MIN_SIZE·tol·(1 + ‖s‖) —
    whose trivial multiplier lies within TRIVIAL_TOL of 1), or why not: 'fixed_point' (the trajectory
    settled on a fixed point, or is still converging to one, e.g. spiralling into a stable focus;
    `states [1, S]` holds it, and there is no period), 'diverged' (it became non-finite), 'no_return'
    (it did not return to its Poincaré section within `max_period` steps) or 'not_converged' (Newton
    on the return map did not reach `tol`, or reached no cycle); other fields are then the last
    iterate, and `period_steps` is NaN unless the status is 'converged'. `period_steps`: the period in
    steps (a real number); `period_ms`: times `dt`, when given.
    `states [P+1, S]`: s, F(s), …, F^P(s) with P = ⌊period_steps⌋. `multipliers [S−1]` (complex): the
    nontrivial Floquet multipliers by decreasing modulus; `trivial_multiplier`: the one along the orbit
    (≈ 1). `is_stable`: every nontrivial |multiplier| < 1. `residual`: ‖Φ(s) − s‖ of the return map.
    """

    status: str
    period_steps: float
    period_ms: float | None
    states: np.ndarray
    multipliers: np.ndarray
    trivial_multiplier: complex
    is_stable: bool
    residual: float


# -- period-k orbits of maps ------------------------------------------------------------------------


def find_periodic_orbits(
    model: ModelLike | StepFn,
    params: Any,
    inputs: jax.Array,
    initial_states: jax.Array,
    period: int,
    *,
    max_iter: int = 60,
    tol: float = 1e-20,
    unique_tol: float = 1e-7,
) -> PeriodicOrbits:
    """Period-`period` orbits of the map s ↦ F(s, x): fixed points of F^k, refined in float64.

    Args:
        model: a Model, an object with the model methods (`ModelLike`), or any callable
            `step(params, state [S], x [I]) -> state [S]` (analysed as the map that runs).
        params: the parameters pytree passed to `step` (cast to float64 for the search).
        inputs: the constant input `[I]`.
        initial_states: seeds `[K, S]` (e.g. states sampled from trajectories).
        period: k ≥ 1.
        max_iter: Levenberg–Marquardt iterations per seed, each using the exact Jacobian of F^k.
        tol: a seed converged when q = ½‖F^k(s) − s‖² < tol.
        unique_tol: distance under which two points are the same (for deduplication and for the
            minimal period).

    Returns: a PeriodicOrbits. Orbits are deduplicated as cycles (the k shifted points of one orbit
    are one orbit); a point whose minimal period d divides k (e.g. a fixed point of F, d = 1) is
    reported once with `period` d and multipliers of D(F^d).

    Method: Levenberg 1944 / Marquardt 1963 damped Gauss–Newton; Floquet multipliers of a map's
    k-cycle as eigenvalues of the product of the k step Jacobians along the orbit.
    """
    system = as_system(model)
    k = check_positive_int("period", period)
    max_iter = check_positive_int("max_iter", max_iter)
    x = constant_input(system, inputs)
    seeds = state_array(system, "initial_states", initial_states, 2)
    check_float64_step(system, params, x, "initial_states", seeds)
    n_initial_states, n_state = seeds.shape
    with jax.enable_x64(True):
        p64, x64 = cast(params, jnp.float64), jnp.asarray(x, jnp.float64)
        # Seeds padded to a power of two: a few compiled batch sizes serve every number of seeds.
        padded = jnp.asarray(pad_rows(seeds, bucket(n_initial_states)), jnp.float64)
        states, q, code = (np.asarray(a)[:n_initial_states] for a in _orbits.period_points(system, p64, x64, padded, k, max_iter, tol))
        converged = code == Result.CONVERGED
        orbits = np.asarray(_orbits.trajectories(system, p64, x64, jnp.asarray(states[converged]), k + 1))
        kept = _orbits.distinct_orbits(orbits, q[converged], k, unique_tol)
        multipliers = np.zeros((len(kept), n_state), complex)
        if kept:
            points = jnp.asarray(np.concatenate([p for p, _, _ in kept]))
            jacs = np.asarray(_orbits.step_jacobians(system, p64, x64, points))
            for i, (_, d, _) in enumerate(kept):
                multipliers[i] = _orbits.floquet(jacs[i * k : i * k + d])
    return PeriodicOrbits(
        points=np.stack([p for p, _, _ in kept]) if kept else np.zeros((0, k, n_state)),
        period=np.array([d for _, d, _ in kept], int),
        multipliers=multipliers,
        is_stable=np.all(mode_stability(multipliers, False, 1.0) < 0, axis=1),
        q=np.array([qi for _, _, qi in kept]),
        seed_converged=converged,
    )


# -- limit cycles of discretised flows --------------------------------------------------------------


def find_limit_cycle(
    model: ModelLike | StepFn,
    params: Any,
    inputs: jax.Array,
    initial_state: jax.Array,
    *,
    dt: float | None = None,
    n_settle: int = 1000,
    max_period: int = 10000,
    max_iter: int = 30,
    tol: float = 1e-10,
) -> LimitCycle:
    """The attracting closed orbit reached from `initial_state` under the constant input `inputs`.

    For an Euler-discretised flow (or any map with a near-continuous closed orbit) in any dimension:
    1. simulate `n_settle` steps to settle on the attractor, at s₀;
    2. detect the period: the first return of the trajectory to the Poincaré section through s₀ with
       normal v = F(s₀) − s₀, with linear interpolation between the two steps that straddle it;
    3. refine by shooting: Newton on the unknowns (s, T) for Φ_T(s) = s and v·(s − s₀) = 0, where
       Φ_T(s) = (1−θ) F^n(s) + θ F^{n+1}(s), n = ⌊T⌋, θ = T − n, is the return after T steps with
       the exact Jacobian from JAX, in float64.
    4. check the result is a cycle: shooting from a focus that is still spiralling in converges onto the
       focus itself (Φ_T(s*) = s* for every T), an 'orbit' of size 0 whose trivial multiplier is the
       contraction over T steps; such a result, or a trajectory with no return that is converging to a
       fixed point (Newton on F(s) − s from its mean), is reported as 'fixed_point'.
    The period of a discretised flow is generally not a whole number of steps: the map's orbit on its
    invariant closed curve never returns exactly, so F^P has no fixed point near it for any integer P
    and Newton on F^P would not converge; the interpolated return Φ_T does have one. Its Floquet
    multipliers are the eigenvalues of ∂Φ_T/∂s: one is ≈ 1 (along the orbit; reported as
    `trivial_multiplier`) and the others say whether nearby orbits converge to the cycle. For an
    Euler step α the orbit, period and multipliers are those of the map, which differ from the
    underlying flow's by O(α). For a genuine period-k orbit of a discrete map use
    `find_periodic_orbits` instead.

    Args:
        model: a Model, an object with the model methods (`ModelLike`), or any callable
            `step(params, state [S], x [I]) -> state [S]` (analysed as the map that runs).
        params: parameters pytree (cast to float64).
        inputs: the constant input `[I]`.
        initial_state: `[S]`, a state in the cycle's basin.
        dt: milliseconds per step; when given, `period_ms = period_steps · dt`.
        n_settle: steps simulated before the period is measured.
        max_period: longest period looked for, in steps.
        max_iter: Newton iterations.
        tol: converged when ‖Φ_T(s) − s‖ < tol · (1 + ‖s‖).

    Returns: a LimitCycle (its `status` says whether it converged and why not).

    References: shooting for periodic orbits, Keller 1968; Parker & Chua 1989, "Practical Numerical
    Algorithms for Chaotic Systems", ch. 6.
    """
    system = as_system(model)
    x = constant_input(system, inputs)
    s_init = state_array(system, "initial_state", initial_state, 1)
    n_settle = check_positive_int("n_settle", n_settle)
    max_period = check_positive_int("max_period", max_period)
    max_iter = check_positive_int("max_iter", max_iter)
    check_float64_step(system, params, x, "initial_state", s_init)
    with jax.enable_x64(True):
        p64, x64 = cast(params, jnp.float64), jnp.asarray(x, jnp.float64)
        settled = _orbits.settle(system, p64, x64, jnp.asarray(s_init, jnp.float64), n_settle)
        traj = np.asarray(_orbits.trajectories(system, p64, x64, settled[None], max_period + 2)[0])
        if not np.all(np.isfinite(traj)):
            return _no_cycle(Result.DIVERGED, traj[:1])
        if np.linalg.norm(traj[1] - traj[0]) <= 1e-12 * (1.0 + np.linalg.norm(traj[0])):
            return _no_cycle(Result.FIXED_POINT, traj[:1])
        t0 = _orbits.first_return(traj)
        states, residual = traj[:1], np.nan
        if t0 is not None:
            s, period, jac, residual, code = (np.asarray(a) for a in _orbits.shoot(
                system, p64, x64, jnp.asarray(traj[0]), jnp.asarray(traj[1] - traj[0]), t0, max_iter, tol
            ))
            period, residual = float(period), float(residual)
            if code != Result.DIVERGED:
                mu = np.linalg.eigvals(jac)
                trivial = int(np.argmin(np.abs(mu - 1.0)))
                length = int(np.floor(period)) + 1
                states = np.asarray(_orbits.trajectories(system, p64, x64, jnp.asarray(s)[None], length)[0])
                if code == Result.CONVERGED and _orbits.is_cycle(states, complex(mu[trivial]), tol):
                    others = np.delete(mu, trivial)
                    others = others[np.argsort(-np.abs(others), kind="stable")]
                    return LimitCycle(
                        status=Result.CONVERGED.label,
                        period_steps=period,
                        period_ms=None if dt is None else period * float(dt),
                        states=states,
                        multipliers=others,
                        trivial_multiplier=complex(mu[trivial]),
                        is_stable=bool(np.all(mode_stability(others, False, 1.0) < 0)),
                        residual=residual,
                    )
        # No closed orbit of non-zero size: is the trajectory still spiralling (or creeping) into a fixed point?
        fixed = _orbits.approached_fixed_point(system, p64, x64, traj, max_iter, tol)
        if fixed is not None:
            moved = np.asarray(system.step(p64, jnp.asarray(fixed), x64)) - fixed
            return _no_cycle(Result.FIXED_POINT, fixed[None], residual=float(np.linalg.norm(moved)))
        if t0 is None:
            return _no_cycle(Result.NO_RETURN, traj[:1])
        return _no_cycle(Result.NOT_CONVERGED, states, residual=residual)


def _no_cycle(result: Result, states: np.ndarray, residual: float = np.nan) -> LimitCycle:
    """A LimitCycle that reports no closed orbit: no period, no multipliers, not stable."""
    return LimitCycle(result.label, np.nan, None, states, np.zeros(0, complex), complex(np.nan), False, residual)
