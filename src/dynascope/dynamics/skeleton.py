"""The dynamical skeleton: fixed points as nodes, and where the unstable manifolds of the saddles lead.

Every saddle is left along each of its unstable eigendirections, on both sides, from a distance
`epsilon`; all departures (of all saddles, and of all networks of a population) are simulated at once
in compiled, vmapped chunks, each until it settles, and each end point is matched to a fixed point or to a terminal node
'unbounded', 'cycle' or 'unresolved'. The graph's `signature` compares networks by topology.
References: Sussillo & Barak 2013; Maheswaranathan et al. 2019 (topology shared across architectures).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from dynascope.dynamics._scheduler import Batch, bucket, pad_rows, put_points, schedule, take_points
from dynascope.dynamics._precision import cast, x64_scope
from dynascope.dynamics._jacobians import jacobians
from dynascope.dynamics._system import System, as_system
from dynascope.dynamics._validation import check_step, population_size
from dynascope.dynamics.fixed_points import FixedPoints, Status
from dynascope.dynamics.linearization import eigendecompose
from dynascope.dynamics.stability import mode_stability, stability_kind, stability_tolerance, step_multipliers
from dynascope.dynamics.skeleton_graph import wl_hash
from dynascope.errors import ConfigError

TERMINALS = ("unbounded", "cycle", "unresolved")


@dataclasses.dataclass(frozen=True)
class _Config:
    n_steps: int
    max_steps: int | None
    epsilon: float
    match_tol: float
    include_slow: bool
    float64: bool

    @property
    def window(self) -> int:
        """The last steps of each chunk, in which a periodic orbit is recognised (by a return to their start)."""
        return max(2, min(500, self.n_steps // 2))

    def max_chunks(self, eigvals: np.ndarray, modes: np.ndarray, system: System) -> int:
        """Chunks of n_steps a network's departures may run before the ones still moving are left
        'unresolved': max_steps if given, else the steps for the slowest escape from a saddle (by a factor
        1/epsilon) plus an e^DECAYS-fold decay of the slowest decaying mode, as the nodes' eigenvalues
        `[N, S]` predict for the simulated map (for a flow, its Euler step; `modes [N, S]` from
        `mode_stability`), within MIN_CHUNKS–MAX_CHUNKS.
        A GRU whose gates hold |λ| = 1 − 5e-5 at its memories needs ~200 000 steps."""
        if self.max_steps is not None:
            return -(-self.max_steps // self.n_steps)
        mu = np.abs(step_multipliers(eigvals, system.continuous, system.alpha))
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = -np.log(mu)  # per simulated step: > 0 for a decaying mode, < 0 for a growing one
        # What is simulated is the map that runs (for a flow its Euler step), which `modes` judges.
        decaying, growing = (modes < 0) & (rate > 0), (modes > 0) & (rate < 0)
        decay = DECAYS / rate[decaying].min() if decaying.any() else 0.0
        escape = np.log(1.0 / self.epsilon) / -rate[growing].max() if growing.any() else 0.0
        steps = decay + escape
        chunks = np.ceil(steps / self.n_steps) if np.isfinite(steps) else MAX_CHUNKS
        return int(np.clip(chunks, MIN_CHUNKS, MAX_CHUNKS))


def skeleton(
    model: Any,
    params: Any,
    fixed_points: FixedPoints,
    input: Any = None,
    *,
    n_steps: int = 2000,
    max_steps: int | None = None,
    epsilon: float = 1e-3,
    match_tol: float = 1e-2,
    include_slow: bool = False,
    float64: bool = True,
    continuous: bool | None = None,
    alpha: float | None = None,
) -> nx.DiGraph:
    """The skeleton graph of one network under the constant `input [I]` (default: the only input in
    `fixed_points`).

    Nodes: the converged fixed points under that input (and slow points with `include_slow`), keyed by
    their row in `fixed_points`, with attributes `index` (= n_unstable), `state [S]`, `stable`, `q`,
    `status`, `kind` (see linearization.KINDS), `outside_reachable` and `label` (str(index)). From every
    node with unstable modes, the map (or the Euler-stepped flow) is run from x* ± epsilon·v for each
    unstable eigenvector v (the real part for a complex pair), `n_steps` at a time: while a departure
    has not yet settled — come within match_tol·(1 + ‖x*‖) of another node, gone beyond the bound, or
    onto a periodic orbit — it runs `n_steps` more (the settled ones stop where they are), up to
    `max_steps` in all. Slow dynamics (gated networks whose update gates hold F(s) ≈ s, eigenvalues
    within 1e-4 of 1) take 10⁴–10⁵ steps to leave a saddle and reach the next node, so by default
    (None) max_steps follows the nodes' eigenvalues: the slowest escape from a saddle by a factor
    1/epsilon plus a 10-e-fold decay of the slowest stable mode, between 32 and 256 times n_steps
    (recorded in `graph.graph['max_steps']`). The steps simulated (by the longest departure) are
    `graph.graph['steps']`. An end point within match_tol·(1 + ‖x*‖) of another fixed point x* gives an
    edge to it; otherwise to the terminal node 'unbounded' (norm beyond
    1e3·(1 + largest fixed-point norm), or not finite), 'cycle' (in the last min(500, n_steps/2)
    steps of a chunk it moves away from where they began and comes back within the same tolerance) or 'unresolved'
    (still moving at the cap, including an end point back at its own saddle: not left yet, or a
    homoclinic return, which a finite run cannot tell apart). Edges carry `weight` (number
    of departures) and `departures`, a list of {direction (mode index, dominant first), sign (±1), eigval}.
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    cfg = _config(n_steps, max_steps, epsilon, match_tol, include_slow, float64)
    _check(system, params, [fixed_points])
    return _skeletons(system, params, [fixed_points], input, cfg, population=False)[0]


def skeleton_population(
    model: Any,
    stacked_params: Any,
    fixed_points: Sequence[FixedPoints],
    input: Any = None,
    **options: Any,
) -> list[nx.DiGraph]:
    """`skeleton` of n networks at once (params stacked on a leading axis, one FixedPoints per network):
    the departures of every saddle of every network run in one compiled, vmapped simulation."""
    continuous, alpha = options.pop("continuous", None), options.pop("alpha", None)
    system = as_system(model, continuous=continuous, alpha=alpha)
    bad = sorted(set(options) - {"n_steps", "max_steps", "epsilon", "match_tol", "include_slow", "float64"})
    if bad:
        raise ConfigError(f"unknown skeleton option {', '.join(map(repr, bad))}; the options are: "
                          "n_steps, max_steps, epsilon, match_tol, include_slow, float64, continuous, alpha.")
    defaults = {"n_steps": 2000, "max_steps": None, "epsilon": 1e-3, "match_tol": 1e-2, "include_slow": False,
                "float64": True}
    cfg = _config(**{**defaults, **options})
    n = population_size(stacked_params)
    if len(fixed_points) != n:
        raise ConfigError(f"fixed_points must hold one FixedPoints per network ({n}), got {len(fixed_points)}.")
    _check(system, jax.tree.map(lambda a: a[0], stacked_params), list(fixed_points))
    return _skeletons(system, stacked_params, list(fixed_points), input, cfg, population=True)


def signature(graph: nx.DiGraph) -> dict[str, Any]:
    """A compact, JSON-serialisable summary of a skeleton graph that two networks can be compared by.

    `n_fixed_points`; `counts` {index: number of fixed points}; `terminals` {name: departures ending
    there}; `edges`: the sorted multiset of (index_from, index_to or terminal name) pairs, one per
    departure; `wl_hash`: the graph's Weisfeiler–Lehman hash (`skeleton_graph.wl_hash`, the one
    `compare.topology` buckets skeletons by; equal for isomorphic skeletons).
    References: Shervashidze et al. 2011 (Weisfeiler–Lehman graph kernels).
    """
    counts: collections.Counter = collections.Counter()
    terminals: collections.Counter = collections.Counter()
    for node, data in graph.nodes(data=True):
        if data.get("terminal"):
            terminals[node] = sum(w for _, _, w in graph.in_edges(node, data="weight"))
        else:
            counts[int(data["index"])] += 1
    edges = []
    for a, b, w in graph.edges(data="weight"):
        edges += [[_label(graph, a), _label(graph, b)]] * int(w)
    edges.sort(key=lambda e: [(isinstance(v, str), str(v) if isinstance(v, str) else v) for v in e])
    return {
        "n_fixed_points": int(sum(counts.values())),
        "counts": {int(k): int(v) for k, v in sorted(counts.items())},
        "terminals": {str(k): int(v) for k, v in sorted(terminals.items())},
        "edges": edges,
        "wl_hash": wl_hash(graph),
    }


def _label(graph: nx.DiGraph, node: Any) -> int | str:
    data = graph.nodes[node]
    return str(node) if data.get("terminal") else int(data["index"])


def _check(system: System, params: Any, fps: list[FixedPoints]) -> None:
    for fp in fps:
        if not isinstance(fp, FixedPoints):
            raise ConfigError(f"fixed_points must be a FixedPoints (from find_fixed_points), got {type(fp).__name__}.")
    check_step(system, params, fps[0].states.shape[1], fps[0].inputs.shape[1])


#: Bounds of the max_steps chosen per network when none is given, in units of n_steps.
MIN_CHUNKS, MAX_CHUNKS = 32, 256
#: The default max_steps lets the slowest stable mode decay by e^DECAYS (and the slowest escape happen).
DECAYS = 10.0


def _config(
    n_steps: Any, max_steps: Any, epsilon: Any, match_tol: Any, include_slow: Any, float64: Any
) -> _Config:
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 4:
        raise ConfigError(f"n_steps must be an integer ≥ 4 (steps simulated from each saddle), got {n_steps!r}.")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < n_steps):
        raise ConfigError(
            f"max_steps must be None (chosen from the slowest modes, {MIN_CHUNKS}–{MAX_CHUNKS}·n_steps) or an "
            f"integer ≥ n_steps = {n_steps} (the cap on the steps simulated from each saddle), got {max_steps!r}."
        )
    for name, v in (("epsilon", epsilon), ("match_tol", match_tol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConfigError(f"{name} must be a positive number, got {v!r}.")
    for name, v in (("include_slow", include_slow), ("float64", float64)):
        if not isinstance(v, bool):
            raise ConfigError(f"{name} must be True or False, got {v!r}.")
    return _Config(n_steps, max_steps, float(epsilon), float(match_tol), include_slow, float64)


def _nodes(fp: FixedPoints, system: System, input: Any, cfg: _Config) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `fp` that become nodes, and the input [I] they share."""
    if fp.continuous != system.continuous:
        raise ConfigError(
            f"fixed_points were found for a {'flow' if fp.continuous else 'map'} but the model is analysed as "
            f"a {'flow' if system.continuous else 'map'}; pass the same model (or continuous/alpha) to both."
        )
    ok = (fp.status == Status.CONVERGED) | (cfg.include_slow & (fp.status == Status.SLOW))
    if input is None:
        rows = np.unique(fp.inputs[ok], axis=0)
        if rows.shape[0] > 1:
            raise ConfigError(
                f"fixed_points hold points under {rows.shape[0]} different inputs; pass input=[I] to pick one."
            )
        u = rows[0] if rows.shape[0] else np.zeros(fp.inputs.shape[1], fp.states.dtype)
    else:
        u = np.asarray(input, dtype=fp.states.dtype)
        if u.shape != (fp.inputs.shape[1],):
            raise ConfigError(
                f"input must have shape ({fp.inputs.shape[1]},) like fixed_points.inputs rows, got {u.shape}."
            )
    # float32 inputs stored as float64 differ from a Python float by ~1e-9: compare loosely.
    same = np.all(np.isclose(fp.inputs, u, rtol=1e-6, atol=1e-6), axis=1)
    if input is not None and np.any(ok) and not np.any(ok & same):
        known = np.unique(fp.inputs[ok], axis=0)
        raise ConfigError(
            f"no fixed point in fixed_points has the input {u.tolist()}; its inputs are {known.tolist()[:5]}"
            f"{' ...' if len(known) > 5 else ''}. Pass one of them, or find fixed points under this input first."
        )
    return np.flatnonzero(ok & same), u


def _modes(fp: FixedPoints, rows: np.ndarray, jac: np.ndarray, system: System) -> tuple[np.ndarray, ...]:
    """(eigvals, right, left, modes) at the node rows of `fp` from their Jacobians `jac [N, S, S]`: the modes
    judged as `find_fixed_points` judges them (same rule, tolerance and slow-point marginal mode)."""
    w, right, left = eigendecompose(jac, system.continuous)
    tol = stability_tolerance(jac, fp.states[rows], fp.speed[rows], system.continuous, system.alpha)
    modes = mode_stability(w, system.continuous, system.alpha, tol, fp.status[rows] == Status.SLOW)
    return w, right, left, modes


def _departures(fp: FixedPoints, rows: np.ndarray, eig: tuple, system: System, eps: float) -> tuple[list, np.ndarray]:
    """(row, mode, sign, eigval) per departure and their start states [D, S]."""
    w, right, modes = eig[0], eig[1], eig[3]
    meta, starts = [], []
    for j, row in enumerate(rows):
        unstable = modes[j] > 0
        for m in np.flatnonzero(unstable):
            if w[j, m].imag < 0:  # the conjugate of the mode before it: same real plane
                continue
            v = right[j, :, m].real
            v = v / np.linalg.norm(v)
            for sign in (1, -1):
                meta.append((int(row), int(m), sign, complex(w[j, m])))
                starts.append(fp.states[row] + sign * eps * v)
    s = fp.states.shape[1]
    return meta, (np.stack(starts) if starts else np.zeros((0, s), fp.states.dtype))


def _chunk_one(
    system: System,
    n_steps: int,
    window: int,
    tol: float,
    params: Any,
    u: jax.Array,
    x0: jax.Array,
    nodes: jax.Array,
    node_ok: jax.Array,
    own: jax.Array,
    big: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`n_steps` more steps of departures `x0 [B, S]` of one network -> end states [B, S], which have
    settled [B] — within tol·(1 + ‖x*‖) of a node (where `node_ok`) other than their own (`own [B]`), beyond
    the norm `big`, not finite, or periodic — and which are periodic [B]: in the last `window` steps they
    moved more than 2·tol·(1 + ‖x‖) away and came back within tol·(1 + ‖x‖) (a period-k orbit, k < window)."""
    step = jax.vmap(system.step, in_axes=(None, 0, None))
    node_tol = tol * (1.0 + jnp.sqrt(jnp.sum(nodes * nodes, axis=-1)))
    others = node_ok[None, :] & (jnp.arange(nodes.shape[0])[None, :] != own[:, None])
    ref = jax.lax.fori_loop(0, n_steps - window, lambda _, x: step(params, x, u), x0)

    def body(x: jax.Array, _: Any) -> tuple[jax.Array, jax.Array]:
        x = step(params, x, u)
        return x, jnp.sqrt(jnp.sum((x - ref) ** 2, axis=-1))

    end, ahead = jax.lax.scan(body, ref, None, length=window)
    t = tol * (1.0 + jnp.sqrt(jnp.sum(ref * ref, axis=-1)))
    away = jax.lax.cummax(ahead, axis=0) > 2.0 * t
    periodic = jnp.any((ahead[1:] <= t) & away[:-1], axis=0)
    d = jnp.sqrt(jnp.sum((end[:, None, :] - nodes[None, :, :]) ** 2, axis=-1))
    at_node = jnp.any((d <= node_tol[None, :]) & others, axis=1)
    gone = ~jnp.all(jnp.isfinite(end), axis=-1) | (jnp.sqrt(jnp.sum(end * end, axis=-1)) > big)
    return end, at_node | gone | periodic, periodic


@functools.partial(jax.jit, static_argnames=("system", "n_steps", "window", "tol", "population"))
def _advance(
    system: System,
    params: Any,
    u: jax.Array,
    s: jax.Array,
    settled: jax.Array,
    periodic: jax.Array,
    nodes: jax.Array,
    node_ok: jax.Array,
    own: jax.Array,
    big: jax.Array,
    nets: jax.Array,
    deps: jax.Array,
    *,
    n_steps: int,
    window: int,
    tol: float,
    population: bool,
) -> tuple[jax.Array, jax.Array]:
    """One chunk of `n_steps` for the departures `deps [m, B]` of the networks `nets [m]` (repeats
    allowed) of `s [n, D, S]`; returns s, `settled [n, D]` and `periodic [n, D]` with theirs replaced."""
    one = functools.partial(_chunk_one, system, n_steps, window, tol)
    prm = jax.tree.map(lambda a: a[nets], params) if population else params
    pts = take_points((s, own), nets, deps)
    sub = (u[nets], pts[0], nodes[nets], node_ok[nets], pts[1], big[nets])
    end, done, cyc = jax.vmap(one, in_axes=(0 if population else None,) + (0,) * len(sub))(prm, *sub)
    return put_points((s, settled, periodic), nets, deps, (end, done, cyc))


def _simulate(
    system: System,
    params: Any,
    u: jax.Array,
    x0: jax.Array,
    nodes: jax.Array,
    node_ok: jax.Array,
    own: jax.Array,
    live: np.ndarray,
    big: jax.Array,
    max_chunks: np.ndarray,
    cfg: _Config,
    population: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """End states `[n, D, S]` of the departures `x0 [n, D, S]` (of n networks; `live [n, D]` False for
    padding) under inputs `u [n, I]`, whether each ended on a periodic orbit `[n, D]`, and the steps
    simulated per network `[n]`. Every departure runs chunks of `n_steps`
    until it has settled (see _chunk_one) or its network's `max_chunks [n]` chunks. The ones still moving
    run on without the settled ones, so one slow departure costs its own steps, not the whole population's."""
    state = (x0, jnp.asarray(~live), jnp.zeros(live.shape, bool))

    def advance(batch: Batch) -> np.ndarray:
        nonlocal state
        state = _advance(
            system, params, u, *state, nodes, node_ok, own, big, jnp.asarray(batch.networks, jnp.int32),
            jnp.asarray(batch.points, jnp.int32), n_steps=cfg.n_steps, window=cfg.window, tol=cfg.match_tol,
            population=population,
        )
        return ~np.asarray(state[1])

    chunks = schedule(live, advance, min_points=8, compact_networks=True, max_rounds=max_chunks)
    s, _, periodic = state
    return np.asarray(s), np.asarray(periodic), chunks * cfg.n_steps


def _destination(end: np.ndarray, periodic: bool, nodes: np.ndarray, rows: np.ndarray, cfg: _Config) -> Any:
    """Where a departure ended (`end [S]`, on a periodic orbit or not): a row of `rows`, or a terminal name."""
    scale = 1.0 + (np.linalg.norm(nodes, axis=1).max() if len(nodes) else 0.0)
    if not np.all(np.isfinite(end)) or np.linalg.norm(end) > 1e3 * scale:
        return "unbounded"
    if len(nodes):
        d = np.linalg.norm(nodes - end, axis=1)
        j = int(np.argmin(d))
        if d[j] <= cfg.match_tol * (1.0 + np.linalg.norm(nodes[j])):
            return int(rows[j])
    return "cycle" if periodic else "unresolved"


def _skeletons(
    system: System,
    params: Any,
    fps: list[FixedPoints],
    input: Any,
    cfg: _Config,
    population: bool,
) -> list[nx.DiGraph]:
    selected = [_nodes(fp, system, input, cfg) for fp in fps]
    sizes = [rows.size for rows, _ in selected]
    size = bucket(max(sizes + [1]))
    dtype = fps[0].states.dtype
    states = np.stack([pad_rows(fp.states[rows], size) for fp, (rows, _) in zip(fps, selected)])
    inputs = np.stack([np.broadcast_to(u, (size, u.shape[0])) for _, u in selected]).astype(dtype)
    if population:
        jac = jacobians(system, params, states, inputs, float64=cfg.float64, population=True)[0]
    else:
        jac = jacobians(system, params, states[0], inputs[0], float64=cfg.float64)[0][None]
    eigs = [_modes(fp, rows, jac[i, : sizes[i]], system) for i, (fp, (rows, _)) in enumerate(zip(fps, selected))]
    deps = [_departures(fp, rows, e, system, cfg.epsilon) for fp, (rows, _), e in zip(fps, selected, eigs)]
    n_dep = [start.shape[0] for _, start in deps]
    ends, periodic = np.zeros((len(fps), 0, 0)), np.zeros((len(fps), 0), bool)
    steps, caps = np.zeros(len(fps), int), np.zeros(len(fps), int)
    if max(n_dep):
        d_size = bucket(max(n_dep))
        # a network without departures simulates copies of its first node (results unused)
        x0 = np.stack([
            pad_rows(start, d_size) if start.shape[0] else np.broadcast_to(states[i, :1], (d_size, states.shape[2]))
            for i, (_, start) in enumerate(deps)
        ])
        own = np.zeros((len(fps), d_size), np.int32)
        for i, ((meta, _), (rows, _)) in enumerate(zip(deps, selected)):
            position = {int(row): j for j, row in enumerate(rows)}
            own[i, : len(meta)] = [position[m[0]] for m in meta]
        live = np.arange(d_size)[None, :] < np.asarray(n_dep)[:, None]
        node_ok = np.arange(size)[None, :] < np.asarray(sizes)[:, None]
        norms = np.where(node_ok, np.linalg.norm(states, axis=-1), 0.0)
        big = 1e3 * (1.0 + norms.max(axis=1))
        u = np.stack([u for _, u in selected])
        caps = np.asarray([cfg.max_chunks(e[0], e[3], system) for e in eigs])
        with x64_scope(cfg.float64):
            d = np.float64 if cfg.float64 else dtype
            ends, periodic, steps = _simulate(
                system, cast(params, d), jnp.asarray(u, d), jnp.asarray(x0, d), jnp.asarray(states, d),
                jnp.asarray(node_ok), jnp.asarray(own), live, jnp.asarray(big, d), caps, cfg, population,
            )
    graphs = []
    for i, (fp, (rows, _)) in enumerate(zip(fps, selected)):
        simulated = (int(steps[i]), int(caps[i]) * cfg.n_steps) if n_dep[i] else (0, 0)
        g = nx.DiGraph(steps=simulated[0], max_steps=simulated[1])
        w, modes = eigs[i][0], eigs[i][3]
        kinds = stability_kind(modes, w) if rows.size else []
        for j, row in enumerate(rows):
            index = int(np.sum(modes[j] > 0))
            stable = bool(np.all(modes[j] < 0))
            g.add_node(
                int(row), index=index, state=fp.states[row], stable=stable, q=float(fp.q[row]),
                status=int(fp.status[row]), kind=str(kinds[j]), outside_reachable=bool(fp.outside_reachable[row]),
                label=str(index), terminal=False,
            )
        meta, _ = deps[i]
        nodes = fp.states[rows]
        for k, (row, mode, sign, eigval) in enumerate(meta):
            dest = _destination(ends[i, k], bool(periodic[i, k]), nodes, rows, cfg)
            if dest == row:  # never left, or came back: a finite run cannot tell the two apart
                dest = "unresolved"
            if isinstance(dest, str) and dest not in g:
                g.add_node(dest, index=None, label=dest, terminal=True)
            if not g.has_edge(row, dest):
                g.add_edge(row, dest, weight=0, departures=[])
            edge = g.edges[row, dest]
            edge["weight"] += 1
            edge["departures"].append({"direction": mode, "sign": sign, "eigval": eigval})
        graphs.append(g)
    return graphs
