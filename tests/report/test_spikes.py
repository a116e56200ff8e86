"""Spike rasters and firing-rate histograms: on a tiny trained `lif` run the figure is drawn, its ticks are the
spikes `model.spikes` gives on the same trials and its histogram counts those spikes' rates; a run of rate
networks gets no such figure."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from dynascope import pipeline, store
from dynascope.pipeline import SweepConfig, load_group
from dynascope.report import RASTER_TRIALS, render_report, spike_figures, spike_view, write_figures
from dynascope.train import TrainOptions
from tests.report.test_figures import check_accessible, report_section

LIF_RUN = SweepConfig(
    task="flipflop", archs=("lif",), n_hidden=(10,), n_networks=1, steps=4,
    task_options={"n_bits": 1, "n_time": 20},
    train=TrainOptions(batch_size=4, learning_rate=1e-2, checkpoint_every=4, eval_batch=8),
)


@pytest.fixture(scope="module")
def lif_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("spikes") / "lif"
    pipeline.run_sweep(LIF_RUN, path)
    return store.open(path)


def test_the_raster_and_histogram_show_the_models_spikes(lif_run) -> None:
    groups: dict = {}
    (c,) = spike_figures(lif_run, groups)
    check_accessible(c.figure)
    assert c.name == "spike_raster_lif-10_s000" and "raster" in c.alt
    # The reference: the stored network run on the same trials, its spikes as the model gives them.
    group = load_group(lif_run, "lif-10")
    trials = group.task.sample(jax.random.key(0), 16)
    states, _ = jax.jit(group.model.run)(group.network(0), trials.inputs)  # the model's own run
    spikes = np.asarray(group.model.spikes(states))  # [B, T, H]
    assert spikes.sum() > 0
    raster, hist = c.figure.axes
    dt, n_time = group.model.dt, spikes.shape[1]
    drawn = sorted((float(x), int(round(y))) for coll in raster.collections for x, y in coll.get_offsets())
    trial, step, neuron = np.nonzero(spikes[:RASTER_TRIALS])
    want = sorted(zip(((step + 1) + trial * n_time) * dt, neuron.tolist()))
    assert drawn == [(float(t), n) for t, n in want]
    rates = spikes.mean(axis=(0, 1)) * 1000.0 / dt
    heights = [p.get_height() for p in hist.patches]
    edges = [p.get_x() for p in hist.patches] + [hist.patches[-1].get_x() + hist.patches[-1].get_width()]
    np.testing.assert_array_equal(heights, np.histogram(rates, bins=np.asarray(edges))[0])
    np.testing.assert_allclose(spike_view(lif_run, "lif-10/s000", key=jax.random.key(0), groups=groups).rates_hz, rates)
    # The page's activity section carries it.
    page = render_report(lif_run, max_networks=1, n_trials=1)
    assert "Spike raster of every neuron of lif-10/s000" in report_section(page, "activity")


def test_static_figures_include_the_raster(lif_run, tmp_path) -> None:
    names = {p.name for p in write_figures(lif_run, tmp_path, formats=("png",), max_networks=1)}
    assert "spike_raster_lif-10_s000.png" in names and "trial.png" in names


def test_a_run_of_rate_networks_has_no_spike_figure(trained_run) -> None:
    run = store.open(trained_run)
    assert spike_figures(run, {}) == []
    assert spike_view(run, "gru-8/s000", key=jax.random.key(0)) is None
