"""End points of the fixed-point search: their status, and their de-duplication into unique points.

Points are told apart by distance (a tolerance relative to the state's norm); points whose location is
ill-determined — a Newton correction beyond that tolerance: slow points, degenerate roots, nearly flat
sets where F(s) ≈ s — are also merged with the points they share a valley of q with (hill-valley test).
References: Deuflhard 2004 (error-oriented convergence test); Ursem 1999, Maree et al. 2018 (hill-valley).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from dynascope.dynamics._options import FixedPointOptions
from dynascope.dynamics._search import speeds_squared
from dynascope.dynamics._scheduler import bucket, compacted_size, pad_rows
from dynascope.dynamics._precision import cast, float_dtype, x64_scope, zero_floor
from dynascope.dynamics._system import System
from dynascope.dynamics.solvers import Result


class Points(NamedTuple):
    """Classified end points of one network: states [K,S], inputs [K,I], q [K], status [K], weight [K],
    step [K] (the Newton correction ‖J_r⁻¹ r‖)."""

    states: np.ndarray
    inputs: np.ndarray
    q: np.ndarray
    status: np.ndarray
    weight: np.ndarray
    step: np.ndarray


def located(states: np.ndarray, step: np.ndarray, opts: FixedPointOptions) -> np.ndarray:
    """Whether the root the linearization predicts lies within the de-duplication tolerance of each point."""
    return step <= opts.tolerance("dedup_tol") * (1.0 + np.linalg.norm(states, axis=-1))


#: Phase-1 end points closer than this, relative to 1 + their norm, are one start for phase 2: far below the
#: precision to which the working precision (float32) locates a root, so no two distinct fixed points are
#: ever merged by it, and far above its rounding of a state, so seeds that reached one root are merged.
COINCIDENT_TOL = 1e-5


def coincident(
    states: np.ndarray, inputs: np.ndarray, weight: np.ndarray, *, size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One representative of each group of coincident rows of `states [n, K, S]` (same input, within
    COINCIDENT_TOL), per network: indices `[n, P]` and the group's total weight `[n, P]` (0 on padding
    rows). P is `size` if given (at least the largest number of groups), else on the ladder 8·4^j (at most
    K), so the batches that follow compile for few sizes.

    Phase 2 (the float64 polish and the measurement, an S×S factorization and Hessian per point) runs on
    the representatives only: from 1024 seeds a trained network typically has a few dozen."""
    reps, totals = [], []
    for x, u, w in zip(states, inputs, weight):
        r, t = _leaders(x, u, w, np.flatnonzero(w > 0), COINCIDENT_TOL)
        reps.append(np.asarray(r, np.int64))
        totals.append(np.asarray(t, np.float64))
    largest = max(1, max(len(r) for r in reps))
    size = compacted_size(largest, states.shape[1], 8) if size is None else max(size, largest)
    index = np.stack([np.resize(r, size) if r.size else np.zeros(size, np.int64) for r in reps])
    total = np.stack([np.concatenate([t, np.zeros(size - t.size)]) for t in totals])
    return index, total


def unique(p: Points, opts: FixedPointOptions) -> Points:
    """Leader clustering, best status then lowest q first: each leader absorbs the points within
    dedup_tol·(1 + max norm) of it under the same input; its weight becomes the cluster's total."""
    keep = p.status != Result.FAILED if not opts.keep_failed else np.ones(p.q.shape, bool)
    keep &= p.weight > 0
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((p.q[idx], p.status[idx]))]
    leaders, weights = _leaders(p.states, p.inputs, p.weight, idx, opts.tolerance("dedup_tol"))
    sel = np.asarray(leaders, dtype=int)
    return Points(
        p.states[sel], p.inputs[sel], p.q[sel], p.status[sel], np.asarray(weights, dtype=p.weight.dtype), p.step[sel]
    )


def _leaders(
    states: np.ndarray, inputs: np.ndarray, weight: np.ndarray, queue: np.ndarray, tol: float
) -> tuple[list[int], list[float]]:
    """Leader clustering of the rows `queue` of `states [K, S]`, in that order: each leader absorbs the
    rows within tol·(1 + max norm) of it under the same input. Returns the leaders and their clusters'
    total weights. A non-finite row only ever stands for itself."""
    group = _input_groups(inputs)
    norms = np.linalg.norm(states, axis=-1)
    leaders, totals = [], []
    while queue.size:
        i = queue[0]
        with np.errstate(invalid="ignore", over="ignore"):  # inf − inf in a diverged row: NaN, not a warning
            d = np.linalg.norm(states[queue] - states[i], axis=-1)
        same = np.isfinite(d) & (d <= tol * (1.0 + np.maximum(norms[queue], norms[i]))) & (group[queue] == group[i])
        same[0] = True  # a non-finite row must still leave the queue
        leaders.append(int(i))
        totals.append(weight[queue[same]].sum())
        queue = queue[~same]
    return leaders, totals


def _input_groups(inputs: np.ndarray) -> np.ndarray:
    if inputs.shape[0] == 0:
        return np.zeros(0, int)
    return np.unique(inputs, axis=0, return_inverse=True)[1].reshape(-1)


#: Interior points of the segment between two points at which the hill-valley test measures q.
_VALLEY_T = np.linspace(0.0, 1.0, 7)[1:-1]


def _valley_pairs(p: Points, opts: FixedPointOptions) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) of unique points to test for a common valley: same input and status (never FAILED),
    at least one of the two not located to the de-duplication tolerance."""
    k = p.q.shape[0]
    i, j = np.triu_indices(k, 1)
    if not i.size:
        return i, j
    poor = ~located(p.states, p.step, opts)
    ok = p.status != Result.FAILED
    group = _input_groups(p.inputs)
    sel = ok[i] & ok[j] & (p.status[i] == p.status[j]) & (group[i] == group[j]) & (poor[i] | poor[j])
    return i[sel], j[sel]


def merge_valleys(
    system: System, params: Any, rows: list[Points], opts: FixedPointOptions
) -> list[Points]:
    """Merge points whose location is ill-determined with the points they share a valley of q with.

    Two points are one fixed (or slow) set when q stays below 2·max(q_a, q_b) (plus the rounding floor)
    at every test point of the segment between them: the speed never rises above √2 times that of the
    faster of the two on the way, so no barrier separates them (the hill-valley test of Ursem 1999). Only
    pairs where a point's Newton correction exceeds the de-duplication tolerance are tested — well located
    fixed points are told apart by distance alone — so a degenerate root reached from both sides, a ghost's
    bottleneck, or a near-continuum where F(s) ≈ s comes back as one point (the lowest q, best status,
    weighted by all), while distinct points keep the barrier between them. One compiled call evaluates
    q for every network. References: Ursem 1999; Maree et al. 2018 (hill-valley clustering).
    """
    pairs = [_valley_pairs(r, opts) for r in rows]
    n_t = _VALLEY_T.size
    sizes = [n_t * i.size for i, _ in pairs]
    if max(sizes, default=0) == 0:
        return rows
    size = bucket(max(sizes))
    n_state, n_in = rows[0].states.shape[1], rows[0].inputs.shape[1]
    dtype = rows[0].states.dtype
    pts, inp = np.zeros((len(rows), size, n_state), dtype), np.zeros((len(rows), size, n_in), dtype)
    for n, (r, (i, j)) in enumerate(zip(rows, pairs)):
        if i.size:
            a, b = r.states[i], r.states[j]
            seg = a[:, None, :] + _VALLEY_T.astype(dtype)[None, :, None] * (b - a)[:, None, :]
            pts[n] = pad_rows(seg.reshape(-1, n_state), size)
            inp[n] = pad_rows(np.repeat(r.inputs[i], n_t, axis=0), size)
        elif r.q.size:
            pts[n], inp[n] = r.states[0], r.inputs[0]
    with x64_scope(opts.float64):
        d = np.float64 if opts.float64 else float_dtype(params, pts)
        prm = cast(params, d)
        q = np.asarray(speeds_squared(system, prm, jnp.asarray(pts, d), jnp.asarray(inp, d)))
    out = []
    for n, (r, (i, j)) in enumerate(zip(rows, pairs)):
        if not i.size:
            out.append(r)
            continue
        seg_q = q[n, : n_t * i.size].reshape(i.size, n_t)
        mid = 0.5 * (r.states[i] + r.states[j])
        joined = seg_q.max(axis=1) <= 2.0 * np.maximum(r.q[i], r.q[j]) + zero_floor(mid)
        # rows are in priority order (best status, then lowest q): each surviving row absorbs later ones
        absorbed = np.zeros(r.q.size, bool)
        weight = r.weight.copy()
        for a, b in zip(i[joined], j[joined]):
            if not absorbed[a] and not absorbed[b]:
                absorbed[b] = True
                weight[a] += weight[b]
        keep = ~absorbed
        out.append(Points(r.states[keep], r.inputs[keep], r.q[keep], r.status[keep], weight[keep], r.step[keep]))
    return out
