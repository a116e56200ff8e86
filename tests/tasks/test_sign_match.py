"""sign_match: each stream carries its own sign, the target is their product, `latents` names them."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from dynascope import tasks


def test_streams_latents_and_target_agree(key):
    task = tasks.get("sign_match", noise_std=0.0)
    x, y, m = (np.asarray(a) for a in task.sample(key, 64))
    z = np.asarray(task.latents(key, 64))
    stim = round(task.stimulus_ms / task.dt)
    np.testing.assert_array_equal(x[:, :stim, :], np.broadcast_to(z[:, None, :], (64, stim, 2)))
    assert not x[:, stim:].any()
    np.testing.assert_array_equal(y[:, stim:, 0], np.broadcast_to((z[:, 0] * z[:, 1])[:, None], (64, 20 - stim)))
    assert {(a, b) for a, b in z} == {(-1, -1), (-1, 1), (1, -1), (1, 1)}
    assert m.all()  # score_stimulus: the stimulus epoch is scored at 0 too


def test_ideal_observer_accuracy_matches_the_gaussian_closed_form(key):
    """Summing one noisy stream decides its sign with probability Φ(√n·strength/σ); the match is right when
    both signs are right or both wrong."""
    task = tasks.get("sign_match", noise_std=2.0)
    x = np.asarray(task.sample(key, 4000).inputs)
    z = np.asarray(task.latents(key, 4000))
    guess = np.sign(x[:, :10].sum(axis=1))
    p = norm.cdf(np.sqrt(10) * 1.0 / 2.0)
    np.testing.assert_allclose((guess == z).mean(), p, atol=0.015)
    np.testing.assert_allclose((guess.prod(axis=1) == z.prod(axis=1)).mean(), p**2 + (1 - p) ** 2, atol=0.02)
