"""Small multiples: the state spaces of several networks side by side, one row per architecture, so that
what the networks share (universality) and where they differ shows at a glance."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dynascope.report._network import NetworkView
from dynascope.report.figures import condition_colour, condition_label, index_colour, index_label

#: Networks per architecture (columns) drawn at most.
MAX_COLUMNS = 4


def state_space_grid(views: Sequence[NetworkView], arch_order: Sequence[str] = (), max_columns: int = MAX_COLUMNS) -> Figure:
    """The state spaces of several networks on their own first two principal components.

    One row per architecture and at most `max_columns` networks per row: trajectories coloured by their
    trial's condition, fixed points (converged, inside the reachable region) coloured by index.

    Args:
        views: the networks' `NetworkView`s.
        arch_order: the architectures' row order (any others follow, sorted).
        max_columns: the most networks per row.

    Returns:
        A matplotlib `Figure`.

    Reference: Maheswaranathan et al. 2019 (universality across architectures).
    """
    rows: dict[str, list[NetworkView]] = {}
    for v in views:
        rows.setdefault(v.arch, []).append(v)
    archs = [a for a in arch_order if a in rows] + sorted(a for a in rows if a not in arch_order)
    n_cols = max(1, min(max_columns, max((len(r) for r in rows.values()), default=1)))
    fig = Figure(figsize=(2.7 * n_cols + 2.2, 2.5 * max(1, len(archs)) + 0.6), layout="constrained")
    grid = fig.subplots(max(1, len(archs)), n_cols, squeeze=False)
    conditions: dict[int, str] = {}
    indices: set[int] = set()
    for r, arch in enumerate(archs):
        for col in range(n_cols):
            ax = grid[r, col]
            if col >= len(rows[arch]):
                ax.set_axis_off()
                continue
            v = rows[arch][col]
            labels = v.conditions if len(v.conditions) == len(v.trajectories) else np.full(len(v.trajectories), -1)
            for tr, c in zip(v.trajectories, labels):
                ax.plot(tr[:, 0], tr[:, 1], color=condition_colour(int(c)), linewidth=0.8, alpha=0.7)
                conditions.setdefault(int(c), condition_label(v.condition_names, int(c)))
            for idx in np.unique(v.n_unstable):
                sel = v.n_unstable == idx
                ax.scatter(v.fixed_points[sel, 0], v.fixed_points[sel, 1], color=index_colour(idx), s=28,
                           marker="o" if idx == 0 else "D", edgecolor="black", linewidth=0.5, zorder=3)
                indices.add(int(idx))
            ax.set_title(v.network, fontsize="small")
            ax.set_xlabel(f"PC1 (a.u., {100 * v.explained[0]:.0f} %)", fontsize="x-small")
            ax.set_ylabel(f"PC2 (a.u., {100 * v.explained[1]:.0f} %)" if col else f"{arch}\nPC2 (a.u.)",
                          fontsize="x-small" if col else "small")
            ax.tick_params(labelsize="x-small")
    if not archs:
        grid[0, 0].text(0.5, 0.5, "no network to draw", ha="center", va="center", transform=grid[0, 0].transAxes)
        grid[0, 0].set_xlabel("PC1 (a.u.)")
        grid[0, 0].set_ylabel("PC2 (a.u.)")
    fig.suptitle("State spaces side by side (PC1–PC2), a row per architecture",
                 fontsize="medium")
    handles = [Line2D([], [], color=condition_colour(c), linewidth=2, label=f"trials: {n}")
               for c, n in sorted(conditions.items())]
    handles += [Line2D([], [], marker="o" if i == 0 else "D", linestyle="", color=index_colour(i),
                       markeredgecolor="black", label=index_label(i)) for i in sorted(indices)]
    fig.legend(handles=handles or [Line2D([], [], color="none", label="no data")], fontsize="small",
               loc="outside right upper")
    return fig
