"""What a solution costs: each network's task score against the synaptic operations it spends per trial, so
rate and spiking solutions of one task can be set side by side (the `energy` table `dynascope analyze`
fills; counts from `dynascope.compare.energy`).

Reference: Merolla et al. 2014 (synaptic operations as the cost unit of event-driven hardware).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from dynascope.report._catalog import CostPoints
from dynascope.report.figures import arch_colours

#: Marker of a rate network and of a spiking one (shape as well as colour tells them apart).
MARKERS = {False: "o", True: "^"}


def drawable(points: CostPoints) -> np.ndarray:
    """`[n]` bool: the networks a log-x score plot can place (a finite score and a positive, finite count)."""
    return np.isfinite(points.score) & np.isfinite(points.operations) & (points.operations > 0)


def cost_figure(points: CostPoints, arch_order: Sequence[str]) -> Figure:
    """Task score against synaptic operations per trial (log x), one marker per network.

    Colour by architecture (the report's palette, in `arch_order`), circles for rate and triangles for
    spiking models; networks without a score are counted in the legend, not drawn.

    Args:
        points: the run's energy table (`CostPoints`).
        arch_order: the architectures in the report's order (others present follow, sorted).

    Returns:
        A matplotlib `Figure`.
    """
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    present = set(points.arch)
    archs = [a for a in arch_order if a in present] + sorted(present - set(arch_order))
    colours = arch_colours(list(arch_order) + [a for a in archs if a not in arch_order])
    ok = drawable(points)
    handles = []
    for arch in archs:
        mine = np.array([a == arch for a in points.arch], dtype=bool)
        for spiking in (False, True):
            sel = mine & (points.spiking == spiking)
            if not sel.any():
                continue
            shown = sel & ok
            ax.scatter(points.operations[shown], points.score[shown], color=colours[arch], marker=MARKERS[spiking],
                       edgecolor="black", linewidth=0.5, s=40, alpha=0.85)
            kind = "spiking" if spiking else "rate"
            handles.append(Line2D([], [], marker=MARKERS[spiking], linestyle="", color=colours[arch],
                                  markeredgecolor="black", label=f"{arch} ({kind}, {_networks(int(shown.sum()))})"))
    left_out = int(np.sum(~ok))
    if left_out:
        handles.append(Line2D([], [], color="none", label=f"{left_out} not drawn (no score)"))
    if ok.any():
        ax.set_xscale("log")
        x = points.operations[ok]
        if x.max() / x.min() < 100:  # under two decades: label 1-2-5 steps, or one decade tick is all there is
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks collide within a decade
    else:
        ax.text(0.5, 0.5, "no network with a finite score and operations", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("synaptic operations per trial (count, log scale)")
    ax.set_ylabel("task score (held-out trials)")
    ax.set_title("Task score against synaptic operations per trial", fontsize="medium")
    fig.legend(handles=handles or [Line2D([], [], color="none", label="no data")], fontsize="small",
               loc="outside right upper")
    return fig


def _networks(n: int) -> str:
    return f"{n} network{'s' if n != 1 else ''}"
