"""The fit metrics of `score` (`fit_r2`, `fit_bps`; `pipeline.readout`): a network scored against a recording of
its own activity reaches the ceiling, one against an unrelated system's recording does not; the R² ceiling is the
closed form on data of known signal and noise; the batched Poisson readout is scikit-learn's `PoissonRegressor`;
the bits-per-spike ceiling is the true rates' own held-out bits per spike; `dynascope score --metrics fit_r2`."""

from __future__ import annotations

import numpy as np
import pytest

from dynascope import data, store
from dynascope.data.fit_metrics import poisson_regression
from dynascope.errors import DynascopeError
from dynascope.pipeline.benchmarks import FIT_METRICS, Benchmark
from dynascope.pipeline.score import score
from dynascope.pipeline.readout import (bps_ceiling, held_out_bps, held_out_r2, one_step_bps, r2_ceiling,
                                          split_halves, standardised)
from dynascope.store.schema import ScoreAgreementRows, ScoreRows
# The run and the recordings of tests/pipeline/test_score.py: 2 vanilla and 2 GRU networks, a recording of the
# first GRU's own activity and one of an unrelated system on the same trials (`scored` is its fixture).
from tests.pipeline.test_score import FAST, scored  # noqa: F401

pytest.importorskip("pynwb")


def _rows(board, metric: str, network: str):
    s = board.scores
    i = next(k for k, (m, lvl, n) in enumerate(zip(s.metric, s.level, s.network))
             if m == metric and lvl == "network" and n == network)
    return s.raw[i], s.ceiling[i], s.normalised[i], s.low[i], s.high[i], s.rank[i]


def test_a_network_reaches_the_fit_ceiling_on_its_own_recording_and_not_on_another(scored):
    run = store.open(scored / "run")
    own = score(run, Benchmark("self", "1", scored / "self.nwb", metrics=FIT_METRICS), FAST)
    other = score(run, Benchmark("other", "1", scored / "other.nwb", metrics=FIT_METRICS), FAST)
    # fit_r2's ceiling is analytic and its estimate tight (measured 1.005, interval [0.98, 1.03]); this recording's
    # bits per spike are tiny (14 spikes per bin, weakly modulated: 0.003 bits/spike), so fit_bps's extrapolated
    # ceiling is noisier (measured 1.006, interval [0.89, 1.10]): 5 % and 10 %, and the interval must cover 1.
    for metric, tolerance in (("fit_r2", 0.05), ("fit_bps", 0.1)):
        raw, ceiling, normalised, low, high, rank = _rows(own, metric, "gru-5/s000")
        assert normalised == pytest.approx(raw / ceiling)
        assert abs(normalised - 1) < tolerance and low - 0.02 <= 1 <= high + 0.02, (metric, normalised, low, high)
        assert rank == 1  # the network is its own recording's best model
        best = max(_rows(other, metric, n)[2] for n in set(other.scores.network) if "/" in n)
        assert best < 0.5, (metric, best)  # an unrelated system's recording: far below its ceiling
    # The rows are the leaderboard's: per network and per group, ranked, with the agreement between the two.
    stored = run.read(ScoreRows, shard="self@1")
    assert sorted(set(stored.metric)) == ["fit_bps", "fit_r2"]
    assert {lvl for lvl in stored.level} == {"network", "group"} and len(stored) == 2 * (4 + 2)
    agree = run.read(ScoreAgreementRows, shard="self@1")
    assert list(zip(agree.metric_a, agree.metric_b)) == [("fit_r2", "fit_bps")]


def test_the_r2_ceiling_is_the_closed_form_for_known_signal_and_noise():
    # Halves A, B = mu + noise of variance sigma² per entry: a perfect model's held-out R² is 1 − E‖ε_B‖² / SST_B,
    # E‖ε_B‖² = sigma² · entries and E[SST_B] = SST(mu) + sigma² (S − 1) D (each column centred on its own mean).
    rng = np.random.default_rng(0)
    s, d, sigma = 60, 3, 0.5
    mu = rng.standard_normal((s, d)) * np.array([1.0, 0.6, 0.3])
    sst_mu = ((mu - mu.mean(0)) ** 2).sum()
    expected = 1 - sigma**2 * s * d / (sst_mu + sigma**2 * (s - 1) * d)
    draws = [(mu + sigma * rng.standard_normal((s, d)), mu + sigma * rng.standard_normal((s, d))) for _ in range(400)]
    ceilings = np.array([r2_ceiling(a, b) for a, b in draws])
    truth = np.array([1 - ((b - mu) ** 2).sum() / ((b - b.mean(0)) ** 2).sum() for _, b in draws])
    assert ceilings.mean() == pytest.approx(expected, abs=0.01)
    assert ceilings.mean() == pytest.approx(truth.mean(), abs=0.01)  # what the noise-free model really gets
    assert 0.5 < expected < 0.9  # a case where the noise matters


def test_the_r2_readout_is_scikit_learns_ridge_scored_on_the_held_out_half():
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 40, 4))
    a, b = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    a[:, 0] += x[0, :, 0]
    alpha = 0.01
    got = held_out_r2(x, a, b, alpha=alpha)
    for i in range(3):
        # held_out_r2 minimises (1/S)‖A − XW − b‖² + alpha‖W‖²; Ridge minimises ‖A − XW − b‖² + alpha'‖W‖².
        ridge = Ridge(alpha=alpha * len(a)).fit(x[i], a)
        assert got[i] == pytest.approx(r2_score(b, ridge.predict(x[i]), multioutput="variance_weighted"), abs=1e-10)


def test_the_batched_poisson_readout_is_scikit_learns_poisson_regressor():
    from sklearn.linear_model import PoissonRegressor

    rng = np.random.default_rng(2)
    n_cond, n_time, n_reg, n_neurons, per = 4, 6, 2, 3, 5
    x = rng.standard_normal((2, n_cond * n_time, n_reg))
    weights = rng.standard_normal((n_reg, n_neurons)) * 0.5
    cells = np.tile(np.arange(n_cond * n_time), per)  # each trial's rows: every condition and bin
    trials = rng.poisson(np.exp(x[0] @ weights)[cells]).astype(np.float64)  # [per · cells, N]
    summed = np.stack([trials[cells == c].sum(0) for c in range(n_cond * n_time)])
    exposure = np.full(n_cond * n_time, float(per))
    fit = poisson_regression(x, summed, exposure, alpha=0.01)
    assert fit.converged.all()
    for b in range(2):
        for n in range(n_neurons):
            # every trial as its own sample: the summed rows with their exposure are the same objective
            ref = PoissonRegressor(alpha=0.01, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(
                x[b][cells], trials[:, n])
            np.testing.assert_allclose(fit.weights[b, :, n], ref.coef_, atol=2e-4)
            assert fit.bias[b, n] == pytest.approx(ref.intercept_, abs=2e-4)


def _simulated(seed: int, *, n_neurons: int = 100, per: int = 16, link: str = "exp"):
    """Known condition-locked rates (3 smooth latents, 8 conditions × 20 bins) and Poisson counts of every trial."""
    rng = np.random.default_rng(seed)
    z = np.cumsum(rng.standard_normal((8, 20, 3)), axis=1) * 0.3
    z = (z - z.mean((0, 1))) / z.std((0, 1))
    drive = z @ (rng.standard_normal((3, n_neurons)) * 0.5) + rng.standard_normal(n_neurons) * 0.3
    rates = np.exp(drive) if link == "exp" else np.logaddexp(0.0, drive) / np.log(2.0)  # expected count per bin
    labels = np.repeat(np.arange(8), per)
    counts = rng.poisson(rates[labels]).astype(np.float64)
    return z, rates, labels.astype(str), counts, rng


@pytest.mark.parametrize("link", ["exp", "softplus"])
def test_the_bits_per_spike_ceiling_is_the_true_rates_held_out_bits_per_spike(link):
    errors = []
    for seed in range(3):
        z, rates, labels, counts, rng = _simulated(seed, link=link)
        halves = split_halves(counts, labels, tuple(np.unique(labels)), np.arange(len(labels)), rng=rng)
        null = counts[halves.train_rows].mean(axis=(0, 1))  # each neuron's mean training count per bin
        true = data.bits_per_spike(counts[halves.test_rows], rates[labels[halves.test_rows].astype(int)], null)
        errors.append(bps_ceiling(halves, 3) / true - 1)
    # Measured: −0.5 % (exp link) and −3 % (softplus: the log-linear readout is slightly misspecified, and any
    # readout fitted on half the trials pays for its estimated weights); stated tolerance 5 %.
    assert abs(np.mean(errors)) < 0.05, errors


def test_held_out_bits_per_spike_is_data_bits_per_spike_of_the_fitted_readout_and_skips_silent_neurons():
    z, _, labels, counts, _ = _simulated(0, n_neurons=6, per=6)
    conditions = tuple(np.unique(labels))
    counts[:, :, 0] = 0.0
    halves = split_halves(counts, labels, conditions, np.arange(len(labels)), rng=np.random.default_rng(5))
    counts[halves.test_rows, 3, 0] = 1.0  # neuron 0: silent on the training trials, not on the held-out ones
    halves = split_halves(counts, labels, conditions, np.arange(len(labels)), rng=np.random.default_rng(5))
    assert halves.train_sum[..., 0].sum() == 0 and halves.test_sum[..., 0].sum() > 0  # the same split
    x = standardised(z[None])
    bps, fit = held_out_bps(x, halves)
    assert np.isfinite(bps).all()
    test = counts[halves.test_rows][:, :, 1:]
    expected = np.exp(x[0] @ fit.weights[0] + fit.bias[0]).reshape(8, 20, -1)[:, :, 1:]
    cond = labels[halves.test_rows].astype(int)
    null = counts[halves.train_rows][:, :, 1:].mean(axis=(0, 1))
    assert bps[0] == pytest.approx(data.bits_per_spike(test, expected[cond], null), rel=1e-4)


def test_the_one_step_bootstrap_matches_refitting_every_replicate():
    z, _, labels, counts, rng = _simulated(0, n_neurons=40, per=12)
    conditions, rows = tuple(np.unique(labels)), np.arange(len(labels))
    noise = np.random.default_rng(1).standard_normal(z.shape)
    x = standardised(np.stack([z, z + 0.5 * noise, noise]))  # a good, a fair and a useless predictor
    estimate = split_halves(counts, labels, conditions, rows, rng=rng)
    _, fit = held_out_bps(x, estimate)
    replicates = [split_halves(counts, labels, conditions, rows, rng=rng, resample=True) for _ in range(6)]
    exact = np.stack([held_out_bps(x, h)[0] for h in replicates])
    approx = one_step_bps(x, fit, counts, labels, conditions, estimate, replicates, chunk=2)  # chunks of 2, 1
    # measured: 1.3e-4 at most, against a spread over replicates of 1.5e-3 .. 6e-3
    np.testing.assert_allclose(approx, exact, atol=5e-4)
    assert (exact.std(0) > 1e-3).all()


def test_fit_metrics_are_benchmark_metrics_with_one_option():
    Benchmark("t", "1", "x.nwb", metrics=("cca", *FIT_METRICS), metric_options={"fit_bps": {"alpha": 0.1}}).validate()
    with pytest.raises(DynascopeError, match=r"unknown metric 'fit_r3'.*fit_bps, fit_r2"):
        Benchmark("t", "1", "x.nwb", metrics=("fit_r3",)).validate()
    with pytest.raises(DynascopeError, match=r"metric_options\['fit_bps'\]: unknown option\(s\) 'beta'.*'alpha'"):
        Benchmark("t", "1", "x.nwb", metrics=FIT_METRICS, metric_options={"fit_bps": {"beta": 1}}).validate()
    with pytest.raises(DynascopeError, match=r"\['alpha'\] must be a finite number ≥ 0, got -1"):
        Benchmark("t", "1", "x.nwb", metrics=FIT_METRICS, metric_options={"fit_r2": {"alpha": -1}}).validate()


def test_cli_scores_with_a_fit_metric(scored, dynascope_main, capsys):
    code = dynascope_main("score", str(scored / "run"), "--recordings", str(scored / "self.nwb"), "--name", "cli",
                          "--metrics", "fit_r2", "--bootstrap", "4", "--all")
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "leaderboard" in out.out and "fit_r2" in out.out and "gru-5/s000" in out.out
    stored = store.open(scored / "run").read(ScoreRows, shard="cli@1")
    assert set(stored.metric) == {"fit_r2"}
