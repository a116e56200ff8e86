"""The host-side pipeline of `find_fixed_points`: rounds of seeds, the two phases, classification,
de-duplication and linearization, for n networks at once.

Phase 1 runs the search (`_search.search`) from every seed in the working precision (a small search on the
CPU: in phase 2's, see `_classify_endpoints`), inside its search region; seeds that phase 1 took to one point
are merged; phase 2 polishes the representatives the same way in float64 (by default) and measures them;
end points are classified CONVERGED / SLOW / FAILED (`solvers.Result`), de-duplicated (`_candidates`) and
linearized into a `FixedPoints` per network. A second round seeds between the stable points found
(`seeds.saddle_seeds`) and merges what it finds.
References: Sussillo & Barak 2013; Golub & Sussillo 2018; Deuflhard 2004; Ursem 1999.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dynascope._compile import is_quick, work
from dynascope.dynamics._candidates import Points, coincident, located, merge_valleys, unique
from dynascope.dynamics._jacobians import jacobians
from dynascope.dynamics._options import FixedPointOptions
from dynascope.dynamics._points import FixedPoints
from dynascope.dynamics._precision import cast, float_dtype, x64_scope, zero_floor
from dynascope.dynamics._scheduler import bucket, chunk_networks, compacted_size, map_chunks, pad_rows
from dynascope.dynamics._search import adam, measure, search
from dynascope.dynamics._system import System
from dynascope.dynamics.linearization import sorted_eigvals
from dynascope.dynamics.seeds import saddle_seeds
from dynascope.dynamics.solvers import Result
from dynascope.dynamics.stability import flow_map_disagree, mode_stability, stability_tolerance


def find(
    system: System,
    params: Any,
    x0: np.ndarray,
    u: np.ndarray,
    opts: FixedPointOptions,
    boxes: list,
) -> list[FixedPoints]:
    """params with the leading network axis n, x0 [n,K,S], u [n,K,I] -> one FixedPoints per network;
    `boxes` holds each network's reachable box (lo, hi) or None."""
    n_initial_states = int(x0.shape[1])
    # Seeds padded to a power of two with rows of weight 0, which run no iteration: calls with 200 and 256
    # seeds share their compiled programs.
    size = bucket(n_initial_states)
    x0, u = pad_rows(x0, size, axis=1), pad_rows(u, size, axis=1)
    weight = pad_rows(np.ones(x0.shape[:1] + (n_initial_states,)), size, axis=1)
    weight[:, n_initial_states:] = 0.0
    cands, n_escaped = _classify_endpoints(system, params, u, x0, weight, _region(x0, boxes, opts), opts)
    counts = {
        "n_initial_states": [n_initial_states] * x0.shape[0],
        "n_failed": [_failed(c) for c in cands],
        "n_escaped": n_escaped,
    }
    rows = _distinct(system, params, cands, opts)
    results = _assemble(system, params, rows, boxes, opts, counts)
    if opts.saddle_seeds_per_pair:
        seeds = _saddle_round(results, opts, x0.shape[1])
        if seeds is not None:
            s, su, sw = seeds
            new, escaped = _classify_endpoints(system, params, su, s, sw, _region(s, boxes, opts), opts)
            counts = {
                "n_initial_states": [a + int(w.sum()) for a, w in zip(counts["n_initial_states"], sw)],
                "n_failed": [a + _failed(c) for a, c in zip(counts["n_failed"], new)],
                "n_escaped": [a + e for a, e in zip(counts["n_escaped"], escaped)],
            }
            both = [Points(*map(np.concatenate, zip(r, c))) for r, c in zip(rows, new)]
            rows = _distinct(system, params, both, opts)
            results = _assemble(system, params, rows, boxes, opts, counts)
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


def _distinct(system: System, params: Any, points: list[Points], opts: FixedPointOptions) -> list[Points]:
    """The unique points of each network: de-duplicated by distance, then merged along valleys of q."""
    return merge_valleys(system, params, [unique(p, opts) for p in points], opts)


def _failed(c: Points) -> int:
    return int(c.weight[c.status == Result.FAILED].sum())


def _classify_endpoints(
    system: System,
    params: Any,
    u: np.ndarray,
    x0: np.ndarray,
    weight: np.ndarray,
    region: np.ndarray | None,
    opts: FixedPointOptions,
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
        region = _unbounded(x0.shape)
    # Rows of weight 0 are padding (the saddle round pads its few seeds to the first round's batch, whose
    # programs are compiled): they run no iteration, so the batch shrinks to the real seeds at once.
    skip = weight <= 0
    chunk = chunk_networks(x0.shape[1] * n_state * n_state, opts.chunk_size, x0.shape[0], opts.memory_budget)
    # A small search on the CPU runs both phases in the polish's precision and on batches of one size, so
    # that phase 2 reuses phase 1's compiled programs: a first search compiles its iteration program once,
    # not twice, and compiling is most of what a small search costs (float64 costs it little on the CPU).
    shared = _descends(opts) and is_quick(work(min(chunk, x0.shape[0]), x0.shape[1], n_state))
    x1, left = map_chunks(
        lambda p, uu, xx, rr, sk: _phase_one(system, p, uu, xx, rr, sk, opts, shared),
        params, (u, x0, region, skip), chunk,
    )
    escaped = [int(round(w[out].sum())) for w, out in zip(weight, left)]
    weight = np.where(left, 0.0, weight)
    # Seeds that phase 1 took to one point share its polish and measurement (which cost an S×S
    # factorization or Hessian each): one representative per group, carrying the group's weight.
    rep, weight = coincident(x1, u, weight, size=x0.shape[1] if shared else None)
    x1, u = (np.take_along_axis(a, rep[..., None], axis=1) for a in (x1, u))
    # The representatives come first; the rows after them (padding) are measured only as far as the ladder
    # needs (the measurement compiles once either way, and its Hessians are its cost).
    rows = compacted_size(max(1, int((weight > 0).sum(axis=1).max())), x1.shape[1], 8)
    unbounded = _unbounded(x1.shape)
    chunk = chunk_networks(rep.shape[1] * n_state * n_state, opts.chunk_size, rep.shape[0], opts.memory_budget)
    x, q, to_min, step = map_chunks(
        lambda p, uu, xx, rr, sk: _phase_two(system, p, uu, xx, rr, sk, opts, rows), params,
        (u, x1, unbounded, weight <= 0), chunk,
    )
    u, weight = u[:, :rows], weight[:, :rows]
    finite = np.isfinite(q) & np.all(np.isfinite(x), axis=-1)
    converged = finite & (q < opts.tolerance("q_tol")) & (located(x, step, opts) | (q <= zero_floor(x)))
    at_minimum = to_min <= opts.tolerance("slow_tol") * (1.0 + np.linalg.norm(x, axis=-1))
    status = np.where(
        converged, Result.CONVERGED, np.where(finite & at_minimum, Result.SLOW, Result.FAILED)
    ).astype(np.int8)
    points = [Points(x[i], np.asarray(u[i], x.dtype), q[i], status[i], weight[i], step[i]) for i in range(x.shape[0])]
    return points, escaped


def _unbounded(shape: tuple[int, ...]) -> np.ndarray:
    """The search region `[n, K, 2, S]` of no bounds for points of `shape [n, K, S]`."""
    return np.broadcast_to(np.array([-np.inf, np.inf])[:, None], shape[:2] + (2, shape[2]))


def _descends(opts: FixedPointOptions) -> bool:
    """Whether phase 1 runs the search of `_search.search` (not Adam, not skipped)."""
    return opts.descent != "adam" and bool(opts.descent_steps)


def _phase_one(
    system: System, params: Any, u: np.ndarray, x0: np.ndarray, region: np.ndarray, skip: np.ndarray,
    opts: FixedPointOptions, polish_precision: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Phase 1 from x0 [n, K, S] inside `region [n, K, 2, S]` (rows to `skip` stay put), in the working
    precision or, with `polish_precision`, in phase 2's -> host end states [n, K, S] and which seeds left
    their region [n, K] (Adam runs unbounded)."""
    left = np.zeros(x0.shape[:-1], bool)
    if opts.descent == "adam":
        dtype = float_dtype(params, x0)
        x = adam(
            system, params, np.asarray(u, dtype), np.asarray(x0, dtype), steps=opts.descent_steps,
            learning_rate=float(opts.learning_rate), tol=float(opts.descent_tol),
        )
        return np.asarray(x), left
    if not opts.descent_steps:
        return np.asarray(x0, float_dtype(params, x0)), left
    with x64_scope(polish_precision and opts.float64):
        dtype = _polish_dtype(params, x0, opts) if polish_precision else float_dtype(params, x0)
        x, left = search(
            system, cast(params, dtype) if polish_precision else params, np.asarray(u, dtype),
            np.asarray(x0, dtype), steps=opts.descent_steps, tol=float(opts.descent_tol), region=region, skip=skip,
        )
    return np.asarray(x), left


def _phase_two(
    system: System, params: Any, u: np.ndarray, x1: np.ndarray, region: np.ndarray, skip: np.ndarray,
    opts: FixedPointOptions, rows: int,
) -> tuple[np.ndarray, ...]:
    """Phase 2 (float64 if asked) from x1 [n, P, S] (`region` unbounded; rows to `skip`, padding, stay put)
    -> host states, q, Newton step on q and on r of the first `rows` points."""
    with x64_scope(opts.float64):
        d = _polish_dtype(params, x1, opts)
        p, u2 = cast(params, d), np.asarray(u, d)
        x, _ = search(system, p, u2, np.asarray(x1, d), steps=opts.newton_steps, tol=0.0, region=region, skip=skip)
        x, u2 = x[:, :rows], u2[:, :rows]
        return (x, *measure(system, p, u2, x))


def _polish_dtype(params: Any, x: np.ndarray, opts: FixedPointOptions) -> np.dtype:
    """Phase 2's precision: float64 if asked (call inside its x64 scope), else the working precision."""
    return np.dtype(np.float64) if opts.float64 else float_dtype(params, x)


def _assemble(
    system: System,
    params: Any,
    rows: list[Points],
    boxes: list,
    opts: FixedPointOptions,
    counts: dict[str, list[int]],
) -> list[FixedPoints]:
    """Linearize every network's unique points in one compiled call and build the FixedPoints."""
    sizes = [r.states.shape[0] for r in rows]
    size = bucket(max(sizes))
    states = np.stack([pad_rows(r.states, size) for r in rows])
    inputs = np.stack([pad_rows(r.inputs, size) for r in rows])
    if max(sizes):
        jac = jacobians(system, params, states, inputs, float64=opts.float64)[0]
    else:
        jac = np.zeros(states.shape + states.shape[-1:])
    out = []
    for i, r in enumerate(rows):
        k = sizes[i]
        w = sorted_eigvals(jac[i, :k], system.continuous) if k else np.zeros(r.states.shape, complex)
        speed = np.sqrt(2.0 * r.q)
        tol = stability_tolerance(jac[i, :k], r.states, speed, system.continuous, system.alpha)
        slow = r.status == Result.SLOW
        modes = mode_stability(w, system.continuous, system.alpha, tol, slow)
        lo_hi = boxes[i]
        outside = np.zeros(k, bool) if lo_hi is None else np.any((r.states < lo_hi[0]) | (r.states > lo_hi[1]), axis=-1)
        out.append(
            FixedPoints(
                states=r.states, inputs=r.inputs, q=r.q, speed=speed, eigvals=w,
                n_unstable=np.sum(modes > 0, axis=-1), n_marginal=np.sum(modes == 0, axis=-1),
                is_stable=np.all(modes < 0, axis=-1),
                flow_map_disagree=flow_map_disagree(w, system.continuous, system.alpha, tol, slow),
                converged=r.status == Result.CONVERGED, status=r.status,
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
