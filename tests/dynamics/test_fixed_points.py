"""find_fixed_points against closed forms, NumPy/SciPy references and systems worked by hand."""

from __future__ import annotations

import collections
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from dynascope import models
from dynascope.dynamics import (
    FixedPointOptions,
    FixedPoints,
    Result,
    Status,
    find_fixed_points,
    saddle_seeds,
    sample_initial_states,
    solvers,
)
from dynascope.dynamics.fixed_points import find_fixed_points_population
from dynascope.errors import ConfigError, ShapeError

# Toy systems compile in about a second per phase; skipping the float32 phase and the saddle round (the
# default seeds 2 points between each pair of stable points; tested on its own below) keeps the suite fast.
FAST = FixedPointOptions(descent_steps=0, newton_steps=60, saddle_seeds_per_pair=0)


# -- systems (module level, so every test that uses one shares its compiled programs) ----------------
def linear_map(p, s, x):
    return p["A"] @ s + p["B"] @ x + p["b"]


def linear_flow(p, s, x):
    return s + 0.2 * (p["A"] @ s + p["B"] @ x + p["b"])


def duffing(p, s, x):
    """Euler step (alpha 0.1) of ẋ = y, ẏ = x − x³ − δy."""
    f = jnp.stack([s[1], s[0] - s[0] ** 3 - p["delta"] * s[1]])
    return s + 0.1 * f


def ghost(p, s, x):
    """x' = x + x² + μ: no fixed point for μ > 0, a bottleneck (slow point) at 0 with speed μ."""
    return s + s**2 + p["mu"]


def two_ghosts(p, s, x):
    """x' = x + μ + (x² − 1)²: no fixed point for μ > 0; two bottlenecks at ±1 with speed μ, and between
    them at 0 a barrier where the speed is 1 + μ."""
    return s + p["mu"] + (s**2 - 1.0) ** 2


def cubic(p, s, x):
    """x' = x + c·x³: a single fixed point at 0 with eigenvalue exactly 1 (stable for c < 0, unstable for c > 0)."""
    return s + p["c"] * s**3


def saturated_gru(p, s, x):
    """A GRU whose update gate is saturated: s' = z·s + (1 − z)·tanh(W s + b) with 1 − z = σ(−a) ≈ 1e-7.
    Its fixed points are the roots of tanh(W s + b) = s, but F(s) − s = (1 − z)(tanh(W s + b) − s) is tiny
    everywhere: q < 1e-12 on the whole square |s_i| ≤ 2, and every eigenvalue lies within ~1e-7 of 1."""
    z = jax.nn.sigmoid(p["a"])
    return z * s + (1.0 - z) * jnp.tanh(p["W"] @ s + p["b"])


def three_roots(p, s, x):
    """Euler step (alpha 0.01) of ẋ = −x(x − 1)(x − 50)/50: fixed points 0 (stable), 1, 50 (stable)."""
    return s - 0.01 * s * (s - 1.0) * (s - 50.0) / 50.0


def cube(p, s, x):
    """Euler step of ẋ_i = c_i (x_i − x_i³): 3^3 fixed points {−1, 0, 1}^3, index = number of zeros."""
    return s + 0.1 * jnp.array([1.0, 1.5, 2.0]) * (s - s**3)


def hopfield(p, s, x):
    return jnp.tanh(p["beta"] * (p["W"] @ s))


def assert_same_spectrum(actual, desired, atol):
    """Equal as multisets of complex numbers (matched by linear_sum_assignment, immune to sort order)."""
    actual, desired = np.asarray(actual, complex), np.asarray(desired, complex)
    cost = np.abs(actual[:, None] - desired[None, :])
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    assert actual.shape == desired.shape and cost[rows, cols].max() <= atol, (actual, desired)


def f32(a):
    return jnp.asarray(a, jnp.float32)


def as64(a):
    """A float32 parameter exactly as float64, the system our float64 answer must match."""
    return np.asarray(a, np.float64)


# -- linear systems: one fixed point, known exactly ------------------------------------------------
def _linear_params(rng, unstable):
    """A = Q D Q⁻¹ with eigenvalues 0.6 ± 0.4i, 0.5 and −0.3 (or 1.5, unstable); random B, b."""
    d = np.zeros((4, 4))
    d[:2, :2] = [[0.6, 0.4], [-0.4, 0.6]]
    d[2, 2], d[3, 3] = 0.5, 1.5 if unstable else -0.3
    q = rng.normal(size=(4, 4))
    return {"A": f32(q @ d @ np.linalg.inv(q)), "B": f32(rng.normal(size=(4, 2))), "b": f32(rng.normal(size=4))}


@pytest.mark.parametrize("unstable", [False, True])
def test_linear_map_has_one_fixed_point_equal_to_numpy_solve(unstable):
    rng = np.random.default_rng(1)
    p = _linear_params(rng, unstable)
    x = np.array([0.3, -0.7], np.float32)
    fp = find_fixed_points(linear_map, p, x, rng.normal(size=(16, 4)) * 3, options=FAST)
    a, bb, b = as64(p["A"]), as64(p["B"]), as64(p["b"])
    truth = np.linalg.solve(np.eye(4) - a, bb @ as64(x) + b)
    eig = np.linalg.eigvals(a)
    assert len(fp) == 1 and fp.n_found[0] == 16
    assert fp.status[0] == Status.CONVERGED and fp.converged[0] and fp.q[0] < 1e-20
    np.testing.assert_allclose(fp.states[0], truth, atol=1e-10)
    assert_same_spectrum(fp.eigvals[0], eig, atol=1e-10)
    assert fp.n_unstable[0] == np.sum(np.abs(eig) > 1) == int(unstable)
    assert fp.is_stable[0] == (not unstable)
    # dominant first: |λ| non-increasing for a map
    assert np.all(np.diff(np.abs(fp.eigvals[0])) <= 1e-12)


def test_linear_flow_fixed_point_and_flow_eigenvalues():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(4, 4)) - 1.0 * np.eye(4)
    p = {"A": f32(a), "B": f32(rng.normal(size=(4, 2))), "b": f32(rng.normal(size=4))}
    fp = find_fixed_points(linear_flow, p, np.zeros(2, np.float32), rng.normal(size=(8, 4)), options=FAST,
                           continuous=True, alpha=0.2)
    a64 = as64(p["A"])
    truth = np.linalg.solve(a64, -as64(p["b"]))
    eig = np.linalg.eigvals(a64)
    assert len(fp) == 1 and fp.continuous and fp.alpha == 0.2
    np.testing.assert_allclose(fp.states[0], truth, atol=1e-10)
    assert_same_spectrum(fp.eigvals[0], eig, atol=1e-9)
    # the verdict is that of the Euler map that runs, multipliers 1 + 0.2·λ (NumPy), and the flow's Re λ agrees
    mult = np.abs(1.0 + 0.2 * eig)
    assert fp.n_unstable[0] == np.sum(mult > 1) == np.sum(eig.real > 0)
    assert fp.is_stable[0] == np.all(mult < 1) and not fp.flow_map_disagree[0]
    assert np.all(np.diff(fp.eigvals[0].real) <= 1e-12)  # dominant (largest Re λ) first


def test_float32_mode_converges_to_its_own_tolerance():
    rng = np.random.default_rng(1)
    p = _linear_params(rng, False)
    fp = find_fixed_points(linear_map, p, np.zeros(2, np.float32), rng.normal(size=(16, 4)), float64=False)
    truth = np.linalg.solve(np.eye(4) - as64(p["A"]), as64(p["b"]))
    assert len(fp) == 1 and fp.states.dtype == np.float32
    assert fp.converged[0] and fp.q[0] < 1e-10
    np.testing.assert_allclose(fp.states[0], truth, atol=1e-4)


# -- a 2-D system with a saddle and a focus or a node, worked by hand --------------------------------
@pytest.mark.parametrize("delta", [0.5, 3.0])
def test_duffing_saddle_and_focus_or_node(delta):
    # Fixed points (0, 0) and (±1, 0). J(0) = [[0, 1], [1, −δ]]: λ = (−δ ± √(δ² + 4))/2, a saddle.
    # J(±1) = [[0, 1], [−2, −δ]]: λ = (−δ ± √(δ² − 8))/2, a stable focus for δ² < 8, a node for
    # δ² > 8.
    rng = np.random.default_rng(3)
    seeds = rng.uniform(-1.6, 1.6, size=(32, 2))
    fp = find_fixed_points(duffing, {"delta": jnp.float32(delta)}, np.zeros(1, np.float32), seeds,
                           options=FAST, continuous=True, alpha=0.1)
    d = float(np.float32(delta))
    order = np.argsort(fp.states[:, 0])
    np.testing.assert_allclose(fp.states[order], [[-1, 0], [0, 0], [1, 0]], atol=1e-12)
    saddle = np.array([(-d + np.sqrt(d * d + 4)) / 2, (-d - np.sqrt(d * d + 4)) / 2])
    well = (-d + np.array([1, -1]) * np.sqrt(complex(d * d - 8))) / 2
    np.testing.assert_allclose(fp.eigvals[order[1]], saddle, atol=1e-10)
    for k in (order[0], order[2]):
        assert_same_spectrum(fp.eigvals[k], well, atol=1e-10)
    np.testing.assert_array_equal(fp.n_unstable[order], [0, 1, 0])
    np.testing.assert_array_equal(fp.is_stable[order], [True, False, True])


def test_adam_descent_then_newton_polish_finds_the_same_points():
    seeds = np.random.default_rng(3).uniform(-1.6, 1.6, size=(32, 2))  # as the Duffing test: shared polish
    fp = find_fixed_points(duffing, {"delta": jnp.float32(0.5)}, np.zeros(1, np.float32), seeds, continuous=True,
                           alpha=0.1, descent="adam", descent_steps=300, learning_rate=0.05, newton_steps=60)
    np.testing.assert_allclose(fp.states[np.argsort(fp.states[:, 0])], [[-1, 0], [0, 0], [1, 0]], atol=1e-12)
    # 32 seeds, and by default 2 more at the thirds of the segment between the two wells
    assert np.all(fp.q < 1e-20) and fp.n_found.sum() == fp.n_initial_states == 32 + 2


# -- Hopfield network: stored patterns are exact fixed points ---------------------------------------
def test_hopfield_finds_every_stored_pattern_and_only_patterns_are_stable():
    # Two orthogonal ±1 patterns (Hadamard rows), W = Σ ξξᵀ/N, so W ξ = ξ and x = m ξ is an exact fixed
    # point of x' = tanh(β W x) with m = tanh(β m); J there is β(1 − m²) W: eigenvalues β(1 − m²) twice, 0.
    n, beta = 16, 3.0
    xi = scipy.linalg.hadamard(n)[[1, 2]].astype(float)
    p = {"W": f32(xi.T @ xi / n), "beta": jnp.float32(beta)}
    rng = np.random.default_rng(0)
    traj = [rng.uniform(-1, 1, size=(16, n))]  # trajectories from random states, simulated by NumPy
    for _ in range(7):
        traj.append(np.tanh(beta * traj[-1] @ as64(p["W"]).T))
    seeds = sample_initial_states(np.stack(traj, 1).astype(np.float32), 64, key=jax.random.key(0), noise_std=0.05)
    fp = find_fixed_points(hopfield, p, np.zeros(1, np.float32), seeds)  # the default two-phase search
    m = scipy.optimize.brentq(lambda m: m - np.tanh(beta * m), 0.1, 1.0)
    w64 = as64(p["W"])
    # every point is a fixed point by NumPy's own arithmetic
    resid = np.tanh(beta * fp.states @ w64.T) - fp.states
    assert np.all(np.abs(resid) < 1e-12) and np.all(fp.converged) and np.all(fp.q < 1e-12)
    stable = fp.states[fp.is_stable]
    patterns = np.concatenate([xi, -xi])
    for s in stable:
        assert any(np.array_equal(np.sign(s), pat) for pat in patterns)
    for pat in patterns:
        hit = [s for s in stable if np.array_equal(np.sign(s), pat)]
        assert len(hit) == 1
        np.testing.assert_allclose(hit[0], m * pat, atol=1e-12)
    expected = np.r_[[beta * (1 - m * m)] * 2, [0.0] * (n - 2)]
    for w in fp.eigvals[fp.is_stable]:
        np.testing.assert_allclose(w, expected, atol=1e-10)


# -- float64 polish on a nonlinear network -----------------------------------------------------------
def test_float64_polish_reaches_machine_precision_on_a_vanilla_network(key):
    model = models.get("vanilla", n_inputs=2, n_hidden=8, n_outputs=1, gain=1.5)
    params = model.init(key)
    k_in, k_seed = jax.random.split(jax.random.key(7))
    states, _ = model.run(params, 0.5 * jax.random.normal(k_in, (8, 20, 2)))
    seeds = sample_initial_states(states, 32, key=k_seed, noise_std=0.2)
    fp = find_fixed_points(model, params, jnp.zeros(2), seeds, options=FAST, reachable_states=states)
    assert fp.states.dtype == np.float64 and fp.counts()["converged"] >= 1
    conv = fp.states[fp.converged]
    assert np.all(fp.q[fp.converged] < 1e-12)
    # residual by NumPy in float64 from the float32 weights
    resid = np.tanh(conv @ as64(params["W_rec"]).T + as64(params["b"])) - conv
    assert np.max(np.abs(resid)) < 1e-12
    # its eigenvalues are those of diag(1 − x²) W, by NumPy
    for s, w in zip(conv, fp.eigvals[fp.converged]):
        jac = (1 - np.tanh(as64(params["W_rec"]) @ s) ** 2)[:, None] * as64(params["W_rec"])
        assert_same_spectrum(w, np.linalg.eigvals(jac), atol=1e-9)


def test_ctrnn_is_analysed_as_a_flow(key):
    model = models.get("ctrnn", n_inputs=1, n_hidden=6, n_outputs=1, gain=1.8, alpha=0.2)
    params = model.init(key)
    seeds = jax.random.uniform(jax.random.key(3), (16, 6), minval=-2.0, maxval=2.0)
    fp = find_fixed_points(model, params, jnp.zeros(1), seeds, options=FAST)
    assert fp.continuous and fp.alpha == pytest.approx(0.2)
    w = as64(params["W_rec"])
    for s, ev, n_unst in zip(fp.states[fp.converged], fp.eigvals[fp.converged], fp.n_unstable[fp.converged]):
        np.testing.assert_allclose(-s + w @ np.tanh(s) + as64(params["b"]), 0.0, atol=1e-12)
        jac = -np.eye(6) + w * (1 - np.tanh(s) ** 2)[None, :]  # flow Jacobian, by hand
        ref = np.linalg.eigvals(jac)
        assert_same_spectrum(ev, ref, atol=1e-9)
        assert n_unst == np.sum(np.abs(1.0 + 0.2 * ref) > 1.0)  # the Euler map that runs, by NumPy


# -- classification: slow, failed, isolated, outside the reachable region ----------------------------
def test_ghost_bottleneck_is_labelled_slow_not_converged():
    mu = 1e-3
    seeds = np.linspace(-0.5, 0.5, 9)[:, None]
    fp = find_fixed_points(ghost, {"mu": jnp.float32(mu)}, np.zeros(1, np.float32), seeds, options=FAST)
    mu64 = float(np.float32(mu))
    assert len(fp) == 1 and fp.n_found[0] == 9
    assert fp.status[0] == Status.SLOW and not fp.converged[0]
    assert abs(fp.states[0, 0]) < 1e-8  # the minimum of q = (x² + μ)²/2 is at x = 0
    assert fp.speed[0] == pytest.approx(mu64, rel=1e-8) and fp.q[0] == pytest.approx(mu64**2 / 2, rel=1e-8)


def test_a_ghost_slower_than_q_tol_is_slow_not_a_fixed_point():
    # μ = 1e-7: min q = μ²/2 = 5e-15 lies below q_tol = 1e-12, yet x' = x + μ + x² has no fixed point:
    # at the minimum x = 0 the Jacobian F' − 1 = 2x vanishes and the Newton correction is unbounded.
    mu = 1e-7
    seeds = np.linspace(-0.5, 0.5, 9)[:, None]
    fp = find_fixed_points(ghost, {"mu": jnp.float32(mu)}, np.zeros(1, np.float32), seeds, options=FAST)
    mu64 = float(np.float32(mu))
    assert len(fp) == 1 and fp.n_found[0] == 9 and fp.n_failed == 0  # one bottleneck, reached from both sides
    assert fp.status[0] == Status.SLOW and not fp.converged[0]
    assert abs(fp.states[0, 0]) < 1e-6 and fp.newton_step[0] > 1e-2
    assert fp.speed[0] == pytest.approx(mu64, rel=1e-6)


def test_two_ghosts_stay_two_slow_points_across_the_barrier_between_them():
    mu = 1e-7
    seeds = np.r_[np.linspace(-1.4, -0.6, 8), np.linspace(0.6, 1.4, 8)][:, None]
    fp = find_fixed_points(two_ghosts, {"mu": jnp.float32(mu)}, np.zeros(1, np.float32), seeds, options=FAST)
    order = np.argsort(fp.states[:, 0])
    assert len(fp) == 2 and np.all(fp.status == Status.SLOW)
    np.testing.assert_allclose(fp.states[order, 0], [-1.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(fp.speed, float(np.float32(mu)), rtol=1e-6)
    np.testing.assert_array_equal(fp.n_found[order], [8, 8])


@pytest.mark.parametrize("c", [-1.0, 1.0])
def test_a_degenerate_fixed_point_with_eigenvalue_one_is_one_converged_point(c):
    # x' = x + c·x³ at 0: F'(0) = 1 exactly, so Newton converges only linearly (x → 2x/3) and stops where
    # q = x⁶/2 is zero to working precision, |x| ~ 1e-5, on whichever side it came from. Decided: that is
    # a fixed point (CONVERGED: the residual cannot be told from 0), reported once, with the eigenvalue
    # 1 + 3c·x² within 1e-8 of 1 — stable for c < 0 and unstable for c > 0, as the cubic term makes it.
    seeds = np.linspace(-0.5, 0.5, 10)[:, None]
    fp = find_fixed_points(cubic, {"c": jnp.float32(c)}, np.zeros(1, np.float32), seeds, options=FAST)
    assert len(fp) == 1 and fp.n_found[0] == 10
    assert fp.status[0] == Status.CONVERGED and fp.q[0] < 1e-30
    assert abs(fp.states[0, 0]) < 1e-4
    assert abs(fp.eigvals[0, 0] - 1.0) < 1e-8
    assert fp.is_stable[0] == (c < 0) and fp.n_unstable[0] == (c > 0)


def _saturated_gru_params():
    a = np.float32(np.log(1e7))  # 1 − z = σ(−a) ≈ 1e-7
    w = np.array([[2.0, 0.3], [-0.2, 1.8]], np.float32)
    b = np.array([0.1, -0.05], np.float32)
    return {"a": jnp.asarray(a), "W": jnp.asarray(w), "b": jnp.asarray(b)}


def _roots_of_tanh_net(w, b):
    """Every root of tanh(W s + b) = s, by SciPy's hybrid Powell solver from a grid (not our search)."""
    roots = []
    for s0 in itertools.product(np.linspace(-1.2, 1.2, 13), repeat=2):
        sol = scipy.optimize.root(lambda s: np.tanh(w @ s + b) - s, s0, tol=1e-14)
        if sol.success and np.max(np.abs(np.tanh(w @ sol.x + b) - sol.x)) < 1e-13:
            if not any(np.linalg.norm(sol.x - r) < 1e-8 for r in roots):
                roots.append(sol.x)
    return np.array(roots)


def test_a_saturated_gru_has_its_isolated_fixed_points_not_a_continuum():
    p = _saturated_gru_params()
    w, b = as64(p["W"]), as64(p["b"])
    truth = _roots_of_tanh_net(w, b)
    assert len(truth) == 9  # 3 per axis for this nearly diagonal W with gains ~2: a 3 × 3 grid of roots
    seeds = np.random.default_rng(0).uniform(-1.5, 1.5, size=(64, 2))
    fp = find_fixed_points(saturated_gru, p, np.zeros(1, np.float32), seeds, options=FAST)
    assert np.all(fp.status == Status.CONVERGED) and len(fp) == 9
    cost = np.linalg.norm(fp.states[:, None] - truth[None], axis=-1)
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    assert cost[rows, cols].max() < 1e-7
    # eigenvalues of F = z·I + (1 − z)·J_tanh: 1 + (1 − z)(μ − 1) for the eigenvalues μ of J_tanh
    one_minus_z = 1.0 / (1.0 + np.exp(as64(p["a"])))
    for s, ev in zip(fp.states, fp.eigvals):
        mu = np.linalg.eigvals((1 - np.tanh(w @ s + b) ** 2)[:, None] * w)
        assert_same_spectrum(ev, 1.0 + one_minus_z * (mu - 1.0), atol=1e-13)
    assert sorted(collections.Counter(fp.n_unstable.tolist()).items()) == [(0, 4), (1, 4), (2, 1)]


def test_small_q_alone_is_not_convergence_where_the_map_is_nearly_flat():
    # Two Newton steps leave most seeds between roots, where q < 1e-12 already (1 − z ≈ 1e-7): a point
    # counts as a fixed point only if its Newton correction is within dedup_tol, so every converged point
    # returned is a true root, and the others are failed searches (counted), not 60 'fixed points'.
    p = _saturated_gru_params()
    truth = _roots_of_tanh_net(as64(p["W"]), as64(p["b"]))
    seeds = np.random.default_rng(0).uniform(-1.5, 1.5, size=(64, 2))
    fp = find_fixed_points(saturated_gru, p, np.zeros(1, np.float32), seeds, descent_steps=0, newton_steps=2,
                           keep_failed=True)
    q = 0.5 * np.sum((np.tanh(fp.states @ as64(p["W"]).T + as64(p["b"])) - fp.states) ** 2, axis=1) * 1e-14
    assert np.all(q < 1e-12)  # q alone would call every end point converged
    conv = fp.states[fp.converged]
    assert all(np.min(np.linalg.norm(truth - s, axis=1)) < 1e-6 for s in conv)
    assert fp.n_failed > 0 and np.all(fp.status[~fp.converged] == Status.FAILED)
    assert fp.n_failed + fp.n_found[fp.converged].sum() == fp.n_initial_states  # every seed (saddle round included) counted once


def test_a_root_reached_on_the_last_allowed_newton_step_counts():
    # r(s) = 30·(3s − c) + ½tanh(3s − c)³: a root at c/3, which float64 cannot represent, so q stays above
    # zero at it and only the Newton correction (~eps) says the root is reached. Three Newton steps reach it
    # from every seed; the last of them must be recognised, not handed to the minimisation of q.
    def step(p, s, x):
        return s + 30.0 * (3.0 * s - p["c"]) + 0.5 * jnp.tanh(3.0 * s - p["c"]) ** 3

    c = np.array([1234.5671, -987.6543])
    seeds = c / 3 + np.random.default_rng(0).normal(size=(64, 2)) * 0.3
    with jax.enable_x64(True):
        p = {"c": jnp.asarray(c)}

        def newton(s0):  # the search's first stage on one seed, three iterations at most
            return solvers.solve(solvers.Newton(), lambda s: step(p, s, None) - s, s0, max_steps=3, tol=0.0)[:2]

        ends, codes = jax.vmap(newton)(jnp.asarray(seeds))
        fp = find_fixed_points(step, p, np.zeros(1), seeds, descent_steps=0, newton_steps=3)
    # every seed's own end state, not only the best of them after de-duplication
    np.testing.assert_allclose(np.asarray(ends), np.broadcast_to(c / 3, (64, 2)), rtol=0, atol=1e-12)
    assert np.all(np.asarray(codes) == Result.CONVERGED)
    assert len(fp) == 1 and fp.converged.all() and fp.n_found.sum() == 64 and fp.q[0] < 1e-20
    assert fp.newton_step[0] < 1e-12


def test_failed_searches_are_dropped_and_counted_or_kept_with_their_status():
    rng = np.random.default_rng(1)
    p = _linear_params(rng, False)
    seeds = rng.normal(size=(16, 4))
    no_search = dict(descent_steps=0, newton_steps=0)
    dropped = find_fixed_points(linear_map, p, np.zeros(2, np.float32), seeds, **no_search)
    kept = find_fixed_points(linear_map, p, np.zeros(2, np.float32), seeds, keep_failed=True, **no_search)
    assert len(dropped) == 0 and dropped.n_failed == 16 and dropped.n_initial_states == 16
    assert dropped.states.shape == (0, 4) and dropped.eigvals.shape == (0, 4)
    assert len(kept) == 16 and np.all(kept.status == Status.FAILED) and not np.any(kept.converged)


def test_dedup_keeps_an_isolated_point_and_flags_it_outside_the_reachable_region():
    rng = np.random.default_rng(4)
    near = np.r_[rng.uniform(-0.2, 0.2, 15), rng.uniform(0.8, 1.2, 15)][:, None]
    seeds = np.r_[near, [[49.0]]]  # one lone seed by the far root
    fp = find_fixed_points(three_roots, None, np.zeros(1, np.float32), seeds, options=FAST,
                           continuous=True, alpha=0.01, reachable_states=near)
    order = np.argsort(fp.states[:, 0])
    np.testing.assert_allclose(fp.states[order, 0], [0.0, 1.0, 50.0], atol=1e-10)
    np.testing.assert_array_equal(fp.outside_reachable[order], [False, False, True])
    assert fp.n_found[order[2]] == 1 and fp.n_found.sum() == 31
    # f'(x) at the roots, by hand: −1, +0.98, −49
    np.testing.assert_allclose(fp.eigvals[order, 0].real, [-1.0, 0.98, -49.0], atol=1e-9)
    np.testing.assert_array_equal(fp.is_stable[order], [True, False, True])


def test_points_under_different_inputs_are_never_merged():
    rng = np.random.default_rng(1)
    p = _linear_params(rng, False)
    seeds = rng.normal(size=(16, 4))
    inputs = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0]], np.float32), 8, axis=0)
    fp = find_fixed_points(linear_map, p, inputs, seeds, options=FAST)
    assert len(fp) == 2 and sorted(fp.n_found) == [8, 8]
    for s, u in zip(fp.states, fp.inputs):
        truth = np.linalg.solve(np.eye(4) - as64(p["A"]), as64(p["B"]) @ u + as64(p["b"]))
        np.testing.assert_allclose(s, truth, atol=1e-10)


# -- seeds and the saddle round ------------------------------------------------------------------------
CUBE_POINTS = np.array(list(itertools.product([-1.0, 0.0, 1.0], repeat=3)))


def test_saddle_round_finds_every_saddle_of_the_cube_that_trajectory_seeds_miss():
    rng = np.random.default_rng(5)
    corners = CUBE_POINTS[np.all(CUBE_POINTS != 0, axis=1)]
    seeds = corners[rng.integers(0, 8, 32)] + 0.05 * rng.normal(size=(32, 3))
    one = find_fixed_points(cube, None, np.zeros(1, np.float32), seeds, options=FAST, continuous=True, alpha=0.1)
    assert len(one) == 8 and np.all(one.is_stable)
    two = find_fixed_points(cube, None, np.zeros(1, np.float32), seeds, options=FAST, continuous=True, alpha=0.1,
                            saddle_seeds_per_pair=1)
    assert len(two) == 27 and np.all(two.converged)
    found = {tuple(np.round(s, 9) + 0.0) for s in two.states}
    assert found == {tuple(s) for s in CUBE_POINTS}
    zeros = np.sum(np.abs(two.states) < 0.5, axis=1)
    np.testing.assert_array_equal(two.n_unstable, zeros)  # index = number of coordinates at 0
    assert np.bincount(two.n_unstable).tolist() == [8, 12, 6, 1]
    assert two.n_initial_states == 32 + 28  # 28 pairs of corners, one midpoint each


def test_saddle_seeds_are_points_between_pairs():
    stable = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    mid = saddle_seeds(stable)
    np.testing.assert_allclose(mid, [[1.0, 0.0], [0.0, 2.0], [1.0, 2.0]])
    thirds = saddle_seeds(stable[:2], n_per_pair=2)
    np.testing.assert_allclose(thirds, [[2 / 3, 0.0], [4 / 3, 0.0]])
    near = saddle_seeds(stable, max_neighbours=1)  # (0,1) and (1,0) nearest each other; (2,0) nearest 0
    np.testing.assert_allclose(near, [[1.0, 0.0], [0.0, 2.0]])
    assert saddle_seeds(stable[:1]).shape == (0, 2)


def test_sample_initial_states_draws_visited_states_plus_noise(key):
    states = 10.0 * jnp.arange(2 * 5 * 3, dtype=jnp.float32).reshape(2, 5, 3)
    flat = np.asarray(states).reshape(-1, 3)
    picked = np.asarray(sample_initial_states(states, 10, key=key))
    assert picked.shape == (10, 3)
    assert all(any(np.array_equal(p, f) for f in flat) for p in picked)
    assert len({tuple(p) for p in picked}) == 10  # without replacement when there are enough
    np.testing.assert_array_equal(sample_initial_states(states, 10, key=key), picked)  # same key, same seeds
    noisy = np.asarray(sample_initial_states(states, 10, key=key, noise_std=0.5))
    noise = noisy - picked  # the same key picks the same states
    assert np.all(noise != 0) and 0.25 < noise.std() < 0.8 and np.all(np.abs(noise) < 4.0)
    many = np.asarray(sample_initial_states(states, 40, key=key))  # more than were visited: with replacement
    assert many.shape == (40, 3) and all(any(np.array_equal(p, f) for f in flat) for p in many)


# -- populations ---------------------------------------------------------------------------------------
def test_population_equals_looping_over_networks():
    deltas = [0.5, 1.0, 3.0]
    stacked = {"delta": jnp.asarray(deltas, jnp.float32)}
    seeds = np.random.default_rng(3).uniform(-1.6, 1.6, size=(32, 2))  # as the Duffing test: shared compile
    # the saddle round seeds the midpoint of the two wells, which is the saddle: exercises its padding;
    # chunks of 2 networks: the second chunk is padded with a copy of the third network
    pop = find_fixed_points(duffing, stacked, np.zeros(1, np.float32), seeds, options=FAST,
                            continuous=True, alpha=0.1, saddle_seeds_per_pair=1, chunk_size=2)
    assert len(pop) == 3
    for i, d in enumerate(deltas):
        one = find_fixed_points(duffing, {"delta": jnp.float32(d)}, np.zeros(1, np.float32), seeds, options=FAST,
                                continuous=True, alpha=0.1, saddle_seeds_per_pair=1)
        assert pop[i].n_initial_states == one.n_initial_states == 33
        assert len(pop[i]) == len(one) == 3 and pop[i].n_failed == one.n_failed
        a, b = pop[i].states, one.states
        np.testing.assert_allclose(a[np.lexsort(a.T)], b[np.lexsort(b.T)], atol=1e-12)
        ea, eb = pop[i].eigvals, one.eigvals
        np.testing.assert_allclose(ea[np.lexsort(a.T)], eb[np.lexsort(b.T)], atol=1e-10)
        np.testing.assert_array_equal(np.sort(pop[i].n_found), np.sort(one.n_found))


def test_a_models_stacked_params_are_a_population_and_its_own_params_one_network():
    # The model's init says which: shared seeds [K, S] with stacked params give one FixedPoints per network,
    # each the points of that network alone; the deprecated twin warns and gives the same.
    model = models.get("vanilla", n_inputs=1, n_hidden=3, n_outputs=1)
    nets = [model.init(jax.random.key(i)) for i in range(2)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *nets)
    seeds = np.random.default_rng(0).uniform(-1, 1, (8, 3)).astype(np.float32)
    u = np.zeros(1, np.float32)
    pop = find_fixed_points(model, stacked, u, seeds, options=FAST)
    assert isinstance(pop, list) and len(pop) == 2
    for fp, params in zip(pop, nets):
        one = find_fixed_points(model, params, u, seeds, options=FAST)
        assert isinstance(one, FixedPoints) and len(one) == len(fp) >= 1
        np.testing.assert_allclose(np.sort(one.states, axis=0), np.sort(fp.states, axis=0), atol=1e-10)
    with pytest.warns(DeprecationWarning, match="find_fixed_points_population is deprecated"):
        old = find_fixed_points_population(model, stacked, u, seeds, options=FAST)
    assert [len(f) for f in old] == [len(f) for f in pop]


# -- every model of the zoo --------------------------------------------------------------------------
# Rate models only: a spiking model's step (`spiking = True`) is a Heaviside of the membrane potential, so the
# Jacobian the search takes through its surrogate gradient is not the derivative of the map that the central
# differences below measure (they differ by the surrogate's tail, ~1e-5), and polishing a discontinuous map
# to float64 is not the question its fixed points raise. Every rate model stays in.
RATE_MODELS = [
    n for n in models.names() if not getattr(models.get(n, n_inputs=2, n_hidden=3, n_outputs=1), "spiking", False)
]


@pytest.mark.slow
@pytest.mark.parametrize("name", RATE_MODELS)
def test_every_registered_model_polishes_to_float64_precision(name):
    """A contract test over the registry: new models are checked without a new test."""
    model = models.get(name, n_inputs=2, n_hidden=3, n_outputs=1)
    params = model.init(jax.random.key(0))
    seeds = 0.5 * jax.random.normal(jax.random.key(1), (8, model.n_state))
    # a nonzero input keeps relu models' fixed points off the kink at 0, where no Jacobian exists
    u = jnp.array([0.3, 0.7])
    fp = find_fixed_points(model, params, u, seeds, descent_steps=0, newton_steps=30)
    assert fp.counts()["converged"] >= 1
    conv = fp.select(fp.converged)
    assert np.all(conv.q < 1e-12)
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        u64 = jnp.asarray(u, jnp.float64)
        step = lambda s: np.asarray(model.step(p64, jnp.asarray(s), u64))  # noqa: E731
        for s, w in zip(conv.states, conv.eigvals):
            assert np.max(np.abs(step(s) - s)) < 1e-12
            # Jacobian by central differences, independent of jax.jacfwd
            h = 1e-6
            jac = np.stack([(step(s + h * e) - step(s - h * e)) / (2 * h) for e in np.eye(len(s))], axis=1)
            if model.continuous:
                jac = (jac - np.eye(len(s))) / model.alpha
            assert_same_spectrum(w, np.linalg.eigvals(jac), atol=1e-6)


# -- the result type -------------------------------------------------------------------------------------
def test_fixed_points_is_a_pytree_and_selects_rows():
    rng = np.random.default_rng(1)
    p = _linear_params(rng, False)
    fp = find_fixed_points(linear_map, p, np.zeros(2, np.float32), rng.normal(size=(16, 4)), options=FAST)
    leaves, treedef = jax.tree.flatten(fp)
    assert len(leaves) == 14
    again = jax.tree.unflatten(treedef, leaves)
    assert isinstance(again, FixedPoints) and again.n_initial_states == 16
    assert len(fp.select(np.array([False]))) == 0 and len(fp.select([0, 0])) == 2


# -- errors at the boundary ------------------------------------------------------------------------------
def test_errors_name_the_argument_and_the_fix():
    p = {"A": f32(np.eye(4) * 0.5), "B": f32(np.zeros((4, 2))), "b": f32(np.zeros(4))}
    u = np.zeros(2, np.float32)
    with pytest.raises(ShapeError, match=r"initial_states must be .*\[K, S\].* got shape \(4,\)"):
        find_fixed_points(linear_map, p, u, np.zeros(4))
    with pytest.raises(ShapeError, match=r"inputs must be \[I\] or \[K, I\].*K = 3.*got shape \(2, 2\)"):
        find_fixed_points(linear_map, p, np.zeros((2, 2)), np.zeros((3, 4)))
    with pytest.raises(ShapeError, match=r"step\(params, state \[5\], x \[2\]\) failed"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 5)))
    with pytest.raises(ShapeError, match=r"must return a state of shape \(4,\), got \(\)"):
        find_fixed_points(lambda p, s, x: jnp.sum(s), p, u, np.zeros((3, 4)))
    with pytest.raises(ConfigError, match=r"unknown fixed-point option 'lr'; the options are: .*learning_rate"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 4)), lr=0.1)
    with pytest.raises(ConfigError, match=r"newton_steps must be an integer ≥ 0, got -1"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 4)), newton_steps=-1)
    with pytest.raises(ConfigError, match=r"descent must be 'newton' or 'adam', got 'lbfgs'"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 4)), descent="lbfgs")
    with pytest.raises(ConfigError, match=r"memory_budget must be a positive memory size such as 200MB.* got 'lots'"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 4)), memory_budget="lots")
    with pytest.raises(ConfigError, match=r"model must be a dynascope Model, an object with the model methods .* got str 'vanilla'"):
        find_fixed_points("vanilla", p, u, np.zeros((3, 4)))
    with pytest.raises(ConfigError, match=r"alpha=0.5 was given for a map; pass continuous=True"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 4)), alpha=0.5)
    model = models.get("vanilla", n_inputs=2, n_hidden=4, n_outputs=1)
    with pytest.raises(ConfigError, match=r"continuous=True and alpha=None were given with the model 'vanilla'"):
        find_fixed_points(model, model.init(jax.random.key(0)), u, np.zeros((3, 4)), continuous=True)
    with pytest.raises(ShapeError, match=r"'vanilla' model has state size 4, but .* state size 3"):
        find_fixed_points(model, model.init(jax.random.key(0)), u, np.zeros((3, 3)))
    with pytest.raises(ShapeError, match=r"reachable_states must be \[\.\.\., S\] with S = 4, got shape \(10, 3\)"):
        find_fixed_points(linear_map, p, u, np.zeros((3, 4)), reachable_states=np.zeros((10, 3)))
    with pytest.raises(ShapeError, match=r"params of a population must hold arrays that all have the same leading"):
        find_fixed_points(linear_map, {"A": jnp.zeros((2, 4, 4)), "B": jnp.zeros((3, 4, 2)),
                                       "b": jnp.zeros((2, 4))}, u, np.zeros((2, 3, 4)))
    with pytest.raises(ShapeError, match=r"initial_states must be \[K, S\] \(shared\) or \[n, K, S\] with n = 2"):
        stacked = jax.tree.map(lambda a: jnp.stack([a, a]), p)
        find_fixed_points(linear_map, stacked, u, np.zeros((3, 3, 4)))
    with pytest.raises(ShapeError, match=r"states must be visited states \[\.\.\., S\]"):
        sample_initial_states(jnp.zeros(3), 2, key=jax.random.key(0))
    with pytest.raises(ConfigError, match=r"noise_std must be a number ≥ 0"):
        sample_initial_states(jnp.zeros((3, 2)), 2, key=jax.random.key(0), noise_std=-1.0)


def saturating(p, s, x):
    """s + sech²(s)·(tanh(2s) − s) per coordinate: roots 0 and ±s* (tanh(2s*) = s*), and r → 0 as |s| → ∞
    with no root out there, so Newton and the minimisation of q walk away from seeds beyond |s| ≈ 2."""
    return s + (1.0 - jnp.tanh(s) ** 2) * (jnp.tanh(2.0 * s) - s)


def test_seeds_that_walk_away_from_the_visited_region_are_stopped_and_counted():
    s_star = scipy.optimize.brentq(lambda s: np.tanh(2 * s) - s, 0.5, 1.5)
    rng = np.random.default_rng(7)
    visited = rng.uniform(-1.0, 1.0, (200, 2))
    near = np.array(list(itertools.product(np.linspace(-1.2, 1.2, 6), repeat=2)))
    far = rng.choice([-1.0, 1.0], (16, 2)) * rng.uniform(2.5, 4.0, (16, 2))
    seeds = np.r_[near, far].astype(np.float32)
    u = np.zeros(1, np.float32)
    bounded = find_fixed_points(saturating, None, u, seeds, reachable_states=visited, saddle_seeds_per_pair=0)
    free = find_fixed_points(saturating, None, u, seeds, reachable_states=visited, search_margin=None, saddle_seeds_per_pair=0)
    truth = np.array(list(itertools.product([-s_star, 0.0, s_star], repeat=2)))
    for fp in (bounded, free):
        assert fp.converged.all() and len(fp) == 9
        got = fp.states[np.lexsort(np.round(fp.states, 6).T)]
        np.testing.assert_allclose(got, truth[np.lexsort(np.round(truth, 6).T)], atol=1e-10)
        # index = number of coordinates at the unstable root 0 (F'(0) = 2, F'(±s*) = 1 − sech²(s*)(1 − 2sech²(2s*)))
        assert collections.Counter(fp.n_unstable.tolist()) == {0: 4, 1: 4, 2: 1}
    assert bounded.n_escaped >= 16 and bounded.n_failed == 0  # every far seed walks off and is stopped
    assert free.n_escaped == 0 and free.n_failed >= 16  # the same seeds, unbounded, fail after the whole budget
    assert bounded.n_initial_states == free.n_initial_states
    stacked = find_fixed_points(saturating, {"w": jnp.zeros((2, 1))}, u, np.stack([seeds, seeds]),
                                reachable_states=np.stack([visited, visited]), saddle_seeds_per_pair=0)
    assert [(len(f), f.n_escaped, f.n_failed) for f in stacked] == [(9, bounded.n_escaped, 0)] * 2


def test_a_root_far_outside_the_visited_region_needs_search_margin_none():
    # The root at 50 lies 49 box widths from the visited states [0, 1]: the default search region (the box
    # widened by a quarter of its width, or that far around the seed) stops the seed at 49 on its way there.
    visited = np.linspace(0.0, 1.0, 11)[:, None]
    seeds = np.array([[0.2], [0.9], [49.0]], np.float32)
    opts = dict(continuous=True, alpha=0.01, reachable_states=visited, saddle_seeds_per_pair=0)
    bounded = find_fixed_points(three_roots, None, np.zeros(1, np.float32), seeds, **opts)
    free = find_fixed_points(three_roots, None, np.zeros(1, np.float32), seeds, search_margin=None, **opts)
    np.testing.assert_allclose(np.sort(bounded.states[:, 0]), [0.0, 1.0], atol=1e-10)
    assert bounded.n_escaped == 1 and not bounded.outside_reachable.any()
    np.testing.assert_allclose(np.sort(free.states[:, 0]), [0.0, 1.0, 50.0], atol=1e-10)
    assert free.n_escaped == 0 and free.outside_reachable.sum() == 1
    with pytest.raises(ConfigError, match=r"search_margin must be None .* got 0"):
        find_fixed_points(three_roots, None, np.zeros(1), seeds, search_margin=0, **opts)
    with pytest.raises(ConfigError, match=r"search_margin .* got nan"):
        find_fixed_points(three_roots, None, np.zeros(1), seeds, search_margin=float("nan"), **opts)
