"""DSA: delay embedding, DMD operators, the orthogonal alignment and the eigenvalue variant.

Ground truth: hand-built Hankel matrices, the eigenvalues of the generating linear system, exact
orthogonal conjugates, brute-force minima over eigenvalue permutations, and the Hoffman–Wielandt
theorem (for normal operators the minimum over conjugations is the optimal eigenvalue matching).
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from scipy.stats import ortho_group

from dynascope.compare import (
    cca_distance,
    delay_embed,
    dmd_operator,
    dsa_distance,
    eigenvalue_wasserstein,
    optimal_similarity_transform,
    procrustes_distance,
    similarity_transform_distance,
)
from dynascope.errors import ConfigError, ShapeError


def _rot(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def _linear_trajectories(
    a: np.ndarray, rng: np.random.Generator, conditions: int = 8, time: int = 20
) -> np.ndarray:
    x = np.empty((conditions, time, a.shape[0]))
    x[:, 0] = rng.normal(size=(conditions, a.shape[0]))
    for t in range(1, time):
        x[:, t] = x[:, t - 1] @ a.T
    return x


def _stable_matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.normal(size=(n, n))
    return 0.95 * a / np.max(np.abs(np.linalg.eigvals(a)))


def _brute_force_matching(la: np.ndarray, lb: np.ndarray) -> float:
    return min(
        np.sqrt(sum(abs(la[i] - lb[p]) ** 2 for i, p in enumerate(perm)))
        for perm in itertools.permutations(range(len(lb)))
    )


def test_delay_embedding_matches_hand_built_hankel():
    x = np.arange(2 * 6 * 2, dtype=np.float32).reshape(2, 6, 2)
    h = np.asarray(delay_embed(x, n_delays=3, delay_interval=2))
    assert h.shape == (2, 2, 6)
    for c in range(2):
        for t in range(2):
            expected = np.concatenate([x[c, t + 4], x[c, t + 2], x[c, t]])
            np.testing.assert_array_equal(h[c, t], expected)


def test_dmd_operator_has_the_eigenvalues_of_the_linear_system():
    rng = np.random.default_rng(0)
    a = _stable_matrix(rng, 4)
    x = _linear_trajectories(a, rng)
    with jax.enable_x64(True):
        op = np.asarray(dmd_operator(x, rank=4))
    expected = np.sort_complex(np.linalg.eigvals(a))
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(op)), expected, atol=1e-8)


def test_orthogonally_conjugated_system_scores_zero():
    rng = np.random.default_rng(1)
    x = _linear_trajectories(_stable_matrix(rng, 4), rng).astype(np.float32)
    q = ortho_group.rvs(4, random_state=2).astype(np.float32)
    assert float(dsa_distance(x, x @ q.T, rank=4)) < 2e-3
    assert float(dsa_distance(x, x[..., ::-1], n_delays=2, rank=4)) < 2e-3  # permuted units
    other = _linear_trajectories(_stable_matrix(rng, 4), rng).astype(np.float32)
    assert float(dsa_distance(x, other, rank=4)) > 0.1


def test_same_geometry_different_flow_separates_dsa_but_not_geometry():
    # Every condition sits at a point p_c of the unit circle plus a small deviation δ·d_t that either
    # rotates (x) or contracts radially back onto the circle (y): one state-space geometry, two flows.
    conditions, steps, delta = 12, 16, 0.05
    phi = 2 * np.pi * np.arange(conditions) / conditions
    p = np.stack([np.cos(phi), np.sin(phi)], -1)
    x = np.stack([[pc + delta * _rot(np.pi / 2 * t) @ pc for t in range(steps)] for pc in p])
    y = np.stack([[pc * (1 + delta * 0.5**t) for t in range(steps)] for pc in p])
    x, y = x.astype(np.float32), y.astype(np.float32)
    conj = x @ (_rot(0.7) @ np.diag([1.0, -1.0])).T.astype(np.float32)

    assert float(procrustes_distance(x, y)) < 0.06
    assert float(cca_distance(x, y)) < 0.01
    different = float(dsa_distance(x, y, n_delays=2, rank=4))
    same = float(dsa_distance(x, conj, n_delays=2, rank=4))
    assert same < 2e-3
    assert different > 0.5
    # The flows differ in spectrum: {1, 1, ±i} against {1, 1, 0.5, 0.5}, matched at cost √2.5.
    ops = [dmd_operator(z, n_delays=2, rank=4) for z in (x, y)]
    np.testing.assert_allclose(eigenvalue_wasserstein(*ops), np.sqrt(2.5), atol=1e-3)


def test_euclidean_alignment_attains_hoffman_wielandt_for_normal_operators():
    def normal(blocks: list[np.ndarray], seed: int) -> np.ndarray:
        d = np.zeros((4, 4))
        d[:2, :2], d[2, 2], d[3, 3] = blocks
        q = ortho_group.rvs(4, random_state=seed)
        return q @ d @ q.T

    a = normal([0.9 * _rot(0.3), 0.5, -0.2], seed=3)
    b = normal([0.8 * _rot(0.5), 0.4, 0.1], seed=4)
    bound = _brute_force_matching(np.linalg.eigvals(a), np.linalg.eigvals(b))
    with jax.enable_x64(True):
        ours = float(similarity_transform_distance(a, b, score="euclidean"))
        c = np.asarray(optimal_similarity_transform(a, b))
    np.testing.assert_allclose(ours, bound, atol=1e-6)
    np.testing.assert_allclose(c @ c.T, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(eigenvalue_wasserstein(a, b), bound, atol=1e-12)


def test_alignment_of_non_normal_2x2_operators_matches_a_grid_search_over_o2():
    # O(2) is a circle of rotations and a circle of reflections: a fine grid finds the optimum.
    rng = np.random.default_rng(6)
    theta = np.linspace(0, 2 * np.pi, 20001)
    rotations = np.stack([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]).transpose(2, 0, 1)
    group = np.concatenate([rotations, rotations @ np.diag([1.0, -1.0])])
    for _ in range(3):
        a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        best = np.linalg.norm(a - group @ b @ group.transpose(0, 2, 1), axis=(1, 2)).min()
        with jax.enable_x64(True):
            ours = float(similarity_transform_distance(a, b, score="euclidean"))
        np.testing.assert_allclose(ours, best, atol=1e-6)


def test_eigenvalue_wasserstein_matches_brute_force_and_pads_with_zeros():
    rng = np.random.default_rng(5)
    for _ in range(3):
        a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
        expected = _brute_force_matching(np.linalg.eigvals(a), np.linalg.eigvals(b))
        np.testing.assert_allclose(eigenvalue_wasserstein(a, b), expected, atol=1e-12)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(2, 2))
    expected = _brute_force_matching(np.linalg.eigvals(a), np.concatenate([np.linalg.eigvals(b), [0, 0]]))
    np.testing.assert_allclose(eigenvalue_wasserstein(a, b), expected, atol=1e-12)


def test_errors_name_the_argument():
    x = np.zeros((3, 10, 2), np.float32)
    with pytest.raises(ConfigError, match=r"rank must be at most min\(n_delays·units, samples\) = 4, got 5"):
        dmd_operator(x, n_delays=2, rank=5)
    with pytest.raises(ShapeError, match="too short for n_delays=6"):
        delay_embed(x, n_delays=6, delay_interval=2)
    with pytest.raises(ConfigError, match="score must be one of 'angular', 'euclidean', got 'wasserstein'"):
        similarity_transform_distance(np.eye(2), np.eye(2), score="wasserstein")
    with pytest.raises(ShapeError, match="same size"):
        similarity_transform_distance(np.eye(2), np.eye(3))
    with pytest.raises(ShapeError, match="pass the same rank for both"):
        dsa_distance(x, np.zeros((3, 10, 3), np.float32))
    with pytest.raises(ConfigError, match="n_delays must be an integer >= 1, got 0"):
        delay_embed(x, n_delays=0)


# -- the orthogonal alignment: exact for conjugates, independent of either basis, a metric -----------
# Ground truth by construction: a conjugated copy is at distance 0, and the distance between orbits of
# the conjugation action cannot depend on which member of an orbit is given. Before the fix, 8 of 20
# conjugated 8×8 pairs scored up to 0.37 rad (a reflection off in the spectral start) and 13 of 30 6×6
# cases changed by up to 0.09 rad under a change of basis (half of O(r) never searched).


def _conjugations(n: int, size: int, seed: int) -> list[np.ndarray]:
    qs = [ortho_group.rvs(size, random_state=seed + k) for k in range(n)]
    dets = np.round([np.linalg.det(q) for q in qs])
    assert {-1.0, 1.0} <= set(dets)  # both components of O(r) are exercised
    return qs


def test_conjugated_copies_score_zero_for_either_determinant():
    rng = np.random.default_rng(11)
    with jax.enable_x64(True):
        for q in _conjugations(20, 8, seed=200):
            a = rng.normal(size=(8, 8))
            b = q.T @ a @ q
            assert np.linalg.norm(q @ b @ q.T - a) < 1e-12
            assert float(similarity_transform_distance(a, b)) <= 1e-6
            assert float(similarity_transform_distance(a, b, score="euclidean")) <= 1e-6 * np.linalg.norm(a)


def test_distance_does_not_depend_on_the_basis_of_either_operator():
    rng = np.random.default_rng(12)
    with jax.enable_x64(True):
        for q in _conjugations(30, 6, seed=300):
            a, c = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
            d = float(similarity_transform_distance(a, c))
            assert abs(float(similarity_transform_distance(q @ a @ q.T, c)) - d) <= 1e-6
            assert abs(float(similarity_transform_distance(a, q @ c @ q.T)) - d) <= 1e-6


def test_triangle_inequality_on_random_triples():
    # b is a slightly perturbed conjugate of a, so d(a, b) is small and d(a, c), d(b, c) must nearly agree.
    rng = np.random.default_rng(13)
    with jax.enable_x64(True):
        for q in _conjugations(20, 6, seed=400):
            a, c = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
            b = q @ (a + 0.02 * rng.normal(size=(6, 6))) @ q.T
            dab, dbc, dac = (float(similarity_transform_distance(x, y)) for x, y in ((a, b), (b, c), (a, c)))
            assert dab < 0.05
            assert dac <= dab + dbc + 1e-6
            assert dbc <= dab + dac + 1e-6
            assert dab <= dac + dbc + 1e-6


def _scipy_best_cosine(a: np.ndarray, b: np.ndarray, starts: int, seed: int) -> float:
    """max over O(3) of cos∠(a, C b Cᵀ) by BFGS from many starts in each component: C = S·R(q), R(q) the
    rotation of the unit quaternion q/|q| (closed form), S = I or a reflection."""
    from scipy.optimize import minimize

    an, bn = a / np.linalg.norm(a), b / np.linalg.norm(b)
    rng = np.random.default_rng(seed)

    def rotation(q: np.ndarray) -> np.ndarray:
        w, x, y, z = q / np.linalg.norm(q)
        return np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ])

    def neg_cos(q: np.ndarray, s: np.ndarray) -> float:
        c = s @ rotation(q)
        return -float(np.sum(an * (c @ bn @ c.T)))

    best = -1.0
    for s in (np.eye(3), np.diag([-1.0, 1.0, 1.0])):
        for _ in range(starts):
            res = minimize(neg_cos, rng.normal(size=4), args=(s,), method="BFGS", options={"gtol": 1e-10})
            best = max(best, -res.fun)
    return best


def test_alignment_of_3x3_operators_matches_a_multistart_scipy_search_over_o3():
    rng = np.random.default_rng(14)
    for k in range(4):
        a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
        expected = np.arccos(min(_scipy_best_cosine(a, b, starts=12, seed=k), 1.0))
        with jax.enable_x64(True):
            ours = float(similarity_transform_distance(a, b))
        np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_canonical_signs_follow_a_sign_change_of_the_basis():
    from dynascope.compare.dsa import _tree_signs

    rng = np.random.default_rng(15)
    for _ in range(10):
        m = rng.normal(size=(7, 7)).astype(np.float32)
        k = m - m.T
        d = rng.choice(np.array([-1.0, 1.0], np.float32), size=7)
        s, s_flipped = np.asarray(_tree_signs(k)), np.asarray(_tree_signs(d[:, None] * k * d[None, :]))
        # D K D in the flipped basis: its signs are D times ours, up to one global sign.
        ratio = s_flipped * d / s
        assert np.all(ratio == ratio[0])


def test_random_starts_alternate_between_the_two_components_of_o_r():
    from dynascope.compare.dsa import _random_orthogonal

    for r in (3, 4):
        q = np.asarray(_random_orthogonal(jax.random.key(0), 6, r, np.float32))
        np.testing.assert_allclose(q @ q.transpose(0, 2, 1), np.broadcast_to(np.eye(r), (6, r, r)), atol=1e-5)
        np.testing.assert_allclose(np.linalg.det(q), [-1, 1, -1, 1, -1, 1], atol=1e-5)
