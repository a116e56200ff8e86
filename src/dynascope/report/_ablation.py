"""The report's ablation section (a run written by `dynascope ablate`): per mechanism, performance against size
per arm with its bootstrap band and the size-equivalence factor; and the learned time constants and delays when
they are trained.

`ablation_parts` returns the section's pieces (text, table rows, captioned figures); the HTML page places
them, so this module draws and says, and the page's markup stays in one place (`report.html`)."""

from __future__ import annotations

import json
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from dynascope.pipeline import load_group
from dynascope.pipeline.ablation import ARMS, AblationSummary, ablation_summary
from dynascope.report._palette import PALETTE
from dynascope.report._parts import SectionParts

#: The section's id and heading.
SECTION = ("ablation", "Ablation")
#: Table columns, one row per arm and size.
COLUMNS = ["arm", "model", "size", "networks", "score (mean)", "95 % interval", "operations / trial", "rate (Hz)"]
#: Arm colours: the palette's first two.
COLOURS = dict(zip(ARMS, PALETTE))


def ablation_parts(run: Any) -> SectionParts | None:
    """The section's pieces, or None when `run` is not an ablation (its config has no [ablation])."""
    if "ablation" not in run.config:
        return None
    import html

    summary = ablation_summary(run)
    c = summary.config
    intro = (f"<p>Mechanism{'s' if len(c.mechanisms) > 1 else ''} "
             f"{', '.join(f'<strong>{html.escape(m)}</strong>' for m in c.mechanisms)} ablated in "
             f"{html.escape(c.arch)} at sizes {', '.join(map(str, c.sizes))}, {c.n_networks} networks (seeds) per "
             "arm and size; every arm of a size shares the seeds' data streams and, where shapes allow, initial "
             "weights" + ("; mechanisms whose arms without them are the same model share that arm (one group per "
                          "size)" if len(c.mechanisms) > 1 else "") + ".</p>")
    pending = False
    for m in c.mechanisms:
        arm_text = "; ".join(f"<strong>{side}</strong>: {html.escape(a.arch)} {html.escape(_options(a.options))}"
                             for side, a in c.arms(m).items())
        factor = summary.factors[m]
        pending |= factor is None
        said = "pending" if factor is None else f"<strong>{html.escape(str(factor))}</strong>"
        intro += (f"<p><strong>{html.escape(m)}</strong> — arms: {arm_text}. Size-equivalence factor: {said}"
                  + ("" if factor is None else f" — the arm without {html.escape(m)} needs this many times the "
                     "neurons to match the arm with it (geometric mean over the scores both reach; '&gt;' when it "
                     "never does within the sizes tried; 95 % paired bootstrap interval over seeds)") + ".</p>")
    if pending:
        intro += "<p class='note'>Not every group has finished: resume with <code>dynascope ablate ... --resume</code>.</p>"
    rows = [[r["arm"] if len(c.mechanisms) == 1 else f"{r['arm']} {r['mechanism']}", r["arch"], r["n_hidden"],
             r["n_networks"], _nan(r["score_mean"]), f"[{_fmt(r['score_low'])}, {_fmt(r['score_high'])}]",
             _nan(r["operations_per_trial"]), _nan(r["mean_rate_hz"])] for r in summary.rows.records()]
    figures = [(performance_figure(summary, m), f"Mean task score against network size (log scale) for the arm with "
                f"and the arm without {m}, each with its 95 % bootstrap band over seeds.",
                f"{m}: score against size per arm; bands: 95 % bootstrap intervals over seeds.")
               for m in c.mechanisms]
    learned = {c.group(side, c.sizes[-1], m): f"{side} {m}" for m in c.mechanisms
               for side, a in c.arms(m).items() if a.options.get("learn_tau")}
    if learned:
        figures.append((tau_figure(run, learned), "Histograms of the trained membrane time constants "
                        "of every neuron at the largest size, per arm that learns them.",
                        f"Learned membrane time constants τ_mem (ms) at size {c.sizes[-1]}, all networks."))
    delayed = {c.group(side, c.sizes[-1], m): f"{side} {m}" for m in c.mechanisms
               for side, a in c.arms(m).items() if a.options.get("learn_delays") and a.options.get("max_delay", 0) > 0}
    if delayed:
        figures.append((delay_figure(run, delayed), "Histograms of the trained recurrent delays of every "
                        "connection at the largest size, per arm that learns them.",
                        f"Learned recurrent delays (steps) at size {c.sizes[-1]}, all connections of all networks; "
                        "they started as whole numbers, so mass between integers is what training moved."))
    names = [f"ablation_score_vs_size_{''.join(ch if ch.isalnum() or ch in '-_' else '-' for ch in m)}"
             for m in c.mechanisms] + ["learned_tau"] * bool(learned) + ["learned_delays"] * bool(delayed)
    return SectionParts(intro=intro, rows=rows, figures=figures, names=names)


def performance_figure(summary: AblationSummary, mechanism: str | None = None) -> Figure:
    """Mean score against size (log x) of each arm of `mechanism` (default: the only one), with its bootstrap
    band; the factor in the title."""
    c = summary.config
    name = c._one(mechanism)
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    rows = summary.rows_of(name)
    for side in ARMS:
        groups = {c.group(side, n, name) for n in c.sizes}
        sel = [i for i, g in enumerate(rows.group) if g in groups]
        if not sel:
            continue
        size = np.array([rows.n_hidden[i] for i in sel], float)
        mean, low, high = (np.array([_nan(getattr(rows, k)[i]) for i in sel]) for k in
                           ("score_mean", "score_low", "score_high"))
        ax.plot(size, mean, "o-", color=COLOURS[side], label=f"{side} {name}")
        ax.fill_between(size, low, high, color=COLOURS[side], alpha=0.25, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(c.sizes, [str(n) for n in c.sizes])
    ax.minorticks_off()
    ax.set_xlabel("network size (neurons, log scale)")
    ax.set_ylabel("task score (held-out trials)")
    factor = summary.factors[name]
    ax.set_title(f"{name}: size-equivalence factor {'pending' if factor is None else factor}", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def tau_figure(run: Any, groups: dict[str, str]) -> Figure:
    """Histograms of τ_mem (ms) of every neuron of every network of each group of `groups` ({group: panel
    title}), one panel per group."""
    fig = Figure(figsize=(3.5 * len(groups), 3), layout="constrained")
    for k, (name, title) in enumerate(groups.items()):
        ax = fig.add_subplot(1, len(groups), k + 1)
        group = load_group(run, name)
        tau_mem, _ = jax.vmap(group.model.time_constants)(group.params)  # type: ignore[attr-defined]
        ax.hist(np.asarray(tau_mem).ravel(), bins=30, color=COLOURS[title.split()[0]])
        ax.set_xlabel("τ_mem (ms)")
        ax.set_ylabel("neurons")
        ax.set_title(title, fontsize="medium")
    return fig


def delay_figure(run: Any, groups: dict[str, str]) -> Figure:
    """Histograms of the recurrent delays (steps, as the step uses them: clipped to [0, max_delay]) of every
    connection of every network of each group of `groups` ({group: panel title}), one panel per group."""
    fig = Figure(figsize=(3.5 * len(groups), 3), layout="constrained")
    for k, (name, title) in enumerate(groups.items()):
        ax = fig.add_subplot(1, len(groups), k + 1)
        group = load_group(run, name)
        delays = jax.vmap(group.model.delays)(group.params)  # type: ignore[attr-defined]
        ax.hist(np.asarray(delays).ravel(), bins=40, color=COLOURS[title.split()[0]])
        ax.set_xlabel("delay (steps)")
        ax.set_ylabel("connections")
        ax.set_title(title, fontsize="medium")
    return fig


def _options(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True) if options else "(defaults)"


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"
