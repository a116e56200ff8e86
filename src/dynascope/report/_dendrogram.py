"""Hierarchical clustering of the networks of a run by one metric's distances, drawn as a dendrogram."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from dynascope.errors import ConfigError
from dynascope.report import _catalog
from dynascope.report.figures import MAX_TICK_LABELS, arch_colours, metric_units


def complete_networks(ids: list[str], archs: list[str], d: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
    """The networks whose distances to every other kept network are all stored.

    Repeatedly drops the network with the most missing (NaN) entries until none is left, so a partial
    comparison still clusters.

    Args:
        ids: network ids `[n]`.
        archs: their architectures `[n]`.
        d: distance matrix `[n, n]`, NaN where missing.

    Returns:
        (ids, archs, distances `[m, m]`) of the m networks kept, in their original order.
    """
    keep = np.ones(len(ids), bool)
    while True:
        sub = d[np.ix_(keep, keep)]
        missing = np.isnan(sub).sum(axis=1)
        if not missing.any():
            break
        keep[np.nonzero(keep)[0][np.argmax(missing)]] = False
    idx = np.nonzero(keep)[0]
    return [ids[i] for i in idx], [archs[i] for i in idx], d[np.ix_(idx, idx)]


def cluster_tree(d: np.ndarray, method: str = "average") -> np.ndarray:
    """SciPy's linkage matrix `[n − 1, 4]` of the symmetric distances `d [n, n]` (UPGMA by default)."""
    return linkage(squareform(d, checks=False), method=method)


def dendrogram(run: Any, metric: str, method: str = "average") -> Figure:
    """Dendrogram of the networks of a run clustered by one metric's stored distances.

    Leaves are marked in their architecture's colour (and named when at most MAX_TICK_LABELS). Networks
    with missing distances are left out (`complete_networks`).

    Args:
        run: the run folder.
        metric: a metric whose distances the catalog holds (from `dynascope compare`).
        method: SciPy linkage method ('average': UPGMA).

    Returns:
        A matplotlib `Figure`.

    Raises:
        ConfigError: the catalog holds no distances for `metric` (lists those stored).

    Reference: Sokal & Michener 1958 (UPGMA).
    """
    ids, archs, d = _catalog.distance_matrix(run, metric)
    if not ids:
        raise ConfigError(f"no distances for metric {metric!r}; stored: {_catalog.distance_metrics(run)} "
                          "(run `dynascope compare RUN`).")
    ids, archs, d = complete_networks(ids, archs, d)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    colours = arch_colours(_catalog.arch_order(run) or list(dict.fromkeys(archs)))
    what, unit = metric_units(metric)
    handles = []
    if len(ids) >= 2:
        merges = cluster_tree(d, method)
        with warnings.catch_warnings():
            # Every network at distance 0 (one shared skeleton under `topology`): SciPy sets the y range to
            # [0, 0] and matplotlib warns; the range is set below instead.
            warnings.filterwarnings("ignore", message="Attempting to set identical low and high ylims")
            tree = scipy_dendrogram(merges, ax=ax, labels=ids, no_labels=len(ids) > MAX_TICK_LABELS,
                                    link_color_func=lambda _: "black", leaf_rotation=90, leaf_font_size=7)
        if not np.any(merges[:, 2] > 0):
            ax.set_ylim(0.0, 1.0)
        leaves = tree["leaves"]
        x = 5.0 + 10.0 * np.arange(len(leaves))  # SciPy places leaf i at 10·i + 5
        leaf_archs = [archs[i] for i in leaves]
        ax.scatter(x, np.zeros(len(x)), c=[colours.get(a, "black") for a in leaf_archs], s=30, zorder=3,
                   edgecolor="black", linewidth=0.4, clip_on=False)
        for tick, arch in zip(ax.get_xticklabels(), leaf_archs):
            tick.set_color(colours.get(arch, "black"))
        for arch in dict.fromkeys(leaf_archs):
            handles.append(Line2D([], [], marker="o", linestyle="", color=colours.get(arch, "black"),
                                  markeredgecolor="black", label=f"{arch} ({leaf_archs.count(arch)} networks)"))
    else:
        ax.text(0.5, 0.5, "fewer than 2 networks with every distance stored", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel(f"network ({len(ids)}, leaves in their architecture's colour)")
    ax.set_ylabel(f"{metric} distance at merge ({unit})")
    ax.set_title(f"Networks clustered by {metric} distance ({method} linkage)", fontsize="medium")
    fig.legend(handles=handles or [Line2D([], [], color="none", label="no data")], title="architecture",
               fontsize="small", loc="outside right upper")
    return fig
