"""The report page: one self-contained file with every section, and the `dynascope report` command."""

from __future__ import annotations

import dataclasses
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import plotly.offline
import pytest
from typer.testing import CliRunner

import dynascope.cli.report  # noqa: F401  (registers `report` on the app)
from dynascope import pipeline, store
from dynascope.cli import app
from dynascope.errors import ConfigError, RunFolderError
from dynascope.report import SECTIONS, write_report

runner = CliRunner()
# A tag that makes the browser fetch something: src/href/data pointing at a URL or a protocol-relative one.
REMOTE = re.compile(r"<(script|link|img|iframe|source|object|embed)\b[^>]*\b(src|href|data)\s*=\s*[\"']?(https?:|//)", re.I)


class Tags(HTMLParser):
    """Collects start tags with their attributes and the text of headings (script bodies are skipped)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)


def parse(text: str) -> Tags:
    p = Tags()
    p.feed(text)
    return p


def test_report_is_one_self_contained_file(full_run, full_report):
    assert full_report == full_run / "report.html"
    before = {p for p in full_run.rglob("*") if p.is_file()}
    write_report(full_run)  # writing again adds nothing but the page (no side files, no temp left over)
    after = {p for p in full_run.rglob("*") if p.is_file()}
    assert after == before
    text = full_report.read_text(encoding="utf-8")
    assert not REMOTE.search(text), REMOTE.search(text)
    assert text.count(plotly.offline.get_plotlyjs()) == 1
    tags = parse(text).tags
    assert not [a for t, a in tags if t == "script" and "src" in a]
    assert not [a for t, a in tags if t == "link"]
    assert all(a["src"].startswith("data:image/png;base64,") for t, a in tags if t == "img")
    assert full_report.stat().st_size < 20e6


def test_every_section_is_present_with_accessible_markup(full_report):
    text = full_report.read_text(encoding="utf-8")
    page = parse(text)
    assert ("html", {"lang": "en"}) in page.tags
    for sid, title in SECTIONS:
        assert title in page.headings
        assert ("section", {"id": sid, "aria-labelledby": f"{sid}-h"}) in page.tags
    for heading in ("Diverged networks (0)", "Metric: cca", "Metric: topology", "Universality summary"):
        assert heading in page.headings
    assert 'id="over-training"' not in text  # the run kept no weight snapshots
    imgs = [a for t, a in page.tags if t == "img"]
    # task, loss curves, 2 architectures × (unit activity, heat map), the side-by-side state spaces,
    # 4 × (skeleton, spectrum), fixed-point speeds and time constants, score against operations,
    # 2 × (distance matrix, dendrogram)
    assert len(imgs) == 2 + 2 * 2 + 1 + 4 * 2 + 2 + 1 + 2 * 2
    for heading in ("Side by side", "One network at a time"):
        assert heading in page.headings
    # the loss bands' caption states what "trained" means
    assert "counts as trained when its task score on held-out trials reaches the task&#x27;s criterion " \
           "(flipflop: score ≥ 0.95) and it did not diverge." in text
    assert all(len(a.get("alt", "")) > 20 for a in imgs)
    plots = [a for t, a in page.tags if t == "div" and "data-figure" in a]
    assert len(plots) == 4 + 2 and all(a.get("role") == "img" and a.get("aria-label") for a in plots)
    options = [a["value"] for t, a in page.tags if t == "option"]
    panels = [a for t, a in page.tags if t == "div" and a.get("class") == "network-panel"]
    assert options == [p["id"] for p in panels] == [f"net-{i}" for i in range(4)]
    assert ["hidden" in p for p in panels] == [False, True, True, True]
    assert "not analysed yet" not in text and "not compared yet" not in text
    # the universality summary's values, pivoted by architecture
    assert re.search(r"<td>cca</td><td>between / within</td><td class=\"num\">7.2</td>", text)
    # the headline row per metric, and the modal skeleton with its share per architecture
    assert re.search(r"<tr><td>cca</td><td class=\"num\">4</td><td>–</td><td class=\"num\">7.2</td>", text)
    # each metric says what its distance is, in which unit, and over how many networks
    assert "1 − mean canonical correlation (unitless), over all 4 networks." in text
    assert "Modal skeleton: <code>0:4 1:3 2:1 | 1-&gt;0 1-&gt;unbounded 2-&gt;1</code>" in text
    assert re.search(r"<tr><td>gru</td><td class=\"num\">0.5</td></tr>", text)


def test_a_run_with_only_training_renders_and_says_what_to_run(trained_run, tmp_path):
    out = write_report(trained_run, tmp_path / "page.html", max_networks=3)
    text = out.read_text(encoding="utf-8")
    page = parse(text)
    for _, title in SECTIONS:
        assert title in page.headings
    assert f"not analysed yet — run <code>dynascope analyze {trained_run}</code>" in text
    assert f"not compared yet — run <code>dynascope compare {trained_run}</code>" in text
    assert "Showing 3 of 4 networks" in text
    # task, loss curves, unit activity and heat map of 2 architectures, the side-by-side state spaces (no
    # fixed points yet); the 3-D state spaces are still drawn
    assert len([a for t, a in page.tags if t == "img"]) == 2 + 2 * 2 + 1
    assert f"Speeds and time constants: not analysed yet — run <code>dynascope analyze {trained_run}</code>" in text
    assert ("Synaptic operations and firing rates: not analysed yet — run "
            f"<code>dynascope analyze {trained_run}</code>") in text
    assert len([a for t, a in page.tags if t == "div" and "data-figure" in a]) == 3
    assert not (trained_run / "report.html").exists()


def test_report_command_writes_page_and_static_figures(full_run):
    shutil.rmtree(full_run / "figures", ignore_errors=True)
    # --networks 4: every network of the run, one by one, as on the page (it was capped at 3 for --static).
    out = runner.invoke(app, ["report", str(full_run), "--static", "--networks", "4"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "report.html" in out.output
    assert (full_run / "report.html").is_file()
    names = {p.name for p in (full_run / "figures").iterdir()}
    expected = {"loss_curves", "trial", "distance_matrix_cca", "distance_matrix_topology", "embedding_cca",
                "embedding_topology", "dendrogram_cca", "dendrogram_topology", "state_spaces_side_by_side",
                "fixed_point_speeds", "time_constants", "score_against_operations", "unit_activity_vanilla-8_s001",
                "activity_heatmap_vanilla-8_s001", "unit_activity_gru-8_s001", "activity_heatmap_gru-8_s001"}
    for net in ("vanilla-8_s000", "vanilla-8_s001", "gru-8_s000", "gru-8_s001"):
        expected |= {f"state_space_{net}", f"eigenvalue_spectrum_{net}", f"skeleton_{net}"}
    assert names == {f"{n}.{ext}" for n in expected for ext in ("png", "svg")}
    png = matplotlib.image.imread(full_run / "figures" / "loss_curves.png")
    assert png.ndim == 3 and float(np.var(png[..., :3])) > 1e-3
    root = ET.parse(full_run / "figures" / "loss_curves.svg").getroot()
    assert root.tag.endswith("svg")


def test_report_command_errors_name_the_problem(tmp_path):
    out = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert isinstance(out.exception, RunFolderError)
    with pytest.raises(RunFolderError, match=r"run folder .*missing does not exist; train one first"):
        raise out.exception
    out = runner.invoke(app, ["report", str(tmp_path), "--networks", "0"])
    with pytest.raises(ConfigError, match=r"--networks must be a positive integer, got 0"):
        raise out.exception


def test_render_options_are_checked(full_run):
    with pytest.raises(ConfigError, match=r"max_networks must be a positive integer, got -1"):
        write_report(full_run, max_networks=-1)


@pytest.mark.slow
def test_a_thousand_network_run_stays_under_20_mb(trained_run, tmp_path):
    """Weights tiled to 500 networks per group; every catalog table at full size (half a million distances)."""
    from tests.report.conftest import fill_analysis

    path = tmp_path / "big"
    shutil.copytree(trained_run, path)
    run = store.open(path)
    n = 500
    nets, losses = run.read(store.NetworkRows), run.read(store.LossRows)
    for group in run.groups():
        params, meta = run.read_weights(group)
        run.write_weights(group, {k: np.repeat(v[:1], n, axis=0) for k, v in params.items()}, {**meta, "seeds": list(range(n))})
        first = nets.where([g == group for g in nets.group]).take([0])
        loss = np.asarray(losses.where([k == first.network[0] for k in losses.network]).loss[0], np.float32)
        ids = [pipeline.network_id(group, s) for s in range(n)]
        many = first.take([0] * n)
        run.write(group, dataclasses.replace(many, network=ids, index=list(range(n)), seed=list(range(n)),
                                             diverged=[s % 7 == 0 for s in range(n)]))
        curves = np.stack([loss * np.float32(1 + 0.01 * s) for s in range(n)])
        curves[::7, 10] = np.inf  # the diverged ones: inf, then NaN (params frozen) — left out of the statistics
        curves[::7, 11:] = np.nan
        run.write(group, store.LossRows(network=ids, loss=list(curves)))
    fill_analysis(run)
    out = write_report(run)
    text = out.read_text(encoding="utf-8")
    assert out.stat().st_size < 20e6
    assert "Showing 12 of 1000 networks" in text
    assert "<h3>Diverged networks (144)</h3>" in text and "and 94 more." in text
    assert text.count('class="network-panel"') == 12


def test_a_metric_over_a_subsample_says_so(full_run, tmp_path):
    path = tmp_path / "run"
    shutil.copytree(full_run, path)
    run = store.open(path)
    two = ["vanilla-8/s000", "gru-8/s000"]  # as the study's DSA on at most max_dsa_networks networks
    run.write("dsa", store.DistanceRows(metric=["dsa"], a=two[:1], b=two[1:], distance=[0.4]))
    run.write("dsa", store.EmbeddingRows(metric=["dsa"] * 2, network=two, x=[-0.2, 0.2], y=[0.0, 0.0], cluster=[0, 1]))
    text = write_report(run, tmp_path / "page.html", max_networks=1).read_text(encoding="utf-8")
    assert "Metric: dsa" in parse(text).headings
    assert "(rad), over 2 of the run's 4 networks (it runs DSA on at most StudyOptions.max_dsa_networks" in text
    assert "trained networks only" not in text  # every network of the run is trained: not the reason here
    assert "over all 4 networks." in text  # the other metrics cover everyone
