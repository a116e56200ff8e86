"""RSA against SciPy: pdist dissimilarity matrices and spearmanr / pearsonr of their upper triangles."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr, spearmanr

from dynascope.compare import rdm, rsa_distance, rsa_similarity
from dynascope.errors import ConfigError, ShapeError


@pytest.mark.parametrize("dissimilarity", ["correlation", "euclidean"])
def test_rdm_matches_pdist(dissimilarity):
    x = np.random.default_rng(0).normal(size=(7, 5, 4))
    with jax.enable_x64(True):
        flat = np.asarray(rdm(x, dissimilarity=dissimilarity))
        mean = np.asarray(rdm(x, dissimilarity=dissimilarity, time="mean"))
    np.testing.assert_allclose(flat, squareform(pdist(x.reshape(7, -1), dissimilarity)), atol=1e-12)
    np.testing.assert_allclose(mean, squareform(pdist(x.mean(1), dissimilarity)), atol=1e-12)


def test_similarity_matches_spearman_and_pearson():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 6, 5))
    y = x[..., :3] @ rng.normal(size=(3, 8)) + 0.7 * rng.normal(size=(9, 6, 8))
    dx, dy = pdist(x.reshape(9, -1), "correlation"), pdist(y.reshape(9, -1), "correlation")
    with jax.enable_x64(True):
        rho = float(rsa_similarity(x, y))
        r = float(rsa_similarity(x, y, compare="pearson"))
        d = float(rsa_distance(x, y))
    np.testing.assert_allclose(rho, spearmanr(dx, dy).statistic, atol=1e-12)
    np.testing.assert_allclose(r, pearsonr(dx, dy).statistic, atol=1e-12)
    np.testing.assert_allclose(d, 1.0 - spearmanr(dx, dy).statistic, atol=1e-12)


def test_spearman_averages_tied_ranks_like_scipy():
    # Integer points on a line: many equal Euclidean distances, hence many tied ranks.
    x = np.array([[0.0], [1.0], [2.0], [3.0], [5.0], [8.0]])
    y = np.array([[0.0], [2.0], [1.0], [3.0], [4.0], [4.0]])
    expected = spearmanr(pdist(x), pdist(y)).statistic
    with jax.enable_x64(True):
        ours = float(rsa_similarity(x, y, dissimilarity="euclidean"))
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_errors_name_the_argument():
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ShapeError, match="same conditions, got 5 conditions in X and 4 in Y"):
        rsa_similarity(x, np.zeros((4, 3)))
    with pytest.raises(ConfigError, match="dissimilarity must be one of 'correlation', 'euclidean', got"):
        rdm(x, dissimilarity="cosine")
    with pytest.raises(ConfigError, match="compare must be one of"):
        rsa_similarity(x, x, compare="kendall")
    with pytest.raises(ShapeError, match=r"responses \[conditions, time, units\]"):
        rdm(np.zeros(5))
