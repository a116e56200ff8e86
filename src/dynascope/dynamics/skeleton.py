"""The dynamical skeleton: fixed points as nodes, and where the unstable manifolds of the saddles lead.

Every saddle is left along each of its unstable eigendirections, on both sides, from a distance
`epsilon`; all departures (of all saddles, and of all networks of a population) are simulated at once
in compiled, vmapped chunks, each until it settles, and each end point is matched to a fixed point or to a terminal node
'unbounded', 'cycle' or 'unresolved'. The graph's `signature` compares networks by topology.
References: Sussillo & Barak 2013; Maheswaranathan et al. 2019 (topology shared across architectures).
"""

from __future__ import annotations

import collections
import warnings
from typing import Any, Sequence

import jax
import networkx as nx
import numpy as np

from dynascope.dynamics._departures import Config, config, departures, destination, simulate_departures
from dynascope.dynamics._jacobians import jacobians
from dynascope.dynamics._scheduler import bucket, pad_rows
from dynascope.dynamics._system import System, as_system
from dynascope.dynamics._validation import check_step, one_network, population_size
from dynascope.dynamics._points import FixedPoints
from dynascope.dynamics.solvers import Result
from dynascope.dynamics.linearization import eigendecompose
from dynascope.dynamics.stability import mode_stability, stability_kind, stability_tolerance
from dynascope.dynamics.skeleton_graph import wl_hash
from dynascope.errors import ConfigError

TERMINALS = ("unbounded", "cycle", "unresolved")


def skeleton(
    model: Any,
    params: Any,
    fixed_points: FixedPoints | Sequence[FixedPoints],
    inputs: Any = None,
    *,
    n_steps: int = 2000,
    max_steps: int | None = None,
    epsilon: float = 1e-3,
    match_tol: float = 1e-2,
    include_slow: bool = False,
    float64: bool = True,
    continuous: bool | None = None,
    alpha: float | None = None,
) -> nx.DiGraph | list[nx.DiGraph]:
    """The skeleton graph of one network, or of every network of a population at once.

    For a population the departures of every saddle of every network run in one compiled, vmapped
    simulation; a single network runs as a population of one.

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
    steps of a chunk it moves away from where they began and comes back within the same tolerance) or
    'unresolved' (still moving at the cap, including an end point back at its own saddle: not left yet,
    or a homoclinic return, which a finite run cannot tell apart). Edges carry `weight` (number of
    departures) and `departures`, a list of {direction (mode index, dominant first), sign (±1), eigval}.

    Args:
        model: a dynascope Model, an object with the model methods, or a callable
            `step(params, state, x) -> state`.
        params: one network's parameters, or a population's stacked on a leading network axis n.
        fixed_points: the network's `FixedPoints`, or a sequence of n, one per network (as
            `find_fixed_points` returns them for a population).
        inputs: the constant input `[I]` (None: the only input in `fixed_points`).
        n_steps: steps simulated per chunk from each saddle (integer ≥ 4).
        max_steps: cap on the steps from each saddle (None: chosen from the eigenvalues, see above;
            else an integer ≥ n_steps).
        epsilon: size of the initial displacement along each unstable eigenvector (> 0).
        match_tol: relative distance at which an end point matches a node (> 0).
        include_slow: also make nodes of the slow points.
        float64: simulate in float64.
        continuous: declare a bare step function the Euler step of a flow (see `find_fixed_points`).
        alpha: the Euler step size of that flow (bare step functions only).

    Returns:
        A `networkx.DiGraph` for one network, or a list of n graphs for a sequence of FixedPoints.

    Raises:
        ConfigError: a setting out of range, `fixed_points` not a FixedPoints or a sequence of one per
        network, or an unusable `model`/`continuous`/`alpha`; ShapeError: as `find_fixed_points`.

    Reference: Sussillo & Barak 2013; Maheswaranathan et al. 2019 (skeletons of fixed points and the
    unstable manifolds joining them).
    """
    system = as_system(model, continuous=continuous, alpha=alpha)
    cfg = config(n_steps, max_steps, epsilon, match_tol, include_slow, float64)
    if isinstance(fixed_points, FixedPoints):
        _check(system, params, [fixed_points])
        stacked = jax.tree.map(lambda a: np.asarray(a)[None], params)
        return _skeletons(system, stacked, [fixed_points], inputs, cfg)[0]
    if isinstance(fixed_points, (str, bytes)) or not isinstance(fixed_points, Sequence):
        raise ConfigError(
            "fixed_points must be a FixedPoints (one network) or a sequence of them, one per network of a "
            f"population (from find_fixed_points), got {type(fixed_points).__name__}."
        )
    fps = list(fixed_points)
    if not fps:
        raise ConfigError("fixed_points is an empty sequence; pass one FixedPoints per network of the population.")
    n = population_size(params)
    if len(fps) != n:
        raise ConfigError(
            f"fixed_points must hold one FixedPoints per network of params (n = {n}), got {len(fps)}; "
            "for one network pass its FixedPoints and unstacked params."
        )
    _check(system, one_network(params), fps)
    return _skeletons(system, params, fps, inputs, cfg)


def skeleton_population(
    model: Any, stacked_params: Any, fixed_points: Sequence[FixedPoints], inputs: Any = None, **options: Any
) -> list[nx.DiGraph]:
    """Deprecated: `skeleton` takes a population's stacked params and FixedPoints itself."""
    warnings.warn(
        "skeleton_population is deprecated and will be removed in the next release; call skeleton with the "
        "stacked params and the list of FixedPoints (it returns one graph per network).",
        DeprecationWarning, stacklevel=2,
    )
    return skeleton(model, stacked_params, list(fixed_points), inputs, **options)


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


def _nodes(fp: FixedPoints, system: System, inputs: Any, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `fp` that become nodes, and the input [I] they share."""
    if fp.continuous != system.continuous:
        raise ConfigError(
            f"fixed_points were found for a {'flow' if fp.continuous else 'map'} but the model is analysed as "
            f"a {'flow' if system.continuous else 'map'}; pass the same model (or continuous/alpha) to both."
        )
    ok = (fp.status == Result.CONVERGED) | (cfg.include_slow & (fp.status == Result.SLOW))
    if inputs is None:
        rows = np.unique(fp.inputs[ok], axis=0)
        if rows.shape[0] > 1:
            raise ConfigError(
                f"fixed_points hold points under {rows.shape[0]} different inputs; pass inputs=[I] to pick one."
            )
        u = rows[0] if rows.shape[0] else np.zeros(fp.inputs.shape[1], fp.states.dtype)
    else:
        u = np.asarray(inputs, dtype=fp.states.dtype)
        if u.shape != (fp.inputs.shape[1],):
            raise ConfigError(
                f"inputs must have shape ({fp.inputs.shape[1]},) like fixed_points.inputs rows, got {u.shape}."
            )
    # float32 inputs stored as float64 differ from a Python float by ~1e-9: compare loosely.
    same = np.all(np.isclose(fp.inputs, u, rtol=1e-6, atol=1e-6), axis=1)
    if inputs is not None and np.any(ok) and not np.any(ok & same):
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
    modes = mode_stability(w, system.continuous, system.alpha, tol, fp.status[rows] == Result.SLOW)
    return w, right, left, modes


def _skeletons(
    system: System,
    params: Any,
    fps: list[FixedPoints],
    inputs: Any,
    cfg: Config,
) -> list[nx.DiGraph]:
    selected = [_nodes(fp, system, inputs, cfg) for fp in fps]
    sizes = [rows.size for rows, _ in selected]
    size = bucket(max(sizes + [1]))
    dtype = fps[0].states.dtype
    states = np.stack([pad_rows(fp.states[rows], size) for fp, (rows, _) in zip(fps, selected)])
    inputs = np.stack([np.broadcast_to(u, (size, u.shape[0])) for _, u in selected]).astype(dtype)
    jac = jacobians(system, params, states, inputs, float64=cfg.float64)[0]
    eigs = [_modes(fp, rows, jac[i, : sizes[i]], system) for i, (fp, (rows, _)) in enumerate(zip(fps, selected))]
    deps = [departures(fp, rows, e, system, cfg.epsilon) for fp, (rows, _), e in zip(fps, selected, eigs)]
    n_dep = [start.shape[0] for _, start in deps]
    ends, periodic = np.zeros((len(fps), 0, 0)), np.zeros((len(fps), 0), bool)
    steps, caps = np.zeros(len(fps), int), np.zeros(len(fps), int)
    if max(n_dep):
        u = np.stack([u for _, u in selected])
        ends, periodic, steps, caps = simulate_departures(
            system, params, states, sizes, u, eigs, deps, [rows for rows, _ in selected], cfg
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
            dest = destination(ends[i, k], bool(periodic[i, k]), nodes, rows, cfg)
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
