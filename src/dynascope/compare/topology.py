"""Distances between dynamical skeletons: graphs of fixed points and the connections between them.

A skeleton is a `networkx.DiGraph` whose fixed-point nodes carry `index` (number of unstable
directions) and whose terminal nodes (where an unstable manifold ends without reaching a fixed point)
are marked by `terminal=True` or an `index` of None or −1, and named by their `kind` ('fixed_point',
'unbounded', 'cycle', 'unresolved') or else their `label` or node name, as `dynamics.skeleton` makes
them. Each node is compared by that label alone: node names, states, stability kinds and edge weights
are ignored, so a rotated copy of a network has the same skeleton. Maheswaranathan et al. 2019 found this topology universal across
architectures while the geometry (CCA) of the same networks was not.
"""

from __future__ import annotations

import collections
import warnings

import networkx as nx
import numpy as np

from dynascope.compare._registry import SIGNATURES, TOPOLOGY, register_metric
from dynascope.dynamics.skeleton_graph import node_label, wl_hash  # one labelling, one hash, with the catalog
from dynascope.errors import ConfigError, ShapeError

KINDS = ("counts", "wl", "ged")
_LABEL = "_dynascope_label"
_NODE_MATCH = nx.algorithms.isomorphism.categorical_node_match(_LABEL, None)


def _labelled(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of the structure with one string label per node: its index, or its kind for terminals."""
    if not isinstance(graph, nx.Graph):
        raise ShapeError(f"a skeleton must be a networkx graph, got {type(graph).__name__}.")
    out = nx.DiGraph() if graph.is_directed() else nx.Graph()
    out.add_nodes_from((n, {_LABEL: node_label(n, d)}) for n, d in graph.nodes(data=True))
    out.add_edges_from(graph.edges())
    return out


def _label_counts(labelled: nx.DiGraph) -> collections.Counter:
    return collections.Counter(nx.get_node_attributes(labelled, _LABEL).values())


def index_counts(graph: nx.DiGraph) -> collections.Counter:
    """Nodes per label in a skeleton: '0', '1', ... by index, and 'terminal:<kind>' for terminal nodes.

    Args:
        graph: a skeleton graph (`dynascope.dynamics.skeleton_graph`).

    Returns:
        `collections.Counter` {label: node count}.
    """
    return _label_counts(_labelled(graph))


def _counts_distance(l1: nx.DiGraph, l2: nx.DiGraph) -> float:
    c1, c2 = _label_counts(l1), _label_counts(l2)
    total = sum(c1.values()) + sum(c2.values())
    if total == 0:
        return 0.0
    return sum(abs(c1[k] - c2[k]) for k in set(c1) | set(c2)) / total


def _wl_features(g: nx.DiGraph, iterations: int) -> collections.Counter:
    """Multiset of Weisfeiler–Lehman subtree labels of every node at depths 0..iterations."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")
        hashes = nx.weisfeiler_lehman_subgraph_hashes(
            g, node_attr=_LABEL, iterations=iterations, include_initial_labels=True
        )
    return collections.Counter(h for per_node in hashes.values() for h in per_node)


def _wl_distance(g1: nx.DiGraph, g2: nx.DiGraph, l1: nx.DiGraph, l2: nx.DiGraph, iterations: int) -> float:
    """WL distance of skeletons `g1`, `g2`, whose labelled copies are `l1`, `l2`."""
    if wl_hash(g1, iterations) == wl_hash(g2, iterations):
        return 0.0
    f1, f2 = _wl_features(l1, iterations), _wl_features(l2, iterations)
    dot = sum(f1[k] * f2[k] for k in f1.keys() & f2.keys())
    norm = np.sqrt(sum(v * v for v in f1.values()) * sum(v * v for v in f2.values()))
    # Different hashes but identical features cannot happen for a deterministic hash; the floor keeps
    # the distance strictly positive when the graphs are distinguishable.
    return max(1.0 - dot / norm, np.finfo(np.float64).eps) if norm > 0 else 1.0


def _ged(g1: nx.DiGraph, g2: nx.DiGraph, timeout: float) -> float:
    # An exact isomorphism test first: it takes milliseconds where the edit-path search, on skeletons of a
    # few dozen nodes, can stop at its timeout with a non-zero upper bound for two isomorphic graphs.
    if nx.is_isomorphic(g1, g2, node_match=_NODE_MATCH):
        return 0.0
    cost = nx.graph_edit_distance(g1, g2, node_match=_NODE_MATCH, timeout=timeout)
    if cost is None:
        # No complete edit path within the timeout: fall back to deleting one graph and inserting the other.
        cost = g1.number_of_nodes() + g1.number_of_edges() + g2.number_of_nodes() + g2.number_of_edges()
    return float(cost)


def topology_distance(
    g1: nx.DiGraph,
    g2: nx.DiGraph,
    *,
    kind: str = "counts",
    wl_iterations: int = 3,
    timeout: float = 5.0,
) -> float:
    """Distance between two skeleton graphs (Python float, 0 for isomorphic skeletons).

    Args:
        g1, g2: skeletons (`networkx.DiGraph` with node attribute `index`, and `kind` on terminals).
        kind: 'counts': Σ_label |n₁(label) − n₂(label)| / (N₁ + N₂) in [0, 1] over the node labels
            (index, or terminal kind); 'wl': 0 if the Weisfeiler–Lehman graph hashes agree, else
            1 − cosine similarity of the WL subtree-label histograms, in (0, 1]; 'ged': graph edit
            distance (unit costs, nodes must match in label): exactly 0 for isomorphic skeletons,
            otherwise the best edit path found within `timeout` seconds (an upper bound) —
            exponential in the worst case, so for small skeletons only.
        wl_iterations: WL refinement depth for 'wl'.
        timeout: seconds allowed to 'ged'.

    References: Shervashidze et al. 2011 (Weisfeiler–Lehman graph kernels); Abu-Aisheh et al. 2015
    (exact graph edit distance); Maheswaranathan, Williams, Golub, Ganguli & Sussillo 2019.
    """
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}.")
    l1, l2 = _labelled(g1), _labelled(g2)
    if kind == "counts":
        return _counts_distance(l1, l2)
    if kind == "wl":
        if isinstance(wl_iterations, bool) or not isinstance(wl_iterations, int) or wl_iterations < 1:
            raise ConfigError(f"wl_iterations must be a positive integer, got {wl_iterations!r}.")
        return _wl_distance(g1, g2, l1, l2, wl_iterations)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    return _ged(l1, l2, float(timeout))


def isomorphism_classes(graphs: list[nx.DiGraph]) -> np.ndarray:
    """Group skeletons by isomorphism (structure and node labels): an integer class per graph.

    Classes are numbered 0, 1, ... in order of first appearance. Graphs are bucketed by
    Weisfeiler–Lehman hash first, so exact isomorphism tests only run within a bucket.

    Args:
        graphs: n skeleton graphs.

    Returns:
        `np.ndarray [n]` int64 class per graph.
    """
    labelled = [_labelled(g) for g in graphs]
    buckets: dict[str, list[tuple[int, nx.DiGraph]]] = collections.defaultdict(list)
    labels = np.empty(len(labelled), dtype=np.int64)
    next_class = 0
    for i, g in enumerate(labelled):
        bucket = buckets[wl_hash(graphs[i])]
        for cls, rep in bucket:
            if nx.is_isomorphic(g, rep, node_match=_NODE_MATCH):
                labels[i] = cls
                break
        else:
            bucket.append((next_class, g))
            labels[i] = next_class
            next_class += 1
    return labels


def _multiset_l1(a: collections.Counter, b: collections.Counter) -> tuple[int, int]:
    return sum(abs(a[k] - b[k]) for k in set(a) | set(b)), sum(a.values()) + sum(b.values())


def _signature_parts(sig: dict) -> tuple[collections.Counter, set[str]]:
    """Fixed points per index, and the kinds of connection ('from->to') however many departures take each."""
    try:
        counts = collections.Counter({str(int(k)): int(v) for k, v in sig["counts"].items()})
        return counts, {f"{a}->{b}" for a, b in sig["edges"]}
    except (KeyError, TypeError, ValueError) as err:
        raise ShapeError(
            f"a skeleton signature needs 'counts' {{index: n}} and 'edges' [[from, to], ...] as "
            f"dynascope.dynamics.signature returns, got keys {sorted(sig) if isinstance(sig, dict) else sig!r}."
        ) from err


def signature_distance(s1: dict, s2: dict) -> float:
    """Distance in [0, 1] between two skeleton signatures; 0 exactly when they share a `topology_class`.

    ½·(L1 distance of the fixed-point counts by index)/(N₁ + N₂) + ½·(Jaccard distance of the sets of
    connection kinds, index_from → index_to or terminal). Like the class, it ignores how many departures
    take each route. Needs only the stored signature, not the graph, so whole populations are compared
    straight from a run's catalog.

    Args:
        s1: a signature (`dynascope.dynamics.signature`, or the JSON the `skeletons` catalog table stores).
        s2: another signature.

    Returns:
        The distance, a Python float.

    Raises:
        ShapeError: a signature that is not of that form.
    """
    c1, k1 = _signature_parts(s1)
    c2, k2 = _signature_parts(s2)
    dc, nc = _multiset_l1(c1, c2)
    union = k1 | k2
    return 0.5 * (dc / nc if nc else 0.0) + 0.5 * (len(k1 ^ k2) / len(union) if union else 0.0)


def topology_class(sig: dict) -> str:
    """A skeleton signature's topology class, as text: fixed points by index and the kinds of connection.

    E.g. '0:8 1:12 2:6 3:1 | 1->0 2->0 3->0' for the 3-bit flip-flop cube. Two networks share a class when
    they have the same number of fixed points of each index and their saddles' unstable manifolds reach
    the same kinds of target (an index, or a terminal such as 'unbounded'), however many departures take
    each route — a count that depends on eigenvalue multiplicities and numerical detail, not topology.
    This is the class whose modal share `study` reports.

    Args:
        sig: a signature (`dynascope.dynamics.signature`, or the JSON the `skeletons` table stores).

    Returns:
        The class string.

    Raises:
        ShapeError: a signature that is not of that form.

    Reference: Maheswaranathan et al. 2019 (universality of fixed-point topologies).
    """
    counts, edges = _signature_parts(sig)
    c = " ".join(f"{k}:{counts[k]}" for k in sorted(counts, key=int))
    e = " ".join(sorted(edges))
    return f"{c} | {e}" if e else c


def signatures_class(sigs: list[dict]) -> str:
    """A network's topology class under every analysis input: the `topology_class` of each of its skeleton
    signatures `sigs` (one per analysis input, in input order), joined by ' || '."""
    return " || ".join(topology_class(s) for s in sigs)


@register_metric(
    "topology", kind=TOPOLOGY, units="unitless", takes=SIGNATURES, jit=False, classify=signatures_class,
    description="distance between skeleton signatures",
    invariant_to="everything but the skeleton's graph: where the fixed points lie, the units' basis, timescales",
)
def signatures_distance(a: list[dict], b: list[dict]) -> float:
    """Distance in [0, 1] between two networks' skeletons under every analysis input.

    The mean `signature_distance` over the inputs; 1 when the two were analysed under different numbers
    of inputs (nothing to pair), 0 when both have none.

    Args:
        a: one network's signatures, one per analysis input, in input order.
        b: the other network's signatures, in the same order.

    Returns:
        The distance, a Python float.

    Raises:
        ShapeError: a signature that is not of the stored form.
    """
    if len(a) != len(b):
        return 1.0
    if not a:
        return 0.0
    return float(np.mean([signature_distance(x, y) for x, y in zip(a, b)]))
