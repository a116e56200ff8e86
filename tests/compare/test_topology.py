"""Skeleton-graph distances on hand-built skeletons with hand-counted answers."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dynascope.compare import index_counts, isomorphism_classes, topology_distance
from dynascope.errors import ConfigError, ShapeError


def _two_bit_flipflop() -> nx.DiGraph:
    """2-bit flip-flop skeleton: 4 stable corners, 4 index-1 saddles between them, 1 index-2 saddle."""
    g = nx.DiGraph()
    corners = ["00", "01", "10", "11"]
    g.add_nodes_from(corners, index=0)
    for a, b in [("00", "01"), ("00", "10"), ("01", "11"), ("10", "11")]:
        g.add_node(f"s{a}{b}", index=1)
        g.add_edges_from([(f"s{a}{b}", a), (f"s{a}{b}", b)])
        g.add_edge("centre", f"s{a}{b}")
    g.nodes["centre"]["index"] = 2
    g.add_node("far", index=-1, kind="unbounded")
    g.add_edge("centre", "far")
    return g


def _relabelled(g: nx.DiGraph, seed: int) -> nx.DiGraph:
    """Same skeleton, new node names and insertion order: what a rotated copy of the network gives."""
    nodes = list(g.nodes)
    order = np.random.default_rng(seed).permutation(len(nodes))
    names = {nodes[i]: f"fp{k}" for k, i in enumerate(order)}
    h = nx.DiGraph()
    h.add_nodes_from((names[nodes[i]], dict(g.nodes[nodes[i]])) for i in order)
    h.add_edges_from((names[u], names[v]) for u, v in reversed(list(g.edges)))
    return h


@pytest.mark.parametrize("kind", ["counts", "wl", "ged"])
def test_relabelled_skeleton_is_at_distance_zero(kind):
    g = _two_bit_flipflop()
    assert topology_distance(g, _relabelled(g, 0), kind=kind) == 0.0


def test_different_index_counts_are_apart_by_hand_counted_amounts():
    g = _two_bit_flipflop()
    h = g.copy()
    h.remove_node("s0001")  # one saddle and its 3 edges fewer
    assert index_counts(g) == {"0": 4, "1": 4, "2": 1, "terminal:unbounded": 1}
    assert topology_distance(g, h, kind="counts") == pytest.approx(1 / (10 + 9))
    assert topology_distance(g, h, kind="ged") == 4.0
    assert 0.0 < topology_distance(g, h, kind="wl") <= 1.0


def test_wl_separates_wiring_that_counts_cannot():
    g = _two_bit_flipflop()
    h = g.copy()
    # Same nodes and edge count, but one saddle now ends in another corner: '10' is fed by three saddles.
    h.remove_edge("s0001", "01")
    h.add_edge("s0001", "10")
    assert topology_distance(g, h, kind="counts") == 0.0
    assert topology_distance(g, h, kind="wl") > 0.0
    assert topology_distance(g, h, kind="ged") == 2.0  # delete one edge, insert one


def test_terminal_kinds_are_distinguished():
    g = _two_bit_flipflop()
    h = g.copy()
    h.nodes["far"]["kind"] = "cycle"
    assert topology_distance(g, h, kind="counts") == pytest.approx(2 / 20)
    assert topology_distance(g, h, kind="ged") == 1.0  # substitute one node label


def test_skeleton_module_conventions_are_read_the_same_way():
    # dynamics.skeleton marks terminals with terminal=True, index=None and names them by label; the
    # stability kind of a fixed point ('saddle', 'stable node') is not part of the comparison.
    g = _two_bit_flipflop()
    h = g.copy()
    del h.nodes["far"]["kind"]
    h.nodes["far"].update(index=None, terminal=True, label="unbounded")
    for n, data in h.nodes(data=True):
        if not data.get("terminal"):
            data.update(kind="saddle" if data["index"] else "stable node", terminal=False)
    assert index_counts(h) == index_counts(g)
    for kind in ("counts", "wl", "ged"):
        assert topology_distance(g, h, kind=kind) == 0.0


def test_isomorphism_classes_group_relabelled_copies():
    g = _two_bit_flipflop()
    h = g.copy()
    h.remove_node("s0001")
    labels = isomorphism_classes([g, _relabelled(g, 1), h, _relabelled(h, 2), _relabelled(g, 3)])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 0])


def test_errors_name_the_argument():
    g = nx.DiGraph()
    g.add_node("a")
    with pytest.raises(ShapeError, match="node 'a' has no 'index' attribute"):
        topology_distance(g, g)
    with pytest.raises(ConfigError, match="kind must be one of 'counts', 'wl', 'ged', got 'spectral'"):
        topology_distance(_two_bit_flipflop(), _two_bit_flipflop(), kind="spectral")
    with pytest.raises(ShapeError, match="must be a networkx graph, got list"):
        topology_distance([], _two_bit_flipflop())
