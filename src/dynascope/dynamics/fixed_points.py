"""Fixed and slow points: roots and minima of q(s) = ½‖F(s) − s‖², searched from many initial states at once.

Phase 1 runs, from every initial state in the working precision (batched, compiled), damped
Newton on r = F(s) − s with affine-invariant damping, falling back to damped Newton on q (exact Hessian,
Levenberg damping) where no root is reached, or Adam; phase 2 polishes every end point the same way in
float64 by default, so a true fixed point reaches q ~ 1e-30. End points are classified (converged /
slow / failed): a fixed point needs q < q_tol AND a Newton correction ‖J_r⁻¹ r‖ within the de-duplication
tolerance (its location is known to that tolerance; Deuflhard 2004), so a nearly flat region where q is
merely small is not taken for many fixed points. They are de-duplicated on the host with a tolerance
relative to the state's norm, then points whose location is ill-determined are merged with those they are
joined to by a segment along which the speed stays as low (hill-valley test; Ursem 1999), and linearized.
This improves on FixedPointFinder (Golub & Sussillo 2018), which runs Adam alone on one network at a time.
References: Sussillo & Barak 2013; Golub & Sussillo 2018; Deuflhard 2004; Ursem 1999.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np

from dynascope.dynamics._finder import find
from dynascope.dynamics._options import FixedPointOptions, make_options
from dynascope.dynamics._points import FixedPoints
from dynascope.dynamics._system import as_system
from dynascope.dynamics._validation import (
    check_finite, check_params, check_step, network_count, one_network, population_size,
)
from dynascope.dynamics.solvers import Result
from dynascope.errors import ShapeError

__all__ = ["FixedPointOptions", "FixedPoints", "Status", "find_fixed_points"]


#: The outcome of the search per point (`FixedPoints.status`): CONVERGED, SLOW or FAILED of `solvers.Result`.
Status = Result

def find_fixed_points(
    model: Any,
    params: Any,
    inputs: Any,
    initial_states: Any,
    *,
    options: FixedPointOptions | None = None,
    reachable_states: Any = None,
    continuous: bool | None = None,
    alpha: float | None = None,
    **overrides: Any,
) -> FixedPoints | list[FixedPoints]:
    """Find the unique fixed and slow points of one network, or of every network of a population at once.

    Which one: initial states `[n, K, S]` (one set per network) say population; otherwise a model's
    `init` tells, and for a bare step function, params it cannot take as they are but can take network
    by network are a population. A single network runs as a population of one: one compiled program,
    vmapped over networks, serves both. Points under different inputs are never merged.

    Args:
        model: a dynascope Model, any object with the model methods (`ModelLike`: init,
            initial_state, step, readout), or any callable `step(params, state [S], x [I]) -> state [S]`
            (a map by default).
        params: one network's parameters, or a population's: every leaf with a leading network axis n,
            as `train_population` stores them.
        inputs: one constant input `[I]` for every initial state, one per state `[K, I]`, or
            `[n, K, I]` (stack several inputs with their initial states to analyse them together).
        initial_states: starting points of the search, `[K, S]` (shared by every network) or
            `[n, K, S]`.
        options: search settings (`FixedPointOptions`; None: the defaults).
        reachable_states: states the network visits, `[..., S]` or `[n, ..., S]` for a population
            (e.g. from `model.run`); points outside their box are flagged, not dropped. None: no flag.
        continuous: `True` declares a bare step function the Euler step s + alpha·f(s) of a flow f,
            analysed as a flow; None for a model, which declares its own.
        alpha: the Euler step size of that flow (bare step functions only).
        **overrides: `FixedPointOptions` fields, replacing those of `options`.

    Returns:
        A `FixedPoints` for one network, a list of n for a population (each equal, to rounding, to the
        call on that network alone).

    Raises:
        ShapeError: `initial_states`, `inputs` or `reachable_states` of the wrong shape, or sizes the
        model does not take; ConfigError: NaN/inf in the arrays, an unknown or bad option, or an
        unusable `model`/`continuous`/`alpha`.

    Reference: Sussillo & Barak 2013; Golub & Sussillo 2018; Levenberg 1944; Marquardt 1963.
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    opts = make_options(options, overrides)
    x0 = np.asarray(initial_states)
    if x0.ndim not in (2, 3) or 0 in x0.shape:
        raise ShapeError(
            f"initial_states must be a non-empty [K, S] (or [n, K, S], one set per network) array, got shape "
            f"{x0.shape}; stack one state per row."
        )
    # One set of initial states per network says "population" whatever the params look like.
    n = population_size(params) if x0.ndim == 3 else network_count(model, system, params, x0.shape[-1], _input_size(inputs))
    single = n is None
    n = 1 if single else n
    if x0.ndim == 2:
        x0 = np.broadcast_to(x0, (n,) + x0.shape)
    if x0.shape[0] != n:
        raise ShapeError(
            f"initial_states must be [K, S] (shared) or [n, K, S] with n = {n} networks, got shape {x0.shape}."
        )
    u = np.asarray(inputs)
    if u.ndim == 3 and not single:
        if u.shape[:2] != x0.shape[:2]:
            raise ShapeError(f"inputs [n, K, I] must have n, K = {x0.shape[:2]}, got shape {u.shape}.")
    else:
        shape = "[I] or [K, I]" if single else "[I], [K, I] or [n, K, I]"
        u = np.broadcast_to(_per_point_inputs(u, x0.shape[1], shape), x0.shape[:2] + u.shape[-1:])
    first = params if single else one_network(params)
    check_params(model, first)
    check_step(system, first, x0.shape[2], u.shape[2])
    _check_finite(params, inputs, initial_states, reachable_states, population=not single)
    boxes: list = [None] * n
    if reachable_states is not None:
        reach = np.asarray(reachable_states)
        if single:
            boxes = [_box(reach, x0.shape[2], opts.reachable_margin)]
        elif reach.ndim < 2 or reach.shape[0] != n:
            raise ShapeError(f"reachable_states must be [n, ..., S] with n = {n} networks, got shape {reach.shape}.")
        else:
            boxes = [_box(r, x0.shape[2], opts.reachable_margin) for r in reach]
    stacked = jax.tree.map(lambda a: np.asarray(a)[None], params) if single else params
    found = find(system, stacked, x0, u, opts, boxes)
    return found[0] if single else found


def find_fixed_points_population(model: Any, stacked_params: Any, inputs: Any, initial_states: Any, **kwargs: Any) -> list[FixedPoints]:
    """Deprecated: `find_fixed_points` takes a population's stacked params itself (and returns a list)."""
    warnings.warn(
        "find_fixed_points_population is deprecated and will be removed in the next release; call "
        "find_fixed_points with the stacked params (it returns one FixedPoints per network).",
        DeprecationWarning, stacklevel=2,
    )
    return find_fixed_points(model, stacked_params, inputs, initial_states, **kwargs)


# -- validation helpers --------------------------------------------------------------------------------
def _input_size(inputs: Any) -> int:
    shape = np.shape(inputs)
    if not shape:
        raise ShapeError(f"inputs must be an array [I], [K, I] or [n, K, I], got {type(inputs).__name__} {inputs!r}.")
    return int(shape[-1])


def _per_point_inputs(inputs: Any, k: int, shape: str) -> np.ndarray:
    u = np.asarray(inputs)
    if u.ndim == 1:
        return np.broadcast_to(u, (k, u.shape[0]))
    if u.ndim == 2 and u.shape[0] == k:
        return u
    raise ShapeError(
        f"inputs must be {shape} (one constant input, or one per initial state, K = {k}), got shape {u.shape}."
    )


def _check_finite(params: Any, inputs: Any, initial_states: Any, reachable_states: Any, population: bool = False) -> None:
    """ConfigError naming the argument that holds NaN or ±inf: from such values every search fails and
    the result would be silently empty."""
    net = " In a population the first index is the network's: leave diverged networks out." if population else ""
    fix = "Every search from it would fail and return nothing; pass finite values."
    check_finite("params", params, fix + (net or " Is the network diverged?"))
    check_finite("inputs", inputs, fix)
    check_finite("initial_states", initial_states, "Drop or replace those rows (e.g. states of a diverged run)." + net)
    if reachable_states is not None:
        check_finite("reachable_states", reachable_states, "Its box would be undefined; drop the non-finite states." + net)


def _box(reachable: Any, n_state: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(reachable)
    if r.ndim < 1 or r.shape[-1] != n_state or r.size == 0:
        raise ShapeError(f"reachable_states must be [..., S] with S = {n_state}, got shape {r.shape}.")
    flat = r.reshape(-1, n_state).astype(np.float64)
    lo, hi = flat.min(axis=0), flat.max(axis=0)
    # The tiny absolute term keeps a point exactly on a flat (zero-width) side of the box inside it.
    pad = margin * (hi - lo) + 1e-6 * (1.0 + np.maximum(np.abs(lo), np.abs(hi)))
    return lo - pad, hi + pad
