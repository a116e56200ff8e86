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

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._candidates import Points, coincident, located, merge_valleys, unique
from dynascope.dynamics._options import FixedPointOptions, make_options
from dynascope.dynamics._search import adam, measure, search
from dynascope.dynamics._scheduler import bucket, chunk_networks, map_chunks, pad_rows
from dynascope.dynamics._precision import cast, float_dtype, x64_scope, zero_floor
from dynascope.dynamics._jacobians import jacobians
from dynascope.dynamics._system import System, as_system
from dynascope.dynamics._validation import check_finite, check_params, check_step, population_size
from dynascope.dynamics.linearization import sorted_eigvals
from dynascope.dynamics.stability import flow_map_disagree, mode_stability, stability_tolerance
from dynascope.dynamics.seeds import saddle_seeds
from dynascope.dynamics.solvers import Result
from dynascope.errors import ShapeError


#: The outcome of the search per point (`FixedPoints.status`): CONVERGED, SLOW or FAILED of `solvers.Result`.
Status = Result

_DATA_FIELDS = (
    "states", "inputs", "q", "speed", "eigvals", "n_unstable", "n_marginal", "is_stable", "flow_map_disagree",
    "converged", "status", "n_found", "outside_reachable", "newton_step",
)
_META_FIELDS = ("continuous", "alpha", "n_seeds", "n_failed", "n_escaped")


@dataclasses.dataclass(frozen=True, eq=False)
class FixedPoints:
    """Unique fixed (and slow) points of one network, as NumPy arrays (a pytree; K points, S states).

    states [K, S]; inputs [K, I] (the constant input of each point); q [K] = ½‖F(s) − s‖² on the map
    (for flows, on the Euler step: ½alpha²‖f(s)‖²); speed [K] = sqrt(2q) = ‖F(s) − s‖ per step (for
    flows, ‖f(s)‖ = speed/alpha per unit of τ); eigvals [K, S]
    (complex, dominant first) of ∂F/∂s for maps and of the flow Jacobian ∂f/∂s = (∂F/∂s − I)/alpha
    for flows; n_unstable [K] growing and n_marginal [K] marginal modes, is_stable [K] every mode decays,
    all judged for the map that runs (for flows the Euler step, multipliers 1 + alpha·λ) by
    `linearization.mode_stability` within `stability_tolerance` (rounding plus the drift speed/(1 + ‖s‖)),
    and at a slow point the mode with multiplier nearest 1 is marginal (∂F/∂s − I is singular at a
    minimum of q with q > 0), so a slow point is never stable; flow_map_disagree [K] a flow's own verdict
    (Re λ) differs from its Euler map's for some mode (always False for maps); converged [K] = status ==
    CONVERGED; status [K] a `Status` code; n_found [K] how many
    seeds ended at the point (a rough basin size); outside_reachable [K] the point lies outside the
    region of `reachable_states` (False everywhere when none were given); newton_step [K] = ‖J_r⁻¹ r‖
    with J_r = ∂F/∂s − I, the distance to a root the linearization predicts (~0 at a located fixed
    point, large or inf at a slow point or on a nearly flat set). n_seeds / n_failed / n_escaped count the
    initial states, those whose search failed (dropped unless `keep_failed`) and those stopped because
    they left the search region around the reachable states (see `FixedPointOptions.search_margin`).
    """

    states: np.ndarray
    inputs: np.ndarray
    q: np.ndarray
    speed: np.ndarray
    eigvals: np.ndarray
    n_unstable: np.ndarray
    n_marginal: np.ndarray
    is_stable: np.ndarray
    flow_map_disagree: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    n_found: np.ndarray
    outside_reachable: np.ndarray
    newton_step: np.ndarray
    continuous: bool = False
    alpha: float = 1.0
    n_seeds: int = 0
    n_failed: int = 0
    n_escaped: int = 0

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def select(self, which: Any) -> FixedPoints:
        """The points picked by a boolean mask `[K]` or integer indices."""
        return dataclasses.replace(self, **{f: getattr(self, f)[np.asarray(which)] for f in _DATA_FIELDS})

    def counts(self) -> dict[str, int]:
        """How many points are converged, slow, failed; how many of the converged ones are stable, saddles
        (some mode grows) or marginal (none grows, some is marginal), and how many points lie outside the
        reachable region or are judged differently by a flow and its Euler map. Slow and failed points
        are counted only as such, never as stable points or saddles."""
        converged = self.status == Status.CONVERGED
        return {
            "converged": int(np.sum(converged)),
            "slow": int(np.sum(self.status == Status.SLOW)),
            "failed": int(np.sum(self.status == Status.FAILED)),
            "stable": int(np.sum(converged & self.is_stable)),
            "saddles": int(np.sum(converged & (self.n_unstable > 0))),
            "marginal": int(np.sum(converged & ~self.is_stable & (self.n_unstable == 0))),
            "outside_reachable": int(np.sum(self.outside_reachable)),
            "flow_map_disagree": int(np.sum(self.flow_map_disagree)),
        }


jax.tree_util.register_dataclass(FixedPoints, data_fields=list(_DATA_FIELDS), meta_fields=list(_META_FIELDS))


# -- the public entry points -------------------------------------------------------------------------
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
) -> FixedPoints:
    """Find the unique fixed and slow points of one network from `initial_states [K, S]`.

    `model` is a dynascope Model, any object with the model methods (`ModelLike`: init, initial_state,
    step, readout), or any callable `step(params, state [S], x [I]) -> state [S]` (a map
    by default; `continuous=True, alpha=a` declares it the Euler step s + a·f(s) of a flow f, analysed
    as a flow). `inputs` is one constant input `[I]` for every initial state or one per state `[K, I]`
    (stack several inputs with their seeds to analyse them together; points under different inputs are
    never merged). `reachable_states [..., S]` (e.g. `[B, T, S]` from `model.run`) flags, without
    dropping, the points outside the region the network visits. Settings: `options` or keywords of
    `FixedPointOptions`. Returns a `FixedPoints`.
    References: Sussillo & Barak 2013; Golub & Sussillo 2018; Levenberg 1944; Marquardt 1963.
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    opts = make_options(options, overrides)
    x0 = _matrix("initial_states", initial_states, "[K, S]")
    u = _per_point_inputs(inputs, x0.shape[0], "[I] or [K, I]")
    check_params(model, params)
    check_step(system, params, x0.shape[1], u.shape[1])
    _check_finite(params, inputs, initial_states, reachable_states)
    box = None if reachable_states is None else _box(reachable_states, x0.shape[1], opts.reachable_margin)
    return _find(system, params, x0[None], u[None], opts, [box], population=False)[0]


def find_fixed_points_population(
    model: Any,
    stacked_params: Any,
    inputs: Any,
    initial_states: Any,
    *,
    options: FixedPointOptions | None = None,
    reachable_states: Any = None,
    continuous: bool | None = None,
    alpha: float | None = None,
    **overrides: Any,
) -> list[FixedPoints]:
    """Find the fixed points of n networks at once: one compiled program vmapped over the population.

    `stacked_params` has a leading network axis n on every leaf. `initial_states` is `[K, S]` (shared)
    or `[n, K, S]`; `inputs` is `[I]`, `[K, I]` (shared) or `[n, K, I]`; `reachable_states`, if given,
    is `[n, ..., S]`. De-duplication runs per network on the host. Returns one `FixedPoints` per network,
    equal (to rounding) to calling `find_fixed_points` on each. Other arguments as `find_fixed_points`.
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    opts = make_options(options, overrides)
    n = population_size(stacked_params)
    x0 = np.asarray(initial_states)
    if x0.ndim == 2:
        x0 = np.broadcast_to(x0, (n,) + x0.shape)
    if x0.ndim != 3 or x0.shape[0] != n or 0 in x0.shape:
        raise ShapeError(
            f"initial_states must be [K, S] (shared) or [n, K, S] with n = {n} networks, "
            f"got shape {np.shape(initial_states)}."
        )
    u = np.asarray(inputs)
    if u.ndim == 3:
        if u.shape[:2] != x0.shape[:2]:
            raise ShapeError(f"inputs [n, K, I] must have n, K = {x0.shape[:2]}, got shape {u.shape}.")
    else:
        u = np.broadcast_to(_per_point_inputs(u, x0.shape[1], "[I], [K, I] or [n, K, I]"), x0.shape[:2] + u.shape[-1:])
    first = jax.tree.map(lambda a: a[0], stacked_params)
    check_params(model, first)
    check_step(system, first, x0.shape[2], u.shape[2])
    _check_finite(stacked_params, inputs, initial_states, reachable_states, population=True)
    boxes: list = [None] * n
    if reachable_states is not None:
        reach = np.asarray(reachable_states)
        if reach.ndim < 2 or reach.shape[0] != n:
            raise ShapeError(f"reachable_states must be [n, ..., S] with n = {n} networks, got shape {reach.shape}.")
        boxes = [_box(r, x0.shape[2], opts.reachable_margin) for r in reach]
    return _find(system, stacked_params, x0, u, opts, boxes, population=True)


# -- validation helpers --------------------------------------------------------------------------------
def _matrix(name: str, value: Any, shape: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 2 or 0 in a.shape:
        raise ShapeError(f"{name} must be a non-empty {shape} array, got shape {a.shape}; stack one state per row.")
    return a


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


# -- the pipeline ----------------------------------------------------------------------------------------
def _find(
    system: System,
    params: Any,
    x0: np.ndarray,
    u: np.ndarray,
    opts: FixedPointOptions,
    boxes: list,
    population: bool,
) -> list[FixedPoints]:
    """x0 [n,K,S], u [n,K,I] (n = 1 unless `population`) -> one FixedPoints per network."""
    weight = np.ones(x0.shape[:2])
    cands, n_escaped = _classify_endpoints(system, params, u, x0, weight, _region(x0, boxes, opts), opts, population)
    counts = {
        "n_seeds": [int(x0.shape[1])] * x0.shape[0],
        "n_failed": [_failed(c) for c in cands],
        "n_escaped": n_escaped,
    }
    rows = _distinct(system, params, cands, opts, population)
    results = _assemble(system, params, rows, boxes, opts, population, counts)
    if opts.saddle_seeds_per_pair:
        seeds = _saddle_round(results, opts, x0.shape[1])
        if seeds is not None:
            s, su, sw = seeds
            new, escaped = _classify_endpoints(system, params, su, s, sw, _region(s, boxes, opts), opts, population)
            counts = {
                "n_seeds": [a + int(w.sum()) for a, w in zip(counts["n_seeds"], sw)],
                "n_failed": [a + _failed(c) for a, c in zip(counts["n_failed"], new)],
                "n_escaped": [a + e for a, e in zip(counts["n_escaped"], escaped)],
            }
            both = [Points(*map(np.concatenate, zip(r, c))) for r, c in zip(rows, new)]
            rows = _distinct(system, params, both, opts, population)
            results = _assemble(system, params, rows, boxes, opts, population, counts)
    return results


def _region(x0: np.ndarray, boxes: list, opts: FixedPointOptions) -> np.ndarray | None:
    """The search region of every seed of x0 [n,K,S] -> bounds [n,K,2,S] (None when no network has a box):
    the network's reachable box widened on every side by search_margin times its largest side, stretched
    per coordinate to reach that far around the seed itself too (a noisy seed may start outside the box).
    A network without a box has an unbounded region."""
    if opts.search_margin is None or all(b is None for b in boxes):
        return None
    region = np.empty(x0.shape[:2] + (2,) + x0.shape[2:])
    for i, b in enumerate(boxes):
        if b is None:
            region[i, :, 0], region[i, :, 1] = -np.inf, np.inf
            continue
        lo, hi = b
        reach = opts.search_margin * float(np.max(hi - lo))
        region[i, :, 0] = np.minimum(lo - reach, x0[i] - reach)
        region[i, :, 1] = np.maximum(hi + reach, x0[i] + reach)
    return region


def _distinct(system: System, params: Any, points: list[Points], opts: FixedPointOptions, population: bool) -> list[Points]:
    """The unique points of each network: de-duplicated by distance, then merged along valleys of q."""
    return merge_valleys(system, params, [unique(p, opts) for p in points], opts, population)


def _failed(c: Points) -> int:
    return int(c.weight[c.status == Status.FAILED].sum())


def _classify_endpoints(
    system: System,
    params: Any,
    u: np.ndarray,
    x0: np.ndarray,
    weight: np.ndarray,
    region: np.ndarray | None,
    opts: FixedPointOptions,
    population: bool,
) -> tuple[list[Points], list[int]]:
    """Run both phases from x0 [n,K,S] (phase 1 inside `region [n,K,2,S]`) and classify every end point;
    one Points per network, and how many seeds (by weight) left their region per network (they get no
    phase 2 and no point).

    CONVERGED needs q < q_tol and either a Newton correction within dedup_tol (Deuflhard's error-oriented
    termination: the root is located to the tolerance the points are told apart by) or q zero to working
    precision (a degenerate root, e.g. x ↦ x − x³ at 0, where no correction can be smaller). A small q
    alone is not enough: where F(s) ≈ s over a whole region (a saturated update gate) q < q_tol holds
    everywhere in it. SLOW: not converged, at a minimum of q (∇²q positive definite, the Newton step on q
    within slow_tol·(1 + ‖s‖)). FAILED: neither."""
    n_state = x0.shape[2]
    if region is None:
        region = np.broadcast_to(np.array([-np.inf, np.inf])[:, None], x0.shape[:2] + (2, n_state))
    # Rows of weight 0 are padding (the saddle round pads its few seeds to the first round's batch, whose
    # programs are compiled): they run no iteration, so the batch shrinks to the real seeds at once.
    skip = weight <= 0
    if population:
        chunk = chunk_networks(x0.shape[1] * n_state * n_state, opts.chunk_size)
        x1, left = map_chunks(
            lambda p, uu, xx, rr, sk: _phase_one(system, p, uu, xx, rr, sk, opts, True),
            params, (u, x0, region, skip), chunk,
        )
    else:
        x1, left = (a[None] for a in _phase_one(system, params, u[0], x0[0], region[0], skip[0], opts, False))
    escaped = [int(round(w[out].sum())) for w, out in zip(weight, left)]
    weight = np.where(left, 0.0, weight)
    # Seeds that phase 1 took to one point share its polish and measurement (which cost an S×S
    # factorization or Hessian each): one representative per group, carrying the group's weight.
    rep, weight = coincident(x1, u, weight)
    x1, u = (np.take_along_axis(a, rep[..., None], axis=1) for a in (x1, u))
    if population:
        chunk = chunk_networks(rep.shape[1] * n_state * n_state, opts.chunk_size)
        x, q, to_min, step = map_chunks(
            lambda p, uu, xx: _phase_two(system, p, uu, xx, opts, True), params, (u, x1), chunk
        )
    else:
        x, q, to_min, step = (a[None] for a in _phase_two(system, params, u[0], x1[0], opts, False))
    finite = np.isfinite(q) & np.all(np.isfinite(x), axis=-1)
    converged = finite & (q < opts.tolerance("q_tol")) & (located(x, step, opts) | (q <= zero_floor(x)))
    at_minimum = to_min <= opts.tolerance("slow_tol") * (1.0 + np.linalg.norm(x, axis=-1))
    status = np.where(
        converged, Status.CONVERGED, np.where(finite & at_minimum, Status.SLOW, Status.FAILED)
    ).astype(np.int8)
    points = [Points(x[i], np.asarray(u[i], x.dtype), q[i], status[i], weight[i], step[i]) for i in range(x.shape[0])]
    return points, escaped


def _phase_one(
    system: System, params: Any, u: np.ndarray, x0: np.ndarray, region: np.ndarray, skip: np.ndarray,
    opts: FixedPointOptions, population: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Phase 1, in the working precision, from x0 [(n,) K, S] inside `region [(n,) K, 2, S]` (rows to
    `skip` stay put) -> host end states [(n,) K, S] and which seeds left their region [(n,) K] (Adam runs
    unbounded)."""
    dtype = float_dtype(params, x0)
    u1, x = jnp.asarray(u, dtype), jnp.asarray(x0, dtype)
    left = np.zeros(x0.shape[:-1], bool)
    if opts.descent == "adam":
        x = adam(
            system, params, u1, x, steps=opts.descent_steps, learning_rate=float(opts.learning_rate),
            tol=float(opts.descent_tol), population=population,
        )
    elif opts.descent_steps:
        steps, tol = opts.descent_steps, float(opts.descent_tol)
        x, left = search(
            system, params, u1, x, steps=steps, tol=tol, population=population, region=region, skip=skip
        )
    return np.asarray(x), left


def _phase_two(
    system: System, params: Any, u: np.ndarray, x1: np.ndarray, opts: FixedPointOptions, population: bool
) -> tuple[np.ndarray, ...]:
    """Phase 2 (float64 if asked) from x1 [(n,) P, S] -> host states, q, Newton step on q and on r."""
    dtype = float_dtype(params, x1)
    with x64_scope(opts.float64):
        d = np.float64 if opts.float64 else dtype
        p, u2 = cast(params, d), jnp.asarray(u, d)
        x, _ = search(system, p, u2, jnp.asarray(x1, d), steps=opts.newton_steps, tol=0.0, population=population)
        return (np.asarray(x), *measure(system, p, u2, x, population=population))


def _assemble(
    system: System,
    params: Any,
    rows: list[Points],
    boxes: list,
    opts: FixedPointOptions,
    population: bool,
    counts: dict[str, list[int]],
) -> list[FixedPoints]:
    """Linearize every network's unique points in one compiled call and build the FixedPoints."""
    sizes = [r.states.shape[0] for r in rows]
    size = bucket(max(sizes))
    states = np.stack([pad_rows(r.states, size) for r in rows])
    inputs = np.stack([pad_rows(r.inputs, size) for r in rows])
    if max(sizes):
        if population:
            jac = jacobians(system, params, states, inputs, float64=opts.float64, population=True)[0]
        else:
            jac = jacobians(system, params, states[0], inputs[0], float64=opts.float64)[0][None]
    else:
        jac = np.zeros(states.shape + states.shape[-1:])
    out = []
    for i, r in enumerate(rows):
        k = sizes[i]
        w = sorted_eigvals(jac[i, :k], system.continuous) if k else np.zeros(r.states.shape, complex)
        speed = np.sqrt(2.0 * r.q)
        tol = stability_tolerance(jac[i, :k], r.states, speed, system.continuous, system.alpha)
        slow = r.status == Status.SLOW
        modes = mode_stability(w, system.continuous, system.alpha, tol, slow)
        lo_hi = boxes[i]
        outside = np.zeros(k, bool) if lo_hi is None else np.any((r.states < lo_hi[0]) | (r.states > lo_hi[1]), axis=-1)
        out.append(
            FixedPoints(
                states=r.states, inputs=r.inputs, q=r.q, speed=speed, eigvals=w,
                n_unstable=np.sum(modes > 0, axis=-1), n_marginal=np.sum(modes == 0, axis=-1),
                is_stable=np.all(modes < 0, axis=-1),
                flow_map_disagree=flow_map_disagree(w, system.continuous, system.alpha, tol, slow),
                converged=r.status == Status.CONVERGED, status=r.status,
                n_found=np.rint(r.weight).astype(np.int64), outside_reachable=outside, newton_step=r.step,
                continuous=system.continuous, alpha=system.alpha, **{name: c[i] for name, c in counts.items()},
            )
        )
    return out


def _saddle_round(results: list[FixedPoints], opts: FixedPointOptions, first: int) -> tuple[np.ndarray, ...] | None:
    """Seeds [n,K2,S], inputs [n,K2,I], weights [n,K2] between the stable points of each network and input;
    networks with fewer seeds are padded with weight-0 copies. None when no network has two stable points.
    K2 is the `first` round's number of seeds when they fit in it, so the round reuses its compiled search
    (a cold first call compiles the search once, not twice), else the next power of two."""
    per_net = []
    for fp in results:
        stable = fp.converged & fp.is_stable
        seeds, seed_inputs = [], []
        for row in np.unique(fp.inputs[stable], axis=0):
            same = stable & np.all(fp.inputs == row, axis=1)
            s = saddle_seeds(fp.states[same], opts.saddle_seeds_per_pair, opts.saddle_neighbours)
            seeds.append(s)
            seed_inputs.append(np.broadcast_to(row, (s.shape[0], row.shape[0])))
        n_state, n_in = fp.states.shape[1], fp.inputs.shape[1]
        per_net.append((
            np.concatenate(seeds) if seeds else np.zeros((0, n_state), fp.states.dtype),
            np.concatenate(seed_inputs) if seed_inputs else np.zeros((0, n_in), fp.inputs.dtype),
        ))
    counts = [s.shape[0] for s, _ in per_net]
    if max(counts) == 0:
        return None
    size = first if max(counts) <= first else bucket(max(counts))
    seeds = np.stack([pad_rows(s, size) for s, _ in per_net])
    inputs = np.stack([pad_rows(u, size) for _, u in per_net])
    weight = (np.arange(size)[None, :] < np.asarray(counts)[:, None]).astype(float)
    return seeds, inputs, weight
