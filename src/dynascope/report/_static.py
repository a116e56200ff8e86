"""Static figures of a run written to files (PNG and SVG), for papers: `dynascope report RUN --static`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
from matplotlib.figure import Figure

from dynascope import store
from dynascope.pipeline import open_run
from dynascope.errors import ConfigError, check_positive_int
from dynascope.report import _captioned, _catalog, figures
from dynascope.report._drawable import any_drawable, drawable_networks
from dynascope.report._ablation import ablation_parts
from dynascope.report._specialization import specialization_parts
from dynascope.report._network import network_view
from dynascope.report._spikes import spike_figures

FORMATS = ("png", "svg")


def write_figures(
    run: Any,
    out: str | Path | None = None,
    *,
    formats: tuple[str, ...] = FORMATS,
    max_networks: int = 3,
    dpi: int = 200,
) -> list[Path]:
    """Write every figure the run's data allows to a folder, once per format.

    Figures: loss_curves, trial, psychometric (decision tasks), per architecture unit_activity and
    activity_heatmap of its best network (and spike_raster for a spiking one), for an ablation run
    ablation_score_vs_size per mechanism, learned_tau and learned_delays, for a modularity sweep specialization_map and
    specialization_over_training, state_spaces_side_by_side and per network (up to
    `max_networks`, chosen as in the report: never one that diverged in training) state_space,
    eigenvalue_spectrum and skeleton_graph, fixed_point_speeds and time_constants,
    score_against_operations (from the energy counts of `dynascope analyze`), per metric
    distance_matrix, dendrogram and embedding. The folder is checked (and created) before any figure is
    drawn; each file is written atomically.

    Args:
        run: a `RunFolder` or its path.
        out: the folder (None: `RUN/figures/`).
        formats: some of 'png', 'svg', 'pdf'.
        max_networks: the most networks drawn one by one (≥ 1).
        dpi: resolution of raster formats.

    Returns:
        The paths written.

    Raises:
        ConfigError: an unknown or empty `formats`, or `max_networks` not a positive integer;
        RunFolderError: the run cannot be opened, or the folder cannot be written.
    """
    run = run if isinstance(run, store.RunFolder) else open_run(run)
    max_networks = check_positive_int("max_networks", max_networks)
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad or not formats:
        raise ConfigError(f"formats must be some of png, svg, pdf, got {formats!r}.")
    folder = Path(out) if out is not None else run.path / "figures"
    store.check_writable(folder)  # before any figure is drawn: a folder inside a file, or read-only
    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            store.write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
            written.append(path)

    if _catalog.count(run, store.NetworkRows) == 0:
        return written
    save(figures.loss_curves(run), "loss_curves")
    groups: dict[str, Any] = {}
    if any_drawable(run):  # some network did not diverge
        save(figures.trial(run, key=jax.random.key(figures.EXAMPLE_TRIAL_SEED)), "trial")
        curves = _captioned.psychometric_figure(run, groups)
        if curves is not None:
            save(curves.figure, curves.name)
        for c in _captioned.activity_figures(run, groups) + spike_figures(run, groups):  # spikes: spiking nets only
            save(c.figure, c.name)
    parts = ablation_parts(run)  # an ablation run: score against size per mechanism, learned time constants
    if parts is not None:
        for (fig, _, _), name in zip(parts.figures, parts.names):
            save(fig, name)
    special = specialization_parts(run)  # a modularity sweep: the map and its course over training
    if special is not None:
        for (fig, _, _), name in zip(special.figures, special.names):
            save(fig, name)
    key = jax.random.key(figures.EXAMPLE_TRIAL_SEED)  # the trials the page draws
    views = [network_view(run, n, key=key, groups=groups) for n in drawable_networks(run, max_networks, 8, groups)[0]]
    if views:
        c = _captioned.multiples_figure(views, _catalog.arch_order(run))
        save(c.figure, c.name)
    for view in views:
        network = view.network
        slug = network.replace("/", "_")
        save(figures.state_space(view), f"state_space_{slug}")
        if view.analysed:
            save(figures.eigenvalue_spectrum(view), f"eigenvalue_spectrum_{slug}")
            save(figures.skeleton_graph(view), f"skeleton_{slug}")
    if _catalog.count(run, store.FixedPointRows):
        for c in _captioned.fixed_point_figures(run, groups):
            save(c.figure, c.name)
    cost = _captioned.energy_figure(run)
    if cost is not None:  # a run analysed before the energy table has none: the figure is left out
        save(cost.figure, cost.name)
    for metric in _catalog.distance_metrics(run):
        save(figures.distance_matrix(run, metric), f"distance_matrix_{_slug(metric)}")
        c = _captioned.dendrogram_figure(run, metric)
        save(c.figure, c.name)
    for metric in _catalog.embedding_metrics(run):
        save(figures.embedding(run, metric), f"embedding_{_slug(metric)}")
    return written


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
