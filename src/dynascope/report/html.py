"""The run report: one self-contained HTML page (plotly.js and every image inlined; opens offline).

Sections appear as their data exists in the catalog: configuration, task and training always; fixed
points and skeletons after `dynascope analyze`; distances, embedding and the universality summary after
`dynascope compare`. Per-network panels are limited to a subsample so the page stays small.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from dynascope import store
from dynascope.compare import (
    BETWEEN_WITHIN,
    CHANCE_ACCURACY,
    CLUSTER_AGREEMENT,
    MODAL_SHARE,
    NN_ACCURACY,
    SIGNATURES,
    get_metric,
    metric_names,
)
from dynascope.pipeline import open_run
from dynascope.errors import check_positive_int
from dynascope.pipeline import load_group
from dynascope.report import _ablation, _assets, _catalog, _fits, _interactive, _leaderboard, _over_training, figures
from dynascope.report import _specialization
from dynascope.report import _captioned as _captioned_figures
from dynascope.report._drawable import any_drawable, drawable_networks
from dynascope.report._network import network_view
from dynascope.report._spikes import spike_figures

#: Headings of the page's sections, in order (id, title); tests and readers rely on them.
SECTIONS = (
    ("config", "Run configuration"),
    ("task", "Task"),
    ("training", "Training"),
    ("activity", "Unit activity"),
    ("networks", "Networks"),
    ("fixed-points", "Fixed points across networks"),
    ("energy", "Energy and cost"),
    ("population", "Population"),
)
#: Diverged networks listed by name at most (the rest are counted).
MAX_LISTED = 50


def report_path(run: Any, path: str | Path | None = None) -> Path:
    """Where `write_report` writes: `path`, `path/report.html` if `path` is an existing folder, or
    `RUN/report.html` by default."""
    out = Path(path) if path is not None else run.path / "report.html"
    return out / "report.html" if out.is_dir() else out


def write_report(run: Any, path: str | Path | None = None, *, max_networks: int = 12, n_trials: int = 8) -> Path:
    """Write the report page of a run and return its path.

    The destination is checked before anything is rendered, and a failed write (disk full) leaves no
    partial page behind.

    Args:
        run: a `RunFolder` or its path.
        path: the file (None: `RUN/report.html`; an existing folder gets `report.html` inside it; missing
            parent folders are created).
        max_networks: bounds the per-network panels (state space, skeleton, spectrum) (≥ 1).
        n_trials: the trials whose trajectories each panel draws (≥ 1).

    Returns:
        The path written.

    Raises:
        RunFolderError: the run cannot be opened, the path lies inside a file, or the folder cannot be
        written; ConfigError: as `render_report`.
    """
    run = run if isinstance(run, store.RunFolder) else open_run(run)
    out = report_path(run, path)
    store.check_writable(out.parent)
    text = render_report(run, max_networks=max_networks, n_trials=n_trials)
    store.write_atomic(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return out


def render_report(run: Any, *, max_networks: int = 12, n_trials: int = 8) -> str:
    """The report page of a run as one HTML string.

    Args:
        run: the `RunFolder`.
        max_networks: bounds the per-network panels (state space, skeleton, spectrum) (≥ 1).
        n_trials: the trials whose trajectories each panel draws (≥ 1).

    Returns:
        The page, self-contained (plotly's script inlined).

    Raises:
        ConfigError: `max_networks` or `n_trials` not a positive integer; RunFolderError: a group's
        files cannot be read.
    """
    import plotly.offline

    max_networks = check_positive_int("max_networks", max_networks)
    n_trials = check_positive_int("n_trials", n_trials)
    name = html.escape(run.path.name or str(run.path))
    groups: dict[str, Any] = {}  # loaded groups, shared by every section
    body = [
        _config_section(run),
        _task_section(run, groups),
        _training_section(run, groups),
        _activity_section(run, groups),
        _networks_section(run, max_networks, n_trials, groups),
        _fixed_points_section(run, groups),
        _energy_section(run),
        _population_section(run),
    ]
    ablation = _ablation_section(run)  # only for a run written by `dynascope ablate`
    body.insert(3, ablation)
    specialization = _specialization_section(run)  # only for a run written by `dynascope specialize`
    body.insert(4, specialization)
    over_training = _over_training_section(run)  # only for a run that kept weight snapshots
    body.insert(len(body) - 2, over_training)  # after the fixed points, before energy and population
    leaderboard = _leaderboard.leaderboard_html(run, table)  # only for a run scored with `dynascope score`
    body.append(leaderboard)
    fits = _fits.fits_html(run, table)  # only for a run fitted to a recording and scored
    body.append(fits)
    nav = "".join(f'<li><a href="#{i}">{t}</a></li>' for i, t in SECTIONS[:3] + (_ablation.SECTION,) * bool(ablation)
                  + (_specialization.SECTION,) * bool(specialization)
                  + SECTIONS[3:6] + (_over_training.SECTION,) * bool(over_training) + SECTIONS[6:]
                  + (_leaderboard.SECTION,) * bool(leaderboard) + (_fits.SECTION,) * bool(fits))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>dynascope report: {name}</title>\n<style>{_assets.CSS}</style>\n</head>\n<body>\n"
        f"<script>{_assets.ERROR_TRAP}</script>\n"
        f"<script>{plotly.offline.get_plotlyjs()}</script>\n"
        f"<header><h1>dynascope report: {name}</h1>\n"
        f'<p>Run folder <code>{html.escape(str(run.path))}</code>.</p>\n'
        f'<nav aria-label="sections"><ul>{nav}</ul></nav></header>\n<main>\n'
        + "\n".join(body)
        + f"\n</main>\n<script>{_assets.RENDER}</script>\n</body>\n</html>\n"
    )


# -- pieces ----------------------------------------------------------------------------------------
def img(fig: Figure, alt: str, caption: str = "", dpi: int = 100) -> str:
    """A `<figure>` holding `fig` as an inline base64 PNG with `alt` text and an optional caption."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">{cap}</figure>'


def plot(fig: Any, dom_id: str, label: str, caption: str = "") -> str:
    """A `<figure>` with a plotly figure rendered by the page script from an inline JSON spec."""
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure><div class="plot" id="{dom_id}" data-figure="{dom_id}-spec" role="img" '
        f'aria-label="{html.escape(label)}"></div>{cap}'
        f'<script type="application/json" id="{dom_id}-spec">{_interactive.to_json(fig)}</script></figure>'
    )


def table(columns: list[str], rows: list[list[Any]], caption: str = "") -> str:
    """An HTML table; numbers are right-aligned and shown to 4 significant digits."""
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, (int, np.integer)):
        return f'<td class="num">{int(v)}</td>'
    if isinstance(v, (float, np.floating)):
        return f'<td class="num">{"–" if v is None or math.isnan(v) else f"{v:.4g}"}</td>'
    return f"<td>{html.escape('–' if v is None else str(v))}</td>"


def pending(what: str, command: str, run: Any) -> str:
    """The note shown where a section's data does not exist yet."""
    return f'<p class="pending">{what} — run <code>dynascope {command} {html.escape(str(run.path))}</code></p>'


def section(sid: str, body: str) -> str:
    """A `<section>` with the heading of `sid` from SECTIONS around `body`."""
    title = dict(SECTIONS)[sid]
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{title}</h2>\n{body}\n</section>'


# -- sections --------------------------------------------------------------------------------------
def _config_section(run: Any) -> str:
    parts = []
    for key, value in run.config.items():
        rows = [[k, v] for k, v in _flatten(value)] if isinstance(value, dict) else [[key, value]]
        body = table(["option", "value"], rows) if rows else "<p class='note'>(none)</p>"
        parts.append(f"<div><h3>{html.escape(key)}</h3>{body}</div>")
    return section("config", '<div class="grid config">' + "\n".join(parts) + "</div>")


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", ", ".join(map(str, v)) if isinstance(v, list) else v))
    return out


def _task_section(run: Any, groups: dict[str, Any]) -> str:
    sweep = run.config.get("sweep", {})
    opts = ", ".join(f"{k}={v}" for k, v in run.config.get("task_options", {}).items()) or "defaults"
    intro = f"<p>Task <strong>{html.escape(str(sweep.get('task', '?')))}</strong> ({html.escape(opts)}).</p>"
    if _catalog.count(run, store.NetworkRows) == 0:
        return section("task", intro + "<p class='note'>No network has finished training yet.</p>")
    if not any_drawable(run):
        return section("task", intro + "<p class='note'>No example trial: every network diverged in training "
                       "(see Training).</p>")
    fig = figures.trial(run, key=jax.random.key(figures.EXAMPLE_TRIAL_SEED))
    alt = "Example trial: input channels against time (top); targets dashed and the network's outputs solid (bottom)."
    body = intro + img(fig, alt, "One trial of the task; outputs of the best-scoring network.")
    curves = _captioned_figures.psychometric_figure(run, groups)
    if curves is not None:
        body += "<h3>Psychometric curves</h3>" + _captioned(curves)
    return section("task", body)


def _captioned(c: _captioned_figures.Captioned) -> str:
    return img(c.figure, c.alt, c.caption)


def _activity_section(run: Any, groups: dict[str, Any]) -> str:
    if not any_drawable(run):
        return section("activity", "<p class='note'>No network to show: none has finished training without "
                       "diverging.</p>")
    figs = _captioned_figures.activity_figures(run, groups) + spike_figures(run, groups)  # spikes: spiking nets only
    intro = ("<p>One example network per architecture (its best task score), run on 64 trials of the task "
             "and averaged over the trials of each condition, as a PSTH of a recording is.</p>")
    return section("activity", intro + '<div class="grid">' + "".join(_captioned(c) for c in figs) + "</div>")


def _fixed_points_section(run: Any, groups: dict[str, Any]) -> str:
    if _catalog.count(run, store.FixedPointRows) == 0:
        return section("fixed-points", pending("Speeds and time constants: not analysed yet", "analyze", run))
    figs = _captioned_figures.fixed_point_figures(run, groups)
    return section("fixed-points", '<div class="grid">' + "".join(_captioned(c) for c in figs) + "</div>")


def _ablation_section(run: Any) -> str:
    return _parts_section(_ablation, _ablation.ablation_parts(run))


def _specialization_section(run: Any) -> str:
    return _parts_section(_specialization, _specialization.specialization_parts(run))


def _parts_section(module: Any, parts: Any) -> str:
    """The section of a run written by one command, from its pieces (`SectionParts`, None: no section) and
    its module's SECTION (id, heading) and COLUMNS."""
    if parts is None:
        return ""
    sid, title = module.SECTION
    body = parts.intro + table(module.COLUMNS, parts.rows) + "".join(img(*f) for f in parts.figures)
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{title}</h2>\n{body}\n</section>'


def _over_training_section(run: Any) -> str:
    parts = _over_training.over_training_parts(run)
    if parts is None:
        return ""
    sid, title = _over_training.SECTION
    if parts.pending is not None:
        body = f'<p class="pending">Weight snapshots kept, not analysed yet — run <code>{parts.pending}</code></p>'
    else:
        body = (parts.intro + '<div class="grid">' + "".join(img(*f) for f in parts.figures) + "</div>"
                + table(_over_training.COLUMNS, parts.rows))
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{title}</h2>\n{body}\n</section>'


def _energy_section(run: Any) -> str:
    if _catalog.count(run, store.NetworkRows) == 0:
        return section("energy", "<p class='note'>No network has finished training yet.</p>")
    c = _captioned_figures.energy_figure(run)
    if c is None:
        if _catalog.count(run, store.SkeletonRows) == 0:
            return section("energy", pending("Synaptic operations and firing rates: not analysed yet", "analyze", run))
        # A run analysed by a dynascope without the energy table: the fixed points are there, the counts not.
        return section("energy", "<p class='note'>No synaptic operations stored: this run was analysed by a "
                       "dynascope without energy counts. Run <code>dynascope analyze "
                       f"{html.escape(str(run.path))}</code> to add them (fixed points are not searched again)."
                       "</p>")
    points = _catalog.cost_points(run)
    rows = []
    for arch in dict.fromkeys(points.arch):
        sel = np.array([a == arch for a in points.arch])
        spiking = bool(points.spiking[sel].any())
        rows.append([arch, "spiking" if spiking else "rate", int(sel.sum()), _median(points.operations[sel]),
                     _median(points.per_step[sel]), _median(points.rate_hz[sel]) if spiking else None,
                     _median(points.score[sel])])
    summary = table(["architecture", "kind", "networks", "median operations per trial", "median operations per step",
                     "median firing rate (Hz)", "median task score"], rows,
                    "Medians over the analysed networks (diverged ones are not analysed); firing rates for "
                    "spiking models only.")
    return section("energy", summary + _captioned(c))


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def trained_criterion(run: Any, groups: dict[str, Any]) -> str:
    """One sentence saying when a network of `run` counts as trained (its task's criterion)."""
    names = run.groups()
    if not names:
        return ""
    if names[0] not in groups:
        groups[names[0]] = load_group(run, names[0])
    task = groups[names[0]].task
    return (f"A network counts as trained when its task score on held-out trials reaches the task's criterion "
            f"({task.name}: score ≥ {task.criterion:g}) and it did not diverge.")


def _training_section(run: Any, groups: dict[str, Any]) -> str:
    nets = _catalog.networks(run)
    if not nets:
        return section("training", "<p class='note'>No network has finished training yet.</p>")
    rows = []
    for arch in _catalog.arch_order(run):
        sel = [n for n in nets if n["arch"] == arch]
        healthy = [n for n in sel if not n["diverged"]]
        finite = lambda k: [n[k] for n in healthy if n[k] is not None and math.isfinite(n[k])]  # noqa: E731
        rows.append([arch, len(sel), sum(bool(n["trained"]) for n in sel), sum(bool(n["diverged"]) for n in sel),
                     float(np.median(finite("final_loss"))) if finite("final_loss") else float("nan"),
                     float(np.median(finite("metric"))) if finite("metric") else float("nan")])
    parts = [table(["architecture", "networks", "trained", "diverged", "median final loss", "median task score"], rows,
                   "Medians over the networks that did not diverge.")]
    alt = ("Training loss against step on a log scale: per architecture the median and 25–75 % and 5–95 % bands "
           "of the trained networks, and the median of the untrained ones dashed.")
    parts.append(img(figures.loss_curves(run), alt, "Population training loss by architecture (log scale): bands "
                     "and solid medians over the trained networks, dashed medians over the untrained ones; "
                     "diverged networks are not drawn. " + trained_criterion(run, groups)))
    untrained = _catalog.by_standing(run, "untrained")
    diverged = _catalog.by_standing(run, "diverged")
    parts.append(_listed("Untrained networks", untrained, "Every network that did not diverge reached the task's criterion."))
    parts.append(_listed("Diverged networks", diverged, "No network diverged.",
                         "Their loss went non-finite or exploded (above TrainOptions.divergence_factor × the reference "
                         "loss); their parameters were frozen, and they are left out of the analysis, the loss bands "
                         "and the networks shown below."))
    return section("training", "\n".join(parts))


def _listed(title: str, ids: list[str], none: str, why: str = "") -> str:
    """A heading with the count and the first MAX_LISTED ids (the rest counted), or `none` when empty."""
    if not ids:
        return f"<h3>{title} (0)</h3><p>{html.escape(none)}</p>"
    listed = ", ".join(f"<code>{html.escape(d)}</code>" for d in ids[:MAX_LISTED])
    more = f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
    note = f" {html.escape(why)}" if why else ""
    return f"<h3>{title} ({len(ids)})</h3><p>{listed}{more}.{note}</p>"


def _networks_section(run: Any, max_networks: int, n_trials: int, groups: dict[str, Any]) -> str:
    total = _catalog.count(run, store.NetworkRows)
    if total == 0:
        return section("networks", "<p class='note'>No network has finished training yet.</p>")
    chosen, unfit = drawable_networks(run, max_networks, n_trials, groups)
    n_diverged = len(_catalog.by_standing(run, "diverged"))
    parts = [f"<p>Showing {len(chosen)} of {total} networks"
             + (f" (at most {max_networks}, taken in turn from each group, analysed networks first; "
                "choose more with <code>dynascope report RUN --networks N</code>)"
                if len(chosen) + len(unfit) + n_diverged < total else "")
             + ".</p>"]
    if n_diverged:
        parts.append(f"<p class='note'>Not shown: {n_diverged} network{'s' if n_diverged != 1 else ''} that "
                     "diverged in training (listed under Training).</p>")
    if unfit:
        listed = ", ".join(f"<code>{html.escape(n)}</code>" for n in unfit)
        parts.append(f"<p class='note'>Not shown: {listed} — states not finite on the task's trials (the network "
                     "blew up in training without being flagged; retrain it).</p>")
    if not chosen:
        return section("networks", "\n".join(parts))
    if _catalog.count(run, store.FixedPointRows) == 0:
        parts.append(pending("Fixed points and skeletons: not analysed yet", "analyze", run))
    views = [network_view(run, network, n_trials=n_trials, key=jax.random.key(figures.EXAMPLE_TRIAL_SEED), groups=groups) for network in chosen]
    parts.append("<h3>Side by side</h3>" + _captioned(_captioned_figures.multiples_figure(views, _catalog.arch_order(run))))
    parts.append("<h3>One network at a time</h3>")
    options = "".join(f'<option value="net-{i}">{html.escape(n)}</option>' for i, n in enumerate(chosen))
    parts.append(f'<p><label for="network-select">Network: </label><select id="network-select">{options}</select></p>')
    for i, view in enumerate(views):
        parts.append(_network_panel(run, view, f"net-{i}", hidden=i > 0))
    return section("networks", "\n".join(parts))


def _network_panel(run: Any, view: Any, dom_id: str, hidden: bool) -> str:
    name = html.escape(view.network)
    counts = {int(k): int(np.sum(view.n_unstable == k)) for k in np.unique(view.n_unstable)}
    described = ", ".join(f"{n} {figures.index_label(k)}" for k, n in counts.items()) or "none"
    var = 100 * float(np.sum(view.explained))
    caption = (f"{view.trajectories.shape[0]} trials projected on the first three principal components "
               f"({var:.0f} % of the state variance), coloured by their trial's condition (final target and "
               f"tonic inputs). Fixed points drawn: {described}"
               + (f"; {view.n_hidden_points} more not drawn (slow, failed or outside the reachable region)"
                  if view.n_hidden_points else "") + ". Drag to rotate.")
    label = f"3-D state space of {view.network}: trajectories, fixed points coloured by index, unstable directions."
    parts = [f"<h3>{name} <small>({html.escape(view.arch)})</small></h3>",
             plot(_interactive.state_space_figure(view), f"{dom_id}-3d", label, caption)]
    if not view.analysed:
        parts.append(pending("Fixed points, skeleton and spectra: not analysed yet", "analyze", run))
    else:
        skel_alt = (f"Skeleton of {view.network}: fixed-point classes by index as nodes, arrows for saddle "
                    "departures with their counts.")
        spec_alt = (f"Eigenvalues at the fixed points of {view.network} in the complex plane, coloured by index, "
                    + ("with the imaginary axis as stability boundary." if view.continuous else "with the unit circle."))
        skel_cap = ("Skeleton under the first analysis input: fixed points grouped by index (×: how many), arrows "
                    "from each saddle class to where its departures along unstable directions end, with counts.")
        boundary = ("right of the imaginary axis (Re λ > 0, in units of 1/τ)" if view.continuous
                    else "outside the unit circle (|λ| > 1: growth per step)")
        spec_cap = (f"Eigenvalues of the Jacobian at every drawn fixed point, coloured by the point's index; "
                    f"a mode is unstable {boundary}.")
        parts.append('<div class="grid">'
                     + img(figures.skeleton_graph(view), skel_alt, skel_cap)
                     + img(figures.eigenvalue_spectrum(view), spec_alt, spec_cap) + "</div>")
    hide = " hidden" if hidden else ""
    return f'<div class="network-panel" id="{dom_id}"{hide}>' + "\n".join(parts) + "</div>"


def _population_section(run: Any) -> str:
    dist, emb = _catalog.distance_metrics(run), _catalog.embedding_metrics(run)
    has_summary = _catalog.count(run, store.SummaryRows) > 0
    if not (dist or emb or has_summary):
        return section("population", pending("Distances, embedding and universality summary: not compared yet",
                                             "compare", run))
    compared = _catalog.compared(run)
    parts = [_summary(run, compared) if has_summary else
             "<h3>Universality summary</h3>" + pending("Not summarised yet", "compare", run)]
    total, population = _catalog.count(run, store.NetworkRows), max(compared.values(), default=0)
    for metric in _ordered(set(dist) | set(emb)):
        m = html.escape(metric)
        what, unit = figures.metric_units(metric)
        scope = _scope(metric, compared.get(metric), total, population)
        intro = f"<p>{html.escape(what[0].upper() + what[1:])} ({html.escape(unit)}){scope}.</p>"
        cells = []
        if metric in dist:
            alt = f"Heatmap of pairwise {metric} distances between networks, grouped by architecture."
            cells.append(img(figures.distance_matrix(run, metric), alt,
                             f"{metric} distance of every pair of networks, ordered by architecture (0 on the "
                             "diagonal); low blocks on the diagonal mean networks resemble their own architecture."))
            cells.append(_captioned(_captioned_figures.dendrogram_figure(run, metric)))
        if metric in emb:
            label = f"Scatter of networks embedded by {metric} distance, coloured by architecture."
            same = " Networks at distance 0 (e.g. with identical skeletons) sit on one point." if metric == "topology" else ""
            cells.append(plot(_interactive.embedding_figure(run, metric), f"emb-{_slug(metric)}", label,
                              "Classical MDS: distances between points approximate the distances between networks. "
                              f"Hover for the network and its cluster.{same}"))
        parts.append(f"<h3>Metric: {m}</h3>{intro}<div class='grid'>{''.join(cells)}</div>")
    return section("population", "\n".join(parts))


def _scope(metric: str, n: int | None, total: int, population: int) -> str:
    """', over N networks' for a metric's intro (empty when unknown), with why the study left some out:
    `population` networks is the most any metric compared (fewer than `total`: untrained ones left out)."""
    if n is None:
        return ""
    if n == total:
        return f", over all {n} networks"
    why = []
    if population < total:
        why.append("the study compares trained networks only")
    entry = get_metric(metric) if metric in metric_names() else None
    if entry is not None and entry.expensive and n < population:
        why.append(f"it runs {metric.upper()} on at most StudyOptions.max_dsa_networks of them, spread evenly "
                   "over the architectures")
    if entry is not None and entry.takes == SIGNATURES and n < population:
        why.append(f"{metric} compares only the networks with skeletons (`dynascope analyze`)")
    return f", over {n} of the run's {total} networks" + (f" ({'; '.join(why)})" if why else "")


#: The summary's headline columns: (stored quantity, column title).
HEADLINE = (
    (NN_ACCURACY, "architecture from nearest neighbour"),
    (BETWEEN_WITHIN, "distance between / within architectures"),
    (CLUSTER_AGREEMENT, "clusters vs architecture (ARI)"),
    (MODAL_SHARE, "share with the modal skeleton"),
)


def _ordered(metrics: set[str]) -> list[str]:
    """Metrics in the study's order (geometry, dynamics, topology), unknown ones last by name."""
    known = metric_names()
    return sorted(metrics, key=lambda m: (known.index(m) if m in known else len(known), m))


def _summary(run: Any, compared: dict[str, int]) -> str:
    """The universality summary: one headline row per metric, the modal skeleton and its share per
    architecture, and every stored quantity by architecture folded away below."""
    archs, rows = _catalog.summary(run)
    overall = {(m, q): v.get("all", float("nan")) for m, q, v in rows}
    metrics = _ordered({m for m, _, _ in rows})
    chance = next((overall[(m, CHANCE_ACCURACY)] for m in metrics if (m, CHANCE_ACCURACY) in overall), None)
    head = [[m, compared.get(m), *[overall.get((m, q), None) for q, _ in HEADLINE]] for m in metrics]
    note = (f"Chance accuracy (always the most common architecture): {chance:.2f}. " if chance is not None else "")
    out = ["<h3>Universality summary</h3>",
           f"<p>{note}A metric that separates architectures scores near 1 in 'architecture from nearest "
           "neighbour' and well above 1 in 'distance between / within'; a universal solution shows as a high "
           "share with the modal skeleton (Maheswaranathan et al. 2019).</p>",
           table(["metric", "networks compared", *[t for _, t in HEADLINE]], head)]
    shares = next((v for m, q, v in rows if m == "topology" and q == MODAL_SHARE), None)
    modal = _catalog.modal_topology(run)
    if shares is not None and modal is not None:
        out.append(f"<p>Modal skeleton: <code>{html.escape(modal)}</code> (fixed points by index | connections).</p>")
        out.append(table(["architecture", "share with the modal skeleton"],
                         [[a, shares[a]] for a in archs if a in shares and a != "all"]))
    out.append("<details><summary>Every quantity, by architecture</summary>" + table(
        ["metric", "quantity", *archs], [[m, q, *[v.get(a, float("nan")) for a in archs]] for m, q, v in rows])
        + "</details>")
    return "\n".join(out)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)

