"""skeleton and signature on flows whose saddles, attractors and unstable manifolds are known by hand."""

from __future__ import annotations

import itertools
import json
from math import comb

import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

from dynascope.dynamics import (
    FixedPointOptions,
    find_fixed_points,
    signature,
    skeleton,
)
from dynascope.errors import ConfigError

FAST = FixedPointOptions(descent_steps=0, newton_steps=60)
U0 = np.zeros(1, np.float32)


def bistable(p, s, x):
    """Euler step (alpha 0.1) of ẋ = a(x − x³), ẏ = −y: saddle (0, 0), stable nodes (±1, 0)."""
    return s + 0.1 * jnp.stack([p["a"] * (s[0] - s[0] ** 3), -s[1]])


def bistable_swapped(p, s, x):
    """The same flow with the coordinates exchanged: an isomorphic skeleton."""
    return s + 0.1 * jnp.stack([-s[0], p["a"] * (s[1] - s[1] ** 3)])


def cube(p, s, x):
    """Euler step of ẋ_i = c_i (x_i − x_i³), c = (1, 1.5, 2): the 3-bit flip-flop's cube of 27 fixed points."""
    return s + 0.1 * jnp.array([1.0, 1.5, 2.0]) * (s - s**3)


def hopf(p, s, x):
    """Euler step (alpha 0.05) of ṙ = r(1 − r²), θ̇ = 1: an unstable focus at 0 inside a stable limit cycle."""
    r2 = s[0] ** 2 + s[1] ** 2
    return s + 0.05 * jnp.stack([s[0] * (1 - r2) - s[1], s[1] * (1 - r2) + s[0]])


def source(p, s, x):
    """Euler step of ẋ = x: the origin repels everything to infinity."""
    return s + 0.1 * s


def _points(step, seeds, params=None, **kw):
    return find_fixed_points(step, params, U0, seeds, options=FAST, continuous=True, alpha=0.1, **kw)


SEEDS_2D = np.random.default_rng(0).uniform(-1.5, 1.5, size=(16, 2))


def flipflop_counts(n_bits: int) -> dict[int, int]:
    """Fixed points of the ideal N-bit flip-flop by index: C(N, k)·2^(N−k) with k unstable directions
    (a cube: each bit is −1, +1, or at the saddle between them). For the lead's trained flip-flop checks."""
    return {k: comb(n_bits, k) * 2 ** (n_bits - k) for k in range(n_bits + 1)}


def test_flipflop_counts_by_hand():
    assert flipflop_counts(1) == {0: 2, 1: 1}
    assert flipflop_counts(3) == {0: 8, 1: 12, 2: 6, 3: 1}  # DESIGN.md: 8 stable, 12, 6, 1


def test_bistable_saddle_connects_to_both_attractors():
    fp = _points(bistable, SEEDS_2D, {"a": jnp.float32(1.0)})
    g = skeleton(bistable, {"a": jnp.float32(1.0)}, fp, continuous=True, alpha=0.1)
    assert isinstance(g, nx.DiGraph) and g.number_of_nodes() == 3
    saddle = next(n for n, d in g.nodes(data=True) if d["index"] == 1)
    assert np.allclose(g.nodes[saddle]["state"], [0, 0], atol=1e-12) and g.nodes[saddle]["kind"] == "saddle"
    ends = {tuple(np.round(g.nodes[b]["state"], 9) + 0.0) for _, b in g.out_edges(saddle)}
    assert ends == {(1.0, 0.0), (-1.0, 0.0)}
    for _, b, data in g.out_edges(saddle, data=True):
        (dep,) = data["departures"]
        assert data["weight"] == 1 and dep["direction"] == 0 and dep["eigval"] == pytest.approx(1.0)
        assert g.nodes[b]["stable"] and g.nodes[b]["index"] == 0
    assert sorted(dep["sign"] for _, _, deps in g.out_edges(saddle, data="departures") for dep in deps) == [-1, 1]
    assert g.out_degree(saddle) == 2 and sum(g.out_degree(n) for n in g if n != saddle) == 0
    sig = signature(g)
    assert sig["counts"] == {0: 2, 1: 1} and sig["n_fixed_points"] == 3
    assert sig["edges"] == [[1, 0], [1, 0]] and sig["terminals"] == {}
    assert json.loads(json.dumps(sig))["counts"] == {"0": 2, "1": 1}


def test_signature_is_invariant_to_relabelling_and_tells_different_skeletons_apart():
    a = _points(bistable, SEEDS_2D, {"a": jnp.float32(1.0)})
    b = _points(bistable_swapped, SEEDS_2D, {"a": jnp.float32(2.0)})
    ga = skeleton(bistable, {"a": jnp.float32(1.0)}, a, continuous=True, alpha=0.1)
    gb = skeleton(bistable_swapped, {"a": jnp.float32(2.0)}, b, continuous=True, alpha=0.1)
    sa, sb = signature(ga), signature(gb)
    assert sa == sb
    g = nx.relabel_nodes(ga, {n: f"p{n}" for n in ga})
    assert signature(g)["wl_hash"] == sa["wl_hash"]
    ga.remove_edge(*next(iter(ga.edges)))
    assert signature(ga)["wl_hash"] != sa["wl_hash"]


def test_cube_skeleton_follows_the_unstable_manifolds():
    # The flow is decoupled: at a fixed point the Jacobian is diag(c_i(1 − 3x_i²)), so the unstable modes
    # are the axes where x_i = 0, with eigenvalue c_i (distinct, so each eigenvalue names its axis).
    # Leaving along axis i keeps every ±1 coordinate and sends x_i to +1 on one side and −1 on the other.
    c = np.array([1.0, 1.5, 2.0])
    rng = np.random.default_rng(5)
    corners = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    seeds = corners[rng.integers(0, 8, 32)] + 0.05 * rng.normal(size=(32, 3))
    fp = _points(cube, seeds, saddle_seeds_per_pair=1)
    g = skeleton(cube, None, fp, continuous=True, alpha=0.1)
    sig = signature(g)
    assert sig["counts"] == flipflop_counts(3) and sig["terminals"] == {}
    for node, data in g.nodes(data=True):
        s = data["state"]
        zeros = np.flatnonzero(np.abs(s) < 0.5)
        assert data["index"] == len(zeros)
        ends_by_axis: dict[int, list[float]] = {int(k): [] for k in zeros}
        for _, dest, d in g.out_edges(node, data=True):
            end = g.nodes[dest]["state"]
            assert g.nodes[dest]["index"] < data["index"]
            for dep in d["departures"]:
                axis = int(zeros[np.argmin(np.abs(c[zeros] - dep["eigval"].real))])
                assert dep["eigval"] == pytest.approx(c[axis], abs=1e-9)
                np.testing.assert_allclose(np.delete(end, zeros), np.delete(s, zeros), atol=1e-6)
                ends_by_axis[axis].append(round(float(end[axis]), 6))
        assert all(sorted(v) == [-1.0, 1.0] for v in ends_by_axis.values())
        if data["index"] == 1:  # an edge saddle leads to the two corners next to it
            assert all(g.nodes[b]["stable"] for _, b in g.out_edges(node))
    assert sig["edges"].count([1, 0]) == 24 and len(sig["edges"]) == 12 * 2 + 6 * 4 + 1 * 6


def test_terminal_nodes_unbounded_cycle_unresolved():
    fp = _points(source, np.random.default_rng(1).normal(size=(4, 1)))
    sig = signature(skeleton(source, None, fp, continuous=True, alpha=0.1))
    assert sig["counts"] == {1: 1} and sig["terminals"] == {"unbounded": 2}
    assert sig["edges"] == [[1, "unbounded"], [1, "unbounded"]]

    fp = find_fixed_points(hopf, None, U0, 0.3 * np.random.default_rng(2).normal(size=(8, 2)), options=FAST,
                           continuous=True, alpha=0.05)
    assert len(fp) == 1 and fp.n_unstable[0] == 2  # 1 ± i: an unstable focus
    g = skeleton(hopf, None, fp, continuous=True, alpha=0.05)
    assert g.nodes[0]["kind"] == "unstable focus"
    assert signature(g)["terminals"] == {"cycle": 2}  # one plane, both signs, onto the unit circle

    fp = _points(bistable, SEEDS_2D, {"a": jnp.float32(1.0)})
    g = skeleton(bistable, {"a": jnp.float32(1.0)}, fp, n_steps=4, max_steps=4, continuous=True, alpha=0.1)
    assert signature(g)["terminals"] == {"unresolved": 2}  # 4 steps from 1e-3 get nowhere
    assert g.graph["steps"] == 4


def slow_bistable(p, s, x):
    """A map, not a flow: x' = x + c(x − x³), y' = (1 − c)·y. Saddle (0, 0) with eigenvalues 1 + c and 1 − c,
    stable nodes (±1, 0) with 1 − 2c and 1 − c: with c = 1e-3, as slow as a GRU's saturated update gate."""
    c = p["c"]
    return jnp.stack([s[0] + c * (s[0] - s[0] ** 3), (1.0 - c) * s[1]])


def _steps_to_node(c: float, epsilon: float, tol: float) -> int:
    """Steps of x' = x + c(x − x³) from x = epsilon until |x − 1| ≤ tol, by NumPy."""
    x, n = epsilon, 0
    while abs(x - 1.0) > tol:
        x, n = x + c * (x - x**3), n + 1
    return n


def test_slow_dynamics_skeleton_runs_on_until_the_departures_reach_their_nodes():
    p = {"c": jnp.float32(1e-3)}
    seeds = np.random.default_rng(0).uniform(-1.5, 1.5, size=(16, 2))
    fp = find_fixed_points(slow_bistable, p, U0, seeds, options=FAST)
    assert len(fp) == 3 and sorted(fp.n_unstable.tolist()) == [0, 0, 1]
    c = float(np.float32(1e-3))
    needed = _steps_to_node(c, 1e-3, 1e-2 * 2.0)  # within match_tol·(1 + ‖x*‖) of (1, 0)
    assert needed > 2000  # more than the default n_steps: a single run of n_steps ends 'unresolved'
    g = skeleton(slow_bistable, p, fp)
    sig = signature(g)
    assert sig["terminals"] == {} and sig["edges"] == [[1, 0], [1, 0]]
    saddle = next(n for n, d in g.nodes(data=True) if d["index"] == 1)
    ends = sorted(float(g.nodes[b]["state"][0]) for _, b in g.out_edges(saddle))
    np.testing.assert_allclose(ends, [-1.0, 1.0], atol=1e-12)
    # chunks of n_steps until both have arrived: the first chunk boundary at or after the NumPy count
    assert g.graph["steps"] == 2000 * -(-needed // 2000)
    capped = skeleton(slow_bistable, p, fp, max_steps=2000)
    assert signature(capped)["terminals"] == {"unresolved": 2} and capped.graph["steps"] == 2000


def test_default_cap_follows_the_slowest_modes_past_32_chunks():
    # n_steps = 100: 32 chunks (3200 steps) are far too few for c = 1e-3, whose departures need ~7000.
    p = {"c": jnp.float32(1e-3)}
    seeds = np.random.default_rng(0).uniform(-1.5, 1.5, size=(16, 2))
    fp = find_fixed_points(slow_bistable, p, U0, seeds, options=FAST)
    c = float(np.float32(1e-3))
    needed = _steps_to_node(c, 1e-3, 1e-2 * 2.0)
    assert needed > 3200
    g = skeleton(slow_bistable, p, fp, n_steps=100)
    assert signature(g)["terminals"] == {} and signature(g)["edges"] == [[1, 0], [1, 0]]
    assert g.graph["steps"] == 100 * -(-needed // 100)
    assert needed <= g.graph["max_steps"] <= 256 * 100


def test_default_cap_of_a_flow_is_set_by_its_slow_mode_not_by_a_focus_its_euler_step_grows():
    # ẋ = 1e-3·(x − x³) beside a (y, z) focus −0.01 ± 1i, Euler step alpha = 0.1. The focus decays for the
    # flow but its step multiplier is |1 + 0.1(−0.01 ± 1i)| = √(0.999² + 0.01) > 1 (closed form): the map
    # that runs spirals out of every fixed point, so the points x = ±1 are index 2 and x = 0 index 3, each
    # flagged as judged differently by the flow. The fast focus must not set the cap; the slow x-mode must.
    def flow(p, s, x):
        f = jnp.stack([1e-3 * (s[0] - s[0] ** 3), -0.01 * s[1] - s[2], s[1] - 0.01 * s[2]])
        return s + 0.1 * f

    assert (1 - 0.1 * 0.01) ** 2 + 0.1**2 > 1.0
    seeds = np.array([[0.0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0], [0.1, 0.01, 0], [0.9, 0, 0.01], [-0.9, 0, 0]])
    fp = find_fixed_points(flow, None, U0, seeds.astype(np.float32), options=FAST, continuous=True, alpha=0.1)
    order = np.argsort(fp.states[:, 0])
    np.testing.assert_allclose(fp.states[order, 0], [-1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_array_equal(fp.n_unstable[order], [2, 3, 2])
    assert fp.flow_map_disagree.all()
    g = skeleton(flow, None, fp, n_steps=1000, continuous=True, alpha=0.1)
    saddle, left, right = (int(i) for i in order[[1, 0, 2]])
    # both x-departures of the saddle x = 0 reach x = ±1 (the flow is odd in x): NumPy ground truth is the
    # same map, x' = x + 1e-4·(x − x³), from 1e-3 to within 1e-2·2 of 1; every focus departure spirals out
    # and ends at a terminal node, never at a fixed point
    assert g.has_edge(saddle, left) and g.has_edge(saddle, right)
    for a, b, data in g.edges(data=True):
        x_mode = all(d["eigval"].imag == 0 for d in data["departures"])
        assert x_mode == (not g.nodes[b].get("terminal")), (a, b, data)
    assert g.graph["steps"] == 1000 * -(-_steps_to_node(1e-4, 1e-3, 1e-2 * 2.0) // 1000)


def test_population_skeletons_of_fast_and_slow_networks_equal_one_by_one():
    # one network settles in the first chunk, the other needs dozens: it runs on alone.
    stacked = {"c": jnp.asarray([1e-1, 1e-3], jnp.float32)}
    seeds = np.random.default_rng(0).uniform(-1.5, 1.5, size=(16, 2))
    # one set of seeds per network says "population": with two networks of two state coordinates the step
    # could also take the two scalars as one network's per-coordinate c
    pop = find_fixed_points(slow_bistable, stacked, U0, np.stack([seeds, seeds]), options=FAST)
    graphs = skeleton(slow_bistable, stacked, pop, n_steps=100)
    steps = [g.graph["steps"] for g in graphs]
    assert steps[0] == 100 and steps[1] > 3200
    for i, c in enumerate([1e-1, 1e-3]):
        one = skeleton(slow_bistable, {"c": jnp.float32(c)}, pop[i], n_steps=100)
        # by the symmetry x -> -x, the saddle's two departures reach the two stable points
        assert signature(one)["terminals"] == {} and signature(one)["edges"] == [[1, 0], [1, 0]]
        assert signature(graphs[i]) == signature(one)
        assert one.graph["steps"] == steps[i]
        for a, b in one.edges:
            assert graphs[i].edges[a, b]["weight"] == one.edges[a, b]["weight"]


def test_population_skeletons_equal_one_by_one():
    stacked = {"a": jnp.asarray([1.0, 3.0], jnp.float32)}
    pop = find_fixed_points(bistable, stacked, U0, np.stack([SEEDS_2D, SEEDS_2D]), options=FAST, continuous=True,
                            alpha=0.1)
    graphs = skeleton(bistable, stacked, pop, continuous=True, alpha=0.1)
    for i, a in enumerate([1.0, 3.0]):
        one = skeleton(bistable, {"a": jnp.float32(a)}, pop[i], continuous=True, alpha=0.1)
        assert signature(graphs[i]) == signature(one)
        assert sorted(graphs[i].edges) == sorted(one.edges)


def test_skeleton_errors():
    p = {"a": jnp.float32(1.0)}
    fp = _points(bistable, SEEDS_2D, p)
    with pytest.raises(ConfigError, match=r"fixed_points were found for a flow but the model is analysed as a map"):
        skeleton(bistable, p, fp)
    with pytest.raises(ConfigError, match=r"inputs must have shape \(1,\) like fixed_points.inputs rows, got \(2,\)"):
        skeleton(bistable, p, fp, np.zeros(2), continuous=True, alpha=0.1)
    with pytest.raises(ConfigError, match=r"no fixed point .* has the input \[0.5\]; its inputs are \[\[0.0\]\]"):
        skeleton(bistable, p, fp, np.array([0.5]), continuous=True, alpha=0.1)
    assert skeleton(bistable, p, fp, np.array([0.0]), continuous=True, alpha=0.1).number_of_nodes() == 3
    with pytest.raises(ConfigError, match=r"n_steps must be an integer ≥ 4"):
        skeleton(bistable, p, fp, n_steps=2, continuous=True, alpha=0.1)
    with pytest.raises(ConfigError, match=r"max_steps must be None \(chosen from the slowest modes, 32–256·n_steps\) or an integer ≥ n_steps = 100"):
        skeleton(bistable, p, fp, n_steps=100, max_steps=50, continuous=True, alpha=0.1)
    with pytest.raises(ConfigError, match=r"fixed_points must be a FixedPoints"):
        skeleton(bistable, p, fp.states, continuous=True, alpha=0.1)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'steps'"):
        skeleton(bistable, {"a": jnp.ones(2)}, [fp, fp], steps=10, continuous=True, alpha=0.1)
    with pytest.raises(ConfigError, match=r"one FixedPoints per network of params \(n = 2\), got 1"):
        skeleton(bistable, {"a": jnp.ones(2)}, [fp], continuous=True, alpha=0.1)
    with pytest.raises(ConfigError, match=r"fixed_points is an empty sequence"):
        skeleton(bistable, {"a": jnp.ones(2)}, [], continuous=True, alpha=0.1)
