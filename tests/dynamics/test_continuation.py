"""Continuation and bifurcations against closed forms: flip, fold, Hopf, Neimark–Sacker, an S-curve."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from dynascope import models
from dynascope.dynamics import continue_along_inputs, continue_fixed_points
from dynascope.errors import ConfigError, ShapeError


def test_logistic_fixed_point_loses_stability_by_a_flip_at_r_3():
    branch = continue_fixed_points(lambda s, r: r * s * (1.0 - s), np.array([0.6]), 2.5, 3.5)
    r = branch.parameters
    assert branch.status == "completed"
    assert r[0] == 2.5 and r[-1] == pytest.approx(3.5, abs=1e-12)
    # x* = 1 − 1/r, with eigenvalue F'(x*) = 2 − r.
    np.testing.assert_allclose(branch.states[:, 0], 1.0 - 1.0 / r, atol=1e-10)
    np.testing.assert_allclose(branch.eigvals[:, 0], 2.0 - r, atol=1e-9)
    np.testing.assert_array_equal(branch.is_stable, r < 3.0)
    (flip,) = branch.bifurcations
    assert flip.kind == "flip"
    assert flip.parameter == pytest.approx(3.0, abs=1e-9)
    assert flip.state[0] == pytest.approx(2.0 / 3.0, abs=1e-9)
    assert flip.eigenvalue == pytest.approx(-1.0, abs=1e-8)


def test_period_two_orbit_born_at_the_flip_is_traced_to_its_own_flip_at_1_plus_sqrt6():
    # Period doubling: past r = 3 the map F has a 2-cycle x± = (r + 1 ± √((r − 3)(r + 1)))/(2r), a pair of
    # fixed points of F∘F with multiplier (F∘F)' = 4 + 2r − r², which is −1 (the next flip, period 4)
    # at r = 1 + √6. Start on the new branch next to the flip that the first continuation located.
    def logistic(s, r):
        return r * s * (1.0 - s)

    (flip,) = continue_fixed_points(logistic, np.array([0.6]), 2.5, 3.5).bifurcations
    r0 = flip.parameter + 0.05
    branch = continue_fixed_points(lambda s, r: logistic(logistic(s, r), r), flip.state + 0.07, r0, 3.5)
    r, x = branch.parameters, branch.states[:, 0]
    assert branch.status == "completed" and r[0] == r0 and r[-1] == pytest.approx(3.5, abs=1e-12)
    np.testing.assert_allclose(x, (r + 1.0 + np.sqrt((r - 3.0) * (r + 1.0))) / (2.0 * r), atol=1e-10)
    np.testing.assert_allclose(branch.eigvals[:, 0].real, 4.0 + 2.0 * r - r * r, atol=1e-8)
    np.testing.assert_array_equal(branch.is_stable, r < 1.0 + np.sqrt(6.0))
    (flip4,) = branch.bifurcations
    assert flip4.kind == "flip"
    assert flip4.parameter == pytest.approx(1.0 + np.sqrt(6.0), abs=1e-9)
    assert flip4.eigenvalue == pytest.approx(-1.0, abs=1e-8)


def test_saddle_node_is_passed_and_the_unstable_branch_followed_back():
    # ẋ = μ − x², Euler step 0.1: fixed points ±√μ with eigenvalue −2x; they meet in a fold at μ = 0.
    branch = continue_fixed_points(
        lambda s, m: s + 0.1 * (m - s * s), np.array([1.0]), 1.0, 0.0, continuous=True, alpha=0.1
    )
    x, m = branch.states[:, 0], branch.parameters
    assert branch.status == "completed"
    np.testing.assert_allclose(x**2, m, atol=1e-10)
    np.testing.assert_allclose(branch.eigvals[:, 0].real, -2.0 * x, atol=1e-8)
    assert x[0] == pytest.approx(1.0) and x[-1] == pytest.approx(-1.0, abs=1e-9)  # back at μ = 1
    np.testing.assert_array_equal(branch.is_stable, x > 0)
    (fold,) = branch.bifurcations
    assert fold.kind == "fold"
    assert fold.parameter == pytest.approx(0.0, abs=1e-9)
    assert abs(fold.state[0]) < 1e-6 and abs(fold.eigenvalue) < 1e-6


def stuart_landau(omega: float, h: float):
    """Euler step h of ż = (μ + iω) z − |z|² z with μ the continuation parameter."""

    def family(s, mu):
        a, b = s[0], s[1]
        r2 = a * a + b * b
        return s + h * jnp.stack([mu * a - omega * b - r2 * a, omega * a + mu * b - r2 * b])

    return family


def test_hopf_of_the_flow_and_neimark_sacker_of_its_euler_map():
    omega, h = 2.0, 0.01
    family = stuart_landau(omega, h)
    flow = continue_fixed_points(family, np.zeros(2), -0.5, 0.5, continuous=True, alpha=h)
    # The origin, with eigenvalues μ ± iω of the flow.
    np.testing.assert_allclose(flow.states, 0.0, atol=1e-12)
    np.testing.assert_allclose(flow.eigvals[:, 0].real, flow.parameters, atol=1e-9)
    np.testing.assert_allclose(np.abs(flow.eigvals.imag), omega, atol=1e-9)
    (hopf,) = flow.bifurcations
    assert hopf.kind == "hopf"
    assert hopf.parameter == pytest.approx(0.0, abs=1e-9)
    assert abs(hopf.eigenvalue.imag) == pytest.approx(omega, abs=1e-9)
    # As a map the eigenvalues 1 + h(μ ± iω) leave the unit circle where (1 + hμ)² + (hω)² = 1.
    as_map = continue_fixed_points(family, np.zeros(2), -0.5, 0.5)
    (ns,) = as_map.bifurcations
    assert ns.kind == "neimark_sacker"
    assert ns.parameter == pytest.approx((np.sqrt(1.0 - (h * omega) ** 2) - 1.0) / h, abs=1e-9)
    assert abs(ns.eigenvalue) == pytest.approx(1.0, abs=1e-9)
    assert abs(ns.eigenvalue.imag) == pytest.approx(h * omega, abs=1e-9)


def test_bistable_unit_traced_along_its_input_through_both_folds():
    # h' = tanh(w h + u), w = 2: u = artanh(h) − w h, folds where w (1 − h²) = 1, h = ∓√(1 − 1/w).
    model = models.get("vanilla", n_inputs=1, n_hidden=1, n_outputs=1)
    params = {
        "W_rec": jnp.array([[2.0]]), "W_in": jnp.array([[1.0]]), "b": jnp.zeros(1),
        "W_out": jnp.zeros((1, 1)), "b_out": jnp.zeros(1), "h0": jnp.zeros(1),
    }
    branch = continue_along_inputs(model, params, np.array([[-1.0], [1.0]]), np.array([-0.96]))
    h, u = branch.states[:, 0], branch.inputs[:, 0]
    assert branch.status == "completed"
    np.testing.assert_allclose(u, np.arctanh(h) - 2.0 * h, atol=1e-9)
    np.testing.assert_allclose(u, -1.0 + 2.0 * branch.parameters, atol=1e-12)
    assert u[0] == -1.0 and u[-1] == pytest.approx(1.0) and h[-1] > 0.9  # ends on the upper branch
    h_fold = np.sqrt(0.5)
    u_fold = np.arctanh(h_fold) - 2.0 * h_fold
    np.testing.assert_array_equal(branch.n_unstable, (np.abs(h) < h_fold).astype(int))
    assert [b.kind for b in branch.bifurcations] == ["fold", "fold"]
    np.testing.assert_allclose([b.inputs[0] for b in branch.bifurcations], [-u_fold, u_fold], atol=1e-9)
    np.testing.assert_allclose([b.state[0] for b in branch.bifurcations], [-h_fold, h_fold], atol=1e-6)


def test_continuation_errors_say_what_to_pass():
    family = stuart_landau(1.0, 0.1)
    with pytest.raises(ConfigError, match=r"start_state is not near a fixed point of the family at p_start = -0.5"):
        continue_fixed_points(lambda s, p: s + 1.0 + s * s, np.array([0.3]), -0.5, 0.5)
    with pytest.raises(ConfigError, match="p_start and p_end must be two different finite numbers"):
        continue_fixed_points(family, np.zeros(2), 0.5, 0.5)
    with pytest.raises(ShapeError, match=r"start_state must be one state of shape \[S\], got shape \(1, 2\)"):
        continue_fixed_points(family, np.zeros((1, 2)), 0.0, 1.0)
    with pytest.raises(ConfigError, match="step_size must be a positive number, got -0.1"):
        continue_fixed_points(family, np.zeros(2), 0.0, 1.0, step_size=-0.1)
    model = models.get("vanilla", n_inputs=1, n_hidden=1, n_outputs=1)
    with pytest.raises(ShapeError, match=r"inputs_path must have shape \[P, I\] with P ≥ 2 rows and I = 1, got shape \(2,\)"):
        continue_along_inputs(model, {}, np.array([-1.0, 1.0]), np.zeros(1))
    with pytest.raises(ConfigError, match="continuous=True and alpha=None were given with the model 'vanilla'"):
        continue_along_inputs(model, {}, np.array([[-1.0], [1.0]]), np.zeros(1), continuous=True)
