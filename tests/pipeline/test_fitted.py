"""Networks fitted to a recording in a run folder (`train --task recording`), scored on what they did not see:
one row per network in the catalog's `fit_scores`; the true rates' own co-bps by hand from SciPy's Poisson
likelihood; the ground truth's 8 stable points; the same co-bps whether the file is read with its ground truth
or as any NWB file; the CLI prints them, and refuses a run with no fit in one line."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import pytest
from scipy.stats import poisson

from dynascope import data, pipeline, store, tasks
from dynascope.errors import ConfigError
from dynascope.train import TrainOptions

pytest.importorskip("pynwb")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("fitted")
    path = root / "rec.nwb"
    shutil.copy(data.shipped_recording("flipflop3"), path)
    config = pipeline.SweepConfig(task="recording", archs=("gru",), n_hidden=(6,), n_networks=2, steps=40,
                                  task_options={"recording": str(path)},
                                  train=TrainOptions(batch_size=16, learning_rate=1e-2))
    pipeline.run_sweep(config, root / "run")
    return root


def test_every_fitted_network_gets_a_row_and_the_ground_truth_columns_are_right(fitted):
    run = store.open(fitted / "run")
    rows = pipeline.score_fitted(run, key=jax.random.key(0))
    assert rows.network == ["gru-6/s000", "gru-6/s001"] and run.read(store.FitScoreRows).network == rows.network
    assert all(np.isfinite(rows.co_bps)) and all(0 <= r <= 1 for r in rows.train_metric)
    # the true rates' bits per spike on the held-out neurons and trials, from SciPy's Poisson pmf
    truth = data.read_synthetic(fitted / "rec.nwb")
    split = tasks.get("recording", recording=str(fitted / "rec.nwb")).split
    y = truth.counts[split.test_trials][..., split.held_out]
    null = truth.counts[split.train_trials][..., split.held_out].mean(axis=(0, 1))
    mu = truth.rates[split.test_trials][..., split.held_out] * truth.bin_width
    gain = poisson.logpmf(y, mu).sum() - poisson.logpmf(y, np.broadcast_to(null, y.shape)).sum()
    assert rows.co_bps_true[0] == pytest.approx(gain / (y.sum() * np.log(2)), rel=1e-5)
    assert rows.n_stable_true == [8, 8]  # the 3-bit flip-flop's 2^3 attractors
    assert all(k >= 0 for k in rows.n_stable) and rows.skeleton_match == [k == 8 for k in rows.n_stable]
    # the true skeleton: the 27 points of {-1, 0, 1}^3, a point's index its number of zero coordinates
    assert [json.loads(t) for t in rows.index_counts_true] == [{"0": 8, "1": 12, "2": 6, "3": 1}] * 2
    for counts, distance, stable in zip(rows.index_counts, rows.skeleton_distance, rows.n_stable):
        found = {int(i): c for i, c in json.loads(counts).items()}
        assert found.get(0, 0) >= stable  # index 0 holds the stable points (and any marginal ones)
        diff = sum(abs(found.get(i, 0) - t) for i, t in {0: 8, 1: 12, 2: 6, 3: 1}.items()) + sum(
            c for i, c in found.items() if i > 3)
        assert distance == pytest.approx(diff / (sum(found.values()) + 27))
    assert all(r is not None for r in rows.rate_r2 + rows.latent_r2)


def test_the_report_shows_the_fits(fitted):
    from dynascope.report import render_report
    from tests.report.test_figures import report_section

    run = store.open(fitted / "run")
    if not len(run.read(store.FitScoreRows)):  # the first test scored it, unless it ran alone
        pipeline.score_fitted(run, key=jax.random.key(0))
    page = render_report(run, max_networks=1, n_trials=1)
    section = report_section(page, "fits")
    assert 'href="#fits"' in page and section.count("<tr>") == 1 + 2 and "gru-6/s001" in section
    assert "0:8 1:12 2:6 3:1" in section  # the ground truth's census


def test_the_same_co_bps_whichever_way_the_file_is_read(fitted):
    run = store.open(fitted / "run")
    with_truth = pipeline.score_fitted(run, key=jax.random.key(0), count_stable_points=False)
    assert with_truth.n_stable == [None, None] and with_truth.skeleton_match == [None, None]
    # binned by hand, the file is read as any NWB recording (read_trials): the same training data, no ground truth
    plain = tasks.get("recording", recording=str(fitted / "rec.nwb"), bin_width=0.01, n_bins=100)
    group = pipeline.load_group(run, "gru-6")
    assert plain.digest == group.task.digest and type(plain.read_recording()) is data.TrialRecording
    scores = data.score_networks(plain, group.model, group.params, plain.read_recording(), key=jax.random.key(0))
    np.testing.assert_allclose(scores.co_bps, with_truth.co_bps, rtol=1e-6)
    assert scores.co_bps_true is None and np.isnan(scores.rate_r2).all() and scores.index_counts_true is None
    # without a ground truth the fixed points are still counted, with nothing to compare them to
    assert (scores.n_stable >= 0).all() and all(scores.index_counts) and np.isnan(scores.skeleton_distance).all()


def test_the_cli_prints_the_fits_and_refuses_a_run_without_one(fitted, tmp_path, dynascope_main, capsys):
    assert dynascope_main("score", str(fitted / "run")) == 0
    out = capsys.readouterr().out
    assert "networks fitted to a recording" in out and "gru-6/s001" in out and "co-bps" in out
    pipeline.prepare_run(pipeline.SweepConfig(task="flipflop", n_hidden=(3,), n_networks=1, steps=1), tmp_path / "task")
    with pytest.raises(ConfigError, match="no network fitted to a recording"):
        pipeline.score_fitted(store.open(tmp_path / "task"), key=jax.random.key(0))
    assert dynascope_main("score", str(tmp_path / "task")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--recordings" in err[0]
