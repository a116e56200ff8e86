"""The report of a run holding a network that blew up in training: the page is written, the network is left
out of the loss bands and of the networks drawn, and the page says so; checked against NumPy on the raw
losses. The run is written by the real sweep (tests/train/blown_up.py)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

import dynascope.cli.report  # noqa: F401  (registers `report` on the app)
from dynascope import pipeline, store
from dynascope.cli import app
from dynascope.report import figures, write_figures, write_report
from tests.report.test_html import parse
from tests.train.blown_up import BLOWN_UP, HEALTHY, blown_up_run, restanded_copy

runner = CliRunner()


@pytest.fixture(scope="module")
def blown_up(tmp_path_factory):
    """The blown-up run, trained and analysed (the diverged network skipped)."""
    path = blown_up_run(tmp_path_factory.mktemp("report") / "blown_up")
    pipeline.analyze_run(store.open(path), pipeline.AnalysisOptions(n_trials=8, n_initial_states=16, skeleton_steps=100))
    return path


def _losses(run) -> dict[str, np.ndarray]:
    return {n: np.asarray(v, np.float64) for n, v in run.sql("select network, loss from losses").fetchall()}


def test_loss_bands_hold_the_trained_networks_only(blown_up, tmp_path):
    # Two networks stand in for trained ones (flags rewritten with the real writer), one is untrained and
    # the last diverged: the bands and the solid median are the trained pair's, the dashed median the
    # untrained one's, and no drawn value comes from the diverged network.
    run = store.open(restanded_copy(blown_up, tmp_path / "r", trained=HEALTHY[:2], diverged=(BLOWN_UP,)))
    losses = _losses(run)
    assert np.nanmax(losses[BLOWN_UP]) > 1e6 * losses[HEALTHY[0]][0] or not np.all(np.isfinite(losses[BLOWN_UP]))
    fig = figures.loss_curves(run)
    ax = fig.axes[0]
    trained = np.stack([losses[n] for n in HEALTHY[:2]])
    solid = next(ln for ln in ax.get_lines() if ln.get_label() == "ctrnn median (n=2 trained)")
    np.testing.assert_allclose(solid.get_ydata(), np.median(trained, axis=0), rtol=1e-6)
    dashed = next(ln for ln in ax.get_lines() if ln.get_label() == "ctrnn untrained, median (n=1)")
    np.testing.assert_allclose(dashed.get_ydata(), losses[HEALTHY[2]], rtol=1e-6)
    outer = ax.collections[0].get_paths()[0].vertices[:, 1]  # the 5–95 % band's outline
    assert len(ax.collections) == 2
    lo, hi = np.percentile(trained, [5, 95], axis=0)
    assert np.all(outer >= lo.min() * (1 - 1e-6)) and np.all(outer <= hi.max() * (1 + 1e-6))
    drawn = np.concatenate([ln.get_ydata() for ln in ax.get_lines()])
    assert np.nanmax(drawn) <= max(np.max(trained), np.max(losses[HEALTHY[2]])) * (1 + 1e-6)


def test_the_report_completes_lists_the_diverged_network_and_does_not_draw_it(blown_up, tmp_path):
    text = write_report(blown_up, tmp_path / "page.html", max_networks=12).read_text(encoding="utf-8")
    page = parse(text)
    assert "Diverged networks (1)" in page.headings and "Untrained networks (3)" in page.headings
    assert f"<h3>Diverged networks (1)</h3><p><code>{BLOWN_UP}</code>." in text
    assert "Not shown: 1 network that diverged in training (listed under Training)." in text
    shown = [a["value"] for t, a in page.tags if t == "option"]
    assert len(shown) == 3 and text.count('class="network-panel"') == 3
    assert f">{BLOWN_UP}</option>" not in text and f">{HEALTHY[0]}</option>" in text
    assert "Showing 3 of 4 networks." in text


def test_static_figures_leave_the_diverged_network_out(blown_up, tmp_path):
    paths = write_figures(blown_up, tmp_path / "figs", max_networks=4, formats=("png",))
    names = {p.name for p in paths}
    assert "state_space_ctrnn-5_s003.png" not in names
    assert {f"state_space_{n.replace('/', '_')}.png" for n in HEALTHY} <= names and "trial.png" in names


def test_a_blown_up_network_flagged_healthy_by_an_older_dynascope_is_not_drawn(blown_up, tmp_path):
    # The same run as written before the divergence rule: the network with NaN states is flagged healthy;
    # drawing it raised "SVD did not converge".
    path = restanded_copy(blown_up, tmp_path / "old")
    text = write_report(path, tmp_path / "page.html", max_networks=12).read_text(encoding="utf-8")
    assert f"Not shown: <code>{BLOWN_UP}</code> — states not finite on the task's trials" in text
    assert text.count('class="network-panel"') == 3


def test_the_report_command_on_a_run_with_a_diverged_network(blown_up, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(blown_up, path)
    out = runner.invoke(app, ["report", str(path), "--networks", "2"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert (path / "report.html").is_file()
