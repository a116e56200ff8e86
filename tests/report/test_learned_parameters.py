"""The ablation section draws what an arm learns beyond its weights: the trained recurrent delays of an arm with
learned delays, as a histogram, on the page and among the static figures."""

from __future__ import annotations

import numpy as np

from dynascope.pipeline import AblationConfig, load_group, run_ablation
from dynascope.report import render_report, write_figures
from dynascope.train import TrainOptions


def test_an_arm_that_learns_delays_gets_their_histogram(tmp_path):
    config = AblationConfig(task="flipflop", arch="lif", mechanism="delays", sizes=(4, 6), n_networks=2, steps=20,
                            mechanism_options={"max_delay": 3}, task_options={"n_bits": 1, "n_time": 10},
                            train=TrainOptions(batch_size=8, learning_rate=0.05, checkpoint_every=20))
    run = run_ablation(config, tmp_path / "run", energy_trials=4)
    stored = load_group(run, config.group("with", 6))
    delays = np.asarray(stored.params["delays"])
    assert delays.shape == (2, 6, 6) and np.any(delays != np.round(delays))  # training moved them off the integers
    page = render_report(run, max_networks=1, n_trials=1)
    assert "Learned recurrent delays (steps) at size 6" in page
    names = {p.stem for p in write_figures(run, tmp_path / "figs", formats=("png",), max_networks=1)}
    assert "learned_delays" in names and "learned_tau" not in names
