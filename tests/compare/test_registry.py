"""The metric registry. A toy metric registered in this file, and nowhere else, is computed by `study` (with its
options), accepted and listed by the CLI's `--metric`, and shown in the report with its unit; unknown names
and options are refused naming the choices. Every registered metric is held to the same contract."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from dynascope import compare, pipeline, report
from dynascope.cli import app
from dynascope.compare import GEOMETRY, KINDS, SIGNATURES, TAKES, TRAJECTORIES, register_metric
from dynascope.errors import ConfigError, UnknownNameError
from dynascope.pipeline import StudyOptions, SweepConfig, study
from dynascope.store import SummaryRows
from dynascope.train import TrainOptions

TOY = "toy_mean_gap"


def _mean_activity(X: jax.Array) -> jax.Array:
    return jnp.mean(X)


@register_metric(
    TOY, kind=GEOMETRY, units="toy units", prepare=_mean_activity,
    description="gap between the mean activities", invariant_to="anything that keeps the mean activity",
)
def toy_distance(a: jax.Array, b: jax.Array, *, scale: float = 1.0) -> jax.Array:
    return scale * jnp.abs(a - b)


TINY = SweepConfig(
    task="flipflop", archs=("vanilla", "gru"), n_hidden=(4,), n_networks=2, steps=10,
    task_options={"n_bits": 1, "n_time": 8},
    train=TrainOptions(batch_size=4, learning_rate=1e-2, checkpoint_every=10, eval_batch=4),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return pipeline.run_sweep(TINY, tmp_path_factory.mktemp("registry") / "run")


def _mean_states(run, n_trials: int, seed: int) -> dict[str, float]:
    """Each network's mean unit activity on the study's trials, from the stored networks run here."""
    out, trials = {}, None
    for name in run.groups():
        g = pipeline.load_group(run, name)
        if trials is None:
            trials = g.task.sample(jax.random.key(seed), n_trials).inputs
        for i, net in enumerate(g.networks):
            states, _ = g.model.run(g.network(i), trials)
            out[net] = float(np.mean(np.asarray(g.model.activity(states), np.float64)))
    return out


def test_a_metric_registered_in_a_test_file_runs_in_the_study_with_its_options(run):
    assert TOY in compare.metric_names() and compare.get_metric(TOY).units == "toy units"
    options = StudyOptions(metrics=(TOY,), n_trials=5, trained_only=False, metric_options={TOY: {"scale": 2.0}})
    result = study(run, options, force=True)
    r = result.results[TOY]
    means = _mean_states(run, options.n_trials, options.seed)
    for i, a in enumerate(r.networks):
        for j, b in enumerate(r.networks):
            assert r.distances[i, j] == pytest.approx(2.0 * abs(means[a] - means[b]), abs=1e-5)
    stored = run.read(SummaryRows, where={"metric": TOY})
    assert compare.NN_ACCURACY in set(stored.quantity)


def test_the_cli_lists_and_accepts_the_registered_metric(run):
    runner = CliRunner()
    help_text = runner.invoke(app, ["compare", "--help"], terminal_width=300).output
    assert TOY in help_text and "dsa_wasserstein" in help_text
    out = runner.invoke(app, ["compare", str(run.path), "--all", "--metric", TOY, "--trials", "5", "--force"],
                        terminal_width=200)
    assert out.exit_code == 0, out.output
    assert TOY in out.output
    out = runner.invoke(app, ["compare", str(run.path), "--metric", "toy_mean_gaps"])
    assert isinstance(out.exception, UnknownNameError)
    assert f"Did you mean {TOY!r}?" in str(out.exception) and "cca" in str(out.exception)


def test_the_report_shows_the_registered_metric_with_its_unit(run):
    study(run, StudyOptions(metrics=(TOY,), n_trials=5, trained_only=False), force=True)
    page = report.render_report(run, max_networks=1, n_trials=2)
    assert "Gap between the mean activities (toy units)" in page


def test_unknown_metric_names_and_options_name_the_choices():
    with pytest.raises(UnknownNameError, match=rf"unknown metric 'ckaa'\. Did you mean 'cka'\?.*{TOY}"):
        StudyOptions(metrics=("ckaa",)).validate()
    with pytest.raises(UnknownNameError, match=r"Registered metrics: .*dsa_wasserstein.*topology"):
        compare.get_metric("nope")
    with pytest.raises(ConfigError, match=rf"metric '{TOY}' has no option 'scal'; its options are: scale\. "
                                          r"Did you mean 'scale'\?"):
        compare.get_metric(TOY, scal=2.0)
    with pytest.raises(ConfigError, match=rf"metric '{TOY}': option scale must be a number, got 'big' \(str\)"):
        StudyOptions(metrics=(TOY,), metric_options={TOY: {"scale": "big"}}).validate()
    with pytest.raises(ConfigError, match=r"metric_options has options for 'svcca', which is not among the metrics"):
        StudyOptions(metrics=("cca",), metric_options={"svcca": {"keep": 0.9}}).validate()
    with pytest.raises(ConfigError, match=r"rsa needs n_trials >= 3 conditions, got 2"):
        StudyOptions(metrics=("rsa",), n_trials=2).validate()


def test_registering_checks_what_it_is_given():
    with pytest.raises(ConfigError, match=rf"metric '{TOY}' is registered twice"):
        register_metric(TOY, kind=GEOMETRY, units="u", description="d", invariant_to="i")(toy_distance)
    with pytest.raises(ConfigError, match=r"kind must be one of 'geometry', 'dynamics', 'topology', got 'shape'"):
        register_metric("toy2", kind="shape", units="u", description="d", invariant_to="i")
    with pytest.raises(ConfigError, match=r"takes must be one of 'trajectories', 'signatures', got 'weights'"):
        register_metric("toy2", kind=GEOMETRY, units="u", description="d", invariant_to="i", takes="weights")
    assert "toy2" not in compare.metric_names()


def test_metrics_are_listed_by_kind_in_the_order_registered():
    kinds = [m.kind for m in compare.metrics()]
    assert kinds == sorted(kinds, key=KINDS.index)
    names = compare.metric_names()
    assert names.index("cca") < names.index("svcca") < names.index("rsa") < names.index("dsa") < names.index("topology")


# -- the contract every registered metric meets (a new metric file is tested without a new test) --------
CUBE = {"counts": {"0": 4, "1": 4, "2": 1}, "edges": [[1, 0]] * 8 + [[2, 1]] * 4}
PAIR = {"counts": {"0": 2, "1": 1}, "edges": [[1, 0]] * 2}


@pytest.mark.parametrize("name", compare.metric_names())
def test_every_registered_metric_describes_itself_and_is_a_distance(name, key):
    metric = compare.get_metric(name)
    assert metric.kind in KINDS and metric.takes in TAKES
    assert metric.units and metric.description and metric.invariant_to
    if metric.takes == SIGNATURES:
        items = [[CUBE], [CUBE], [PAIR]]
    else:
        assert metric.takes == TRAJECTORIES
        x = jax.random.normal(key, (6, 20, 5))
        y = 1.0 + 0.5 * jnp.tanh(x @ jax.random.normal(jax.random.key(1), (5, 5)))
        items = [x, x, y]
    # Prepared and compared as the study does: the same network twice is at 0, the matrix is symmetric.
    prepare = metric.prepare_fn(min_units=5) if metric.takes == TRAJECTORIES else metric.prepare_fn()
    if metric.jit:
        d = np.asarray(compare.pairwise_distances(metric.distance_fn(), jnp.stack(items), prepare=prepare, chunk=3))
    else:
        prepared = [prepare(i) for i in items] if prepare is not None else items
        d = compare.pairwise_distances_loop(metric.distance_fn(), prepared)
    assert np.isfinite(d).all() and np.allclose(d, d.T)
    assert d[0, 1] == pytest.approx(0.0, abs=2e-3)  # float32 arccos of a cosine within rounding of 1
    assert d[0, 2] > 1e-3
