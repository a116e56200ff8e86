"""The split-half noise ceiling against the reliability derived by hand for data of known signal and noise."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope import data
from dynascope.errors import DataError, ShapeError


def test_split_half_ceiling_matches_the_analytic_reliability(key):
    # Condition means mu ~ N(0, s2) per (condition, bin, neuron), trials = mu + N(0, n2). Averaging m trials per
    # half, each half's entries vary as s2 + n2 / m around each other's shared s2, so the split-half
    # correlation is r = s2 / (s2 + n2 / m), and Spearman-Brown gives the full-data reliability 2 r / (1 + r).
    s2, n2, m = 1.0, 4.0, 5
    n_cond, n_time, n_neurons = 8, 25, 40
    rng = np.random.default_rng(0)
    mu = rng.normal(0.0, np.sqrt(s2), (n_cond, n_time, n_neurons))
    labels = np.repeat(np.array([f"c{k}" for k in range(n_cond)]), 2 * m)
    trials = mu[np.repeat(np.arange(n_cond), 2 * m)] + rng.normal(0.0, np.sqrt(n2), (n_cond * 2 * m, n_time, n_neurons))
    r_half = s2 / (s2 + n2 / m)
    expected = 2 * r_half / (1 + r_half)
    ceiling = data.split_half_ceiling(trials, labels, key=key, n_splits=50)
    # Pooled over 40 neurons x 200 entries the sampling error of a correlation is about (1 - r^2) / sqrt(8000).
    assert ceiling.split_half_pooled == pytest.approx(r_half, abs=0.02)
    assert ceiling.pooled == pytest.approx(expected, abs=0.02)
    low, high = ceiling.pooled_interval
    assert low <= ceiling.pooled <= high and high - low < 0.1
    # Per neuron (200 entries each, error about 0.05): the mean is tight, every single one within 0.2.
    assert ceiling.per_neuron.shape == (n_neurons,) and ceiling.per_neuron_interval.shape == (n_neurons, 2)
    assert ceiling.per_neuron.mean() == pytest.approx(expected, abs=0.02)
    np.testing.assert_array_less(np.abs(ceiling.per_neuron - expected), 0.2)
    assert ceiling.trials_per_half.tolist() == [m] * n_cond and len(ceiling.conditions) == n_cond
    # Noise alone has no reliability; the signal alone is perfectly reliable.
    noise_only = data.split_half_ceiling(trials - mu[np.repeat(np.arange(n_cond), 2 * m)], labels, key=key, n_splits=50)
    assert abs(noise_only.pooled) < 0.1
    exact = data.split_half_ceiling(mu[np.repeat(np.arange(n_cond), 2 * m)], labels, key=key, n_splits=50)
    assert exact.pooled == pytest.approx(1.0, abs=1e-5)
    assert data.split_half_ceiling(trials, labels, key=key, n_splits=50).pooled == ceiling.pooled  # seeded


def test_spearman_brown_is_the_classical_prophecy_formula():
    assert data.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert data.spearman_brown(0.5, factor=3) == pytest.approx(0.75)
    assert data.spearman_brown(1.0) == 1.0


def test_a_ceiling_needs_repeated_trials_and_names_what_is_wrong(key):
    x = np.ones((4, 3, 2))
    with pytest.raises(DataError, match="no condition has two trials to split"):
        data.split_half_ceiling(x, np.array(["a", "b", "c", "d"]), key=key)
    with pytest.raises(ShapeError, match=r"labels must hold one condition per trial, shape \[4\], got \(3,\)"):
        data.split_half_ceiling(x, np.array(["a", "a", "b"]), key=key)
    with pytest.raises(ShapeError, match=r"responses must be a non-empty array \[trials, time, neurons\]"):
        data.split_half_ceiling(x[0], np.array(["a"] * 3), key=key)
    bad = x.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(DataError, match="1 non-finite values"):
        data.split_half_ceiling(bad, np.array(["a", "a", "b", "b"]), key=key)
