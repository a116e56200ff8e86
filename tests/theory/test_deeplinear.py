"""Simulated deep linear networks against the exact theory (Saxe, McClelland & Ganguli 2014) and against
direct NumPy computations of what they should be; the hierarchical dataset against its analytic spectrum."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope.errors import DynascopeError
from dynascope.theory import crossing_time, depth_scan, hierarchical_dataset, mode_strength, scaling_exponent
from dynascope.theory import deeplinear


def task_with_modes(s: np.ndarray, n_in: int, n_out: int, seed: int = 0) -> np.ndarray:
    """Σ_yx = U diag(s) Vᵀ with random orthonormal U, V (NumPy), so the singular values are known."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n_out, len(s))))
    v, _ = np.linalg.qr(rng.normal(size=(n_in, len(s))))
    return u @ np.diag(s) @ v.T


def test_one_hidden_layer_follows_the_closed_form_sigmoid(key):
    s = np.array([3.0, 2.0, 1.0])
    eta, a0 = 0.002, 0.05
    run = deeplinear.simulate(np.eye(4), task_with_modes(s, 4, 3), depth=2, n_hidden=5, init_scale=a0,
                              learning_rate=eta, steps=4000, key=key, n_networks=2)
    assert run.modes.shape == (2, run.time.shape[0], 3) and run.maps.shape == (2, run.time.shape[0], 3, 4)
    np.testing.assert_allclose(run.singular_values, s, rtol=1e-12)
    np.testing.assert_allclose(run.modes[:, 0], a0**2, rtol=1e-5)  # balanced init: every mode at a0^depth
    # u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0) with τ = 1 in time = η·step, written out here.
    growth = np.exp(2 * s[:, None] * run.time[None, :])
    expected = s[:, None] * growth / (growth - 1 + s[:, None] / a0**2)
    np.testing.assert_allclose(mode_strength(run.time, s, a0**2, 1.0, 2), expected, rtol=1e-9)
    # Tolerance: gradient descent follows the flow up to O(η s); at η = 0.002 the largest gap is ≈ 0.011,
    # so 0.02 (0.7 % of the strongest mode) leaves room for float32 and fails for a wrong time scale.
    for network in range(2):
        np.testing.assert_allclose(run.modes[network].T, expected, atol=0.02)
    # Stage-like learning: the strongest mode first, each crossing of s/2 in order of s.
    crossings = crossing_time(run.time, run.modes[0].T, s / 2)
    assert np.all(np.diff(crossings) > 0)
    np.testing.assert_allclose(crossings, np.log((s - a0**2) / a0**2) / (2 * s), rtol=0.02)
    # The network ends at the best linear map Σ_yx (whitened inputs) with zero excess loss.
    np.testing.assert_allclose(run.maps[:, -1], np.broadcast_to(task_with_modes(s, 4, 3), (2, 3, 4)), atol=1e-3)
    assert np.all(run.loss[:, -1] < 1e-5) and not run.diverged.any()


@pytest.mark.parametrize("depth", [1, 3])
def test_loss_is_the_excess_mean_squared_error_on_samples(key, depth):
    # The loss written through Σ_xx, Σ_yx equals ½ mean‖y − W x‖² minus the least-squares minimum, both
    # computed here from explicit samples (non-whitened inputs).
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3)) * [1.0, 2.0, 0.5]
    y = x @ rng.normal(size=(3, 2)) + 0.3 * rng.normal(size=(200, 2))
    sxx, syx = x.T @ x / 200, y.T @ x / 200
    run = deeplinear.simulate(sxx, syx, depth=depth, n_hidden=4, init_scale=0.5, init="small_random",
                              learning_rate=0.01, steps=20, key=key, record_every=10)
    best = np.linalg.lstsq(x, y, rcond=None)[0]
    floor = 0.5 * np.mean(np.sum((y - x @ best) ** 2, axis=1))
    for r in range(3):
        w = run.maps[0, r].astype(np.float64)
        direct = 0.5 * np.mean(np.sum((y - x @ w.T) ** 2, axis=1)) - floor
        assert run.loss[0, r] == pytest.approx(direct, rel=1e-4, abs=1e-5)
    np.testing.assert_array_equal(run.steps, [0, 10, 20])


def test_initialisations(key):
    syx = task_with_modes(np.array([2.0, 1.0]), 3, 2)
    kwargs = dict(depth=3, n_hidden=4, init_scale=0.3, learning_rate=0.01, steps=1, key=key, n_networks=2,
                  record_weights=True)
    balanced = deeplinear.simulate(np.eye(3), syx, init="balanced", **kwargs)
    w1, w2, w3 = (w[:, 0].astype(np.float64) for w in balanced.weight_history)
    # balanced: W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ at every hidden layer
    np.testing.assert_allclose(np.einsum("nji,njk->nik", w2, w2), np.einsum("nij,nkj->nik", w1, w1), atol=1e-6)
    np.testing.assert_allclose(np.einsum("nji,njk->nik", w3, w3), np.einsum("nij,nkj->nik", w2, w2), atol=1e-6)
    assert not np.allclose(w2[0], w2[1])  # the hidden bases are random per network
    orthogonal = deeplinear.simulate(np.eye(3), syx, init="orthogonal", **kwargs)
    w2 = orthogonal.weight_history[1][:, 0].astype(np.float64)
    np.testing.assert_allclose(np.einsum("nji,njk->nik", w2, w2), np.broadcast_to(0.09 * np.eye(4), (2, 4, 4)),
                               atol=1e-6)
    random = deeplinear.simulate(np.eye(3), syx, init="small_random", **kwargs)
    assert random.weights[0].shape == (2, 4, 3) and random.weights[2].shape == (2, 2, 4)
    again = deeplinear.simulate(np.eye(3), syx, init="small_random", **kwargs)
    np.testing.assert_array_equal(random.maps, again.maps)  # same key, same networks


def test_time_to_learn_scales_with_depth_as_the_theory_says(key):
    # Small balanced weights: time ∝ a0^{−(N_l − 3)}, N_l = depth + 1. Tolerance 0.1 on the exponent: at
    # a0 = 0.04–0.08 the finite-a0 corrections of the exact integral move the fitted slope by ≈ 0.05.
    scan = depth_scan([3, 4], [0.04, 0.06, 0.08], learning_rate=0.05, steps=7000, key=key)
    assert scan.simulated.shape == (2, 3, 1) and np.all(np.isfinite(scan.simulated))
    for i, n_layers in enumerate((4, 5)):
        assert scaling_exponent(scan.init_scales, scan.simulated[i]) == pytest.approx(-(n_layers - 3), abs=0.1)
    # Simulated times against the exact integral, to the O(η s) of gradient descent.
    np.testing.assert_allclose(scan.simulated[..., 0], scan.theory, rtol=0.02)


def test_hierarchical_dataset_has_the_analytic_spectrum():
    data = hierarchical_dataset(3, features_per_node=2)
    assert data.features.shape == (8, 30) and data.sigma_yx.shape == (30, 8)
    np.testing.assert_array_equal(data.sigma_xx, np.eye(8))
    # Singular values by hand for K = 3, m = 2: sqrt(2·15), sqrt(2·7), sqrt(2·3) twice, sqrt(2·1) four times.
    expected = np.sqrt(2 * np.array([15, 7, 3, 3, 1, 1, 1, 1.0]))
    np.testing.assert_allclose(data.singular_values, expected)
    np.testing.assert_allclose(np.linalg.svd(data.sigma_yx, compute_uv=False), expected, rtol=1e-12)
    np.testing.assert_array_equal(data.mode_level, [-1, 0, 1, 1, 2, 2, 2, 2])
    # Items 0 and 1 are siblings: they share every feature but their own leaves'; items 0 and 7 share the root's.
    shared = data.features @ data.features.T
    assert shared[0, 1] == 2 * 3 and shared[0, 7] == 2 * 1 and shared[0, 0] == 2 * 4
    with pytest.raises(DynascopeError, match=r"n_levels must .*got 0"):
        hierarchical_dataset(0)


def test_a_deep_network_learns_the_hierarchy_coarse_to_fine(key):
    data = hierarchical_dataset(2)
    run = deeplinear.simulate(data.sigma_xx, data.sigma_yx, depth=2, n_hidden=8, init_scale=0.05,
                              learning_rate=0.02, steps=600, key=key)
    crossings = crossing_time(run.time, run.modes[0].T, run.singular_values / 2)
    levels = data.mode_level
    # one stage per level, in order: every mode of a level before any mode of the next
    for coarse, fine in zip(np.unique(levels)[:-1], np.unique(levels)[1:]):
        assert crossings[levels == coarse].max() < crossings[levels == fine].min()
    # Transient over-generalization: item 0 (leaf node 3) lacks its sibling's leaf feature (node 4), but
    # before the leaf split is learned the network gives it that feature at its base rate among the items it
    # cannot tell apart (1/4 after the root, 1/2 after the first split), then takes it back. Theory: the map
    # W(t) = U diag(u(t)) Vᵀ with each u(t) the logistic closed form written out here.
    sibling = int(np.nonzero(data.feature_node == 4)[0][0])
    u_vec, v_vec = run.mode_vectors
    s = run.singular_values
    growth = np.exp(2 * s[:, None] * run.time[None, :])
    u_t = s[:, None] * growth / (growth - 1 + s[:, None] / 0.05**2)
    theory = np.einsum("a,ar,a->r", u_vec[sibling], u_t, v_vec[0])
    simulated = run.maps[0, :, sibling, 0]
    np.testing.assert_allclose(simulated, theory, atol=0.02)
    assert simulated.max() > 0.2 and abs(simulated[-1]) < 0.01 and 0 < np.argmax(simulated) < len(simulated) - 1


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"sigma_xx": np.ones((2, 3))}, r"sigma_xx must be a square"),
        ({"sigma_yx": np.ones((2, 4))}, r"sigma_yx must be \[n_out, n_in\] with n_in = 3"),
        ({"sigma_xx": -np.eye(3)}, r"sigma_xx must be positive semi-definite"),
        ({"sigma_xx": np.triu(np.ones((3, 3)))}, r"sigma_xx must be symmetric"),
        ({"init": "xavier"}, r"init must be one of .*'xavier'"),
        ({"init_scale": 0.0}, r"init_scale must .*got 0\.0"),
        ({"learning_rate": -0.1}, r"learning_rate must .*-0\.1"),
        ({"depth": 0}, r"depth must .*got 0"),
        ({"record_every": 3}, r"record_every must divide steps .*record_every=3 .*steps=10"),
        ({"key": 0}, r"key must be one JAX PRNG key, got 0"),
    ],
)
def test_simulate_refuses_bad_arguments(key, kwargs, pattern):
    args = dict(sigma_xx=np.eye(3), sigma_yx=np.ones((2, 3)), depth=2, n_hidden=3, init_scale=0.1,
                learning_rate=0.1, steps=10, key=key) | kwargs
    with pytest.raises(DynascopeError, match=pattern):
        deeplinear.simulate(**args)


def test_scaling_exponent_needs_two_points():
    assert scaling_exponent([1.0, 2.0, 4.0], [8.0, 2.0, 0.5]) == pytest.approx(-2.0)
    with pytest.raises(DynascopeError, match=r"at least 2 finite times.*got 1"):
        scaling_exponent([1.0, 2.0], [[3.0], [np.nan]])


def test_a_too_large_learning_rate_is_reported_as_diverged():
    run = deeplinear.simulate(np.eye(2), 10 * np.eye(2), depth=2, n_hidden=2, init_scale=1.0, learning_rate=1.0,
                              steps=50, key=jax.random.key(3))
    assert run.diverged.all()
