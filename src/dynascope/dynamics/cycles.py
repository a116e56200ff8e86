"""Periodic orbits of maps and limit cycles of discretised flows, with their Floquet multipliers."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._system import as_system, check_finite, check_step
from dynascope.dynamics.linearization import mode_stability
from dynascope.errors import ConfigError, ShapeError, check_positive_int
from dynascope.models._base import Model

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

    `status`: 'converged' (a closed orbit of non-zero size — diameter above MIN_SIZE·tol·(1 + ‖s‖) —
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


# -- shared helpers -------------------------------------------------------------------------------


def _as_step(model: Model | StepFn) -> StepFn:
    if isinstance(model, Model):
        return model.step
    if callable(model):
        return model
    raise ConfigError(
        f"model must be a dynascope Model or a callable step(params, state, x) -> state, "
        f"got {type(model).__name__}."
    )


def _check_input(model: Model | StepFn, x: Any) -> np.ndarray:
    x = np.asarray(x)  # NumPy, not jnp: a float64 input must not be rounded to float32 before the x64 scope
    if x.ndim != 1 or (isinstance(model, Model) and x.shape != (model.n_inputs,)):
        expected = f"({model.n_inputs},)" if isinstance(model, Model) else "[I]"
        raise ShapeError(
            f"x must be one constant input of shape {expected}, got shape {tuple(x.shape)}; "
            "pass a single input vector (use inputs[0] for one row of a batch)."
        )
    return x


def _check_states(model: Model | StepFn, name: str, states: Any, ndim: int) -> np.ndarray:
    states = np.asarray(states)
    want = "[K, S]" if ndim == 2 else "[S]"
    if states.ndim != ndim or (isinstance(model, Model) and states.shape[-1] != model.n_state):
        size = model.n_state if isinstance(model, Model) else "S"
        hint = "; add a leading axis with states[None]" if states.ndim == ndim - 1 else ""
        raise ShapeError(
            f"{name} must have shape {want} with S = {size}, got shape {tuple(states.shape)}{hint}."
        )
    return states


def _check_arguments(
    model: Model | StepFn, params: Any, x: np.ndarray, state_name: str, states: np.ndarray
) -> None:
    """ConfigError for non-finite params, input or states; ShapeError unless the step maps a float64
    state `[S]` under a float64 input `[I]` to a float64 state `[S]` (what the compiled loops run)."""
    fix = "Pass finite values (a NaN here would make every orbit NaN)."
    for name, value in (("params", params), ("x", x), (state_name, states)):
        check_finite(name, value, fix)
    check_step(as_system(model), model, params, states.shape[-1], x.shape[0], names=(state_name, "x"), dtype=np.float64)


def _as_float64(tree: Any) -> Any:
    """Cast every floating leaf of `tree` to float64 (call inside `jax.enable_x64(True)`)."""

    def cast(a: Any) -> Any:
        a = jnp.asarray(a)
        return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree_util.tree_map(cast, tree)


def _iterate(step: StepFn, params: Any, x: jax.Array, state: jax.Array, n: Any) -> jax.Array:
    return jax.lax.fori_loop(0, n, lambda _, s: step(params, s, x), state)


_settle = jax.jit(_iterate, static_argnames=("step",))


# -- period-k orbits of maps ------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("step", "period", "max_iter"))
def _solve_period_k(step: StepFn, params: Any, x: jax.Array, seeds: jax.Array, period: int, max_iter: int):
    """Levenberg–Marquardt on F^k(s) − s from every seed: (states [K,S], q [K])."""
    n = seeds.shape[1]
    eye = jnp.eye(n, dtype=seeds.dtype)

    def residual(s):
        r = _iterate(step, params, x, s, period) - s
        return r, r

    def solve(s0):
        def body(carry, _):
            s, lam = carry
            jac, r = jax.jacfwd(residual, has_aux=True)(s)
            hess = jac.T @ jac
            scale = jnp.maximum(jnp.trace(hess) / n, 1e-12)
            s_try = s + jnp.linalg.solve(hess + lam * scale * eye, -(jac.T @ r))
            r_try, _ = residual(s_try)
            better = r_try @ r_try < r @ r  # False for NaN, so a blown-up trial step is rejected
            s = jnp.where(better, s_try, s)
            lam = jnp.where(better, jnp.maximum(lam / 3.0, 1e-12), lam * 4.0)
            return (s, lam), None

        (s, _), _ = jax.lax.scan(body, (s0, jnp.asarray(1e-3, s0.dtype)), None, length=max_iter)
        r, _ = residual(s)
        return s, 0.5 * (r @ r)

    return jax.vmap(solve)(seeds)


@functools.partial(jax.jit, static_argnames=("step", "length"))
def _trajectories(step: StepFn, params: Any, x: jax.Array, states: jax.Array, length: int) -> jax.Array:
    """[K, length, S]: s, F(s), …, F^{length−1}(s) from every state."""

    def run(s):
        def body(s, _):
            return step(params, s, x), s

        return jax.lax.scan(body, s, None, length=length)[1]

    return jax.vmap(run)(states)


@functools.partial(jax.jit, static_argnames=("step",))
def _step_jacobians(step: StepFn, params: Any, x: jax.Array, states: jax.Array) -> jax.Array:
    """[M, S, S]: DF at every state."""
    return jax.vmap(jax.jacfwd(lambda s: step(params, s, x)))(states)


def _minimal_period(points: np.ndarray, k: int, tol: float) -> int:
    """Smallest divisor d of k with ‖F^d(s) − s‖ < tol; `points [k+1, S]` holds s … F^k(s)."""
    for d in range(1, k + 1):
        if k % d == 0 and np.linalg.norm(points[d] - points[0]) < tol:
            return d
    return k


def _distinct_orbits(orbits: np.ndarray, q: np.ndarray, k: int, tol: float) -> list[tuple[np.ndarray, int, float]]:
    """(points [k, S], minimal period, q) of each distinct cycle among `orbits [M, k+1, S]`, each started
    at its lexicographically smallest point; shifted copies of a kept cycle are dropped."""
    kept: list[tuple[np.ndarray, int, float]] = []
    for pts, qi in zip(orbits, q):
        d = _minimal_period(pts, k, tol)
        if any(dk == d and np.min(np.linalg.norm(pk[:d] - pts[0], axis=1)) < tol for pk, dk, _ in kept):
            continue
        start = np.lexsort(pts[:d].T[::-1])[0]
        kept.append((pts[(start + np.arange(k)) % d], d, float(qi)))
    return kept


def _floquet(jacobians: np.ndarray) -> np.ndarray:
    """Eigenvalues of J_{d−1} ⋯ J_0 (the Jacobian of F^d along an orbit) `[S]`, by decreasing modulus."""
    mono = np.eye(jacobians.shape[-1])
    for jac in jacobians:
        mono = jac @ mono
    mu = np.linalg.eigvals(mono)
    return mu[np.argsort(-np.abs(mu), kind="stable")]


def find_periodic_orbits(
    model: Model | StepFn,
    params: Any,
    x: jax.Array,
    initial_states: jax.Array,
    period: int,
    *,
    max_iter: int = 60,
    tol: float = 1e-20,
    unique_tol: float = 1e-7,
) -> PeriodicOrbits:
    """Period-`period` orbits of the map s ↦ F(s, x): fixed points of F^k, refined in float64.

    Args:
        model: a Model, or any callable `step(params, state [S], x [I]) -> state [S]`.
        params: the parameters pytree passed to `step` (cast to float64 for the search).
        x: the constant input `[I]`.
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
    step = _as_step(model)
    k = check_positive_int("period", period)
    max_iter = check_positive_int("max_iter", max_iter)
    x = _check_input(model, x)
    seeds = _check_states(model, "initial_states", initial_states, 2)
    _check_arguments(model, params, x, "initial_states", seeds)
    with jax.enable_x64(True):
        p64, x64 = _as_float64(params), _as_float64(x)
        states, q = _solve_period_k(step, p64, x64, jnp.asarray(seeds, jnp.float64), k, max_iter)
        states, q = np.asarray(states), np.asarray(q)
        converged = np.isfinite(q) & (q < tol)
        orbits = np.asarray(_trajectories(step, p64, x64, jnp.asarray(states[converged]), k + 1))
        kept = _distinct_orbits(orbits, q[converged], k, unique_tol)
        n_state = seeds.shape[1]
        multipliers = np.zeros((len(kept), n_state), complex)
        if kept:
            jacs = np.asarray(_step_jacobians(step, p64, x64, jnp.asarray(np.concatenate([p for p, _, _ in kept]))))
            for i, (_, d, _) in enumerate(kept):
                multipliers[i] = _floquet(jacs[i * k : i * k + d])
    return PeriodicOrbits(
        points=np.stack([p for p, _, _ in kept]) if kept else np.zeros((0, k, n_state)),
        period=np.array([d for _, d, _ in kept], int),
        multipliers=multipliers,
        is_stable=np.all(mode_stability(multipliers, False, 1.0) < 0, axis=1),
        q=np.array([qi for _, _, qi in kept]),
        seed_converged=converged,
    )


# -- limit cycles of discretised flows --------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("step",))
def _interpolated_return(step: StepFn, params: Any, x: jax.Array, s: jax.Array, n: jax.Array, theta: jax.Array):
    """Φ(s) = (1−θ) F^n(s) + θ F^{n+1}(s), ∂Φ/∂θ and ∂Φ/∂s `[S, S]`."""

    def phi(s):
        s_n = _iterate(step, params, x, s, n)
        s_n1 = step(params, s_n, x)
        out = (1.0 - theta) * s_n + theta * s_n1
        return out, (out, s_n1 - s_n)

    jac, (out, d_theta) = jax.jacfwd(phi, has_aux=True)(s)
    return out, d_theta, jac


def _first_return(traj: np.ndarray) -> float | None:
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


def _shoot(
    return_map: Callable[..., Any], s0: np.ndarray, normal: np.ndarray, period: float, max_iter: int, tol: float
) -> tuple[np.ndarray, float, np.ndarray, float, bool]:
    """Newton on (s, T) for Φ_T(s) = s, normal·(s − s0) = 0: (s, T, ∂Φ_T/∂s, ‖Φ_T(s) − s‖, converged)."""
    s, size = s0.copy(), s0.size
    for _ in range(max_iter + 1):
        n = int(np.floor(period))
        out, d_t, jac = (np.asarray(a) for a in return_map(jnp.asarray(s), n, period - n))
        res = out - s
        if np.linalg.norm(res) < tol * (1.0 + np.linalg.norm(s)):
            return s, period, jac, float(np.linalg.norm(res)), True
        system = np.zeros((size + 1, size + 1))
        system[:size, :size] = jac - np.eye(size)
        system[:size, size] = d_t
        system[size, :size] = normal
        rhs = -np.concatenate([res, [normal @ (s - s0)]])
        delta = np.linalg.lstsq(system, rhs, rcond=None)[0]
        s = s + delta[:size]
        # A step in T of more than one step would jump to another branch of the piecewise Φ_T.
        period = float(np.clip(period + delta[size], period - 1.0, period + 1.0))
    return s, period, jac, float(np.linalg.norm(res)), False


def find_limit_cycle(
    model: Model | StepFn,
    params: Any,
    x: jax.Array,
    initial_state: jax.Array,
    *,
    dt: float | None = None,
    n_settle: int = 1000,
    max_period: int = 10000,
    max_iter: int = 30,
    tol: float = 1e-10,
) -> LimitCycle:
    """The attracting closed orbit reached from `initial_state` under the constant input `x`.

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
        model: a Model, or any callable `step(params, state [S], x [I]) -> state [S]`.
        params: parameters pytree (cast to float64).
        x: constant input `[I]`.
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
    step = _as_step(model)
    x = _check_input(model, x)
    s_init = _check_states(model, "initial_state", initial_state, 1)
    n_settle = check_positive_int("n_settle", n_settle)
    max_period = check_positive_int("max_period", max_period)
    max_iter = check_positive_int("max_iter", max_iter)
    _check_arguments(model, params, x, "initial_state", s_init)
    with jax.enable_x64(True):
        p64, x64 = _as_float64(params), _as_float64(x)
        s0 = jnp.asarray(s_init, jnp.float64)
        settled = _settle(step, p64, x64, s0, n_settle)
        traj = np.asarray(_trajectories(step, p64, x64, settled[None], max_period + 2)[0])
        at_rest = np.linalg.norm(traj[1] - traj[0]) <= 1e-12 * (1.0 + np.linalg.norm(traj[0]))
        finite = bool(np.all(np.isfinite(traj)))
        if not finite:
            return _no_cycle("diverged", traj[:1])
        if at_rest:
            return _no_cycle("fixed_point", traj[:1])
        t0 = _first_return(traj)
        if t0 is not None:
            return_map = functools.partial(_interpolated_return, step, p64, x64)
            s, period, jac, residual, converged = _shoot(return_map, traj[0], traj[1] - traj[0], t0, max_iter, tol)
            mu = np.linalg.eigvals(jac)
            trivial = int(np.argmin(np.abs(mu - 1.0)))
            states = np.asarray(_trajectories(step, p64, x64, jnp.asarray(s)[None], int(np.floor(period)) + 1)[0])
            if converged and _is_cycle(states, complex(mu[trivial]), tol):
                others = np.delete(mu, trivial)
                others = others[np.argsort(-np.abs(others), kind="stable")]
                return LimitCycle(
                    status="converged",
                    period_steps=float(period),
                    period_ms=None if dt is None else float(period) * float(dt),
                    states=states,
                    multipliers=others,
                    trivial_multiplier=complex(mu[trivial]),
                    is_stable=bool(np.all(mode_stability(others, False, 1.0) < 0)),
                    residual=residual,
                )
        # No closed orbit of non-zero size: is the trajectory still spiralling (or creeping) into a fixed point?
        fixed = _approached_fixed_point(step, p64, x64, traj, max_iter, tol)
        if fixed is not None:
            return _no_cycle("fixed_point", fixed[None], residual=float(np.linalg.norm(
                np.asarray(step(p64, jnp.asarray(fixed), x64)) - fixed)))
        if t0 is None:
            return _no_cycle("no_return", traj[:1])
        return _no_cycle("not_converged", states, residual=residual)


#: A converged cycle's trivial multiplier must lie within this distance of 1 (the return map's
#: derivative along the orbit; for a discretised flow it differs from 1 by rounding and O(h²)).
TRIVIAL_TOL = 1e-3
#: A converged cycle's diameter must exceed this many times the shooting tolerance tol·(1 + ‖s‖).
MIN_SIZE = 1e3


def _is_cycle(states: np.ndarray, trivial: complex, tol: float) -> bool:
    """Whether a converged shooting solution `states [P+1, S]` is a closed orbit and not a fixed point:
    its diameter is well above the solver's tolerance and its trivial multiplier is ≈ 1. Shooting from a
    focus still spiralling in converges onto the focus itself (Φ_T(s*) = s* for every T), where the
    'orbit' has size 0 and the trivial multiplier is the contraction over T steps (e.g. 0.78)."""
    centre = states.mean(axis=0)
    diameter = 2.0 * np.max(np.linalg.norm(states - centre, axis=1))
    big = diameter > MIN_SIZE * tol * (1.0 + np.linalg.norm(centre))
    return bool(big and abs(trivial - 1.0) <= TRIVIAL_TOL)


def _approached_fixed_point(
    step: StepFn, params: Any, x: jax.Array, traj: np.ndarray, max_iter: int, tol: float
) -> np.ndarray | None:
    """The fixed point `[S]` a trajectory `traj [T, S]` is converging to, or None: Newton on F(s) − s from
    the trajectory's mean (the centre of a spiral) converges to s*, and the distance to s* shrinks: its
    largest value over the last quarter of the trajectory is below 99% of that over the first quarter."""
    s = traj.mean(axis=0)
    for _ in range(max_iter + 1):
        out, jac = (np.asarray(a) for a in _step_and_jacobian(step, params, x, jnp.asarray(s)))
        res = out - s
        if not np.all(np.isfinite(res)):
            return None
        if np.linalg.norm(res) < tol * (1.0 + np.linalg.norm(s)):
            break
        s = s + np.linalg.lstsq(jac - np.eye(s.size), -res, rcond=None)[0]
    else:
        return None
    dist = np.linalg.norm(traj - s, axis=1)
    quarter = max(1, dist.size // 4)
    return s if dist[-quarter:].max() < 0.99 * dist[:quarter].max() else None


@functools.partial(jax.jit, static_argnames=("step",))
def _step_and_jacobian(step: StepFn, params: Any, x: jax.Array, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """F(s) `[S]` and ∂F/∂s `[S, S]`."""
    return step(params, s, x), jax.jacfwd(lambda v: step(params, v, x))(s)


def _no_cycle(status: str, states: np.ndarray, residual: float = np.nan) -> LimitCycle:
    """A LimitCycle that reports no closed orbit: no period, no multipliers, not stable."""
    return LimitCycle(status, np.nan, None, states, np.zeros(0, complex), complex(np.nan), False, residual)
