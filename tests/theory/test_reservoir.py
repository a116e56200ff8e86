"""Reservoirs: the ridge readout against scikit-learn's Ridge, one RLS update against a NumPy step written
here, FORCE learning a sinusoid and, as a training method, the sine-wave task (its frozen network re-run in
NumPy), the participation ratio against a spectrum built by hand, and the
reservoir-vs-trained comparison on a tiny flip-flop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize
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


def _closed_loop_residual(p, x):
    """−h + tanh(W_rec h + W_in x + W_fb (W_out h + b_out) + b), written here in NumPy: zero at a fixed point of
    the reservoir with its readout fed back, for any leak."""
    return lambda h: -h + np.tanh(p["W_rec"] @ h + p["W_in"] @ x + p["W_fb"] @ (p["W_out"] @ h + p["b_out"]) + p["b"])


def test_closed_loop_fixed_points_against_scipy_root(key):
    # A small chaotic reservoir (ρ = 1.5) with a readout fed back, leak 0.5 (analysed as the flow).
    k_net, k_out, k_seed = jax.random.split(key, 3)
    p = {n: np.asarray(v, np.float64) for n, v in rv.init_reservoir(1, 8, 1, key=k_net, spectral_radius=1.5,
                                                                      feedback_scale=1.0).items()}
    p["W_out"], p["b_out"] = 0.5 * np.asarray(jax.random.normal(k_out, (1, 8)), np.float64), np.array([0.1])
    inputs = np.array([[0.0], [0.5]])
    # No second round seeded between stable points: its programs (another seed count) cost seconds to compile
    found = rv.closed_loop_fixed_points(p, inputs, key=k_seed, leak=0.5, n_initial_states=16,
                                        saddle_seeds_per_pair=0)
    rng = np.random.default_rng(3)
    for x, fp in zip(inputs, found):
        ok = fp.select(fp.converged)
        assert len(ok) >= 1 and fp.continuous and fp.alpha == 0.5
        for h, n_unstable in zip(ok.states, ok.n_unstable):
            residual = _closed_loop_residual(p, x)
            assert np.abs(residual(h)).max() < 1e-8
            # the Euler step's multipliers, (1 − a) I + a diag(1 − tanh²) (W_rec + W_fb W_out), by NumPy
            d = 1.0 - np.tanh(p["W_rec"] @ h + p["W_in"] @ x + p["W_fb"] @ (p["W_out"] @ h + p["b_out"])) ** 2
            mu = np.linalg.eigvals(0.5 * np.eye(8) + 0.5 * d[:, None] * (p["W_rec"] + p["W_fb"] @ p["W_out"]))
            assert n_unstable == np.sum(np.abs(mu) > 1.0 + 1e-6)
        # SciPy's root finder from random starts of its own: every root it reaches is one of the points found
        for _ in range(8):
            sol = optimize.root(_closed_loop_residual(p, x), rng.uniform(-1, 1, 8), tol=1e-12)
            if sol.success and np.abs(sol.fun).max() < 1e-9:
                assert np.linalg.norm(ok.states - sol.x, axis=1).min() < 1e-6


def test_reservoir_against_a_given_network_and_their_fixed_points(key):
    # The trainer has its own tests (and its compilation costs seconds): here a given network, untrained.
    task = tasks.get("flipflop", n_bits=1, n_time=16)
    model = models.get("vanilla", n_inputs=task.n_inputs, n_hidden=8, n_outputs=task.n_outputs)
    net = model.init(key)
    # leak 0.5: the closed loop's compiled search is the one the test above used
    c = rv.compare_with_trained(task, key=key, n_hidden=8, n_trials=16, network=(model, net), leak=0.5)
    assert c.reservoir_states.shape == c.trained_states.shape == (16, 16, 8)
    assert c.targets.shape == c.reservoir_outputs.shape == (16, 16, 1)
    assert 0.0 <= c.cka <= 1.0 + 1e-6 and 1.0 <= c.pr_reservoir <= 8.0 and 1.0 <= c.pr_trained <= 8.0
    # the readout's loss, recomputed here from the stored arrays as the masked mean squared error
    mse = np.sum(c.mask * (c.reservoir_outputs - c.targets) ** 2) / c.mask.sum()
    assert c.loss_reservoir == pytest.approx(mse, rel=1e-4)
    inputs = np.array([[0.0], [1.0]])
    # the same options as the test above, so the closed loop's compiled search is reused
    s = rv.fixed_point_structure(c, inputs, key=key, n_initial_states=16, saddle_seeds_per_pair=0)
    for i, x in enumerate(inputs):
        # counts by index are the converged points' numbers of unstable modes
        for fp, by_index in ((s.reservoir[i], s.by_index_reservoir[i]), (s.trained[i], s.by_index_trained[i])):
            assert sum(by_index.values()) == fp.counts()["converged"] and by_index.get(0, 0) == fp.counts()["stable"]
        # the ridge readout has no feedback (W_fb = 0) and ρ = 0.9: one stable point per input, whose slowest
        # mode's time constant −1/ln|μ|max is recomputed here from the Euler step's Jacobian, by NumPy
        p = c.reservoir_params
        assert s.by_index_reservoir[i] == {0: 1}
        h = s.reservoir[i].states[0]
        assert np.abs(_closed_loop_residual(p, x)(h)).max() < 1e-8
        jac = 0.5 * np.eye(8) + 0.5 * (1 - h**2)[:, None] * p["W_rec"]
        assert s.slowest_reservoir[i] == pytest.approx(-1 / np.log(np.abs(np.linalg.eigvals(jac)).max()), rel=1e-6)
        # the network's points solve h = tanh(W_rec h + W_in x + b) (the vanilla step, written here)
        w = {n: np.asarray(v, np.float64) for n, v in net.items()}
        for h in s.trained[i].select(s.trained[i].converged).states:
            assert np.abs(np.tanh(w["W_rec"] @ h + w["W_in"] @ x + w["b"]) - h).max() < 1e-8
