"""Skeleton-graph distances on hand-built skeletons with hand-counted answers, and on the skeletons that
dynascope.dynamics finds for a 3-bit flip-flop map and a rotated copy of it."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest
from scipy.stats import special_ortho_group

from dynascope.compare import (
    index_counts,
    isomorphism_classes,
    signature_distance,
    topology_class,
    topology_distance,
)
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


def _flipflop_step(params, h, x):
    """A 3-bit flip-flop map in rotated coordinates: F(h) = Q tanh(W Qᵀ h).

    W = diag(2, 2.5, 3) plus a small fixed coupling. Each decoupled unit u ↦ tanh(g u) with g > 1 has two
    stable points ±u* and an unstable one at 0, so the map has the 3³ = 27 fixed points of the cube: 8 stable,
    12 index-1, 6 index-2, 1 index-3 saddle. The distinct gains keep every eigenvalue simple and the coupling
    keeps the axes from being invariant lines, so the unstable manifolds are generic and do not depend on
    which basis a degenerate eigenspace is given.
    """
    return params["q"] @ jnp.tanh(params["w"] @ (params["q"].T @ h))


def _flipflop_skeleton(q: np.ndarray) -> tuple[nx.DiGraph, np.ndarray]:
    from dynascope.dynamics import find_fixed_points, skeleton

    w = np.diag([2.0, 2.5, 3.0]) + 0.15 * np.random.default_rng(0).normal(size=(3, 3))
    params = {"q": jnp.asarray(q, jnp.float32), "w": jnp.asarray(w, jnp.float32)}
    grid = np.array(list(itertools.product(np.linspace(-1.2, 1.2, 5), repeat=3)))
    fps = find_fixed_points(_flipflop_step, params, np.zeros(1, np.float32), (grid @ q.T).astype(np.float32))
    return skeleton(_flipflop_step, params, fps, n_steps=500), fps.states


def test_flipflop_skeletons_differing_by_a_rotation_of_state_space_are_at_distance_zero():
    from dynascope.dynamics import signature

    q = special_ortho_group.rvs(3, random_state=1)
    plain, plain_states = _flipflop_skeleton(np.eye(3))
    rotated, rotated_states = _flipflop_skeleton(q)
    assert index_counts(plain) == index_counts(rotated) == {"0": 8, "1": 12, "2": 6, "3": 1}
    # The two networks really sit in different places: every rotated point is Q times a plain one, and
    # most are far from every plain point.
    gaps = np.linalg.norm(rotated_states[:, None] - plain_states[None], axis=-1).min(axis=1)
    assert np.sum(gaps > 0.1) >= 20
    to_plain = np.linalg.norm(rotated_states[:, None] - (plain_states @ q.T)[None], axis=-1).min(axis=1)
    np.testing.assert_array_less(to_plain, 1e-4)
    for kind in ("counts", "wl", "ged"):
        assert topology_distance(plain, rotated, kind=kind) == 0.0
    assert signature_distance(signature(plain), signature(rotated)) == 0.0
    assert topology_class(signature(plain)) == topology_class(signature(rotated))
    np.testing.assert_array_equal(isomorphism_classes([plain, rotated]), [0, 0])
    # ...while one saddle fewer (and its departures) is seen by every distance.
    fewer = plain.copy()
    fewer.remove_node(next(n for n, d in plain.nodes(data=True) if d["index"] == 1))
    for kind in ("counts", "wl", "ged"):
        assert topology_distance(plain, fewer, kind=kind) > 0.0
    assert signature_distance(signature(plain), signature(fewer)) > 0.0


def test_signature_distance_is_zero_within_a_topology_class_and_worked_by_hand_across():
    cube = {"counts": {0: 8, 1: 12, 2: 6, 3: 1}, "edges": [[1, 0]] * 24 + [[2, 0]] * 24 + [[3, 0]] * 6}
    fewer_departures = {"counts": {0: 8, 1: 12, 2: 6, 3: 1}, "edges": [[1, 0]] * 24 + [[2, 0]] * 22 + [[3, 0]] * 4}
    assert topology_class(cube) == topology_class(fewer_departures)
    assert signature_distance(cube, fewer_departures) == 0.0
    # 4 stable + 6 saddles, some departures unresolved: counts |8−4| + |12−6| + 6 + 1 = 17 of 27 + 10 points;
    # connection kinds {1→0, 2→0, 3→0} vs {1→0, 1→unresolved}: 1→0 shared, 3 of the 4 kinds differ.
    ghosts = {"counts": {0: 4, 1: 6}, "edges": [[1, 0]] * 9 + [[1, "unresolved"]]}
    assert signature_distance(cube, ghosts) == pytest.approx(0.5 * 17 / 37 + 0.5 * 3 / 4)
    assert signature_distance(ghosts, cube) == signature_distance(cube, ghosts)
