"""The report's over-training section: absent without snapshots, a pending note before the analysis, then the
figures and the table of when each network's final structure appeared."""

from __future__ import annotations

import pytest

from dynascope import pipeline, report
from dynascope.pipeline import AnalysisOptions, SweepConfig
from dynascope.train import TrainOptions

CONFIG = SweepConfig(task="flipflop", archs=("vanilla",), n_hidden=(4,), n_networks=2, steps=20,
                     task_options={"n_bits": 1, "n_time": 12},
                     train=TrainOptions(batch_size=4, learning_rate=0.02, checkpoint_every=10, snapshot_every=10))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return pipeline.run_sweep(CONFIG, tmp_path_factory.mktemp("rep") / "run")


def test_the_section_follows_the_analysis(run):
    page = report.render_report(run, max_networks=1, n_trials=2)
    assert 'id="over-training"' in page and "--over-training</code>" in page  # pending: the command to run
    pipeline.analyze_over_training(run, AnalysisOptions(n_trials=4, n_initial_states=8, skeleton_steps=50))
    page = report.render_report(run, max_networks=1, n_trials=2)
    section = page[page.index('id="over-training"'):]
    section = section[:section.index("</section>")]
    assert section.count("<img") == 1 and "vanilla-4/s000" in section and "vanilla-4/s001" in section
    assert page.count('href="#over-training"') == 1
    assert page.index('id="fixed-points"') < page.index('id="over-training"') < page.index('id="energy"')
