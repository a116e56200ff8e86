"""Pseudo-arclength continuation of fixed points along a parameter, with bifurcation detection."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._branch import FamilyStep, Trace, interpolate_inputs, make_settings, trace
from dynascope.dynamics._precision import cast
from dynascope.dynamics._system import ModelLike, System, as_system
from dynascope.dynamics._validation import check_family, check_finite, check_step, start_state_vector
from dynascope.dynamics.stability import flow_map_disagree, mode_stability
from dynascope.errors import ConfigError, ShapeError

#: A one-parameter family of maps: `family(state [S], p []) -> next state [S]`.
Family = Callable[[jax.Array, jax.Array], jax.Array]
StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]

__all__ = ["Bifurcation", "Branch", "continue_along_inputs", "continue_fixed_points", "interpolate_inputs"]


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
    `status` (the `label` of a `solvers.Result`): 'completed' (the branch left the parameter interval), 'max_points', 'step_too_small'
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


def _branch(system: System, traced: Trace, inputs: Any = None) -> Branch:
    """The Branch of a traced branch, its stability judged by `linearization.mode_stability`; `inputs`
    maps the parameter to the input for a continuation along inputs (else None)."""
    pts, eig, band = traced.points, traced.spectra, traced.bands
    modes = mode_stability(eig, system.continuous, system.alpha, band)
    bifurcations = tuple(
        Bifurcation(c.kind, float(c.u[-1]), c.u[:-1], c.eigenvalue, None if inputs is None else inputs(c.u[-1:])[0])
        for c in traced.crossings
    )
    return Branch(
        parameters=pts[:, -1],
        states=pts[:, :-1],
        eigvals=eig,
        n_unstable=np.sum(modes > 0, axis=1),
        is_stable=np.all(modes < 0, axis=1),
        bifurcations=bifurcations,
        status=traced.result.label,
        continuous=system.continuous,
        inputs=None if inputs is None else inputs(pts[:, -1]),
        n_marginal=np.sum(modes == 0, axis=1),
        flow_map_disagree=flow_map_disagree(eig, system.continuous, system.alpha, band),
    )


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
    start = start_state_vector(start_state)
    if not (np.isfinite(p_start) and np.isfinite(p_end)) or p_start == p_end:
        raise ConfigError(
            f"p_start and p_end must be two different finite numbers, got {p_start!r} and {p_end!r}."
        )
    settings = make_settings(step_size, max_step_size, min_step_size, max_points, tol, max_newton, bisections, alpha)
    check_finite("start_state", start, "Pass a fixed point at p_start (e.g. from find_fixed_points).")
    check_family(family, start.size)
    # alpha scales a flow's eigenvalues only; a map has none to scale.
    system = as_system(FamilyStep(family), continuous=bool(continuous), alpha=float(alpha) if continuous else None)
    with jax.enable_x64(True):
        traced = trace(system, None, None, start, float(p_start), float(p_end), settings)
    return _branch(system, traced)


def continue_along_inputs(
    model: ModelLike | StepFn,
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
        model: a Model or an object with the model methods (whose `continuous` and `alpha`, if it
            declares them, are used), or a callable
            `step(params, state, x)` with `continuous` (default False) and `alpha` (default 1) given.
        params: parameters pytree (cast to float64).
        inputs_path: `[P, I]`, P ≥ 2.
        start_state: `[S]`.
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    path = np.asarray(inputs_path, np.float64)
    if path.ndim != 2 or path.shape[0] < 2 or (system.n_inputs is not None and path.shape[1] != system.n_inputs):
        width = "I" if system.n_inputs is None else system.n_inputs
        raise ShapeError(
            f"inputs_path must have shape [P, I] with P ≥ 2 rows and I = {width}, got shape "
            f"{tuple(path.shape)}; for a constant-input sweep from a to b pass np.stack([a, b])."
        )
    start = start_state_vector(start_state)
    check_step(system, params, start.size, path.shape[1], ("start_state", "inputs_path"), np.float64)
    settings = make_settings(**options, alpha=system.alpha)
    check_finite("start_state", start, "Pass a fixed point at t = 0 (e.g. from find_fixed_points).")
    with jax.enable_x64(True):
        p64, path64 = cast(params, jnp.float64), jnp.asarray(path)
        traced = trace(system, p64, path64, start, 0.0, float(path.shape[0] - 1), settings)

        def inputs(t: np.ndarray) -> np.ndarray:
            return np.asarray(jax.vmap(lambda v: interpolate_inputs(path64, v))(jnp.asarray(t)))

        return _branch(system, traced, inputs)
