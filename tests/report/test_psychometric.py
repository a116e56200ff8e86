"""Psychometric curves of the decision tasks: the presented evidence read off the trials against the
tasks' documented stimulus (noise off), choices from the outputs, the binned curve against NumPy."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope import tasks
from dynascope.report import Psychometric, choice_curve, choices, psychometric_figure, signed_evidence
from tests.report.test_figures import check_accessible


@pytest.mark.parametrize("name", [
    "perceptual_dm",  # (right − left)·100 = d·c, c in %
    "cdi",  # the relevant stream: s·coherence
])
def test_evidence_without_noise_is_the_signed_coherence(name):
    task = tasks.get(name, noise_std=0.0)
    trials = jax.jit(task.sample, static_argnums=1)(jax.random.key(2), 64)
    ev = signed_evidence(task, trials)
    coherences = np.asarray(task.coherences, float)
    assert np.all(np.min(np.abs(np.abs(ev)[:, None] - coherences[None]), axis=1) < 1e-4)
    answer = np.asarray(trials.targets)[:, -1, 0]
    nonzero = np.abs(ev) > 1e-4
    assert nonzero.sum() > 32 and np.all(np.sign(ev[nonzero]) == answer[nonzero])
    # a network whose output is the target chooses the correct answer on every trial
    np.testing.assert_array_equal(choices(np.asarray(trials.targets), trials), answer)
    assert signed_evidence(tasks.get("flipflop"), trials) is None


def test_choice_curve_by_hand_and_the_figure():
    ev = np.array([-2.0, -1.0, -0.5, 0.5, 1.0, 3.0])
    ch = np.array([-1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
    x, y = choice_curve(ev, ch, np.array([-2.0, 0.0, 1.0, 3.0]))
    np.testing.assert_allclose(x, [(-2 - 1 - 0.5) / 3, 0.5, 2.0])
    np.testing.assert_allclose(y, [1 / 3, 1.0, 1.0])
    p = Psychometric("cdi", "relevant stream, a.u.", x, np.array([0.0, 1.0, 1.0]),
                     {"gru": np.array([y, y * 0.5]), "vanilla": np.array([y])}, {"gru": 1, "vanilla": 0})
    fig = psychometric_figure(p, ["vanilla", "gru"])
    check_accessible(fig)
    np.testing.assert_allclose(fig.axes[0].get_lines()[2].get_ydata(), y * 0.75)  # gru's mean of its two
