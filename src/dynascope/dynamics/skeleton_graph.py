"""What the nodes of a skeleton graph mean when skeletons are compared, and the graph's one hash.

A skeleton (`dynamics.skeleton`) is a `networkx.DiGraph` whose fixed-point nodes carry `index` (the number of
unstable directions) and whose terminal nodes (where an unstable manifold ends without reaching a fixed
point) carry `terminal=True`. Compared, each node is known by its label alone — its index, or
'terminal:<kind>' — never by its name, state or stability, so a rotated copy of a network has the same
skeleton. `wl_hash` is the one hash of that labelled structure: `signature` stores it, the run catalog's
`skeletons` table holds it, and `compare.topology` buckets and compares skeletons by it.
"""

from __future__ import annotations

import warnings

import networkx as nx

from dynascope.errors import ShapeError

__all__ = ["TERMINAL_KINDS", "node_label", "wl_hash"]

#: Terminal kinds a skeleton node may name (`kind`, or its `label` / node name for the last three).
TERMINAL_KINDS = ("fixed_point", "unbounded", "cycle", "unresolved")


def node_label(node: object, data: dict) -> str:
    """The label a skeleton node is compared by.

    Its index as text ('0', '1', ...) for a fixed point, and 'terminal:<kind>' for a terminal (a node
    with `terminal=True`, or an `index` of None or −1), the kind being its `kind` if that is one of
    `TERMINAL_KINDS`, else its `label`, else its name.

    Args:
        node: the node's name in the graph.
        data: the node's attribute dict (`graph.nodes[node]`).

    Returns:
        The label string.

    Raises:
        ShapeError: a non-terminal node has no `index`.
    """
    if "index" not in data and not data.get("terminal"):
        raise ShapeError(
            f"skeleton node {node!r} has no 'index' attribute (number of unstable directions; None or −1 "
            f"for terminals); build skeletons with dynascope.dynamics or set graph.nodes[n]['index']."
        )
    index = data.get("index")
    if not data.get("terminal") and index is not None and int(index) >= 0:
        return str(int(index))
    kind = data.get("kind")
    name = kind if kind in TERMINAL_KINDS else data.get("label", node)
    return f"terminal:{name}"


def wl_hash(graph: nx.Graph, iterations: int = 3) -> str:
    """Weisfeiler–Lehman hash of a skeleton, with every node labelled by `node_label`.

    Edge weights and node names are ignored; equal for isomorphic skeletons, and almost surely different
    otherwise. This is the hash the `skeletons` catalog table stores and `compare.topology` uses.

    Args:
        graph: a skeleton (`networkx` graph, directed or not).
        iterations: Weisfeiler–Lehman refinement rounds.

    Returns:
        The hash as a hex string.

    Raises:
        ShapeError: `graph` is not a networkx graph, or a non-terminal node has no `index`.

    Reference: Shervashidze et al. 2011 (Weisfeiler–Lehman graph kernels).
    """
    if not isinstance(graph, nx.Graph):
        raise ShapeError(f"a skeleton must be a networkx graph, got {type(graph).__name__}.")
    labelled = nx.DiGraph() if graph.is_directed() else nx.Graph()
    labelled.add_nodes_from((n, {"label": node_label(n, d)}) for n, d in graph.nodes(data=True))
    labelled.add_edges_from(graph.edges())
    with warnings.catch_warnings():
        # networkx >= 3.5 notes that its directed hashes changed in that version: informational (catalogs
        # analysed with different networkx versions may hold different hashes of one skeleton).
        warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")
        return nx.weisfeiler_lehman_graph_hash(labelled, node_attr="label", iterations=iterations)
