"""One stability rule, for the map that runs: slow points are marginal, Euler maps of flows judged as they run.

Ground truth: closed forms. A saddle-node ghost x ↦ x + r + x² (r > 0) has no fixed point and a slow point
at its bottleneck, where ∂F/∂x = 1 exactly; the Euler map z ↦ z + α(λz) of a Hopf normal form with
λ = μ ± iω grows iff |1 + αλ|² = (1 + αμ)² + (αω)² > 1 ⇔ 2μ + α(μ² + ω²) > 0, whatever the sign of μ.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import dynamics, models
from dynascope.dynamics import FixedPointOptions, Status, continue_fixed_points, find_fixed_points, linearize
from dynascope.dynamics.stability import mode_stability, stability_tolerance

FAST = FixedPointOptions(descent_steps=0, newton_steps=60, saddle_seeds_per_pair=0)


# -- the rule itself ------------------------------------------------------------------------------------
def test_the_rule_judges_the_euler_map_and_marks_the_band_and_the_singular_mode():
    # a map: |λ| against 1, with a band of 1e-6 around it
    w = np.array([[1.0 + 2e-6, 1.0 - 5e-7, 0.5, -1.0 - 1e-3]])
    np.testing.assert_array_equal(mode_stability(w, False, 1.0, tol=1e-6), [[1, 0, -1, 1]])
    # a slow point: the mode with multiplier nearest 1 is marginal whatever rounding made it (here 1 − 1e-12)
    w = np.array([[0.5, 1.0 - 1e-12, 1.2]])
    np.testing.assert_array_equal(mode_stability(w, False, 1.0), [[-1, -1, 1]])
    np.testing.assert_array_equal(mode_stability(w, False, 1.0, singular=[True]), [[-1, 0, 1]])
    # a flow with alpha 0.01: λ = −0.01 ± 2i decays for the flow but grows for its Euler step (closed form)
    lam = np.array([[-0.01 + 2j, -0.01 - 2j, -300.0]])
    assert (1 - 0.01 * 0.01) ** 2 + (0.01 * 2) ** 2 > 1.0 and abs(1 - 0.01 * 300) > 1.0
    np.testing.assert_array_equal(mode_stability(lam, True, 0.01), [[1, 1, 1]])
    np.testing.assert_array_equal(mode_stability(lam, True, 0.01, as_flow=True), [[-1, -1, -1]])
    # the band: rounding of a float64 Jacobian (64·eps·(1 + ‖J‖)) plus the relative drift speed/(1 + ‖s‖)
    jac = np.diag([1.0, 0.5])
    band = stability_tolerance(jac, np.array([3.0, 0.0]), 0.4, False, 1.0)
    assert band == pytest.approx(64 * np.finfo(float).eps * (1 + np.sqrt(1.25)) + 0.4 / 4.0, rel=1e-12)


# -- slow points: a ghost is slow, marginal, never stable and never a saddle -----------------------------
def ghost(p, s, x):
    """x' = x + r + x² + 0.1y², y' = y/2 + 0.2x²: a saddle-node just past the bifurcation (no fixed point for
    r > 0) with a decaying direction; the slow point is (0, 0), where q = r²/2 and ∂F/∂s = diag(1, 1/2)."""
    return jnp.stack([s[0] + p["r"] + s[0] ** 2 + 0.1 * s[1] ** 2, 0.5 * s[1] + 0.2 * s[0] ** 2])


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_a_ghost_is_a_slow_point_with_a_marginal_mode_and_no_stable_point_in_counts(side):
    # Seeds on the left end with the computed multiplier 1 − 2e-12 (the old rule: a stable point), on the
    # right with 1 + 3e-15 (the old rule: an index-1 saddle): rounding decided. Both are one slow point.
    r = 1e-3
    seeds = side * np.random.default_rng(0).uniform(0.1, 0.5, size=(8, 2))
    fp = find_fixed_points(ghost, {"r": np.float64(r)}, np.zeros(1), seeds, options=FAST)
    assert len(fp) == 1 and fp.status[0] == Status.SLOW
    np.testing.assert_allclose(fp.states[0], [0.0, 0.0], atol=1e-8)
    assert fp.speed[0] == pytest.approx(r, rel=1e-9)
    np.testing.assert_allclose(np.sort(fp.eigvals[0].real), [0.5, 1.0], atol=1e-8)
    assert fp.n_marginal[0] == 1 and fp.n_unstable[0] == 0 and not fp.is_stable[0]
    counts = fp.counts()
    assert counts["slow"] == 1 and counts["stable"] == 0 and counts["saddles"] == 0 and counts["converged"] == 0
    # linearize at the slow point says the same: the drift r per step swamps a growth of ~1e-12
    lin = linearize(ghost, {"r": np.float64(r)}, fp.states[0], np.zeros(1))
    assert lin.n_marginal == 1 and lin.n_unstable == 0 and not lin.is_stable and lin.kind == "marginal"
    assert lin.speed == pytest.approx(r, rel=1e-9)


def test_a_skeleton_with_slow_points_gives_them_no_departures():
    fp = find_fixed_points(ghost, {"r": np.float64(1e-3)}, np.zeros(1), np.full((4, 2), -0.3), options=FAST)
    graph = dynamics.skeleton(ghost, {"r": np.float64(1e-3)}, fp, include_slow=True)
    (node,) = graph.nodes
    assert graph.nodes[node]["index"] == 0 and not graph.nodes[node]["stable"]
    assert graph.nodes[node]["kind"] == "marginal" and graph.number_of_edges() == 0


# -- flows: judged by the Euler map that runs -----------------------------------------------------------
MU, OMEGA, ALPHA = -0.01, 2.0, 0.01


def hopf(params, state, x):
    """Euler step ALPHA of ż = (μ + iω) z − |z|² z (μ, ω from params)."""
    a, b = state[0], state[1]
    mu, omega = params["mu"], params["omega"]
    r2 = a * a + b * b
    return state + ALPHA * jnp.stack([mu * a - omega * b - r2 * a, omega * a + mu * b - r2 * b])


def _euler_map_grows(mu: float, omega: float = OMEGA, alpha: float = ALPHA) -> bool:
    return 2 * mu + alpha * (mu * mu + omega * omega) > 0


def test_a_stable_focus_of_the_flow_whose_euler_map_grows_is_unstable_and_flagged():
    assert MU < 0 and _euler_map_grows(MU)  # the closed form: the flow decays, the map that runs grows
    p = {"mu": np.float64(MU), "omega": np.float64(OMEGA)}
    seeds = np.array([[1e-3, 0.0], [0.0, -2e-3]])
    fp = find_fixed_points(hopf, p, np.zeros(1), seeds, options=FAST, continuous=True, alpha=ALPHA)
    assert len(fp) == 1 and fp.converged[0]
    np.testing.assert_allclose(fp.states[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(fp.eigvals[0]), [MU - OMEGA * 1j, MU + OMEGA * 1j], atol=1e-12)
    assert fp.n_unstable[0] == 2 and not fp.is_stable[0] and fp.flow_map_disagree[0]
    assert fp.counts()["stable"] == 0 and fp.counts()["flow_map_disagree"] == 1
    lin = linearize(hopf, p, fp.states[0], np.zeros(1), continuous=True, alpha=ALPHA)
    assert lin.kind == "unstable focus" and lin.n_unstable == 2 and lin.flow_map_disagree
    # what runs: from 1e-4 the Euler map (simulated by NumPy) grows by |1 + α(μ + iω)| per step (closed
    # form) while |z| is small, and settles on the map's invariant circle, not on the flow's focus
    z, n = np.array([1e-4, 0.0]), 20000
    for _ in range(n):
        r2 = z @ z
        z = z + ALPHA * np.array([MU * z[0] - OMEGA * z[1] - r2 * z[0], OMEGA * z[0] + MU * z[1] - r2 * z[1]])
    growth = np.sqrt((1 + ALPHA * MU) ** 2 + (ALPHA * OMEGA) ** 2)
    assert np.linalg.norm(z) == pytest.approx(1e-4 * growth**n, rel=1e-3)  # still linear: |z| ≈ 7e-4
    cycle = dynamics.find_limit_cycle(hopf, p, np.zeros(1), np.array([0.05, 0.0]), n_settle=20000)
    c = np.sqrt(1.0 - (ALPHA * OMEGA) ** 2)  # the map's invariant circle: r² = μ + (1 − c)/α (the flow has none)
    assert cycle.status == "converged" and cycle.is_stable
    # the interpolated return sags by ~(αω)²/8 per crossing, amplified by 1/(1 − multiplier 0.94): ~1e-3
    np.testing.assert_allclose(np.linalg.norm(cycle.states, axis=1), np.sqrt(MU + (1 - c) / ALPHA), rtol=1e-3)


def test_a_ctrnn_is_judged_by_its_euler_map():
    # x' = x + α(−x + W tanh x): at 0 the flow Jacobian is W − I, with eigenvalues (w − 1) ± iω for
    # W = [[w, −ω], [ω, w]]
    model = models.get("ctrnn", n_inputs=1, n_hidden=2, n_outputs=1, alpha=ALPHA)
    w = 1.0 + MU
    params = {"W_rec": jnp.array([[w, -OMEGA], [OMEGA, w]]), "W_in": jnp.zeros((2, 1)), "b": jnp.zeros(2),
              "W_out": jnp.zeros((1, 2)), "b_out": jnp.zeros(1), "h0": jnp.zeros(2)}
    fp = find_fixed_points(model, params, jnp.zeros(1), np.array([[1e-3, 1e-3]]), options=FAST)
    np.testing.assert_allclose(np.sort_complex(fp.eigvals[0]), [MU - OMEGA * 1j, MU + OMEGA * 1j], atol=1e-6)
    assert fp.n_unstable[0] == 2 and not fp.is_stable[0] and fp.flow_map_disagree[0]
    # the model's own run from near 0 grows, as the map's multiplier says
    h0 = np.array([1e-4, 0.0], np.float32)
    states, _ = model.run(params | {"h0": jnp.asarray(h0)}, jnp.zeros((1, 5000, 1)))
    growth = np.sqrt((1 + ALPHA * MU) ** 2 + (ALPHA * OMEGA) ** 2)
    assert np.linalg.norm(states[0, -1]) == pytest.approx(1e-4 * growth**5000, rel=1e-2)


def test_continuation_of_a_flow_reports_the_euler_maps_stability_and_flags_the_gap():
    family = lambda s, mu: hopf({"mu": mu, "omega": OMEGA}, s, None)  # noqa: E731
    branch = continue_fixed_points(family, np.zeros(2), -0.1, 0.1, continuous=True, alpha=ALPHA, step_size=0.002,
                                   max_step_size=0.002)
    mu = branch.parameters
    np.testing.assert_array_equal(branch.is_stable, ~_euler_map_grows(mu))
    np.testing.assert_array_equal(branch.n_unstable, np.where(_euler_map_grows(mu), 2, 0))
    # the flow's verdict, Re λ = μ ≤ 0 (decaying, or marginal at the μ ≈ 1e-17 point of the branch), differs
    # exactly between the map's Neimark–Sacker point and μ = 0
    np.testing.assert_array_equal(branch.flow_map_disagree, (mu < 1e-12) & _euler_map_grows(mu))
    assert branch.flow_map_disagree.sum() >= 5
    (hopf_point,) = branch.bifurcations  # the flow's own bifurcation, at μ = 0
    assert hopf_point.kind == "hopf" and hopf_point.parameter == pytest.approx(0.0, abs=1e-9)
