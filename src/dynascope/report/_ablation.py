"""The report's ablation section (a run written by `dynascope ablate`): performance against size per arm with
its bootstrap band, the size-equivalence factor, and the learned time constants when τ is trained.

`ablation_parts` returns the section's pieces (text, table rows, captioned figures); the HTML page places
them, so this module draws and says, and the page's markup stays in one place (`report.html`)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from dynascope.pipeline import load_group
from dynascope.pipeline.ablation import ARMS, AblationSummary, ablation_summary
from dynascope.report._palette import PALETTE

#: The section's id and heading.
SECTION = ("ablation", "Ablation")
#: Table columns, one row per arm and size.
COLUMNS = ["arm", "model", "size", "networks", "score (mean)", "95 % interval", "operations / trial", "rate (Hz)"]
#: Arm colours: the palette's first two.
COLOURS = dict(zip(ARMS, PALETTE))


@dataclasses.dataclass(frozen=True)
class AblationParts:
    """What the section shows: an introduction (HTML), table rows (`COLUMNS`), and (figure, alt, caption)."""

    intro: str
    rows: list[list[Any]]
    figures: list[tuple[Figure, str, str]]


def ablation_parts(run: Any) -> AblationParts | None:
    """The section's pieces, or None when `run` is not an ablation (its config has no [ablation])."""
    if "ablation" not in run.config:
        return None
    import html

    summary = ablation_summary(run)
    c = summary.config
    arms = c.arms()
    arm_text = "; ".join(f"<strong>{side}</strong>: {html.escape(a.arch)} {html.escape(_options(a.options))}"
                         for side, a in arms.items())
    intro = (f"<p>Mechanism <strong>{html.escape(c.mechanism)}</strong> ablated in {html.escape(c.arch)} at sizes "
             f"{', '.join(map(str, c.sizes))}, {c.n_networks} networks (seeds) per arm and size; both arms of a size share the "
             f"seeds' data streams and, where shapes allow, initial weights. Arms — {arm_text}.</p>")
    if summary.factor is None:
        intro += "<p class='note'>Not every group has finished: resume with <code>dynascope ablate ... --resume</code>.</p>"
    else:
        intro += (f"<p>Size-equivalence factor: <strong>{html.escape(str(summary.factor))}</strong> — the arm without "
                  f"{html.escape(c.mechanism)} needs this many times the neurons to match the arm with it (geometric "
                  "mean over the scores both reach; '&gt;' when it never does within the sizes tried; 95 % paired "
                  "bootstrap interval over seeds).</p>")
    rows = [[r["arm"], r["arch"], r["n_hidden"], r["n_networks"], _nan(r["score_mean"]),
             f"[{_fmt(r['score_low'])}, {_fmt(r['score_high'])}]", _nan(r["operations_per_trial"]),
             _nan(r["mean_rate_hz"])] for r in summary.rows.records()]
    figures = [(performance_figure(summary), "Mean task score against network size (log scale) for the arm with and "
                "the arm without the mechanism, each with its 95 % bootstrap band over seeds.",
                "Score against size per arm; bands: 95 % bootstrap intervals over seeds.")]
    learned = {side: a for side, a in arms.items() if a.options.get("learn_tau")}
    if learned:
        figures.append((tau_figure(run, summary, list(learned)), "Histograms of the trained membrane time constants "
                        "of every neuron at the largest size, per arm that learns them.",
                        f"Learned membrane time constants τ_mem (ms) at size {c.sizes[-1]}, all networks."))
    return AblationParts(intro=intro, rows=rows, figures=figures)


def performance_figure(summary: AblationSummary) -> Figure:
    """Mean score against size (log x) per arm, with its bootstrap band; the factor in the title."""
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    rows = summary.rows
    for side in ARMS:
        sel = [i for i, a in enumerate(rows.arm) if a == side]
        if not sel:
            continue
        size = np.array([rows.n_hidden[i] for i in sel], float)
        mean, low, high = (np.array([_nan(getattr(rows, k)[i]) for i in sel]) for k in
                           ("score_mean", "score_low", "score_high"))
        ax.plot(size, mean, "o-", color=COLOURS[side], label=f"{side} {summary.config.mechanism}")
        ax.fill_between(size, low, high, color=COLOURS[side], alpha=0.25, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(summary.config.sizes, [str(n) for n in summary.config.sizes])
    ax.minorticks_off()
    ax.set_xlabel("network size (neurons, log scale)")
    ax.set_ylabel("task score (held-out trials)")
    factor = "pending" if summary.factor is None else str(summary.factor)
    ax.set_title(f"size-equivalence factor: {factor}", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def tau_figure(run: Any, summary: AblationSummary, sides: list[str]) -> Figure:
    """Histograms of τ_mem (ms) of every neuron of every network at the largest size, one panel per arm."""
    fig = Figure(figsize=(3.5 * len(sides), 3), layout="constrained")
    for k, side in enumerate(sides):
        ax = fig.add_subplot(1, len(sides), k + 1)
        group = load_group(run, summary.config.group(side, summary.config.sizes[-1]))
        tau_mem, _ = jax.vmap(group.model.time_constants)(group.params)  # type: ignore[attr-defined]
        ax.hist(np.asarray(tau_mem).ravel(), bins=30, color=COLOURS[side])
        ax.set_xlabel("τ_mem (ms)")
        ax.set_ylabel("neurons")
        ax.set_title(f"{side} {summary.config.mechanism}", fontsize="medium")
    return fig


def _options(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True) if options else "(defaults)"


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"
