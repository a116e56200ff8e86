"""Pseudo-arclength continuation of fixed points along a parameter, with bifurcation detection."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._system import as_system, check_finite, check_step
from dynascope.dynamics.linearization import flow_map_disagree, growth_per_step, mode_stability, stability_tolerance
from dynascope.errors import ConfigError, ShapeError
from dynascope.models._base import Model

#: A one-parameter family of maps: `family(state [S], p []) -> next state [S]`.
Family = Callable[[jax.Array, jax.Array], jax.Array]
StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]

@dataclasses.dataclass(frozen=True)
class Bifurcation:
    """A codimension-one bifurcation located on a branch.

    `kind`: 'fold' (maps: a real eigenvalue through +1; flows: through 0 — saddle-node, or a
    transcritical/pitchfork, which eigenvalues alone do not tell apart), 'flip' (maps: through −1,
    period doubling), 'neimark_sacker' (maps: a complex pair through |λ| = 1) or 'hopf' (flows: a
    complex pair through Re = 0). `parameter`: where; `state [S]`: the fixed point there;
    `eigenvalue`: the critical eigenvalue (in the branch's convention, see `Branch`); `inputs [I]`:
    the input there, for a continuation along inputs (else None).
    """

    kind: str
    parameter: float
    state: np.ndarray
    eigenvalue: complex
    inputs: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Branch:
    """A branch of fixed points traced by continuation (NumPy float64 arrays, N points in order).

    `parameters [N]`, `states [N, S]`; `eigvals [N, S]` (complex): for maps the eigenvalues of the
    Jacobian J of the map, by decreasing modulus; for flows (`continuous`) those of the vector field
    (J − I)/alpha, by decreasing real part. `n_unstable [N]` growing and `n_marginal [N]` marginal modes
    and `is_stable [N]` (every mode decays) judge the map that runs (for flows the Euler step, with
    multipliers 1 + alpha·λ) by `linearization.mode_stability`; `flow_map_disagree [N]` marks the points
    of a continuous family where the flow's own verdict (Re λ) differs from it. `bifurcations`: in
    branch order; for a continuous family those of the flow (Re λ = 0), which the Euler map's stability
    change can precede (a fast rotation λ = μ ± iω loses the map's stability at 2μ + alpha·|λ|² = 0).
    `status`: 'completed' (the branch left the parameter interval), 'max_points', 'step_too_small'
    (the corrector failed even with the smallest step) or 'diverged'. `inputs [N, I]`: the input at
    each point for a continuation along inputs (else None).
    """

    parameters: np.ndarray
    states: np.ndarray
    eigvals: np.ndarray
    n_unstable: np.ndarray
    is_stable: np.ndarray
    bifurcations: tuple[Bifurcation, ...]
    status: str
    continuous: bool
    inputs: np.ndarray | None = None
    n_marginal: np.ndarray | None = None
    flow_map_disagree: np.ndarray | None = None


@functools.partial(jax.jit, static_argnames=("family",))
def _residual_jacobian(family: Family, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """G(u) = F(s, p) − s for u = (s, p) `[S+1]`, and its Jacobian `[S, S+1]`."""

    def g(u):
        r = family(u[:-1], u[-1]) - u[:-1]
        return r, r

    jac, r = jax.jacfwd(g, has_aux=True)(u)
    return r, jac


class _Problem:
    """The numerical core: a family plus its stability convention, evaluated in float64 NumPy."""

    def __init__(self, family: Family, continuous: bool, alpha: float, tol: float, max_newton: int):
        self.family, self.continuous, self.alpha = family, continuous, alpha
        self.tol, self.max_newton = tol, max_newton
        self._last: tuple[bytes, tuple[np.ndarray, np.ndarray]] | None = None

    def eval(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The tangent and the spectrum are taken where the corrector just stopped: reuse that evaluation.
        if self._last is not None and self._last[0] == u.tobytes():
            return self._last[1]
        r, jac = _residual_jacobian(self.family, jnp.asarray(u, jnp.float64))
        self._last = (u.tobytes(), (np.asarray(r), np.asarray(jac)))
        return self._last[1]

    def correct(self, u: np.ndarray, normal: np.ndarray | None) -> np.ndarray | None:
        """Newton onto G = 0 within the hyperplane through `u` normal to `normal` (None: fixed p)."""
        anchor = u.copy()
        if normal is None:
            normal = np.zeros_like(u)
            normal[-1] = 1.0
        for _ in range(self.max_newton):
            r, jac = self.eval(u)
            if not np.all(np.isfinite(r)):
                return None
            if np.linalg.norm(r) < self.tol * (1.0 + np.linalg.norm(u)):
                return u
            system = np.vstack([jac, normal])
            rhs = -np.concatenate([r, [normal @ (u - anchor)]])
            try:
                u = u + np.linalg.solve(system, rhs)
            except np.linalg.LinAlgError:
                return None
        r, _ = self.eval(u)
        return u if np.linalg.norm(r) < self.tol * (1.0 + np.linalg.norm(u)) else None

    def tangent(self, u: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Unit null vector of ∂G/∂u at `u`, oriented along `previous`."""
        _, jac = self.eval(u)
        t = np.linalg.svd(jac)[2][-1]
        return t if t @ previous >= 0 else -t

    def spectrum(self, u: np.ndarray) -> np.ndarray:
        """Eigenvalues `[S]` in the branch's convention, most unstable first."""
        _, jac = self.eval(u)
        n = u.size - 1
        lam = np.linalg.eigvals(jac[:, :n]) / self.alpha if self.continuous else np.linalg.eigvals(jac[:, :n] + np.eye(n))
        key = lam.real if self.continuous else np.abs(lam)
        return lam[np.argsort(-key, kind="stable")]

    def margin(self, lam: np.ndarray) -> np.ndarray:
        """Signed distance of each eigenvalue to the boundary whose crossings are the branch's bifurcations
        (> 0: unstable): the map's |λ| − 1, or, for a continuous family, the flow's alpha·Re λ."""
        return growth_per_step(lam, self.continuous, self.alpha, as_flow=True)

    def tolerance(self, u: np.ndarray) -> float:
        """The marginal band (`linearization.stability_tolerance`) at the branch point `u`."""
        r, jac = self.eval(u)
        n = u.size - 1
        analysed = jac[:, :n] / self.alpha if self.continuous else jac[:, :n] + np.eye(n)
        return float(stability_tolerance(analysed, u[:-1], np.linalg.norm(r), self.continuous, self.alpha))

    def classify(self, lam: complex) -> str:
        if abs(lam.imag) > 1e-8 * (1.0 + abs(lam)):
            return "hopf" if self.continuous else "neimark_sacker"
        if self.continuous or lam.real > 0:
            return "fold"
        return "flip"


def _locate(prob: _Problem, ua: np.ndarray, ub: np.ndarray, rank: int, bisections: int) -> tuple[np.ndarray, complex]:
    """Bisect along the chord ua → ub for the point where eigenvalue number `rank` crosses the boundary."""
    chord = ub - ua
    sign_a = prob.margin(prob.spectrum(ua))[rank] > 0
    lo, hi, best = 0.0, 1.0, ub
    for _ in range(bisections):
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


def continue_fixed_points(
    family: Family,
    start_state: jax.Array,
    p_start: float,
    p_end: float,
    *,
    continuous: bool = False,
    alpha: float = 1.0,
    step_size: float = 0.01,
    max_step_size: float | None = None,
    min_step_size: float = 1e-8,
    max_points: int = 2000,
    tol: float = 1e-11,
    max_newton: int = 8,
    bisections: int = 60,
) -> Branch:
    """Trace the branch of fixed points s = F(s, p) from (`start_state`, `p_start`) towards `p_end`.

    Pseudo-arclength continuation (Keller 1977): a tangent predictor along the null vector of
    ∂G/∂(s, p), G = F − s, and a Newton corrector in the hyperplane normal to the tangent, with the
    exact Jacobian from JAX in float64 and adaptive step length. Because the arclength, not p,
    parametrises the branch, it goes round folds: past a saddle-node it follows the other (unstable)
    branch back. Tracing stops when p leaves the interval between `p_start` and `p_end` (the last
    point is put on its end), after `max_points`, or when the corrector fails.

    Between consecutive points the number of unstable eigenvalues is compared; where it changes,
    bisection along the branch locates the crossing of the boundary (maps: |λ| = 1; flows: Re λ = 0)
    to ~1e-12 and classifies it by the critical eigenvalue (Kuznetsov 2004, "Elements of Applied
    Bifurcation Theory", ch. 3–4 and 10): maps — fold (+1), flip (−1), Neimark–Sacker (complex pair);
    flows — fold (0), Hopf (complex pair). Steps longer than the gap between two bifurcations that
    cancel in the count can miss both: lower `max_step_size` for fine structure.

    Args:
        family: `family(state [S], p []) -> next state [S]`, a one-parameter family of maps, evaluated
            on float64 arrays (close over float64 or Python-number constants). For a vector parameter
            moved along a path, write the path into the family: `lambda s, t: F(s, path(t))`; for
            inputs see `continue_along_inputs`.
        start_state: `[S]`, near a fixed point at `p_start` (refined by Newton first).
        p_start, p_end: the parameter interval.
        continuous: analyse as the Euler map F = s + alpha·f of a flow f (eigenvalues of f's Jacobian).
        alpha: the Euler step, only used to scale the reported flow eigenvalues.
        step_size: initial arclength step; `max_step_size` (default 10× `step_size`) and
            `min_step_size` bound the adaptive step.
        max_points: most points on the branch.
        tol: a point is converged when ‖F(s, p) − s‖ < tol · (1 + ‖(s, p)‖).
        max_newton: Newton iterations per corrector.
        bisections: most bisection steps to locate each bifurcation.

    Returns: a Branch.
    """
    start = np.asarray(start_state)
    if start.ndim != 1:
        raise ShapeError(f"start_state must be one state of shape [S], got shape {tuple(start.shape)}.")
    if not (np.isfinite(p_start) and np.isfinite(p_end)) or p_start == p_end:
        raise ConfigError(
            f"p_start and p_end must be two different finite numbers, got {p_start!r} and {p_end!r}."
        )
    for name, value in (("step_size", step_size), ("min_step_size", min_step_size), ("alpha", alpha)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ConfigError(f"{name} must be a positive number, got {value!r}.")
    max_step = 10.0 * step_size if max_step_size is None else float(max_step_size)
    check_finite("start_state", start, "Pass a fixed point at p_start (e.g. from find_fixed_points).")
    _check_family(family, start.size)
    low, high = min(p_start, p_end), max(p_start, p_end)
    direction = np.zeros(start.size + 1)
    direction[-1] = np.sign(p_end - p_start)
    with jax.enable_x64(True):
        prob = _Problem(family, continuous, float(alpha), tol, max_newton)
        u = _start(prob, start.astype(np.float64), float(p_start), max_step)
        points, spectra = [u], [prob.spectrum(u)]
        tols = [prob.tolerance(u)]
        bifurcations: list[Bifurcation] = []
        t = prob.tangent(u, direction)
        ds, status = float(step_size), "max_points"
        while len(points) < max_points:
            new = prob.correct(u + ds * t, t)
            if new is None or np.linalg.norm(new - u) > 2.0 * ds:
                ds *= 0.5
                if ds < min_step_size:
                    status = "step_too_small"
                    break
                continue
            if not low <= new[-1] <= high:
                edge = high if new[-1] > high else low
                w = (edge - u[-1]) / (new[-1] - u[-1])
                end = prob.correct(u + w * (new - u), None)
                if end is None:  # e.g. a fold right at the edge: come closer with shorter steps
                    ds *= 0.5
                    if ds < min_step_size:
                        status = "step_too_small"
                        break
                    continue
                new, status = end, "completed"
            if np.linalg.norm(new[:-1]) > 1e8:
                status = "diverged"
                break
            lam = prob.spectrum(new)
            tol_new = prob.tolerance(new)  # right after the spectrum: the same evaluation
            bifurcations += _bifurcations(prob, u, new, spectra[-1], lam, bisections)
            points.append(new)
            spectra.append(lam)
            tols.append(tol_new)
            if status == "completed":
                break
            t = prob.tangent(new, t)
            u = new
            ds = min(1.5 * ds, max_step)
        pts, eig, band = np.stack(points), np.stack(spectra), np.asarray(tols)
    modes = mode_stability(eig, continuous, float(alpha), band)
    return Branch(
        parameters=pts[:, -1],
        states=pts[:, :-1],
        eigvals=eig,
        n_unstable=np.sum(modes > 0, axis=1),
        is_stable=np.all(modes < 0, axis=1),
        bifurcations=tuple(bifurcations),
        status=status,
        continuous=continuous,
        n_marginal=np.sum(modes == 0, axis=1),
        flow_map_disagree=flow_map_disagree(eig, continuous, float(alpha), band),
    )


def _check_family(family: Family, n_state: int) -> None:
    """ShapeError unless `family(state [S], p [])` maps a float64 state to a float64 state `[S]`."""
    if not callable(family):
        raise ConfigError(f"family must be a callable family(state [S], p) -> next state [S], got {type(family).__name__}.")
    state = jax.ShapeDtypeStruct((n_state,), jnp.float64)
    p = jax.ShapeDtypeStruct((), jnp.float64)
    try:
        with jax.enable_x64(True):
            out = jax.eval_shape(family, state, p)
    except Exception as err:  # re-raised with the shapes that were tried; never swallowed
        raise ShapeError(
            f"family(state [{n_state}], p []) failed: {err}. start_state has {n_state} entries: check that the "
            "family takes a state of that size and a scalar parameter."
        ) from err
    if getattr(out, "shape", None) != (n_state,):
        raise ShapeError(
            f"family(state [{n_state}], p []) must return the next state, of shape ({n_state},) like start_state, "
            f"got {getattr(out, 'shape', type(out).__name__)}."
        )
    if np.dtype(out.dtype) != np.float64:
        raise ShapeError(
            f"family(state [{n_state}] float64, p [] float64) returned its state as {np.dtype(out.dtype)}; it must "
            "keep float64 (continuation runs in float64): close over float64 or Python-number constants."
        )


def _start(prob: _Problem, start: np.ndarray, p_start: float, max_step: float) -> np.ndarray:
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
    limit = max_step * (1.0 + float(np.linalg.norm(start)))
    if distance > limit:
        raise ConfigError(
            f"start_state is not a fixed point of the family at p_start = {p_start}: ‖F(s) − s‖ = {speed:.3g} "
            f"there, and the fixed point Newton reaches from it lies {distance:.3g} away (at "
            f"{np.array2string(u[:-1], precision=4, threshold=8)}), farther than max_step_size·(1 + ‖start_state‖) "
            f"= {limit:.3g}. {fix}"
        )
    return u


def _bifurcations(
    prob: _Problem, ua: np.ndarray, ub: np.ndarray, lam_a: np.ndarray, lam_b: np.ndarray, bisections: int
) -> list[Bifurcation]:
    """Every boundary crossing between two consecutive branch points, located and classified."""
    na, nb = int(np.sum(prob.margin(lam_a) > 0)), int(np.sum(prob.margin(lam_b) > 0))
    found: list[Bifurcation] = []
    for rank in range(min(na, nb), max(na, nb)):
        u, lam = _locate(prob, ua, ub, rank, bisections)
        kind = prob.classify(lam)
        pair = found and found[-1].kind == kind and abs(found[-1].eigenvalue - lam.conjugate()) < 1e-6 * (1 + abs(lam))
        if not pair:
            found.append(Bifurcation(kind, float(u[-1]), u[:-1], lam))
    return found


def interpolate_inputs(inputs_path: np.ndarray, t: Any) -> Any:
    """The input at path coordinate t ∈ [0, P−1] on the polyline through `inputs_path [P, I]`: `[I]`."""
    path = jnp.asarray(inputs_path)
    i = jnp.clip(jnp.floor(t), 0, path.shape[0] - 2)
    w = t - i
    j = i.astype(jnp.int32)
    return (1.0 - w) * path[j] + w * path[j + 1]


def continue_along_inputs(
    model: Model | StepFn,
    params: Any,
    inputs_path: jax.Array,
    start_state: jax.Array,
    *,
    continuous: bool | None = None,
    alpha: float | None = None,
    **options: Any,
) -> Branch:
    """Continue the fixed points of a network as its constant input moves along a path.

    The parameter is the coordinate t ∈ [0, P−1] along the polyline through `inputs_path [P, I]`
    (t = j at row j, linear in between; `interpolate_inputs` maps t to the input). Continuation runs
    from t = 0 (where `start_state [S]` should be near a fixed point) to t = P−1; see
    `continue_fixed_points` for the method and `options`. The returned Branch and its bifurcations
    carry `inputs`, the input at each point.

    Args:
        model: a Model (whose `continuous` and `alpha` are used), or a callable
            `step(params, state, x)` with `continuous` (default False) and `alpha` (default 1) given.
        params: parameters pytree (cast to float64).
        inputs_path: `[P, I]`, P ≥ 2.
        start_state: `[S]`.
    """
    path = np.asarray(inputs_path, np.float64)
    if path.ndim != 2 or path.shape[0] < 2 or (isinstance(model, Model) and path.shape[1] != model.n_inputs):
        width = model.n_inputs if isinstance(model, Model) else "I"
        raise ShapeError(
            f"inputs_path must have shape [P, I] with P ≥ 2 rows and I = {width}, got shape "
            f"{tuple(path.shape)}; for a constant-input sweep from a to b pass np.stack([a, b])."
        )
    if isinstance(model, Model):
        if continuous is not None or alpha is not None:
            raise ConfigError(
                f"continuous={continuous!r} and alpha={alpha!r} were given with the model {model.name!r}, "
                f"which defines its own (continuous={model.continuous}, alpha={model.alpha}); pass them "
                "only with a bare step function."
            )
        step, continuous, alpha = model.step, model.continuous, model.alpha
    elif callable(model):
        step, continuous, alpha = model, bool(continuous), 1.0 if alpha is None else alpha
    else:
        raise ConfigError(
            f"model must be a dynascope Model or a callable step(params, state, x) -> state, "
            f"got {type(model).__name__}."
        )
    start = np.asarray(start_state)
    if start.ndim == 1:
        check_step(as_system(step), model, params, start.size, path.shape[1], ("start_state", "inputs_path"), np.float64)
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(
            lambda a: jnp.asarray(a, jnp.float64) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a, params
        )
        path64 = jnp.asarray(path)

        def family(s: jax.Array, t: jax.Array) -> jax.Array:
            return step(p64, s, interpolate_inputs(path64, t))

        branch = continue_fixed_points(
            family, start_state, 0.0, float(path.shape[0] - 1), continuous=continuous, alpha=alpha, **options
        )
        inputs = np.asarray(jax.vmap(lambda t: interpolate_inputs(path64, t))(jnp.asarray(branch.parameters)))
        bifurcations = tuple(
            dataclasses.replace(b, inputs=np.asarray(interpolate_inputs(path64, jnp.asarray(b.parameter))))
            for b in branch.bifurcations
        )
    return dataclasses.replace(branch, inputs=inputs, bifurcations=bifurcations)
