"""Networks fitted to recordings: the Poisson loss and the fit metrics against closed forms and SciPy /
scikit-learn, the task's hashing by content, a tiny fit that recovers a flip-flop's latents, and the errors a
bad recording gives."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import poisson
from sklearn.metrics import mean_poisson_deviance

from dynascope import data, tasks
from dynascope.data.fit_metrics import stable_point_counts
from dynascope.errors import ConfigError, DataError, DynascopeError
from dynascope.tasks import Trials
from dynascope.train import masked_mse


def test_poisson_loss_is_the_scipy_negative_log_likelihood_without_log_factorial():
    rng = np.random.default_rng(0)
    eta = rng.normal(-1.0, 1.0, (3, 5, 4)).astype(np.float32)
    y = rng.poisson(np.exp(eta)).astype(np.float32)
    mask = (rng.random(y.shape) < 0.7).astype(np.float32)
    # -log p(y) = mu - y log mu + log(y!), so the loss is the mean NLL minus the mean log(y!).
    nll = -(poisson.logpmf(y, np.exp(eta.astype(np.float64))) + 0.0) - gammaln(y + 1.0)
    want = (mask * nll).sum() / mask.sum()
    got = float(data.poisson_nll(jnp.asarray(eta), jnp.asarray(y), jnp.asarray(mask)))
    assert got == pytest.approx(want, rel=1e-5)
    # Far outside any neuron's range the log-rate is clipped, so the loss stays finite.
    assert np.isfinite(float(data.poisson_nll(jnp.full((2,), 1e4), jnp.ones(2), jnp.ones(2))))


def test_default_task_loss_is_the_masked_mse():
    task = tasks.get("flipflop", n_bits=2, n_time=20)
    rng = np.random.default_rng(5)
    shape = (4, task.n_time, task.n_outputs)
    trials = Trials(jnp.zeros((4, task.n_time, task.n_inputs)), jnp.asarray(rng.normal(size=shape), jnp.float32),
                    jnp.asarray(rng.random(shape) < 0.5, jnp.float32))
    outputs = jnp.asarray(rng.normal(size=shape), jnp.float32)
    m, o, t = (np.asarray(a, np.float64) for a in (trials.mask, outputs, trials.targets))
    by_hand = (m * (o - t) ** 2).sum() / m.sum()
    assert float(task.loss(outputs, trials)) == pytest.approx(by_hand, rel=1e-5)
    assert float(task.loss(outputs, trials)) == float(masked_mse(outputs, trials))


def test_bits_per_spike_by_hand():
    y = np.array([[[0, 2], [1, 0]]])  # 1 trial, 2 bins, 2 neurons; 3 spikes
    model = np.array([[[0.5, 1.5], [1.0, 0.2]]])
    null = np.array([0.5, 1.0])

    def ll(k: int, mu: float) -> float:
        return k * math.log(mu) - mu - math.lgamma(k + 1)

    ll_model = ll(0, 0.5) + ll(2, 1.5) + ll(1, 1.0) + ll(0, 0.2)
    ll_null = ll(0, 0.5) + ll(2, 1.0) + ll(1, 0.5) + ll(0, 1.0)
    assert data.poisson_log_likelihood(y, model) == pytest.approx(poisson.logpmf(y, model).sum(), rel=1e-12)
    assert data.bits_per_spike(y, model, null) == pytest.approx((ll_model - ll_null) / (3 * math.log(2)), rel=1e-12)


@pytest.fixture(scope="module")
def recording() -> data.SyntheticRecording:
    system = data.get_system("flipflop", n_bits=2, n_time=40)
    return data.synthesize(system, key=jax.random.key(1), n_trials=60, n_neurons=30, baseline_hz=20.0, gain=2.0)


def test_co_bps_of_the_true_rates_is_positive_and_of_the_null_zero(recording):
    split = data.make_split(recording.n_trials, recording.n_neurons, key=jax.random.key(0))
    out = split.held_out
    y_train, y_test = recording.counts[split.train_trials][..., out], recording.counts[split.test_trials][..., out]
    null = y_train.mean(axis=(0, 1))
    assert data.bits_per_spike(y_test, np.broadcast_to(null, y_test.shape), null) == 0.0
    true = recording.rates[split.test_trials][..., out] * recording.bin_width
    assert data.bits_per_spike(y_test, true, null) > 0.3


def test_split_is_seeded_disjoint_and_complete():
    a = data.make_split(50, 20, key=jax.random.key(4), held_out_neurons=0.25, held_out_trials=0.2)
    b = data.make_split(50, 20, key=jax.random.key(4), held_out_neurons=0.25, held_out_trials=0.2)
    for f in dataclasses.fields(a):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name))
    assert (len(a.held_out), len(a.test_trials)) == (5, 10)
    np.testing.assert_array_equal(np.sort(np.concatenate([a.held_in, a.held_out])), np.arange(20))
    np.testing.assert_array_equal(np.sort(np.concatenate([a.train_trials, a.test_trials])), np.arange(50))


def test_recording_task_hashes_by_content_and_its_metric_is_deviance_explained(key):
    rng = np.random.default_rng(1)
    counts = rng.poisson(0.6, (8, 6, 3))
    inputs = rng.normal(size=(8, 6, 2)).astype(np.float32)
    task = data.RecordingTask.from_arrays(counts, inputs, dt=0.01)
    same = data.RecordingTask.from_arrays(counts.copy(), inputs.copy(), dt=0.01)
    other = data.RecordingTask.from_arrays(counts + 1, inputs, dt=0.01)
    assert task == same and hash(task) == hash(same) and task != other
    assert (task.n_inputs, task.n_outputs, task.n_time, task.dt) == (2, 3, 6, 10.0)
    trials = task.sample(key, 5)
    assert trials.targets.dtype == jnp.float32 and trials.targets.shape == (5, 6, 3)
    y = np.asarray(trials.targets, np.float64)
    null = counts.mean(axis=(0, 1))
    log_null = jnp.asarray(np.broadcast_to(np.log(null), y.shape), jnp.float32)
    np.testing.assert_allclose(np.asarray(task.metric(log_null, trials)), 0.0, atol=1e-5)
    outputs = jnp.asarray(np.log(y + 0.5), jnp.float32)
    # Against scikit-learn's Poisson deviance: 1 - D(model) / D(null), trial by trial.
    want = [1 - mean_poisson_deviance(y[b].ravel(), np.exp(np.asarray(outputs[b], np.float64)).ravel())
            / mean_poisson_deviance(y[b].ravel(), np.broadcast_to(null, y[b].shape).ravel()) for b in range(5)]
    np.testing.assert_allclose(np.asarray(task.metric(outputs, trials)), np.clip(want, 0, 1), atol=1e-5)


def test_poisson_readout_recovers_generating_weights():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20000, 3))
    w = np.array([[0.5, -0.3], [0.0, 0.4], [-0.2, 0.1]])
    b = np.array([-1.0, 0.2])
    y = rng.poisson(np.exp(x @ w + b))
    weights, bias = data.fit_poisson_readout(x, y, alpha=1e-6)
    np.testing.assert_allclose(weights, w, atol=0.03)
    np.testing.assert_allclose(bias, b, atol=0.03)


def test_linear_r2_matches_the_noise_fraction():
    rng = np.random.default_rng(3)
    s = rng.normal(size=(2, 4000, 5))
    target = s @ rng.normal(size=(5, 1))
    noisy = target + rng.normal(size=target.shape) * target.std()  # signal variance = noise variance
    assert data.linear_r2(s[0], target[0], s[1], target[1]) == pytest.approx(1.0, abs=1e-9)
    assert data.linear_r2(s[0], noisy[0], s[1], noisy[1]) == pytest.approx(0.5, abs=0.03)


def test_a_tiny_fit_recovers_the_flip_flop(recording):
    fit = data.fit_recording(recording, key=jax.random.key(2), model="gru", n_hidden=12, n_networks=2, steps=300,
                             batch_size=16, learning_rate=1e-2, eval_batch=32, checkpoint_every=150)
    pop = fit.population
    assert fit.task.n_outputs == len(fit.split.held_in) and not pop.diverged.any() and pop.trained.all()
    assert (pop.loss_history[:, -1] < 0.6 * pop.loss_history[:, 0]).all()
    scores = data.score_fit(fit, recording, key=jax.random.key(3), count_stable_points=False)
    # The null scores 0 bits/spike exactly (test above); the fit must come within 0.1 bits/spike of the
    # generating rates' own co-bps (measured: 0.72-0.73 against 0.74). An untrained GRU of the same size scores
    # 0.33-0.38 here: its states already echo its inputs, which the Poisson readout picks up.
    assert scores.co_bps_true > 0.6 and (scores.co_bps > scores.co_bps_true - 0.1).all()
    assert (scores.latent_r2 > 0.95).all() and (scores.rate_r2 > 0.8).all()
    assert scores.n_stable_true is None and (scores.n_stable == -1).all()


def test_stable_points_of_two_decoupled_bistable_units_are_the_four_corners(key):
    # s -> tanh(2 s) per unit: fixed points 0 (unstable) and ±0.9575 (stable, slope 2(1 - 0.9575²) < 1), so
    # the plane holds 9 fixed points of which the 4 corners are stable.
    def step(params, s, x):
        return jnp.tanh(params * s + x)

    states = jax.random.uniform(key, (2, 64, 2), minval=-1.0, maxval=1.0)
    # a population of two: gain 2 (bistable units: 4 stable corners) and gain 0.5 (one stable point, 0)
    counts = stable_point_counts(step, jnp.asarray([2.0, 0.5]), jnp.zeros(2), states, key=key, n_initial_states=64)
    assert counts.tolist() == [4, 1]


def test_bad_recordings_are_refused_naming_the_argument(recording):
    key = jax.random.key(0)
    with pytest.raises(DataError, match="counts: .* 1 neuron"):
        data.make_split(10, 1, key=key)
    with pytest.raises(DataError, match="counts: .* 2 trial"):
        data.make_split(2, 10, key=key)
    with pytest.raises(ConfigError, match="held_out_neurons must be a fraction in \\(0, 1\\), got 0"):
        data.make_split(10, 10, key=key, held_out_neurons=0)
    with pytest.raises(ConfigError, match="held_out_trials .* got 1.0"):
        data.make_split(10, 10, key=key, held_out_trials=1.0)
    silent = np.ones((4, 3, 2), np.int64)
    silent[..., 1] = 0
    with pytest.raises(DataError, match=r"counts: neuron\(s\) \[1\] never fire"):
        data.RecordingTask.from_arrays(silent, np.zeros((4, 3, 1), np.float32), dt=0.01)
    with pytest.raises(DataError, match="counts must be non-negative whole numbers"):
        data.RecordingTask.from_arrays(np.full((4, 3, 2), 0.5), np.zeros((4, 3, 1), np.float32), dt=0.01)
    bad = dataclasses.replace(recording, counts=-recording.counts)
    with pytest.raises(DataError, match="counts must be finite non-negative whole numbers"):
        data.fit_recording(bad, key=key, steps=1)
    with pytest.raises(DynascopeError, match="recording.bin_width"):
        data.fit_recording(dataclasses.replace(recording, bin_width=0.0), key=key, steps=1)
