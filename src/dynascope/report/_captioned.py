"""The report's newer figures with their alt text and a caption that says how to read them, as
`Captioned` triples: the HTML page places them, `write_figures` saves them under their `name`."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
from matplotlib.figure import Figure

from dynascope.report import _catalog
from dynascope.report._activity import activity_heatmap, activity_view, unit_activity
from dynascope.report._cost import cost_figure
from dynascope.report._dendrogram import dendrogram
from dynascope.report._fixed_point_stats import speed_histogram, time_constant_histogram
from dynascope.report._multiples import MAX_COLUMNS, state_space_grid
from dynascope.report._network import EXAMPLE_TRIAL_SEED, NetworkView
from dynascope.report._psychometric import MAX_NETWORKS, N_TRIALS, psychometric
from dynascope.report._psychometric import psychometric_figure as figure_of


@dataclasses.dataclass(frozen=True)
class Captioned:
    """A figure, its file name stem, its alt text and its caption."""

    figure: Figure
    name: str
    alt: str
    caption: str


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def activity_figures(run: Any, groups: dict[str, Any]) -> list[Captioned]:
    """Per architecture, for its best-scoring network that did not diverge: condition-averaged activity of
    its most tuned units over the inputs, and the heat map of all its units."""
    out = []
    for arch, network in _catalog.best_per_arch(run).items():
        view = activity_view(run, network, key=jax.random.key(EXAMPLE_TRIAL_SEED), groups=groups)
        if view is None:  # states not finite: a blown-up network an older dynascope did not flag
            continue
        slug = _slug(network.replace("/", "_"))
        conds = len(view.condition_names)
        out.append(Captioned(
            unit_activity(view), f"unit_activity_{slug}",
            f"Condition-averaged activity of three units of {network} ({arch}) against time, one line per "
            "condition, with the condition-averaged inputs as steps below.",
            f"{arch}: {network} (best task score). Each line is one unit's activity averaged over the trials of "
            f"one condition ({conds} condition{'s' * (conds != 1)}: the trial's tonic inputs and final target); the three units "
            "shown differ most between conditions. Lines that split after an input step show the units that "
            "carry that input's effect."))
        out.append(Captioned(
            activity_heatmap(view), f"activity_heatmap_{slug}",
            f"Heat map of every unit of {network} over time, conditions side by side, units sorted by peak time.",
            f"{arch}: every unit of {network} (rows) over time, one block per condition (coloured bar on top); "
            "each row scaled to its own range (yellow = the unit's maximum) and the rows sorted by the time of "
            "their peak. A diagonal band is a sequence; a row that changes colour between blocks is a unit "
            "tuned to the condition."))
    return out


def multiples_figure(views: Sequence[NetworkView], arch_order: Sequence[str]) -> Captioned:
    """The state spaces of `views` side by side, one row per architecture."""
    return Captioned(
        state_space_grid(views, arch_order), "state_spaces_side_by_side",
        "Small multiples: the PC1–PC2 state space of several networks per architecture, trajectories coloured "
        "by condition, fixed points by index.",
        f"Up to {MAX_COLUMNS} networks per architecture (rows), each on its own first two principal components: "
        "trajectories coloured by their trial's condition, fixed points (converged, inside the reachable "
        "region) by index. The same arrangement of fixed points in every panel is a universal solution; the "
        "axes' orientation is arbitrary per panel.")


def fixed_point_figures(run: Any, groups: dict[str, Any]) -> list[Captioned]:
    """The speed histogram of every catalogued point and the time constants of the linearized modes."""
    return [
        Captioned(
            speed_histogram(run), "fixed_point_speeds",
            "Histogram of fixed-point speeds q on a log axis per architecture, fixed points solid, slow points dashed.",
            "Speed q = ½‖F(x) − x‖² of every catalogued point, per architecture: fixed points (converged: q below "
            "the search's tolerance and a Newton step confirms it) solid, slow points (a minimum of q above it, "
            "where the flow nearly stops) dashed; failed searches left out. A gap between the two groups means the "
            "fixed points are well separated from the slow ones."),
        Captioned(
            time_constant_histogram(run, groups), "time_constants",
            "Histogram of the time constants of the decaying linearized modes at the fixed points, per architecture.",
            "Time constant of every decaying mode of the linearization at each converged fixed point inside the "
            "reachable region, in ms: τ = −dt/ln|λ| for a map (dt per step), τ = −τ_model/Re λ for a continuous-"
            "time network; counted per network. Modes far slower than the trial are memory or integration "
            "directions; modes near one step are forgotten at once."),
    ]


def dendrogram_figure(run: Any, metric: str) -> Captioned:
    """The dendrogram of `metric`'s distances."""
    return Captioned(
        dendrogram(run, metric), f"dendrogram_{_slug(metric)}",
        f"Dendrogram of the networks clustered by {metric} distance, leaves coloured by architecture.",
        f"Average-linkage (UPGMA) clustering of the {metric} distances: networks join at the height of their "
        "mean distance. Architectures that form their own branches are told apart by this metric; mixed "
        "branches mean the metric sees a shared solution.")


def psychometric_figure(run: Any, groups: dict[str, Any]) -> Captioned | None:
    """Psychometric curves of a decision task (perceptual_dm, cdi), or None for a task without a signed
    evidence or without a network to run."""
    p = psychometric(run, groups)
    if p is None:
        return None
    return Captioned(
        figure_of(p, _catalog.arch_order(run)), "psychometric",
        "Psychometric curves: fraction of '+' choices against the signed evidence presented, per architecture.",
        f"{N_TRIALS} trials of {p.task} binned by the signed evidence they presented (mean of the evidence over "
        "the stimulus epoch, noise included; equal-count bins), and the fraction of them on which each network "
        "chose '+' (sign of its mean output over the response epoch). Thin lines: single networks (up to "
        f"{MAX_NETWORKS} per architecture, trained ones first); thick: their mean; dashed: an observer choosing "
        "the sign of the presented evidence. A steeper curve is a more sensitive network.")


def energy_figure(run: Any) -> Captioned | None:
    """Task score against synaptic operations per trial, one marker per network, or None when the run has no
    energy counts (not analysed, or analysed by a dynascope without them)."""
    points = _catalog.cost_points(run)
    if not len(points):
        return None
    return Captioned(
        cost_figure(points, _catalog.arch_order(run)), "score_against_operations",
        "Scatter of each network's task score against its synaptic operations per trial on a log axis, coloured "
        "by architecture, circles for rate and triangles for spiking networks.",
        "One marker per analysed network: its task score on held-out trials against the synaptic operations it "
        "spent per trial of the analysis (mean over the trials). A rate network pays one multiply-accumulate per "
        "nonzero weight per step, whatever its activity; a spiking network pays one operation per spike per "
        "synapse the spike reaches, plus its dense analog input. Up and to the left is better: the same score "
        "for fewer operations. Rate and spiking solutions of the same task side by side show what computing "
        "with events saves, and at what cost in score; one decade on the axis is ten times the operations.")
