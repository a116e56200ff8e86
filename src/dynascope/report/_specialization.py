"""The report's specialization section (a run written by `dynascope specialize`): the map of each measure over
(between-module fraction × size), its course over training, and how well the three measures agree.

`specialization_parts` returns the section's pieces (text, table rows, captioned figures); the HTML page places
them, so this module draws and says, and the page's markup stays in one place (`report.html`)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dynascope.pipeline.specialization import MEASURES, SpecializationSummary, specialization_summary
from dynascope.report._palette import PALETTE
from dynascope.report._parts import SectionParts

#: The section's id and heading.
SECTION = ("specialization", "Specialization")
#: Table columns, one row per architecture, fraction and size.
COLUMNS = ["model", "size", "inter fraction", "Q", "networks", "task score", "decodability", "lesion", "correlation"]
#: What each measure is, for titles and captions.
TITLES = {"decodability": "decodability", "lesion": "lesion damage", "correlation": "latent correlation"}
#: Line styles of the architectures in the over-training figure (colours are the fractions).
STYLES = ["-", "--", ":", "-."]


def specialization_parts(run: Any) -> SectionParts | None:
    """The section's pieces, or None when `run` is not a modularity sweep (its config has no [specialization])."""
    if "specialization" not in run.config:
        return None
    s = specialization_summary(run)
    c = s.config
    intro = (f"<p>Two-module networks ({html.escape(', '.join(c.archs))}) trained on "
             f"<strong>{html.escape(c.task)}</strong> at between-module fractions "
             f"{', '.join(f'{f:g}' for f in c.inter_fractions)} and sizes {', '.join(map(str, c.sizes))}, "
             f"{c.n_networks} networks each; every group of a size shares the seeds' data streams and initial "
             "weights before masking. Each module's specialization for each sub-task is measured three ways on the "
             f"same {c.n_trials} trials: <strong>decodability</strong> (a readout trained on one module alone), "
             "<strong>lesion damage</strong> (how much silencing the module costs a readout of the whole network) "
             "and <strong>latent correlation</strong> (the module's units' r² with each sub-task's latent). A "
             "network's index is max − min of a module's scores over the sub-tasks, averaged over its modules: 1 "
             "when each module serves one sub-task only, 0 when both serve both alike. Q is Newman's modularity "
             "of the recurrent wiring. Every network is measured, trained or not; diverged networks are left out. "
             "Disconnected modules (fraction 0) are specialised by construction, which raises the rank agreement "
             "below.</p>")
    if not s.networks:
        intro += "<p class='note'>No group has been measured yet: resume with <code>dynascope specialize ... --resume</code>.</p>"
        return SectionParts(intro=intro, rows=[], figures=[])
    if s.agreement is None:
        intro += f"<p>Rank agreement of the three measures: not defined ({html.escape(s.agreement_note)}).</p>"
    else:
        a = s.agreement
        intro += (f"<p>Rank agreement of the measures across the {len(s.networks)} networks (Spearman ρ of their final "
                  f"indices): decodability–lesion <strong>{a[0, 1]:.2f}</strong>, decodability–correlation "
                  f"<strong>{a[0, 2]:.2f}</strong>, lesion–correlation <strong>{a[1, 2]:.2f}</strong>.</p>")
    rows = [[m["arch"], m["n_hidden"], f"{m['inter_fraction']:g}", _fmt(m["modularity"]), m["networks"], _fmt(m["metric"]),
             *(f"{_fmt(m[k])} [{_fmt(m[k + '_low'])}, {_fmt(m[k + '_high'])}]" for k in MEASURES)] for m in s.map]
    figures = [(map_figure(s), "Heat maps of the mean specialization index by each measure, and of the task score, "
                "with the between-module fraction across and the network size down, one row per architecture.",
                "Where specialization emerges: mean index of all networks of each cell per measure (0 to 1, darker "
                "is lower; trained or not) and their task score, per between-module fraction (Q under it, its "
                "range over the sizes) and size.")]
    names = ["specialization_map"]
    if s.steps.size > 1:
        figures.append((over_training_figure(s), "Line plots of the mean specialization index against the training "
                        "step, one panel per measure, one colour per between-module fraction, at the largest size.",
                        f"Specialization over training at size {c.sizes[-1]}: mean index over the networks, per "
                        "between-module fraction (colour) and architecture (line style)."))
        names.append("specialization_over_training")
    return SectionParts(intro=intro, rows=rows, figures=figures, names=names)


def map_figure(s: SpecializationSummary) -> Figure:
    """Per architecture (rows of panels), a heat map per measure and one of the task score over (fraction ×
    size), each cell annotated with its value."""
    c = s.config
    cells = {(m["arch"], m["inter_fraction"], m["n_hidden"]): m for m in s.map}
    panels = (*MEASURES, "metric")
    fig = Figure(figsize=(3.2 * len(panels), 0.5 + 2.4 * len(c.archs)), layout="constrained")
    axes = fig.subplots(len(c.archs), len(panels), squeeze=False)
    for r, arch in enumerate(c.archs):
        for k, key in enumerate(panels):
            ax = axes[r, k]
            grid = np.array([[_nan(cells.get((arch, f, n), {}).get(key)) for f in c.inter_fractions] for n in c.sizes])
            image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")
            for (i, j), v in np.ndenumerate(grid):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize="small",
                            color="black" if v > 0.6 else "white")
            ax.set_xticks(range(len(c.inter_fractions)), [f"{f:g}\nQ {s.modularity_range(f)}" for f in c.inter_fractions],
                          fontsize="small")
            ax.set_yticks(range(len(c.sizes)), [str(n) for n in c.sizes])
            ax.set_xlabel("between-module fraction")
            ax.set_ylabel(f"{arch}: neurons" if k == 0 else "neurons")
            ax.set_title("task score" if key == "metric" else TITLES[key], fontsize="medium")
        fig.colorbar(image, ax=axes[r, :].tolist(), label="index / score (0–1)", shrink=0.9)
    return fig


def over_training_figure(s: SpecializationSummary) -> Figure:
    """Mean index against training step at the largest size: one panel per measure, one colour per fraction,
    one line style per architecture."""
    c = s.config
    size = c.sizes[-1]
    fig = Figure(figsize=(3.6 * len(MEASURES), 3.2), layout="constrained")
    axes = fig.subplots(1, len(MEASURES), squeeze=False)[0]
    for ax, measure in zip(axes, MEASURES):
        for a, arch in enumerate(c.archs):
            for f, fraction in enumerate(c.inter_fractions):
                sel = (s.arch == arch) & (s.inter_fraction == fraction) & (s.n_hidden == size)
                if not sel.any():
                    continue
                values = s.over_training[measure][sel]
                kept = np.isfinite(values).any(axis=0)
                mean = np.array([np.nanmean(values[:, j]) if kept[j] else np.nan for j in range(values.shape[1])])
                ax.plot(s.steps[kept], mean[kept], STYLES[a % len(STYLES)], marker="o", markersize=3,
                        color=PALETTE[f % len(PALETTE)], label=f"{arch}, inter {fraction:g}")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training step")
        ax.set_ylabel("specialization index")
        ax.set_title(TITLES[measure], fontsize="medium")
    axes[-1].legend(fontsize="x-small", loc="best")
    return fig


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _fmt(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:.2f}"
