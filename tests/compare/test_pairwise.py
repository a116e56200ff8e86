"""All-pairs distance matrices equal the looped scalar metric; zero padding is harmless where it should be."""

from __future__ import annotations

import functools

import jax
import networkx as nx
import numpy as np
import pytest

from dynascope.compare import (
    cca_distance,
    cka_distance,
    distances_to,
    dmd_operator,
    dsa_distance,
    pairwise_distances,
    pairwise_distances_loop,
    shape_distance,
    similarity_transform_distance,
    stack_padded,
    topology_distance,
)
from dynascope.errors import ConfigError, ShapeError


def _looped(metric, items) -> np.ndarray:
    n = len(items)
    return np.array(
        [[0.0 if i == j else float(metric(items[i], items[j])) for j in range(n)] for i in range(n)]
    )


@pytest.mark.parametrize(
    "metric",
    [cca_distance, cka_distance, functools.partial(shape_distance, alpha=0.5)],
    ids=["cca", "cka", "shape"],
)
def test_equals_looped_metric_symmetric_zero_diagonal(metric):
    xs = np.random.default_rng(0).normal(size=(5, 3, 10, 4)).astype(np.float32)
    d = np.asarray(pairwise_distances(metric, xs, chunk=3))  # 10 pairs: chunks of 3 plus a remainder
    np.testing.assert_allclose(d, _looped(metric, list(xs)), atol=2e-5)
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)


def test_different_unit_counts_are_zero_padded_without_changing_distances():
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(30, k)).astype(np.float32) for k in (3, 5, 4)]
    assert stack_padded(xs).shape == (3, 30, 5)
    for metric in (cca_distance, functools.partial(shape_distance, alpha=1.0)):
        np.testing.assert_allclose(np.asarray(pairwise_distances(metric, xs)), _looped(metric, xs), atol=2e-5)


def test_prepare_fits_each_operator_once_and_matches_dsa():
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(4, 3, 12, 2)).astype(np.float32).cumsum(axis=2)
    prepare = functools.partial(dmd_operator, n_delays=2, rank=3)
    d = np.asarray(pairwise_distances(similarity_transform_distance, xs, prepare=prepare))
    expected = _looped(functools.partial(dsa_distance, n_delays=2, rank=3), list(xs))
    np.testing.assert_allclose(d, expected, atol=1e-4)


def test_loop_variant_for_graphs():
    graphs = []
    for n_saddles in (1, 2, 2):
        g = nx.DiGraph()
        g.add_nodes_from(["a", "b"], index=0)
        for s in range(n_saddles):
            g.add_node(s, index=1)
            g.add_edges_from([(s, "a"), (s, "b")])
        graphs.append(g)
    d = pairwise_distances_loop(topology_distance, graphs)
    np.testing.assert_allclose(d, [[0, 1 / 7, 1 / 7], [1 / 7, 0, 0], [1 / 7, 0, 0]])


def test_errors_name_the_argument():
    with pytest.raises(ConfigError, match="chunk must be a positive integer number of pairs, got 0"):
        pairwise_distances(cca_distance, np.zeros((2, 5, 3)), chunk=0)
    with pytest.raises(ShapeError, match="same shape except the last"):
        pairwise_distances(cca_distance, [np.zeros((5, 3)), np.zeros((6, 3))])
    with pytest.raises(ShapeError, match=r"population \[n, ..., units\], got shape \(3,\)"):
        stack_padded(np.zeros(3))
    assert pairwise_distances(cca_distance, jax.numpy.zeros((1, 5, 3))).shape == (1, 1)


def test_principal_basis_prepare_gives_the_same_geometry_distances():
    from dynascope.compare import principal_basis, procrustes_distance, svcca_distance

    rng = np.random.default_rng(3)
    xs = [(rng.normal(size=(40, k)) @ rng.normal(size=(k, k))).astype(np.float32) for k in (4, 6, 5)]
    metrics = [
        cca_distance,
        functools.partial(svcca_distance, keep=0.9),
        cka_distance,
        functools.partial(shape_distance, alpha=0.3),
        procrustes_distance,
    ]
    for metric in metrics:
        d = np.asarray(pairwise_distances(metric, xs, prepare=principal_basis))
        np.testing.assert_allclose(d, _looped(metric, xs), atol=5e-5)


def test_float64_population():
    xs = np.random.default_rng(4).normal(size=(3, 20, 4))
    with jax.enable_x64(True):
        d = pairwise_distances(cca_distance, xs, chunk=2)
        assert d.dtype == np.float64
        np.testing.assert_allclose(np.asarray(d), _looped(cca_distance, list(xs)), atol=1e-12)


def test_distances_to_a_reference_equal_the_scalar_metric():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(4, 6, 3)).astype(np.float32)  # e.g. recordings: 3 units
    nets = [rng.normal(size=(4, 6, k)).astype(np.float32) for k in (3, 5, 5)]
    nets[1] = np.concatenate([ref @ rng.normal(size=(3, 3)), rng.normal(size=(4, 6, 2))], axis=-1).astype(np.float32)
    got = np.asarray(distances_to(cca_distance, ref, nets, chunk=2))
    want = [float(cca_distance(ref, x)) for x in nets]
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(ShapeError, match="must agree in every axis but the last"):
        distances_to(cca_distance, ref[:, :5], nets)
