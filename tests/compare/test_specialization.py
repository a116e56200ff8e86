"""Specialization measures on networks whose answer is known by construction, and their rank agreement."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope import models, tasks
from dynascope.compare.specialization import (
    decodability,
    rank_agreement,
    specialization,
    specialization_measures,
)
from dynascope.errors import ConfigError, DataError, ShapeError

TASK = tasks.get("sign_match", noise_std=0.3)
TRIALS = 400
READ_AT = 9  # the last step of the stimulus epoch, when both signs have been shown


def _measures(model, modules, seed):
    k_trials, k_net, k_split = jax.random.split(jax.random.key(seed), 3)
    trials = TASK.sample(k_trials, TRIALS)
    latents = TASK.latents(k_trials, TRIALS)
    params = model.init(k_net)
    return specialization_measures(model, params, trials.inputs, latents, modules, key=k_split, time=READ_AT)


def test_disconnected_modules_each_wired_to_one_subtask_score_about_one():
    """Module A sees only stream A and B only B, with no link between them: by all three measures each module
    serves its own sub-task (score ≈ 1) and not the other (≈ 0). Tolerance: index ≥ 0.85 (measured over six
    seeds: 0.90 to 0.99; chance-level decoding of the other sub-task from 200 held-out trials is not exactly 0)."""
    model = models.get("modular", n_inputs=2, n_hidden=64, n_outputs=1, inter_fraction=0.0)
    got = _measures(model, model.modules, seed=0)
    for scores in got:
        assert scores.shape == (2, 2)
        assert np.all(np.argmax(scores, axis=1) == [0, 1])  # A serves sub-task A, B serves B
    assert np.all(got.index() >= 0.85), got.index()


def test_a_random_split_of_one_unstructured_network_scores_about_zero():
    """A dense random network whose units all see both streams, cut into two random halves: neither half serves
    one sub-task more than the other. Tolerance: index ≤ 0.15 (measured over six seeds with 256 units: at most
    0.09; the spread shrinks like 1/√units)."""
    model = models.get("ctrnn", n_inputs=2, n_hidden=256, n_outputs=1, gain=0.5)
    halves = np.asarray(jax.random.permutation(jax.random.key(7), np.repeat([0, 1], 128)))
    got = _measures(model, halves, seed=0)
    assert np.all(got.decodability > 0.9)  # both halves carry both signs ...
    assert np.all(got.index() <= 0.15), got.index()  # ... equally


def test_specialization_is_the_spread_of_a_modules_scores():
    np.testing.assert_allclose(specialization(np.array([[0.9, 0.1], [0.4, 0.4], [0.0, 1.0]])), [0.8, 0.0, 1.0])


def test_rank_agreement_against_hand_computed_spearman():
    # Ranks (1, 2, 3, 4) against (1, 2, 4, 3): Σd² = 2, ρ = 1 − 6·2/(4·(16 − 1)) = 0.8; reversed ranks: −1.
    x = np.array([[0.1, 1.0, 0.9], [0.2, 2.0, 0.8], [0.3, 3.5, 0.7], [0.4, 3.0, 0.6]])
    rho = rank_agreement(x)
    np.testing.assert_allclose(rho, [[1, 0.8, -1], [0.8, 1, -0.8], [-1, -0.8, 1]], atol=1e-12)


def test_bad_input_is_refused_naming_the_argument(key):
    with pytest.raises(DataError, match=r"column\(s\) \[1\] hold the same value for every network"):
        rank_agreement(np.array([[0.1, 1.0], [0.2, 1.0], [0.3, 1.0]]))
    with pytest.raises(ShapeError, match=r"measures must be \[n_networks >= 3"):
        rank_agreement(np.ones((2, 3)))
    a, z, m = np.ones((10, 4)), np.ones((10, 2)), np.zeros(4)
    with pytest.raises(ConfigError, match=r"readout must be one of 'logistic', 'ridge', got 'svm'"):
        decodability(a, z, m, key=key, readout="svm")
    with pytest.raises(ShapeError, match=r"modules must hold one label per unit, shape \(4,\), got shape \(3,\)"):
        decodability(a, z, np.zeros(3), key=key)
    with pytest.raises(ShapeError, match=r"latents must be \[trials, sub-tasks\] with 10 trials"):
        decodability(a, np.ones((9, 2)), m, key=key)
