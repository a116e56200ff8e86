"""Newman's Q against NetworkX's `modularity` on the same graph, and the closed form for two modules."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from networkx.algorithms.community import modularity as nx_modularity

from dynascope.compare.modularity import modularity
from dynascope.errors import ConfigError, ShapeError


def _graph(w: np.ndarray, directed: bool) -> nx.Graph:
    """The graph with edge j -> i of weight |w[i, j]| (symmetrised, (|w| + |w|ᵀ)/2, when undirected)."""
    a = np.abs(w) if directed else (np.abs(w) + np.abs(w).T) / 2
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(len(w)))
    for i, j in zip(*np.nonzero(a)):
        if directed or i <= j:
            g.add_edge(int(j), int(i), weight=float(a[i, j]))
    return g


def _communities(labels: np.ndarray) -> list[set[int]]:
    return [set(np.flatnonzero(labels == c).tolist()) for c in np.unique(labels)]


@pytest.mark.parametrize("directed", [True, False])
@pytest.mark.parametrize("resolution", [1.0, 0.7])
def test_equals_networkx_on_a_signed_sparse_matrix_with_self_loops(directed, resolution):
    rng = np.random.default_rng(3)
    n = 9
    w = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.5)  # signed, sparse, some diagonal entries
    w[2, 2] = 1.5
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    ours = float(modularity(w, labels, directed=directed, resolution=resolution))
    ref = nx_modularity(_graph(w, directed), _communities(labels), weight="weight", resolution=resolution)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_two_equal_modules_have_the_closed_form(p):
    """All within-module links (self-links too), a fraction p of the between-module ones: directed Q = 1/(1+p) − 1/2."""
    n = 4
    mask = np.ones((2 * n, 2 * n))
    off = np.zeros((n, n))
    off.flat[: int(round(p * n * n))] = 1.0
    mask[:n, n:] = off
    mask[n:, :n] = off.T
    labels = np.repeat([0, 1], n)
    np.testing.assert_allclose(float(modularity(mask, labels)), 1 / (1 + p) - 0.5, atol=1e-6)


def test_bad_input_is_refused_naming_the_argument():
    with pytest.raises(ShapeError, match=r"weights must be a square matrix .*got shape \(2, 3\)"):
        modularity(np.ones((2, 3)), np.zeros(2))
    with pytest.raises(ShapeError, match=r"modules must hold one label per unit, shape \(3,\), got shape \(2,\)"):
        modularity(np.ones((3, 3)), np.zeros(2))
    with pytest.raises(ConfigError, match="weights has no nonzero connection"):
        modularity(np.zeros((3, 3)), np.zeros(3))
