"""Score against synaptic operations: the figure checked against the raw energy shards, for its title, labels,
legend and palette, and the report of a run analysed before the energy table (no figure, a note saying what
to run)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
from matplotlib.colors import to_hex

from dynascope import store
from dynascope.report import PALETTE, CostPoints, cost_figure, energy_figure
from dynascope.report import render_report
from tests.report.test_figures import check_accessible, report_section


def test_one_marker_per_network_at_its_stored_operations_and_score(full_run):
    run = store.open(full_run)
    c = energy_figure(run)
    assert c is not None and c.name == "score_against_operations"
    fig = c.figure
    check_accessible(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "synaptic operations per trial" in ax.get_xlabel()
    shards = [full_run / "catalog" / "energy" / f"{g}.parquet" for g in ("vanilla-8", "gru-8")]
    rows = [r for shard in shards for r in pq.read_table(shard).to_pylist()]
    assert len(rows) == 4
    for arch, colour in (("vanilla", PALETTE[0]), ("gru", PALETTE[1])):  # the sweep's order: vanilla, gru
        coll = next(c for c in ax.collections if to_hex(c.get_facecolors()[0]) == colour.lower())
        want = sorted((r["operations_per_trial"], r["score"]) for r in rows if r["arch"] == arch)
        np.testing.assert_allclose(sorted(map(tuple, np.asarray(coll.get_offsets()))), want)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["vanilla (rate, 2 networks)", "gru (rate, 2 networks)"]
    assert "rate" in c.caption and "spiking" in c.caption and "Up and to the left" in c.caption


def test_spiking_and_rate_networks_differ_in_marker_and_unscored_ones_are_counted():
    points = CostPoints(
        network=["lif-8/s000", "lif-8/s001", "gru-8/s000"], arch=["lif", "lif", "gru"],
        spiking=np.array([True, True, False]), operations=np.array([120.0, 300.0, 4608.0]),
        per_step=np.array([7.5, 18.75, 288.0]), rate_hz=np.array([12.0, 30.0, np.nan]),
        score=np.array([0.9, np.nan, 0.95]))
    fig = cost_figure(points, ["gru", "lif"])
    check_accessible(fig)
    handles = fig.legends[0].legend_handles
    by_label = {h.get_label(): h for h in handles}
    assert by_label["lif (spiking, 1 network)"].get_marker() == "^"
    assert by_label["gru (rate, 1 network)"].get_marker() == "o"
    assert to_hex(by_label["gru (rate, 1 network)"].get_color()) == PALETTE[0].lower()  # first in arch_order
    assert "1 not drawn (no score)" in by_label
    offsets = np.concatenate([c.get_offsets() for c in fig.axes[0].collections])
    assert sorted(map(tuple, offsets)) == [(120.0, 0.9), (4608.0, 0.95)]


def test_a_run_analysed_before_the_energy_table_reports_without_the_figure(full_run, tmp_path):
    shutil.copytree(full_run, tmp_path / "old", ignore=shutil.ignore_patterns("report.html", "figures"))
    manifest = tmp_path / "old" / "manifest.json"
    doc = json.loads(manifest.read_text())
    for shard in (tmp_path / "old" / "catalog" / "energy").glob("*.parquet"):  # as an older dynascope left it
        del doc["files"][shard.relative_to(tmp_path / "old").as_posix()]
        shard.unlink()
    manifest.write_text(json.dumps(doc))
    run = store.open(tmp_path / "old")
    # energy_figure is what the page and --static draw from: None means both leave the figure out
    assert run.verify() == {} and energy_figure(run) is None
    page = render_report(run, max_networks=1, n_trials=1)
    text = report_section(page, "energy")
    assert "this run was analysed by a dynascope without energy counts" in text
    assert f"<code>dynascope analyze {tmp_path / 'old'}</code> to add them" in text
    assert "<img" not in text
    assert '<section id="ablation"' not in page  # and a run that is not an ablation has no ablation section
