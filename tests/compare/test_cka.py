"""Linear CKA against the HSIC formula of Kornblith et al. 2019 and its invariances."""

from __future__ import annotations

import contextlib

import jax
import numpy as np
import pytest
from scipy.stats import ortho_group

from dynascope.compare import FewSamplesWarning, cka_distance, cka_similarity


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. 2019, eq. (3): HSIC with linear kernels K = XXᵀ, L = YYᵀ and centring H."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n

    def hsic(k: np.ndarray, l: np.ndarray) -> float:
        return np.trace(k @ h @ l @ h) / (n - 1) ** 2

    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("shape", [(60, 4, 3), (10, 30, 25)])  # feature form and Gram form
def test_matches_hsic_formula(shape):
    n, p, q = shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, p))
    y = x[:, :1] @ rng.normal(size=(1, q)) + rng.normal(size=(n, q))
    # The Gram form is taken with fewer samples than units, which the metrics flag as unreliable data.
    few = pytest.warns(FewSamplesWarning) if n < 2 * max(p, q) else contextlib.nullcontext()
    with jax.enable_x64(True), few:
        ours = float(cka_similarity(x, y))
        dist = float(cka_distance(x, y))
    np.testing.assert_allclose(ours, _hsic_cka(x, y), rtol=1e-10)
    np.testing.assert_allclose(dist, 1.0 - _hsic_cka(x, y), rtol=1e-10)


def test_invariant_to_isotropic_scaling_and_orthogonal_maps_but_not_stretches():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 25, 6)).astype(np.float32)
    y = rng.normal(size=(4, 25, 5)).astype(np.float32) + 0.5 * x[..., :5]
    q = ortho_group.rvs(6, random_state=2).astype(np.float32)
    base = float(cka_similarity(x, y))
    assert 0.1 < base < 0.9  # related but not identical, so an unchanged value means something
    for c in (1e-3, 7.0):  # isotropic scaling alone, of either set
        np.testing.assert_allclose(float(cka_similarity(c * x, y)), base, rtol=1e-5)
        np.testing.assert_allclose(float(cka_similarity(x, c * y)), base, rtol=1e-5)
    np.testing.assert_allclose(float(cka_similarity(3.0 * (x @ q) + 1.0, y)), base, atol=1e-5)
    np.testing.assert_allclose(float(cka_similarity(x, x @ q)), 1.0, atol=1e-5)
    stretch = np.diag([1.0, 1.0, 1.0, 1.0, 1.0, 10.0]).astype(np.float32)
    assert float(cka_distance(x, x @ stretch)) > 0.1
