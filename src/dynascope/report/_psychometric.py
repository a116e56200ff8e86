"""Psychometric curves of the decision tasks: how often a network chooses "+" against the signed evidence
it was shown.

The tasks do not return the coherence they drew, so the evidence is read off the trials themselves: the
mean over the stimulus epoch of the signed evidence channel(s) — what the network actually saw, noise
included. For perceptual_dm that is (right − left)·100, in % coherence (the channels' means are
0.5 ± d·c/200); for cdi it is the stream the context cue selects (s·coherence in its own units). A
perfect observer of the presented evidence chooses its sign, the dashed reference in the figure.
References: Britten, Shadlen, Newsome & Movshon 1992; Mante, Sussillo, Shenoy & Newsome 2013.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dynascope.pipeline import load_group
from dynascope.report import _catalog
from dynascope.report._network import _run, sample_trials
from dynascope.report.figures import arch_colours
from dynascope.tasks import Task, Trials

#: Tasks whose trials carry a signed evidence, and its unit.
EVIDENCE_UNITS = {"perceptual_dm": "% coherence", "cdi": "relevant stream, a.u."}
#: Evidence bins (equal counts of trials) and trials per network.
N_BINS = 9
N_TRIALS = 512
#: Networks per architecture run at most.
MAX_NETWORKS = 8


def signed_evidence(task: Task, trials: Trials) -> np.ndarray | None:
    """The signed evidence each trial presented (see the module docstring), or None for a task without one.

    Steps where every evidence channel is exactly 0 are outside the stimulus epoch.

    Args:
        task: the `Task` (perceptual_dm or cdi have evidence; any other gives None).
        trials: the batch (`Trials`, inputs `[B, T, I]`).

    Returns:
        `[B]` float, or None.
    """
    if task.name not in EVIDENCE_UNITS:
        return None
    x = np.asarray(trials.inputs, dtype=float)
    if task.name == "perceptual_dm":
        left, right = task.input_names.index("left"), task.input_names.index("right")
        signal, channels = (x[:, :, right] - x[:, :, left]) * 100.0, x[:, :, [left, right]]
    else:  # cdi: the context one-hot (channels 2, 3) picks evidence channel 0 or 1
        relevant = np.argmax(x[:, 0, 2:4], axis=1)
        signal, channels = x[np.arange(x.shape[0]), :, relevant], x[:, :, 0:2]
    on = np.any(channels != 0, axis=2)
    return np.where(on.any(axis=1), (signal * on).sum(axis=1) / np.maximum(on.sum(axis=1), 1), 0.0)


def choices(outputs: np.ndarray, trials: Trials) -> np.ndarray:
    """The choice (+1 or −1) of each trial: the sign of the mean output over the response epoch.

    The response epoch is the scored steps whose target is ±1.

    Args:
        outputs: the network's outputs `[B, T, 1]`.
        trials: the batch (`Trials`: its `mask` and `targets` `[B, T, 1]` mark the response epoch).

    Returns:
        `[B]` float, +1.0 or −1.0 (−1 where the mean output is ≤ 0).
    """
    resp = (np.asarray(trials.mask)[..., 0] > 0) & (np.asarray(trials.targets)[..., 0] != 0)
    mean = (np.asarray(outputs)[..., 0] * resp).sum(axis=1) / np.maximum(resp.sum(axis=1), 1)
    return np.where(mean > 0, 1.0, -1.0)


def choice_curve(evidence: np.ndarray, choice: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean evidence and fraction of "+" choices per bin of evidence (bins without trials are NaN).

    Args:
        evidence: signed evidence per trial `[B]`.
        choice: choice per trial `[B]` (> 0 counts as "+").
        edges: bin edges `[K + 1]` (values outside fall in the first or last bin).

    Returns:
        (mean evidence `[K]`, fraction of "+" choices `[K]`).
    """
    b = np.clip(np.searchsorted(edges, evidence, side="right") - 1, 0, len(edges) - 2)
    x = np.full(len(edges) - 1, np.nan)
    y = np.full(len(edges) - 1, np.nan)
    for k in range(len(edges) - 1):
        if np.any(b == k):
            x[k], y[k] = evidence[b == k].mean(), np.mean(choice[b == k] > 0)
    return x, y


@dataclasses.dataclass(frozen=True)
class Psychometric:
    """Choice curves of a run: `task`, `unit`; per architecture `curves[arch]` `[n, bins]` (fraction of
    "+" choices of each network) and `n_trained[arch]`; `x [bins]` the mean evidence per bin, `ideal [bins]`
    the fraction of trials whose presented evidence is positive."""

    task: str
    unit: str
    x: np.ndarray
    ideal: np.ndarray
    curves: dict[str, np.ndarray]
    n_trained: dict[str, int]


def psychometric(run: Any, groups: dict[str, Any], *, n_trials: int = N_TRIALS) -> Psychometric | None:
    """The `Psychometric` of `run` — up to MAX_NETWORKS networks per architecture that did not diverge,
    trained ones first, each run on the same `n_trials` trials (key 0) — or None if the run's task has no
    signed evidence or no network can be drawn."""
    chosen: dict[str, list[tuple[str, bool]]] = {}
    for n in _catalog.networks(run):
        if not n["diverged"]:
            chosen.setdefault(n["arch"], []).append((n["network"], bool(n["trained"])))
    curves: dict[str, np.ndarray] = {}
    n_trained: dict[str, int] = {}
    evidence = edges = None
    task = None
    for arch in [a for a in _catalog.arch_order(run) if a in chosen]:
        picked = sorted(chosen[arch], key=lambda r: not r[1])[:MAX_NETWORKS]  # stable: trained first
        rows = []
        for network, _ in picked:
            group_name, index, _ = _catalog.locate(run, network)
            if group_name not in groups:
                groups[group_name] = load_group(run, group_name)
            group = groups[group_name]
            task = group.task
            trials = sample_trials(task, jax.random.key(0), n_trials)
            if evidence is None:
                evidence = signed_evidence(task, trials)
                if evidence is None:
                    return None
                edges = np.quantile(evidence, np.linspace(0, 1, N_BINS + 1))
            params = group.network(int(index))
            outputs = np.asarray(group.model.readout(params, _run(group.model)(params, trials.inputs)))
            if not np.all(np.isfinite(outputs)):
                continue
            rows.append(choice_curve(evidence, choices(outputs, trials), edges)[1])
        if rows:
            curves[arch] = np.stack(rows)
            n_trained[arch] = sum(t for _, t in picked[: len(rows)])
    if task is None or evidence is None or not curves:
        return None
    x, ideal = choice_curve(evidence, np.sign(evidence), edges)
    return Psychometric(task.name, EVIDENCE_UNITS[task.name], x, ideal, curves, n_trained)


def psychometric_figure(p: Psychometric, arch_order: list[str]) -> Figure:
    """Fraction of "+" choices against the presented signed evidence, per architecture.

    Per architecture the mean over its networks (thick, with markers) and each network (thin), and the
    ideal observer of the presented evidence (dashed).

    Args:
        p: the curves (`Psychometric`).
        arch_order: the architectures in the report's order, for their colours.

    Returns:
        A matplotlib `Figure`.
    """
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    colours = arch_colours(arch_order or list(p.curves))
    handles = []
    for arch, m in p.curves.items():
        c = colours.get(arch, "black")
        for row in m:
            ax.plot(p.x, row, color=c, linewidth=0.6, alpha=0.4)
        ax.plot(p.x, np.nanmean(m, axis=0), color=c, linewidth=2, marker="o")
        handles.append(Line2D([], [], color=c, linewidth=2, marker="o",
                              label=f"{arch}: mean of {m.shape[0]} networks ({p.n_trained[arch]} trained)"))
    ax.plot(p.x, p.ideal, color="black", linestyle="--", linewidth=1.2)
    handles.append(Line2D([], [], color="black", linestyle="--", label="ideal observer of the presented evidence"))
    ax.axhline(0.5, color="grey", linewidth=0.6)
    ax.axvline(0.0, color="grey", linewidth=0.6)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(f"signed evidence presented ({p.unit}; bin means)")
    ax.set_ylabel('choices "+" (fraction of trials)')
    ax.set_title(f"{p.task}: psychometric curves", fontsize="medium")
    fig.legend(handles=handles, fontsize="small", loc="outside lower center", ncol=1)
    return fig
