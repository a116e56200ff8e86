"""CCA and SVCCA against scikit-learn's CCA, a direct SciPy computation, and their invariances."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.linalg
from sklearn.cross_decomposition import CCA

from dynascope.compare import cca_correlations, cca_distance, cca_similarity, svcca_distance, svcca_similarity
from dynascope.errors import ConfigError, ShapeError


def _correlated(rng: np.random.Generator, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(size=(n, 3))
    x = z @ rng.normal(size=(3, 5)) + 0.5 * rng.normal(size=(n, 5))
    y = z @ rng.normal(size=(3, 4)) + 0.8 * rng.normal(size=(n, 4))
    return x, y


def _scipy_cca(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Canonical correlations as singular values of Cxx^{-1/2} Cxy Cyy^{-1/2}."""
    x, y = x - x.mean(0), y - y.mean(0)
    wx = scipy.linalg.inv(scipy.linalg.sqrtm(x.T @ x))
    wy = scipy.linalg.inv(scipy.linalg.sqrtm(y.T @ y))
    return scipy.linalg.svd(np.real(wx @ x.T @ y @ wy), compute_uv=False)


def _top_pcs(x: np.ndarray, k: int) -> np.ndarray:
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, :k] * s[:k]


def test_correlations_match_scipy_and_sklearn():
    x, y = _correlated(np.random.default_rng(0))
    with jax.enable_x64(True):
        ours = np.asarray(cca_correlations(x, y, eps=0.0))
    np.testing.assert_allclose(ours, _scipy_cca(x, y), atol=1e-10)

    model = CCA(n_components=3, max_iter=5000, tol=1e-12).fit(x, y)
    xs, ys = model.transform(x, y)
    sk = [np.corrcoef(xs[:, k], ys[:, k])[0, 1] for k in range(3)]
    np.testing.assert_allclose(ours[:3], sk, atol=1e-4)


def test_float32_default_is_close_to_float64_reference():
    x, y = _correlated(np.random.default_rng(1))
    ours = cca_similarity(x.astype(np.float32), y.astype(np.float32))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(float(ours), _scipy_cca(x, y).mean(), atol=1e-4)


def test_invariant_to_invertible_maps_trajectory_input_and_zero_padding():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 20, 5)).astype(np.float32)
    m = (rng.normal(size=(5, 5)) + 3 * np.eye(5)).astype(np.float32)
    y = x @ m + 2.0
    assert float(cca_distance(x, y)) < 1e-4
    z = rng.normal(size=(6, 20, 3)).astype(np.float32)
    padded = np.concatenate([z, np.zeros((6, 20, 4), np.float32)], axis=-1)
    np.testing.assert_allclose(float(cca_distance(x, padded)), float(cca_distance(x, z)), atol=1e-5)
    assert float(cca_distance(x, z)) > 0.5


def test_distance_between_two_sets_is_unchanged_by_invertible_maps_of_each():
    # d(X A, Y B) = d(X, Y) for any invertible A, B, here one of them ill-conditioned (condition number 1e3).
    x, y = _correlated(np.random.default_rng(4))
    rng = np.random.default_rng(5)
    u, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a = u @ np.diag(np.logspace(0, 3, 5)) @ u.T @ rng.normal(size=(5, 5))
    b = rng.normal(size=(4, 4))
    assert np.linalg.cond(a) > 1e2 and abs(np.linalg.det(b)) > 1e-3
    with jax.enable_x64(True):
        base = float(cca_distance(x, y, eps=0.0))
        mapped = float(cca_distance(x @ a - 4.0, y @ b + 1.5, eps=0.0))
    assert 0.1 < base < 0.9  # a pair that is neither identical nor unrelated
    np.testing.assert_allclose(mapped, base, atol=1e-9)
    np.testing.assert_allclose(base, 1.0 - _scipy_cca(x, y)[:4].mean(), atol=1e-10)


def test_svcca_equals_cca_of_top_principal_components():
    x, y = _correlated(np.random.default_rng(3))
    with jax.enable_x64(True):
        fixed = float(svcca_similarity(x, y, keep=2, eps=0.0))
        var = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
        k_x = int(np.searchsorted(np.cumsum(var) / var.sum(), 0.9) + 1)
        var_y = np.linalg.svd(y - y.mean(0), compute_uv=False) ** 2
        k_y = int(np.searchsorted(np.cumsum(var_y) / var_y.sum(), 0.9) + 1)
        frac = float(svcca_similarity(x, y, keep=0.9, eps=0.0))
        dist = float(svcca_distance(x, y, keep=0.9, eps=0.0))
    np.testing.assert_allclose(fixed, _scipy_cca(_top_pcs(x, 2), _top_pcs(y, 2)).mean(), atol=1e-10)
    expected = _scipy_cca(_top_pcs(x, k_x), _top_pcs(y, k_y))[: min(k_x, k_y)].mean()
    np.testing.assert_allclose(frac, expected, atol=1e-10)
    np.testing.assert_allclose(dist, 1.0 - expected, atol=1e-10)


def test_errors_name_the_argument():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ShapeError, match=r"X must be states .* got an array of shape \(10,\)"):
        cca_distance(np.zeros(10), x)
    with pytest.raises(ShapeError, match="same samples .* 10 samples in X and 8 in Y"):
        cca_distance(x, np.zeros((8, 3)))
    with pytest.raises(ConfigError, match="keep as a variance fraction must lie in"):
        svcca_distance(x, x, keep=1.5)
    with pytest.raises(ConfigError, match="keep must be at least 1 component, got 0"):
        svcca_distance(x, x, keep=0)
    with pytest.raises(ConfigError, match="eps must be a non-negative ridge, got -1"):
        cca_similarity(x, x, eps=-1.0)
