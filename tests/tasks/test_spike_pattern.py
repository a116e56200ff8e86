"""spike_pattern: classes differ only in spike timing; counts carry no class information, timing all of it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from dynascope import tasks
from dynascope.errors import ConfigError
from dynascope.tasks import Trials


def _sample(task, key, batch):
    trials = jax.jit(task.sample, static_argnums=1)(key, batch)
    return (np.asarray(a) for a in (*trials, task.classes(key, batch)))


def test_every_class_has_the_same_spike_count_on_every_channel():
    task = tasks.get("spike_pattern", n_classes=5, spikes_per_channel=3, pattern_ms=30.0, n_time=40)
    steps = np.asarray(task.templates())
    assert steps.shape == (5, task.n_channels, 3)
    assert ((steps >= 0) & (steps < 30)).all()
    assert (np.diff(steps, axis=-1) > 0).all(), "a channel's template spikes sit on distinct steps"
    counts = np.asarray(task.template_rasters()).sum(axis=1)  # [classes, channels]
    np.testing.assert_array_equal(counts, 3.0)
    # ...while the timing differs between every pair of classes.
    rasters = np.asarray(task.template_rasters())
    assert all(not np.array_equal(rasters[a], rasters[b]) for a in range(5) for b in range(a))


def test_noise_free_trials_are_the_templates_then_silence(key):
    task = tasks.get("spike_pattern", jitter_ms=0.0, noise_hz=0.0, pattern_ms=40.0, response_ms=10.0, n_time=55)
    x, y, m, label = _sample(task, key, 64)
    templates = np.asarray(task.template_rasters())
    # The raster built here by hand from the template steps, independently of the task's own raster code.
    steps = np.asarray(task.templates())
    expected = np.zeros((64, 55, task.n_channels), np.float32)
    for b, c in enumerate(label):
        for ch in range(task.n_channels):
            expected[b, steps[c, ch], ch] = 1.0
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(x[:, :40], templates[label])
    assert set(label) == set(range(task.n_classes))
    # The last 10 steps are the response epoch: one-hot targets, scored; nothing scored before it.
    np.testing.assert_array_equal(y[:, 45:], np.broadcast_to(np.eye(4, dtype=np.float32)[label][:, None], (64, 10, 4)))
    assert not y[:, :45].any() and not m[:, :45].any() and m[:, 45:].all()


def test_jitter_keeps_every_count_and_moves_spikes_by_a_rounded_gaussian(key):
    """Every channel keeps exactly its pattern spikes under any jitter; away from the window's edges a spike
    moves by round(N(0, σ²)) steps, whose variance is σ² + 1/12 (Sheppard's correction) for σ of a few steps."""
    task = tasks.get("spike_pattern", spikes_per_channel=1, jitter_ms=3.0, noise_hz=0.0, pattern_ms=200.0,
                     n_time=210, n_channels=40)
    x, _, _, label = _sample(task, key, 300)
    np.testing.assert_array_equal(x.sum(axis=1), 1.0)
    moved = x.argmax(axis=1) - np.asarray(task.templates())[label, :, 0]  # [trials, channels]
    inside = (np.asarray(task.templates())[label, :, 0] >= 20) & (np.asarray(task.templates())[label, :, 0] < 180)
    assert inside.sum() > 8000
    np.testing.assert_allclose(moved[inside].mean(), 0.0, atol=0.08)
    np.testing.assert_allclose(moved[inside].var(), 9.0 + 1.0 / 12.0, rtol=0.05)
    many = tasks.get("spike_pattern", spikes_per_channel=4, jitter_ms=5.0, noise_hz=0.0, pattern_ms=10.0, n_time=20)
    xm, *_ = _sample(many, key, 100)
    np.testing.assert_array_equal(xm.sum(axis=1), 4.0)  # 4 spikes in 10 steps, jitter 5: none merge


def test_the_same_pattern_seed_rebuilds_the_same_templates():
    a, b = tasks.get("spike_pattern"), tasks.get("spike_pattern", pattern_seed=1)
    np.testing.assert_array_equal(np.asarray(a.templates()), np.asarray(tasks.get("spike_pattern").templates()))
    assert not np.array_equal(np.asarray(a.templates()), np.asarray(b.templates()))


def test_background_spikes_have_the_rate_of_a_bernoulli_process(key):
    """In the delay between the window and the response only background spikes fall: P(spike) = rate·dt."""
    task = tasks.get("spike_pattern", noise_hz=50.0, pattern_ms=10.0, response_ms=5.0, n_time=115)
    x, *_ = _sample(task, key, 200)
    delay = x[:, 10:110]
    np.testing.assert_allclose(delay.mean(), 0.05, atol=0.003)  # 4e5 Bernoulli(0.05) draws: sd 3.4e-4
    assert not x[:, 110:].any(), "the response epoch carries no input"


def test_counts_decode_at_chance_while_timing_decodes_the_class(key):
    """Ground truth from a decoder our code did not produce: scikit-learn's logistic regression on per-channel
    spike counts is at chance (1/4), on the spike raster itself near perfect."""
    task = tasks.get("spike_pattern")  # jitter 1 ms, background 2 Hz
    x, _, _, label = _sample(task, key, 1200)
    pattern = round(task.pattern_ms / task.dt)
    raster, counts = x[:, :pattern].reshape(len(x), -1), x[:, :pattern].sum(axis=1)
    train, test = slice(0, 600), slice(600, None)

    def accuracy(features):
        clf = LogisticRegression(max_iter=2000).fit(features[train], label[train])
        return clf.score(features[test], label[test])

    assert accuracy(counts) < 0.25 + 0.07  # 600 test trials at chance: sd 0.018
    assert accuracy(raster) > 0.95


def test_metric_is_the_argmax_of_the_response_average():
    targets = jnp.zeros((2, 5, 3)).at[:, 3:, :].set(jnp.array([[1.0, 0, 0], [0, 0, 1.0]])[:, None, :])
    mask = jnp.zeros((2, 5, 3)).at[:, 3:, :].set(1.0)
    trials = Trials(jnp.zeros((2, 5, 4)), targets, mask)
    # Trial 0: class 0 wins on average (0.6 vs 0.5) though not at every step; trial 1: class 1 wins, not 2.
    out = jnp.zeros((2, 5, 3))
    out = out.at[0, 3].set(jnp.array([0.9, 0.0, 0.0])).at[0, 4].set(jnp.array([0.3, 1.0, 0.0]))
    out = out.at[1, 3:].set(jnp.array([0.0, 0.8, 0.7])).at[1, :3].set(jnp.array([0.0, 0.0, 9.0]))  # unscored
    task = tasks.get("spike_pattern", n_classes=3, n_channels=4)
    np.testing.assert_array_equal(np.asarray(task.metric(out, trials)), [1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(task.metric(out.at[0, 4, 1].set(1.5), trials)), [0.0, 0.0])


BAD = [
    ({"pattern_ms": 100.0}, r"n_time=60 steps is too short for spike_pattern: .*pattern_ms=100.* take 110 steps .*"
                            r"pass n_time >= 110 or a shorter pattern_ms"),
    ({"response_ms": 0.2}, r"response_ms must last at least one step of dt=1\.0 ms, got 0\.2"),
    ({"spikes_per_channel": 6, "pattern_ms": 5.0}, r"spikes_per_channel=6 spikes at distinct steps do not fit in the "
                                                   r"pattern window of 5 steps.*pass spikes_per_channel <= 5"),
    ({"noise_hz": 2000.0}, r"noise_hz=2000 is more than one spike per step of dt=1\.0 ms; pass noise_hz <= 1000"),
    ({"n_classes": 1}, r"option n_classes \(pattern classes\) must be an integer >= 2, got 1"),
    ({"jitter_ms": -1.0}, r"option jitter_ms .*must be a number >= 0, got -1\.0"),
]


@pytest.mark.parametrize(("options", "message"), BAD, ids=[next(iter(o)) for o, _ in BAD])
def test_bad_options_are_refused_with_how_to_fix(options, message):
    with pytest.raises(ConfigError, match=message):
        tasks.get("spike_pattern", **options)
