"""Embedding, clustering and separation scores of a distance matrix, against hand-worked examples and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance

from dynascope.compare import (
    agreement,
    chance_accuracy,
    cluster,
    embed,
    modal_share,
    nearest_neighbour_accuracy,
    within_between,
)
from dynascope.errors import ConfigError, ShapeError


def test_classical_mds_recovers_planar_points_up_to_a_rigid_motion():
    pts = np.random.default_rng(0).normal(size=(12, 2))
    D = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(pts))
    xy = embed(D)
    assert xy.shape == (12, 2)
    np.testing.assert_allclose(scipy.spatial.distance.pdist(xy), scipy.spatial.distance.pdist(pts), atol=1e-8)
    np.testing.assert_array_equal(embed(D), xy)  # deterministic


def test_nearest_neighbour_accuracy_hand_example():
    # a and b are each other's nearest; c's nearest is a (different label); d's nearest is c.
    D = np.array([[0, 1, 2, 9], [1, 0, 5, 9], [2, 5, 0, 3], [9, 9, 3, 0]], float)
    assert nearest_neighbour_accuracy(D, ["x", "x", "y", "y"]) == pytest.approx(3 / 4)
    # A non-finite distance is never nearest: c now finds d.
    D2 = D.copy()
    D2[0, 2] = D2[2, 0] = np.nan
    assert nearest_neighbour_accuracy(D2, ["x", "x", "y", "y"]) == 1.0
    # A network that no metric could score against any other has no nearest neighbour: a miss, not a guess.
    D3 = D.copy()
    D3[3, :3] = D3[:3, 3] = np.inf
    assert nearest_neighbour_accuracy(D3, ["x", "x", "y", "y"]) == pytest.approx(2 / 4)
    assert chance_accuracy(["x", "x", "x", "y"]) == 0.75


def test_nearest_neighbour_ties_count_as_a_random_tie_break():
    # Three networks share one skeleton (distance 0 to each other), the fourth has another. Network a's
    # nearest are b (same label) and c (not): 1/2. b: a and c, 1/2. c: a, b, both other labels: 0. d's
    # nearest are a, b, c at distance 1, one of them (c) with its label: 1/3.
    D = np.array([[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1], [1, 1, 1, 0]], float)
    assert nearest_neighbour_accuracy(D, ["x", "x", "y", "y"]) == pytest.approx((0.5 + 0.5 + 0 + 1 / 3) / 4)
    # The order of the networks no longer matters.
    perm = [2, 3, 0, 1]
    labels = np.array(["x", "x", "y", "y"])[perm]
    assert nearest_neighbour_accuracy(D[np.ix_(perm, perm)], labels) == pytest.approx((1 + 1 / 3) / 4)


def test_within_between_means():
    D = np.array([[0, 1, 4, 6], [1, 0, 5, 7], [4, 5, 0, 3], [6, 7, 3, 0]], float)
    per, within, between = within_between(D, ["x", "x", "y", "y"])
    assert per == {"x": 1.0, "y": 3.0}
    assert within == 2.0 and between == pytest.approx((4 + 6 + 5 + 7) / 4)


def test_clusters_find_separated_blobs_and_agree_with_labels():
    rng = np.random.default_rng(1)
    pts = np.r_[rng.normal(0, 0.1, (5, 3)), rng.normal(5, 0.1, (6, 3))]
    D = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(pts))
    labels = ["a"] * 5 + ["b"] * 6
    c = cluster(D, 2)
    np.testing.assert_array_equal(c, [0] * 5 + [1] * 6)
    assert agreement(c, labels) == pytest.approx(1.0)
    assert agreement(np.zeros(11, int), labels) == pytest.approx(0.0)


def test_modal_share():
    mode, per, share = modal_share(["h1", "h2", "h1", "h1", "h3"], ["gru", "gru", "lstm", "lstm", "lstm"])
    assert mode == "h1" and per == {"gru": 0.5, "lstm": pytest.approx(2 / 3)} and share == pytest.approx(0.6)


def test_bad_input_messages():
    with pytest.raises(ShapeError, match="square distance matrix"):
        embed(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="symmetric"):
        nearest_neighbour_accuracy(np.array([[0, 1], [2, 0]], float), ["a", "b"])
    with pytest.raises(ShapeError, match="one label per network"):
        within_between(np.zeros((3, 3)), ["a", "b"])
    with pytest.raises(ConfigError, match="n_clusters must be a positive integer"):
        cluster(np.zeros((3, 3)), 0)
