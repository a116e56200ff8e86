"""Unit activity of one network, as a neurophysiologist would look at a recording: condition-averaged
activity of single units (PSTH-style) with the inputs underneath, and a heat map of every unit over time."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report._conditions import trial_conditions
from dynascope.report._network import _run, sample_trials
from dynascope.report._palette import PALETTE

#: Input channels drawn under the activity panels at most (NeuroGym tasks can have dozens).
MAX_INPUT_PANELS = 4


@dataclasses.dataclass(frozen=True, eq=False)
class ActivityView:
    """Condition-averaged activity of one network on its task's trials, in NumPy.

    `time [T]` in ms; `activity [C, T, H]` and `inputs [C, T, I]`: the mean over the trials of each of
    the C conditions (see `_conditions.trial_conditions`) of the unit activity (`model.activity`: rates,
    an LSTM's h, a spiking net's filtered spike trace) and of the inputs; `counts [C]` trials per condition.
    """

    network: str
    arch: str
    task: str
    time: np.ndarray
    activity: np.ndarray
    inputs: np.ndarray
    counts: np.ndarray
    condition_names: tuple[str, ...]
    input_names: tuple[str, ...]


def activity_view(
    run: Any, network: str, *, n_trials: int = 64, key: jax.Array, groups: dict[str, Any] | None = None
) -> ActivityView | None:
    """The `ActivityView` of one network on trials of its task, or None if its states are not finite.

    A network whose states are not finite on those trials blew up without being flagged.

    Args:
        run: the run folder.
        network: the network's catalog id.
        n_trials: task trials drawn.
        key: JAX PRNG key the trials are drawn from (keyword-only, required; the report passes
            `jax.random.key(EXAMPLE_TRIAL_SEED)`).
        groups: a cache {group name: `StoredGroup`} filled and reused across calls, or None.

    Returns:
        `ActivityView` (condition-averaged activity `[C, T, H]` and inputs `[C, T, I]`), or None.

    Raises:
        ConfigError: `network` is not in the run; RunFolderError: its group's weights cannot be loaded.
    """
    group_name, index, arch = _catalog.locate(run, network)
    cache = groups if groups is not None else {}
    if group_name not in cache:
        cache[group_name] = load_group(run, group_name)
    group = cache[group_name]
    task, model = group.task, group.model
    trials = sample_trials(task, key, n_trials)
    states = _run(model)(group.network(int(index)), trials.inputs)
    act = np.asarray(model.activity(states), dtype=float)  # [B, T, H]
    if not np.all(np.isfinite(act)):
        return None
    cond = trial_conditions(task, trials)
    x = np.asarray(trials.inputs, dtype=float)
    present = [c for c in range(len(cond)) if np.any(cond.labels == c)]
    names = tuple(task.input_names) or tuple(f"input {i}" for i in range(x.shape[2]))
    return ActivityView(
        network=network,
        arch=str(arch),
        task=task.name,
        time=np.arange(x.shape[1]) * float(task.dt),
        activity=np.stack([act[cond.labels == c].mean(axis=0) for c in present]),
        inputs=np.stack([x[cond.labels == c].mean(axis=0) for c in present]),
        counts=np.array([int(np.sum(cond.labels == c)) for c in present]),
        condition_names=tuple(cond.names[c] for c in present),
        input_names=names,
    )


def example_units(view: ActivityView, n_units: int = 3) -> np.ndarray:
    """The units whose condition means differ most, most tuned first.

    Tuning is the variance over conditions of the condition-averaged activity, summed over time: these
    units show what the conditions do to the population.

    Args:
        view: the network's `ActivityView`.
        n_units: how many units.

    Returns:
        Unit indices `[min(n_units, H)]` (int).
    """
    spread = np.var(view.activity, axis=0).sum(axis=0)  # [H]
    return np.argsort(-spread, kind="stable")[:n_units]


def unit_activity(view: ActivityView, n_units: int = 3) -> Figure:
    """Condition-averaged activity of the most condition-tuned units of one network, against time in ms.

    One line per condition, with the condition-averaged inputs drawn as steps underneath (at most
    MAX_INPUT_PANELS input channels).

    Args:
        view: the network's `ActivityView`.
        n_units: how many units (`example_units`).

    Returns:
        A matplotlib `Figure`.
    """
    units = example_units(view, n_units)
    n_in = min(view.inputs.shape[2], MAX_INPUT_PANELS)
    heights = [1.6] * len(units) + [0.8] * n_in
    fig = Figure(figsize=(7.5, 1.2 + 0.95 * sum(heights)), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    axes = np.atleast_1d(axes)
    colours = [PALETTE[c % len(PALETTE)] for c in range(len(view.condition_names))]
    for ax, u in zip(axes, units):
        for c, colour in enumerate(colours):
            ax.plot(view.time, view.activity[c, :, u], color=colour, linewidth=1.5)
        ax.set_ylabel(f"unit {u}\n(activity, a.u.)", fontsize="small")
    for i, ax in enumerate(axes[len(units):]):
        for c, colour in enumerate(colours):
            ax.plot(view.time, view.inputs[c, :, i], color=colour, linewidth=1.2, drawstyle="steps-post")
        ax.set_ylabel(f"{view.input_names[i]}\n(input, a.u.)", fontsize="small")
    axes[-1].set_xlabel("time in trial (ms)")
    more = view.inputs.shape[2] - n_in
    axes[0].set_title(f"{view.network} ({view.arch}): condition-averaged activity of {len(units)} units"
                      + (f"\n(inputs: first {n_in} of {view.inputs.shape[2]} channels)" if more else ""),
                      fontsize="medium")
    handles = [Line2D([], [], color=c, linewidth=2, label=f"{n} ({k} trials)")
               for c, n, k in zip(colours, view.condition_names, view.counts)]
    fig.legend(handles=handles, title="condition", fontsize="small", loc="outside right upper")
    return fig


def heatmap_order(view: ActivityView) -> tuple[np.ndarray, np.ndarray]:
    """The units sorted by the time of their peak, and the scaled matrix they are drawn from.

    Each unit's condition-averaged activity, conditions side by side, scaled to its own range (0 = its
    minimum over conditions and time, 1 = its maximum; a unit that never changes is 0).

    Args:
        view: the network's `ActivityView` (`activity [C, T, H]`).

    Returns:
        (order `[H]`, scaled `[H, C·T]`).
    """
    c, t, h = view.activity.shape
    m = view.activity.transpose(2, 0, 1).reshape(h, c * t)
    lo, hi = m.min(axis=1, keepdims=True), m.max(axis=1, keepdims=True)
    scaled = np.where(hi > lo, (m - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)
    order = np.argsort(np.argmax(scaled, axis=1), kind="stable")
    return order, scaled


def activity_heatmap(view: ActivityView) -> Figure:
    """Heat map of every unit of one network over time, conditions side by side.

    A coloured bar on top names the conditions; each unit is scaled to its own range and the units are
    sorted by the time of their peak (`heatmap_order`).

    Args:
        view: the network's `ActivityView` (`activity [C, T, H]`, `time [T]` in ms).

    Returns:
        A matplotlib `Figure`.
    """
    order, scaled = heatmap_order(view)
    c, t, h = view.activity.shape
    dt = float(view.time[1] - view.time[0]) if t > 1 else 1.0
    width = t * dt
    fig = Figure(figsize=(8, 3.6 + min(h, 128) * 0.02), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(scaled[order], aspect="auto", cmap="viridis", interpolation="nearest",
                   extent=(0.0, c * width, h - 0.5, -0.5))
    bar = max(1.0, 0.06 * h)  # the condition strip above the first unit
    handles = []
    for k in range(c):
        colour = PALETTE[k % len(PALETTE)]
        ax.add_patch(Rectangle((k * width, -0.5 - bar), width, bar, color=colour, clip_on=False))
        if k:
            ax.axvline(k * width, color="white", linewidth=1.5)
        handles.append(Rectangle((0, 0), 1, 1, color=colour, label=f"{view.condition_names[k]} ({view.counts[k]} trials)"))
    ax.set_ylim(h - 0.5, -0.5 - bar)
    step = width / 2 if c > 1 else width / 4
    ticks = np.arange(0.0, c * width + 1e-9, step)
    ax.set_xticks(ticks, [f"{v % width:g}" if v % width else ("0" if v < c * width else f"{width:g}") for v in ticks])
    ax.set_xlabel("time in trial (ms), one block per condition")
    ax.set_ylabel(f"unit ({h}, by peak time)")
    ax.set_yticks([])
    ax.set_title(f"{view.network} ({view.arch}): activity of every unit", fontsize="medium")
    fig.colorbar(im, ax=ax, label="activity (per unit: 0 = min, 1 = max)", shrink=0.9)
    fig.legend(handles=handles, title="condition (bar on top)", fontsize="small", loc="outside lower center",
               ncol=min(4, c))
    return fig
