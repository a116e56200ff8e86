"""The report's over-training section (a run trained with `--snapshot-every` and analysed with
`analyze --over-training`): the number of stable points of every network at each weight snapshot, and the step
at which each network's final count settled, per group — when the attractors appeared, in which order, and how
that varies across the population.

`over_training_parts` returns the section's pieces; the HTML page places them (`report.html`)."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dynascope.pipeline import emergence
from dynascope.report._palette import PALETTE
from dynascope.store import TrainingSkeletonRows

#: The section's id and heading.
SECTION = ("over-training", "Skeleton over training")
#: Table columns, one row per network and analysis input.
COLUMNS = ["network", "input", "stable (final)", "count settled at step", "skeleton settled at step",
           "first reached (stable points: step)"]
#: Table rows shown at most (the figures show every network).
MAX_ROWS = 50


@dataclasses.dataclass(frozen=True)
class OverTrainingParts:
    """An introduction (HTML), table rows (`COLUMNS`), (figure, alt, caption) pairs, and a pending note (the
    command to run) when the snapshots are kept but not analysed yet."""

    intro: str
    rows: list[list[Any]]
    figures: list[tuple[Figure, str, str]]
    pending: str | None = None


def over_training_parts(run: Any) -> OverTrainingParts | None:
    """The section's pieces, or None when `run` kept no weight snapshots."""
    if not run.snapshot_groups():
        return None
    if run.count(TrainingSkeletonRows) == 0:
        return OverTrainingParts("", [], [], pending=f"dynascope analyze {html.escape(str(run.path))} --over-training")
    rows = run.read(TrainingSkeletonRows, where={"input_index": 0}, order_by=("group", "network", "step"))
    e = emergence(run)
    intro = ("<p>Every network's weights were kept during training and analysed like the trained ones (the "
             "same trials, initial states and options). Left: stable fixed points at each snapshot under the "
             "task's first analysis input, one line per network (slightly offset so that equal counts stay "
             "visible). Right: the step from which each network's final count stayed. A network whose count "
             "settles late, or whose attractors appear in another order, learned the task another way.</p>")
    figures = [_trajectories(rows, group) for group in dict.fromkeys(rows.group)]
    table_rows = [[net, k, n, sf, kf, " ".join(f"{c}:{t}" for c, t in sorted(first.items(), key=lambda ct: ct[1]))]
                  for net, k, n, sf, kf, first in zip(e.network, e.input_index, e.final_stable, e.stable_from,
                                                         e.skeleton_from, e.first_stable_steps)]
    if len(table_rows) > MAX_ROWS:
        intro += f"<p class='note'>The table lists the first {MAX_ROWS} of {len(table_rows)} rows.</p>"
    return OverTrainingParts(intro, table_rows[:MAX_ROWS], figures)


def _trajectories(rows: TrainingSkeletonRows, group: str) -> tuple[Figure, str, str]:
    network = np.asarray(rows.network, dtype=object)
    step, stable = np.asarray(rows.step), np.asarray(rows.n_stable, float)
    in_group = np.asarray(rows.group, dtype=object) == group
    nets = list(dict.fromkeys(network[in_group]))
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax, hist = fig.subplots(1, 2, width_ratios=(2, 1))
    settled = []
    spread = 0.25 / max(len(nets), 1)
    for i, net in enumerate(nets):
        at = in_group & (network == net)
        s, n = step[at], stable[at]
        ax.step(s, n + (i - (len(nets) - 1) / 2) * spread, where="post", color=PALETTE[i % len(PALETTE)],
                lw=1.2, alpha=0.8)
        not_final = np.flatnonzero(n != n[-1])
        settled.append(s[0] if not_final.size == 0 else s[not_final[-1] + 1])
    ax.set(xlabel="training step", ylabel="stable fixed points", title=f"{group}: {len(nets)} networks")
    ax.yaxis.get_major_locator().set_params(integer=True)
    snapshots = np.unique(step[in_group])
    width = 0.8 * (np.min(np.diff(snapshots)) if len(snapshots) > 1 else 1.0)
    hist.bar(snapshots, [int(np.sum(np.asarray(settled) == t)) for t in snapshots], width=width, color=PALETTE[0])
    hist.yaxis.get_major_locator().set_params(integer=True)
    hist.set(xlabel="step the final count settled", ylabel="networks", title="when it settled")
    alt = f"stable fixed points against training step for the {len(nets)} networks of {group}"
    caption = (f"{group}: stable fixed points at each weight snapshot (left) and when each network's final count "
               "settled (right).")
    return fig, alt, caption
