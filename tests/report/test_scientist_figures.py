"""The figures a neuroscientist looks at first — unit activity, coloured and side-by-side state spaces,
fixed-point speeds and time constants, dendrograms — checked against NumPy, SciPy and the raw Parquet
shards, and for titles, labelled axes with units, legends and the Okabe–Ito palette."""

from __future__ import annotations

import jax
import numpy as np
import pyarrow.parquet as pq
import pytest
from matplotlib.colors import to_hex

from dynascope import pipeline, store, tasks
from dynascope.report import (
    PALETTE,
    activity_heatmap,
    activity_view,
    complete_networks,
    dendrogram,
    example_units,
    heatmap_order,
    network_view,
    speed_histogram,
    state_space_figure,
    state_space_grid,
    time_constant_histogram,
    time_constants,
    trial_conditions,
    unit_activity,
)
from dynascope.report.figures import condition_colour, state_space
from tests.report.test_figures import check_accessible


@pytest.fixture(scope="module")
def run(full_run):
    return store.open(full_run)


@pytest.fixture(scope="module")
def views(run):
    groups: dict = {}
    return [network_view(run, n, n_trials=8, key=jax.random.key(0), groups=groups)
            for n in ("vanilla-8/s000", "vanilla-8/s001", "gru-8/s000", "gru-8/s001")]


def test_flipflop_conditions_are_the_final_memory_states():
    task = tasks.get("flipflop", n_bits=2, n_time=16)
    trials = task.sample(jax.random.key(3), 32)
    cond = trial_conditions(task, trials)
    final = np.sign(np.asarray(trials.targets)[:, -1, :])
    assert cond.names == ("target −−", "target −+", "target +−", "target ++")
    expected = (final[:, 0] > 0) * 2 + (final[:, 1] > 0)  # −− −+ +− ++ in that order
    np.testing.assert_array_equal(cond.labels, expected)


def test_cdi_conditions_are_context_by_choice_and_rare_ones_are_pooled():
    task = tasks.get("cdi")
    trials = task.sample(jax.random.key(1), 40)
    cond = trial_conditions(task, trials)
    x, y = np.asarray(trials.inputs), np.asarray(trials.targets)
    for b in range(40):
        context = "context: motion" if x[b, 0, 2] == 1 else "context: colour"
        choice = "+" if y[b, -1, 0] > 0 else "−"
        assert cond.names[cond.labels[b]] == f"{context}, choice {choice}"
    two = trial_conditions(task, trials, max_conditions=2)
    counts = {n: int(np.sum(cond.labels == i)) for i, n in enumerate(cond.names)}
    assert sorted(counts[n] for n in two.names) == sorted(counts.values())[-2:]
    assert np.sum(two.labels == -1) == 40 - sum(counts[n] for n in two.names)


def test_condition_averaged_activity_matches_a_numpy_simulation(run):
    """Vanilla RNN h' = tanh(W h + U x + b) simulated in NumPy on the same trials, averaged per condition."""
    view = activity_view(run, "vanilla-8/s000", n_trials=24, key=jax.random.key(0))
    group = pipeline.load_group(run, "vanilla-8")
    p = {k: np.asarray(v, float) for k, v in group.network(0).items()}
    trials = group.task.sample(jax.random.key(0), 24)
    x = np.asarray(trials.inputs, float)
    h, states = np.broadcast_to(p["h0"], (24, 8)), []
    for t in range(x.shape[1]):
        h = np.tanh(h @ p["W_rec"].T + x[:, t] @ p["W_in"].T + p["b"])
        states.append(h)
    states = np.stack(states, axis=1)
    final = np.sign(np.asarray(trials.targets)[:, -1, :])
    for c, name in enumerate(view.condition_names):
        want = np.array([s == "+" for s in name.split()[-1]])
        sel = np.all((final > 0) == want, axis=1)
        assert view.counts[c] == sel.sum() > 0
        np.testing.assert_allclose(view.activity[c], states[sel].mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(view.inputs[c], x[sel].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(view.time, np.arange(16) * 10.0)

    psth = unit_activity(view)
    check_accessible(psth)
    units = example_units(view)
    spread = np.var(view.activity, axis=0).sum(axis=0)
    assert spread[units[0]] == spread.max()
    first = psth.axes[0].get_lines()
    np.testing.assert_allclose(first[1].get_ydata(), view.activity[1, :, units[0]])
    assert [to_hex(ln.get_color()) for ln in first] == [p.lower() for p in PALETTE[: len(first)]]
    inputs = psth.axes[len(units)].get_lines()
    assert all(ln.get_drawstyle() == "steps-post" for ln in inputs)  # pulses drawn as steps

    heat = activity_heatmap(view)
    check_accessible(heat)
    order, scaled = heatmap_order(view)
    peaks = np.argmax(scaled[order], axis=1)
    assert np.all(np.diff(peaks) >= 0)
    np.testing.assert_allclose(scaled.min(axis=1), 0.0)
    np.testing.assert_allclose(heat.axes[0].get_images()[0].get_array(), scaled[order])


def test_trajectories_are_coloured_by_condition(views):
    view = views[0]
    assert len(view.conditions) == len(view.trajectories) == 8 and view.condition_names
    fig = state_space(view)
    check_accessible(fig)
    lines = fig.axes[0].get_lines()[: len(view.trajectories)]
    assert [ln.get_color() for ln in lines] == [condition_colour(int(c)) for c in view.conditions]
    assert len({ln.get_color() for ln in lines}) == len(set(view.conditions.tolist())) > 1
    spec = state_space_figure(view)
    names = [t.name for t in spec.data if t.mode == "lines" and t.name.startswith("trials: ")]
    assert names == [f"trials: {view.condition_names[c]}" for c in sorted(set(view.conditions.tolist()))]


def test_small_multiples_put_one_architecture_per_row(views):
    fig = state_space_grid(views, ["vanilla", "gru"])
    check_accessible(fig)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == [v.network for v in views]
    assert drawn[0].get_ylabel().startswith("vanilla") and drawn[2].get_ylabel().startswith("gru")
    for ax, v in zip(drawn, views):
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        assert sorted(map(tuple, np.round(points, 9))) == sorted(map(tuple, np.round(v.fixed_points[:, :2], 9)))


def test_time_constants_closed_form():
    # map: |λ| = 0.5 per 10 ms step decays by e in 10/ln 2 ms; 0.6 ± 0.3j by |λ| = √0.45; 1.3 grows (left out)
    tau = time_constants(np.array([0.5, 0.6 + 0.3j, 0.6 - 0.3j, 1.3, 0.0]), False, 1.0, 10.0)
    np.testing.assert_allclose(tau, [10 / np.log(2), -10 / np.log(np.sqrt(0.45)), -10 / np.log(np.sqrt(0.45))])
    # flow: τ_model = dt/alpha = 100 ms; Re λ = −2 decays in 50 ms; Re λ > 0 left out
    np.testing.assert_allclose(time_constants(np.array([-2.0 + 1j, 0.5]), True, 0.1, 10.0), [50.0])


def test_speed_and_time_constant_histograms_count_the_catalog(run, full_run):
    rows = [r for g in ("vanilla-8", "gru-8")
            for r in pq.read_table(full_run / "catalog" / "fixed_points" / f"{g}.parquet").to_pylist()]
    speeds = speed_histogram(run)
    check_accessible(speeds)
    steps = speeds.axes[0].patches
    by_status = {s: sum(r["status"] == s for r in rows) for s in ("converged", "slow")}
    assert sum(int(p.get_data().values.sum()) for p in steps if p.get_linestyle() == "-") == by_status["converged"]
    assert sum(int(p.get_data().values.sum()) for p in steps if p.get_linestyle() == "--") == by_status["slow"]
    assert speeds.axes[0].get_xscale() == "log"

    taus = time_constant_histogram(run)
    check_accessible(taus)
    kept = [r for r in rows if r["status"] == "converged" and not r["outside_reachable"]]
    for arch, colour in (("vanilla", PALETTE[0]), ("gru", PALETTE[1])):
        mine = [r for r in kept if r["network"].startswith(arch)]
        w = np.concatenate([np.array(r["eig_real"]) + 1j * np.array(r["eig_imag"]) for r in mine])
        expected = -10.0 / np.log(np.abs(w[np.abs(w) < 1]))  # maps, dt = 10 ms
        step = next(p for p in taus.axes[0].patches if to_hex(p.get_edgecolor()) == colour.lower())
        values, edges = step.get_data().values, step.get_data().edges
        np.testing.assert_allclose(values, np.histogram(expected, edges)[0] / 2)  # per network, 2 networks
        assert np.isclose(values.sum(), expected.size / 2)


def test_dendrogram_merges_at_upgma_heights(run, full_run):
    fig = dendrogram(run, "cca")
    check_accessible(fig)
    rows = pq.read_table(full_run / "catalog" / "distances" / "cca.parquet").to_pylist()
    d = {frozenset((r["a"], r["b"])): r["distance"] for r in rows}
    cross = [d[frozenset((a, b))] for a in ("vanilla-8/s000", "vanilla-8/s001") for b in ("gru-8/s000", "gru-8/s001")]
    heights = np.concatenate([np.asarray(seg)[:, 1] for c in fig.axes[0].collections if hasattr(c, "get_segments")
                              for seg in c.get_segments()])
    # UPGMA joins the two architecture pairs first, then the two clusters at their mean cross distance
    within = sorted([d[frozenset(("vanilla-8/s000", "vanilla-8/s001"))], d[frozenset(("gru-8/s000", "gru-8/s001"))]])
    assert np.isclose(heights.max(), np.mean(cross))
    assert all(np.any(np.isclose(heights, h)) for h in within)
    leaves = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert sorted(leaves[:2]) in (["gru-8/s000", "gru-8/s001"], ["vanilla-8/s000", "vanilla-8/s001"])

    nan = np.array([[0, 1, np.nan], [1, 0, 2], [np.nan, 2, 0.0]])
    ids, archs, sub = complete_networks(["a", "b", "c"], ["x", "x", "y"], nan)
    assert ids == ["b", "c"] and archs == ["x", "y"] and sub.tolist() == [[0, 2], [2, 0]]
