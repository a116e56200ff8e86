"""Periodic orbits and limit cycles against closed forms (logistic map, Stuart–Landau oscillator)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from dynascope import models
from dynascope.dynamics import LimitCycle, PeriodicOrbits, find_limit_cycle, find_periodic_orbits
from dynascope.errors import ConfigError, ShapeError


def vanilla_params(**weights) -> dict[str, jax.Array]:
    """float32 parameters of a 'vanilla' model with the given W (W_rec), U (W_in), b and an unused readout."""
    names = {"W": "W_rec", "U": "W_in"}
    params = {names.get(k, k): jnp.asarray(v, jnp.float32) for k, v in weights.items()}
    n = params["W_rec"].shape[0]
    return params | {"W_out": jnp.zeros((1, n)), "b_out": jnp.zeros(1), "h0": jnp.zeros(n)}


def logistic(params, state, x):
    return params["r"] * state * (1.0 - state)


def test_logistic_period_two_orbit_matches_closed_form():
    r = 3.2
    found = find_periodic_orbits(
        logistic, {"r": np.float64(r)}, jnp.zeros(1), np.linspace(0.05, 0.95, 12)[:, None], period=2
    )
    assert isinstance(found, PeriodicOrbits) and found.seed_converged.all()
    # 12 converged seeds collapse to 3 orbits: the 2-cycle (both of its points seeded) and two fixed points.
    assert sorted(found.period.tolist()) == [1, 1, 2]
    cycle = int(np.flatnonzero(found.period == 2)[0])
    root = np.sqrt((r - 3.0) * (r + 1.0))
    expected = np.array([r + 1.0 - root, r + 1.0 + root]) / (2.0 * r)
    np.testing.assert_allclose(found.points[cycle, :, 0], expected, atol=1e-12)
    np.testing.assert_allclose(found.multipliers[cycle, 0], 4.0 + 2.0 * r - r * r, atol=1e-10)
    assert found.is_stable[cycle]
    # The fixed points 0 and 1 − 1/r, with multipliers F'(x) = r(1 − 2x), reported with period 1.
    fixed = np.flatnonzero(found.period == 1)
    order = np.argsort(found.points[fixed, 0, 0])
    np.testing.assert_allclose(found.points[fixed[order], 0, 0], [0.0, 1.0 - 1.0 / r], atol=1e-12)
    np.testing.assert_allclose(found.multipliers[fixed[order], 0].real, [r, 2.0 - r], atol=1e-10)
    assert not found.is_stable[fixed].any()


def test_period_two_orbit_of_a_float32_model_matches_scipy_root():
    # h' = tanh(w h) with w = −2 alternates ±h*, where h* = tanh(2 h*): each step's derivative is
    # w (1 − h*²), so the 2-cycle's multiplier is (w (1 − h*²))².
    model = models.get("vanilla", n_inputs=1, n_hidden=1, n_outputs=1)
    params = vanilla_params(W=[[-2.0]], U=[[0.0]], b=[0.0])
    h_star = scipy.optimize.brentq(lambda h: h - np.tanh(2.0 * h), 0.5, 1.0, xtol=1e-15)
    found = find_periodic_orbits(model, params, jnp.zeros(1), jnp.array([[0.3], [0.8], [-0.6]]), period=2)
    cycle = int(np.flatnonzero(found.period == 2)[0])
    np.testing.assert_allclose(found.points[cycle, :, 0], [-h_star, h_star], atol=1e-12)
    np.testing.assert_allclose(found.multipliers[cycle, 0].real, (2.0 * (1.0 - h_star**2)) ** 2, rtol=1e-9)
    assert found.q.max() < 1e-20


def stuart_landau(mu: float, omega: float, h: float):
    """Euler step of ż = (μ + iω) z − |z|² z, plus (optional) extra coordinates decaying as ẇ = −w."""

    def step(params, state, x):
        # With params {"Q": orthogonal [S, S]} the state is Q z, mixing the oscillator into every coordinate.
        z = params["Q"].T @ state if params else state
        a, b, w = z[0], z[1], z[2:]
        r2 = a * a + b * b
        field = jnp.concatenate([jnp.stack([mu * a - omega * b - r2 * a, omega * a + mu * b - r2 * b]), -w])
        return params["Q"] @ (z + h * field) if params else z + h * field

    return step


def test_stuart_landau_limit_cycle_matches_discrete_and_continuous_closed_forms():
    mu, omega, h = 0.25, 1.0, 0.005
    cycle = find_limit_cycle(stuart_landau(mu, omega, h), None, jnp.zeros(1), jnp.array([0.1, 0.0]), dt=h)
    assert isinstance(cycle, LimitCycle) and cycle.status == "converged"
    # Exact for the Euler map: the invariant circle has |1 + h(μ − r² + iω)| = 1 and turns by asin(hω)
    # per step; a radial perturbation shrinks by 1 − 2h r² √(1 − h²ω²) per step.
    c = np.sqrt(1.0 - (h * omega) ** 2)
    r2 = mu + (1.0 - c) / h
    n_steps = 2.0 * np.pi / np.arcsin(h * omega)
    multiplier = (1.0 - 2.0 * h * r2 * c) ** n_steps
    radius = np.linalg.norm(cycle.states, axis=1)
    np.testing.assert_allclose(radius, np.sqrt(r2), rtol=1e-5)  # linear interpolation sags by O((hω)²)
    np.testing.assert_allclose(cycle.period_steps, n_steps, rtol=1e-7)
    np.testing.assert_allclose(cycle.multipliers, [multiplier], rtol=1e-4)
    assert abs(cycle.trivial_multiplier - 1.0) < 1e-6
    assert cycle.is_stable
    # The flow's values differ by the Euler error: r² by hω²/2, the period by ~(hω)²/6 relatively, and
    # log(multiplier) = −2μT by h·T·(ω² + 2μ²) at first order in h.
    period = 2.0 * np.pi / omega
    assert abs(radius.mean() ** 2 - mu) <= 0.6 * h * omega**2
    assert abs(cycle.period_ms - period) <= period * (h * omega) ** 2 / 5.0
    assert abs(np.log(cycle.multipliers[0].real) + 2.0 * mu * period) <= 1.2 * h * period * (omega**2 + 2 * mu**2)


def test_limit_cycle_in_four_mixed_dimensions_has_every_multiplier():
    mu, omega, h = 0.25, 1.0, 0.005
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    cycle = find_limit_cycle(
        stuart_landau(mu, omega, h), {"Q": q}, jnp.zeros(1), q @ np.array([0.1, 0.0, 0.3, -0.2]), n_settle=3000
    )
    assert cycle.status == "converged"
    c = np.sqrt(1.0 - (h * omega) ** 2)
    n_steps = 2.0 * np.pi / np.arcsin(h * omega)
    radial = (1.0 - 2.0 * h * (mu + (1.0 - c) / h) * c) ** n_steps
    np.testing.assert_allclose(cycle.period_steps, n_steps, rtol=1e-7)
    # The two decaying coordinates contract by (1 − h) per step, over a period (1 − h)^T.
    np.testing.assert_allclose(np.abs(cycle.multipliers), [radial, (1 - h) ** n_steps, (1 - h) ** n_steps], rtol=1e-3)
    np.testing.assert_allclose(np.linalg.norm((cycle.states @ q)[:, :2], axis=1), np.sqrt(mu + (1 - c) / h), rtol=1e-5)


@pytest.mark.parametrize("omega, h", [(1.0, 0.005), (2.0, 0.01)])
def test_a_focus_still_spiralling_in_is_a_fixed_point_not_a_cycle(omega, h):
    # μ = −0.1: the origin is a stable focus of the flow and of its Euler map, |1 + h(μ + iω)|² < 1 (closed
    # form), and there is no cycle. After n_settle = 1000 steps the trajectory is still spiralling in; shooting
    # then converged onto the focus and was reported as a stable 'cycle' (ω = 2: period 313 steps, trivial
    # multiplier 0.78 = |1 + h(μ + iω)|^313), or found no return (ω = 1).
    mu = -0.1
    assert (1 + h * mu) ** 2 + (h * omega) ** 2 < 1.0
    cycle = find_limit_cycle(stuart_landau(mu, omega, h), None, jnp.zeros(1), jnp.array([0.1, 0.0]), dt=h)
    assert cycle.status == "fixed_point" and not cycle.is_stable
    assert np.isnan(cycle.period_steps) and cycle.period_ms is None and cycle.multipliers.size == 0
    np.testing.assert_allclose(cycle.states, [[0.0, 0.0]], atol=1e-8)  # the focus, not the last iterate


def test_a_real_cycle_past_the_hopf_point_has_the_closed_form_radius():
    # μ = 0.1 > 0: a cycle of radius √μ for the flow; the Euler map's invariant circle has r² = μ + (1 − c)/h
    mu, omega, h = 0.1, 2.0, 0.01
    cycle = find_limit_cycle(stuart_landau(mu, omega, h), None, jnp.zeros(1), jnp.array([0.1, 0.0]), dt=h)
    assert cycle.status == "converged" and cycle.is_stable
    assert abs(cycle.trivial_multiplier - 1.0) < 1e-6
    c = np.sqrt(1.0 - (h * omega) ** 2)
    radius = np.linalg.norm(cycle.states, axis=1)
    np.testing.assert_allclose(radius, np.sqrt(mu + (1.0 - c) / h), rtol=1e-4)
    assert abs(radius.mean() ** 2 - mu) <= 0.6 * h * omega**2  # √μ up to the Euler shift hω²/2
    np.testing.assert_allclose(cycle.period_steps, 2.0 * np.pi / np.arcsin(h * omega), rtol=1e-6)


def test_limit_cycle_reports_a_fixed_point():
    cycle = find_limit_cycle(lambda p, s, x: 0.5 * s, None, jnp.zeros(1), jnp.ones(3), n_settle=200, max_period=20)
    assert cycle.status == "fixed_point"
    assert not cycle.is_stable


def test_cycle_errors_name_the_argument():
    model = models.get("vanilla", n_inputs=2, n_hidden=3, n_outputs=1)
    params = vanilla_params(W=np.zeros((3, 3)), U=np.zeros((3, 2)), b=np.zeros(3))
    with pytest.raises(ShapeError, match=r"initial_states must have shape \[K, S\] with S = 3, got shape \(3,\).*states\[None\]"):
        find_periodic_orbits(model, params, jnp.zeros(2), jnp.zeros(3), period=2)
    with pytest.raises(ShapeError, match=r"inputs must be one constant input of shape \(2,\), got shape \(1, 2\)"):
        find_periodic_orbits(model, params, jnp.zeros((1, 2)), jnp.zeros((4, 3)), period=2)
    with pytest.raises(ConfigError, match="period must be a positive integer, got 0"):
        find_periodic_orbits(model, params, jnp.zeros(2), jnp.zeros((4, 3)), period=0)
    with pytest.raises(ConfigError, match=r"model must be a dynascope Model, an object with the model methods .* got str 'gru'"):
        find_limit_cycle("gru", params, jnp.zeros(2), jnp.zeros(3))
    with pytest.raises(ShapeError, match=r"initial_state must have shape \[S\] with S = 3, got shape \(2, 3\)"):
        find_limit_cycle(model, params, jnp.zeros(2), jnp.zeros((2, 3)))
