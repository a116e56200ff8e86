"""Procrustes and generalized shape metrics against scipy.linalg.orthogonal_procrustes, and metric axioms."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group

from dynascope.compare import procrustes_distance, procrustes_rotation, shape_distance
from dynascope.errors import ConfigError, ShapeError


def _centred_unit(z: np.ndarray) -> np.ndarray:
    """z minus its mean sample, scaled to unit Frobenius norm: the sets Procrustes distance compares."""
    z = z - z.mean(0)
    return z / np.linalg.norm(z)


def _netrep_style_angle(x: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """Partial whitening by eigendecomposition of XᵀX (as netrep), then SciPy's optimal rotation.

    Eigenvalues are first scaled to mean 1 over the non-zero ones, the normalisation shape_distance documents.
    """

    def whiten(z: np.ndarray) -> np.ndarray:
        z = z - z.mean(0)
        lam, v = np.linalg.eigh(z.T @ z)
        keep = lam > 1e-9 * lam.max()
        c = lam[keep].mean()
        d = np.where(keep, alpha + (1 - alpha) / np.sqrt(np.where(keep, lam / c, 1.0)), 0.0)
        return z @ (v * d) @ v.T

    wx, wy = whiten(x), whiten(y)
    width = max(wx.shape[1], wy.shape[1])
    wx = np.pad(wx, ((0, 0), (0, width - wx.shape[1])))
    wy = np.pad(wy, ((0, 0), (0, width - wy.shape[1])))
    r, _ = scipy.linalg.orthogonal_procrustes(wx, wy)
    cos = np.sum((wx @ r) * wy) / (np.linalg.norm(wx) * np.linalg.norm(wy))
    return float(np.arccos(np.clip(cos, -1, 1)))


def test_rotation_and_residual_match_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 5))
    r_ref, _ = scipy.linalg.orthogonal_procrustes(x, y)
    with jax.enable_x64(True):
        r = np.asarray(procrustes_rotation(x, y))
    np.testing.assert_allclose(r, r_ref, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(x @ r - y), np.linalg.norm(x @ r_ref - y), rtol=1e-12)


def test_procrustes_distance_is_the_residual_of_normalised_data():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    xn, yn = _centred_unit(x), _centred_unit(y)
    r, _ = scipy.linalg.orthogonal_procrustes(xn, yn)
    with jax.enable_x64(True):
        ours = float(procrustes_distance(x, y))
    np.testing.assert_allclose(ours, np.linalg.norm(xn @ r - yn), atol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_shape_distance_matches_whiten_then_rotate(alpha):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 5)) @ rng.normal(size=(5, 5))
    y = x[:, :3] @ rng.normal(size=(3, 3)) + rng.normal(size=(50, 3))
    with jax.enable_x64(True):
        ours = float(shape_distance(x, y, alpha=alpha))
    np.testing.assert_allclose(ours, _netrep_style_angle(x, y, alpha), atol=1e-8)


def test_rotation_gives_zero_and_stretch_does_not():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 12, 6)).astype(np.float32)
    q = ortho_group.rvs(6, random_state=4).astype(np.float32)
    stretch = np.diag([1.0, 1.0, 1.0, 1.0, 4.0, 0.25]).astype(np.float32)
    assert float(procrustes_distance(x, x @ q + 3.0)) < 2e-3
    assert float(shape_distance(x, x @ q, alpha=0.5)) < 2e-3
    assert float(procrustes_distance(x, x @ stretch)) > 0.3
    assert float(shape_distance(x, x @ stretch, alpha=1.0)) > 0.3
    # Full whitening (alpha=0) forgives any invertible map, stretches included.
    assert float(shape_distance(x, x @ stretch, alpha=0.0)) < 2e-3
    # Between two different sets, rotating (and shifting, scaling) one of them changes nothing.
    y = rng.normal(size=(5, 12, 6)).astype(np.float32) + x
    base = float(procrustes_distance(x, y))
    assert base > 0.3
    np.testing.assert_allclose(float(procrustes_distance(2.0 * (x @ q) - 1.0, y)), base, atol=1e-5)
    np.testing.assert_allclose(float(shape_distance(x @ q, y, alpha=0.5)), float(shape_distance(x, y, alpha=0.5)),
                               atol=1e-5)


def test_zero_padded_units_change_nothing():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.normal(size=(40, 3)).astype(np.float32)
    y_pad = np.pad(y, ((0, 0), (0, 3)))
    for metric in (procrustes_distance, functools.partial(shape_distance, alpha=0.3)):
        np.testing.assert_allclose(float(metric(x, y_pad)), float(metric(x, y)), atol=1e-5)


def test_triangle_inequality_on_random_triples():
    rng = np.random.default_rng(6)
    for alpha in (0.0, 0.5, 1.0):
        dist = jax.jit(functools.partial(shape_distance, alpha=alpha))
        for _ in range(15):
            # Small, partly shared data make near-degenerate triangles, where a violation would show.
            base = rng.normal(size=(12, 3))
            noise = rng.uniform(0, 1, 3)
            a, b, c = (base @ rng.normal(size=(3, 3)) + s * rng.normal(size=(12, 3)) for s in noise)
            with jax.enable_x64(True):
                ab, bc, ac = (float(dist(p, q)) for p, q in ((a, b), (b, c), (a, c)))
            assert ac <= ab + bc + 1e-9
            assert ab <= ac + bc + 1e-9
            assert bc <= ab + ac + 1e-9


def test_triangle_is_an_equality_along_a_geodesic():
    # With X̂, Ŷ centred, unit-norm and Ŷ optimally rotated onto X̂ (scipy), the great circle between them is
    # a shortest path: every point Z on it has d(X, Z) = t·d(X, Y) and d(Z, Y) = (1 − t)·d(X, Y). A quantity
    # that is not a geodesic metric (1 − cos, the squared angle) fails here even when random triangles pass.
    rng = np.random.default_rng(7)
    x, y = _centred_unit(rng.normal(size=(20, 4))), _centred_unit(rng.normal(size=(20, 4)))
    r, _ = scipy.linalg.orthogonal_procrustes(y, x)
    y = y @ r
    theta = np.arccos(np.sum(x * y))
    assert 0.3 < theta < 1.5
    with jax.enable_x64(True):
        d_xy = float(shape_distance(x, y, alpha=1.0))
        np.testing.assert_allclose(d_xy, theta, atol=1e-10)
        for t in (0.25, 0.5, 0.8):
            z = (np.sin((1 - t) * theta) * x + np.sin(t * theta) * y) / np.sin(theta)
            np.testing.assert_allclose(float(shape_distance(x, z, alpha=1.0)), t * theta, atol=1e-8)
            np.testing.assert_allclose(float(shape_distance(z, y, alpha=1.0)), (1 - t) * theta, atol=1e-8)


def test_errors_name_the_argument():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ConfigError, match=r"alpha must be a number in \[0, 1\].*got 2"):
        shape_distance(x, x, alpha=2)
    with pytest.raises(ShapeError, match="same number of units, got 3 and 2"):
        procrustes_rotation(x, np.zeros((10, 2)))
