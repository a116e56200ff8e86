"""Reservoirs: the ridge readout against scikit-learn's Ridge, one RLS update against a NumPy step written
here, FORCE learning a sinusoid and, as a training method, the sine-wave task (its frozen network re-run in
NumPy), the participation ratio against a spectrum built by hand, and the
reservoir-vs-trained comparison on a tiny flip-flop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from dynascope import models, tasks
from dynascope.errors import DynascopeError
from dynascope.theory import reservoir as rv


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_readout_equals_scikit_learn(key, fit_intercept):
    params = rv.init_reservoir(2, 30, 3, key=key, spectral_radius=0.9)
    rng = np.random.default_rng(0)
    states = np.asarray(rv.run_reservoir(params, rng.normal(size=(4, 25, 2)), leak=0.5), np.float64)
    targets = rng.normal(size=(4, 25, 3)) + 2.0
    weights = rng.uniform(0.5, 2.0, size=(4, 25))
    w, b = rv.ridge_readout(states, targets, 0.3, fit_intercept=fit_intercept, weights=weights)
    ref = Ridge(alpha=0.3, fit_intercept=fit_intercept, solver="cholesky").fit(
        states.reshape(-1, 30), targets.reshape(-1, 3), sample_weight=weights.reshape(-1))
    np.testing.assert_allclose(w, ref.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b, ref.intercept_ if fit_intercept else 0.0, rtol=1e-6, atol=1e-8)


def test_one_rls_update_equals_a_numpy_step():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    p, w, r, f = a @ a.T + np.eye(6), rng.normal(size=(2, 6)), rng.normal(size=6), rng.normal(size=2)
    # Sussillo & Abbott 2009, eq. 4-5, written out: P r, its normaliser, the error before the update.
    pr = p @ r
    p_ref = p - np.outer(pr, pr) / (1.0 + r @ pr)
    e = w @ r - f
    w_ref = w - np.outer(e, p_ref @ r)  # the same update written with the new P: c k = P' r
    got_p, got_w, got_e = rv.rls_step(*(jnp.asarray(v, jnp.float32) for v in (p, w, r, f)))
    np.testing.assert_allclose(np.asarray(got_p), p_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_w), w_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_e), e, rtol=1e-5, atol=1e-6)


def test_force_learns_a_sinusoid(key):
    k_net, k_state = jax.random.split(key)
    params = rv.init_reservoir(0, 100, 1, key=k_net, spectral_radius=1.2, feedback_scale=1.0)
    t = np.arange(3000)
    target = np.sin(2 * np.pi * t / 100)[:, None]  # period 100 steps, amplitude 1
    run = rv.force(params, target, train_steps=2000, key=k_state, alpha=1.0, leak=0.1)
    # After learning, with the readout frozen, the network generates the sine on its own for 1000 steps
    # (10 periods) with a root-mean-square error below 0.1 (of an amplitude of 1).
    assert run.test_rmse < 0.1
    # (a zero output would be off by 1/sqrt(2) ≈ 0.71). While learning, RLS keeps the error small throughout.
    assert np.abs(run.train_error[-200:]).max() < 0.05 and run.outputs.shape == (3000, 1)


def test_participation_ratio_of_a_known_spectrum():
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    z = rng.normal(size=(4000, 5))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # covariance exactly I
    lam = np.array([4.0, 1.0, 1.0, 0.25, 0.0])
    states = z * np.sqrt(lam) @ q.T  # covariance q diag(λ) qᵀ
    assert rv.participation_ratio(states) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-9)


def test_reservoir_against_a_given_network(key):
    # The trainer has its own tests (and its compilation costs seconds): here a given network, untrained.
    task = tasks.get("flipflop", n_bits=1, n_time=16)
    model = models.get("vanilla", n_inputs=task.n_inputs, n_hidden=8, n_outputs=task.n_outputs)
    c = rv.compare_with_trained(task, key=key, n_hidden=8, n_trials=16, network=(model, model.init(key)))
    assert c.reservoir_states.shape == c.trained_states.shape == (16, 16, 8)
    assert c.targets.shape == c.reservoir_outputs.shape == (16, 16, 1)
    assert 0.0 <= c.cka <= 1.0 + 1e-6 and 1.0 <= c.pr_reservoir <= 8.0 and 1.0 <= c.pr_trained <= 8.0
    # the readout's loss, recomputed here from the stored arrays as the masked mean squared error
    mse = np.sum(c.mask * (c.reservoir_outputs - c.targets) ** 2) / c.mask.sum()
    assert c.loss_reservoir == pytest.approx(mse, rel=1e-4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda k: rv.init_reservoir(1, 4, 1, key=k, connectivity=1.5), r"connectivity must lie in \(0, 1\]"),
        (lambda k: rv.force(rv.init_reservoir(0, 4, 1, key=k), np.zeros((5, 1)), train_steps=5, key=k),
         "train_steps must be below"),
        (lambda k: rv.ridge_readout(np.zeros((3, 2)), np.zeros((4, 1)), 1.0), "must share leading axes"),
        (lambda k: rv.compare_with_trained("flipflop", key=k), "task must be a dynascope Task"),
        (lambda k: rv.force_on_task(tasks.get("sinewave"), key=k, leak=2.0), r"leak must lie in \(0, 1\], got 2\.0"),
    ],
)
def test_bad_input_is_refused(key, call, match):
    with pytest.raises(DynascopeError, match=match):
        call(key)


def test_force_trains_a_readout_on_a_task(key):
    # FORCE as a training method on the sine-wave task (three frequencies, each cued by an input level).
    task = tasks.get("sinewave", n_frequencies=3)
    run = rv.force_on_task(task, key=key, n_hidden=100, n_train_trials=60, n_test_trials=8, leak=0.3)
    assert run.outputs.shape == run.targets.shape == (8, task.n_time, 1) and run.W_out.shape == (1, 100)
    # The frozen network re-run here in NumPy, its output fed back: z_t = W_out h_t,
    # h_{t+1} = (1 − a) h_t + a tanh(W_rec h_t + W_in x_t + W_fb z_t + b), from the recorded initial states.
    p = run.params
    h = run.initial_states.copy()
    outputs = np.empty_like(run.outputs)
    for t in range(task.n_time):
        z = h @ p["W_out"].T
        outputs[:, t] = z
        h = 0.7 * h + 0.3 * np.tanh(h @ p["W_rec"].T + run.inputs[:, t] @ p["W_in"].T + z @ p["W_fb"].T + p["b"])
    np.testing.assert_allclose(run.outputs, outputs, atol=2e-3)
    mse = np.sum(run.mask * (outputs - run.targets) ** 2) / run.mask.sum()
    assert run.loss == pytest.approx(mse, rel=1e-2, abs=1e-5)
    # A zero readout would score 0 (its error is the targets' variance, 1/2); after 60 trials the frozen
    # readout generates each cued sine on new trials with an error below 7 % of that variance (over seeds 0–7
    # it stays below 3.5 %).
    assert run.metric > 0.93 and mse < 0.035
