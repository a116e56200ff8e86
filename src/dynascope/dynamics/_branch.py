"""Tracing one branch of fixed points by pseudo-arclength continuation, and locating its bifurcations.

The branch lives in u = (s, p) `[S+1]`; G(u) = F(s, x(p)) − s, where the input x(p) is p itself (a
one-parameter family, `continue_fixed_points`) or the point at coordinate p of a polyline of inputs
(`continue_along_inputs`). Everything runs in float64 (call inside `jax.enable_x64`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._system import System
from dynascope.dynamics.linearization import sorted_eigvals
from dynascope.dynamics.stability import growth_per_step, stability_tolerance
from dynascope.dynamics.solvers import Corrector, Result, solve
from dynascope.errors import ConfigError

#: A one-parameter family of maps: `family(state [S], p []) -> next state [S]`.
FamilyFn = Callable[[jax.Array, jax.Array], jax.Array]


def interpolate_inputs(inputs_path: np.ndarray, t: Any) -> Any:
    """The input at path coordinate t ∈ [0, P−1] on the polyline through the inputs of a path.

    Args:
        inputs_path: the path's vertices `[P, I]` (P ≥ 2).
        t: path coordinate, a scalar (traceable); integer t is vertex t, fractions interpolate linearly.

    Returns:
        The input `[I]`.
    """
    path = jnp.asarray(inputs_path)
    i = jnp.clip(jnp.floor(t), 0, path.shape[0] - 2)
    w = t - i
    j = i.astype(jnp.int32)
    return (1.0 - w) * path[j] + w * path[j + 1]


@dataclasses.dataclass(frozen=True)
class FamilyStep:
    """A one-parameter family as a step function step(params, state, x [1]) = family(state, x[0]), so that
    it becomes a System like any model (hashable: jit keys its compiled programs on it)."""

    family: FamilyFn

    def __call__(self, params: Any, state: jax.Array, x: jax.Array) -> jax.Array:
        return self.family(state, x[0])


def make_settings(
    step_size: float = 0.01,
    max_step_size: float | None = None,
    min_step_size: float = 1e-8,
    max_points: int = 2000,
    tol: float = 1e-11,
    max_newton: int = 8,
    bisections: int = 60,
    alpha: float = 1.0,
) -> Settings:
    """The options of `continue_fixed_points`, checked (ConfigError naming the first bad one)."""
    for name, value in (("step_size", step_size), ("min_step_size", min_step_size), ("alpha", alpha)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {value!r}.")
    max_step = 10.0 * step_size if max_step_size is None else float(max_step_size)
    return Settings(float(step_size), max_step, float(min_step_size), max_points, tol, max_newton, bisections)


def _residual(system: System, params: Any, path: Any, u: jax.Array) -> jax.Array:
    """G(u) = F(s, x(p)) − s `[S]` at u = (s, p)."""
    s, p = u[:-1], u[-1]
    x = p[None] if path is None else interpolate_inputs(path, p)
    return system.step(params, s, x) - s


@functools.partial(jax.jit, static_argnames=("system",))
def _evaluate(system: System, params: Any, path: Any, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """G(u) `[S]` and its Jacobian ∂G/∂u `[S, S+1]`."""

    def g(v: jax.Array) -> tuple[jax.Array, jax.Array]:
        r = _residual(system, params, path, v)
        return r, r

    jac, r = jax.jacfwd(g, has_aux=True)(u)
    return r, jac


@functools.partial(jax.jit, static_argnames=("system",))
def _correct(
    system: System, params: Any, path: Any, u: jax.Array, normal: jax.Array, max_steps: jax.Array, tol: jax.Array
) -> tuple[jax.Array, ...]:
    """`solvers.Corrector` from u within the hyperplane normal to `normal`: (u, Result code, G, ∂G/∂u)."""
    fn = functools.partial(_residual, system, params, path)
    y, code, state = solve(Corrector(), fn, u, normal=normal, max_steps=max_steps, tol=tol)
    return y, code, state.residual, state.jacobian


@dataclasses.dataclass(frozen=True)
class Settings:
    """How a branch is traced (see `continue_fixed_points`)."""

    step_size: float
    max_step: float
    min_step_size: float
    max_points: int
    tol: float
    max_newton: int
    bisections: int


class Problem:
    """A branch's system, its parameters and input path, evaluated in float64 NumPy at points u = (s, p)."""

    def __init__(self, system: System, params: Any, path: Any, settings: Settings):
        self.system, self.params, self.path, self.settings = system, params, path, settings
        self._last: tuple[bytes, tuple[np.ndarray, np.ndarray]] | None = None

    def eval(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(u) and ∂G/∂u (the tangent and the spectrum are taken where the corrector just stopped: that
        evaluation is reused)."""
        if self._last is not None and self._last[0] == u.tobytes():
            return self._last[1]
        r, jac = _evaluate(self.system, self.params, self.path, jnp.asarray(u, jnp.float64))
        self._last = (u.tobytes(), (np.asarray(r), np.asarray(jac)))
        return self._last[1]

    def correct(self, u: np.ndarray, normal: np.ndarray | None) -> np.ndarray | None:
        """Newton onto G = 0 within the hyperplane through `u` normal to `normal` (None: fixed p), or None
        where the corrector fails."""
        if normal is None:
            normal = np.zeros_like(u)
            normal[-1] = 1.0
        y, code, r, jac = _correct(
            self.system, self.params, self.path, jnp.asarray(u, jnp.float64), jnp.asarray(normal, jnp.float64),
            self.settings.max_newton + 1, self.settings.tol,
        )
        if int(code) != Result.CONVERGED:
            return None
        y = np.asarray(y)
        self._last = (y.tobytes(), (np.asarray(r), np.asarray(jac)))
        return y

    def tangent(self, u: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Unit null vector of ∂G/∂u at `u`, oriented along `previous`."""
        _, jac = self.eval(u)
        t = np.linalg.svd(jac)[2][-1]
        return t if t @ previous >= 0 else -t

    def _analysed(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G(u) and the Jacobian of what is analysed: the map's ∂F/∂s, or the flow's (∂F/∂s − I)/alpha."""
        r, jac = self.eval(u)
        n = u.size - 1
        s = self.system
        return r, jac[:, :n] / s.alpha if s.continuous else jac[:, :n] + np.eye(n)

    def spectrum(self, u: np.ndarray) -> np.ndarray:
        """Eigenvalues `[S]` in the branch's convention, dominant first (`linearization.sort_modes`)."""
        return sorted_eigvals(self._analysed(u)[1], self.system.continuous)

    def margin(self, lam: np.ndarray) -> np.ndarray:
        """Signed distance of each eigenvalue to the boundary whose crossings are the branch's bifurcations
        (> 0: unstable): the map's |λ| − 1, or, for a continuous family, the flow's alpha·Re λ."""
        return growth_per_step(lam, self.system.continuous, self.system.alpha, as_flow=True)

    def tolerance(self, u: np.ndarray) -> float:
        """The marginal band (`linearization.stability_tolerance`) at the branch point `u`."""
        r, analysed = self._analysed(u)
        s = self.system
        return float(stability_tolerance(analysed, u[:-1], np.linalg.norm(r), s.continuous, s.alpha))

    def classify(self, lam: complex) -> str:
        """The kind of bifurcation a critical eigenvalue `lam` crossing the boundary makes."""
        if abs(lam.imag) > 1e-8 * (1.0 + abs(lam)):
            return "hopf" if self.system.continuous else "neimark_sacker"
        if self.system.continuous or lam.real > 0:
            return "fold"
        return "flip"


class Crossing(NamedTuple):
    """A located bifurcation: its kind, the branch point u = (s, p) `[S+1]` and the critical eigenvalue."""

    kind: str
    u: np.ndarray
    eigenvalue: complex


class Trace(NamedTuple):
    """A traced branch: points u `[N, S+1]`, spectra `[N, S]`, marginal bands `[N]`, crossings, result."""

    points: np.ndarray
    spectra: np.ndarray
    bands: np.ndarray
    crossings: list[Crossing]
    result: Result


def _locate(prob: Problem, ua: np.ndarray, ub: np.ndarray, rank: int) -> tuple[np.ndarray, complex]:
    """Bisect along the chord ua → ub for the point where eigenvalue number `rank` crosses the boundary."""
    chord = ub - ua
    sign_a = prob.margin(prob.spectrum(ua))[rank] > 0
    lo, hi, best = 0.0, 1.0, ub
    for _ in range(prob.settings.bisections):
        mid = 0.5 * (lo + hi)
        u = prob.correct(ua + mid * chord, chord)
        if u is None:
            break
        best = u
        if (prob.margin(prob.spectrum(u))[rank] > 0) == sign_a:
            lo = mid
        else:
            hi = mid
        if (hi - lo) * np.linalg.norm(chord) < 1e-13:
            break
    return best, complex(prob.spectrum(best)[rank])


def _crossings(prob: Problem, ua: np.ndarray, ub: np.ndarray, lam_a: np.ndarray, lam_b: np.ndarray) -> list[Crossing]:
    """Every boundary crossing between two consecutive branch points, located and classified."""
    na, nb = int(np.sum(prob.margin(lam_a) > 0)), int(np.sum(prob.margin(lam_b) > 0))
    found: list[Crossing] = []
    for rank in range(min(na, nb), max(na, nb)):
        u, lam = _locate(prob, ua, ub, rank)
        kind = prob.classify(lam)
        pair = found and found[-1].kind == kind and abs(found[-1].eigenvalue - lam.conjugate()) < 1e-6 * (1 + abs(lam))
        if not pair:
            found.append(Crossing(kind, u, lam))
    return found


def _start(prob: Problem, start: np.ndarray, p_start: float) -> np.ndarray:
    """The fixed point `(s, p_start)` that Newton reaches from `start`; ConfigError unless there is one
    within max_step·(1 + ‖start‖) of it (one continuation step): a start elsewhere would silently trace
    the branch of some other fixed point."""
    u0 = np.append(start, p_start)
    r0, _ = prob.eval(u0)
    speed = float(np.linalg.norm(r0))
    u = prob.correct(u0, None)
    fix = ("Pass a fixed point at p_start as start_state (e.g. a converged row of find_fixed_points, or the end "
           "of a long simulation at that parameter).")
    if u is None:
        raise ConfigError(
            f"start_state is not near a fixed point of the family at p_start = {p_start}: ‖F(s) − s‖ = "
            f"{speed:.3g} there and Newton did not converge. {fix}"
        )
    distance = float(np.linalg.norm(u[:-1] - start))
    limit = prob.settings.max_step * (1.0 + float(np.linalg.norm(start)))
    if distance > limit:
        raise ConfigError(
            f"start_state is not a fixed point of the family at p_start = {p_start}: ‖F(s) − s‖ = {speed:.3g} "
            f"there, and the fixed point Newton reaches from it lies {distance:.3g} away (at "
            f"{np.array2string(u[:-1], precision=4, threshold=8)}), farther than max_step_size·(1 + ‖start_state‖) "
            f"= {limit:.3g}. {fix}"
        )
    return u


def trace(
    system: System, params: Any, path: Any, start: np.ndarray, p_start: float, p_end: float, settings: Settings
) -> Trace:
    """Pseudo-arclength continuation from (start, p_start) towards p_end (see `continue_fixed_points`)."""
    prob = Problem(system, params, path, settings)
    low, high = min(p_start, p_end), max(p_start, p_end)
    direction = np.zeros(start.size + 1)
    direction[-1] = np.sign(p_end - p_start)
    u = _start(prob, start.astype(np.float64), float(p_start))
    points, spectra, tols = [u], [prob.spectrum(u)], [prob.tolerance(u)]
    crossings: list[Crossing] = []
    t = prob.tangent(u, direction)
    ds, result = float(settings.step_size), Result.MAX_POINTS
    while len(points) < settings.max_points:
        new = prob.correct(u + ds * t, t)
        if new is None or np.linalg.norm(new - u) > 2.0 * ds:
            ds *= 0.5
            if ds < settings.min_step_size:
                result = Result.STEP_TOO_SMALL
                break
            continue
        if not low <= new[-1] <= high:
            edge = high if new[-1] > high else low
            w = (edge - u[-1]) / (new[-1] - u[-1])
            end = prob.correct(u + w * (new - u), None)
            if end is None:  # e.g. a fold right at the edge: come closer with shorter steps
                ds *= 0.5
                if ds < settings.min_step_size:
                    result = Result.STEP_TOO_SMALL
                    break
                continue
            new, result = end, Result.COMPLETED
        if np.linalg.norm(new[:-1]) > 1e8:
            result = Result.DIVERGED
            break
        lam = prob.spectrum(new)
        tol_new = prob.tolerance(new)  # right after the spectrum: the same evaluation
        crossings += _crossings(prob, u, new, spectra[-1], lam)
        points.append(new)
        spectra.append(lam)
        tols.append(tol_new)
        if result == Result.COMPLETED:
            break
        t = prob.tangent(new, t)
        u = new
        ds = min(1.5 * ds, settings.max_step)
    return Trace(np.stack(points), np.stack(spectra), np.asarray(tols), crossings, result)
